/**
 * fullmesh, client: a subflow from every usable local address to every known peer address (N×M),
 * up to the per-connection cap, following local addresses as they come and go; subflows that
 * close are recreated. Connections the peer opened are left alone: their peer may not accept
 * joins from us (docs/path-manager.md).
 */
import type { PmActions, PmConnection, PmPolicy, WantedPair } from '../policy';

export const fullmeshClient: PmPolicy = {
  name: 'fullmesh-client',

  connectionEstablished(c: PmConnection, pm: PmActions): void {
    if (c.serverSide) return;
    const locals = pm.usableAddresses(c).map((a) => a.address);
    // The initial address first, so a cap keeps the pairs that carry the connection already.
    locals.sort((x, y) => (x === c.local ? -1 : y === c.local ? 1 : 0));
    const remotes = [...c.remotes.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
    const wanted: WantedPair[] = [];
    for (const local of locals) {
      for (const r of remotes) wanted.push({ local, remote: r.address, remotePort: r.port, count: 1 });
    }
    pm.createSubflows(c, wanted);
  },

  newAddress(c, _remoteId, pm): void {
    pm.reconcile(c);
  },

  subflowClosed(c, pair, why, pm): void {
    if (!c.serverSide) pm.retryLater(c, pair, why);
  },

  newLocalAddresses(c, addresses, pm): void {
    for (const a of addresses) pm.forgetRetries(c, a);
    if (!c.serverSide) pm.retryWaitingNow(c);
    pm.reconcile(c);
  },

  deleteLocalAddresses(c, addresses, pm): void {
    // A link that went down leaves its established subflows hanging otherwise.
    if (c.serverSide) return;
    for (const a of addresses) {
      pm.cancelRetries(c, a, `${a} went away`);
      pm.destroySubflowsFrom(c, a);
    }
  },
};
