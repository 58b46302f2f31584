/**
 * A fixed-capacity ring of subflow samples in typed arrays (no per-sample objects, so a long
 * session does not churn the garbage collector). Storage starts small and doubles up to
 * `capacity`; after that the oldest sample is overwritten.
 */

export interface Sample {
  tMs: number;
  rttUs: number;
  cwndPkts: number;
  /** Derived from bytesAcked deltas; NaN when unknown (first sample, counter reset). */
  sendBytesPerSec: number;
  /** Derived from bytesReceived deltas; NaN when unknown. */
  recvBytesPerSec: number;
  /** tcpi_total_retrans, cumulative. */
  retransPkts: number;
  /** The subflow's health then (shared/health.ts healthCode); NaN when unknown (host history). */
  health: number;
}

export const SAMPLE_FIELDS = [
  'tMs',
  'rttUs',
  'cwndPkts',
  'sendBytesPerSec',
  'recvBytesPerSec',
  'retransPkts',
  'health',
] as const satisfies readonly (keyof Sample)[];
export type SampleField = (typeof SAMPLE_FIELDS)[number];

const INITIAL_SLOTS = 64;

export class SampleRing {
  private slots: number;
  private start = 0;
  private count = 0;
  private tMs: Float64Array;
  private rttUs: Float64Array;
  private cwndPkts: Float64Array;
  private sendBytesPerSec: Float64Array;
  private recvBytesPerSec: Float64Array;
  private retransPkts: Float64Array;
  private health: Float64Array;

  constructor(private cap: number) {
    const capacity = cap;
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`bad ring capacity ${capacity}`);
    this.slots = Math.min(capacity, INITIAL_SLOTS);
    this.tMs = new Float64Array(this.slots);
    this.rttUs = new Float64Array(this.slots);
    this.cwndPkts = new Float64Array(this.slots);
    this.sendBytesPerSec = new Float64Array(this.slots);
    this.recvBytesPerSec = new Float64Array(this.slots);
    this.retransPkts = new Float64Array(this.slots);
    this.health = new Float64Array(this.slots);
  }

  get capacity(): number {
    return this.cap;
  }

  /** Allow more samples (storage still grows only as they arrive); never shrinks. */
  raiseCapacity(capacity: number): void {
    this.cap = Math.max(this.cap, capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the typed arrays (what the memory bound is about). */
  get allocatedBytes(): number {
    return this.slots * SAMPLE_FIELDS.length * Float64Array.BYTES_PER_ELEMENT;
  }

  push(s: Sample): void {
    if (this.count === this.slots && this.slots < this.capacity) this.grow();
    let index: number;
    if (this.count < this.slots) {
      index = (this.start + this.count) % this.slots;
      this.count++;
    } else {
      index = this.start;
      this.start = (this.start + 1) % this.slots;
    }
    this.tMs[index] = s.tMs;
    this.rttUs[index] = s.rttUs;
    this.cwndPkts[index] = s.cwndPkts;
    this.sendBytesPerSec[index] = s.sendBytesPerSec;
    this.recvBytesPerSec[index] = s.recvBytesPerSec;
    this.retransPkts[index] = s.retransPkts;
    this.health[index] = s.health;
  }

  private grow(): void {
    const slots = Math.min(this.capacity, this.slots * 2);
    const copy = (from: Float64Array): Float64Array => {
      const to = new Float64Array(slots);
      for (let i = 0; i < this.count; i++) to[i] = from[(this.start + i) % this.slots] ?? 0;
      return to;
    };
    this.tMs = copy(this.tMs);
    this.rttUs = copy(this.rttUs);
    this.cwndPkts = copy(this.cwndPkts);
    this.sendBytesPerSec = copy(this.sendBytesPerSec);
    this.recvBytesPerSec = copy(this.recvBytesPerSec);
    this.retransPkts = copy(this.retransPkts);
    this.health = copy(this.health);
    this.start = 0;
    this.slots = slots;
  }

  private slot(i: number): number {
    return (this.start + i) % this.slots;
  }

  /** One field of the i-th oldest sample (0 = oldest). */
  field(field: SampleField, i: number): number {
    return this[field][this.slot(i)] ?? Number.NaN;
  }

  /** The i-th oldest sample as an object (for exports and tests, not hot paths). */
  at(i: number): Sample | null {
    if (i < 0 || i >= this.count) return null;
    const k = this.slot(i);
    return {
      tMs: this.tMs[k] ?? Number.NaN,
      rttUs: this.rttUs[k] ?? Number.NaN,
      cwndPkts: this.cwndPkts[k] ?? Number.NaN,
      sendBytesPerSec: this.sendBytesPerSec[k] ?? Number.NaN,
      recvBytesPerSec: this.recvBytesPerSec[k] ?? Number.NaN,
      retransPkts: this.retransPkts[k] ?? Number.NaN,
      health: this.health[k] ?? Number.NaN,
    };
  }

  last(): Sample | null {
    return this.at(this.count - 1);
  }

  /** Index of the first sample with tMs >= fromMs (binary search; samples are in time order). */
  lowerBound(fromMs: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.field('tMs', mid) < fromMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first sample with tMs > toMs. */
  upperBound(toMs: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.field('tMs', mid) <= toMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  clear(): void {
    this.start = 0;
    this.count = 0;
  }
}
