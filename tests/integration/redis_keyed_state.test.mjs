// Keyed state in Redis mode (docs/PROTOCOL.md "Keyed messages and snapshots", OPERATIONS.md "Keyed
// state in Redis mode"): two rthub-server nodes on one redis-server. The publish script that assigns
// the seq also keeps each key's latest record, so a late joiner on either node gets, over
// WebSocket and SSE, the zones published through the other; a snapshot racing 500 concurrent
// publishes on both nodes joins the live stream with no gap and no duplicate; deletes remove keys;
// --max-keys is enforced by the script (409 too_many_keys) across nodes; a bridged plain PUBLISH
// with a top-level "key" is keyed state too.
//
// Waits are for events: every bound below is a generous timeout for one answer of a local hub on
// a loaded machine, never a sleep that hopes something happened.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, wsFor, sseFor, publish, publishOk, waitFor, waitHealthy } from './lib/server.mjs';
import { zone, applyTo, wholeSnapshot } from './lib/keyed.mjs';
import { redisFor } from './lib/redis.mjs';

const ANSWER_MS = 10000; // one answer of a local hub, loaded machine
const BRIDGED = 'bridged.zones';


// One Redis and two nodes that bridge BRIDGED.
async function twoNodes(t, extra = []) {
  const redis = await redisFor(t);
  const args = ['--redis', redis.url, '--bridge', BRIDGED, '--allow-client-publish', ...extra];
  const a = await serverFor(t, args);
  const b = await serverFor(t, args);
  for (const node of [a, b]) await waitHealthy(node.port, { timeoutMs: 10000 });
  return { redis, a, b };
}

test('Redis: a late joiner on the second node gets the zones published through the first, on WS and SSE', async (t) => {
  const { redis, a, b } = await twoNodes(t);
  const channel = 'geometry';
  await publishOk(a.port, zone(channel, 'zone-a', { shape: 'a1' }));
  const wsA = await wsFor(t, a.wsUrl, { label: 'publisher on A' });
  const viaWs = await wsA.request({ op: 'publish', ...zone(channel, 'zone-b', { shape: 'b1' }) });
  assert.equal(viaWs.op, 'published', JSON.stringify(viaWs));
  await publishOk(a.port, zone(channel, 'zone-c', { shape: 'c1' }));
  await publishOk(a.port, { channel, type: 'note', data: { unkeyed: true } });
  const b2 = await publishOk(a.port, zone(channel, 'zone-b', { shape: 'b2' }));
  const del = await publishOk(a.port, { channel, type: 'zone.deleted', key: 'zone-c', delete: true });
  assert.equal(del.seq, b2.seq + 1);

  const ws = await wsFor(t, b.wsUrl, { label: 'late ws on B' });
  const subscribed = await ws.request({ op: 'subscribe', channel, snapshot: true });
  assert.equal(subscribed.op, 'subscribed', JSON.stringify(subscribed));
  assert.deepEqual([subscribed.epoch, subscribed.seq], [del.epoch, del.seq]);
  const [snapshot] = await wholeSnapshot(ws, channel, ANSWER_MS);
  assert.deepEqual([snapshot.epoch, snapshot.seq], [del.epoch, del.seq], 'the snapshot is at the latest seq');
  assert.deepEqual(snapshot.items.map((m) => [m.key, m.data.shape, m.type]),
    [['zone-a', 'a1', 'zone.updated'], ['zone-b', 'b2', 'zone.updated']],
    'the latest of each key, in seq order, the deleted key absent');
  for (const item of snapshot.items) {
    assert.equal(item.op, 'message');
    assert.equal(item.channel, channel);
    assert.equal(item.epoch, del.epoch);
    assert.equal(typeof item.ts, 'number');
  }

  const es = await sseFor(t, `${b.url}/events?channel=${channel}&snapshot=1`, { label: 'late sse on B' });
  const sseSnapshot = await es.next({ op: 'snapshot', channel }, ANSWER_MS);
  assert.deepEqual(sseSnapshot.items, snapshot.items, 'SSE gets the same snapshot');
  assert.ok(es.idOf(sseSnapshot).includes(`:${del.seq}`), `id ${es.idOf(sseSnapshot)} is the cursor at ${del.seq}`);

  // Live messages through the other node follow, with their key and delete flag.
  const live = await publishOk(a.port, zone(channel, 'zone-a', { shape: 'a2' }));
  const gone = await publishOk(a.port, { channel, key: 'zone-a', delete: true });
  assert.equal(live.seq, del.seq + 1);
  for (const client of [ws, es]) {
    const m = await client.next({ op: 'message', channel, seq: live.seq }, ANSWER_MS);
    assert.equal(m.key, 'zone-a');
    assert.ok(!('delete' in m));
    const d = await client.next({ op: 'message', channel, seq: gone.seq }, ANSWER_MS);
    assert.deepEqual([d.key, d.delete, d.data], ['zone-a', true, null]);
  }

  // The state is in Redis, one hash beside the stream (OPERATIONS.md "Keyed state in Redis mode").
  const fields = (await redis.cli('HKEYS', `rthub:{${channel}}:keys`)).trim().split('\n').sort();
  assert.deepEqual(fields, ['zone-b'], 'only zone-b is left in Redis');

  // A resume that recovers exactly needs no snapshot, on the other node too.
  const resumed = await wsFor(t, a.wsUrl, { label: 'resume on A' });
  const r = await resumed.request({ op: 'subscribe', channel, snapshot: true, since: { epoch: del.epoch, seq: del.seq } });
  assert.equal(r.recovered, true, JSON.stringify(r));
  await resumed.next({ op: 'message', channel, seq: gone.seq }, ANSWER_MS);
  assert.equal(resumed.frames.filter((f) => f.op === 'snapshot').length, 0, 'recovered exactly: no snapshot');
});

// Snapshot subscribers on both nodes join while 500 publishes (deletes among them) race them; each
// ends with exactly the hub's state, its live messages continuing the snapshot with no gap.
async function raceSnapshots(t, { sse }) {
  // Two shards per node: each shard's broker reads and writes the same keyed state in Redis.
  const { a, b } = await twoNodes(t, ['--shards', '2']);
  const nodes = [a, b];
  const channel = 'race.keyed';
  const keys = 40;
  const publishes = [];
  let n = 0;
  const next = () => {
    const i = n++;
    const k = `k${i % keys}`;
    // Every seventh publish of a key deletes it, so deletes race the snapshot too.
    const body = i % 7 === 3 ? { channel, key: k, delete: true } : zone(channel, k, { i });
    return publish(nodes[i % 2].port, body).then((r) => assert.equal(r.status, 200, r.body));
  };
  for (let i = 0; i < 100; i++) publishes.push(next());
  const joiners = [];
  for (let j = 0; j < 4; j++) {
    for (let i = 0; i < 100; i++) publishes.push(next());
    joiners.push(wsFor(t, nodes[j % 2].wsUrl, { label: `joiner ${j}` }).then(async (ws) => {
      const sub = await ws.request({ op: 'subscribe', channel, snapshot: true });
      assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
      return ws;
    }));
  }
  const sseJoiner = sse ? sseFor(t, `${b.url}/events?channel=${channel}&snapshot=1`, { label: 'sse joiner' }) : null;
  const clients = await Promise.all(joiners);
  const es = sse ? await sseJoiner : null;
  await Promise.all(publishes);
  const marker = await publishOk(a.port, { channel, type: 'marker', data: 'end' });

  // The hub's state: a snapshot taken after everything, on the node that published the marker.
  const judge = await wsFor(t, a.wsUrl, { label: 'judge' });
  await judge.request({ op: 'subscribe', channel, snapshot: true });
  const finalParts = await wholeSnapshot(judge, channel, ANSWER_MS);
  assert.equal(finalParts[0].seq, marker.seq);
  const truth = new Map();
  for (const part of finalParts) for (const item of part.items) applyTo(truth, item);
  assert.ok(truth.size > 0);

  for (const client of sse ? [...clients, es] : clients) {
    const parts = client === es ? [await es.next({ op: 'snapshot', channel }, ANSWER_MS)] : await wholeSnapshot(client, channel, ANSWER_MS);
    const state = new Map();
    for (const part of parts) for (const item of part.items) applyTo(state, item);
    const at = parts[0].seq;
    const live = await client.take(marker.seq - at, { op: 'message', channel }, ANSWER_MS * 3);
    live.forEach((m, i) => assert.equal(m.seq, at + 1 + i, 'live messages continue the snapshot with no gap'));
    for (const m of live) applyTo(state, m);
    assert.deepEqual([...state.entries()].sort(), [...truth.entries()].sort(), 'final state equals the hub\'s');
    await client.none({ op: 'message', channel }, 200, 'no duplicate after the marker');
  }
}

test('Redis: snapshots racing 500 concurrent publishes on two nodes of two shards join the live stream with no gap (WebSocket)', async (t) => {
  await raceSnapshots(t, { sse: false });
});

// Once (about one run in six) the SSE joiner's snapshot (seq 489) was followed by a second
// `subscribed` (seq 496, "recovered":false) and live messages from 497: 490-496 never came. The
// cause: the first pub/sub message set the channel's position before the history read answered,
// so nothing filled what Redis published between the read and the SUBSCRIBE; a channel's first
// messages now wait for the read in flight (RedisBroker::settle_read). Clean in 23 runs since
// (15 of them beside a fresh-root build and an ASan build), so it is a test like the others.
test('Redis: the same race with an SSE joiner (snapshot=1)', async (t) => {
  await raceSnapshots(t, { sse: true });
});

test('Redis: --max-keys is one bound across nodes (409 too_many_keys), a delete makes room', async (t) => {
  const { a, b } = await twoNodes(t, ['--max-keys', '3']);
  const channel = 'bounded';
  await publishOk(a.port, zone(channel, 'a', 'a'));
  await publishOk(b.port, zone(channel, 'b', 'b'));
  await publishOk(a.port, zone(channel, 'c', 'c'));
  const before = await publishOk(b.port, { channel, data: 'unkeyed' });
  for (const node of [a, b]) {
    const refused = await publish(node.port, zone(channel, 'd', 'd'));
    assert.equal(refused.status, 409, refused.body);
    assert.equal(refused.json.error.code, 'too_many_keys');
    assert.match(refused.json.error.message, /3 keys/);
  }
  const ws = await wsFor(t, b.wsUrl, { label: 'publisher on B' });
  const wsRefused = await ws.request({ op: 'publish', ...zone(channel, 'e', 'e') });
  assert.deepEqual([wsRefused.op, wsRefused.code], ['error', 'too_many_keys'], JSON.stringify(wsRefused));
  const updated = await publishOk(b.port, zone(channel, 'a', 'a2')); // an existing key is updated
  assert.equal(updated.seq, before.seq + 1, 'a refused publish took no seq');
  await publishOk(a.port, { channel, key: 'b', delete: true });
  await publishOk(b.port, zone(channel, 'd', 'd')); // room again after a delete
  const again = await publish(a.port, zone(channel, 'f', 'f'));
  assert.equal(again.status, 409, again.body);

  await ws.request({ op: 'subscribe', channel, snapshot: true });
  const [snap] = await wholeSnapshot(ws, channel, ANSWER_MS);
  assert.deepEqual(snap.items.map((m) => [m.key, m.data]), [['c', 'c'], ['a', 'a2'], ['d', 'd']]);
});

test('Redis: a bridged plain PUBLISH with a top-level "key" is keyed state', async (t) => {
  const { redis, a, b } = await twoNodes(t);
  // The bridge ingests once a node holds the channel's lease: publish until a subscriber sees it.
  const watcher = await wsFor(t, b.wsUrl, { label: 'watcher on B' });
  await watcher.request({ op: 'subscribe', channel: BRIDGED });
  let n = 0;
  await waitFor(async () => {
    n += 1;
    await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ warmup: n }));
    return watcher.frames.some((f) => f.op === 'message');
  }, { timeoutMs: 15000, intervalMs: 200, what: 'a bridged warm-up payload to arrive (the ingest lease)' });

  await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ key: 'z1', data: { shape: 1 } }));
  await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ type: 'zone.updated', key: 'z2', data: { shape: 2 } }));
  await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ type: 'zone.updated', key: 'z3', data: { shape: 3 } }));
  await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ key: 'z3', delete: true }));
  await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ key: 'not-an-envelope', other: true }));
  const last = await watcher.next((f) => f.op === 'message' && f.data?.key === 'not-an-envelope', ANSWER_MS);
  assert.deepEqual(last.data, { key: 'not-an-envelope', other: true });
  assert.ok(!('key' in last), 'an object with "key" but no data nor delete is plain data');
  const deleted = watcher.frames.find((f) => f.op === 'message' && f.key === 'z3' && f.delete === true);
  assert.ok(deleted, 'the delete was delivered live with "delete":true');
  assert.equal(deleted.data, null);

  const late = await wsFor(t, a.wsUrl, { label: 'late on A' });
  await late.request({ op: 'subscribe', channel: BRIDGED, snapshot: true });
  const [snap] = await wholeSnapshot(late, BRIDGED, ANSWER_MS);
  assert.deepEqual(snap.items.map((m) => [m.key, m.type, m.data.shape]), [['z1', 'message', 1], ['z2', 'zone.updated', 2]]);
});
