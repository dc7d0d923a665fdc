// Shared helpers of the black-box integration tests: start the real
// rthub-server, and talk to it only through third-party clients (ws,
// eventsource, curl, node:http), the way an application would.
//
// Written for Node 18 (Debian bookworm) and later: no fetch, no
// Array.prototype.findLast, no test-runner features newer than 18.13.

import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import EventSource from 'eventsource';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

// The server prints exactly one such line on stderr once it accepts connections.
const READY_LINE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
const OUTPUT_KEPT = 64 * 1024;

// Servers still running when the test process exits (a test that threw
// before registering its cleanup) must not outlive it.
const liveServers = new Set();
process.on('exit', () => {
  for (const proc of liveServers) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export function serverBinary() {
  return process.env.RTHUB_SERVER || path.join(repoRoot, 'build', 'bin', 'rthub-server');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Time in these tests is of two kinds (tests/README.md, "Time bounds"):
// - A latency the design promises (a heartbeat, a sweep, a backoff) is asserted with a bound the
//   test derives from the hub's constants and writes down, plus SCHEDULING_ALLOWANCE_MS: what a
//   busy machine may add between a timer's due time and the process running (the hub's loop, the
//   test's own). Two cores shared with two CPU-bound processes and other suites stay far below it.
// - A wait for an event the design says will come (a reply, a delivery, a close) promises no
//   time at all: its timeout only turns a hang into a readable failure. Every such wait lasts at
//   least HANG_MS, whatever shorter figure a call site gives, so load cannot fail it; a real hang
//   still fails, well before CTest's per-test TIMEOUT.
export const SCHEDULING_ALLOWANCE_MS = 2000;
// The hub's housekeeping period (HubCore::kSweepMs: 40 slices, one per 25 ms tick): heartbeats,
// silent-peer drops, token expiry and the admission counters happen at a session's sweep visit.
export const SWEEP_MS = 1000;
// Every clock involved (the hub's, Date.now) counts whole milliseconds: a difference may read 1 short.
export const CLOCK_MS = 1;
export const HANG_MS = 30000;
export const hangBound = (ms) => Math.max(Number(ms) || 0, HANG_MS);

// Polls `probe` until it returns a truthy value; returns that value.
export async function waitFor(probe, { timeoutMs = HANG_MS, intervalMs = 50, what = 'condition' } = {}) {
  timeoutMs = hangBound(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// Waits until the hub on `port` answers /healthz 200: its broker links answer, so publishes are
// taken (before that a Redis node answers them 503).
export async function waitHealthy(port, { timeoutMs = HANG_MS, what = `node ${port} /healthz 200`, ...rest } = {}) {
  await waitFor(async () => (await httpGet(port, '/healthz')).status === 200, { timeoutMs, what, ...rest });
}

// Starts `rthub-server --listen 127.0.0.1:0 ...extraArgs` and resolves once it
// has printed its ready line. stop() sends SIGTERM (or `signal`), waits up to
// 5 s, SIGKILLs after that, and asserts a clean exit with status 0.
export async function startServer(extraArgs = [], { readyTimeoutMs = HANG_MS, env = {} } = {}) {
  readyTimeoutMs = hangBound(readyTimeoutMs);
  const bin = serverBinary();
  const args = ['--listen', '127.0.0.1:0', ...extraArgs];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  liveServers.add(proc);

  let output = '';
  const keep = (text) => {
    output += text;
    if (output.length > OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    if (process.env.RTHUB_TEST_VERBOSE) process.stderr.write(text);
  };

  const exited = new Promise((resolve) => {
    proc.once('error', (error) => { liveServers.delete(proc); resolve({ code: null, signal: null, error }); });
    proc.once('exit', (code, signal) => { liveServers.delete(proc); resolve({ code, signal }); });
  });

  const ready = new Promise((resolve, reject) => {
    let stderrLine = '';
    const timer = setTimeout(() => {
      reject(new Error(`${bin} printed no ready line within ${readyTimeoutMs} ms; output:\n${output}`));
    }, readyTimeoutMs);
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', keep);
    proc.stderr.on('data', (text) => {
      keep(text);
      stderrLine += text;
      const lines = stderrLine.split('\n');
      stderrLine = lines.pop();
      for (const line of lines) {
        const m = READY_LINE.exec(line);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      }
    });
    exited.then(({ code, signal, error }) => {
      clearTimeout(timer);
      reject(new Error(`${bin} ${args.join(' ')} ended before it was ready ` +
        `(code ${code}, signal ${signal}${error ? `, ${error.message}` : ''}); output:\n${output}`));
    });
  });

  let port;
  try {
    port = await ready;
  } catch (error) {
    proc.kill('SIGKILL');
    await exited;
    throw error;
  }

  let stopping = null;
  const server = {
    proc,
    port,
    host: '127.0.0.1',
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    exited,
    output: () => output,
    // Resolves to {code, signal} without asserting anything.
    async kill(signal = 'SIGTERM', timeoutMs = HANG_MS) {
      timeoutMs = hangBound(timeoutMs);  // the hub exits on SIGTERM: an event, not a latency
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      let timer;
      const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') return first;
      proc.kill('SIGKILL');
      const result = await exited;
      return { ...result, timedOut: true };
    },
    stop(signal = 'SIGTERM') {
      if (!stopping) {
        stopping = server.kill(signal).then((result) => {
          assert.ok(!result.timedOut, `rthub-server did not exit within ${HANG_MS} ms of ${signal}; output:\n${output}`);
          assert.ok(result.code === 0 && result.signal === null,
            `rthub-server should exit with status 0 on ${signal}, got code ${result.code}, ` +
            `signal ${result.signal}; output:\n${output}`);
          return result;
        });
      }
      return stopping;
    },
  };
  return server;
}

// ---------------------------------------------------------------------------
// Inbox: what a client received, with awaitable, predicate-based takes.

// A predicate is a function, or an object whose every key must be strictly
// equal in the frame: {op: 'subscribed', ref: 1}.
function matcher(predicate) {
  if (predicate === undefined) return () => true;
  if (typeof predicate === 'function') return predicate;
  return (frame) => frame !== null && typeof frame === 'object' &&
    Object.entries(predicate).every(([k, v]) => frame[k] === v);
}

function describe(predicate) {
  if (predicate === undefined) return 'any frame';
  if (typeof predicate === 'function') return predicate.toString();
  return JSON.stringify(predicate);
}

const clip = (text, max = 300) => (text.length > max ? `${text.slice(0, max)}...` : text);

function preview(frames, count = 8, unparsable = []) {
  const tail = frames.slice(-count).map((f) => clip(JSON.stringify(f)));
  let text = `${frames.length} received${frames.length > count ? `, last ${count}` : ''}:\n  ${tail.join('\n  ')}`;
  if (unparsable.length) {
    text += `\n  and ${unparsable.length} frames that are not one JSON object, e.g.:\n  ${unparsable.slice(0, 3).map((u) => clip(String(u))).join('\n  ')}`;
  }
  return text;
}

export class Inbox {
  constructor(label) {
    this.label = label;
    this.all = []; // every frame, in arrival order
    this.pending = []; // frames that no next() has taken yet
    this.waiters = [];
    this.endReason = null;
    this.unparsable = []; // raw frames that are not one JSON object
  }

  push(frame) {
    this.all.push(frame);
    for (let i = 0; i < this.waiters.length; i++) {
      const waiter = this.waiters[i];
      if (waiter.match(frame)) {
        this.waiters.splice(i, 1);
        clearTimeout(waiter.timer);
        waiter.resolve(frame);
        return;
      }
    }
    this.pending.push(frame);
  }

  // No more frames will come: waiters that nothing satisfied fail now rather
  // than at their timeout.
  end(reason) {
    this.endReason = reason;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${this.label}: ${reason} while waiting for ${waiter.what}; ${preview(this.all, 8, this.unparsable)}`));
    }
  }

  // Takes (removes) the first not-yet-taken frame matching `predicate`.
  next(predicate, timeoutMs = HANG_MS) {
    timeoutMs = hangBound(timeoutMs);
    const match = matcher(predicate);
    const what = describe(predicate);
    const index = this.pending.findIndex(match);
    if (index >= 0) return Promise.resolve(this.pending.splice(index, 1)[0]);
    if (this.endReason) {
      return Promise.reject(new Error(`${this.label}: ${this.endReason}; never got ${what}; ${preview(this.all, 8, this.unparsable)}`));
    }
    return new Promise((resolve, reject) => {
      const waiter = { match, what, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; ${preview(this.all, 8, this.unparsable)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  // Takes `count` frames matching `predicate`, in arrival order.
  async take(count, predicate, timeoutMs = HANG_MS) {
    timeoutMs = hangBound(timeoutMs);
    const deadline = Date.now() + timeoutMs;
    const frames = [];
    while (frames.length < count) {
      try {
        frames.push(await this.next(predicate, Math.max(1, deadline - Date.now())));
      } catch (error) {
        error.message = `got ${frames.length} of ${count} frames: ${error.message}`;
        throw error;
      }
    }
    return frames;
  }

  // Waits `ms` and asserts that no untaken frame matches `predicate`.
  async none(predicate, ms = 300, message = undefined) {
    await sleep(ms);
    const match = matcher(predicate);
    const found = this.pending.filter(match);
    assert.equal(found.length, 0, message ??
      `${this.label}: expected no frame matching ${describe(predicate)}, got ${JSON.stringify(found).slice(0, 1000)}`);
  }
}

// ---------------------------------------------------------------------------
// WebSocket client (the `ws` package).

let nextRequestId = 1000;

// Connects and resolves once open. Frames are parsed JSON objects; anything
// else (binary, non-JSON, non-object) lands in `badFrames`. `wsOptions` go to
// `ws` as they are (TLS: `ca`, `rejectUnauthorized`; `origin`; `autoPong`...).
export function wsClient(url, { headers, wsOptions = {}, openTimeoutMs = HANG_MS, label = 'ws' } = {}) {
  openTimeoutMs = hangBound(openTimeoutMs);
  const ws = new WebSocket(url, { headers, handshakeTimeout: openTimeoutMs, ...wsOptions });
  const inbox = new Inbox(label);
  const badFrames = [];
  let closeInfo = null;

  ws.on('message', (data, isBinary) => {
    if (isBinary) { badFrames.push({ binary: data }); inbox.unparsable.push(`(binary) ${data.toString('hex')}`); return; }
    const text = data.toString('utf8');
    let frame;
    try { frame = JSON.parse(text); } catch { frame = undefined; }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) { badFrames.push({ text }); inbox.unparsable.push(text); return; }
    inbox.push(frame);
  });

  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString('utf8'), at: Date.now() };
      inbox.end(`connection closed with code ${code}`);
      resolve(closeInfo);
    });
  });

  const client = {
    ws,
    inbox,
    badFrames,
    closed,
    get frames() { return inbox.all; },
    get closeInfo() { return closeInfo; },
    get isOpen() { return ws.readyState === WebSocket.OPEN; },
    next: (predicate, timeoutMs) => inbox.next(predicate, timeoutMs),
    take: (count, predicate, timeoutMs) => inbox.take(count, predicate, timeoutMs),
    none: (predicate, ms, message) => inbox.none(predicate, ms, message),
    // Sends a string as is, anything else as JSON.
    send(value) {
      ws.send(typeof value === 'string' ? value : JSON.stringify(value));
    },
    // Sends `request` with an `id` (one is added if missing) and resolves to
    // the first frame whose `ref` echoes it.
    request(request, timeoutMs = HANG_MS) {
      const id = request.id ?? nextRequestId++;
      client.send({ ...request, id });
      return inbox.next((f) => f.ref === id, timeoutMs);
    },
    close(code = 1000) {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(code);
      return closed;
    },
    terminate() {
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      return closed;
    },
  };

  return new Promise((resolve, reject) => {
    const onError = (error) => { cleanup(); ws.terminate(); reject(new Error(`${label}: cannot connect to ${url}: ${error.message}`)); };
    const onOpen = () => { cleanup(); ws.on('error', () => { /* reported through 'close' */ }); resolve(client); };
    const cleanup = () => { ws.off('error', onError); ws.off('open', onOpen); };
    ws.on('error', onError);
    ws.on('open', onOpen);
  });
}

// ---------------------------------------------------------------------------
// Server-Sent Events client (the `eventsource` package, as a browser would).

// Connects and resolves once the response headers are in. Inbox frames are
// the parsed `data:` objects; idOf(frame) gives the `id:` it came with.
// Unlike a browser it does not reconnect by itself: an error ends the inbox.
export function sseClient(url, { headers, openTimeoutMs = HANG_MS, label = 'sse' } = {}) {
  openTimeoutMs = hangBound(openTimeoutMs);
  const es = new EventSource(url, { headers: headers ? { ...headers } : undefined });
  const inbox = new Inbox(label);
  const ids = new WeakMap();
  const badEvents = [];
  const errors = [];
  let lastEventId = '';

  es.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { frame = undefined; }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) { badEvents.push(event.data); inbox.unparsable.push(event.data); return; }
    ids.set(frame, event.lastEventId);
    lastEventId = event.lastEventId;
    inbox.push(frame);
  };

  const client = {
    es,
    inbox,
    badEvents,
    errors,
    get frames() { return inbox.all; },
    get lastEventId() { return lastEventId; },
    idOf: (frame) => ids.get(frame),
    next: (predicate, timeoutMs) => inbox.next(predicate, timeoutMs),
    take: (count, predicate, timeoutMs) => inbox.take(count, predicate, timeoutMs),
    none: (predicate, ms, message) => inbox.none(predicate, ms, message),
    close() {
      es.close();
      if (!inbox.endReason) inbox.end('closed by the test');
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      es.close();
      reject(new Error(`${label}: ${url} did not open within ${openTimeoutMs} ms`));
    }, openTimeoutMs);
    es.onopen = () => {
      clearTimeout(timer);
      es.onerror = (event) => {
        errors.push(event);
        es.close(); // no automatic reconnect: the tests reconnect explicitly
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

// ---------------------------------------------------------------------------
// Plain HTTP (node:http rather than fetch, to stay simple on Node 18).

// Resolves to {status, headers, body, json}; json is undefined when the body
// does not parse.
export function httpRequest(port, { method = 'GET', path: urlPath = '/', headers = {}, body, timeoutMs = HANG_MS } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined
      : (typeof body === 'string' || Buffer.isBuffer(body)) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const requestHeaders = { ...headers };
    if (payload !== undefined) {
      requestHeaders['Content-Length'] = String(payload.length);
      if (!Object.keys(requestHeaders).some((k) => k.toLowerCase() === 'content-type')) {
        requestHeaders['Content-Type'] = 'application/json';
      }
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: requestHeaders, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export const httpGet = (port, urlPath, headers = {}) => httpRequest(port, { path: urlPath, headers });

// POST /publish. `body` is sent as JSON unless it is a string or a Buffer.
export const publish = (port, body, headers = {}) => httpRequest(port, { method: 'POST', path: '/publish', headers, body });

// Publishes and asserts 200; resolves to the parsed positions.
export async function publishOk(port, body, headers = {}) {
  const res = await publish(port, body, headers);
  assert.equal(res.status, 200, `POST /publish ${JSON.stringify(body).slice(0, 200)} -> ${res.status} ${res.body}`);
  assert.notEqual(res.json, undefined, `POST /publish answered 200 with a body that is not JSON: ${res.body}`);
  return res.json;
}

// Opens a GET stream, resolves with the response headers and status once they
// arrive, then destroys the connection.
export function httpHead(port, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      resolve({ status: res.statusCode, headers: res.headers });
      req.destroy();
    });
    req.setTimeout(10000, () => req.destroy(new Error(`GET ${urlPath}: no response headers`)));
    req.on('error', (error) => { if (!req.destroyed || error.code !== 'ECONNRESET') reject(error); });
  });
}

// ---------------------------------------------------------------------------
// curl, as a plain command-line consumer of the SSE stream.

// Runs `curl -N -s --max-time` in the background and reads its output as it
// comes: text() is everything so far, waitFor(regex) resolves once the output
// matches, stop() ends curl early and resolves to the whole output.
export function curlStream(url, { maxTimeMs = 10000, headers = [], includeHeaders = false } = {}) {
  const args = ['-N', '-s', '--max-time', (maxTimeMs / 1000).toFixed(3)];
  if (includeHeaders) args.push('-i');
  for (const header of headers) args.push('-H', header);
  args.push(url);
  const proc = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let watchers = [];
  const check = () => {
    watchers = watchers.filter((w) => {
      if (!w.regex.test(text)) return true;
      clearTimeout(w.timer);
      w.resolve(text);
      return false;
    });
  };
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => { text += chunk; check(); });
  const done = new Promise((resolve, reject) => {
    proc.once('error', (error) => reject(new Error(`cannot run curl: ${error.message}`)));
    proc.once('exit', (code, signal) => {
      for (const w of watchers) {
        clearTimeout(w.timer);
        w.reject(new Error(`curl ended (code ${code}) before its output matched ${w.regex}; output:\n${text}`));
      }
      watchers = [];
      // 28: operation timed out, the normal end of an endless stream.
      if (signal === 'SIGTERM' || code === 0 || code === 28) resolve(text);
      else reject(new Error(`curl ${args.join(' ')} failed with code ${code}; output:\n${text}`));
    });
  });
  done.catch(() => { /* reported through stop() or waitFor() */ });
  return {
    proc,
    done,
    text: () => text,
    waitFor(regex, timeoutMs = HANG_MS) {
      timeoutMs = hangBound(timeoutMs);
      if (regex.test(text)) return Promise.resolve(text);
      return new Promise((resolve, reject) => {
        const watcher = { regex, resolve, reject };
        watcher.timer = setTimeout(() => {
          watchers = watchers.filter((w) => w !== watcher);
          reject(new Error(`curl output did not match ${regex} within ${timeoutMs} ms; output:\n${text}`));
        }, timeoutMs);
        watchers.push(watcher);
      });
    },
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return done;
    },
  };
}

// Runs `curl -N -s --max-time` for `ms` and resolves to everything it printed
// (headers first when includeHeaders).
export function curlSse(url, ms, { headers = [], includeHeaders = false } = {}) {
  return curlStream(url, { maxTimeMs: ms, headers, includeHeaders }).done;
}

// Splits a raw text/event-stream body into events: [{fields: [[name, value]...], lines}].
// Comment lines (":...") are kept as field name ''.
export function parseSseStream(text) {
  const events = [];
  let current = [];
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (line === '') {
      if (current.length) events.push(current);
      current = [];
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    current.push([name, value]);
  }
  if (current.length) events.push(current); // an unfinished last event, cut by --max-time
  return events.map((fields) => ({ fields, field: (n) => fields.filter(([k]) => k === n).map(([, v]) => v) }));
}

// ---------------------------------------------------------------------------
// Per-test wrappers: each registers its cleanup with the test context, so a
// failing test still stops its server and closes its clients.

export async function serverFor(t, extraArgs = [], options = {}) {
  const server = await startServer(extraArgs, options);
  t.after(() => server.stop());
  return server;
}

export async function wsFor(t, url, options = {}) {
  const client = await wsClient(url, options);
  t.after(() => client.terminate());
  return client;
}

export async function sseFor(t, url, options = {}) {
  const client = await sseClient(url, options);
  t.after(() => client.close());
  return client;
}

export function curlFor(t, url, options = {}) {
  const stream = curlStream(url, options);
  t.after(() => stream.stop().catch(() => {}));
  return stream;
}

// ---------------------------------------------------------------------------
// Small assertions shared by the test files.

export function assertPosition(position, channel) {
  assert.equal(position.channel, channel, `position ${JSON.stringify(position)} should be on ${channel}`);
  assert.equal(typeof position.epoch, 'string', `epoch should be a string in ${JSON.stringify(position)}`);
  assert.ok(position.epoch.length > 0, `epoch should not be empty in ${JSON.stringify(position)}`);
  assert.ok(Number.isInteger(position.seq) && position.seq >= 1, `seq should be a positive integer in ${JSON.stringify(position)}`);
}

// Asserts `messages` are exactly seqs first, first+1, ... on one channel and epoch.
export function assertConsecutive(messages, { channel, epoch, first }) {
  const seqs = messages.map((m) => m.seq);
  const expected = messages.map((_, i) => first + i);
  assert.deepEqual(seqs, expected, `${channel}: seqs should run ${first}..${first + messages.length - 1} with no gap or duplicate`);
  for (const m of messages) {
    assert.equal(m.op, 'message');
    assert.equal(m.channel, channel);
    if (epoch !== undefined) assert.equal(m.epoch, epoch, `${channel}: epoch changed at seq ${m.seq}`);
  }
}
