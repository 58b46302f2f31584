/**
 * `serve` reached from other machines (docs/fleet.md "Remote hosts"): HTTPS and WSS with
 * --tls-cert and --tls-key, and no plain HTTP on a non-loopback address unless asked for by name
 * (--insecure-http): the token travels in the URL and in a cookie, and the page can change the
 * kernel's MPTCP settings.
 */
import { readFile, stat } from 'node:fs/promises';

export interface RemoteServeOptions {
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp?: boolean;
  publicNames?: string[];
  /** The access token, from a file (so that it outlives a restart: the Fleet direct mode stores it). */
  tokenFile?: string;
}

export const REMOTE_SERVE_USAGE = `  --tls-cert FILE, --tls-key FILE
                serve: HTTPS and WSS with this certificate and key (PEM)
  --public-name NAME
                serve: a name (NAME or NAME:PORT) the Host and Origin checks accept besides the
                bind address, e.g. the DNS name in the certificate (repeatable)
  --insecure-http
                serve: allow plain HTTP on an address other than loopback
  --token-file FILE
                serve: the access token, from FILE (mode 0600; at least 16 characters), instead of
                a new one at each start
`;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What startWebHost needs for TLS and names; throws with the reason when the options are unsafe. */
export async function remoteServeSecurity(
  host: string,
  o: RemoteServeOptions,
): Promise<{ tls?: { cert: Buffer; key: Buffer }; publicNames?: string[]; token?: string }> {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
    throw new Error('give --tls-cert and --tls-key together');
  }
  if (o.tlsCert === undefined && !isLoopbackHost(host) && !o.insecureHttp) {
    throw new Error(
      `refusing plain HTTP on ${host}: the access token would cross the network in clear. ` +
        'Give --tls-cert and --tls-key, use an SSH tunnel to 127.0.0.1, or --insecure-http to accept it',
    );
  }
  const read = (file: string, what: string): Promise<Buffer> =>
    readFile(file).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the TLS ${what} ${file}: ${e.code ?? e.message}`);
    });
  let token: string | undefined;
  if (o.tokenFile !== undefined) {
    const st = await stat(o.tokenFile).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the token file ${o.tokenFile}: ${e.code ?? e.message}`);
    });
    if ((st.mode & 0o077) !== 0) {
      throw new Error(
        `${o.tokenFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
    token = (await readFile(o.tokenFile, 'utf8')).trim();
    if (!/^[A-Za-z0-9._~-]{16,256}$/.test(token)) {
      throw new Error(`${o.tokenFile}: a token is 16 to 256 characters of A-Z a-z 0-9 . _ ~ -`);
    }
  }
  return {
    ...(token !== undefined ? { token } : {}),
    ...(o.tlsCert !== undefined && o.tlsKey !== undefined
      ? { tls: { cert: await read(o.tlsCert, 'certificate'), key: await read(o.tlsKey, 'key') } }
      : {}),
    ...(o.publicNames && o.publicNames.length > 0 ? { publicNames: o.publicNames } : {}),
  };
}
