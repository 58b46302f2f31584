import type { KernelHandlers } from '../../shared/contract';

/** What the host's own handlers (profiles, advice) need. */
export interface HostDeps {
  kernel: KernelHandlers;
  /** Where profiles are stored: $XDG_CONFIG_HOME/mptcp-studio/profiles by default. */
  profilesDir: string;
}
