// The real Blytz server for a test: the built binary on a free port, with a
// fresh data folder (SQLite), stopped and removed when the test is done.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The server binary: $BLYTZ_BIN, else the debug build in the cargo target folder. */
export function binary() {
  if (process.env.BLYTZ_BIN) return process.env.BLYTZ_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  const path = join(target, 'debug', 'blytz');
  if (!existsSync(path)) throw new Error(`no server binary at ${path}: run cargo build -p blytz-http, or set BLYTZ_BIN`);
  return path;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Start the server with `env` added to the test settings (no rate limits on
 * sign-ups and requests). Answers {url, port, stop(), log()}.
 */
export async function startServer(env = {}) {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'blytz-e2e-'));
  const output = [];
  const child = spawn(binary(), [], {
    cwd: data,
    env: {
      PATH: process.env.PATH,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      BLYTZ_BIND: `127.0.0.1:${port}`,
      BLYTZ_DATA_DIR: data,
      BLYTZ_AUTH_RATE_PER_MIN: '0',
      BLYTZ_RATE_PER_MIN: '0',
      BLYTZ_BID_RATE_PER_SEC: '0',
      BLYTZ_WORKERS: '2',
      BLYTZ_OUTBOX_POLL_MS: '200',
      JWT_SECRET: 'e2e-secret-0123456789abcdef0123456789abcdef',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => output.push(String(chunk)));
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolveExit) => child.on('exit', resolveExit));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited: ${output.join('')}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not answer /health in 30 s: ${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    log: () => output.join(''),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}
