// A small router over the path (History API). Each route's view is
// `mount(main, params, query) -> cleanup`; the server answers index.html for
// every client path, so a reload or a shared link opens the same page.

const routes = [];
const routeListeners = new Set();
let cleanup = null;
let current = null;

/** Call `fn()` after every page change. */
export function onRoute(fn) {
  routeListeners.add(fn);
}

/** Add a route: '/shows/:id'. */
export function route(pattern, mount) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  })}/?$`);
  routes.push({ regex, names, mount });
}

/** Go to `path` (adds a history entry unless `replace`). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/** Render the view of the current location. */
export async function render() {
  const main = document.getElementById('main');
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  if (cleanup) {
    try {
      cleanup();
    } catch { /* a view's cleanup must not stop the next view */ }
    cleanup = null;
  }
  main.replaceChildren();
  for (const fn of routeListeners) fn();
  for (const { regex, names, mount } of routes) {
    const match = regex.exec(path);
    if (!match) continue;
    const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
    current = path;
    const result = mount(main, params, query);
    cleanup = typeof result === 'function' ? result : null;
    if (result instanceof Promise) {
      const token = path;
      result.then((fn) => {
        if (current === token && typeof fn === 'function') cleanup = fn;
        else if (typeof fn === 'function') fn();
      });
    }
    window.scrollTo(0, 0);
    return;
  }
  main.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'Page not found.' }));
}

/** Same-origin links navigate without a reload. */
export function start() {
  document.addEventListener('click', (event) => {
    const link = event.target.closest?.('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.hash && url.pathname === location.pathname) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', render);
  render();
}
