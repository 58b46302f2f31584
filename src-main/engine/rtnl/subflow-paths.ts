/**
 * Which interface each subflow leaves by (Subflow.ifname), resolved in the connections poll
 * (docs/live-data.md, Interfaces of subflows).
 *
 * A socket bound to a device (SO_BINDTODEVICE: inet_diag's idiag_if, Subflow.ifindex) leaves by
 * that device. Any other socket leaves where the kernel's output route for its source and
 * destination points: an RTM_GETROUTE lookup (`ip route get DST from SRC`, route.ts), which runs
 * the policy rules as the socket's own route lookup does. Answers are cached per (source,
 * destination): the 20,000 subflows of a 10,000-connection poll share a handful of pairs, and
 * only subflows the poll built anew (diag/decode.ts collects them; an unchanged socket keeps last
 * poll's object, ifname included) ask the cache at all.
 *
 * The cache is emptied, and `generation` bumped, on every route, rule, link or address change
 * (rtnetlink notifications, `watch`): the poller then builds the next poll's objects afresh, so a
 * reused object never keeps an ifname from before the change. Without a watch (it could not be
 * opened, or its socket overflowed) each answer lives `ttlMs`: every poll first calls `refresh`,
 * which looks the expired answers up again (nothing while none has expired), and a changed answer
 * bumps `generation` too, so the poll rebuilds its objects, reused ones included.
 */
import type { Subflow } from '../../../shared/types';
import { routableAddress, type DecodedRoute, type RouteQuery } from './route';

/** What the resolver needs of the kernel (netlink-kernel.ts gives it rtnetlink; tests fakes). */
export interface PathLookups {
  /** One `ip route get`; rejects when the kernel refuses (ENETUNREACH: no route). */
  route(q: RouteQuery): Promise<DecodedRoute | null>;
  /** Interface index → name (an RTM_GETLINK dump). */
  linkNames(): Promise<ReadonlyMap<number, string>>;
  /**
   * The name of the interface holding a local address (RTM_GETADDR), null when none does: the
   * answer when the kernel has no route (the interface is down), so that a subflow on a downed
   * link is shown on that link, not on no interface at all.
   */
  addressOwner?(address: string): Promise<string | null>;
  /**
   * Calls `onChange` on every route, rule, link and address change of the namespace; returns the
   * unsubscribe. Throws when it cannot subscribe (then answers expire after ttlMs instead).
   */
  watch?(onChange: () => void): () => void;
}

export interface SubflowPathOptions {
  /** How long an answer lives when no watch runs (default 5 s). */
  ttlMs?: number;
  /** Most pairs kept (default 65,536); past it the cache starts over. */
  maxEntries?: number;
  now?: () => number;
}

interface Answer {
  ifname: string | null;
  atMs: number;
  /** The addresses as routed (v4-mapped addresses as IPv4). */
  src: string;
  dst: string;
}

export class SubflowPathResolver {
  /** Bumped whenever cached answers may be wrong: objects resolved before must not be reused. */
  generation = 0;
  /** Route lookups sent, for the tests and the bench. */
  lookups = 0;
  /**
   * By local address, then remote address, as the subflows spell them: a hit builds no key string
   * (the decoder interns the addresses, so both lookups hash a string V8 has hashed before).
   */
  private readonly cache = new Map<string, Map<string, Answer>>();
  /** Each pair's last routed interface, kept across invalidations: the answer once its route goes. */
  private readonly lastRouted = new Map<string, string>();
  private cached = 0;
  /** The oldest answer's time: the sweep reads the cache only once that one has expired. */
  private oldestAtMs = Number.POSITIVE_INFINITY;
  private names: ReadonlyMap<number, string> | null = null;
  private namesLoad: Promise<ReadonlyMap<number, string>> | null = null;
  private unwatch: (() => void) | null = null;
  private watching = false;
  private watchTried = false;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly kernel: PathLookups,
    opts: SubflowPathOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 5000;
    this.maxEntries = opts.maxEntries ?? 65_536;
    this.now = opts.now ?? Date.now;
  }

  /** Forget every answer (the routes changed). */
  invalidate(): void {
    this.cache.clear();
    this.cached = 0;
    this.oldestAtMs = Number.POSITIVE_INFINITY;
    this.names = null;
    this.namesLoad = null;
    this.generation++;
  }

  /**
   * Called at the start of every poll, before it decides whether last poll's objects may be
   * reused: without a watch, the answers that expired are looked up again, and a changed one
   * bumps `generation`, so a reused subflow does not keep an ifname from before a route change
   * even in a poll that builds no new subflow. Costs one comparison while nothing has expired.
   */
  async refresh(): Promise<void> {
    this.startWatch();
    if (!this.watching) await this.sweep();
  }

  /**
   * Sets `ifname` on each subflow: objects the caller built in this poll and has not handed out
   * yet (snapshot objects are immutable once handed out: diag/decode.ts). Each distinct pair is
   * looked up once, all lookups in flight together.
   */
  async resolve(subflows: readonly Subflow[]): Promise<void> {
    if (subflows.length === 0) return;
    this.startWatch();
    if (!this.watching) await this.sweep();
    const misses = new Map<string, Subflow[]>();
    let bound = false;
    for (const s of subflows) {
      if (s.ifindex > 0) {
        bound = true;
        continue;
      }
      const hit = this.cache.get(s.localAddress)?.get(s.remoteAddress);
      if (hit) {
        s.ifname = hit.ifname;
        continue;
      }
      const key = pairKey(s);
      const list = misses.get(key);
      if (list) list.push(s);
      else misses.set(key, [s]);
    }
    // The names as read, even when a change came during the read (then they are not kept for
    // later polls, but are the newest there are for this one).
    const names = bound || misses.size > 0 ? await this.linkNames() : null;
    if (bound) {
      for (const s of subflows) if (s.ifindex > 0) s.ifname = names?.get(s.ifindex) ?? null;
    }
    if (misses.size === 0) return;
    if (this.cached + misses.size > this.maxEntries) {
      this.cache.clear();
      this.cached = 0;
    }
    const generation = this.generation;
    await Promise.all(
      [...misses].map(async ([key, list]) => {
        const [src, dst] = key.split('|') as [string, string];
        const ifname = await this.lookup(src, dst);
        // An answer that raced an invalidation is used for this poll (its objects are rebuilt on
        // the next one) but not cached.
        for (const s of list) {
          s.ifname = ifname;
          if (generation === this.generation) this.store(s, { ifname, atMs: this.now(), src, dst });
        }
      }),
    );
  }

  /** Stops the watch. */
  close(): void {
    this.unwatch?.();
    this.unwatch = null;
    this.watching = false;
  }

  private startWatch(): void {
    if (this.watchTried || !this.kernel.watch) return;
    this.watchTried = true;
    try {
      this.unwatch = this.kernel.watch(() => this.invalidate());
      this.watching = true;
    } catch {
      this.watching = false;
    }
  }

  /** Without a watch: look the expired pairs up again; a changed answer invalidates everything. */
  private async sweep(): Promise<void> {
    const now = this.now();
    if (now - this.oldestAtMs < this.ttlMs) return;
    const expired: Answer[] = [];
    for (const byRemote of this.cache.values())
      for (const a of byRemote.values()) if (now - a.atMs >= this.ttlMs) expired.push(a);
    if (expired.length === 0) {
      this.findOldest();
      return;
    }
    this.names = null;
    this.namesLoad = null;
    // Each pair once, however many spellings share its answer.
    const pairs = new Map<string, Answer[]>();
    for (const a of expired) {
      const k = `${a.src}|${a.dst}`;
      pairs.set(k, [...(pairs.get(k) ?? []), a]);
    }
    const changed = await Promise.all(
      [...pairs.values()].map(async (answers) => {
        const first = answers[0]!;
        const ifname = await this.lookup(first.src, first.dst);
        const moved = ifname !== first.ifname;
        for (const a of answers) {
          a.ifname = ifname;
          a.atMs = now;
        }
        return moved;
      }),
    );
    if (changed.some(Boolean)) this.invalidate();
    else this.findOldest();
  }

  private findOldest(): void {
    let oldest = Number.POSITIVE_INFINITY;
    for (const byRemote of this.cache.values())
      for (const a of byRemote.values()) oldest = Math.min(oldest, a.atMs);
    this.oldestAtMs = oldest;
  }

  private store(s: Subflow, a: Answer): void {
    let byRemote = this.cache.get(s.localAddress);
    if (!byRemote) this.cache.set(s.localAddress, (byRemote = new Map<string, Answer>()));
    if (!byRemote.has(s.remoteAddress)) this.cached++;
    byRemote.set(s.remoteAddress, a);
    if (a.atMs < this.oldestAtMs) this.oldestAtMs = a.atMs;
  }

  private async lookup(src: string, dst: string): Promise<string | null> {
    this.lookups++;
    const pair = `${src}|${dst}`;
    let r: DecodedRoute | null;
    try {
      r = await this.kernel.route({ src, dst });
    } catch {
      return this.withoutRoute(pair, src);
    }
    if (!r || r.oif === null) return this.withoutRoute(pair, src);
    let name = this.names?.get(r.oif);
    if (name === undefined) {
      // A link newer than the names we hold: read them once more.
      this.names = null;
      this.namesLoad = null;
      name = (await this.linkNames()).get(r.oif);
    }
    if (name !== undefined) {
      if (this.lastRouted.size >= this.maxEntries) this.lastRouted.clear();
      this.lastRouted.set(pair, name);
    }
    return name ?? null;
  }

  /**
   * No route (ENETUNREACH: its interface is down, or the source is no longer local): the
   * interface the pair was last routed out of (a fullmesh subflow from c0's address to a peer
   * address behind c1 left by c1), else the one holding the source address.
   */
  private async withoutRoute(pair: string, src: string): Promise<string | null> {
    return this.lastRouted.get(pair) ?? (await this.owner(src));
  }

  private async owner(src: string): Promise<string | null> {
    if (!this.kernel.addressOwner) return null;
    try {
      return await this.kernel.addressOwner(src);
    } catch {
      return null;
    }
  }

  private async linkNames(): Promise<ReadonlyMap<number, string>> {
    if (this.names) return this.names;
    const generation = this.generation;
    this.namesLoad ??= this.kernel.linkNames().then(
      (m) => {
        if (generation === this.generation) this.names = m;
        return m;
      },
      () => {
        // Retried on the next call; subflows of this one get no name.
        this.namesLoad = null;
        return new Map<number, string>();
      },
    );
    return this.namesLoad;
  }
}

/** The cache key: source and destination as routed (v4-mapped addresses as IPv4). */
function pairKey(s: Pick<Subflow, 'localAddress' | 'remoteAddress'>): string {
  return `${routableAddress(s.localAddress)}|${routableAddress(s.remoteAddress)}`;
}
