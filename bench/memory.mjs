// Memory per item through redis-server and keel-server in the same run (see bench/memory).
// Every scenario starts a fresh pair of servers, so RSS figures are not skewed by memory
// an earlier scenario freed but the allocator kept.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer as start } from './servers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests/node/package.json'));
const { Queue } = require('bullmq');
const Redis = require('ioredis');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SMALL = process.env.SMALL === '1';
const KEYS = opt('--keys', SMALL ? 20000 : 1000000);
const JOBS = opt('--jobs', SMALL ? 2000 : 100000);
// The maxmemory scenario is skipped in a debug check unless asked for (it adds jobs until
// 256 MB are used, which takes minutes with a debug build).
const MAXMEM = opt('--maxmemory-mb', SMALL ? 0 : 256);
const KEEL = process.env.KEEL_BIN || path.join(root, 'target/release/keel-server');


async function memory(client) {
  const text = await client.info('memory');
  const field = (name) => Number(text.match(new RegExp(`^${name}:(\\d+)`, 'm'))[1]);
  return { used: field('used_memory'), rss: field('used_memory_rss') };
}

// Memory once it stops moving: buffers of a finished bulk load are released by the servers'
// periodic tasks (within a second or two), and should not count as data. Polls every 250 ms
// until two readings in a row agree within 0.1%, for at most 10 s.
async function settled(client) {
  let last = await memory(client);
  for (let i = 0, calm = 0; i < 40 && calm < 2; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await memory(client);
    calm = Math.abs(now.used - last.used) <= last.used / 1000 ? calm + 1 : 0;
    last = now;
  }
  return last;
}

// A job as an application would add it: about 150 bytes of JSON data, retries with
// backoff, and completed jobs removed.
function job(i) {
  return {
    name: 'send-invoice',
    data: {
      orderId: `ord-${String(i).padStart(8, '0')}`,
      customer: { id: 100000 + i, email: `customer${i}@example.com` },
      items: [{ sku: `SKU-${i % 9973}`, qty: 1 + (i % 5) }],
      total: 19.99 + (i % 100),
      currency: 'EUR',
    },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true },
  };
}

async function pipelined(client, n, command) {
  for (let i = 0; i < n; i += 10000) {
    const p = client.pipeline();
    for (let k = i; k < Math.min(n, i + 10000); k++) p.call(...command(k));
    await p.exec();
  }
}

async function addJobs(connection, n) {
  const q = new Queue('bench', { connection });
  for (let i = 0; i < n; i += 500) {
    await q.addBulk(Array.from({ length: Math.min(500, n - i) }, (_, k) => job(i + k)));
  }
  await q.close();
}

// Adds jobs in bulks until the server refuses one with the OOM error; returns the number of
// waiting jobs then (a refused bulk is a MULTI that adds nothing).
async function fillUntilOom(connection) {
  const q = new Queue('bench', { connection });
  let i = 0;
  for (;;) {
    try {
      await q.addBulk(Array.from({ length: 100 }, (_, k) => job(i + k)));
      i += 100;
    } catch (e) {
      if (!/OOM/.test(String(e && e.message))) throw e;
      break;
    }
  }
  const count = await q.getWaitingCount();
  await q.close();
  return count;
}

const scenarios = [
  [`${KEYS} small strings (SET key:N <10 bytes>)`, KEYS,
    (c) => pipelined(c, KEYS, (i) => ['SET', `key:${i}`, `v-${String(i).padStart(8, '0')}`])],
  [`${KEYS} strings with TTL (SET ttl:N <10 bytes> EX 3600)`, KEYS,
    (c) => pipelined(c, KEYS, (i) => ['SET', `ttl:${i}`, `v-${String(i).padStart(8, '0')}`, 'EX', '3600'])],
  [`${JOBS} waiting BullMQ jobs (addBulk)`, JOBS, (c, connection) => addJobs(connection, JOBS)],
];

const rows = [];
for (const [label, n, fill] of scenarios) {
  const row = { label };
  for (const [name, bin] of [['redis', 'redis-server'], ['keel', KEEL]]) {
    const s = await start(bin);
    const connection = { host: '127.0.0.1', port: s.port, maxRetriesPerRequest: null };
    const client = new Redis(connection);
    try {
      const before = await memory(client);
      // The data goes in over its own connection, closed before measuring, so buffers a
      // server keeps for a busy client do not count as data.
      const loader = new Redis(connection);
      await fill(loader, connection);
      await loader.quit();
      const after = await settled(client);
      row[name] = { used: (after.used - before.used) / n, rss: (after.rss - before.rss) / n };
    } finally {
      client.disconnect();
      s.proc.kill('SIGKILL');
    }
  }
  rows.push(row);
}

let oom = null;
if (MAXMEM > 0) {
  oom = {};
  for (const [name, bin] of [['redis', 'redis-server'], ['keel', KEEL]]) {
    const s = await start(bin, ['--maxmemory', `${MAXMEM}mb`, '--maxmemory-policy', 'noeviction']);
    try {
      oom[name] = await fillUntilOom({ host: '127.0.0.1', port: s.port, maxRetriesPerRequest: null });
    } finally {
      s.proc.kill('SIGKILL');
    }
  }
}

const f = (x) => x.toFixed(1);
console.log(`BullMQ ${require('bullmq/package.json').version}; bytes per item = (after - before) / items, fresh servers per row${SMALL ? ' (DEBUG BUILD, small counts: not a measurement)' : ''}`);
console.log('');
console.log('| items | redis used_memory B | keel used_memory B | keel/redis | redis RSS B | keel RSS B | keel/redis |');
console.log('|---|---|---|---|---|---|---|');
for (const { label, redis, keel } of rows) {
  console.log(`| ${label} | ${f(redis.used)} | ${f(keel.used)} | ${(keel.used / redis.used).toFixed(2)} | ${f(redis.rss)} | ${f(keel.rss)} | ${(keel.rss / redis.rss).toFixed(2)} |`);
}
if (oom) {
  console.log('');
  console.log(`| jobs accepted under --maxmemory ${MAXMEM}mb noeviction | redis | keel | keel/redis |`);
  console.log('|---|---|---|---|');
  console.log(`| waiting BullMQ jobs before the first OOM | ${oom.redis} | ${oom.keel} | ${(oom.keel / oom.redis).toFixed(2)} |`);
}
process.exit(0);
