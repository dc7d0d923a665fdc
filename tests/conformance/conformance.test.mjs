// The client conformance run: every scenario of scenarios.mjs against the C++ client (through
// rthub-listen) and the JS module bindings/js/rthub.js (in headless Chromium), each with a fresh
// scripted hub. Both must pass all of them: docs/CLIENT.md is one behaviour.
//
//   RTHUB_LISTEN=build/bin/rthub-listen node --test tests/conformance/conformance.test.mjs
//
// Needs /usr/bin/chromium and `npm ci` in tests/ (playwright-core, ws). A missing Chromium is a
// failure, not a skip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startScriptHub } from './script_hub.mjs';
import { SCENARIOS } from './scenarios.mjs';

const CHROMIUM = '/usr/bin/chromium';
// The longest wait a scenario has by the clients' promises is the watchdog (1 s) plus a backoff
// delay (at most BACKOFF_CAP_MS) plus a handshake; 15 s leaves a loaded machine a wide margin.
const SCENARIO_TIMEOUT_MS = 15000;
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 200;
const HANDSHAKE_TIMEOUT_MS = 2000;
const DEFAULT_WATCHDOG_MS = 20000;  // longer than any scenario: only the watchdog scenario sets one

let browser = null;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (Debian: chromium)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

// Polls `read` (the trace so far) until `until` holds; the trace then.
async function waitFor(read, until, what) {
  const deadline = Date.now() + SCENARIO_TIMEOUT_MS;
  for (;;) {
    const trace = await read();
    if (until(trace)) return trace;
    if (Date.now() > deadline) {
      assert.fail(`${what}: not complete within ${SCENARIO_TIMEOUT_MS} ms; trace:\n` +
        trace.map((e) => JSON.stringify(e)).join('\n'));
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}

// ------------------------------------------------------------------ the C++ client

async function runListen(hub, scenario) {
  const bin = process.env.RTHUB_LISTEN;
  assert.ok(bin && existsSync(bin), 'RTHUB_LISTEN must name the rthub-listen binary');
  const o = scenario.options || {};
  const proc = spawn(bin, [
    hub.url, '--channel', 'a', '--backoff-base', String(BACKOFF_BASE_MS),
    '--backoff-cap', String(BACKOFF_CAP_MS), '--handshake-timeout', String(HANDSHAKE_TIMEOUT_MS),
    '--watchdog', String(o.watchdogMs || DEFAULT_WATCHDOG_MS), ...(o.snapshot ? ['--snapshot'] : []),
    ...(o.sseSilenceMs ? ['--sse-silence', String(o.sseSilenceMs)] : []),
    ...(o.websocketRetryMs ? ['--websocket-retry', String(o.websocketRetryMs)] : []),
    ...(o.transport === 'poll' ? ['--poll'] : []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const trace = [];
  let pending = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdout.on('data', (d) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const e = JSON.parse(line);
      if (e.event === 'snapshot') e.keys = e.items.map((item) => item.key);
      trace.push({ ...e, kind: e.event });
    }
  });
  const exited = new Promise((res) => proc.on('exit', res));
  try {
    return await waitFor(async () => {
      assert.equal(proc.exitCode, null, `rthub-listen exited: ${stderr}`);
      return trace.slice();
    }, scenario.until, 'C++ client');
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
}

// ------------------------------------------------------------------ the JS module

async function runJs(hub, scenario) {
  const page = await browser.newPage();
  try {
    await page.goto(`${hub.url}/`);
    const o = scenario.options || {};
    await page.evaluate(async (options) => {
      const { connect } = await import('/rthub.js');
      window.__trace = [];
      const client = connect(location.origin, options);
      const push = (kind, fn) => client.on(kind, (d) => window.__trace.push({ kind, ...fn(d) }));
      push('state', (d) => ({ state: d.state, transport: d.transport || 'none', reason: d.reason }));
      push('message', (d) => ({ channel: d.channel, epoch: d.epoch, seq: d.seq }));
      push('reset', (d) => ({ channel: d.channel, epoch: d.epoch, seq: d.seq }));
      push('subscribed', (d) => ({ channel: d.channel, seq: d.seq, recovered: d.recovered }));
      push('error', (d) => ({ code: d.code }));
      push('snapshot', (d) => ({ channel: d.channel, seq: d.seq, keys: [...d.state.keys()] }));
      window.__client = client;
    }, {
      channels: ['a'], backoffBase: BACKOFF_BASE_MS, backoffCap: BACKOFF_CAP_MS,
      openTimeout: HANDSHAKE_TIMEOUT_MS, watchdogMs: o.watchdogMs || DEFAULT_WATCHDOG_MS,
      snapshot: Boolean(o.snapshot),
      ...(o.sseSilenceMs ? { sseSilenceMs: o.sseSilenceMs } : {}),
      ...(o.websocketRetryMs ? { websocketRetryMs: o.websocketRetryMs } : {}),
      ...(o.transport ? { transport: o.transport } : {}),
    });
    return await waitFor(() => page.evaluate(() => window.__trace.slice()), scenario.until, 'JS client');
  } finally {
    await page.evaluate(() => window.__client && window.__client.close()).catch(() => {});
    await page.close();
  }
}

// ------------------------------------------------------------------ the scenarios

for (const scenario of SCENARIOS) {
  for (const [client, run] of [['C++', runListen], ['JS', runJs]]) {
    test(`${client}: ${scenario.name}`, async () => {
      const hub = await startScriptHub(scenario.hub);
      try {
        const trace = await run(hub, scenario);
        scenario.check(trace, hub.log);
      } finally {
        await hub.close();
      }
    });
  }
}
