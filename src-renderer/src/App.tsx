import { UNAUTHORISED_MESSAGE } from './api/connection';
import { Header } from './components/Header';
import { Notice } from './components/Notice';
import { OverviewPage } from './pages/OverviewPage';
import { StoresContext, useConnection, type Stores } from './state/stores';

function ConnectionNotice() {
  const state = useConnection((s) => s.state);
  const detail = useConnection((s) => s.detail);
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

/** Without authorisation nothing else can load: the notice says what to do. */
function Body() {
  const unauthorized = useConnection((s) => s.state === 'unauthorized');
  return unauthorized ? null : <OverviewPage />;
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
