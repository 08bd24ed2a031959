// BullMQ under `maxmemory` with the noeviction policy, the deployment that must never lose a
// job: once memory is full, adding a job fails with Redis's OOM error surfaced to the caller;
// no job already stored is lost; a running worker keeps completing jobs (its scripts start
// by freeing, which Redis allows); and once completed jobs are cleaned, adding works again.
// Passes against redis-server too (KEEL_TEST_TARGET=redis).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { startKeel, until } from './harness.mjs';

let server;
let connection;
let admin;

before(async () => {
  server = await startKeel(['--maxmemory-policy', 'noeviction']);
  connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
  admin = new Redis(connection);
});

after(async () => {
  admin.disconnect();
  server.stop();
});

const OOM = "OOM command not allowed when used memory > 'maxmemory'.";
const payload = (n) => ({ n, user: `user-${n}@example.com`, body: 'x'.repeat(150) });

async function usedMemory() {
  const info = await admin.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

// Adds jobs until one is refused; returns how many were accepted and the refusal.
async function addUntilRefused(queue, from, limit) {
  for (let i = 0; i < limit; i++) {
    try {
      await queue.add('job', payload(from + i), { removeOnComplete: false });
    } catch (err) {
      return { accepted: i, err };
    }
  }
  return { accepted: limit, err: null };
}

test('adding jobs past maxmemory fails with OOM, loses nothing, and recovers after clean', async () => {
  const queue = new Queue('oom', { connection });
  await queue.addBulk(Array.from({ length: 200 }, (_, n) => ({ name: 'job', data: payload(n) })));
  // Room for a few dozen more jobs, then the limit.
  await admin.config('SET', 'maxmemory', String((await usedMemory()) + 64 * 1024));

  const { accepted, err } = await addUntilRefused(queue, 200, 5000);
  assert.ok(err, `no refusal after ${accepted} more jobs`);
  assert.ok(accepted > 0, 'some jobs fit under the limit');
  assert.ok(err.message.includes(OOM), err.message);
  const stored = 200 + accepted;
  const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  assert.equal(counts.waiting, stored, JSON.stringify(counts));

  // Clearly over the limit, every add is refused.
  await admin.config('SET', 'maxmemory', String((await usedMemory()) - 32 * 1024));
  for (let i = 0; i < 5; i++) {
    await assert.rejects(queue.add('job', payload(-1)), (e) => e.message.includes(OOM));
  }

  // A worker started with room to spare keeps completing the jobs it takes after memory is
  // squeezed again: finishing a job starts by removing it from the active list, and a
  // script that has begun by freeing may go on.
  const done = [];
  await admin.config('SET', 'maxmemory', String((await usedMemory()) + 256 * 1024));
  const worker = new Worker('oom', async (job) => done.push(job.data.n), { connection, concurrency: 1 });
  await until(() => done.length >= 100, 10000);
  // Far enough under the usage that what finishing jobs frees does not bring it back.
  await admin.config('SET', 'maxmemory', String((await usedMemory()) - 256 * 1024));
  const before = done.length;
  await until(() => done.length >= before + 50, 10000);
  await assert.rejects(queue.add('job', payload(-2)), (e) => e.message.includes(OOM));
  await worker.close();

  // Nothing was lost along the way: every stored job is waiting, active or completed.
  const after = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  assert.equal(after.failed, 0);
  assert.equal(after.waiting + after.active + after.completed, stored, JSON.stringify(after));
  assert.equal(after.completed, done.length);

  // Full again (the worker's connections are gone, which freed their buffers): adding is
  // refused until the completed jobs are cleaned away.
  await admin.config('SET', 'maxmemory', String((await usedMemory()) - 32 * 1024));
  await assert.rejects(queue.add('job', payload(-3)), (e) => e.message.includes(OOM));
  const cleaned = await queue.clean(0, 10000, 'completed');
  assert.equal(cleaned.length, after.completed);
  const job = await queue.add('job', payload(-4));
  assert.ok(job.id);
  assert.equal(await queue.getWaitingCount(), after.waiting + 1);

  await admin.config('SET', 'maxmemory', '0');
  await queue.close();
});
