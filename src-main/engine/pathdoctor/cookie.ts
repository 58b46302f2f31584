/**
 * Stateless reply validation (the SYN-cookie idea, as in zmap and masscan): every probe's source
 * port, sequence number, v0 key and MP_JOIN token come from a keyed hash of (secret, target,
 * port). A reply is ours only if its acknowledgment number (or the sequence number an ICMP
 * error quotes) is what the hash gives for its own addresses and ports, so the scanner keeps no
 * per-probe table and spoofed or stray packets are dropped.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ProbeKind } from './classify';

export const KIND_INDEX: Record<ProbeKind, number> = { v1: 0, v0: 1, plain: 2, join: 3 };
export const INDEX_KIND: readonly ProbeKind[] = ['v1', 'v0', 'plain', 'join'];

/** Source ports 32768..65535: four consecutive ports per (target, port), one per probe kind. */
const SPORT_BASE = 32768;

export interface ProbeCookie {
  /** Source port of probe kind k = base + k. */
  sportBase: number;
  seq: [number, number, number, number];
  v0Key: Uint8Array;
  joinToken: number;
  joinNonce: number;
}

export class CookieJar {
  private readonly secret: Buffer;
  constructor(secret: Buffer = randomBytes(32)) {
    this.secret = secret;
  }

  cookie(target: Uint8Array, port: number): ProbeCookie {
    const h = createHmac('sha256', this.secret);
    h.update(target);
    h.update(Uint8Array.of(port >>> 8, port & 0xff));
    const d = h.digest();
    return {
      sportBase: SPORT_BASE + (d.readUInt16BE(0) & 0x1fff) * 4,
      seq: [d.readUInt32BE(2), d.readUInt32BE(6), d.readUInt32BE(10), d.readUInt32BE(14)],
      v0Key: new Uint8Array(d.subarray(18, 26)),
      joinToken: d.readUInt32BE(26),
      joinNonce: d.readUInt16BE(30) * 65536 + d.readUInt16BE(0),
    };
  }

  /**
   * Which of our probes `ourPort` of (target, port) was, if `seq` is that probe's sequence number
   * (the acknowledgment of a SYN/ACK or RST minus one, or an ICMP quote's); else null.
   */
  match(
    target: Uint8Array,
    port: number,
    ourPort: number,
    seq: number,
  ): { kind: ProbeKind; cookie: ProbeCookie } | null {
    if (ourPort < SPORT_BASE) return null;
    const c = this.cookie(target, port);
    const k = ourPort - c.sportBase;
    if (k < 0 || k > 3) return null;
    if (c.seq[k] !== seq >>> 0) return null;
    return { kind: INDEX_KIND[k] as ProbeKind, cookie: c };
  }
}
