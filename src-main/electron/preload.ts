/**
 * Preload (sandboxed): exposes exactly the MptcpApi object and nothing else. Channel names are
 * checked against the contract here too, so the page cannot use the bridge to reach other IPC.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { isEventName, isMethodName, type MptcpApi } from '../../shared/contract';
import type { Result } from '../../shared/result';

const api: MptcpApi = {
  invoke(method, args) {
    if (!isMethodName(method)) {
      return Promise.resolve({
        ok: false,
        error: { code: 'BAD_REQUEST', message: `unknown method ${String(method)}` },
      });
    }
    return ipcRenderer.invoke(method, args) as Promise<Result<never>>;
  },
  on(event, listener) {
    if (!isEventName(event)) throw new Error(`unknown event ${String(event)}`);
    const wrapped = (_e: unknown, payload: unknown): void => listener(payload as never);
    ipcRenderer.on(event, wrapped);
    return () => {
      ipcRenderer.removeListener(event, wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('mptcp', api);
