// Heartbeats and dead links (PROTOCOL.md "Heartbeats and liveness") with
// --heartbeat 1: idle WebSocket and SSE streams get {"op":"ping"} objects
// (on SSE with the stream's cursor as id), WebSockets get protocol pings,
// and a peer that never answers them is disconnected after ~3 heartbeats.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, publishOk, curlFor, parseSseStream, sleep } from './lib/server.mjs';
import { wsConnectFor, sseConnectFor, metricsOf, within } from './lib/extra.mjs';
import { rawWebSocket, OPCODES } from './lib/rawws.mjs';

test('an idle WebSocket gets {"op":"ping"} within ~2 s, again while idle, and protocol pings; answering keeps it open', async (t) => {
  const srv = await serverFor(t, ['--heartbeat', '1']);
  const ws = await wsConnectFor(t, srv.wsUrl, { label: 'idle ws' });
  const protocolPings = [];
  ws.ws.on('ping', () => protocolPings.push(Date.now()));
  const sub = await ws.request({ op: 'subscribe', channel: 'hb.ws' });
  assert.equal(sub.op, 'subscribed');
  const quietSince = Date.now();

  const ping = await ws.next({ op: 'ping' }, 3000);
  const after = Date.now() - quietSince;
  t.diagnostic(`first WebSocket ping ${after} ms after subscribed`);
  assert.ok(after <= 2500 && after >= 500, `first ping ${after} ms after the last frame (heartbeat 1 s, checked every second)`);
  assert.ok(Number.isInteger(ping.ts) && Math.abs(ping.ts - Date.now()) < 5000, `ping.ts is the hub's wall clock in ms: ${ping.ts}`);
  assert.deepEqual(Object.keys(ping).sort(), ['op', 'ts'], `a ping has op and ts: ${JSON.stringify(ping)}`);
  const second = await ws.next({ op: 'ping' }, 3000);
  assert.ok(second.ts > ping.ts, 'pings repeat while the link stays idle');

  // `ws` answers protocol pings by itself: the link stays up.
  await sleep(4500);
  assert.ok(protocolPings.length >= 1, 'the server sends WebSocket protocol pings on an idle link');
  assert.ok(ws.isOpen, `a WebSocket that answers pings stays open (close: ${JSON.stringify(ws.closeInfo)})`);
  assert.equal((await ws.request({ op: 'ping' })).op, 'pong');
  const metrics = await metricsOf(srv.port);
  assert.ok(metrics.value('rthub_heartbeats_sent_total') >= 2, 'rthub_heartbeats_sent_total counts the pings');
});

test('an idle SSE stream gets ping events within ~2 s, each with the stream\'s cursor as id (curl -N)', async (t) => {
  const srv = await serverFor(t, ['--heartbeat', '1']);
  await publishOk(srv.port, [{ channel: 'hb.a', data: 1 }, { channel: 'hb.a', data: 2 }]);
  const curl = curlFor(t, `${srv.url}/events?channel=hb.a&channel=hb.b`, { maxTimeMs: 20000 });
  const opened = Date.now();
  await curl.waitFor(/"op":"subscribed","channel":"hb\.b"[^\n]*\n\n/, 3000);
  await curl.waitFor(/"op":"ping"[^\n]*\n\n/, 3000);
  const firstPingMs = Date.now() - opened;
  t.diagnostic(`first SSE ping ${firstPingMs} ms after opening`);
  assert.ok(firstPingMs <= 2500, `first SSE ping after ${firstPingMs} ms`);

  const events = () => parseSseStream(curl.text()).map((e) => {
    const data = e.field('data').join('\n');
    let frame = null;
    try { frame = JSON.parse(data); } catch { /* not JSON */ }
    return { id: e.field('id')[0], frame };
  }).filter((e) => e.frame);
  const subscribed = events().filter((e) => e.frame.op === 'subscribed');
  assert.equal(subscribed.length, 2);
  const cursor = subscribed[1].id;
  assert.ok(cursor, 'subscribed events carry the cursor');
  const pings = events().filter((e) => e.frame.op === 'ping');
  assert.ok(pings.length >= 1);
  for (const p of pings) {
    assert.equal(p.id, cursor, `a ping carries the stream's current cursor as id: ${JSON.stringify(p)}`);
    assert.ok(Number.isInteger(p.frame.ts));
  }

  // After a message, pings carry the cursor of that message.
  await publishOk(srv.port, { channel: 'hb.b', data: 'moved' });
  await curl.waitFor(/"data":"moved"[^\n]*\n\n/, 3000);
  const message = events().find((e) => e.frame.op === 'message');
  assert.ok(message.id && message.id !== cursor, 'the message moved the cursor');
  const pingCount = events().filter((e) => e.frame.op === 'ping').length;
  await curl.waitFor(new RegExp(`(?:"op":"ping"[^\\n]*\\n\\n[^]*){${pingCount + 1}}`), 3000);
  const later = events().filter((e) => e.frame.op === 'ping').slice(pingCount);
  assert.ok(later.length >= 1, 'pings go on after the message');
  for (const p of later) assert.equal(p.id, message.id, 'a later ping carries the cursor after the message');

  // The same through a browser-like EventSource.
  const es = await sseConnectFor(t, `${srv.url}/events?channel=hb.a`, { label: 'eventsource' });
  await es.next({ op: 'subscribed' });
  const esPing = await es.next({ op: 'ping' }, 3000);
  assert.ok(es.idOf(esPing), 'EventSource sees the ping with its lastEventId');
});

test('a raw WebSocket that never answers protocol pings is disconnected within ~4 s; one that answers stays', async (t) => {
  const srv = await serverFor(t, ['--heartbeat', '1']);
  const silent = await rawWebSocket(srv.port);
  t.after(() => silent.destroy());
  const connectedAt = Date.now();
  const answering = await rawWebSocket(srv.port);
  t.after(() => answering.destroy());
  answering.onFrame((f) => { if (f.opcode === OPCODES.ping) answering.send(OPCODES.pong, f.payload); });
  silent.sendText(JSON.stringify({ op: 'subscribe', channel: 'hb.raw', id: 1 }));
  answering.sendText(JSON.stringify({ op: 'subscribe', channel: 'hb.raw', id: 1 }));

  const closedAt = await within(silent.closed, 8000);
  assert.notEqual(closedAt, 'timeout', 'a peer that never answers protocol pings is disconnected');
  const lifetime = closedAt - connectedAt;
  assert.ok(lifetime <= 5000, `disconnected ${lifetime} ms after connecting (3 x heartbeat, checked every second)`);
  assert.ok(lifetime >= 2000, `not before it had the chance to answer: ${lifetime} ms`);
  const pingFrames = silent.frames.filter((f) => f.opcode === OPCODES.ping);
  assert.ok(pingFrames.length >= 1, `it was sent protocol pings first (opcodes: ${silent.frames.map((f) => f.opcode)})`);
  assert.ok(silent.json().some((f) => f.op === 'ping'), 'and {"op":"ping"} objects');
  t.diagnostic(`silent peer disconnected after ${lifetime} ms, ${pingFrames.length} protocol pings, ` +
    `close frame: ${silent.frames.some((f) => f.opcode === OPCODES.close) ? 'yes' : 'no'}`);

  await sleep(Math.max(0, connectedAt + 6000 - Date.now()));
  assert.ok(!answering.isClosed, 'a peer that answers protocol pings with pongs stays connected');
  answering.sendText(JSON.stringify({ op: 'ping', id: 'still' }));
  const pong = await answering.waitFrame((f) => f.opcode === OPCODES.text && f.payload.toString().includes('"op":"pong"'), 3000);
  assert.match(pong.payload.toString(), /"ref":"still"/);
  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_connections', { transport: 'ws' }), 1, 'the dead link is no longer counted as a connection');
});
