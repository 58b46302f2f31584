/** The agents: the client side (backends a host uses) and the server side (what an agent runs). */
export {
  AgentBackend,
  LineBackend,
  SocketBackend,
  checkNetnsName,
  agentCommand,
  AGENT_V8_FLAGS,
} from './client';
export type { AgentChannel, AgentOptions, ChannelHandlers } from './client';
export {
  serveAgent,
  serveAgentSocket,
  AgentSessions,
  MAX_CALLS_IN_FLIGHT,
  MAX_REQUEST_LINE_BYTES,
} from './server';
export type { AgentPeer, AgentSocketOptions, ServeAgentOptions } from './server';
export {
  DiscoveringBackend,
  DEFAULT_AGENT_SOCKET,
  AGENT_SOCKET_ENV,
  agentSocketPath,
  probeAgent,
  processHasNetAdmin,
  directAgentAccess,
} from './discovery';
export type { AgentAccessControl, DiscoveryOptions, ProbeOutcome } from './discovery';
