/**
 * How the renderer reaches the engine, as the header shows it. Electron IPC is always "open"; the
 * WebSocket client moves through connecting → open → closed (and back), or stops at unauthorized.
 */
export type ConnectionState = 'connecting' | 'open' | 'closed' | 'unauthorized';

export interface ConnectionInfo {
  state: ConnectionState;
  transport: 'ipc' | 'websocket';
  /** Why the connection is not open, or the last protocol problem (a dropped malformed message). */
  detail: string | null;
  /** When state is 'closed': the next reconnect attempt, ms since the epoch. */
  retryAtMs: number | null;
}

export interface ConnectionSource {
  get(): ConnectionInfo;
  /** Called on every change; returns the unsubscribe function. */
  subscribe(listener: (info: ConnectionInfo) => void): () => void;
}

export const UNAUTHORISED_MESSAGE =
  'Not authorised: open the URL printed by `mptcp-studio serve` (it carries the token)';

/** The Electron bridge has no connection to lose. */
export function staticConnection(info: ConnectionInfo): ConnectionSource {
  return { get: () => info, subscribe: () => () => {} };
}
