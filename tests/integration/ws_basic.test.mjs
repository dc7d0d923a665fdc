// WebSocket transport: subscribe, receive, publish, ping, unsubscribe, and
// what the server answers to bad input (PROTOCOL.md, "Client -> server").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, wsFor, publishOk, assertConsecutive, assertPosition, CLOCK_MS,
} from './lib/server.mjs';

// Payloads a publisher may send; each must come back deep-equal.
const SAMPLES = [
  { nested: { deeper: { list: [1, 'two', { three: 3 }], empty: {}, nothing: null, yes: true, no: false } } },
  'a plain string as data',
  'quotes " and \' and a backslash \\ and a newline \n and a tab \t and a slash /',
  'unicode: héllo wörld, 日本語, Ελληνικά, emoji 🎉👍🏽, line separators \u2028\u2029',
  { numbers: { big: 1e300, negHalf: -0.5, tenth: 0.1, pi: 3.141592653589793, maxSafe: 9007199254740991, negative: -42, zero: 0, small: 1.5e-10 } },
  42,
  [1, [2, [3, [4]]], { k: 'v' }, null, true],
  {},
  '',
  { 'ключ': 'значение', 'a.b': 1, '': 'empty key', 'with "quotes"': 2, 'new\nline': 3 },
  { long: 'x'.repeat(2000) },
  { escapes: '\u0001\u001f control characters', nul: 'before\u0000after' },
];

function payload(i) {
  const sample = SAMPLES[i % SAMPLES.length];
  const data = i % 3 === 1 ? sample : { i, sample };
  // Every third message leaves `type` out: it must default to "message".
  return i % 3 === 0 ? { data } : { type: `geometry.updated.${i % 4}`, data };
}

test('subscribe reports the latest seq, then 50 published messages arrive in order and untouched', async (t) => {
  const srv = await serverFor(t);
  const channel = 'basic.feed';

  const early = await publishOk(srv.port, [1, 2, 3].map((n) => ({ channel, data: { early: n } })));
  assert.ok(Array.isArray(early), `an array body should be answered with an array, got ${JSON.stringify(early)}`);
  assert.equal(early.length, 3);
  early.forEach((position, i) => {
    assertPosition(position, channel);
    assert.equal(position.seq, i + 1);
    assert.equal(position.epoch, early[0].epoch);
  });
  const epoch = early[0].epoch;

  const ws = await wsFor(t, srv.wsUrl);
  const subscribed = await ws.request({ op: 'subscribe', channel, id: 1 });
  assert.equal(subscribed.op, 'subscribed', JSON.stringify(subscribed));
  assert.equal(subscribed.channel, channel);
  assert.equal(subscribed.epoch, epoch);
  assert.equal(subscribed.seq, 3, 'subscribed.seq is the latest seq at subscribe time');
  assert.equal(subscribed.ref, 1);
  assert.ok(!('recovered' in subscribed), 'recovered is absent when no position was asked for');

  // 50 messages: single objects and arrays (one of them an array of one).
  const batches = [1, 4, 1, 1, 10, 1, 20, 1, 'array-of-1', 10];
  const sent = [];
  const positions = [];
  const startedAt = Date.now();
  for (const batch of batches) {
    const asArray = batch !== 1;
    const size = batch === 'array-of-1' ? 1 : batch;
    const items = [];
    for (let k = 0; k < size; k++) items.push({ channel, ...payload(sent.length + k) });
    sent.push(...items);
    const answer = await publishOk(srv.port, asArray ? items : items[0]);
    if (asArray) {
      assert.ok(Array.isArray(answer) && answer.length === size, `expected ${size} positions, got ${JSON.stringify(answer)}`);
      positions.push(...answer);
    } else {
      assert.ok(!Array.isArray(answer), `an object body should be answered with one object, got ${JSON.stringify(answer)}`);
      positions.push(answer);
    }
  }
  assert.equal(sent.length, 50);
  positions.forEach((position, i) => {
    assertPosition(position, channel);
    assert.equal(position.epoch, epoch);
    assert.equal(position.seq, 4 + i, 'HTTP publish answers carry consecutive seqs');
  });

  const messages = await ws.take(50, { op: 'message', channel }, 10000);
  const finishedAt = Date.now();
  assertConsecutive(messages, { channel, epoch, first: 4 });
  messages.forEach((message, i) => {
    assert.deepEqual(message.data, sent[i].data, `data of message ${i} (seq ${message.seq}) must be passed through untouched`);
    assert.equal(message.type, sent[i].type ?? 'message', `type of message ${i}`);
    assert.equal(typeof message.ts, 'number', `ts should be a number in ${JSON.stringify(message).slice(0, 200)}`);
    assert.ok(Number.isInteger(message.ts), 'ts is in whole milliseconds');
    // ts is the hub's wall clock (the test's too) when it took the publish: after startedAt and
    // before the message arrived, to the millisecond.
    assert.ok(message.ts >= startedAt - CLOCK_MS && message.ts <= finishedAt + CLOCK_MS,
      `ts ${message.ts} should be the publish time in ms (${startedAt}..${finishedAt})`);
  });
  await ws.none({ op: 'message' }, 200);
  assert.deepEqual(ws.badFrames, [], 'every frame is one JSON object');
});

test('a fresh channel reports seq 0; a WebSocket publish is answered with published and fans out', async (t) => {
  const srv = await serverFor(t, ['--allow-client-publish']);
  const channel = 'incidents';
  const publisher = await wsFor(t, srv.wsUrl, { label: 'publisher' });
  const watcher = await wsFor(t, srv.wsUrl, { label: 'watcher' });

  const sub = await publisher.request({ op: 'subscribe', channel, id: 11 });
  assert.equal(sub.op, 'subscribed');
  assert.equal(sub.seq, 0, 'no message yet: the latest seq is 0');
  assert.equal(sub.ref, 11);
  const sub2 = await watcher.request({ op: 'subscribe', channel, id: 12 });
  assert.equal(sub2.epoch, sub.epoch);

  const data = { id: 'inc-1', where: { lat: 52.52, lon: 13.405 }, tags: ['a', 'b'] };
  const published = await publisher.request({ op: 'publish', channel, type: 'incident.created', data, id: 4 });
  assert.equal(published.op, 'published', JSON.stringify(published));
  assert.equal(published.channel, channel);
  assert.equal(published.epoch, sub.epoch);
  assert.equal(published.seq, 1);
  assert.equal(published.ref, 4);

  for (const client of [publisher, watcher]) {
    const message = await client.next({ op: 'message', channel });
    assert.equal(message.seq, 1);
    assert.equal(message.epoch, sub.epoch);
    assert.equal(message.type, 'incident.created');
    assert.deepEqual(message.data, data);
    assert.equal(typeof message.ts, 'number');
  }

  // No type: "message". A channel the publisher is not subscribed to.
  const other = await publisher.request({ op: 'publish', channel: 'elsewhere', data: [1, 2], id: 5 });
  assert.equal(other.op, 'published');
  assert.equal(other.channel, 'elsewhere');
  assert.equal(other.seq, 1);
  const untyped = await publisher.request({ op: 'publish', channel, data: 'no type', id: 6 });
  assert.equal(untyped.seq, 2);
  const message = await watcher.next({ op: 'message', channel, seq: 2 });
  assert.equal(message.type, 'message');
  assert.equal(message.data, 'no type');
  await publisher.none({ channel: 'elsewhere', op: 'message' }, 200, 'a client gets no message of a channel it did not subscribe to');
});

test('without --allow-client-publish an anonymous WebSocket publish is forbidden, and the connection stays open', async (t) => {
  const srv = await serverFor(t);
  const channel = 'guarded';
  const ws = await wsFor(t, srv.wsUrl);
  await ws.request({ op: 'subscribe', channel, id: 1 });
  const refused = await ws.request({ op: 'publish', channel, data: { n: 1 }, id: 2 });
  assert.equal(refused.op, 'error', JSON.stringify(refused));
  assert.equal(refused.code, 'forbidden');
  assert.equal(refused.ref, 2);
  await ws.none({ op: 'message' }, 200, 'a forbidden publish publishes nothing');
  const next = await publishOk(srv.port, { channel, data: { n: 2 } });
  assert.equal(next.seq, 1, 'the forbidden publish took no seq');
  const message = await ws.next({ op: 'message', channel });
  assert.deepEqual(message.data, { n: 2 });
});

test('ping is answered with pong and the ref', async (t) => {
  const srv = await serverFor(t);
  const ws = await wsFor(t, srv.wsUrl);
  const pong = await ws.request({ op: 'ping', id: 5 });
  assert.equal(pong.op, 'pong');
  assert.equal(pong.ref, 5);
  const pong2 = await ws.request({ op: 'ping', id: 6 });
  assert.equal(pong2.op, 'pong');
  assert.equal(pong2.ref, 6);
});

test('unsubscribe stops delivery; unsubscribing again is not_found', async (t) => {
  const srv = await serverFor(t);
  const channel = 'geometry';
  const ws = await wsFor(t, srv.wsUrl, { label: 'leaver' });
  const stayer = await wsFor(t, srv.wsUrl, { label: 'stayer' });
  await ws.request({ op: 'subscribe', channel, id: 1 });
  await stayer.request({ op: 'subscribe', channel, id: 1 });

  await publishOk(srv.port, { channel, data: { n: 1 } });
  await ws.next({ op: 'message', channel, seq: 1 });
  await stayer.next({ op: 'message', channel, seq: 1 });

  const unsubscribed = await ws.request({ op: 'unsubscribe', channel, id: 3 });
  assert.equal(unsubscribed.op, 'unsubscribed', JSON.stringify(unsubscribed));
  assert.equal(unsubscribed.channel, channel);
  assert.equal(unsubscribed.ref, 3);

  await publishOk(srv.port, { channel, data: { n: 2 } });
  await stayer.next({ op: 'message', channel, seq: 2 });
  await ws.none({ op: 'message', channel }, 300, 'no message after unsubscribed');

  const again = await ws.request({ op: 'unsubscribe', channel, id: 4 });
  assert.equal(again.op, 'error', JSON.stringify(again));
  assert.equal(again.code, 'not_found');
  assert.equal(again.ref, 4);
  const never = await ws.request({ op: 'unsubscribe', channel: 'never.subscribed', id: 5 });
  assert.equal(never.op, 'error');
  assert.equal(never.code, 'not_found');
  assert.equal(never.ref, 5);
  assert.ok(ws.isOpen);
});

test('bad input gets bad_request (with the ref where there was an id) and the connection keeps working', async (t) => {
  const srv = await serverFor(t);
  const ws = await wsFor(t, srv.wsUrl);
  const long = (n) => 'x'.repeat(n);
  const cases = [
    ['not JSON', 'this is not json'],
    ['truncated JSON', '{"op":"subscribe","channel":"x"'],
    ['a JSON array', '[{"op":"ping"}]'],
    ['a JSON string', '"ping"'],
    ['a JSON number', '7'],
    ['missing op', { id: 31 }],
    ['unknown op', { op: 'frobnicate', id: 32 }],
    ['mistyped op', { op: 42, id: 33 }],
    ['subscribe without channel', { op: 'subscribe', id: 34 }],
    ['mistyped channel', { op: 'subscribe', channel: 42, id: 35 }],
    ['channel with a space', { op: 'subscribe', channel: 'a b', id: 36 }],
    ['channel of 300 bytes', { op: 'subscribe', channel: long(300), id: 37 }],
    ['channel of 256 bytes', { op: 'subscribe', channel: long(256), id: 38 }],
    ['empty channel', { op: 'subscribe', channel: '', id: 39 }],
    ['non-ASCII channel', { op: 'subscribe', channel: 'café', id: 40 }],
    ['mistyped since', { op: 'subscribe', channel: 'ok', since: 'yesterday', id: 41 }],
    ['mistyped since.seq', { op: 'subscribe', channel: 'ok', since: { epoch: 'e', seq: '1' }, id: 42 }],
    ['since without epoch', { op: 'subscribe', channel: 'ok', since: { seq: 1 }, id: 43 }],
    ['unsubscribe without channel', { op: 'unsubscribe', id: 44 }],
    ['publish without data', { op: 'publish', channel: 'ok', id: 45 }],
    ['publish without channel', { op: 'publish', data: {}, id: 46 }],
    ['publish with mistyped type', { op: 'publish', channel: 'ok', type: 7, data: {}, id: 47 }],
    ['publish to a bad channel', { op: 'publish', channel: 'a b', data: {}, id: 48 }],
  ];
  for (const [what, frame] of cases) {
    const id = typeof frame === 'object' ? frame.id : undefined;
    ws.send(frame);
    const error = await ws.next({ op: 'error' }, 5000).catch((e) => { throw new Error(`${what}: ${e.message}`); });
    assert.equal(error.code, 'bad_request', `${what}: ${JSON.stringify(error)}`);
    assert.equal(typeof error.message, 'string', `${what}: error.message should be a string`);
    assert.ok(error.message.length > 0, `${what}: error.message should say what is wrong`);
    if (id !== undefined) assert.equal(error.ref, id, `${what}: ref should echo the id`);
    else assert.ok(!('ref' in error), `${what}: no id, so no ref: ${JSON.stringify(error)}`);
    assert.ok(ws.isOpen, `${what}: the connection stays open`);
  }

  // Refused requests had no effect: nothing was subscribed or published.
  await ws.none({ op: 'subscribed' }, 0);
  await ws.none({ op: 'published' }, 0);

  // Still a working connection, with the edges of valid channel names.
  const pong = await ws.request({ op: 'ping', id: 90 });
  assert.equal(pong.op, 'pong');
  const edgeNames = [long(255), 'A-Za-z0-9_.:@/-', 'user:42', 'a'];
  for (const [i, channel] of edgeNames.entries()) {
    const sub = await ws.request({ op: 'subscribe', channel, id: 100 + i });
    assert.equal(sub.op, 'subscribed', `${channel.slice(0, 20)}... is a valid channel name: ${JSON.stringify(sub).slice(0, 300)}`);
    assert.equal(sub.channel, channel);
  }
  await publishOk(srv.port, [{ channel: 'user:42', data: { still: 'alive' } }, { channel: 'ok', data: 'not subscribed' }]);
  const message = await ws.next({ op: 'message', channel: 'user:42' });
  assert.deepEqual(message.data, { still: 'alive' });
  await ws.none({ op: 'message', channel: 'ok' }, 300, 'a refused subscribe must not subscribe');
  assert.deepEqual(ws.badFrames, []);
});

test('size limit, binary frames and invalid UTF-8 close the connection with 1009, 1003 and 1007', async (t) => {
  const srv = await serverFor(t, ['--max-message-bytes', '1024', '--allow-client-publish']);

  const big = await wsFor(t, srv.wsUrl, { label: 'too big' });
  const fits = await big.request({ op: 'publish', channel: 'size', data: 'y'.repeat(200), id: 1 });
  assert.equal(fits.op, 'published', 'a frame under the limit is fine');
  big.send({ op: 'publish', channel: 'size', data: 'z'.repeat(4000), id: 2 });
  const bigClose = await big.closed;
  assert.equal(bigClose.code, 1009, 'a frame over --max-message-bytes closes with 1009');
  const tooLarge = big.frames.find((f) => f.op === 'error');
  if (tooLarge) assert.equal(tooLarge.code, 'too_large');

  const binary = await wsFor(t, srv.wsUrl, { label: 'binary' });
  binary.ws.send(Buffer.from(JSON.stringify({ op: 'ping', id: 1 })), { binary: true });
  assert.equal((await binary.closed).code, 1003, 'a binary frame closes with 1003');

  const utf8 = await wsFor(t, srv.wsUrl, { label: 'bad utf-8' });
  utf8.ws.send(Buffer.from([0x7b, 0x22, 0x6f, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
  assert.equal((await utf8.closed).code, 1007, 'invalid UTF-8 closes with 1007');

  // The server itself is unharmed.
  const after = await wsFor(t, srv.wsUrl, { label: 'after' });
  assert.equal((await after.request({ op: 'ping', id: 3 })).op, 'pong');
});
