import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { checkNetnsName, serveAgent } from './agent';
import { fakeBackend, sampleStatus } from '../testing/fake-backend';

describe('agent stdio protocol', () => {
  it('answers calls line by line and closes the backend when stdin ends', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const backend = fakeBackend();
    const done = serveAgent(backend, input, output);
    const lines: unknown[] = [];
    createInterface({ input: output }).on('line', (l) => lines.push(JSON.parse(l) as unknown));
    input.write('not json\n');
    input.write(`${JSON.stringify({ t: 'call', id: 7, method: 'mptcp:status:get', args: {} })}\n`);
    input.write(`${JSON.stringify({ t: 'call', id: 8, method: 'mptcp:bogus', args: {} })}\n`);
    input.end();
    await done;
    expect(lines).toContainEqual({ t: 'result', id: 7, result: { ok: true, value: sampleStatus } });
    expect(lines).toContainEqual(
      expect.objectContaining({ id: 8, result: expect.objectContaining({ ok: false }) }),
    );
    expect(backend.closed).toBe(true);
  });

  it('refuses namespace names that could be paths or options', () => {
    for (const bad of ['../x', '-n', 'a/b', '', 'x'.repeat(80)]) {
      expect(() => checkNetnsName(bad)).toThrow(/not a valid network namespace name/);
    }
    expect(() => checkNetnsName('mpst-does-not-exist-xyz')).toThrow(/does not exist/);
  });
});
