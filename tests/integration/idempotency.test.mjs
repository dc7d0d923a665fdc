// Publishes with a definite outcome, and safe retries (docs/PROTOCOL.md "Publish over HTTP",
// docs/OPERATIONS.md "Publish outcomes"): a publish carrying "idempotency_key" that repeats one
// seen on its channel within --idempotency-window is answered with the first one's position and
// delivered to nobody, over HTTP and WebSocket, in memory (one shard and several) and across
// Redis nodes; with Redis frozen (SIGSTOP), every answer is 200, 503 (surely not published) or
// 504 unknown_outcome, and retrying every non-200 with its key delivers each message once.
//
// "Nothing delivered again" is checked without sleeping: after the repeats, a fresh message is
// published on the same channel; subscribers get a channel's messages in seq order, so once that
// marker has arrived, any re-publication of an earlier message would have arrived before it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, wsFor, publish, publishOk, httpGet, waitFor, waitHealthy } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import { metricsOf } from './lib/extra.mjs';

// The Redis broker's promise (lib/broker/redis/redis_broker.cpp): each link is pinged every
// second and dropped at the second tick that finds its ping unanswered, so every publish is
// answered within 3 s (4 s with a tick's slack) of its last Redis reply. The tests allow that plus
// 6 s for a loaded machine.
const REDIS_ANSWER_MS = 4000;
const ANSWER_BOUND_MS = REDIS_ANSWER_MS + 6000;

const keyed = (channel, key, data, extra = {}) => ({ channel, type: 'idem.test', data, idempotency_key: key, ...extra });

// Publishes a marker on `channel` and waits until `client` has it: every message of the channel
// published before the marker has then been delivered to `client`.
async function drain(t, port, client, channel, label) {
  const marker = await publishOk(port, { channel, type: 'marker', data: { marker: label } });
  await client.next({ op: 'message', channel, seq: marker.seq, type: 'marker' }, ANSWER_BOUND_MS);
  return marker;
}

// The non-marker messages a subscriber got on `channel` so far.
const delivered = (client, channel) => client.frames.filter((f) => f.op === 'message' && f.channel === channel && f.type !== 'marker');

async function repeatsInMemory(t, extraArgs) {
  const node = await serverFor(t, ['--allow-client-publish', ...extraArgs]);
  const channel = 'idem.mem';
  const watcher = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await watcher.request({ op: 'subscribe', channel })).op, 'subscribed');

  // HTTP: the repeat gets the same answer, byte for byte.
  const first = await publish(node.port, keyed(channel, 'order-1', { n: 1 }));
  assert.equal(first.status, 200, first.body);
  const again = await publish(node.port, keyed(channel, 'order-1', { n: 1, retried: true }));
  assert.equal(again.status, 200, again.body);
  assert.equal(again.body, first.body, 'a repeat answers the first publish position, same body shape');

  // WebSocket: a repeat of the HTTP key is `published` with that position.
  const publisher = await wsFor(t, node.wsUrl, { label: 'ws publisher' });
  const ws = await publisher.request({ op: 'publish', ...keyed(channel, 'order-1', { n: 1, from: 'ws' }) });
  assert.deepEqual(ws, { op: 'published', channel, epoch: first.json.epoch, seq: first.json.seq, ref: ws.ref });
  const wsFirst = await publisher.request({ op: 'publish', ...keyed(channel, 'order-2', { n: 2 }) });
  assert.equal(wsFirst.op, 'published', JSON.stringify(wsFirst));
  assert.equal(wsFirst.seq, first.json.seq + 1);
  const wsAgain = await publisher.request({ op: 'publish', ...keyed(channel, 'order-2', { n: 2 }) });
  assert.equal(wsAgain.seq, wsFirst.seq, 'a WebSocket repeat answers the first position');

  // Twenty at once with one key (many connections, so several shards when there are): one publish.
  const burst = await Promise.all(Array.from({ length: 20 }, () => publish(node.port, keyed(channel, 'order-3', { n: 3 }))));
  for (const res of burst) assert.equal(res.status, 200, res.body);
  assert.equal(new Set(burst.map((r) => r.body)).size, 1, 'concurrent repeats all answer one position');

  // The same key on another channel is another publish.
  const other = await publishOk(node.port, keyed('idem.mem.other', 'order-1', { n: 1 }));
  assert.equal(other.channel, 'idem.mem.other');
  assert.equal(other.seq, 1);

  // An array: a repeated item answers its first position, a new item is published.
  const batch = await publishOk(node.port, [keyed(channel, 'order-2', { n: 2 }), keyed(channel, 'order-4', { n: 4 })]);
  assert.equal(batch[0].seq, wsFirst.seq);
  assert.equal(batch[1].seq, JSON.parse(burst[0].body).seq + 1);

  await drain(t, node.port, watcher, channel, 'end');
  assert.deepEqual(delivered(watcher, channel).map((m) => m.data.n), [1, 2, 3, 4], 'each key delivered once, in order');
  assert.ok(delivered(watcher, channel).every((m) => !m.data.retried && !m.data.from), 'only first publishes were delivered');
  // order-1..4 on this channel and order-1 on the other, whichever shard answers /metrics.
  assert.equal((await metricsOf(node.port)).value('rthub_idempotency_keys'), 5);
}

test('memory mode: HTTP and WebSocket repeats of a key answer the first position and deliver nothing', async (t) => {
  await repeatsInMemory(t, []);
});

test('memory mode with two shards: repeats arriving on any shard answer the first position', async (t) => {
  await repeatsInMemory(t, ['--shards', '2']);
});

test('bad idempotency keys are refused with a clear error, the connection stays usable', async (t) => {
  const node = await serverFor(t, ['--allow-client-publish']);
  const long = 'k'.repeat(129);
  const res = await publish(node.port, keyed('idem.bad', long, 1));
  assert.equal(res.status, 400, res.body);
  assert.equal(res.json.error.code, 'bad_request');
  assert.match(res.json.error.message, /idempotency_key must be 1-128 bytes \(got 129\)/);
  const typed = await publish(node.port, { channel: 'idem.bad', data: 1, idempotency_key: 7 });
  assert.equal(typed.status, 400, typed.body);
  assert.match(typed.json.error.message, /idempotency_key must be a string/);
  const empty = await publish(node.port, keyed('idem.bad', '', 1));
  assert.equal(empty.status, 400, empty.body);
  const arrayItem = await publish(node.port, [keyed('idem.bad', 'ok', 1), keyed('idem.bad', long, 2)]);
  assert.equal(arrayItem.status, 400, arrayItem.body);
  assert.match(arrayItem.json.error.message, /^item 1: idempotency_key/);
  // 128 bytes (multi-byte UTF-8 counted in bytes) is the limit, accepted.
  const edge = await publishOk(node.port, keyed('idem.bad', 'é'.repeat(64), 1));
  assert.equal(edge.seq, 1, 'nothing of the refused requests was published');

  const ws = await wsFor(t, node.wsUrl);
  const refused = await ws.request({ op: 'publish', ...keyed('idem.bad', long, 1) });
  assert.equal(refused.op, 'error');
  assert.equal(refused.code, 'bad_request');
  assert.match(refused.message, /idempotency_key/);
  assert.equal((await ws.request({ op: 'ping' })).op, 'pong', 'the connection stays open');
});

test('the window: a key repeated after --idempotency-window seconds is a new publish', async (t) => {
  const node = await serverFor(t, ['--idempotency-window', '2']);
  const channel = 'idem.window';
  const started = Date.now();
  const first = await publishOk(node.port, keyed(channel, 'w', 1));
  assert.deepEqual(await publishOk(node.port, keyed(channel, 'w', 1)), first, 'inside the window: the first position');
  // The record expires 2 s (the window) after the first publish; allow 4 s more on a busy machine.
  const later = await waitFor(async () => {
    const p = await publishOk(node.port, keyed(channel, 'w', 1));
    return p.seq !== first.seq && p;
  }, { timeoutMs: 6000, intervalMs: 100, what: 'the key to expire after its 2 s window' });
  assert.ok(Date.now() - started >= 2000, 'not before the window ended');
  assert.equal(later.seq, first.seq + 1);
});

test('two Redis nodes: one key published on both nodes is published once', async (t) => {
  const redis = await redisFor(t);
  const args = ['--redis', redis.url, '--allow-client-publish'];
  const a = await serverFor(t, args);
  const b = await serverFor(t, args);
  for (const node of [a, b]) {
    await waitHealthy(node.port, { timeoutMs: 10000, what: `node ${node.port} connected to Redis` });
  }
  const channel = 'idem.redis';
  const watchers = [await wsFor(t, a.wsUrl, { label: 'sub A' }), await wsFor(t, b.wsUrl, { label: 'sub B' })];
  for (const w of watchers) assert.equal((await w.request({ op: 'subscribe', channel })).op, 'subscribed');

  // One after the other: A first, then HTTP and WebSocket repeats on B.
  const first = await publishOk(a.port, keyed(channel, 'k-0', { n: 0 }));
  assert.deepEqual(await publishOk(b.port, keyed(channel, 'k-0', { n: 0 })), first);
  const wsB = await wsFor(t, b.wsUrl, { label: 'ws publisher on B' });
  const wsRepeat = await wsB.request({ op: 'publish', ...keyed(channel, 'k-0', { n: 0 }) });
  assert.equal(wsRepeat.op, 'published', JSON.stringify(wsRepeat));
  assert.equal(wsRepeat.seq, first.seq);
  assert.equal(wsRepeat.epoch, first.epoch);

  // Racing: each key sent to both nodes at the same moment, 20 keys.
  for (let n = 1; n <= 20; n++) {
    const [ra, rb] = await Promise.all([a, b].map((node) => publishOk(node.port, keyed(channel, `k-${n}`, { n }))));
    assert.deepEqual(ra, rb, `key k-${n}: both nodes answer the one position`);
  }
  // The key is recorded in the channel's hash tag, for the window.
  const ttl = Number(await redis.cli('TTL', `rthub:{${channel}}:idem:k-0`));
  assert.ok(ttl > 0 && ttl <= 300, `the idempotency key lives for the window (TTL ${ttl})`);
  // The same key on another channel is another publish.
  assert.equal((await publishOk(b.port, keyed('idem.redis.other', 'k-0', { n: 0 }))).seq, 1);

  for (const [i, w] of watchers.entries()) {
    await drain(t, i ? b.port : a.port, w, channel, `end ${i}`);
    assert.deepEqual(delivered(w, channel).map((m) => m.data.n), Array.from({ length: 21 }, (_, n) => n),
      `subscriber on node ${'AB'[i]}: every key delivered once`);
  }
});

test('Redis frozen (SIGSTOP) while publishing: 200, 503 or 504 unknown_outcome; retries with the key deliver each message once', async (t) => {
  const redis = await redisFor(t);
  const node = await serverFor(t, ['--redis', redis.url, '--allow-client-publish']);
  await waitHealthy(node.port, { timeoutMs: 10000, what: 'the node connected to Redis' });
  const channel = 'idem.frozen';
  const watcher = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await watcher.request({ op: 'subscribe', channel })).op, 'subscribed');
  await publishOk(node.port, keyed(channel, 'm-0', { n: 0 }));

  // Freeze Redis, and publish one message every 100 ms for 5 s: the first ones wait for the hung
  // link to be given up (504), some may find the link down between reconnects (503), those sent
  // on a link reconnected to the still-frozen Redis wait again (504).
  const wsPublisher = await wsFor(t, node.wsUrl, { label: 'ws publisher' });
  const pid = redis.pid;
  process.kill(pid, 'SIGSTOP');
  let frozen = true;
  t.after(() => { if (frozen) try { process.kill(pid, 'SIGCONT'); } catch { /* already gone */ } });
  // The link is up (m-0 was just answered, and a link is given up only after 3 s without a
  // reply), so this WebSocket publish surely leaves for Redis and gets no answer.
  const wsAnswer = wsPublisher.request({ op: 'publish', ...keyed(channel, 'm-51', { n: 51 }) }, ANSWER_BOUND_MS);
  const answers = [];
  for (let n = 1; n <= 50; n++) {
    const sentAt = Date.now();
    answers.push(publish(node.port, keyed(channel, `m-${n}`, { n }), {}).then((res) => ({ n, res, ms: Date.now() - sentAt })));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const outcomes = await Promise.all(answers);
  const wsOutcome = await wsAnswer;
  assert.equal(wsOutcome.op, 'error', JSON.stringify(wsOutcome));
  assert.equal(wsOutcome.code, 'unknown_outcome', JSON.stringify(wsOutcome));
  process.kill(pid, 'SIGCONT');
  frozen = false;

  const byStatus = { 200: [], 503: [], 504: [] };
  for (const { n, res, ms } of outcomes) {
    assert.ok(res.status in byStatus, `message ${n}: ${res.status} ${res.body}`);
    assert.ok(ms <= ANSWER_BOUND_MS, `message ${n} answered in ${ms} ms (the broker promises ${REDIS_ANSWER_MS})`);
    if (res.status === 504) assert.equal(res.json.error.code, 'unknown_outcome', res.body);
    if (res.status === 503) assert.equal(res.json.error.code, 'unavailable', res.body);
    byStatus[res.status].push(n);
  }
  assert.ok(byStatus[504].length > 0, `a publish sent to the frozen Redis has an unknown outcome: ${JSON.stringify(byStatus)}`);

  await waitHealthy(node.port, { timeoutMs: 15000, what: 'the node reconnected after SIGCONT' });
  // Whatever reached Redis during the freeze has run before this marker (it was readable before
  // Redis resumed): a 503 message must not be among what the subscriber got.
  await drain(t, node.port, watcher, channel, 'after resume');
  const seen = new Set(delivered(watcher, channel).map((m) => m.data.n));
  for (const n of byStatus[503]) assert.ok(!seen.has(n), `message ${n} was answered 503 yet delivered`);
  t.diagnostic(`504 messages delivered before any retry: ${byStatus[504].filter((n) => seen.has(n)).length} of ${byStatus[504].length}`);

  // Retry every non-200 with its key: each is answered 200 now.
  const retried = [...byStatus[503], ...byStatus[504], 51].sort((x, y) => x - y);
  for (const n of retried) await publishOk(node.port, keyed(channel, `m-${n}`, { n }));
  await drain(t, node.port, watcher, channel, 'after retries');
  const counts = new Map();
  for (const m of delivered(watcher, channel)) counts.set(m.data.n, (counts.get(m.data.n) ?? 0) + 1);
  for (let n = 0; n <= 51; n++) assert.equal(counts.get(n), 1, `message ${n} delivered exactly once (${JSON.stringify(byStatus)})`);
  t.diagnostic(`answers while frozen: ${byStatus[200].length} x 200, ${byStatus[503].length} x 503, ${byStatus[504].length} x 504`);
});

test('Redis down: a publish never sent is answered 503 unavailable at once, and a retry with its key publishes it once', async (t) => {
  const redis = await redisFor(t);
  const node = await serverFor(t, ['--redis', redis.url]);
  await waitHealthy(node.port, { timeoutMs: 10000, what: 'the node connected to Redis' });
  const channel = 'idem.down';
  const watcher = await wsFor(t, node.wsUrl, { label: 'subscriber' });
  assert.equal((await watcher.request({ op: 'subscribe', channel })).op, 'subscribed');

  await redis.kill('SIGKILL');
  // The links see the closed connection at once; /healthz says so (the broker's ready()).
  await waitFor(async () => (await httpGet(node.port, '/healthz')).status === 503,
    { timeoutMs: ANSWER_BOUND_MS, what: '/healthz 503 once Redis is gone' });
  for (let n = 1; n <= 5; n++) {
    const sentAt = Date.now();
    const res = await publish(node.port, keyed(channel, `d-${n}`, { n }));
    assert.equal(res.status, 503, `no link, nothing sent: surely not published (${res.body})`);
    assert.equal(res.json.error.code, 'unavailable');
    assert.ok(Date.now() - sentAt < REDIS_ANSWER_MS, 'answered without waiting for a Redis timeout');
  }
  // Both links learn of the death from their sockets (end of stream, or the reset a process
  // killed with unread input sends), not from missed pings a second or two later: a link left
  // "up" on a dead socket once made /healthz say 200 after the restart while publishes were
  // still sent into it (answered 504 at the ping timeout).
  await waitFor(() => /redis command link lost/.test(node.output()) && /redis pub\/sub link lost/.test(node.output()),
    { timeoutMs: ANSWER_BOUND_MS, what: `both links report the loss; hub log:\n${node.output()}` });
  assert.doesNotMatch(node.output(), /pings unanswered/, 'a closed or reset socket is seen as such');
  await redis.start();
  await waitHealthy(node.port, { timeoutMs: 15000, what: 'the node reconnected to the restarted Redis' });
  // A retry is answered 200 once Redis answers. On a busy machine the restarted Redis may stay
  // silent for two liveness ticks and its link be dropped, answering the publish in flight 504:
  // the client's rule is to retry with the same key until a definite answer, as here (at most
  // five rounds, each after /healthz says the links answer again).
  let unknown = 0;
  for (let n = 1; n <= 5; n++) {
    let first = null;
    for (let round = 1; !first; round++) {
      const res = await publish(node.port, keyed(channel, `d-${n}`, { n }));
      if (res.status === 200) first = res.json;
      else {
        assert.ok(res.status === 504 || res.status === 503, `retry of d-${n}: ${res.status} ${res.body}`);
        assert.ok(round < 5, `d-${n} still without a definite answer after ${round} rounds; hub log:\n${node.output()}`);
        unknown++;
        await waitHealthy(node.port, { timeoutMs: 15000, what: 'the node reconnected to Redis once more' });
      }
    }
    assert.deepEqual(await publishOk(node.port, keyed(channel, `d-${n}`, { n })), first, `retry of d-${n} twice: one position`);
  }
  if (unknown) t.diagnostic(`${unknown} retries answered 503/504 after the restart; hub log:\n${node.output()}`);
  await drain(t, node.port, watcher, channel, 'end');
  assert.deepEqual(delivered(watcher, channel).map((m) => m.data.n), [1, 2, 3, 4, 5], 'each delivered once, after the retry');
});
