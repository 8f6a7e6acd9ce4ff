// The server's clock, as seen from this device. Every room event carries
// `server_time`; the newest estimate of (server time - local time) from the
// last two minutes that is largest is kept: a frame can only arrive after it
// was stamped, so each sample errs low by its transit time, and the largest
// errs least. A phone whose clock is minutes off still counts down true.

const WINDOW_MS = 120_000;
let samples = [];

/** Note a server timestamp (RFC 3339) just received. */
export function observe(serverTime) {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return;
  const local = Date.now();
  samples.push({ offset: server - local, at: local });
  samples = samples.filter((s) => local - s.at <= WINDOW_MS || s === samples[samples.length - 1]);
  if (samples.length > 200) samples = samples.slice(-200);
}

/** Server time minus local time, in milliseconds (0 before any sample). */
export function offset() {
  if (!samples.length) return 0;
  return samples.reduce((best, s) => Math.max(best, s.offset), -Infinity);
}

/** Now, by the server's clock (ms since the epoch). */
export function serverNow() {
  return Date.now() + offset();
}

/** Milliseconds until an RFC 3339 deadline, by the server's clock. */
export function msUntil(iso) {
  if (!iso) return null;
  return Date.parse(iso) - serverNow();
}
