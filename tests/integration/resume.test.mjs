// Resuming: WebSocket `since` and SSE cursors (Last-Event-ID header or
// ?last_event_id=) continue exactly where the client was: no gap, no duplicate.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, wsFor, sseFor, publishOk, assertConsecutive,
} from './lib/server.mjs';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

test('WebSocket since: recovered:true first, then replay and live messages with no gap and no duplicate', async (t) => {
  const srv = await serverFor(t);
  const channel = 'resume.ws';
  const first = await wsFor(t, srv.wsUrl, { label: 'first visit' });
  await first.request({ op: 'subscribe', channel, id: 1 });
  await publishOk(srv.port, range(1, 5).map((i) => ({ channel, data: { i } })));
  const seen = await first.take(5, { op: 'message', channel });
  assertConsecutive(seen, { channel, first: 1 });
  const last = seen[4];
  await first.close();

  // Missed while away.
  await publishOk(srv.port, range(6, 205).map((i) => ({ channel, data: { i } })));

  const again = await wsFor(t, srv.wsUrl, { label: 'second visit' });
  const subscribing = again.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: last.seq }, id: 2 });
  // Live messages race the replay.
  const live = (async () => {
    for (const i of range(206, 305)) await publishOk(srv.port, { channel, data: { i } });
  })();
  const sub = await subscribing;
  await live;

  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  assert.equal(sub.ref, 2);
  assert.equal(sub.recovered, true, 'the position is retained, so it is honoured');
  assert.equal(sub.epoch, last.epoch);
  assert.ok(sub.seq >= 205 && sub.seq <= 305, `subscribed.seq ${sub.seq} is the latest seq when subscribing`);

  const messages = await again.take(300, { op: 'message', channel }, 15000);
  const subscribedAt = again.frames.indexOf(sub);
  const firstMessageAt = again.frames.indexOf(messages[0]);
  assert.ok(subscribedAt < firstMessageAt, 'subscribed comes before the replayed messages');
  assertConsecutive(messages, { channel, epoch: last.epoch, first: 6 });
  messages.forEach((m) => assert.equal(m.data.i, m.seq, `seq ${m.seq} carries the data published as #${m.data.i}`));
  await again.none({ op: 'message' }, 300, 'nothing after 305: no duplicate');
});

test('WebSocket since at the latest position replays nothing and continues live', async (t) => {
  const srv = await serverFor(t);
  const channel = 'resume.latest';
  const [, p2] = await publishOk(srv.port, [{ channel, data: 1 }, { channel, data: 2 }]);
  const ws = await wsFor(t, srv.wsUrl);
  const sub = await ws.request({ op: 'subscribe', channel, since: { epoch: p2.epoch, seq: p2.seq }, id: 1 });
  assert.equal(sub.recovered, true, JSON.stringify(sub));
  assert.equal(sub.seq, 2);
  await ws.none({ op: 'message' }, 300, 'nothing to replay');
  await publishOk(srv.port, { channel, data: 3 });
  const message = await ws.next({ op: 'message', channel });
  assert.equal(message.seq, 3);
  assert.equal(message.data, 3);
});

test('WebSocket since with an unknown epoch gets recovered:false and then live messages', async (t) => {
  const srv = await serverFor(t);
  const channel = 'resume.epoch';
  const [p1] = await publishOk(srv.port, [{ channel, data: 1 }, { channel, data: 2 }, { channel, data: 3 }]);
  const ws = await wsFor(t, srv.wsUrl);
  const sub = await ws.request({ op: 'subscribe', channel, since: { epoch: `${p1.epoch}-gone`, seq: 1 }, id: 7 });
  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  assert.equal(sub.ref, 7);
  assert.equal(sub.recovered, false, 'a position of another epoch cannot be honoured');
  assert.equal(sub.epoch, p1.epoch, 'subscribed tells the current epoch');
  assert.equal(sub.seq, 3);
  await publishOk(srv.port, { channel, data: 4 });
  const message = await ws.next({ op: 'message', channel, seq: 4 });
  assert.equal(message.data, 4);
});

test('WebSocket since older than the retained history gets recovered:false', async (t) => {
  const srv = await serverFor(t, ['--history', '10']);
  const channel = 'resume.short';
  const positions = await publishOk(srv.port, range(1, 30).map((i) => ({ channel, data: i })));
  const ws = await wsFor(t, srv.wsUrl);
  const sub = await ws.request({ op: 'subscribe', channel, since: { epoch: positions[0].epoch, seq: 5 }, id: 1 });
  assert.equal(sub.recovered, false, `seq 6 is no longer retained with --history 10: ${JSON.stringify(sub)}`);
  assert.equal(sub.seq, 30);
  // Within the retained window it still works.
  const ws2 = await wsFor(t, srv.wsUrl);
  const sub2 = await ws2.request({ op: 'subscribe', channel, since: { epoch: positions[0].epoch, seq: 25 }, id: 1 });
  assert.equal(sub2.recovered, true, JSON.stringify(sub2));
  assertConsecutive(await ws2.take(5, { op: 'message', channel }), { channel, first: 26 });
});

// Publishes `count` messages on each channel, interleaved X, Y, X, Y ...
// with data {c: channel, i: seq}.
async function publishInterleaved(port, channels, from, to) {
  const items = [];
  for (const i of range(from, to)) for (const channel of channels) items.push({ channel, data: { c: channel, i } });
  await publishOk(port, items);
}

function assertContinuation(messages, channel, firstSeq, lastSeq, epoch) {
  const got = messages.filter((m) => m.channel === channel);
  assertConsecutive(got, { channel, epoch, first: firstSeq });
  assert.equal(got.length, lastSeq - firstSeq + 1, `${channel}: expected seqs ${firstSeq}..${lastSeq}, got ${got.map((m) => m.seq)}`);
  got.forEach((m) => assert.deepEqual(m.data, { c: channel, i: m.seq }));
}

// One SSE visit on X and Y: subscribe, receive X1 Y1 ... X5 Y5, leave.
// Returns the epochs and two cursors with the seqs that must follow them:
// `early` is the id of the first message, `middle` the id of the seventh.
async function firstSseVisit(t, srv, X, Y) {
  const es = await sseFor(t, `${srv.url}/events?channel=${X}&channel=${Y}`, { label: 'first visit' });
  const subs = await es.take(2, { op: 'subscribed' });
  await publishInterleaved(srv.port, [X, Y], 1, 5);
  const messages = await es.take(10, { op: 'message' });
  assertContinuation(messages, X, 1, 5);
  assertContinuation(messages, Y, 1, 5);
  es.close();
  const epochs = Object.fromEntries(subs.map((s) => [s.channel, s.epoch]));
  const cursorAt = (index) => {
    const upTo = messages.slice(0, index + 1);
    const nextOf = (channel) => 1 + Math.max(0, ...upTo.filter((m) => m.channel === channel).map((m) => m.seq));
    return { id: es.idOf(messages[index]), next: { x: nextOf(X), y: nextOf(Y) } };
  };
  return { early: cursorAt(0), middle: cursorAt(6), epochs };
}

async function assertResumed(t, srv, url, headers, X, Y, { x, y }, epochs) {
  const es = await sseFor(t, url, { headers, label: 'resumed' });
  const subs = await es.take(2, { op: 'subscribed' });
  for (const sub of subs) {
    assert.equal(sub.recovered, true, `${sub.channel}: the cursor's position is retained: ${JSON.stringify(sub)}`);
    assert.equal(sub.seq, 10);
  }
  const replay = await es.take(10 - x + 1 + 10 - y + 1, { op: 'message' });
  assertContinuation(replay, X, x, 10, epochs[X]);
  assertContinuation(replay, Y, y, 10, epochs[Y]);
  // Then live.
  await publishInterleaved(srv.port, [X, Y], 11, 12);
  const live = await es.take(4, { op: 'message' });
  assertContinuation(live, X, 11, 12, epochs[X]);
  assertContinuation(live, Y, 11, 12, epochs[Y]);
  await es.none({ op: 'message' }, 300, 'no duplicate');
  es.close();
  // PROTOCOL.md: "The stream starts with retry: <ms> and a subscribed object per channel."
  assert.deepEqual(es.frames.slice(0, 2).map((f) => f.op), ['subscribed', 'subscribed'],
    `a resumed stream starts with every subscribed object, before any replayed message; got ${
      es.frames.slice(0, 4).map((f) => `${f.op}:${f.channel}:${f.seq}`).join(', ')}`);
}

test('SSE resume with the Last-Event-ID header continues both channels exactly', async (t) => {
  const srv = await serverFor(t);
  const [X, Y] = ['sse.x', 'sse.y'];
  const visit = await firstSseVisit(t, srv, X, Y);
  await publishInterleaved(srv.port, [X, Y], 6, 10);
  await assertResumed(t, srv, `${srv.url}/events?channel=${X}&channel=${Y}`, { 'Last-Event-ID': visit.middle.id },
    X, Y, visit.middle.next, visit.epochs);
});

test('SSE resume with ?last_event_id= continues both channels exactly', async (t) => {
  const srv = await serverFor(t);
  const [X, Y] = ['sse.x', 'sse.y'];
  const visit = await firstSseVisit(t, srv, X, Y);
  await publishInterleaved(srv.port, [X, Y], 6, 10);
  const url = `${srv.url}/events?channel=${X}&channel=${Y}&last_event_id=${encodeURIComponent(visit.middle.id)}`;
  await assertResumed(t, srv, url, undefined, X, Y, visit.middle.next, visit.epochs);
});

test('SSE: the Last-Event-ID header wins over ?last_event_id=', async (t) => {
  const srv = await serverFor(t);
  const [X, Y] = ['sse.x', 'sse.y'];
  const visit = await firstSseVisit(t, srv, X, Y);
  await publishInterleaved(srv.port, [X, Y], 6, 10);
  // The URL still holds the cursor of the first connect; the header is newer.
  const url = `${srv.url}/events?channel=${X}&channel=${Y}&last_event_id=${encodeURIComponent(visit.early.id)}`;
  await assertResumed(t, srv, url, { 'Last-Event-ID': visit.middle.id }, X, Y, visit.middle.next, visit.epochs);
});

// A stream that got its subscribed objects, and no message, leaves; messages
// are published; it comes back with the cursor of its last subscribed event.
async function resumeFromSubscribedCursor(t, srv, X, Y) {
  const url = `${srv.url}/events?channel=${X}&channel=${Y}`;
  const es = await sseFor(t, url, { label: 'first visit' });
  await es.take(2, { op: 'subscribed' });
  const cursor = es.lastEventId;
  assert.ok(cursor, 'subscribed events carry the cursor');
  es.close();

  await publishInterleaved(srv.port, [X, Y], 1, 3);
  const back = await sseFor(t, url, { headers: { 'Last-Event-ID': cursor }, label: 'resumed' });
  const subs = await back.take(2, { op: 'subscribed' });
  subs.forEach((s) => assert.equal(s.recovered, true, `PROTOCOL.md: "a browser that reconnects before any ` +
    `message arrived still resumes from where it was": ${JSON.stringify(s)}`));
  const replay = await back.take(6, { op: 'message' });
  assertContinuation(replay, X, 1, 3);
  assertContinuation(replay, Y, 1, 3);
}

test('SSE: the cursor of the subscribed events resumes before any message arrived', async (t) => {
  const srv = await serverFor(t);
  const [X, Y] = ['sse.x', 'sse.y'];
  // Another subscriber keeps both channels known to the hub meanwhile.
  const keeper = await wsFor(t, srv.wsUrl, { label: 'keeper' });
  await keeper.request({ op: 'subscribe', channel: X });
  await keeper.request({ op: 'subscribe', channel: Y });
  await resumeFromSubscribedCursor(t, srv, X, Y);
});

test('SSE: the cursor of the subscribed events resumes even when the stream was the channels\' only subscriber', async (t) => {
  const srv = await serverFor(t);
  await resumeFromSubscribedCursor(t, srv, 'sse.alone.x', 'sse.alone.y');
});

test('SSE: a cursor that does not parse, or lacks a channel, gives recovered:false for what it does not cover', async (t) => {
  const srv = await serverFor(t);
  const [X, Z] = ['sse.x', 'sse.z'];
  await publishOk(srv.port, [{ channel: X, data: { c: X, i: 1 } }, { channel: Z, data: { c: Z, i: 1 } }]);

  const garbage = await sseFor(t, `${srv.url}/events?channel=${X}&channel=${Z}`,
    { headers: { 'Last-Event-ID': 'this is not a cursor ,:;' }, label: 'garbage cursor' });
  const garbageSubs = await garbage.take(2, { op: 'subscribed' });
  garbageSubs.forEach((s) => assert.equal(s.recovered, false, `an unparsable cursor is not an error: ${JSON.stringify(s)}`));
  garbage.close();

  // A cursor of a stream on X alone.
  const onlyX = await sseFor(t, `${srv.url}/events?channel=${X}`, { label: 'only X' });
  await onlyX.next({ op: 'subscribed', channel: X });
  const cursor = onlyX.lastEventId;
  onlyX.close();
  await publishOk(srv.port, [{ channel: X, data: { c: X, i: 2 } }, { channel: Z, data: { c: Z, i: 2 } }]);

  const both = await sseFor(t, `${srv.url}/events?channel=${X}&channel=${Z}`,
    { headers: { 'Last-Event-ID': cursor }, label: 'X and Z' });
  const subs = await both.take(2, { op: 'subscribed' });
  const subX = subs.find((s) => s.channel === X);
  const subZ = subs.find((s) => s.channel === Z);
  assert.equal(subX.recovered, true, JSON.stringify(subX));
  assert.equal(subZ.recovered, false, `the cursor does not cover ${Z}: ${JSON.stringify(subZ)}`);
  const replayX = await both.next({ op: 'message', channel: X });
  assert.equal(replayX.seq, 2, 'X continues after its cursor position');
  await both.none({ op: 'message', channel: X, seq: 1 }, 300, 'no duplicate of X1');
});
