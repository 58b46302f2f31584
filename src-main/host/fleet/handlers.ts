/**
 * The Fleet methods of the contract (shared/fleet.ts), served by the host process: queries to the
 * configured Prometheus and the direct mode's registry of remote web hosts.
 */
import type { HostHandlers } from '../../../shared/contract';
import { readFleetOverview } from './overview';
import { PrometheusApi } from './prometheus-api';
import { probeRemoteHost, RemoteHostStore, type SecretCodec } from './remote-hosts';
import type { BackendSwitcher } from './switchable-backend';

export type FleetMethodName =
  | 'mptcp:fleet:overview'
  | 'mptcp:fleet:hosts:list'
  | 'mptcp:fleet:hosts:add'
  | 'mptcp:fleet:hosts:remove'
  | 'mptcp:fleet:hosts:select';

export interface FleetDeps {
  /** Prometheus (or a federating / long-term store's query endpoint); null: none configured. */
  prometheusUrl: string | null;
  /** The direct mode's registry (0600): $XDG_CONFIG_HOME/mptcp-studio/fleet-hosts.json. */
  hostsFile: string;
  /** Encrypts remote hosts' tokens at rest where a keyring exists (Electron safeStorage). */
  codec?: SecretCodec | null;
  /** The service's switchable backend (the header's host switcher); absent: no switching. */
  switcher?: BackendSwitcher | null;
}

export function defaultFleetHostsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || `${env.HOME ?? '/root'}/.config`;
  return `${base}/mptcp-studio/fleet-hosts.json`;
}

export function fleetHandlers(deps: FleetDeps): Pick<HostHandlers, FleetMethodName> {
  const store = new RemoteHostStore(deps.hostsFile, deps.codec ?? null);
  const api = deps.prometheusUrl ? new PrometheusApi(deps.prometheusUrl) : null;
  return {
    'mptcp:fleet:overview': async ({ range }) => {
      if (!api) {
        return {
          prometheusUrl: null,
          range,
          fetchedAtMs: Date.now(),
          queryMs: 0,
          hosts: [],
          errors: ['no Prometheus configured: start the host with --prometheus URL'],
        };
      }
      // Rows link to a host's own web host when it is registered (matched by host name).
      const webUrls = new Map<string, string>();
      for (const h of await store.list().catch(() => []))
        webUrls.set(new URL(h.url).hostname.toLowerCase(), h.url);
      return readFleetOverview(api, range, webUrls);
    },
    'mptcp:fleet:hosts:list': async () => {
      const hosts = await store.list();
      const selected = deps.switcher?.selected() ?? null;
      const probed = await Promise.all(hosts.map((h) => probeRemoteHost(h)));
      return probed.map((p) => ({ ...p, selected: p.name === selected }));
    },
    'mptcp:fleet:hosts:add': async (args) => {
      const h = await store.add(args);
      return probeRemoteHost({ ...h, plainToken: args.token });
    },
    'mptcp:fleet:hosts:remove': async ({ name }) => {
      if (deps.switcher?.selected() === name) await deps.switcher.select(null);
      await store.remove(name);
      return {};
    },
    'mptcp:fleet:hosts:select': async ({ name }) => {
      const switcher = deps.switcher;
      if (!switcher) throw new Error('this host cannot switch to another (no direct mode here)');
      if (name === null) {
        await switcher.select(null);
        return { selected: null };
      }
      const h = (await store.list()).find((x) => x.name === name);
      if (!h) throw new Error(`no registered host named ${name}`);
      await switcher.select({ name: h.name, url: h.url, plainToken: h.plainToken, caCertPem: h.caCertPem });
      return { selected: name };
    },
  };
}
