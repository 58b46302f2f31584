/**
 * MPTCP path-manager events: the messages of the `mptcp_pm_events` multicast group of the generic
 * netlink family `mptcp_pm` (uapi: linux/mptcp_pm.h; flags and reset reasons from linux/mptcp.h).
 * One message per event: nlmsg_type = the family id, genlmsghdr.cmd = the event type, then
 * MPTCP_ATTR_* attributes. Which attributes arrive with which event on 6.18:
 * docs/kernel-interfaces.md, "Events".
 *
 * The decoder is pure (bytes → typed object), unit-tested on recorded bytes, and shared by the
 * engine as path manager (pm/) and the live event timeline (events/). Unknown event types and
 * attributes are kept raw (hex), never dropped: a newer kernel's additions stay visible.
 */
import type { MptcpEvent as SharedMptcpEvent } from '../../../shared/types';
import { forEachAttr } from '../netlink/core';
import { formatAddress } from '../rtnl/address';
import { GENL_HDRLEN } from '../uapi/genetlink';
import { MPTCP_PM_EV_FLAG_DENY_JOIN_ID0, MPTCP_PM_EV_FLAG_SERVER_SIDE, MPTCP_RST_NAMES } from '../uapi/mptcp';
import {
  MPTCP_ATTR_BACKUP,
  MPTCP_ATTR_DADDR4,
  MPTCP_ATTR_DADDR6,
  MPTCP_ATTR_DPORT,
  MPTCP_ATTR_ERROR,
  MPTCP_ATTR_FAMILY,
  MPTCP_ATTR_FLAGS,
  MPTCP_ATTR_IF_IDX,
  MPTCP_ATTR_LOC_ID,
  MPTCP_ATTR_MAX,
  MPTCP_ATTR_REM_ID,
  MPTCP_ATTR_RESET_FLAGS,
  MPTCP_ATTR_RESET_REASON,
  MPTCP_ATTR_SADDR4,
  MPTCP_ATTR_SADDR6,
  MPTCP_ATTR_SERVER_SIDE,
  MPTCP_ATTR_SPORT,
  MPTCP_ATTR_TIMEOUT,
  MPTCP_ATTR_TOKEN,
  MPTCP_EVENT_ANNOUNCED,
  MPTCP_EVENT_CLOSED,
  MPTCP_EVENT_CREATED,
  MPTCP_EVENT_ESTABLISHED,
  MPTCP_EVENT_LISTENER_CLOSED,
  MPTCP_EVENT_LISTENER_CREATED,
  MPTCP_EVENT_REMOVED,
  MPTCP_EVENT_SUB_CLOSED,
  MPTCP_EVENT_SUB_ESTABLISHED,
  MPTCP_EVENT_SUB_PRIORITY,
} from '../uapi/mptcp-pm';
import { AF_INET, AF_INET6 } from '../uapi/socket';

/** enum mptcp_event_type → the names the contract uses. */
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
export type PmEventKind = (typeof mptcpEventNames)[keyof typeof mptcpEventNames] | 'unknown';

/**
 * One decoded mptcp_pm event, as the engine's path manager sees it (kind narrowed to the names
 * above); the timeline carries it as shared/types.ts MptcpEvent. Every field is null when its
 * attribute did not arrive: which ones arrive depend on the event type (docs/kernel-interfaces.md,
 * "Events"), and the decoder does not invent defaults.
 */
export type PmEvent = Omit<SharedMptcpEvent, 'kind'> & {
  /** genlmsghdr.cmd's name; 'unknown' keeps the raw attributes in rawAttrs. */
  kind: PmEventKind;
};

/** An event with no attributes yet (tests build their events from it too). */
export function emptyEvent(type: number): PmEvent {
  const name = (mptcpEventNames as Record<number, PmEventKind | undefined>)[type];
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
export function decodeMptcpEvent(buf: Buffer, off: number, len: number): PmEvent | null {
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
        // Ports here are big-endian, unlike MPTCP_PM_ADDR_ATTR_PORT (docs/kernel-interfaces.md).
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
        ev.resetReasonName = u32 === null ? null : (MPTCP_RST_NAMES[u32] ?? `reason ${u32}`);
        break;
      case MPTCP_ATTR_RESET_FLAGS:
        ev.resetFlags = u32;
        break;
      case MPTCP_ATTR_SERVER_SIDE:
        if (u8 !== null && u8 !== 0) ev.serverSide = true;
        break;
      default:
        if (t > MPTCP_ATTR_MAX || t === 0) ev.unknownAttrs[String(t)] = hex;
    }
  });
  return ev;
}

/** Short human-readable line for an event (CLI output, logs). */
export function formatMptcpEvent(ev: PmEvent): string {
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
