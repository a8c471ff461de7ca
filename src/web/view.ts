/**
 * The page: finds the elements by their `data-testid`, forwards clicks to the session and
 * renders its snapshots. All DOM code lives here; the session knows nothing about the page.
 */
import { TYPING_SHOW_MS } from '../protocol/index.js';
import { parseInterests, type BrowserSession, type SessionSnapshot } from './browser-session.js';
import { ChatLog } from './chat-log.js';
import type { LocalMedia } from './local-media.js';
import type { CallQuality } from './peer-call.js';
import { privateLink } from './route.js';
import { statusLine } from './status-text.js';
import * as log from './log.js';

/** The element with `data-testid="id"`; throws naming the hook when the page lacks it. */
export function byTestId<T extends HTMLElement>(id: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`the page has no element with data-testid="${id}"`);
  return el;
}

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id) as T | null;
  if (!el) throw new Error(`the page has no element #${id}`);
  return el;
}

/**
 * What the safety-number box says (docs/safety-number.md). A failed check never shows a
 * number: someone answered for the partner with a nonce that did not open its commitment.
 */
function safetyText(check: 'none' | 'checking' | 'verified' | 'failed' | 'unavailable', number: string | null): string {
  switch (check) {
    case 'verified': return number ?? '';
    case 'failed': return 'Warning: the safety check failed. Someone may be listening in on this call.';
    case 'unavailable': return 'Unavailable: this call could not be checked.';
    default: return '';
  }
}

/** Binds the page to a session. */
export class View {
  readonly #hub = byTestId<HTMLSelectElement>('hub-select');
  readonly #interests = byTestId<HTMLInputElement>('interests');
  readonly #hideIp = byTestId<HTMLInputElement>('hide-ip');
  readonly #preferNear = byTestId<HTMLInputElement>('prefer-near');
  readonly #start = byTestId<HTMLButtonElement>('start');
  readonly #next = byTestId<HTMLButtonElement>('next');
  readonly #stop = byTestId<HTMLButtonElement>('stop');
  readonly #report = byTestId<HTMLButtonElement>('report');
  readonly #status = byTestId<HTMLElement>('status');
  readonly #notice = byTestId<HTMLElement>('media-notice');
  readonly #local = byTestId<HTMLVideoElement>('local-video');
  readonly #remote = byTestId<HTMLVideoElement>('remote-video');
  readonly #chatLog = byTestId<HTMLOListElement>('chat-log');
  /** Bounded and rate-limited: a flooding partner cannot grow the page or keep it busy. */
  readonly #chat = new ChatLog(this.#chatLog);
  readonly #chatInput = byTestId<HTMLInputElement>('chat-input');
  readonly #chatSend = byTestId<HTMLButtonElement>('chat-send');
  readonly #privateCreate = byTestId<HTMLButtonElement>('private-create');
  readonly #privateLink = byTestId<HTMLInputElement>('private-link');
  readonly #safety = byTestId<HTMLOutputElement>('safety-number');
  readonly #chatForm = byId<HTMLFormElement>('chat-form');
  readonly #linkRow = byId<HTMLElement>('private-link-row');
  readonly #copy = byId<HTMLButtonElement>('private-copy');
  readonly #unmute = byId<HTMLButtonElement>('unmute');
  readonly #remotePlaceholder = byId<HTMLElement>('remote-placeholder');
  readonly #localPlaceholder = byId<HTMLElement>('local-placeholder');
  readonly #hideIpHint = byId<HTMLElement>('hide-ip-hint');
  readonly #preferNearHint = byId<HTMLElement>('prefer-near-hint');
  readonly #quality = byTestId<HTMLElement>('quality');
  readonly #qualityText = byTestId<HTMLElement>('quality-text');
  readonly #audioOnly = byTestId<HTMLButtonElement>('audio-only');
  readonly #localBox = byId<HTMLElement>('local');
  readonly #remoteBox = byTestId<HTMLVideoElement>('remote-video').parentElement!;
  readonly #mute = byTestId<HTMLButtonElement>('mute');
  readonly #cameraOff = byTestId<HTMLButtonElement>('camera-off');
  readonly #switchCamera = byTestId<HTMLButtonElement>('switch-camera');
  readonly #partnerCameraOff = byTestId<HTMLElement>('partner-camera-off');
  readonly #partnerMicOff = byTestId<HTMLElement>('partner-mic-off');
  readonly #typing = byTestId<HTMLElement>('typing');
  #typingTimer: ReturnType<typeof setTimeout> | null = null;
  #localMedia: LocalMedia | null = null;
  /** Our camera is off, or video is paused for audio only: the preview shows a cover. */
  #cameraOffOn = false;
  #audioOnlyOn = false;
  #hubNames = '';

  constructor(session: BrowserSession) {
    session.on('change', (s) => this.render(s));
    session.on('chat', (line) => {
      // The message the partner was typing has come.
      if (line.from === 'partner') this.#showTyping(false);
      this.#chat.append(line);
    });
    session.on('chatclear', () => { this.#chat.clear(); this.#showTyping(false); });
    session.on('partnertyping', () => this.#showTyping(true));
    session.on('localmedia', (m) => this.#showLocal(m));
    session.on('mediaproblem', (text) => { this.#notice.textContent = text ?? ''; this.#notice.hidden = !text; });
    session.on('remotestream', (s) => this.#showRemote(s));
    session.on('quality', (q) => this.#showQuality(q));

    this.#start.addEventListener('click', () => this.#act(() => session.start(this.#hub.value, parseInterests(this.#interests.value))));
    const next = () => this.#act(() => session.next(this.#hub.value || undefined, parseInterests(this.#interests.value)));
    this.#next.addEventListener('click', next);
    this.#stop.addEventListener('click', () => this.#act(() => session.stop()));
    this.#report.addEventListener('click', () => this.#act(() => session.report()));
    this.#privateCreate.addEventListener('click', () => this.#act(() => session.createPrivate()));
    this.#hideIp.addEventListener('change', () => session.setRelayOnly(this.#hideIp.checked));
    this.#preferNear.addEventListener('change', () => session.setPreferNear(this.#preferNear.checked));
    // Typing tells the partner (the session sends at most one `typing` every 2 s).
    this.#chatInput.addEventListener('input', () => { if (this.#chatInput.value.trim()) session.sendTyping(); });
    this.#mute.addEventListener('click', () => {
      const on = this.#mute.getAttribute('aria-pressed') !== 'true';
      this.#act(() => session.setMicOff(on));
    });
    this.#cameraOff.addEventListener('click', () => {
      const on = this.#cameraOff.getAttribute('aria-pressed') !== 'true';
      this.#act(() => session.setCameraOff(on));
    });
    this.#switchCamera.addEventListener('click', () => this.#act(() => session.switchCamera()));
    this.#chatForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = this.#chatInput.value;
      this.#act(() => {
        session.sendChat(text);
        this.#chatInput.value = '';
      });
    });
    this.#audioOnly.addEventListener('click', () => {
      const on = this.#audioOnly.getAttribute('aria-pressed') !== 'true';
      this.#act(() => session.setAudioOnly(on));
    });
    this.#copy.addEventListener('click', () => void this.#copyLink());
    this.#unmute.addEventListener('click', () => {
      this.#remote.muted = false;
      this.#unmute.hidden = true;
      void this.#remote.play().catch(() => {});
    });
    // Escape skips, as on the classic random-chat sites, unless the person is typing.
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape' || ev.target instanceof HTMLInputElement) return;
      if (!this.#next.disabled) next();
    });
    this.render(session.snapshot());
  }

  /** Runs a user action; a refusal (wrong state) is logged, never thrown into the DOM. */
  #act(action: () => void | Promise<void>): void {
    try {
      const r = action();
      if (r instanceof Promise) r.catch((err: unknown) => log.warn('action refused:', err));
    } catch (err) {
      log.warn('action refused:', err);
    }
  }

  /** Renders a snapshot: status, buttons, hubs, private link, safety number. */
  render(s: SessionSnapshot): void {
    const line = statusLine(s);
    if (this.#status.textContent !== line.text) this.#status.textContent = line.text;
    this.#status.dataset.tone = line.tone;
    this.#status.dataset.state = s.state;
    document.body.dataset.state = s.state;

    this.#renderHubs(s);
    const st = s.state;
    const inCall = st === 'in-call';
    this.#start.disabled = st !== 'idle' || s.hubs.length === 0;
    this.#next.disabled = !(inCall || (st === 'idle' && s.canRequeue && s.hubs.length > 0));
    this.#stop.disabled = !(['preparing', 'searching', 'private-waiting', 'joining-private', 'in-call'].includes(st) || (st === 'idle' && s.mediaOn));
    this.#report.disabled = !inCall;
    this.#privateCreate.disabled = st !== 'idle' && st !== 'searching';
    this.#hub.disabled = s.hubs.length === 0 || (st !== 'idle' && st !== 'offline');
    this.#interests.disabled = st !== 'idle' && st !== 'offline';
    this.#hideIp.disabled = !s.turn || inCall;
    this.#hideIp.checked = s.relayOnly;
    const hint = s.turn
      ? 'Calls go through the server\'s TURN relay, so your partner never sees your IP address.'
      : 'This server offers no TURN relay, so your IP address cannot be hidden.';
    if (this.#hideIpHint.textContent !== hint) this.#hideIpHint.textContent = hint;
    // Like the interests, it counts when joining: settled before Start.
    this.#preferNear.disabled = !s.nearby || (st !== 'idle' && st !== 'offline');
    this.#preferNear.checked = s.preferNear;
    const nearHint = s.nearby || st === 'offline'
      ? 'Times a few quick pings to this server\'s landmarks, so you meet people with less delay. Only rounded numbers reach the server, never your partner.'
      : 'This server pairs strangers at random.';
    if (this.#preferNearHint.textContent !== nearHint) this.#preferNearHint.textContent = nearHint;

    const chatOpen = inCall && !!s.call?.chatOpen;
    this.#chatInput.disabled = !chatOpen;
    this.#chatSend.disabled = !chatOpen;
    this.#chatInput.placeholder = chatOpen ? 'Say hi…' : inCall ? 'Chat opens when the call connects…' : 'Chat opens in a call';

    this.#renderMediaControls(s);

    const link = st === 'private-waiting' && s.privateCode ? privateLink(s.privateCode) : '';
    if (this.#privateLink.value !== link) this.#privateLink.value = link;
    this.#linkRow.hidden = !link;

    const check = s.call?.safetyCheck ?? 'none';
    const safety = safetyText(check, s.call?.safetyNumber ?? null);
    if (this.#safety.textContent !== safety) this.#safety.textContent = safety;
    this.#safety.dataset.check = check;
  }

  /** Mute, camera off and switch camera (usable in a call), and what the partner said it sends. */
  #renderMediaControls(s: SessionSnapshot): void {
    const inCall = s.state === 'in-call';
    this.#mute.disabled = !inCall || !s.hasMic;
    this.#mute.setAttribute('aria-pressed', String(s.micOff));
    this.#cameraOff.disabled = !inCall || !s.hasCamera;
    this.#cameraOff.setAttribute('aria-pressed', String(s.cameraOff));
    this.#switchCamera.hidden = !s.canSwitchCamera;
    this.#switchCamera.disabled = !inCall || !s.canSwitchCamera;
    const partnerCameraOff = inCall && s.call?.partnerCamera === false;
    this.#partnerCameraOff.hidden = !partnerCameraOff;
    this.#remoteBox.toggleAttribute('data-camera-off', partnerCameraOff);
    this.#partnerMicOff.hidden = !(inCall && s.call?.partnerMic === false);
    if (!inCall) this.#showTyping(false);
    if (this.#cameraOffOn !== s.cameraOff) {
      this.#cameraOffOn = s.cameraOff;
      this.#renderLocalCover();
    }
  }

  /** "Stranger is typing…", for {@link TYPING_SHOW_MS} after the partner's last `typing` message. */
  #showTyping(on: boolean): void {
    if (this.#typingTimer) { clearTimeout(this.#typingTimer); this.#typingTimer = null; }
    if (on) this.#typingTimer = setTimeout(() => this.#showTyping(false), TYPING_SHOW_MS);
    const text = on ? 'Stranger is typing…' : '';
    if (this.#typing.textContent !== text) this.#typing.textContent = text;
  }

  #renderHubs(s: SessionSnapshot): void {
    const names = s.hubs.map((h) => h.name).join(',');
    if (names !== this.#hubNames) {
      const keep = this.#hub.value;
      this.#hub.replaceChildren(...s.hubs.map((h) => new Option(h.name, h.name)));
      if (s.hubs.some((h) => h.name === keep)) this.#hub.value = keep;
      this.#hubNames = names;
    }
    // The server pushes counts only to people outside a call, so in a call they would be stale.
    const live = s.state !== 'in-call';
    for (const opt of Array.from(this.#hub.options)) {
      const h = s.hubs.find((x) => x.name === opt.value);
      if (!h) continue;
      const text = live ? `${h.name} · ${h.waiting} waiting · ${h.inCall} in calls` : h.name;
      if (opt.text !== text) opt.text = text;
    }
  }

  #showLocal(m: LocalMedia | null): void {
    this.#localMedia = m;
    const stream = m?.video ? m.stream : null;
    if (this.#local.srcObject !== stream) this.#local.srcObject = stream;
    this.#renderLocalCover();
    if (stream) void this.#local.play().catch(() => {});
  }

  /** The preview's cover: no camera, camera off, or video off in audio-only mode (the partner sees no video). */
  #renderLocalCover(): void {
    const m = this.#localMedia;
    const camera = !!m?.video;
    const videoOff = this.#cameraOffOn || this.#audioOnlyOn;
    const text = !camera ? (m ? 'No camera' : 'Your camera')
      : this.#cameraOffOn ? 'Your camera is off' : this.#audioOnlyOn ? 'Your video is off (audio only)' : 'Your camera';
    this.#localPlaceholder.hidden = camera && !videoOff;
    if (this.#localPlaceholder.textContent !== text) this.#localPlaceholder.textContent = text;
    this.#localBox.toggleAttribute('data-video-off', camera && videoOff);
  }

  /**
   * The quality pill: level (as `data-level`), the reason in words, and the audio-only toggle
   * once the call stayed poor. Null (no call): hidden, level cleared, audio-only reset.
   */
  #showQuality(q: CallQuality | null): void {
    if (!q) {
      this.#quality.hidden = true;
      delete this.#quality.dataset.level;
      this.#qualityText.textContent = '';
      this.#audioOnly.hidden = true;
      this.#audioOnly.setAttribute('aria-pressed', 'false');
      this.#audioOnlyOn = false;
      this.#renderLocalCover();
      return;
    }
    this.#quality.hidden = false;
    this.#quality.dataset.level = q.level;
    const text = q.level === 'good' ? q.reason : `${q.level === 'poor' ? 'Poor' : 'Weak'} connection. ${q.reason}`;
    if (this.#qualityText.textContent !== text) this.#qualityText.textContent = text;
    this.#audioOnly.hidden = !q.offerAudioOnly;
    this.#audioOnly.setAttribute('aria-pressed', String(q.audioOnly));
    this.#audioOnlyOn = q.audioOnly;
    this.#renderLocalCover();
  }

  #showRemote(stream: MediaStream | null): void {
    if (this.#remote.srcObject !== stream) this.#remote.srcObject = stream;
    this.#remotePlaceholder.hidden = !!stream;
    if (!stream) {
      this.#unmute.hidden = true;
      return;
    }
    this.#remote.muted = false;
    // Autoplay with sound needs a user gesture; a private link opened cold may not have one.
    this.#remote.play().catch(() => {
      this.#remote.muted = true;
      this.#unmute.hidden = false;
      void this.#remote.play().catch(() => {});
    });
  }

  async #copyLink(): Promise<void> {
    const link = this.#privateLink.value;
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link);
      this.#copy.textContent = 'Copied';
    } catch {
      this.#privateLink.select();
      this.#copy.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { this.#copy.textContent = 'Copy'; }, 2000);
  }
}
