/**
 * The status line: one sentence that says what is happening now, derived from a session
 * snapshot, in the page's language. In English it contains the word "connected" exactly when
 * media can flow, and then says whether the path is direct or relayed.
 */
import type { SessionSnapshot, Tone } from './browser-session.js';
import { t, tx, type MessageKey } from './i18n/index.js';
import { hubLabel } from './i18n/hubs.js';

/** The status sentence and how it should look. */
export interface StatusLine {
  text: string;
  tone: Tone | 'ok';
}

/** Builds the status line for a snapshot. */
export function statusLine(s: SessionSnapshot): StatusLine {
  const msg = s.message;
  const withMessage = (status: string) => (msg ? t('status.withMessage', { text: tx(msg.text), status }) : status);
  switch (s.state) {
    case 'offline':
      if (msg) {
        const text = tx(msg.text);
        return { text: s.retryInSeconds !== null ? t('status.retryIn', { text, count: s.retryInSeconds }) : text, tone: msg.tone };
      }
      return { text: t('status.reaching'), tone: 'info' };
    case 'idle':
      return msg ? { text: tx(msg.text), tone: msg.tone } : { text: t('status.idle'), tone: 'info' };
    case 'preparing':
      // With the camera on already, what is left is timing the landmarks (at most 1.5 s).
      return { text: t(s.mediaOn ? 'status.gettingReady' : 'status.askingCamera'), tone: 'info' };
    case 'searching': {
      const hub = s.hub ? hubLabel(s.hub) : null;
      const wait = s.queuePosition !== null
        ? t(hub ? 'status.waitingIn' : 'status.waiting', { hub: hub ?? '', position: s.queuePosition })
        : t(hub ? 'status.lookingIn' : 'status.looking', { hub: hub ?? '' });
      return { text: withMessage(wait), tone: msg?.tone ?? 'info' };
    }
    case 'private-waiting':
      return { text: t(s.privateCode ? 'status.privateReady' : 'status.privateCreating'), tone: 'info' };
    case 'joining-private':
      return { text: t('status.privateJoining'), tone: 'info' };
    case 'in-call': {
      const c = s.call!;
      const p = c.private;
      switch (c.state) {
        case 'new':
        case 'negotiating':
          return { text: t(p ? 'status.foundPrivate' : 'status.found'), tone: 'info' };
        case 'connected': {
          const key: MessageKey = c.path === 'relayed' ? (p ? 'status.connectedPrivateRelayed' : 'status.connectedRelayed')
            : c.path === 'direct' ? (p ? 'status.connectedPrivateDirect' : 'status.connectedDirect')
              : p ? 'status.connectedPrivate' : 'status.connected';
          return { text: t(key), tone: 'ok' };
        }
        case 'restarting':
          return c.everConnected
            ? { text: t(p ? 'status.droppedPrivate' : 'status.dropped'), tone: 'warn' }
            : { text: t(p ? 'status.slowPrivate' : 'status.slow'), tone: 'warn' };
        case 'failed':
        case 'closed':
          return { text: t('status.ended'), tone: 'warn' };
      }
      break;
    }
    case 'closed':
      return { text: t('status.closed'), tone: 'info' };
  }
  return { text: '', tone: 'info' };
}
