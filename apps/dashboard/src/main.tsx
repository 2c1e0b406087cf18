import { createRoot } from 'react-dom/client';
import { AppRoot } from './app/app-root';
import { restoreOAuthReturnRoute } from './app/oauth-return-route';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root');
restoreOAuthReturnRoute();
createRoot(container).render(<AppRoot />);
