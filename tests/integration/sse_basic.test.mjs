// Server-Sent Events transport, through the `eventsource` package (what a
// browser's EventSource does) and through raw curl output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, sseFor, curlFor, publishOk, httpGet, httpHead, parseSseStream, assertConsecutive,
} from './lib/server.mjs';

test('an EventSource on two channels gets subscribed for each first, then both channels in order', async (t) => {
  const srv = await serverFor(t);
  const A = 'sse.a';
  const B = 'user:7/inbox';
  const before = await publishOk(srv.port, { channel: A, data: { before: true } });
  assert.equal(before.seq, 1);

  const es = await sseFor(t, `${srv.url}/events?channel=${encodeURIComponent(A)}&channel=${encodeURIComponent(B)}`);
  const subs = await es.take(2, { op: 'subscribed' });
  assert.deepEqual(es.frames.slice(0, 2), subs, 'the stream starts with the subscribed objects');
  const subA = subs.find((s) => s.channel === A);
  const subB = subs.find((s) => s.channel === B);
  assert.ok(subA && subB, `one subscribed per channel, got ${JSON.stringify(subs)}`);
  assert.equal(subA.seq, 1, 'latest seq of A');
  assert.equal(subA.epoch, before.epoch);
  assert.equal(subB.seq, 0, 'B has no message yet');
  assert.equal(typeof subB.epoch, 'string');
  for (const sub of subs) {
    assert.ok(!('recovered' in sub), 'no position was asked for');
    assert.ok(es.idOf(sub), 'subscribed events carry the cursor as their id');
  }

  // 30 messages, alternating channels, as single objects and as mixed arrays.
  const sent = { [A]: [], [B]: [] };
  const item = (i) => ({ channel: i % 2 ? B : A, type: i % 5 ? 'tick' : undefined, data: { i, text: `line ${i}\nwith "quotes"` } });
  let i = 0;
  for (const size of [1, 1, 10, 1, 7, 1, 9]) {
    const items = [];
    for (let k = 0; k < size; k++) {
      const it = item(i++);
      if (it.type === undefined) delete it.type;
      items.push(it);
      sent[it.channel].push(it);
    }
    await publishOk(srv.port, size === 1 ? items[0] : items);
  }
  assert.equal(i, 30);

  const messages = await es.take(30, { op: 'message' }, 10000);
  const onA = messages.filter((m) => m.channel === A);
  const onB = messages.filter((m) => m.channel === B);
  assertConsecutive(onA, { channel: A, epoch: subA.epoch, first: 2 });
  assertConsecutive(onB, { channel: B, epoch: subB.epoch, first: 1 });
  for (const [channel, got] of [[A, onA], [B, onB]]) {
    assert.equal(got.length, 15);
    got.forEach((m, k) => {
      assert.deepEqual(m.data, sent[channel][k].data);
      assert.equal(m.type, sent[channel][k].type ?? 'message');
      assert.equal(typeof m.ts, 'number');
    });
  }
  const ids = messages.map((m) => es.idOf(m));
  assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0), 'every message has an id: cursor');
  assert.equal(new Set(ids).size, ids.length, 'each message moves the cursor');
  await es.none({ op: 'message' }, 200);
  assert.deepEqual(es.badEvents, [], 'every data: is one JSON object');
  assert.deepEqual(es.errors, [], 'the stream stayed up');
});

test('raw stream: retry first, then id: and data: lines and never an event: line', async (t) => {
  const srv = await serverFor(t);
  const channel = 'raw.stream';
  const curl = curlFor(t, `${srv.url}/events?channel=${channel}`, { includeHeaders: true, maxTimeMs: 10000 });
  await curl.waitFor(/"op":\s*"subscribed"[\s\S]*?\r?\n\r?\n/);
  await publishOk(srv.port, [{ channel, data: { n: 1 } }, { channel, type: 'x.y', data: { n: 2 } }]);
  await curl.waitFor(/"seq":\s*2\b[\s\S]*?\r?\n\r?\n/);
  const raw = await curl.stop();

  const split = raw.indexOf('\r\n\r\n');
  assert.ok(split > 0, `curl -i output has a header block:\n${raw}`);
  const head = raw.slice(0, split);
  const body = raw.slice(split + 4);
  assert.match(head, /^HTTP\/1\.[01] 200/, head);
  assert.match(head, /^content-type:\s*text\/event-stream/im);
  assert.match(head, /^cache-control:[^\r\n]*no-cache/im);
  assert.match(head, /^x-accel-buffering:\s*no\s*$/im);

  assert.match(body, /^retry: ?\d+\r?\n/, `the stream starts with a retry: line:\n${body.slice(0, 300)}`);
  assert.doesNotMatch(body, /^event:/m, 'no event: line, so that onmessage sees every object');

  const events = parseSseStream(body).filter((e) => e.field('data').length > 0);
  assert.ok(events.length >= 3, `subscribed + 2 messages expected:\n${body}`);
  const frames = events.map((e) => {
    assert.equal(e.field('id').length, 1, `one id: line per event: ${JSON.stringify(e.fields)}`);
    assert.ok(e.field('id')[0].length > 0, 'the id: is not empty');
    assert.equal(e.field('data').length, 1, `one data: line per object: ${JSON.stringify(e.fields)}`);
    assert.deepEqual(e.field('event'), []);
    return JSON.parse(e.field('data')[0]);
  });
  assert.equal(frames[0].op, 'subscribed');
  assert.equal(frames[0].channel, channel);
  const messages = frames.filter((f) => f.op === 'message');
  assert.deepEqual(messages.map((m) => [m.seq, m.type, m.data.n]), [[1, 'message', 1], [2, 'x.y', 2]]);
});

test('response headers are text/event-stream, no-cache and X-Accel-Buffering: no', async (t) => {
  const srv = await serverFor(t);
  const res = await httpHead(srv.port, '/events?channel=headers');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^text\/event-stream/);
  assert.match(res.headers['cache-control'] ?? '', /no-cache/);
  assert.equal(res.headers['x-accel-buffering'], 'no');
});

test('no channel parameter is HTTP 400', async (t) => {
  const srv = await serverFor(t);
  for (const path of ['/events', '/events?', '/events?foo=bar']) {
    const res = await httpGet(srv.port, path, { Accept: 'text/event-stream' });
    assert.equal(res.status, 400, `GET ${path} -> ${res.status} ${res.body.slice(0, 200)}`);
  }
  // The server still streams afterwards.
  const es = await sseFor(t, `${srv.url}/events?channel=after`);
  const sub = await es.next({ op: 'subscribed' });
  assert.equal(sub.channel, 'after');
});
