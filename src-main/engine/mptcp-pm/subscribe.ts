/**
 * Joining `mptcp_pm_events` (uapi: linux/mptcp.h MPTCP_PM_EV_GRP_NAME), the multicast group of
 * the `mptcp_pm` family that carries every path-manager event of this network namespace. Joining
 * needs CAP_NET_ADMIN (docs/kernel-interfaces.md, "Privileges").
 */
import { ApiFailure } from '../../../shared/result';
import { NetlinkEventReader, type EventReaderOptions } from '../netlink/event-reader';
import { MPTCP_PM_EV_GRP_NAME } from '../uapi/mptcp';
import { NETLINK_GENERIC } from '../uapi/netlink';
import { decodeMptcpEvent, type PmEvent } from './events';
import type { MptcpPmFamily } from './family';

/** An event and when the events reader read it (ms since the epoch). */
export type PmEventListener = (ev: PmEvent, receivedAtMs: number) => void;

/** The id of the family's events group; UNSUPPORTED when this kernel has none. */
function eventsGroup(fam: MptcpPmFamily): number {
  const group = fam.groups.get(MPTCP_PM_EV_GRP_NAME);
  if (group === undefined) {
    throw new ApiFailure(
      'UNSUPPORTED',
      `This kernel's mptcp_pm family has no "${MPTCP_PM_EV_GRP_NAME}" multicast group: MPTCP events cannot be watched.`,
    );
  }
  return group;
}

/** A refused membership as the API error users see (EPERM explained), else `e` itself. */
function membershipError(e: unknown): unknown {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (code === 'EPERM' || /EPERM|not permitted/i.test(msg)) {
    return new ApiFailure(
      'EPERM',
      'Watching MPTCP events needs CAP_NET_ADMIN: joining the mptcp_pm_events group was refused (run as root or grant the capability).',
      'EPERM',
    );
  }
  return e;
}

/**
 * Joins `mptcp_pm_events` on a NetlinkEventReader of its own (a reader that keeps up with bursts,
 * netlink/event-reader.ts) in this process's netns (events are per netns), and calls onEvent for
 * each event. The membership ends with reader.close().
 */
export async function openMptcpEventReader(
  fam: MptcpPmFamily,
  onEvent: PmEventListener,
  opts: EventReaderOptions = {},
): Promise<NetlinkEventReader> {
  const group = eventsGroup(fam);
  let reader: NetlinkEventReader;
  try {
    reader = await NetlinkEventReader.open(NETLINK_GENERIC, [group], opts);
  } catch (e) {
    throw membershipError(e);
  }
  reader.onNotification((buf, type, off, len, atMs) => {
    if (type !== fam.familyId) return;
    const ev = decodeMptcpEvent(buf, off, len);
    if (ev) onEvent(ev, atMs);
  });
  return reader;
}
