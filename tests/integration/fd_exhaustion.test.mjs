// Out of file descriptors: rthub-server started with `ulimit -n 128` in a subshell and offered
// 200 WebSocket connections. Every connection gets an answer (101, or 503 before the upgrade)
// instead of hanging; the hub neither spins nor floods its log; /healthz and the connections
// already open keep being served; /metrics shows the limit and the refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import { serverBinary, httpRequest, waitFor, sleep } from './lib/server.mjs';
import { trackChild, wsConnectFor } from './lib/extra.mjs';
import { parseMetrics, metricValue } from './lib/prometheus.mjs';

const FD_LIMIT = 128;
const CROWD = 200;

// rthub-server under `ulimit -n FD_LIMIT` (soft and hard: the server cannot raise it).
async function limitedHub(t, extraArgs = []) {
  const command = `ulimit -n ${FD_LIMIT} && exec "$0" --listen 127.0.0.1:0 "$@"`;
  const proc = trackChild(spawn('/bin/sh', ['-c', command, serverBinary(), ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let log = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (text) => { log += text; });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(log), { timeoutMs: 15000, what: 'the ready line' });
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)[1]);
  return { proc, port, log: () => log, exited };
}

// A WebSocket upgrade on a raw socket: resolves with the status of the answer (101, 503 ...),
// or 'closed' when the server closed without one. The socket stays open after a 101.
function upgradeAttempt(port, sockets) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let head = '';
    socket.on('connect', () => {
      socket.write(['GET /ws HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', '', ''].join('\r\n'));
    });
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (m) resolve(Number(m[1]));
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve('closed'));
  });
}

// CPU seconds (user + system) the process used so far.
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function metrics(port) {
  const res = await httpRequest(port, { path: '/metrics' });
  assert.equal(res.status, 200);
  return parseMetrics(res.body);
}

function tally(statuses) {
  const counts = {};
  for (const s of statuses) counts[s] = (counts[s] || 0) + 1;
  return counts;
}

test('default --max-connections keeps a descriptor reserve: extra connections get 503, /healthz answers', async (t) => {
  const hub = await limitedHub(t);
  const before = await metrics(hub.port);
  // The documented default: the limit less 32 and 1/16 of it.
  const limit = FD_LIMIT - (32 + FD_LIMIT / 16);
  assert.equal(metricValue(before, 'rthub_connections_limit'), limit);

  const sockets = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  // Connections arriving one after another (a flood all at once is the next test's).
  const statuses = [];
  for (let i = 0; i < CROWD; i++) statuses.push(await upgradeAttempt(hub.port, sockets));
  const counts = tally(statuses);
  assert.equal(counts[101], limit, `exactly the limit is upgraded: ${JSON.stringify(counts)}`);
  assert.equal(counts[503], CROWD - limit, `the others are refused with 503: ${JSON.stringify(counts)}`);

  const health = await httpRequest(hub.port, { path: '/healthz', timeoutMs: 5000 });
  assert.equal(health.status, 200, '/healthz is answered while the connection limit is reached');
  const after = await metrics(hub.port);
  assert.equal(metricValue(after, 'rthub_connections_refused_total', { reason: 'max_connections' }), CROWD - limit);
  assert.equal(metricValue(after, 'rthub_connections', { transport: 'ws' }), limit);
  assert.equal(metricValue(after, 'rthub_fd_exhaustion_episodes_total'), 0, 'the reserve kept accept from failing');
});

test('with no connection limit, running out of descriptors answers 503 without spinning, once in the log', async (t) => {
  const hub = await limitedHub(t, ['--max-connections', '0', '--allow-client-publish']);
  // A client connected before the crowd: it must keep being served.
  const early = await wsConnectFor(t, `ws://127.0.0.1:${hub.port}/ws`);
  assert.equal((await early.request({ op: 'subscribe', channel: 'still', id: 1 })).op, 'subscribed');

  const sockets = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  const statuses = await Promise.all(Array.from({ length: CROWD }, () => upgradeAttempt(hub.port, sockets)));
  const counts = tally(statuses);
  assert.ok(counts[101] > 0 && counts[101] < FD_LIMIT, `some are upgraded, as many as descriptors allow: ${JSON.stringify(counts)}`);
  assert.equal(counts[101] + (counts[503] || 0), CROWD, `every other attempt is answered 503, none hangs: ${JSON.stringify(counts)}`);

  // While the descriptors stay exhausted: no spin. Over 2 s the hub's CPU time stays far below a
  // core (a spinning accept loop uses all it gets), and its log does not grow. The episode's line
  // was written before the 503s, but reaches this process through a pipe: wait for it first.
  await waitFor(() => hub.log().includes('out of file descriptors'), { what: 'the episode\'s log line' });
  const logBefore = hub.log().length;
  const cpuBefore = cpuSeconds(hub.proc.pid);
  await sleep(2000);
  const cpuUsed = cpuSeconds(hub.proc.pid) - cpuBefore;
  assert.ok(cpuUsed < 0.5, `the hub idles while out of descriptors (used ${cpuUsed} s of CPU in 2 s)`);
  // /healthz on a new connection still gets an answer (503 from the listener's spare descriptor).
  const health = await httpRequest(hub.port, { path: '/healthz', timeoutMs: 5000 });
  assert.ok(health.status === 200 || health.status === 503, `/healthz is answered, got ${health.status}`);
  assert.equal(hub.log().length, logBefore, `nothing more is logged while the shortage lasts:\n${hub.log().slice(logBefore)}`);
  assert.equal(hub.log().match(/out of file descriptors/g).length, 1, `one line marks the episode:\n${hub.log()}`);

  // The connection opened before still works both ways.
  const echo = early.next({ op: 'message', channel: 'still' });
  assert.equal((await early.request({ op: 'publish', channel: 'still', data: 'alive', id: 2 })).op, 'published');
  assert.equal((await echo).data, 'alive');

  // Descriptors come back: the end of the episode is logged once (after 1 s without shortage,
  // checked on the hub's housekeeping tick), and new connections are served again.
  for (const s of sockets) s.destroy();
  await waitFor(() => /file descriptors available again/.test(hub.log()), { timeoutMs: 10000, what: 'the end-of-episode line' });
  const health2 = await httpRequest(hub.port, { path: '/healthz', timeoutMs: 5000 });
  assert.equal(health2.status, 200);
  const m = await metrics(hub.port);
  assert.equal(metricValue(m, 'rthub_fd_exhaustion_episodes_total'), 1);
  assert.ok(metricValue(m, 'rthub_connections_refused_total', { reason: 'fd_exhausted' }) >= (counts[503] || 0));
  assert.ok(hub.log().length < 2000, `the log stays short:\n${hub.log()}`);
});
