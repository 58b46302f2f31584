/**
 * The server side of ndiffports: nothing to do. The client opens the subflows; the server
 * accepts them (with the userspace PM, beyond the in-kernel limit of 8) and announces nothing.
 */
import type { PmPolicy } from '../policy';

export const passive: PmPolicy = {
  name: 'passive',
  connectionEstablished(): void {},
  newAddress(): void {},
  subflowClosed(): void {},
  newLocalAddresses(): void {},
  deleteLocalAddresses(): void {},
};
