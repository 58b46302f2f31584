// Build the Path doctor's probe helper (native/mptcp-probe.c) into out/probe/mptcp-probe.
// Rebuilt only when a source is newer than the binary. The helper needs CAP_NET_RAW for raw
// probes: run it as root, or give it file capabilities once (docs/path-doctor.md):
//   sudo setcap cap_net_raw+ep out/probe/mptcp-probe
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'native/mptcp-probe.c');
const sources = [
  main,
  ...['native/mptcp-probe-connect.h', 'native/mptcp-probe-check.h'].map((s) => join(root, s)),
];
const out = join(root, 'out', 'probe', 'mptcp-probe');

export function buildProbe() {
  const newest = Math.max(...sources.map((s) => statSync(s).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= newest) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-o', tmp, main], {
    stdio: 'inherit',
  });
  renameSync(tmp, out);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) buildProbe();
