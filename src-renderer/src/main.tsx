import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { selectApi } from './api';
import { App } from './App';
import { bindHashRouter } from './state/router';
import { createStores } from './state/stores';
import './styles.css';
import './pages.css';
import './monitor.css';

const { api, session } = selectApi();
const stores = createStores(api, session);
// Every view has a URL (#/connections/<token>, filters in its query), with Back and Forward.
bindHashRouter(stores, window);
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App stores={stores} />
  </StrictMode>,
);
