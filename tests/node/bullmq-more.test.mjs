// More BullMQ scenarios end to end against keel-server (ioredis 5, RESP2): flows, job schedulers,
// rate limiting, LIFO, exponential backoff, deduplication, stalled-job recovery, logs, clean,
// drain, removeOnFail and delayed scores close to 2^53. Each scenario uses its own queue names so
// the tests do not see each other's keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, FlowProducer } from 'bullmq';
import Redis from 'ioredis';
import { startKeel, until } from './harness.mjs';

let server;
let connection;

before(async () => {
  server = await startKeel();
  connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
});

after(() => server.stop());

const untilSoon = (pred) => until(pred, 4000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a flow runs the parent after its children, with their return values', async () => {
  const flow = new FlowProducer({ connection });
  let seen = null;
  const parents = new Worker(
    'flow-parent',
    async (job) => {
      seen = await job.getChildrenValues();
      return 'parent done';
    },
    { connection },
  );
  const tree = await flow.add({
    name: 'parent',
    queueName: 'flow-parent',
    children: [1, 2, 3].map((n) => ({ name: `child${n}`, queueName: 'flow-child', data: { n } })),
  });
  // The children worker starts only now, so the parent is certainly still waiting for them.
  assert.equal(await tree.job.getState(), 'waiting-children');
  const children = new Worker('flow-child', async (job) => job.data.n * 10, { connection });
  await untilSoon(() => seen !== null);
  assert.deepEqual(Object.values(seen).sort((a, b) => a - b), [10, 20, 30]);
  for (const key of Object.keys(seen)) assert.match(key, /^bull:flow-child:/);
  const parentQueue = new Queue('flow-parent', { connection });
  await untilSoon(async () => (await parentQueue.getJobState(tree.job.id)) === 'completed');
  await children.close();
  await parents.close();
  await parentQueue.close();
  await flow.close();
});

test('a job scheduler with `every` runs repeatedly until removed', async () => {
  const queue = new Queue('sched', { connection });
  let runs = 0;
  const worker = new Worker('sched', async () => (runs += 1), { connection });
  await queue.upsertJobScheduler('tick-every', { every: 200 }, { name: 'tick', data: { x: 1 } });
  const schedulers = await queue.getJobSchedulers();
  assert.equal(schedulers.length, 1);
  assert.equal(schedulers[0].key, 'tick-every');
  await untilSoon(() => runs >= 2);
  assert.equal(await queue.removeJobScheduler('tick-every'), true);
  assert.deepEqual(await queue.getJobSchedulers(), []);
  await worker.close();
  await queue.close();
});

test('the rate limiter spreads jobs over its window', async () => {
  const queue = new Queue('limited', { connection });
  await queue.addBulk([1, 2, 3, 4, 5, 6].map((n) => ({ name: 'r', data: { n } })));
  const done = [];
  const t0 = Date.now();
  const worker = new Worker('limited', async (job) => done.push(job.data.n), {
    connection,
    concurrency: 6,
    limiter: { max: 2, duration: 500 },
  });
  await untilSoon(() => done.length === 6);
  assert.ok(Date.now() - t0 >= 1000, `6 jobs at 2 per 500 ms took only ${Date.now() - t0} ms`);
  await worker.close();
  await queue.close();
});

test('lifo jobs are served newest first', async () => {
  const queue = new Queue('lifo', { connection });
  for (const name of ['a', 'b', 'c']) await queue.add(name, {}, { lifo: true });
  const order = [];
  const worker = new Worker('lifo', async (job) => order.push(job.name), { connection, concurrency: 1 });
  await untilSoon(() => order.length === 3);
  assert.deepEqual(order, ['c', 'b', 'a']);
  await worker.close();
  await queue.close();
});

test('exponential backoff retries with growing delays, then fails', async () => {
  const queue = new Queue('expo', { connection });
  const times = [];
  const worker = new Worker(
    'expo',
    async () => {
      times.push(Date.now());
      throw new Error(`expo ${times.length}`);
    },
    { connection },
  );
  const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'exponential', delay: 50 } });
  await untilSoon(async () => (await queue.getJobCounts('failed')).failed === 1);
  assert.equal(times.length, 3);
  // Delays are 50 ms then 100 ms (delay * 2^(attempt-1)).
  assert.ok(times[1] - times[0] >= 50);
  assert.ok(times[2] - times[1] >= 100);
  const failed = await queue.getJob(job.id);
  assert.equal(failed.attemptsMade, 3);
  assert.equal(failed.failedReason, 'expo 3');
  await worker.close();
  await queue.close();
});

test('deduplication returns the existing job for the same id', async () => {
  const queue = new Queue('dedup', { connection });
  const first = await queue.add('d', { v: 1 }, { deduplication: { id: 'same' } });
  const second = await queue.add('d', { v: 2 }, { deduplication: { id: 'same' } });
  assert.equal(second.id, first.id);
  assert.equal(await queue.getDeduplicationJobId('same'), first.id);
  assert.equal((await queue.getJobCounts('waiting')).waiting, 1);
  const other = await queue.add('d', { v: 3 }, { deduplication: { id: 'other' } });
  assert.notEqual(other.id, first.id);
  assert.equal((await queue.getJobCounts('waiting')).waiting, 2);
  await queue.close();
});

test('a stalled job is picked up by another worker', async () => {
  const queue = new Queue('stalled', { connection });
  let release;
  const hung = new Promise((r) => (release = r));
  let started = false;
  const opts = { connection, lockDuration: 300, stalledInterval: 100, maxStalledCount: 1 };
  const dying = new Worker(
    'stalled',
    async () => {
      started = true;
      await hung;
    },
    opts,
  );
  const job = await queue.add('s', { v: 7 });
  await untilSoon(() => started);
  // A forced close stops lock renewal as a crashed process would, leaving the job active.
  await dying.close(true);
  assert.equal(await queue.getJobState(job.id), 'active');
  let rescued = null;
  const rescuer = new Worker('stalled', async (j) => (rescued = j.data.v), opts);
  await untilSoon(() => rescued !== null);
  assert.equal(rescued, 7);
  await untilSoon(async () => (await queue.getJobState(job.id)) === 'completed');
  release();
  await rescuer.close();
  await queue.close();
});

test('job progress and logs are stored and readable from the queue', async () => {
  const queue = new Queue('logs', { connection });
  const worker = new Worker(
    'logs',
    async (job) => {
      await job.log('first line');
      await job.updateProgress({ step: 1, of: 2 });
      await job.log('second \u00e9 line');
      return 'ok';
    },
    { connection },
  );
  const job = await queue.add('l', {});
  await untilSoon(async () => (await queue.getJobState(job.id)) === 'completed');
  assert.deepEqual(await queue.getJobLogs(job.id), { logs: ['first line', 'second \u00e9 line'], count: 2 });
  assert.deepEqual(await queue.getJobLogs(job.id, 0, 0, false), { logs: ['second \u00e9 line'], count: 2 });
  const done = await queue.getJob(job.id);
  assert.deepEqual(done.progress, { step: 1, of: 2 });
  await worker.close();
  await queue.close();
});

test('clean removes completed jobs', async () => {
  const queue = new Queue('cleaning', { connection });
  const worker = new Worker('cleaning', async () => 'x', { connection });
  const jobs = await queue.addBulk([1, 2, 3].map((n) => ({ name: 'c', data: { n } })));
  await untilSoon(async () => (await queue.getJobCounts('completed')).completed === 3);
  await worker.close();
  const removed = await queue.clean(0, 100, 'completed');
  assert.deepEqual([...removed].sort(), jobs.map((j) => j.id).sort());
  assert.equal((await queue.getJobCounts('completed')).completed, 0);
  assert.equal(await queue.getJob(jobs[0].id), undefined);
  await queue.close();
});

test('drain empties waiting jobs, and delayed ones only when asked', async () => {
  const queue = new Queue('draining', { connection });
  await queue.addBulk([1, 2, 3].map((n) => ({ name: 'w', data: { n } })));
  await queue.add('later', {}, { delay: 60000 });
  await queue.drain();
  assert.deepEqual(await queue.getJobCounts('waiting', 'delayed'), { waiting: 0, delayed: 1 });
  await queue.drain(true);
  assert.deepEqual(await queue.getJobCounts('waiting', 'delayed'), { waiting: 0, delayed: 0 });
  await queue.close();
});

test('removeOnFail keeps only the last N failed jobs', async () => {
  const queue = new Queue('failkeep', { connection });
  let attempts = 0;
  const worker = new Worker(
    'failkeep',
    async () => {
      attempts += 1;
      throw new Error('nope');
    },
    { connection, removeOnFail: { count: 2 } },
  );
  const jobs = await queue.addBulk([1, 2, 3, 4, 5].map((n) => ({ name: 'f', data: { n } })));
  await untilSoon(() => attempts === 5);
  await untilSoon(async () => (await queue.getJobCounts('failed')).failed === 2);
  const kept = (await queue.getFailed()).map((j) => j.id).sort();
  assert.deepEqual(kept, jobs.slice(3).map((j) => j.id).sort());
  await worker.close();
  await queue.close();
});

test('delayed jobs with scores near 2^53 keep their order', async () => {
  const queue = new Queue('bigdelay', { connection });
  // The delayed set scores are (timestamp << 12) + counter, so a run time around
  // 2^53 / 4096 ms (the year 2039) puts the scores just under 2^53, where doubles still hold
  // every integer exactly.
  const limit = Math.floor(2 ** 53 / 4096);
  const base = limit - Date.now() - 5000;
  const delays = { c: base, a: base - 2000, b: base - 1000, d: base + 1 };
  for (const [name, delay] of Object.entries(delays)) await queue.add(name, {}, { delay });
  const delayed = await queue.getDelayed();
  assert.deepEqual(delayed.map((j) => j.name), ['a', 'b', 'c', 'd']);
  assert.equal(await queue.getDelayedCount(), 4);
  // The raw scores come back as exact integers (no exponent, no rounding), ascending.
  const client = new Redis(connection);
  const raw = await client.zrange('bull:bigdelay:delayed', 0, -1, 'WITHSCORES');
  await client.quit();
  const scores = raw.filter((_, i) => i % 2 === 1);
  for (const s of scores) {
    assert.match(s, /^[0-9]+$/);
    assert.ok(Number(s) > 2 ** 53 - 2 ** 26 && Number(s) < 2 ** 53, `score ${s}`);
  }
  assert.deepEqual([...scores].sort((x, y) => Number(x) - Number(y)), scores);
  const job = delayed[3];
  assert.equal(await job.getState(), 'delayed');
  await queue.close();
});
