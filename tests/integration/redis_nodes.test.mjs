// Redis mode: two rthub-server nodes on one real redis-server act as one hub
// (docs/OPERATIONS.md, PROTOCOL.md "Redis mode and plain PUBLISH"):
// agreed positions across nodes, plain-PUBLISH interop through --bridge,
// resume on the other node, and a Redis outage (SIGKILL, restart on the same
// port with no data) that both nodes survive.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, wsFor, sseFor, publish, publishOk, httpGet, waitFor, sleep, assertConsecutive, waitHealthy } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import { metricsOf } from './lib/extra.mjs';

const BRIDGED = 'updates';
const WARMUP = 'bridge.warmup';

// One Redis and two nodes, both bridging `updates` (and a warm-up channel).
async function cluster(t, extra = []) {
  const redis = await redisFor(t);
  const args = ['--redis', redis.url, '--bridge', BRIDGED, '--bridge', WARMUP, '--allow-client-publish', ...extra];
  const a = await serverFor(t, args);
  const b = await serverFor(t, args);
  for (const node of [a, b]) {
    await waitHealthy(node.port, { timeoutMs: 10000, what: `node ${node.port} /healthz 200 (connected to Redis)` });
  }
  return { redis, a, b };
}

// The bridge ingests only on the node that holds the lease, taken within a
// second or so of start: publish on the warm-up channel until a subscriber
// sees it.
async function bridgeReady(t, redis, node) {
  const ws = await wsFor(t, node.wsUrl, { label: 'warm-up' });
  await ws.request({ op: 'subscribe', channel: WARMUP });
  let n = 0;
  await waitFor(async () => {
    n += 1;
    await redis.cli('PUBLISH', WARMUP, JSON.stringify({ n }));
    return ws.frames.some((f) => f.op === 'message');
  }, { timeoutMs: 15000, intervalMs: 200, what: 'a bridged warm-up payload to arrive (the ingest lease)' });
  await ws.close();
}

const position = (m) => `${m.epoch}:${m.seq}`;

test('cross-node delivery: WS and SSE on both nodes see every message once, in order, with identical (epoch, seq)', async (t) => {
  const { a, b } = await cluster(t);
  const channel = 'cross.geo';

  const wsA = await wsFor(t, a.wsUrl, { label: 'ws on A' });
  const wsB = await wsFor(t, b.wsUrl, { label: 'ws on B' });
  for (const ws of [wsA, wsB]) {
    const sub = await ws.request({ op: 'subscribe', channel });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    assert.equal(sub.seq, 0, 'a fresh channel has no message yet');
  }
  const sseA = await sseFor(t, `${a.url}/events?channel=${channel}`, { label: 'sse on A' });
  const sseB = await sseFor(t, `${b.url}/events?channel=${channel}`, { label: 'sse on B' });
  const subA = await sseA.next({ op: 'subscribed', channel });
  const subB = await sseB.next({ op: 'subscribed', channel });
  assert.equal(subA.epoch, subB.epoch, 'both nodes tell the same epoch');
  assert.equal(subA.seq, subB.seq);

  // 30 messages from three kinds of publishers on the two nodes, one at a time.
  const positions = [];
  for (let i = 1; i <= 30; i++) {
    const data = { i, from: i % 3 === 0 ? 'ws-A' : i % 2 ? 'http-A' : 'http-B' };
    if (i % 3 === 0) {
      const answer = await wsA.request({ op: 'publish', channel, type: 'cross.ws', data });
      assert.equal(answer.op, 'published', JSON.stringify(answer));
      positions.push(answer);
    } else {
      positions.push(await publishOk(i % 2 ? a.port : b.port, { channel, type: 'cross.http', data }));
    }
  }
  assertConsecutive(positions.map((p) => ({ ...p, op: 'message' })), { channel, epoch: positions[0].epoch, first: 1 });

  const received = {};
  for (const [name, client] of Object.entries({ wsA, wsB, sseA, sseB })) {
    received[name] = await client.take(30, { op: 'message', channel }, 15000);
    assertConsecutive(received[name], { channel, epoch: positions[0].epoch, first: 1 });
    received[name].forEach((m, k) => {
      assert.equal(m.data.i, k + 1, `${name}: message ${k + 1} carries data #${k + 1}`);
      assert.equal(position(m), position(positions[k]), `${name}: delivered at the position the publisher was told`);
    });
  }
  for (const name of ['wsB', 'sseA', 'sseB']) {
    assert.deepEqual(received[name], received.wsA, `${name} got exactly the objects wsA got (epoch, seq, type, data, ts)`);
  }
  for (const client of [wsA, wsB, sseA, sseB]) await client.none({ op: 'message' }, 300, 'no duplicate after the 30th');
});

test('plain PUBLISH on a bridged channel reaches WS and SSE subscribers of both nodes exactly once', async (t) => {
  const { redis, a, b } = await cluster(t);
  await bridgeReady(t, redis, a);

  const clients = {
    wsA: await wsFor(t, a.wsUrl, { label: 'ws on A' }),
    wsB: await wsFor(t, b.wsUrl, { label: 'ws on B' }),
  };
  for (const ws of Object.values(clients)) {
    const sub = await ws.request({ op: 'subscribe', channel: BRIDGED });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  }
  clients.sseA = await sseFor(t, `${a.url}/events?channel=${BRIDGED}`, { label: 'sse on A' });
  clients.sseB = await sseFor(t, `${b.url}/events?channel=${BRIDGED}`, { label: 'sse on B' });
  await clients.sseA.next({ op: 'subscribed' });
  await clients.sseB.next({ op: 'subscribed' });

  const before = [await metricsOf(a.port), await metricsOf(b.port)]
    .reduce((sum, m) => sum + m.value('rthub_broker_bridged_total'), 0);

  const payloads = [
    { raw: '{"type":"geometry.updated","data":{"id":7},"timestamp":"2025-11-23T10:00:00.000Z"}', type: 'geometry.updated', data: { id: 7 } },
    { raw: 'not json at all: <plain text>', type: 'message', data: 'not json at all: <plain text>' },
    { raw: '[1,2,{"three":3}]', type: 'message', data: [1, 2, { three: 3 }] },
    { raw: '{"data":{"no":"type"}}', type: 'message', data: { data: { no: 'type' } } },
  ];
  for (const p of payloads) {
    const receivers = await redis.cli('PUBLISH', BRIDGED, p.raw);
    assert.equal(receivers, '2', 'both nodes are subscribed to the bridged Redis channel');
  }

  const got = {};
  for (const [name, client] of Object.entries(clients)) {
    got[name] = await client.take(payloads.length, { op: 'message', channel: BRIDGED }, 10000);
    got[name].forEach((m, k) => {
      assert.equal(m.type, payloads[k].type, `${name}: payload ${k} type`);
      assert.deepEqual(m.data, payloads[k].data, `${name}: payload ${k} data`);
    });
    assertConsecutive(got[name], { channel: BRIDGED, epoch: got[name][0].epoch, first: got[name][0].seq });
  }
  for (const name of ['wsB', 'sseA', 'sseB']) {
    assert.deepEqual(got[name].map(position), got.wsA.map(position), `${name}: the same positions as wsA`);
  }
  for (const client of Object.values(clients)) {
    await client.none({ op: 'message', channel: BRIDGED }, 1000, 'each plain PUBLISH is ingested once (no second copy from the other node)');
  }
  const after = [await metricsOf(a.port), await metricsOf(b.port)]
    .reduce((sum, m) => sum + m.value('rthub_broker_bridged_total'), 0);
  assert.equal(after - before, payloads.length, 'rthub_broker_bridged_total (both nodes together) counts each payload once');
});

test('a client that saw seq N on node A resumes on node B exactly (WS since and SSE Last-Event-ID)', async (t) => {
  const { a, b } = await cluster(t);
  const channel = 'resume.nodes';

  // WebSocket.
  const onA = await wsFor(t, a.wsUrl, { label: 'ws on A' });
  await onA.request({ op: 'subscribe', channel });
  await publishOk(a.port, [1, 2, 3, 4, 5].map((i) => ({ channel, data: { i } })));
  const seen = await onA.take(5, { op: 'message', channel });
  const last = seen[4];
  await onA.close();
  for (let i = 6; i <= 12; i++) await publishOk(i % 2 ? a.port : b.port, { channel, data: { i } });

  const onB = await wsFor(t, b.wsUrl, { label: 'ws on B' });
  const sub = await onB.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: last.seq } });
  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  assert.equal(sub.recovered, true, `node B honours a position seen on node A: ${JSON.stringify(sub)}`);
  assert.equal(sub.epoch, last.epoch);
  assert.equal(sub.seq, 12);
  const replay = await onB.take(7, { op: 'message', channel });
  assertConsecutive(replay, { channel, epoch: last.epoch, first: 6 });
  replay.forEach((m) => assert.equal(m.data.i, m.seq));
  await publishOk(a.port, { channel, data: { i: 13 } });
  const live = await onB.next({ op: 'message', channel });
  assert.equal(live.seq, 13, 'then live, with no gap');
  await onB.none({ op: 'message' }, 300, 'and no duplicate');

  // SSE: cursor from node A, Last-Event-ID on node B.
  const sseA = await sseFor(t, `${a.url}/events?channel=${channel}`, { label: 'sse on A' });
  await sseA.next({ op: 'subscribed', channel });
  await publishOk(b.port, [14, 15].map((i) => ({ channel, data: { i } })));
  const [, m15] = await sseA.take(2, { op: 'message', channel });
  assert.equal(m15.seq, 15);
  const cursor = sseA.idOf(m15);
  assert.ok(cursor, 'SSE messages carry an id');
  sseA.close();
  await publishOk(a.port, [16, 17, 18].map((i) => ({ channel, data: { i } })));

  const sseB = await sseFor(t, `${b.url}/events?channel=${channel}`, { label: 'sse on B', headers: { 'Last-Event-ID': cursor } });
  const resumed = await sseB.next({ op: 'subscribed', channel });
  assert.equal(resumed.recovered, true, `Last-Event-ID from node A is honoured on node B: ${JSON.stringify(resumed)}`);
  const sseReplay = await sseB.take(3, { op: 'message', channel });
  assertConsecutive(sseReplay, { channel, epoch: last.epoch, first: 16 });
  await sseB.none({ op: 'message' }, 300, 'nothing after 18');
});

test('Redis killed and restarted: 503 and unavailable meanwhile, clients stay, delivery resumes with the new epoch and no duplicate', async (t) => {
  const { redis, a, b } = await cluster(t);
  const channel = 'outage.ch';

  const wsA = await wsFor(t, a.wsUrl, { label: 'ws on A' });
  const wsB = await wsFor(t, b.wsUrl, { label: 'ws on B' });
  for (const ws of [wsA, wsB]) await ws.request({ op: 'subscribe', channel });
  await bridgeReady(t, redis, a);
  const bridged = await wsFor(t, b.wsUrl, { label: 'bridged on B' });
  await bridged.request({ op: 'subscribe', channel: BRIDGED });
  const sseB = await sseFor(t, `${b.url}/events?channel=${channel}`, { label: 'sse on B' });
  await sseB.next({ op: 'subscribed' });
  const before = await publishOk(a.port, [1, 2, 3].map((i) => ({ channel, data: { i } })));
  const oldEpoch = before[0].epoch;
  for (const ws of [wsA, wsB, sseB]) assertConsecutive(await ws.take(3, { op: 'message', channel }), { channel, epoch: oldEpoch, first: 1 });

  const killed = await redis.kill('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  const outageStart = Date.now();

  for (const node of [a, b]) {
    const res = await waitFor(async () => {
      const r = await httpGet(node.port, '/healthz');
      return r.status === 503 ? r : null;
    }, { timeoutMs: 10000, intervalMs: 100, what: `node ${node.port} /healthz 503 while Redis is down` });
    assert.match(res.body, /unavailable/, '/healthz body during the outage');
  }
  const detectedMs = Date.now() - outageStart;

  for (const node of [a, b]) {
    const res = await publish(node.port, { channel, data: { during: 'outage' } });
    assert.equal(res.status, 503, `POST /publish during the outage: ${res.status} ${res.body}`);
    assert.equal(res.json?.error?.code, 'unavailable', res.body);
    assert.equal(typeof res.json.error.message, 'string');
  }
  const wsPublish = await wsA.request({ op: 'publish', channel, data: { during: 'outage' } });
  assert.equal(wsPublish.op, 'error', JSON.stringify(wsPublish));
  assert.equal(wsPublish.code, 'unavailable', JSON.stringify(wsPublish));
  const other = await wsB.request({ op: 'subscribe', channel: 'outage.other' });
  assert.equal(other.op, 'error', `a subscribe during the outage: ${JSON.stringify(other)}`);
  assert.equal(other.code, 'unavailable');

  // Both nodes keep their WebSocket clients through the outage.
  await sleep(1500);
  for (const [name, ws] of [['ws on A', wsA], ['ws on B', wsB]]) {
    assert.ok(ws.isOpen, `${name} is still connected during the outage (close: ${JSON.stringify(ws.closeInfo)})`);
    const pong = await ws.request({ op: 'ping' });
    assert.equal(pong.op, 'pong');
  }
  await wsA.none({ op: 'message' }, 0, 'nothing published during the outage is delivered');

  await redis.start();
  for (const node of [a, b]) {
    await waitHealthy(node.port, { timeoutMs: 20000, intervalMs: 100, what: `node ${node.port} /healthz 200 after Redis came back` });
  }
  const downMs = Date.now() - outageStart;

  const after = [];
  for (let i = 1; i <= 3; i++) after.push(await publishOk(i === 2 ? a.port : b.port, { channel, data: { after: i } }));
  const newEpoch = after[0].epoch;
  assert.notEqual(newEpoch, oldEpoch, 'Redis lost everything, so the channel starts a new epoch');
  assert.deepEqual(after.map((p) => p.seq), [1, 2, 3]);

  for (const [name, ws] of [['ws on A', wsA], ['ws on B', wsB], ['sse on B', sseB]]) {
    const unasked = await ws.next((f) => f.op === 'subscribed' && f.channel === channel && f.ref === undefined, 10000);
    assert.equal(unasked.recovered, false, `${name}: the restart is told as recovered:false: ${JSON.stringify(unasked)}`);
    assert.equal(unasked.epoch, newEpoch, `${name}: with the new epoch`);
    assert.equal(unasked.seq, 0, `${name}: seq one less than the next message's`);
    const messages = await ws.take(3, { op: 'message', channel }, 10000);
    assertConsecutive(messages, { channel, epoch: newEpoch, first: 1 });
    assert.deepEqual(messages.map((m) => m.data.after), [1, 2, 3]);
    assert.ok(ws.frames.indexOf(unasked) < ws.frames.indexOf(messages[0]), `${name}: subscribed comes before the new messages`);
    await ws.none({ op: 'message' }, 500, `${name}: no duplicate after the outage`);
    await ws.none((f) => f.op === 'subscribed', 0, `${name}: one unasked subscribed only`);
    assert.equal(ws.inbox.endReason, null, `${name} is still connected`);
  }

  // The bridge takes its lease again and ingests plain PUBLISH once more,
  // each payload once.
  let n = 0;
  await waitFor(async () => {
    n += 1;
    await redis.cli('PUBLISH', BRIDGED, JSON.stringify({ type: 'after.outage', data: { n } }));
    return bridged.frames.some((f) => f.op === 'message');
  }, { timeoutMs: 15000, intervalMs: 250, what: 'a plain PUBLISH to be bridged again after the restart' });
  await sleep(1000);
  const bridgedNs = bridged.frames.filter((f) => f.op === 'message').map((f) => f.data.n);
  assert.ok(bridgedNs.length >= 1 && bridgedNs.length <= n, `bridged after the outage: ${JSON.stringify(bridgedNs)} of ${n}`);
  assert.deepEqual([...bridgedNs].sort((x, y) => x - y), bridgedNs, 'in order');
  assert.equal(new Set(bridgedNs).size, bridgedNs.length, `no payload bridged twice: ${JSON.stringify(bridgedNs)}`);
  assert.equal(bridgedNs[bridgedNs.length - 1], n, 'once bridging works, every later payload arrives');

  t.diagnostic(`outage seen by /healthz after ${detectedMs} ms; both nodes healthy ${downMs} ms after the kill`);
  // serverFor's cleanup asserts both nodes exit 0 on SIGTERM: no crash.
});
