/**
 * The header's host switcher (Fleet direct mode, docs/fleet.md): this host, or one of the remote
 * web hosts registered with it. Choosing one makes this page's host talk to that host for every
 * page (mptcp:fleet:hosts:select); the renderer still talks only to its own host. Hidden while no
 * remote host is registered.
 */
import { useEffect, useState } from 'react';
import type { FleetRemoteHost } from '../../../shared/fleet';
import { useStores } from '../state/stores';

export function HostSwitcher({ reload = () => window.location.reload() }: { reload?: () => void }) {
  const { api } = useStores();
  const [hosts, setHosts] = useState<FleetRemoteHost[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void api.invoke('mptcp:fleet:hosts:list', {}).then((r) => {
      if (live && r.ok) setHosts(r.value);
    });
    return () => {
      live = false;
    };
  }, [api]);
  if (hosts.length === 0) return null;
  const selected = hosts.find((h) => h.selected)?.name ?? '';
  const choose = async (name: string): Promise<void> => {
    const r = await api.invoke('mptcp:fleet:hosts:select', { name: name === '' ? null : name });
    if (!r.ok) return setError(r.error.message);
    // Every store holds the previous host's state: start the pages over on the new one.
    reload();
  };
  return (
    <label className="host-switcher" title={error ?? 'Which host the pages show'}>
      Host{' '}
      <select value={selected} onChange={(e) => void choose(e.target.value)} data-testid="host-switcher">
        <option value="">this host</option>
        {hosts.map((h) => (
          <option key={h.name} value={h.name} disabled={!h.up && !h.selected}>
            {h.name}
            {h.up ? '' : ` (down: ${h.error ?? '?'})`}
          </option>
        ))}
      </select>
      {error ? (
        <span className="host-switcher-error" data-testid="host-switcher-error">
          {' '}
          {error}
        </span>
      ) : null}
    </label>
  );
}
