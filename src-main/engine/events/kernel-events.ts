/**
 * Kernel events for the UI's timeline and live views: mptcp_pm events (created, established,
 * announced, sub_established, sub_closed, …) and rtnetlink link/address changes, each stamped
 * with the time its events reader read it off the socket (netlink/event-reader.ts; link and
 * MPTCP events come from two readers, so across the two sources the stamps may be out of arrival
 * order by a millisecond or so). Dedicated sockets, opened while someone watches and closed
 * after, so idle hosts hold no multicast memberships.
 */
import type { KernelEvent } from '../../../shared/types';
import { toApiError } from '../../../shared/result';
import { NlSocket } from '../netlink/core';
import { NetlinkEventReader, type EventReaderOptions } from '../netlink/event-reader';
import type { MptcpPmFamily } from '../mptcp-pm/family';
import { openMptcpEventReader } from '../mptcp-pm/subscribe';
import { decodeAddress, decodeLink, isUsable } from '../rtnl/interfaces';
import { IFF_LOWER_UP, IFF_RUNNING, IFF_UP } from '../uapi/if-link';
import { NETLINK_GENERIC, NETLINK_ROUTE } from '../uapi/netlink';
import {
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
} from '../uapi/rtnetlink';

export interface WatchResult {
  mptcp: boolean;
  interfaces: boolean;
  note: string | null;
}

export class KernelEventWatcher {
  private genl: NetlinkEventReader | null = null;
  private route: NetlinkEventReader | null = null;

  constructor(
    private readonly family: (genl: NlSocket) => Promise<MptcpPmFamily>,
    private readonly emit: (e: KernelEvent) => void,
    /**
     * The kernel dropped events for one of the sockets (ENOBUFS: its receive buffer overflowed);
     * the message says which and how many (sk_drops). Every event the engine reads reaches the
     * UI, so these are the only ones the timeline misses, and the user is told.
     */
    private readonly onLost: (message: string) => void = () => undefined,
    private readonly readerOptions: EventReaderOptions = {},
  ) {}

  /** Reports what an events reader lost through onLost. */
  private watchLost(reader: NetlinkEventReader, what: string): void {
    reader.onLost(({ dropped, message }) => {
      if (message !== undefined) {
        this.onLost(`${what} events socket: ${message}`);
        return;
      }
      this.onLost(
        `The kernel dropped ${dropped === null ? 'some' : dropped.toLocaleString('en-US')} ${what} event${dropped === 1 ? '' : 's'}: the engine's events socket receive buffer overflowed (netlink ENOBUFS).`,
      );
    });
  }

  get watching(): boolean {
    return this.genl !== null || this.route !== null;
  }

  /** How the readers read (tests and diagnostics): read(2) on the fd, or the binding's path. */
  get readers(): {
    mptcp: NetlinkEventReader['stats'] | null;
    interfaces: NetlinkEventReader['stats'] | null;
  } {
    return { mptcp: this.genl?.stats ?? null, interfaces: this.route?.stats ?? null };
  }

  private starting: Promise<WatchResult> | null = null;

  /** Idempotent, also when called again while the first start is still resolving the family. */
  /** Bumped by stop(): a start still opening its readers when stop() ran must not resurrect. */
  private generation = 0;

  start(): Promise<WatchResult> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async doStart(): Promise<WatchResult> {
    const notes: string[] = [];
    const generation = this.generation;
    const stopped = { mptcp: false, interfaces: false, note: 'stopped while starting' };
    if (!this.route) {
      try {
        const route = await NetlinkEventReader.open(
          NETLINK_ROUTE,
          [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR],
          this.readerOptions,
        );
        if (generation !== this.generation) {
          route.close();
          return stopped;
        }
        route.onNotification((buf, type, off, len, atMs) => this.onRoute(buf, type, off, len, atMs));
        this.watchLost(route, 'interface');
        this.route = route;
      } catch (e) {
        notes.push(`interface events unavailable: ${toApiError(e).message}`);
      }
    }
    if (!this.genl) {
      // The family's ids are resolved on a plain socket; the events come from a reader thread.
      const query = new NlSocket(NETLINK_GENERIC);
      try {
        const fam = await this.family(query);
        const genl = await openMptcpEventReader(
          fam,
          // Stamped when the reader read it: a burst decoded here later keeps its own times.
          (event, atMs) => this.emit({ source: 'mptcp', timestampMs: atMs, event }),
          this.readerOptions,
        );
        if (generation !== this.generation) {
          genl.close();
          return stopped;
        }
        this.watchLost(genl, 'MPTCP');
        this.genl = genl;
      } catch (e) {
        notes.push(toApiError(e).message);
      } finally {
        query.close();
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

  private onRoute(buf: Buffer, type: number, off: number, len: number, timestampMs: number): void {
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
