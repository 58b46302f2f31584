/**
 * fullmesh, server: announce every other usable local address on each connection (ADD_ADDR,
 * RFC 8684 §3.4.1) and withdraw it when it leaves (RM_ADDR, RFC 8684 §3.4.2); never open a
 * subflow, since the client is often behind a NAT or a firewall. The client joins the announced
 * addresses.
 */
import type { PmActions, PmConnection, PmPolicy } from '../policy';

export const fullmeshServer: PmPolicy = {
  name: 'fullmesh-server',

  connectionEstablished(c: PmConnection, pm: PmActions): void {
    pm.announce(c, pm.usableAddresses(c));
  },

  newAddress(c, _remoteId, pm): void {
    pm.reconcile(c);
  },

  subflowClosed(): void {
    // The client recreates its subflows; a server never creates any.
  },

  newLocalAddresses(c, addresses, pm): void {
    for (const a of addresses) pm.forgetRetries(c, a);
    pm.reconcile(c);
  },

  deleteLocalAddresses(c, addresses, pm): void {
    for (const a of addresses) pm.withdrawAnnouncement(c, a);
  },
};
