// Keel's built-in metrics: the Prometheus endpoint on `metrics-port` (and `GET /metrics` on
// the Redis port) scraped while BullMQ jobs flow, and the status page rendered by headless
// Chromium. Keel-only: skipped when the suite runs against redis-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { startKeel, until, freePort } from './harness.mjs';

const skip = process.env.KEEL_TEST_TARGET === 'redis' && 'metrics are a Keel extension';
const MAXMEMORY = 256 * 1024 * 1024;

let server;
let metricsPort;
let connection;
let redis;

before(async () => {
  if (skip) return;
  metricsPort = await freePort();
  server = await startKeel(['--metrics-port', String(metricsPort), '--maxmemory', String(MAXMEMORY)]);
  connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
  redis = new IORedis(connection);
});

after(() => {
  if (skip) return;
  redis.disconnect();
  server.stop();
});

// One raw HTTP exchange: sends `request` and collects everything until the server closes.
function rawHttp(port, request) {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(request));
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    sock.on('error', reject);
    sock.setTimeout(5000, () => reject(new Error('no answer')));
  });
}

async function scrape(port = metricsPort) {
  const res = await rawHttp(port, 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const [head, body] = res.split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, /Content-Type: text\/plain; version=0\.0\.4/);
  assert.match(head, /Connection: close/);
  assert.equal(Number(/Content-Length: (\d+)/.exec(head)[1]), Buffer.byteLength(body));
  return body;
}

// The value of one series (name plus its exact label text), or undefined.
function value(body, series) {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const jobs = (body, queue, state) => value(body, `keel_bullmq_jobs{db="0",queue="${queue}",state="${state}"}`);

test('a scrape follows BullMQ queues as jobs flow', { skip }, async () => {
  const queue = new Queue('mflow', { connection });
  await queue.addBulk([1, 2, 3, 4, 5].map((n) => ({ name: 'j', data: { n, pad: 'x'.repeat(200) } })));
  await queue.add('later', { n: 6 }, { delay: 60000 });
  await queue.add('urgent', { n: 7 }, { priority: 3 });
  let body = await scrape();
  assert.equal(jobs(body, 'mflow', 'wait'), 5);
  assert.equal(jobs(body, 'mflow', 'delayed'), 1);
  assert.equal(jobs(body, 'mflow', 'prioritized'), 1);
  assert.equal(jobs(body, 'mflow', 'completed'), 0);
  assert.equal(jobs(body, 'mflow', 'failed'), 0);
  for (const state of ['active', 'paused', 'waiting-children']) assert.equal(jobs(body, 'mflow', state), 0);
  const memory = value(body, 'keel_bullmq_queue_memory_bytes{db="0",queue="mflow"}');
  assert.ok(memory > 6 * 200, `queue memory ${memory}`);

  const worker = new Worker(
    'mflow',
    async (job) => {
      if (job.data.n === 5) throw new Error('boom');
      return job.data.n;
    },
    { connection },
  );
  await until(async () => {
    const c = await queue.getJobCounts('completed', 'failed');
    return c.completed === 5 && c.failed === 1;
  });
  body = await scrape();
  assert.equal(jobs(body, 'mflow', 'completed'), 5);
  assert.equal(jobs(body, 'mflow', 'failed'), 1);
  assert.equal(jobs(body, 'mflow', 'wait'), 0);
  assert.equal(jobs(body, 'mflow', 'prioritized'), 0);
  assert.equal(jobs(body, 'mflow', 'delayed'), 1);
  await worker.close();

  // A queue whose keys are all gone stops being exported.
  await queue.obliterate({ force: true });
  await queue.close();
  body = await scrape();
  assert.equal(jobs(body, 'mflow', 'wait'), undefined);
});

test('the redis_exporter series carry the values INFO reports', { skip }, async () => {
  await redis.flushall();
  await redis.set('plain', 'v');
  await redis.set('ttl', 'v', 'EX', 1000);
  await redis.get('plain');
  await redis.get('missing');
  await redis.call('nosuchcommand').catch(() => {});
  const body = await scrape();
  const info = await redis.info('everything');
  const field = (name) => Number(new RegExp(`^${name}:(.*)\r?$`, 'm').exec(info)[1]);
  assert.equal(value(body, 'redis_up'), 1);
  assert.equal(value(body, 'redis_memory_max_bytes'), MAXMEMORY);
  assert.ok(value(body, 'redis_memory_used_bytes') > 0);
  assert.ok(value(body, 'redis_memory_used_rss_bytes') > 0);
  assert.ok(value(body, 'redis_mem_fragmentation_ratio') > 0);
  assert.ok(value(body, 'redis_uptime_in_seconds') >= 0);
  assert.equal(value(body, 'redis_connected_clients'), field('connected_clients'));
  assert.equal(value(body, 'redis_blocked_clients'), 0);
  assert.equal(value(body, 'redis_db_keys{db="db0"}'), 2);
  assert.equal(value(body, 'redis_db_keys_expiring{db="db0"}'), 1);
  assert.equal(value(body, 'redis_keyspace_hits_total'), field('keyspace_hits'));
  assert.equal(value(body, 'redis_keyspace_misses_total'), field('keyspace_misses'));
  assert.equal(value(body, 'redis_expired_keys_total'), field('expired_keys'));
  assert.equal(value(body, 'redis_evicted_keys_total'), 0);
  assert.ok(value(body, 'redis_commands_total{cmd="set"}') >= 2);
  assert.ok(value(body, 'redis_commands_duration_seconds_total{cmd="set"}') >= 0);
  assert.ok(value(body, 'redis_errors_total{err="ERR"}') >= 1);
  assert.ok(value(body, 'redis_commands_processed_total') < field('total_commands_processed'));
  assert.ok(value(body, 'redis_net_input_bytes_total') > 0);
  assert.ok(value(body, 'redis_net_output_bytes_total') > 0);
  assert.equal(value(body, 'redis_aof_enabled'), field('aof_enabled'));
  assert.equal(value(body, 'redis_aof_last_write_status'), 1);
  assert.equal(value(body, 'redis_aof_last_bgrewrite_status'), 1);
  assert.equal(value(body, 'redis_rdb_last_bgsave_status'), 1);
  assert.equal(value(body, 'redis_rdb_changes_since_last_save'), field('rdb_changes_since_last_save'));
  assert.equal(value(body, 'redis_rdb_last_save_timestamp_seconds'), field('rdb_last_save_time'));
  // Every series has its HELP and TYPE lines.
  const names = new Set(body.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
  for (const name of names) {
    assert.match(body, new RegExp(`# HELP ${name} .+\n# TYPE ${name} (gauge|counter)\n`));
  }
});

test('the Redis port answers GET /metrics and still speaks RESP', { skip }, async () => {
  const body = await scrape(server.port);
  assert.equal(value(body, 'redis_up'), 1);
  const notFound = await rawHttp(server.port, 'GET /nope HTTP/1.1\r\n\r\n');
  assert.match(notFound, /^HTTP\/1\.1 404 Not Found\r\n/);
  // An inline GET that is not an HTTP request line stays a Redis command.
  await redis.set('/k', 'v');
  const inline = await new Promise((resolve, reject) => {
    const sock = connect(server.port, '127.0.0.1', () => sock.write('GET /k\r\n'));
    sock.on('data', (d) => {
      resolve(d.toString());
      sock.destroy();
    });
    sock.on('error', reject);
  });
  assert.equal(inline, '$1\r\nv\r\n');
  assert.equal(await redis.ping(), 'PONG');
});

test('the metrics port refuses what it does not serve', { skip }, async () => {
  assert.match(await rawHttp(metricsPort, 'GET /x HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 404 Not Found\r\n/);
  const post = await rawHttp(metricsPort, 'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n');
  assert.match(post, /^HTTP\/1\.1 405 Method Not Allowed\r\n[^]*Allow: GET\r\n/);
  assert.match(await rawHttp(metricsPort, 'hello\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  const big = `GET / HTTP/1.1\r\nX: ${'a'.repeat(10000)}\r\n\r\n`;
  assert.match(await rawHttp(metricsPort, big), /^HTTP\/1\.1 431 /);
});

function chromium(args) {
  return new Promise((resolve, reject) => {
    const argv = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...args];
    execFile('chromium', argv, { timeout: 60000, maxBuffer: 16 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

// The distinct byte values of a PNG's decompressed pixel rows: a blank page gives a handful.
function pngVariety(file) {
  const png = readFileSync(file);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  const idat = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString();
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  return new Set(inflateSync(Buffer.concat(idat))).size;
}

test('the status page renders its figures in headless Chromium', { skip }, async () => {
  await redis.lpush('bull:pageq:wait', '3', '2', '1');
  await redis.zadd('bull:pageq:completed', 1, '10', 2, '11');
  const url = `http://127.0.0.1:${metricsPort}/`;
  const dom = await chromium(['--dump-dom', url]);
  assert.match(dom, /<title>Keel status<\/title>/);
  assert.match(dom, /<tr data-queue="pageq" data-db="0">/);
  assert.match(dom, /<td data-state="wait">3<\/td>/);
  assert.match(dom, /<td data-state="completed">2<\/td>/);
  assert.match(dom, /id="memory-limit">[\d.]+% of maxmemory 256\.00M</);
  assert.match(dom, /id="clients">\d+</);
  assert.match(dom, /id="persistence">AOF (on|off)/);
  assert.ok((dom.match(/<svg class="spark"/g) || []).length >= 4, 'sparklines');
  const shot = path.join(mkdtempSync(path.join(tmpdir(), 'keel-page-')), 'page.png');
  await chromium([`--screenshot=${shot}`, '--window-size=1200,800', url]);
  assert.ok(statSync(shot).size > 10000, `screenshot of ${statSync(shot).size} bytes`);
  assert.ok(pngVariety(shot) > 50, 'the screenshot is not blank');
});

test('queues are found after a prefix change, up to metrics-max-queues', { skip }, async () => {
  await redis.flushall();
  // Created while the prefix is still `bull`: only the cron's rescan can find it.
  await redis.lpush('jobs:old:wait', 'a', 'b');
  await redis.config('SET', 'metrics-bullmq-prefix', 'jobs');
  await until(async () => jobs(await scrape(), 'old', 'wait') === 2);
  // Found at creation, without a rescan.
  await redis.zadd('jobs:new:failed', 1, 'x');
  assert.equal(jobs(await scrape(), 'new', 'failed'), 1);
  assert.deepEqual(await redis.config('GET', 'metrics-bullmq-prefix'), ['metrics-bullmq-prefix', 'jobs']);

  // A new prefix and bound take effect at the next cron tick.
  await redis.config('SET', 'metrics-max-queues', '1');
  await redis.config('SET', 'metrics-bullmq-prefix', 'bull');
  await redis.lpush('bull:a:wait', '1');
  await redis.lpush('bull:b:wait', '1');
  await until(async () => value(await scrape(), 'keel_bullmq_queues_truncated') === 1);
  let body = await scrape();
  assert.equal(jobs(body, 'old', 'wait'), undefined);
  const exported = ['a', 'b'].filter((q) => jobs(body, q, 'wait') === 1);
  assert.equal(exported.length, 1);
  // Deleting the exported queue lets the other one in.
  const other = exported[0] === 'a' ? 'b' : 'a';
  await redis.del(`bull:${exported[0]}:wait`);
  await until(async () => jobs(await scrape(), other, 'wait') === 1);
  body = await scrape();
  assert.equal(value(body, 'keel_bullmq_queues_truncated'), 0);
  await redis.config('SET', 'metrics-max-queues', '100');
  // metrics-port is fixed at start-up.
  await assert.rejects(redis.config('SET', 'metrics-port', '1'), /can't set immutable config/);
});

test('with requirepass, the Redis port answers HTTP with 401', { skip }, async () => {
  const locked = await startKeel(['--requirepass', 'secret']);
  try {
    const res = await rawHttp(locked.port, 'GET /metrics HTTP/1.1\r\n\r\n');
    assert.match(res, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.doesNotMatch(res, /redis_up/);
  } finally {
    locked.stop();
  }
});
