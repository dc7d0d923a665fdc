// Keyed state with --postgres (docs/OPERATIONS.md "History in PostgreSQL", "Keyed state"): keyed
// publishes, deletes, snapshots and --max-keys behave as without PostgreSQL, a resume older than
// the live window is replayed from PostgreSQL with its keys, and a single node restarted with the
// same database (SIGTERM, or kill -9 once the publishes were written) shows the same snapshot. In
// Redis mode the keys live in Redis and PostgreSQL keeps only the history rows.
// Each test starts its own PostgreSQL cluster (lib/postgres.mjs) and rthub-server.
//
// Waits are for events: every bound below is a generous timeout for one answer of a local hub (or
// its PostgreSQL worker) on a loaded machine, never a sleep that hopes something happened.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, startServer, wsFor, sseFor, publish, publishOk, waitFor, waitHealthy } from './lib/server.mjs';
import { metricsOf } from './lib/extra.mjs';
import { postgresFor, postgresAvailable } from './lib/postgres.mjs';
import { redisFor } from './lib/redis.mjs';
import { zone, wholeSnapshot } from './lib/keyed.mjs';

const ANSWER_MS = 10000; // one answer of a local hub, loaded machine
// The store retries with backoff capped at 10 s plus a 5 s connect timeout; a write of a few rows
// on a connected store is one statement: 15 s is ample for the rows to be written.
const WRITE_MS = 15000;

const skip = postgresAvailable() ? false : 'PostgreSQL (initdb, pg_ctl) is not installed';
if (skip) {
  test('PostgreSQL is installed', () => {
    assert.fail('initdb and pg_ctl not found: install the Debian package postgresql (tests/run.sh does)');
  });
}

// Zones a and c, a delete of c, zone b, an unkeyed note and an update of b: keys a and b remain,
// never more than two at once (the tests run with --max-keys 2). Resolves to the last position.
async function publishZones(port, channel) {
  await publishOk(port, zone(channel, 'zone-a', { shape: 'a1' }));
  await publishOk(port, zone(channel, 'zone-c', { shape: 'c1' }));
  await publishOk(port, { channel, type: 'zone.deleted', key: 'zone-c', delete: true });
  await publishOk(port, zone(channel, 'zone-b', { shape: 'b1' }));
  await publishOk(port, { channel, type: 'note', data: { unkeyed: true } });
  return publishOk(port, zone(channel, 'zone-b', { shape: 'b2' }));
}

// The snapshot of `channel` over WebSocket and over SSE; asserts both carry the same items.
async function snapshotsOf(t, node, channel, label) {
  const ws = await wsFor(t, node.wsUrl, { label: `${label} ws` });
  const subscribed = await ws.request({ op: 'subscribe', channel, snapshot: true });
  assert.equal(subscribed.op, 'subscribed', JSON.stringify(subscribed));
  const [snapshot] = await wholeSnapshot(ws, channel, ANSWER_MS);
  assert.equal(snapshot.seq, subscribed.seq);
  const es = await sseFor(t, `${node.url}/events?channel=${channel}&snapshot=1`, { label: `${label} sse` });
  const sse = await es.next({ op: 'snapshot', channel }, ANSWER_MS);
  assert.deepEqual([sse.epoch, sse.seq, sse.items], [snapshot.epoch, snapshot.seq, snapshot.items],
    'SSE and WebSocket send the same snapshot');
  assert.ok(es.idOf(sse).includes(`:${sse.seq}`), `SSE id ${es.idOf(sse)} is the cursor at ${sse.seq}`);
  return { ws, es, snapshot };
}

const shapes = (snapshot) => snapshot.items.map((m) => [m.key, m.data.shape]);

// Waits until the store has written `count` messages and holds nothing more.
const writtenAll = (port, count) => waitFor(async () => {
  const m = await metricsOf(port);
  return m.value('rthub_history_written_total') >= count && m.value('rthub_history_queue_depth') === 0;
}, { timeoutMs: WRITE_MS, what: `${count} messages written to PostgreSQL` });

test('--postgres: keyed publishes, a delete, snapshots on WS and SSE, --max-keys; a SIGTERM restart shows the same snapshot', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const args = ['--postgres', pg.conninfo, '--history', '2', '--max-keys', '2'];
  const first = await startServer(args);
  t.after(() => first.kill('SIGKILL'));
  const channel = 'geometry';
  const last = await publishZones(first.port, channel);

  const before = await snapshotsOf(t, first, channel, 'first run');
  assert.deepEqual([before.snapshot.epoch, before.snapshot.seq], [last.epoch, last.seq]);
  assert.deepEqual(shapes(before.snapshot), [['zone-a', 'a1'], ['zone-b', 'b2']],
    'the latest of each key, in seq order, the deleted key absent');
  const refused = await publish(first.port, zone(channel, 'zone-d', { shape: 'd1' }));
  assert.equal(refused.status, 409, `a third key past --max-keys 2: ${refused.body}`);
  assert.equal(refused.json.error.code, 'too_many_keys');

  // A resume behind the live window (--history 2) is replayed from PostgreSQL, keys and delete
  // included, and needs no snapshot.
  const resumer = await wsFor(t, first.wsUrl, { label: 'resume' });
  const resumed = await resumer.request({ op: 'subscribe', channel, since: { epoch: last.epoch, seq: 1 }, snapshot: true }, 30000);
  assert.equal(resumed.recovered, true, `seq 1 is in PostgreSQL: ${JSON.stringify(resumed)}`);
  const replayed = await resumer.take(last.seq - 1, { op: 'message', channel }, ANSWER_MS);
  assert.deepEqual(replayed.map((m) => [m.seq, m.key, m.delete]),
    [[2, 'zone-c', undefined], [3, 'zone-c', true], [4, 'zone-b', undefined], [5, undefined, undefined], [6, 'zone-b', undefined]]);
  assert.equal(resumer.frames.filter((f) => f.op === 'snapshot').length, 0, 'a recovered resume gets no snapshot');

  await writtenAll(first.port, last.seq);
  const rows = await pg.sql(`SELECT key, seq FROM rthub_keys WHERE channel = '${channel}' ORDER BY seq`);
  assert.deepEqual(rows, [['zone-a', '1'], ['zone-b', '6']], 'rthub_keys holds the latest message of each key');
  await first.stop(); // SIGTERM: a clean stop

  const second = await serverFor(t, args);
  const after = await snapshotsOf(t, second, channel, 'after SIGTERM');
  assert.deepEqual(after.snapshot, before.snapshot, 'the same epoch, seq and items (positions, data, ts)');
  const again = await publish(second.port, zone(channel, 'zone-d', { shape: 'd1' }));
  assert.equal(again.status, 409, `--max-keys counts the restored keys: ${again.body}`);
  const next = await publishOk(second.port, zone(channel, 'zone-a', { shape: 'a2' }));
  assert.deepEqual([next.epoch, next.seq], [last.epoch, last.seq + 1], 'the numbering goes on');
  for (const client of [after.ws, after.es]) {
    const live = await client.next({ op: 'message', channel }, ANSWER_MS);
    assert.deepEqual([live.seq, live.key, live.data], [next.seq, 'zone-a', { shape: 'a2' }], 'live after the snapshot, no gap');
  }
});

test('--postgres: kill -9 after the publishes were written, the restarted node shows the same keys at the same seq (a new epoch)', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const args = ['--postgres', pg.conninfo, '--max-keys', '2'];
  const first = await startServer(args);
  t.after(() => first.kill('SIGKILL'));
  const channel = 'map';
  const last = await publishZones(first.port, channel);
  const { snapshot: before } = await snapshotsOf(t, first, channel, 'before kill');
  // Acknowledged is not yet written (publishing never waits for PostgreSQL): the crash comes
  // once the store reports every row written, which is what a crash can keep.
  await writtenAll(first.port, last.seq);
  const killed = await first.kill('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');

  const second = await serverFor(t, args);
  const { ws, es, snapshot: after } = await snapshotsOf(t, second, channel, 'after kill -9');
  assert.deepEqual(after.items, before.items, 'the same keys, each its message as published (position, data, ts)');
  assert.equal(after.seq, before.seq, 'the numbering goes on from the last written seq');
  assert.notEqual(after.epoch, before.epoch, 'an unclean stop starts a new epoch (unwritten seqs are never reused)');

  // A client of the old epoch cannot resume exactly: it gets recovered:false and the snapshot.
  const old = await wsFor(t, second.wsUrl, { label: 'old cursor' });
  const sub = await old.request({ op: 'subscribe', channel, since: { epoch: before.epoch, seq: before.seq }, snapshot: true });
  assert.equal(sub.recovered, false, JSON.stringify(sub));
  const [fresh] = await wholeSnapshot(old, channel, ANSWER_MS);
  assert.deepEqual(fresh.items, before.items);

  const refused = await publish(second.port, zone(channel, 'zone-d', { shape: 'd1' }));
  assert.equal(refused.status, 409, `--max-keys counts the restored keys: ${refused.body}`);
  const gone = await publishOk(second.port, { channel, key: 'zone-a', delete: true });
  assert.deepEqual([gone.epoch, gone.seq], [after.epoch, after.seq + 1]);
  for (const client of [ws, es]) {
    const live = await client.next({ op: 'message', channel }, ANSWER_MS);
    assert.deepEqual([live.seq, live.key, live.delete], [gone.seq, 'zone-a', true]);
  }
  await publishOk(second.port, zone(channel, 'zone-d', { shape: 'd1' })); // room again after the delete
  await writtenAll(second.port, 2);
  const rows = await pg.sql(`SELECT key FROM rthub_keys WHERE channel = '${channel}' ORDER BY seq`);
  assert.deepEqual(rows.map((r) => r[0]), ['zone-b', 'zone-d'], 'the delete and the new key reach PostgreSQL');
});

test('--postgres with --shards 2: the keys restored after a SIGTERM restart are the same on every shard', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const args = ['--postgres', pg.conninfo, '--shards', '2', '--max-keys', '2'];
  const first = await startServer(args);
  t.after(() => first.kill('SIGKILL'));
  const channel = 'sharded.map';
  const last = await publishZones(first.port, channel);
  const { snapshot: before } = await snapshotsOf(t, first, channel, 'sharded first run');
  assert.deepEqual(shapes(before), [['zone-a', 'a1'], ['zone-b', 'b2']]);
  await first.stop();

  const second = await serverFor(t, args);
  // Connections land on either shard (SO_REUSEPORT): several subscribers, every one the same.
  for (let i = 0; i < 4; i++) {
    const { snapshot } = await snapshotsOf(t, second, channel, `sharded client ${i}`);
    assert.deepEqual(snapshot, before, `client ${i}: the same epoch, seq and items`);
  }
  const refused = await publish(second.port, zone(channel, 'zone-d', { shape: 'd1' }));
  assert.equal(refused.status, 409, refused.body);
  const next = await publishOk(second.port, zone(channel, 'zone-b', { shape: 'b3' }));
  assert.deepEqual([next.epoch, next.seq], [last.epoch, last.seq + 1]);
});

test('Redis and --postgres: keyed state and snapshots across two nodes; PostgreSQL keeps the history rows, not the keys', { skip }, async (t) => {
  const pg = await postgresFor(t);
  const redis = await redisFor(t);
  const args = ['--redis', redis.url, '--postgres', pg.conninfo, '--max-keys', '2'];
  const a = await serverFor(t, args);
  const b = await serverFor(t, args);
  for (const node of [a, b]) await waitHealthy(node.port);
  const channel = 'geometry.redis';
  const last = await publishZones(a.port, channel);
  const { snapshot } = await snapshotsOf(t, b, channel, 'node B');
  assert.deepEqual([snapshot.epoch, snapshot.seq], [last.epoch, last.seq]);
  assert.deepEqual(shapes(snapshot), [['zone-a', 'a1'], ['zone-b', 'b2']]);
  const refused = await publish(b.port, zone(channel, 'zone-d', { shape: 'd1' }));
  assert.equal(refused.status, 409, `--max-keys holds across nodes: ${refused.body}`);

  await writtenAll(a.port, last.seq);
  const rows = await pg.sql(`SELECT seq, item_key, deleted FROM rthub_messages WHERE channel = '${channel}' ORDER BY seq`);
  assert.deepEqual(rows, [['1', 'zone-a', 'f'], ['2', 'zone-c', 'f'], ['3', 'zone-c', 't'], ['4', 'zone-b', 'f'],
    ['5', '', 'f'], ['6', 'zone-b', 'f']], 'each history row carries its key');
  assert.deepEqual(await pg.sql('SELECT count(*) FROM rthub_keys'), [['0']], 'the keys live in Redis');
});
