/**
 * MPTCP path-manager events: the `mptcp_pm_events` multicast group of the generic netlink family
 * `mptcp_pm` (uapi: linux/mptcp_pm.h; reference §1.5). One message per event: nlmsg_type = family
 * id, genlmsghdr.cmd = event type, then MPTCP_ATTR_* TLVs.
 *
 * The decoder is pure (bytes → typed object) so it is unit-tested on recorded bytes and shared by
 * the userspace path manager and the live event timeline. Unknown event types and attributes are
 * kept raw (hex), never dropped: a newer kernel's additions stay visible.
 */
import { ApiFailure } from '../../../shared/result';
import type { MptcpEvent as SharedMptcpEvent } from '../../../shared/types';
import { forEachAttr, NETLINK_GENERIC } from '../netlink/core';
import { NetlinkEventReader, type EventReaderOptions } from '../netlink/event-reader';
import { GENL_HDRLEN, MPTCP_PM_EVENTS_GROUP, type MptcpPmFamily } from '../pm/mptcp-pm';
import { AF_INET, AF_INET6, formatAddress } from '../rtnl/address';

// enum mptcp_event_type
export const MPTCP_EVENT_CREATED = 1;
export const MPTCP_EVENT_ESTABLISHED = 2;
export const MPTCP_EVENT_CLOSED = 3;
export const MPTCP_EVENT_ANNOUNCED = 6;
export const MPTCP_EVENT_REMOVED = 7;
export const MPTCP_EVENT_SUB_ESTABLISHED = 10;
export const MPTCP_EVENT_SUB_CLOSED = 11;
export const MPTCP_EVENT_SUB_PRIORITY = 13;
export const MPTCP_EVENT_LISTENER_CREATED = 15;
export const MPTCP_EVENT_LISTENER_CLOSED = 16;

export const mptcpEventNames = {
  [MPTCP_EVENT_CREATED]: 'created',
  [MPTCP_EVENT_ESTABLISHED]: 'established',
  [MPTCP_EVENT_CLOSED]: 'closed',
  [MPTCP_EVENT_ANNOUNCED]: 'announced',
  [MPTCP_EVENT_REMOVED]: 'removed',
  [MPTCP_EVENT_SUB_ESTABLISHED]: 'sub_established',
  [MPTCP_EVENT_SUB_CLOSED]: 'sub_closed',
  [MPTCP_EVENT_SUB_PRIORITY]: 'sub_priority',
  [MPTCP_EVENT_LISTENER_CREATED]: 'listener_created',
  [MPTCP_EVENT_LISTENER_CLOSED]: 'listener_closed',
} as const;
export type MptcpEventKind = (typeof mptcpEventNames)[keyof typeof mptcpEventNames] | 'unknown';

// enum mptcp_event_attr
export const MPTCP_ATTR_TOKEN = 1;
export const MPTCP_ATTR_FAMILY = 2;
export const MPTCP_ATTR_LOC_ID = 3;
export const MPTCP_ATTR_REM_ID = 4;
export const MPTCP_ATTR_SADDR4 = 5;
export const MPTCP_ATTR_SADDR6 = 6;
export const MPTCP_ATTR_DADDR4 = 7;
export const MPTCP_ATTR_DADDR6 = 8;
export const MPTCP_ATTR_SPORT = 9;
export const MPTCP_ATTR_DPORT = 10;
export const MPTCP_ATTR_BACKUP = 11;
export const MPTCP_ATTR_ERROR = 12;
export const MPTCP_ATTR_FLAGS = 13;
export const MPTCP_ATTR_TIMEOUT = 14;
export const MPTCP_ATTR_IF_IDX = 15;
export const MPTCP_ATTR_RESET_REASON = 16;
export const MPTCP_ATTR_RESET_FLAGS = 17;
export const MPTCP_ATTR_SERVER_SIDE = 18;
const MPTCP_ATTR_MAX_KNOWN = MPTCP_ATTR_SERVER_SIDE;

/** MPTCP_ATTR_FLAGS bits (MPTCP_PM_EV_FLAG_*). */
export const MPTCP_PM_EV_FLAG_DENY_JOIN_ID0 = 1 << 0;
export const MPTCP_PM_EV_FLAG_SERVER_SIDE = 1 << 1;

/** MP_TCPRST reason codes (RFC 8684 §3.6, MPTCP_RST_*). */
const resetReasons = ['unspecified', 'mptcp', 'resource', 'prohibited', 'wq2big', 'badperf', 'middlebox'];

/**
 * One decoded event. Every field is null when its attribute did not arrive: which ones arrive
 * depends on the event type (reference §1.5 table), and the decoder does not invent defaults.
 */
export type MptcpEvent = Omit<SharedMptcpEvent, 'kind'> & {
  /** genlmsghdr.cmd's name; 'unknown' keeps the raw attributes in rawAttrs. */
  kind: MptcpEventKind;
};

/** An event with no attributes yet (tests build their events from it too). */
export function emptyEvent(type: number): MptcpEvent {
  const name = (mptcpEventNames as Record<number, MptcpEventKind | undefined>)[type];
  return {
    type,
    kind: name ?? 'unknown',
    token: null,
    family: null,
    localId: null,
    remoteId: null,
    localAddress: null,
    remoteAddress: null,
    localPort: null,
    remotePort: null,
    backup: null,
    error: null,
    flags: null,
    denyJoinId0: false,
    serverSide: false,
    timeout: null,
    ifindex: null,
    resetReason: null,
    resetReasonName: null,
    resetFlags: null,
    unknownAttrs: {},
    rawAttrs: null,
  };
}

/**
 * Decode one event message body, buf[off, off+len) = genlmsghdr + MPTCP_ATTR_*. Null only when
 * the body is too short to hold a genlmsghdr.
 */
export function decodeMptcpEvent(buf: Buffer, off: number, len: number): MptcpEvent | null {
  if (len < GENL_HDRLEN) return null;
  const ev = emptyEvent(buf.readUInt8(off));
  const keepRaw = ev.kind === 'unknown';
  if (keepRaw) ev.rawAttrs = {};
  let familyNum = 0;
  forEachAttr(buf, off + GENL_HDRLEN, off + len, (t, aoff, alen) => {
    const hex = buf.toString('hex', aoff, aoff + alen);
    if (ev.rawAttrs) ev.rawAttrs[String(t)] = hex;
    const u8 = alen >= 1 ? buf.readUInt8(aoff) : null;
    const u16 = alen >= 2 ? buf.readUInt16LE(aoff) : null;
    const u32 = alen >= 4 ? buf.readUInt32LE(aoff) : null;
    switch (t) {
      case MPTCP_ATTR_TOKEN:
        ev.token = u32;
        break;
      case MPTCP_ATTR_FAMILY:
        familyNum = u16 ?? 0;
        ev.family = familyNum === AF_INET6 ? 'inet6' : familyNum === AF_INET ? 'inet' : null;
        break;
      case MPTCP_ATTR_LOC_ID:
        ev.localId = u8;
        break;
      case MPTCP_ATTR_REM_ID:
        ev.remoteId = u8;
        break;
      case MPTCP_ATTR_SADDR4:
      case MPTCP_ATTR_DADDR4:
      case MPTCP_ATTR_SADDR6:
      case MPTCP_ATTR_DADDR6: {
        const v6 = t === MPTCP_ATTR_SADDR6 || t === MPTCP_ATTR_DADDR6;
        if (alen < (v6 ? 16 : 4)) {
          ev.unknownAttrs[String(t)] = hex;
          break;
        }
        const text = formatAddress(v6 ? AF_INET6 : AF_INET, buf, aoff);
        if (t === MPTCP_ATTR_SADDR4 || t === MPTCP_ATTR_SADDR6) ev.localAddress = text;
        else ev.remoteAddress = text;
        break;
      }
      case MPTCP_ATTR_SPORT:
        // Ports here are big-endian, unlike MPTCP_PM_ADDR_ATTR_PORT (G2).
        ev.localPort = alen >= 2 ? buf.readUInt16BE(aoff) : null;
        break;
      case MPTCP_ATTR_DPORT:
        ev.remotePort = alen >= 2 ? buf.readUInt16BE(aoff) : null;
        break;
      case MPTCP_ATTR_BACKUP:
        ev.backup = u8 === null ? null : u8 !== 0;
        break;
      case MPTCP_ATTR_ERROR:
        ev.error = u8;
        break;
      case MPTCP_ATTR_FLAGS:
        ev.flags = u16;
        if (u16 !== null) {
          ev.denyJoinId0 = (u16 & MPTCP_PM_EV_FLAG_DENY_JOIN_ID0) !== 0;
          if ((u16 & MPTCP_PM_EV_FLAG_SERVER_SIDE) !== 0) ev.serverSide = true;
        }
        break;
      case MPTCP_ATTR_TIMEOUT:
        ev.timeout = u32;
        break;
      case MPTCP_ATTR_IF_IDX:
        ev.ifindex = u32;
        break;
      case MPTCP_ATTR_RESET_REASON:
        ev.resetReason = u32;
        ev.resetReasonName = u32 === null ? null : (resetReasons[u32] ?? `reason ${u32}`);
        break;
      case MPTCP_ATTR_RESET_FLAGS:
        ev.resetFlags = u32;
        break;
      case MPTCP_ATTR_SERVER_SIDE:
        if (u8 !== null && u8 !== 0) ev.serverSide = true;
        break;
      default:
        if (t > MPTCP_ATTR_MAX_KNOWN || t === 0) ev.unknownAttrs[String(t)] = hex;
    }
  });
  return ev;
}

/** An event and when the events reader read it (ms since the epoch). */
export type MptcpEventListener = (ev: MptcpEvent, receivedAtMs: number) => void;

/** The id of the family's events group; UNSUPPORTED when this kernel has none. */
function eventsGroup(fam: MptcpPmFamily): number {
  const group = fam.groups.get(MPTCP_PM_EVENTS_GROUP);
  if (group === undefined) {
    throw new ApiFailure(
      'UNSUPPORTED',
      `This kernel's mptcp_pm family has no "${MPTCP_PM_EVENTS_GROUP}" multicast group: MPTCP events cannot be watched.`,
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
 * Joins `mptcp_pm_events` on a NetlinkEventReader of its own (a reader thread that keeps up with
 * bursts, netlink/event-reader.ts) in this process's netns (events are per netns), and calls
 * onEvent for each event. The membership ends with reader.close().
 */
export async function openMptcpEventReader(
  fam: MptcpPmFamily,
  onEvent: MptcpEventListener,
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

/** Short human-readable line for an event (CLI output, logs). */
export function formatMptcpEvent(ev: MptcpEvent): string {
  const parts: string[] = [ev.kind === 'unknown' ? `event ${ev.type}` : ev.kind];
  if (ev.token !== null) parts.push(`token ${ev.token.toString(16).padStart(8, '0')}`);
  const ep = (a: string | null, p: number | null): string =>
    a === null ? '' : `${a.includes(':') ? `[${a}]` : a}${p !== null ? `:${p}` : ''}`;
  if (ev.localAddress !== null)
    parts.push(`${ep(ev.localAddress, ev.localPort)}${ev.remoteAddress !== null ? ' ->' : ''}`);
  if (ev.remoteAddress !== null) parts.push(ep(ev.remoteAddress, ev.remotePort));
  if (ev.localId !== null) parts.push(`loc_id ${ev.localId}`);
  if (ev.remoteId !== null) parts.push(`rem_id ${ev.remoteId}`);
  if (ev.backup) parts.push('backup');
  if (ev.serverSide) parts.push('server_side');
  if (ev.error !== null) parts.push(`error ${ev.error}`);
  if (ev.resetReasonName !== null) parts.push(`reset ${ev.resetReasonName}`);
  if (ev.rawAttrs) parts.push(JSON.stringify(ev.rawAttrs));
  return parts.join(' ');
}
