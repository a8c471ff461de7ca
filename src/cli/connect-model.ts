/**
 * What the `connect` screen shows, as a pure reducer over the peer session's observer events:
 * the ink view renders a {@link ConnectModel}; tests feed events and read the model.
 */
import type { PeerSessionEvents, PeerStats } from '../peer/index.js';
import { limitHint } from '../protocol/index.js';

/** One line of the chat pane. */
interface ChatLine { from: 'you' | 'partner' | 'system'; text: string }

/** The words the screen uses for the session's situation. */
type ConnectStatus = 'starting' | 'waiting' | 'connecting' | 'connected' | 'partner left' | 'reconnecting' | 'ended';

/** Everything the screen shows. */
export interface ConnectModel {
  /** The hub, or "private call". */
  where: string;
  status: ConnectStatus;
  queuePosition: number | null;
  privateLink: string | null;
  partner: number;
  role: 'offerer' | 'answerer' | null;
  candidateType: string | null;
  /** IP family of the call's selected candidate pair. */
  ipFamily: 4 | 6 | null;
  stats: PeerStats | null;
  safetyNumber: string | null;
  /** Why there is no safety number: `failed` (someone may be in the middle) or `unavailable`. */
  safetyProblem: 'failed' | 'unavailable' | null;
  chat: ChatLine[];
  /** What the partner says it sends (its camera, its microphone); null until it says (a partner without the state channel never does). */
  partnerMedia: { camera: boolean; mic: boolean } | null;
  /** The last thing worth telling the person (why a partner left, a warning). */
  notice: string | null;
}

/** The model before anything happened. */
export function initialModel(where: string): ConnectModel {
  return {
    where, status: 'starting', queuePosition: null, privateLink: null, partner: 0, role: null, candidateType: null, ipFamily: null,
    stats: null, safetyNumber: null, safetyProblem: null, chat: [], partnerMedia: null, notice: null,
  };
}

/** One observer event, as the reducer takes it. */
export type ConnectEvent = { [K in keyof PeerSessionEvents]: { type: K; data: PeerSessionEvents[K][0] } }[keyof PeerSessionEvents];

const MAX_CHAT_LINES = 50;

function withChat(m: ConnectModel, line: ChatLine): ConnectModel {
  return { ...m, chat: [...m.chat, line].slice(-MAX_CHAT_LINES) };
}

const LEFT_WORDS: Record<string, string> = {
  next: 'Your partner pressed Next.',
  leave: 'Your partner left.',
  timeout: 'Your partner stopped responding.',
  disconnect: 'Your partner disconnected.',
};

/** Applies one event to the model. */
export function reduce(m: ConnectModel, e: ConnectEvent, serverUrl = ''): ConnectModel {
  switch (e.type) {
    case 'queued':
      return { ...m, status: m.status === 'partner left' ? m.status : 'waiting', queuePosition: e.data.position };
    case 'private-created':
      return { ...m, status: 'waiting', privateLink: `${serverUrl.replace(/\/$/, '')}/#/call/${encodeURIComponent(e.data.code)}` };
    case 'matched':
      return {
        ...m, status: 'connecting', partner: e.data.partner, role: e.data.role, queuePosition: null, candidateType: null, ipFamily: null,
        stats: null, safetyNumber: null, safetyProblem: null, chat: [], partnerMedia: null, notice: e.data.commonInterests.length ? `You both like ${e.data.commonInterests.join(', ')}.` : null,
      };
    case 'connected':
      return { ...m, status: 'connected', candidateType: e.data.candidateType, ipFamily: e.data.ipFamily };
    case 'ice-restart':
      return { ...m, status: 'connecting', notice: 'The connection failed; trying once more (ICE restart).' };
    case 'safety':
      return { ...m, safetyNumber: e.data.safetyNumber, safetyProblem: null };
    case 'safety-problem':
      return {
        ...m, safetyNumber: null, safetyProblem: e.data.state,
        notice: e.data.state === 'failed' ? 'The safety check FAILED: someone may be listening in on this call.' : m.notice,
      };
    case 'stats':
      return { ...m, stats: e.data, candidateType: e.data.candidateType ?? m.candidateType, ipFamily: e.data.ipFamily ?? m.ipFamily };
    case 'chat':
      return withChat(m, { from: 'partner', text: e.data.text });
    case 'chat-sent':
      return withChat(m, { from: 'you', text: e.data.text });
    case 'partner-media':
      return { ...m, partnerMedia: { camera: e.data.camera, mic: e.data.mic } };
    case 'partner-left':
      return {
        ...m, status: 'partner left', notice: LEFT_WORDS[e.data.reason] ?? 'Your partner left.', stats: null, safetyNumber: null, safetyProblem: null, partnerMedia: null,
      };
    case 'reported':
      return { ...m, status: 'waiting', notice: `You reported the stranger (${e.data.reason}); you won't meet them again.`, stats: null, safetyNumber: null, safetyProblem: null, partnerMedia: null };
    case 'next':
      return { ...m, status: 'waiting', notice: 'You pressed Next.', stats: null, safetyNumber: null, safetyProblem: null, partnerMedia: null };
    case 'gave-up':
      return {
        ...m, status: 'waiting', stats: null, safetyNumber: null, safetyProblem: null,
        notice: e.data.code ? `${e.data.reason} [${e.data.code}] Finding another partner.` : `Could not connect to that partner (${e.data.reason}); finding another.`,
      };
    case 'disconnected':
      return {
        ...m, status: 'reconnecting', stats: null, safetyNumber: null, safetyProblem: null,
        notice: e.data.willReconnect ? `Lost the server; reconnecting in ${(e.data.delayMs / 1000).toFixed(1)} s.` : 'Lost the server.',
      };
    case 'welcome':
      return e.data.reconnected ? { ...m, status: 'waiting', notice: 'Reconnected to the server.' } : m;
    case 'server-error': {
      const hint = limitHint(e.data.code);
      return { ...m, notice: `${e.data.message} [${e.data.code}]${hint ? ` Hint: ${hint}` : ''}` };
    }
    case 'warning':
      return { ...m, notice: e.data.message };
    case 'ended':
      return { ...m, status: 'ended', notice: e.data.error ? `${e.data.error.message}` : m.notice };
    default:
      return m;
  }
}
