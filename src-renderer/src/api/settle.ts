/**
 * A call through the API object as a Result, also when the transport itself throws (a closed
 * WebSocket, an IPC failure). The contract says results, not throws; a host that throws anyway
 * is shown as an INTERNAL error, not fatal.
 */
import type { MethodArgs, MethodName, MethodResult, MptcpApi } from '../../../shared/contract';
import type { Result } from '../../../shared/result';

export async function settle<T>(call: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await call();
  } catch (err) {
    return { ok: false, error: { code: 'INTERNAL', message: String(err) } };
  }
}

export function invokeSettled<M extends MethodName>(
  api: MptcpApi,
  method: M,
  args: MethodArgs<M>,
): Promise<Result<MethodResult<M>>> {
  return settle(() => api.invoke(method, args));
}
