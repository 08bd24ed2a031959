// BullMQ's read side and its per-job operations end to end: the queue getters (getJob, getJobs
// with types, ranges and both orders, the per-state lists, counts per priority, metrics, job
// schedulers, logs, connected workers and event listeners), the Job methods that change a job in
// place (data, progress, delay, priority, promote, retry, remove, manual completion and failure
// with a lock token, lock extension, flow dependencies), and removeOnComplete/removeOnFail by age.
// Each scenario uses its own queue names so the tests do not see each other's keys. Run with
// KEEL_TEST_TARGET=redis to check the same expectations against redis-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, QueueEvents, FlowProducer, UnrecoverableError } from 'bullmq';
import Redis from 'ioredis';
import { until, bullmqSuite } from './harness.mjs';

const suite = bullmqSuite(before, after);
// A connection for one BullMQ object (see bullmqClients: RESP2 options or a RESP3 client).
const conn = suite.conn;

const untilSoon = (pred) => until(pred, 4000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const names = (jobs) => jobs.map((j) => j.name);

test('getJob, getJobState, count and the per-state getters on a queue nobody works', async () => {
  const queue = new Queue('getters', { connection: conn() });
  const a = await queue.add('a', { v: 'a' });
  const b = await queue.add('b', { v: 'b' });
  const c = await queue.add('c', { v: 'c' });
  const p2 = await queue.add('p2', {}, { priority: 2 });
  const p1 = await queue.add('p1', {}, { priority: 1 });
  const p1b = await queue.add('p1b', {}, { priority: 1 });
  const d = await queue.add('d', {}, { delay: 60000 });

  const got = await queue.getJob(b.id);
  assert.equal(got.name, 'b');
  assert.deepEqual(got.data, { v: 'b' });
  assert.equal(got.id, b.id);
  assert.equal(await queue.getJob('no-such-job'), undefined);

  assert.equal(await queue.getJobState(a.id), 'waiting');
  assert.equal(await queue.getJobState(p1.id), 'prioritized');
  assert.equal(await queue.getJobState(d.id), 'delayed');
  assert.equal(await queue.getJobState('no-such-job'), 'unknown');
  assert.equal(await c.isWaiting(), true);
  assert.equal(await d.isDelayed(), true);
  assert.equal(await d.isWaiting(), false);

  // count() is everything not yet processed: waiting, delayed, prioritized, waiting-children.
  assert.equal(await queue.count(), 7);
  assert.equal(await queue.getWaitingCount(), 3);
  assert.equal(await queue.getPrioritizedCount(), 3);
  assert.equal(await queue.getDelayedCount(), 1);
  assert.equal(await queue.getActiveCount(), 0);
  assert.equal(await queue.getJobCountByTypes('waiting', 'delayed'), 4);
  assert.deepEqual(await queue.getCountsPerPriority([0, 1, 2, 3]), { 0: 3, 1: 2, 2: 1, 3: 0 });

  // getWaiting lists oldest first (the wait list is pushed on the left and read from the right).
  assert.deepEqual(names(await queue.getWaiting()), ['a', 'b', 'c']);
  assert.deepEqual(names(await queue.getWaiting(0, 0)), ['a']);
  assert.deepEqual(names(await queue.getWaiting(1, 2)), ['b', 'c']);
  // The prioritized set is ordered by priority, then by insertion.
  assert.deepEqual(names(await queue.getPrioritized()), ['p1', 'p1b', 'p2']);
  assert.deepEqual(names(await queue.getDelayed()), ['d']);
  assert.deepEqual(await queue.getActive(), []);
  assert.deepEqual(await queue.getCompleted(), []);
  assert.deepEqual(await queue.getWaitingChildren(), []);

  // getJobs and getRanges over several types, in both orders and with a range.
  const desc = names(await queue.getJobs(['waiting', 'prioritized']));
  const asc = names(await queue.getJobs(['waiting', 'prioritized'], 0, -1, true));
  assert.deepEqual(desc, ['c', 'b', 'a', 'p2', 'p1b', 'p1']);
  assert.deepEqual(asc, ['a', 'b', 'c', 'p1', 'p1b', 'p2']);
  assert.deepEqual(names(await queue.getJobs('waiting', 0, 1, true)), ['a', 'b']);
  assert.deepEqual(names(await queue.getJobs('waiting', 0, 1, false)), ['c', 'b']);
  assert.deepEqual(names(await queue.getJobs(['delayed', 'waiting'], 0, 0)), ['d', 'c']);
  const types = ['waiting', 'prioritized', 'delayed'];
  assert.deepEqual(await queue.getRanges(types, 0, -1, true), [a.id, b.id, c.id, p1.id, p1b.id, p2.id, d.id]);
  assert.deepEqual(await queue.getRanges(types, 0, -1, false), [c.id, b.id, a.id, p2.id, p1b.id, p1.id, d.id]);
  await queue.obliterate({ force: true });
  await queue.close();
});

test('Job methods change data, progress, delay and priority in place', async () => {
  const queue = new Queue('jobmethods', { connection: conn() });
  const job = await queue.add('m', { v: 1 });
  await job.updateData({ v: 2, s: 'caf\u00e9' });
  await job.updateProgress(42);
  let fresh = await queue.getJob(job.id);
  assert.deepEqual(fresh.data, { v: 2, s: 'caf\u00e9' });
  assert.equal(fresh.progress, 42);
  await queue.updateJobProgress(job.id, { stage: 'two' });
  assert.deepEqual((await queue.getJob(job.id)).progress, { stage: 'two' });

  const later = await queue.add('later', {}, { delay: 60000 });
  const before = (await queue.getJob(later.id)).delay;
  assert.equal(before, 60000);
  await later.changeDelay(120000);
  fresh = await queue.getJob(later.id);
  assert.equal(fresh.delay, 120000);
  assert.equal(await fresh.getState(), 'delayed');
  // changeDelay only applies to delayed jobs.
  await assert.rejects(job.changeDelay(1000), /is not in the delayed state/);

  const low = await queue.add('low', {}, { priority: 5 });
  const high = await queue.add('high', {}, { priority: 3 });
  assert.deepEqual(names(await queue.getPrioritized()), ['high', 'low']);
  await low.changePriority({ priority: 1 });
  assert.deepEqual(names(await queue.getPrioritized()), ['low', 'high']);
  assert.equal((await queue.getJob(low.id)).priority, 1);
  // Priority 0 moves the job back to the plain wait list.
  await high.changePriority({ priority: 0 });
  assert.equal(await queue.getJobState(high.id), 'waiting');
  assert.deepEqual(names(await queue.getPrioritized()), ['low']);

  await later.promote();
  assert.equal(await queue.getJobState(later.id), 'waiting');
  await assert.rejects(later.promote(), /is not in the delayed state/);

  await job.remove();
  assert.equal(await queue.getJob(job.id), undefined);
  assert.equal(await queue.getJobState(job.id), 'unknown');
  await queue.obliterate({ force: true });
  await queue.close();
});

test('manual processing with a token: getActive, extendLock, complete, fail and retry', async () => {
  const queue = new Queue('manual', { connection: conn() });
  const worker = new Worker('manual', null, { connection: conn(), lockDuration: 2000 });
  const raw = new Redis(suite.options);
  const ok = await queue.add('ok', { n: 1 });
  const bad = await queue.add('bad', { n: 2 });

  const token = 'token-1';
  const first = await worker.getNextJob(token);
  assert.equal(first.id, ok.id);
  assert.deepEqual(names(await queue.getActive()), ['ok']);
  assert.equal(await raw.get(`bull:manual:${ok.id}:lock`), token);
  assert.equal(await first.extendLock(token, 10000), 1);
  const pttl = await raw.pttl(`bull:manual:${ok.id}:lock`);
  assert.ok(pttl > 8000 && pttl <= 10000, `lock pttl ${pttl}`);
  // A wrong token neither extends the lock nor finishes the job.
  assert.equal(await first.extendLock('someone-else', 10000), 0);
  await assert.rejects(first.moveToCompleted('nope', 'someone-else', false), /Lock mismatch|Missing lock/);
  await first.moveToCompleted({ answer: 42 }, token, false);
  assert.equal(await queue.getJobState(ok.id), 'completed');
  const completed = await queue.getCompleted();
  assert.deepEqual(names(completed), ['ok']);
  assert.deepEqual(completed[0].returnvalue, { answer: 42 });
  assert.ok(completed[0].finishedOn >= completed[0].processedOn);

  const second = await worker.getNextJob('token-2');
  assert.equal(second.id, bad.id);
  await second.moveToFailed(new Error('done by hand'), 'token-2', false);
  assert.equal(await queue.getJobState(bad.id), 'failed');
  const failed = await queue.getFailed();
  assert.deepEqual(names(failed), ['bad']);
  assert.equal(failed[0].failedReason, 'done by hand');
  assert.equal(await raw.exists(`bull:manual:${bad.id}:lock`), 0);

  // retry moves a failed job back to wait, and a completed one when asked for that state.
  await failed[0].retry('failed');
  assert.equal(await queue.getJobState(bad.id), 'waiting');
  await completed[0].retry('completed');
  assert.equal(await queue.getJobState(ok.id), 'waiting');
  assert.deepEqual(await queue.getJobCounts('waiting', 'completed', 'failed'), { waiting: 2, completed: 0, failed: 0 });
  const again = await queue.getJob(bad.id);
  assert.equal(again.failedReason, undefined);

  // An active job holds its lock, so it cannot be removed.
  const held = await worker.getNextJob('token-3');
  await assert.rejects(held.remove(), /locked/);
  assert.equal(await queue.getJobState(held.id), 'active');
  await held.moveToCompleted('fine', 'token-3', false);
  await held.remove();
  assert.equal(await queue.getJob(held.id), undefined);
  await raw.quit();
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
});

test('a flow parent exposes its dependencies before and after its children run', async () => {
  const flow = new FlowProducer({ connection: conn() });
  const tree = await flow.add({
    name: 'parent',
    queueName: 'deps-parent',
    children: [1, 2, 3].map((n) => ({ name: `child${n}`, queueName: 'deps-child', data: { n } })),
  });
  const parentQueue = new Queue('deps-parent', { connection: conn() });
  const childQueue = new Queue('deps-child', { connection: conn() });
  const parent = tree.job;
  assert.deepEqual(names(await parentQueue.getWaitingChildren()), ['parent']);
  assert.equal(await parentQueue.getWaitingChildrenCount(), 1);
  assert.equal(await parentQueue.count(), 1);
  let deps = await parent.getDependencies();
  assert.equal(deps.unprocessed.length, 3);
  assert.deepEqual(deps.processed, {});
  assert.deepEqual(await parent.getDependenciesCount(), { failed: 0, ignored: 0, processed: 0, unprocessed: 3 });
  assert.deepEqual(await parent.getChildrenValues(), {});

  const children = new Worker('deps-child', async (job) => `v${job.data.n}`, { connection: conn() });
  await untilSoon(async () => (await parent.getDependenciesCount()).processed === 3);
  await children.close();
  deps = await parent.getDependencies();
  assert.deepEqual(deps.unprocessed, []);
  const childKeys = tree.children.map((c) => `bull:deps-child:${c.job.id}`);
  assert.deepEqual(Object.keys(deps.processed).sort(), [...childKeys].sort());
  assert.deepEqual(Object.values(await parent.getChildrenValues()).sort(), ['v1', 'v2', 'v3']);
  // With every child done, the parent moves on to wait.
  assert.equal(await parent.getState(), 'waiting');
  assert.equal((await childQueue.getCompleted()).length, 3);
  // A child knows its parent.
  const child = await childQueue.getJob(tree.children[0].job.id);
  assert.equal(child.parentKey, `bull:deps-parent:${parent.id}`);
  await flow.close();
  await parentQueue.close();
  await childQueue.close();
});

test('failing children: ignored, removed, continued, and one that fails its parent', async () => {
  const flow = new FlowProducer({ connection: conn() });
  const child = (name, opts) => ({ name, queueName: 'fdeps-child', data: { fail: name !== 'ok' }, opts });
  const tolerant = await flow.add({
    name: 'tolerant',
    queueName: 'fdeps-parent',
    children: [
      child('ok'),
      child('ign', { ignoreDependencyOnFailure: true }),
      child('rm', { removeDependencyOnFailure: true }),
      child('cont', { continueParentOnFailure: true }),
    ],
  });
  const strict = await flow.add({
    name: 'strict',
    queueName: 'fdeps-parent',
    children: [child('fatal', { failParentOnFailure: true }), { name: 'never', queueName: 'fdeps-idle', data: {} }],
  });
  const detached = await flow.add({
    name: 'detached',
    queueName: 'fdeps-parent',
    children: [{ name: 'orphan', queueName: 'fdeps-idle', data: {} }],
  });
  const parents = new Queue('fdeps-parent', { connection: conn() });
  const worker = new Worker(
    'fdeps-child',
    async (job) => {
      if (job.data.fail) throw new Error(`child ${job.name}`);
      return job.name;
    },
    { connection: conn() },
  );
  await untilSoon(async () => (await parents.getJobState(strict.job.id)) === 'waiting');
  await untilSoon(async () => (await parents.getJobState(tolerant.job.id)) === 'waiting');
  await worker.close();
  const key = (node) => `bull:fdeps-child:${node.job.id}`;
  const [ok, ign, , cont] = tolerant.children;
  // Ignored and continued failures are kept aside; a removed one leaves no trace.
  assert.deepEqual(await tolerant.job.getDependenciesCount(), { processed: 1, unprocessed: 0, ignored: 2, failed: 0 });
  const ignored = { [key(ign)]: 'child ign', [key(cont)]: 'child cont' };
  assert.deepEqual(await tolerant.job.getDependencies(), {
    processed: { [key(ok)]: 'ok' },
    unprocessed: [],
    failed: [],
    ignored,
  });
  assert.deepEqual(await tolerant.job.getIgnoredChildrenFailures(), ignored);
  assert.deepEqual(await tolerant.job.getChildrenValues(), { [key(ok)]: 'ok' });
  // failParentOnFailure releases the parent at once, with the failure recorded against it.
  assert.deepEqual(await strict.job.getDependenciesCount(), { processed: 0, unprocessed: 1, ignored: 0, failed: 1 });
  // removeChildDependency lets a parent go on without a child that has not run.
  assert.equal(await detached.children[0].job.removeChildDependency(), true);
  assert.equal(await parents.getJobState(detached.job.id), 'waiting');
  assert.deepEqual(await detached.job.getDependenciesCount(), { processed: 0, unprocessed: 0, ignored: 0, failed: 0 });

  const parentWorker = new Worker('fdeps-parent', async (job) => `parent ${job.name}`, { connection: conn() });
  await untilSoon(async () => (await parents.getJobCountByTypes('completed', 'failed')) === 3);
  await parentWorker.close();
  const done = await parents.getJob(tolerant.job.id);
  assert.equal(done.returnvalue, 'parent tolerant');
  const failed = await parents.getJob(strict.job.id);
  assert.equal(await failed.getState(), 'failed');
  assert.equal(failed.failedReason, `child ${key(strict.children[0])} failed`);
  assert.equal(await parents.getJobState(detached.job.id), 'completed');
  await flow.close();
  await parents.obliterate({ force: true });
  await parents.close();
});

test('bulk operations: promoteJobs, retryJobs, an unrecoverable error, global limits and meta', async () => {
  const queue = new Queue('bulkops', { connection: conn() });
  const worker = new Worker(
    'bulkops',
    async (job) => {
      if (job.name === 'fatal') throw new UnrecoverableError('no point retrying');
      if (job.name === 'soft') throw new Error('try later');
      return job.name;
    },
    { connection: conn() },
  );
  await queue.addBulk([
    { name: 'a', data: {} },
    { name: 'soft', data: {}, opts: { attempts: 3, backoff: { type: 'fixed', delay: 60000 } } },
    { name: 'fatal', data: {}, opts: { attempts: 5 } },
    { name: 'c', data: {} },
  ]);
  await untilSoon(async () => (await queue.getJobCountByTypes('completed', 'failed', 'delayed')) === 4);
  await worker.close();
  assert.deepEqual(await queue.getJobCounts('completed', 'failed', 'delayed', 'waiting'), {
    completed: 2,
    failed: 1,
    delayed: 1,
    waiting: 0,
  });
  // UnrecoverableError fails the job on its first attempt despite attempts: 5.
  const [fatal] = await queue.getFailed();
  assert.equal(fatal.name, 'fatal');
  assert.equal(fatal.attemptsMade, 1);
  assert.equal(fatal.failedReason, 'no point retrying');
  // Finished sets are ordered by finish time (ties by id): completed, then failed.
  assert.deepEqual(names(await queue.getJobs(['completed', 'failed'], 0, -1, true)), ['a', 'c', 'fatal']);
  assert.deepEqual(names(await queue.getJobs(['completed', 'failed'], 0, -1, false)), ['c', 'a', 'fatal']);

  await queue.promoteJobs();
  assert.deepEqual(await queue.getJobCounts('delayed', 'waiting'), { delayed: 0, waiting: 1 });
  await queue.retryJobs({ state: 'failed' });
  assert.deepEqual(await queue.getJobCounts('failed', 'waiting'), { failed: 0, waiting: 2 });
  await queue.retryJobs({ state: 'completed' });
  assert.deepEqual(await queue.getJobCounts('completed', 'waiting'), { completed: 0, waiting: 4 });

  const meta = await queue.getMeta();
  assert.equal(meta.paused, false);
  assert.equal(meta.version, await queue.getVersion());
  assert.equal(await queue.getGlobalConcurrency(), null);
  assert.equal(await queue.getGlobalRateLimit(), null);
  await queue.setGlobalConcurrency(3);
  await queue.setGlobalRateLimit(10, 1000);
  assert.equal(await queue.getGlobalConcurrency(), 3);
  assert.deepEqual(await queue.getGlobalRateLimit(), { max: 10, duration: 1000 });
  await queue.removeGlobalConcurrency();
  assert.equal(await queue.getGlobalConcurrency(), null);
  assert.equal(await queue.getRateLimitTtl(), 0);
  await queue.rateLimit(5000);
  const ttl = await queue.getRateLimitTtl();
  assert.ok(ttl > 4000 && ttl <= 5000, `rate limit ttl ${ttl}`);
  assert.equal(await queue.isMaxed(), false);
  // The stream holds a few dozen events, far fewer than one trimmable node, so an approximate
  // trim removes nothing.
  assert.equal(await queue.trimEvents(2), 0);
  await queue.obliterate({ force: true });
  await queue.close();
});

test('job logs: ranges in both orders, keepLogs and clearLogs', async () => {
  const queue = new Queue('logranges', { connection: conn() });
  const job = await queue.add('l', {});
  for (const n of [1, 2, 3, 4]) await job.log(`line ${n}`);
  assert.deepEqual(await queue.getJobLogs(job.id), { logs: ['line 1', 'line 2', 'line 3', 'line 4'], count: 4 });
  assert.deepEqual(await queue.getJobLogs(job.id, 1, 2), { logs: ['line 2', 'line 3'], count: 4 });
  assert.deepEqual(await queue.getJobLogs(job.id, 0, 1, false), { logs: ['line 4', 'line 3'], count: 4 });
  // addJobLog with keepLogs trims the oldest rows.
  assert.equal(await queue.addJobLog(job.id, 'line 5', 3), 3);
  assert.deepEqual((await queue.getJobLogs(job.id)).logs, ['line 3', 'line 4', 'line 5']);
  await job.clearLogs(1);
  assert.deepEqual(await queue.getJobLogs(job.id), { logs: ['line 5'], count: 1 });
  await job.clearLogs();
  assert.deepEqual(await queue.getJobLogs(job.id), { logs: [], count: 0 });
  await queue.obliterate({ force: true });
  await queue.close();
});

test('metrics count finished jobs and keep at most maxDataPoints per-minute points', async () => {
  const queue = new Queue('metrics', { connection: conn() });
  const raw = new Redis(suite.options);
  const worker = new Worker(
    'metrics',
    async (job) => {
      if (job.data.fail) throw new Error('bad');
      return 'ok';
    },
    { connection: conn(), metrics: { maxDataPoints: 2 } },
  );
  await queue.addBulk([0, 1, 2, 3, 4].map((n) => ({ name: 'm', data: { fail: n === 4 } })));
  await untilSoon(async () => (await queue.getJobCountByTypes('completed', 'failed')) === 5);
  let completed = await queue.getMetrics('completed');
  const failed = await queue.getMetrics('failed');
  assert.equal(completed.meta.count, 4);
  assert.equal(failed.meta.count, 1);
  // The first finished job only starts the clock; no minute has closed yet, so no data points.
  assert.deepEqual([completed.data, completed.count, completed.meta.prevCount], [[], 0, 0]);
  assert.ok(completed.meta.prevTS > Date.now() - 60000 && completed.meta.prevTS <= Date.now());
  // Pretend the last point was taken three minutes ago with one job counted: the next completion
  // closes three minutes, capped at maxDataPoints, newest first (zeros for the empty minutes).
  await raw.hset('bull:metrics:metrics:completed', 'prevTS', Date.now() - 180000, 'prevCount', 1);
  await queue.add('m', { fail: false });
  await untilSoon(async () => (await queue.getMetrics('completed')).meta.count === 5);
  completed = await queue.getMetrics('completed');
  assert.deepEqual(completed.data, [0, 3]);
  assert.equal(completed.count, 2);
  assert.equal(completed.meta.prevCount, 4);
  assert.deepEqual((await queue.getMetrics('completed', 1, 1)).data, [3]);
  const prom = await queue.exportPrometheusMetrics();
  assert.match(prom, /bullmq_job_completed_total\{queue="metrics"\} 5/);
  assert.match(prom, /bullmq_job_failed_total\{queue="metrics"\} 1/);
  await worker.close();
  await raw.quit();
  await queue.obliterate({ force: true });
  await queue.close();
});

test('job schedulers: cron and every, listed in next-run order, fetched by id', async () => {
  const queue = new Queue('schedlist', { connection: conn() });
  await queue.upsertJobScheduler('hourly', { pattern: '0 0 * * * *' }, { name: 'h', data: { k: 'h' } });
  await queue.upsertJobScheduler('fast', { every: 60000 }, { name: 'f', data: { k: 'f' } });
  assert.equal(await queue.getJobSchedulersCount(), 2);
  const one = await queue.getJobScheduler('hourly');
  assert.equal(one.key, 'hourly');
  assert.equal(one.pattern, '0 0 * * * *');
  assert.equal(one.name, 'h');
  assert.deepEqual(one.template.data, { k: 'h' });
  assert.equal(one.next % 3600000, 0);
  const fast = await queue.getJobScheduler('fast');
  assert.equal(fast.every, 60000);
  assert.equal(await queue.getJobScheduler('nope'), undefined);
  const all = await queue.getJobSchedulers(0, -1, true);
  const byNext = [...all].sort((x, y) => x.next - y.next);
  assert.deepEqual(all.map((s) => s.key), byNext.map((s) => s.key));
  const desc = await queue.getJobSchedulers(0, -1, false);
  assert.deepEqual(desc.map((s) => s.key), [...all.map((s) => s.key)].reverse());
  assert.deepEqual((await queue.getJobSchedulers(0, 0, true)).map((s) => s.key), [all[0].key]);
  assert.deepEqual(all.map((s) => s.key), ['fast', 'hourly']);
  // An `every` scheduler's first job runs at once; the cron one waits for the next full hour.
  assert.deepEqual(names(await queue.getWaiting()), ['f']);
  assert.deepEqual(names(await queue.getDelayed()), ['h']);
  assert.equal(await queue.removeJobScheduler('hourly'), true);
  assert.equal(await queue.removeJobScheduler('hourly'), false);
  assert.equal(await queue.getJobSchedulersCount(), 1);
  await queue.obliterate({ force: true });
  await queue.close();
});

test('getWorkers and getQueueEvents find the connected clients by name', async () => {
  const queue = new Queue('clients', { connection: conn() });
  assert.deepEqual(await queue.getWorkers(), []);
  assert.deepEqual(await queue.getQueueEvents(), []);
  const w1 = new Worker('clients', async () => 1, { connection: conn() });
  const w2 = new Worker('clients', async () => 2, { connection: conn() });
  const events = new QueueEvents('clients', { connection: conn() });
  await Promise.all([w1.waitUntilReady(), w2.waitUntilReady(), events.waitUntilReady()]);
  // A worker names its blocking connection only once it starts polling.
  await untilSoon(async () => (await queue.getWorkersCount()) === 2);
  const workers = await queue.getWorkers();
  assert.equal(workers.length, 2);
  // The -resp3 variant of this file must really run over RESP3.
  const resp = process.env.KEEL_TEST_RESP3 === '1' ? '3' : '2';
  for (const w of workers) {
    assert.equal(w.name, 'clients');
    assert.match(w.addr, /^127\.0\.0\.1:\d+$/);
    assert.equal(w.resp, resp);
  }
  const listeners = await queue.getQueueEvents();
  assert.equal(listeners.length, 1);
  assert.equal(listeners[0].name, 'clients');
  await w1.close();
  await untilSoon(async () => (await queue.getWorkersCount()) === 1);
  await w2.close();
  await events.close();
  await untilSoon(async () => (await queue.getQueueEvents()).length === 0);
  await queue.close();
});

test('removeOnComplete by age drops jobs older than the age once a newer job finishes', async () => {
  const queue = new Queue('agecomplete', { connection: conn() });
  const worker = new Worker('agecomplete', async () => 'x', {
    connection: conn(),
    removeOnComplete: { age: 1, count: 2 },
  });
  const old = await queue.addBulk([1, 2, 3].map((n) => ({ name: 'old', data: { n } })));
  // The count bound applies at once: only the last two finished jobs are kept.
  await untilSoon(async () => (await queue.getJobCounts('completed')).completed === 2 && (await queue.count()) === 0);
  assert.equal(await queue.getJob(old[0].id), undefined);
  await sleep(1100);
  // Nothing ages out on its own: removal happens when the next job completes.
  assert.equal((await queue.getJobCounts('completed')).completed, 2);
  const fresh = await queue.add('fresh', {});
  await untilSoon(async () => (await queue.getJobState(fresh.id)) === 'completed');
  assert.deepEqual((await queue.getCompleted()).map((j) => j.id), [fresh.id]);
  for (const j of old) assert.equal(await queue.getJob(j.id), undefined);
  await worker.close();
  await queue.close();
});

test('removeOnFail by age, set on the job itself', async () => {
  const queue = new Queue('agefail', { connection: conn() });
  const worker = new Worker(
    'agefail',
    async () => {
      throw new Error('always');
    },
    { connection: conn() },
  );
  const opts = { removeOnFail: { age: 1 } };
  const first = await queue.add('first', {}, opts);
  await untilSoon(async () => (await queue.getJobState(first.id)) === 'failed');
  const second = await queue.add('second', {}, opts);
  await untilSoon(async () => (await queue.getJobState(second.id)) === 'failed');
  // Both are younger than a second, so both are kept.
  assert.deepEqual(names(await queue.getFailed()).sort(), ['first', 'second']);
  await sleep(1100);
  const third = await queue.add('third', {}, opts);
  await untilSoon(async () => (await queue.getJobState(third.id)) === 'failed');
  assert.deepEqual(names(await queue.getFailed()), ['third']);
  assert.equal(await queue.getJob(first.id), undefined);
  await worker.close();
  await queue.close();
});
