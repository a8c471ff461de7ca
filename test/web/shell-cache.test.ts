// The service worker's rules (src/web/shell-cache.ts): which requests it answers, what it caches,
// which caches it drops, and that the web manifest names icons the shell caches.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cacheName, isStaleCache, OFFLINE_PATH, routeFor, SHELL_PATHS } from '../../src/web/shell-cache.js';
import { readPng } from '../helpers/png.js';

const ORIGIN = 'https://chat.example';
const get = (pathOrUrl: string, mode = 'cors') => routeFor({ method: 'GET', url: new URL(pathOrUrl, ORIGIN).href, mode }, ORIGIN);

describe('routeFor', () => {
  it('answers a navigation to the client, whatever its query or call link', () => {
    for (const p of ['/', '/index.html', '/?utm=x', '/#/call/ABCD2345']) expect(get(p, 'navigate'), p).toBe('page');
  });

  it('answers a GET of every shell file', () => {
    for (const p of SHELL_PATHS) expect(get(p), p).toBe('shell');
    expect(SHELL_PATHS).toContain(OFFLINE_PATH);
  });

  it('stays out of the WebSocket, the API, the operations endpoints and anything not in the shell', () => {
    for (const p of ['/ws', '/api/hubs', '/metrics', '/healthz', '/turn', '/app.js.map', '/sw.js', '/icons/', '/nope.png', '/app.js?v=2']) {
      expect(get(p), p).toBeNull();
    }
    for (const p of ['/metrics', '/healthz', '/api/hubs', '/ws', '/offline.html', '/nope']) expect(get(p, 'navigate'), `navigate ${p}`).toBeNull();
  });

  it('stays out of every method but GET and of other origins', () => {
    for (const method of ['POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) {
      expect(routeFor({ method, url: `${ORIGIN}/app.js`, mode: 'cors' }, ORIGIN), method).toBeNull();
      expect(routeFor({ method, url: `${ORIGIN}/`, mode: 'navigate' }, ORIGIN), `${method} navigation`).toBeNull();
    }
    expect(routeFor({ method: 'GET', url: 'https://cdn.example/app.js', mode: 'cors' }, ORIGIN)).toBeNull();
    expect(routeFor({ method: 'GET', url: 'http://chat.example/', mode: 'navigate' }, ORIGIN)).toBeNull();
    expect(routeFor({ method: 'GET', url: 'not a url', mode: 'navigate' }, ORIGIN)).toBeNull();
  });
});

describe('caches', () => {
  it('are named per build, and only older chatzyo shells are stale', () => {
    const current = cacheName('22da9330c8a3d3a2');
    expect(cacheName('a')).not.toBe(cacheName('b'));
    expect(isStaleCache(current, current)).toBe(false);
    expect(isStaleCache(cacheName('0123456789abcdef'), current)).toBe(true);
    expect(isStaleCache('someone-elses-cache', current)).toBe(false);
  });
});

describe('the web manifest', () => {
  const manifest = JSON.parse(readFileSync(new URL('../../src/web/manifest.webmanifest', import.meta.url), 'utf8')) as {
    icons: { src: string; sizes: string; type: string; purpose?: string }[];
  } & Record<string, unknown>;

  it('has what an installable app needs', () => {
    expect(manifest).toMatchObject({ name: 'chatzyo', short_name: 'chatzyo', start_url: '/', scope: '/', display: 'standalone' });
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/);
    expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/);
    const sizes = manifest.icons.filter((i) => (i.purpose ?? 'any').split(' ').includes('any')).map((i) => i.sizes);
    expect(sizes).toEqual(expect.arrayContaining(['192x192', '512x512']));
    expect(manifest.icons.some((i) => i.purpose?.split(' ').includes('maskable'))).toBe(true);
  });

  it('names icons that exist, are cached with the shell, and are PNGs of their declared size', () => {
    for (const icon of manifest.icons) {
      expect(SHELL_PATHS, icon.src).toContain(icon.src);
      expect(icon.type).toBe('image/png');
      const file = new URL(`../../src/web${icon.src}`, import.meta.url);
      expect(existsSync(file), `${icon.src} exists in src/web`).toBe(true);
      const { width, height } = readPng(readFileSync(file));
      expect(`${width}x${height}`, icon.src).toBe(icon.sizes);
    }
  });
});
