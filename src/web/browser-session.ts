/**
 * The browser client's session: an explicit state machine over the signaling connection, local
 * media and the current {@link PeerCall}. The view calls its public methods (Start, Next, Stop,
 * Report, private calls, chat, mute, camera off, switch camera) and renders its snapshots; it
 * never touches the protocol itself.
 */
import {
  ChatzyoError, displaySafe, ERROR_CODES,
  type ClientMessage, type HubCount, type LandmarkRtts, type PartnerLeftReason, type ReportReason, type ServerMessage, type ServerMessageOf, type SignalData,
} from '../protocol/index.js';
import { isCrossedSkip, isFatalServerError, TypedEmitter, type SignalLoss } from '../protocol/client/index.js';
import { StateMachine, type TransitionTable } from '../protocol/state-machine.js';
import { listVideoInputs, nextVideoInput, openVideoInput } from './camera-switch.js';
import { measureLandmarksInBrowser } from './landmarks.js';
import { errorText, text, type MessageKey, type Text } from './i18n/index.js';
import { acquireLocalMedia, describeMediaProblem, stopLocalMedia, type LocalMedia } from './local-media.js';
import { PeerCall, type CallQuality, type CallState, type NetworkPath } from './peer-call.js';
import type { SignalClient } from './signal-client.js';

/** Session states. `preparing` = asking for camera and microphone before joining. */
export const SESSION_STATES = ['offline', 'idle', 'preparing', 'searching', 'private-waiting', 'joining-private', 'in-call', 'closed'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/** The allowed moves of a {@link BrowserSession} (`in-call` to itself: a new match replaces the call). */
export const SESSION_TRANSITIONS: TransitionTable<SessionState> = {
  offline: ['idle', 'closed'],
  idle: ['preparing', 'searching', 'private-waiting', 'joining-private', 'offline', 'closed'],
  preparing: ['idle', 'searching', 'private-waiting', 'joining-private', 'offline', 'closed'],
  searching: ['in-call', 'idle', 'preparing', 'offline', 'closed'],
  'private-waiting': ['in-call', 'idle', 'preparing', 'offline', 'closed'],
  'joining-private': ['in-call', 'idle', 'preparing', 'offline', 'closed'],
  'in-call': ['searching', 'idle', 'preparing', 'in-call', 'offline', 'closed'],
  closed: [],
};

/** How the last thing that happened should look in the status line. */
export type Tone = 'info' | 'warn' | 'error';

/** The current call, as the view needs it. */
interface CallSnapshot {
  matchId: string;
  role: 'offerer' | 'answerer';
  private: boolean;
  hub: string | null;
  commonInterests: string[];
  state: CallState;
  /** The call was connected at some point (so a restart is a reconnect, not a first try). */
  everConnected: boolean;
  path: NetworkPath | null;
  /** The verified safety number (null while the exchange runs, and when it did not verify). */
  safetyNumber: string | null;
  /** Where the safety-number exchange is: `failed` means someone may be in the middle. */
  safetyCheck: 'checking' | 'verified' | 'failed' | 'unavailable';
  chatOpen: boolean;
  /** What the partner says it sends (state channel); null until it says (or when it has no state channel). */
  partnerCamera: boolean | null;
  partnerMic: boolean | null;
  /** The partner says its page is hidden (another tab, minimized, a locked phone): our video is paused until it shows. */
  partnerHidden: boolean;
}

/** Everything the view renders. */
export interface SessionSnapshot {
  state: SessionState;
  hubs: HubCount[];
  /** The server offers TURN, so "Hide my IP" can work. */
  turn: boolean;
  relayOnly: boolean;
  /** The server lists landmarks, so "Prefer strangers near me" can work. */
  nearby: boolean;
  /** "Prefer strangers near me": time the landmarks and send the round trips with `join`. */
  preferNear: boolean;
  hub: string | null;
  queuePosition: number | null;
  privateCode: string | null;
  call: CallSnapshot | null;
  /** The last event worth telling the person (partner left, an error), shown with the state. */
  message: { text: Text; tone: Tone } | null;
  /** Whether Next can start a new search from idle (a hub was joined before). */
  canRequeue: boolean;
  /** Seconds until the next reconnect attempt while offline, if known. */
  retryInSeconds: number | null;
  /** Camera or microphone is in use (Stop turns it off, even between calls). */
  mediaOn: boolean;
  /** Our microphone is muted (kept across calls until the page closes). */
  micOff: boolean;
  /** Our camera is off: its track disabled and the partner told (kept across calls until the page closes). */
  cameraOff: boolean;
  /** A microphone and a camera are in use (so there is something to mute or turn off). */
  hasMic: boolean;
  hasCamera: boolean;
  /** The device has more than one camera and one is in use: "Switch camera" can cycle through them. */
  canSwitchCamera: boolean;
  /**
   * The deployment's default screening of the stranger's video (`welcome.screening`;
   * blur-until-safe when it says none); null until the first welcome.
   */
  screening: 'off' | 'blur-until-safe' | 'flag-only' | null;
  /** The match of the call that ended last on this connection (whoever ended it); null before one ended. */
  lastMatchId: string | null;
  /**
   * Its stranger can still be reported: the call ended less than {@link REPORT_LAST_MS} ago and
   * was not reported yet (one report per match).
   */
  canReportLast: boolean;
}

/** One line of the chat log: what people wrote, or a line of ours (in the page's language). */
export type ChatLine = { from: 'you' | 'partner'; text: string } | { from: 'system'; text: Text };

/** Events of a {@link BrowserSession}. */
export type SessionEvents = {
  change: [SessionSnapshot];
  chat: [ChatLine];
  chatclear: [];
  localmedia: [LocalMedia | null];
  mediaproblem: [Text | null];
  remotestream: [MediaStream | null];
  /** The call's connection quality (peer-call.ts); null when no call is running. */
  quality: [CallQuality | null];
  /** The partner is typing (its `typing` messages, rate-limited by both sides). */
  partnertyping: [];
};

/** A received signal, kept for diagnostics and tests (which check what a partner could learn). */
export interface ReceivedSignal {
  matchId: string;
  data: SignalData;
  /** When it arrived, in ms since the page loaded (`performance.now()`). */
  at: number;
}

const MAX_RECORDED_SIGNALS = 2000;

/**
 * How long after a call ended its stranger can still be reported (someone who leaves at once
 * can be reported too): the server accepts a `report` for the client's previous match this long
 * after it ended, without ending or re-queueing anything.
 */
export const REPORT_LAST_MS = 60_000;
/** An error about a `report` this soon after a report of the last match answers that report. */
const REPORT_ANSWER_MS = 10_000;

/** The call that ended last, for "Report the last stranger". */
interface EndedMatch {
  matchId: string;
  /** `performance.now()` when it ended here. */
  endedAt: number;
  reported: boolean;
}

const LEFT_BECAUSE: Record<PartnerLeftReason, MessageKey> = {
  next: 'left.next',
  leave: 'left.leave',
  timeout: 'left.timeout',
  disconnect: 'left.disconnect',
};

/** The page is hidden (`document.visibilityState`): another tab, a minimized window, a locked phone. False outside a page. */
function pageHidden(): boolean {
  return globalThis.document?.visibilityState === 'hidden';
}

/** Parses the interests field: comma-separated tags, lower-cased, de-duplicated, at most 10. */
export function parseInterests(text: string): string[] {
  const tags = text.split(',').map((t) => t.trim().toLowerCase().replace(/\s+/g, ' ')).filter((t) => t.length > 0 && t.length <= 32);
  return [...new Set(tags)].slice(0, 10);
}

/**
 * Why Start found nobody: a ban (issue 16), and for how long, from the error's `retryAfterMs`:
 * in minutes under two hours, hours under two days, else days (rounded up).
 */
function banText(retryAfterMs: number | undefined): Text {
  if (retryAfterMs === undefined) return errorText('CHZ_ERR_BANNED');
  const minutes = Math.max(1, Math.ceil(retryAfterMs / 60_000));
  if (minutes < 120) return text('ban.minutes', { count: minutes });
  const hours = Math.ceil(minutes / 60);
  if (hours < 48) return text('ban.hours', { count: hours });
  return text('ban.days', { count: Math.ceil(hours / 24) });
}

/** What a {@link BrowserSession} is built with besides its signaling connection (tests). */
interface BrowserSessionOptions {
  /** Times `welcome`'s landmarks (default {@link measureLandmarksInBrowser}). */
  measureLandmarks?: typeof measureLandmarksInBrowser;
}

/** The landmark round trips of one welcome (one connection): measured once, kept for its later joins. */
interface NearbyMeasurement {
  welcome: ServerMessageOf<'welcome'>;
  /** Settles within the measurement's budget (it never rejects). */
  done: Promise<void>;
  /** The round trips, once measured (possibly empty: no landmark answered). */
  rtts: LandmarkRtts | null;
}

/** The browser client's session state machine. */
export class BrowserSession extends TypedEmitter<SessionEvents> {
  readonly #signal: SignalClient;
  readonly #measureLandmarks: typeof measureLandmarksInBrowser;
  readonly #machine = new StateMachine<SessionState>('BrowserSession', SESSION_TRANSITIONS, 'offline', 'CHZ_ERR_CLIENT_STATE');
  #welcome: ServerMessageOf<'welcome'> | null = null;
  #hubs: HubCount[] = [];
  #media: LocalMedia | null = null;
  #call: PeerCall | null = null;
  #match: ServerMessageOf<'matched'> | null = null;
  #path: NetworkPath | null = null;
  #hub: string | null = null;
  #interests: string[] = [];
  #queuePosition: number | null = null;
  #privateCode: string | null = null;
  #relayOnly = false;
  #preferNear = true;
  #nearby: NearbyMeasurement | null = null;
  #message: { text: Text; tone: Tone } | null = null;
  #retryInSeconds: number | null = null;
  /** Why the connection was lost, as shown while offline (kept across failed retries). */
  #lostWhy: Text | null = null;
  #pendingLink: string | null = null;
  #micOff = false;
  #cameraOff = false;
  /** Cameras of the device, counted once one is in use (ids are known only then). */
  #videoInputs = 0;
  /** A camera switch is under way (a second press waits for it). */
  #switching = false;
  /** Bumped by Stop so an in-flight camera request does not go on to join. */
  #prepareToken = 0;
  readonly #nextTimes: number[] = [];
  /** The call that ended last on this connection (for "Report the last stranger"). */
  #last: EndedMatch | null = null;
  /** Redraws when the last call can no longer be reported. */
  #lastTimer: ReturnType<typeof setTimeout> | null = null;
  /** When a report of the last match was sent (an error about it soon after answers it). */
  #lastReportAt = -Infinity;
  /** Signals received from partners, newest last (bounded). */
  readonly received: ReceivedSignal[] = [];

  constructor(signal: SignalClient, opts: BrowserSessionOptions = {}) {
    super();
    this.#signal = signal;
    this.#measureLandmarks = opts.measureLandmarks ?? measureLandmarksInBrowser;
    signal.on('welcome', (w) => this.#onWelcome(w));
    signal.on('message', (m) => this.#onMessage(m));
    signal.on('disconnected', (l) => this.#onLost(l));
    // A camera plugged in or out shows or hides "Switch camera".
    globalThis.navigator?.mediaDevices?.addEventListener?.('devicechange', this.#onDeviceChange);
    // A hidden page tells its partner, which stops sending it video until it shows (issue 14).
    globalThis.document?.addEventListener?.('visibilitychange', this.#onVisibilityChange);
  }

  readonly #onDeviceChange = (): void => { void this.#countCameras(); };
  readonly #onVisibilityChange = (): void => { this.#call?.setHidden(pageHidden()); };

  /** The current state. */
  get state(): SessionState { return this.#machine.state; }
  /** The current call's peer connection (diagnostics and tests). */
  get peerConnection(): RTCPeerConnection | null { return this.#call?.pc ?? null; }
  /** The current match id, if in a call. */
  get matchId(): string | null { return this.#match?.matchId ?? null; }

  /** Everything the view shows. */
  snapshot(): SessionSnapshot {
    const call = this.#call;
    const m = this.#match;
    return {
      state: this.state,
      hubs: this.#hubs,
      turn: this.#welcome?.turn ?? false,
      relayOnly: this.#relayOnly,
      nearby: (this.#welcome?.landmarks?.length ?? 0) > 0,
      preferNear: this.#preferNear,
      hub: this.#hub,
      queuePosition: this.#queuePosition,
      privateCode: this.#privateCode,
      call: call && m ? {
        matchId: m.matchId, role: m.role, private: m.private, hub: m.hub, commonInterests: m.commonInterests,
        state: call.state, everConnected: call.everConnected, path: this.#path, safetyNumber: call.safetyNumber,
        safetyCheck: call.safetyOutcome?.state ?? 'checking', chatOpen: call.chatOpen,
        partnerCamera: call.partnerMedia?.camera ?? null, partnerMic: call.partnerMedia?.mic ?? null, partnerHidden: call.partnerHidden,
      } : null,
      message: this.#message,
      canRequeue: this.#hub !== null,
      retryInSeconds: this.#retryInSeconds,
      mediaOn: !!this.#media?.stream?.getTracks().some((t) => t.readyState === 'live'),
      micOff: this.#micOff,
      cameraOff: this.#cameraOff,
      hasMic: !!this.#media?.audio,
      hasCamera: !!this.#media?.video,
      canSwitchCamera: !!this.#media?.video && this.#videoInputs > 1,
      screening: this.#welcome ? this.#welcome.screening ?? 'blur-until-safe' : null,
      lastMatchId: this.#last?.matchId ?? null,
      canReportLast: this.#lastReportable() !== null,
    };
  }

  /** Connects to the server; a private code (from a `/#/call/CODE` link) is joined once welcomed. */
  open(privateCode: string | null = null): void {
    this.#assert('open', ['offline']);
    this.#pendingLink = privateCode;
    // The page retries until welcomed; every failure on the way arrives as 'disconnected'.
    this.#signal.connect().catch(() => { /* reported through 'disconnected' */ });
    this.#changed();
  }

  /** "Hide my IP": relay-only ICE for the calls that start from now on. */
  setRelayOnly(on: boolean): void {
    this.#relayOnly = on && (this.#welcome?.turn ?? false);
    this.#changed();
  }

  /**
   * "Prefer strangers near me": from the next Start on, time the server's landmarks (once per
   * connection) and send the round trips with `join`; off, nothing is timed or sent.
   */
  setPreferNear(on: boolean): void {
    this.#preferNear = on;
    this.#changed();
  }

  /** Start: camera and microphone, then the hub's queue. */
  async start(hub: string, interests: string[]): Promise<void> {
    this.#assert('start', ['idle']);
    performance.mark('chatzyo:start');
    this.#hub = hub;
    this.#interests = interests;
    this.#message = null;
    // Timed while the camera is asked for, so the join usually waits for nothing.
    const nearby = this.#measureNearby();
    if (!(await this.#prepare())) return;
    if (nearby && !(await this.#awaitNearby(nearby))) return;
    this.#join();
  }

  /**
   * Next: ends this call (or, after a partner left, starts again) and finds another stranger,
   * in `hub` when given (a private call has none of its own), else in the hub of the last Start.
   */
  next(hub?: string, interests?: string[]): void {
    this.#assert('next', ['in-call', 'idle']);
    if (hub) {
      this.#hub = hub;
      this.#interests = interests ?? this.#interests;
    }
    if (this.#hub === null) throw new Error('next() needs a hub: pick one, or press Start first');
    if (!this.#allowNext()) return;
    this.#message = null;
    if (this.state === 'idle') {
      void this.start(this.#hub, this.#interests);
      return;
    }
    const wasPrivate = this.#match?.private ?? false;
    this.#endCall();
    if (wasPrivate) {
      // The server treats Next in a private call as leaving it; go back to the hub's queue.
      this.#send({ type: 'leave' });
      this.#join();
    } else {
      this.#send({ type: 'next' });
      this.#to('searching');
    }
  }

  /** Stop: leaves the queue, the private call or the call, and turns the camera off. */
  stop(): void {
    this.#assert('stop', ['idle', 'preparing', 'searching', 'private-waiting', 'joining-private', 'in-call']);
    this.#prepareToken++;
    if (this.state !== 'preparing' && this.state !== 'idle') this.#send({ type: 'leave' });
    this.#endCall();
    this.#privateCode = null;
    this.#message = null;
    this.#releaseMedia();
    this.#to('idle');
  }

  /**
   * Report: flags a stranger to the server, which counts it per reason. `matchId` (default: the
   * current call's) names the call: the current one, which ends, and we skip to the next; or the
   * call that ended last (within {@link REPORT_LAST_MS}, not reported yet), and nothing else
   * changes. Each match is reported at most once.
   */
  report(reason: ReportReason, matchId: string | undefined = this.#match?.matchId): void {
    if (this.state !== 'in-call' || !matchId || matchId !== this.#match?.matchId) {
      this.#reportLast(reason, matchId);
      return;
    }
    const m = this.#match!;
    this.#send({ type: 'report', matchId: m.matchId, reason });
    this.#endCall();
    if (this.#last?.matchId === m.matchId) this.#last.reported = true;
    if (m.private) {
      this.#message = { text: text('msg.reportedPrivate'), tone: 'info' };
      this.#to('idle');
    } else {
      this.#message = { text: text('msg.reported'), tone: 'info' };
      this.#to('searching');
    }
  }

  /** Reports the stranger of the call that ended last (see {@link report}). */
  #reportLast(reason: ReportReason, matchId: string | undefined): void {
    const last = this.#last;
    if (!last || last.matchId !== matchId || last.reported || this.state === 'offline' || this.state === 'closed') {
      throw new ChatzyoError('CHZ_ERR_CLIENT_STATE', `BrowserSession.report() has no call ${matchId ?? '(none)'} to report in state ${this.state}`);
    }
    if (this.#lastReportable() === null) {
      // The dialog stayed open past the time the server accepts it: say so, send nothing.
      last.reported = true;
      this.#message = { text: text('msg.reportEnded'), tone: 'warn' };
      this.#changed();
      return;
    }
    if (!this.#send({ type: 'report', matchId, reason, ended: true })) { this.#changed(); return; }
    last.reported = true;
    this.#lastReportAt = performance.now();
    this.#message = { text: text('msg.reported'), tone: 'info' };
    this.#changed();
  }

  /** The call that ended last, while its stranger can still be reported; else null. */
  #lastReportable(): EndedMatch | null {
    const last = this.#last;
    return last && !last.reported && performance.now() - last.endedAt < REPORT_LAST_MS ? last : null;
  }

  /** Remembers the call that just ended (its stranger can be reported for {@link REPORT_LAST_MS}). */
  #rememberEnded(matchId: string): void {
    this.#last = { matchId, endedAt: performance.now(), reported: false };
    if (this.#lastTimer) clearTimeout(this.#lastTimer);
    this.#lastTimer = setTimeout(() => { this.#lastTimer = null; this.#changed(); }, REPORT_LAST_MS);
  }

  /** Forgets the last call (a new connection: the server no longer knows it). */
  #forgetEnded(): void {
    this.#last = null;
    if (this.#lastTimer) clearTimeout(this.#lastTimer);
    this.#lastTimer = null;
  }

  /** Creates a private call and waits for the one person who opens its link. */
  async createPrivate(): Promise<void> {
    this.#assert('createPrivate', ['idle', 'searching']);
    if (this.state === 'searching') { this.#send({ type: 'leave' }); this.#to('idle'); }
    this.#message = null;
    if (!(await this.#prepare())) return;
    if (!this.#send({ type: 'private-create' })) { this.#to('idle'); return; }
    this.#privateCode = null;
    this.#to('private-waiting');
  }

  /** Joins the private call with `code` (from a link). */
  async joinPrivate(code: string): Promise<void> {
    this.#assert('joinPrivate', ['idle', 'searching', 'private-waiting', 'in-call']);
    if (this.state !== 'idle') {
      this.#send({ type: 'leave' });
      this.#endCall();
      this.#privateCode = null;
      this.#to('idle');
    }
    this.#message = null;
    if (!(await this.#prepare())) return;
    if (!this.#send({ type: 'private-join', code })) { this.#to('idle'); return; }
    this.#to('joining-private');
  }

  /** Sends a chat message to the partner over the data channel (never through the server). */
  sendChat(text: string): void {
    this.#assert('sendChat', ['in-call']);
    const t = text.trim();
    if (!t) return;
    this.#call!.sendChat(t);
    this.safeEmit('chat', { from: 'you', text: t });
  }

  /**
   * Mute (on) or unmute (off) the microphone: its track is disabled (it sends silence), so no
   * renegotiation. Kept for the next calls too, as people expect of a mute button.
   */
  setMicOff(on: boolean): void {
    this.#assert('setMicOff', ['in-call']);
    this.#micOff = on;
    this.#applyTrackSwitches();
  }

  /**
   * Camera off (on) or on again (off): the video track is disabled (it sends black frames; the
   * camera light may stay on) and the partner is told over the state channel, so it shows a
   * placeholder. Kept for the next calls too.
   */
  setCameraOff(on: boolean): void {
    this.#assert('setCameraOff', ['in-call']);
    this.#cameraOff = on;
    this.#applyTrackSwitches();
  }

  /** Tells the partner we are typing (sent at most once every 2 s; the rest are dropped here). */
  sendTyping(): void {
    if (this.state !== 'in-call') return;
    this.#call?.sendTyping();
  }

  /**
   * Switches to the device's next camera (front and back on a phone), wrapping around: the new
   * track replaces the old one in the call (`replaceTrack`, no renegotiation) and in the preview.
   * A camera that cannot be opened leaves the current one, and the person is told.
   */
  async switchCamera(): Promise<void> {
    this.#assert('switchCamera', ['in-call']);
    const media = this.#media;
    const old = media?.video;
    if (!media || !old || this.#switching) return;
    this.#switching = true;
    try {
      const inputs = await listVideoInputs();
      this.#videoInputs = inputs.length;
      const next = nextVideoInput(inputs, old.getSettings().deviceId ?? null);
      if (!next) { this.#changed(); return; }
      const track = await this.#openCamera(next.deviceId, old);
      // Stop, or a new camera request, while the camera was opening: this one is not wanted.
      if (!track || this.#media !== media || this.state === 'closed') { track?.stop(); return; }
      track.enabled = !this.#cameraOff;
      const stream = new MediaStream([...(media.audio ? [media.audio] : []), track]);
      this.#media = { ...media, stream, video: track };
      await this.#call?.replaceVideoTrack(track).catch(() => { /* the call ended meanwhile */ });
      old.stop();
      this.safeEmit('localmedia', this.#media);
      this.#changed();
    } finally {
      this.#switching = false;
    }
  }

  /** Audio only (on) or video again (off) in the current call; a new call starts with video. */
  async setAudioOnly(on: boolean): Promise<void> {
    this.#assert('setAudioOnly', ['in-call']);
    await this.#call!.setAudioOnly(on);
  }

  /** Stats of the current call, as plain objects (diagnostics and tests). */
  async stats(): Promise<Record<string, unknown>[]> {
    const call = this.#call;
    if (!call) return [];
    const out: Record<string, unknown>[] = [];
    (await call.stats()).forEach((s: Record<string, unknown>) => out.push({ ...s }));
    return out;
  }

  /** Ends everything: call, camera, signaling. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.#prepareToken++;
    this.#endCall();
    this.#forgetEnded();
    this.#releaseMedia();
    void this.#signal.close();
    globalThis.navigator?.mediaDevices?.removeEventListener?.('devicechange', this.#onDeviceChange);
    globalThis.document?.removeEventListener?.('visibilitychange', this.#onVisibilityChange);
    this.#to('closed');
    this.removeAllListeners();
  }

  // ------------------------------------------------------------ internals

  /** Mute and camera off, applied to the local tracks and told to the partner. */
  #applyTrackSwitches(): void {
    if (this.#media?.audio) this.#media.audio.enabled = !this.#micOff;
    if (this.#media?.video) this.#media.video.enabled = !this.#cameraOff;
    this.#call?.sendMediaState();
    this.#changed();
  }

  /**
   * Opens camera `deviceId`. Many phones run one camera at a time: when the new one will not
   * open next to the old, the old is stopped and the new one tried again, and if that fails too
   * the old one is opened again. Null (and the person told) when no camera could be switched to.
   */
  async #openCamera(deviceId: string, old: MediaStreamTrack): Promise<MediaStreamTrack | null> {
    try {
      return await openVideoInput(deviceId);
    } catch { /* try again with the old camera stopped */ }
    const oldId = old.getSettings().deviceId;
    old.stop();
    for (const id of [deviceId, oldId]) {
      if (!id) continue;
      try {
        const track = await openVideoInput(id);
        if (id !== deviceId) this.safeEmit('mediaproblem', text('media.switchOther'));
        return track;
      } catch { /* next */ }
    }
    this.safeEmit('mediaproblem', text('media.switchFailed'));
    return null;
  }

  /** Counts the device's cameras (after permission, when their ids are known), for "Switch camera". */
  async #countCameras(): Promise<void> {
    if (!this.#media?.video) return;
    const n = (await listVideoInputs(globalThis.navigator?.mediaDevices)).length;
    if (n !== this.#videoInputs) {
      this.#videoInputs = n;
      this.#changed();
    }
  }

  #assert(method: string, states: readonly SessionState[]): void {
    if (!states.includes(this.state)) throw new ChatzyoError('CHZ_ERR_CLIENT_STATE', `BrowserSession.${method}() is not allowed in state ${this.state}`);
  }

  /** Moves the state machine (CHZ_ERR_CLIENT_STATE on a move its table does not allow) and redraws. */
  #to(next: SessionState): void {
    this.#machine.to(next);
    if (next !== 'searching') this.#queuePosition = null;
    this.#changed();
  }

  #changed(): void {
    this.safeEmit('change', this.snapshot());
  }

  #send(msg: ClientMessage): boolean {
    if (!this.#signal.ready) {
      this.#message = { text: text('msg.notConnected'), tone: 'warn' };
      return false;
    }
    this.#signal.send(msg);
    return true;
  }

  /** Camera and microphone (once; kept across calls until Stop). False when cancelled or offline. */
  async #prepare(): Promise<boolean> {
    const live = this.#media?.stream?.getTracks().some((t) => t.readyState === 'live');
    if (live) return true;
    const token = ++this.#prepareToken;
    this.#to('preparing');
    const media = await acquireLocalMedia();
    if (token !== this.#prepareToken || this.state !== 'preparing') {
      stopLocalMedia(media);
      return false;
    }
    this.#media = media;
    // Mute and camera off carry over to new tracks (after Stop and Start).
    if (media.audio) media.audio.enabled = !this.#micOff;
    if (media.video) media.video.enabled = !this.#cameraOff;
    void this.#countCameras();
    this.safeEmit('localmedia', media);
    this.safeEmit('mediaproblem', describeMediaProblem(media));
    if (!this.#signal.ready) { this.#to('idle'); return false; }
    return true;
  }

  #releaseMedia(): void {
    if (!this.#media) return;
    stopLocalMedia(this.#media);
    this.#media = null;
    this.safeEmit('localmedia', null);
  }

  /**
   * Starts timing the landmarks of the current welcome, once per welcome, when the server lists
   * some and "Prefer strangers near me" is on. Returns what to wait for before joining, or null
   * when there is nothing to wait for (off, no landmarks, or measured already).
   */
  #measureNearby(): Promise<void> | null {
    const w = this.#welcome;
    if (!this.#preferNear || !w?.landmarks?.length) return null;
    if (this.#nearby?.welcome !== w) {
      const m: NearbyMeasurement = { welcome: w, done: Promise.resolve(), rtts: null };
      m.done = this.#measureLandmarks(w.landmarks).then((rtts) => { m.rtts = rtts; }, () => { m.rtts = {}; });
      this.#nearby = m;
    }
    return this.#nearby.rtts ? null : this.#nearby.done;
  }

  /**
   * Waits for the landmark timing (never longer than its budget) in `preparing`. False when Stop
   * or a lost connection cut the wait short: then nothing is joined.
   */
  async #awaitNearby(done: Promise<void>): Promise<boolean> {
    const token = this.#prepareToken;
    if (this.state === 'idle') this.#to('preparing');
    await done;
    if (token !== this.#prepareToken || this.state !== 'preparing') return false;
    if (!this.#signal.ready) { this.#to('idle'); return false; }
    return true;
  }

  /** The round trips to send with `join`: measured for this connection, wanted, and not empty. */
  #joinRtts(): LandmarkRtts | undefined {
    const m = this.#nearby;
    if (!this.#preferNear || !m?.rtts || m.welcome !== this.#welcome) return undefined;
    return Object.keys(m.rtts).length ? m.rtts : undefined;
  }

  #join(): void {
    // Joins that do not come from Start (Next out of a private call, a crossed skip) do not wait:
    // they send what was measured already, and start the timing for the joins after them.
    if (!this.#nearby?.rtts) void this.#measureNearby();
    const msg: ClientMessage = { type: 'join', hub: this.#hub!, interests: this.#interests.length ? this.#interests : undefined, rtts: this.#joinRtts() };
    if (!this.#send(msg)) {
      this.#to('idle');
      return;
    }
    performance.mark('chatzyo:join');
    this.#to('searching');
  }

  /** Client-side Next limit, so the server never has to refuse one (that would leave us matched). */
  #allowNext(): boolean {
    const limit = this.#welcome?.limits.nextsPerMinute ?? Infinity;
    const now = Date.now();
    while (this.#nextTimes.length && now - this.#nextTimes[0]! > 60_000) this.#nextTimes.shift();
    if (this.#nextTimes.length >= limit) {
      this.#message = { text: errorText('CHZ_ERR_NEXT_RATE_LIMITED'), tone: 'warn' };
      this.#changed();
      return false;
    }
    this.#nextTimes.push(now);
    return true;
  }

  #endCall(): void {
    const had = this.#call !== null;
    if (this.#match) this.#rememberEnded(this.#match.matchId);
    this.#call?.close();
    this.#call = null;
    this.#match = null;
    this.#path = null;
    if (had) {
      this.safeEmit('remotestream', null);
      this.safeEmit('quality', null);
    }
  }

  #beginCall(m: ServerMessageOf<'matched'>): void {
    this.#endCall();
    const w = this.#welcome!;
    const media = this.#media;
    const call = new PeerCall({
      role: m.role,
      // TURN credentials come with the match (protocol version 2); welcome's are STUN only.
      iceServers: m.iceServers ?? w.iceServers,
      relayOnly: this.#relayOnly && w.turn,
      media: { stream: media?.stream ?? null, audio: media?.audio ?? null, video: media?.video ?? null },
      send: (data) => {
        if (this.#match?.matchId === m.matchId) this.#send({ type: 'signal', matchId: m.matchId, data });
      },
    });
    this.#call = call;
    this.#match = m;
    this.#privateCode = null;
    this.#message = null;
    this.safeEmit('chatclear');
    if (m.commonInterests.length) this.safeEmit('chat', { from: 'system', text: text('chat.bothLike', { interests: m.commonInterests.map(displaySafe).join(', ') }) });
    call.on('state', () => this.#changed());
    call.on('safety', () => this.#changed());
    call.on('chatopen', () => this.#changed());
    call.on('chatclose', () => this.#changed());
    call.on('path', (p) => { this.#path = p; this.#changed(); });
    call.on('remotestream', (s) => this.safeEmit('remotestream', s));
    call.on('quality', (q) => this.safeEmit('quality', q));
    call.on('chat', (text) => this.safeEmit('chat', { from: 'partner', text }));
    call.on('partnermedia', () => this.#changed());
    call.on('partnertyping', () => this.safeEmit('partnertyping'));
    call.on('failure', (reason) => this.#onCallFailed(m, reason));
    // A page already hidden when the match comes says so as soon as the state channel opens.
    call.setHidden(pageHidden());
    this.#to('in-call');
    call.start();
  }

  /** The call gave up after its one ICE restart: find someone else (or end the private call). */
  #onCallFailed(m: ServerMessageOf<'matched'>, reason: MessageKey): void {
    if (this.#match?.matchId !== m.matchId) return;
    this.#endCall();
    if (m.private) {
      this.#send({ type: 'leave' });
      this.#message = { text: text('msg.callFailedPrivate', { reason: text(reason) }), tone: 'error' };
      this.#to('idle');
    } else {
      this.#send({ type: 'next' });
      this.#message = { text: text('msg.callFailed', { reason: text(reason) }), tone: 'warn' };
      this.#to('searching');
    }
  }

  #onWelcome(w: ServerMessageOf<'welcome'>): void {
    this.#welcome = w;
    // A new connection: its landmarks (and the route to them) may differ, so they are timed again.
    this.#nearby = null;
    this.#retryInSeconds = null;
    this.#lostWhy = null;
    if (!w.turn) this.#relayOnly = false;
    // Names first; counts follow in a `hubs` message.
    const known = new Map(this.#hubs.map((h) => [h.name, h]));
    this.#hubs = w.hubs.map((name) => known.get(name) ?? { name, waiting: 0, inCall: 0 });
    if (this.state !== 'offline') return;
    if (this.#message) this.#message = { text: text('msg.backOnline'), tone: 'info' };
    this.#to('idle');
    const code = this.#pendingLink;
    this.#pendingLink = null;
    if (code) void this.joinPrivate(code);
  }

  #onLost(l: SignalLoss): void {
    if (this.state === 'closed') return;
    this.#prepareToken++;
    this.#endCall();
    // A new connection is a new session to the server: it knows no previous match to report.
    this.#forgetEnded();
    this.#privateCode = null;
    this.#retryInSeconds = l.willReconnect ? Math.ceil(l.delayMs / 1000) : null;
    // A retry that finds nobody listening does not change why the connection was lost: keep
    // the reason the server gave (e.g. shutting down) until a welcome ends the outage.
    const fresh = l.serverCode && l.serverCode in ERROR_CODES ? errorText(l.serverCode) : null;
    const why = fresh ?? (this.state === 'offline' ? this.#lostWhy : null);
    this.#lostWhy = why;
    this.#message = !l.willReconnect
      ? { text: why ? text('msg.refusedWhy', { why }) : text('msg.refused'), tone: 'error' }
      : { text: why ? text('msg.lostWhy', { why }) : text('msg.lost'), tone: 'warn' };
    this.#to('offline');
  }

  #onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hubs':
        this.#hubs = msg.hubs;
        this.#changed();
        return;
      case 'queued':
        if (this.state !== 'searching') return; // a Stop is on its way to the server
        this.#queuePosition = msg.position;
        this.#changed();
        return;
      case 'matched':
        if (this.state !== 'searching' && this.state !== 'private-waiting' && this.state !== 'joining-private' && this.state !== 'in-call') return;
        performance.mark('chatzyo:match');
        this.#beginCall(msg);
        return;
      case 'signal':
        if (this.#match?.matchId !== msg.matchId || !this.#call) return;
        this.received.push({ matchId: msg.matchId, data: msg.data, at: Math.round(performance.now()) });
        if (this.received.length > MAX_RECORDED_SIGNALS) this.received.splice(0, this.received.length - MAX_RECORDED_SIGNALS);
        this.#call.handleSignal(msg.data);
        return;
      case 'partner-left': {
        if (this.#match?.matchId !== msg.matchId) return;
        const wasPrivate = this.#match.private;
        this.#endCall();
        this.#message = { text: text(wasPrivate ? 'msg.leftPrivate' : 'msg.left', { why: text(LEFT_BECAUSE[msg.reason]) }), tone: 'info' };
        this.safeEmit('chat', { from: 'system', text: text('chat.partnerLeft') });
        this.#to('idle');
        return;
      }
      case 'private-created':
        if (this.state !== 'private-waiting') return;
        this.#privateCode = msg.code;
        this.#changed();
        return;
      case 'error':
        this.#onError(msg);
        return;
      case 'ice-servers':
        // Fresh TURN credentials while in a call: for its ICE restarts.
        this.#call?.setIceServers(msg.iceServers);
        return;
      case 'welcome':
      case 'pong':
        return;
    }
  }

  #onError(e: ServerMessageOf<'error'>): void {
    const message = e.code === 'CHZ_ERR_BANNED' ? banText(e.retryAfterMs) : errorText(e.code);
    if (e.ref === 'report' && (e.code === 'CHZ_ERR_NOT_MATCHED' || e.code === 'CHZ_ERR_STALE_MATCH')
      && performance.now() - this.#lastReportAt < REPORT_ANSWER_MS) {
      // The server no longer takes a report of the last match (its time ran out there first).
      this.#lastReportAt = -Infinity;
      this.#message = { text: text('msg.reportEnded'), tone: 'warn' };
      this.#changed();
      return;
    }
    if (isCrossedSkip(e)) {
      // The skip crossed the partner's: the server already ended the match, so it becomes a plain join.
      if (this.state === 'searching' && this.#hub) this.#join();
      return;
    }
    if (isFatalServerError(e.code)) {
      // What we asked for (this hub, this private code) will not work: say so and stop looking.
      if (this.state === 'searching' || this.state === 'joining-private' || this.state === 'private-waiting') {
        this.#message = { text: message, tone: 'error' };
        this.#privateCode = null;
        this.#to('idle');
      }
      return;
    }
    switch (e.code) {
      case 'CHZ_ERR_STALE_MATCH':
        return; // a signal for a match that just ended
      case 'CHZ_ERR_BAD_STATE':
        if (e.ref === 'private-join' && this.state === 'joining-private') {
          this.#message = { text: message, tone: 'error' };
          this.#to('idle');
        }
        return;
      case 'CHZ_ERR_NEXT_RATE_LIMITED':
        // The server kept the match we already closed; leave it cleanly.
        this.#send({ type: 'leave' });
        this.#endCall();
        this.#message = { text: message, tone: 'warn' };
        if (this.state === 'searching' || this.state === 'in-call') this.#to('idle');
        return;
      default:
        this.#message = { text: message, tone: 'warn' };
        this.#changed();
    }
  }
}
