/**
 * The subflow check (docs/path-doctor.md "Subflow check"; the seed's mptcp_fragmenter, done with
 * the kernel's own MPTCP): one connection to a cooperating MPTCP echo server, a subflow forced
 * from every chosen local address (N per path), a known payload spread over them and checked byte
 * for byte on its way back, and per subflow what happened: joined and carried data, refused (RST),
 * silently dropped, or broken once data flowed.
 *
 * How: the probe helper (`mptcp-probe check`, unprivileged) owns the socket, created under the
 * userspace path manager (pm-switch.ts); the engine, which holds CAP_NET_ADMIN, adds each subflow
 * with MPTCP_PM_CMD_SUBFLOW_CREATE (token, local address with its own id and port, the server's
 * address and port), follows them through mptcp_pm events (SUB_ESTABLISHED, SUB_CLOSED with sk_err
 * and the MP_RST reason) and sock_diag (state, bytes, retransmissions), and reads the MPTcpExt
 * counters before and after.
 */
import type { CheckedSubflow, SubflowCheckResult } from '../../../shared/path-doctor';
import type { Connection, Subflow } from '../../../shared/types';
import type { Kernel } from '../kernel';
import type { PmEvent } from '../mptcp-pm/events';
import type { CheckHelper } from './check-helper';
import type { PmSwitch } from './pm-switch';
import type { ProbeSource } from './sources';
import {
  checkVerdict,
  classifySubflow,
  errnoName,
  summarisePaths,
  type SubflowEvidence,
} from './subflow-verdict';
import type { Target } from './targets';

export interface SubflowCheckDeps {
  kernel: Pick<Kernel, 'reads' | 'pm' | 'watchMptcpEvents'>;
  pmSwitch: Pick<PmSwitch, 'underUserspace' | 'read'>;
  openHelper: () => Promise<CheckHelper>;
}

export interface SubflowCheckOptions {
  target: Target;
  port: number;
  /** More addresses of the far host to join to (the user's); the target's announced ones come on top. */
  remotes?: readonly Target[];
  /**
   * How long to wait, once the connection is up, for the ADD_ADDRs the far host sends (it sends
   * them once the connection is fully established: with our first bytes' answer). Default 300.
   */
  announceWaitMs?: number;
  /**
   * The user accepted the path manager switch (pm-switch.ts). Without it, a namespace whose path
   * manager is not `userspace` is refused before anything changes.
   */
  allowPmSwitch: boolean;
  /** In order: the first one whose handshake stays MPTCP carries the initial subflow. */
  sources: readonly ProbeSource[];
  /**
   * Local addresses of the other family. Given (with a remote of that family among `remotes`),
   * the connection is dual-stack: an AF_INET6 socket, an IPv4 target reached as `::ffff:a.b.c.d`,
   * so that it takes subflows of both families (mptcp_pm_addr_families_match).
   */
  otherSources?: readonly ProbeSource[];
  subflowsPerPath: number;
  payloadBytes: number;
  joinTimeoutMs: number;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  /** 0..100 and what is going on. */
  onProgress?: (percent: number, message: string) => void;
  random?: () => number;
}

/** MPTcpExt counters worth showing next to a subflow check (the rest is noise here). */
const COUNTER_RE =
  /^(MPJoin|MPCapable|MPFallback|MPRst|MPPrio|DSS|Dss|Infinite|MPFail|.*Fallback|Blackhole|AddAddr)/;

interface Remote {
  address: string;
  port: number;
  from: 'target' | 'announced' | 'given';
}

interface Planned {
  source: ProbeSource;
  remote: Remote;
  initial: boolean;
  id: number;
  port: number;
  createError: string | null;
}

interface Seen {
  sf: Subflow;
  state: string;
  alive: boolean;
  establishedWhileData: boolean;
}

const keyOf = (address: string, port: number): string => `${address}|${port}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class SubflowCheckError extends Error {}

/** Refused for want of consent to the path manager switch (pm-switch.ts). */
export class PmSwitchConsentError extends Error {}

/** What the user is asked to accept before a check switches the path manager. */
export function pmSwitchConsentText(pathManager: string): string {
  return (
    `this namespace runs the ${pathManager} path manager (net.mptcp.path_manager=${pathManager}); the subflow check ` +
    'switches it to userspace while its one socket is created and puts it back at once (about a millisecond): ' +
    'an MPTCP socket another program creates in that window gets no subflows from the in-kernel path manager ' +
    'for its lifetime'
  );
}

const isV6 = (address: string): boolean => address.includes(':') && !address.startsWith('::ffff:');
/** An IPv4 address in its IPv4-mapped IPv6 form (RFC 4291 §2.5.5.2) and back. */
const mapped = (address: string): string => (address.includes(':') ? address : `::ffff:${address}`);
const unmap = (address: string): string => (address.startsWith('::ffff:') ? address.slice(7) : address);

export async function runSubflowCheck(
  deps: SubflowCheckDeps,
  o: SubflowCheckOptions,
): Promise<SubflowCheckResult> {
  const startMs = Date.now();
  const random = o.random ?? Math.random;
  const family = o.target.address.length === 16 ? 6 : 4;
  const remote = o.target.text;
  const otherSources = o.otherSources ?? [];
  const dualStack = otherSources.length > 0 && (o.remotes ?? []).some((r) => isV6(r.text) !== (family === 6));
  // The socket's family and the addresses it is bound and connected with.
  const sockFamily = dualStack ? 6 : family;
  const sockAddr = (a: string): string => (dualStack ? mapped(a) : a);
  const progress = (pct: number, msg: string): void =>
    o.onProgress?.(Math.max(0, Math.min(100, Math.round(pct))), msg);
  const aborted = (): boolean => o.signal?.aborted ?? false;
  if (o.sources.length === 0)
    throw new SubflowCheckError(`no local address of the target's family to test from`);
  if (!o.allowPmSwitch) {
    const pm = await deps.pmSwitch.read();
    if (pm !== 'userspace')
      throw new PmSwitchConsentError(
        `${pmSwitchConsentText(pm)}: allow it to run the check (--allow-pm-switch)`,
      );
  }

  const counters0 = (await deps.kernel.reads.counters()).counters;
  // Events of every connection of the namespace; this check's are picked by token below.
  const events: PmEvent[] = [];
  const watch = await deps.kernel.watchMptcpEvents((ev) => {
    if (
      ev.kind === 'sub_established' ||
      ev.kind === 'sub_closed' ||
      ev.kind === 'closed' ||
      ev.kind === 'announced'
    )
      events.push(ev);
  });
  const subflows: CheckedSubflow[] = [];
  const handshakeFailures: CheckedSubflow[] = [];
  let helper: CheckHelper | null = null;
  let token: number | null = null;
  let initial: ProbeSource | null = null;
  let initialKey = '';
  let pmBefore = '';
  let switched = false;
  let connectionFallback: 'handshake' | 'data' | null = null;
  const payload = {
    bytes: o.payloadBytes,
    sent: 0,
    echoed: 0,
    intact: false,
    mismatchAt: null as number | null,
    ms: 0,
  };
  let mptcpAtEnd = false;
  const seed = Math.floor(random() * 0xffffffff) >>> 0;
  let counters1: Record<string, number> | null = null;
  const remotes: Remote[] = [];

  const handshakeFailure = (
    s: ProbeSource,
    fb: 'handshake' | 'data' | null,
    reason: string,
    outcome: CheckedSubflow['outcome'],
  ): void => {
    handshakeFailures.push({
      interface: s.interface,
      localAddress: s.address,
      localPort: 0,
      remoteAddress: remote,
      remotePort: o.port,
      initial: true,
      extra: false,
      outcome,
      reason,
      bytesSent: 0,
      bytesReceived: 0,
      retransmits: 0,
      rttUs: null,
      error: null,
      resetReason: null,
    });
    if (fb) connectionFallback = fb;
  };

  try {
    // 1. The connection: from the first source whose handshake (and first bytes) stay MPTCP.
    for (const [i, s] of o.sources.entries()) {
      if (aborted()) break;
      progress(
        (i / o.sources.length) * 10,
        `connecting to ${remote} port ${o.port} from ${s.interface ?? s.address}`,
      );
      const h = await deps.openHelper();
      try {
        await h.pattern(seed);
        const sw = await deps.pmSwitch.underUserspace(
          () => h.socket('mptcp', sockFamily, sockAddr(s.address)),
          {
            allowed: o.allowPmSwitch,
          },
        );
        pmBefore = sw.before;
        switched ||= sw.switched;
        const c = await h
          .connect(sockAddr(remote), o.port, o.connectTimeoutMs ?? 5000)
          .catch((e: Error & { errno?: string }) => {
            const refused = e.errno === 'ECONNREFUSED';
            handshakeFailure(
              s,
              null,
              refused
                ? `connection refused: nothing listens on ${remote} port ${o.port} (start \`mptcp-studio responder --port ${o.port}\` there)`
                : `could not connect (${e.errno ?? e.message})`,
              refused ? 'refused' : 'dropped',
            );
            return null;
          });
        if (!c) {
          h.close();
          continue;
        }
        if (c.mptcp !== 1) {
          handshakeFailure(
            s,
            'handshake',
            'the SYN/ACK came back without MP_CAPABLE: the connection fell back to TCP at the handshake',
            'fallback',
          );
          h.close();
          continue;
        }
        // The client's side is fully established (and takes SUBFLOW_CREATE: ENOTCONN before)
        // once the server's first DSS arrives: a few bytes there and back.
        const warm = await h.send(64, 3000);
        if (!warm.complete || warm.mptcp !== 1) {
          handshakeFailure(
            s,
            warm.mptcp !== 1 ? 'data' : null,
            warm.mptcp !== 1
              ? 'the connection fell back to TCP with its first bytes (DSS lost: MPCapableDataFallback)'
              : `the first bytes did not come back (${warm.errno ?? 'timeout'}): is ${remote} port ${o.port} an echo server?`,
            warm.mptcp !== 1 ? 'fallback' : 'dropped',
          );
          h.close();
          continue;
        }
        // A later source may still work: forget an earlier attempt's fallback.
        connectionFallback = null;
        helper = h;
        token = c.token;
        initial = s;
        initialKey = keyOf(c.local, c.localPort);
        payload.sent = payload.echoed = warm.sent;
        break;
      } catch (e) {
        h.close();
        throw e;
      }
    }

    if (helper === null || token === null || initial === null) {
      // No MPTCP connection from anywhere: report each source's handshake.
      const paths = summarisePaths(handshakeFailures);
      return await finish(handshakeFailures, paths);
    }
    const tok = token;
    const h = helper;
    for (const f of handshakeFailures) subflows.push(f);

    // 2. The far host's addresses: the target, what it announced (ADD_ADDR) and the user's.
    const announceDeadline = Date.now() + (o.announceWaitMs ?? 300);
    while (!aborted() && Date.now() < announceDeadline) await sleep(25);
    remotes.push({ address: remote, port: o.port, from: 'target' });
    const addRemote = (r: Remote): void => {
      if (!remotes.some((x) => x.address === r.address && x.port === r.port)) remotes.push(r);
    };
    for (const ev of events)
      if (ev.kind === 'announced' && ev.token === tok && ev.remoteAddress)
        addRemote({ address: ev.remoteAddress, port: ev.remotePort || o.port, from: 'announced' });
    for (const t of o.remotes ?? []) addRemote({ address: t.text, port: o.port, from: 'given' });

    // 3. The plan: N subflows per local address × remote address of the connection's family, the
    // initial one counting for its own pair.
    const planned: Planned[] = [];
    let id = 1;
    for (const s of dualStack ? [...o.sources, ...otherSources] : o.sources) {
      if (handshakeFailures.some((f) => f.localAddress === s.address && f.outcome === 'fallback')) continue;
      for (const r of remotes) {
        if (isV6(s.address) !== isV6(r.address)) continue;
        const n =
          s.address === initial.address && r.from === 'target' ? o.subflowsPerPath - 1 : o.subflowsPerPath;
        for (let k = 0; k < n; k++)
          planned.push({ source: s, remote: r, initial: false, id: id++, port: 0, createError: null });
      }
    }
    // Remote addresses of the other family: an MPTCP socket of one family takes subflows of that
    // family only (mptcp_pm_addr_families_match), so they are listed as not started, with why.
    const otherFamily = dualStack ? [] : remotes.filter((r) => isV6(r.address) !== (family === 6));
    const total = planned.length;
    for (const [i, p] of planned.entries()) {
      if (aborted()) break;
      progress(
        10 + (i / Math.max(1, total)) * 15,
        `adding subflow ${i + 1} of ${total} from ${p.source.interface ?? p.source.address}`,
      );
      for (let attempt = 0; attempt < 5; attempt++) {
        // Our own port per subflow (below the ephemeral range): each is then named exactly in
        // events and sock_diag, and gets its own id (docs/kernel-interfaces.md).
        p.port = 20000 + Math.floor(random() * 12000);
        try {
          await deps.kernel.pm.subflowCreate({
            token: tok,
            local: { address: p.source.address, id: p.id, port: p.port },
            remote: { address: p.remote.address, port: p.remote.port },
          });
          p.createError = null;
          break;
        } catch (e) {
          const errno = (e as { errno?: string; code?: string }).errno ?? (e as { code?: string }).code ?? '';
          p.createError = `the kernel refused SUBFLOW_CREATE: ${(e as Error).message}`;
          if (!/EADDRINUSE/.test(`${errno} ${(e as Error).message}`)) break;
        }
      }
      if (p.createError) p.port = 0;
    }

    // 4. Wait for each join to be established or closed, or the deadline.
    const seen = new Map<string, Seen>();
    const observe = (conn: Connection | null, dataFlowing: boolean): void => {
      const now = new Set<string>();
      for (const sf of conn?.subflows ?? []) {
        const k = keyOf(sf.localAddress, sf.localPort);
        now.add(k);
        const prev = seen.get(k);
        seen.set(k, {
          sf,
          state: sf.state,
          alive: true,
          establishedWhileData:
            (prev?.establishedWhileData ?? false) || (dataFlowing && sf.state === 'ESTABLISHED'),
        });
      }
      for (const [k, v] of seen) if (!now.has(k)) v.alive = false;
    };
    const evFor = (k: string): { established: boolean; closed: PmEvent | null } => {
      let established = false;
      let closed: PmEvent | null = null;
      for (const ev of events) {
        if (ev.token !== tok || ev.localAddress === null || ev.localPort === null) continue;
        if (keyOf(ev.localAddress, ev.localPort) !== k) continue;
        if (ev.kind === 'sub_established') established = true;
        if (ev.kind === 'sub_closed') closed = ev;
      }
      return { established, closed };
    };
    const pending = (): Planned[] =>
      planned.filter((p) => {
        if (p.createError) return false;
        const k = keyOf(p.source.address, p.port);
        const e = evFor(k);
        return !e.established && !e.closed && seen.get(k)?.state !== 'ESTABLISHED';
      });
    const joinDeadline = Date.now() + o.joinTimeoutMs;
    while (!aborted()) {
      observe(await deps.kernel.reads.connection(tok), false);
      const left = pending().length;
      progress(25 + ((total - left) / Math.max(1, total)) * 15, `${total - left} of ${total} joins answered`);
      if (left === 0 || Date.now() >= joinDeadline) break;
      await sleep(100);
    }

    // 5. The payload, in chunks.
    const chunk = Math.max(64 * 1024, Math.ceil(o.payloadBytes / 4));
    let written = 0;
    const streamStart = payload.sent;
    const t0 = Date.now();
    let intactSoFar = true;
    let complete = true;
    const target = o.payloadBytes;
    /** One chunk out and back; false once the connection cannot go on (incomplete, fell back). */
    const sendChunk = async (n: number, total: number): Promise<boolean> => {
      observe(await deps.kernel.reads.connection(tok), true);
      // At least 100 kB/s: a slower path is reported as incomplete.
      const r = await h.send(n, 10_000 + Math.ceil(n / 100), (sent) =>
        progress(
          40 + ((written + sent - payload.sent) / total) * 55,
          `sending: ${written + (sent - payload.sent)} of ${total} bytes`,
        ),
      );
      written += r.sent - payload.sent;
      payload.sent = r.sent;
      payload.echoed = r.echoed;
      if (r.mismatchAt >= 0 && payload.mismatchAt === null) payload.mismatchAt = r.mismatchAt - streamStart;
      intactSoFar &&= r.mismatchAt < 0;
      complete = r.complete;
      mptcpAtEnd = r.mptcp === 1;
      observe(await deps.kernel.reads.connection(tok), true);
      return r.complete && r.mptcp === 1;
    };
    let going = true;
    while (going && !aborted() && written < target)
      going = await sendChunk(Math.min(chunk, target - written), target);

    // 5b. The kernel's scheduler chooses where the payload goes, so a working subflow may have
    // carried nothing. Each such one gets a chunk of its own: every other established subflow is
    // set to backup (SET_FLAGS with TOKEN and ADDR_REMOTE; the kernel sends MP_PRIO), and the
    // default scheduler sends on a backup subflow only while no other one is available. The bits
    // are cleared again whatever happens (docs/path-doctor.md, "The payload").
    const forced = new Set<string>();
    const live = (): [string, Seen][] => [...seen].filter(([, v]) => v.alive && v.state === 'ESTABLISHED');
    const setBackup = (sf: Subflow, backup: boolean): Promise<void> =>
      deps.kernel.pm.subflowPriority({
        token: tok,
        local: { address: sf.localAddress, port: sf.localPort },
        remote: { address: sf.remoteAddress, port: sf.remotePort },
        backup,
      });
    const idle = live().filter(([, v]) => v.sf.bytesSent === 0);
    for (const [i, [k]] of idle.entries()) {
      if (!going || aborted()) break;
      const v = seen.get(k);
      if (!v?.alive || v.state !== 'ESTABLISHED' || v.sf.bytesSent > 0) continue;
      progress(95, `sending on idle subflow ${i + 1} of ${idle.length} alone`);
      // The check creates every subflow without the backup bit, so restoring means clearing it.
      // Every other one is set, whatever sock_diag showed: a snapshot taken while an earlier
      // chunk was forced still shows the bits since cleared.
      const marked: Subflow[] = [];
      let refused = false;
      try {
        for (const [k2, other] of live()) {
          if (k2 === k) continue;
          // Recorded before the call: a failure after the kernel took it still gets restored.
          marked.push(other.sf);
          refused = await setBackup(other.sf, true).then(
            () => false,
            () => true,
          );
          if (refused) break;
        }
        // A kernel that refuses the flag leaves the subflow to the scheduler, reported as before.
        if (!refused) {
          forced.add(k);
          going = await sendChunk(chunk, written + chunk);
        }
      } finally {
        for (const sf of marked) await setBackup(sf, false).catch(() => undefined);
      }
    }
    payload.ms = Date.now() - t0;
    payload.intact = intactSoFar && complete && payload.echoed === payload.sent;
    payload.bytes = payload.sent - streamStart;
    payload.sent -= streamStart;
    payload.echoed -= streamStart;
    if (!mptcpAtEnd) {
      const info = await h.info().catch(() => null);
      mptcpAtEnd = info?.mptcp === 1;
      if (!mptcpAtEnd) connectionFallback = 'data';
    }
    // Events lag a little behind the kernel: a last look.
    await sleep(50);
    observe(await deps.kernel.reads.connection(tok), false);
    counters1 = (await deps.kernel.reads.counters()).counters;
    const localResets = Math.max(0, (counters1.MPRstTx ?? 0) - (counters0.MPRstTx ?? 0));

    // 6. Each subflow's evidence, read.
    const evidence = (
      k: string,
      isInitial: boolean,
      extra: boolean,
      createError: string | null,
    ): { ev: SubflowEvidence; s: Seen | undefined; closed: PmEvent | null } => {
      const s = seen.get(k);
      const e = evFor(k);
      return {
        s,
        closed: e.closed,
        ev: {
          initial: isInitial,
          extra,
          createError,
          established:
            isInitial || e.established || s?.state === 'ESTABLISHED' || (s?.establishedWhileData ?? false),
          closed: e.closed
            ? { error: e.closed.error, resetReason: e.closed.resetReasonName }
            : s && !s.alive
              ? { error: null, resetReason: null }
              : null,
          lastState: s?.state ?? null,
          alive: s?.alive ?? false,
          dataFlowed: s?.establishedWhileData ?? e.established,
          bytesSent: s?.sf.bytesSent ?? 0,
          bytesReceived: s?.sf.bytesReceived ?? 0,
          retransmits: s?.sf.totalRetransPkts ?? 0,
          connectionFallback: isInitial ? connectionFallback : null,
          localResets,
          forcedChunk: forced.has(k),
        },
      };
    };
    const toChecked = (
      address: string,
      port: number,
      iface: string | null,
      isInitial: boolean,
      extra: boolean,
      createError: string | null,
      to: { address: string; port: number } = { address: remote, port: o.port },
    ): CheckedSubflow => {
      const { ev, s, closed } = evidence(keyOf(address, port), isInitial, extra, createError);
      // A connection that fell back takes every subflow with it.
      const fb = connectionFallback && !isInitial ? { ...ev, connectionFallback } : ev;
      const { outcome, reason } = classifySubflow(fb);
      return {
        interface: iface,
        localAddress: unmap(address),
        localPort: port,
        remoteAddress: unmap(to.address),
        remotePort: to.port,
        initial: isInitial,
        extra,
        outcome,
        reason,
        bytesSent: ev.bytesSent,
        bytesReceived: ev.bytesReceived,
        retransmits: ev.retransmits,
        rttUs: s && s.sf.rttUs > 0 ? s.sf.rttUs : null,
        error: errnoName(closed?.error ?? null),
        resetReason: closed?.resetReasonName ?? null,
      };
    };
    const [iAddr, iPort] = initialKey.split('|');
    subflows.push(toChecked(iAddr ?? '', Number(iPort), initial.interface, true, false, null));
    for (const p of planned)
      subflows.push(
        toChecked(p.source.address, p.port, p.source.interface, false, false, p.createError, p.remote),
      );
    for (const r of otherFamily)
      for (const s of o.sources.slice(0, 1))
        subflows.push({
          ...toChecked(s.address, 0, s.interface, false, false, 'skipped', r),
          outcome: 'not-created',
          reason: `not tried: a connection over ${family === 4 ? 'IPv4' : 'IPv6'} takes only ${family === 4 ? 'IPv4' : 'IPv6'} subflows (run a check to an ${family === 4 ? 'IPv6' : 'IPv4'} address of the host for this one)`,
        });
    const known = new Set([initialKey, ...planned.map((p) => keyOf(p.source.address, p.port))]);
    for (const [k, s] of seen) {
      if (known.has(k)) continue;
      const iface =
        [...o.sources, ...otherSources].find((x) => x.address === unmap(s.sf.localAddress))?.interface ??
        null;
      subflows.push(
        toChecked(s.sf.localAddress, s.sf.localPort, iface, false, true, null, {
          address: s.sf.remoteAddress,
          port: s.sf.remotePort,
        }),
      );
    }
    await h.closeConnection().catch(() => undefined);
    return await finish(subflows, summarisePaths(subflows));
  } finally {
    helper?.close();
    watch.close();
  }

  async function finish(
    list: CheckedSubflow[],
    paths: ReturnType<typeof summarisePaths>,
  ): Promise<SubflowCheckResult> {
    const after =
      counters1 ?? (await deps.kernel.reads.counters().catch(() => ({ counters: counters0 }))).counters;
    const moved: Record<string, number> = {};
    for (const [name, v] of Object.entries(after)) {
      const d = v - (counters0[name] ?? 0);
      if (d !== 0 && COUNTER_RE.test(name)) moved[name] = d;
    }
    if (!pmBefore) pmBefore = await deps.pmSwitch.read().catch(() => 'unknown');
    const result: SubflowCheckResult = {
      target: remote,
      port: o.port,
      subflowsPerPath: o.subflowsPerPath,
      connection: {
        token,
        initialAddress: initial?.address ?? null,
        mptcp: token !== null && mptcpAtEnd,
        fallback: connectionFallback,
        pathManager: { before: pmBefore, switched },
      },
      remotes,
      payload,
      subflows: list,
      paths,
      counters: moved,
      verdict: '',
      elapsedMs: Date.now() - startMs,
      cancelled: aborted(),
    };
    result.verdict = checkVerdict(result);
    progress(100, result.verdict);
    return result;
  }
}
