/**
 * Test copies of the coupled CCs registered through the engine (cc.int.test.ts: mptcp_lia_iXX,
 * e2e/cc.spec.ts: mptcp_lia_eXX). Registration is host-global and outlives the process that
 * made it, so every copy is recorded before it can be registered, with the owning process:
 * - an 'exit' hook unregisters the owner's copies synchronously (spawnSync), whatever ended it
 *   short of SIGKILL;
 * - `cleanStaleCcCopies()` (integration and e2e global setup) unregisters the copies of owners
 *   that are gone (a SIGKILLed or crashed run), the pid checked with its start time so that a
 *   reused pid does not keep them alive.
 * Names are too short to carry a pid (TCP_CA_NAME_MAX is 16 with the NUL), hence the records.
 *
 * Everything lives under a root-owned 0755 directory in /run: the engine, privileged, refuses
 * objects anyone else could swap (engine/cc/object-trust.ts), and the test objects pass that
 * check for real instead of it being relaxed for tests.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export const CC_TEST_ROOT = '/run/mptcp-studio-test';
const OWNERS = join(CC_TEST_ROOT, 'cc-owners');
const AVAILABLE_CC = '/proc/sys/net/ipv4/tcp_available_congestion_control';
/**
 * A test copy: a shipped id plus a short suffix (catalog.ts SUFFIX_RE), at most 15 characters
 * (TCP_CA_NAME_MAX). Up to 4 suffix characters are still accepted, so that copies recorded by
 * older runs (`mptcp_olia_e1a2`, before mptcp_balia shortened the engine's suffix) are cleaned up.
 */
const NAME_RE = /^mptcp_(lia|olia|balia)_[a-z0-9]{1,4}$/;
const TCP_CA_NAME_MAX_CHARS = 15;

export function isCcTestCopyName(name: string): boolean {
  return NAME_RE.test(name) && name.length <= TCP_CA_NAME_MAX_CHARS;
}

interface OwnerRecord {
  pid: number;
  /** /proc/<pid>/stat field 22, in clock ticks since boot: tells a reused pid apart. */
  startTime: string | null;
  names: string[];
  /** Object directories to remove with the record. */
  dirs: string[];
}

function ensureRoot(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = statSync(dir);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(
      `${dir} must be owned by root and writable by nobody else (mode ${(st.mode & 0o7777).toString(8)})`,
    );
  }
}

export function availableCcs(): string[] {
  return readFileSync(AVAILABLE_CC, 'utf8').trim().split(/\s+/);
}

function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: the fields after it start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * A fresh directory for test objects: root-owned, 0755, under CC_TEST_ROOT (objects written
 * into it should be 0644).
 */
export function ccTestObjectDir(): string {
  ensureRoot(CC_TEST_ROOT);
  const dir = mkdtempSync(join(CC_TEST_ROOT, 'objs-'));
  chmodSync(dir, 0o755);
  return dir;
}

const mine = new Map<string, OwnerRecord>();
let hookInstalled = false;

function unregisterSync(names: string[]): void {
  let avail: string[];
  try {
    avail = availableCcs();
  } catch {
    return;
  }
  for (const n of names) {
    if (isCcTestCopyName(n) && avail.includes(n))
      spawnSync('bpftool', ['struct_ops', 'unregister', 'name', n]);
  }
}

function recordFile(key: string): string {
  return join(OWNERS, `${key}.json`);
}

/**
 * Record that `ownerPid` (default: this process) owns these names and directories, before they
 * are registered. Returns a key for `releaseCcCopies`. For this process, an exit hook unregisters.
 */
export function recordCcCopies(names: string[], dirs: string[] = [], ownerPid = process.pid): string {
  for (const n of names) if (!isCcTestCopyName(n)) throw new Error(`${n} is not a test copy name`);
  ensureRoot(CC_TEST_ROOT);
  ensureRoot(OWNERS);
  const rec: OwnerRecord = { pid: ownerPid, startTime: startTime(ownerPid), names, dirs };
  const key = `${ownerPid}-${names.join('-')}`;
  writeFileSync(recordFile(key), JSON.stringify(rec), { mode: 0o644 });
  if (ownerPid === process.pid) {
    mine.set(key, rec);
    if (!hookInstalled) {
      hookInstalled = true;
      process.on('exit', () => {
        for (const [k, r] of mine) {
          unregisterSync(r.names);
          for (const d of r.dirs) rmSync(d, { recursive: true, force: true });
          rmSync(recordFile(k), { force: true });
        }
      });
    }
  }
  return key;
}

/** After a clean teardown (the names are unregistered): forget the record. */
export function releaseCcCopies(key: string): void {
  const rec = mine.get(key);
  mine.delete(key);
  if (rec) unregisterSync(rec.names);
  for (const d of rec?.dirs ?? []) rmSync(d, { recursive: true, force: true });
  rmSync(recordFile(key), { force: true });
}

function ownerAlive(rec: OwnerRecord): boolean {
  const now = startTime(rec.pid);
  return now !== null && (rec.startTime === null || now === rec.startTime);
}

/** Unregister the test copies of owners that are gone; returns the names unregistered. */
export function cleanStaleCcCopies(): string[] {
  if (!existsSync(OWNERS)) return [];
  const removed: string[] = [];
  for (const f of readdirSync(OWNERS)) {
    if (!f.endsWith('.json')) continue;
    let rec: OwnerRecord;
    try {
      rec = JSON.parse(readFileSync(join(OWNERS, f), 'utf8')) as OwnerRecord;
    } catch {
      rmSync(join(OWNERS, f), { force: true });
      continue;
    }
    if (ownerAlive(rec)) continue;
    const before = availableCcs();
    unregisterSync(rec.names);
    const after = availableCcs();
    removed.push(...rec.names.filter((n) => before.includes(n) && !after.includes(n)));
    for (const d of rec.dirs ?? []) {
      if (d.startsWith(`${CC_TEST_ROOT}/`)) rmSync(d, { recursive: true, force: true });
    }
    rmSync(join(OWNERS, f), { force: true });
  }
  return removed;
}
