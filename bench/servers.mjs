// Starting the servers a benchmark compares: redis-server or keel-server on a free loopback
// port, in its own temporary directory, with no persistence unless `extra` asks for it.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// Resolves to { port, proc } once the server accepts connections (10 s at most).
export async function startServer(bin, extra = []) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-bench-'));
  const argv = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra];
  const proc = spawn(bin, argv, { stdio: 'ignore' });
  for (let i = 0; i < 500; i++) {
    const ok = await new Promise((r) => {
      const c = connect(port, '127.0.0.1', () => { c.end(); r(true); });
      c.on('error', () => r(false));
    });
    if (ok) return { port, proc };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${bin} did not start`);
}
