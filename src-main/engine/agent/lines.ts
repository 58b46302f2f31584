/**
 * Newline-delimited messages from a byte stream, with a bound on a line's length. readline has
 * none: a peer that never sends a newline grows one string until V8 refuses it (about 512 MiB)
 * and the process ends. Here a line over the bound is cut off, reported once with its first bytes
 * (so the caller can answer the call it belonged to), and skipped up to its newline; the lines
 * after it are read as usual.
 */
export interface LineReaderOptions {
  maxLineBytes: number;
  onLine: (line: string) => void;
  /** A line longer than maxLineBytes: its first bytes (at most 256). */
  onOversize: (head: Buffer) => void;
}

const NEWLINE = 0x0a;
const HEAD_BYTES = 256;

/** A push parser: feed it chunks, it calls onLine per complete line. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Inside a line that was too long: everything up to the next newline is dropped. */
  private skipping = false;

  constructor(private readonly opts: LineReaderOptions) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      const nl = rest.indexOf(NEWLINE);
      if (this.skipping) {
        if (nl < 0) return;
        this.skipping = false;
        rest = rest.subarray(nl + 1);
        continue;
      }
      if (nl < 0) {
        if (this.size + rest.length > this.opts.maxLineBytes) {
          this.tooLong(rest);
          this.skipping = true;
          return;
        }
        this.parts.push(rest);
        this.size += rest.length;
        return;
      }
      if (this.size + nl > this.opts.maxLineBytes) {
        this.tooLong(rest.subarray(0, nl));
      } else {
        const line =
          this.parts.length === 0
            ? rest.subarray(0, nl)
            : Buffer.concat([...this.parts, rest.subarray(0, nl)]);
        this.parts = [];
        this.size = 0;
        this.emit(line);
      }
      rest = rest.subarray(nl + 1);
    }
  }

  /** The stream ended: a last line without newline still counts (as with readline). */
  end(): void {
    if (this.skipping || this.size === 0) return;
    const line = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    this.emit(line);
  }

  private emit(line: Buffer): void {
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    if (end === 0) return;
    this.opts.onLine(line.toString('utf8', 0, end));
  }

  private tooLong(last: Buffer): void {
    const head = Buffer.concat([...this.parts, last.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES);
    this.parts = [];
    this.size = 0;
    this.opts.onOversize(head);
  }
}

/**
 * Reads lines from `input` until it ends; resolves then. Stream errors end the reading too (the
 * stream's owner reports them), never the process.
 */
export function readLines(input: NodeJS.ReadableStream, opts: LineReaderOptions): Promise<void> {
  const splitter = new LineSplitter(opts);
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      splitter.end();
      resolve();
    };
    input.on('data', (chunk: Buffer | string) => {
      if (done) return;
      splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    });
    input.on('end', finish);
    input.on('close', finish);
    input.on('error', finish);
  });
}
