// --shards N (docs/ARCHITECTURE.md "Shards"): N service threads, each with
// its own listening socket on the one port (SO_REUSEPORT), one numbering and
// one history per channel. The kernel spreads connections by address hash, so
// with dozens of clients both shards hold some; every check below then needs
// messages to cross from the shard that took the publish to the other one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, wsFor, sseFor, publishOk, assertConsecutive, sleep, waitFor, httpGet, waitHealthy } from './lib/server.mjs';
import { metricsOf, run } from './lib/extra.mjs';
import { redisFor } from './lib/redis.mjs';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

async function listeningSockets(port) {
  const { stdout } = await run('ss', ['-Htln', `sport = :${port}`]);
  return stdout.split('\n').filter((line) => line.trim()).length;
}

test('two shards listen on one port; every subscriber on either shard gets every message once, in order', async (t) => {
  const srv = await serverFor(t, ['--shards', '2', '--allow-client-publish']);
  assert.equal(await listeningSockets(srv.port), 2, 'one listening socket per shard on the same port');

  const channel = 'shards.fanout';
  const clients = [];
  for (let i = 0; i < 24; i++) {
    const ws = await wsFor(t, srv.wsUrl, { label: `ws ${i}` });
    assert.equal((await ws.request({ op: 'subscribe', channel })).op, 'subscribed');
    clients.push(ws);
  }
  const streams = [];
  for (let i = 0; i < 8; i++) {
    const es = await sseFor(t, `${srv.url}/events?channel=${channel}`, { label: `sse ${i}` });
    await es.next({ op: 'subscribed' });
    streams.push(es);
  }

  // Publishes from several connections at once (each lands on either shard), and from clients.
  await Promise.all(range(0, 3).map((p) => (async () => {
    for (const i of range(1, 30)) await publishOk(srv.port, { channel, data: { p, i } });
  })()));
  for (const i of range(1, 10)) {
    const ack = await clients[i].request({ op: 'publish', channel, data: { client: i } });
    assert.equal(ack.op, 'published', `client publish: ${JSON.stringify(ack)}`);
  }
  const total = 130;

  for (const ws of clients) {
    const messages = await ws.take(total, { op: 'message', channel }, 10000);
    assertConsecutive(messages, { channel, epoch: messages[0].epoch, first: 1 });
  }
  await clients[0].none({ op: 'message', channel }, 300, 'no duplicate');
  const epochs = new Set();
  for (const es of streams) {
    const messages = await es.take(total, { op: 'message', channel }, 10000);
    assertConsecutive(messages, { channel, epoch: messages[0].epoch, first: 1 });
    epochs.add(messages[0].epoch);
  }
  assert.equal(epochs.size, 1, 'one numbering for the channel, whatever the shard');

  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_connections', { transport: 'ws' }), 24, '/metrics counts every shard\'s connections');
  assert.equal(metrics.value('rthub_connections', { transport: 'sse' }), 8);
  assert.equal(metrics.value('rthub_messages_published_total'), total, 'each message counted once');
  assert.equal(metrics.value('rthub_deliveries_total'), total * 32, 'one delivery per subscriber per message');
});

test('with shards, resume replays the shared history exactly, on whichever shard the client lands', async (t) => {
  const srv = await serverFor(t, ['--shards', '3']);
  const channel = 'shards.resume';
  await publishOk(srv.port, range(1, 20).map((i) => ({ channel, data: { i } })));
  const [first] = await publishOk(srv.port, [{ channel, data: { i: 21 } }]);

  // Enough reconnects that they land on every shard.
  for (let attempt = 0; attempt < 12; attempt++) {
    const ws = await wsFor(t, srv.wsUrl, { label: `resume ${attempt}` });
    const since = { epoch: first.epoch, seq: 5 + attempt };
    const sub = await ws.request({ op: 'subscribe', channel, since });
    assert.equal(sub.recovered, true, JSON.stringify(sub));
    const replay = await ws.take(21 - since.seq, { op: 'message', channel });
    assertConsecutive(replay, { channel, epoch: first.epoch, first: since.seq + 1 });
    await ws.close();
  }

  // SSE: the cursor of one stream resumes on another connection.
  const es = await sseFor(t, `${srv.url}/events?channel=${channel}`);
  await es.next({ op: 'subscribed' });
  await publishOk(srv.port, { channel, data: { i: 22 } });
  const m22 = await es.next({ op: 'message', channel });
  const cursor = es.idOf(m22);
  es.close();
  await publishOk(srv.port, range(23, 30).map((i) => ({ channel, data: { i } })));
  const again = await sseFor(t, `${srv.url}/events?channel=${channel}&last_event_id=${encodeURIComponent(cursor)}`);
  const sub = await again.next({ op: 'subscribed' });
  assert.equal(sub.recovered, true, JSON.stringify(sub));
  assertConsecutive(await again.take(8, { op: 'message', channel }), { channel, epoch: first.epoch, first: 23 });
});

test('--max-connections counts the connections of every shard', async (t) => {
  const srv = await serverFor(t, ['--shards', '2', '--max-connections', '6']);
  const open = [];
  for (let i = 0; i < 6; i++) open.push(await wsFor(t, srv.wsUrl, { label: `ws ${i}` }));
  await sleep(100);
  let refused = 0;
  for (let i = 0; i < 6; i++) {
    try {
      await wsFor(t, srv.wsUrl, { label: `over ${i}`, openTimeoutMs: 3000 });
    } catch (error) {
      assert.match(String(error.message), /503/, `refused with 503: ${error.message}`);
      refused++;
    }
  }
  assert.equal(refused, 6, 'every connection past the hub-wide limit is refused, on either shard');
});

test('with Redis, each shard is one more subscriber of Redis: a sharded node and a plain one act as one hub', async (t) => {
  const redis = await redisFor(t);
  const sharded = await serverFor(t, ['--redis', redis.url, '--shards', '2']);
  const plain = await serverFor(t, ['--redis', redis.url]);
  for (const node of [sharded, plain]) {
    await waitHealthy(node.port, { timeoutMs: 10000, what: `node ${node.port} connected to Redis` });
  }
  const channel = 'shards.redis';
  const clients = [];
  for (let i = 0; i < 12; i++) {
    const node = i % 3 === 0 ? plain : sharded;
    const ws = await wsFor(t, node.wsUrl, { label: `ws ${i}` });
    assert.equal((await ws.request({ op: 'subscribe', channel })).op, 'subscribed');
    clients.push(ws);
  }
  for (const i of range(1, 40)) await publishOk((i % 2 ? sharded : plain).port, { channel, data: { i } });
  for (const ws of clients) {
    const messages = await ws.take(40, { op: 'message', channel }, 10000);
    assertConsecutive(messages, { channel, epoch: messages[0].epoch, first: 1 });
  }
  await clients[1].none({ op: 'message', channel }, 300, 'no duplicate from the second shard');
  const metrics = await metricsOf(sharded.port);
  assert.equal(metrics.value('rthub_messages_published_total'), 40, 'each message counted once on the sharded node');
});
