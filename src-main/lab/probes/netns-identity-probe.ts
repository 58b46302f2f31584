/**
 * Prints the identity of this process's network namespace (netns-identity.ts) as one JSON line.
 * Tests bundle it (lab.ts bundleProbe) and run it under `ip netns exec NS`, since a netlink socket
 * sees the namespace of the process that opens it.
 */
import { readNetnsIdentity } from '../../engine/netns-identity';

readNetnsIdentity().then(
  (id) => process.stdout.write(`${JSON.stringify(id)}\n`),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
