import { useState, type ChangeEvent } from 'react';
import type { ExportFormat } from '../../../../shared/config-api';
import { PROFILE_TEXT_MAX_CHARS } from '../../../../shared/contract';
import { useProfiles } from '../../state/stores';
import { ExportControl } from './ProfileRow';

export function SaveCurrentCard() {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const saveCurrent = useProfiles((s) => s.saveCurrent);
  const busy = useProfiles((s) => s.busy !== null);
  return (
    <section className="card" data-testid="profile-save-card" aria-labelledby="save-heading">
      <header className="card-header">
        <h2 id="save-heading">Save the current state</h2>
      </header>
      <form
        className="stack-form"
        onSubmit={(e) => {
          e.preventDefault();
          void saveCurrent(name.trim(), description).then((ok) => {
            if (ok) {
              setName('');
              setDescription('');
            }
          });
        }}
      >
        <label>
          Name
          <input
            data-testid="profile-save-name"
            value={name}
            maxLength={80}
            onChange={(e) => setName(e.target.value)}
            placeholder="laptop, two uplinks"
          />
        </label>
        <label>
          <span>
            Description <span className="muted">(optional)</span>
          </span>
          <input
            data-testid="profile-save-description"
            value={description}
            maxLength={2000}
            onChange={(e) => setDescription(e.target.value)}
          />
        </label>
        <button
          type="submit"
          className="button primary"
          data-testid="profile-save"
          disabled={busy || name.trim() === ''}
        >
          Save as profile
        </button>
      </form>
      <p className="hint">
        Reads the whole current configuration (limits, endpoints, settings, buffers, MTUs).
      </p>
    </section>
  );
}

export function ImportCard() {
  const importText = useProfiles((s) => s.importText);
  const importErrors = useProfiles((s) => s.importErrors);
  const busy = useProfiles((s) => s.busy === 'import');
  const [fileName, setFileName] = useState<string | null>(null);
  const [tooLarge, setTooLarge] = useState<string | null>(null);
  const onFile = (e: ChangeEvent<HTMLInputElement>) => {
    const input = e.currentTarget;
    const file = input.files?.[0];
    if (!file) return;
    setFileName(file.name);
    if (file.size > PROFILE_TEXT_MAX_CHARS) {
      // Refused before reading: the host would refuse it too, after the whole file crossed.
      setTooLarge(
        `${file.name} is ${file.size.toLocaleString('en')} bytes; a profile file is at most ${PROFILE_TEXT_MAX_CHARS.toLocaleString('en')} bytes.`,
      );
      input.value = '';
      return;
    }
    setTooLarge(null);
    void file.text().then(async (text) => {
      await importText(text, file.name);
      input.value = ''; // choosing the same file again must import again
    });
  };
  return (
    <section className="card" data-testid="profile-import-card" aria-labelledby="import-heading">
      <header className="card-header">
        <h2 id="import-heading">Import a profile</h2>
      </header>
      <input
        type="file"
        accept=".json,application/json"
        data-testid="profile-import-input"
        aria-label="profile file to import"
        disabled={busy}
        onChange={onFile}
      />
      <p className="hint">
        A profile file (.json) exported by MPTCP Studio. It is checked field by field and saved under the name
        it carries; nothing is applied.
      </p>
      {tooLarge ? (
        <div className="notice notice-bad" role="alert" data-testid="import-too-large">
          <div className="notice-body">
            <strong className="notice-title">Not imported: the file is too large</strong> {tooLarge}
          </div>
        </div>
      ) : null}
      {importErrors ? (
        <div className="notice notice-bad" role="alert">
          <div className="notice-body">
            <strong className="notice-title">
              {fileName ?? 'The file'} was not imported: {importErrors.length} problem
              {importErrors.length === 1 ? '' : 's'}
            </strong>
            <ul className="plain import-errors" data-testid="import-errors">
              {importErrors.map((e) => {
                const colon = e.indexOf(': ');
                return (
                  <li key={e}>
                    {colon > 0 ? (
                      <>
                        <code>{e.slice(0, colon)}</code>: {e.slice(colon + 2)}
                      </>
                    ) : (
                      e
                    )}
                  </li>
                );
              })}
            </ul>
          </div>
        </div>
      ) : null}
    </section>
  );
}

export function ExportCurrentCard({
  onExport,
}: {
  onExport: (name: string | null, format: ExportFormat) => void;
}) {
  return (
    <section
      className="card"
      data-testid="profile-export-current-card"
      aria-labelledby="export-current-heading"
    >
      <header className="card-header">
        <h2 id="export-current-heading">Export the current state</h2>
      </header>
      <ExportControl name={null} onExport={onExport} testId="export-current" />
      <p className="hint">
        As a profile, as a shell script of <code>sysctl</code> and <code>ip mptcp</code> commands, or as files
        that make it persistent across reboots.
      </p>
    </section>
  );
}
