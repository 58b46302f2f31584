/**
 * How this host reaches the kernel's write path, for the read-only banner: the privileged agent
 * it found at the default socket, its own privilege, or nothing yet — and then the ways that
 * work for this user (docs/security.md, "Finding the privileged agent").
 */
import { z } from 'zod';

/** The polkit action that lets a user start the privileged agent (packaging/polkit/). */
export const AGENT_POLKIT_ACTION_ID = 'org.mptcpstudio.agent.start';

export const AgentAccessSchema = z.object({
  /**
   * `agent`: writes go through the privileged agent found at `socketPath`.
   * `direct`: this process writes itself (it holds CAP_NET_ADMIN), or was told where to go
   * (`--agent-socket`, `--netns`): nothing is looked for.
   * `read-only`: no agent answered at `socketPath` (see `reason`); writes are refused.
   */
  mode: z.enum(['agent', 'direct', 'read-only']),
  /** The socket looked at: /run/mptcp-studio/agent.sock unless MPTCP_STUDIO_AGENT_SOCKET says otherwise. */
  socketPath: z.string(),
  /** Why the agent at socketPath is not used; null when it is, or when nothing is looked for. */
  reason: z.string().nullable(),
  /** When socketPath was last probed (ms since the epoch); null when it never was. */
  checkedAtMs: z.number().nullable(),
  /** The way that needs an administrator once: the shipped systemd unit and its socket group. */
  setup: z.object({
    /** The group whose members may connect to the agent's socket. */
    group: z.string(),
    /** The user this host runs as (who must join the group). */
    user: z.string(),
    /** Whether this user is already in the group (then only the unit is missing). */
    userInGroup: z.boolean(),
    /** The exact commands, one per line, for a root shell (sudo). */
    commands: z.array(z.string()),
  }),
  /** Starting the agent now through pkexec (mptcp:agent:start). */
  polkit: z.object({
    /** pkexec is installed and a polkit daemon answers on the system bus. */
    available: z.boolean(),
    /** Why not, when not available. */
    reason: z.string().nullable(),
    actionId: z.string(),
  }),
});
export type AgentAccess = z.infer<typeof AgentAccessSchema>;

export const AgentAccessArgsSchema = z
  .object({
    /** Probe the socket now instead of answering from the last probe (the banner's "Check again"). */
    recheck: z.boolean().optional(),
  })
  .strict();
