/**
 * On-device screening of the stranger's incoming video (issue 16). A {@link Screener} samples
 * frames of the remote `<video>` into a small canvas and hands them to a classifier (nsfwjs's
 * MobileNetV2, screening-model.ts, loaded lazily after the first Start); the page blurs the
 * video while the shield is `screening` (policy `blur-until-safe`) or `flagged`. Frames and
 * scores never leave the page. The same samples, shrunk to 32x24, tell a black or frozen camera.
 *
 * Policy: the deployment's default comes in `welcome.screening` (`--screening`); the person may
 * choose another, but not below `flag-only` unless the deployment itself has screening off.
 */
import { TypedEmitter } from '../protocol/client/index.js';
import * as log from './log.js';
import type { ClassifierScores, FrameClassifier } from './screening-model.js';

/** How the stranger's video is screened, weakest first. */
const SCREENING_POLICIES = ['off', 'flag-only', 'blur-until-safe'] as const;
export type ScreeningPolicy = (typeof SCREENING_POLICIES)[number];

/** The shield's state: `screening` until the first frames are judged, then `clear` or `flagged`. */
export type ShieldState = 'screening' | 'clear' | 'flagged';


/** Where the person's choice of policy is kept on the device. */
const POLICY_STORAGE_KEY = 'chatzyo.screening';

export const isPolicy = (v: unknown): v is ScreeningPolicy => typeof v === 'string' && (SCREENING_POLICIES as readonly string[]).includes(v);

/** The policies the person may pick under the deployment's default: never below flag-only unless it is off. */
export function policyChoices(deployment: ScreeningPolicy): ScreeningPolicy[] {
  return deployment === 'off' ? [...SCREENING_POLICIES] : ['flag-only', 'blur-until-safe'];
}

/** The policy in force: the person's choice where allowed, else the deployment's default. */
export function effectivePolicy(deployment: ScreeningPolicy, chosen: string | null): ScreeningPolicy {
  return isPolicy(chosen) && policyChoices(deployment).includes(chosen) ? chosen : deployment;
}

/** The person's saved choice (null when none, or storage is off). */
export function savedPolicy(): string | null {
  try { return localStorage.getItem(POLICY_STORAGE_KEY); } catch { return null; }
}

/** Keeps the person's choice. */
export function savePolicy(policy: ScreeningPolicy): void {
  try { localStorage.setItem(POLICY_STORAGE_KEY, policy); } catch { /* storage off: this page only */ }
}

/**
 * A frame is flagged when the explicit classes (porn, hentai) together pass 0.6, or "sexy"
 * (suggestive: underwear, bare chest) passes 0.85; it counts as safe when all three together
 * stay under 0.4. In between, neither: the shield waits for the next frame.
 */
export function judge(s: ClassifierScores): 'safe' | 'flagged' | 'unsure' {
  if (s.porn + s.hentai >= 0.6 || s.sexy >= 0.85) return 'flagged';
  return s.porn + s.hentai + s.sexy < 0.4 ? 'safe' : 'unsure';
}

/** Mean luma (0-255) of an RGBA image, and the mean absolute luma change from `prev` (same size). */
export function lumaOf(rgba: Uint8ClampedArray, prev: Float32Array | null): { mean: number; change: number; luma: Float32Array } {
  const n = rgba.length / 4;
  const luma = new Float32Array(n);
  let sum = 0;
  let change = 0;
  for (let i = 0; i < n; i++) {
    const y = 0.299 * rgba[i * 4]! + 0.587 * rgba[i * 4 + 1]! + 0.114 * rgba[i * 4 + 2]!;
    luma[i] = y;
    sum += y;
    if (prev) change += Math.abs(y - prev[i]!);
  }
  return { mean: n ? sum / n : 0, change: prev && n ? change / n : Infinity, luma };
}

/** Sampling: frames back to back until the first verdict, then one a second. */
const FIRST_SAMPLE_MS = 30;
export const STEADY_SAMPLE_MS = 1000;
/** A frame that took longer than this to classify slows the sampling down (see #schedule). */
export const SLOW_FRAME_MS = 600;
/**
 * Safe frames in a row before `blur-until-safe` unblurs; one is enough when the explicit and
 * suggestive classes together stay under {@link CLEARLY_SAFE}.
 */
const SAFE_FRAMES_TO_CLEAR = 2;
const CLEARLY_SAFE = 0.1;
/**
 * Frames judged back to back at the start of a call; after that one a second, and the shield
 * says it is unsure (offering Next, Report and "Show anyway") while no verdict comes.
 */
const FAST_FRAMES = 5;
/** Below this mean luma a frame is black (a covered lens, a camera that sends nothing). */
const BLACK_LUMA = 16;
/** Below this mean change per pixel a frame is the same as the one before. */
const FROZEN_CHANGE = 0.25;
/**
 * Samples (one a second) in a row before the page says the camera shows nothing: black soon;
 * unchanged only after longer, since a person sitting still in a quiet picture can come out of
 * the encoder as the same frame for a few seconds.
 */
const BLACK_SAMPLES = 3;
const FROZEN_SAMPLES = 8;
/** Inference times kept for the debug hook (newest last). */
const MAX_TIMINGS = 120;
/**
 * A model that has not loaded this long after its load started (a chunk that never arrives, a
 * backend that never settles) counts as failed: the shield says screening could not start and
 * offers "Show anyway" and Next. Should it load after all, screening starts then.
 */
export const LOAD_TIMEOUT_MS = 15_000;

/** What the page shows about the stranger's video. */
export interface ScreenerSnapshot {
  /** Whether a remote video is being watched at all. */
  active: boolean;
  policy: ScreeningPolicy;
  state: ShieldState;
  /** The person pressed "Show anyway" in this call: no more blurring until the next stranger. */
  override: boolean;
  /** The stranger's camera is black or frozen. */
  nothing: boolean;
  /**
   * The classifier could not be loaded: its load failed, or did not finish within
   * {@link LOAD_TIMEOUT_MS} (the page says so and offers "Show anyway").
   */
  failed: boolean;
  /** Still `screening` after {@link FAST_FRAMES} frames: no clear verdict on this video. */
  unsure: boolean;
}

/** Numbers for the debug hook and the bench (never sent anywhere). */
export interface ScreenerTimings {
  backend: string | null;
  /** ms from the first load request to a ready classifier. */
  loadMs: number | null;
  /** ms per classified frame (canvas draw + inference), newest last. */
  inferenceMs: number[];
  /** Frames classified since the page loaded. */
  classified: number;
  /** ms from the remote video's first frame to `clear`, per call, newest last. */
  clearMs: number[];
  /** The latest scores (kept in the page). */
  last: ClassifierScores | null;
}

type Loader = () => Promise<FrameClassifier>;

/** The default loader: the model's own chunk, imported on first use. */
const loadModel: Loader = () => import('./screening-model.js').then((m) => m.loadClassifier());

/** How a test (the debug hook) makes the model's load go wrong: never settle, or fail. */
export type SimulatedLoad = 'hang' | 'fail';

/** Watches the remote video of each call and screens it by the policy in force. */
export class Screener extends TypedEmitter<{ change: [ScreenerSnapshot] }> {
  #load: Loader;
  #loadTimeoutMs = LOAD_TIMEOUT_MS;
  #classifier: Promise<FrameClassifier | null> | null = null;
  /** Until the deployment's default is known (the first welcome), the strictest. */
  #policy: ScreeningPolicy = 'blur-until-safe';
  #policyKnown = false;
  /** A Start asked for the model: it loads once the policy is known and not `off`. */
  #wanted = false;
  #video: HTMLVideoElement | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped on every new video (or none): a sample of an older call is dropped. */
  #generation = 0;
  #state: ShieldState = 'screening';
  #override = false;
  #failed = false;
  #safeInRow = 0;
  /** Frames classified in this call. */
  #judged = 0;
  #blackInRow = 0;
  #frozenInRow = 0;
  #nothing = false;
  #prevLuma: Float32Array | null = null;
  #firstFrameAt: number | null = null;
  #lookedAt = -Infinity;
  #classifiedAt = -Infinity;
  /** Scores injected by a test (the debug hook) for the next sampled frames, in order. */
  readonly #injected: ClassifierScores[] = [];
  readonly #frame: HTMLCanvasElement;
  readonly #small: HTMLCanvasElement;
  readonly timings: ScreenerTimings = { backend: null, loadMs: null, inferenceMs: [], clearMs: [], classified: 0, last: null };

  constructor(load: Loader = loadModel) {
    super();
    this.#load = load;
    this.#frame = document.createElement('canvas');
    this.#frame.width = 224;
    this.#frame.height = 224;
    this.#small = document.createElement('canvas');
    this.#small.width = 32;
    this.#small.height = 24;
  }

  get policy(): ScreeningPolicy { return this.#policy; }

  snapshot(): ScreenerSnapshot {
    return {
      active: this.#video !== null, policy: this.#policy, state: this.#state, override: this.#override, nothing: this.#nothing,
      failed: this.#failed, unsure: this.#state === 'screening' && this.#judged >= FAST_FRAMES,
    };
  }

  /** Sets the policy in force; a change applies to the current call at once. */
  setPolicy(policy: ScreeningPolicy): void {
    const first = !this.#policyKnown;
    this.#policyKnown = true;
    if (first && this.#wanted) this.#startLoading();
    if (policy === this.#policy) return;
    this.#policy = policy;
    if (this.#wanted) this.#startLoading();
    const video = this.#video;
    if (video) this.watch(video);
    else this.#changed();
  }

  /**
   * Asks for the classifier (the first Start): it starts loading now, or once the deployment's
   * policy is known, unless screening is off.
   */
  preload(): void {
    this.#wanted = true;
    this.#startLoading();
  }

  /**
   * Starts the model's load (once). It settles as null, and screening counts as failed, when the
   * load fails or has not finished after {@link LOAD_TIMEOUT_MS}; a load that finishes later
   * still replaces it, and the frames are checked from then on.
   */
  #startLoading(): void {
    if (!this.#policyKnown || this.#policy === 'off' || this.#classifier) return;
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        log.warn(`the screening model did not load within ${this.#loadTimeoutMs / 1000} s`);
        resolve(null);
      }, this.#loadTimeoutMs);
    });
    const loaded = this.#load().then((c) => {
      this.timings.loadMs = Math.round(performance.now() - t0);
      this.timings.backend = c.backend;
      return c;
    }, (err: unknown) => {
      log.warn('the screening model could not be loaded:', err);
      return null;
    }).finally(() => clearTimeout(timer));
    const classifier = Promise.race([loaded, timedOut]);
    this.#classifier = classifier;
    // Loaded after the timeout: screening starts now (the person may still have chosen "Show anyway").
    void loaded.then(async (c) => {
      if (!c || (await classifier) || this.#classifier !== classifier) return;
      this.#classifier = Promise.resolve(c);
      if (this.#failed) {
        this.#failed = false;
        this.#changed();
      }
    });
  }

  /** Screens `video` (a new stranger's): blurred or not by the policy, from its first frame on. */
  watch(video: HTMLVideoElement): void {
    this.#reset();
    this.#video = video;
    this.preload();
    this.#changed();
    this.#schedule(0);
  }

  /** No remote video any more (the call ended). */
  unwatch(): void {
    this.#reset();
    this.#video = null;
    this.#changed();
  }

  /** "Show anyway": the person chose to see this stranger's video; no more blurring in this call. */
  showAnyway(): void {
    if (!this.#video) return;
    this.#override = true;
    this.#state = 'clear';
    this.#changed();
  }

  /**
   * Test hook: the model's verdict on the image at `url` (a `data:` URL), drawn the way video
   * frames are. Null when the model could not be loaded.
   */
  async classifyImage(url: string): Promise<{ verdict: ReturnType<typeof judge>; scores: ClassifierScores } | null> {
    this.preload();
    const classifier = await this.#classifier;
    if (!classifier) return null;
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = this.#frame.width;
    canvas.height = this.#frame.height;
    canvas.getContext('2d')!.drawImage(img, 0, 0, canvas.width, canvas.height);
    const scores = await classifier.classify(canvas);
    return { verdict: judge(scores), scores };
  }

  /** Test hook: the next sampled frames get these scores instead of the model's. */
  inject(scores: ClassifierScores): void {
    this.#injected.push(scores);
  }

  /**
   * Test hook: the model's load (not started yet: before the first Start) never settles
   * (`hang`, as a chunk that never arrives) or fails (`fail`), and the load times out after
   * `timeoutMs` (a test need not wait the real 15 s). False when it has started already.
   */
  simulateLoad(outcome: SimulatedLoad, timeoutMs = LOAD_TIMEOUT_MS): boolean {
    if (this.#classifier) return false;
    this.#loadTimeoutMs = timeoutMs;
    this.#load = outcome === 'hang' ? () => new Promise<never>(() => {}) : () => Promise.reject(new Error('simulated load failure (debug hook)'));
    return true;
  }

  close(): void {
    this.unwatch();
    this.removeAllListeners();
  }

  #reset(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#generation++;
    this.#state = 'screening';
    this.#override = false;
    this.#safeInRow = 0;
    this.#judged = 0;
    this.#blackInRow = 0;
    this.#frozenInRow = 0;
    this.#nothing = false;
    this.#prevLuma = null;
    this.#firstFrameAt = null;
    this.#lookedAt = -Infinity;
    this.#classifiedAt = -Infinity;
    this.#injected.length = 0;
  }

  #changed(): void {
    this.safeEmit('change', this.snapshot());
  }

  #schedule(ms: number): void {
    const gen = this.#generation;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const started = performance.now();
      this.#sample(gen).catch((err: unknown) => log.warn('screening a frame failed:', err))
        .finally(() => {
          if (gen !== this.#generation) return;
          // Steady sampling keeps its rate (a frame a second from start to start), so a flagged
          // frame is seen at most a second plus one classification after it arrives.
          const steady = Math.max(FIRST_SAMPLE_MS, STEADY_SAMPLE_MS - (performance.now() - started));
          this.#schedule(this.#judgingFast() || this.#firstFrameAt === null ? FIRST_SAMPLE_MS : steady);
        });
    }, ms);
  }

  /** Frames are judged back to back: the start of a call, before a verdict. */
  #judgingFast(): boolean {
    return this.#state === 'screening' && this.#policy !== 'off' && !this.#override && this.#judged < FAST_FRAMES;
  }

  /**
   * Whether this steady tick classifies: every tick (a frame a second), except on a very slow
   * device (or TF.js's CPU fallback, seconds a frame), where at that rate the checks would take
   * the page's whole main thread; there a frame is classified every five classification times.
   */
  #classifyDue(now: number): boolean {
    if (this.#judgingFast()) return true;
    // Slow is the fastest of the last three frames: one slow frame (a first run, a busy
    // moment) does not count.
    const recent = this.timings.inferenceMs.slice(-3);
    const fastest = recent.length < 3 ? 0 : Math.min(...recent);
    return fastest <= SLOW_FRAME_MS || now - this.#classifiedAt >= 5 * fastest;
  }

  /** One sample: black/frozen check, then (policy on, no verdict that ends checking) the classifier. */
  async #sample(gen: number): Promise<void> {
    const video = this.#video;
    // HAVE_CURRENT_DATA: a decoded frame to draw.
    if (!video || video.readyState < 2 || video.videoWidth === 0) return;
    if (this.#firstFrameAt === null) this.#firstFrameAt = performance.now();
    // Once a second, whatever the sampling rate: "frozen" compares frames a second apart.
    const now = performance.now();
    // While this page is hidden the partner sends it no video (issue 14): a still picture then
    // is not a camera that shows nothing.
    if (globalThis.document?.visibilityState === 'hidden') this.#frozenInRow = 0;
    else if (now - this.#lookedAt >= STEADY_SAMPLE_MS - 50) {
      this.#lookedAt = now;
      this.#checkNothing(video);
    }
    if (this.#policy === 'off' || this.#override || this.#state === 'flagged' || !this.#classifyDue(now)) return;
    const classifier = await this.#classifier;
    if (gen !== this.#generation) return;
    if (!classifier) {
      if (!this.#failed) { this.#failed = true; this.#changed(); }
      return;
    }
    const t0 = performance.now();
    this.#classifiedAt = t0;
    const ctx = this.#frame.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(video, 0, 0, this.#frame.width, this.#frame.height);
    const model = await classifier.classify(this.#frame);
    if (gen !== this.#generation) return;
    const ms = performance.now() - t0;
    if (this.timings.inferenceMs.push(Math.round(ms * 10) / 10) > MAX_TIMINGS) this.timings.inferenceMs.shift();
    this.timings.classified++;
    const scores = this.#injected.shift() ?? model;
    this.timings.last = scores;
    if (++this.#judged === FAST_FRAMES && this.#state === 'screening') this.#changed();
    this.#apply(judge(scores), scores.porn + scores.hentai + scores.sexy < CLEARLY_SAFE);
  }

  #apply(verdict: 'safe' | 'flagged' | 'unsure', clearly: boolean): void {
    if (verdict === 'flagged') {
      this.#state = 'flagged';
      this.#safeInRow = 0;
      this.#changed();
      return;
    }
    if (this.#state !== 'screening') return;
    this.#safeInRow = verdict === 'safe' ? this.#safeInRow + 1 : 0;
    if (this.#safeInRow >= SAFE_FRAMES_TO_CLEAR || (verdict === 'safe' && clearly)) {
      this.#state = 'clear';
      if (this.#firstFrameAt !== null && this.timings.clearMs.push(Math.round(performance.now() - this.#firstFrameAt)) > MAX_TIMINGS) this.timings.clearMs.shift();
      this.#changed();
    }
  }

  /** Black for {@link BLACK_SAMPLES} samples in a row, or unchanged for {@link FROZEN_SAMPLES}: the camera shows nothing. */
  #checkNothing(video: HTMLVideoElement): void {
    const ctx = this.#small.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(video, 0, 0, this.#small.width, this.#small.height);
    const { mean, change, luma } = lumaOf(ctx.getImageData(0, 0, this.#small.width, this.#small.height).data, this.#prevLuma);
    this.#prevLuma = luma;
    this.#blackInRow = mean < BLACK_LUMA ? this.#blackInRow + 1 : 0;
    this.#frozenInRow = change < FROZEN_CHANGE ? this.#frozenInRow + 1 : 0;
    const nothing = this.#blackInRow >= BLACK_SAMPLES || this.#frozenInRow >= FROZEN_SAMPLES;
    if (nothing !== this.#nothing) {
      this.#nothing = nothing;
      this.#changed();
    }
  }
}
