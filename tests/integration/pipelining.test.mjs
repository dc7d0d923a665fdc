// HTTP/1.1 pipelining: several requests written in one go on one connection. Each gets its
// answer, in order. Where the server cannot go on with the rest of a pipeline it answers
// `Connection: close` and closes after that answer, and the client sends the unanswered requests
// again on a new connection (RFC 9112 §9.3.2), as this test's client does. The server must never
// lose or repeat a request, spin, or stop answering.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { serverFor, wsFor, publishOk, assertPosition, sleep, waitHealthy, HANG_MS, SCHEDULING_ALLOWANCE_MS } from './lib/server.mjs';
import { redisFor, REDIS_SERVER } from './lib/redis.mjs';
import {
  get, options, post, parseResponses, oneConnection, pipeline, assertError, cpuTicks, assertHealthyAfter,
} from './lib/raw_http.mjs';

test('two pipelined POST /publish are both answered, in order, and published once each', async (t) => {
  const srv = await serverFor(t);
  const ws = await wsFor(t, srv.wsUrl);
  await ws.request({ op: 'subscribe', channel: 'pipe.a', id: 1 });
  await ws.request({ op: 'subscribe', channel: 'pipe.b', id: 2 });

  const { answers } = await pipeline(srv.port, [
    post('/publish', { channel: 'pipe.a', type: 't.a', data: { n: 1 } }),
    post('/publish', { channel: 'pipe.b', type: 't.b', data: { n: 2 } }),
  ]);
  assert.equal(answers[0].status, 200, answers[0].body);
  assert.equal(answers[1].status, 200, answers[1].body);
  assertPosition(answers[0].json, 'pipe.a');
  assertPosition(answers[1].json, 'pipe.b');
  assert.equal(answers[0].json.seq, 1);
  assert.equal(answers[1].json.seq, 1);

  const a = await ws.next({ op: 'message', channel: 'pipe.a' });
  const b = await ws.next({ op: 'message', channel: 'pipe.b' });
  assert.deepEqual([a.type, a.data, b.type, b.data], ['t.a', { n: 1 }, 't.b', { n: 2 }]);
  await ws.none({ op: 'message' }, 300, 'each pipelined publish is delivered once, and nothing else is');
  assert.equal((await publishOk(srv.port, { channel: 'pipe.a', data: 3 })).seq, 2);
  assert.equal((await publishOk(srv.port, { channel: 'pipe.b', data: 4 })).seq, 2);
  await assertHealthyAfter(srv);
});

test('two pipelined GET /healthz are both answered', async (t) => {
  const srv = await serverFor(t);
  const { answers } = await pipeline(srv.port, [get('/healthz'), get('/healthz')]);
  for (const answer of answers) {
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'ok\n');
  }
  await assertHealthyAfter(srv);
});

test('a mixed pipeline is answered in request order', async (t) => {
  const srv = await serverFor(t);
  const { answers } = await pipeline(srv.port, [
    get('/healthz'),
    post('/publish', { channel: 'pipe.mix', data: { n: 1 } }),
    get('/nowhere'),
    options('/publish'),
    get('/publish'),
    post('/publish', [{ channel: 'pipe.mix', data: { n: 2 } }, { channel: 'pipe.other', data: { n: 3 } }]),
    get('/metrics'),
    post('/publish', { channel: 'pipe.mix', data: { n: 4 } }),
  ]);
  assert.equal(answers.length, 8);
  assert.equal(answers[0].status, 200);
  assert.equal(answers[0].body, 'ok\n');
  assert.equal(answers[1].status, 200, answers[1].body);
  assert.deepEqual([answers[1].json.channel, answers[1].json.seq], ['pipe.mix', 1]);
  assertError(answers[2], 404, 'not_found', 'GET /nowhere');
  assert.equal(answers[3].status, 204, 'OPTIONS /publish');
  assertError(answers[4], 405, 'bad_request', 'GET /publish');
  assert.equal(answers[5].status, 200, answers[5].body);
  assert.deepEqual(answers[5].json.map((p) => [p.channel, p.seq]), [['pipe.mix', 2], ['pipe.other', 1]]);
  assert.equal(answers[6].status, 200);
  assert.match(answers[6].body, /^# (HELP|TYPE) rthub_/m, 'GET /metrics');
  assert.equal(answers[7].status, 200, answers[7].body);
  assert.deepEqual([answers[7].json.channel, answers[7].json.seq], ['pipe.mix', 3]);
  await assertHealthyAfter(srv);
});

test('requests pipelined after a refused body are still answered', async (t) => {
  const srv = await serverFor(t);
  const { answers } = await pipeline(srv.port, [
    post('/publish', 'this is not json'),
    post('/publish', { channel: 'pipe.after', data: { n: 1 } }),
    post('/publish', ''),
    get('/healthz'),
    post('/publish', { channel: 'pipe.after', data: { n: 2 } }),
  ]);
  assertError(answers[0], 400, 'bad_request', 'a body that is not JSON');
  assert.equal(answers[1].status, 200, answers[1].body);
  assert.deepEqual([answers[1].json.channel, answers[1].json.seq], ['pipe.after', 1]);
  assertError(answers[2], 400, 'bad_request', 'an empty body (Content-Length: 0)');
  assert.equal(answers[3].status, 200);
  assert.equal(answers[3].body, 'ok\n');
  assert.equal(answers[4].status, 200, answers[4].body);
  assert.deepEqual([answers[4].json.channel, answers[4].json.seq], ['pipe.after', 2]);
  assert.equal((await publishOk(srv.port, { channel: 'pipe.after', data: 3 })).seq, 3, 'nothing published twice');
  await assertHealthyAfter(srv);
});

test('a long pipeline, larger than one read of the server, is answered whole', async (t) => {
  const srv = await serverFor(t);
  const requests = [];
  for (let i = 0; i < 60; i++) {
    requests.push(get('/healthz'));
    requests.push(post('/publish', { channel: 'pipe.long', data: { i, pad: 'x'.repeat(40) } }));
  }
  const { answers } = await pipeline(srv.port, requests);
  assert.equal(answers.length, requests.length);
  let seq = 0;
  answers.forEach((answer, i) => {
    assert.equal(answer.status, 200, `answer ${i}: ${answer.body}`);
    if (i % 2 === 0) assert.equal(answer.body, 'ok\n', `answer ${i}`);
    else assert.deepEqual([answer.json.channel, answer.json.seq], ['pipe.long', ++seq], `answer ${i}`);
  });
  await assertHealthyAfter(srv);
});

test('refused publishes (401, 413) in a pipeline do not take the requests behind them', async (t) => {
  const key = 'pipe-key';
  const srv = await serverFor(t, ['--publish-key', key, '--max-message-bytes', '256']);
  const authed = (body) => post('/publish', body).replace('\r\n\r\n', `\r\nAuthorization: Bearer ${key}\r\n\r\n`);
  const { answers } = await pipeline(srv.port, [
    post('/publish', { channel: 'pipe.key', data: 1 }),
    authed({ channel: 'pipe.key', data: 2 }),
    authed({ channel: 'pipe.key', data: 'x'.repeat(600) }),
    get('/healthz'),
    authed({ channel: 'pipe.key', data: 3 }),
  ]);
  assertError(answers[0], 401, 'unauthorized', 'no Authorization');
  assert.deepEqual([answers[1].status, answers[1].json?.seq], [200, 1], answers[1].body);
  assertError(answers[2], 413, 'too_large', 'a body over --max-message-bytes');
  assert.equal(answers[3].body, 'ok\n');
  assert.deepEqual([answers[4].status, answers[4].json?.seq], [200, 2], answers[4].body);
  await assertHealthyAfter(srv);
});

test('pipelined publishes wait for a stalled Redis without a busy loop', async (t) => {
  // tests/run.sh installs redis-server: its absence is a failure, never a skip.
  assert.equal(spawnSync(REDIS_SERVER, ['--version']).status, 0,
    `${REDIS_SERVER} is not installed (Debian package: redis-server)`);
  const redis = await redisFor(t);
  const srv = await serverFor(t, ['--redis', redis.url]);
  // Publishes are taken once /healthz says the Redis links answer (before that: a definite 503).
  await waitHealthy(srv.port);
  assert.equal((await publishOk(srv.port, { channel: 'pipe.redis', data: 0 })).seq, 1);
  // SIGSTOP: the broker's answers wait until SIGCONT, as with a slow Redis.
  process.kill(redis.pid, 'SIGSTOP');
  t.after(() => { try { process.kill(redis.pid, 'SIGCONT'); } catch { /* gone */ } });
  const pending = pipeline(srv.port, [
    post('/publish', { channel: 'pipe.redis', data: 1 }),
    post('/publish', { channel: 'pipe.redis', data: 2 }),
  ]);
  await sleep(300);
  const before = cpuTicks(srv.proc.pid);
  await sleep(1000);
  const after = cpuTicks(srv.proc.pid);
  process.kill(redis.pid, 'SIGCONT');
  if (before !== undefined && after !== undefined) {
    assert.ok(after - before < 30, `waiting on the broker, the server used ${after - before} CPU ticks in 1 s: it spins`);
  }
  const { answers } = await pending;
  assert.deepEqual(answers.map((a) => [a.status, a.json?.seq]), [[200, 2], [200, 3]], JSON.stringify(answers.map((a) => a.body)));
  await assertHealthyAfter(srv);
});

test('requests sent one after the other keep sharing one connection', async (t) => {
  const srv = await serverFor(t);
  const socket = net.connect(srv.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let buffer = Buffer.alloc(0);
  const waiting = [];
  let closed = false;
  socket.on('data', (chunk) => {
    let parsed;
    [parsed, buffer] = parseResponses(Buffer.concat([buffer, chunk]));
    for (const r of parsed) waiting.shift()?.(r);
  });
  socket.on('close', () => { closed = true; });
  const ask = (request) => new Promise((resolve) => { waiting.push(resolve); socket.write(request); });
  const steps = [
    get('/healthz'),
    post('/publish', { channel: 'pipe.seq', data: 1 }),
    post('/publish', 'not json'),
    get('/healthz'),
    post('/publish', { channel: 'pipe.seq', data: 2 }),
  ];
  const answers = [];
  for (const request of steps) {
    const answer = await Promise.race([ask(request), sleep(HANG_MS).then(() => null)]);  // an event: a hang detector
    assert.ok(answer, `no answer to ${JSON.stringify(request.split('\r\n')[0])} on the kept connection (closed: ${closed})`);
    assert.ok(!answer.closes, `a lone request's answer keeps the connection: ${JSON.stringify(answer.headers)}`);
    answers.push(answer);
  }
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 400, 200, 200]);
  assert.equal(answers[4].json.seq, 2);
  assert.equal(closed, false);
});

test('after pipelined requests the server stops promptly on SIGTERM', async (t) => {
  const srv = await serverFor(t);
  await pipeline(srv.port, [post('/publish', { channel: 'pipe.stop', data: 1 }), post('/publish', { channel: 'pipe.stop', data: 2 })]);
  await pipeline(srv.port, [get('/healthz'), get('/healthz'), get('/healthz')]);
  // A pipeline still on the wire when the signal comes.
  const late = oneConnection(srv.port, [post('/publish', { channel: 'pipe.stop', data: 3 }), get('/healthz')]).catch(() => null);
  const started = Date.now();
  const result = await srv.stop();
  assert.equal(result.code, 0);
  // The hub gives closing connections kStopGraceMs (2 s, lib/transport/lws_server.cpp) at stop.
  assert.ok(Date.now() - started < 2000 + SCHEDULING_ALLOWANCE_MS, `stopping took ${Date.now() - started} ms`);
  await late;
});
