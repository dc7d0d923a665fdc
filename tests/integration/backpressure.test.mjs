// Slow consumers (PROTOCOL.md "Slow consumers"): with --max-queue-bytes 1 MiB,
// a subscriber that stops reading is dropped (WebSocket close 1013, SSE end
// of stream, TCP closed within a few seconds even if it never reads again)
// while a normal one receives 20,000 messages of 2 KB in order; the hub's
// memory stays bounded, and the dropped client resumes exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, wsFor, waitFor, sleep, assertConsecutive, HANG_MS, SCHEDULING_ALLOWANCE_MS } from './lib/server.mjs';
import {
  wsConnectFor, metricsOf, rssBytes, MiB, keepAlivePublisher, rawSse, sseFrames, within,
} from './lib/extra.mjs';

// tests/run.sh --sanitize exports ASAN_OPTIONS; the hub's RSS then means little.
const sanitized = Boolean(process.env.ASAN_OPTIONS);

const TOTAL = 20000;
const PER_REQUEST = 100;
const PAD = 'x'.repeat(2000);
const QUEUE = ['--max-queue-bytes', '1048576', '--max-message-bytes', '262144'];
const WITH_HISTORY = [...QUEUE, '--history', '30000'];

// Polls /metrics while the flood runs: `reached(n)` resolves (with the time)
// once rthub_slow_consumers_dropped_total is at least n.
function dropWatch(srv) {
  let dropped = 0;
  let stopped = false;
  const waiters = [];
  const loop = (async () => {
    while (!stopped) {
      const m = await metricsOf(srv.port).catch(() => null);
      if (m) {
        dropped = m.value('rthub_slow_consumers_dropped_total');
        for (const w of waiters.filter((x) => dropped >= x.n)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(Date.now());
        }
      }
      await sleep(25);
    }
  })();
  return {
    get dropped() { return dropped; },
    reached(n) {
      if (dropped >= n) return Promise.resolve(Date.now());
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    stop() { stopped = true; return loop; },
  };
}

// Publishes TOTAL messages of ~2 KB on `channel` in arrays of PER_REQUEST
// over one keep-alive connection; samples the hub's RSS meanwhile.
async function flood(srv, channel) {
  const publisher = keepAlivePublisher(srv.port);
  let peakRss = rssBytes(srv.proc.pid);
  const sampler = setInterval(() => {
    try { peakRss = Math.max(peakRss, rssBytes(srv.proc.pid)); } catch { /* exited */ }
  }, 25);
  const started = Date.now();
  let last;
  try {
    for (let first = 1; first <= TOTAL; first += PER_REQUEST) {
      const batch = [];
      for (let i = first; i < first + PER_REQUEST; i++) batch.push({ channel, type: 'bp', data: { i, pad: PAD } });
      const res = await publisher.post(batch);
      assert.equal(res.status, 200, `publish batch at ${first}: ${res.status} ${res.body.slice(0, 200)}`);
      last = res.json[res.json.length - 1];
    }
  } finally {
    clearInterval(sampler);
    publisher.close();
  }
  assert.ok(publisher.sockets.size <= 2, `the batches went over keep-alive connections (${publisher.sockets.size} used)`);
  assert.equal(last.seq, TOTAL);
  return { last, publishMs: Date.now() - started, peakRss: Math.max(peakRss, rssBytes(srv.proc.pid)) };
}

// The whole SSE event of message #TOTAL of `channel`.
const lastMessage = (channel) => new RegExp(`"op":"message","channel":"${channel.replace('.', '\\.')}","epoch":"[^"]*","seq":${TOTAL},[^\\n]*\\n\\n`);

function checkRun(messages, from, to, label) {
  assert.equal(messages.length, to - from + 1, `${label}: ${to - from + 1} messages`);
  assertConsecutive(messages, { channel: messages[0]?.channel, epoch: messages[0]?.epoch, first: from });
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].data.i !== from + k || messages[k].data.pad !== PAD) {
      assert.fail(`${label}: message ${k} carries #${messages[k].data.i}, expected #${from + k} with its 2 KB pad`);
    }
  }
}

const gauge = async (srv, transport) => (await metricsOf(srv.port)).value('rthub_connections', { transport });

// Once `dropped` resolves (the time of the drop), waits until only the
// normal client is left on `transport`: resolves to the ms it took.
// RELEASE_BOUND_MS: a close the hub initiates arms a 3 s timer (docs/ARCHITECTURE.md "Liveness"),
// so a peer that never reads is let go at most 3 s after the drop; the drop is seen here after it
// happened (metrics polled every 25 ms), and a busy machine may run the timer late.
const RELEASE_BOUND_MS = 3000 + SCHEDULING_ALLOWANCE_MS;
async function releaseTime(srv, dropped, transport) {
  const at = await dropped;
  await waitFor(async () => (await gauge(srv, transport)) === 1,
    { intervalMs: 25, what: `the hub to close the ${transport} connection that never reads again` });
  return Date.now() - at;
}

test('a WebSocket that stops reading is dropped with 1013 while a normal one gets all 20,000 messages; it resumes exactly', async (t) => {
  const srv = await serverFor(t, WITH_HISTORY);
  const channel = 'bp.ws';
  const normal = await wsFor(t, srv.wsUrl, { label: 'normal' });
  const stalled = await wsConnectFor(t, srv.wsUrl, { label: 'stalled, reads again when dropped' });
  const silent = await wsConnectFor(t, srv.wsUrl, { label: 'stalled, never reads again' });
  for (const ws of [normal, stalled, silent]) assert.equal((await ws.request({ op: 'subscribe', channel })).op, 'subscribed');
  await sleep(200);
  stalled.ws._socket.pause();
  silent.ws._socket.pause();
  const rssBefore = rssBytes(srv.proc.pid);

  const drops = dropWatch(srv);
  t.after(() => drops.stop());
  // The stalled client reads again as soon as both are dropped, so that it
  // gets to read the close frame the hub sent.
  const resumed = drops.reached(2).then((at) => { stalled.ws._socket.resume(); return at; });
  const released = releaseTime(srv, resumed, 'ws');
  const { publishMs, peakRss } = await flood(srv, channel);
  const publishedAt = Date.now();
  const received = await normal.take(TOTAL, { op: 'message', channel }, 60000);
  const lagMs = Date.now() - publishedAt;
  checkRun(received, 1, TOTAL, 'normal client');
  assert.ok(normal.isOpen, `the normal client was never dropped (close: ${JSON.stringify(normal.closeInfo)})`);

  const droppedAt = await within(resumed, HANG_MS);
  assert.notEqual(droppedAt, 'timeout', `both stalled readers are dropped (counted ${drops.dropped})`);
  const closed = await within(stalled.closed, HANG_MS);
  assert.notEqual(closed, 'timeout', 'the stalled connection is closed');
  assert.equal(closed.code, 1013, `close code for a slow consumer: ${JSON.stringify(closed)}`);
  // The silent one never reads: the hub still lets go of its TCP connection.
  const releasedMs = await released;
  assert.ok(releasedMs <= RELEASE_BOUND_MS, `the connection of the reader that never reads again is closed ${releasedMs} ms after the drop`);
  await drops.stop();
  assert.equal((await metricsOf(srv.port)).value('rthub_slow_consumers_dropped_total'), 2, 'exactly two slow consumers dropped');

  // --history 30000 retains all 20,000 messages (counted in
  // rthub_history_bytes); beyond that, the stalled readers must cost little.
  const historyBytes = (await metricsOf(srv.port)).value('rthub_history_bytes');
  const beyondHistory = peakRss - rssBefore - historyBytes;
  t.diagnostic(`published ${TOTAL} x 2 KB in ${publishMs} ms; the normal client had all ${lagMs} ms after the last publish; ` +
    `RSS ${(rssBefore / MiB).toFixed(1)} -> peak ${(peakRss / MiB).toFixed(1)} MiB, of which history ${(historyBytes / MiB).toFixed(1)} MiB; ` +
    `silent reader released ${releasedMs} ms after the drop`);
  assert.ok(historyBytes > 0, 'rthub_history_bytes accounts for the retained messages');
  // Under AddressSanitizer, RSS measures its quarantine and shadow memory, not the hub.
  if (!sanitized) assert.ok(beyondHistory < 50 * MiB, `RSS grew by ${(beyondHistory / MiB).toFixed(1)} MiB beyond the retained history`);
  // The normal client is not held back by the two that stopped reading: it got all TOTAL messages
  // (above) while they read nothing; how long that took depends on the machine, not the design.

  const got = stalled.frames.filter((f) => f.op === 'message');
  assert.ok(got.length > 0 && got.length < TOTAL, `the stalled client missed messages (${got.length} arrived)`);
  checkRun(got, 1, got.length, 'stalled client before the drop');
  t.diagnostic(`stalled client: ${got.length} messages, then close ${closed.code} ${closed.reason}`);

  // It reconnects and resumes from the last message it handled.
  const at = { epoch: got[got.length - 1].epoch, seq: got[got.length - 1].seq };
  const again = await wsFor(t, srv.wsUrl, { label: 'resumed' });
  const sub = await again.request({ op: 'subscribe', channel, since: at }, 10000);
  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  assert.equal(sub.recovered, true, `--history 30000 keeps all 20,000: ${JSON.stringify(sub)}`);
  assert.equal(sub.seq, TOTAL);
  const replay = await again.take(TOTAL - at.seq, { op: 'message', channel }, 60000);
  checkRun(replay, at.seq + 1, TOTAL, 'resumed client');
  await again.none({ op: 'message' }, 300, 'nothing after the last one');
  assert.ok(again.isOpen, 'a resume may exceed the queue bound once: the replay does not drop it');
});

test('an SSE stream that stops reading ends while a normal one gets all 20,000 messages; it resumes with Last-Event-ID', async (t) => {
  const srv = await serverFor(t, WITH_HISTORY);
  const channel = 'bp.sse';
  const url = `/events?channel=${channel}`;
  const normal = await rawSse(srv.port, url);
  t.after(() => normal.destroy());
  const stalled = await rawSse(srv.port, url);
  t.after(() => stalled.destroy());
  const silent = await rawSse(srv.port, url);
  t.after(() => silent.destroy());
  for (const s of [normal, stalled, silent]) {
    assert.equal(s.status, 200);
    await s.waitFor(/"op":"subscribed"[^\n]*\n\n/);
  }
  stalled.pause();
  silent.pause();
  const rssBefore = rssBytes(srv.proc.pid);

  const drops = dropWatch(srv);
  t.after(() => drops.stop());
  const resumed = drops.reached(2).then((at) => { stalled.resume(); return at; });
  const released = releaseTime(srv, resumed, 'sse');
  const { peakRss } = await flood(srv, channel);
  await normal.waitFor(lastMessage(channel), 60000);
  checkRun(sseFrames(normal.text()).filter((e) => e.frame.op === 'message').map((e) => e.frame), 1, TOTAL, 'normal SSE stream');
  assert.ok(!normal.isEnded, 'the normal stream is still open');

  const droppedAt = await within(resumed, HANG_MS);
  assert.notEqual(droppedAt, 'timeout', `both stalled streams are dropped (counted ${drops.dropped})`);
  assert.notEqual(await within(stalled.ended, HANG_MS), 'timeout', 'the stalled stream ends');
  const releasedMs = await released;
  assert.ok(releasedMs <= RELEASE_BOUND_MS, `the stream that never reads again is closed ${releasedMs} ms after the drop`);
  t.diagnostic(`silent SSE reader released ${releasedMs} ms after the drop`);
  await drops.stop();
  const historyBytes = (await metricsOf(srv.port)).value('rthub_history_bytes');
  if (!sanitized) assert.ok(peakRss - rssBefore - historyBytes < 50 * MiB,
    `RSS grew by ${((peakRss - rssBefore - historyBytes) / MiB).toFixed(1)} MiB beyond the retained history`);

  const events = sseFrames(stalled.text()).filter((e) => e.frame.op === 'message');
  assert.ok(events.length > 0 && events.length < TOTAL, `the stalled stream missed messages (${events.length} arrived)`);
  checkRun(events.map((e) => e.frame), 1, events.length, 'stalled stream before the drop');
  const cursor = events[events.length - 1].id;
  const from = events[events.length - 1].frame.seq;
  t.diagnostic(`stalled SSE stream: ${events.length} messages before it ended`);

  const again = await rawSse(srv.port, url, { headers: { 'Last-Event-ID': cursor } });
  t.after(() => again.destroy());
  await again.waitFor(lastMessage(channel), 60000);
  const frames = sseFrames(again.text()).map((e) => e.frame);
  assert.equal(frames[0].op, 'subscribed');
  assert.equal(frames[0].recovered, true, JSON.stringify(frames[0]));
  checkRun(frames.filter((f) => f.op === 'message'), from + 1, TOTAL, 'resumed SSE stream');
});

test('with the default history, a stalled WebSocket and a stalled SSE stream cost the hub well under 100 MiB; resuming reports recovered:false', async (t) => {
  const srv = await serverFor(t, QUEUE);
  const channel = 'bp.bounded';
  const normal = await wsFor(t, srv.wsUrl, { label: 'normal' });
  const stalledWs = await wsConnectFor(t, srv.wsUrl, { label: 'stalled ws' });
  for (const ws of [normal, stalledWs]) assert.equal((await ws.request({ op: 'subscribe', channel })).op, 'subscribed');
  const stalledSse = await rawSse(srv.port, `/events?channel=${channel}`);
  t.after(() => stalledSse.destroy());
  await stalledSse.waitFor(/"op":"subscribed"[^\n]*\n\n/);
  await sleep(200);
  stalledWs.ws._socket.pause();
  stalledSse.pause();
  const rssBefore = rssBytes(srv.proc.pid);

  const drops = dropWatch(srv);
  t.after(() => drops.stop());
  const resumed = drops.reached(2).then(() => { stalledWs.ws._socket.resume(); stalledSse.resume(); });
  const { peakRss } = await flood(srv, channel);
  checkRun(await normal.take(TOTAL, { op: 'message', channel }, 60000), 1, TOTAL, 'normal client');
  assert.notEqual(await within(resumed, HANG_MS), 'timeout', 'both stalled readers are dropped');
  await drops.stop();
  const grown = peakRss - rssBefore;
  t.diagnostic(`RSS grew by ${(grown / MiB).toFixed(1)} MiB at peak with --history 1000 ` +
    `(history ${((await metricsOf(srv.port)).value('rthub_history_bytes') / MiB).toFixed(1)} MiB)`);
  if (!sanitized) assert.ok(grown < 64 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB at peak: well under 100 MiB`);

  const closed = await within(stalledWs.closed, HANG_MS);
  assert.equal(closed.code, 1013, `close code: ${JSON.stringify(closed)}`);
  assert.notEqual(await within(stalledSse.ended, HANG_MS), 'timeout', 'the stalled SSE stream ends');
  const got = stalledWs.frames.filter((f) => f.op === 'message');
  assert.ok(got.length > 0 && got.length < TOTAL - 1000, `the stalled client got ${got.length} messages`);
  // Only the last 1000 are retained: the position is too old to resume.
  const again = await wsFor(t, srv.wsUrl, { label: 'resumed' });
  const lastGot = got[got.length - 1];
  const sub = await again.request({ op: 'subscribe', channel, since: { epoch: lastGot.epoch, seq: lastGot.seq } });
  assert.equal(sub.recovered, false, `a position older than the history: ${JSON.stringify(sub)}`);
  assert.equal(sub.seq, TOTAL);
  await again.none({ op: 'message' }, 300, 'nothing is replayed');
});
