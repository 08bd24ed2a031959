// ioredis, the client BullMQ uses, against keel-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { startKeel } from './harness.mjs';

let server;
let redis;

before(async () => {
  server = await startKeel();
  redis = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

after(async () => {
  redis.disconnect();
  server.stop();
});

test('ready check passes and basic commands work', async () => {
  assert.equal(await redis.ping(), 'PONG');
  assert.equal(await redis.set('job:1', JSON.stringify({ name: 'email' })), 'OK');
  assert.deepEqual(JSON.parse(await redis.get('job:1')), { name: 'email' });
  assert.equal(await redis.get('missing'), null);
});

test('pipelines keep order', async () => {
  const p = redis.pipeline();
  for (let i = 0; i < 200; i++) p.set(`k${i}`, String(i));
  for (let i = 0; i < 200; i++) p.get(`k${i}`);
  const res = await p.exec();
  assert.equal(res.length, 400);
  for (let i = 0; i < 200; i++) assert.deepEqual(res[200 + i], [null, String(i)]);
});

test('errors reach the client as Redis errors', async () => {
  await assert.rejects(redis.call('NOSUCHCOMMAND', 'a'), /unknown command 'NOSUCHCOMMAND'/);
  assert.equal(await redis.ping(), 'PONG');
});

test('binary values round-trip', async () => {
  const buf = Buffer.from([0, 255, 13, 10, 1, 2, 3]);
  await redis.set(Buffer.from('bin\x00key'), buf);
  assert.deepEqual(await redis.getBuffer(Buffer.from('bin\x00key')), buf);
});

test('subscribe, receive, unsubscribe', async () => {
  const sub = new Redis({ port: server.port, host: '127.0.0.1' });
  const messages = [];
  const got = new Promise((resolve) => {
    sub.on('message', (channel, message) => {
      messages.push([channel, message]);
      if (messages.length === 2) resolve();
    });
  });
  assert.equal(await sub.subscribe('jobs', 'events'), 2);
  assert.equal(await redis.publish('jobs', 'job-1'), 1);
  assert.equal(await redis.publish('events', 'done'), 1);
  await got;
  assert.deepEqual(messages, [['jobs', 'job-1'], ['events', 'done']]);
  await sub.unsubscribe('jobs', 'events');
  assert.equal(await redis.publish('jobs', 'nobody'), 0);
  sub.disconnect();
});
