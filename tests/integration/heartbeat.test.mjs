// Heartbeats and dead links (PROTOCOL.md "Heartbeats and liveness") with
// --heartbeat 1: idle WebSocket and SSE streams get {"op":"ping"} objects
// (on SSE with the stream's cursor as id), WebSockets get protocol pings,
// and a peer that never answers them is disconnected after 3 heartbeats.
//
// The bounds below come from what the hub promises (docs/ARCHITECTURE.md "Liveness",
// lib/core/hub_core.hpp): every session sits in one of 40 slices and a 25 ms tick visits one
// slice, so each session is visited once per SWEEP_MS = 1000 ms. At a visit, a session idle for
// a heartbeat is queued {"op":"ping"}; a WebSocket peer silent for a heartbeat gets a protocol
// ping (at most one per heartbeat); one silent for 3 heartbeats is dropped. So:
//   - a ping object is queued between HEARTBEAT_MS and HEARTBEAT_MS + SWEEP_MS after the last
//     frame queued to the session;
//   - a silent peer is dropped between 3 x HEARTBEAT_MS and 3 x HEARTBEAT_MS + SWEEP_MS after
//     the hub last heard from it;
// both clocks (the hub's monotonic and wall clocks, the test's Date.now) count whole
// milliseconds, so a difference may read CLOCK_MS short; and a late timer (a busy machine)
// adds up to SCHEDULING_ALLOWANCE_MS (tests/integration/lib/server.mjs) to upper bounds only.
// The hub's {"op":"ping"} carries its wall clock at the visit (ts), which removes the delivery
// delay from the first two bounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, publishOk, curlFor, parseSseStream, SCHEDULING_ALLOWANCE_MS, SWEEP_MS, CLOCK_MS } from './lib/server.mjs';
import { wsConnectFor, sseConnectFor, metricsOf } from './lib/extra.mjs';
import { rawWebSocket, OPCODES } from './lib/rawws.mjs';

const HEARTBEAT_MS = 1000;  // --heartbeat 1
const DROP_AFTER_MS = 3 * HEARTBEAT_MS;

// Resolves once `socket` has received `count` protocol pings (counting those already in).
function protocolPings(socket, count) {
  return socket.waitFrame(() => socket.frames.filter((f) => f.opcode === OPCODES.ping).length >= count);
}

test('an idle WebSocket gets {"op":"ping"} a heartbeat after its last frame, again while idle, and protocol pings; answering keeps it open', async (t) => {
  const srv = await serverFor(t, ['--heartbeat', '1']);
  const ws = await wsConnectFor(t, srv.wsUrl, { label: 'idle ws' });
  let protocolPings = 0;
  ws.ws.on('ping', () => { protocolPings += 1; });
  const askedAt = Date.now();
  const sub = await ws.request({ op: 'subscribe', channel: 'hb.ws' });
  const answeredAt = Date.now();
  assert.equal(sub.op, 'subscribed');

  // The last frame queued to the session is the 'subscribed' answer: after askedAt, before answeredAt.
  const ping = await ws.next({ op: 'ping' });
  t.diagnostic(`first WebSocket ping queued ${ping.ts - answeredAt} ms after 'subscribed' arrived`);
  assert.ok(ping.ts - askedAt >= HEARTBEAT_MS - CLOCK_MS,
    `not before a heartbeat of idleness: ping.ts ${ping.ts - askedAt} ms after subscribing`);
  assert.ok(ping.ts - answeredAt <= HEARTBEAT_MS + SWEEP_MS + SCHEDULING_ALLOWANCE_MS,
    `within a heartbeat + a sweep: ping.ts ${ping.ts - answeredAt} ms after 'subscribed' arrived`);
  assert.deepEqual(Object.keys(ping).sort(), ['op', 'ts'], `a ping has op and ts: ${JSON.stringify(ping)}`);
  const second = await ws.next({ op: 'ping' });
  assert.ok(second.ts - ping.ts >= HEARTBEAT_MS - CLOCK_MS, 'pings repeat while the link stays idle, a heartbeat apart');

  // The client sends nothing but the pongs `ws` answers protocol pings with. A protocol ping goes
  // to a peer silent for a heartbeat, at most one per heartbeat, and a peer silent for three is
  // dropped: without the pongs counting as input, the link would end at or before the third
  // protocol ping. Four pings and the link still open prove the pongs keep it alive.
  await new Promise((resolve) => {
    const check = () => { if (protocolPings >= 4) resolve(); else ws.ws.once('ping', () => setImmediate(check)); };
    check();
  });
  assert.ok(ws.isOpen, `a WebSocket that answers pings stays open (close: ${JSON.stringify(ws.closeInfo)})`);
  assert.equal((await ws.request({ op: 'ping' })).op, 'pong');
  const metrics = await metricsOf(srv.port);
  assert.ok(metrics.value('rthub_heartbeats_sent_total') >= 2, 'rthub_heartbeats_sent_total counts the pings');
  assert.equal(metrics.value('rthub_heartbeat_timeouts_total'), 0, 'and no peer was dropped');
});

test('an idle SSE stream gets ping events a heartbeat after its last frame, each with the stream\'s cursor as id (curl -N)', async (t) => {
  const srv = await serverFor(t, ['--heartbeat', '1']);
  await publishOk(srv.port, [{ channel: 'hb.a', data: 1 }, { channel: 'hb.a', data: 2 }]);
  const curl = curlFor(t, `${srv.url}/events?channel=hb.a&channel=hb.b`, { maxTimeMs: 20000 });
  const opened = Date.now();
  await curl.waitFor(/"op":"subscribed","channel":"hb\.b"[^\n]*\n\n/);
  const subscribedAt = Date.now();
  await curl.waitFor(/"op":"ping"[^\n]*\n\n/);
  const firstPingTs = JSON.parse(/data: *(\{"op":"ping"[^\n]*)\n/.exec(curl.text())[1]).ts;
  t.diagnostic(`first SSE ping queued ${firstPingTs - opened} ms after opening`);
  // The last frame queued before it is the second 'subscribed' (after opened, before subscribedAt).
  assert.ok(firstPingTs - opened >= HEARTBEAT_MS - CLOCK_MS, `not before a heartbeat: ${firstPingTs - opened} ms`);
  assert.ok(firstPingTs - subscribedAt <= HEARTBEAT_MS + SWEEP_MS + SCHEDULING_ALLOWANCE_MS,
    `within a heartbeat + a sweep of the last frame: ${firstPingTs - subscribedAt} ms`);

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
  await curl.waitFor(/"data":"moved"[^\n]*\n\n/);
  const message = events().find((e) => e.frame.op === 'message');
  assert.ok(message.id && message.id !== cursor, 'the message moved the cursor');
  const pingCount = events().filter((e) => e.frame.op === 'ping').length;
  await curl.waitFor(new RegExp(`(?:"op":"ping"[^\\n]*\\n\\n[^]*){${pingCount + 1}}`));
  const later = events().filter((e) => e.frame.op === 'ping').slice(pingCount);
  assert.ok(later.length >= 1, 'pings go on after the message');
  for (const p of later) assert.equal(p.id, message.id, 'a later ping carries the cursor after the message');

  // The same through a browser-like EventSource.
  const es = await sseConnectFor(t, `${srv.url}/events?channel=hb.a`, { label: 'eventsource' });
  await es.next({ op: 'subscribed' });
  const esPing = await es.next({ op: 'ping' });
  assert.ok(es.idOf(esPing), 'EventSource sees the ping with its lastEventId');
});

test('a raw WebSocket that never answers protocol pings is dropped after 3 heartbeats; one that answers stays', async (t) => {
  const srv = await serverFor(t, ['--heartbeat', '1']);
  const silent = await rawWebSocket(srv.port);
  t.after(() => silent.destroy());
  const answering = await rawWebSocket(srv.port);
  t.after(() => answering.destroy());
  answering.onFrame((f) => { if (f.opcode === OPCODES.ping) answering.send(OPCODES.pong, f.payload); });
  answering.sendText(JSON.stringify({ op: 'subscribe', channel: 'hb.raw', id: 1 }));
  // The hub last hears from the silent peer when its subscribe arrives: after sentAt, before the
  // 'subscribed' answer reaches the test.
  const sentAt = Date.now();
  silent.sendText(JSON.stringify({ op: 'subscribe', channel: 'hb.raw', id: 1 }));
  const heardBy = (await silent.waitFrame((f) => f.opcode === OPCODES.text && f.payload.includes('"subscribed"'))).at;

  const closedAt = await silent.closed;
  t.diagnostic(`silent peer dropped ${closedAt - heardBy} ms after its 'subscribed' arrived`);
  assert.ok(closedAt - sentAt >= DROP_AFTER_MS - CLOCK_MS, `not before 3 heartbeats of silence: ${closedAt - sentAt} ms`);
  assert.ok(closedAt - heardBy <= DROP_AFTER_MS + SWEEP_MS + SCHEDULING_ALLOWANCE_MS,
    `dropped within 3 heartbeats + a sweep: ${closedAt - heardBy} ms after it was last heard`);
  const pingFrames = silent.frames.filter((f) => f.opcode === OPCODES.ping);
  assert.ok(pingFrames.length >= 1, `it was sent protocol pings first (opcodes: ${silent.frames.map((f) => f.opcode)})`);
  assert.ok(silent.json().some((f) => f.op === 'ping'), 'and {"op":"ping"} objects');
  assert.ok(!silent.frames.some((f) => f.opcode === OPCODES.close), 'a dead link gets no closing handshake');

  // The answering peer was silent but for its pongs; it must outlive three more protocol pings
  // (without the pongs it would be dropped at or before the third: see the first test).
  const before = answering.frames.filter((f) => f.opcode === OPCODES.ping).length;
  await protocolPings(answering, before + 3);
  assert.ok(!answering.isClosed, 'a peer that answers protocol pings with pongs stays connected');
  answering.sendText(JSON.stringify({ op: 'ping', id: 'still' }));
  const pong = await answering.waitFrame((f) => f.opcode === OPCODES.text && f.payload.toString().includes('"op":"pong"'));
  assert.match(pong.payload.toString(), /"ref":"still"/);
  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_connections', { transport: 'ws' }), 1, 'the dead link is no longer counted as a connection');
  assert.equal(metrics.value('rthub_heartbeat_timeouts_total'), 1, 'and is counted as a heartbeat timeout');
});

test('a silent WebSocket alone on the hub (no other traffic at all) is dropped within 3 heartbeats + a sweep', async (t) => {
  // With nothing else on the hub, the drop must not wait for the peer's next I/O (which never
  // comes): the session asks for a writable callback and ends the connection there.
  const srv = await serverFor(t, ['--heartbeat', '1']);
  const requestedAt = Date.now();  // the hub first hears from the peer after this (the upgrade)
  const silent = await rawWebSocket(srv.port);
  t.after(() => silent.destroy());
  const upgradedAt = Date.now();  // ... and last hears from it before this: it never sends again
  const closedAt = await silent.closed;
  t.diagnostic(`alone, the silent peer was dropped ${closedAt - upgradedAt} ms after the upgrade`);
  assert.ok(closedAt - requestedAt >= DROP_AFTER_MS - CLOCK_MS, `not before 3 heartbeats: ${closedAt - requestedAt} ms`);
  assert.ok(closedAt - upgradedAt <= DROP_AFTER_MS + SWEEP_MS + SCHEDULING_ALLOWANCE_MS,
    `dropped ${closedAt - upgradedAt} ms after the upgrade (3 heartbeats + a sweep)`);
  const metrics = await metricsOf(srv.port);
  assert.equal(metrics.value('rthub_heartbeat_timeouts_total'), 1, 'counted as a heartbeat timeout');
  assert.equal(metrics.value('rthub_connections', { transport: 'ws' }), 0, 'and no longer counted as a connection');
});
