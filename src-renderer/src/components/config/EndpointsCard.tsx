import type { EndpointFlagsInput } from '../../../../shared/config';
import {
  errorsAt,
  FLAG_NAMES,
  MAX_ENDPOINTS,
  newEndpointDraft,
  type ConfigDraft,
  type EndpointDraft,
  type FlagName,
} from '../../state/config-draft';
import { Chip } from '../Badge';
import { FieldErrorList, type CardProps } from './Field';

/** The endpoint flags (include/uapi/linux/mptcp.h MPTCP_PM_ADDR_FLAG_*), in a sentence each. */
const FLAG_HELP: Record<FlagName, string> = {
  signal: 'announce this address to peers (ADD_ADDR)',
  subflow: 'open a subflow from this address to the peer’s initial address',
  backup: 'subflows on this address are backups, used when others fail',
  fullmesh: 'open a subflow from this address to every known peer address (N×M)',
  laminar: 'when the peer announces an address, open a subflow to it from this address (Linux 6.18+)',
};

function setRow(d: ConfigDraft, index: number, fn: (row: EndpointDraft) => EndpointDraft): ConfigDraft {
  return { ...d, endpoints: d.endpoints.map((r, i) => (i === index ? fn(r) : r)) };
}

function EndpointRow({
  row,
  index,
  ifnames,
  errors,
  edit,
  disabled,
}: {
  row: EndpointDraft;
  index: number;
  ifnames: string[];
  errors: CardProps['errors'];
  edit: CardProps['edit'];
  disabled: boolean;
}) {
  const rowErrors = errorsAt(errors, `endpoints.${index}`);
  const update = (patch: Partial<EndpointDraft>) =>
    edit((d) => setRow(d, index, (r) => ({ ...r, ...patch })));
  const setFlag = (flag: keyof EndpointFlagsInput, on: boolean) =>
    edit((d) => setRow(d, index, (r) => ({ ...r, flags: { ...r.flags, [flag]: on } })));
  const options = row.ifname !== '' && !ifnames.includes(row.ifname) ? [...ifnames, row.ifname] : ifnames;
  return (
    <>
      <tr
        data-testid="cfg-endpoint-row"
        data-index={index}
        className={rowErrors.length ? 'row-invalid' : undefined}
      >
        <td className="mono muted">{row.id ?? 'new'}</td>
        <td>
          <input
            data-testid="endpoint-address"
            aria-label={`endpoint ${index + 1} address`}
            className="mono addr-input"
            list="cfg-local-addresses"
            placeholder="10.0.0.2"
            value={row.address}
            disabled={disabled}
            aria-invalid={errorsAt(errors, `endpoints.${index}.address`).length > 0}
            onChange={(e) => update({ address: e.target.value })}
          />
        </td>
        <td>
          <input
            data-testid="endpoint-port"
            aria-label={`endpoint ${index + 1} port`}
            className="mono port-input"
            type="number"
            min={1}
            max={65535}
            placeholder="none"
            value={row.port}
            disabled={disabled}
            aria-invalid={errorsAt(errors, `endpoints.${index}.port`).length > 0}
            onChange={(e) => update({ port: e.target.value })}
          />
        </td>
        <td>
          <select
            data-testid="endpoint-ifname"
            aria-label={`endpoint ${index + 1} interface`}
            value={row.ifname}
            disabled={disabled}
            onChange={(e) => update({ ifname: e.target.value })}
          >
            <option value="">any</option>
            {options.map((n) => (
              <option key={n} value={n}>
                {ifnames.includes(n) ? n : `${n} (missing)`}
              </option>
            ))}
          </select>
        </td>
        <td>
          <span
            className="flag-checks"
            aria-invalid={errorsAt(errors, `endpoints.${index}.flags`).length > 0}
          >
            {FLAG_NAMES.map((f) => (
              <label key={f} className="check" title={FLAG_HELP[f]}>
                <input
                  type="checkbox"
                  data-testid={`endpoint-flag-${f}`}
                  checked={row.flags[f]}
                  disabled={disabled}
                  onChange={(e) => setFlag(f, e.target.checked)}
                />
                {f}
              </label>
            ))}
          </span>
        </td>
        <td>
          <button
            type="button"
            className="button small"
            aria-label={`remove endpoint ${index + 1}`}
            disabled={disabled}
            onClick={() => edit((d) => ({ ...d, endpoints: d.endpoints.filter((_, i) => i !== index) }))}
          >
            Remove
          </button>
        </td>
      </tr>
      {rowErrors.length > 0 ? (
        <tr className="row-errors">
          <td />
          <td colSpan={5}>
            <FieldErrorList errors={rowErrors} testId="endpoint-errors" />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function PolicyView({
  policy,
  edit,
  base,
  disabled,
}: Pick<CardProps, 'edit' | 'base' | 'disabled'> & {
  policy: NonNullable<ConfigDraft['endpointPolicy']>;
}) {
  return (
    <div className="policy" data-testid="cfg-endpoint-policy">
      <p>
        The desired endpoints come from per-interface rules; they are expanded against the live addresses when
        planned:
      </p>
      <ul className="plain">
        {policy.map((p, i) => (
          <li key={i}>
            interfaces matching <code>{p.match}</code> ({p.families.join(', ')}):{' '}
            {FLAG_NAMES.filter((f) => p.flags[f]).map((f) => (
              <Chip key={f}>{f}</Chip>
            ))}
            {p.port != null ? <Chip>port {p.port}</Chip> : null}
          </li>
        ))}
      </ul>
      <button
        type="button"
        className="button"
        disabled={disabled}
        onClick={() =>
          edit((d) => ({
            ...d,
            endpointPolicy: null,
            endpoints: (base.endpoints ?? []).map((e) =>
              newEndpointDraft({
                id: e.id,
                address: e.address,
                port: e.port == null ? '' : String(e.port),
                ifname: e.ifname ?? '',
                flags: { ...e.flags },
              }),
            ),
          }))
        }
      >
        Edit endpoints one by one instead
      </button>
    </div>
  );
}

export function EndpointsCard({
  draft,
  base,
  status,
  interfaces,
  errors,
  desired,
  edit,
  disabled,
}: CardProps) {
  const ifnames = interfaces.filter((i) => !i.loopback).map((i) => i.name);
  const addresses = interfaces
    .filter((i) => !i.loopback)
    .flatMap((i) =>
      i.addresses.filter((a) => a.scope === 0).map((a) => ({ address: a.address, ifname: i.name })),
    );
  const full = draft.endpoints.length >= MAX_ENDPOINTS;
  const changed = desired.endpoints !== undefined || desired.endpointPolicy !== undefined;
  return (
    <section className="card" data-testid="cfg-endpoints" aria-labelledby="cfg-endpoints-heading">
      <header className="card-header">
        <h2 id="cfg-endpoints-heading">
          Endpoints {changed ? <span className="changed-mark">changed</span> : null}
        </h2>
        <span className="muted">
          {draft.endpoints.length} of {MAX_ENDPOINTS}
        </span>
      </header>
      <p className="hint">
        Local addresses the in-kernel path manager uses for extra subflows and announcements; this list
        replaces the kernel’s. Rules (iproute2): <strong>signal and fullmesh cannot be combined</strong>; a{' '}
        <strong>port needs signal and not subflow</strong>; at most {MAX_ENDPOINTS} endpoints.
        {status.pathManager === 'userspace'
          ? ' The userspace path manager is selected: endpoints do not apply.'
          : ''}
      </p>
      <datalist id="cfg-local-addresses">
        {addresses.map((a) => (
          <option key={a.address} value={a.address}>
            {a.ifname}
          </option>
        ))}
      </datalist>
      {draft.endpointPolicy ? (
        <PolicyView policy={draft.endpointPolicy} edit={edit} base={base} disabled={disabled} />
      ) : (
        <>
          <table className="table compact endpoints-editor">
            <thead>
              <tr>
                <th scope="col">id</th>
                <th scope="col">Address</th>
                <th scope="col">Port</th>
                <th scope="col">Interface</th>
                <th scope="col">Flags</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {draft.endpoints.map((row, i) => (
                <EndpointRow
                  key={row.key}
                  row={row}
                  index={i}
                  ifnames={ifnames}
                  errors={errors}
                  edit={edit}
                  disabled={disabled}
                />
              ))}
            </tbody>
          </table>
          {draft.endpoints.length === 0 ? <p className="empty">No endpoints.</p> : null}
          <button
            type="button"
            className="button"
            data-testid="cfg-endpoint-add"
            disabled={disabled || full}
            title={full ? `The in-kernel path manager holds at most ${MAX_ENDPOINTS} endpoints` : undefined}
            onClick={() =>
              edit((d) => ({
                ...d,
                endpoints: [
                  ...d.endpoints,
                  newEndpointDraft({
                    flags: { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false },
                  }),
                ],
              }))
            }
          >
            Add endpoint
          </button>
          {full ? <span className="muted tag">full: at most {MAX_ENDPOINTS}</span> : null}
          <FieldErrorList errors={errors.endpoints ?? []} />
        </>
      )}
    </section>
  );
}
