/**
 * Issue 16's whole path, in real browsers over two Redis nodes: a stranger (Chromium, node A)
 * is met in turn by three people, two in Chromium (one on node A, one on node B) and one in
 * Firefox (node B), each at an address of their own (a loopback proxy per person adds the
 * X-Forwarded-For a real reverse proxy would; the nodes trust one proxy). Each sees the
 * stranger's ordinary video unblur, picks a reason in the report dialog and reports; the third
 * report bans the stranger, whose page explains it and for how long; the ban holds on the other
 * node for the stranger's token (at a new address) and for the stranger's address (with a new
 * token), and both nodes' admin APIs list it.
 */
import type { Browser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalServer } from '../../src/signal/server.js';
import {
  ADULT_CONFIRMED, buildWebClient, CONNECTED, closeAll, launchChromium, launchFirefox, openChromiumPage, openFirefoxPage, pollUntil,
  startIn, waitForStatus, type ChatPage,
} from '../helpers/browsers.js';
import { withTimeout } from '../helpers/deadline.js';
import { startForwardingProxy, type ForwardingProxy } from '../helpers/forwarding-proxy.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';

const ADMIN = 'safety-cluster-admin-token-0123456789';
const HUB = 'tamil';
/** The stranger's address, and the three reporters' (distinct in token and address). */
const STRANGER_IP = '203.0.113.10';

let web: Awaited<ReturnType<typeof buildWebClient>> | undefined;
let redis: RedisServer | undefined;
const nodes: SignalServer[] = [];
const proxies: ForwardingProxy[] = [];
let chromium: Browser | undefined;
let firefox: FirefoxBrowser | undefined;
const pages: ChatPage[] = [];

beforeAll(async () => {
  web = await buildWebClient();
  redis = await startRedis();
  const opts = {
    webRoot: web.dir, redisUrl: redis.url, nodeTtlMs: 3000, trustProxy: 1, adminToken: ADMIN,
    // The deployment screens (the default); a report counts after a second in the call.
    screening: 'blur-until-safe' as const, reportMinCallMs: 1000, pairing: 'random' as const,
  };
  await Promise.all([
    startServer(opts).then((s) => { nodes.push(s); }),
    startServer(opts).then((s) => { nodes.push(s); }),
    launchChromium().then((b) => { chromium = b; }),
    launchFirefox().then((b) => { firefox = b; }),
  ]);
}, 120_000);

afterAll(async () => {
  await closeAll(pages);
  await firefox?.close();
  await chromium?.close();
  await Promise.all(proxies.map((p) => p.close().catch(() => {})));
  await Promise.all(nodes.map((n) => n.close()));
  await redis?.stop();
  web?.remove();
});

/** The page of someone at `ip` on `node`, through a proxy of their own. */
async function person(kind: 'chromium' | 'firefox', node: SignalServer, ip: string, name: string): Promise<ChatPage> {
  const proxy = await startForwardingProxy(node.url, ip);
  proxies.push(proxy);
  const page = kind === 'chromium' ? await openChromiumPage(chromium!, proxy.url, name) : await openFirefoxPage(firefox!, proxy.url, name);
  pages.push(page);
  return page;
}

/** The remote shield's state ("clear" once the model found the stranger's video ordinary). */
const shield = (p: ChatPage) => p.eval<{ state?: string; hidden: boolean; blurred: boolean }>(
  `(() => { const s = document.querySelector('[data-testid="remote-shield"]'); return { state: s.dataset.state, hidden: s.hidden, blurred: s.parentElement.hasAttribute('data-blur') }; })()`);

/** The sum of a counter over both nodes' /metrics. */
async function total(line: string): Promise<number> {
  let sum = 0;
  for (const n of nodes) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    const l = text.split('\n').find((x) => x.startsWith(`${line} `));
    sum += l ? Number(l.split(' ').pop()) : 0;
  }
  return sum;
}

/** `reporter` meets the waiting stranger, sees the video unblur, and reports it for nudity. */
async function meetAndReport(reporter: ChatPage, stranger: ChatPage, nth: number): Promise<void> {
  await startIn(reporter, HUB);
  await Promise.all([waitForStatus(reporter, CONNECTED, 30_000, 'connected to the stranger'), waitForStatus(stranger, CONNECTED, 30_000, `connected to reporter ${nth}`)]);
  const connectedAt = Date.now();
  await pollUntil(() => shield(reporter), (s) => !s.hidden && s.state === 'clear' && !s.blurred, 30_000, (s) => `${reporter.name}: the stranger's video unblurs (${JSON.stringify(s)})`);
  // A report counts toward a ban once the reporter was in the call reportMinCallMs (1 s).
  const left = connectedAt + 1200 - Date.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  await reporter.click('report');
  await reporter.eval(`document.querySelector('[data-testid="report-reason"] input[value="nudity"]').click()`);
  await reporter.click('report-send');
  await pollUntil(() => total('chatzyo_report_outcomes_total{outcome="counted"}'), (n) => n === nth, 10_000, (n) => `report ${nth} counted (counted: ${n})`);
  // Gone, so the next reporter meets the stranger (and not this one).
  await reporter.close();
  // The stranger's call ended ("the stranger left"): it presses Start again, as anyone would.
  await pollUntil(() => stranger.eval<string>('document.body.dataset.state'), (st) => st === 'idle', 10_000, (st) => `the stranger's call ends (state ${st})`);
  await startIn(stranger, HUB);
}

describe('three people report a stranger in Chromium and Firefox, over two Redis nodes', () => {
  it('the stranger is banned on every node, and its page says so and for how long', async () => {
    const [a, b] = nodes as [SignalServer, SignalServer];
    const stranger = await person('chromium', a, STRANGER_IP, 'stranger');
    await startIn(stranger, HUB);
    const token = await pollUntil(() => stranger.eval<string | null>("localStorage.getItem('chatzyo.token')"), (t) => !!t, 10_000, (t) => `the stranger's token (${t})`);

    await meetAndReport(await person('chromium', a, '203.0.113.11', 'reporter 1 (Chromium, node A)'), stranger, 1);
    await meetAndReport(await person('chromium', b, '203.0.113.12', 'reporter 2 (Chromium, node B)'), stranger, 2);
    await meetAndReport(await person('firefox', b, '198.51.100.13', 'reporter 3 (Firefox, node B)'), stranger, 3);

    expect(await total('chatzyo_reports_total{reason="nudity"}')).toBeGreaterThanOrEqual(3);
    expect(await total('chatzyo_bans_total{by="reports"}')).toBeGreaterThanOrEqual(1);
    // The stranger's page, pressing Start after the third report, is refused and told why.
    await waitForStatus(stranger, /reported you.*60 minutes/, 15_000, 'the stranger is told of the ban');

    // Node B: the stranger's token at a new address, and the stranger's address with a new token.
    const sameToken = await withTimeout(chromium!.newContext(), 10_000, 'context');
    await sameToken.addInitScript({ content: `${ADULT_CONFIRMED}; localStorage.setItem('chatzyo.token', ${JSON.stringify(token)});` });
    const proxy = await startForwardingProxy(b.url, '198.51.100.50');
    proxies.push(proxy);
    const again = await sameToken.newPage();
    pages.push({ name: 'the stranger, new address', close: () => sameToken.close() } as ChatPage);
    await again.goto(proxy.url);
    await again.locator('[data-testid="hub-select"]').selectOption(HUB);
    await again.locator('[data-testid="start"]').click();
    await pollUntil(() => again.locator('[data-testid="status"]').textContent(), (t) => /reported you/.test(t ?? ''), 15_000, (t) => `node B refuses the stranger's token (status ${t})`);

    const sameAddress = await person('chromium', b, STRANGER_IP, 'the stranger, new token');
    await startIn(sameAddress, HUB);
    await waitForStatus(sameAddress, /reported you/, 15_000, "node B refuses the stranger's address");
    expect(await sameAddress.eval<string | null>("localStorage.getItem('chatzyo.token')")).not.toBe(token);

    for (const n of nodes) {
      const res = await fetch(`${n.url}/api/admin/bans`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const { bans } = (await res.json()) as { bans: { subject: { kind: string }; by: string; level: number }[] };
      expect(bans.map((x) => x.subject.kind).sort(), n.url).toEqual(['addr', 'anon']);
      expect(bans.every((x) => x.by === 'reports' && x.level === 1), JSON.stringify(bans)).toBe(true);
    }
  }, 240_000);
});
