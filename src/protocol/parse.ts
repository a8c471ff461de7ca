/**
 * Parsing and validating frames at the boundary. Both directions return a result instead of
 * throwing so that a bad frame becomes an error reply, never an exception in matchmaking code.
 */
import { ClientMessage, CLIENT_MESSAGE_TYPES, ServerMessage } from './messages.js';
import type { ErrorCode } from './errors.js';
import { MAX_FRAME_BYTES } from './version.js';

/** The outcome of parsing one frame. */
export type ParseResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: ErrorCode; message: string; ref?: string };

function describeIssues(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/**
 * Parses one client frame (its text and its size in bytes).
 * Order of checks: size, JSON, `type` known, schema.
 */
export function parseClientFrame(text: string, byteLength: number, maxBytes = MAX_FRAME_BYTES): ParseResult<ClientMessage> {
  if (byteLength > maxBytes) {
    return { ok: false, code: 'CHZ_ERR_TOO_LARGE', message: `Frame of ${byteLength} bytes exceeds the ${maxBytes}-byte limit.` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'CHZ_ERR_BAD_JSON', message: 'The frame is not valid JSON.' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'CHZ_ERR_BAD_MESSAGE', message: 'A message must be a JSON object with a "type".' };
  }
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string') {
    return { ok: false, code: 'CHZ_ERR_BAD_MESSAGE', message: 'A message must have a string "type".' };
  }
  if (!(CLIENT_MESSAGE_TYPES as string[]).includes(type)) {
    return { ok: false, code: 'CHZ_ERR_UNKNOWN_TYPE', message: `Unknown message type "${type.slice(0, 40)}".`, ref: type.slice(0, 40) };
  }
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, code: 'CHZ_ERR_BAD_MESSAGE', message: `Invalid "${type}": ${describeIssues(parsed.error)}`, ref: type };
  }
  return { ok: true, value: parsed.data };
}

/** Parses one server frame (used by the headless peer, the bots and the browser client). */
export function parseServerFrame(text: string): ParseResult<ServerMessage> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'CHZ_ERR_BAD_JSON', message: 'The server sent a frame that is not JSON.' };
  }
  const parsed = ServerMessage.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, code: 'CHZ_ERR_BAD_MESSAGE', message: `Invalid server message: ${describeIssues(parsed.error)}` };
  }
  return { ok: true, value: parsed.data };
}
