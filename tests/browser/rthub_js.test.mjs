// Browser tests of bindings/js/rthub.js, the reconnecting browser client: headless Chromium
// loads the module from rthub-server (examples/web/rthub.js is a symlink to it) and drives it
// against a real hub, with a real nginx in front for the WebSocket-blocked case.
//
//   RTHUB_SERVER=build/bin/rthub-server node --test tests/browser/rthub_js.test.mjs
//
// Needs /usr/bin/chromium, /usr/sbin/nginx (Debian nginx-light) and `npm ci` in tests/ (for
// playwright-core). A missing Chromium or nginx is a failure, not a skip. Tests run in order
// and share one hub; the last ones restart it and stop it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort } from '../integration/lib/extra.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const WEB_ROOT = join(REPO, 'examples', 'web');
const CHROMIUM = '/usr/bin/chromium';
const NGINX = '/usr/sbin/nginx';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
// Every wait here is for an event (a subscribed, a delivery, a close): its timeout only turns a
// hang into a readable failure, so it is long (tests/README.md, "Time bounds"); latency bounds
// are asserted apart, derived from the design, plus SCHEDULING_ALLOWANCE_MS for a busy machine.
const STEP_TIMEOUT = 30000;
const SCHEDULING_ALLOWANCE_MS = 2000;
// The hub's --heartbeat. It pings between N and N+1 s after the last thing it sent (it visits each
// session once per 1 s sweep), so an idle link may be silent for N+1 s; the watchdog fires after
// 2 x N. N = 3 leaves the watchdog a margin of SCHEDULING_ALLOWANCE_MS (2 s) for a busy machine.
const HEARTBEAT_S = 3;
const MAX_QUEUE_BYTES = 4096;   // a bigger message makes the hub drop the connection (1013)
const JWT_SECRET = 'rthub-js-test-secret';

// ------------------------------------------------------------------ fixtures

let hub = null;      // { proc, port, base, exited, running, log() }
let browser = null;
let nginx = null;    // { proc, port, dir, exited, running }
let nginxDir = null;
let setupPromise = null;

function jwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${head}.${createHmac('sha256', JWT_SECRET).update(head).digest('base64url')}`;
}
// Any channel may be subscribed; only js.pub.* may be published over the WebSocket.
const TOKEN = jwt({ sub: 'rthub-js-test', channels: '*', publish: ['js.pub.*'] });

function startHub(port = 0) {
  const bin = process.env.RTHUB_SERVER;
  assert.ok(bin, 'RTHUB_SERVER must name the rthub-server binary');
  assert.ok(existsSync(bin), `RTHUB_SERVER=${bin} does not exist`);
  const proc = spawn(bin, [
    '--listen', `127.0.0.1:${port}`, '--static', WEB_ROOT, '--jwt-secret', JWT_SECRET,
    '--heartbeat', String(HEARTBEAT_S), '--max-queue-bytes', String(MAX_QUEUE_BYTES),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => { output = (output + chunk).slice(-20000); };
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', keep);
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const srv = { proc, exited, port: 0, base: '', log: () => output, running: true };
  exited.then(() => { srv.running = false; });
  return new Promise((res, rej) => {
    let stderr = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`rthub-server did not report its port within 15 s; output:\n${output}`));
    }, 15000);
    proc.stderr.on('data', (chunk) => {
      keep(chunk);
      if (srv.port) return;
      stderr += chunk;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        srv.port = Number(m[1]);
        srv.base = `http://127.0.0.1:${srv.port}`;
        res(srv);
      }
    });
    proc.on('error', (err) => { clearTimeout(timer); rej(err); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`rthub-server exited early (code ${code}, signal ${signal}); output:\n${output}`));
    });
  });
}

async function stopHub(srv) {
  srv.proc.kill('SIGCONT'); // in case a test left it frozen
  srv.proc.kill('SIGTERM');
  const timer = setTimeout(() => srv.proc.kill('SIGKILL'), 5000);
  const result = await srv.exited;
  clearTimeout(timer);
  return result;
}

// nginx in front of the hub, WITHOUT Upgrade pass-through: a WebSocket handshake reaches the
// hub as a plain GET /ws (answered 404), so the browser's WebSocket cannot open. /events is
// proxied unbuffered. Runs as a child in the foreground, everything under a temporary prefix.
// With `buffering`, nginx also buffers every response whatever the hub's headers say (a
// corporate proxy): the event stream passes nothing until its buffers fill, only long-polling works.
function writeNginxConf(dir, hubPort, port, upgrade, buffering = false) {
  // upgrade: pass the WebSocket handshake through (the usual two headers), for the reload step.
  const streaming = buffering
    ? 'proxy_buffering on;\n      proxy_ignore_headers X-Accel-Buffering;'
    : 'proxy_buffering off;';
  const ws = upgrade
    ? 'proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection "upgrade";'
    : 'proxy_set_header Connection "";';
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location /ws {
      proxy_pass http://127.0.0.1:${hubPort};
      proxy_http_version 1.1;
      ${ws}
    }
    location /events {
      proxy_pass http://127.0.0.1:${hubPort};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${streaming}
      proxy_read_timeout 1h;
    }
    location /poll {
      proxy_pass http://127.0.0.1:${hubPort};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
      proxy_ignore_headers X-Accel-Buffering;
    }
    location / {
      proxy_pass http://127.0.0.1:${hubPort};
    }
  }
}
`);
}

async function startNginx(hubPort, port, { buffering = false } = {}) {
  assert.ok(existsSync(NGINX), `${NGINX} is missing: install the nginx-light package`);
  if (!nginxDir) nginxDir = mkdtempSync(join(tmpdir(), 'rthub-js-nginx-'));
  const dir = nginxDir;
  writeNginxConf(dir, hubPort, port, false, buffering);
  const proc = spawn(NGINX, ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf'),
    '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')};`],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (c) => { output += c; });
  proc.stderr.on('data', (c) => { output += c; });
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const n = { proc, port, dir, exited, running: true, base: `http://127.0.0.1:${port}` };
  exited.then(() => { n.running = false; });
  const log = () => {
    let err = '';
    try { err = readFileSync(join(dir, 'error.log'), 'utf8'); } catch { /* none yet */ }
    return `${output}\n${err}`.slice(-4000);
  };
  const t0 = Date.now();
  for (;;) {
    if (!n.running) throw new Error(`nginx exited early:\n${log()}`);
    try {
      const res = await fetch(`${n.base}/healthz`);
      if (res.status === 200) return n;
    } catch { /* not listening yet */ }
    if (Date.now() - t0 > 10000) {
      proc.kill('SIGKILL');
      throw new Error(`nginx did not answer within 10 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopNginx(n) {
  if (!n || !n.running) return;
  n.proc.kill('SIGTERM');
  const timer = setTimeout(() => n.proc.kill('SIGKILL'), 5000);
  await n.exited;
  clearTimeout(timer);
}

function setup() {
  if (!setupPromise) {
    setupPromise = (async () => {
      assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the chromium package`);
      hub = await startHub();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
      return browser;
    })();
  }
  return setupPromise;
}

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopNginx(nginx).catch(() => {});
  if (hub && hub.running) await stopHub(hub);
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

async function newPage({ allowConsoleErrors = false } = {}) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || allowConsoleErrors) return;
    if (/\/favicon\.ico$/.test(msg.location().url || '')) return;
    problems.push(`console.error: ${msg.text()} (${msg.location().url || 'no url'})`);
  });
  page.problems = problems;
  return page;
}

async function publish(base, body) {
  const res = await fetch(`${base}/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `POST /publish -> ${res.status} ${text}`);
  return JSON.parse(text);
}

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{\\})? (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} is not in /metrics`);
  return Number(m[1]);
}

const uniq = (prefix) => `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

// Loads the module into the page (from the page's origin) and starts a client that logs every
// event into window.__log. `randomConst` / `randomSeed` build the injected jitter source.
async function startClient(page, options) {
  await page.evaluate(async (opts) => {
    const mod = await import(`${location.origin}/rthub.js`);
    const { randomConst, url, ...options } = opts;
    if (randomConst !== undefined) options.random = () => randomConst;
    const log = window.__log = {
      message: [], subscribed: [], unsubscribed: [], reset: [], state: [], fallback: [], error: [], snapshot: [],
    };
    const client = window.__client = mod.connect(url || location.origin, options);
    for (const type of Object.keys(log)) client.on(type, (d) => log[type].push({ ...d, at: Date.now() }));
    // Messages also through the EventTarget interface, to check that it works too: each
    // message is logged twice in a row (on() first).
    client.addEventListener('message', (e) => log.message.push({ ...e.detail, at: Date.now() }));
  }, options);
}

// page.waitForFunction with a failure message that shows what the client saw.
async function waitIn(page, what, predicate, arg, timeout = STEP_TIMEOUT) {
  try {
    await page.waitForFunction(predicate, arg, { timeout });
  } catch (err) {
    let seen = '';
    try {
      seen = await page.evaluate(() => JSON.stringify({
        state: window.__client && window.__client.state,
        transport: window.__client && window.__client.transport,
        stats: window.__client && window.__client.stats,
        positions: window.__client && window.__client.positions,
        messages: window.__log && window.__log.message.length,
        lastMessages: window.__log && window.__log.message.slice(-3).map((m) => ({ ...m, data: JSON.stringify(m.data).slice(0, 80) })),
        states: window.__log && window.__log.state.slice(-12),
        resets: window.__log && window.__log.reset,
        errors: window.__log && window.__log.error,
      }));
    } catch (e) {
      seen = `(could not read the page: ${e.message})`;
    }
    throw new Error(`${what}: not within ${timeout} ms (${err.message.split('\n')[0]})\n`
      + `page problems: ${JSON.stringify(page.problems)}\nclient: ${seen.slice(0, 6000)}`);
  }
}

const log = (page) => page.evaluate(() => window.__log);

// The messages of one channel: consecutive seqs, one epoch, none twice.
function assertClean(messages, channel, label = channel) {
  const msgs = messages.filter((m) => m.channel === channel);
  for (let i = 1; i < msgs.length; i++) {
    assert.equal(msgs[i].epoch, msgs[0].epoch, `${label}: epoch changed at index ${i}`);
    assert.equal(msgs[i].seq, msgs[i - 1].seq + 1, `${label}: seq ${msgs[i - 1].seq} followed by ${msgs[i].seq}`);
  }
  return msgs;
}

function assertSeqsOnce(messages, channel, positions) {
  for (const p of positions) {
    const n = messages.filter((m) => m.channel === channel && m.epoch === p.epoch && m.seq === p.seq).length;
    assert.equal(n, 1, `${channel} seq ${p.seq} delivered ${n} times`);
  }
}

// ------------------------------------------------------------------ backoff

test('backoff: full jitter within [0, min(cap, base*2^n)], doubling, spread over the range', { timeout: 180000 }, async () => {
  await setup();
  const page = await newPage({ allowConsoleErrors: true }); // Chromium logs the refused connections
  try {
    await page.goto(`${hub.base}/healthz`);

    // 1. The delay function itself, with a seeded generator (mulberry32).
    const dist = await page.evaluate(async () => {
      const { backoffDelay } = await import(`${location.origin}/rthub.js`);
      let s = 0x9e3779b9;
      const rng = () => {
        s = (s + 0x6d2b79f5) | 0;
        let t = Math.imul(s ^ (s >>> 15), 1 | s);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const out = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        const xs = [];
        for (let i = 0; i < 4000; i++) xs.push(backoffDelay(attempt, 100, 5000, rng));
        const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
        const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
        out.push({
          attempt, mean, sd, min: Math.min(...xs), max: Math.max(...xs),
          integers: xs.every(Number.isInteger), distinct: new Set(xs).size,
          lowFifth: xs.filter((x) => x < Math.min(5000, 100 * 2 ** attempt) / 5).length,
        });
      }
      const edges = {
        zero: backoffDelay(3, 100, 5000, () => 0),
        top: backoffDelay(3, 100, 5000, () => 0.9999999),
        one: backoffDelay(3, 100, 5000, () => 1),
        nan: backoffDelay(3, 100, 5000, () => NaN),
        capped: backoffDelay(60, 100, 5000, () => 0.9999999),
        huge: backoffDelay(5000, 100, 5000, () => 0.5),
      };
      return { out, edges };
    });
    for (const d of dist.out) {
      const ceiling = Math.min(5000, 100 * 2 ** d.attempt);
      const label = `attempt ${d.attempt} (ceiling ${ceiling})`;
      assert.ok(d.integers, `${label}: whole milliseconds`);
      assert.ok(d.min >= 0 && d.max <= ceiling, `${label}: within [0, ${ceiling}], saw [${d.min}, ${d.max}]`);
      // Full jitter: uniform over the whole range, not ceiling/2 + jitter.
      assert.ok(d.min <= ceiling * 0.01, `${label}: reaches near 0 (min ${d.min})`);
      assert.ok(d.max >= ceiling * 0.99, `${label}: reaches near the ceiling (max ${d.max})`);
      assert.ok(Math.abs(d.mean - ceiling / 2) <= ceiling * 0.03, `${label}: mean ${d.mean} near ${ceiling / 2}`);
      const sdUniform = ceiling / Math.sqrt(12);
      assert.ok(Math.abs(d.sd - sdUniform) <= sdUniform * 0.06, `${label}: spread ${d.sd} near ${sdUniform.toFixed(1)}`);
      assert.ok(d.lowFifth > 4000 * 0.17 && d.lowFifth < 4000 * 0.23, `${label}: ${d.lowFifth} of 4000 in the lowest fifth`);
      assert.ok(d.distinct >= Math.min(ceiling + 1, 4000) * 0.5, `${label}: ${d.distinct} distinct values`);
    }
    for (let a = 1; a < 6; a++) { // uncapped: the mean doubles per attempt
      const ratio = dist.out[a].mean / dist.out[a - 1].mean;
      assert.ok(ratio > 1.85 && ratio < 2.15, `mean grows x2 from attempt ${a - 1} to ${a}: x${ratio.toFixed(3)}`);
    }
    assert.deepEqual(dist.edges, { zero: 0, top: 800, one: 800, nan: 0, capped: 5000, huge: 2500 });

    // 2. The delays a client really waits, against a port where nothing listens: with a
    // constant random source they are exactly the ceilings; with maxAttempts it gives up.
    const deadPort = await freePort();
    await startClient(page, {
      url: `http://127.0.0.1:${deadPort}`, channels: ['js.backoff'], transport: 'ws',
      backoffBase: 20, backoffCap: 100, maxAttempts: 6, randomConst: 0.99999999,
    });
    await waitIn(page, 'client gave up after maxAttempts', () => window.__client.state === 'closed');
    let l = await log(page);
    const waits = l.state.filter((s) => s.state === 'disconnected').map((s) => s.retryIn);
    assert.deepEqual(waits, [20, 40, 80, 100, 100, 100], 'retryIn of each failure: min(cap, base*2^n)');
    const connecting = l.state.filter((s) => s.state === 'connecting');
    assert.equal(connecting.length, 7, 'one first attempt + maxAttempts retries');
    assert.deepEqual(connecting.map((s) => s.attempt), [0, 1, 2, 3, 4, 5, 6]);
    // The gaps between attempts follow the delays (timers never fire early).
    for (let i = 1; i < connecting.length; i++) {
      const gap = connecting[i].at - connecting[i - 1].at;
      assert.ok(gap >= waits[i - 1] - 2, `attempt ${i} came ${gap} ms after the previous one, delay was ${waits[i - 1]}`);
    }
    assert.match(l.state.at(-1).reason, /gave up after 6 retries/);

    // 3. auto mode against the dead port: each attempt tries WebSocket, then SSE at once; both
    // failing is not a fallback. Delays follow the injected (seeded) source.
    await page.evaluate(() => window.__client.close());
    await page.evaluate(async (deadPort) => {
      const mod = await import(`${location.origin}/rthub.js`);
      let s = 42;
      const rng = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
      let t = 42;
      const twin = () => { t = (t * 1103515245 + 12345) % 2147483648; return t / 2147483648; };
      window.__expected = [0, 1, 2, 3].map((n) => mod.backoffDelay(n, 30, 400, twin));
      const states = window.__autoStates = [];
      const c = window.__auto = mod.connect(`http://127.0.0.1:${deadPort}`, {
        channels: ['js.backoff'], backoffBase: 30, backoffCap: 400, maxAttempts: 4, random: rng,
      });
      c.on('state', (d) => states.push(d));
      c.on('fallback', () => states.push({ state: 'FALLBACK' }));
    }, deadPort);
    await waitIn(page, 'auto client gave up', () => window.__auto.state === 'closed');
    const auto = await page.evaluate(() => ({ states: window.__autoStates, expected: window.__expected, stats: window.__auto.stats }));
    const seq = auto.states.map((s) => `${s.state}/${s.transport}`);
    // A dead hub: the WebSocket, the stream and long-polling tried at once all fail, then back off.
    assert.deepEqual(seq.slice(0, 6),
      ['connecting/ws', 'fallback/sse', 'connecting/sse', 'fallback/poll', 'connecting/poll', 'disconnected/poll']);
    assert.ok(!seq.includes('FALLBACK/undefined'), `no fallback when SSE and polling fail too: ${seq.join(' ')}`);
    assert.equal(auto.stats.fallbacks, 0);
    const sseWaits = auto.states.filter((s) => s.state === 'disconnected' && s.transport === 'poll').map((s) => s.retryIn);
    assert.deepEqual(sseWaits, auto.expected, 'retry delays are backoffDelay(n) of the injected source');
    assert.equal(auto.states.filter((s) => s.state === 'connecting' && s.transport === 'ws').length, 5,
      'every attempt tries WebSocket first again');
  } finally {
    await page.close();
  }
});

// ------------------------------------------------------------------ WebSocket

test('receives over WebSocket; subscribe/unsubscribe at any time; publish resolves or rejects', { timeout: 180000 }, async () => {
  await setup();
  const page = await newPage();
  try {
    await page.goto(`${hub.base}/healthz`);
    const a = uniq('js.a');
    const b = uniq('js.b');
    const pub = uniq('js.pub.c');
    const before = await publish(hub.base, { channel: a, type: 'old', data: { i: -1 } });
    await startClient(page, { channels: [a], token: TOKEN });
    await waitIn(page, 'connected and subscribed', (a) => window.__client.state === 'connected'
      && window.__log.subscribed.some((s) => s.channel === a), a);
    let l = await log(page);
    assert.deepEqual(l.state.map((s) => `${s.state}/${s.transport}`), ['connecting/ws', 'connected/ws']);
    const sub = l.subscribed.find((s) => s.channel === a);
    assert.deepEqual([sub.epoch, sub.seq, sub.recovered, sub.transport], [before.epoch, before.seq, undefined, 'ws']);

    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await publish(hub.base, { channel: a, type: 't', data: { i, s: 'olá 🚀' } }));
    await waitIn(page, '5 messages over WebSocket', (n) => window.__log.message.length >= 2 * n, 5);

    // A channel added while connected.
    await page.evaluate((b) => window.__client.subscribe(b), b);
    await waitIn(page, 'subscribed to the added channel', (b) => window.__log.subscribed.some((s) => s.channel === b), b);
    const onB = await publish(hub.base, { channel: b, type: 't', data: { b: 1 } });

    // Unsubscribe: nothing more of that channel.
    await page.evaluate((a) => window.__client.unsubscribe(a), a);
    await waitIn(page, 'unsubscribed', (a) => window.__log.unsubscribed.some((s) => s.channel === a), a);
    await publish(hub.base, { channel: a, type: 't', data: { after: 'unsubscribe' } });
    const onB2 = await publish(hub.base, { channel: b, type: 't', data: { b: 2 } });
    await waitIn(page, 'second message on the added channel', (seq) => window.__log.message.some((m) => m.seq === seq && m.data.b === 2), onB2.seq);

    // Publish over the WebSocket: allowed by the token for js.pub.*, refused elsewhere.
    await page.evaluate((pub) => window.__client.subscribe(pub), pub);
    await waitIn(page, 'subscribed to the publish channel', (pub) => window.__log.subscribed.some((s) => s.channel === pub), pub);
    const results = await page.evaluate(async ({ pub, b }) => {
      const c = window.__client;
      const ok = await c.publish(pub, 'from.browser', { hello: 'hub' });
      let refused = null;
      try { await c.publish(b, 'from.browser', { no: true }); } catch (e) {
        refused = { name: e.name, code: e.code, message: e.message, isError: e instanceof Error };
      }
      let local = null;
      try { await c.publish('bad channel', 't', 1); } catch (e) { local = e.code; }
      return { ok, refused, local };
    }, { pub, b });
    assert.equal(results.ok.channel, pub);
    assert.equal(results.ok.seq, 1);
    assert.equal(typeof results.ok.epoch, 'string');
    assert.deepEqual(results.refused, { name: 'RthubError', code: 'forbidden', message: `may not publish to ${b}`, isError: true });
    assert.equal(results.local, 'bad_request');
    await waitIn(page, 'own publish delivered', (pub) => window.__log.message.some((m) => m.channel === pub && m.type === 'from.browser'), pub);

    await page.waitForTimeout(300); // room for stray messages
    l = await log(page);
    // Every message came twice into the log (on() and addEventListener()); keep one copy.
    const msgs = l.message.filter((_, i) => i % 2 === 0);
    assert.deepEqual(l.message.filter((_, i) => i % 2 === 1).map((m) => m.seq), msgs.map((m) => m.seq));
    const onA = assertClean(msgs, a);
    assert.deepEqual(onA.map((m) => m.seq), sent.map((s) => s.seq), 'channel a: exactly the 5 messages, none after unsubscribe');
    assert.deepEqual(onA.map((m) => m.data.i), [0, 1, 2, 3, 4]);
    assert.ok(onA.every((m) => m.transport === 'ws' && m.type === 't' && typeof m.ts === 'number' && m.data.s === 'olá 🚀'));
    assert.deepEqual(assertClean(msgs, b).map((m) => m.seq), [onB.seq, onB2.seq]);
    const stats = await page.evaluate(() => window.__client.stats);
    assert.equal(stats.connects, 1);
    assert.equal(stats.reconnects, 0);
    assert.equal(stats.fallbacks, 0);
    assert.equal(stats.duplicates, 0);
    assert.deepEqual(l.reset, []);
    assert.deepEqual(l.error, []);
    await page.evaluate(() => window.__client.close());
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('resumes after the hub drops the connection (1013 slow consumer): nothing lost or repeated', { timeout: 180000 }, async () => {
  await setup();
  const page = await newPage();
  try {
    await page.goto(`${hub.base}/healthz`);
    const ch = uniq('js.drop');
    // A 1.5 s reconnect delay, so that messages are published while the client is away.
    await startClient(page, { channels: [ch], token: TOKEN, backoffBase: 1500, randomConst: 0.99999 });
    await waitIn(page, 'subscribed', (ch) => window.__log.subscribed.some((s) => s.channel === ch), ch);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await publish(hub.base, { channel: ch, type: 'small', data: { i } }));
    await waitIn(page, 'first messages', () => window.__log.message.length >= 6);
    // One frame over --max-queue-bytes: the hub closes the connection with 1013.
    sent.push(await publish(hub.base, { channel: ch, type: 'big', data: { blob: 'x'.repeat(MAX_QUEUE_BYTES + 1000) } }));
    await waitIn(page, 'the hub dropped the connection', () => window.__log.state.some((s) => s.state === 'disconnected'));
    for (let i = 0; i < 5; i++) sent.push(await publish(hub.base, { channel: ch, type: 'during', data: { i } }));
    await waitIn(page, 'resumed and caught up', (n) => window.__log.message.length >= 2 * n, sent.length);
    await page.waitForTimeout(300);
    const l = await log(page);
    const drop = l.state.find((s) => s.state === 'disconnected');
    assert.equal(drop.code, 1013, `close code: ${JSON.stringify(drop)}`);
    assert.equal(drop.retryIn, 1500);
    const resub = l.subscribed.filter((s) => s.channel === ch);
    assert.equal(resub.length, 2);
    assert.equal(resub[1].recovered, true, 'the resume was honoured');
    const msgs = assertClean(l.message.filter((_, i) => i % 2 === 0), ch);
    assert.deepEqual(msgs.map((m) => m.seq), sent.map((s) => s.seq), 'every message once, in order');
    assert.equal(msgs[3].data.blob.length, MAX_QUEUE_BYTES + 1000);
    assert.deepEqual(l.reset, []);
    const stats = await page.evaluate(() => window.__client.stats);
    assert.equal(stats.reconnects, 1);
    assert.equal(stats.resets, 0);
    assert.deepEqual(l.state.map((s) => s.state).slice(-2), ['connecting', 'connected']);
    await page.evaluate(() => window.__client.close());
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('watchdog: a hub frozen with SIGSTOP is noticed within 2x heartbeat; resume is exact', { timeout: 180000 }, async () => {
  await setup();
  const page = await newPage({ allowConsoleErrors: true });
  let frozen = false;
  try {
    await page.goto(`${hub.base}/healthz`);
    const ch = uniq('js.watchdog');
    await startClient(page, {
      channels: [ch], token: TOKEN, heartbeat: HEARTBEAT_S, backoffBase: 1500, randomConst: 0.99999,
      openTimeout: 15000,
    });
    await waitIn(page, 'subscribed', (ch) => window.__log.subscribed.some((s) => s.channel === ch), ch);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await publish(hub.base, { channel: ch, type: 'before', data: { i } }));
    await waitIn(page, 'messages before the freeze', () => window.__log.message.length >= 6);
    await page.waitForTimeout(2 * HEARTBEAT_S * 1000 + 1500); // idle: the hub's pings keep the watchdog quiet
    assert.equal(await page.evaluate(() => window.__client.stats.watchdogTimeouts), 0, 'pings keep an idle link alive');

    hub.proc.kill('SIGSTOP');
    frozen = true;
    const stoppedAt = Date.now();
    await waitIn(page, 'watchdog fired', () => window.__log.state.some((s) => /watchdog/.test(s.reason || '')));
    const fired = (await log(page)).state.find((s) => /watchdog/.test(s.reason || ''));
    const after = fired.at - stoppedAt;
    // The watchdog's timer fires 2 x heartbeat after the last input, which came before SIGSTOP; a
    // busy machine may run it late.
    assert.ok(after <= 2 * HEARTBEAT_S * 1000 + SCHEDULING_ALLOWANCE_MS, `the watchdog fired ${after} ms after SIGSTOP (heartbeat ${HEARTBEAT_S} s)`);
    const silent = Number(/nothing from the hub for (\d+) ms/.exec(fired.reason)[1]);
    assert.ok(silent >= 2 * HEARTBEAT_S * 1000, `silence before firing: ${silent} ms`);
    hub.proc.kill('SIGCONT');
    frozen = false;
    // Published while the client waits to reconnect.
    for (let i = 0; i < 5; i++) sent.push(await publish(hub.base, { channel: ch, type: 'after', data: { i } }));
    await waitIn(page, 'resumed after the freeze', (n) => window.__log.message.length >= 2 * n, sent.length);
    await page.waitForTimeout(300);
    const l = await log(page);
    const msgs = assertClean(l.message.filter((_, i) => i % 2 === 0), ch);
    assert.deepEqual(msgs.map((m) => m.seq), sent.map((s) => s.seq), 'every message once, in order');
    assert.deepEqual(l.reset, []);
    const stats = await page.evaluate(() => window.__client.stats);
    assert.equal(stats.watchdogTimeouts, 1);
    assert.equal(stats.reconnects, 1);
    assert.equal(await page.evaluate(() => window.__client.transport), 'ws');
    await page.evaluate(() => window.__client.close());
  } finally {
    if (frozen) hub.proc.kill('SIGCONT');
    await page.close();
  }
});

// ------------------------------------------------------------------ behind nginx

test('falls back to EventSource behind nginx without Upgrade; resumes; switches back to WebSocket', { timeout: 240000 }, async () => {
  await setup();
  const port = await freePort();
  nginx = await startNginx(hub.port, port);
  const page = await newPage({ allowConsoleErrors: true }); // Chromium logs the failed handshakes
  try {
    const fallbacksBefore = await metric(hub.base, 'rthub_sse_fallbacks_total');
    await page.goto(`${nginx.base}/healthz`); // the page's origin is nginx: /ws and /events go through it
    const d = uniq('js.sse.d');
    const e = uniq('js.sse.e');
    await startClient(page, {
      channels: [d], token: TOKEN, backoffBase: 300, backoffCap: 1000, randomConst: 0.5, openTimeout: 5000,
      websocketRetryEvery: 2, websocketRetryMs: 2000,
    });
    await waitIn(page, 'connected over SSE', () => window.__client.state === 'connected' && window.__client.transport === 'sse');
    await waitIn(page, 'subscribed over SSE', (d) => window.__log.subscribed.some((s) => s.channel === d), d);
    let l = await log(page);
    assert.equal(l.fallback.length, 1, 'one fallback event');
    assert.match(l.fallback[0].reason, /websocket could not open/);
    assert.deepEqual(l.state.slice(0, 4).map((s) => `${s.state}/${s.transport}`),
      ['connecting/ws', 'fallback/sse', 'connecting/sse', 'connected/sse']);
    assert.ok(await metric(hub.base, 'rthub_sse_fallbacks_total') >= fallbacksBefore + 1, 'the hub counted the fallback stream');

    const sent = { [d]: [], [e]: [] };
    for (let i = 0; i < 5; i++) sent[d].push(await publish(hub.base, { channel: d, type: 'sse', data: { i } }));
    await waitIn(page, '5 messages over SSE', () => window.__log.message.length >= 10);

    // publish() over SSE goes through POST /publish (via nginx; loopback, so no key needed).
    const viaHttp = await page.evaluate((d) => window.__client.publish(d, 'from.browser', { over: 'http' }), d);
    sent[d].push(viaHttp);
    assert.equal(viaHttp.channel, d);
    assert.equal(viaHttp.seq, sent[d][4].seq + 1);

    // A channel added while on SSE: the stream is reopened with the positions as cursor.
    await page.evaluate((e) => window.__client.subscribe(e), e);
    await waitIn(page, 'subscribed to the added channel over SSE', (e) => window.__log.subscribed.some((s) => s.channel === e), e);
    sent[e].push(await publish(hub.base, { channel: e, type: 'sse', data: { e: 1 } }));
    sent[d].push(await publish(hub.base, { channel: d, type: 'sse', data: { i: 5 } }));
    await waitIn(page, 'messages on both channels', (n) => window.__log.message.length >= 2 * n, sent[d].length + sent[e].length);

    // nginx goes away (the stream ends); messages are published meanwhile; nginx comes back.
    await stopNginx(nginx);
    await waitIn(page, 'stream lost', () => window.__client.state !== 'connected');
    for (let i = 0; i < 4; i++) sent[d].push(await publish(hub.base, { channel: d, type: 'while.down', data: { i } }));
    sent[e].push(await publish(hub.base, { channel: e, type: 'while.down', data: { e: 2 } }));
    await page.waitForTimeout(1500); // a few failed attempts (WebSocket every 2nd) while nginx is down
    nginx = await startNginx(hub.port, port);
    await waitIn(page, 'resumed over SSE after nginx restarted', (n) => window.__log.message.length >= 2 * n,
      sent[d].length + sent[e].length);
    await page.waitForTimeout(300);

    l = await log(page);
    const msgs = l.message.filter((_, i) => i % 2 === 0);
    assert.deepEqual(assertClean(msgs, d).map((m) => m.seq), sent[d].map((s) => s.seq), `${d}: every message once, in order`);
    assert.deepEqual(assertClean(msgs, e).map((m) => m.seq), sent[e].map((s) => s.seq), `${e}: every message once, in order`);
    assert.ok(msgs.every((m) => m.transport === 'sse'));
    assert.equal(msgs.find((m) => m.type === 'from.browser').data.over, 'http');
    assert.deepEqual(l.reset, [], 'no reset: the cursor resumed every channel');
    assert.ok(l.subscribed.filter((s) => s.channel === d && s.recovered === true).length >= 2,
      'the reopened streams resumed (recovered:true)');
    const stats = await page.evaluate(() => window.__client.stats);
    assert.equal(stats.fallbacks, 1, 'WebSocket retries that fail again are not new fallbacks');
    assert.ok(stats.reconnects >= 1);
    assert.ok(stats.websocketRetries >= 1, 'WebSocket was tried again while on SSE');
    assert.equal(await page.evaluate(() => window.__client.transport), 'sse');

    // nginx reloaded with Upgrade pass-through: the stream stays up on the old worker, and the
    // next WebSocket retry (every 2 s here) gets through and takes over, resuming exactly.
    const statesBefore = l.state.length;
    writeNginxConf(nginx.dir, hub.port, port, true);
    nginx.proc.kill('SIGHUP');
    const t0 = Date.now();
    let i = 0;
    while (Date.now() - t0 < 8000 && (await page.evaluate(() => window.__client.transport)) !== 'ws') {
      sent[d].push(await publish(hub.base, { channel: d, type: 'switching', data: { i: i++ } }));
      await page.waitForTimeout(100);
    }
    for (let j = 0; j < 3; j++) sent[d].push(await publish(hub.base, { channel: d, type: 'switched', data: { j } }));
    await waitIn(page, 'on WebSocket, caught up', (n) => window.__client.transport === 'ws'
      && window.__log.message.length >= 2 * n, sent[d].length + sent[e].length);
    await page.waitForTimeout(300);
    l = await log(page);
    const all = l.message.filter((_, k) => k % 2 === 0);
    assert.deepEqual(assertClean(all, d).map((m) => m.seq), sent[d].map((s) => s.seq), `${d}: once, in order across the switch`);
    assert.deepEqual(all.filter((m) => m.type === 'switched').map((m) => m.transport), ['ws', 'ws', 'ws']);
    assert.deepEqual(l.state.slice(statesBefore).map((s) => `${s.state}/${s.transport}`), ['connected/ws'],
      'the switch back needs no disconnect');
    assert.deepEqual(l.reset, []);
    const after = await page.evaluate(() => window.__client.stats);
    assert.equal(after.fallbacks, 1);
    assert.equal(after.reconnects, stats.reconnects, 'a switch of transport is not a reconnect');
    await page.evaluate(() => window.__client.close());
  } finally {
    await page.close();
    await stopNginx(nginx);
  }
});

// ------------------------------------------------------------------ long-polling

// Each message must reach the page within 2 s of its publish: the hub answers a held poll at
// once when a message for its channels arrives and the client polls again at once
// (docs/PROTOCOL.md, /poll; docs/CLIENT.md), so a message costs one answer and one new poll
// through nginx, whose buffering holds nothing past the end of a response (issue 15: 2 s).
const POLL_DELIVERY_MS = 2000;

test('long-polls behind nginx that refuses upgrades and buffers responses: every message within 2 s', { timeout: 180000 }, async () => {
  await setup();
  const port = await freePort();
  nginx = await startNginx(hub.port, port, { buffering: true });
  const page = await newPage({ allowConsoleErrors: true }); // Chromium logs the failed handshakes
  try {
    await page.goto(`${nginx.base}/healthz`); // the page's origin is nginx: everything goes through it
    const c = uniq('js.poll.c');
    await startClient(page, { channels: [c], token: TOKEN, backoffBase: 300, backoffCap: 1000, openTimeout: 5000 });
    // WebSocket refused at once; the stream stays silent for sseSilenceMs (5 s) or does not open
    // within openTimeout (5 s): then long-polling.
    await waitIn(page, 'connected by long-polling', () => window.__client.state === 'connected' && window.__client.transport === 'poll');
    await waitIn(page, 'subscribed by long-polling', (c) => window.__log.subscribed.some((s) => s.channel === c), c);
    let l = await log(page);
    const steps = l.state.map((s) => `${s.state}/${s.transport}`);
    assert.deepEqual(steps.slice(0, 3), ['connecting/ws', 'fallback/sse', 'connecting/sse']);
    assert.ok(steps.includes('fallback/poll'), `a step down to polling: ${steps}`);
    assert.ok(l.fallback.some((f) => f.transport === 'poll'));

    const sent = [];
    for (let i = 0; i < 15; i++) {
      const at = Date.now();
      sent.push({ ...(await publish(hub.base, { channel: c, type: 'poll', data: { i } })), at });
      await waitIn(page, `message ${i} by long-polling`, (n) => window.__log.message.length >= 2 * n, sent.length);
    }
    l = await log(page);
    const msgs = l.message.filter((_, i) => i % 2 === 0);
    assert.deepEqual(assertClean(msgs, c).map((m) => m.seq), sent.map((s) => s.seq), 'every message once, in order');
    assert.ok(msgs.every((m) => m.transport === 'poll'));
    for (const [i, m] of msgs.entries()) {
      assert.ok(m.at - sent[i].at <= POLL_DELIVERY_MS, `message ${m.seq} took ${m.at - sent[i].at} ms`);
    }
    assert.deepEqual(l.reset, []);
    await page.evaluate(() => window.__client.close());
  } finally {
    await page.close();
    await stopNginx(nginx);
  }
});

// ------------------------------------------------------------------ hub restarted

test('in-memory hub restarted on the same port: reset events, then live again', { timeout: 180000 }, async () => {
  await setup();
  const page = await newPage({ allowConsoleErrors: true });
  try {
    await page.goto(`${hub.base}/healthz`);
    const f = uniq('js.restart.f');
    const g = uniq('js.restart.g');
    await startClient(page, { channels: [f, g], token: TOKEN, backoffBase: 200, backoffCap: 1000 });
    await waitIn(page, 'subscribed to both', () => window.__log.subscribed.length >= 2);
    const old = await publish(hub.base, { channel: f, type: 'old', data: {} });
    await waitIn(page, 'message before the restart', () => window.__log.message.length >= 2);

    const port = hub.port;
    const { code, signal } = await stopHub(hub);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `rthub-server exit after SIGTERM; output:\n${hub.log()}`);
    hub = await startHub(port);
    await waitIn(page, 'reset for both channels', () => window.__log.reset.length >= 2);
    const fresh = await publish(hub.base, { channel: f, type: 'new', data: {} });
    assert.notEqual(fresh.epoch, old.epoch, 'a restarted in-memory hub starts a new epoch');
    await waitIn(page, 'message after the restart', (seq) => window.__log.message.some((m) => m.type === 'new'), fresh.seq);
    const l = await log(page);
    assert.deepEqual(l.reset.map((r) => r.channel).sort(), [f, g].sort());
    const rf = l.reset.find((r) => r.channel === f);
    assert.deepEqual(rf.previous, { epoch: old.epoch, seq: old.seq });
    assert.match(rf.reason, /recovered:false/);
    const closing = l.state.find((s) => s.state === 'disconnected');
    assert.equal(closing.code, 1001, 'the hub said it was going away');
    const msgs = l.message.filter((_, i) => i % 2 === 0);
    assert.deepEqual(msgs.map((m) => [m.type, m.epoch, m.seq]), [['old', old.epoch, old.seq], ['new', fresh.epoch, fresh.seq]]);
    assert.deepEqual(await page.evaluate((f) => window.__client.position(f), f), { epoch: fresh.epoch, seq: fresh.seq });
    const stats = await page.evaluate(() => window.__client.stats);
    assert.equal(stats.resets, 2);
    await page.evaluate(() => window.__client.close());
  } finally {
    await page.close();
  }
});

// The client's keyed state of `channel` as a plain object key -> data.
const keyedOf = (page, channel) => page.evaluate((c) => Object.fromEntries(
  [...window.__client.keyedState(c)].map(([k, m]) => [k, m.data])), channel);

test('snapshot channels: the hub\'s keyed state first, then live; a fresh snapshot after recovered:false', { timeout: 90000 }, async () => {
  await setup();
  for (const transport of ['sse', 'ws']) {
    const page = await newPage({ allowConsoleErrors: true });
    try {
      await page.goto(`${hub.base}/healthz`);
      const h = uniq(`js.keyed.${transport}`);
      await publish(hub.base, { channel: h, key: 'k1', data: 1 });
      await publish(hub.base, { channel: h, key: 'k2', data: 2 });
      await publish(hub.base, { channel: h, key: 'k1', data: 11 });
      await startClient(page, { channels: [h], snapshot: true, token: TOKEN, transport, backoffBase: 200, backoffCap: 1000 });
      await waitIn(page, `snapshot over ${transport}`, () => window.__log.snapshot.length >= 1);
      assert.deepEqual(await keyedOf(page, h), { k1: 11, k2: 2 });
      const snap = (await log(page)).snapshot[0];
      assert.equal(snap.transport, transport);
      assert.deepEqual(snap.items.map((m) => m.key), ['k2', 'k1'], 'items in seq order');
      await publish(hub.base, { channel: h, key: 'k3', data: 3 });
      await publish(hub.base, { channel: h, key: 'k1', delete: true });
      await waitIn(page, 'live changes applied', (h) => window.__client.keyedState(h).has('k3')
        && !window.__client.keyedState(h).has('k1'), h);
      assert.deepEqual(await keyedOf(page, h), { k2: 2, k3: 3 });
      if (transport === 'ws') {
        // A restarted in-memory hub has none of these keys: the resume cannot be honoured, and the
        // fresh snapshot replaces the client's state (k2 and k3 must go).
        const port = hub.port;
        await stopHub(hub);
        hub = await startHub(port);
        await publish(hub.base, { channel: h, key: 'k9', data: 9 });
        await waitIn(page, 'reset, then a fresh snapshot', () => window.__log.reset.length >= 1
          && window.__log.snapshot.length >= 2);
        await waitIn(page, 'state replaced by the new hub\'s', (h) => window.__client.keyedState(h).size === 1
          && window.__client.keyedState(h).has('k9'), h);
        assert.deepEqual(await keyedOf(page, h), { k9: 9 });
      }
      await page.evaluate(() => window.__client.close());
    } finally {
      await page.close();
    }
  }
});

test('rthub-server exits 0 on SIGTERM', { timeout: 120000 }, async () => {
  await setup();
  const { code, signal } = await stopHub(hub);
  assert.equal(signal, null, `rthub-server was killed; output:\n${hub.log()}`);
  assert.equal(code, 0, `rthub-server exit code; output:\n${hub.log()}`);
});
