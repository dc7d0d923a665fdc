// Keyed messages and snapshots (docs/PROTOCOL.md "Keyed messages and snapshots"): a publish with
// "key" is kept as the key's latest message, "delete":true removes the key, a subscriber that asks
// for a snapshot gets `subscribed`, the snapshot (the latest message of every key, in seq order,
// in parts on WebSocket), then the live messages after it with no gap and no duplicate, even while
// publishes race the subscribe. --max-keys bounds a channel's keys (409 too_many_keys). Redis
// mode has its own tests (redis_keyed_state.test.mjs).
//
// Waits are for events: every bound below is a generous timeout for one answer of a local hub on
// a loaded machine, never a sleep that hopes something happened.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, wsFor, sseFor, publish, publishOk } from './lib/server.mjs';
import { zone, applyTo, wholeSnapshot } from './lib/keyed.mjs';

const ANSWER_MS = 10000; // one answer of a local hub, loaded machine


test('a late joiner gets every key\'s latest message over WebSocket and SSE, then live ones', async (t) => {
  const node = await serverFor(t, []);
  const channel = 'geometry';
  await publishOk(node.port, zone(channel, 'zone-a', { shape: 'a1' }));
  await publishOk(node.port, zone(channel, 'zone-b', { shape: 'b1' }));
  await publishOk(node.port, zone(channel, 'zone-c', { shape: 'c1' }));
  await publishOk(node.port, { channel, type: 'note', data: { unkeyed: true } });
  const b2 = await publishOk(node.port, zone(channel, 'zone-b', { shape: 'b2' }));
  const del = await publishOk(node.port, { channel, type: 'zone.deleted', key: 'zone-c', delete: true });
  assert.equal(del.seq, b2.seq + 1);

  // WebSocket.
  const ws = await wsFor(t, node.wsUrl, { label: 'late ws' });
  const subscribed = await ws.request({ op: 'subscribe', channel, snapshot: true });
  assert.equal(subscribed.op, 'subscribed', JSON.stringify(subscribed));
  assert.equal(subscribed.seq, del.seq);
  const [snapshot] = await wholeSnapshot(ws, channel, ANSWER_MS);
  assert.equal(snapshot.seq, del.seq, 'the snapshot is at the channel\'s latest seq');
  assert.equal(snapshot.epoch, del.epoch);
  assert.ok(!('more' in snapshot), 'one part');
  assert.deepEqual(snapshot.items.map((m) => [m.key, m.data.shape]), [['zone-a', 'a1'], ['zone-b', 'b2']],
    'the latest of each key, in seq order, deleted keys absent');
  for (const item of snapshot.items) {
    assert.equal(item.op, 'message');
    assert.equal(item.channel, channel);
    assert.equal(item.type, 'zone.updated');
    assert.equal(typeof item.ts, 'number');
  }
  const wsIndex = ws.frames.indexOf(snapshot);
  assert.ok(ws.frames.indexOf(subscribed) < wsIndex, 'subscribed comes before the snapshot');

  // SSE: the snapshot is one ordinary event whose id is the cursor at its seq.
  const es = await sseFor(t, `${node.url}/events?channel=${channel}&snapshot=1`, { label: 'late sse' });
  const sseSnapshot = await es.next({ op: 'snapshot', channel }, ANSWER_MS);
  assert.deepEqual(sseSnapshot.items, snapshot.items);
  assert.equal(sseSnapshot.seq, del.seq);
  assert.ok(es.idOf(sseSnapshot).includes(`:${del.seq}`), `id ${es.idOf(sseSnapshot)} is the cursor at ${del.seq}`);

  // Live messages follow on both, carrying their key (and "delete" for a delete).
  const live = await publishOk(node.port, zone(channel, 'zone-a', { shape: 'a2' }));
  const gone = await publishOk(node.port, { channel, key: 'zone-a', delete: true });
  for (const client of [ws, es]) {
    const m = await client.next({ op: 'message', channel, seq: live.seq }, ANSWER_MS);
    assert.equal(m.key, 'zone-a');
    assert.ok(!('delete' in m));
    const d = await client.next({ op: 'message', channel, seq: gone.seq }, ANSWER_MS);
    assert.equal(d.delete, true);
    assert.equal(d.data, null, 'a delete without data carries null');
  }
  assert.equal(live.seq, del.seq + 1, 'no message between the snapshot and the first live one');

  // A subscribe without snapshot gets none.
  const plain = await wsFor(t, node.wsUrl, { label: 'plain' });
  await plain.request({ op: 'subscribe', channel });
  await publishOk(node.port, { channel, data: 1 });
  await plain.next({ op: 'message', channel }, ANSWER_MS);
  assert.equal(plain.frames.filter((f) => f.op === 'snapshot').length, 0);
});

test('a resume that recovers needs no snapshot; one that cannot gets a fresh one', async (t) => {
  const node = await serverFor(t, []);
  const channel = 'resume.keyed';
  const first = await publishOk(node.port, zone(channel, 'k1', 1));
  await publishOk(node.port, zone(channel, 'k2', 2));
  const exact = await wsFor(t, node.wsUrl, { label: 'exact' });
  const s1 = await exact.request({ op: 'subscribe', channel, snapshot: true, since: { epoch: first.epoch, seq: first.seq } });
  assert.equal(s1.recovered, true);
  const replayed = await exact.next({ op: 'message', channel }, ANSWER_MS);
  assert.equal(replayed.key, 'k2');
  assert.equal(exact.frames.filter((f) => f.op === 'snapshot').length, 0, 'recovered exactly: no snapshot');

  const lost = await wsFor(t, node.wsUrl, { label: 'lost' });
  const s2 = await lost.request({ op: 'subscribe', channel, snapshot: true, since: { epoch: 'gone', seq: 7 } });
  assert.equal(s2.recovered, false);
  const [snap] = await wholeSnapshot(lost, channel, ANSWER_MS);
  assert.deepEqual(snap.items.map((m) => m.key), ['k1', 'k2']);

  const sse = await sseFor(t, `${node.url}/events?channel=${channel}&snapshot=1&last_event_id=garbage`, { label: 'lost sse' });
  const sub = await sse.next({ op: 'subscribed', channel }, ANSWER_MS);
  assert.equal(sub.recovered, false);
  const sseSnap = await sse.next({ op: 'snapshot', channel }, ANSWER_MS);
  assert.deepEqual(sseSnap.items.map((m) => m.key), ['k1', 'k2']);
});

test('a snapshot racing 500 concurrent publishes joins the live stream with no gap', async (t) => {
  const node = await serverFor(t, ['--shards', '2', '--allow-client-publish']);
  const channel = 'race.keyed';
  const keys = 40;
  const publishes = [];
  let n = 0;
  const next = () => {
    const i = n++;
    const k = `k${i % keys}`;
    // Every seventh publish of a key deletes it, so deletes race the snapshot too.
    const body = i % 7 === 3 ? { channel, key: k, delete: true } : zone(channel, k, { i });
    return publish(node.port, body).then((r) => assert.equal(r.status, 200, r.body));
  };
  for (let i = 0; i < 100; i++) publishes.push(next());
  // Subscribers join while the other 400 are in flight.
  const joiners = [];
  for (let j = 0; j < 4; j++) {
    for (let i = 0; i < 100; i++) publishes.push(next());
    joiners.push(wsFor(t, node.wsUrl, { label: `joiner ${j}` }).then(async (ws) => {
      const sub = await ws.request({ op: 'subscribe', channel, snapshot: true });
      assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
      return ws;
    }));
  }
  const clients = await Promise.all(joiners);
  await Promise.all(publishes);
  const marker = await publishOk(node.port, { channel, type: 'marker', data: 'end' });

  // The hub's state: a snapshot taken after everything.
  const judge = await wsFor(t, node.wsUrl, { label: 'judge' });
  await judge.request({ op: 'subscribe', channel, snapshot: true });
  const finalParts = await wholeSnapshot(judge, channel, ANSWER_MS);
  assert.equal(finalParts[0].seq, marker.seq);
  const truth = new Map();
  for (const part of finalParts) for (const item of part.items) applyTo(truth, item);

  for (const ws of clients) {
    const parts = await wholeSnapshot(ws, channel, ANSWER_MS);
    const state = new Map();
    for (const part of parts) for (const item of part.items) applyTo(state, item);
    const at = parts[0].seq;
    const live = await ws.take(marker.seq - at, { op: 'message', channel }, ANSWER_MS * 3);
    live.forEach((m, i) => assert.equal(m.seq, at + 1 + i, 'live messages continue the snapshot with no gap'));
    for (const m of live) applyTo(state, m);
    assert.deepEqual([...state.entries()].sort(), [...truth.entries()].sort(), 'final state equals the hub\'s');
    await ws.none({ op: 'message', channel }, 200, 'no duplicate after the marker');
  }
});

test('a large snapshot comes in parts, none over the frame limit', async (t) => {
  const limit = 4096;
  const node = await serverFor(t, ['--max-message-bytes', String(limit)]);
  const channel = 'parts';
  for (let i = 0; i < 60; i++) await publishOk(node.port, zone(channel, `key-${i}`, { fill: 'x'.repeat(200), i }));
  const ws = await wsFor(t, node.wsUrl, { label: 'parts' });
  await ws.request({ op: 'subscribe', channel, snapshot: true });
  const parts = await wholeSnapshot(ws, channel, ANSWER_MS);
  assert.ok(parts.length > 1, `split in parts, got ${parts.length}`);
  parts.forEach((p, i) => {
    assert.ok(Buffer.byteLength(JSON.stringify(p)) <= limit, `part ${i} fits the frame limit`);
    assert.equal(p.more === true, i + 1 < parts.length, '"more" on every part but the last');
    assert.equal(p.seq, 60);
  });
  assert.deepEqual(parts.flatMap((p) => p.items.map((m) => m.data.i)), [...Array(60).keys()]);
});

test('--max-keys refuses a new key past the bound (409 too_many_keys), never evicting one', async (t) => {
  const node = await serverFor(t, ['--max-keys', '3', '--allow-client-publish']);
  const channel = 'bounded';
  for (const k of ['a', 'b', 'c']) await publishOk(node.port, zone(channel, k, k));
  const refused = await publish(node.port, zone(channel, 'd', 'd'));
  assert.equal(refused.status, 409, refused.body);
  assert.equal(refused.json.error.code, 'too_many_keys');
  await publishOk(node.port, zone(channel, 'a', 'a2')); // an existing key is updated
  const ws = await wsFor(t, node.wsUrl, { label: 'publisher' });
  const wsRefused = await ws.request({ op: 'publish', ...zone(channel, 'e', 'e') });
  assert.deepEqual([wsRefused.op, wsRefused.code], ['error', 'too_many_keys'], JSON.stringify(wsRefused));
  await publishOk(node.port, { channel, key: 'b', delete: true });
  await publishOk(node.port, zone(channel, 'd', 'd')); // room again after a delete
  await ws.request({ op: 'subscribe', channel, snapshot: true });
  const [snap] = await wholeSnapshot(ws, channel, ANSWER_MS);
  assert.deepEqual(snap.items.map((m) => [m.key, m.data]), [['c', 'c'], ['a', 'a2'], ['d', 'd']]);
});

test('bad keyed input gets a clear 400 or error object', async (t) => {
  const node = await serverFor(t, ['--allow-client-publish']);
  const cases = [
    [{ channel: 'x', data: 1, key: 'k'.repeat(257) }, /key must be 1-256 bytes/],
    [{ channel: 'x', data: 1, key: '' }, /key must be 1-256 bytes/],
    [{ channel: 'x', data: 1, key: 5 }, /key must be a string/],
    [{ channel: 'x', delete: true }, /delete needs a key/],
    [{ channel: 'x', data: 1, key: 'k', delete: 'yes' }, /delete must be true or false/],
  ];
  for (const [body, why] of cases) {
    const r = await publish(node.port, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
    assert.match(r.json.error.message, why);
  }
  await publishOk(node.port, zone('x', 'k'.repeat(256), 1)); // 256 bytes is fine
  const ws = await wsFor(t, node.wsUrl, { label: 'bad' });
  const e = await ws.request({ op: 'subscribe', channel: 'x', snapshot: 1 });
  assert.deepEqual([e.op, e.code], ['error', 'bad_request']);
  assert.match(e.message, /snapshot must be true or false/);
  const ok = await ws.request({ op: 'subscribe', channel: 'x', snapshot: true });
  assert.equal(ok.op, 'subscribed', 'the connection stays usable');
});
