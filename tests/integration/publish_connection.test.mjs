// POST /publish read by the hub itself (PROTOCOL.md, "Publish over HTTP"): a connection that
// starts with a publish is served by the hub's own HTTP/1.1 reader, keep-alive and pipelined,
// until a request that is not one: then, with every earlier answer written, the connection goes
// to libwebsockets, which serves the rest. Either way each request is answered once, in order;
// and publishes read between the slices of a long broadcast are delivered once, in order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { serverFor, wsFor, publishOk, assertPosition, sleep, HANG_MS, SCHEDULING_ALLOWANCE_MS } from './lib/server.mjs';
import { metricsOf } from './lib/extra.mjs';
import { get, post, pipeline, rawConnection, assertHealthyAfter } from './lib/raw_http.mjs';

const publishes = async (port) => {
  const m = await metricsOf(port);
  return {
    hub: m.value('rthub_http_publishes_total', { parser: 'hub' }),
    lws: m.value('rthub_http_publishes_total', { parser: 'libwebsockets' }),
    handovers: m.value('rthub_http_handovers_total'),
  };
};

test('a keep-alive publisher is served by the hub, with the same answers', async (t) => {
  const srv = await serverFor(t);
  const ws = await wsFor(t, srv.wsUrl);
  await ws.request({ op: 'subscribe', channel: 'own.a', id: 1 });
  const conn = await rawConnection(srv.port);
  t.after(() => conn.destroy());
  for (let n = 1; n <= 3; n++) {
    await conn.write(post('/publish', { channel: 'own.a', data: { n } }));
    const answer = await conn.answer();
    assert.equal(answer.status, 200, answer.body);
    assertPosition(answer.json, 'own.a');
    assert.equal(answer.json.seq, n);
    assert.match(answer.headers['content-type'], /^application\/json/);
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.ok(!answer.closes, 'the connection is kept');
  }
  // A browser's publish carries CORS headers; an error is the usual {"error":...}.
  await conn.write(post('/publish', { channel: 'own.a', data: 4 }).replace('\r\n\r\n', '\r\nOrigin: http://app.test\r\n\r\n'));
  const cors = await conn.answer();
  assert.equal(cors.status, 200, cors.body);
  assert.equal(cors.headers['access-control-allow-origin'], 'http://app.test');
  assert.equal(cors.headers.vary, 'Origin');
  await conn.write(post('/publish', { channel: 'own.a' }));
  const bad = await conn.answer();
  assert.equal(bad.status, 400, bad.body);
  assert.equal(bad.json?.error?.code, 'bad_request');
  assert.match(bad.json.error.message, /missing data/);

  const got = await ws.take(4, { op: 'message', channel: 'own.a' });
  assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4]);
  await ws.none({ op: 'message' }, 300, 'each publish is delivered once');
  assert.deepEqual(await publishes(srv.port), { hub: 5, lws: 0, handovers: 0 });
});

test('a thousand publishes pipelined in one write are answered in order on one connection', async (t) => {
  const srv = await serverFor(t);
  const ws = await wsFor(t, srv.wsUrl);
  await ws.request({ op: 'subscribe', channel: 'own.many', id: 1 });
  const requests = [];
  for (let n = 1; n <= 1000; n++) requests.push(post('/publish', { channel: 'own.many', data: { n, pad: 'x'.repeat(100) } }));
  const { answers, connections } = await pipeline(srv.port, requests);
  assert.equal(connections.length, 1, 'no answer closed the connection');
  answers.forEach((a, i) => {
    assert.equal(a.status, 200, a.body);
    assert.equal(a.json.seq, i + 1);
  });
  const got = await ws.take(1000, { op: 'message', channel: 'own.many' });
  got.forEach((m, i) => assert.equal(m.data.n, i + 1));
  await ws.none({ op: 'message' }, 300, 'each publish is delivered once');
  assert.equal((await publishes(srv.port)).hub, 1000);
});

test('a request that is not a publish hands the connection to libwebsockets, answers in order', async (t) => {
  const srv = await serverFor(t);
  const { answers } = await pipeline(srv.port, [
    post('/publish', { channel: 'own.mix', data: 1 }),
    post('/publish', { channel: 'own.mix', data: 2 }),
    get('/healthz'),
    post('/publish', { channel: 'own.mix', data: 3 }),
    get('/metrics'),
  ]);
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
  assert.deepEqual([answers[0].json.seq, answers[1].json.seq, answers[3].json.seq], [1, 2, 3]);
  assert.equal(answers[2].body, 'ok\n');
  assert.match(answers[4].body, /rthub_http_publishes_total/);
  const counts = await publishes(srv.port);
  assert.equal(counts.hub + counts.lws, 3, JSON.stringify(counts));
  assert.ok(counts.hub >= 2 && counts.handovers >= 1, JSON.stringify(counts));
  await assertHealthyAfter(srv);
});

test('a publish the hub would refuse is answered by libwebsockets, the same way', async (t) => {
  const srv = await serverFor(t, ['--publish-key', 'sekrit', '--max-message-bytes', '1000']);
  const conn = await rawConnection(srv.port);
  t.after(() => conn.destroy());
  const withKey = (request, key) => request.replace('\r\n\r\n', `\r\nAuthorization: Bearer ${key}\r\n\r\n`);
  await conn.write(withKey(post('/publish', { channel: 'own.key', data: 1 }), 'sekrit'));
  assert.equal((await conn.answer()).status, 200);
  await conn.write(withKey(post('/publish', { channel: 'own.key', data: 2 }), 'wrong'));
  const refused = await conn.answer();
  assert.equal(refused.status, 401, refused.body);
  assert.equal(refused.json?.error?.code, 'unauthorized');
  assert.deepEqual(await publishes(srv.port), { hub: 1, lws: 1, handovers: 1 });

  const big = await rawConnection(srv.port);
  t.after(() => big.destroy());
  await big.write(withKey(post('/publish', { channel: 'own.key', data: 'x'.repeat(2000) }), 'sekrit'));
  const tooLarge = await big.answer();
  assert.equal(tooLarge.status, 413, tooLarge.body);
  assert.equal(tooLarge.json?.error?.code, 'too_large');
});

test('a head arriving byte by byte is read whole; one that turns out another request is not', async (t) => {
  const srv = await serverFor(t);
  const conn = await rawConnection(srv.port);
  t.after(() => conn.destroy());
  const request = post('/publish', { channel: 'own.slow', data: 'slow' });
  for (const byte of Buffer.from(request)) {
    await conn.write(Buffer.from([byte]));
    await sleep(2);  // separate segments, so that the server sees the head cut short many times
  }
  const answer = await conn.answer();
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.json.seq, 1);

  const other = await rawConnection(srv.port);
  t.after(() => other.destroy());
  await other.write('POST /pub');
  await sleep(50);
  await other.write('lication HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n');
  const notFound = await other.answer();
  assert.equal(notFound.status, 404, notFound.body);
  await assertHealthyAfter(srv);
});

test('Connection: close is honoured after the answer', async (t) => {
  const srv = await serverFor(t);
  const conn = await rawConnection(srv.port);
  t.after(() => conn.destroy());
  await conn.write(post('/publish', { channel: 'own.close', data: 1 }).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') +
    post('/publish', { channel: 'own.close', data: 2 }));
  const answer = await conn.answer();
  assert.equal(answer.status, 200, answer.body);
  assert.ok(answer.closes, 'the answer says Connection: close');
  const { trailing } = await conn.closed;
  assert.equal(trailing, '', 'nothing is answered after it');
  assert.equal((await publishOk(srv.port, { channel: 'own.close', data: 3 })).seq, 2, 'the request after it was not served');
});

// The hub closes a connection whose request stops coming for 10 s (kStalledMs in
// publish_connection.cpp, checked on the housekeeping tick), without spinning meanwhile.
test('a publish cut short is closed after the stall bound, without a busy loop', async (t) => {
  const srv = await serverFor(t);
  const headOnly = await rawConnection(srv.port);
  const halfBody = await rawConnection(srv.port);
  t.after(() => { headOnly.destroy(); halfBody.destroy(); });
  const started = Date.now();
  await headOnly.write('POST /publish HTTP/1.1\r\nContent-Le');
  await halfBody.write(post('/publish', { channel: 'own.cut', data: 1 }).slice(0, -5));
  await assertHealthyAfter(srv);
  const closes = await Promise.race([
    Promise.all([headOnly.closed, halfBody.closed]),
    sleep(10000 + HANG_MS).then(() => null),
  ]);
  assert.ok(closes, 'both connections were closed');
  assert.ok(Date.now() - started >= 10000 - SCHEDULING_ALLOWANCE_MS, `closed after ${Date.now() - started} ms, before the bound`);
  assert.equal((await publishOk(srv.port, { channel: 'own.cut', data: 2 })).seq, 1, 'the cut publish was not published');
});

// A broadcast to thousands of subscribers is written in slices of 2 ms (kFlushSliceNs in
// lws_server.cpp): publishes read between two slices join the queues of the subscribers not yet
// written. Whatever the slicing, every subscriber gets every message once, in order.
test('publishes read while a broadcast is written in slices reach every subscriber once, in order', async (t) => {
  const srv = await serverFor(t);
  const subscribers = 2000;
  const messages = 100;
  const sockets = [];
  t.after(() => sockets.forEach((s) => s.terminate()));
  let complete = 0;
  const problems = [];
  let allDone;
  const done = new Promise((resolve) => { allDone = resolve; });
  for (let i = 0; i < subscribers; i++) {
    const ws = new WebSocket(srv.wsUrl);
    sockets.push(ws);
    let next = 1;
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString('utf8'));
      if (frame.op !== 'message') return;
      if (frame.seq !== next && problems.length < 10) problems.push(`subscriber ${i}: seq ${frame.seq} where ${next} was due`);
      next = frame.seq + 1;
      if (frame.seq === messages && ++complete === subscribers) allDone();
    });
  }
  await Promise.all(sockets.map((ws) => new Promise((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', channel: 'own.slices', id: 1 })));
    ws.on('message', (data) => { if (JSON.parse(data.toString('utf8')).op === 'subscribed') resolve(); });
    ws.once('error', reject);
  })));
  const requests = [];
  for (let n = 1; n <= messages; n++) requests.push(post('/publish', { channel: 'own.slices', data: { n } }));
  const { answers } = await pipeline(srv.port, requests);
  assert.deepEqual(answers.map((a) => a.json?.seq), requests.map((_, i) => i + 1));
  const finished = await Promise.race([done.then(() => true), sleep(HANG_MS).then(() => false)]);
  assert.deepEqual(problems, []);
  assert.ok(finished, `${complete} of ${subscribers} subscribers got all ${messages} messages`);
  await sleep(300);
  assert.deepEqual(problems, [], 'nothing was delivered twice after the last message');
});
