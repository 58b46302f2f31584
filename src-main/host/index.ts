/**
 * Host-side handlers (see hostMethodNames in shared/contract.ts): profiles in the desktop user's
 * config directory and advice computed from kernel reads. They reach the kernel only through the
 * backend's kernel handlers, so they work the same for the local engine and a namespace agent.
 */
import type { HostHandlers } from '../../shared/contract';
import type { HostDeps } from './deps';
import { adviceHandlers } from './advice';
import { profileHandlers } from './profiles';
import { defaultFleetHostsFile, fleetHandlers } from './fleet/handlers';
import { agentAccessHandlers } from './agent-access';

export type { HostDeps } from './deps';
export { defaultFleetHostsFile } from './fleet/handlers';
export type { SecretCodec } from './fleet/remote-hosts';
export { RemoteHostStore } from './fleet/remote-hosts';
export { SwitchableBackend } from './fleet/switchable-backend';

export function createHostHandlers(deps: HostDeps): HostHandlers {
  return {
    ...profileHandlers(deps),
    ...adviceHandlers(deps),
    ...fleetHandlers(deps.fleet ?? { prometheusUrl: null, hostsFile: defaultFleetHostsFile() }),
    ...agentAccessHandlers(deps.agentAccess ?? null),
  };
}

export function defaultProfilesDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || `${env.HOME ?? '/root'}/.config`;
  return `${base}/mptcp-studio/profiles`;
}
