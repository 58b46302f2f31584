// Tests may use node: modules (shared/ code may not): this one runs the generated scripts with sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProfile, type MptcpConfig } from './config';
import { presets } from './presets';
import {
  ENDPOINTS_SCRIPT_PATH,
  ENDPOINTS_UNIT_PATH,
  formatExport,
  ipv6AsPrinted,
  PERSISTENT_FILENAME,
  shellToken,
  SYSCTL_D_PATH,
} from './export-formats';

const meta = { name: 'lab client', generatedAt: '2025-06-01T12:00:00.000Z' };
const flags = (on: string[]) => ({
  signal: on.includes('signal'),
  subflow: on.includes('subflow'),
  backup: on.includes('backup'),
  fullmesh: on.includes('fullmesh'),
  laminar: on.includes('laminar'),
});

const sample: MptcpConfig = {
  enabled: true,
  pathManager: 'kernel',
  scheduler: 'default',
  limits: { subflows: 4, addAddrAccepted: 2 },
  endpoints: [
    { address: '10.0.0.2', id: 1, ifname: 'eth0', flags: flags(['subflow', 'fullmesh']) },
    { address: '2001:db8::2', port: 10000, flags: flags(['signal']) },
    { address: '192.168.1.5', ifname: 'wwan0', flags: flags(['subflow', 'backup']) },
  ],
  sysctls: { checksumEnabled: false, addAddrTimeoutS: 120, staleLossCnt: 4 },
  congestionControl: 'cubic',
  buffers: {
    tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 33554432 },
    tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 4194304 },
    rmemMaxBytes: 4194304,
  },
  mtu: { eth0: 1500, wwan0: 1500 },
};

const policy: MptcpConfig = {
  limits: { subflows: 8, addAddrAccepted: 8 },
  endpointPolicy: [
    { match: 'wwan*', flags: flags(['subflow', 'backup']), families: ['inet', 'inet6'] },
    { match: 'eth[01]', flags: flags(['subflow', 'fullmesh']), families: ['inet'] },
    { match: '*', flags: flags(['signal']), port: 10000, families: ['inet6'] },
  ],
};

const dir = mkdtempSync(join(tmpdir(), 'mptcp-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function syntaxCheck(script: string): void {
  const file = join(dir, `check-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, script);
  const r = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

/**
 * Run a script with fake `ip` and `sysctl` first on PATH: they log their arguments, and `ip`
 * answers `-o addr show`, `mptcp help` and `mptcp endpoint show` from files, so the policy
 * expansion and the endpoint matching really run.
 */
function runWithFakes(
  script: string,
  addrs: string,
  help = 'FLAG  := [ signal | subflow | laminar ]',
  endpoints = '',
) {
  const bin = mkdtempSync(join(dir, 'bin-'));
  const log = join(bin, 'log');
  writeFileSync(join(bin, 'addrs'), addrs);
  writeFileSync(join(bin, 'help'), help);
  writeFileSync(join(bin, 'endpoints'), endpoints);
  writeFileSync(
    join(bin, 'ip'),
    [
      '#!/bin/sh',
      `if [ "$1" = -o ]; then cat '${bin}/addrs'; exit 0; fi`,
      `if [ "$1 $2" = "mptcp help" ]; then cat '${bin}/help' >&2; exit 255; fi`,
      `echo "ip $*" >> '${log}'`,
      `if [ "$*" = "mptcp endpoint show" ]; then cat '${bin}/endpoints'; fi`,
    ].join('\n'),
  );
  writeFileSync(join(bin, 'sysctl'), `#!/bin/sh\necho "sysctl $*" >> '${log}'\n`);
  chmodSync(join(bin, 'ip'), 0o755);
  chmodSync(join(bin, 'sysctl'), 0o755);
  writeFileSync(join(bin, 'script.sh'), script);
  const r = spawnSync('sh', [join(bin, 'script.sh')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` },
  });
  let logged: string[] = [];
  try {
    logged = readFileSync(log, 'utf8').trimEnd().split('\n');
  } catch {
    // nothing was run
  }
  return { status: r.status, stderr: r.stderr, logged };
}

const ipAddrs = [
  '2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever',
  '2: eth0    inet6 2001:db8::2/64 scope global \\       valid_lft forever',
  '3: wwan0    inet 100.64.0.9/10 scope global wwan0\\       valid_lft forever',
  '3: wwan0    inet6 2001:db8:1::9/64 scope global \\       valid_lft forever',
  '4: eth1    inet 10.1.0.2/24 scope global eth1\\       valid_lft forever',
  '4: eth1    inet 10.1.0.2/24 scope global secondary eth1\\       valid_lft forever',
  '5: docker0    inet 172.17.0.1/16 scope global docker0\\       valid_lft forever',
].join('\n');

describe('sh export', () => {
  it('is a POSIX sh script with exactly the expected commands', () => {
    const { filename, text } = formatExport(sample, 'sh', meta);
    expect(filename).toBe('lab-client.sh');
    syntaxCheck(text);
    const lines = text.split('\n');
    expect(lines[0]).toBe('#!/bin/sh');
    expect(lines).toContain('set -e');
    const commands = lines.filter((l) => /^(sysctl|ip) /.test(l));
    expect(commands).toEqual([
      'sysctl -w net.mptcp.enabled=1',
      'sysctl -w net.mptcp.path_manager=kernel',
      'sysctl -w net.mptcp.scheduler=default',
      'sysctl -w net.mptcp.checksum_enabled=0',
      'sysctl -w net.mptcp.add_addr_timeout=120',
      'sysctl -w net.mptcp.stale_loss_cnt=4',
      'sysctl -w net.ipv4.tcp_congestion_control=cubic',
      "sysctl -w net.ipv4.tcp_rmem='4096 131072 33554432'",
      "sysctl -w net.ipv4.tcp_wmem='4096 16384 4194304'",
      'sysctl -w net.core.rmem_max=4194304',
      'ip mptcp limits set subflows 4 add_addr_accepted 2',
      'ip link set dev eth0 mtu 1500',
      'ip link set dev wwan0 mtu 1500',
    ]);
    // Endpoints are matched against the host's when the script runs: never a flush.
    expect(text).not.toContain('flush');
    expect(lines.filter((l) => /^mptcp_studio_(endpoint|finish)( |$)/.test(l))).toEqual([
      'mptcp_studio_endpoint 10.0.0.2 - 1 eth0 subflow fullmesh',
      'mptcp_studio_endpoint 2001:db8::2 10000 - - signal',
      'mptcp_studio_endpoint 192.168.1.5 - - wwan0 subflow backup',
      'mptcp_studio_finish',
    ]);
    // No laminar here, so no iproute2 feature check.
    expect(text).not.toContain('grep -qw laminar');
  });

  it('runs: the commands reach ip and sysctl in order; MTUs before the endpoints', () => {
    const r = runWithFakes(formatExport(sample, 'sh', meta).text, ipAddrs);
    expect(r.status).toBe(0);
    expect(r.logged[0]).toBe('sysctl -w net.mptcp.enabled=1');
    expect(r.logged).toContain('sysctl -w net.ipv4.tcp_rmem=4096 131072 33554432');
    expect(r.logged.slice(-6)).toEqual([
      'ip link set dev eth0 mtu 1500',
      'ip link set dev wwan0 mtu 1500',
      'ip mptcp endpoint show',
      'ip mptcp endpoint add 10.0.0.2 dev eth0 id 1 subflow fullmesh',
      'ip mptcp endpoint add 2001:db8::2 port 10000 signal',
      'ip mptcp endpoint add 192.168.1.5 dev wwan0 subflow backup',
    ]);
  });

  it('keeps the endpoints that are there: flags changed in place, only the others removed or added', () => {
    const config: MptcpConfig = {
      endpoints: [
        ...sample.endpoints!,
        { address: '10.0.0.3', flags: flags(['subflow', 'laminar']) },
        { address: '2001:DB8:0:0::7', flags: flags(['subflow']) },
      ],
    };
    const current = [
      // The same, exactly: left alone.
      '10.0.0.2 id 1 subflow fullmesh dev eth0 ',
      // Only backup differs: changed in place, both flags named (iproute2 clears the one it is not given).
      '2001:db8::2 port 10000 id 7 signal backup ',
      // signal instead of subflow: SET_FLAGS cannot change that, so removed and added again.
      '192.168.1.5 id 3 signal dev wwan0 ',
      // Not wanted: removed.
      '10.9.9.9 id 4 subflow ',
      // The kernel's own: never touched.
      '10.0.0.9 id 6 implicit ',
      // iproute2 6.1 prints laminar as rawflags 0x20: the same endpoint.
      '10.0.0.3 id 8 subflow rawflags 0x20 ',
      // ip prints IPv6 as inet_ntop does; the profile spelled it otherwise.
      '2001:db8::7 id 9 subflow ',
    ].join('\n');
    const r = runWithFakes(formatExport(config, 'sh', meta).text, ipAddrs, undefined, current);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.logged).toEqual([
      'ip mptcp endpoint show',
      'ip mptcp endpoint change id 7 nobackup nofullmesh',
      'ip mptcp endpoint delete id 3',
      'ip mptcp endpoint delete id 4',
      'ip mptcp endpoint add 192.168.1.5 dev wwan0 subflow backup',
    ]);
    // Run against the state it leaves: nothing to do.
    const after = [
      '10.0.0.2 id 1 subflow fullmesh dev eth0 ',
      '2001:db8::2 port 10000 id 7 signal ',
      '10.0.0.9 id 6 implicit ',
      '10.0.0.3 id 8 subflow rawflags 0x20 ',
      '2001:db8::7 id 9 subflow ',
      '192.168.1.5 id 10 subflow backup dev wwan0 ',
    ].join('\n');
    const again = runWithFakes(formatExport(config, 'sh', meta).text, ipAddrs, undefined, after);
    expect(again.logged).toEqual(['ip mptcp endpoint show']);
  });

  it('writes IPv6 addresses as ip prints them (inet_ntop, RFC 5952)', () => {
    expect(ipv6AsPrinted('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(ipv6AsPrinted('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(ipv6AsPrinted('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(ipv6AsPrinted('fe80:0:0:0:0:0:0:0')).toBe('fe80::');
    expect(ipv6AsPrinted('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(ipv6AsPrinted('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    expect(ipv6AsPrinted('::1.2.3.4')).toBe('::1.2.3.4');
  });

  it('expands an endpoint policy at run time: first rule wins, families and globs respected', () => {
    const { text } = formatExport(policy, 'sh', meta);
    syntaxCheck(text);
    expect(text).toContain("mptcp_studio_policy 'wwan*' 'inet inet6' - subflow backup");
    expect(text).toContain("mptcp_studio_policy '*' 'inet6' 10000 signal");
    expect(text).not.toContain('flush');
    const r = runWithFakes(text, ipAddrs);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.logged).toEqual([
      'ip mptcp limits set subflows 8 add_addr_accepted 8',
      'ip mptcp endpoint show',
      'ip mptcp endpoint add 100.64.0.9 dev wwan0 subflow backup',
      'ip mptcp endpoint add 2001:db8:1::9 dev wwan0 subflow backup',
      'ip mptcp endpoint add 10.0.0.2 dev eth0 subflow fullmesh',
      'ip mptcp endpoint add 10.1.0.2 dev eth1 subflow fullmesh',
      'ip mptcp endpoint add 2001:db8::2 port 10000 dev eth0 signal',
    ]);
    // A policy endpoint that is there with another backup flag: changed in place, the rest kept.
    const kept = runWithFakes(
      text,
      ipAddrs,
      undefined,
      [
        '100.64.0.9 id 1 subflow dev wwan0 ',
        '2001:db8:1::9 id 2 subflow backup dev wwan0 ',
        '10.0.0.2 id 3 subflow fullmesh dev eth0 ',
        '10.1.0.2 id 4 subflow fullmesh dev eth1 ',
        '2001:db8::2 port 10000 id 5 signal dev eth0 ',
      ].join('\n'),
    );
    expect(kept.logged.slice(1)).toEqual([
      'ip mptcp endpoint show',
      'ip mptcp endpoint change id 1 backup nofullmesh',
    ]);
  });

  it('stops at 8 endpoints like the in-kernel path manager', () => {
    const many = Array.from({ length: 10 }, (_, i) => `2: eth0    inet 10.0.0.${i + 1}/24 scope global eth0`);
    const r = runWithFakes(formatExport(policy, 'sh', meta).text, many.join('\n'));
    expect(r.status).toBe(0);
    expect(r.logged.filter((l) => l.startsWith('ip mptcp endpoint add'))).toHaveLength(8);
    expect(r.stderr).toContain('10.0.0.9 (eth0) left out');
  });

  it('refuses to start when the laminar flag is used and ip does not know it', () => {
    const laminar: MptcpConfig = {
      enabled: true,
      endpoints: [{ address: '10.0.0.2', flags: flags(['subflow', 'laminar']) }],
    };
    const { text } = formatExport(laminar, 'sh', meta);
    syntaxCheck(text);
    expect(text).toContain('mptcp_studio_endpoint 10.0.0.2 - - - subflow laminar');
    const old = runWithFakes(text, '', 'FLAG  := [ signal | subflow | backup | fullmesh ]');
    expect(old.status).toBe(1);
    expect(old.stderr).toContain('laminar');
    expect(old.logged).toEqual([]); // nothing changed, not even the sysctl
    const recent = runWithFakes(text, '');
    expect(recent.status).toBe(0);
    expect(recent.logged.at(-1)).toBe('ip mptcp endpoint add 10.0.0.2 subflow laminar');
  });

  it('keeps a hostile profile name out of the script except as plain comment text', () => {
    const { text } = formatExport({ enabled: true }, 'sh', {
      name: 'x"\n$(reboot)`id`;rm -rf /\r\u2028',
      generatedAt: 'now\nreboot',
    });
    syntaxCheck(text);
    const lines = text.split('\n');
    expect(lines.filter((l) => l !== '' && !l.startsWith('#'))).toEqual([
      'set -e',
      'sysctl -w net.mptcp.enabled=1',
    ]);
    expect(lines[1]).toBe(
      '# MPTCP Studio export of profile "x____reboot__id__rm -rf ___", generated now_reboot.',
    );
  });

  it.each(presets.map((p) => [p.profile.name, p.profile.config] as const))(
    'the %s preset exports as a valid script',
    (_name, config) => {
      syntaxCheck(formatExport(config, 'sh', meta).text);
    },
  );

  it('never adds an endpoint on lo, even with a global address there', () => {
    const r = runWithFakes(
      formatExport(policy, 'sh', meta).text,
      '1: lo    inet6 2001:db8:ff::1/128 scope global \\       valid_lft forever',
    );
    expect(r.logged).toEqual([
      'ip mptcp limits set subflows 8 add_addr_accepted 8',
      'ip mptcp endpoint show',
    ]);
  });

  it('an empty config is a script that changes nothing', () => {
    const { text } = formatExport({}, 'sh', meta);
    syntaxCheck(text);
    expect(runWithFakes(text, '').logged).toEqual([]);
  });
});

describe('refusing unsafe values (configs built without zod)', () => {
  const bad: [string, unknown][] = [
    ['an interface name with a command', { mtu: { 'eth0;reboot': 1500 } }],
    ['an address with a substitution', { endpoints: [{ address: '10.0.0.1$(id)', flags: flags([]) }] }],
    [
      'a device with a space',
      { endpoints: [{ address: '10.0.0.1', ifname: 'eth0 x', flags: flags(['subflow']) }] },
    ],
    ['a congestion control with backticks', { congestionControl: 'cubic`id`' }],
    ['a path manager with a newline', { pathManager: 'kernel\nreboot' }],
    [
      'a glob with a quote',
      { endpointPolicy: [{ match: "eth'*", flags: flags(['subflow']), families: ['inet'] }] },
    ],
    ['an unknown sysctl field', { sysctls: { evil: 1 } }],
    ['a fractional MTU', { mtu: { eth0: 1500.5 } }],
    ['a string where a number goes', { limits: { subflows: '8; reboot', addAddrAccepted: 0 } }],
    [
      'a triplet with text',
      { buffers: { tcpRmem: { minBytes: 1, defaultBytes: 2, maxBytes: '3 && reboot' } } },
    ],
  ];
  it.each(bad)('refuses %s', (_what, config) => {
    for (const format of ['sh', 'sysctl.d', 'json'] as const) {
      expect(() => formatExport(config as MptcpConfig, format, meta)).toThrow(/refusing to export/);
    }
  });

  it('checks every interpolated value itself, not only through the schema', () => {
    expect(shellToken('eth0', 'ifname', 'x')).toBe('eth0');
    expect(shellToken('2001:db8::1', 'ipv6', 'x')).toBe('2001:db8::1');
    for (const [value, kind] of [
      ['eth0 ', 'ifname'],
      ['a$b', 'ifname'],
      ['1.2.3.4\n', 'ipv4'],
      ['256.1.1.1', 'ipv4'],
      ['::1;id', 'ipv6'],
      ['abcd', 'ipv6'],
      ["w'*", 'glob'],
      ['bbr>x', 'kernelName'],
      ['net.mptcp.enabled=1', 'sysctlName'],
      [42, 'kernelName'],
    ] as const) {
      expect(() => shellToken(value, kind, 'field')).toThrow(/refusing to export: field/);
    }
  });
});

describe('json export', () => {
  it('round-trips through parseProfile', () => {
    for (const config of [sample, policy, {}]) {
      const { filename, text } = formatExport(config, 'json', { ...meta, description: 'two paths' });
      expect(filename).toBe('lab-client.json');
      const back = parseProfile(text);
      expect(back.ok).toBe(true);
      if (!back.ok) return;
      expect(back.profile).toEqual({
        schemaVersion: 1,
        name: 'lab client',
        description: 'two paths',
        config,
      });
    }
  });

  it('refuses a name a profile cannot have', () => {
    expect(() => formatExport({}, 'json', { ...meta, name: '' })).toThrow(/cannot export as a profile: name/);
  });
});

describe('sysctl.d export', () => {
  const { filename, text } = formatExport(sample, 'sysctl.d', meta);

  /** The three files, split by the awk line the header tells people to run. */
  function split(): { conf: string; script: string; unit: string } {
    const root = mkdtempSync(join(dir, 'root-'));
    const rooted = text.replaceAll('# ----- BEGIN /', `# ----- BEGIN ${root}/`);
    const file = join(root, PERSISTENT_FILENAME);
    writeFileSync(file, rooted);
    const awk = /^# {3}(awk .*) mptcp-studio-persistent\.txt$/m.exec(text)?.[1];
    expect(awk).toBeDefined();
    execFileSync('sh', ['-c', `mkdir -p etc/sysctl.d usr/local/sbin etc/systemd/system && ${awk} ${file}`], {
      cwd: root,
    });
    const read = (p: string) => readFileSync(join(root, p), 'utf8');
    return {
      conf: read(SYSCTL_D_PATH),
      script: read(ENDPOINTS_SCRIPT_PATH),
      unit: read(ENDPOINTS_UNIT_PATH),
    };
  }

  it('holds the sysctl.d file, the boot script and the unit, each extractable as documented', () => {
    expect(filename).toBe('mptcp-studio-persistent.txt');
    const files = split();
    expect(files.conf.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      'net.mptcp.enabled = 1',
      'net.mptcp.path_manager = kernel',
      'net.mptcp.scheduler = default',
      'net.mptcp.checksum_enabled = 0',
      'net.mptcp.add_addr_timeout = 120',
      'net.mptcp.stale_loss_cnt = 4',
      'net.ipv4.tcp_congestion_control = cubic',
      'net.ipv4.tcp_rmem = 4096 131072 33554432',
      'net.ipv4.tcp_wmem = 4096 16384 4194304',
      'net.core.rmem_max = 4194304',
    ]);
    expect(files.script.startsWith('#!/bin/sh\n')).toBe(true);
    syntaxCheck(files.script);
    expect(files.script).not.toContain('sysctl -w'); // those are in the sysctl.d file
    expect(files.script).toContain('ip mptcp limits set subflows 4 add_addr_accepted 2\n');
    expect(files.script).toContain('mptcp_studio_endpoint 10.0.0.2 - 1 eth0 subflow fullmesh\n');
    expect(files.script).not.toContain('flush');
    const unit = files.unit.split('\n');
    expect(unit).toEqual(
      expect.arrayContaining([
        '[Unit]',
        'After=network-online.target systemd-sysctl.service',
        'Wants=network-online.target',
        'Type=oneshot',
        `ExecStart=/bin/sh ${ENDPOINTS_SCRIPT_PATH}`,
        'WantedBy=multi-user.target',
      ]),
    );
  });

  it('the boot script of a profile with only sysctls does nothing', () => {
    const t = formatExport({ enabled: true }, 'sysctl.d', meta).text;
    const script = t.slice(
      t.indexOf(`BEGIN ${ENDPOINTS_SCRIPT_PATH}`),
      t.indexOf(`END ${ENDPOINTS_SCRIPT_PATH}`),
    );
    expect(script).toContain('nothing to do');
    expect(script).not.toMatch(/^ip /m);
  });
});
