// History in PostgreSQL (--postgres): resumes older than the live window, GET /history, positions
// that survive a restart, and an outage of PostgreSQL that loses nothing up to the buffer.
// Each test starts its own PostgreSQL cluster (lib/postgres.mjs) and rthub-server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, startServer, wsFor, publishOk, httpRequest, assertConsecutive, waitFor, waitHealthy, sleep } from './lib/server.mjs';
import { metricsOf } from './lib/extra.mjs';
import { postgresFor, postgresAvailable } from './lib/postgres.mjs';
import { redisFor } from './lib/redis.mjs';

// tests/run.sh installs PostgreSQL: its absence fails the suite, naming the package (one skip
// policy, tests/README.md); the tests that need it are then not run.
const skip = postgresAvailable() ? false : 'PostgreSQL (initdb, pg_ctl) is not installed';
if (skip) {
  test('PostgreSQL is installed', () => {
    assert.fail('initdb and pg_ctl not found: install the Debian package postgresql (tests/run.sh does)');
  });
}
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

// Publishes data {i} for i in from..to, 500 per request; resolves to the last position.
async function publishRange(port, channel, from, to) {
  let last;
  for (let start = from; start <= to; start += 500) {
    const items = range(start, Math.min(start + 499, to)).map((i) => ({ channel, data: { i } }));
    const positions = await publishOk(port, items);
    last = positions[positions.length - 1];
  }
  return last;
}

const historyOf = (port, query) => httpRequest(port, { path: `/history?${query}` });

test('5,000 messages with --history 100: a resume from seq 10 gets 11..5000 exactly, then live', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const srv = await serverFor(t, ['--history', '100', '--postgres', pg.conninfo]);
  const channel = 'pg.resume';
  const last = await publishRange(srv.port, channel, 1, 5000);
  assert.equal(last.seq, 5000);

  const ws = await wsFor(t, srv.wsUrl);
  const sub = await ws.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: 10 }, id: 1 }, 30000);
  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  assert.equal(sub.recovered, true, 'seq 10 is older than the live 100 but in PostgreSQL: recovered');
  assert.equal(sub.epoch, last.epoch);
  // 4,990 replayed messages: a bound generous for a loaded machine (the replay is one read).
  const replayed = await ws.take(4990, { op: 'message', channel }, 60000);
  assertConsecutive(replayed, { channel, epoch: last.epoch, first: 11 });
  replayed.forEach((m) => assert.deepEqual(m.data, { i: m.seq }));
  await publishOk(srv.port, { channel, data: { i: 5001 } });
  const live = await ws.next({ op: 'message', channel }, 10000);
  assert.equal(live.seq, 5001, 'live delivery joins the replay with no gap');
  await ws.none({ op: 'message' }, 300, 'no duplicate after the join');

  // A cursor in an epoch the channel never had cannot be honoured.
  const other = await wsFor(t, srv.wsUrl, { label: 'stale epoch' });
  const lost = await other.request({ op: 'subscribe', channel, since: { epoch: 'zzzzzzzz', seq: 10 }, id: 2 }, 30000);
  assert.equal(lost.recovered, false, JSON.stringify(lost));
});

test('GET /history: the latest N, before SEQ, after SEQ, and its errors', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const srv = await serverFor(t, ['--history', '10', '--postgres', pg.conninfo, '--persist', 'chat:*']);
  const channel = 'chat:room1';
  const last = await publishRange(srv.port, channel, 1, 250);

  const latest = await historyOf(srv.port, `channel=${channel}&limit=20`);
  assert.equal(latest.status, 200, latest.body);
  assert.equal(latest.json.channel, channel);
  assert.equal(latest.json.epoch, last.epoch);
  assertConsecutive(latest.json.messages, { channel, epoch: last.epoch, first: 231 });
  latest.json.messages.forEach((m) => {
    assert.deepEqual(m.data, { i: m.seq });
    assert.equal(m.type, 'message');
    assert.equal(typeof m.ts, 'number');
  });

  const before = await historyOf(srv.port, `channel=${channel}&limit=50&before=100`);
  assert.equal(before.status, 200, before.body);
  assertConsecutive(before.json.messages, { channel, epoch: last.epoch, first: 50 });
  assert.equal(before.json.messages.length, 50);

  const after = await historyOf(srv.port, `channel=${channel}&limit=1000&after=200`);
  assert.equal(after.status, 200, after.body);
  assertConsecutive(after.json.messages, { channel, epoch: last.epoch, first: 201 });
  assert.equal(after.json.messages.length, 50);

  const start = await historyOf(srv.port, `channel=${channel}&limit=5&before=3`);
  assert.deepEqual(start.json.messages.map((m) => m.seq), [1, 2], 'the page stops at the first message');

  const defaults = await historyOf(srv.port, `channel=${channel}`);
  assert.equal(defaults.status, 200);
  assert.equal(defaults.json.messages.length, 100, 'limit defaults to 100');

  for (const [query, why] of [
    ['limit=5', 'no channel'],
    [`channel=${channel}&limit=0`, 'limit 0'],
    [`channel=${channel}&limit=1001`, 'limit over 1000'],
    [`channel=${channel}&limit=ten`, 'limit not a number'],
    [`channel=${channel}&before=5&after=1`, 'before and after'],
    [`channel=${channel}&before=-1`, 'negative seq'],
    [`channel=${channel}&after=1x`, 'seq not a number'],
    [`channel=${channel}&channel=chat:room2`, 'channel twice'],
    ['channel=bad%20name', 'bad channel name'],
  ]) {
    const res = await historyOf(srv.port, query);
    assert.equal(res.status, 400, `${why}: ${res.status} ${res.body}`);
    assert.equal(res.json?.error?.code, 'bad_request', `${why}: ${res.body}`);
  }
  const post = await httpRequest(srv.port, { method: 'POST', path: `/history?channel=${channel}`, body: {} });
  assert.equal(post.status, 405, post.body);
  const notPersisted = await historyOf(srv.port, 'channel=news&limit=5');
  assert.equal(notPersisted.status, 404, `a channel outside --persist: ${notPersisted.body}`);
});

test('GET /history takes the same rights as subscribing', { skip }, async (t) => {
  const { signJwt } = await import('./lib/jwt.mjs');
  const pg = await postgresFor(t);
  const secret = 'history-secret';
  const srv = await serverFor(t, ['--postgres', pg.conninfo, '--jwt-secret', secret]);
  await publishOk(srv.port, [{ channel: 'team:a', data: 1 }, { channel: 'team:b', data: 2 }]);
  const none = await historyOf(srv.port, 'channel=team:a');
  assert.equal(none.status, 401, `no token: ${none.body}`);
  const token = signJwt({ sub: 'u1', channels: ['team:a'], exp: Math.floor(Date.now() / 1000) + 600 }, secret);
  const ok = await httpRequest(srv.port, { path: '/history?channel=team:a', headers: { Authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(ok.json.messages.map((m) => m.data), [1]);
  const refused = await historyOf(srv.port, `channel=team:b&token=${token}`);
  assert.equal(refused.status, 403, `a channel the token may not subscribe to: ${refused.body}`);
});

test('a restarted node continues every channel\'s epoch and seq: clients resume exactly', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const args = ['--history', '20', '--postgres', pg.conninfo];
  const first = await startServer(args);
  const channel = 'pg.restart';
  const last = await publishRange(first.port, channel, 1, 50);
  await first.stop();  // SIGTERM: a clean stop writes what waits and records it

  const srv = await serverFor(t, args);
  const ws = await wsFor(t, srv.wsUrl);
  const sub = await ws.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: 30 }, id: 1 }, 30000);
  assert.equal(sub.recovered, true, `after a restart: ${JSON.stringify(sub)}`);
  assert.equal(sub.epoch, last.epoch, 'the epoch survives the restart');
  assert.equal(sub.seq, 50);
  const replayed = await ws.take(20, { op: 'message', channel }, 15000);
  assertConsecutive(replayed, { channel, epoch: last.epoch, first: 31 });
  const [next] = await publishOk(srv.port, [{ channel, data: { i: 51 } }]);
  assert.deepEqual({ epoch: next.epoch, seq: next.seq }, { epoch: last.epoch, seq: 51 }, 'numbering goes on');
  const live = await ws.next({ op: 'message', channel }, 10000);
  assert.equal(live.seq, 51);
  const history = await historyOf(srv.port, `channel=${channel}&limit=1000`);
  assert.deepEqual(history.json.messages.map((m) => m.seq), range(1, 51));
});

test('PostgreSQL away for 10 s while 1,000 messages are published: live goes on, every row is written after', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const srv = await serverFor(t, ['--history', '100', '--postgres', pg.conninfo]);
  const channel = 'pg.outage';
  await publishRange(srv.port, channel, 1, 100);
  await waitFor(async () => (await metricsOf(srv.port)).value('rthub_history_written_total') >= 100,
    { timeoutMs: 15000, what: 'the first 100 rows written' });

  const ws = await wsFor(t, srv.wsUrl);
  await ws.request({ op: 'subscribe', channel, id: 1 });
  await pg.stop();
  const stoppedAt = Date.now();
  await publishRange(srv.port, channel, 101, 1100);
  const live = await ws.take(1000, { op: 'message', channel }, 30000);
  assertConsecutive(live, { channel, first: 101 });

  const health = await httpRequest(srv.port, { path: '/healthz' });
  assert.equal(health.status, 200, 'the hub is healthy without its history store');
  // The store notices at its next write (the 1,000 publishes above): up 0, every message queued.
  const m = await waitFor(async () => {
    const now = await metricsOf(srv.port);
    return now.value('rthub_history_store_up') === 0 ? now : null;
  }, { timeoutMs: 15000, what: 'rthub_history_store_up 0' });
  assert.equal(m.value('rthub_history_queue_depth'), 1000);
  assert.equal(m.value('rthub_history_dropped_total'), 0);
  const during = await historyOf(srv.port, `channel=${channel}&limit=10`);
  assert.equal(during.status, 503, `history during the outage: ${during.body}`);

  await sleep(Math.max(0, 10000 - (Date.now() - stoppedAt)));
  await pg.start();
  // The store retries with backoff capped at 10 s (plus a 5 s connect timeout): 40 s is ample.
  await waitFor(async () => {
    const now = await metricsOf(srv.port);
    return now.value('rthub_history_store_up') === 1 && now.value('rthub_history_queue_depth') === 0;
  }, { timeoutMs: 40000, intervalMs: 250, what: 'the buffered messages written' });
  const rows = await pg.sql(`SELECT seq FROM rthub_messages WHERE channel = '${channel}' ORDER BY seq`);
  assert.deepEqual(rows.map((r) => Number(r[0])), range(1, 1100), 'every message is in PostgreSQL, once');
  const after = await historyOf(srv.port, `channel=${channel}&limit=1000&after=100`);
  assert.equal(after.status, 200);
  assertConsecutive(after.json.messages, { channel, first: 101 });
});

test('past --persist-buffer the oldest waiting messages are dropped and counted, and the log says so once', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const srv = await serverFor(t, ['--postgres', pg.conninfo, '--persist-buffer', '50']);
  const channel = 'pg.overflow';
  await pg.stop();
  await publishRange(srv.port, channel, 1, 200);
  // Once the store has found PostgreSQL gone, at most 50 wait; every other message was dropped.
  const m = await waitFor(async () => {
    const now = await metricsOf(srv.port);
    const depth = now.value('rthub_history_queue_depth');
    return depth <= 50 && now.value('rthub_history_store_up') === 0 &&
      now.value('rthub_history_dropped_total') + depth === 200 ? now : null;
  }, { timeoutMs: 15000, what: '150 drops counted, 50 waiting' });
  assert.equal(m.value('rthub_history_dropped_total'), 150);
  const lines = srv.output().split('\n').filter((l) => l.includes('history buffer full'));
  assert.equal(lines.length, 1, `one log line: ${srv.output()}`);
  await pg.start();
  await waitFor(async () => (await metricsOf(srv.port)).value('rthub_history_queue_depth') === 0,
    { timeoutMs: 40000, intervalMs: 250, what: 'the kept messages written' });
  const rows = await pg.sql(`SELECT seq FROM rthub_messages WHERE channel = '${channel}' ORDER BY seq`);
  const seqs = rows.map((r) => Number(r[0]));
  assert.deepEqual(seqs, range(151, 200), 'what is kept is the newest 50, without a gap');
});

test('Redis and PostgreSQL: the publishing node writes each message once; another node serves a resume from it', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const redis = await redisFor(t);
  const args = ['--redis', redis.url, '--history', '10', '--postgres', pg.conninfo];
  const a = await serverFor(t, args);
  const b = await serverFor(t, args);
  // Publishes are taken once /healthz says the Redis links answer (before that: a definite 503).
  for (const node of [a, b]) await waitHealthy(node.port);
  const channel = 'pg.redis';
  const last = await publishRange(a.port, channel, 1, 100);
  await waitFor(async () => (await metricsOf(a.port)).value('rthub_history_written_total') >= 100,
    { timeoutMs: 15000, what: 'node A wrote its 100 messages' });
  assert.equal((await metricsOf(b.port)).value('rthub_history_written_total'), 0, 'node B wrote none of them');

  const ws = await wsFor(t, b.wsUrl);
  const sub = await ws.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: 5 }, id: 1 }, 30000);
  assert.equal(sub.recovered, true, `older than the Redis stream (10), read from PostgreSQL: ${JSON.stringify(sub)}`);
  const replayed = await ws.take(95, { op: 'message', channel }, 15000);
  assertConsecutive(replayed, { channel, epoch: last.epoch, first: 6 });
  const rows = await pg.sql(`SELECT count(*), count(DISTINCT seq) FROM rthub_messages WHERE channel = '${channel}'`);
  assert.deepEqual(rows, [['100', '100']], 'each message written once');
  const page = await historyOf(b.port, `channel=${channel}&limit=3`);
  assert.deepEqual(page.json.messages.map((m) => m.seq), [98, 99, 100]);
});
