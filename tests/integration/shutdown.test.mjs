// SIGTERM / SIGINT: every WebSocket is closed with 1001 (going away), SSE
// streams end, and the server exits with status 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, wsClient, publishOk, HANG_MS } from './lib/server.mjs';

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// An SSE stream read with node:http; resolves `ended` when the server ends it.
function openSseStream(port, channel) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/events?channel=${channel}`, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      const ended = new Promise((done) => {
        res.on('end', () => done('end'));
        res.on('close', () => done('close'));
        res.on('error', () => done('error'));
      });
      resolve({ status: res.statusCode, ended, text: () => text, destroy: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal} closes every WebSocket with 1001 and exits 0`, async (t) => {
    const srv = await startServer();
    t.after(() => srv.kill('SIGKILL', 1000)); // only matters if the test failed early
    const subscriber = await wsClient(srv.wsUrl, { label: 'subscriber' });
    t.after(() => subscriber.terminate());
    const idle = await wsClient(srv.wsUrl, { label: 'idle' });
    t.after(() => idle.terminate());
    const sse = await openSseStream(srv.port, 'bye');
    t.after(() => sse.destroy());
    assert.equal(sse.status, 200);

    const sub = await subscriber.request({ op: 'subscribe', channel: 'bye', id: 1 });
    assert.equal(sub.op, 'subscribed');
    await publishOk(srv.port, { channel: 'bye', data: 'last words' });
    await subscriber.next({ op: 'message', channel: 'bye' });

    const stopped = srv.stop(signal); // asserts: exit (no hang), status 0; pipelining.test.mjs bounds the time
    stopped.catch(() => { /* awaited below */ });
    const [subscriberClose, idleClose] = await withTimeout(Promise.all([subscriber.closed, idle.closed]), HANG_MS,
      'both WebSockets should be closed');
    assert.equal(subscriberClose.code, 1001, `a subscribed WebSocket is closed with 1001 (going away), got ${subscriberClose.code}`);
    assert.equal(idleClose.code, 1001, `an idle WebSocket is closed with 1001 (going away), got ${idleClose.code}`);
    await withTimeout(sse.ended, HANG_MS, 'the SSE stream should end');
    const result = await stopped;
    assert.equal(result.code, 0);
  });
}
