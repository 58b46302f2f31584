/**
 * Fuzz: the event decoders on mutated messages, seeded. mptcp_pm events start from the bodies
 * recorded on Linux 6.18 (mptcp-pm/fixtures/mptcp-events.json), link and address events from the rtnetlink
 * fixture. Whatever the bytes, an event is one the contract's KernelEventSchema accepts (the
 * renderer drops any other), or nothing; no exception, no read outside the message.
 */
import { describe, expect, it } from 'vitest';
import { KernelEventSchema, type KernelEvent } from '../../../shared/types';
import {
  badValue,
  below,
  fromHex,
  fuzzLoop,
  hex,
  mulberry32,
  mutatedMessage,
  readFixture,
  wellDefined,
} from '../../testing/netlink-fuzz';
import { KernelEventWatcher } from './kernel-events';
import { decodeMptcpEvent, formatMptcpEvent } from '../mptcp-pm/events';

const events = readFixture<{ client: string[]; server: string[] }>(
  `${import.meta.dirname}/../mptcp-pm`,
  'mptcp-events.json',
);
const eventBodies = [...events.client, ...events.server].map(fromHex);
const route = readFixture<{ links: { body: string }[]; addresses: { body: string }[] }>(
  `${import.meta.dirname}/../rtnl`,
  'interfaces.json',
);
const linkBodies = route.links.map((l) => fromHex(l.body));
const addrBodies = route.addresses.map((a) => fromHex(a.body));

describe('event decoders under fuzzing (seeded)', () => {
  it('decodeMptcpEvent: an event the contract accepts, or null, for 6,000 mutated bodies', () => {
    const r = mulberry32(0xe0e7);
    let decoded = 0;
    const ran = fuzzLoop(6000, 900, (i) => {
      const m = mutatedMessage(r, eventBodies);
      const what = () => `seed 0xe0e7 iteration ${i}: ${hex(m.buf.subarray(m.off))}`;
      const out = wellDefined(() => decodeMptcpEvent(m.buf, m.off, m.len), what);
      if (!out.ok) throw new Error(`${what()}: refused with ${out.error.message}`);
      if (out.value === null) return;
      decoded++;
      const bad = badValue(out.value);
      if (bad) throw new Error(`${what()}: ${bad}`);
      const ev: KernelEvent = { source: 'mptcp', timestampMs: 1, event: out.value };
      const parsed = KernelEventSchema.safeParse(ev);
      if (!parsed.success) throw new Error(`${what()}: not a KernelEvent: ${parsed.error.message}`);
      expect(typeof formatMptcpEvent(out.value)).toBe('string');
    });
    expect(ran).toBeGreaterThan(500);
    expect(decoded).toBeGreaterThan(0);
  });

  it('link and address events: the contract accepts every event emitted for 6,000 mutated messages', () => {
    const emitted: KernelEvent[] = [];
    const watcher = new KernelEventWatcher(
      () => Promise.reject(new Error('not used')),
      (e) => emitted.push(e),
    );
    // The rtnetlink notification handler the events reader calls (private: reached as the reader does).
    const onRoute = (
      watcher as unknown as {
        onRoute(buf: Buffer, type: number, off: number, len: number, atMs: number): void;
      }
    ).onRoute.bind(watcher);
    const r = mulberry32(0x4e7e);
    const ran = fuzzLoop(6000, 900, (i) => {
      // RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR; a link body under an address type too.
      const type = [16, 17, 20, 21][below(r, 4)]!;
      const seeds = below(r, 8) === 0 ? [...linkBodies, ...addrBodies] : type < 20 ? linkBodies : addrBodies;
      const m = mutatedMessage(r, seeds);
      const what = () => `seed 0x4e7e iteration ${i}: type ${type} ${hex(m.buf.subarray(m.off))}`;
      emitted.length = 0;
      wellDefined(() => onRoute(m.buf, type, m.off, m.len, 1), what);
      for (const e of emitted) {
        const parsed = KernelEventSchema.safeParse(e);
        if (!parsed.success) throw new Error(`${what()}: not a KernelEvent: ${parsed.error.message}`);
        const bad = badValue(e);
        if (bad) throw new Error(`${what()}: ${bad}`);
      }
    });
    expect(ran).toBeGreaterThan(500);
  });
});
