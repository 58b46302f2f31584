/**
 * The path manager switch's consent (docs/path-doctor.md, "Subflow check"), on a recorded /proc
 * tree in a temp dir: the real switch is exercised in subflow-check.int.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PmSwitch, PmSwitchRefused } from './pm-switch';

describe('PmSwitch', () => {
  const dirs: string[] = [];
  const proc = (pm: string): string => {
    const d = mkdtempSync(join(tmpdir(), 'mpst-pmswitch-'));
    dirs.push(d);
    mkdirSync(join(d, 'sys/net/mptcp'), { recursive: true });
    writeFileSync(join(d, 'sys/net/mptcp/path_manager'), `${pm}\n`);
    return d;
  };
  const value = (d: string): string => readFileSync(join(d, 'sys/net/mptcp/path_manager'), 'utf8').trim();
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('refuses to switch without consent: nothing created, nothing written', async () => {
    const d = proc('kernel');
    let created = 0;
    await expect(
      new PmSwitch({ procRoot: d }).underUserspace(() => Promise.resolve(++created), { allowed: false }),
    ).rejects.toBeInstanceOf(PmSwitchRefused);
    expect(created).toBe(0);
    expect(value(d)).toBe('kernel');
  });

  it('with consent: creates under userspace and puts the value back', async () => {
    const d = proc('kernel');
    let seen = '';
    const sw = new PmSwitch({ procRoot: d });
    const r = await sw.underUserspace(() => Promise.resolve((seen = value(d))), { allowed: true });
    expect(seen).toBe('userspace');
    expect(r).toMatchObject({ before: 'kernel', switched: true });
    expect(value(d)).toBe('kernel');
  });

  it('under userspace already: no consent needed, nothing switched', async () => {
    const d = proc('userspace');
    const r = await new PmSwitch({ procRoot: d }).underUserspace(() => Promise.resolve(1), {
      allowed: false,
    });
    expect(r).toEqual({ value: 1, before: 'userspace', switched: false });
  });
});
