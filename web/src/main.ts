// The dashboard's entry: the app shell, sign-in and the router.
//
//   /                 the partner's interactive videos
//   /videos/{id}?…    one video; the query string holds the whole view

import './styles.css';

import { token, setToken, UNAUTHORIZED_EVENT } from './api';
import { fill, h, icon, ICONS } from './dom';
import { signInPage } from './pages/signin';
import { VideoListPage } from './pages/videos';
import { VideoPage } from './pages/video';
import { currentTheme, setTheme, THEME_EVENT } from './theme';

const app = document.getElementById('app')!;

const themeButton = h('button', { type: 'button', class: 'icon-btn', onclick: () => setTheme(currentTheme() === 'dark' ? 'light' : 'dark') });
function showTheme() {
  const dark = currentTheme() === 'dark';
  themeButton.setAttribute('aria-label', dark ? 'Switch to the light theme' : 'Switch to the dark theme');
  themeButton.title = themeButton.getAttribute('aria-label')!;
  fill(themeButton, icon(dark ? ICONS.sun : ICONS.moon));
}
window.addEventListener(THEME_EVENT, showTheme);
showTheme();

const signOut = h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => leave('') }, 'Sign out');
const nav = h('nav', { class: 'topnav', 'aria-label': 'Main' }, h('a', { href: '/', class: 'topnav-link' }, 'Videos'));
const topbar = h(
  'header',
  { class: 'topbar' },
  h('a', { href: '/', class: 'brand', 'aria-label': 'pathlens home' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'pathlens'),
  nav,
  h('div', { class: 'topbar-end' }, themeButton, signOut),
);
const main = h('main', { id: 'main', tabindex: '-1' });
fill(app, h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'), topbar, main);

let videoPage: VideoPage | null = null;
let listPage: VideoListPage | null = null;

function leave(reason: string) {
  setToken(null);
  videoPage = null;
  listPage = null;
  route(reason);
}

window.addEventListener(UNAUTHORIZED_EVENT, (event) => {
  leave(`Your token was not accepted: ${(event as CustomEvent<string>).detail}`);
});

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

function route(message = ''): void {
  const signedIn = token() !== null;
  topbar.classList.toggle('signed-out', !signedIn);
  if (!signedIn) {
    document.title = 'Sign in · pathlens';
    fill(main, signInPage(message, () => route()));
    return;
  }
  const match = /^\/videos\/([^/]+)\/?$/.exec(location.pathname);
  if (match) {
    const id = decodeURIComponent(match[1]);
    listPage = null;
    if (!videoPage || videoPage.videoId !== id) {
      videoPage = new VideoPage(id, navigate);
      fill(main, videoPage.element);
    }
    videoPage.show(location.search);
    return;
  }
  videoPage = null;
  if (location.pathname !== '/') history.replaceState(null, '', '/' + location.search);
  if (!listPage) {
    listPage = new VideoListPage();
    fill(main, listPage.element);
  }
  listPage.show();
}

// Links inside the app change the view without reloading the page.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element).closest('a');
  if (!link || link.target || link.hasAttribute('download')) return;
  const href = link.getAttribute('href') ?? '';
  if (!href.startsWith('/') || href.startsWith('/api/')) return;
  event.preventDefault();
  navigate(href);
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

window.addEventListener('popstate', () => route());

// A one-click sign-in link (`/#token=…`, as `pathlens demo` prints it): the
// token is kept like a typed one and taken out of the address at once. A
// fragment never reaches the server or its logs.
const link = /^#token=([^&]+)$/.exec(location.hash);
if (link) {
  setToken(decodeURIComponent(link[1]));
  history.replaceState(null, '', location.pathname + location.search);
}
route();
