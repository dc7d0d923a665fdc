// More helpers for the integration tests of Redis, nginx, auth, TLS, hostile
// input, backpressure and heartbeats. They complement server.mjs (which they
// reuse) and follow its rules: Node 18, no fetch, every process and socket
// they start cleaned up by the test that made it.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import EventSource from 'eventsource';
import { Inbox, sleep, httpRequest, serverBinary, wsClient, HANG_MS, hangBound } from './server.mjs';
import { parseMetrics, metricValue } from './prometheus.mjs';

// Child processes (redis-server, nginx, TLS hubs) still running when the
// test process exits must not outlive it.
const liveChildren = new Set();
process.on('exit', () => {
  for (const proc of liveChildren) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export function trackChild(proc) {
  liveChildren.add(proc);
  proc.once('exit', () => liveChildren.delete(proc));
  proc.once('error', () => liveChildren.delete(proc));
  return proc;
}

// A fresh temporary directory, removed after the test.
export function tmpDir(t, prefix = 'rthub-it-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A TCP port of 127.0.0.1, free a moment ago, for a server a test starts (redis-server,
// PostgreSQL, nginx, a proxy). It is taken below the kernel's ephemeral range: a port bound with
// 0 comes from that range, where an outgoing connection of any test running beside may take it
// between this probe and the server's bind ("Address already in use"). Random in
// [10000, start of the range): a Redis Cluster's bus adds 10000 to its port.
function ephemeralStart() {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (low > 11000) return low;
  } catch {}
  return 32768;
}

function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort() {
  const end = ephemeralStart();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10000 + Math.floor(Math.random() * (end - 10000));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port of 127.0.0.1 in [10000, ${end})`);
}

// Runs a command to completion: {code, stdout, stderr}.
export function run(cmd, args, { timeoutMs = 15000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}; stderr: ${stderr}`));
        return;
      }
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

// Resident set size of a process, in bytes (VmRSS of /proc/PID/status).
export function rssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  assert.ok(m, `no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;

// GET /metrics, parsed; value(name, labels) sums the matching samples (0 when none).
export async function metricsOf(port) {
  const res = await httpRequest(port, { path: '/metrics' });
  assert.equal(res.status, 200, `GET /metrics -> ${res.status} ${res.body.slice(0, 200)}`);
  const samples = parseMetrics(res.body);
  return {
    text: res.body,
    samples,
    value: (name, labels = {}) => metricValue(samples, name, labels) ?? 0,
    has: (name, labels = {}) => metricValue(samples, name, labels) !== undefined,
  };
}

// ---------------------------------------------------------------------------
// A WebSocket handshake whose outcome is only its HTTP status: 101 when it
// opened (the connection is closed again at once), else the refusal status.
export function wsHandshake(url, { headers, wsOptions = {}, timeoutMs = HANG_MS } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, ...wsOptions });
    let done = false;
    const finish = (value, error) => {
      if (done) return;
      done = true;
      if (error) reject(error); else resolve(value);
    };
    ws.on('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      const settle = () => {
        finish({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      };
      res.on('end', settle);
      res.on('error', settle);
      setTimeout(settle, 1000); // a body without an end
    });
    ws.on('open', () => {
      finish({ status: 101, headers: {}, body: '' });
      ws.terminate();
    });
    ws.on('error', (error) => finish(undefined, new Error(`${url}: ${error.message}`)));
  });
}

// server.mjs's wsClient; `wsOptions` go to `ws` (TLS, origin, autoPong...).
export const wsConnect = wsClient;

export async function wsConnectFor(t, url, options = {}) {
  const client = await wsConnect(url, options);
  t.after(() => client.terminate());
  return client;
}

// Like server.mjs's sseClient, with the eventsource package's `https`
// options (`ca`, `rejectUnauthorized`) passed through.
export function sseConnect(url, { headers, https, openTimeoutMs = HANG_MS, label = 'sse' } = {}) {
  openTimeoutMs = hangBound(openTimeoutMs);
  const options = {};
  if (headers) options.headers = { ...headers };
  if (https) options.https = https;
  const es = new EventSource(url, options);
  const inbox = new Inbox(label);
  const ids = new WeakMap();
  es.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { frame = undefined; }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) { inbox.unparsable.push(event.data); return; }
    ids.set(frame, event.lastEventId);
    inbox.push(frame);
  };
  const client = {
    es,
    inbox,
    get frames() { return inbox.all; },
    idOf: (frame) => ids.get(frame),
    next: (predicate, timeoutMs) => inbox.next(predicate, timeoutMs),
    take: (count, predicate, timeoutMs) => inbox.take(count, predicate, timeoutMs),
    none: (predicate, ms, message) => inbox.none(predicate, ms, message),
    close() { es.close(); if (!inbox.endReason) inbox.end('closed by the test'); },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { es.close(); reject(new Error(`${label}: ${url} did not open within ${openTimeoutMs} ms`)); }, openTimeoutMs);
    es.onopen = () => {
      clearTimeout(timer);
      es.onerror = (event) => {
        es.close();
        inbox.end(`stream ended (${event.status ?? event.message ?? 'error'})`);
      };
      resolve(client);
    };
    es.onerror = (event) => {
      clearTimeout(timer);
      es.close();
      reject(new Error(`${label}: cannot open ${url}: status ${event.status ?? '-'} ${event.message ?? ''}`));
    };
  });
}

export async function sseConnectFor(t, url, options = {}) {
  const client = await sseConnect(url, options);
  t.after(() => client.close());
  return client;
}

// ---------------------------------------------------------------------------
// A raw SSE reader on node:http: the status, the text so far, and whether the
// server ended the response. `pause()`/`resume()` stop and restart reading
// from the socket (a stalled reader).
export function rawSse(port, urlPath, { headers = {}, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, headers, agent: false }, (res) => {
      // Chunks are kept as they come and joined only when asked for: a long
      // stream (tens of MB) must not be copied or scanned again per chunk.
      const chunks = [];
      let joined = '';
      let joinedCount = 0;
      let tail = '';
      let endedAt = null;
      let watchers = [];
      const text = () => {
        if (joinedCount !== chunks.length) {
          joined += chunks.slice(joinedCount).join('');
          joinedCount = chunks.length;
        }
        return joined;
      };
      res.setEncoding('utf8');
      // New output is matched with the 64 KiB before it (an event is shorter).
      res.on('data', (chunk) => {
        chunks.push(chunk);
        tail = (tail.length > 65536 ? tail.slice(-65536) : tail) + chunk;
        if (!watchers.length) return;
        watchers = watchers.filter((w) => {
          if (!w.regex.test(tail)) return true;
          clearTimeout(w.timer);
          w.resolve();
          return false;
        });
      });
      const ended = new Promise((done) => {
        const end = (how) => {
          if (endedAt === null) endedAt = Date.now();
          for (const w of watchers) { clearTimeout(w.timer); w.reject(new Error(`stream ${how} before ${w.what}; got:\n${tail.slice(-2000)}`)); }
          watchers = [];
          done(how);
        };
        res.on('end', () => end('end'));
        res.on('close', () => end('close'));
        res.on('aborted', () => end('aborted'));
        res.on('error', () => end('error'));
      });
      resolve({
        status: res.statusCode,
        headers: res.headers,
        ended,
        get endedAt() { return endedAt; },
        get isEnded() { return endedAt !== null; },
        text,
        socket: req.socket,
        pause: () => { res.pause(); req.socket.pause(); },
        resume: () => { req.socket.resume(); res.resume(); },
        destroy: () => req.destroy(),
        // Resolves once the output matches `regex` (a pattern shorter than 64 KiB).
        waitFor(regex, timeoutMs = HANG_MS) {
          timeoutMs = hangBound(timeoutMs);
          if (regex.test(text())) return Promise.resolve();
          if (endedAt !== null) return Promise.reject(new Error(`stream ended before ${regex}; got:\n${tail.slice(-2000)}`));
          return new Promise((res2, rej2) => {
            const w = { regex, what: String(regex), resolve: res2, reject: rej2 };
            w.timer = setTimeout(() => {
              watchers = watchers.filter((x) => x !== w);
              rej2(new Error(`SSE output did not match ${regex} within ${timeoutMs} ms; got:\n${tail.slice(-2000)}`));
            }, timeoutMs);
            watchers.push(w);
          });
        },
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error(`GET ${urlPath}: no response headers`)));
    req.on('error', reject);
  });
}

// The data objects of a raw SSE text with their ids: [{id, frame}].
export function sseFrames(text) {
  const out = [];
  for (const block of text.replace(/\r\n?/g, '\n').split('\n\n')) {
    let id;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).replace(/^ /, '');
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) continue;
    try { out.push({ id, frame: JSON.parse(data.join('\n')) }); } catch { /* an event cut short */ }
  }
  return out;
}

// ---------------------------------------------------------------------------
// A keep-alive HTTP publisher: many POST /publish on one connection.
export function keepAlivePublisher(port, headers = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  const post = (body) => new Promise((resolve, reject) => {
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/publish', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(payload.length), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, body: text, json });
      });
    });
    req.on('socket', (s) => sockets.add(s));
    req.setTimeout(30000, () => req.destroy(new Error('POST /publish timed out')));
    req.on('error', reject);
    req.end(payload);
  });
  return { post, sockets, close: () => agent.destroy() };
}

// ---------------------------------------------------------------------------
// Starts any rthub-server whose ready line may be http:// or https://
// (server.mjs's startServer expects http://). Same interface as startServer:
// port, url, kill(), stop() (asserts exit 0).
const READY_ANY = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/;

export async function startHub(extraArgs = [], { readyTimeoutMs = HANG_MS } = {}) {
  readyTimeoutMs = hangBound(readyTimeoutMs);
  const bin = serverBinary();
  const args = ['--listen', '127.0.0.1:0', ...extraArgs];
  const proc = trackChild(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  const exited = new Promise((resolve) => {
    proc.once('error', (error) => resolve({ code: null, signal: null, error }));
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin} printed no ready line; output:\n${output}`)), readyTimeoutMs);
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (text) => { output += text; });
    proc.stderr.on('data', (text) => {
      output += text;
      if (process.env.RTHUB_TEST_VERBOSE) process.stderr.write(text);
      const m = READY_ANY.exec(output);
      if (m) { clearTimeout(timer); resolve({ scheme: m[1], port: Number(m[2]) }); }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${bin} ${args.join(' ')} ended before it was ready (code ${code}, signal ${signal}); output:\n${output}`));
    });
  });
  let where;
  try {
    where = await ready;
  } catch (error) {
    proc.kill('SIGKILL');
    await exited;
    throw error;
  }
  let stopping = null;
  const hub = {
    proc,
    port: where.port,
    scheme: where.scheme,
    url: `${where.scheme}://127.0.0.1:${where.port}`,
    wsUrl: `${where.scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${where.port}/ws`,
    exited,
    output: () => output,
    async kill(signal = 'SIGTERM', timeoutMs = HANG_MS) {
      timeoutMs = hangBound(timeoutMs);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      let timer;
      const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') return first;
      proc.kill('SIGKILL');
      return { ...(await exited), timedOut: true };
    },
    stop(signal = 'SIGTERM') {
      if (!stopping) {
        stopping = hub.kill(signal).then((result) => {
          assert.ok(!result.timedOut, `rthub-server did not exit within 5 s of ${signal}; output:\n${output}`);
          assert.ok(result.code === 0 && result.signal === null,
            `rthub-server should exit 0 on ${signal}, got code ${result.code}, signal ${result.signal}; output:\n${output}`);
          return result;
        });
      }
      return stopping;
    },
  };
  return hub;
}

export async function hubFor(t, extraArgs = [], options = {}) {
  const hub = await startHub(extraArgs, options);
  t.after(() => hub.stop());
  return hub;
}

// Waits until a promise settles or `ms` passed: resolves to the value or 'timeout'.
export async function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export { sleep };
