// TLS on the hub (--tls-cert/--tls-key): wss:// and https:// with a
// self-signed certificate made by openssl at test time; plain HTTP on the
// TLS port fails; tokens are checked over TLS too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { httpRequest, serverBinary, HANG_MS } from './lib/server.mjs';
import { hubFor, wsConnectFor, sseConnectFor, wsHandshake, within } from './lib/extra.mjs';
import { makeCert, httpsRequest, httpsStatus } from './lib/tls.mjs';
import { signJwt } from './lib/jwt.mjs';

test('wss:// subscribe, https:// publish and SSE over https receive every message in order', async (t) => {
  const cert = await makeCert(t);
  const hub = await hubFor(t, ['--tls-cert', cert.cert, '--tls-key', cert.key]);
  assert.equal(hub.scheme, 'https', `the ready line says https://: ${hub.output()}`);
  const channel = 'tls.feed';

  const health = await httpsRequest(hub.port, { path: '/healthz', ca: cert.ca });
  assert.equal(health.status, 200);
  const peer = health.socket.getPeerCertificate?.();
  if (peer && peer.subject) assert.equal(peer.subject.CN, 'localhost', 'the hub presents the test certificate');

  const ws = await wsConnectFor(t, hub.wsUrl, { wsOptions: { ca: cert.ca }, label: 'wss' });
  const sub = await ws.request({ op: 'subscribe', channel });
  assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
  const sse = await sseConnectFor(t, `${hub.url}/events?channel=${channel}`, { https: { ca: cert.ca }, label: 'sse over https' });
  await sse.next({ op: 'subscribed', channel });

  const positions = [];
  for (let i = 1; i <= 20; i++) {
    const body = i % 5 === 0 ? [{ channel, data: { i } }] : { channel, type: 'tls.test', data: { i, text: 'é🎉'.repeat(i) } };
    const res = await httpsRequest(hub.port, { method: 'POST', path: '/publish', body, ca: cert.ca });
    assert.equal(res.status, 200, `POST /publish over https: ${res.status} ${res.body}`);
    positions.push(Array.isArray(res.json) ? res.json[0] : res.json);
  }
  assert.deepEqual(positions.map((p) => p.seq), Array.from({ length: 20 }, (_, k) => k + 1));
  for (const [name, client] of [['wss', ws], ['sse', sse]]) {
    const got = await client.take(20, { op: 'message', channel });
    assert.deepEqual(got.map((m) => m.data.i), positions.map((_, k) => k + 1), `${name}: every message in order`);
    assert.deepEqual(got.map((m) => m.seq), positions.map((p) => p.seq), `${name}: at its position`);
    got.forEach((m) => { if (m.type === 'tls.test') assert.equal(m.data.text, 'é🎉'.repeat(m.data.i)); });
  }
  // A client that does not trust the certificate cannot connect.
  await assert.rejects(wsHandshake(hub.wsUrl), /self[- ]signed|certificate/i, 'an untrusted self-signed certificate is refused by the client');
});

test('plain http:// and ws:// on the TLS port fail; https keeps working', async (t) => {
  const cert = await makeCert(t);
  const hub = await hubFor(t, ['--tls-cert', cert.cert, '--tls-key', cert.key]);
  const plain = await within(httpRequest(hub.port, { path: '/healthz', timeoutMs: 4000 }).then(
    (res) => ({ status: res.status, body: res.body }), (error) => ({ error: error.message })), 6000);
  assert.notEqual(plain, 'timeout');
  assert.ok(plain.error || plain.status !== 200, `plain HTTP on the TLS port must not be served: ${JSON.stringify(plain)}`);
  const plainWs = await within(wsHandshake(`ws://127.0.0.1:${hub.port}/ws`, { timeoutMs: 4000 }).then(
    (res) => ({ status: res.status }), (error) => ({ error: error.message })), 6000);
  assert.notEqual(plainWs, 'timeout');
  assert.ok(plainWs.error || plainWs.status !== 101, `plain ws:// on the TLS port must not open: ${JSON.stringify(plainWs)}`);
  const health = await httpsRequest(hub.port, { path: '/healthz', ca: cert.ca });
  assert.equal(health.status, 200, 'the hub still serves https after the plain attempts');
  assert.equal((await wsHandshake(hub.wsUrl, { wsOptions: { ca: cert.ca } })).status, 101);
});

test('--jwt-secret over TLS: no token or a bad one is 401 on wss and https /events; a good token works', async (t) => {
  const secret = 'tls-secret';
  const cert = await makeCert(t);
  const hub = await hubFor(t, ['--tls-cert', cert.cert, '--tls-key', cert.key, '--jwt-secret', secret]);
  const good = signJwt({ sub: 'u', channels: ['tls.auth'] }, secret);
  const forged = signJwt({ sub: 'u', channels: ['tls.auth'] }, 'other');
  const wsOptions = { ca: cert.ca };

  assert.equal((await wsHandshake(hub.wsUrl, { wsOptions })).status, 401, 'wss without a token');
  assert.equal((await wsHandshake(`${hub.wsUrl}?token=${forged}`, { wsOptions })).status, 401, 'wss with a forged token');
  assert.equal((await wsHandshake(hub.wsUrl, { wsOptions, headers: { Authorization: `Bearer ${forged}` } })).status, 401);
  const none = await httpsStatus(hub.port, '/events?channel=tls.auth', { ca: cert.ca });
  assert.equal(none.status, 401, 'https /events without a token');
  assert.equal(none.json?.error?.code, 'unauthorized', none.body);
  const bad = await httpsStatus(hub.port, `/events?channel=tls.auth&token=${forged}`, { ca: cert.ca });
  assert.equal(bad.status, 401, 'https /events with a forged token');
  const forbidden = await httpsStatus(hub.port, `/events?channel=other&token=${good}`, { ca: cert.ca });
  assert.equal(forbidden.status, 403, 'https /events for a channel the token does not cover');

  const ws = await wsConnectFor(t, hub.wsUrl, { wsOptions, headers: { Authorization: `Bearer ${good}` }, label: 'wss with token' });
  assert.equal((await ws.request({ op: 'subscribe', channel: 'tls.auth' })).op, 'subscribed');
  const sse = await sseConnectFor(t, `${hub.url}/events?channel=tls.auth&token=${good}`, { https: { ca: cert.ca }, label: 'sse with token' });
  await sse.next({ op: 'subscribed' });
  const res = await httpsRequest(hub.port, { method: 'POST', path: '/publish', body: { channel: 'tls.auth', data: 'secret stuff' }, ca: cert.ca });
  assert.equal(res.status, 200, res.body);
  assert.equal((await ws.next({ op: 'message' })).data, 'secret stuff');
  assert.equal((await sse.next({ op: 'message' })).data, 'secret stuff');
});

test('a missing certificate file stops the server at start with a message', async () => {
  const proc = spawn(serverBinary(), ['--listen', '127.0.0.1:0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stderr.on('data', (c) => { output += c; });
  proc.stdout.on('data', (c) => { output += c; });
  const exit = await within(new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))), HANG_MS);
  if (exit === 'timeout') proc.kill('SIGKILL');
  assert.notEqual(exit, 'timeout', `the server should not run without its certificate; output:\n${output}`);
  assert.notEqual(exit.code, 0, `a non-zero exit; output:\n${output}`);
  assert.equal(exit.signal, null, `no crash; output:\n${output}`);
  assert.doesNotMatch(output, /listening on/);
  assert.ok(output.trim().length > 0, 'it says why');
});
