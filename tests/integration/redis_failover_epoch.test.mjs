// A Redis failover that loses writes (docs/OPERATIONS.md "Limits as built"): a primary acknowledges
// publishes its replica never receives, dies, and the replica takes its address (a small TCP proxy
// stands for the virtual IP). The replica's count of the channel is behind what the hub nodes
// delivered; without a check it would number new messages at positions the nodes already saw and
// they would drop them as repeats. The nodes check on reconnect (kVerify script) and Redis begins
// a new epoch: each subscriber gets `subscribed` recovered:false in the new epoch, then every
// message published after that exactly once, in order, on both nodes. The same on a Redis
// Cluster: the replica is frozen and cut off while its master takes writes, the master is killed, and the
// replica is promoted by CLUSTER FAILOVER TAKEOVER.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { serverFor, wsFor, waitFor, publishOk, publish, HANG_MS } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import { freePort, metricsOf } from './lib/extra.mjs';
import { redisClusterFor } from './lib/redis_cluster.mjs';

// Reconnects back off from 100 ms up to 5 s with jitter and the first ping answers within a
// one-second tick (lib/broker/redis/redis_broker_link.cpp): a node is back well within the hang
// bound on a loaded machine.
const RECOVER_BOUND_MS = HANG_MS;

// A TCP forwarder to one Redis at a time; switchTo() closes every open connection (a failover).
async function proxyFor(t, targetPort) {
  const port = await freePort();
  const sockets = new Set();
  let target = targetPort;
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  return {
    port,
    switchTo(newTarget) {
      target = newTarget;
      for (const s of sockets) s.destroy();
    },
  };
}

// After a failover that lost seqs the nodes delivered: some node finds the history broken, Redis
// numbers the channel in a new epoch, each subscriber gets recovered:false in it, then every
// message published from then on once, in order, numbered from 1.
async function expectNewEpoch(nodes, subscribers, channel, first, epochInRedis) {
  // Each node re-subscribes and checks the channel; the first check finds seq 6 missing and Redis
  // begins a new epoch (counted by that node).
  await waitFor(async () => {
    let broken = 0;
    for (const node of nodes) broken += (await metricsOf(node.port)).value('rthub_broker_histories_broken_total');
    return broken >= 1;
  }, { timeoutMs: RECOVER_BOUND_MS, what: 'a node found the history broken' });
  const epoch = await epochInRedis();
  assert.notEqual(epoch, first, 'Redis numbers the channel in a new epoch');

  // Publishes after the failover: a node may answer 503 until its links are back.
  const after = [];
  for (let n = 7; n <= 12; n++) {
    const node = nodes[n % 2];
    await waitFor(async () => (await publish(node.port, { channel, type: 'step', data: { n } })).status === 200,
      { timeoutMs: RECOVER_BOUND_MS, intervalMs: 100, what: `publish ${n} accepted after the failover` });
    after.push(n);
  }
  for (const [i, ws] of subscribers.entries()) {
    const notice = await ws.next((f) => f.op === 'subscribed' && f.channel === channel && f.epoch === epoch,
      RECOVER_BOUND_MS);
    assert.equal(notice.recovered, false, `subscriber ${i} told history broke: ${JSON.stringify(notice)}`);
    const got = await ws.take(after.length, (f) => f.op === 'message' && f.channel === channel && f.epoch === epoch,
      RECOVER_BOUND_MS);
    assert.deepEqual(got.map((m) => [m.seq, m.data.n]), after.map((n, k) => [k + 1, n]),
      `subscriber ${i}: every message after the failover once, in order, numbered from 1`);
    await ws.none((f) => f.op === 'message' && f.channel === channel);
  }
}

const seqKey = (channel) => `rthub:{${channel}}:seq`;

test('a failover to a replica that lacks writes begins a new epoch: recovered:false, then every message once on every node', async (t) => {
  const channel = 'failover.epoch';
  const primary = await redisFor(t);
  const replica = await redisFor(t, ['--replicaof', '127.0.0.1', String(primary.port)]);
  await waitFor(async () => /master_link_status:up/.test(await replica.cli('INFO', 'replication')),
    { timeoutMs: RECOVER_BOUND_MS, what: 'replica linked to the primary' });
  const proxy = await proxyFor(t, primary.port);
  const url = `redis://127.0.0.1:${proxy.port}`;
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const node = await serverFor(t, ['--redis', url, '--allow-client-publish']);
    await waitFor(async () => (await metricsOf(node.port)).value('rthub_broker_up') === 1,
      { timeoutMs: RECOVER_BOUND_MS, what: `node ${i} on Redis` });
    nodes.push(node);
  }
  const subscribers = [];
  for (const [i, node] of nodes.entries()) {
    const ws = await wsFor(t, node.wsUrl, { label: `subscriber-${i}` });
    const answer = await ws.request({ op: 'subscribe', channel });
    assert.equal(answer.op, 'subscribed', JSON.stringify(answer));
    subscribers.push(ws);
  }
  const publishOn = (node, n) => publishOk(node.port, { channel, type: 'step', data: { n } });

  // Three messages the replica receives, three it never does.
  let first;
  for (let n = 1; n <= 3; n++) {
    const p = await publishOn(nodes[0], n);
    first ??= p.epoch;
    assert.equal(p.epoch, first);
  }
  await waitFor(async () => (await replica.cli('GET', seqKey(channel))) === '3',
    { timeoutMs: RECOVER_BOUND_MS, what: 'replica holds seq 3' });
  await replica.cli('REPLICAOF', 'NO', 'ONE');
  for (let n = 4; n <= 6; n++) await publishOn(nodes[n % 2], n);
  for (const ws of subscribers) {
    const got = await ws.take(6, (f) => f.op === 'message' && f.channel === channel);
    assert.deepEqual(got.map((m) => [m.epoch, m.seq, m.data.n]),
      [1, 2, 3, 4, 5, 6].map((n) => [first, n, n]));
  }
  assert.equal(await replica.cli('GET', seqKey(channel)), '3', 'the replica lacks seqs 4..6');

  // The failover: the primary dies, its address now leads to the replica.
  await primary.kill('SIGKILL');
  proxy.switchTo(replica.port);

  await expectNewEpoch(nodes, subscribers, channel, first, () => replica.cli('GET', `rthub:{${channel}}:epoch`));
});

test('Redis Cluster: a promoted replica that lacks writes begins a new epoch on both nodes', async (t) => {
  const channel = 'failover.cluster';
  const cluster = await redisClusterFor(t);
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const node = await serverFor(t, ['--redis-cluster', cluster.seeds, '--allow-client-publish']);
    await waitFor(async () => (await metricsOf(node.port)).value('rthub_broker_up') === 1,
      { timeoutMs: RECOVER_BOUND_MS, what: `node ${i} on the cluster` });
    nodes.push(node);
  }
  const slot = Number(await cluster.nodes[0].cli('CLUSTER', 'KEYSLOT', `rthub:{${channel}}:`));
  const owner = await cluster.ownerOf(slot);
  const master = cluster.node(owner.port);
  const replica = cluster.node((await cluster.topology()).find((n) => n.master === owner.id).port);
  const subscribers = [];
  for (const [i, node] of nodes.entries()) {
    const ws = await wsFor(t, node.wsUrl, { label: `subscriber-${i}` });
    assert.equal((await ws.request({ op: 'subscribe', channel })).op, 'subscribed');
    subscribers.push(ws);
  }
  const publishOn = (node, n) => publishOk(node.port, { channel, type: 'step', data: { n } });
  let first;
  for (let n = 1; n <= 3; n++) first = (await publishOn(nodes[0], n)).epoch;
  // The replica has everything so far (its offset caught up with its master's), then freezes.
  const offset = (info, field) => Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
  const masterOffset = offset(await master.cli('INFO', 'replication'), 'master_repl_offset');
  await waitFor(async () => offset(await replica.cli('INFO', 'replication'), 'slave_repl_offset') >= masterOffset,
    { timeoutMs: RECOVER_BOUND_MS, what: 'replica caught up' });
  // Frozen, and its replication link closed by the master (a frozen process would still read,
  // on waking, what its kernel buffered): it cannot reconnect before the master dies.
  await replica.signal('SIGSTOP');
  t.after(() => replica.signal('SIGCONT'));
  await master.cli('CLIENT', 'KILL', 'TYPE', 'replica');
  for (let n = 4; n <= 6; n++) await publishOn(nodes[n % 2], n);
  for (const ws of subscribers) {
    const got = await ws.take(6, (f) => f.op === 'message' && f.channel === channel);
    assert.deepEqual(got.map((m) => [m.epoch, m.seq]), [1, 2, 3, 4, 5, 6].map((n) => [first, n]));
  }
  await master.kill('SIGKILL');
  await replica.signal('SIGCONT');
  // The replica may also have started its own election meanwhile: either way it ends master.
  await replica.cli('CLUSTER', 'FAILOVER', 'TAKEOVER').catch(() => {});
  await waitFor(async () => /role:master/.test(await replica.cli('INFO', 'replication')),
    { timeoutMs: RECOVER_BOUND_MS, what: 'replica promoted' });
  await expectNewEpoch(nodes, subscribers, channel, first,
    () => replica.cli('GET', `rthub:{${channel}}:epoch`));
});

// A new epoch seen first on the pub/sub link, its first messages missed there (a link moving to a
// promoted master, as in the cluster case above): the node reads the new epoch from its first
// message before delivering any, so its subscribers miss nothing of it. Made by hand in Redis:
// the channel renumbered in epoch "e2" with two messages in its stream, only the second published.
test('a new epoch whose first messages the pub/sub link missed is delivered from its first message', async (t) => {
  const channel = 'failover.missed';
  const redis = await redisFor(t);
  const node = await serverFor(t, ['--redis', redis.url]);
  await waitFor(async () => (await metricsOf(node.port)).value('rthub_broker_up') === 1,
    { timeoutMs: RECOVER_BOUND_MS, what: 'the node on Redis' });
  const ws = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await ws.request({ op: 'subscribe', channel })).op, 'subscribed');
  const first = (await publishOk(node.port, { channel, type: 'step', data: { n: 1 } })).epoch;
  await publishOk(node.port, { channel, type: 'step', data: { n: 2 } });
  await ws.take(2, (f) => f.op === 'message' && f.channel === channel);

  const base = `rthub:{${channel}}:`;
  const record = (seq, n) => `e2 ${seq} ${Date.now()} 4:step{"n":${n}}`;
  await redis.cli('DEL', `${base}log`);
  await redis.cli('SET', `${base}epoch`, 'e2');
  await redis.cli('SET', `${base}seq`, '2');
  await redis.cli('XADD', `${base}log`, '1-1', 'r', record(1, 3));
  await redis.cli('XADD', `${base}log`, '2-1', 'r', record(2, 4));
  assert.equal(await redis.cli('PUBLISH', `${base}m`, record(2, 4)), '1', 'the node hears the channel');

  const notice = await ws.next((f) => f.op === 'subscribed' && f.channel === channel && f.epoch === 'e2');
  assert.notEqual(first, 'e2');
  assert.equal(notice.recovered, false, JSON.stringify(notice));
  assert.equal(notice.seq, 0, `the subscriber is told the new epoch starts before its first message: ${JSON.stringify(notice)}`);
  const got = await ws.take(2, (f) => f.op === 'message' && f.channel === channel && f.epoch === 'e2');
  assert.deepEqual(got.map((m) => [m.seq, m.data.n]), [[1, 3], [2, 4]]);
});
