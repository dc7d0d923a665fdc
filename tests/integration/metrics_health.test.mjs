// GET /healthz and GET /metrics (Prometheus text exposition).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, wsFor, sseFor, httpGet, publishOk, waitFor } from './lib/server.mjs';
import { parseMetrics, metricTypes, metricValue } from './lib/prometheus.mjs';

const NAMES = [
  ['rthub_connections', { transport: 'ws' }],
  ['rthub_connections', { transport: 'sse' }],
  ['rthub_messages_published_total', {}],
  ['rthub_deliveries_total', {}],
  ['rthub_subscriptions', {}],
  ['rthub_channels', {}],
];

async function scrape(port) {
  const res = await httpGet(port, '/metrics');
  assert.equal(res.status, 200, `GET /metrics -> ${res.status}`);
  const samples = parseMetrics(res.body);
  const value = (name, labels = {}) => {
    const v = metricValue(samples, name, labels);
    assert.notEqual(v, undefined, `/metrics has no ${name}${JSON.stringify(labels)}:\n${res.body}`);
    return v;
  };
  return { res, samples, types: metricTypes(res.body), value };
}

test('GET /healthz answers 200 ok', async (t) => {
  const srv = await serverFor(t);
  const res = await httpGet(srv.port, '/healthz');
  assert.equal(res.status, 200);
  assert.equal(res.body.trim(), 'ok');
});

test('GET /metrics is Prometheus text with the rthub_ metrics', async (t) => {
  const srv = await serverFor(t);
  const { res, samples, types, value } = await scrape(srv.port);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
  assert.ok(samples.length > 0, 'some samples');
  for (const s of samples) assert.ok(s.name.startsWith('rthub_'), `metric ${s.name} should be prefixed rthub_`);
  for (const [name, labels] of NAMES) {
    const v = value(name, labels);
    assert.ok(Number.isFinite(v) && v >= 0, `${name} = ${v}`);
  }
  for (const [name, type] of Object.entries(types)) {
    if (name.endsWith('_total')) assert.equal(type, 'counter', `${name} is a counter`);
  }
  for (const name of ['rthub_connections', 'rthub_subscriptions', 'rthub_channels']) {
    if (types[name] !== undefined) assert.equal(types[name], 'gauge', `${name} is a gauge`);
  }
});

test('the counters and gauges follow connections, subscriptions and publishes', async (t) => {
  const srv = await serverFor(t);
  const channel = 'metrics.ch';
  const before = await scrape(srv.port);
  const base = Object.fromEntries(NAMES.map(([name, labels]) => [`${name}${JSON.stringify(labels)}`, before.value(name, labels)]));
  const at = (m, name, labels = {}) => m.value(name, labels) - base[`${name}${JSON.stringify(labels)}`];

  const ws1 = await wsFor(t, srv.wsUrl, { label: 'ws1' });
  const ws2 = await wsFor(t, srv.wsUrl, { label: 'ws2' });
  await ws1.request({ op: 'subscribe', channel });
  await ws2.request({ op: 'subscribe', channel });
  const es = await sseFor(t, `${srv.url}/events?channel=${channel}`);
  await es.next({ op: 'subscribed' });

  const connected = await waitFor(async () => {
    const m = await scrape(srv.port);
    return at(m, 'rthub_connections', { transport: 'ws' }) === 2 && at(m, 'rthub_connections', { transport: 'sse' }) === 1 && m;
  }, { what: 'rthub_connections to count 2 ws and 1 sse' }).catch(async (error) => {
    const m = await scrape(srv.port);
    error.message += `: ws +${at(m, 'rthub_connections', { transport: 'ws' })}, sse +${at(m, 'rthub_connections', { transport: 'sse' })}`;
    throw error;
  });
  assert.equal(at(connected, 'rthub_subscriptions'), 3, 'two WebSocket and one SSE subscriptions');
  assert.ok(at(connected, 'rthub_channels') >= 1, 'the new channel is counted');

  await publishOk(srv.port, [1, 2, 3, 4].map((n) => ({ channel, data: { n } })));
  await publishOk(srv.port, { channel, data: { n: 5 } });
  for (const client of [ws1, ws2, es]) await client.take(5, { op: 'message', channel });

  const moved = await waitFor(async () => {
    const m = await scrape(srv.port);
    return at(m, 'rthub_deliveries_total') >= 15 && m;
  }, { what: 'rthub_deliveries_total to grow by 15' });
  assert.equal(at(moved, 'rthub_messages_published_total'), 5, 'five messages published');
  assert.equal(at(moved, 'rthub_deliveries_total'), 15, 'five messages to three subscribers');

  await ws1.close();
  await ws2.close();
  es.close();
  await waitFor(async () => {
    const m = await scrape(srv.port);
    return at(m, 'rthub_connections', { transport: 'ws' }) === 0 && at(m, 'rthub_connections', { transport: 'sse' }) === 0 &&
      at(m, 'rthub_subscriptions') === 0;
  }, { what: 'connections and subscriptions back to where they were' });
  const after = await scrape(srv.port);
  assert.equal(at(after, 'rthub_messages_published_total'), 5, 'counters do not go down');
  assert.equal(at(after, 'rthub_deliveries_total'), 15);
});

test('every event-loop iteration is counted twice: its busy time and its CPU time', async (t) => {
  const srv = await serverFor(t);
  await publishOk(srv.port, { channel: 'metrics.loop', data: { n: 1 } });
  const m = await waitFor(async () => {
    const s = await scrape(srv.port);
    return s.value('rthub_loop_cpu_seconds_count') > 0 && s;
  }, { what: 'rthub_loop_cpu_seconds to count iterations' });
  assert.equal(m.types.rthub_loop_cpu_seconds, 'histogram');
  // Both are observed together at the end of each iteration, on the thread that renders /metrics.
  assert.equal(m.value('rthub_loop_cpu_seconds_count'), m.value('rthub_loop_busy_seconds_count'));
  const cpu = m.value('rthub_loop_cpu_seconds_sum');
  assert.ok(Number.isFinite(cpu) && cpu >= 0, `rthub_loop_cpu_seconds_sum = ${cpu}`);
});

test('the flush pass\'s WebSocket writes are counted by path, and RTHUB_IO_URING=0 makes them send()s', async (t) => {
  for (const env of [{}, { RTHUB_IO_URING: '0' }]) {
    const srv = await serverFor(t, [], { env });
    const ws = await wsFor(t, srv.wsUrl);
    const channel = 'metrics.sends';
    await ws.request({ op: 'subscribe', channel, id: 1 });
    // Each message is taken before the next is published, so each goes out in a write of its own.
    for (let n = 1; n <= 5; n++) {
      await publishOk(srv.port, { channel, data: { n } });
      await ws.take(1, { op: 'message', channel });
    }
    const m = await scrape(srv.port);
    const ring = m.value('rthub_flush_sends_total', { via: 'io_uring' });
    const plain = m.value('rthub_flush_sends_total', { via: 'send' });
    assert.ok(ring + plain >= 5, `five messages in five writes at least: io_uring ${ring}, send ${plain}`);
    // A hub takes one path for all its writes: io_uring where the kernel offers it, else send().
    assert.ok((ring === 0) !== (plain === 0), `one path: io_uring ${ring}, send ${plain}`);
    if (env.RTHUB_IO_URING === '0') assert.equal(ring, 0, 'RTHUB_IO_URING=0: no io_uring');
    else t.diagnostic(`io_uring ${ring > 0 ? 'in use' : 'refused by this kernel'}`);
  }
});
