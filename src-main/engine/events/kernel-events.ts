/**
 * Kernel events for the UI's timeline and live views: mptcp_pm events (created, established,
 * announced, sub_established, sub_closed, …) and rtnetlink link/address changes, each stamped
 * with the time the engine read it. Dedicated sockets, opened while someone watches and closed
 * after, so idle hosts hold no multicast memberships.
 */
import type { KernelEvent } from '../../../shared/types';
import { toApiError } from '../../../shared/result';
import { NETLINK_GENERIC, NETLINK_ROUTE, NlSocket } from '../netlink/core';
import type { MptcpPmFamily } from '../pm/mptcp-pm';
import {
  decodeAddress,
  decodeLink,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  isUsable,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from '../rtnl/interfaces';
import { subscribeMptcpEvents } from './mptcp-events';

/** rtnetlink multicast groups (uapi: linux/rtnetlink.h RTNLGRP_*). */
const RTNLGRP_LINK = 1;
const RTNLGRP_IPV4_IFADDR = 5;
const RTNLGRP_IPV6_IFADDR = 9;
const RTM_DELLINK = 17;
const RTM_DELADDR = 21;

export interface WatchResult {
  mptcp: boolean;
  interfaces: boolean;
  note: string | null;
}

export class KernelEventWatcher {
  private genl: NlSocket | null = null;
  private route: NlSocket | null = null;

  constructor(
    private readonly family: (genl: NlSocket) => Promise<MptcpPmFamily>,
    private readonly emit: (e: KernelEvent) => void,
  ) {}

  get watching(): boolean {
    return this.genl !== null || this.route !== null;
  }

  private starting: Promise<WatchResult> | null = null;

  /** Idempotent, also when called again while the first start is still resolving the family. */
  /** Bumped by stop(): a start still resolving the family when stop() ran must not resurrect. */
  private generation = 0;

  start(): Promise<WatchResult> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async doStart(): Promise<WatchResult> {
    const notes: string[] = [];
    if (!this.route) {
      try {
        const route = new NlSocket(NETLINK_ROUTE, { recvBufferBytes: 1 << 20 });
        route.onNotification((buf, type, off, len) => this.onRoute(buf, type, off, len));
        for (const g of [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR]) route.addMembership(g);
        this.route = route;
      } catch (e) {
        notes.push(`interface events unavailable: ${toApiError(e).message}`);
      }
    }
    if (!this.genl) {
      const genl = new NlSocket(NETLINK_GENERIC, { recvBufferBytes: 1 << 20 });
      const generation = this.generation;
      try {
        const fam = await this.family(genl);
        if (generation !== this.generation) {
          genl.close();
          return { mptcp: false, interfaces: false, note: 'stopped while starting' };
        }
        subscribeMptcpEvents(genl, fam, (event) =>
          this.emit({ source: 'mptcp', timestampMs: Date.now(), event }),
        );
        this.genl = genl;
      } catch (e) {
        genl.close();
        notes.push(toApiError(e).message);
      }
    }
    return {
      mptcp: this.genl !== null,
      interfaces: this.route !== null,
      note: notes.length ? notes.join(' ') : null,
    };
  }

  stop(): WatchResult {
    this.generation++;
    this.genl?.close();
    this.route?.close();
    this.genl = this.route = null;
    return { mptcp: false, interfaces: false, note: null };
  }

  private onRoute(buf: Buffer, type: number, off: number, len: number): void {
    const timestampMs = Date.now();
    if (type === RTM_NEWLINK || type === RTM_DELLINK) {
      const l = decodeLink(buf, off, len);
      if (!l) return;
      this.emit({
        source: 'link',
        timestampMs,
        deleted: type === RTM_DELLINK,
        index: l.index,
        name: l.name,
        operState: l.operState,
        adminUp: (l.flags & IFF_UP) !== 0,
        running: (l.flags & (IFF_RUNNING | IFF_LOWER_UP)) !== 0,
        usable: isUsable(l),
        mtuBytes: l.mtuBytes,
      });
    } else if (type === RTM_NEWADDR || type === RTM_DELADDR) {
      const a = decodeAddress(buf, off, len);
      if (!a) return;
      this.emit({
        source: 'address',
        timestampMs,
        deleted: type === RTM_DELADDR,
        index: a.index,
        family: a.family,
        address: a.address,
        prefixLen: a.prefixLen,
      });
    }
  }
}
