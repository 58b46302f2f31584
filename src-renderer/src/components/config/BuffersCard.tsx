import { formatBytes } from '../../format';
import { errorsAt, TRIPLET_PARTS, type TripletDraft } from '../../state/config-draft';
import { Field, type CardProps } from './Field';

const PART_LABEL = { minBytes: 'min', defaultBytes: 'default', maxBytes: 'max' } as const;

function bytesHint(text: string): string {
  return /^\d+$/.test(text) ? formatBytes(Number(text)) : '';
}

function readOnlyReason(status: CardProps['status'], name: string): string | null {
  if (!status.readOnlySysctls.includes(name)) return null;
  return status.inInitNetns === false
    ? `${name} is read-only in a child network namespace: it shows the host's value and only the host can change it`
    : `${name} is read-only here`;
}

export function BuffersCard({ draft, status, errors, desired, edit, disabled }: CardProps) {
  const triplet = (key: 'tcpRmem' | 'tcpWmem', sysctl: string, label: string, explain: string) => {
    const value: TripletDraft | null = draft.buffers[key];
    const reason = value === null ? `${sysctl} could not be read` : readOnlyReason(status, sysctl);
    return (
      <Field
        label={label}
        knob={sysctl}
        changed={desired.buffers?.[key] !== undefined}
        errors={errorsAt(errors, `buffers.${key}`)}
        explain={`${explain}${reason ? ` Unavailable: ${reason}.` : ''}`}
      >
        <span className="triplet">
          {TRIPLET_PARTS.map((p) => (
            <label key={p} className="triplet-part">
              <span className="muted">{PART_LABEL[p]}</span>
              <input
                type="number"
                min={1}
                className="num-input wide"
                data-testid={`cfg-${key}-${p}`}
                value={value?.[p] ?? ''}
                disabled={disabled || reason !== null}
                onChange={(e) =>
                  edit((d) => {
                    const current = d.buffers[key];
                    if (!current) return d;
                    return { ...d, buffers: { ...d.buffers, [key]: { ...current, [p]: e.target.value } } };
                  })
                }
              />
              <span className="muted bytes">{bytesHint(value?.[p] ?? '')}</span>
            </label>
          ))}
        </span>
      </Field>
    );
  };
  const cap = (key: 'rmemMaxBytes' | 'wmemMaxBytes', sysctl: string, label: string) => {
    const reason = readOnlyReason(status, sysctl);
    const id = `cfg-${key}`;
    return (
      <Field
        label={label}
        knob={sysctl}
        htmlFor={id}
        changed={desired.buffers?.[key] !== undefined}
        errors={errorsAt(errors, `buffers.${key}`)}
        explain={`Upper bound for buffers an application sets itself (SO_RCVBUF / SO_SNDBUF); autotuning does not need it. Bytes.${reason ? ` Unavailable: ${reason}.` : ''}`}
      >
        <input
          id={id}
          data-testid={id}
          type="number"
          min={1}
          className="num-input wide"
          value={draft.buffers[key]}
          disabled={disabled || reason !== null}
          onChange={(e) => edit((d) => ({ ...d, buffers: { ...d.buffers, [key]: e.target.value } }))}
        />
        <span className="muted bytes">{bytesHint(draft.buffers[key])}</span>
      </Field>
    );
  };
  return (
    <section className="card" data-testid="cfg-buffers" aria-labelledby="cfg-buffers-heading">
      <header className="card-header">
        <h2 id="cfg-buffers-heading">Buffers</h2>
      </header>
      <p className="hint">
        MPTCP needs more buffer than plain TCP because data travels over paths with different delays and is
        reordered at the receiver. If throughput is poor, raise the maximum of the TCP triplets (per
        namespace).
      </p>
      <div className="fields">
        {triplet(
          'tcpRmem',
          'net.ipv4.tcp_rmem',
          'TCP receive buffer',
          'min / default / max bytes; autotuning grows receive buffers up to max.',
        )}
        {triplet(
          'tcpWmem',
          'net.ipv4.tcp_wmem',
          'TCP send buffer',
          'min / default / max bytes; autotuning grows send buffers up to max.',
        )}
        {cap('rmemMaxBytes', 'net.core.rmem_max', 'Receive buffer cap')}
        {cap('wmemMaxBytes', 'net.core.wmem_max', 'Send buffer cap')}
      </div>
    </section>
  );
}

export function MtuCard({ draft, interfaces, errors, desired, edit, disabled }: CardProps) {
  const names = Object.keys(draft.mtu);
  return (
    <section className="card" data-testid="cfg-mtu" aria-labelledby="cfg-mtu-heading">
      <header className="card-header">
        <h2 id="cfg-mtu-heading">MTU per interface</h2>
      </header>
      <p className="hint">
        Paths with different segment sizes can sharply reduce MPTCP throughput; giving all interfaces the same
        MTU (or a lower one on the server) equalises them. Below 1280 bytes the kernel removes the interface’s
        IPv6 addresses.
      </p>
      {names.length === 0 ? <p className="empty">No interfaces.</p> : null}
      <div className="fields mtu-fields">
        {names.map((name) => {
          const ifc = interfaces.find((i) => i.name === name);
          const id = `cfg-mtu-${name}`;
          return (
            <Field
              key={name}
              label={name}
              htmlFor={id}
              changed={desired.mtu?.[name] !== undefined}
              errors={errorsAt(errors, `mtu.${name}`)}
              explain={
                ifc
                  ? `Bytes; this device accepts ${ifc.minMtuBytes ?? '?'}..${ifc.maxMtuBytes ?? '?'}.`
                  : 'This interface does not exist here.'
              }
            >
              <input
                id={id}
                data-testid={id}
                type="number"
                className="num-input wide"
                min={ifc?.minMtuBytes ?? 68}
                max={ifc?.maxMtuBytes ?? 65535}
                value={draft.mtu[name] ?? ''}
                disabled={disabled}
                onChange={(e) => edit((d) => ({ ...d, mtu: { ...d.mtu, [name]: e.target.value } }))}
              />
            </Field>
          );
        })}
      </div>
    </section>
  );
}
