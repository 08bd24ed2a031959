// Starts keel-server (the release or debug build) on a free loopback port in a temp dir.
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function keelBinary() {
  for (const p of ['target/debug/keel-server', 'target/release/keel-server']) {
    const full = path.join(root, p);
    if (existsSync(full)) return full;
  }
  throw new Error('keel-server is not built: run cargo build first');
}

export async function startKeel(args = []) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-node-'));
  const log = path.join(dir, 'server.log');
  const proc = spawn(keelBinary(), ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', log, ...args], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (existsSync(log) && readFileSync(log, 'utf8').includes('Ready to accept connections')) {
      return { port, proc, stop: () => proc.kill('SIGKILL') };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  proc.kill('SIGKILL');
  throw new Error('keel-server did not start');
}

// Polls `pred` every 25 ms until it holds, failing after `ms` milliseconds.
export async function until(pred, ms = 10000) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
