import { UNAUTHORISED_MESSAGE } from './api/session';
import { PendingBanner } from './components/config/PendingBanner';
import { Header } from './components/Header';
import { ReplayBanner } from './components/monitor/ReplayBanner';
import { Notice } from './components/Notice';
import { ConfigurePage } from './pages/ConfigurePage';
import { ConnectionsPage } from './pages/ConnectionsPage';
import { EventsPage } from './pages/EventsPage';
import { FleetPage } from './pages/FleetPage';
import { OverviewPage } from './pages/OverviewPage';
import { PathDoctorPage } from './pages/PathDoctorPage';
import { PmPage } from './pages/PmPage';
import { ProfilesPage } from './pages/ProfilesPage';
import { StoresContext, useConfig, useSession, useUi, type Stores } from './state/stores';
import type { PageName } from './state/ui-store';
import { routeHash } from './state/router';

function ConnectionNotice() {
  const state = useSession((s) => s.state);
  const detail = useSession((s) => s.detail);
  if (state === 'unauthorized') {
    const [before, after] = UNAUTHORISED_MESSAGE.split('`mptcp-studio serve`');
    return (
      <Notice
        tone="bad"
        testId="unauthorized"
        title={
          <>
            {before}
            <code>mptcp-studio serve</code>
            {after}
          </>
        }
      />
    );
  }
  if (state === 'closed') {
    return (
      <Notice tone="warn" title="Lost the connection to the engine; reconnecting" testId="connection-lost">
        {detail}
      </Notice>
    );
  }
  if (state === 'open' && detail) {
    return (
      <Notice tone="warn" title="The engine sent something this page could not read" testId="protocol-error">
        {detail}
      </Notice>
    );
  }
  return null;
}

const PAGES: { name: PageName; label: string }[] = [
  { name: 'overview', label: 'Overview' },
  { name: 'connections', label: 'Connections' },
  { name: 'events', label: 'Events' },
  { name: 'pm', label: 'Path manager' },
  { name: 'path-doctor', label: 'Path doctor' },
  { name: 'configure', label: 'Configure' },
  { name: 'profiles', label: 'Profiles' },
  { name: 'fleet', label: 'Fleet' },
];

function Nav() {
  const page = useUi((s) => s.page);
  const go = useUi((s) => s.go);
  const pending = useConfig((s) => s.pendingRevertAtMs !== null);
  return (
    <nav className="tabs" aria-label="Pages">
      {PAGES.map((p) => (
        // A link, so that a view can be opened in another tab or copied (router.ts); a plain click
        // stays in this page.
        <a
          key={p.name}
          href={routeHash({ page: p.name, token: null, params: {} })}
          className={page === p.name ? 'tab tab-active' : 'tab'}
          aria-current={page === p.name ? 'page' : undefined}
          data-testid={`nav-${p.name}`}
          onClick={(e) => {
            if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
            e.preventDefault();
            go(p.name);
          }}
        >
          {p.label}
          {p.name === 'configure' && pending ? (
            <span className="tab-dot" title="A change awaits confirmation" />
          ) : null}
        </a>
      ))}
    </nav>
  );
}

function CurrentPage({ page }: { page: PageName }) {
  switch (page) {
    case 'connections':
      return <ConnectionsPage />;
    case 'events':
      return <EventsPage />;
    case 'pm':
      return <PmPage />;
    case 'configure':
      return <ConfigurePage />;
    case 'profiles':
      return <ProfilesPage />;
    case 'overview':
      return <OverviewPage />;
    case 'fleet':
      return <FleetPage />;
    case 'path-doctor':
      return <PathDoctorPage />;
  }
}

/** Without authorisation nothing else can load: the notice says what to do. */
function Body() {
  const unauthorized = useSession((s) => s.state === 'unauthorized');
  const page = useUi((s) => s.page);
  if (unauthorized) return null;
  return (
    <>
      <Nav />
      <div className="notices">
        <PendingBanner />
        <ReplayBanner />
      </div>
      <CurrentPage page={page} />
    </>
  );
}

export function App({ stores }: { stores: Stores }) {
  return (
    <StoresContext value={stores}>
      <Header />
      <div className="notices">
        <ConnectionNotice />
      </div>
      <Body />
    </StoresContext>
  );
}
