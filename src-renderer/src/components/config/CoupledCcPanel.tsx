import { COUPLED_CC_SUMMARY, type CcStatus } from '../../../../shared/cc';
import { useCc, useStores } from '../../state/stores';
import { Badge } from '../Badge';
import { ErrorLine } from '../Notice';

function state(c: CcStatus): { label: string; tone: 'ok' | 'info' | 'off' } {
  if (c.registered) return { label: 'loaded', tone: 'ok' };
  if (c.available) return { label: 'loadable', tone: 'info' };
  return { label: 'unavailable', tone: 'off' };
}

/** Stands for a row's kernel name while reasons are compared across rows. */
const NAME = '\u0000';

export interface CcReasons {
  /** Reasons every unloadable algorithm shares (their names as `{mptcp_lia,mptcp_olia}`). */
  common: string[];
  /** The kernel names `common` applies to. */
  names: string[];
  /** Per algorithm id: the reasons that are its own. */
  own: Map<string, string[]>;
}

/**
 * Why the coupled CCs cannot be loaded, with what they share said once: without the compiled
 * objects or the privileges, every row would otherwise repeat the same sentence (the engine joins
 * a row's reasons with "; ", src-main/engine/cc/cc-manager.ts).
 */
export function ccReasons(list: readonly CcStatus[]): CcReasons {
  const blocked = list.filter((c) => !c.registered && c.reason);
  const parts = new Map(
    blocked.map((c) => [c.id, (c.reason ?? '').split('; ').map((p) => p.split(c.kernelName).join(NAME))]),
  );
  const first = blocked[0] ? (parts.get(blocked[0].id) ?? []) : [];
  const shared =
    blocked.length < 2 ? [] : first.filter((p) => blocked.every((c) => parts.get(c.id)?.includes(p)));
  const names = shared.length > 0 ? blocked.map((c) => c.kernelName) : [];
  const own = new Map(
    blocked.map((c) => [
      c.id,
      (parts.get(c.id) ?? []).filter((p) => !shared.includes(p)).map((p) => p.split(NAME).join(c.kernelName)),
    ]),
  );
  const all = `{${names.join(',')}}`;
  return { common: shared.map((p) => p.split(NAME).join(all)), names, own };
}

/**
 * LIA / OLIA / Balia as BPF struct_ops: each with its state, a Load or Unload button, and the reason
 * when it cannot be loaded (no BTF, no privileges, missing kfuncs, ...) or unloaded (in use).
 */
export function CoupledCcPanel({ disabled }: { disabled: boolean }) {
  const { cc } = useStores();
  const list = useCc((s) => s.list);
  const error = useCc((s) => s.error);
  const busy = useCc((s) => s.busy);
  const actionError = useCc((s) => s.actionError);
  const message = useCc((s) => s.message);
  const reasons = ccReasons(list ?? []);
  return (
    <div className="coupled-cc" data-testid="cc-coupled">
      <p className="hint">
        <strong>LIA / OLIA / Balia</strong>: {COUPLED_CC_SUMMARY}. They run as BPF programs; loading one is
        global to the kernel, the default above is per network namespace.
      </p>
      {error ? (
        <p className="field-error-inline" role="alert" data-testid="cc-list-error">
          <ErrorLine code={error.code} message={error.message} />
        </p>
      ) : null}
      {list === null && !error ? <p className="muted">Reading…</p> : null}
      {reasons.common.length > 0 ? (
        <div className="cc-common-reason" role="note" data-testid="cc-common-reason">
          <strong>
            {reasons.names.length === list?.length ? 'None of them' : reasons.names.join(', ')} can be loaded
            here:
          </strong>
          <ul className="plain">
            {reasons.common.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </div>
      ) : null}
      <ul className="coupled-cc-list">
        {(list ?? []).map((c) => {
          const s = state(c);
          const rowError = actionError?.id === c.id ? actionError.error : null;
          return (
            <li key={c.id} data-testid={`cc-row-${c.id}`} data-state={s.label} className="coupled-cc-row">
              <div className="coupled-cc-head">
                <code className="mono">{c.kernelName}</code>
                <Badge tone={s.tone} testId={`cc-state-${c.id}`}>
                  {s.label}
                </Badge>
                <span className="muted">
                  {c.title} ({c.reference})
                </span>
                {c.registered ? (
                  <button
                    type="button"
                    className="button small"
                    data-testid={`cc-unload-${c.id}`}
                    disabled={disabled || busy !== null || c.unloadBlockedReason !== null}
                    title={c.unloadBlockedReason ?? undefined}
                    onClick={() => void cc.getState().unload(c.id)}
                  >
                    {busy === c.id ? 'Unloading…' : 'Unload'}
                  </button>
                ) : (
                  <button
                    type="button"
                    className="button small"
                    data-testid={`cc-load-${c.id}`}
                    disabled={disabled || busy !== null || !c.available}
                    title={c.reason ?? undefined}
                    onClick={() => void cc.getState().load(c.id)}
                  >
                    {busy === c.id ? 'Loading…' : 'Load'}
                  </button>
                )}
              </div>
              {!c.registered && (reasons.own.get(c.id)?.length ?? 0) > 0 ? (
                <p className="muted" data-testid={`cc-reason-${c.id}`}>
                  Cannot load: {reasons.own.get(c.id)?.join('; ')}
                </p>
              ) : null}
              {c.registered && c.unloadBlockedReason ? (
                <p className="muted" data-testid={`cc-unload-reason-${c.id}`}>
                  Cannot unload: {c.unloadBlockedReason}
                </p>
              ) : null}
              {rowError ? (
                <p className="field-error-inline" role="alert" data-testid={`cc-error-${c.id}`}>
                  <ErrorLine code={rowError.code} message={rowError.message} />
                </p>
              ) : null}
            </li>
          );
        })}
      </ul>
      {message ? (
        <p className="muted" role="status" data-testid="cc-message">
          {message}
        </p>
      ) : null}
    </div>
  );
}
