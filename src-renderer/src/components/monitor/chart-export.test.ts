import { describe, expect, it } from 'vitest';
import { connection } from '../../testing/fixtures';
import { SamplesStore } from '../../state/monitor/samples-store';
import { CSV_HEADER, samplesCsv } from './chart-export';

describe('samplesCsv', () => {
  it('writes one row per sample per subflow with units in the header', () => {
    const store = new SamplesStore({ schedule: (cb) => cb() });
    const t0 = Date.UTC(2025, 0, 1);
    for (let i = 0; i < 3; i++) {
      const c = connection();
      store.ingestConnection(
        { ...c, subflows: c.subflows.map((s) => ({ ...s, bytesAcked: s.bytesAcked + i * 125_000 })) },
        t0 + i * 1000,
      );
    }
    const lines = samplesCsv(store.rawWindow(0xdeadbeef, t0, t0 + 5000))
      .trim()
      .split('\n');
    expect(lines[0]).toBe(CSV_HEADER);
    expect(lines[0]).toMatch(/rtt_ms.*cwnd_pkts.*send_mbit_per_s.*recv_mbit_per_s/);
    expect(lines).toHaveLength(1 + 3 * 2);
    expect(lines[1]).toBe(
      'deadbeef,10.0.1.2:40000,10.0.9.1:5201,0,1735689600000,2025-01-01T00:00:00.000Z,12.345,42,,,0',
    );
    expect(lines[2]?.split(',').slice(6, 9)).toEqual(['12.345', '42', '1']);
    expect(lines[4]?.split(',').slice(1, 4)).toEqual(['10.0.2.2:40001', '10.0.9.1:5201', '1']);
  });
});
