// Two rthub-server nodes on a real six-process Redis Cluster (--redis-cluster, docs/OPERATIONS.md
// "Redis Cluster"): delivery across nodes through sharded pub/sub on each channel's master,
// a bridged channel on classic pub/sub, resume on the other node, and the SIGKILL of a master
// while publishing (503 until a replica is promoted, then success; clients keep their
// connections; resume exact or recovered:false).
// The cluster is tests/integration/lib/redis_cluster.mjs; everything stops with the test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, wsFor, publish, publishOk, httpGet, waitFor, sleep, assertConsecutive,
  SCHEDULING_ALLOWANCE_MS, waitHealthy } from './lib/server.mjs';
import { metricsOf } from './lib/extra.mjs';
import { redisClusterFor, failoverBoundMs } from './lib/redis_cluster.mjs';

// RouterOptions::connect_timeout_ms: a command for a dead master waits this long for a connect
// that never completes (hiredis' libuv adapter does not report a refused connect) and fails.
const ROUTER_CONNECT_TIMEOUT_MS = 1000;
// ClusterRouter::kFailoverPollMs: while a master of its map is unreachable, the router asks for
// the map again this often, so it sees a promotion at most this late.
const ROUTER_FAILOVER_POLL_MS = 200;

async function hubsOn(t, cluster, extra = []) {
  const hubs = [];
  for (let i = 0; i < 2; i++) {
    const hub = await serverFor(t, ['--redis-cluster', cluster.seeds, '--allow-client-publish', ...extra]);
    await waitHealthy(hub.port, { timeoutMs: 15000, what: `hub ${hub.port} /healthz 200 (slot map known, links up)` });
    hubs.push(hub);
  }
  return hubs;
}

// The master serving a hub channel's keys (all share the hash tag {channel}).
async function masterOf(cluster, channel) {
  const slot = Number(await cluster.nodes.find((n) => n.alive).cli('CLUSTER', 'KEYSLOT', `rthub:{${channel}}:`));
  const owner = await cluster.ownerOf(slot);
  return { slot, node: cluster.node(owner.port) };
}

const position = (m) => `${m.epoch}:${m.seq}`;

test('two hubs on a Redis Cluster: every channel delivered on both, by SSUBSCRIBE on its master; resume on the other hub', async (t) => {
  const cluster = await redisClusterFor(t);
  const [a, b] = await hubsOn(t, cluster, ['--bridge', 'updates']);
  const channels = ['geo.1', 'geo.2', 'geo.3', 'geo.4', 'geo.5', 'geo.6', 'geo.7', 'geo.8'];
  const masters = new Set();
  for (const channel of channels) masters.add((await masterOf(cluster, channel)).node.port);
  assert.ok(masters.size >= 2, `the channels spread over several masters (${[...masters]})`);

  const wsA = await wsFor(t, a.wsUrl, { label: 'ws on A' });
  const wsB = await wsFor(t, b.wsUrl, { label: 'ws on B' });
  for (const ws of [wsA, wsB]) {
    for (const channel of channels) {
      const sub = await ws.request({ op: 'subscribe', channel });
      assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    }
  }
  // Each hub subscribed each channel on its slot's master, sharded: SHARDNUMSUB there counts both.
  for (const channel of channels) {
    const { node } = await masterOf(cluster, channel);
    await waitFor(async () => {
      const answer = await node.cli('PUBSUB', 'SHARDNUMSUB', `rthub:{${channel}}:m`);
      return answer.trim().split('\n').pop() === '2';
    }, { timeoutMs: 10000, what: `both hubs SSUBSCRIBEd to ${channel} on its master ${node.port}` });
  }
  const idle = await serverFor(t, ['--redis-cluster', cluster.seeds]);  // no subscriber at all
  await waitHealthy(idle.port, { timeoutMs: 15000, what: 'the idle hub ready' });
  const idleBefore = (await metricsOf(idle.port)).value('rthub_broker_messages_in_total');

  const acked = new Map(channels.map((c) => [c, []]));
  for (let i = 1; i <= 5; i++) {
    for (const [k, channel] of channels.entries()) {
      acked.get(channel).push(await publishOk((i + k) % 2 ? a.port : b.port, { channel, data: { i } }));
    }
  }
  for (const channel of channels) {
    const positions = acked.get(channel);
    for (const ws of [wsA, wsB]) {
      const got = await ws.take(5, { op: 'message', channel }, 15000);
      assertConsecutive(got, { channel, epoch: positions[0].epoch, first: 1 });
      assert.deepEqual(got.map(position), positions.map(position), `${ws.inbox.label}: ${channel} at the positions the publishers were told`);
      got.forEach((m, k) => assert.equal(m.data.i, k + 1));
    }
  }
  for (const ws of [wsA, wsB]) await ws.none({ op: 'message' }, 300, `${ws.inbox.label}: no duplicate`);
  assert.equal((await metricsOf(idle.port)).value('rthub_broker_messages_in_total'), idleBefore,
    'a hub with no subscriber receives none of the 40 messages (sharded pub/sub reaches only subscribers)');

  // A backend's plain PUBLISH on any cluster node (classic pub/sub, broadcast to every node)
  // reaches the bridged channel's subscribers on both hubs once: the lease holder ingests it.
  const bridgedA = await wsFor(t, a.wsUrl, { label: 'bridged on A' });
  const bridgedB = await wsFor(t, b.wsUrl, { label: 'bridged on B' });
  for (const ws of [bridgedA, bridgedB]) await ws.request({ op: 'subscribe', channel: 'updates' });
  const backend = cluster.nodes[5];
  // (Its answer counts only that node's own subscribers; the hubs' links may be on others.)
  await backend.cli('PUBLISH', 'updates', '{"type":"geometry.updated","data":{"id":7}}');
  for (const ws of [bridgedA, bridgedB]) {
    const m = await ws.next({ op: 'message', channel: 'updates' }, 10000);
    assert.deepEqual([m.type, m.data], ['geometry.updated', { id: 7 }]);
    await ws.none({ op: 'message', channel: 'updates' }, 500, `${ws.inbox.label}: ingested once`);
  }

  // Resume: seen up to 5 on A, 6..9 published meanwhile, resumed on B.
  const channel = channels[0];
  await wsA.close();
  for (let i = 6; i <= 9; i++) await publishOk(a.port, { channel, data: { i } });
  const onB = await wsFor(t, b.wsUrl, { label: 'resumed on B' });
  const last = acked.get(channel)[4];
  const sub = await onB.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: last.seq } });
  assert.equal(sub.recovered, true, JSON.stringify(sub));
  assert.equal(sub.seq, 9);
  const replay = await onB.take(4, { op: 'message', channel });
  assertConsecutive(replay, { channel, epoch: last.epoch, first: 6 });
  await publishOk(b.port, { channel, data: { i: 10 } });
  assert.equal((await onB.next({ op: 'message', channel })).seq, 10, 'then live, with no gap');
  await onB.none({ op: 'message' }, 300, 'and no duplicate');
});

test('a master killed while two hubs publish: 503 until a replica is promoted, then success; clients stay; resume exact or recovered:false', async (t) => {
  const cluster = await redisClusterFor(t);
  const [a, b] = await hubsOn(t, cluster);
  const channel = 'failover.ch';
  const { slot, node: master } = await masterOf(cluster, channel);

  const watchers = [await wsFor(t, a.wsUrl, { label: 'ws on A' }), await wsFor(t, b.wsUrl, { label: 'ws on B' })];
  for (const ws of watchers) await ws.request({ op: 'subscribe', channel });
  const resumer = await wsFor(t, b.wsUrl, { label: 'resumer' });
  await resumer.request({ op: 'subscribe', channel });

  // Publishes one at a time, alternating hubs, until told to stop; records each answer.
  const answers = [];
  let stop = false;
  let i = 0;
  const publisher = (async () => {
    while (!stop) {
      i += 1;
      const started = Date.now();
      const res = await publish(i % 2 ? a.port : b.port, { channel, data: { i } });
      answers.push({ i, hub: i % 2 ? 'a' : 'b', status: res.status, body: res.json ?? res.body, started, ended: Date.now() });
      await sleep(20);
    }
  })();

  await waitFor(() => answers.filter((x) => x.status === 200).length >= 20, { what: '20 publishes before the kill' });
  // The resumer saw what was published so far; it leaves, to come back after the failover.
  const seenBefore = await resumer.take(20, { op: 'message', channel });
  const resumeFrom = seenBefore[19];
  await resumer.close();

  const killedAt = Date.now();
  await master.kill('SIGKILL');
  const afterKill = () => answers.filter((x) => x.started >= killedAt);
  // What Redis promises (failoverBoundMs) plus what the router adds before it sees the promotion.
  const recoveryBoundMs = failoverBoundMs() + ROUTER_CONNECT_TIMEOUT_MS + ROUTER_FAILOVER_POLL_MS + SCHEDULING_ALLOWANCE_MS;
  await waitFor(() => afterKill().filter((x) => x.status === 200).length >= 20,
    { timeoutMs: recoveryBoundMs + 30000, what: '20 successful publishes after the kill' });
  stop = true;
  await publisher;

  const firstOk = afterKill().find((x) => x.status === 200);
  const failed = answers.filter((x) => x.status !== 200);
  t.diagnostic(`slot ${slot}: master ${master.port} killed; first publish succeeding ${firstOk.ended - killedAt} ms later; ${failed.length} failed meanwhile (${[...new Set(failed.map((x) => x.status))]})`);
  assert.ok(firstOk.ended - killedAt <= recoveryBoundMs,
    `publishes succeed again within ${recoveryBoundMs} ms of the kill (took ${firstOk.ended - killedAt} ms)`);
  // Failures are loud: 503 (the master unreachable, the slot not served); a 504 (outcome unknown)
  // only for a publish sent before that hub knew the master was gone: the one in flight at the
  // kill, or one that reached the hub before its loop read the connection's end (on a loaded
  // machine a stalled loop runs its command timeout before it reads the end). Once a hub has
  // answered 503, it knows, and no later publish of it may be 504.
  const inFlight = answers.filter((x) => x.started < killedAt && x.ended >= killedAt);
  const noticed = {};
  for (const x of afterKill()) {
    if (x.status === 503) noticed[x.hub] = Math.min(noticed[x.hub] ?? Infinity, x.ended);
  }
  for (const x of failed) {
    const unknownBeforeNoticed = x.status === 504 && x.started < (noticed[x.hub] ?? Infinity);
    const allowed = x.status === 503 || (x.status === 504 && inFlight.includes(x)) || unknownBeforeNoticed;
    assert.ok(allowed, `publish ${x.i}: ${x.status} ${JSON.stringify(x.body)}`);
    if (x.status === 503) assert.equal(x.body?.error?.code ?? x.body?.code ?? 'unavailable', 'unavailable', JSON.stringify(x.body));
  }
  assert.ok(failed.every((x) => x.started >= killedAt - 5000), 'nothing failed long before the kill');

  // The clients kept their connections and saw every acknowledged publish once, in order.
  const ok = answers.filter((x) => x.status === 200);
  const last = ok[ok.length - 1];
  for (const ws of watchers) {
    const label = ws.inbox.label;
    assert.ok(ws.isOpen && ws.closeInfo === null, `${label} still connected`);
    const messages = () => ws.frames.filter((f) => f.op === 'message' && f.channel === channel);
    await waitFor(() => messages().some((m) => m.data.i === last.i),
      { timeoutMs: 15000, what: `${label}: the last acknowledged publish` });
    const got = messages();
    const is = got.map((m) => m.data.i);
    assert.equal(new Set(is).size, is.length, `${label}: no duplicate (${is})`);
    for (let k = 1; k < got.length; k++) {
      assert.ok(got[k].data.i > got[k - 1].data.i, `${label}: in publish order (${is})`);
      if (got[k].epoch === got[k - 1].epoch) assert.ok(got[k].seq > got[k - 1].seq, `${label}: positions increase`);
    }
    for (const x of ok) assert.ok(is.includes(x.i), `${label}: acknowledged publish ${x.i} delivered (${is})`);
  }

  // Resume from a position seen before the kill: exact where the promoted replica kept the
  // history, recovered:false where it did not; never a wrong replay.
  const back = await wsFor(t, a.wsUrl, { label: 'resumed after failover' });
  const sub = await back.request({ op: 'subscribe', channel, since: { epoch: resumeFrom.epoch, seq: resumeFrom.seq } });
  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  if (sub.recovered) {
    assert.equal(sub.epoch, resumeFrom.epoch);
    const replay = await back.take(sub.seq - resumeFrom.seq, { op: 'message', channel });
    assertConsecutive(replay, { channel, epoch: resumeFrom.epoch, first: resumeFrom.seq + 1 });
    for (const x of ok.filter((y) => y.body.seq > resumeFrom.seq && y.body.epoch === resumeFrom.epoch)) {
      assert.equal(replay[x.body.seq - resumeFrom.seq - 1].data.i, x.i, `replayed seq ${x.body.seq} is publish ${x.i}`);
    }
  } else {
    t.diagnostic(`resume answered recovered:false: ${JSON.stringify(sub)}`);
  }
  t.diagnostic(`resume after the failover: recovered ${sub.recovered}`);
});
