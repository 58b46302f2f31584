/**
 * TCP options (RFC 9293 §3.2): parse every option of a header's option area, and build one.
 * MPTCP (kind 30) is decoded for the subtypes a probe sends or must recognise in a reply:
 * MP_CAPABLE v1 (RFC 8684 §3.1: 4 bytes in a SYN, 12 in a SYN/ACK, 20/22/24 later) and v0
 * (RFC 6824 §3.1: 12 bytes with the sender's key in SYN and SYN/ACK), MP_JOIN (RFC 8684 §3.2:
 * 12 bytes in a SYN with token and nonce, 16 in a SYN/ACK, 24 in the ACK). Other subtypes are
 * named and kept raw.
 */

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOPT_MPTCP = 30;

/** RFC 8684 §3.1 MP_CAPABLE flags: A checksum required, B extensibility, C no join to this address/port, H HMAC-SHA256. */
export const MPC_FLAG_CHECKSUM = 0x80;
export const MPC_FLAG_EXTENSIBILITY = 0x40;
export const MPC_FLAG_DENY_JOIN_INITIAL = 0x20;
export const MPC_FLAG_HMAC_SHA256 = 0x01;
/** RFC 6824 §3.1: in v0 the H bit means HMAC-SHA1. */
export const MPC_V0_FLAG_HMAC_SHA1 = 0x01;

export const MPTCP_SUBTYPE_NAMES = [
  'MP_CAPABLE',
  'MP_JOIN',
  'DSS',
  'ADD_ADDR',
  'REMOVE_ADDR',
  'MP_PRIO',
  'MP_FAIL',
  'MP_FASTCLOSE',
  'MP_TCPRST',
] as const;

interface Common {
  /** Offset of the option's first byte within the option area. */
  offset: number;
  /** The option's bytes as they appear (kind, length, data). */
  raw: Uint8Array;
}

export type TcpOption = Common &
  (
    | { kind: 'eol' }
    | { kind: 'nop' }
    | { kind: 'mss'; mss: number }
    | { kind: 'wscale'; shift: number }
    | { kind: 'sack-permitted' }
    | { kind: 'sack'; blocks: [number, number][] }
    | { kind: 'timestamp'; tsVal: number; tsEcr: number }
    | {
        kind: 'mp-capable';
        version: number;
        flags: number;
        /** Hex of the sender's key (8 bytes) when the option carries one. */
        senderKey: string | null;
        receiverKey: string | null;
        dataLength: number | null;
      }
    | {
        kind: 'mp-join';
        backup: boolean;
        addressId: number;
        /** SYN form (12 bytes): the receiver's token and the sender's random number. */
        token: number | null;
        nonce: number | null;
        /** SYN/ACK form (16 bytes): truncated HMAC (hex). */
        truncatedHmac: string | null;
      }
    | { kind: 'mptcp'; subtype: number; name: string }
    | { kind: 'unknown'; code: number }
    /** A length byte that is missing, below 2 or past the end of the area. */
    | { kind: 'malformed'; code: number }
  );

export type TcpOptionKind = TcpOption['kind'];

const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u32 = (b: Uint8Array, at: number): number =>
  (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;

export function toHex(b: Uint8Array, from = 0, to = b.length): string {
  let s = '';
  for (let i = from; i < to; i++) s += (b[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) throw new Error('not a hex string');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function decodeMptcp(area: Uint8Array, at: number, len: number, raw: Uint8Array): TcpOption {
  const subtype = len >= 3 ? (area[at + 2] ?? 0) >>> 4 : -1;
  const offset = at;
  if (subtype === 0 && len >= 4) {
    const version = (area[at + 2] ?? 0) & 0x0f;
    const flags = area[at + 3] ?? 0;
    const hasSenderKey = len >= 12;
    const hasReceiverKey = len >= 20;
    return {
      kind: 'mp-capable',
      offset,
      raw,
      version,
      flags,
      senderKey: hasSenderKey ? toHex(area, at + 4, at + 12) : null,
      receiverKey: hasReceiverKey ? toHex(area, at + 12, at + 20) : null,
      // RFC 8684 §3.1: 22 (data length) or 24 (data length + checksum) bytes on the first data.
      dataLength: len === 22 || len === 24 ? u16(area, at + 20) : null,
    };
  }
  if (subtype === 1 && len >= 4) {
    const backup = ((area[at + 2] ?? 0) & 0x01) === 1;
    const addressId = area[at + 3] ?? 0;
    return {
      kind: 'mp-join',
      offset,
      raw,
      backup,
      addressId,
      token: len === 12 ? u32(area, at + 4) : null,
      nonce: len === 12 ? u32(area, at + 8) : len === 16 ? u32(area, at + 12) : null,
      truncatedHmac: len === 16 ? toHex(area, at + 4, at + 12) : null,
    };
  }
  return {
    kind: 'mptcp',
    offset,
    raw,
    subtype,
    name: MPTCP_SUBTYPE_NAMES[subtype] ?? `subtype ${subtype}`,
  };
}

/**
 * Every option in `area` (the bytes after the 20-byte fixed header, up to the data offset).
 * Never throws: a bad length becomes one `malformed` option that takes the rest of the area.
 * After EOL the rest is padding and is not reported.
 */
export function parseTcpOptions(area: Uint8Array): TcpOption[] {
  const out: TcpOption[] = [];
  let at = 0;
  while (at < area.length) {
    const code = area[at] ?? 0;
    if (code === TCPOPT_EOL) {
      out.push({ kind: 'eol', offset: at, raw: area.slice(at, at + 1) });
      break;
    }
    if (code === TCPOPT_NOP) {
      out.push({ kind: 'nop', offset: at, raw: area.slice(at, at + 1) });
      at++;
      continue;
    }
    const len = area[at + 1];
    if (len === undefined || len < 2 || at + len > area.length) {
      out.push({ kind: 'malformed', offset: at, raw: area.slice(at), code });
      break;
    }
    const raw = area.slice(at, at + len);
    const offset = at;
    if (code === TCPOPT_MSS && len === 4) out.push({ kind: 'mss', offset, raw, mss: u16(area, at + 2) });
    else if (code === TCPOPT_WSCALE && len === 3)
      out.push({ kind: 'wscale', offset, raw, shift: area[at + 2] ?? 0 });
    else if (code === TCPOPT_SACK_PERMITTED && len === 2) out.push({ kind: 'sack-permitted', offset, raw });
    else if (code === TCPOPT_SACK && len >= 10 && (len - 2) % 8 === 0) {
      const blocks: [number, number][] = [];
      for (let i = at + 2; i < at + len; i += 8) blocks.push([u32(area, i), u32(area, i + 4)]);
      out.push({ kind: 'sack', offset, raw, blocks });
    } else if (code === TCPOPT_TIMESTAMP && len === 10)
      out.push({ kind: 'timestamp', offset, raw, tsVal: u32(area, at + 2), tsEcr: u32(area, at + 6) });
    else if (code === TCPOPT_MPTCP) out.push(decodeMptcp(area, at, len, raw));
    else out.push({ kind: 'unknown', offset, raw, code });
    at += len;
  }
  return out;
}

/** What to put in an option area, in order; `encodeTcpOptions` pads the end to 4 bytes. */
export type TcpOptionSpec =
  | { kind: 'nop' }
  | { kind: 'eol' }
  | { kind: 'mss'; mss: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sack-permitted' }
  | { kind: 'timestamp'; tsVal: number; tsEcr: number }
  /** v1 SYN: no key (4 bytes). v0 SYN or any SYN/ACK: senderKey (12 bytes). */
  | { kind: 'mp-capable'; version: number; flags: number; senderKey?: Uint8Array; receiverKey?: Uint8Array }
  | { kind: 'mp-join-syn'; backup: boolean; addressId: number; token: number; nonce: number }
  | { kind: 'raw'; bytes: Uint8Array };

function putU32(out: number[], v: number): void {
  out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** The option bytes, padded with EOL (zeros) to a multiple of 4; at most 40 bytes. */
export function encodeTcpOptions(specs: readonly TcpOptionSpec[]): Uint8Array {
  const out: number[] = [];
  for (const s of specs) {
    switch (s.kind) {
      case 'nop':
        out.push(TCPOPT_NOP);
        break;
      case 'eol':
        out.push(TCPOPT_EOL);
        break;
      case 'mss':
        out.push(TCPOPT_MSS, 4, (s.mss >>> 8) & 0xff, s.mss & 0xff);
        break;
      case 'wscale':
        out.push(TCPOPT_WSCALE, 3, s.shift & 0xff);
        break;
      case 'sack-permitted':
        out.push(TCPOPT_SACK_PERMITTED, 2);
        break;
      case 'timestamp':
        out.push(TCPOPT_TIMESTAMP, 10);
        putU32(out, s.tsVal);
        putU32(out, s.tsEcr);
        break;
      case 'mp-capable': {
        const keys = [s.senderKey, s.receiverKey].filter((k): k is Uint8Array => k !== undefined);
        for (const k of keys) if (k.length !== 8) throw new Error('an MPTCP key is 8 bytes');
        out.push(TCPOPT_MPTCP, 4 + 8 * keys.length, (0 << 4) | (s.version & 0x0f), s.flags & 0xff);
        for (const k of keys) out.push(...k);
        break;
      }
      case 'mp-join-syn':
        out.push(TCPOPT_MPTCP, 12, (1 << 4) | (s.backup ? 1 : 0), s.addressId & 0xff);
        putU32(out, s.token);
        putU32(out, s.nonce);
        break;
      case 'raw':
        out.push(...s.bytes);
        break;
    }
  }
  while (out.length % 4 !== 0) out.push(TCPOPT_EOL);
  if (out.length > 40) throw new Error(`TCP options of ${out.length} bytes: at most 40 fit`);
  return Uint8Array.from(out);
}

export interface LinuxSynOptions {
  mss: number;
  tsVal: number;
  wscale: number;
  /** The MPTCP option to end with, if any (Linux writes it last: net/mptcp/options.c). */
  mptcp?: TcpOptionSpec | null;
}

/**
 * A SYN's options in the layout Linux writes them (net/ipv4/tcp_output.c tcp_options_write):
 * MSS, then SACK-permitted packed with the timestamp (4 2 8 10 …), then NOP + window scale,
 * then MPTCP. Sending what a Linux client sends means a middlebox treats the probe like the
 * real thing, and a Linux server parses it as it parses its peers'.
 */
export function linuxSynOptions(o: LinuxSynOptions): TcpOptionSpec[] {
  const specs: TcpOptionSpec[] = [
    { kind: 'mss', mss: o.mss },
    { kind: 'sack-permitted' },
    { kind: 'timestamp', tsVal: o.tsVal, tsEcr: 0 },
    { kind: 'nop' },
    { kind: 'wscale', shift: o.wscale },
  ];
  if (o.mptcp) specs.push(o.mptcp);
  return specs;
}

/** The MP_CAPABLE a Linux v1 client puts in its SYN (net/mptcp/options.c): 4 bytes, H set. */
export function mpCapableV1Syn(checksum = false): TcpOptionSpec {
  return { kind: 'mp-capable', version: 1, flags: MPC_FLAG_HMAC_SHA256 | (checksum ? MPC_FLAG_CHECKSUM : 0) };
}

/** The MP_CAPABLE of an RFC 6824 (v0) SYN: 12 bytes with the sender's 64-bit key. */
export function mpCapableV0Syn(key: Uint8Array, checksum = true): TcpOptionSpec {
  return {
    kind: 'mp-capable',
    version: 0,
    flags: MPC_V0_FLAG_HMAC_SHA1 | (checksum ? MPC_FLAG_CHECKSUM : 0),
    senderKey: key,
  };
}

export function findOption<K extends TcpOptionKind>(
  opts: readonly TcpOption[],
  kind: K,
): Extract<TcpOption, { kind: K }> | undefined {
  return opts.find((o): o is Extract<TcpOption, { kind: K }> => o.kind === kind);
}

/** A short text for one option, for the CLI and the hop table: "MSS 1460", "MP_CAPABLE v1 flags 0x01". */
export function describeOption(o: TcpOption): string {
  switch (o.kind) {
    case 'eol':
      return 'EOL';
    case 'nop':
      return 'NOP';
    case 'mss':
      return `MSS ${o.mss}`;
    case 'wscale':
      return `WS ${o.shift}`;
    case 'sack-permitted':
      return 'SACK-permitted';
    case 'sack':
      return `SACK ×${o.blocks.length}`;
    case 'timestamp':
      return 'TS';
    case 'mp-capable':
      return `MP_CAPABLE v${o.version} (${o.raw.length} bytes, flags 0x${o.flags.toString(16).padStart(2, '0')})`;
    case 'mp-join':
      return `MP_JOIN (${o.raw.length} bytes)`;
    case 'mptcp':
      return o.name;
    case 'unknown':
      return `option ${o.code} (${o.raw.length} bytes)`;
    case 'malformed':
      return `malformed option ${o.code}`;
  }
}
