// The plain-PUBLISH bridge loses nothing (docs/OPERATIONS.md "N nodes behind nginx, one Redis",
// docs/PROTOCOL.md "Redis mode and plain PUBLISH"), with a real redis-server and two hubs:
// - a node answers /healthz 200 only once some node ingests the bridged channel, so a payload
//   published right after that reaches the subscribers;
// - a backend PUBLISHes 100 payloads a second; the ingesting node is killed with SIGKILL; the
//   survivor takes the lease over and continues exactly after the last payload recorded as
//   ingested: every payload reaches its subscribers exactly once, in order, with its own
//   "timestamp" passed through.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, wsFor, httpGet, waitFor, sleep, waitHealthy } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import { metricsOf } from './lib/extra.mjs';

const BRIDGED = 'updates';
// The lease lasts 5 s and every node bids each second, so a survivor ingests within 6 s of the
// holder's death; its subscribers then get the backlog at once. 10 s more for a loaded machine.
const TAKEOVER_BOUND_MS = 6000 + 10000;
const READY_BOUND_MS = 10000;

// A backend that PUBLISHes over its own connection (RESP), as a plain Redis client would.
async function backend(t, port) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  t.after(() => socket.destroy());
  socket.on('data', () => {});  // the integer replies: how many subscribers got it
  const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  return {
    publish: (channel, payload) => socket.write(`*3\r\n${bulk('PUBLISH')}${bulk(channel)}${bulk(payload)}`),
  };
}

async function bridgeNode(t, redis) {
  const node = await startServer(['--redis', redis.url, '--bridge', BRIDGED]);
  t.after(() => node.kill('SIGKILL'));
  return node;
}

test('kill -9 of the ingesting node while a backend publishes 100/s: every payload exactly once, in order, timestamp kept', async (t) => {
  const redis = await redisFor(t);
  const nodes = [await bridgeNode(t, redis), await bridgeNode(t, redis)];
  for (const node of nodes) {
    await waitHealthy(node.port, { timeoutMs: READY_BOUND_MS, what: `node ${node.port} ready (connected, bridge ingester known)` });
  }
  const watchers = [];
  for (const [i, node] of nodes.entries()) {
    const ws = await wsFor(t, node.wsUrl, { label: `subscriber on node ${i}` });
    assert.equal((await ws.request({ op: 'subscribe', channel: BRIDGED })).op, 'subscribed');
    watchers.push(ws);
  }

  const source = await backend(t, redis.port);
  const stamp = (n) => new Date(Date.UTC(2026, 11, 5, 8, 0, 0, n)).toISOString();
  const payload = (n) => JSON.stringify({ type: 'geometry.updated', data: { id: n }, timestamp: stamp(n) });
  // Ready means ingested: the very first payload after /healthz 200 arrives on both nodes.
  source.publish(BRIDGED, payload(1));
  for (const ws of watchers) {
    const m = await ws.next({ op: 'message', channel: BRIDGED }, READY_BOUND_MS);
    assert.deepEqual(m.data, { id: 1 });
    assert.equal(m.type, 'geometry.updated');
    assert.equal(m.timestamp, stamp(1), 'the publisher\'s timestamp passes through unchanged');
    assert.equal(typeof m.ts, 'number', 'beside the hub\'s own ts');
  }

  // 100 payloads a second, 2 s before the kill and 10 s after it.
  const total = 1 + 1200;
  let killed = null;
  let victim = -1;
  const started = Date.now();
  for (let n = 2; n <= total; n++) {
    source.publish(BRIDGED, payload(n));
    if (n === 200) {
      const counts = await Promise.all(nodes.map(async (node) => (await metricsOf(node.port)).value('rthub_broker_bridged_total')));
      victim = counts.findIndex((c) => c > 0);
      assert.ok(victim >= 0 && counts.filter((c) => c > 0).length === 1, `one node ingests (${counts})`);
      nodes[victim].proc.kill('SIGKILL');
      killed = n;
    }
    const due = started + (n - 1) * 10;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  const survivor = 1 - victim;
  const ws = watchers[survivor];
  await ws.next((f) => f.op === 'message' && f.data && f.data.id === total, TAKEOVER_BOUND_MS);
  const got = ws.frames.filter((f) => f.op === 'message' && f.channel === BRIDGED);
  const ids = got.map((f) => f.data.id);
  const missing = [];
  for (let n = 1; n <= total; n++) if (!ids.includes(n)) missing.push(n);
  assert.deepEqual(missing, [], `every payload arrived (killed the ingester at payload ${killed})`);
  assert.equal(ids.length, total, `each exactly once (${ids.length - total} duplicates)`);
  ids.forEach((id, k) => assert.equal(id, k + 1, 'in publish order'));
  got.forEach((f, k) => assert.equal(f.seq, got[0].seq + k, 'consecutive positions'));
  assert.equal(ws.frames.filter((f) => f.op === 'subscribed').length, 1, 'no recovered:false notice');
  assert.ok(got.every((f) => f.timestamp === stamp(f.data.id)), 'every timestamp passed through');
  const ingested = (await metricsOf(nodes[survivor].port)).value('rthub_broker_bridged_total');
  t.diagnostic(`killed node ${victim} at payload ${killed}; the survivor ingested ${ingested} of ${total}`);
  assert.ok(ingested > 0 && ingested < total, 'the survivor ingested what followed the takeover');
});
