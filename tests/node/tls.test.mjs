// ioredis over TLS (tls-port) against keel-server, with certificates the test makes with openssl:
// a CA, a server certificate for 127.0.0.1 and a client certificate, both signed by the CA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { startKeel, freePort } from './harness.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'keel-tls-'));
const file = (name) => path.join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

function makeCerts() {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=test-ca');
  const leaf = (name, ext) => {
    writeFileSync(file(`${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-days', '2', '-CAcreateserial', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-out', `${name}.crt`, '-extfile', `${name}.ext`);
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  leaf('client', 'extendedKeyUsage=clientAuth');
}

let server;
let tlsPort;
const clients = [];

function connect(tls) {
  const c = new Redis({ host: '127.0.0.1', port: tlsPort, tls, lazyConnect: true, maxRetriesPerRequest: 0,
    retryStrategy: () => null });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

before(async () => {
  makeCerts();
  tlsPort = await freePort();
  server = await startKeel(['--tls-port', String(tlsPort), '--tls-cert-file', file('server.crt'),
    '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', 'optional']);
});

after(() => {
  for (const c of clients) c.disconnect();
  server.stop();
});

test('ioredis with tls: { ca } runs commands, pipelines and big values', async () => {
  const redis = connect({ ca: readFileSync(file('ca.crt')) });
  await redis.connect();
  assert.equal(await redis.ping(), 'PONG');
  assert.equal(await redis.set('job:1', 'payload'), 'OK');
  assert.equal(await redis.get('job:1'), 'payload');
  const big = 'x'.repeat(2 * 1024 * 1024);
  await redis.set('big', big);
  assert.equal(await redis.get('big'), big);
  const p = redis.pipeline();
  for (let i = 0; i < 500; i++) p.incr('counter');
  const res = await p.exec();
  assert.deepEqual(res[499], [null, 500]);
  await assert.rejects(redis.call('NOSUCHCOMMAND'), /unknown command/);
});

test('a client certificate signed by the CA is accepted', async () => {
  const redis = connect({ ca: readFileSync(file('ca.crt')), cert: readFileSync(file('client.crt')),
    key: readFileSync(file('client.key')) });
  await redis.connect();
  assert.equal(await redis.echo('hello'), 'hello');
});

test('a client that does not trust the server certificate does not connect', async () => {
  const redis = connect({});
  const failure = new Promise((resolve) => redis.once('error', resolve));
  await assert.rejects(redis.connect());
  assert.match((await failure).message, /self-signed|unable to (get|verify)/i);
});
