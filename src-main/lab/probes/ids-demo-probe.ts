/**
 * The seed's firewall lesson, run inside the lab's client namespace (bundled with esbuild and run
 * under `ip netns exec NS node …`, see src-main/lab/ids-demo.ts): an IDS-like rule on one path
 * (`iptables -m string` on that path's r2) matches a signature in a plain TCP stream, and stops
 * it; the same bytes sent over MPTCP, with the signature's first half on a subflow of another path
 * and its second half on a subflow of the IDS's path, pass unseen: no packet, and no subflow's
 * byte stream, ever holds the whole signature.
 *
 * The split is made deterministic with the userspace path manager: the first half goes while the
 * connection has one subflow (the clean path); then a subflow joins from the IDS's path and the
 * first one is destroyed (MPTCP_PM_CMD_SUBFLOW_CREATE, SUBFLOW_DESTROY), and the rest follows.
 *
 * argv[2]: JSON {mode: control|split, target, port, cleanAddress, idsAddress, signature,
 * helperPath}. Prints one JSON line: what the run sent and got back.
 */
import { CheckHelper } from '../../engine/pathdoctor/check-helper';
import { PmSwitch } from '../../engine/pathdoctor/pm-switch';
import { NetlinkKernel } from '../../engine/netlink-kernel';
import type { Connection } from '../../../shared/types';

interface Args {
  mode: 'control' | 'split';
  target: string;
  port: number;
  cleanAddress: string;
  idsAddress: string;
  signature: string;
  helperPath: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const SIG_AT = 200_000;
const TOTAL = 400_000;
const sig = new TextEncoder().encode(args.signature);
const half = Math.floor(sig.length / 2);
const kernel = new NetlinkKernel();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await f()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const established = (c: Connection | null, address: string): Connection['subflows'] =>
  (c?.subflows ?? []).filter((s) => s.localAddress === address && s.state === 'ESTABLISHED');

async function control(): Promise<Record<string, unknown>> {
  // Plain TCP from the IDS's path: one byte stream, one path; the signature sits in one packet.
  const h = await CheckHelper.open({ helperPath: args.helperPath });
  try {
    await h.pattern(7, { bytes: sig, at: SIG_AT });
    await h.socket('tcp', 4, args.idsAddress);
    await h.connect(args.target, args.port, 3000);
    const r = await h.send(TOTAL, 3000);
    // An RST: the blocked segment must not be retransmitted (and counted) during the next run.
    await h.abortConnection();
    return { sent: r.sent, echoed: r.echoed, complete: r.complete, intact: r.complete && r.mismatchAt < 0 };
  } finally {
    h.kill();
  }
}

async function split(): Promise<Record<string, unknown>> {
  const h = await CheckHelper.open({ helperPath: args.helperPath });
  try {
    await h.pattern(7, { bytes: sig, at: SIG_AT });
    await new PmSwitch().underUserspace(() => h.socket('mptcp', 4, args.cleanAddress), { allowed: true });
    const c = await h.connect(args.target, args.port, 3000);
    if (c.mptcp !== 1) throw new Error('the connection is not MPTCP');
    // 1. Up to the middle of the signature, on the clean path's subflow alone.
    const first = await h.send(SIG_AT + half, 5000);
    // 2. A subflow from the IDS's path, then the clean one goes.
    const idsPort = 20000 + Math.floor(Math.random() * 10000);
    await kernel.pm.subflowCreate({
      token: c.token,
      local: { address: args.idsAddress, id: 1, port: idsPort },
      remote: { address: args.target, port: args.port },
    });
    await waitFor(
      'the IDS path subflow',
      async () => established(await kernel.reads.connection(c.token), args.idsAddress).length === 1,
    );
    const before = await kernel.reads.connection(c.token);
    const clean = established(before, args.cleanAddress)[0];
    if (!clean) throw new Error('the clean subflow is gone');
    const cleanBytes = clean.bytesSent;
    await kernel.pm.subflowDestroy({
      token: c.token,
      local: { address: clean.localAddress, port: clean.localPort },
      remote: { address: args.target, port: args.port },
    });
    await waitFor(
      'the clean subflow to close',
      async () => established(await kernel.reads.connection(c.token), args.cleanAddress).length === 0,
    );
    // 3. The second half of the signature and the rest, on the IDS's path alone.
    const rest = await h.send(TOTAL - first.sent, 5000);
    const after = await kernel.reads.connection(c.token);
    const ids = established(after, args.idsAddress)[0];
    return {
      mptcp: rest.mptcp === 1,
      sent: rest.sent,
      echoed: rest.echoed,
      complete: rest.complete,
      intact: first.mismatchAt < 0 && rest.mismatchAt < 0 && rest.complete,
      firstPart: { bytes: first.sent, path: args.cleanAddress, subflowBytesSent: cleanBytes },
      secondPart: {
        bytes: rest.sent - first.sent,
        path: args.idsAddress,
        subflowBytesSent: ids?.bytesSent ?? null,
      },
      signatureAt: SIG_AT,
      signatureSplitAt: SIG_AT + half,
    };
  } finally {
    h.kill();
  }
}

try {
  const out = args.mode === 'control' ? await control() : await split();
  process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ error: e instanceof Error ? e.message : String(e) })}\n`);
  process.exitCode = 1;
} finally {
  kernel.close();
}
