// QueueEvents end to end: every event type BullMQ writes to a queue's event stream (added,
// waiting, active, progress, completed, failed, delayed, removed, drained, paused, resumed,
// retries-exhausted, deduplicated, duplicated, waiting-children, stalled, cleaned) reaches a
// listener reading the stream with XREAD BLOCK, with its fields and in the order the jobs went
// through their states. Run with KEEL_TEST_TARGET=redis to check the same expectations against
// redis-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, QueueEvents, FlowProducer } from 'bullmq';
import { until, bullmqSuite } from './harness.mjs';

const suite = bullmqSuite(before, after);
// A connection for one BullMQ object (see bullmqClients: RESP2 options or a RESP3 client).
const conn = suite.conn;

const untilSoon = (pred) => until(pred, 4000);

const EVENTS = [
  'added',
  'waiting',
  'active',
  'progress',
  'completed',
  'failed',
  'delayed',
  'removed',
  'drained',
  'paused',
  'resumed',
  'retries-exhausted',
  'deduplicated',
  'duplicated',
  'waiting-children',
  'stalled',
  'cleaned',
];

// Listens to every event of a queue and records them as [event, args] in arrival order. Each
// test uses a fresh queue, so reading the stream from its start (instead of from `$`, the
// default) sees every event without racing the listener's first XREAD against the first write.
async function record(queueName) {
  const events = new QueueEvents(queueName, { connection: conn(), lastEventId: '0-0' });
  const seen = [];
  for (const name of EVENTS) {
    events.on(name, (args) => seen.push([name, name === 'drained' ? 'drained' : args]));
  }
  await events.waitUntilReady();
  // Events of one job, without the id (the caller knows it) and without timestamps.
  const of = (jobId) =>
    seen
      .filter(([, args]) => args.jobId === jobId)
      .map(([name, { jobId: _id, delay: _delay, ...rest }]) => [name, rest]);
  return { events, seen, of, named: (name) => seen.filter(([n]) => n === name).map(([, args]) => args) };
}

test('a job retried after a failure, then completed, and one that exhausts its retries', async () => {
  const queue = new Queue('ev-life', { connection: conn() });
  const rec = await record('ev-life');
  const worker = new Worker(
    'ev-life',
    async (job) => {
      if (job.name === 'doomed') throw new Error('always');
      if (job.attemptsMade === 0) throw new Error('first try');
      await job.updateProgress({ pct: 70 });
      return { done: job.name };
    },
    { connection: conn() },
  );
  const flaky = await queue.add('flaky', {}, { attempts: 2, backoff: { type: 'fixed', delay: 50 } });
  const t0 = Date.now();
  await untilSoon(async () => (await queue.getJobState(flaky.id)) === 'completed');
  const doomed = await queue.add('doomed', {}, { attempts: 1 });
  await untilSoon(() => rec.of(doomed.id).length === 5);
  await untilSoon(() => rec.named('drained').length >= 1);
  assert.deepEqual(rec.of(flaky.id), [
    ['added', { name: 'flaky' }],
    ['waiting', {}],
    ['active', { prev: 'waiting' }],
    // A failure with attempts left reschedules the job through the delayed set.
    ['delayed', {}],
    ['waiting', { prev: 'delayed' }],
    ['active', { prev: 'waiting' }],
    ['progress', { data: { pct: 70 } }],
    ['completed', { returnvalue: { done: 'flaky' }, prev: 'active' }],
  ]);
  // The delayed event carries the time the retry is due.
  const [{ delay }] = rec.named('delayed');
  assert.ok(delay >= t0 + 50 && delay < t0 + 4000, `retry due at ${delay}, added at ${t0}`);
  assert.deepEqual(rec.of(doomed.id), [
    ['added', { name: 'doomed' }],
    ['waiting', {}],
    ['active', { prev: 'waiting' }],
    ['failed', { failedReason: 'always', prev: 'active' }],
    ['retries-exhausted', { attemptsMade: '1' }],
  ]);
  await worker.close();
  await rec.events.close();
  await queue.close();
});

test('waitUntilFinished resolves with the return value or rejects with the failure', async () => {
  const queue = new Queue('ev-wait', { connection: conn() });
  const events = new QueueEvents('ev-wait', { connection: conn() });
  await events.waitUntilReady();
  const worker = new Worker(
    'ev-wait',
    async (job) => {
      if (job.data.fail) throw new Error(`failed ${job.data.n}`);
      return job.data.n * 3;
    },
    { connection: conn() },
  );
  const good = await queue.add('w', { n: 4 });
  const bad = await queue.add('w', { n: 5, fail: true });
  assert.equal(await good.waitUntilFinished(events, 4000), 12);
  await assert.rejects(bad.waitUntilFinished(events, 4000), /failed 5/);
  await worker.close();
  await events.close();
  await queue.close();
});

test('queue operations emit paused, resumed, delayed, waiting, removed and cleaned', async () => {
  const queue = new Queue('ev-ops', { connection: conn() });
  const rec = await record('ev-ops');
  await queue.pause();
  await queue.resume();
  const later = await queue.add('later', {}, { delay: 60000 });
  const t0 = Date.now();
  await later.changeDelay(120000);
  await later.promote();
  const gone = await queue.add('gone', {});
  await gone.remove();
  await queue.add('c1', {});
  await queue.add('c2', {});
  const cleaned = await queue.clean(0, 10, 'wait');
  assert.equal(cleaned.length, 3);
  await untilSoon(() => rec.named('cleaned').length === 1);
  assert.deepEqual(rec.named('paused'), [{}]);
  assert.deepEqual(rec.named('resumed'), [{}]);
  assert.deepEqual(rec.of(later.id), [
    ['added', { name: 'later' }],
    ['delayed', {}],
    ['delayed', {}],
    ['waiting', { prev: 'delayed' }],
  ]);
  const [first, second] = rec.named('delayed').map((e) => e.delay);
  assert.ok(first >= t0 + 59000 && first <= t0 + 60000, `first due ${first - t0} ms from add`);
  assert.ok(second >= t0 + 119000 && second <= t0 + 125000, `changed due ${second - t0} ms from add`);
  assert.deepEqual(rec.of(gone.id), [
    ['added', { name: 'gone' }],
    ['waiting', {}],
    ['removed', { prev: 'wait' }],
  ]);
  // clean reports one event with the count, not a removed event per job.
  assert.deepEqual(rec.named('cleaned'), [{ count: '3' }]);
  // pause and resume come first, in the order they were called.
  assert.deepEqual(rec.seen.slice(0, 2).map(([name]) => name), ['paused', 'resumed']);
  await rec.events.close();
  await queue.close();
});

test('deduplicated and duplicated report the job that was kept', async () => {
  const queue = new Queue('ev-dup', { connection: conn() });
  const rec = await record('ev-dup');
  const first = await queue.add('d', { v: 1 }, { deduplication: { id: 'dd' } });
  const again = await queue.add('d', { v: 2 }, { deduplication: { id: 'dd' } });
  assert.equal(again.id, first.id);
  const custom = await queue.add('c', { v: 1 }, { jobId: 'custom-id' });
  const copy = await queue.add('c', { v: 2 }, { jobId: 'custom-id' });
  assert.equal(copy.id, 'custom-id');
  // The second add changes nothing: the stored job keeps its first data.
  assert.deepEqual((await queue.getJob('custom-id')).data, { v: 1 });
  await untilSoon(() => rec.named('duplicated').length === 1);
  // deduplicatedJobId is the id the refused job had drawn from the counter, the next one.
  const refused = String(Number(first.id) + 1);
  assert.deepEqual(rec.named('deduplicated'), [{ jobId: first.id, deduplicationId: 'dd', deduplicatedJobId: refused }]);
  assert.deepEqual(rec.named('duplicated'), [{ jobId: custom.id }]);
  assert.equal(rec.named('added').length, 2);
  await rec.events.close();
  await queue.close();
});

test('a flow parent emits waiting-children, then waiting once its child completes', async () => {
  const flow = new FlowProducer({ connection: conn() });
  const rec = await record('ev-parent');
  const tree = await flow.add({
    name: 'parent',
    queueName: 'ev-parent',
    children: [{ name: 'child', queueName: 'ev-child', data: {} }],
  });
  const worker = new Worker('ev-child', async () => 'child done', { connection: conn() });
  await untilSoon(() => rec.of(tree.job.id).length === 3);
  assert.deepEqual(rec.of(tree.job.id), [
    ['added', { name: 'parent' }],
    ['waiting-children', {}],
    ['waiting', { prev: 'waiting-children' }],
  ]);
  await worker.close();
  await rec.events.close();
  await flow.close();
});

test('a job whose worker died is reported stalled, then completed by another worker', async () => {
  const queue = new Queue('ev-stalled', { connection: conn() });
  const rec = await record('ev-stalled');
  let release;
  const hung = new Promise((r) => (release = r));
  let started = false;
  const opts = () => ({ connection: conn(), lockDuration: 300, stalledInterval: 100, maxStalledCount: 1 });
  const dying = new Worker(
    'ev-stalled',
    async () => {
      started = true;
      await hung;
    },
    opts(),
  );
  const job = await queue.add('s', {});
  await untilSoon(() => started);
  // A forced close stops lock renewal as a crashed process would.
  await dying.close(true);
  const rescuer = new Worker('ev-stalled', async () => 'rescued', opts());
  await untilSoon(() => rec.named('completed').length === 1);
  assert.deepEqual(rec.of(job.id), [
    ['added', { name: 's' }],
    ['waiting', {}],
    ['active', { prev: 'waiting' }],
    // The stalled-jobs check moves the job back to wait first, then reports it stalled.
    ['waiting', { prev: 'active' }],
    ['stalled', {}],
    ['active', { prev: 'waiting' }],
    ['completed', { returnvalue: 'rescued', prev: 'active' }],
  ]);
  release();
  await rescuer.close();
  await rec.events.close();
  await queue.close();
});
