import { sysctlKeys } from '../../../../shared/plan';
import { BOOLEAN_SYSCTLS, errorsAt, SYSCTL_KEYS, type SysctlKey } from '../../state/config-draft';
import { Field, rawSysctl, type CardProps } from './Field';

/** Documentation/networking/mptcp-sysctl.rst, with the ranges the schema accepts. */
const SYSCTL_HELP: Record<SysctlKey, { label: string; explain: string; range?: string }> = {
  checksumEnabled: {
    label: 'DSS checksums',
    explain:
      'Checksum MPTCP data mappings, to detect middleboxes that rewrite payload; costs CPU. Off by default.',
  },
  allowJoinInitialAddrPort: {
    label: 'Allow joins to the initial address and port',
    explain:
      'When off, peers may not open extra subflows to the address and port of the first subflow (they are told with the DENY_JOIN_ID0 flag). On by default.',
  },
  addAddrTimeoutS: {
    label: 'ADD_ADDR retransmission timeout',
    explain:
      'Seconds before an unacknowledged address announcement is sent again; 0 disables resending. Default 120.',
    range: '0..3600 s',
  },
  closeTimeoutS: {
    label: 'Close timeout',
    explain:
      'Seconds a connection with no subflows left, and not closed by the application, lingers before it is closed. Default 60.',
    range: '0..3600 s',
  },
  staleLossCnt: {
    label: 'Stale loss count',
    explain:
      'MPTCP-level retransmission intervals without progress after which a subflow counts as stale and the scheduler avoids it. Default 4.',
    range: '0..4294967295',
  },
  blackholeTimeoutS: {
    label: 'Blackhole timeout',
    explain:
      'When MPTCP SYNs are dropped but plain ones pass, MPTCP is turned off for this many seconds (doubling on repeats); 0 turns detection off. Default 3600.',
    range: '0..2147483647 s',
  },
  synRetransBeforeTcpFallback: {
    label: 'SYN retransmissions before TCP fallback',
    explain:
      'SYN retransmissions that still carry MP_CAPABLE before falling back to plain TCP; 128 or more means never. Default 2.',
    range: '0..255',
  },
};

const RANGE: Partial<Record<SysctlKey, [number, number]>> = {
  addAddrTimeoutS: [0, 3600],
  closeTimeoutS: [0, 3600],
  staleLossCnt: [0, 0xffffffff],
  blackholeTimeoutS: [0, 2 ** 31 - 1],
  synRetransBeforeTcpFallback: [0, 255],
};

function testIdOf(key: SysctlKey): string {
  return `cfg-sysctl-${sysctlKeys[key].replace('net.mptcp.', '')}`;
}

export function SysctlsCard({ draft, base, status, errors, desired, edit, disabled }: CardProps) {
  return (
    <section className="card" data-testid="cfg-sysctls" aria-labelledby="cfg-sysctls-heading">
      <header className="card-header">
        <h2 id="cfg-sysctls-heading">MPTCP settings</h2>
      </header>
      <div className="fields">
        {SYSCTL_KEYS.map((key) => {
          const name = sysctlKeys[key];
          const help = SYSCTL_HELP[key];
          const entry = status.mptcpSysctls.find((s) => s.name === name);
          const known = base.sysctls?.[key] !== undefined;
          const raw = rawSysctl(status, name);
          const reason = !entry ? 'not present on this kernel' : !entry.writable ? 'read-only here' : null;
          const id = testIdOf(key);
          const value = draft.sysctls[key];
          const range = RANGE[key];
          return (
            <Field
              key={key}
              label={help.label}
              knob={name}
              htmlFor={id}
              changed={desired.sysctls?.[key] !== undefined}
              errors={errorsAt(errors, `sysctls.${key}`)}
              explain={
                <>
                  {help.explain}
                  {help.range ? ` Range ${help.range}.` : ''}
                  {reason ? ` Unavailable: ${reason}.` : ''}
                  {!known && raw !== null ? (
                    <>
                      {' '}
                      Current value, not understood: <code>{raw}</code>.
                    </>
                  ) : null}
                </>
              }
            >
              {BOOLEAN_SYSCTLS.has(key) ? (
                <label className="check">
                  <input
                    id={id}
                    data-testid={id}
                    type="checkbox"
                    checked={value === '1'}
                    disabled={disabled || reason !== null}
                    onChange={(e) =>
                      edit((d) => ({ ...d, sysctls: { ...d.sysctls, [key]: e.target.checked ? '1' : '0' } }))
                    }
                  />
                  {value === '' ? <span className="muted">unknown</span> : value === '1' ? 'on' : 'off'}
                </label>
              ) : (
                <input
                  id={id}
                  data-testid={id}
                  type="number"
                  className="num-input wide"
                  min={range?.[0]}
                  max={range?.[1]}
                  placeholder={raw ?? ''}
                  value={value}
                  disabled={disabled || reason !== null}
                  onChange={(e) => edit((d) => ({ ...d, sysctls: { ...d.sysctls, [key]: e.target.value } }))}
                />
              )}
            </Field>
          );
        })}
      </div>
    </section>
  );
}
