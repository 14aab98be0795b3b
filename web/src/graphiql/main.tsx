// Entry of the API explorer page (graphiql.html): GraphiQL bundled from npm, so it works offline.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import './graphiql.css';
import { ExplorerPage } from './ExplorerPage';

createRoot(document.getElementById('graphiql-root')!).render(
  <StrictMode>
    <ExplorerPage />
  </StrictMode>,
);
