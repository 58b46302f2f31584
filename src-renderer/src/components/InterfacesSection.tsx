import type { Endpoint, EndpointFlags, InterfaceAddress, NetInterface } from '../../../shared/types';
import { Badge, Chip } from './Badge';

const FLAG_ORDER: readonly (keyof EndpointFlags)[] = [
  'signal',
  'subflow',
  'backup',
  'fullmesh',
  'laminar',
  'implicit',
];

const SCOPES: Record<number, string> = { 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

/** Addresses compare as the engine prints them, ignoring IPv6 hex case. */
function addrKey(address: string): string {
  return address.toLowerCase();
}

function EndpointChips({ endpoint, showDevice }: { endpoint: Endpoint; showDevice: boolean }) {
  const flags = FLAG_ORDER.filter((f) => endpoint.flags[f]);
  return (
    <span
      className="endpoint"
      data-testid={`endpoint-${endpoint.id}`}
      title={`raw flags 0x${endpoint.rawFlags.toString(16)}`}
    >
      <Chip active>endpoint {endpoint.id}</Chip>
      {flags.length === 0 ? (
        <span className="muted">no flags</span>
      ) : (
        flags.map((f) => <Chip key={f}>{f}</Chip>)
      )}
      {endpoint.port !== null ? <Chip title="MPTCP_PM_ADDR_ATTR_PORT">port {endpoint.port}</Chip> : null}
      {showDevice && endpoint.ifname !== null ? <Chip>dev {endpoint.ifname}</Chip> : null}
    </span>
  );
}

function AddressLine({ address, endpoints }: { address: InterfaceAddress; endpoints: readonly Endpoint[] }) {
  const scope = SCOPES[address.scope];
  return (
    <li className="address-line">
      <span className="mono address">
        {address.address}/{address.prefixLen}
      </span>
      {scope ? <span className="muted scope">{scope}</span> : null}
      {endpoints.length === 0 ? (
        <span className="muted no-endpoint">no endpoint</span>
      ) : (
        endpoints.map((e) => <EndpointChips key={e.id} endpoint={e} showDevice={false} />)
      )}
    </li>
  );
}

function StateBadge({ iface }: { iface: NetInterface }) {
  const title = `operstate ${iface.operState} (${iface.operStateRaw}), admin ${iface.adminUp ? 'up' : 'down'}, ${
    iface.running ? 'running' : 'not running'
  }`;
  if (iface.usable) {
    return (
      <Badge tone="ok" title={title}>
        up
      </Badge>
    );
  }
  const label = !iface.adminUp ? 'down' : iface.operState === 'up' ? 'not running' : iface.operState;
  return (
    <Badge tone="off" title={title}>
      {label}
    </Badge>
  );
}

export function InterfacesSection({
  interfaces,
  endpoints,
}: {
  interfaces: readonly NetInterface[];
  endpoints: readonly Endpoint[];
}) {
  const byAddress = new Map<string, Endpoint[]>();
  for (const e of endpoints) {
    const key = addrKey(e.address);
    byAddress.set(key, [...(byAddress.get(key) ?? []), e]);
  }
  const onInterfaces = new Set(interfaces.flatMap((i) => i.addresses.map((a) => addrKey(a.address))));
  const homeless = endpoints.filter((e) => !onInterfaces.has(addrKey(e.address)));

  return (
    <section className="card" aria-labelledby="interfaces-heading">
      <header className="card-header">
        <h2 id="interfaces-heading">Interfaces and endpoints</h2>
        <span className="muted">
          {interfaces.length} interface{interfaces.length === 1 ? '' : 's'}, {endpoints.length} endpoint
          {endpoints.length === 1 ? '' : 's'}
        </span>
      </header>
      {interfaces.length === 0 ? (
        <p className="muted">No interfaces reported.</p>
      ) : (
        <table className="table" data-testid="interfaces-table">
          <thead>
            <tr>
              <th scope="col">Interface</th>
              <th scope="col">State</th>
              <th scope="col" className="num">
                MTU
              </th>
              <th scope="col">Addresses and MPTCP endpoints</th>
            </tr>
          </thead>
          <tbody>
            {interfaces.map((iface) => (
              <tr key={iface.index} data-testid={`interface-row-${iface.name}`}>
                <td>
                  <span className="mono strong">{iface.name}</span>
                  {iface.loopback ? <span className="muted tag">loopback</span> : null}
                </td>
                <td>
                  <StateBadge iface={iface} />
                </td>
                <td className="num">{iface.mtuBytes}</td>
                <td>
                  {iface.addresses.length === 0 ? (
                    <span className="muted">no addresses</span>
                  ) : (
                    <ul className="address-list">
                      {iface.addresses.map((a) => (
                        <AddressLine
                          key={`${a.address}/${a.prefixLen}`}
                          address={a}
                          endpoints={byAddress.get(addrKey(a.address)) ?? []}
                        />
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {homeless.length > 0 ? (
        <div className="subsection" data-testid="endpoints-not-on-interface">
          <h3>Endpoints not on any interface</h3>
          <p className="hint">
            The kernel has these endpoints, but no interface carries their address; they are not used until
            one does.
          </p>
          <ul className="address-list">
            {homeless.map((e) => (
              <li key={e.id} className="address-line">
                <span className="mono address">{e.address}</span>
                <span className="muted">not on any interface</span>
                <EndpointChips endpoint={e} showDevice />
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}
