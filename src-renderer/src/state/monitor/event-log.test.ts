import { describe, expect, it } from 'vitest';
import type { KernelEvent } from '../../../../shared/types';
import { EventLog } from './event-log';

const link = (t: number, name = 'c1'): KernelEvent => ({
  source: 'link',
  timestampMs: t,
  deleted: false,
  index: 2,
  name,
  operState: 'up',
  adminUp: true,
  running: true,
  usable: true,
  mtuBytes: 1500,
});

describe('EventLog.prependOlder', () => {
  it("puts the host's older events before the live ones and skips those the page saw live", () => {
    const log = new EventLog(10, (cb) => cb());
    log.push(link(300, 'live-1'));
    log.push(link(400, 'live-2'));
    log.prependOlder([link(100, 'old-1'), link(200, 'old-2'), link(300, 'live-1'), link(400, 'live-2')]);
    const names = log
      .list()
      .map((e) => (e.event.source === 'link' ? e.event.name : ''))
      .reverse();
    expect(names).toEqual(['old-1', 'old-2', 'live-1', 'live-2']);
  });

  it('keeps the capacity: the oldest of the history go first', () => {
    const log = new EventLog(3, (cb) => cb());
    log.push(link(1000));
    log.prependOlder([link(1), link(2), link(3), link(4)]);
    expect(log.list().map((e) => e.event.timestampMs)).toEqual([1000, 4, 3]);
  });
});
