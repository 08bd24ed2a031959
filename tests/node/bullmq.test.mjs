// BullMQ, the first real user, end to end against keel-server: every queue operation below
// runs BullMQ's own Lua scripts on the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, QueueEvents } from 'bullmq';
import { startKeel, until } from './harness.mjs';

let server;
let connection;

before(async () => {
  server = await startKeel();
  connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
});

after(() => server.stop());

test('add, addBulk and a worker with concurrency complete every job', async () => {
  const queue = new Queue('basic', { connection });
  const results = [];
  const worker = new Worker('basic', async (job) => job.data.n * 2, { connection, concurrency: 5 });
  worker.on('completed', (_job, rv) => results.push(rv));
  await queue.add('one', { n: 1 });
  await queue.addBulk([2, 3, 4, 5].map((n) => ({ name: 'bulk', data: { n } })));
  await until(() => results.length === 5);
  assert.deepEqual(results.sort((a, b) => a - b), [2, 4, 6, 8, 10]);
  const counts = await queue.getJobCounts('completed', 'waiting', 'active', 'failed');
  assert.deepEqual(counts, { completed: 5, waiting: 0, active: 0, failed: 0 });
  await worker.close();
  await queue.close();
});

test('failures are retried with backoff, then recorded as failed', async () => {
  const queue = new Queue('retries', { connection });
  let attempts = 0;
  const worker = new Worker(
    'retries',
    async () => {
      attempts += 1;
      throw new Error(`boom ${attempts}`);
    },
    { connection },
  );
  const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
  await until(async () => (await queue.getJobCounts('failed')).failed === 1);
  assert.equal(attempts, 3);
  const failed = await queue.getJob(job.id);
  assert.equal(failed.attemptsMade, 3);
  assert.equal(failed.failedReason, 'boom 3');
  await worker.close();
  await queue.close();
});

test('delayed jobs run after their delay, in order', async () => {
  const queue = new Queue('delayed', { connection });
  const order = [];
  const worker = new Worker('delayed', async (job) => order.push(job.name), { connection });
  const t0 = Date.now();
  await queue.add('late', {}, { delay: 400 });
  await queue.add('early', {}, { delay: 150 });
  await until(() => order.length === 2);
  assert.deepEqual(order, ['early', 'late']);
  assert.ok(Date.now() - t0 >= 400);
  await worker.close();
  await queue.close();
});

test('priorities are served highest first', async () => {
  const queue = new Queue('prio', { connection });
  await queue.add('low', {}, { priority: 10 });
  await queue.add('high', {}, { priority: 1 });
  await queue.add('mid', {}, { priority: 5 });
  const order = [];
  const worker = new Worker('prio', async (job) => order.push(job.name), { connection, concurrency: 1 });
  await until(() => order.length === 3);
  assert.deepEqual(order, ['high', 'mid', 'low']);
  await worker.close();
  await queue.close();
});

test('QueueEvents sees completed jobs and progress', async () => {
  const queue = new Queue('events', { connection });
  const events = new QueueEvents('events', { connection });
  await events.waitUntilReady();
  const seen = [];
  events.on('progress', ({ jobId, data }) => seen.push(['progress', jobId, data]));
  events.on('completed', ({ jobId, returnvalue }) => seen.push(['completed', jobId, returnvalue]));
  const worker = new Worker(
    'events',
    async (job) => {
      await job.updateProgress(50);
      return 'ok';
    },
    { connection },
  );
  const job = await queue.add('e', {});
  await until(() => seen.length === 2);
  assert.deepEqual(seen, [
    ['progress', job.id, 50],
    ['completed', job.id, 'ok'],
  ]);
  await worker.close();
  await events.close();
  await queue.close();
});

test('pause, resume and getWorkers', async () => {
  const queue = new Queue('pausing', { connection });
  const done = [];
  const worker = new Worker('pausing', async (job) => done.push(job.name), { connection });
  await worker.waitUntilReady();
  const workers = await queue.getWorkers();
  assert.ok(workers.length >= 1, 'the worker is found through CLIENT LIST');
  await queue.pause();
  await queue.add('held', {});
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(done, []);
  assert.equal(await queue.isPaused(), true);
  await queue.resume();
  await until(() => done.length === 1);
  await worker.close();
  await queue.close();
});

test('removeOnComplete keeps the last N, obliterate removes the queue', async () => {
  const queue = new Queue('cleanup', { connection });
  const worker = new Worker('cleanup', async () => 'x', { connection, removeOnComplete: { count: 2 } });
  await queue.addBulk([1, 2, 3, 4, 5].map((n) => ({ name: 'j', data: { n } })));
  await until(async () => (await queue.getJobCounts('completed')).completed === 2);
  await worker.close();
  await queue.obliterate({ force: true });
  const counts = await queue.getJobCounts();
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0);
  await queue.close();
});
