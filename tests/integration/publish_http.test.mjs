// POST /publish: answers, all-or-nothing arrays, bad bodies, the size limit
// and the publish key (PROTOCOL.md, "Publish over HTTP").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  serverFor, wsFor, publish, publishOk, assertPosition,
} from './lib/server.mjs';

function assertErrorBody(res, what, code = 'bad_request') {
  assert.ok(res.json && typeof res.json === 'object', `${what}: the body should be JSON, got ${res.body.slice(0, 300)}`);
  const { error } = res.json;
  assert.ok(error && typeof error === 'object', `${what}: body should be {"error":{...}}, got ${res.body.slice(0, 300)}`);
  assert.equal(error.code, code, `${what}: ${res.body.slice(0, 300)}`);
  assert.equal(typeof error.message, 'string', `${what}: error.message should be a string`);
  assert.ok(error.message.length > 0, `${what}: error.message should say what is wrong`);
  return error;
}

test('an object is answered with its position, an array with positions in order', async (t) => {
  const srv = await serverFor(t);
  const res = await publish(srv.port, { channel: 'p.one', type: 'thing.made', data: { a: 1 } });
  assert.equal(res.status, 200, res.body);
  assert.match(res.headers['content-type'] ?? '', /application\/json/);
  assertPosition(res.json, 'p.one');
  assert.equal(res.json.seq, 1);
  const epochOne = res.json.epoch;

  const many = await publishOk(srv.port, [
    { channel: 'p.one', data: 1 },
    { channel: 'p.two', data: 2 },
    { channel: 'p.one', type: 't', data: 3 },
    { channel: 'p.two', data: 4 },
  ]);
  assert.ok(Array.isArray(many), JSON.stringify(many));
  assert.deepEqual(many.map((p) => [p.channel, p.seq]), [['p.one', 2], ['p.two', 1], ['p.one', 3], ['p.two', 2]]);
  many.forEach((p) => assertPosition(p, p.channel));
  assert.equal(many[0].epoch, epochOne);
  assert.equal(many[2].epoch, epochOne);
  assert.equal(many[1].epoch, many[3].epoch);

  const single = await publishOk(srv.port, [{ channel: 'p.two', data: { x: null } }]);
  assert.ok(Array.isArray(single) && single.length === 1, `an array of one gets an array of one: ${JSON.stringify(single)}`);
  assert.equal(single[0].seq, 3);
});

test('an array with one bad item is refused whole with 400 naming the index', async (t) => {
  const srv = await serverFor(t);
  const channel = 'p.atomic';
  const ws = await wsFor(t, srv.wsUrl);
  await ws.request({ op: 'subscribe', channel, id: 1 });
  const first = await publishOk(srv.port, { channel, data: { n: 1 } });
  assert.equal(first.seq, 1);
  await ws.next({ op: 'message', channel, seq: 1 });

  const good = (n) => ({ channel, data: { n } });
  const variants = [
    ['missing data', 2, { channel }],
    ['bad channel name', 0, { channel: 'a b', data: {} }],
    ['mistyped type', 3, { channel, type: 5, data: {} }],
    ['an item that is not an object', 1, 42],
    ['missing channel', 4, { data: {} }],
    ['channel of 256 bytes', 2, { channel: 'c'.repeat(256), data: {} }],
  ];
  for (const [what, index, bad] of variants) {
    const items = [good(10), good(11), good(12), good(13), good(14)];
    items[index] = bad;
    const res = await publish(srv.port, items);
    assert.equal(res.status, 400, `${what} at index ${index}: ${res.status} ${res.body.slice(0, 300)}`);
    const error = assertErrorBody(res, what);
    assert.match(error.message, new RegExp(`\\b${index}\\b`), `${what}: the message should name index ${index}: "${error.message}"`);
  }

  await ws.none({ op: 'message' }, 400, 'a refused array publishes nothing');
  const next = await publishOk(srv.port, { channel, data: { n: 2 } });
  assert.equal(next.seq, 2, 'refused items took no seq');
  const message = await ws.next({ op: 'message', channel });
  assert.equal(message.seq, 2);
  assert.deepEqual(message.data, { n: 2 });
});

test('bad bodies are 400 with an error object', async (t) => {
  const srv = await serverFor(t);
  const cases = [
    ['empty array', '[]'],
    ['not JSON', 'this is not json'],
    ['truncated JSON', '{"channel":"p","data":'],
    ['empty body', ''],
    ['a JSON number', '42'],
    ['a JSON string', '"hello"'],
    ['missing channel', '{"data":{}}'],
    ['missing data', '{"channel":"p"}'],
    ['mistyped channel', '{"channel":7,"data":{}}'],
    ['bad channel name', '{"channel":"a b","data":{}}'],
    ['mistyped type', '{"channel":"p","type":["x"],"data":{}}'],
  ];
  for (const [what, body] of cases) {
    const res = await publish(srv.port, body);
    assert.equal(res.status, 400, `${what}: ${res.status} ${res.body.slice(0, 300)}`);
    assertErrorBody(res, what);
  }
  const ok = await publishOk(srv.port, { channel: 'p', data: {} });
  assert.equal(ok.seq, 1, 'none of the refused bodies published anything');
});

test('a body over --max-message-bytes is 413', async (t) => {
  const srv = await serverFor(t, ['--max-message-bytes', '1024']);
  const fits = await publishOk(srv.port, { channel: 'big', data: 'a'.repeat(300) });
  assert.equal(fits.seq, 1);
  const res = await publish(srv.port, { channel: 'big', data: 'b'.repeat(5000) });
  assert.equal(res.status, 413, `${res.status} ${res.body.slice(0, 300)}`);
  if (res.json !== undefined) assertErrorBody(res, 'over the size limit', 'too_large');
  const after = await publishOk(srv.port, { channel: 'big', data: 'c' });
  assert.equal(after.seq, 2, 'the refused body published nothing');
});

test('a chunked body is refused at once with 411 (no Content-Length), and nothing is published', async (t) => {
  const srv = await serverFor(t);
  // "At once": the answer comes while the body is still unfinished (its last chunk is never
  // sent), so the hub waited for no body and no timer; were it waiting, the test would hang
  // until its hang detector. An event, not a time.
  let req;
  const res = await new Promise((resolve, reject) => {
    // Node sends Transfer-Encoding: chunked when the body is written without a Content-Length.
    req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/publish', agent: false,
      headers: { 'Content-Type': 'application/json' } }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.write('{"channel":"chunked",');
  });
  req.destroy();
  assert.equal(res.status, 411, `${res.status} ${res.body}`);
  assertErrorBody({ ...res, json: JSON.parse(res.body) }, 'chunked body');
  assert.equal(res.headers.connection, 'close');
  const after = await publishOk(srv.port, { channel: 'chunked', data: 2 });
  assert.equal(after.seq, 1, 'the refused body published nothing');
});

test('with --publish-key, publishing needs Authorization: Bearer <key>', async (t) => {
  const key = 's3cret-Key_42';
  const srv = await serverFor(t, ['--publish-key', key]);
  const body = { channel: 'guarded', data: { n: 1 } };
  const refused = [
    ['no Authorization', {}],
    ['wrong key', { Authorization: 'Bearer wrong' }],
    ['key with a suffix', { Authorization: `Bearer ${key}x` }],
    ['key prefix only', { Authorization: `Bearer ${key.slice(0, -1)}` }],
    ['not Bearer', { Authorization: `Basic ${Buffer.from(`user:${key}`).toString('base64')}` }],
    ['bare key', { Authorization: key }],
  ];
  for (const [what, headers] of refused) {
    const res = await publish(srv.port, body, headers);
    assert.equal(res.status, 401, `${what}: ${res.status} ${res.body.slice(0, 300)}`);
    if (res.json !== undefined) assertErrorBody(res, what, 'unauthorized');
  }
  const ok = await publishOk(srv.port, body, { Authorization: `Bearer ${key}` });
  assert.equal(ok.seq, 1, 'refused requests published nothing');
});
