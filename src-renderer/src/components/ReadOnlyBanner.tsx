/**
 * The read-only banner: shown while the engine has no CAP_NET_ADMIN. It names the way that works
 * for this user (docs/security.md, "Finding the privileged agent"): the shipped agent unit and
 * its group, with the exact commands, and — where polkit is present — a button that starts the
 * agent through pkexec (mptcp:agent:start). The host looks for the agent by itself; when one
 * answers, the next overview push carries CAP_NET_ADMIN and this banner goes away.
 */
import { useEffect, useState } from 'react';
import type { AgentAccess } from '../../../shared/agent-access';
import type { KernelStatus } from '../../../shared/types';
import { useStores } from '../state/stores';
import { ErrorLine, Notice } from './Notice';

export function ReadOnlyBanner({ status, testId }: { status: KernelStatus; testId?: string }) {
  const { api } = useStores();
  const [access, setAccess] = useState<AgentAccess | null>(null);
  const [busy, setBusy] = useState<'check' | 'start' | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const netAdmin = status.privileges.netAdmin;

  useEffect(() => {
    if (netAdmin) return;
    let live = true;
    void api.invoke('mptcp:agent:status', {}).then((r) => {
      if (!live) return;
      if (r.ok) setAccess(r.value);
      else setError(r.error);
    });
    return () => {
      live = false;
    };
  }, [api, netAdmin]);

  if (netAdmin) return null;

  const check = async (): Promise<void> => {
    setBusy('check');
    setError(null);
    const r = await api.invoke('mptcp:agent:status', { recheck: true });
    if (r.ok) setAccess(r.value);
    else setError(r.error);
    setBusy(null);
  };
  const start = async (): Promise<void> => {
    setBusy('start');
    setError(null);
    const r = await api.invoke('mptcp:agent:start', {});
    if (r.ok) setAccess(r.value);
    // The call outlives the page's 30 s call timeout while an administrator types: the host goes
    // on waiting, and the overview turns writable when the agent answers.
    else if (r.error.code === 'TIMEOUT' && r.error.message.startsWith('mptcp:agent:start'))
      setError({ code: 'WAITING', message: 'still waiting for an administrator to answer polkit' });
    else setError(r.error);
    setBusy(null);
    // The overview follows by itself: the host pushes the agent's status (with CAP_NET_ADMIN).
  };

  const discovering = access !== null && access.mode !== 'direct';
  return (
    <Notice
      tone="warn"
      title="Read-only: no CAP_NET_ADMIN in this network namespace"
      testId={testId}
      action={
        discovering ? (
          <button
            type="button"
            className="button"
            onClick={() => void check()}
            disabled={busy !== null}
            data-testid="agent-recheck"
          >
            {busy === 'check' ? 'Checking…' : 'Check again'}
          </button>
        ) : null
      }
    >
      <p>{status.privileges.note ?? 'You can plan changes, but applying them needs CAP_NET_ADMIN.'}</p>
      {discovering ? (
        <div data-testid="agent-access">
          <p data-testid="agent-reason">
            This app runs without privileges and writes through MPTCP Studio&apos;s privileged agent. None is
            in use: {access.reason ?? `no agent at ${access.socketPath}`}.
          </p>
          <p>
            Set it up once, as an administrator: the shipped systemd unit runs the agent, and members of group{' '}
            <code>{access.setup.group}</code> may use it.
          </p>
          <pre className="shell" data-testid="agent-setup-commands">
            {access.setup.commands.join('\n')}
          </pre>
          {access.setup.userInGroup ? null : (
            <p className="muted">
              Then log out and back in, so that <code>{access.setup.user}</code> is in group{' '}
              <code>{access.setup.group}</code>. This page notices the agent by itself.
            </p>
          )}
          {access.polkit.available ? (
            <div className="button-row">
              <button
                type="button"
                className="button primary"
                onClick={() => void start()}
                disabled={busy !== null}
                data-testid="agent-start"
              >
                {busy === 'start' ? 'Waiting for authorization…' : 'Start the agent now (administrator)'}
              </button>
              <span className="muted">
                Asks polkit ({access.polkit.actionId}) for an administrator, then runs the agent until it is
                stopped or the machine restarts.
              </span>
            </div>
          ) : (
            <p className="muted" data-testid="agent-polkit-unavailable">
              Starting it from here is not possible: {access.polkit.reason}.
            </p>
          )}
        </div>
      ) : null}
      {error ? (
        <p data-testid="agent-error">
          <ErrorLine code={error.code} message={error.message} />
        </p>
      ) : null}
    </Notice>
  );
}
