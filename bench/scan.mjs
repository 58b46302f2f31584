// Scan of a /16 in the lab, one port: our raw scanner against `nmap -sS -n -Pn --min-rate R`
// and zmap, on the same targets with the same loss, in the same run (docs/path-doctor.md
// "Numbers"). Everything runs in lab namespaces: the client has a route to the lab's /16 only,
// and one namespace answers all of 10.200.0.0/16 (`ip route add local … dev lo`).
//
//   node bench/scan.mjs [--rate 20000] [--loss 0.01] [--runs 1]
//
// Probes/s are counted where they arrive (an iptables counter of SYNs in the answering
// namespace, before the loss rule), so every tool is measured the same way.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { arg, bundleSource, cache, importBundle, median, parseJson, root } from './lib.mjs';

const rate = Number(arg('rate', '20000'));
const loss = Number(arg('loss', '0.01'));
const runs = Number(arg('runs', '1'));
const PREFIX = '10.200.0.0/16';
const PORT = 80;

execFileSync(process.execPath, [join(root, 'scripts/build-probe.mjs')], { stdio: 'inherit' });
/**
 * What the bundle exports: the modules it was built from.
 * @typedef {Pick<typeof import('../src-main/lab/path-doctor-lab'), 'PathDoctorLab' | 'SCALE_PREFIX'>
 *   & Pick<typeof import('../src-main/lab/lab'), 'nsRun'>
 *   & Pick<typeof import('../src-main/engine/pathdoctor/scanner'), 'rawScan'>
 *   & Pick<typeof import('../src-main/engine/pathdoctor/helper'), 'RawProbeHelper' | 'probeHelperPath'>
 *   & Pick<typeof import('../src-main/engine/pathdoctor/targets'), 'expandTargets'>} Bundled
 */
const m = /** @type {Bundled} */ (
  await importBundle(
    await bundleSource(
      `export { PathDoctorLab, SCALE_PREFIX } from './src-main/lab/path-doctor-lab';
     export { nsRun } from './src-main/lab/lab';
     export { rawScan } from './src-main/engine/pathdoctor/scanner';
     export { RawProbeHelper, probeHelperPath } from './src-main/engine/pathdoctor/helper';
     export { expandTargets } from './src-main/engine/pathdoctor/targets';`,
      'bench-scan.mjs',
      { external: [] },
    ),
  )
);

/** @param {string} cmd */
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const lab = await m.PathDoctorLab.create({ paths: 1, scale: true });
/**
 * @typedef {{ tool: string, skipped: string }} Skipped
 * @typedef {{ tool: string, seconds: number, synsArrived: number, probesPerS: number, found: number, note: string }} Measured
 */
/** @type {(Skipped | Measured)[]} */
const results = [];
try {
  await lab.start(lab.scale, m.probeHelperPath(), ['echo', String(PORT)]);
  // Count SYNs as they arrive (first rule), then drop `loss` of what arrives (the same for all).
  await m.nsRun(lab.scale, 'iptables', [
    '-I',
    'INPUT',
    '1',
    '-p',
    'tcp',
    '--dport',
    String(PORT),
    '--tcp-flags',
    'SYN,ACK,RST',
    'SYN',
  ]);
  if (loss > 0)
    await m.nsRun(lab.scale, 'iptables', [
      '-A',
      'INPUT',
      '-p',
      'tcp',
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      String(loss),
      '-j',
      'DROP',
    ]);
  const synCount = async () => {
    const { stdout } = await m.nsRun(lab.scale, 'iptables', ['-L', 'INPUT', '1', '-v', '-x', '-n', '-Z']);
    return Number(stdout.trim().split(/\s+/)[0]);
  };
  const targets = await m.expandTargets([PREFIX]);
  const blocklist = join(cache, 'zmap-empty-blocklist');
  writeFileSync(blocklist, '');
  const links = /** @type {{ address?: string }[]} */ (
    parseJson((await m.nsRun(lab.scale, 'ip', ['-j', 'link', 'show', 'bc'])).stdout)
  );
  const gwMac = links[0]?.address;
  if (!gwMac) throw new Error("no MAC address on the scale namespace's bc link");

  /** @type {Record<string, (() => Promise<{ found: number, note: string }>) | null>} */
  const tools = {
    'mptcp-studio scan (raw)': async () => {
      const helper = await m.RawProbeHelper.open({ ratePps: rate, netns: lab.client });
      try {
        const res = await m.rawScan({
          helper,
          targets,
          ports: [PORT],
          ratePps: rate,
          retries: 1,
          timeoutMs: 1000,
        });
        return {
          found: res.summary.counts['mptcp-v1'] ?? 0,
          note: `classes: ${JSON.stringify(res.summary.counts)}`,
        };
      } finally {
        await helper.close();
      }
    },
    [`nmap -sS -n -Pn --min-rate ${rate}`]: have('nmap')
      ? async () => {
          const { stdout } = await m.nsRun(
            lab.client,
            'nmap',
            [
              '-sS',
              '-n',
              '-Pn',
              '-p',
              String(PORT),
              '--min-rate',
              String(rate),
              '--max-retries',
              '1',
              '-oG',
              '-',
              '--exclude',
              '10.200.0.0,10.200.255.255',
              PREFIX,
            ],
            { timeoutMs: 600_000 },
          );
          return { found: (stdout.match(/\/open\//g) ?? []).length, note: 'open ports only' };
        }
      : null,
    [`zmap -r ${rate}`]: have('zmap')
      ? async () => {
          const { stdout } = await m.nsRun(
            lab.client,
            'zmap',
            [
              '-q',
              '-p',
              String(PORT),
              '-r',
              String(rate),
              '-i',
              'cb',
              '-G',
              gwMac,
              '-S',
              '10.254.0.1',
              '-b',
              blocklist,
              '-c',
              '1',
              '-P',
              '2',
              '-o',
              '-',
              PREFIX,
            ],
            { timeoutMs: 600_000 },
          );
          return {
            found: new Set(stdout.trim().split('\n').filter(Boolean)).size,
            note: 'SYN/ACK only, 2 probes per target',
          };
        }
      : null,
  };
  for (let r = 0; r < runs; r++) {
    for (const [name, fn] of Object.entries(tools)) {
      if (!fn) {
        results.push({ tool: name, skipped: 'not installed (scripts/setup-debian.sh --test)' });
        continue;
      }
      await synCount(); // zero the counter
      const t0 = process.hrtime.bigint();
      const { found, note } = await fn();
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const syns = await synCount();
      results.push({ tool: name, seconds: s, synsArrived: syns, probesPerS: syns / s, found, note });
    }
  }
} finally {
  await lab.destroy();
}

const oursS = median(
  results.flatMap((x) => ('seconds' in x && x.tool.startsWith('mptcp-studio') ? [x.seconds] : [])),
);
console.log(`\nScan of ${PREFIX} (65534 targets), port ${PORT}, rate ${rate}/s, loss ${loss * 100}%:\n`);
console.log('| tool | time (s) | SYNs arrived | probes/s | targets found | our time ÷ theirs |');
console.log('|---|---|---|---|---|---|');
for (const x of results) {
  if ('skipped' in x) console.log(`| ${x.tool} | — | — | — | — | ${x.skipped} |`);
  else
    console.log(
      `| ${x.tool} | ${x.seconds.toFixed(2)} | ${x.synsArrived} | ${Math.round(x.probesPerS)} | ${x.found} (${x.note}) | ${(oursS / x.seconds).toFixed(2)} |`,
    );
}
