// ioredis connecting while keel-server loads its dataset at start-up: its ready check sends
// INFO, sees loading:1 and waits (loading_eta_seconds), then the queued commands run on the
// loaded data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { startKeel, keelBinary, freePort, until } from './harness.mjs';

const KEYS = 3000;

function listening(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

test('ioredis waits for the load to end, then reads the data', { skip: process.env.KEEL_TEST_TARGET === 'redis' }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-node-loading-'));
  // A first server writes an AOF of KEYS keys into dir.
  const first = await startKeel(['--dir', dir, '--appendonly', 'yes']);
  const writer = new Redis({ port: first.port, host: '127.0.0.1' });
  const p = writer.pipeline();
  for (let i = 0; i < KEYS; i++) p.set(`key:${i}`, `value${i}`);
  await p.exec();
  writer.disconnect();
  first.stop();

  // The second replays it slowly (0.5 ms per command: about 1.5 s).
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--key-load-delay', '500'];
  const proc = spawn(keelBinary(), args, { stdio: 'ignore' });
  try {
    await until(() => listening(port));
    const started = Date.now();
    const redis = new Redis({ port, host: '127.0.0.1', maxLoadingRetryTime: 200 });
    // Queued by ioredis until its ready check sees loading:0.
    assert.equal(await redis.get('key:0'), 'value0');
    assert.equal(await redis.dbsize(), KEYS);
    assert.equal(await redis.get(`key:${KEYS - 1}`), `value${KEYS - 1}`);
    const waited = Date.now() - started;
    assert.ok(waited > 300, `the load took only ${waited} ms`);
    // The ready check asked more than once: it saw the load in progress.
    const stats = await redis.info('commandstats');
    const calls = Number(/cmdstat_info:calls=(\d+)/.exec(stats)[1]);
    assert.ok(calls >= 3, stats);
    redis.disconnect();
  } finally {
    proc.kill('SIGKILL');
  }
});
