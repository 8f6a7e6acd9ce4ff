// Display names of users known by id (sellers, leaders, bidders), fetched in
// batches from GET /users?ids= and kept for the page's life.

import { get, currentUser } from './api.js';

const names = new Map();
const wanted = new Set();
const listeners = new Set();
let timer = null;

/** Remember a name already known (e.g. from a chat message). */
export function learn(id, name) {
  if (id && name && names.get(id) !== name) {
    names.set(id, name);
  }
}

/** The name of `id`, or null while it is being fetched. */
export function nameOf(id) {
  if (!id) return null;
  if (names.has(id)) return names.get(id);
  wanted.add(id);
  if (!timer) timer = setTimeout(flush, 30);
  return null;
}

/** "You" for the signed-in user, else the name, else a short placeholder. */
export function label(id) {
  if (!id) return '';
  if (currentUser()?.id === id) return 'You';
  return nameOf(id) ?? `Bidder ${id.slice(-4)}`;
}

/** Call `fn()` when names arrive; returns an unsubscribe. */
export function onNames(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

async function flush() {
  timer = null;
  const ids = [...wanted].filter((id) => !names.has(id)).slice(0, 100);
  wanted.clear();
  if (!ids.length) return;
  try {
    const page = await get(`/users?ids=${ids.join(',')}`, { auth: false });
    for (const user of page.items) names.set(user.id, user.display_name);
    for (const fn of listeners) fn();
  } catch {
    // Offline or refused: ask again next time.
  }
}
