/**
 * The status line: one sentence that says what is happening now, derived from a session
 * snapshot. It contains the word "connected" exactly when media can flow, and then says
 * whether the path is direct or relayed.
 */
import type { SessionSnapshot, Tone } from './browser-session.js';

/** The status sentence and how it should look. */
export interface StatusLine {
  text: string;
  tone: Tone | 'ok';
}

/** Builds the status line for a snapshot. */
export function statusLine(s: SessionSnapshot): StatusLine {
  const msg = s.message;
  const prefix = msg ? `${msg.text} ` : '';
  switch (s.state) {
    case 'offline':
      if (msg) {
        const retry = s.retryInSeconds !== null ? ` Trying again in ${s.retryInSeconds} s…` : '';
        return { text: `${msg.text}${retry}`, tone: msg.tone };
      }
      return { text: 'Reaching the server…', tone: 'info' };
    case 'idle':
      return msg ? { text: msg.text, tone: msg.tone } : { text: 'Pick a hub and press Start to meet a stranger.', tone: 'info' };
    case 'preparing':
      // With the camera on already, what is left is timing the landmarks (at most 1.5 s).
      return { text: s.mediaOn ? 'Getting ready to meet a stranger…' : 'Asking for your camera and microphone…', tone: 'info' };
    case 'searching': {
      const where = s.hub ? ` in ${s.hub}` : '';
      const wait = s.queuePosition !== null
        ? `Waiting for a stranger${where} (position ${s.queuePosition} in the queue)…`
        : `Looking for a stranger${where}…`;
      return { text: prefix + wait, tone: msg?.tone ?? 'info' };
    }
    case 'private-waiting':
      return s.privateCode
        ? { text: 'Private call ready: send the link to one person, and the call starts when they open it.', tone: 'info' }
        : { text: 'Creating a private call…', tone: 'info' };
    case 'joining-private':
      return { text: 'Joining the private call…', tone: 'info' };
    case 'in-call': {
      const c = s.call!;
      const who = c.private ? 'your private call' : 'a stranger';
      switch (c.state) {
        case 'new':
        case 'negotiating':
          return { text: c.private ? 'Your private call partner is here; setting up the call…' : 'Found a stranger; setting up the call…', tone: 'info' };
        case 'connected': {
          const path = c.path === 'relayed'
            ? ' (relayed through the TURN server: your IP address stays hidden)'
            : c.path === 'direct' ? ' (direct peer-to-peer path)' : '';
          return { text: `${c.private ? 'You are connected in your private call' : 'You are connected to a stranger'}${path}.`, tone: 'ok' };
        }
        case 'restarting':
          return c.everConnected
            ? { text: `The connection to ${who} dropped; trying to reconnect…`, tone: 'warn' }
            : { text: `Reaching ${who} is taking a while; trying once more…`, tone: 'warn' };
        case 'failed':
        case 'closed':
          return { text: 'The call ended.', tone: 'warn' };
      }
      break;
    }
    case 'closed':
      return { text: 'Closed. Reload the page to chat again.', tone: 'info' };
  }
  return { text: '', tone: 'info' };
}
