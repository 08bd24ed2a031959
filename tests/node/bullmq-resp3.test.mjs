// BullMQ over ioredis 6, which speaks RESP3 (HELLO 3) by default: the same queue operations,
// with every script reply and blocking pop decoded from RESP3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, QueueEvents } from 'bullmq';
import Redis from 'ioredis6';
import { startKeel, until } from './harness.mjs';

let server;
const opened = [];

function connection() {
  const c = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null });
  opened.push(c);
  return c;
}

before(async () => {
  server = await startKeel();
});

after(() => {
  for (const c of opened) c.disconnect();
  server.stop();
});

test('ioredis 6 negotiates RESP3 with keel', async () => {
  const c = connection();
  const hello = await c.call('HELLO');
  assert.equal(hello[hello.indexOf('proto') + 1], 3);
});

test('jobs are added, delayed, processed and reported over RESP3', async () => {
  const queue = new Queue('resp3', { connection: connection() });
  const events = new QueueEvents('resp3', { connection: connection() });
  await events.waitUntilReady();
  const completed = [];
  events.on('completed', ({ returnvalue }) => completed.push(returnvalue));
  const results = [];
  const worker = new Worker('resp3', async (job) => job.data.n * 2, { connection: connection(), concurrency: 5 });
  worker.on('completed', (_job, rv) => results.push(rv));
  await queue.add('a', { n: 1 });
  await queue.addBulk([2, 3].map((n) => ({ name: 'b', data: { n } })));
  await queue.add('late', { n: 4 }, { delay: 200 });
  await until(() => results.length === 4 && completed.length === 4);
  assert.deepEqual(results.sort((a, b) => a - b), [2, 4, 6, 8]);
  const counts = await queue.getJobCounts('completed', 'delayed', 'waiting');
  assert.deepEqual(counts, { completed: 4, delayed: 0, waiting: 0 });
  await worker.close();
  await events.close();
  await queue.close();
});
