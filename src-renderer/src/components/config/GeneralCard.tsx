import { MAX_LIMIT } from '../../state/config-draft';
import { errorsAt } from '../../state/config-draft';
import { Field, FieldErrorList, NameSelect, rawSysctl, type CardProps } from './Field';
import { CoupledCcPanel } from './CoupledCcPanel';
import { useCc } from '../../state/stores';

/** Names the seed's (out-of-tree) MPTCP kernel had that upstream Linux does not offer as such. */
const LEGACY_PATH_MANAGERS: Record<string, string> = {
  fullmesh: 'out-of-tree kernel only; upstream: the fullmesh endpoint flag',
  ndiffports: 'out-of-tree kernel only; upstream: the userspace path manager',
};

function readOnlyReason(status: CardProps['status'], name: string): string | null {
  const entry = status.mptcpSysctls.find((s) => s.name === name);
  if (entry && !entry.writable) return `${name} is read-only here`;
  if (status.readOnlySysctls.includes(name)) return `${name} is read-only in this network namespace`;
  return null;
}

function MptcpSwitch({ draft, status, desired, edit, disabled }: CardProps) {
  const ro = readOnlyReason(status, 'net.mptcp.enabled');
  return (
    <Field
      label="MPTCP enabled"
      knob="net.mptcp.enabled"
      htmlFor="cfg-enabled"
      changed={desired.enabled !== undefined}
      explain={
        <>
          When off, applications asking for MPTCP cannot create MPTCP sockets (socket() fails with
          ENOPROTOOPT); the setting is per network namespace.{ro ? ` ${ro}.` : ''}
        </>
      }
    >
      <label className="check">
        <input
          id="cfg-enabled"
          type="checkbox"
          data-testid="cfg-enabled"
          checked={draft.enabled ?? false}
          disabled={disabled || ro !== null}
          onChange={(e) => edit((d) => ({ ...d, enabled: e.target.checked }))}
        />
        {draft.enabled === null ? (
          <span className="muted">
            current value unknown: {rawSysctl(status, 'net.mptcp.enabled') ?? 'unreadable'}
          </span>
        ) : draft.enabled ? (
          'enabled'
        ) : (
          'disabled'
        )}
      </label>
    </Field>
  );
}

function Algorithms({ draft, status, desired, edit, disabled }: CardProps) {
  const cc = status.congestionControl;
  const coupled = useCc((s) => s.list) ?? [];
  const ccDisabled: Record<string, string> = {};
  if (status.inInitNetns === false) {
    for (const name of cc.available) {
      if (name !== cc.default && !cc.allowed.includes(name))
        ccDisabled[name] = 'not allowed as a default outside the host namespace';
    }
  }
  const ccOptions = cc.available.filter((n) => ccDisabled[n] === undefined);
  // A coupled CC that is not registered yet: selectable when loadable (the plan registers it
  // first), otherwise listed with the reason.
  for (const c of coupled) {
    if (cc.available.includes(c.kernelName)) continue;
    if (c.available) ccOptions.push(c.kernelName);
    // The reason itself is shown once, in the coupled congestion control list below.
    else ccDisabled[c.kernelName] = 'cannot be loaded here: see below';
  }
  const onlyDefault = status.availableSchedulers.length === 1 && status.availableSchedulers[0] === 'default';
  return (
    <>
      <Field
        label="Path manager"
        knob="net.mptcp.path_manager"
        htmlFor="cfg-pm"
        changed={desired.pathManager !== undefined}
        explain={
          <>
            Decides when extra subflows are opened and which addresses are announced. <code>kernel</code>{' '}
            follows the endpoints and limits below; <code>userspace</code> leaves it to a daemon such as
            mptcpd (the endpoints and limits then do not apply). New sockets only.
          </>
        }
      >
        <NameSelect
          id="cfg-pm"
          testId="cfg-pm"
          value={draft.pathManager}
          options={status.availablePathManagers}
          disabledOptions={Object.fromEntries(
            Object.entries(LEGACY_PATH_MANAGERS).filter(([n]) => !status.availablePathManagers.includes(n)),
          )}
          onChange={(v) => edit((d) => ({ ...d, pathManager: v }))}
          disabled={disabled || readOnlyReason(status, 'net.mptcp.path_manager') !== null}
        />
      </Field>
      <Field
        label="Packet scheduler"
        knob="net.mptcp.scheduler"
        htmlFor="cfg-scheduler"
        changed={desired.scheduler !== undefined}
        explain={
          <>
            Picks the subflow for each packet. <code>default</code> sends on the open subflow with the lowest
            RTT, which measurements show to be the best general compromise.
            {onlyDefault
              ? ' Only default exists on this kernel; others appear when a BPF scheduler is loaded.'
              : ' Other names here are BPF schedulers loaded on this kernel.'}
          </>
        }
      >
        <NameSelect
          id="cfg-scheduler"
          testId="cfg-scheduler"
          value={draft.scheduler}
          options={status.availableSchedulers}
          onChange={(v) => edit((d) => ({ ...d, scheduler: v }))}
          disabled={disabled || readOnlyReason(status, 'net.mptcp.scheduler') !== null}
        />
      </Field>
      <Field
        label="Congestion control (default)"
        knob="net.ipv4.tcp_congestion_control"
        htmlFor="cfg-cc"
        changed={desired.congestionControl !== undefined}
        explain={
          <>
            The default for new TCP sockets, MPTCP subflows included. Upstream controllers (cubic, reno, bbr)
            run uncoupled on each subflow; the coupled LIA (RFC 6356), OLIA and Balia are not in upstream
            Linux and run here as BPF programs: choosing one that is not loaded makes the plan register it
            first.
          </>
        }
      >
        <NameSelect
          id="cfg-cc"
          testId="cfg-cc"
          value={draft.congestionControl}
          options={ccOptions}
          disabledOptions={ccDisabled}
          onChange={(v) => edit((d) => ({ ...d, congestionControl: v }))}
          disabled={disabled || status.readOnlySysctls.includes('net.ipv4.tcp_congestion_control')}
        />
      </Field>
      <CoupledCcPanel disabled={disabled} />
    </>
  );
}

export function GeneralCard(props: CardProps) {
  return (
    <section className="card" data-testid="cfg-general" aria-labelledby="cfg-general-heading">
      <header className="card-header">
        <h2 id="cfg-general-heading">MPTCP and algorithms</h2>
      </header>
      <div className="fields">
        <MptcpSwitch {...props} />
        <Algorithms {...props} />
      </div>
    </section>
  );
}

export function LimitsCard({ draft, base, errors, desired, edit, disabled }: CardProps) {
  const unreadable = base.limits === undefined;
  const input = (key: 'subflows' | 'addAddrAccepted', testId: string) => (
    <input
      id={testId}
      data-testid={testId}
      type="number"
      min={0}
      max={MAX_LIMIT}
      className="num-input"
      value={draft.limits[key]}
      disabled={disabled || unreadable}
      aria-invalid={errorsAt(errors, `limits.${key}`).length > 0}
      onChange={(e) => edit((d) => ({ ...d, limits: { ...d.limits, [key]: e.target.value } }))}
    />
  );
  return (
    <section className="card" data-testid="cfg-limits" aria-labelledby="cfg-limits-heading">
      <header className="card-header">
        <h2 id="cfg-limits-heading">Path manager limits</h2>
      </header>
      {unreadable ? (
        <p className="muted">The in-kernel path manager limits could not be read on this kernel.</p>
      ) : null}
      <div className="fields">
        <Field
          label="Extra subflows per connection"
          knob="subflows"
          htmlFor="cfg-limit-subflows"
          changed={desired.limits !== undefined && desired.limits.subflows !== base.limits?.subflows}
          errors={errorsAt(errors, 'limits.subflows')}
          explain={`Subflows the in-kernel path manager may add to a connection, and joins a server accepts; 0..${MAX_LIMIT}.`}
        >
          {input('subflows', 'cfg-limit-subflows')}
        </Field>
        <Field
          label="ADD_ADDR accepted per connection"
          knob="add_addr_accepted"
          htmlFor="cfg-limit-addaddr"
          changed={
            desired.limits !== undefined && desired.limits.addAddrAccepted !== base.limits?.addAddrAccepted
          }
          errors={errorsAt(errors, 'limits.addAddrAccepted')}
          explain={`Addresses announced by the peer that are used to open subflows; 0 ignores them (a new namespace starts at 0); 0..${MAX_LIMIT}.`}
        >
          {input('addAddrAccepted', 'cfg-limit-addaddr')}
        </Field>
      </div>
      <FieldErrorList errors={errors.limits ?? []} />
    </section>
  );
}
