/**
 * Records the packet fixtures of shared/packet/ (fixtures/recorded.json) in a Path doctor lab:
 * tcpdump captures, in the client namespace, what real Linux peers and routers sent: a Linux
 * MPTCP client's SYN, the server's SYN/ACK and third ACK, an MP_JOIN SYN, ICMP time-exceeded
 * quotes from routers before and after the middleboxes, ICMPv6 time exceeded, an ICMP port
 * unreachable and an RST. The TTL-limited probes are sent with the probe helper.
 *
 *   node scripts/build-probe.mjs && npx esbuild src-main/lab/record-path-doctor-fixtures.ts \
 *     --bundle --platform=node --format=esm --outfile=.cache/rec.mjs && node .cache/rec.mjs
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseIp } from '../../shared/packet/addr';
import { buildTcpPacket, TCP_SYN } from '../../shared/packet/packet';
import { encodeTcpOptions, linuxSynOptions, mpCapableV1Syn, toHex } from '../../shared/packet/tcp-options';
import { parsePacket } from '../../shared/packet/parse';
import { probeHelperPath, RawProbeHelper } from '../engine/pathdoctor/helper';
import { ip } from './lab';
import { PathDoctorLab, TARGET_PORTS } from './path-doctor-lab';

/** Packets of a pcap with Ethernet framing, as IP packets. */
function readPcap(file: string): Uint8Array[] {
  const b = readFileSync(file);
  const out: Uint8Array[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const incl = b.readUInt32LE(off + 8);
    const frame = b.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    const type = frame.readUInt16BE(12);
    if (type === 0x0800 || type === 0x86dd) out.push(new Uint8Array(frame.subarray(14)));
  }
  return out;
}

async function capture(
  ns: string,
  devs: string[],
  file: string,
  during: () => Promise<void>,
): Promise<Uint8Array[]> {
  const tds = devs.map((dev) => {
    const td = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'tcpdump',
        '--immediate-mode',
        '-Z',
        'root',
        '-i',
        dev,
        '-U',
        '-s',
        '2000',
        '-w',
        `${file}.${dev}`,
        'tcp or icmp or icmp6',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const ready = new Promise<void>((resolve) =>
      td.stderr.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()),
    );
    return { td, ready };
  });
  await Promise.all(tds.map((t) => t.ready));
  await during();
  await new Promise((r) => setTimeout(r, 500));
  for (const { td } of tds) {
    td.kill('SIGINT');
    await new Promise((r) => td.once('exit', r));
  }
  return devs.flatMap((dev) => readPcap(`${file}.${dev}`));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const lab = await PathDoctorLab.create({ paths: 2, ipv6: true });
  const fixtures: Record<string, { hex: string; note: string }> = {};
  const keep = (name: string, note: string, p: Uint8Array | undefined): void => {
    if (!p) throw new Error(`no packet for ${name}`);
    fixtures[name] = { hex: toHex(p), note };
  };
  try {
    const helperPath = probeHelperPath();
    await lab.startTargets(helperPath, { ipv6: true });
    const [p0, p1] = lab.paths;
    if (!p0 || !p1) throw new Error('two paths expected');
    await ip(['-n', lab.client, 'mptcp', 'limits', 'set', 'subflows', '2']);
    await ip(['-n', lab.server, 'mptcp', 'limits', 'set', 'subflows', '2']);
    await ip(['-n', lab.client, 'mptcp', 'endpoint', 'add', p0.clientAddress, 'dev', p0.clientIf, 'subflow']);

    // 1. A real Linux MPTCP connection over the clean path 1 (and its join attempt over path 0).
    const conn = await capture(lab.client, ['c0', 'c1'], '/tmp/pd-conn.pcap', async () => {
      const c = spawn('ip', ['netns', 'exec', lab.client, helperPath, 'connect', '--timeout-ms', '2000'], {
        stdio: ['pipe', 'inherit', 'inherit'],
      });
      c.stdin.end(`${p1.serverAddress} ${TARGET_PORTS.mptcp}\n`);
      await new Promise((r) => c.once('exit', r));
      await sleep(300);
    });
    const parsed = conn.map((b) => ({ b, p: parsePacket(b) }));
    const tcp = parsed.filter((x) => x.p?.kind === 'tcp');
    const find = (
      pred: (t: NonNullable<ReturnType<typeof parsePacket>> & { kind: 'tcp' }) => boolean,
    ): Uint8Array | undefined => tcp.find((x) => x.p?.kind === 'tcp' && pred(x.p))?.b;
    keep(
      'linux-mptcp-syn',
      'a Linux 6.18 MPTCP client SYN (IPPROTO_MPTCP connect), captured on the client',
      find((p) => p.tcp.flags === 0x02 && p.tcp.options.some((o) => o.kind === 'mp-capable')),
    );
    keep(
      'linux-mptcp-synack',
      'the server SYN/ACK with a 12-byte v1 MP_CAPABLE, after r1 clamped its MSS',
      find((p) => p.tcp.flags === 0x12 && p.tcp.options.some((o) => o.kind === 'mp-capable')),
    );
    keep(
      'linux-mptcp-ack',
      'the third ACK with both keys (20-byte MP_CAPABLE)',
      find((p) => p.tcp.flags === 0x10 && p.tcp.options.some((o) => o.kind === 'mp-capable')),
    );
    keep(
      'linux-mp-join-syn',
      'an MP_JOIN SYN (12 bytes: token, nonce) from the client subflow endpoint',
      find((p) => p.tcp.flags === 0x02 && p.tcp.options.some((o) => o.kind === 'mp-join')),
    );

    // 2. TTL-limited SYNs with MP_CAPABLE v1, sent with the helper; routers answer.
    const helper = await RawProbeHelper.open({ ratePps: 100, netns: lab.client });
    const send = (src: string, dst: string, ttl: number, port: number): void => {
      const s = parseIp(src);
      const d = parseIp(dst);
      if (!s || !d) throw new Error('address');
      helper.send(
        buildTcpPacket({
          src: s,
          dst: d,
          srcPort: 40000 + ttl,
          dstPort: port,
          seq: 0x11223344 + ttl,
          flags: TCP_SYN,
          window: 64240,
          ttl,
          id: 0x4000 + ttl,
          options: encodeTcpOptions(
            linuxSynOptions({ mss: 1460, tsVal: 12345, wscale: 7, mptcp: mpCapableV1Syn() }),
          ),
        }),
      );
    };
    const icmp = await capture(lab.client, ['c0', 'c1'], '/tmp/pd-icmp.pcap', async () => {
      for (const ttl of [1, 3, 4]) send(p0.clientAddress, p0.serverAddress, ttl, TARGET_PORTS.mptcp);
      send(p1.clientAddress6 ?? '', p1.serverAddress6 ?? '', 2, TARGET_PORTS.mptcp);
      send(p1.clientAddress, p1.serverAddress, 8, TARGET_PORTS.rejected);
      send(p1.clientAddress, p1.serverAddress, 8, TARGET_PORTS.closed);
      await sleep(500);
    });
    await helper.close();
    const pk = icmp.map((b) => ({ b, p: parsePacket(b) }));
    const fromHop = (addr: string): Uint8Array | undefined =>
      pk.find((x) => x.p?.kind === 'icmp' && x.p.ip.src === addr)?.b;
    keep(
      'icmp-te-hop1-intact',
      'ICMP time exceeded from r1 (path 0): full RFC 1812 quote, options intact',
      fromHop(p0.hopAddresses[0] ?? ''),
    );
    keep(
      'icmp-te-hop3-stripped',
      'ICMP time exceeded from r3 (path 0): MSS clamped by r1, option 30 replaced by NOPs by r2',
      fromHop(p0.hopAddresses[2] ?? ''),
    );
    keep(
      'icmp-te-hop4-dscp',
      'ICMP time exceeded from r4 (path 0): also DSCP 10 from r3',
      fromHop(p0.hopAddresses[3] ?? ''),
    );
    keep(
      'icmpv6-te-hop2',
      'ICMPv6 time exceeded from r2 of path 1 (no stripping there)',
      pk.find((x) => x.p?.kind === 'icmp' && x.p.ip.version === 6 && x.p.icmp.kind === 'time-exceeded')?.b,
    );
    keep(
      'icmp-port-unreachable',
      'ICMP port unreachable (iptables REJECT on the server)',
      pk.find((x) => x.p?.kind === 'icmp' && x.p.ip.version === 4 && x.p.icmp.kind === 'unreachable')?.b,
    );
    keep(
      'tcp-rst-closed',
      'RST/ACK from a closed port',
      pk.find((x) => x.p?.kind === 'tcp' && (x.p.tcp.flags & 0x04) !== 0)?.b,
    );
    const out = new URL('../../shared/packet/fixtures/recorded.json', import.meta.url);
    writeFileSync(process.argv[2] ?? out, `${JSON.stringify(fixtures, null, 2)}\n`);
    console.log(`recorded ${Object.keys(fixtures).length} packets`);
  } finally {
    await lab.destroy();
  }
}

await main();
