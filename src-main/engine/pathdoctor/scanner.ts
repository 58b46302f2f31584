/**
 * The raw scanner (`mptcp-studio scan`, docs/path-doctor.md): per target and port a SYN with the
 * v1 MP_CAPABLE in Linux's layout; a v0 SYN (random key) when the answer had no MPTCP; a plain
 * SYN when the MP_CAPABLE SYN was never answered (SYN blackhole or filtered); optionally a SYN
 * with MP_JOIN and a random token. Replies are validated statelessly (cookie.ts). Probes leave
 * at the global rate (a token bucket here, and the helper's own as a ceiling) and at most
 * `perTargetPps` to any one address. Unanswered probes are retried `retries` times.
 */
import { formatIp } from '../../../shared/packet/addr';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../../shared/packet/packet';
import { parsePacket } from '../../../shared/packet/parse';
import { findOption } from '../../../shared/packet/tcp-options';
import type { ScanRecord, ScanResult } from '../../../shared/path-doctor';
import { classify, type Evidence, type ProbeKind, type Reply } from './classify';
import { CookieJar, KIND_INDEX, type ProbeCookie } from './cookie';
import type { RawProbeHelper, ReceivedPacket } from './helper';
import { buildSyn } from './syn-packets';
import type { Target } from './targets';

/** A polite default: 100 probes/s in all, 10/s to any one address (docs/path-doctor.md). */
export const DEFAULT_RATE_PPS = 100;
export const DEFAULT_PER_TARGET_PPS = 10;

export interface ScanOptions {
  helper: RawProbeHelper;
  targets: readonly Target[];
  ports: readonly number[];
  ratePps: number;
  perTargetPps?: number;
  retries?: number;
  timeoutMs?: number;
  /** Also send SYN + MP_JOIN (random token) to MPTCP answers: an RST proves a real listener. */
  join?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, sent: number) => void;
  onRecord?: (r: ScanRecord) => void;
  secret?: Buffer;
}

type Stage = ProbeKind | 'done';

interface State {
  t: Target;
  port: number;
  cookie: ProbeCookie;
  ev: Evidence;
  stage: Stage;
  tries: number;
  sentUs: number;
  rttMs: number | null;
  /** The plain SYN was answered: the v1 SYN is tried once more before calling it a blackhole. */
  confirming: boolean;
}

interface Wait {
  s: State;
  stage: Stage;
  tries: number;
  deadlineMs: number;
}

const keyOf = (addr: string, port: number): string => `${addr}|${port}`;

export async function rawScan(o: ScanOptions): Promise<ScanResult> {
  const startMs = Date.now();
  const jar = new CookieJar(o.secret);
  const retries = o.retries ?? 1;
  const timeoutMs = o.timeoutMs ?? 1000;
  const gapMs = 1000 / (o.perTargetPps ?? DEFAULT_PER_TARGET_PPS);
  const total = o.targets.length * o.ports.length;
  const states = new Map<string, State>();
  const records: ScanRecord[] = [];
  const lastSentMs = new Map<string, number>();
  const urgent: State[] = [];
  const deferred: { s: State; notBefore: number }[] = [];
  const waits: Wait[] = [];
  let waitHead = 0;
  let nextTarget = 0;
  let sent = 0;
  let acked = 0;
  let done = 0;
  const failed: { error: Error | null } = { error: null };
  const byTag = new Map<number, State>();
  const sources = new Map<string, Uint8Array>();

  const sourceFor = async (dst: Uint8Array): Promise<Uint8Array> => {
    // One route lookup per /24 (IPv4) or /64 (IPv6): a scan of a range uses one source.
    const prefix = formatIp(
      dst.length === 4
        ? Uint8Array.of(dst[0] ?? 0, dst[1] ?? 0, dst[2] ?? 0, 0)
        : Uint8Array.from([...dst.slice(0, 8), ...new Uint8Array(8)]),
    );
    let s = sources.get(prefix);
    if (!s) {
      s = await o.helper.sourceFor(dst);
      sources.set(prefix, s);
    }
    return s;
  };

  const finish = (s: State): void => {
    if (s.stage === 'done') return;
    s.stage = 'done';
    const v = classify(s.ev);
    const probes = s.ev.sent.v1 + s.ev.sent.v0 + s.ev.sent.plain + s.ev.sent.join;
    const rec: ScanRecord = {
      target: s.t.text,
      host: s.t.host,
      port: s.port,
      ...v,
      fallback: null,
      rttMs: s.rttMs,
      probes,
    };
    records.push(rec);
    done++;
    o.onRecord?.(rec);
  };

  const moveTo = (s: State, stage: Stage): void => {
    if (stage === 'done') return finish(s);
    s.stage = stage;
    s.tries = 0;
    urgent.push(s);
  };

  const advance = (s: State, kind: ProbeKind, r: Reply): void => {
    if (s.stage !== kind) return; // a late answer to an earlier stage: kept as evidence only
    if (kind === 'v1') {
      if (r.kind === 'synack' && r.mpc) return moveTo(s, o.join && r.mpc.raw.length > 4 ? 'join' : 'done');
      if (r.kind === 'synack') return moveTo(s, 'v0');
      return moveTo(s, 'done');
    }
    if (kind === 'plain' && (r.kind === 'synack' || r.kind === 'rst')) {
      // Random loss can swallow every try of the v1 SYN; before "syn-blackhole" stands, the
      // v1 SYN gets another full round of tries now that the path is known to carry SYNs.
      s.confirming = true;
      return moveTo(s, 'v1');
    }
    moveTo(s, 'done');
  };

  const onPacket = (p: ReceivedPacket): void => {
    const pkt = parsePacket(p.bytes);
    if (!pkt) return;
    let target: Uint8Array;
    let port: number;
    let ourPort: number;
    let seq: number;
    let reply: Reply;
    if (pkt.kind === 'tcp') {
      const f = pkt.tcp.flags;
      if ((f & TCP_ACK) === 0) return;
      if ((f & (TCP_SYN | TCP_RST)) === TCP_SYN) {
        const mpc = findOption(pkt.tcp.options, 'mp-capable') ?? null;
        reply = { kind: 'synack', mpc };
      } else if (f & TCP_RST) reply = { kind: 'rst' };
      else return;
      target = pkt.ip.srcBytes;
      port = pkt.tcp.srcPort;
      ourPort = pkt.tcp.dstPort;
      seq = (pkt.tcp.ack - 1) >>> 0;
    } else if (pkt.kind === 'icmp') {
      const q = pkt.icmp.quote;
      if (!q?.tcp || pkt.icmp.kind === 'other') return;
      target = q.ip.dstBytes;
      port = q.tcp.dstPort;
      ourPort = q.tcp.srcPort;
      seq = q.tcp.seq;
      reply = { kind: 'icmp', reason: `${pkt.icmp.reason} from ${pkt.ip.src}` };
    } else return;
    const m = jar.match(target, port, ourPort, seq);
    if (!m) return;
    const s = states.get(keyOf(formatIp(target), port));
    if (!s || s.ev[m.kind] !== null) return;
    s.ev[m.kind] = reply;
    if (s.rttMs === null && s.sentUs > 0) s.rttMs = Math.max(0, (p.timeUs - s.sentUs) / 1000);
    advance(s, m.kind, reply);
  };

  const onSent = (tag: number, timeUs: number, errno: number): void => {
    acked++;
    const s = byTag.get(tag);
    byTag.delete(tag);
    if (!s) return;
    s.sentUs = timeUs; // the latest try: an answer is most likely to it
    if (errno === 1)
      failed.error ??= new Error(
        `the probe helper refused a probe to ${s.t.text}: ${o.helper.notes.at(-1) ?? 'policy'}`,
      );
    else if (errno !== 0 && s.stage !== 'done') {
      // No route, unreachable network: the kernel said so before anything left.
      s.ev[s.stage] = { kind: 'icmp', reason: `not sent (errno ${errno})` };
      finish(s);
    }
  };

  const offPacket = o.helper.onPacket(onPacket);
  const offSent = o.helper.onSent(onSent);

  const sendProbe = async (s: State): Promise<void> => {
    const stage = s.stage;
    if (stage === 'done') return;
    const k = KIND_INDEX[stage];
    const src = await sourceFor(s.t.address);
    const pkt = buildSyn({
      kind: stage,
      src,
      dst: s.t.address,
      srcPort: s.cookie.sportBase + k,
      dstPort: s.port,
      seq: s.cookie.seq[k] ?? 0,
      ttl: 64,
      id: (s.cookie.seq[k] ?? 0) & 0xffff,
      tsVal: (Date.now() & 0x7fffffff) >>> 0,
      v0Key: s.cookie.v0Key,
      joinToken: s.cookie.joinToken,
      joinNonce: s.cookie.joinNonce,
    });
    const tag = o.helper.send(pkt);
    byTag.set(tag, s);
    sent++;
    s.ev.sent[stage]++;
    s.tries++;
    lastSentMs.set(s.t.text, Date.now());
    waits.push({ s, stage, tries: s.tries, deadlineMs: Date.now() + timeoutMs });
  };

  const newState = (t: Target, port: number): State => {
    const cookie = jar.cookie(t.address, port);
    const s: State = {
      t,
      port,
      cookie,
      ev: {
        v1: null,
        v0: null,
        plain: null,
        join: null,
        sent: { v1: 0, v0: 0, plain: 0, join: 0 },
        v0KeyHex: Buffer.from(cookie.v0Key).toString('hex'),
      },
      stage: 'v1',
      tries: 0,
      sentUs: 0,
      rttMs: null,
      confirming: false,
    };
    states.set(keyOf(t.text, port), s);
    return s;
  };

  /** The next state due a probe now, or null. */
  const nextDue = (now: number): State | null => {
    while (deferred.length > 0 && (deferred[0]?.notBefore ?? 0) <= now) {
      const d = deferred.shift();
      if (d && d.s.stage !== 'done') return d.s;
    }
    for (;;) {
      let s = urgent.shift();
      if (!s && nextTarget < total) {
        const t = o.targets[Math.floor(nextTarget / o.ports.length)] as Target;
        const port = o.ports[nextTarget % o.ports.length] as number;
        nextTarget++;
        s = newState(t, port);
      }
      if (!s) return null;
      if (s.stage === 'done') continue;
      const last = lastSentMs.get(s.t.text);
      if (last !== undefined && now - last < gapMs) {
        deferred.push({ s, notBefore: last + gapMs });
        continue;
      }
      return s;
    }
  };

  const expire = (now: number): void => {
    while (waitHead < waits.length && (waits[waitHead]?.deadlineMs ?? Infinity) <= now) {
      const w = waits[waitHead++] as Wait;
      const s = w.s;
      if (s.stage !== w.stage || s.tries !== w.tries || s.stage === 'done') continue;
      if (s.tries < 1 + retries) {
        urgent.push(s);
        continue;
      }
      moveTo(s, s.stage === 'v1' && !s.confirming ? 'plain' : 'done');
    }
    if (waitHead > 4096 && waitHead * 2 > waits.length) {
      waits.splice(0, waitHead);
      waitHead = 0;
    }
  };

  // The pacer: a token bucket at ratePps, refilled every few ms; the helper holds at most
  // ~20 ms of probes so a cancel stops sending at once.
  const window = Math.max(16, Math.ceil(o.ratePps / 50));
  let tokens = Math.max(1, o.ratePps / 100);
  let lastMs = Date.now();
  try {
    for (;;) {
      if (failed.error) throw failed.error;
      if (o.signal?.aborted) break;
      const now = Date.now();
      tokens = Math.min(Math.max(1, o.ratePps / 100), tokens + ((now - lastMs) * o.ratePps) / 1000);
      lastMs = now;
      expire(now);
      while (tokens >= 1 && sent - acked < window) {
        const s = nextDue(now);
        if (!s) break;
        tokens -= 1;
        await sendProbe(s);
      }
      o.onProgress?.(done, total, sent);
      if (done >= total) break;
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    offPacket();
    offSent();
  }
  const counts: Record<string, number> = {};
  for (const r of records) counts[r.class] = (counts[r.class] ?? 0) + 1;
  return {
    records,
    summary: {
      mode: 'raw',
      targets: o.targets.length,
      ports: [...o.ports],
      probesSent: sent,
      elapsedMs: Date.now() - startMs,
      ratePps: o.ratePps,
      cancelled: o.signal?.aborted ?? false,
      counts,
    },
  };
}
