/**
 * The Fleet page's remote web hosts (the direct mode, docs/fleet.md): register a
 * `mptcp-studio serve --tls-cert …` by URL and token, see whether each is up (probed by this page's
 * host, never by the renderer), remove one. The header's host switcher then offers them.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { FleetRemoteHost } from '../../../shared/fleet';
import { useStores } from '../state/stores';

export function RemoteHostsSection() {
  const { api } = useStores();
  const [hosts, setHosts] = useState<FleetRemoteHost[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);
  const [form, setForm] = useState({ name: '', url: 'https://', token: '', caCertPem: '' });

  useEffect(() => {
    let live = true;
    void api.invoke('mptcp:fleet:hosts:list', {}).then((r) => {
      if (!live) return;
      if (r.ok) setHosts(r.value);
      else setError(r.error.message);
    });
    return () => {
      live = false;
    };
  }, [api, version]);

  const add = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    const r = await api.invoke('mptcp:fleet:hosts:add', {
      name: form.name.trim(),
      url: form.url.trim(),
      token: form.token.trim(),
      caCertPem: form.caCertPem.trim() === '' ? null : form.caCertPem,
    });
    setBusy(false);
    if (!r.ok) return setError(r.error.message);
    setError(r.value.up ? null : `${r.value.name} is registered but not reachable: ${r.value.error ?? '?'}`);
    setForm({ name: '', url: 'https://', token: '', caCertPem: '' });
    setVersion((v) => v + 1);
  };
  const remove = async (name: string): Promise<void> => {
    const r = await api.invoke('mptcp:fleet:hosts:remove', { name });
    if (!r.ok) setError(r.error.message);
    setVersion((v) => v + 1);
  };

  return (
    <section className="card" data-testid="remote-hosts">
      <h2>Remote web hosts</h2>
      <p className="muted">
        Other machines running <code>mptcp-studio serve --tls-cert FILE --tls-key FILE</code>. This host
        connects to them; choose one in the header to work on it.
      </p>
      {error ? (
        <p className="error-text" data-testid="remote-hosts-error">
          {error}
        </p>
      ) : null}
      {hosts && hosts.length > 0 ? (
        <table className="table compact">
          <thead>
            <tr>
              <th>Name</th>
              <th>URL</th>
              <th>State</th>
              <th>Path manager</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {hosts.map((h) => (
              <tr key={h.name} data-testid="remote-host-row" data-name={h.name}>
                <td>{h.name}</td>
                <td className="mono">{h.url}</td>
                <td>{h.up ? (h.selected ? 'up, shown now' : 'up') : `down: ${h.error ?? '?'}`}</td>
                <td>{h.pathManager ?? '–'}</td>
                <td>
                  <button type="button" className="button" onClick={() => void remove(h.name)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form className="remote-host-form" onSubmit={(e) => void add(e)}>
        <input
          aria-label="Name"
          placeholder="name"
          value={form.name}
          onChange={(e) => setForm({ ...form, name: e.target.value })}
          data-testid="remote-host-name"
        />
        <input
          aria-label="URL"
          placeholder="https://host:7878/"
          value={form.url}
          onChange={(e) => setForm({ ...form, url: e.target.value })}
          data-testid="remote-host-url"
        />
        <input
          aria-label="Token"
          type="password"
          placeholder="token"
          value={form.token}
          onChange={(e) => setForm({ ...form, token: e.target.value })}
          data-testid="remote-host-token"
        />
        <textarea
          aria-label="Certificate to trust (PEM, for a self-signed certificate)"
          placeholder="-----BEGIN CERTIFICATE----- (optional: a self-signed certificate to trust)"
          value={form.caCertPem}
          onChange={(e) => setForm({ ...form, caCertPem: e.target.value })}
          rows={2}
        />
        <button type="submit" className="button" disabled={busy} data-testid="remote-host-add">
          {busy ? 'Connecting…' : 'Add'}
        </button>
      </form>
    </section>
  );
}
