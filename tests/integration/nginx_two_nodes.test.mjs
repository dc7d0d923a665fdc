// docs/nginx-rthub.conf, as shipped, in front of two Redis-backed nodes:
// WebSocket upgrade on /ws, unbuffered SSE on /events, publish through the
// proxy, and resume on whichever node the proxy picks.
//
// Needs nginx (Debian package nginx-light, /usr/sbin/nginx), which tests/run.sh
// installs: each test fails with a message naming the package when it is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  repoRoot, serverFor, httpGet, httpRequest, waitFor, sleep, assertConsecutive, curlFor,
  HANG_MS, waitHealthy } from './lib/server.mjs';
import { redisFor } from './lib/redis.mjs';
import {
  tmpDir, freePort, trackChild, wsConnectFor, sseConnectFor, metricsOf, within,
} from './lib/extra.mjs';

const NGINX = process.env.RTHUB_NGINX || '/usr/sbin/nginx';
const haveNginx = fs.existsSync(NGINX);
// tests/run.sh installs nginx: its absence fails every test here, never skips it.
const requireNginx = () => assert.ok(haveNginx, `${NGINX} is missing (Debian package: nginx-light)`);
const KEY = 'nginx-test-publish-key';
const auth = { Authorization: `Bearer ${KEY}` };

// The config of docs/, with its placeholders filled in and logs kept in `dir`.
function nginxConfig(dir, portA, portB, nginxPort) {
  const template = fs.readFileSync(path.join(repoRoot, 'docs', 'nginx-rthub.conf'), 'utf8');
  for (const placeholder of ['RTHUB_NODE_A', 'RTHUB_NODE_B', 'NGINX_PORT']) {
    assert.ok(template.includes(placeholder), `docs/nginx-rthub.conf should contain the placeholder ${placeholder}`);
  }
  let conf = template
    .replaceAll('RTHUB_NODE_A', String(portA))
    .replaceAll('RTHUB_NODE_B', String(portB))
    .replaceAll('NGINX_PORT', String(nginxPort));
  // The test's copy only: no access log under /var/log.
  conf = conf.replace(/http\s*\{/, (open) => `${open}\n  access_log off;`);
  assert.match(conf, /access_log off;/);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, conf);
  return file;
}

async function startNginx(t, dir, conf, port) {
  // Workers may run as another user: let them reach the temp paths in `dir`.
  fs.chmodSync(dir, 0o755);
  const args = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf,
    '-g', `daemon off; pid ${path.join(dir, 'nginx.pid')};`];
  const proc = trackChild(spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  proc.stdout.on('data', (c) => { output += c; });
  proc.stderr.on('data', (c) => { output += c; });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGQUIT');
    if ((await within(exited, HANG_MS)) === 'timeout') {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const errorLog = () => {
    try { return fs.readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { return ''; }
  };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${output}\n${errorLog()}`);
    const res = await httpGet(port, '/healthz').catch(() => null);
    return res && res.status === 200;
  }, { timeoutMs: 10000, what: `nginx on ${port} to proxy /healthz` });
  return { proc, errorLog };
}

async function setup(t) {
  requireNginx();
  const redis = await redisFor(t);
  const args = ['--redis', redis.url, '--bridge', 'updates', '--publish-key', KEY];
  const a = await serverFor(t, args);
  const b = await serverFor(t, args);
  for (const node of [a, b]) {
    await waitHealthy(node.port, { timeoutMs: 10000, what: `node ${node.port} connected to Redis` });
  }
  const dir = tmpDir(t, 'rthub-nginx-');
  const port = await freePort();
  const conf = nginxConfig(dir, a.port, b.port, port);
  const nginx = await startNginx(t, dir, conf, port);
  return {
    redis, a, b, nginx, port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
  };
}

const publishVia = async (port, body) => {
  const res = await httpRequest(port, { method: 'POST', path: '/publish', headers: auth, body });
  assert.equal(res.status, 200, `POST /publish through nginx: ${res.status} ${res.body}`);
  return res.json;
};

test('WebSocket upgrade through nginx: subscribe, publish, ping, spread over both nodes', async (t) => {
  const proxy = await setup(t);
  const channel = 'nginx.ws';
  const ws1 = await wsConnectFor(t, proxy.wsUrl, { label: 'ws via nginx 1', wsOptions: { autoPong: true } });
  const ws2 = await wsConnectFor(t, proxy.wsUrl, { label: 'ws via nginx 2' });
  for (const ws of [ws1, ws2]) {
    const sub = await ws.request({ op: 'subscribe', channel });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    const pong = await ws.request({ op: 'ping' });
    assert.equal(pong.op, 'pong');
  }
  // The two connections land on different nodes (round robin): both
  // nodes count one WebSocket.
  const counts = [];
  for (const node of [proxy.a, proxy.b]) counts.push((await metricsOf(node.port)).value('rthub_connections', { transport: 'ws' }));
  assert.deepEqual(counts, [1, 1], 'nginx spreads the two WebSockets over the two nodes');

  const positions = await publishVia(proxy.port, [1, 2, 3, 4, 5].map((i) => ({ channel, data: { i } })));
  for (const ws of [ws1, ws2]) {
    const got = await ws.take(5, { op: 'message', channel });
    assertConsecutive(got, { channel, epoch: positions[0].epoch, first: 1 });
  }
  const unauth = await httpRequest(proxy.port, { method: 'POST', path: '/publish', body: { channel, data: 0 } });
  assert.equal(unauth.status, 401, 'behind the proxy the publish key is what protects /publish');
});

test('SSE through nginx streams unbuffered: each message arrives before the next is published', async (t) => {
  const proxy = await setup(t);
  const channel = 'nginx.sse';
  const curl = curlFor(t, `${proxy.url}/events?channel=${channel}`, { maxTimeMs: 30000, includeHeaders: true });
  await curl.waitFor(/"op":"subscribed"/, 5000);
  assert.match(curl.text(), /^HTTP\/1\.1 200/);
  assert.match(curl.text(), /content-type: text\/event-stream/i);
  const es = await sseConnectFor(t, `${proxy.url}/events?channel=${channel}`, { label: 'eventsource via nginx' });
  await es.next({ op: 'subscribed', channel });

  // A buffering proxy holds a small event until its buffer fills or the stream ends: neither
  // happens here, so each message arriving before the next is published proves it is unbuffered
  // (a wait for an event, not a time: nginx has no timer that would flush it either).
  for (let i = 1; i <= 5; i++) {
    const [position] = await publishVia(proxy.port, [{ channel, type: 'nginx.test', data: { i } }]);
    const pattern = new RegExp(`"seq":${position.seq},"type":"nginx\\.test","data":\\{"i":${i}\\}`);
    await curl.waitFor(pattern);
    const message = await es.next({ op: 'message', channel, seq: position.seq });
    assert.equal(message.data.i, i);
  }
});

test('resume through nginx lands on whichever node and is exact (WS since, SSE Last-Event-ID)', async (t) => {
  const proxy = await setup(t);
  const channel = 'nginx.resume';
  let at = null;
  let next = 1;
  // Six WebSocket visits through nginx; between them messages are published.
  for (let visit = 1; visit <= 6; visit++) {
    const ws = await wsConnectFor(t, proxy.wsUrl, { label: `visit ${visit}` });
    const request = { op: 'subscribe', channel };
    if (at) request.since = at;
    const sub = await ws.request(request);
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    if (at) assert.equal(sub.recovered, true, `visit ${visit}: resumed: ${JSON.stringify(sub)}`);
    const missed = (sub.seq ?? 0) - (at ? at.seq : sub.seq);
    if (missed > 0) {
      const replay = await ws.take(missed, { op: 'message', channel });
      assertConsecutive(replay, { channel, epoch: at.epoch, first: at.seq + 1 });
      replay.forEach((m) => assert.equal(m.data.i, m.seq));
    }
    const live = await publishVia(proxy.port, [{ channel, data: { i: next } }, { channel, data: { i: next + 1 } }]);
    next += 2;
    const got = await ws.take(2, { op: 'message', channel });
    assert.deepEqual(got.map((m) => m.seq), live.map((p) => p.seq), `visit ${visit}: live messages`);
    await ws.none({ op: 'message' }, 100, `visit ${visit}: no duplicate`);
    at = { epoch: got[1].epoch, seq: got[1].seq };
    await ws.close();
    // Missed while away.
    await publishVia(proxy.port, [{ channel, data: { i: next } }, { channel, data: { i: next + 1 } }, { channel, data: { i: next + 2 } }]);
    next += 3;
  }
  const resumes = [];
  for (const node of [proxy.a, proxy.b]) {
    resumes.push((await metricsOf(node.port)).value('rthub_resumes_total', { recovered: 'true' }));
  }
  assert.equal(resumes[0] + resumes[1], 5, `five resumes in all: ${JSON.stringify(resumes)}`);
  assert.ok(resumes[0] >= 1 && resumes[1] >= 1, `resumes landed on both nodes: ${JSON.stringify(resumes)}`);

  // SSE: a stream through nginx, then a second one with Last-Event-ID.
  const first = await sseConnectFor(t, `${proxy.url}/events?channel=${channel}`, { label: 'sse visit 1' });
  await first.next({ op: 'subscribed', channel });
  const [p] = await publishVia(proxy.port, [{ channel, data: { i: next } }]);
  next += 1;
  const message = await first.next({ op: 'message', channel, seq: p.seq });
  const cursor = first.idOf(message);
  first.close();
  const missed = await publishVia(proxy.port, [0, 1, 2, 3].map((k) => ({ channel, data: { i: next + k } })));
  next += 4;
  for (let visit = 2; visit <= 3; visit++) {
    const again = await sseConnectFor(t, `${proxy.url}/events?channel=${channel}`, { label: `sse visit ${visit}`, headers: { 'Last-Event-ID': cursor } });
    const sub = await again.next({ op: 'subscribed', channel });
    assert.equal(sub.recovered, true, `sse visit ${visit}: ${JSON.stringify(sub)}`);
    const replay = await again.take(4, { op: 'message', channel });
    assert.deepEqual(replay.map((m) => m.seq), missed.map((x) => x.seq), `sse visit ${visit}: exactly the missed messages`);
    await again.none({ op: 'message' }, 200);
    again.close();
  }
  const errors = proxy.nginx.errorLog().split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
  assert.deepEqual(errors, [], 'nginx logged no error');
});
