// BullMQ throughput: jobs per second through redis-server and keel-server in the same run.
// Usage: node bench/bullmq.mjs [jobs]   (run `npm install` in tests/node first; bench/bullmq
// builds keel and calls this).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer as start } from './servers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests/node/package.json'));
const { Queue, Worker } = require('bullmq');
const N = Number(process.argv[2] || 5000);
const ROUNDS = Number(process.env.ROUNDS || 3);


async function addSingle(connection, name) {
  const q = new Queue(name, { connection });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await q.add('j', { i });
  const secs = (performance.now() - t0) / 1000;
  await q.close();
  return N / secs;
}

async function addBulk(connection, name) {
  const q = new Queue(name, { connection });
  const t0 = performance.now();
  for (let i = 0; i < N; i += 100) {
    await q.addBulk(Array.from({ length: 100 }, (_, k) => ({ name: 'j', data: { i: i + k } })));
  }
  const secs = (performance.now() - t0) / 1000;
  await q.close();
  return N / secs;
}

async function processJobs(connection, name, concurrency) {
  const q = new Queue(name, { connection });
  for (let i = 0; i < N; i += 100) {
    await q.addBulk(Array.from({ length: 100 }, (_, k) => ({ name: 'j', data: { i: i + k } })));
  }
  let done = 0;
  const t0 = performance.now();
  const finished = new Promise((resolve) => {
    const w = new Worker(name, async () => 1, { connection, concurrency, removeOnComplete: { count: 100 } });
    w.on('completed', () => {
      done += 1;
      if (done === N) resolve(w);
    });
  });
  const w = await finished;
  const secs = (performance.now() - t0) / 1000;
  await w.close();
  await q.obliterate({ force: true });
  await q.close();
  return N / secs;
}

const rows = [
  ['add (single)', (c, n) => addSingle(c, n)],
  ['add (bulk of 100)', (c, n) => addBulk(c, n)],
  ['process, concurrency 1', (c, n) => processJobs(c, n, 1)],
  ['process, concurrency 10', (c, n) => processJobs(c, n, 10)],
  ['process, concurrency 100', (c, n) => processJobs(c, n, 100)],
];

const servers = {
  redis: await start('redis-server'),
  keel: await start(process.env.KEEL_BIN || path.join(root, 'target/release/keel-server')),
};
const results = {};
try {
  // Rounds alternate the servers and each keeps its best figure, so a burst of load from
  // elsewhere on the machine does not decide a row.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, fn] of rows) {
      for (const name of ['redis', 'keel']) {
        const connection = { host: '127.0.0.1', port: servers[name].port, maxRetriesPerRequest: null };
        const rate = await fn(connection, `bench-${label.replace(/\W+/g, '-')}-${round}`);
        results[`${label}/${name}`] = Math.max(results[`${label}/${name}`] || 0, rate);
      }
    }
  }
} finally {
  for (const s of Object.values(servers)) s.proc.kill('SIGKILL');
}
console.log(`BullMQ ${require('bullmq/package.json').version}, ioredis ${require('ioredis/package.json').version}, ${N} jobs per row, best of ${ROUNDS} rounds, loopback`);
console.log('');
console.log('| row | redis jobs/s | keel jobs/s | keel/redis |');
console.log('|---|---|---|---|');
for (const [label] of rows) {
  const r = results[`${label}/redis`];
  const k = results[`${label}/keel`];
  console.log(`| ${label} | ${r.toFixed(0)} | ${k.toFixed(0)} | ${(k / r).toFixed(2)} |`);
}
process.exit(0);
