// Redis faults an operator meets (docs/OPERATIONS.md "Faults": "Redis hangs", "Redis links
// cut"), with a real redis-server:
// - frozen by SIGSTOP: /healthz answers 503 and rthub_broker_up is 0 from the first missed ping
//   until Redis answers again, the links are dropped and reconnected meanwhile, and delivery
//   resumes after SIGCONT;
// - one node's links cut by CLIENT KILL while another node publishes 200 msg/s: the cut node's
//   subscribers get every message once, in order, with no `recovered:false` (the stream still has
//   every message, so a gap fill must wait for the link instead of declaring loss).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { serverFor, wsFor, httpGet, waitFor, sleep, publish as httpPublish } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import { metricsOf, keepAlivePublisher } from './lib/extra.mjs';

// The broker's promise (lib/broker/redis/redis_broker.cpp): each link is pinged every second; a
// ping still unanswered at the next tick makes the node unready, so a hang shows within 2 s. The
// tests allow 4 s more for a loaded machine.
const UNREADY_BOUND_MS = 2000 + 4000;
// Reconnects back off from 100 ms (the attempt count resets at each connect) and the first ping
// answers within a tick: healthy again well within 10 s on a loaded machine.
const RECOVER_BOUND_MS = 10000;

const healthz = async (port) => (await httpGet(port, '/healthz')).status;

async function connectedNode(t, redis, extra = []) {
  const node = await serverFor(t, ['--redis', redis.url, '--allow-client-publish', ...extra]);
  await waitFor(async () => (await healthz(node.port)) === 200,
    { timeoutMs: RECOVER_BOUND_MS, what: `node ${node.port} healthy on Redis` });
  return node;
}

test('Redis frozen by SIGSTOP: /healthz 503 and rthub_broker_up 0 for the whole freeze, links reconnected, delivery resumes', async (t) => {
  const redis = await redisFor(t);
  const node = await connectedNode(t, redis);
  const channel = 'faults.frozen';
  const watcher = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await watcher.request({ op: 'subscribe', channel })).op, 'subscribed');
  const reconnectsBefore = (await metricsOf(node.port)).value('rthub_broker_reconnects_total');

  const pid = redis.pid;
  process.kill(pid, 'SIGSTOP');
  let frozen = true;
  t.after(() => { if (frozen) try { process.kill(pid, 'SIGCONT'); } catch { /* already gone */ } });
  const stoppedAt = Date.now();
  await waitFor(async () => (await healthz(node.port)) === 503,
    { timeoutMs: UNREADY_BOUND_MS, intervalMs: 100, what: '/healthz 503 after Redis froze' });
  t.diagnostic(`/healthz 503 ${Date.now() - stoppedAt} ms after SIGSTOP`);

  // From then on, for 6 s of freeze (several ping ticks and reconnects to the frozen Redis, whose
  // kernel still accepts connections), every answer says unhealthy.
  const until = Date.now() + 6000;
  let samples = 0;
  while (Date.now() < until) {
    assert.equal(await healthz(node.port), 503, `/healthz during the freeze (sample ${samples})`);
    const m = await metricsOf(node.port);
    assert.equal(m.value('rthub_broker_up'), 0, `rthub_broker_up during the freeze (sample ${samples})`);
    samples++;
    await sleep(250);
  }
  const reconnects = (await metricsOf(node.port)).value('rthub_broker_reconnects_total') - reconnectsBefore;
  assert.ok(reconnects >= 1, `links dropped after two missed pings and reconnected (${reconnects} reconnects)`);

  process.kill(pid, 'SIGCONT');
  frozen = false;
  const resumedAt = Date.now();
  await waitFor(async () => (await healthz(node.port)) === 200,
    { timeoutMs: RECOVER_BOUND_MS, intervalMs: 100, what: '/healthz 200 after SIGCONT' });
  t.diagnostic(`/healthz 200 ${Date.now() - resumedAt} ms after SIGCONT; ${reconnects} reconnects during the freeze`);
  assert.equal((await metricsOf(node.port)).value('rthub_broker_up'), 1);

  // Delivery works again: a publish reaches the subscriber that stayed connected.
  const publisher = await wsFor(t, node.wsUrl, { label: 'publisher' });
  const answer = await publisher.request({ op: 'publish', channel, data: { after: 'freeze' } }, RECOVER_BOUND_MS);
  assert.equal(answer.op, 'published', JSON.stringify(answer));
  const got = await watcher.next({ op: 'message', channel, seq: answer.seq }, RECOVER_BOUND_MS);
  assert.deepEqual(got.data, { after: 'freeze' });
});

// The ids of the Redis connections of one hub process (the broker names them rthub-<pid>-...).
async function linksOf(redis, pid) {
  const list = await redis.cli('CLIENT', 'LIST');
  return list.split('\n').filter((line) => new RegExp(`\\bname=rthub-${pid}-`).test(line))
    .map((line) => /\bid=(\d+)/.exec(line)[1]);
}

test('CLIENT KILL of one node\'s links while another node publishes 200 msg/s: no message lost, no recovered:false', async (t) => {
  const redis = await redisFor(t);
  // A history long enough that the stream surely still holds whatever a cut link missed.
  const a = await connectedNode(t, redis, ['--history', '5000']);
  const b = await connectedNode(t, redis, ['--history', '5000']);
  const channel = 'faults.cut';
  const subscribers = [];
  for (let i = 0; i < 3; i++) {
    const ws = await wsFor(t, a.wsUrl, { label: `subscriber ${i} on A` });
    const sub = await ws.request({ op: 'subscribe', channel });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    subscribers.push(ws);
  }
  assert.equal((await linksOf(redis, a.proc.pid)).length, 2, 'node A has a command link and a pub/sub link');

  // Node B publishes one message every 5 ms (awaiting each answer, so at most 200 msg/s).
  const publisher = keepAlivePublisher(b.port);
  t.after(() => publisher.close());
  let last = null;
  let publishing = true;
  const errors = [];
  const loop = (async () => {
    let n = 0;
    while (publishing) {
      const started = Date.now();
      const res = await publisher.post({ channel, type: 'cut.test', data: { n: ++n } });
      if (res.status === 200) last = res.json;
      else errors.push(`${res.status} ${res.body}`);
      await sleep(Math.max(0, 5 - (Date.now() - started)));
    }
  })();

  const rounds = 6;
  for (let round = 0; round < rounds; round++) {
    await sleep(400);
    const ids = await linksOf(redis, a.proc.pid);
    for (const id of ids) await redis.cli('CLIENT', 'KILL', 'ID', id);
    // Both links come back (new ids) before the next cut.
    await waitFor(async () => {
      const now = await linksOf(redis, a.proc.pid);
      return now.length === 2 && now.every((id) => !ids.includes(id)) && (await healthz(a.port)) === 200;
    }, { timeoutMs: RECOVER_BOUND_MS, intervalMs: 50, what: `node A reconnected after cut ${round}` });
  }
  await sleep(400);
  publishing = false;
  await loop;
  assert.deepEqual(errors, [], 'node B publishes throughout (its links were not cut)');
  assert.ok(last && last.seq > 100, `published enough to cross the cuts (last seq ${last && last.seq})`);

  for (const [i, ws] of subscribers.entries()) {
    // Every message up to the last is in the stream: it arrives, filled if pub/sub missed it.
    await ws.next({ op: 'message', channel, seq: last.seq }, RECOVER_BOUND_MS);
    const subscribed = ws.frames.filter((f) => f.op === 'subscribed');
    assert.equal(subscribed.length, 1, `subscriber ${i}: no recovered:false notice (${JSON.stringify(subscribed.slice(1))})`);
    const seqs = ws.frames.filter((f) => f.op === 'message' && f.channel === channel).map((f) => f.seq);
    assert.equal(seqs.length, last.seq, `subscriber ${i}: every message once`);
    seqs.forEach((seq, k) => assert.equal(seq, k + 1, `subscriber ${i}: message ${k + 1} in order`));
  }
  const m = await metricsOf(a.port);
  t.diagnostic(`node A: ${m.value('rthub_broker_gap_fills_total')} messages filled from the stream over ${rounds} cuts, ${last.seq} published`);
});

// The ids of a node's command link in Redis (named rthub-<pid>-commands).
async function commandLinksOf(redis, pid) {
  const list = await redis.cli('CLIENT', 'LIST');
  return list.split('\n').filter((line) => line.includes(`name=rthub-${pid}-commands`))
    .map((line) => /\bid=(\d+)/.exec(line)[1]);
}

test('a pub/sub ping missed, then the command link reconnected: the pub/sub link is pinged again and the node is healthy again', async (t) => {
  const redis = await redisFor(t);
  const node = await connectedNode(t, redis);
  const channel = 'faults.ping';
  const watcher = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await watcher.request({ op: 'subscribe', channel })).op, 'subscribed');

  // CLIENT PAUSE WRITE holds PUBLISH but answers PING: the pub/sub link's ping (a PUBLISH sent on
  // the command link) goes unanswered while the command link stays healthy, so the pub/sub link
  // misses it (503 within UNREADY_BOUND_MS).
  await redis.cli('CLIENT', 'PAUSE', '60000', 'WRITE');
  let paused = true;
  t.after(async () => { if (paused) await redis.cli('CLIENT', 'UNPAUSE').catch(() => {}); });
  await waitFor(async () => (await healthz(node.port)) === 503,
    { timeoutMs: UNREADY_BOUND_MS, intervalMs: 20, what: '/healthz 503 after the pub/sub ping was held' });
  // Before the next tick: the command link is cut and comes back (its reconnect forgets the held
  // ping, which dies with the old link). A node that then waited for an answer that cannot come
  // stayed 503 for good (the flaky "Redis killed and restarted" test of redis_nodes).
  const [old] = await commandLinksOf(redis, node.proc.pid);
  await redis.cli('CLIENT', 'KILL', 'ID', old);
  await waitFor(async () => {
    const ids = await commandLinksOf(redis, node.proc.pid);
    return ids.length === 1 && ids[0] !== old;
  }, { timeoutMs: RECOVER_BOUND_MS, intervalMs: 20, what: 'the command link back' });
  await redis.cli('CLIENT', 'UNPAUSE');
  paused = false;

  await waitFor(async () => (await healthz(node.port)) === 200,
    { timeoutMs: RECOVER_BOUND_MS, intervalMs: 100, what: '/healthz 200 after the pause ended' });
  const res = await httpPublish(node.port, { channel, data: { after: 'pause' } });
  assert.equal(res.status, 200, res.body);
  const m = await watcher.next({ op: 'message', channel }, RECOVER_BOUND_MS);
  assert.deepEqual(m.data, { after: 'pause' });
});

// A TCP proxy to Redis that either forwards new connections or accepts them and holds them
// silent (a Redis that accepts but never answers nor closes, as a socket of a Redis being killed
// can look to hiredis). Connections already forwarded can be cut.
async function blackHoleProxy(t, redisPort) {
  const held = [], forwarded = [];
  let mode = 'forward';
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (mode === 'hold') return held.push(client);
    const upstream = net.connect(redisPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
    forwarded.push(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of [...held, ...forwarded]) s.destroy();
    server.close();
  });
  return {
    url: `redis://127.0.0.1:${server.address().port}`,
    held: () => held.length,
    hold() { mode = 'hold'; },
    forward() { mode = 'forward'; },
    cutForwarded() { for (const s of forwarded.splice(0)) s.destroy(); },
  };
}

test('links connected to a Redis that never answers are dropped, the pub/sub link too, and the node recovers', async (t) => {
  const redis = await redisFor(t);
  const proxy = await blackHoleProxy(t, redis.port);
  const node = await serverFor(t, ['--redis', proxy.url, '--allow-client-publish']);
  await waitFor(async () => (await healthz(node.port)) === 200,
    { timeoutMs: RECOVER_BOUND_MS, what: `node ${node.port} healthy through the proxy` });

  // Both links cut; their reconnects land on silent sockets.
  proxy.hold();
  proxy.cutForwarded();
  await waitFor(async () => proxy.held() >= 2,
    { timeoutMs: RECOVER_BOUND_MS, intervalMs: 50, what: 'both links reconnected into the silent proxy' });
  assert.equal(await healthz(node.port), 503, 'not ready on links that never answered');

  // New connections reach Redis again; the silent ones stay silent. The command link misses two
  // pings and the pub/sub link its confirmation for three ticks, then both reconnect (the bound
  // of the broker's liveness, lib/broker/redis/redis_broker_link.cpp).
  proxy.forward();
  await waitFor(async () => (await healthz(node.port)) === 200,
    { timeoutMs: RECOVER_BOUND_MS, intervalMs: 100, what: '/healthz 200 once Redis answers new connections' });
  const watcher = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await watcher.request({ op: 'subscribe', channel: 'faults.silent' })).op, 'subscribed');
  const res = await httpPublish(node.port, { channel: 'faults.silent', data: 1 });
  assert.equal(res.status, 200, res.body);
  await watcher.next({ op: 'message', channel: 'faults.silent' }, RECOVER_BOUND_MS);
});
