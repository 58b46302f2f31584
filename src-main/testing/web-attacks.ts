/**
 * Malformed and hostile input for the web host, sent over raw TCP so that nothing on our side
 * tidies it up first: HTTP request targets and cookies that do not decode, and WebSocket frames
 * that break RFC 6455 after a valid, authenticated handshake. Used by the unit test (an in-process
 * host) and by the integration test (a real `mptcp-studio serve` process); each attack must leave
 * the host serving.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface HttpAttack {
  name: string;
  /** The raw request (CRLF line ends); `{TOKEN}` and `{HOST}` are filled in. */
  request: string;
  /** Status codes that are a correct answer. */
  expect: number[];
}

export const HTTP_ATTACKS: HttpAttack[] = [
  {
    name: 'cookie with a bad % escape, no token',
    request: 'GET / HTTP/1.1\r\nHost: {HOST}\r\nCookie: mptcp_studio_token=%\r\n\r\n',
    expect: [401],
  },
  {
    name: 'path with a cut UTF-8 % escape, with the token',
    request: 'GET /%E0%A4%A?token={TOKEN} HTTP/1.1\r\nHost: {HOST}\r\n\r\n',
    expect: [400],
  },
  {
    name: 'request target that is an unparsable authority',
    request: 'GET //[ HTTP/1.1\r\nHost: {HOST}\r\n\r\n',
    expect: [400],
  },
  {
    name: 'NUL in the path, with the token',
    request: 'GET /%00index.html?token={TOKEN} HTTP/1.1\r\nHost: {HOST}\r\n\r\n',
    expect: [400],
  },
  {
    name: 'WebSocket upgrade with a bad % cookie',
    request:
      'GET /api HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      'Cookie: mptcp_studio_token=%zz\r\n\r\n',
    expect: [401],
  },
  {
    name: 'WebSocket upgrade to an unparsable target',
    request:
      'GET //[ HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    expect: [404],
  },
  {
    name: 'malformed HTTP (no version)',
    request: 'GET /\r\n\r\n',
    // Node's parser takes it for HTTP/0.9-style without a Host header.
    expect: [400, 421],
  },
];

/** Sends one raw request and returns the status code of the answer (0: closed without one). */
export function rawHttp(port: number, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      data += d;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) {
        resolve(Number(m[1]));
        sock.destroy();
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(0));
    sock.write(request);
  });
}

export function fillRequest(request: string, port: number, token: string): string {
  return request.replaceAll('{HOST}', `127.0.0.1:${port}`).replaceAll('{TOKEN}', token);
}

/** A client frame (RFC 6455 section 5.2), masked unless told otherwise. */
export function frame(
  firstByte: number,
  payload: Buffer,
  opts: { masked?: boolean; claimedLength?: number } = {},
): Buffer {
  const masked = opts.masked !== false;
  const len = opts.claimedLength ?? payload.length;
  const head: number[] = [firstByte];
  const maskBit = masked ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 0x10000) head.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from(head), mask, body]);
}

export interface WsAttack {
  name: string;
  bytes: () => Buffer;
  /** RFC 6455 close codes that are a correct answer (null: the server may just drop the socket). */
  closeCodes: number[] | null;
}

const FIN = 0x80;
const TEXT = 0x1;
const closePayload = (code: number): Buffer => Buffer.from([code >> 8, code & 0xff]);

export const WS_ATTACKS: WsAttack[] = [
  {
    name: 'invalid UTF-8 in a text frame',
    bytes: () => frame(FIN | TEXT, Buffer.from([0xff, 0xfe, 0xfd])),
    closeCodes: [1007],
  },
  {
    name: 'unmasked client frame',
    bytes: () => frame(FIN | TEXT, Buffer.from('{}'), { masked: false }),
    closeCodes: [1002],
  },
  { name: 'reserved opcode 0x3', bytes: () => frame(FIN | 0x3, Buffer.from('x')), closeCodes: [1002] },
  {
    name: 'RSV1 without an extension',
    bytes: () => frame(FIN | 0x40 | TEXT, Buffer.from('{}')),
    closeCodes: [1002],
  },
  {
    name: 'control frame over 125 bytes',
    bytes: () => frame(FIN | 0x9, Buffer.alloc(200, 0x61)),
    closeCodes: [1002],
  },
  { name: 'close frame with code 999', bytes: () => frame(FIN | 0x8, closePayload(999)), closeCodes: [1002] },
  { name: 'stray continuation frame', bytes: () => frame(FIN | 0x0, Buffer.from('x')), closeCodes: [1002] },
  {
    name: 'message larger than any call (header claims 3 MiB)',
    bytes: () => frame(FIN | TEXT, Buffer.alloc(1024, 0x20), { claimedLength: 3 * 1024 * 1024 }),
    closeCodes: [1009],
  },
  { name: 'binary message', bytes: () => frame(FIN | 0x2, Buffer.from([1, 2, 3])), closeCodes: [1003] },
  { name: 'text that is not JSON', bytes: () => frame(FIN | TEXT, Buffer.from('{"t":')), closeCodes: [1008] },
  {
    name: 'JSON nested 100,000 deep',
    bytes: () => frame(FIN | TEXT, Buffer.from('['.repeat(100_000) + ']'.repeat(100_000))),
    closeCodes: [1008],
  },
];

/**
 * Completes an authenticated WebSocket handshake by hand, sends the attack, and resolves with the
 * close code the server sent (null when it closed without a close frame).
 */
export function wsAttack(
  port: number,
  token: string,
  attack: WsAttack,
  /** A frame that claims more bytes than it has leaves the server waiting: give up after this. */
  timeoutMs = 5000,
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${attack.name}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (code: number | null): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(code);
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) {
          clearTimeout(timer);
          sock.destroy();
          reject(new Error(`handshake refused: ${head.split('\r\n')[0] ?? ''}`));
          return;
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        sock.write(attack.bytes());
      }
      // Server frames are unmasked; look for a close frame (opcode 0x8).
      while (buf.length >= 2) {
        const opcode = (buf[0] ?? 0) & 0x0f;
        let len = (buf[1] ?? 0) & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        if (opcode === 0x8) return done(len >= 2 ? buf.readUInt16BE(off) : null);
        buf = buf.subarray(off + len);
      }
    });
    sock.on('error', () => done(null));
    sock.on('close', () => done(null));
    sock.write(
      `GET /api?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
  });
}
