import type { SessionInfo } from '../common/adminApi';
import { h, replace } from './dom';
import { currentSession, get, setSession } from './http';
import { auditPage } from './pages/auditPage';
import { devicePage } from './pages/devicePage';
import { fleetPage } from './pages/fleetPage';
import { metadataPage } from './pages/metadataPage';
import { releasePage } from './pages/releasePage';
import { releasesPage } from './pages/releasesPage';
import { signInPage } from './pages/signInPage';
import { webhooksPage } from './pages/webhooksPage';
import { currentRoute, href, Live, type Route } from './router';
import { endSession } from './signOut';

type Page = (view: HTMLElement, route: Route, live: Live) => Promise<void>;

const PAGES: Record<string, { title: string; page: (route: Route) => Page }> = {
  releases: { title: 'Releases', page: (r) => (r.args.length === 2 ? releasePage : releasesPage) },
  fleet: { title: 'Fleet', page: () => fleetPage },
  devices: { title: 'Fleet', page: () => devicePage },
  audit: { title: 'Audit log', page: () => auditPage },
  metadata: { title: 'Metadata', page: () => metadataPage },
  webhooks: { title: 'Webhooks', page: () => webhooksPage },
};
const NAV = ['releases', 'fleet', 'audit', 'metadata', 'webhooks'];

const root = document.getElementById('app')!;
let live = new Live();

function signIn(): void {
  live.stop();
  setSession(undefined);
  signInPage(root, (s) => start(s));
}

function start(s: SessionInfo): void {
  setSession(s, signIn);
  void show();
}

let signingOut = false;

/** The sign-in form only once the server ended the session (web/signOut.ts); meanwhile the page says where it stands. */
async function signOut(): Promise<void> {
  if (signingOut) return;
  signingOut = true;
  live.stop();
  const status = h('p', { class: 'notice', role: 'alert', 'data-testid': 'sign-out' }, 'Signing out…');
  replace(root.querySelector('main') ?? root, status);
  await endSession(status);
  signingOut = false;
  signIn();
}

/** The shell (navigation, who is signed in) and the page the hash names. */
async function show(): Promise<void> {
  // Navigating away must not hide a sign-out still in progress.
  if (signingOut) return;
  const s = currentSession();
  if (!s) return signIn();
  live.stop();
  live = new Live();
  const route = currentRoute();
  const entry = PAGES[route.page] ?? PAGES['releases']!;
  // Busy until the page's first data is shown (assistive technology waits; so do the UI tests).
  const view = h('main', { id: 'view', 'aria-busy': 'true' });
  const nav = h(
    'nav',
    { 'aria-label': 'Sections' },
    h('strong', { class: 'brand' }, 'Enigm OTA'),
    ...NAV.map((p) =>
      h('a', { href: href(p), 'aria-current': PAGES[route.page] === PAGES[p] ? 'page' : undefined }, PAGES[p]!.title),
    ),
    h('span', { class: 'who', 'data-testid': 'who' }, `${s.operator.name} (${s.operator.roles.join(', ')})`),
    h('button', { type: 'button', onclick: () => void signOut() }, 'Sign out'),
  );
  replace(root, h('header', {}, nav), view);
  document.title = `${entry.title} · Enigm OTA`;
  try {
    await entry.page(route)(view, route, live);
  } catch (err) {
    replace(view, h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${(err as Error).message}`));
  } finally {
    view.setAttribute('aria-busy', 'false');
  }
}

window.addEventListener('hashchange', () => void show());
get<SessionInfo>('/v1/session').then(start, signIn);
