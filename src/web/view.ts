/**
 * The page: finds the elements by their `data-testid`, forwards clicks to the session and
 * renders its snapshots. All DOM code lives here; the session knows nothing about the page.
 */
import { TYPING_SHOW_MS } from '../protocol/index.js';
import { parseInterests, type BrowserSession, type SessionSnapshot } from './browser-session.js';
import type { AgeGate } from './age-gate.js';
import { ChatLog } from './chat-log.js';
import { RemoteShield } from './remote-shield.js';
import { ReportDialog } from './report-dialog.js';
import { effectivePolicy, isPolicy, policyChoices, savedPolicy, savePolicy, type Screener, type ScreeningPolicy } from './screening.js';
import type { LocalMedia } from './local-media.js';
import type { CallQuality } from './peer-call.js';
import { privateLink } from './route.js';
import { applyTranslations, isLang, language, LANGUAGES, onLanguageChange, saveLanguage, setLanguage, t, tx, type MessageKey, type Text } from './i18n/index.js';
import { hubForLanguage, hubLabel } from './i18n/hubs.js';
import { statusLine } from './status-text.js';
import * as log from './log.js';

/** A second Escape within this many ms of the first is Next. */
const ESC_TWICE_MS = 1500;

/** Keys typed here are text, not shortcuts. */
const isTextEntry = (el: EventTarget | null): boolean =>
  el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement || (el instanceof HTMLElement && el.isContentEditable);

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
    case 'failed': return t('safety.failed');
    case 'unavailable': return t('safety.unavailable');
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
  readonly #partnerAway = byTestId<HTMLElement>('partner-away');
  readonly #typing = byTestId<HTMLElement>('typing');
  #typingTimer: ReturnType<typeof setTimeout> | null = null;
  #localMedia: LocalMedia | null = null;
  /** Our camera is off, or video is paused for audio only: the preview shows a cover. */
  #cameraOffOn = false;
  #audioOnlyOn = false;
  #hubNames = '';
  readonly #language = byTestId<HTMLSelectElement>('language');
  readonly #shortcuts = byTestId<HTMLButtonElement>('shortcuts');
  readonly #shortcutsDialog = byTestId<HTMLDialogElement>('shortcuts-dialog');
  readonly #shortcutsClose = byTestId<HTMLButtonElement>('shortcuts-close');
  readonly #keyHint = byTestId<HTMLElement>('key-hint');
  #keyHintTimer: ReturnType<typeof setTimeout> | null = null;
  /** When Escape was last pressed (a second one within {@link ESC_TWICE_MS} is Next). */
  #escAt = -Infinity;
  /** The person picked a hub themselves: a change of language no longer picks one. */
  #hubPicked = false;
  #snapshot: SessionSnapshot;
  #qualityShown: CallQuality | null = null;
  #problem: Text | null = null;
  #typingOn = false;
  #copyState: 'copy' | 'copied' | 'press' = 'copy';
  #copyTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #screeningSelect = byTestId<HTMLSelectElement>('screening-policy');
  readonly #reportDialog = new ReportDialog();
  /** The match the open report dialog is about (null while it is closed). */
  #reportingAbout: string | null = null;
  readonly #gate: AgeGate;
  readonly #screener: Screener;
  readonly #shield: RemoteShield;
  /** The deployment default the screening choices were built for ('' before the first render). */
  #screeningChoicesFor = '';

  /**
   * `gate` asks for the 18+ confirmation before anything turns the camera on for a stranger;
   * `screener` screens the stranger's video (its shield is drawn here).
   */
  constructor(session: BrowserSession, opts: { gate: AgeGate; screener: Screener }) {
    this.#snapshot = session.snapshot();
    this.#gate = opts.gate;
    this.#screener = opts.screener;
    this.#setUpLanguage();
    session.on('change', (s) => this.render(s));
    session.on('chat', (line) => {
      // The message the partner was typing has come.
      if (line.from === 'partner') this.#showTyping(false);
      this.#chat.append(line);
    });
    session.on('chatclear', () => { this.#chat.clear(); this.#showTyping(false); });
    session.on('partnertyping', () => this.#showTyping(true));
    session.on('localmedia', (m) => this.#showLocal(m));
    session.on('mediaproblem', (text) => { this.#problem = text; this.#renderNotice(); });
    session.on('remotestream', (s) => this.#showRemote(s));
    session.on('quality', (q) => this.#showQuality(q));

    this.#start.addEventListener('click', () => this.#act(() => this.#adult(() => session.start(this.#hub.value, parseInterests(this.#interests.value)))));
    this.#hub.addEventListener('change', () => { this.#hubPicked = true; });
    // Next from idle starts a search: behind the gate too (a no-op once confirmed).
    const next = () => this.#act(() => this.#adult(() => session.next(this.#hub.value || undefined, parseInterests(this.#interests.value))));
    this.#next.addEventListener('click', next);
    this.#stop.addEventListener('click', () => this.#act(() => session.stop()));
    const report = () => this.#act(() => this.#reportWithReason(session));
    this.#report.addEventListener('click', report);
    this.#shield = new RemoteShield(this.#screener, this.#remoteBox, { next, report });
    this.#screeningSelect.addEventListener('change', () => {
      const chosen = this.#screeningSelect.value;
      if (!isPolicy(chosen)) return;
      savePolicy(chosen);
      if (this.#snapshot.screening !== null) this.#screener.setPolicy(effectivePolicy(this.#snapshot.screening, chosen));
    });
    this.#privateCreate.addEventListener('click', () => this.#act(() => this.#adult(() => session.createPrivate())));
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
    // Escape twice is Next, as on the classic random-chat sites (one could be a slip); "?" lists the shortcuts.
    document.addEventListener('keydown', (ev) => {
      if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
      if (document.querySelector('dialog[open]')) return; // a dialog answers its own keys
      if (ev.key === 'Escape') {
        if (this.#next.disabled) return;
        const now = performance.now();
        if (now - this.#escAt <= ESC_TWICE_MS) {
          this.#escAt = -Infinity;
          this.#showKeyHint(false);
          next();
        } else {
          this.#escAt = now;
          this.#showKeyHint(true);
        }
      } else if (ev.key === '?' && !isTextEntry(ev.target)) {
        ev.preventDefault();
        this.#openShortcuts();
      }
    });
    this.#shortcuts.addEventListener('click', () => this.#openShortcuts());
    this.#shortcutsClose.addEventListener('click', () => this.#shortcutsDialog.close());
    // Back to the "?" button when the list closes (Close, Escape): the focus is never lost.
    this.#shortcutsDialog.addEventListener('close', () => this.#shortcuts.focus());
    this.render(this.#snapshot);
  }

  /**
   * Runs `action` once the person confirmed they are 18 or older (at once when they did before
   * on this device); the screening model starts loading with the first such action.
   */
  async #adult(action: () => void | Promise<void>): Promise<void> {
    if (!(await this.#gate.ensure())) return;
    this.#screener.preload();
    await action();
  }

  /**
   * Report: asks why, then reports the stranger of the call the dialog was opened in: the current
   * call, else (not in a call) the call that ended last, while its stranger can still be
   * reported. That call may end while the dialog is open (the stranger leaves at once, or we
   * press Next): the report still goes to its stranger.
   */
  async #reportWithReason(session: BrowserSession): Promise<void> {
    if (this.#reportDialog.open) return;
    const s = session.snapshot();
    const matchId = s.state === 'in-call' ? session.matchId : s.canReportLast ? s.lastMatchId : null;
    if (!matchId) return;
    this.#reportingAbout = matchId;
    try {
      const reason = await this.#reportDialog.ask(matchId !== session.matchId);
      if (reason) session.report(reason, matchId);
    } finally {
      this.#reportingAbout = null;
    }
  }

  /** The Report button: "Report" in a call; "Report the last stranger" between calls, while it can. */
  #renderReportButton(last: boolean): void {
    const key: MessageKey = last ? 'button.reportLast' : 'button.report';
    const label: MessageKey = last ? 'button.reportLastLabel' : 'button.reportLabel';
    // The keys too, so a change of language (applyTranslations) keeps the right words.
    this.#report.dataset.i18n = key;
    this.#report.dataset.i18nAriaLabel = label;
    const text = t(key);
    if (this.#report.textContent !== text) this.#report.textContent = text;
    const name = t(label);
    if (this.#report.getAttribute('aria-label') !== name) this.#report.setAttribute('aria-label', name);
  }

  /** The screening choices allowed under the deployment's default (rebuilt when it or the language changes). */
  #renderScreening(s: SessionSnapshot): void {
    if (s.screening === null) return; // not welcomed yet: the deployment's default is not known
    const policy = effectivePolicy(s.screening, savedPolicy());
    const key = `${s.screening}:${language()}`;
    if (this.#screeningChoicesFor !== key) {
      const label: Record<ScreeningPolicy, MessageKey> = { off: 'screening.off', 'flag-only': 'screening.flagOnly', 'blur-until-safe': 'screening.blur' };
      this.#screeningSelect.replaceChildren(...policyChoices(s.screening).map((p) => new Option(t(label[p]), p)));
      this.#screeningChoicesFor = key;
    }
    if (this.#screeningSelect.value !== policy) this.#screeningSelect.value = policy;
    this.#screener.setPolicy(policy);
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

  /** The language switch: our four languages, each named in its own script; a choice is kept. */
  #setUpLanguage(): void {
    this.#language.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => {
      const o = new Option(name, code, false, code === language());
      o.lang = code;
      return o;
    }));
    this.#language.setAttribute('aria-label', t('page.language'));
    this.#language.addEventListener('change', () => {
      const lang = this.#language.value;
      if (!isLang(lang)) return;
      saveLanguage(lang);
      setLanguage(lang);
    });
    onLanguageChange(() => this.#retranslate());
  }

  /** Everything in the new language: the static texts, then what the code wrote. */
  #retranslate(): void {
    applyTranslations();
    this.#language.value = language();
    this.#language.setAttribute('aria-label', t('page.language'));
    this.#hubNames = ''; // rebuild the options with the new names
    this.render(this.#snapshot);
    this.#showQuality(this.#qualityShown);
    this.#renderLocalCover();
    this.#renderNotice();
    this.#showTyping(this.#typingOn);
    this.#renderCopy();
    this.#shield.render();
    if (this.#keyHint.textContent) this.#keyHint.textContent = t('keys.escAgain');
  }

  #renderNotice(): void {
    const text = this.#problem ? tx(this.#problem) : '';
    if (this.#notice.textContent !== text) this.#notice.textContent = text;
    this.#notice.hidden = !text;
  }

  /** "Press Esc again for Next." after the first Escape, for as long as the second one counts. */
  #showKeyHint(on: boolean): void {
    if (this.#keyHintTimer) { clearTimeout(this.#keyHintTimer); this.#keyHintTimer = null; }
    if (on) this.#keyHintTimer = setTimeout(() => this.#showKeyHint(false), ESC_TWICE_MS);
    this.#keyHint.textContent = on ? t('keys.escAgain') : '';
    this.#keyHint.hidden = !on;
  }

  #openShortcuts(): void {
    if (this.#shortcutsDialog.open) return;
    this.#shortcutsDialog.showModal();
    this.#shortcutsClose.focus();
  }

  /** Renders a snapshot: status, buttons, hubs, private link, safety number. */
  render(s: SessionSnapshot): void {
    this.#snapshot = s;
    const focused = document.activeElement;
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
    // Between calls, the stranger of the call that just ended (for a minute, once).
    const reportLast = !inCall && s.canReportLast;
    this.#report.disabled = !(inCall || reportLast);
    this.#renderReportButton(reportLast);
    this.#privateCreate.disabled = st !== 'idle' && st !== 'searching';
    this.#hub.disabled = s.hubs.length === 0 || (st !== 'idle' && st !== 'offline');
    this.#interests.disabled = st !== 'idle' && st !== 'offline';
    this.#hideIp.disabled = !s.turn || inCall;
    this.#hideIp.checked = s.relayOnly;
    const hint = t(s.turn ? 'hideIp.hintOn' : st === 'offline' ? 'hideIp.hintUnknown' : 'hideIp.hintOff');
    if (this.#hideIpHint.textContent !== hint) this.#hideIpHint.textContent = hint;
    // Like the interests, it counts when joining: settled before Start.
    this.#preferNear.disabled = !s.nearby || (st !== 'idle' && st !== 'offline');
    this.#preferNear.checked = s.preferNear;
    const nearHint = t(s.nearby || st === 'offline' ? 'near.hint' : 'near.hintOff');
    if (this.#preferNearHint.textContent !== nearHint) this.#preferNearHint.textContent = nearHint;

    const chatOpen = inCall && !!s.call?.chatOpen;
    this.#chatInput.disabled = !chatOpen;
    this.#chatSend.disabled = !chatOpen;
    this.#chatInput.placeholder = t(chatOpen ? 'chat.placeholderOpen' : inCall ? 'chat.placeholderConnecting' : 'chat.placeholderClosed');

    this.#renderMediaControls(s);

    const link = st === 'private-waiting' && s.privateCode ? privateLink(s.privateCode) : '';
    if (this.#privateLink.value !== link) this.#privateLink.value = link;
    this.#linkRow.hidden = !link;

    const check = s.call?.safetyCheck ?? 'none';
    const safety = safetyText(check, s.call?.safetyNumber ?? null);
    if (this.#safety.textContent !== safety) this.#safety.textContent = safety;
    this.#safety.dataset.check = check;
    this.#renderScreening(s);
    // The call the report dialog asks about may end while it is open: its stranger is still
    // reported. Only when that call is no longer known (the connection was lost) does it close.
    const about = this.#reportingAbout;
    if (about !== null) {
      if (s.call?.matchId === about) this.#reportDialog.setEnded(false);
      else if (s.lastMatchId === about) this.#reportDialog.setEnded(true);
      else this.#reportDialog.cancel();
    }
    this.#keepFocus(focused);
  }

  /**
   * The focus is never lost: when the button that had it became disabled (Next while the next
   * stranger is found, Start once pressed), it moves to the button that now does something.
   */
  #keepFocus(was: Element | null): void {
    if (!(was instanceof HTMLButtonElement) || !was.disabled) return;
    const to = [this.#next, this.#stop, this.#start, this.#chatInput].find((el) => !el.disabled);
    to?.focus();
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
    this.#partnerAway.hidden = !(inCall && s.call?.partnerHidden === true);
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
    this.#typingOn = on;
    const text = on ? t('chat.typing') : '';
    if (this.#typing.textContent !== text) this.#typing.textContent = text;
  }

  #renderHubs(s: SessionSnapshot): void {
    const names = s.hubs.map((h) => h.name).join(',');
    if (names !== this.#hubNames) {
      const keep = this.#hub.value;
      this.#hub.replaceChildren(...s.hubs.map((h) => new Option(hubLabel(h.name), h.name)));
      // The hub of the page's language comes preselected, until the person picks one.
      // Only before a search: the hub a search or call was started in stays what Next uses.
      const settled = this.#hubPicked || (s.state !== 'idle' && s.state !== 'offline');
      const mine = settled ? null : hubForLanguage(language(), s.hubs.map((h) => h.name));
      if (mine) this.#hub.value = mine;
      else if (s.hubs.some((h) => h.name === keep)) this.#hub.value = keep;
      this.#hubNames = names;
    }
    // The server pushes counts only to people outside a call, so in a call they would be stale.
    const live = s.state !== 'in-call';
    for (const opt of Array.from(this.#hub.options)) {
      const h = s.hubs.find((x) => x.name === opt.value);
      if (!h) continue;
      const name = hubLabel(h.name);
      const text = live ? t('hub.counts', { hub: name, waiting: h.waiting, inCall: h.inCall }) : name;
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
    const text = t(!camera ? (m ? 'local.noCamera' : 'local.camera')
      : this.#cameraOffOn ? 'local.cameraOff' : this.#audioOnlyOn ? 'local.audioOnly' : 'local.camera');
    this.#localPlaceholder.hidden = camera && !videoOff;
    if (this.#localPlaceholder.textContent !== text) this.#localPlaceholder.textContent = text;
    this.#localBox.toggleAttribute('data-video-off', camera && videoOff);
  }

  /**
   * The quality pill: level (as `data-level`), the reason in words, and the audio-only toggle
   * once the call stayed poor. Null (no call): hidden, level cleared, audio-only reset.
   */
  #showQuality(q: CallQuality | null): void {
    this.#qualityShown = q;
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
    const reason = t(q.reason);
    const text = q.level === 'good' ? reason : t(q.level === 'poor' ? 'quality.poor' : 'quality.weak', { reason });
    if (this.#qualityText.textContent !== text) this.#qualityText.textContent = text;
    this.#audioOnly.hidden = !q.offerAudioOnly;
    this.#audioOnly.setAttribute('aria-pressed', String(q.audioOnly));
    this.#audioOnlyOn = q.audioOnly;
    this.#renderLocalCover();
  }

  #showRemote(stream: MediaStream | null): void {
    const fresh = this.#remote.srcObject !== stream;
    if (fresh) this.#remote.srcObject = stream;
    this.#remotePlaceholder.hidden = !!stream;
    if (!stream) {
      this.#unmute.hidden = true;
      this.#screener.unwatch();
      return;
    }
    // A new stranger: screened from the first frame (blurred until judged, by the policy).
    if (fresh) this.#screener.watch(this.#remote);
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
      this.#copyState = 'copied';
    } catch {
      this.#privateLink.select();
      this.#copyState = 'press';
    }
    this.#renderCopy();
    if (this.#copyTimer) clearTimeout(this.#copyTimer);
    this.#copyTimer = setTimeout(() => { this.#copyState = 'copy'; this.#renderCopy(); }, 2000);
  }

  #renderCopy(): void {
    this.#copy.textContent = t(this.#copyState === 'copied' ? 'private.copied' : this.#copyState === 'press' ? 'private.pressCopy' : 'private.copy');
  }
}
