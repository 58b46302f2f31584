import { useEffect } from 'react';
import type { ExportFormat } from '../../../shared/config-api';
import { ErrorLine, Notice } from '../components/Notice';
import { ProfileRow } from '../components/profiles/ProfileRow';
import { ExportCurrentCard, ImportCard, SaveCurrentCard } from '../components/profiles/ProfileTools';
import { downloadText, mimeFor } from '../download';
import { useProfiles, useStores } from '../state/stores';

export function ProfilesPage() {
  const stores = useStores();
  const list = useProfiles((s) => s.list);
  const listError = useProfiles((s) => s.listError);
  const loading = useProfiles((s) => s.loading);
  const actionError = useProfiles((s) => s.actionError);
  const message = useProfiles((s) => s.message);
  const refresh = useProfiles((s) => s.refresh);
  const exportFile = useProfiles((s) => s.exportFile);
  const getProfile = useProfiles((s) => s.get);

  useEffect(() => {
    void stores.profiles.getState().refresh();
  }, [stores]);

  const onExport = (name: string | null, format: ExportFormat) => {
    void exportFile(name, format).then((file) => {
      if (file) downloadText(file.filename, file.text, mimeFor(file.filename));
    });
  };

  const onLoad = (name: string) => {
    void getProfile(name).then(async (profile) => {
      if (!profile) return;
      stores.ui.getState().go('configure');
      await stores.config.getState().loadDesired(profile.config, `the profile “${profile.name}”`);
    });
  };

  return (
    <main className="page" data-testid="profiles-page">
      <div className="page-title">
        <h1>Profiles</h1>
        <span className="muted">saved configurations; loading one only fills the Configure form</span>
        <button type="button" className="button" onClick={() => void refresh()} disabled={loading}>
          {loading ? 'Reading…' : 'Refresh'}
        </button>
      </div>

      {actionError ? (
        <Notice tone="bad" title="That did not work" testId="profile-action-error">
          <ErrorLine code={actionError.code} message={actionError.message} />
        </Notice>
      ) : null}
      {message ? <Notice tone="info" title={message} testId="profile-message" /> : null}

      <div className="grid">
        <section className="card" aria-labelledby="profiles-heading">
          <header className="card-header">
            <h2 id="profiles-heading">Saved profiles</h2>
            <span className="muted">{list ? list.length : ''}</span>
          </header>
          {listError ? (
            <p className="field-error-inline" data-testid="profiles-error">
              <ErrorLine code={listError.code} message={listError.message} />
            </p>
          ) : null}
          {list === null ? (
            !listError ? (
              <p className="muted">Reading…</p>
            ) : null
          ) : (
            <ul className="profile-list" data-testid="profiles-list">
              {list.map((p) => (
                <ProfileRow key={p.name} profile={p} onLoad={onLoad} onExport={onExport} />
              ))}
            </ul>
          )}
          {list?.length === 0 ? <p className="empty">No profiles yet.</p> : null}
        </section>
        <div className="side-stack">
          <SaveCurrentCard />
          <ImportCard />
          <ExportCurrentCard onExport={onExport} />
        </div>
      </div>
    </main>
  );
}
