// Hostile input (PROTOCOL.md "Hostile input", "Limits", "Publish over
// HTTP"): while an observer keeps receiving a steady stream of messages,
// throw at the hub everything a bad client can send. Every input gets its
// documented answer, the observer misses nothing, the hub keeps answering
// /healthz, its memory does not balloon and it exits 0 at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import {
  serverFor, wsFor, publish, publishOk, httpGet, httpRequest, sleep, assertConsecutive,
  HANG_MS,
} from './lib/server.mjs';
import { rssBytes, MiB, within, sseConnect } from './lib/extra.mjs';
import { rawWebSocket, OPCODES, encodeFrame } from './lib/rawws.mjs';

const LONG_NAME = 'c'.repeat(10000);

// An observer subscribed to `channel` while a publisher sends one message
// every 15 ms. alive() waits until the observer got something new;
// finish() stops the publisher and checks that every message arrived, in order.
async function observe(t, srv, channel) {
  const observer = await wsFor(t, srv.wsUrl, { label: `observer of ${channel}` });
  const sub = await observer.request({ op: 'subscribe', channel });
  assert.equal(sub.op, 'subscribed');
  let sent = 0;
  let stop = false;
  let failure = null;
  const loop = (async () => {
    while (!stop) {
      sent += 1;
      const res = await publish(srv.port, { channel, data: { i: sent } }).catch((error) => ({ status: 0, body: error.message }));
      if (res.status !== 200) {
        failure = new Error(`steady publish #${sent} failed: ${res.status} ${res.body}`);
        return;
      }
      await sleep(15);
    }
  })();
  t.after(() => { stop = true; return loop; });
  const count = () => observer.frames.filter((f) => f.op === 'message').length;
  return {
    observer,
    async alive(what) {
      if (failure) throw failure;
      const before = count();
      const deadline = Date.now() + 3000;
      while (count() <= before) {
        if (failure) throw failure;
        assert.ok(Date.now() < deadline, `the observer got nothing new for 3 s after ${what}`);
        await sleep(10);
      }
    },
    async finish() {
      stop = true;
      await loop;
      if (failure) throw failure;
      const messages = await observer.take(sent, { op: 'message', channel }, 20000);
      assertConsecutive(messages, { channel, epoch: messages[0].epoch, first: 1 });
      messages.forEach((m, k) => assert.equal(m.data.i, k + 1, `observer: message ${k + 1} in order`));
      await observer.none({ op: 'message' }, 200, 'observer: no duplicate');
      assert.ok(observer.isOpen, 'the observer was never disconnected');
      return sent;
    },
  };
}

// Writes `bytes` on a fresh TCP connection (then half-closes unless
// keepOpen) and collects whatever comes back until the server closes or
// `waitMs` passes.
function rawTcp(port, bytes, { waitMs = 5000, keepOpen = false } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    let settled = false;
    const done = (closed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closed, text: Buffer.concat(chunks).toString('latin1') });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => done(true));
    socket.on('close', () => done(true));
    socket.on('error', () => done(true));
    socket.on('connect', () => {
      socket.write(bytes, () => { if (!keepOpen) socket.end(); });
    });
  });
}

function assertNotServed(res, what) {
  assert.ok(res.closed, `${what}: the server should close the connection within 5 s`);
  assert.doesNotMatch(res.text, /^HTTP\/1\.[01] [123]\d\d/, `${what}: must not be served: ${res.text.slice(0, 200)}`);
}

async function expectError(ws, frame, code, { ref, message } = {}) {
  const marker = `m${crypto.randomBytes(4).toString('hex')}`;
  ws.send(frame);
  // A ping right after: the error comes before its pong (answers in order).
  ws.send({ op: 'ping', id: marker });
  const pong = await ws.next({ op: 'pong', ref: marker }, 5000);
  const errors = ws.frames.slice(0, ws.frames.indexOf(pong)).filter((f) => f.op === 'error' && !f.seen);
  const label = typeof frame === 'string' ? frame.slice(0, 80) : JSON.stringify(frame).slice(0, 80);
  assert.equal(errors.length, 1, `${label}: one error object before the pong, got ${JSON.stringify(errors).slice(0, 300)}`);
  const error = errors[0];
  error.seen = true;
  assert.equal(error.code, code, `${label}: ${JSON.stringify(error).slice(0, 300)}`);
  assert.equal(typeof error.message, 'string');
  if (ref === undefined) assert.ok(!('ref' in error), `${label}: no ref expected: ${JSON.stringify(error).slice(0, 300)}`);
  else assert.equal(error.ref, ref, `${label}: ref`);
  if (message) assert.match(error.message, message, `${label}: message`);
  assert.ok(ws.isOpen, `${label}: the connection stays open`);
}

async function expectClose(srv, send, code, what) {
  const ws = await wsFor(srv.t, srv.wsUrl, { label: what });
  send(ws.ws);
  const closed = await within(ws.closed, HANG_MS);
  assert.notEqual(closed, 'timeout', `${what}: the server should close the connection`);
  assert.equal(closed.code, code, `${what}: close ${JSON.stringify(closed)}`);
}

test('hostile input on a hub with default limits, while an observer receives a steady stream', async (t) => {
  const srv = await serverFor(t);
  srv.t = t;
  const steady = await observe(t, srv, 'hostile.steady');
  await sleep(300);
  const rssBefore = rssBytes(srv.proc.pid);

  await t.test('WebSocket: bad requests get error objects and the connection stays open', async () => {
    const ws = await wsFor(t, srv.wsUrl, { label: 'victim' });
    await expectError(ws, 'hello {', 'bad_request', { message: /invalid JSON/ });
    await expectError(ws, '', 'bad_request');
    await expectError(ws, '{"op":"ping","id":1} trailing', 'bad_request', { message: /invalid JSON/ });
    await expectError(ws, '{"op":"ping","id":1', 'bad_request', { message: /invalid JSON/ });
    for (const notObject of ['[1,2]', '42', '"text"', 'null', 'true']) {
      await expectError(ws, notObject, 'bad_request', { message: /object/ });
    }
    await expectError(ws, { id: 'a' }, 'bad_request', { ref: 'a', message: /missing op/ });
    await expectError(ws, { op: 'frobnicate', id: 'b' }, 'bad_request', { ref: 'b', message: /unknown op/ });
    await expectError(ws, { op: 5, id: 'c' }, 'bad_request', { ref: 'c', message: /op must be a string/ });
    await expectError(ws, { op: 'subscribe', id: 'd' }, 'bad_request', { ref: 'd', message: /missing channel/ });
    await expectError(ws, { op: 'subscribe', channel: 7, id: 'e' }, 'bad_request', { ref: 'e', message: /channel must be a string/ });
    await expectError(ws, { op: 'subscribe', channel: 'x', since: 'yes', id: 'f' }, 'bad_request', { ref: 'f', message: /since/ });
    await expectError(ws, { op: 'subscribe', channel: 'x', since: { epoch: 1, seq: 'a' }, id: 'g' }, 'bad_request', { ref: 'g', message: /since/ });
    await expectError(ws, { op: 'subscribe', channel: 'x', since: { epoch: 'e', seq: -1 }, id: 'g2' }, 'bad_request', { ref: 'g2', message: /since/ });
    await expectError(ws, { op: 'subscribe', channel: 'x', since: { epoch: 'e', seq: 1.5 }, id: 'g3' }, 'bad_request', { ref: 'g3', message: /since/ });
    await expectError(ws, { op: 'publish', channel: 'x', type: 5, data: 1, id: 'h' }, 'bad_request', { ref: 'h', message: /type must be a string/ });
    await expectError(ws, { op: 'publish', channel: 'x', id: 'i' }, 'bad_request', { ref: 'i', message: /missing data/ });
    await expectError(ws, { op: 'unsubscribe', channel: 'never', id: 'j' }, 'not_found', { ref: 'j' });
    await expectError(ws, { op: 'subscribe', channel: 'has space', id: 'k' }, 'bad_request', { ref: 'k', message: /bad channel name/ });
    await expectError(ws, { op: 'subscribe', channel: '', id: 'l' }, 'bad_request', { ref: 'l' });
    await expectError(ws, { op: 'subscribe', channel: 'é', id: 'm' }, 'bad_request', { ref: 'm', message: /bad channel name/ });
    await expectError(ws, { op: 'subscribe', channel: 'a,b', id: 'n' }, 'bad_request', { ref: 'n', message: /bad channel name/ });
    await expectError(ws, { op: 'subscribe', channel: 'x'.repeat(256), id: 'o' }, 'bad_request', { ref: 'o', message: /bad channel name/ });
    await expectError(ws, { op: 'subscribe', channel: LONG_NAME, id: 'p' }, 'bad_request', { ref: 'p', message: /bad channel name/ });
    await expectError(ws, { op: 'publish', channel: LONG_NAME, data: 1, id: 'q' }, 'bad_request', { ref: 'q', message: /bad channel name/ });
    await expectError(ws, { op: 'subscribe', channel: 'x', id: { o: 1 } }, 'bad_request', { message: /id must be/ });
    await expectError(ws, '{"op":"subscribe","channel":"bad\\u0000nul","id":"r"}', 'bad_request', { ref: 'r', message: /bad channel name/ });
    await expectError(ws, { op: 'publish', channel: 'x', data: 1, id: 's' }, 'forbidden', { ref: 's' });
    assert.equal((await ws.request({ op: 'subscribe', channel: 'ok.channel', id: 't' })).op, 'subscribed');
    await expectError(ws, { op: 'subscribe', channel: 'ok.channel', id: 'u' }, 'bad_request', { ref: 'u', message: /already subscribed/ });
    assert.ok(ws.isOpen);
    await steady.alive('bad WebSocket requests');
  });

  await t.test('WebSocket: a 200,000-[ frame closes 1009, exactly the limit is accepted, one byte more closes 1009', async () => {
    await expectClose(srv, (ws) => ws.send('['.repeat(200000)), 1009, '200,000 [');
    const exact = await wsFor(t, srv.wsUrl, { label: 'exactly 65536 bytes' });
    const head = '{"op":"ping","id":"';
    const frame = `${head}${'x'.repeat(65536 - head.length - 2)}"}`;
    assert.equal(Buffer.byteLength(frame), 65536);
    exact.send(frame);
    const pong = await exact.next({ op: 'pong' });
    assert.equal(pong.ref.length, 65536 - head.length - 2, 'a message of exactly --max-message-bytes is accepted');
    await expectClose(srv, (ws) => ws.send(`${frame} `), 1009, '65537 bytes');
    await steady.alive('oversized frames');
  });

  await t.test('WebSocket: a message over the limit in fragments closes 1009; a huge declared length closes too', async () => {
    // The hub reads (and drops) the rest of an oversized message, so that
    // the peer sees the 1009 rather than a reset: up to its end, or 1 MiB.
    const fragmented = await rawWebSocket(srv.port);
    t.after(() => fragmented.destroy());
    fragmented.send(OPCODES.text, Buffer.alloc(40000, 0x20), { fin: false });
    fragmented.send(OPCODES.continuation, Buffer.alloc(40000, 0x20), { fin: false });
    fragmented.send(OPCODES.continuation, Buffer.alloc(10, 0x20), { fin: true });
    const close = await fragmented.waitFrame((f) => f.opcode === OPCODES.close, 5000);
    assert.equal(close.payload.readUInt16BE(0), 1009, 'fragments count together: 80,010 bytes is over 65,536');
    assert.notEqual(await within(fragmented.closed, HANG_MS), 'timeout', 'and the TCP connection is closed (the test never answers the close)');

    const huge = await rawWebSocket(srv.port);
    t.after(() => huge.destroy());
    // A text frame header that announces 2^62 bytes, then 1.2 MB of them.
    huge.socket.write(Buffer.from([0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]));
    for (let i = 0; i < 12 && !huge.isClosed; i++) {
      huge.socket.write(Buffer.alloc(100000, 0x41));
      await sleep(20);
    }
    const hugeClose = await huge.waitFrame((f) => f.opcode === OPCODES.close, 5000);
    assert.equal(hugeClose.payload.readUInt16BE(0), 1009, 'a frame announcing 2^62 bytes is closed 1009');
    assert.notEqual(await within(huge.closed, HANG_MS), 'timeout', 'and its TCP connection closed');

    // RFC 6455 5.1 wants a server to close on an unmasked client frame; as
    // built the hub tolerates it. Either way nobody else is harmed.
    const unmasked = await rawWebSocket(srv.port);
    t.after(() => unmasked.destroy());
    unmasked.socket.write(encodeFrame(OPCODES.text, '{"op":"ping","id":1}', { mask: false }));
    await sleep(300);
    t.diagnostic(`unmasked client frame: ${unmasked.isClosed ? 'connection closed' : `answered ${unmasked.frames.map((f) => f.payload.toString()).join(' ')}`}`);
    unmasked.destroy();
    await steady.alive('fragmented, huge and unmasked frames');
  });

  await t.test('WebSocket: invalid UTF-8 closes 1007, a binary frame closes 1003', async () => {
    await expectClose(srv, (ws) => ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false }), 1007, 'invalid UTF-8');
    await expectClose(srv, (ws) => ws.send(Buffer.from('{"op":"ping","id":"\xed\xa0\x80"}', 'latin1'), { binary: false }), 1007, 'a UTF-8 encoded surrogate');
    await expectClose(srv, (ws) => ws.send(Buffer.from([0xc0, 0xaf]), { binary: false }), 1007, 'an overlong encoding');
    await expectClose(srv, (ws) => ws.send(Buffer.from('{"op":"ping"}'), { binary: true }), 1003, 'a binary frame');
    await steady.alive('invalid UTF-8 and binary frames');
  });

  await t.test('raw TCP: random bytes, garbage after an upgrade, truncated requests, a 100 KB header and a 100 KB URL', async () => {
    const random = await rawTcp(srv.port, crypto.randomBytes(65536));
    assertNotServed(random, '64 KiB of random bytes');

    const garbage = await rawWebSocket(srv.port);
    t.after(() => garbage.destroy());
    garbage.socket.write(crypto.randomBytes(4096));
    assert.notEqual(await within(garbage.closed, HANG_MS), 'timeout', 'random bytes after the upgrade close the connection');

    // A truncated request held open does not block anyone.
    const held = net.connect({ host: '127.0.0.1', port: srv.port });
    t.after(() => held.destroy());
    await new Promise((resolve) => held.on('connect', resolve));
    held.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: abc');
    const health = await within(httpGet(srv.port, '/healthz'), HANG_MS);
    assert.equal(health.status, 200, 'the hub answers others while a request is half sent');
    // Truncated, then the client half-closes: the server lets go.
    const truncated = await rawTcp(srv.port, 'POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"chan');
    assertNotServed(truncated, 'a body shorter than its Content-Length');
    const truncatedHead = await rawTcp(srv.port, 'GET /events?channel=a HTTP/1.1\r\nHost: x\r\nAcce');
    assertNotServed(truncatedHead, 'a request head cut short');

    const bigHeader = await rawTcp(srv.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100000)}\r\n\r\n`);
    assertNotServed(bigHeader, 'a 100 KB header');
    const bigUrl = await rawTcp(srv.port, `GET /healthz?${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assertNotServed(bigUrl, 'a 100 KB URL');
    const bigWsUrl = await rawTcp(srv.port, `GET /ws?${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    assertNotServed(bigWsUrl, 'a WebSocket upgrade with a 100 KB URL');
    const manyHeaders = await rawTcp(srv.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 500 }, () => 'Accept: x').join('\r\n')}\r\n\r\n`);
    assertNotServed(manyHeaders, '500 Accept headers');
    const manyParams = await rawTcp(srv.port, `GET /events?${Array.from({ length: 500 }, (_, i) => `channel=c${i}`).join('&')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assertNotServed(manyParams, 'an SSE request with 500 channel parameters');
    held.destroy();
    await steady.alive('raw TCP abuse');
  });

  await t.test('POST /publish: bad bodies get 400 with {"error":{"code","message"}}; an oversized one 413', async () => {
    const cases = [
      ['not JSON', 'not json', /invalid JSON/],
      ['an empty body', '', null],
      ['a string', '"text"', null],
      ['a number', '42', null],
      ['an empty array', '[]', /empty array/],
      ['an array of numbers', '[1]', /object/],
      ['no channel', '{"data":1}', /missing channel/],
      ['no data', '{"channel":"x"}', /missing data/],
      ['a numeric type', '{"channel":"x","data":1,"type":5}', /type must be a string/],
      ['a numeric channel', '{"channel":5,"data":1}', /channel/],
      ['a bad channel name', '{"channel":"bad name","data":1}', /bad channel name/],
      ['an empty channel name', '{"channel":"","data":1}', /channel/],
      ['a 10,000-byte channel name', JSON.stringify({ channel: LONG_NAME, data: 1 }), /bad channel name/],
      ['something after the object', '{"channel":"x","data":1} {}', /invalid JSON/],
      ['a cut object', '{"channel":"x","data":', /invalid JSON/],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x63, 0x68, 0x61, 0x6e, 0x6e, 0x65, 0x6c, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), null],
      ['10,000 [', '['.repeat(10000), null],
    ];
    for (const [what, body, message] of cases) {
      const res = await publish(srv.port, body);
      assert.equal(res.status, 400, `${what}: ${res.status} ${res.body.slice(0, 200)}`);
      assert.match(res.headers['content-type'] ?? '', /application\/json/, `${what}: content-type`);
      assert.equal(res.json?.error?.code, 'bad_request', `${what}: ${res.body.slice(0, 200)}`);
      assert.equal(typeof res.json.error.message, 'string');
      if (message) assert.match(res.json.error.message, message, `${what}: message`);
    }
    // One bad item refuses the whole array: nothing of it is published.
    const atomic = await publish(srv.port, [{ channel: 'hostile.atomic', data: 1 }, { channel: 'hostile.atomic' }]);
    assert.equal(atomic.status, 400);
    assert.match(atomic.json.error.message, /^item 1:/, 'the message names the bad item');
    const probe = await wsFor(t, srv.wsUrl, { label: 'atomic probe' });
    assert.equal((await probe.request({ op: 'subscribe', channel: 'hostile.atomic' })).seq, 0, 'nothing of a refused array was published');

    const big = await publish(srv.port, '['.repeat(200000));
    assert.equal(big.status, 413, `200,000 [ over the 64 KiB limit: ${big.status} ${big.body.slice(0, 200)}`);
    assert.equal(big.json?.error?.code, 'too_large');
    const sse = await httpRequest(srv.port, { path: `/events?channel=${LONG_NAME}` });
    assert.equal(sse.status, 400, `SSE with a 10,000-byte channel name: ${sse.status}`);
    assert.equal(sse.json?.error?.code, 'bad_request');
    await steady.alive('bad publish bodies');
  });

  await t.test('afterwards the hub answers /healthz, still works, its memory did not balloon', async () => {
    assert.equal((await httpGet(srv.port, '/healthz')).status, 200);
    const es = await sseConnect(`${srv.url}/events?channel=hostile.after`, { label: 'sse after' });
    t.after(() => es.close());
    await es.next({ op: 'subscribed' });
    await publishOk(srv.port, { channel: 'hostile.after', data: 'fine' });
    assert.equal((await es.next({ op: 'message' })).data, 'fine');
    const sent = await steady.finish();
    const grown = rssBytes(srv.proc.pid) - rssBefore;
    t.diagnostic(`observer received all ${sent} messages; RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
    assert.ok(grown < 64 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
  });
});

test('deep nesting under a raised --max-message-bytes 1000000: bad_request, the connection stays open, no crash', async (t) => {
  const srv = await serverFor(t, ['--max-message-bytes', '1000000']);
  const steady = await observe(t, srv, 'hostile.deep');
  await sleep(300);
  const rssBefore = rssBytes(srv.proc.pid);
  const ws = await wsFor(t, srv.wsUrl, { label: 'deep' });

  await expectError(ws, '['.repeat(60000), 'bad_request');
  await steady.alive('60,000 [');
  await expectError(ws, '['.repeat(200000), 'bad_request');
  await expectError(ws, '{'.repeat(200000), 'bad_request');
  await expectError(ws, '['.repeat(999000), 'bad_request');
  await expectError(ws, `{"op":"subscribe","channel":"x","id":${'['.repeat(60000)}${']'.repeat(60000)}}`, 'bad_request', { message: /id must be/ });
  await expectError(ws, `{"op":"subscribe","channel":"x","since":${'{"a":'.repeat(50000)}1${'}'.repeat(50000)},"id":"deep-since"}`, 'bad_request', { ref: 'deep-since' });
  await expectError(ws, `{"op":"publish","channel":"x","data":${'['.repeat(100000)}${']'.repeat(100000)},"id":"deep-data"}`, 'forbidden', { ref: 'deep-data' });
  assert.ok(ws.isOpen, 'the connection stays open through all of it');
  await steady.alive('deeply nested frames');

  const body = await publish(srv.port, '['.repeat(200000));
  assert.equal(body.status, 400, `a publish body of 200,000 [: ${body.status} ${body.body.slice(0, 200)}`);
  assert.equal(body.json?.error?.code, 'bad_request');
  // Deep but valid data is published (and passed through untouched).
  const deep = `${'['.repeat(100000)}${']'.repeat(100000)}`;
  const ok = await publish(srv.port, `{"channel":"hostile.deepdata","data":${deep}}`);
  assert.equal(ok.status, 200, `deep valid data: ${ok.status} ${ok.body.slice(0, 200)}`);
  const raw = await rawWebSocket(srv.port);
  t.after(() => raw.destroy());
  raw.sendText(JSON.stringify({ op: 'subscribe', channel: 'hostile.deepdata', since: { epoch: ok.json.epoch, seq: 0 }, id: 1 }));
  const replayed = await raw.waitFrame((f) => f.opcode === OPCODES.text && f.payload.includes('"op":"message"'), 5000);
  assert.ok(replayed.payload.toString('utf8').includes(`"data":${deep}`), 'the deep data comes back byte for byte');

  assert.equal((await httpGet(srv.port, '/healthz')).status, 200);
  await steady.finish();
  const grown = rssBytes(srv.proc.pid) - rssBefore;
  t.diagnostic(`RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
  assert.ok(grown < 64 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
});
