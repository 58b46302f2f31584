/**
 * The renderer's session with its host (the host's side is src-main/session/): how the renderer
 * reaches the engine, as the header shows it. "Connection" in this code base is an MPTCP socket. Electron IPC is always "open"; the
 * WebSocket client moves through connecting → open → closed (and back), or stops at unauthorized.
 */
export type SessionState = 'connecting' | 'open' | 'closed' | 'unauthorized';

export interface SessionInfo {
  state: SessionState;
  transport: 'ipc' | 'websocket';
  /** Why the session is not open, or the last protocol problem (a dropped malformed message). */
  detail: string | null;
  /** When state is 'closed': the next reconnect attempt, ms since the epoch. */
  retryAtMs: number | null;
}

export interface SessionSource {
  get(): SessionInfo;
  /** Called on every change; returns the unsubscribe function. */
  subscribe(listener: (info: SessionInfo) => void): () => void;
}

export const UNAUTHORISED_MESSAGE =
  'Not authorised: open the URL printed by `mptcp-studio serve` (it carries the token)';

/** The Electron bridge has no connection to lose. */
export function staticSession(info: SessionInfo): SessionSource {
  return { get: () => info, subscribe: () => () => {} };
}
