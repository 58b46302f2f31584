// The poll's decode alone, without a kernel: SnapshotBuilder (src-main/engine/diag/decode.ts) fed
// a synthetic poll of N MPTCP connections with one subflow each, built from the recorded lab poll
// (src-main/engine/diag/fixtures/poll-lab.json) with a token and ports per connection.
//
//   node bench/poll-decode.mjs [--connections 10000] [--iterations 300] [--mode reuse|fresh]
//
// `reuse`: each poll reuses the last poll's objects (every socket unchanged: an idle poll);
// `fresh`: every object built anew. Prints wall ms per poll (min, p10, median). For a figure that
// does not move with the machine's load, count instructions with V8 deterministic (the difference
// of two runs cancels start-up):
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null --smc-check=all-non-file \
//     node --predictable --max-semi-space-size=32 .cache/poll-decode.mjs --iterations 40
//   (and again with --iterations 140; the difference / 100 is per poll)
//
// Measured on the dev VM (10,000 connections, V8 --predictable under callgrind, per poll): before
// the offsets came from the uapi field tables (literal offsets), reuse 80.5 M instructions, fresh
// 57.6 M; with them, 86.3 M and 59.2 M. About a third of the difference is the tables' offsets
// being variable loads rather than literals. In wall time, the same A/B in one process: reuse
// 3.0 vs 3.15 ms (p10).
import { spawnSync } from 'node:child_process';
import { arg, bundleSource } from './lib.mjs';

const N = Number(arg('connections', '10000'));
const ITERS = Number(arg('iterations', '300'));
const MODE = arg('mode', 'reuse');
if (MODE !== 'reuse' && MODE !== 'fresh') throw new Error(`--mode reuse|fresh, not ${MODE}`);

const out = await bundleSource(
  `
import { readFileSync } from 'node:fs';
import { PollMemory, SnapshotBuilder } from './src-main/engine/diag/decode';

const fx = JSON.parse(readFileSync(${JSON.stringify(new URL('../src-main/engine/diag/fixtures/poll-lab.json', import.meta.url).pathname)}, 'utf8'));
const msgs = (h: string[]) => h.map((x) => Buffer.from(x, 'hex'));
const mp = msgs(fx.mptcp);
const tcp = msgs(fx.tcp);
/** Attributes of buf[start, end): (type, payload offset, payload length). */
function attrs(m: Buffer, start: number, end: number, cb: (t: number, o: number, l: number) => void) {
  for (let a = start; a + 4 <= end; ) {
    const len = m.readUInt16LE(a);
    if (len < 4 || a + len > end) break;
    cb(m.readUInt16LE(a + 2) & 0x3fff, a + 4, len - 4);
    a += (len + 3) & ~3;
  }
}
const BODY = 16 + 72; // nlmsghdr + inet_diag_msg
const m0 = mp.find((m) => m[16] === 2)!;
let tokOff = -1;
attrs(m0, BODY, m0.length, (t, o) => { if (t === 2) tokOff = o + 12; }); // INET_DIAG_INFO: mptcpi_token
const token = m0.readUInt32LE(tokOff);
/** The offset of a subflow message's MPTCP_SUBFLOW_ATTR_TOKEN_LOC payload, or -1. */
function tokenLoc(m: Buffer): number {
  let r = -1;
  attrs(m, BODY, m.length, (t, o, l) => {
    if (t === 19) attrs(m, o, o + l, (t2, o2, l2) => { if (t2 === 3) attrs(m, o2, o2 + l2, (t3, o3) => { if (t3 === 2) r = o3; }); });
  });
  return r;
}
const s0 = tcp.find((m) => tokenLoc(m) >= 0 && m.readUInt32LE(tokenLoc(m)) === token)!;
const sTok = tokenLoc(s0);
function pack(list: Buffer[]) {
  const buf = Buffer.from(new ArrayBuffer(list.reduce((n, p) => n + ((p.length + 3) & ~3), 0)));
  const offs: number[] = [];
  const lens: number[] = [];
  let off = 0;
  for (const p of list) { p.copy(buf, off); offs.push(off + 16); lens.push(p.length - 16); off += (p.length + 3) & ~3; }
  return { buf, offs, lens };
}
const mList: Buffer[] = [];
const tList: Buffer[] = [];
for (let c = 0; c < ${N}; c++) {
  const m = Buffer.from(m0);
  m.writeUInt32LE(0x10000000 + c, tokOff);
  m.writeUInt16BE(1000 + (c % 60000), 16 + 4);
  mList.push(m);
  const s = Buffer.from(s0);
  s.writeUInt32LE(0x10000000 + c, sTok);
  s.writeUInt16BE(1000 + (c % 60000), 16 + 4);
  tList.push(s);
}
const M = pack(mList);
const T = pack(tList);
function feedMptcp(b: SnapshotBuilder) {
  for (let i = 0; i < M.offs.length; i++) b.onMptcp(M.buf, M.offs[i]!, M.lens[i]!);
}
function feedTcp(b: SnapshotBuilder) {
  for (let i = 0; i < T.offs.length; i++) b.onTcp(T.buf, T.offs[i]!, T.lens[i]!);
}
function poll(opts: ConstructorParameters<typeof SnapshotBuilder>[0]) {
  const b = new SnapshotBuilder(opts);
  feedMptcp(b);
  feedTcp(b);
  b.finish();
  return b;
}
const iters = Number(process.argv[process.argv.indexOf('--iterations') + 1] || ${ITERS});
const reuse = ${JSON.stringify(MODE)} === 'reuse';
const mems = [new PollMemory(), new PollMemory(), new PollMemory()];
let prev: PollMemory | null = null;
let keep: unknown[] = [];
const ms: number[] = [];
for (let it = 0; it < iters; it++) {
  const t0 = performance.now();
  if (reuse) {
    const b = poll({ prev, into: mems[it % 3]! });
    prev = b.memory();
    keep = b.connections;
  } else keep = poll({}).connections;
  if (it >= Math.min(30, iters >> 1)) ms.push(performance.now() - t0);
}
if (keep.length !== ${N}) throw new Error('decoded ' + keep.length + ' connections');
ms.sort((a, b) => a - b);
const q = (p: number) => ms[Math.floor(p * (ms.length - 1))]!.toFixed(2);
console.log(JSON.stringify({ mode: ${JSON.stringify(MODE)}, connections: ${N}, polls: ms.length, minMs: q(0), p10Ms: q(0.1), medianMs: q(0.5) }));
`,
  'poll-decode.mjs',
);
const r = spawnSync(process.execPath, ['--max-semi-space-size=32', out, '--iterations', String(ITERS)], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
