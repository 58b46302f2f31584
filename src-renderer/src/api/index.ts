/**
 * Which API the renderer talks to. In Electron the preload exposes exactly an MptcpApi object as
 * `window.mptcp` (contextBridge); in a browser the page was served by `mptcp-studio serve` and
 * talks to it over WebSocket, authenticated by the token in the page URL (or its cookie).
 */
import type { MptcpApi } from '../../../shared/contract';
import { staticSession, type SessionSource } from './session';
import { WsClient, apiUrlFromLocation, httpAuthProbe } from './ws-client';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser. */
    mptcp?: MptcpApi;
  }
}

export interface ApiSelection {
  api: MptcpApi;
  session: SessionSource;
}

function isMptcpApi(value: unknown): value is MptcpApi {
  const v = value as Partial<MptcpApi> | null | undefined;
  return typeof v === 'object' && v !== null && typeof v.invoke === 'function' && typeof v.on === 'function';
}

export function selectApi(win: Window = window): ApiSelection {
  if (isMptcpApi(win.mptcp)) {
    return {
      api: win.mptcp,
      session: staticSession({ state: 'open', transport: 'ipc', detail: null, retryAtMs: null }),
    };
  }
  const url = apiUrlFromLocation(win.location);
  const client = new WsClient({ url, probeUnauthorized: httpAuthProbe(url) });
  return { api: client, session: client };
}

export type { SessionInfo, SessionSource, SessionState } from './session';
