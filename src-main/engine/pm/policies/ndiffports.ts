/**
 * ndiffports, client (not for production): `subflows` subflows over the initial address pair,
 * each from its own source port, to spread one connection over ECMP paths. Each SUBFLOW_CREATE
 * names the initial local address without an id or a port, so the kernel reuses id 0 and picks
 * an ephemeral port (docs/kernel-interfaces.md, "The userspace path manager"): explicit
 * (id, port) pairs would need ports free towards every peer and would use up the 255 local ids.
 * Each subflow can still be destroyed on its own, since SUBFLOW_DESTROY selects by ports.
 * Interfaces are not followed: the pair is the connection's own (its address leaving cancels the
 * retries waiting on it; its coming back retries at once).
 */
import type { PmActions, PmConnection, PmPolicy } from '../policy';

export function ndiffports(subflows: number): PmPolicy {
  return {
    name: 'ndiffports',

    connectionEstablished(c: PmConnection, pm: PmActions): void {
      if (c.serverSide) return;
      pm.createSubflows(c, [{ local: c.local, remote: c.remote, remotePort: c.remotePort, count: subflows }]);
    },

    newAddress(c, _remoteId, pm): void {
      pm.reconcile(c);
    },

    subflowClosed(c, pair, why, pm): void {
      if (!c.serverSide) pm.retryLater(c, pair, why);
    },

    newLocalAddresses(c, addresses, pm): void {
      if (c.serverSide || !addresses.includes(c.local)) return;
      pm.forgetRetries(c, c.local);
      pm.reconcile(c);
    },

    deleteLocalAddresses(c, addresses, pm): void {
      // The pair is the connection's own: while its address is away, retries cannot succeed.
      if (addresses.includes(c.local)) pm.cancelRetries(c, c.local, `${c.local} went away`);
    },
  };
}
