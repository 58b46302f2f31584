/**
 * The Fleet direct mode's remote web hosts: `mptcp-studio serve` instances this host connects to
 * (URL and token), for a handful of hosts without Prometheus. The renderer never connects to
 * them: this host does, server-side, over WSS (docs/fleet.md "Remote hosts").
 *
 * Tokens are secrets: the registry file is written 0600 in the user's config directory (atomically:
 * a temporary file, then rename), and where the desktop app has a system keyring (Electron
 * safeStorage) it passes a codec that encrypts each token before it reaches the disk.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import WebSocket from 'ws';
import { z } from 'zod';
import { FleetAddHostArgsSchema, type FleetAddHostArgs, type FleetRemoteHost } from '../../../shared/fleet';
import { ServerMessageSchema } from '../../../shared/wire';

/** Encrypts tokens at rest (Electron safeStorage); without one they are stored as given, 0600. */
export interface SecretCodec {
  /** A label saved with each token, so that a file is never read with the wrong codec. */
  readonly kind: string;
  encrypt(plain: string): string;
  decrypt(stored: string): string;
}

const StoredHostSchema = z.object({
  name: z.string(),
  url: z.string(),
  /** `plain` or the codec's kind. */
  tokenCodec: z.string(),
  token: z.string(),
  caCertPem: z.string().nullable(),
});
const StoreFileSchema = z.object({ version: z.literal(1), hosts: z.array(StoredHostSchema) });
type StoredHost = z.infer<typeof StoredHostSchema>;

export const REMOTE_PROBE_TIMEOUT_MS = 5000;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

/** Only https:// (or http:// to loopback, for an SSH tunnel): a token must not cross a network in clear. */
export function checkRemoteUrl(raw: string): URL {
  const url = new URL(raw);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK.test(url.hostname)) return url;
  throw new Error(
    `${raw}: refusing plain HTTP to another machine (the token would cross the network in clear); ` +
      'serve it with --tls-cert and --tls-key and use https://',
  );
}

export class RemoteHostStore {
  constructor(
    readonly file: string,
    private readonly codec: SecretCodec | null = null,
  ) {}

  private async load(): Promise<StoredHost[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return StoreFileSchema.parse(JSON.parse(text)).hosts;
  }

  private async save(hosts: StoredHost[]): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ version: 1, hosts }, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600); // mode applies at creation only; a leftover tmp keeps its old one
    await rename(tmp, this.file);
  }

  async list(): Promise<(StoredHost & { plainToken: string })[]> {
    return (await this.load()).map((h) => ({ ...h, plainToken: this.reveal(h) }));
  }

  private reveal(h: StoredHost): string {
    if (h.tokenCodec === 'plain') return h.token;
    if (!this.codec || this.codec.kind !== h.tokenCodec) {
      throw new Error(`${h.name}: its token was stored with ${h.tokenCodec}, which is not available here`);
    }
    return this.codec.decrypt(h.token);
  }

  async add(raw: FleetAddHostArgs): Promise<StoredHost> {
    const args = FleetAddHostArgsSchema.parse(raw);
    const url = checkRemoteUrl(args.url);
    const entry: StoredHost = {
      name: args.name,
      url: url.toString(),
      tokenCodec: this.codec?.kind ?? 'plain',
      token: this.codec ? this.codec.encrypt(args.token) : args.token,
      caCertPem: args.caCertPem,
    };
    const hosts = (await this.load()).filter((h) => h.name !== args.name);
    hosts.push(entry);
    await this.save(hosts);
    return entry;
  }

  async remove(name: string): Promise<void> {
    const hosts = await this.load();
    await this.save(hosts.filter((h) => h.name !== name));
  }
}

/**
 * Opens the remote web host's API (WSS, token in the URL as its page does) and reads its status.
 * Never rejects: a host that cannot be reached, whose certificate is not trusted, that refuses the
 * token or speaks TLS to a plain-HTTP attempt is reported down with the reason.
 */
export function probeRemoteHost(
  h: { name: string; url: string; plainToken: string; caCertPem: string | null },
  timeoutMs = REMOTE_PROBE_TIMEOUT_MS,
): Promise<FleetRemoteHost> {
  const base = {
    name: h.name,
    url: h.url,
    netns: null,
    kernelRelease: null,
    mptcpEnabled: null,
    pathManager: null,
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Partial<FleetRemoteHost> & { up: boolean; error: string | null }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws?.terminate();
      resolve({ ...base, ...r, checkedAtMs: Date.now(), selected: false });
    };
    let ws: WebSocket | null = null;
    const timer = setTimeout(
      () => finish({ up: false, error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    let apiUrl: URL;
    try {
      apiUrl = checkRemoteUrl(h.url);
    } catch (e) {
      finish({ up: false, error: (e as Error).message });
      return;
    }
    apiUrl.protocol = apiUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    apiUrl.pathname = '/api';
    apiUrl.search = new URLSearchParams({ token: h.plainToken }).toString();
    ws = new WebSocket(apiUrl, {
      ...(h.caCertPem ? { ca: h.caCertPem } : {}),
      maxPayload: 64 * 1024 * 1024,
      handshakeTimeout: timeoutMs,
    });
    ws.on('unexpected-response', (_req, res) => {
      const why =
        res.statusCode === 401
          ? 'refused: wrong token (401)'
          : res.statusCode === 421
            ? 'refused: this name is not one the host accepts (421; serve --public-name)'
            : `refused: HTTP ${res.statusCode ?? '?'}`;
      finish({ up: false, error: why });
    });
    ws.on('error', (e: NodeJS.ErrnoException) => finish({ up: false, error: e.code ?? e.message }));
    ws.on('close', (code) => finish({ up: false, error: `closed (${code})` }));
    ws.on('open', () => ws?.send(JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} })));
    ws.on('message', (data: Buffer) => {
      const parsed = ServerMessageSchema.safeParse(JSON.parse(data.toString('utf8')));
      if (!parsed.success || parsed.data.t !== 'result' || parsed.data.id !== 1) return;
      const r = parsed.data.result;
      if (!r.ok) return finish({ up: true, error: `status: ${r.error.message}` });
      const st = r.value as {
        netns?: string | null;
        kernelRelease?: string;
        enabled?: boolean;
        pathManager?: string | null;
      };
      finish({
        up: true,
        error: null,
        netns: st.netns ?? null,
        kernelRelease: st.kernelRelease ?? null,
        mptcpEnabled: st.enabled ?? null,
        pathManager: st.pathManager ?? null,
      });
    });
  });
}
