// Presence across two nodes on one Redis (docs/PROTOCOL.md "Presence", docs/OPERATIONS.md
// "Presence"): the members of a channel live in Redis, so each node's presence subscriber hears
// the other node's joins and leaves, both nodes list every member, and the members of a node
// killed with -9 are removed, with leave events, once its liveness key expires.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, startServer, wsFor, sseFor, httpGet, waitFor, waitHealthy, SCHEDULING_ALLOWANCE_MS } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import { redisClusterFor } from './lib/redis_cluster.mjs';

const ANSWER_MS = 10000; // one answer of a local hub through a local Redis, loaded machine
// The broker ticks once a second; a node renews its liveness key (TTL 2 ticks,
// RedisPresence::kLivenessTtlMs) at each tick. A node killed just after a renewal leaves a key
// that lives 2 s more; the survivor's next sweep (1 tick) removes its members: three ticks.
const TICK_MS = 1000;
const DEAD_NODE_GONE_MS = 3 * TICK_MS + SCHEDULING_ALLOWANCE_MS;

async function twoNodes(t, extra = []) {
  const redis = await redisFor(t);
  const a = await serverFor(t, ['--redis', redis.url, ...extra]);
  // B is killed with -9 in one test: stopped without asserting its exit status.
  const b = await startServer(['--redis', redis.url, ...extra]);
  t.after(() => b.kill('SIGKILL'));
  for (const node of [a, b]) await waitHealthy(node.port, { timeoutMs: 10000, what: `node ${node.port} connected to Redis` });
  return { redis, a, b };
}

const idsOf = (clients) => clients.map((c) => c.id);

// A presence subscriber on each node, an SSE member on B: joins, lists and leaves both ways.
async function crossNodes(t, a, b) {
  const channel = 'map';
  const onA = await wsFor(t, a.wsUrl, { label: 'onA' });
  assert.equal((await onA.request({ op: 'subscribe', channel, presence: true })).op, 'subscribed');
  const onB = await wsFor(t, b.wsUrl, { label: 'onB' });
  assert.equal((await onB.request({ op: 'subscribe', channel, presence: true })).op, 'subscribed');

  // A hears B's join; B's list has both (A joined before it).
  const bJoin = await onA.next({ op: 'join', channel }, ANSWER_MS);
  const listB = await onB.request({ op: 'presence', channel });
  assert.equal(listB.clients.length, 2, JSON.stringify(listB));
  const aClient = listB.clients.find((c) => c.id !== bJoin.client.id);
  assert.ok(aClient, 'A listed on B');
  assert.notEqual(aClient.id, bJoin.client.id, 'connection ids unique across nodes');
  assert.ok(Number.isSafeInteger(aClient.id) && Number.isSafeInteger(bJoin.client.id));

  // An SSE member on B: A hears it; GET /presence on either node lists all three, by id.
  const sse = await sseFor(t, `${b.url}/events?channel=${channel}`, { label: 'sseB' });
  const sseJoin = await onA.next({ op: 'join', channel }, ANSWER_MS);
  assert.deepEqual((await onB.next({ op: 'join', channel }, ANSWER_MS)).client, sseJoin.client);
  const all = idsOf([aClient, bJoin.client, sseJoin.client]).sort((x, y) => x - y);
  for (const node of [a, b]) {
    const listed = await httpGet(node.port, `/presence?channel=${channel}`);
    assert.equal(listed.status, 200, listed.body);
    assert.deepEqual(idsOf(listed.json.clients), all, `GET /presence on ${node.port}`);
  }

  // Leaves cross too: B's SSE member closes, A's member unsubscribes.
  sse.close();
  assert.deepEqual((await onA.next({ op: 'leave', channel }, ANSWER_MS)).client, sseJoin.client);
  assert.deepEqual((await onB.next({ op: 'leave', channel }, ANSWER_MS)).client, sseJoin.client);
  await onA.request({ op: 'unsubscribe', channel });
  assert.deepEqual((await onB.next({ op: 'leave', channel }, ANSWER_MS)).client, aClient);
  const left = await httpGet(a.port, `/presence?channel=${channel}`);
  assert.deepEqual(idsOf(left.json.clients), [bJoin.client.id]);
  await onB.none((f) => f.client?.id === bJoin.client.id, 200); // never its own join or leave
}

test('two Redis nodes: joins and leaves cross nodes, both list every member', async (t) => {
  const { a, b } = await twoNodes(t);
  await crossNodes(t, a, b);
});

test('two Redis nodes of two shards each: the same across nodes and service threads', async (t) => {
  const { a, b } = await twoNodes(t, ['--shards', '2']);
  await crossNodes(t, a, b);
});

test('two hubs on a Redis Cluster: members and events through the channel\'s slot', async (t) => {
  const cluster = await redisClusterFor(t);
  const hubs = [];
  for (let i = 0; i < 2; i++) {
    const hub = await serverFor(t, ['--redis-cluster', cluster.seeds]);
    await waitHealthy(hub.port, { timeoutMs: 15000, what: `hub ${hub.port} /healthz 200 (slot map known, links up)` });
    hubs.push(hub);
  }
  await crossNodes(t, hubs[0], hubs[1]);
});

test('a node killed with -9: its members leave, on the other node, within three ticks', async (t) => {
  const { a, b } = await twoNodes(t);
  const channel = 'room';
  const watcher = await wsFor(t, a.wsUrl, { label: 'watcher' });
  await watcher.request({ op: 'subscribe', channel, presence: true });
  const doomed = [];
  for (let i = 0; i < 2; i++) {
    const ws = await wsFor(t, b.wsUrl, { label: `doomed${i}` });
    await ws.request({ op: 'subscribe', channel });
    doomed.push((await watcher.next({ op: 'join', channel }, ANSWER_MS)).client);
  }
  const killed = await b.kill('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  const killedAt = Date.now();
  const leaves = [];
  for (let i = 0; i < doomed.length; i++) {
    leaves.push((await watcher.next({ op: 'leave', channel }, DEAD_NODE_GONE_MS)).client);
  }
  const took = Date.now() - killedAt;
  assert.ok(took <= DEAD_NODE_GONE_MS, `leaves after ${took} ms`);
  t.diagnostic(`both leaves ${took} ms after the kill`);
  assert.deepEqual(idsOf(leaves).sort(), idsOf(doomed).sort());
  const listed = await httpGet(a.port, `/presence?channel=${channel}`);
  assert.equal(listed.status, 200, listed.body);
  assert.equal(listed.json.clients.length, 1, listed.body);
  await watcher.none({ op: 'leave' }, 200); // each leave once
});

test('Redis restarted empty: each node writes its members back; a query during the outage is refused', async (t) => {
  const { redis, a, b } = await twoNodes(t);
  const channel = 'lobby';
  const watcher = await wsFor(t, a.wsUrl, { label: 'watcher' });
  await watcher.request({ op: 'subscribe', channel, presence: true });
  const watcherId = (await watcher.request({ op: 'presence', channel })).clients[0].id;
  const onB = await wsFor(t, b.wsUrl, { label: 'onB' });
  await onB.request({ op: 'subscribe', channel });
  const bClient = (await watcher.next({ op: 'join', channel }, ANSWER_MS)).client;
  const leaver = await wsFor(t, a.wsUrl, { label: 'leaver' });
  await leaver.request({ op: 'subscribe', channel });
  await watcher.next({ op: 'join', channel }, ANSWER_MS);

  await redis.kill('SIGKILL');
  await waitFor(async () => (await httpGet(a.port, '/healthz')).status === 503,
    { timeoutMs: 10000, intervalMs: 100, what: 'node A sees Redis gone' });
  const refused = await httpGet(a.port, `/presence?channel=${channel}`);
  assert.equal(refused.status, 503, refused.body);
  assert.equal(refused.json.error.code, 'unavailable');
  const asked = await watcher.request({ op: 'presence', channel });
  assert.deepEqual([asked.op, asked.code], ['error', 'unavailable'], JSON.stringify(asked));
  leaver.close(); // its HDEL cannot reach Redis

  await redis.start(); // same port, no data
  for (const node of [a, b]) await waitHealthy(node.port, { timeoutMs: 15000, what: `node ${node.port} back on Redis` });
  // Reconnected, each node sets its liveness key again and then writes its members back: wait
  // for that (an event: the lists), not for a fixed time. A node lists its own members from
  // memory and the other's from Redis, so both lists are complete only once both nodes have
  // written theirs back.
  const expected = [watcherId, bClient.id].sort((x, y) => x - y);
  for (const node of [a, b]) {
    await waitFor(async () => {
      const r = await httpGet(node.port, `/presence?channel=${channel}`);
      return r.status === 200 && JSON.stringify(idsOf(r.json.clients)) === JSON.stringify(expected);
    }, { timeoutMs: 15000, intervalMs: 200, what: `node ${node.port} lists the members ${expected} again, without the leaver` });
  }
  // Written back once: no member was taken for a dead node's meanwhile (no leave, no second join).
  await watcher.none((f) => f.op === 'leave' && f.client?.id === bClient.id, 200);
});
