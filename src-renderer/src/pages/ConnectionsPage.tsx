import { ConnectionDetail } from '../components/monitor/ConnectionDetail';
import { ConnectionsTable } from '../components/monitor/ConnectionsTable';
import { MonitorToolbar } from '../components/monitor/MonitorToolbar';
import { useMonitor } from '../state/stores';

export function ConnectionsPage() {
  const selected = useMonitor((s) => s.selectedToken);
  return (
    <main className="page" data-testid="connections-page">
      <div className="page-title">
        <h1>Connections</h1>
        <span className="muted">live MPTCP connections; click one for its subflows over time</span>
      </div>
      <MonitorToolbar />
      {selected === null ? <ConnectionsTable /> : <ConnectionDetail key={selected} token={selected} />}
    </main>
  );
}
