import type { SessionInfo } from '../api/session';
import { useSession, useOverview } from '../state/stores';
import { HostSwitcher } from './HostSwitcher';

const LABELS: Record<SessionInfo['state'], string> = {
  connecting: 'Connecting…',
  open: 'Connected',
  closed: 'Disconnected, reconnecting…',
  unauthorized: 'Not authorised',
};

function ConnectionStatus() {
  const info = useSession((s) => s);
  const label = info.state === 'open' && info.transport === 'ipc' ? 'Connected (local)' : LABELS[info.state];
  return (
    <span
      className={`conn conn-${info.state}`}
      data-testid="connection-status"
      data-state={info.state}
      title={info.detail ?? (info.transport === 'ipc' ? 'Electron IPC' : 'WebSocket to the web host')}
      role="status"
    >
      <span className="conn-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

export function Header() {
  const netns = useOverview((s) => s.status?.netns ?? null);
  return (
    <header className="app-header">
      <div className="brand">
        <span className="brand-name">MPTCP Studio</span>
        {netns !== null ? (
          <span className="netns" data-testid="netns" title="Network namespace the engine is looking at">
            netns <span className="mono">{netns}</span>
          </span>
        ) : null}
      </div>
      <HostSwitcher />
      <ConnectionStatus />
    </header>
  );
}
