/**
 * The on-device classifier of the stranger's video: nsfwjs's MobileNetV2 (its weights ship inside
 * the npm package as a JS module, bundled here) on TensorFlow.js's WebAssembly backend (its
 * `.wasm` files are copied next to the bundle by scripts/build-web.js), falling back to the
 * plain-JavaScript CPU backend where WebAssembly cannot be compiled (a CSP without
 * 'wasm-unsafe-eval', a browser with WebAssembly off). Nothing is fetched off the page's origin.
 *
 * This module is only ever imported with `import()` (screening.ts), so esbuild puts it, TF.js
 * and the 3.5 MB of weights in chunks of their own that load after the first Start, never with
 * the first paint. Frames and scores stay in the page: nothing here sends anything anywhere.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { load } from 'nsfwjs/core';
import { MobileNetV2Model } from 'nsfwjs/models/mobilenet_v2';

/** nsfwjs's five class probabilities for one frame (they add up to 1). */
export interface ClassifierScores {
  drawing: number;
  hentai: number;
  neutral: number;
  porn: number;
  sexy: number;
}

/** A loaded classifier; `backend` is TF.js's (`wasm` or `cpu`). */
export interface FrameClassifier {
  readonly backend: string;
  classify(frame: HTMLCanvasElement): Promise<ClassifierScores>;
}

/** Where build-web.js puts the backend's `.wasm` files (same origin). */
const WASM_DIR = '/tfjs/';

/** The smallest valid module (magic and version): compiles only where the CSP allows WebAssembly. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** The script-src (else default-src) of a Content-Security-Policy header; null when it has neither. */
function scriptSources(csp: string): string | null {
  const directives = csp.split(';').map((d) => d.trim().toLowerCase());
  return directives.find((d) => d.startsWith('script-src ')) ?? directives.find((d) => d.startsWith('default-src ')) ?? null;
}

/**
 * Whether this page may compile WebAssembly. Under a CSP without 'wasm-unsafe-eval' the
 * backend's own start fails with an unhandled rejection and never settles, and even a probe
 * compile is reported as a violation; so the page's own policy is read first (a same-origin
 * HEAD of the page, whose headers carry it), then a tiny module is compiled.
 */
async function wasmAllowed(): Promise<boolean> {
  if (typeof WebAssembly !== 'object') return false;
  try {
    const csp = (await fetch('/', { method: 'HEAD', cache: 'no-store' })).headers.get('content-security-policy');
    const sources = csp ? scriptSources(csp) : null;
    if (sources !== null && !/'(wasm-)?unsafe-eval'/.test(sources)) return false;
  } catch { /* offline: the compile below decides */ }
  try {
    return new WebAssembly.Module(EMPTY_MODULE) instanceof WebAssembly.Module;
  } catch {
    return false;
  }
}

/** Picks the WebAssembly backend, else the CPU one; returns the name of the one in use. */
async function chooseBackend(): Promise<string> {
  if (!(await wasmAllowed())) {
    await tf.setBackend('cpu');
    return 'cpu';
  }
  // usePlatformFetch: the binary is fetched and compiled from its bytes, so it does not matter
  // that the server sends `.wasm` as application/octet-stream (instantiateStreaming wants
  // application/wasm). Without SharedArrayBuffer (the page is not cross-origin isolated) the
  // backend picks its single-threaded SIMD build by itself.
  setWasmPaths(WASM_DIR, true);
  try {
    if (await tf.setBackend('wasm')) return 'wasm';
  } catch { /* the CPU backend below */ }
  await tf.setBackend('cpu');
  return 'cpu';
}

/** Loads the backend and the model; the first classification warms it up (compiles the kernels). */
export async function loadClassifier(): Promise<FrameClassifier> {
  const backend = await chooseBackend();
  await tf.ready();
  const model = await load('MobileNetV2', { modelDefinitions: [MobileNetV2Model], size: 224 });
  // The first runs compile and size the backend's kernels (several times slower than the
  // rest): done here, on a blank frame, so a stranger's first frames are judged at full speed.
  // Not on the CPU fallback, where one run blocks the page for seconds.
  if (backend === 'wasm') {
    const blank = document.createElement('canvas');
    blank.width = 224;
    blank.height = 224;
    for (let i = 0; i < 2; i++) await model.classify(blank, 1);
  }
  return {
    backend,
    async classify(frame: HTMLCanvasElement): Promise<ClassifierScores> {
      const predictions = await model.classify(frame, 5);
      const scores: ClassifierScores = { drawing: 0, hentai: 0, neutral: 0, porn: 0, sexy: 0 };
      for (const p of predictions) scores[p.className.toLowerCase() as keyof ClassifierScores] = p.probability;
      return scores;
    },
  };
}
