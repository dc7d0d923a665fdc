// Long-polling at GET /poll: answers, holding, forgetting, moving between SSE and polls, the
// 1 MiB cap and bad input. The hub's promises these tests lean on (docs/PROTOCOL.md, "/poll"):
// a poll with nothing to send is held up to --poll-timeout seconds; one with messages waiting is
// answered at once; a poller's state is dropped two poll timeouts after its last answer (checked
// every POLL_SCAN_MS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFor, sseFor, publishOk, httpGet, httpRequest, waitFor, assertConsecutive,
  SCHEDULING_ALLOWANCE_MS, CLOCK_MS,
} from './lib/server.mjs';
import { parseMetrics, metricValue } from './lib/prometheus.mjs';

const POLL_SCAN_MS = 250; // PollRegistry::tick_at scans its pollers this often
const MAX_ANSWER_BYTES = 1 << 20; // PollRequest::kMaxAnswerBytes

function pollPath(channels, cursor, extra = '') {
  const q = channels.map((c) => `channel=${encodeURIComponent(c)}`);
  if (cursor !== undefined) q.push(`cursor=${encodeURIComponent(cursor)}`);
  return `/poll?${q.join('&')}${extra}`;
}

// One poll; resolves to {status, json, body, ms} (ms: how long the hub held it).
async function poll(port, channels, cursor, extra = '') {
  const started = Date.now();
  const res = await httpRequest(port, { path: pollPath(channels, cursor, extra) });
  return { ...res, ms: Date.now() - started };
}

async function pollOk(port, channels, cursor, extra) {
  const res = await poll(port, channels, cursor, extra);
  assert.equal(res.status, 200, `poll -> ${res.status} ${res.body.slice(0, 300)}`);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(typeof res.json.cursor, 'string');
  assert.ok(Array.isArray(res.json.messages), res.body.slice(0, 300));
  return res;
}

async function pollGauge(port) {
  const res = await httpGet(port, '/metrics');
  return metricValue(parseMetrics(res.body), 'rthub_connections', { transport: 'poll' });
}

test('the first poll answers subscribed at once; with a cursor, recovered and the missed messages', async (t) => {
  const srv = await serverFor(t, ['--poll-timeout', '20']);
  const A = 'poll.a';
  const first = await pollOk(srv.port, [A]);
  assert.ok(first.ms < 20000, 'answered at once, not at the poll timeout');
  const [sub] = first.json.messages;
  assert.equal(sub.op, 'subscribed');
  assert.equal(sub.channel, A);
  assert.equal(sub.seq, 0);
  assert.ok(!('recovered' in sub), 'no position was asked for');

  await publishOk(srv.port, [{ channel: A, data: { n: 1 } }, { channel: A, data: { n: 2 } }]);
  // A new poller resuming from the first cursor (without the state token: a new state).
  const positions = first.json.cursor.split(',').filter((e) => !e.startsWith('~')).join(',');
  const resumed = await pollOk(srv.port, [A], positions);
  const [again, ...messages] = resumed.json.messages;
  assert.equal(again.op, 'subscribed');
  assert.equal(again.recovered, true);
  assertConsecutive(messages, { channel: A, epoch: sub.epoch, first: 1 });
  assert.deepEqual(messages.map((m) => m.data), [{ n: 1 }, { n: 2 }]);
});

test('a held poll is answered by the next message, well before its timeout', async (t) => {
  const srv = await serverFor(t, ['--poll-timeout', '20']);
  const A = 'poll.held';
  const first = await pollOk(srv.port, [A]);
  // Whether the publish reaches the hub before or after the poll, the poll's answer carries it.
  const held = pollOk(srv.port, [A], first.json.cursor);
  await publishOk(srv.port, { channel: A, data: { live: true } });
  const res = await held;
  assert.ok(res.ms < 20000, `answered by the message after ${res.ms} ms, not by the 20 s timeout`);
  assert.equal(res.json.messages.length, 1);
  assert.equal(res.json.messages[0].op, 'message');
  assert.deepEqual(res.json.messages[0].data, { live: true });
  assert.notEqual(res.json.cursor, first.json.cursor, 'the cursor moved');
});

test('a poll with nothing to send is answered empty when --poll-timeout passes', async (t) => {
  const timeoutMs = 2000;
  const srv = await serverFor(t, ['--poll-timeout', String(timeoutMs / 1000)]);
  const first = await pollOk(srv.port, ['poll.idle']);
  const res = await pollOk(srv.port, ['poll.idle'], first.json.cursor);
  assert.deepEqual(res.json.messages, []);
  assert.equal(res.json.cursor, first.json.cursor, 'nothing sent: the cursor stays');
  assert.ok(res.ms >= timeoutMs - CLOCK_MS, `held ${res.ms} ms, the full timeout`);
  assert.ok(res.ms <= timeoutMs + POLL_SCAN_MS + SCHEDULING_ALLOWANCE_MS, `held ${res.ms} ms`);
});

test('a held poll does not block /healthz, a publish or another poll on the service thread', async (t) => {
  const srv = await serverFor(t, ['--poll-timeout', '30']);
  const first = await pollOk(srv.port, ['poll.block.a']);
  let heldDone = false;
  const held = pollOk(srv.port, ['poll.block.a'], first.json.cursor).then((r) => { heldDone = true; return r; });
  const health = await httpGet(srv.port, '/healthz');
  assert.equal(health.status, 200);
  await publishOk(srv.port, { channel: 'poll.block.b', data: { other: 1 } });
  const other = await pollOk(srv.port, ['poll.block.b']);
  assert.equal(other.json.messages[0].op, 'subscribed');
  assert.equal(heldDone, false, 'the first poll is still held meanwhile');
  await publishOk(srv.port, { channel: 'poll.block.a', data: { end: 1 } });
  assert.deepEqual((await held).json.messages[0].data, { end: 1 });
});

test('a poller that stops polling is forgotten after two poll timeouts', async (t) => {
  const timeoutMs = 1000;
  const srv = await serverFor(t, ['--poll-timeout', String(timeoutMs / 1000)]);
  // The state's clock starts at the answer, which comes after the request was sent.
  const sentAt = Date.now();
  const first = await pollOk(srv.port, ['poll.gone']);
  assert.equal(await pollGauge(srv.port), 1, 'the state is kept after the answer');
  await waitFor(async () => (await pollGauge(srv.port)) === 0, { what: 'the state is dropped' });
  const waited = Date.now() - sentAt;
  assert.ok(waited >= 2 * timeoutMs - CLOCK_MS, `dropped after ${waited} ms, not before two timeouts`);
  assert.ok(waited <= 2 * timeoutMs + POLL_SCAN_MS + SCHEDULING_ALLOWANCE_MS, `dropped after ${waited} ms`);
  const subs = metricValue(parseMetrics((await httpGet(srv.port, '/metrics')).body), 'rthub_subscriptions');
  assert.equal(subs, 0, 'its subscriptions went with it');
  // Coming back later with the old cursor starts a new state that resumes where it stood.
  await publishOk(srv.port, { channel: 'poll.gone', data: { later: true } });
  const back = await pollOk(srv.port, ['poll.gone'], first.json.cursor);
  assert.equal(back.json.messages[0].recovered, true);
  assert.deepEqual(back.json.messages[1].data, { later: true });
});

test('SSE -> poll -> SSE with the cursor gets every message exactly once', async (t) => {
  const srv = await serverFor(t, ['--poll-timeout', '20']);
  const A = 'move.a';
  const B = 'move.b';
  const sent = [];
  let n = 0;
  const burst = async (count) => {
    const items = [];
    for (let k = 0; k < count; k++, n++) items.push({ channel: n % 2 ? B : A, data: { n } });
    sent.push(...items.map((i) => i.data.n));
    await publishOk(srv.port, items);
  };
  const got = [];
  const sseUrl = (id) => `${srv.url}/events?channel=${A}&channel=${B}${id ? `&last_event_id=${encodeURIComponent(id)}` : ''}`;

  const es1 = await sseFor(t, sseUrl());
  await es1.take(2, { op: 'subscribed' });
  await burst(10);
  got.push(...(await es1.take(10, { op: 'message' })).map((m) => m.data.n));
  const sseCursor = es1.lastEventId;
  es1.close();

  await burst(7); // while the client moves
  let cursor = sseCursor;
  let polled = [];
  const subscribed = [];
  while (polled.length < 7) {
    const res = await pollOk(srv.port, [A, B], cursor);
    for (const m of res.json.messages) (m.op === 'message' ? polled : subscribed).push(m);
    cursor = res.json.cursor;
  }
  assert.deepEqual(subscribed.map((s) => s.recovered), [true, true], 'both channels resumed');
  await burst(5);
  while (polled.length < 12) {
    const res = await pollOk(srv.port, [A, B], cursor);
    polled.push(...res.json.messages.filter((m) => m.op === 'message'));
    cursor = res.json.cursor;
  }
  got.push(...polled.map((m) => m.data.n));

  await burst(6); // while the client moves back
  const es2 = await sseFor(t, sseUrl(cursor));
  const again = await es2.take(2, { op: 'subscribed' });
  assert.deepEqual(again.map((s) => s.recovered), [true, true]);
  got.push(...(await es2.take(6, { op: 'message' })).map((m) => m.data.n));
  await es2.none({ op: 'message' }, 200);
  assert.deepEqual([...got].sort((x, y) => x - y), sent, 'every message once, none twice');
});

test('a burst over 1 MiB is split across polls without loss', async (t) => {
  const srv = await serverFor(t, ['--poll-timeout', '20']);
  const A = 'poll.big';
  const first = await pollOk(srv.port, [A]);
  // 40 messages of ~60 KB: about 2.4 MB, from history (the poll resumes after them).
  const blob = 'x'.repeat(60 * 1024);
  for (let i = 0; i < 40; i++) await publishOk(srv.port, { channel: A, data: { i, blob } });
  const positions = first.json.cursor.split(',').filter((e) => !e.startsWith('~')).join(',');
  let cursor = positions;
  const messages = [];
  let answers = 0;
  while (messages.length < 40) {
    const res = await pollOk(srv.port, [A], cursor);
    answers++;
    assert.ok(Buffer.byteLength(res.body) <= MAX_ANSWER_BYTES + 4096, `answer of ${res.body.length} bytes`);
    messages.push(...res.json.messages.filter((m) => m.op === 'message'));
    cursor = res.json.cursor;
  }
  assert.ok(answers >= 3, `2.4 MB took ${answers} answers`);
  assert.deepEqual(messages.map((m) => m.data.i), [...Array(40).keys()]);
});

test('bad input gets clear 4xx errors', async (t) => {
  const srv = await serverFor(t, ['--max-subscriptions', '4']);
  const cases = [
    ['/poll', 400, 'bad_request', /channel/],
    ['/poll?channel=bad%20name', 400, 'bad_request', /channel/],
    ['/poll?channel=ok&cursor=garbage', 400, 'bad_request', /cursor/],
    ['/poll?channel=ok&cursor=ok:ep:1,~zz', 400, 'bad_request', /cursor/],
    ['/poll?channel=ok&cursor=a&cursor=b', 400, 'bad_request', /cursor/],
  ];
  for (const [path, status, code, text] of cases) {
    const res = await httpGet(srv.port, path);
    assert.equal(res.status, status, `${path}: ${res.status} ${res.body}`);
    assert.equal(res.json?.error?.code, code, `${path}: ${res.body}`);
    assert.match(res.json.error.message, text);
  }
  // A long query, within the request size limit but past any cursor the hub makes (12 KiB).
  const long = await httpGet(srv.port, `/poll?channel=a&cursor=${'a:e:1,'.repeat(2500)}a:e:1`);
  assert.equal(long.status, 400, long.body);
  assert.match(long.json.error.message, /cursor/);
  // More channels than --max-subscriptions.
  const many = await httpGet(srv.port, `/poll?${Array.from({ length: 5 }, (_, i) => `channel=c${i}`).join('&')}`);
  assert.equal(many.status, 400, many.body);
  assert.equal(many.json.error.code, 'limit');
  assert.equal((await httpGet(srv.port, '/healthz')).status, 200);
});
