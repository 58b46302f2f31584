/**
 * A tracebox that knows MPTCP v1 (`mptcp-studio trace`, docs/path-doctor.md): SYNs carrying the
 * v1 MP_CAPABLE in Linux's layout, TTL 1, 2, … (several in flight), each matched by its own
 * fields (source port = base + TTL, sequence number and IP ID per attempt; the IP ID and the
 * sequence still match when a NAT rewrites the port). Each router's ICMP quote is compared with
 * the probe (shared/packet/compare.ts); silent hops are retried.
 */
import { randomBytes } from 'node:crypto';
import { compareQuote, type Change, type ProbeImage } from '../../../shared/packet/compare';
import { formatIp } from '../../../shared/packet/addr';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../../shared/packet/packet';
import { parsePacket } from '../../../shared/packet/parse';
import { findOption } from '../../../shared/packet/tcp-options';
import type { Hop, ScanClass, TraceResult } from '../../../shared/path-doctor';
import type { RawProbeHelper, ReceivedPacket } from './helper';
import type { PcapPacket } from './pcap';
import { buildSyn } from './syn-packets';
import type { Target } from './targets';
import { traceVerdict } from './verdict';

export interface TraceOptions {
  helper: RawProbeHelper;
  target: Target;
  port: number;
  source: Uint8Array;
  /** Interface to leave by (0: by route from `source`). */
  ifindex?: number;
  /** What --from named, for the report. */
  from?: string | null;
  maxTtl?: number;
  retries?: number;
  timeoutMs?: number;
  /** TTLs probed at once. */
  inFlight?: number;
  /** Stop this many silent TTLs after the last hop that answered. */
  gapLimit?: number;
  signal?: AbortSignal;
  /** Every packet sent and every matched answer, for --pcap. */
  capture?: PcapPacket[];
  /** Called when a hop answers for the first time: hops answered so far, probes sent. */
  onProgress?: (hopsAnswered: number, probesSent: number) => void;
}

interface Attempt {
  ttl: number;
  attempt: number;
  seq: number;
  id: number;
  image: ProbeImage;
  bytes: Uint8Array;
  sentUs: number;
  kind: 'v1' | 'plain';
}

type Answer =
  | {
      kind: 'icmp';
      from: string;
      timeUs: number;
      a: Attempt;
      pkt: NonNullable<ReturnType<typeof parsePacket>> & { kind: 'icmp' };
    }
  | {
      kind: 'tcp';
      from: string;
      timeUs: number;
      a: Attempt;
      synack: boolean;
      mpcLen: number | null;
      mpcVersion: number | null;
    };

const sameChange = (a: Change, b: Change): boolean =>
  a.kind === b.kind && a.field === b.field && a.to === b.to;

export async function runTrace(o: TraceOptions): Promise<TraceResult> {
  const startMs = Date.now();
  const maxTtl = o.maxTtl ?? 30;
  const retries = o.retries ?? 2;
  const timeoutMs = o.timeoutMs ?? 1000;
  const inFlight = o.inFlight ?? 8;
  const gapLimit = o.gapLimit ?? 5;
  const rnd = randomBytes(8);
  const sportBase = 33000 + (rnd.readUInt16BE(0) % 28000);
  const seqBase = rnd.readUInt32BE(2);
  const idBase = rnd.readUInt16BE(6);
  const bySeq = new Map<number, Attempt>();
  const byId = new Map<number, Attempt>();
  const byTag = new Map<number, Attempt>();
  const answers = new Map<number, Answer>(); // by TTL (first answer wins)
  let destTtl: number | null = null;
  let probesSent = 0;

  const mkAttempt = (ttl: number, attempt: number, kind: 'v1' | 'plain'): Attempt => {
    const seq = (seqBase + ttl * 0x10000 + attempt * 0x100 + (kind === 'plain' ? 0x80 : 0)) >>> 0;
    const id = (idBase + ttl * 16 + attempt + (kind === 'plain' ? 8 : 0)) & 0xffff;
    const bytes = buildSyn({
      kind,
      src: o.source,
      dst: o.target.address,
      srcPort: sportBase + ttl,
      dstPort: o.port,
      seq,
      ttl,
      id,
      tsVal: (Date.now() & 0x7fffffff) >>> 0,
    });
    const p = parsePacket(bytes);
    if (p?.kind !== 'tcp') throw new Error('probe does not parse');
    return { ttl, attempt, seq, id, image: { ip: p.ip, tcp: p.tcp }, bytes, sentUs: 0, kind };
  };

  const send = (a: Attempt): void => {
    bySeq.set(a.seq, a);
    byId.set(a.id, a);
    byTag.set(o.helper.send(a.bytes, o.ifindex ?? 0), a);
    probesSent++;
  };

  const onSent = (tag: number, timeUs: number): void => {
    const a = byTag.get(tag);
    if (!a) return;
    byTag.delete(tag);
    a.sentUs = timeUs;
    o.capture?.push({ timeUs, bytes: a.bytes });
  };

  const targetText = o.target.text;
  const onPacket = (p: ReceivedPacket): void => {
    const pkt = parsePacket(p.bytes);
    if (!pkt) return;
    let a: Attempt | undefined;
    if (pkt.kind === 'tcp') {
      if (pkt.ip.src !== targetText || pkt.tcp.srcPort !== o.port) return;
      if ((pkt.tcp.flags & TCP_ACK) === 0) return;
      a = bySeq.get((pkt.tcp.ack - 1) >>> 0);
      if (!a || pkt.tcp.dstPort !== sportBase + a.ttl) return;
      const mpc = findOption(pkt.tcp.options, 'mp-capable');
      const synack = (pkt.tcp.flags & (TCP_SYN | TCP_RST)) === TCP_SYN;
      if (!synack && (pkt.tcp.flags & TCP_RST) === 0) return;
      record({
        kind: 'tcp',
        from: pkt.ip.src,
        timeUs: p.timeUs,
        a,
        synack,
        mpcLen: mpc?.raw.length ?? null,
        mpcVersion: mpc?.version ?? null,
      });
    } else if (pkt.kind === 'icmp') {
      const q = pkt.icmp.quote;
      if (!q?.tcp || (q.ip.dst !== targetText && !byId.has(q.ip.version === 4 ? q.ip.id : -1))) return;
      // Match by the quoted sequence number; a NAT that rewrote it leaves the IP ID (IPv4).
      a = bySeq.get(q.tcp.seq) ?? (q.ip.version === 4 ? byId.get(q.ip.id) : undefined);
      if (!a) return;
      record({ kind: 'icmp', from: pkt.ip.src, timeUs: p.timeUs, a, pkt });
    } else return;
    o.capture?.push({ timeUs: p.timeUs, bytes: p.bytes });
  };

  const record = (ans: Answer): void => {
    wake();
    const ttl = ans.a.ttl;
    if (ans.a.kind === 'plain') {
      plainAnswer ??= ans;
      return;
    }
    if (!answers.has(ttl)) {
      answers.set(ttl, ans);
      o.onProgress?.(answers.size, probesSent);
    }
    const reached =
      ans.kind === 'tcp' ||
      (ans.kind === 'icmp' && ans.pkt.icmp.kind === 'unreachable' && ans.from === targetText);
    if (reached && (destTtl === null || ttl < destTtl)) destTtl = ttl;
  };
  let plainAnswer: Answer | null = null;

  const offPacket = o.helper.onPacket(onPacket);
  const offSent = o.helper.onSent(onSent);
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  // The loop sleeps until the next deadline or the next answer, whichever comes first.
  let wakeUp: (() => void) | null = null;
  function wake(): void {
    wakeUp?.();
    wakeUp = null;
  }
  const nap = (ms: number): Promise<void> =>
    new Promise((r) => {
      const t = setTimeout(r, ms);
      wakeUp = () => {
        clearTimeout(t);
        r();
      };
    });
  try {
    // TTL state: attempts made and when the last one times out.
    const tries = new Map<number, number>();
    const deadline = new Map<number, number>();
    let next = 1;
    const resolved = (ttl: number): boolean => answers.has(ttl) || (tries.get(ttl) ?? 0) > retries;
    const lastAnswered = (): number =>
      Math.max(0, ...[...answers.keys()].filter((t) => destTtl === null || t <= destTtl));
    for (;;) {
      if (o.signal?.aborted) break;
      const now = Date.now();
      const limit = destTtl ?? maxTtl;
      // Retry or give up on TTLs whose last attempt timed out.
      for (const [ttl, dl] of deadline) {
        if (ttl > limit || answers.has(ttl)) {
          deadline.delete(ttl);
          continue;
        }
        if (now < dl) continue;
        const n = tries.get(ttl) ?? 0;
        if (n > retries) {
          deadline.delete(ttl);
          tries.set(ttl, n + 1);
          continue;
        }
        send(mkAttempt(ttl, n, 'v1'));
        tries.set(ttl, n + 1);
        deadline.set(ttl, now + timeoutMs);
      }
      // Open new TTLs while fewer than inFlight are unresolved and the gap limit allows.
      while (next <= limit && deadline.size < inFlight && next - lastAnswered() <= gapLimit) {
        send(mkAttempt(next, 0, 'v1'));
        tries.set(next, 1);
        deadline.set(next, now + timeoutMs);
        next++;
      }
      const openTtls = [...deadline.keys()].filter((t) => t <= limit && !resolved(t));
      if (openTtls.length === 0 && (next > limit || next - lastAnswered() > gapLimit)) break;
      const due = Math.min(...[...deadline.values()].map((d) => d - Date.now()), 50);
      await nap(Math.max(1, due));
    }
    // The destination never answered the MP_CAPABLE SYN: does a plain SYN get an answer?
    if (destTtl === null && !o.signal?.aborted) {
      for (let attempt = 0; attempt <= retries && !plainAnswer; attempt++) {
        send(mkAttempt(64, attempt, 'plain'));
        const until = Date.now() + timeoutMs;
        while (!plainAnswer && Date.now() < until) await sleep(5);
      }
    }
  } finally {
    offPacket();
    offSent();
  }

  // Hops: every TTL up to the destination (or the last that answered), silent ones included.
  const lastTtl = destTtl ?? Math.max(0, ...answers.keys());
  const hops: Hop[] = [];
  let prevChanges: Change[] = [];
  for (let ttl = 1; ttl <= lastTtl; ttl++) {
    const ans = answers.get(ttl);
    if (!ans) {
      hops.push({
        ttl,
        address: null,
        rttMs: null,
        quote: null,
        mptcp: 'unknown',
        changes: [],
        newChanges: [],
        destination: false,
      });
      continue;
    }
    const rttMs = ans.a.sentUs > 0 ? Math.max(0, (ans.timeUs - ans.a.sentUs) / 1000) : null;
    const isDest = ttl === destTtl;
    if (ans.kind === 'tcp') {
      hops.push({
        ttl,
        address: ans.from,
        rttMs,
        quote: null,
        // The server's own MP_CAPABLE in its SYN/ACK shows ours arrived.
        mptcp: ans.synack && ans.mpcLen !== null && ans.mpcLen >= 12 ? 'intact' : 'unknown',
        changes: [],
        newChanges: [],
        destination: true,
      });
      continue;
    }
    const q = ans.pkt.icmp.quote;
    const cmp = q ? compareQuote(ans.a.image, q.ip, q.tcp) : { changes: [], mptcp: 'unknown' as const };
    const newChanges = cmp.changes.filter((c) => !prevChanges.some((p) => sameChange(p, c)));
    if (q?.optionsVisible) prevChanges = cmp.changes;
    else
      prevChanges = [
        ...prevChanges.filter((c) => c.kind.startsWith('option') || c.kind === 'mss'),
        ...cmp.changes,
      ];
    hops.push({
      ttl,
      address: ans.from,
      rttMs,
      quote: q ? { kind: q.kind, transportBytes: q.transportBytes, optionsVisible: q.optionsVisible } : null,
      mptcp: cmp.mptcp,
      changes: cmp.changes,
      newChanges,
      destination: isDest,
    });
  }

  const dAns = destTtl !== null ? answers.get(destTtl) : undefined;
  let dClass: ScanClass | null;
  let dReason: string;
  if (dAns?.kind === 'tcp') {
    if (!dAns.synack) [dClass, dReason] = ['closed', 'the destination answered with RST'];
    else if (dAns.mpcLen === 4) [dClass, dReason] = ['mirror', 'the SYN/ACK echoes our 4-byte MP_CAPABLE'];
    else if (dAns.mpcLen !== null && dAns.mpcVersion === 1)
      [dClass, dReason] = ['mptcp-v1', 'the SYN/ACK carries MP_CAPABLE v1'];
    else if (dAns.mpcLen !== null && dAns.mpcVersion === 0)
      [dClass, dReason] = ['mptcp-v0', 'the SYN/ACK carries MP_CAPABLE v0'];
    else [dClass, dReason] = ['tcp', 'the SYN/ACK has no MP_CAPABLE'];
  } else if (dAns?.kind === 'icmp') {
    [dClass, dReason] = ['filtered', `ICMP ${dAns.pkt.icmp.reason}`];
  } else if (plainAnswer) {
    [dClass, dReason] = ['syn-blackhole', 'no answer to the MP_CAPABLE SYNs; a plain SYN was answered'];
  } else {
    [dClass, dReason] = ['filtered', 'no answer to MP_CAPABLE SYNs nor to a plain SYN'];
  }
  const result: TraceResult = {
    target: o.target.text,
    port: o.port,
    source: formatIp(o.source),
    from: o.from ?? null,
    hops,
    destination: { class: dClass, ttl: destTtl, reason: dReason },
    verdict: '',
    elapsedMs: Date.now() - startMs,
    probesSent,
  };
  result.verdict = traceVerdict(result);
  return result;
}
