// Starts keel-server (the debug build if present, else the release one) on a free loopback port
// in a temp dir. With KEEL_TEST_TARGET=redis in the environment it starts the real redis-server
// instead, so the same test files can be checked against the reference implementation.
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis6 from 'ioredis6';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function freePort() {
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

// redis-server takes the same `--option value` flags; persistence is off so a run leaves no files
// behind and never pauses to save.
const target = process.env.KEEL_TEST_TARGET === 'redis' ? 'redis' : 'keel';
const redisOnly = ['--save', '', '--appendonly', 'no'];

export async function startKeel(args = []) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-node-'));
  const log = path.join(dir, 'server.log');
  const common = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', log];
  const [binary, argv] =
    target === 'redis' ? ['redis-server', [...common, ...redisOnly, ...args]] : [keelBinary(), [...common, ...args]];
  const proc = spawn(binary, argv, { stdio: 'ignore' });
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (existsSync(log) && readFileSync(log, 'utf8').includes('Ready to accept connections')) {
      return { port, proc, stop: () => proc.kill('SIGKILL') };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  proc.kill('SIGKILL');
  throw new Error(`${target} server did not start`);
}

// Polls `pred` every 25 ms until it holds, failing after `ms` milliseconds.
export async function until(pred, ms = 10000) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

// Connections for BullMQ objects. By default every Queue, Worker and QueueEvents gets the plain
// options, so each opens its own ioredis 5 (RESP2) client. With KEEL_TEST_RESP3=1 each gets a
// fresh ioredis 6 client instead, which negotiates RESP3 with HELLO 3; `close` disconnects them,
// since BullMQ leaves clients it was handed open.
export function bullmqClients(port) {
  const options = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const resp3 = process.env.KEEL_TEST_RESP3 === '1';
  const opened = [];
  return {
    options,
    connection() {
      if (!resp3) return options;
      const client = new Redis6(options);
      opened.push(client);
      return client;
    },
    close() {
      for (const client of opened) client.disconnect();
    },
  };
}

// One server and its BullMQ connections for a whole test file: starts them before the first
// test, stops them after the last. `conn()` gives the connection for one BullMQ object and
// `options` the plain ioredis options (valid once the server is up).
export function bullmqSuite(before, after) {
  const suite = {
    server: null,
    clients: null,
    conn: () => suite.clients.connection(),
    get options() {
      return suite.clients.options;
    },
  };
  before(async () => {
    suite.server = await startKeel();
    suite.clients = bullmqClients(suite.server.port);
  });
  after(() => {
    suite.clients.close();
    suite.server.stop();
  });
  return suite;
}
