import { useState } from 'react';
import type { ExportFormat, ProfileSummary } from '../../../../shared/config-api';
import { useProfiles } from '../../state/stores';
import { Badge } from '../Badge';
import { ErrorLine } from '../Notice';

export const EXPORT_FORMATS: { value: ExportFormat; label: string }[] = [
  { value: 'json', label: 'JSON profile' },
  { value: 'sh', label: 'shell script' },
  { value: 'sysctl.d', label: 'sysctl.d + systemd' },
];

export function ExportControl({
  name,
  onExport,
  testId,
}: {
  name: string | null;
  onExport: (name: string | null, format: ExportFormat) => void;
  testId: string;
}) {
  const [format, setFormat] = useState<ExportFormat>('json');
  const busy = useProfiles((s) => s.busy !== null);
  return (
    <span className="export-control">
      <select
        aria-label="export format"
        data-testid={`${testId}-format`}
        value={format}
        onChange={(e) => setFormat(e.target.value as ExportFormat)}
      >
        {EXPORT_FORMATS.map((f) => (
          <option key={f.value} value={f.value}>
            {f.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        className="button small"
        data-testid={testId}
        disabled={busy}
        onClick={() => onExport(name, format)}
      >
        Export
      </button>
    </span>
  );
}

function RenameForm({ from, onDone }: { from: string; onDone: () => void }) {
  const [to, setTo] = useState(from);
  const rename = useProfiles((s) => s.rename);
  const busy = useProfiles((s) => s.busy !== null);
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        void rename(from, to.trim()).then((ok) => {
          if (ok) onDone();
        });
      }}
    >
      <input
        aria-label={`new name for ${from}`}
        data-testid="profile-rename-input"
        value={to}
        onChange={(e) => setTo(e.target.value)}
        autoFocus
      />
      <button
        type="submit"
        className="button small"
        disabled={busy || to.trim() === '' || to.trim() === from}
      >
        Rename
      </button>
      <button type="button" className="button small" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}

const BUILT_IN_REASON = 'Built-in profiles cannot be changed; save a copy under another name';

export function ProfileRow({
  profile,
  onLoad,
  onExport,
}: {
  profile: ProfileSummary;
  onLoad: (name: string) => void;
  onExport: (name: string | null, format: ExportFormat) => void;
}) {
  const [mode, setMode] = useState<'idle' | 'rename' | 'delete'>('idle');
  const viewing = useProfiles((s) => (s.viewing?.name === profile.name ? s.viewing : null));
  const view = useProfiles((s) => s.view);
  const remove = useProfiles((s) => s.remove);
  const busy = useProfiles((s) => s.busy !== null);
  const name = profile.name;
  return (
    <li className="profile" data-testid={`profile-row-${name}`} data-built-in={String(profile.builtIn)}>
      <div className="profile-head">
        <strong className="profile-name">{name}</strong>
        {profile.builtIn ? <Badge tone="info">built-in</Badge> : null}
      </div>
      {profile.description ? <p className="profile-description">{profile.description}</p> : null}
      <div className="profile-actions">
        <button
          type="button"
          className="button small"
          data-testid="profile-view"
          aria-expanded={viewing !== null}
          onClick={() => void view(name)}
        >
          {viewing ? 'Hide JSON' : 'View JSON'}
        </button>
        <button
          type="button"
          className="button small"
          data-testid="profile-load"
          disabled={busy}
          onClick={() => onLoad(name)}
        >
          Load into Configure
        </button>
        <ExportControl name={name} onExport={onExport} testId="profile-export" />
        <button
          type="button"
          className="button small"
          data-testid="profile-rename"
          disabled={busy || profile.builtIn}
          title={profile.builtIn ? BUILT_IN_REASON : undefined}
          onClick={() => setMode('rename')}
        >
          Rename…
        </button>
        <button
          type="button"
          className="button small danger"
          data-testid="profile-delete"
          disabled={busy || profile.builtIn}
          title={profile.builtIn ? BUILT_IN_REASON : undefined}
          onClick={() => setMode('delete')}
        >
          Delete…
        </button>
      </div>
      {mode === 'rename' ? <RenameForm from={name} onDone={() => setMode('idle')} /> : null}
      {mode === 'delete' ? (
        <div className="inline-form confirm" role="alert">
          <span>Delete the profile “{name}”? This cannot be undone.</span>
          <button
            type="button"
            className="button small danger"
            data-testid="profile-delete-confirm"
            disabled={busy}
            onClick={() => void remove(name).then(() => setMode('idle'))}
          >
            Delete
          </button>
          <button type="button" className="button small" onClick={() => setMode('idle')}>
            Keep it
          </button>
        </div>
      ) : null}
      {viewing ? (
        viewing.error ? (
          <p className="field-error-inline">
            <ErrorLine code={viewing.error.code} message={viewing.error.message} />
          </p>
        ) : viewing.profile ? (
          <pre className="shell json" data-testid="profile-json">
            {JSON.stringify(viewing.profile.config, null, 2)}
          </pre>
        ) : (
          <p className="muted">Reading…</p>
        )
      ) : null}
    </li>
  );
}
