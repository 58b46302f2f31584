/**
 * "Trace this path": from a connection that fell back to TCP (the connection detail, the
 * advisor) to the Path doctor, with the trace already running from that connection's local
 * address to its peer.
 */
import { useStores } from '../../state/stores';

/** Dual-stack sockets report IPv4 peers as v4-mapped IPv6 (::ffff:a.b.c.d): trace the IPv4 address. */
export const plainAddress = (a: string): string => a.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');

export function TraceThisPathButton({
  target,
  port,
  from,
  testId = 'trace-this-path',
  small = false,
}: {
  target: string;
  port: number;
  /** The local address the connection uses (its path), if known. */
  from: string | null;
  testId?: string;
  small?: boolean;
}) {
  const stores = useStores();
  return (
    <button
      type="button"
      className={small ? 'button small' : 'button'}
      data-testid={testId}
      title={`Trace ${target} port ${port}${from ? ` from ${from}` : ''}: where on the path MPTCP options are stripped or changed`}
      onClick={() => {
        stores.ui.getState().go('path-doctor');
        void stores.pathDoctor.getState().traceThisPath({
          target: plainAddress(target),
          port,
          from: from === null ? null : plainAddress(from),
        });
      }}
    >
      Trace this path
    </button>
  );
}
