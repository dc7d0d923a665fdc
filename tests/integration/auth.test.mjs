// Who may connect, subscribe and publish (docs/SECURITY.md, PROTOCOL.md
// "Access: tokens, origins, rights"): HS256 JWTs on both transports with
// every refusal path, channel and publish rights with prefixes, token
// refresh and expiry, anonymous publishing, the publish key, Origin/CORS,
// the connect rate, and the auth-failure metrics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  serverFor, wsFor, publish, publishOk, httpRequest, sleep, SCHEDULING_ALLOWANCE_MS, SWEEP_MS, CLOCK_MS,
} from './lib/server.mjs';
import { signJwt, nowSeconds, base64url } from './lib/jwt.mjs';
import { wsHandshake, wsConnectFor, metricsOf, rawSse } from './lib/extra.mjs';

const SECRET = 'integration-secret-0123456789';
const token = (claims, options) => signJwt(claims, SECRET, options);
const q = encodeURIComponent;

// Status of one SSE request, with the body when it is refused (a stream
// that opens is closed at once).
function sseStatus(port, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, headers: res.headers });
        req.destroy();
        return;
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(body); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error(`GET ${urlPath}: no answer`)));
    req.on('error', (error) => { if (error.code !== 'ECONNRESET' || !req.destroyed) reject(error); });
  });
}

function assertErrorBody(res, code, what) {
  assert.equal(res.json?.error?.code, code, `${what}: body ${res.body}`);
  assert.equal(typeof res.json.error.message, 'string', `${what}: error.message`);
}

test('with --jwt-secret, every bad token is refused with 401 before the upgrade or stream, on both transports, and counted by reason', async (t) => {
  const srv = await serverFor(t, ['--jwt-secret', SECRET]);
  const now = nowSeconds();
  const claims = { sub: 'alice', channels: ['*'] };
  const good = token(claims);
  const [gh, gp, gs] = good.split('.');
  const tampered = `${gh}.${base64url(JSON.stringify({ ...claims, sub: 'mallory' }))}.${gs}`;
  const cases = [
    { what: 'another secret', reason: 'bad_signature', jwt: signJwt(claims, 'not-the-secret') },
    { what: 'a tampered payload', reason: 'bad_signature', jwt: tampered },
    { what: 'a cut signature', reason: 'bad_signature', jwt: `${gh}.${gp}.${gs.slice(0, -4)}` },
    { what: 'alg none, unsigned', reason: 'bad_algorithm', jwt: token(claims, { alg: 'none' }) },
    { what: 'alg none with the HS256 signature', reason: 'bad_algorithm', jwt: `${base64url('{"alg":"none","typ":"JWT"}')}.${gp}.${gs}` },
    { what: 'HS512', reason: 'bad_algorithm', jwt: token(claims, { alg: 'HS512' }) },
    { what: 'HS384', reason: 'bad_algorithm', jwt: token(claims, { alg: 'HS384' }) },
    { what: 'exp two minutes ago', reason: 'expired', jwt: token({ ...claims, exp: now - 120 }) },
    { what: 'nbf in two minutes', reason: 'not_yet_valid', jwt: token({ ...claims, nbf: now + 120 }) },
    { what: 'not a JWT', reason: 'malformed', jwt: 'not-a-jwt' },
    { what: 'three segments of garbage', reason: 'malformed', jwt: 'a.b.c' },
    { what: 'a header that is not JSON', reason: 'malformed', jwt: `${base64url('{alg:HS256')}.${gp}.${gs}` },
  ];
  const expected = { missing: 0, malformed: 0, bad_algorithm: 0, bad_signature: 0, expired: 0, not_yet_valid: 0, hook: 0 };

  for (const c of cases) {
    const viaQuery = { path: `?token=${q(c.jwt)}`, headers: {} };
    const viaHeader = { path: '', headers: { Authorization: `Bearer ${c.jwt}` } };
    for (const [how, via] of [['?token=', viaQuery], ['Authorization', viaHeader]]) {
      const ws = await wsHandshake(`${srv.wsUrl}${via.path}`, { headers: via.headers });
      assert.equal(ws.status, 401, `WS handshake with ${c.what} via ${how}: ${ws.status} ${ws.body}`);
      const sse = await sseStatus(srv.port, `/events?channel=geo${via.path ? `&${via.path.slice(1)}` : ''}`, via.headers);
      assert.equal(sse.status, 401, `SSE with ${c.what} via ${how}: ${sse.status} ${sse.body}`);
      assertErrorBody(sse, 'unauthorized', `SSE with ${c.what} via ${how}`);
      expected[c.reason] += 2;
    }
  }
  const noWs = await wsHandshake(srv.wsUrl);
  assert.equal(noWs.status, 401, 'WS handshake without a token');
  const noSse = await sseStatus(srv.port, '/events?channel=geo');
  assert.equal(noSse.status, 401, 'SSE without a token');
  assertErrorBody(noSse, 'unauthorized', 'SSE without a token');
  expected.missing += 2;

  // The success paths: header, query, and within the 30 s leeway.
  const inLeeway = [
    ['a plain token', good],
    ['exp 10 s ago (inside the leeway)', token({ ...claims, exp: now - 10 })],
    ['nbf in 10 s (inside the leeway)', token({ ...claims, nbf: now + 10 })],
    ['exp in an hour and nbf a minute ago', token({ ...claims, exp: now + 3600, nbf: now - 60 })],
  ];
  for (const [what, jwt] of inLeeway) {
    assert.equal((await wsHandshake(`${srv.wsUrl}?token=${q(jwt)}`)).status, 101, `WS with ${what} via ?token=`);
    assert.equal((await wsHandshake(srv.wsUrl, { headers: { Authorization: `Bearer ${jwt}` } })).status, 101, `WS with ${what} via Authorization`);
    assert.equal((await sseStatus(srv.port, `/events?channel=geo&token=${q(jwt)}`)).status, 200, `SSE with ${what} via ?token=`);
    assert.equal((await sseStatus(srv.port, '/events?channel=geo', { Authorization: `Bearer ${jwt}` })).status, 200, `SSE with ${what} via Authorization`);
  }
  // The header wins over ?token= when both are present.
  const bad = signJwt(claims, 'not-the-secret');
  assert.equal((await wsHandshake(`${srv.wsUrl}?token=${q(bad)}`, { headers: { Authorization: `Bearer ${good}` } })).status, 101,
    'a good header with a bad ?token= is accepted (the header wins)');
  assert.equal((await wsHandshake(`${srv.wsUrl}?token=${q(good)}`, { headers: { Authorization: `Bearer ${bad}` } })).status, 401,
    'a bad header with a good ?token= is refused (the header wins)');
  assert.equal((await sseStatus(srv.port, `/events?channel=geo&token=${q(good)}`, { Authorization: `Bearer ${bad}` })).status, 401,
    'SSE: a bad header with a good ?token= is refused');
  expected.bad_signature += 2;

  const metrics = await metricsOf(srv.port);
  const actual = {};
  for (const reason of Object.keys(expected)) actual[reason] = metrics.value('rthub_auth_failures_total', { reason });
  assert.deepEqual(actual, expected, 'rthub_auth_failures_total by reason');
});

test('channel rights: exact names and trailing-* prefixes; forbidden subscribe is a WS error and an SSE 403', async (t) => {
  const srv = await serverFor(t, ['--jwt-secret', SECRET]);
  const jwt = token({ sub: 'u42', channels: ['geometry', 'user:42:*', 'site/7*'], publish: ['incidents', 'room:*'] });
  const ws = await wsConnectFor(t, srv.wsUrl, { headers: { Authorization: `Bearer ${jwt}` }, label: 'u42' });
  const allowed = ['geometry', 'user:42:orders', 'user:42:a:b', 'site/7', 'site/7/incidents', 'site/77'];
  const refused = ['geometryX', 'geo', 'user:42', 'user:43:orders', 'user:4', 'admin', 'incidents', 'site/', 'xgeometry'];
  for (const channel of allowed) {
    const answer = await ws.request({ op: 'subscribe', channel });
    assert.equal(answer.op, 'subscribed', `subscribe ${channel}: ${JSON.stringify(answer)}`);
  }
  for (const channel of refused) {
    const answer = await ws.request({ op: 'subscribe', channel });
    assert.equal(answer.op, 'error', `subscribe ${channel}: ${JSON.stringify(answer)}`);
    assert.equal(answer.code, 'forbidden', `subscribe ${channel}: ${JSON.stringify(answer)}`);
  }
  assert.ok(ws.isOpen, 'refusals keep the connection open');

  for (const channel of allowed) {
    const res = await sseStatus(srv.port, `/events?channel=${q(channel)}&token=${q(jwt)}`);
    assert.equal(res.status, 200, `SSE ${channel}: ${res.status} ${res.body}`);
  }
  for (const channel of refused) {
    const res = await sseStatus(srv.port, `/events?channel=${q(channel)}&token=${q(jwt)}`);
    assert.equal(res.status, 403, `SSE ${channel}: ${res.status} ${res.body}`);
    assertErrorBody(res, 'forbidden', `SSE ${channel}`);
  }
  const mixed = await sseStatus(srv.port, `/events?channel=geometry&channel=admin&token=${q(jwt)}`);
  assert.equal(mixed.status, 403, 'one forbidden channel refuses the whole stream');

  // A token without `channels` grants nothing; `"*"` as a string grants all.
  const none = await wsConnectFor(t, `${srv.wsUrl}?token=${q(token({ sub: 'nobody' }))}`, { label: 'no rights' });
  assert.equal((await none.request({ op: 'subscribe', channel: 'geometry' })).code, 'forbidden', 'no channels claim: nothing');
  const all = await wsConnectFor(t, `${srv.wsUrl}?token=${q(token({ sub: 'root', channels: '*' }))}`, { label: 'all rights' });
  assert.equal((await all.request({ op: 'subscribe', channel: 'admin' })).op, 'subscribed', 'channels "*" (a string): everything');
  const single = await wsConnectFor(t, `${srv.wsUrl}?token=${q(token({ sub: 's', channels: 'geometry' }))}`, { label: 'one channel' });
  assert.equal((await single.request({ op: 'subscribe', channel: 'geometry' })).op, 'subscribed', 'channels as one string');
  assert.equal((await single.request({ op: 'subscribe', channel: 'incidents' })).code, 'forbidden');

  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_forbidden_total'), refused.length * 2 + 1 + 1 + 1, 'rthub_forbidden_total counts every refused subscribe');
});

test('publish rights: the publish claim allows client publishing, anything else is forbidden', async (t) => {
  const srv = await serverFor(t, ['--jwt-secret', SECRET]);
  const publisher = await wsConnectFor(t, `${srv.wsUrl}?token=${q(token({ sub: 'p', channels: ['*'], publish: ['incidents', 'room:*'] }))}`, { label: 'publisher' });
  const reader = await wsConnectFor(t, `${srv.wsUrl}?token=${q(token({ sub: 'r', channels: ['incidents', 'room:*', 'geometry'] }))}`, { label: 'reader' });
  for (const channel of ['incidents', 'room:1', 'geometry']) await reader.request({ op: 'subscribe', channel });

  const ok1 = await publisher.request({ op: 'publish', channel: 'incidents', type: 'incident.created', data: { id: 1 } });
  assert.equal(ok1.op, 'published', JSON.stringify(ok1));
  const ok2 = await publisher.request({ op: 'publish', channel: 'room:1', data: { id: 2 } });
  assert.equal(ok2.op, 'published', JSON.stringify(ok2));
  for (const channel of ['geometry', 'room', 'incidentsX', 'admin']) {
    const answer = await publisher.request({ op: 'publish', channel, data: 0 });
    assert.equal(answer.op, 'error', `publish to ${channel}: ${JSON.stringify(answer)}`);
    assert.equal(answer.code, 'forbidden', `publish to ${channel}: ${JSON.stringify(answer)}`);
  }
  // The reader may subscribe to incidents but has no publish claim.
  const refused = await reader.request({ op: 'publish', channel: 'incidents', data: 0 });
  assert.equal(refused.code, 'forbidden', `no publish claim: ${JSON.stringify(refused)}`);

  const m1 = await reader.next({ op: 'message', channel: 'incidents' });
  assert.deepEqual([m1.type, m1.data, m1.seq], ['incident.created', { id: 1 }, ok1.seq]);
  const m2 = await reader.next({ op: 'message', channel: 'room:1' });
  assert.deepEqual(m2.data, { id: 2 });
  await reader.none({ op: 'message' }, 300, 'refused publishes deliver nothing');
  assert.ok(publisher.isOpen && reader.isOpen);
});

test('refresh keeps a WebSocket past its token\'s expiry; without it the WebSocket closes with 1008 and SSE ends', async (t) => {
  const srv = await serverFor(t, ['--jwt-secret', SECRET, '--heartbeat', '1']);
  // Inside the 30 s leeway at connect, past it about 5 s later.
  const connectedAt = Date.now();
  const expiring = token({ sub: 'u1', channels: ['c'], exp: nowSeconds() - 25 });
  const keeper = await wsConnectFor(t, `${srv.wsUrl}?token=${q(expiring)}`, { label: 'refreshes' });
  const lapser = await wsConnectFor(t, srv.wsUrl, { headers: { Authorization: `Bearer ${expiring}` }, label: 'does not refresh' });
  const stream = await rawSse(srv.port, `/events?channel=c&token=${q(expiring)}`);
  t.after(() => stream.destroy());
  assert.equal(stream.status, 200);
  for (const ws of [keeper, lapser]) assert.equal((await ws.request({ op: 'subscribe', channel: 'c' })).op, 'subscribed');
  assert.equal((await keeper.request({ op: 'subscribe', channel: 'd' })).code, 'forbidden', 'd is not in the first token');

  // Refusals leave the connection and its token as they were.
  const other = await keeper.request({ op: 'refresh', token: token({ sub: 'someone-else', channels: ['*'], exp: nowSeconds() + 3600 }) });
  assert.deepEqual([other.op, other.code], ['error', 'forbidden'], `a token for another sub: ${JSON.stringify(other)}`);
  const forged = await keeper.request({ op: 'refresh', token: signJwt({ sub: 'u1', channels: ['*'] }, 'wrong') });
  assert.deepEqual([forged.op, forged.code], ['error', 'unauthorized'], `a forged token: ${JSON.stringify(forged)}`);
  const stale = await keeper.request({ op: 'refresh', token: token({ sub: 'u1', channels: ['*'], exp: nowSeconds() - 120 }) });
  assert.deepEqual([stale.op, stale.code], ['error', 'unauthorized'], `an expired token: ${JSON.stringify(stale)}`);
  const missing = await keeper.request({ op: 'refresh' });
  assert.deepEqual([missing.op, missing.code], ['error', 'bad_request'], `no token: ${JSON.stringify(missing)}`);

  const freshExp = nowSeconds() + 3600;
  const refreshed = await keeper.request({ op: 'refresh', token: token({ sub: 'u1', channels: ['c', 'd'], exp: freshExp }) });
  assert.equal(refreshed.op, 'refreshed', JSON.stringify(refreshed));
  assert.equal(refreshed.exp, freshExp);
  assert.equal((await keeper.request({ op: 'subscribe', channel: 'd' })).op, 'subscribed', 'the new token\'s rights apply');

  // Expiry: the hub closes a session at the first sweep visit where its wall clock in whole
  // seconds is past exp + leeway (jwt::kLeewaySeconds = 30), i.e. from (exp + 31) s on; exp was
  // made after connectedAt, so that is more than 5 s after connectedAt and at most 6 s after it;
  // the visit comes within a sweep (1 s), plus what a busy machine delays timers by.
  const deadlineMs = (JSON.parse(Buffer.from(expiring.split('.')[1], 'base64url')).exp + 31) * 1000;
  const closed = await lapser.closed;
  assert.equal(closed.code, 1008, `close code: ${JSON.stringify(closed)}`);
  const lifetime = closed.at - connectedAt;
  assert.ok(lifetime >= 5000 - CLOCK_MS, `not before the token expired: closed ${lifetime} ms after connecting`);
  assert.ok(lifetime <= 6000 + SWEEP_MS + SCHEDULING_ALLOWANCE_MS, `closed ${lifetime} ms after connecting`);
  await stream.ended;  // the SSE stream with the expired token ends (an event: no time bound)

  // The keeper is visited in the same sweeps (--heartbeat 1 queues it a ping at each visit while
  // idle, after the expiry check): a ping stamped past the deadline proves it was checked then.
  for (;;) {
    const ping = await keeper.next({ op: 'ping' });
    if (ping.ts >= deadlineMs + SWEEP_MS) break;
  }
  assert.ok(keeper.isOpen, `the refreshed WebSocket is still open (close: ${JSON.stringify(keeper.closeInfo)})`);
  assert.equal((await keeper.request({ op: 'ping' })).op, 'pong');
  await publishOk(srv.port, { channel: 'c', data: 'still here' });
  assert.equal((await keeper.next({ op: 'message', channel: 'c' })).data, 'still here');
});

test('without a secret: anonymous subscribe is free, anonymous WS publish is forbidden unless --allow-client-publish', async (t) => {
  const locked = await serverFor(t);
  const ws = await wsFor(t, locked.wsUrl, { label: 'anonymous' });
  assert.equal((await ws.request({ op: 'subscribe', channel: 'anything:at/all' })).op, 'subscribed');
  const refused = await ws.request({ op: 'publish', channel: 'anything:at/all', data: 1 });
  assert.deepEqual([refused.op, refused.code], ['error', 'forbidden'], JSON.stringify(refused));
  const refresh = await ws.request({ op: 'refresh', token: 'x.y.z' });
  assert.deepEqual([refresh.op, refresh.code], ['error', 'bad_request'], `refresh without tokens configured: ${JSON.stringify(refresh)}`);
  await ws.none({ op: 'message' }, 200);

  const open = await serverFor(t, ['--allow-client-publish']);
  const ws2 = await wsFor(t, open.wsUrl, { label: 'anonymous publisher' });
  await ws2.request({ op: 'subscribe', channel: 'free' });
  const ok = await ws2.request({ op: 'publish', channel: 'free', data: { hello: 1 } });
  assert.equal(ok.op, 'published', JSON.stringify(ok));
  assert.deepEqual((await ws2.next({ op: 'message', channel: 'free' })).data, { hello: 1 });
});

test('--publish-key: a missing or wrong key is 401, the right one 200', async (t) => {
  const key = 'k3y-With-Case';
  const srv = await serverFor(t, ['--publish-key', key]);
  const body = { channel: 'keyed', data: 1 };
  const attempts = [
    ['no Authorization', {}],
    ['a wrong key', { Authorization: 'Bearer wrong' }],
    ['a key that differs in case', { Authorization: `Bearer ${key.toLowerCase()}` }],
    ['a longer key', { Authorization: `Bearer ${key}x` }],
    ['a prefix of the key', { Authorization: `Bearer ${key.slice(0, -1)}` }],
    ['lower-case bearer', { Authorization: `bearer ${key}` }],
    ['Basic', { Authorization: `Basic ${key}` }],
    ['the key alone', { Authorization: key }],
  ];
  for (const [what, headers] of attempts) {
    const res = await publish(srv.port, body, headers);
    assert.equal(res.status, 401, `${what}: ${res.status} ${res.body}`);
    assertErrorBody(res, 'unauthorized', what);
  }
  const ok = await publish(srv.port, body, { Authorization: `Bearer ${key}` });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.seq, 1, 'only the authorised publish was published');
});

test('--allow-origin: WS handshakes, SSE, publish and preflights from other origins get 403; CORS headers for the allowed one', async (t) => {
  const good = 'https://good.example';
  const evil = 'https://evil.example';
  const srv = await serverFor(t, ['--allow-origin', good, '--allow-origin', 'http://second.example']);

  assert.equal((await wsHandshake(srv.wsUrl, { headers: { Origin: evil } })).status, 403, 'WS from evil');
  assert.equal((await wsHandshake(srv.wsUrl, { headers: { Origin: 'https://good.example.evil.example' } })).status, 403, 'WS from a look-alike');
  assert.equal((await wsHandshake(srv.wsUrl, { headers: { Origin: good } })).status, 101, 'WS from good');
  assert.equal((await wsHandshake(srv.wsUrl, { headers: { Origin: 'http://second.example' } })).status, 101, 'WS from the second allowed origin');
  assert.equal((await wsHandshake(srv.wsUrl)).status, 101, 'WS with no Origin (not a browser)');

  const sseEvil = await sseStatus(srv.port, '/events?channel=cors', { Origin: evil });
  assert.equal(sseEvil.status, 403, 'SSE from evil');
  assertErrorBody(sseEvil, 'forbidden', 'SSE from evil');
  const sseGood = await sseStatus(srv.port, '/events?channel=cors', { Origin: good });
  assert.equal(sseGood.status, 200);
  assert.equal(sseGood.headers['access-control-allow-origin'], good, 'SSE: Access-Control-Allow-Origin');
  assert.match(sseGood.headers.vary ?? '', /Origin/, 'SSE: Vary: Origin');
  const sseNone = await sseStatus(srv.port, '/events?channel=cors');
  assert.equal(sseNone.status, 200, 'SSE with no Origin');
  assert.equal(sseNone.headers['access-control-allow-origin'], undefined, 'no CORS header without an Origin');

  const pubGood = await publish(srv.port, { channel: 'cors', data: 1 }, { Origin: good });
  assert.equal(pubGood.status, 200, pubGood.body);
  assert.equal(pubGood.headers['access-control-allow-origin'], good, 'publish: Access-Control-Allow-Origin');
  assert.match(pubGood.headers.vary ?? '', /Origin/);
  const pubEvil = await publish(srv.port, { channel: 'cors', data: 2 }, { Origin: evil });
  assert.equal(pubEvil.status, 403, pubEvil.body);
  assertErrorBody(pubEvil, 'forbidden', 'publish from evil');
  assert.equal(pubEvil.headers['access-control-allow-origin'], undefined, 'no CORS grant for evil');

  for (const urlPath of ['/healthz', '/metrics']) {
    const res = await httpRequest(srv.port, { path: urlPath, headers: { Origin: good } });
    assert.equal(res.status, 200, urlPath);
    assert.equal(res.headers['access-control-allow-origin'], good, `${urlPath}: Access-Control-Allow-Origin`);
  }
  for (const urlPath of ['/publish', '/events']) {
    const preflight = await httpRequest(srv.port, {
      method: 'OPTIONS', path: urlPath,
      headers: { Origin: good, 'Access-Control-Request-Method': urlPath === '/publish' ? 'POST' : 'GET', 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204, `OPTIONS ${urlPath}: ${preflight.status} ${preflight.body}`);
    assert.equal(preflight.headers['access-control-allow-origin'], good);
    assert.match(preflight.headers['access-control-allow-methods'] ?? '', /POST/);
    assert.match(preflight.headers['access-control-allow-methods'] ?? '', /GET/);
    assert.match(preflight.headers['access-control-allow-headers'] ?? '', /Authorization/i);
    assert.match(preflight.headers['access-control-allow-headers'] ?? '', /Content-Type/i);
    assert.match(preflight.headers['access-control-allow-headers'] ?? '', /Last-Event-ID/i);
    assert.equal(preflight.headers['access-control-max-age'], '600');
    const refused = await httpRequest(srv.port, { method: 'OPTIONS', path: urlPath, headers: { Origin: evil, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(refused.status, 403, `OPTIONS ${urlPath} from evil: ${refused.status}`);
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
  }
  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_connections_refused_total', { reason: 'origin' }), 3,
    'rthub_connections_refused_total{reason="origin"} counts the two refused WebSockets and the refused SSE stream');

  // '*' accepts any origin.
  const any = await serverFor(t, ['--allow-origin', '*']);
  assert.equal((await wsHandshake(any.wsUrl, { headers: { Origin: evil } })).status, 101, "--allow-origin '*' accepts any Origin");
  const pubAny = await publish(any.port, { channel: 'cors', data: 1 }, { Origin: evil });
  assert.equal(pubAny.status, 200);
});

test('--max-connect-rate 2: a burst from one address is refused with 429, accepted again a second later', async (t) => {
  const srv = await serverFor(t, ['--max-connect-rate', '2']);
  // A token bucket of 2 a second with a burst of 2 (lib/core/gatekeeper.cpp): over a burst that
  // took burstMs, at most 2 + 2 x burstMs / 1000 handshakes get through (plus one token for the
  // millisecond granularity of the refill clock), and the third is refused when it came less than
  // 500 ms (one refill) after the first.
  const statuses = [];
  const burstStarted = Date.now();
  for (let i = 0; i < 6; i++) statuses.push((await wsHandshake(srv.wsUrl)).status);
  const sse = await sseStatus(srv.port, '/events?channel=rate');
  const burstMs = Date.now() - burstStarted;
  t.diagnostic(`burst of 6 handshakes and 1 SSE request in ${burstMs} ms: ${statuses}, SSE ${sse.status}`);
  assert.deepEqual(statuses.slice(0, 2), [101, 101], `the first two of the burst: ${statuses}`);
  const accepted = statuses.filter((s) => s === 101).length + (sse.status === 429 ? 0 : 1);
  assert.ok(accepted <= 2 + Math.floor((2 * (burstMs + CLOCK_MS)) / 1000) + 1, `${accepted} accepted in ${burstMs} ms: ${statuses}`);
  if (burstMs < 500) {
    assert.equal(statuses[2], 429, `the third at once: ${statuses}`);
    assert.equal(sse.status, 429, 'SSE shares the same budget');
    assertErrorBody(sse, 'limit', 'SSE over the connect rate');
  }
  const refused = statuses.filter((s) => s === 429).length + (sse.status === 429 ? 1 : 0);
  assert.ok(refused >= 1, `some of the burst is refused: ${statuses}, SSE ${sse.status}`);
  // Plain HTTP does not count.
  assert.equal((await httpRequest(srv.port, { path: '/healthz' })).status, 200);
  await sleep(1200);
  assert.equal((await wsHandshake(srv.wsUrl)).status, 101, 'accepted again after a second');
  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_connections_refused_total', { reason: 'connect_rate' }), refused,
    'rthub_connections_refused_total{reason="connect_rate"} counts each 429');
});
