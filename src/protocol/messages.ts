/**
 * The chatzyo wire protocol: JSON messages over one WebSocket at `/ws`, one zod schema per
 * message, split by direction and discriminated on `type`. Documented in docs/protocol.md.
 */
import { z } from 'zod';
import { ERROR_CODE_LIST } from './errors.js';
import { Landmark, LandmarkRtts, MAX_LANDMARKS } from './landmarks.js';

/** A hub name: lower-case letters, digits and dashes. */
export const HubName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'hub names are 1-32 of a-z, 0-9 and -');
/** One interest tag, normalised to lower case by the sender. */
export const InterestTag = z.string().min(1).max(32);
/** An opaque id chosen by the server (session ids, match ids). */
export const OpaqueId = z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/);
/** A private call code: at least 128 random bits, base64url. */
export const PrivateCode = z.string().min(22).max(64).regex(/^[A-Za-z0-9_-]+$/);

/** Session description, as RTCSessionDescriptionInit (only offer and answer are relayed). */
export const SdpSignal = z.object({
  kind: z.enum(['offer', 'answer']),
  sdp: z.string().max(48 * 1024),
});
/** One trickled ICE candidate, as RTCIceCandidateInit. */
export const CandidateSignal = z.object({
  kind: z.literal('candidate'),
  candidate: z.object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  }),
});
/** The sender has gathered all its candidates. */
export const EndOfCandidatesSignal = z.object({ kind: z.literal('end-of-candidates') });
/** What a client sends its partner through the server. */
export const SignalData = z.discriminatedUnion('kind', [SdpSignal, CandidateSignal, EndOfCandidatesSignal]);
export type SignalData = z.infer<typeof SignalData>;

// ---------------------------------------------------------------- client to server

/** First message on every connection: the protocol version the client speaks. */
export const HelloMsg = z.object({
  type: z.literal('hello'),
  version: z.number().int(),
  client: z.string().max(64).optional(),
  /**
   * The client will use only TURN relay candidates ("Hide my IP", a relay test): it is given
   * TURN credentials in `welcome` already (version 2).
   */
  relayOnly: z.boolean().optional(),
  /**
   * The anonymous token a previous `welcome` gave this client (kept in its storage), so that
   * reports and bans follow the same stranger across connections. Nothing else identifies it.
   */
  token: z.string().max(512).optional(),
  /**
   * A signed "over 18" assertion from the deployment's age-assurance provider; required only
   * when `welcome.ageVerifier` is announced (`chatzyo serve --age-verifier`).
   */
  ageAssertion: z.string().max(4096).optional(),
});
/** Press Start in a hub. Interest tags are preferred for a short while, then anyone matches. */
export const JoinMsg = z.object({
  type: z.literal('join'),
  hub: HubName,
  interests: z.array(InterestTag).max(10).optional(),
  /**
   * Round trips to `welcome`'s landmarks (rounded, see landmarks.ts), so the server can prefer
   * a partner near this client. Leave it out to be paired without regard to distance.
   */
  rtts: LandmarkRtts.optional(),
});
/** Skip the current partner (or, while queued, nothing to skip: an error). Re-queues the sender. */
export const NextMsg = z.object({ type: z.literal('next') });
/** Leave the queue, the private call or the current match. */
export const LeaveMsg = z.object({ type: z.literal('leave') });
/** Send signaling data to the partner of match `matchId`. */
export const SignalMsg = z.object({ type: z.literal('signal'), matchId: OpaqueId, data: SignalData });
/** Create a private call; the server answers `private-created` with a code. */
export const PrivateCreateMsg = z.object({ type: z.literal('private-create') });
/** Join a private call by its code. */
export const PrivateJoinMsg = z.object({ type: z.literal('private-join'), code: PrivateCode });
/** Why a partner is reported: one of a fixed list (no free text: nothing a stranger writes is stored). */
export const ReportReason = z.enum(['nudity', 'harassment', 'minor', 'spam', 'other']);
export type ReportReason = z.infer<typeof ReportReason>;
/** Report the partner of match `matchId` (counted by the server) and skip to the next. */
export const ReportMsg = z.object({
  type: z.literal('report'),
  matchId: OpaqueId,
  reason: ReportReason,
  /**
   * true: the sender knows that call is over (a report of the last stranger). Without it a
   * report that finds its match already over was sent for a call the sender thought current (the
   * partner left at the same moment): it still counts, and is answered CHZ_ERR_NOT_MATCHED so the
   * sender joins again, as after a crossed Next.
   */
  ended: z.literal(true).optional(),
});
/** Application-level ping, answered by `pong` with the same id (to measure signaling RTT). */
export const PingMsg = z.object({ type: z.literal('ping'), id: z.number().int().min(0) });

/** Every client-to-server message. */
export const ClientMessage = z.discriminatedUnion('type', [
  HelloMsg, JoinMsg, NextMsg, LeaveMsg, SignalMsg, PrivateCreateMsg, PrivateJoinMsg, ReportMsg, PingMsg,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
/** The `type` values a client may send. */
export const CLIENT_MESSAGE_TYPES = ClientMessage.options.map((o) => o.shape.type.value);
export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------- server to client

/** One ICE server, as RTCIceServer. */
export const IceServer = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.infer<typeof IceServer>;

/** Limits the server enforces, announced so that clients can stay within them. */
export const Limits = z.object({
  maxFrameBytes: z.number().int(),
  messagesPerSecond: z.number(),
  nextsPerMinute: z.number(),
  interestFallbackMs: z.number().int(),
  rematchCooldownMs: z.number().int(),
  privateCodeTtlMs: z.number().int(),
  heartbeatMs: z.number().int(),
});
export type Limits = z.infer<typeof Limits>;

/** Reply to `hello`: who you are and how to reach peers. */
export const WelcomeMsg = z.object({
  type: z.literal('welcome'),
  version: z.number().int(),
  sessionId: OpaqueId,
  iceServers: z.array(IceServer),
  /** True when the ICE servers include TURN (so "Hide my IP" / relay-only can work). */
  turn: z.boolean(),
  hubs: z.array(HubName),
  limits: Limits,
  /** STUN servers to time for nearby pairing (landmarks.ts); absent when the server pairs at random. */
  landmarks: z.array(Landmark).max(MAX_LANDMARKS).optional(),
  /**
   * The anonymous token to keep and present in later hellos: the hello's own when it was valid,
   * else a fresh one. It identifies nobody; reports and bans attach to it.
   */
  token: z.string().optional(),
  /** The deployment's default for on-device screening of the stranger's video (`--screening`). */
  screening: z.enum(['off', 'blur-until-safe', 'flag-only']).optional(),
  /** Present when this server requires an age assertion in `hello`: the verifier's URL. */
  ageVerifier: z.string().optional(),
});
/** You wait in `hub`'s queue at `position` (1 = next to be matched). */
export const QueuedMsg = z.object({ type: z.literal('queued'), hub: HubName, position: z.number().int().min(1) });
/** You have a partner. Exactly one side is the offerer. */
export const MatchedMsg = z.object({
  type: z.literal('matched'),
  matchId: OpaqueId,
  role: z.enum(['offerer', 'answerer']),
  hub: HubName.nullable(),
  private: z.boolean(),
  commonInterests: z.array(InterestTag),
  /**
   * ICE servers for this call, with TURN credentials minted for it (version 2). Use these
   * rather than `welcome`'s, which carry TURN only for relay-only clients.
   */
  iceServers: z.array(IceServer).optional(),
});
/**
 * Fresh ICE servers (renewed TURN credentials) before the previous ones expire, sent while a
 * client that was given TURN credentials is matched or relay-only (version 2).
 */
export const IceServersMsg = z.object({
  type: z.literal('ice-servers'),
  iceServers: z.array(IceServer),
  /** When the TURN credentials in `iceServers` expire (ms since the epoch). */
  expiresAt: z.number().int(),
});
/** Signaling data from your partner in match `matchId`. */
export const PartnerSignalMsg = z.object({ type: z.literal('signal'), matchId: OpaqueId, data: SignalData });
/** Why a match ended, seen from the side that is left behind. */
export const PartnerLeftReason = z.enum(['next', 'leave', 'timeout', 'disconnect']);
export type PartnerLeftReason = z.infer<typeof PartnerLeftReason>;
/** Your partner is gone; you are back in the ready state and may join again. */
export const PartnerLeftMsg = z.object({ type: z.literal('partner-left'), matchId: OpaqueId, reason: PartnerLeftReason });
/** Your private call exists; share `code` (link `/#/call/CODE`). */
export const PrivateCreatedMsg = z.object({
  type: z.literal('private-created'),
  code: PrivateCode,
  expiresAt: z.number().int(),
});
/** Something you sent was refused, or the connection is about to close. */
export const ErrorMsg = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
  /** The `type` of the message that caused it, when there was one. */
  ref: z.string().optional(),
  /** For a limit that frees up with time (`CHZ_ERR_NEXT_RATE_LIMITED`): when to try again, ms. */
  retryAfterMs: z.number().int().min(0).optional(),
});
/** Live counts per hub, pushed to clients that are not in a call when they change. */
export const HubCount = z.object({ name: HubName, waiting: z.number().int(), inCall: z.number().int() });
export type HubCount = z.infer<typeof HubCount>;
export const HubsMsg = z.object({ type: z.literal('hubs'), hubs: z.array(HubCount) });
/** Reply to `ping`. */
export const PongMsg = z.object({ type: z.literal('pong'), id: z.number().int() });

/** Every server-to-client message. */
export const ServerMessage = z.discriminatedUnion('type', [
  WelcomeMsg, QueuedMsg, MatchedMsg, PartnerSignalMsg, PartnerLeftMsg, PrivateCreatedMsg, ErrorMsg, HubsMsg, PongMsg, IceServersMsg,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type ServerMessageType = ServerMessage['type'];
/** A server message of one type. */
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;
/** A client message of one type. */
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

/** Known error codes, re-exported for schema users. */
export const KnownErrorCode = z.enum(ERROR_CODE_LIST);
