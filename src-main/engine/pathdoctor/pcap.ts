/** A pcap file of raw IP packets (LINKTYPE_RAW = 101, tcpdump's pcap-savefile(5) format). */
import { writeFile } from 'node:fs/promises';

export interface PcapPacket {
  timeUs: number;
  bytes: Uint8Array;
}

export function pcapBytes(packets: readonly PcapPacket[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(101, 20);
  const parts: Buffer[] = [head];
  for (const p of [...packets].sort((a, b) => a.timeUs - b.timeUs)) {
    const rec = Buffer.alloc(16);
    const sec = Math.floor(p.timeUs / 1e6);
    rec.writeUInt32LE(sec >>> 0, 0);
    rec.writeUInt32LE(Math.floor(p.timeUs - sec * 1e6) >>> 0, 4);
    rec.writeUInt32LE(p.bytes.length, 8);
    rec.writeUInt32LE(p.bytes.length, 12);
    parts.push(rec, Buffer.from(p.bytes));
  }
  return Buffer.concat(parts);
}

export async function writePcap(file: string, packets: readonly PcapPacket[]): Promise<void> {
  await writeFile(file, pcapBytes(packets));
}
