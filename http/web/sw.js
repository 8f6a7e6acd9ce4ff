// The service worker of the web client, for Web Push only (no caching: the
// pages are live). Served at /sw.js so that its scope is the whole site.
//
// A push carries a JSON notice {id, kind, title, body, url}; it is shown as
// a system notification. A click focuses a tab already on the notice's
// page, else takes an open tab of the site there, else opens a new one.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let notice = {};
  try {
    notice = event.data ? event.data.json() : {};
  } catch {
    notice = { body: event.data ? event.data.text() : '' };
  }
  event.waitUntil(self.registration.showNotification(notice.title || 'Blytz', {
    body: notice.body || '',
    tag: notice.id || undefined,
    data: { url: notice.url || '/notifications' },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const path = event.notification.data?.url || '/notifications';
  const url = new URL(path, self.location.origin);
  if (url.origin !== self.location.origin) return;
  event.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = tabs.find((tab) => tab.url === url.href);
    if (same) return same.focus();
    const tab = tabs.find((t) => new URL(t.url).origin === url.origin);
    if (tab) {
      // The page's router goes there without a reload (js/push.js).
      tab.postMessage({ type: 'navigate', url: url.pathname + url.search });
      return tab.focus();
    }
    return self.clients.openWindow(url.href);
  })());
});
