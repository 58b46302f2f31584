import { SOURCE_TABLE_MAX, SOURCE_TABLE_MIN } from '../../../../shared/config';
import {
  errorsAt,
  newSourceRuleDraft,
  type ConfigDraft,
  type SourceRuleDraft,
} from '../../state/config-draft';
import { Chip } from '../Badge';
import { Field, FieldErrorList, type CardProps } from './Field';

const RP_FILTER_TEXT: Record<string, string> = {
  '0': '0 off',
  '1': '1 strict',
  '2': '2 loose',
};

function setRule(d: ConfigDraft, index: number, patch: Partial<SourceRuleDraft>): ConfigDraft {
  return {
    ...d,
    routing: {
      ...d.routing,
      sourceRules: d.routing.sourceRules.map((r, i) => (i === index ? { ...r, ...patch } : r)),
    },
  };
}

/**
 * Source-based routing and rp_filter (docs/configuration.md, "Source routing"): a rule per local
 * address sends its subflows out of their own interface. The plan shows the `ip rule` / `ip route`
 * steps, and their effect on live subflows, before anything changes.
 */
export function RoutingCard({ draft, base, interfaces, errors, desired, edit, disabled }: CardProps) {
  const ifs = interfaces.filter((i) => !i.loopback);
  const ifnames = ifs.map((i) => i.name);
  const readable = base.routing !== undefined;
  const rules = draft.routing.sourceRules;
  const changed = desired.routing?.sourceRules !== undefined || desired.routing?.sourcePolicy !== undefined;
  const addressesOf = (ifname: string): string[] =>
    ifs
      .find((i) => i.name === ifname)
      ?.addresses.filter((a) => a.scope === 0)
      .map((a) => a.address) ?? [];
  const covered = new Set(rules.map((r) => r.address));
  // Interfaces that are down cannot take routes (the plan refuses them).
  const missing = ifs
    .filter((i) => i.adminUp)
    .flatMap((i) =>
      i.addresses
        .filter((a) => a.scope === 0 && !covered.has(a.address))
        .map((a) => ({ address: a.address, ifname: i.name })),
    );
  return (
    <section className="card" data-testid="cfg-routing" aria-labelledby="cfg-routing-heading">
      <header className="card-header">
        <h2 id="cfg-routing-heading">
          Source routing {changed ? <span className="changed-mark">changed</span> : null}
        </h2>
        <span className="muted">ip rule / ip route / rp_filter</span>
      </header>
      <p className="hint">
        A subflow from an address helps only if its packets leave by that address’s interface; the main
        routing table has one default route, so a multihomed host needs a rule per address:{' '}
        <code>ip rule add from ADDR lookup T</code> with the route to its network and a default route through
        its gateway in table T ({SOURCE_TABLE_MIN}..{SOURCE_TABLE_MAX}). MPTCP Studio marks what it creates (
        <code>proto 77</code>) and never changes other rules or routes. Existing subflows from an address may
        re-route; new ones use the rule.
      </p>
      {!readable ? (
        <p className="empty" data-testid="cfg-routing-unreadable">
          The routing rules cannot be read here.
        </p>
      ) : draft.routing.sourcePolicy ? (
        <div className="policy" data-testid="cfg-source-policy">
          <p>Source rules come from per-interface rules, expanded against the live addresses when planned:</p>
          <ul className="plain">
            {draft.routing.sourcePolicy.map((p, i) => (
              <li key={i}>
                every global address on interfaces matching <code>{p.match}</code> ({p.families.join(', ')})
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
                routing: {
                  ...d.routing,
                  sourcePolicy: null,
                  sourceRules: (base.routing?.sourceRules ?? []).map((r) =>
                    newSourceRuleDraft({
                      address: r.address,
                      ifname: r.ifname,
                      table: r.table === undefined ? '' : String(r.table),
                      gateway: r.gateway ?? '',
                    }),
                  ),
                },
              }))
            }
          >
            Edit source rules one by one instead
          </button>
        </div>
      ) : (
        <>
          <table className="table compact routing-editor">
            <thead>
              <tr>
                <th scope="col">From address</th>
                <th scope="col">Leaves by</th>
                <th scope="col">Gateway</th>
                <th scope="col">Table</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {rules.map((row, i) => {
                const rowErrors = errorsAt(errors, `routing.sourceRules.${i}`);
                const options =
                  row.ifname !== '' && !ifnames.includes(row.ifname) ? [...ifnames, row.ifname] : ifnames;
                return (
                  <tr
                    key={row.key}
                    data-testid="cfg-source-rule"
                    className={rowErrors.length ? 'row-invalid' : undefined}
                  >
                    <td>
                      <input
                        data-testid="source-rule-address"
                        aria-label={`source rule ${i + 1} address`}
                        className="mono addr-input"
                        list="cfg-local-addresses"
                        placeholder="10.0.0.2"
                        value={row.address}
                        disabled={disabled}
                        aria-invalid={errorsAt(errors, `routing.sourceRules.${i}.address`).length > 0}
                        onChange={(e) => edit((d) => setRule(d, i, { address: e.target.value }))}
                      />
                      {rowErrors.length > 0 ? (
                        <FieldErrorList errors={rowErrors} testId="source-rule-errors" />
                      ) : null}
                    </td>
                    <td>
                      <select
                        data-testid="source-rule-ifname"
                        aria-label={`source rule ${i + 1} interface`}
                        value={row.ifname}
                        disabled={disabled}
                        onChange={(e) => {
                          const ifname = e.target.value;
                          const first = addressesOf(ifname)[0];
                          edit((d) =>
                            setRule(d, i, {
                              ifname,
                              address: addressesOf(ifname).includes(row.address)
                                ? row.address
                                : (first ?? ''),
                            }),
                          );
                        }}
                      >
                        <option value="">choose</option>
                        {options.map((n) => (
                          <option key={n} value={n}>
                            {ifnames.includes(n) ? n : `${n} (missing)`}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <input
                        data-testid="source-rule-gateway"
                        aria-label={`source rule ${i + 1} gateway`}
                        className="mono addr-input"
                        placeholder="main table’s"
                        value={row.gateway}
                        disabled={disabled}
                        onChange={(e) => edit((d) => setRule(d, i, { gateway: e.target.value }))}
                      />
                    </td>
                    <td>
                      <input
                        data-testid="source-rule-table"
                        aria-label={`source rule ${i + 1} table`}
                        className="mono port-input"
                        type="number"
                        min={SOURCE_TABLE_MIN}
                        max={SOURCE_TABLE_MAX}
                        placeholder="auto"
                        value={row.table}
                        disabled={disabled}
                        onChange={(e) => edit((d) => setRule(d, i, { table: e.target.value }))}
                      />
                    </td>
                    <td>
                      <button
                        type="button"
                        className="button small"
                        aria-label={`remove source rule ${i + 1}`}
                        disabled={disabled}
                        onClick={() =>
                          edit((d) => ({
                            ...d,
                            routing: {
                              ...d.routing,
                              sourceRules: d.routing.sourceRules.filter((_, j) => j !== i),
                            },
                          }))
                        }
                      >
                        Remove
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {rules.length === 0 ? <p className="empty">No source rules.</p> : null}
          <button
            type="button"
            className="button"
            data-testid="cfg-source-rule-add"
            disabled={disabled}
            onClick={() =>
              edit((d) => ({
                ...d,
                routing: { ...d.routing, sourceRules: [...d.routing.sourceRules, newSourceRuleDraft()] },
              }))
            }
          >
            Add source rule
          </button>{' '}
          <button
            type="button"
            className="button"
            data-testid="cfg-source-rule-all"
            disabled={disabled || missing.length === 0}
            title="A rule for every global address that has none"
            onClick={() =>
              edit((d) => ({
                ...d,
                routing: {
                  ...d.routing,
                  sourceRules: [...d.routing.sourceRules, ...missing.map((m) => newSourceRuleDraft(m))],
                },
              }))
            }
          >
            One for every address
          </button>
        </>
      )}
      {readable ? (
        <div className="fields" data-testid="cfg-rp-filter">
          {Object.keys(draft.routing.rpFilter).map((name) => {
            const id = `cfg-rp-filter-${name}`;
            const value = draft.routing.rpFilter[name] ?? '';
            return (
              <Field
                key={name}
                label={
                  <>
                    rp_filter {name} {/[*?[]/.test(name) ? <Chip>glob</Chip> : null}
                  </>
                }
                knob={`net.ipv4.conf.${name}.rp_filter`}
                htmlFor={id}
                changed={desired.routing?.rpFilter?.[name] !== undefined}
                errors={errorsAt(errors, `routing.rpFilter.${name}`)}
                explain="Reverse-path filter (RFC 3704): strict drops packets arriving on this interface when the route back to their sender leaves by another one, which happens to subflows of a multihomed host; loose (2) only checks that a route exists."
              >
                <select
                  id={id}
                  data-testid={id}
                  value={value}
                  disabled={disabled}
                  onChange={(e) =>
                    edit((d) => ({
                      ...d,
                      routing: { ...d.routing, rpFilter: { ...d.routing.rpFilter, [name]: e.target.value } },
                    }))
                  }
                >
                  {['0', '1', '2'].map((v) => (
                    <option key={v} value={v}>
                      {RP_FILTER_TEXT[v]}
                    </option>
                  ))}
                </select>
              </Field>
            );
          })}
        </div>
      ) : null}
    </section>
  );
}
