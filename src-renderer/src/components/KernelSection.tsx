import type { KernelStatus } from '../../../shared/types';
import { formatBytes, formatTriplet } from '../format';
import { Badge, Chip } from './Badge';

function MptcpBadge({ status }: { status: KernelStatus }) {
  const state = !status.mptcpSupported ? 'unsupported' : status.enabled ? 'enabled' : 'disabled';
  const tone = state === 'enabled' ? 'ok' : state === 'disabled' ? 'off' : 'bad';
  const label =
    state === 'enabled' ? 'MPTCP enabled' : state === 'disabled' ? 'MPTCP disabled' : 'MPTCP not supported';
  const title =
    state === 'unsupported'
      ? 'This kernel has no /proc/sys/net/mptcp (built without CONFIG_MPTCP)'
      : `net.mptcp.enabled = ${status.enabled ? 1 : 0}`;
  return (
    <span data-testid="mptcp-enabled" data-enabled={String(status.enabled)} data-state={state}>
      <Badge tone={tone} title={title}>
        {label}
      </Badge>
    </span>
  );
}

/** The current choice first, then the other available ones as chips. */
function Choice({ current, available }: { current: string | null; available: readonly string[] }) {
  const others = available.filter((a) => a !== current);
  return (
    <span className="choice">
      {current !== null ? (
        <span className="choice-current">{current}</span>
      ) : (
        <span className="muted">unknown</span>
      )}
      {others.length > 0 ? (
        <span className="choice-others">
          <span className="muted">also available:</span>
          {others.map((a) => (
            <Chip key={a}>{a}</Chip>
          ))}
        </span>
      ) : null}
    </span>
  );
}

function Bytes({ value }: { value: number | null }) {
  if (value === null) return <span className="muted">unavailable</span>;
  return <span title={`${value} bytes`}>{formatBytes(value)}</span>;
}

export function KernelSection({ status }: { status: KernelStatus }) {
  const { buffers, congestionControl: cc } = status;
  const ccNotAllowed = cc.available.filter((a) => !cc.allowed.includes(a));
  return (
    <section className="card" data-testid="overview-kernel" aria-labelledby="kernel-heading">
      <header className="card-header">
        <h2 id="kernel-heading">Kernel</h2>
        <MptcpBadge status={status} />
      </header>
      <dl className="facts">
        <dt>Kernel release</dt>
        <dd className="mono">{status.kernelRelease}</dd>

        <dt>Path manager</dt>
        <dd data-testid="kernel-path-manager" data-value={status.pathManager ?? ''}>
          <Choice current={status.pathManager} available={status.availablePathManagers} />
        </dd>

        <dt>Scheduler</dt>
        <dd>
          <Choice current={status.scheduler} available={status.availableSchedulers} />
        </dd>

        <dt>Congestion control</dt>
        <dd>
          <Choice current={cc.default} available={cc.available} />
          {ccNotAllowed.length > 0 ? (
            <div className="hint">
              Privileged only (not in tcp_allowed_congestion_control): {ccNotAllowed.join(', ')}
            </div>
          ) : null}
        </dd>

        <dt>
          TCP receive buffer <span className="muted">tcp_rmem</span>
        </dt>
        <dd>
          {buffers.tcpRmem ? (
            <span
              title={`${buffers.tcpRmem.minBytes} ${buffers.tcpRmem.defaultBytes} ${buffers.tcpRmem.maxBytes} bytes`}
            >
              {formatTriplet(buffers.tcpRmem)} <span className="muted">(min / default / max)</span>
            </span>
          ) : (
            <span className="muted">unavailable</span>
          )}
        </dd>

        <dt>
          TCP send buffer <span className="muted">tcp_wmem</span>
        </dt>
        <dd>
          {buffers.tcpWmem ? (
            <span
              title={`${buffers.tcpWmem.minBytes} ${buffers.tcpWmem.defaultBytes} ${buffers.tcpWmem.maxBytes} bytes`}
            >
              {formatTriplet(buffers.tcpWmem)} <span className="muted">(min / default / max)</span>
            </span>
          ) : (
            <span className="muted">unavailable</span>
          )}
        </dd>

        <dt>
          Socket buffer caps <span className="muted">rmem_max / wmem_max</span>
        </dt>
        <dd>
          <Bytes value={buffers.rmemMaxBytes} /> / <Bytes value={buffers.wmemMaxBytes} />
        </dd>
      </dl>

      <details className="sysctls">
        <summary>All net.mptcp.* sysctls ({status.mptcpSysctls.length})</summary>
        {status.mptcpSysctls.length === 0 ? (
          <p className="muted">None: this kernel exposes no /proc/sys/net/mptcp.</p>
        ) : (
          <table className="table compact" data-testid="mptcp-sysctls">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
                <th scope="col">Access</th>
              </tr>
            </thead>
            <tbody>
              {status.mptcpSysctls.map((s) => (
                <tr key={s.name} data-testid={`sysctl-${s.name}`} data-value={s.value}>
                  <td className="mono">{s.name}</td>
                  <td className="mono pre">{s.value}</td>
                  <td>{s.writable ? 'read-write' : <span className="muted">read-only</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </details>
    </section>
  );
}
