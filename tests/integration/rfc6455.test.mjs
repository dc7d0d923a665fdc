// RFC 6455 strictness on raw sockets: unmasked client frames fail the connection with 1002, a
// version other than 13 is refused with 426, a header announcing 2^62 bytes is closed at once with
// 1009; and autobahn-style framing cases: fragmentation with control frames between fragments,
// ping/pong, the close handshake, invalid UTF-8.
//
// Time bounds: the hub answers each of these as soon as the bytes arrive (no broker round trip,
// no timer), so the 5 s waits below are only the slack of a busy machine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { rawWebSocket, encodeFrame, OPCODES } from './lib/rawws.mjs';
import { hubFor, metricsOf } from './lib/extra.mjs';

const WAIT_MS = 5000;

function closeCode(frame) {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
}

async function connect(t, hub) {
  const ws = await rawWebSocket(hub.port);
  t.after(() => ws.destroy());
  return ws;
}

// The raw HTTP answer to an upgrade request with the given version header (none when null).
function upgradeWithVersion(port, version) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer in ${WAIT_MS} ms: ${text}`)); }, WAIT_MS);
    socket.on('connect', () => {
      const lines = ['GET /ws HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`];
      if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.on('data', (chunk) => { text += chunk.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => { clearTimeout(timer); resolve(text); });
  });
}

test('an unmasked client frame fails the connection with 1002 and is not acted on', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  ws.send(OPCODES.text, JSON.stringify({ op: 'subscribe', channel: 'plain', id: 1 }), { mask: false });
  const close = await ws.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS);
  assert.equal(closeCode(close), 1002);
  await ws.closed;
  assert.ok(!ws.json().some((m) => m.op === 'subscribed'), `the frame must not be served: ${JSON.stringify(ws.json())}`);
  const metrics = await metricsOf(hub.port);
  assert.equal(metrics.value('rthub_ws_protocol_errors_total', { reason: 'unmasked' }), 1);
});

test('an unmasked frame after masked ones is found too', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  ws.sendText(JSON.stringify({ op: 'subscribe', channel: 'first', id: 1 }));
  await ws.waitFrame((f) => f.opcode === OPCODES.text && JSON.parse(f.payload).op === 'subscribed', WAIT_MS);
  ws.send(OPCODES.ping, 'x', { mask: false });
  const close = await ws.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS);
  assert.equal(closeCode(close), 1002);
});

for (const version of ['7', '8', '14', null]) {
  test(`Sec-WebSocket-Version ${version ?? '(missing)'} is refused with 426 naming version 13`, async (t) => {
    const hub = await hubFor(t);
    const answer = await upgradeWithVersion(hub.port, version);
    assert.match(answer, /^HTTP\/1\.1 426 /, answer);
    assert.match(answer, /\r\nSec-WebSocket-Version: 13\r\n/i, answer);
    assert.doesNotMatch(answer, /101 Switching/);
  });
}

test('a frame header announcing 2^62 bytes is closed at once with 1009', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  // FIN + text, masked, 64-bit length 2^62, mask key; no payload follows.
  const header = Buffer.from([0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  ws.socket.write(header);
  const close = await ws.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS);
  assert.equal(closeCode(close), 1009);
  await ws.closed;
});

test('a 64-bit length with its top bit set fails the connection with 1002', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  ws.socket.write(Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4]));
  const close = await ws.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS);
  assert.equal(closeCode(close), 1002);
});

test('a message in fragments, with a ping between them, is joined; the ping is answered', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  const text = JSON.stringify({ op: 'subscribe', channel: 'pieces', id: 7 });
  const thirds = [text.slice(0, 10), text.slice(10, 20), text.slice(20)];
  ws.socket.write(Buffer.concat([
    encodeFrame(OPCODES.text, thirds[0], { fin: false }),
    encodeFrame(OPCODES.ping, 'between'),
    encodeFrame(OPCODES.continuation, thirds[1], { fin: false }),
    encodeFrame(OPCODES.continuation, thirds[2], { fin: true }),
  ]));
  const pong = await ws.waitFrame((f) => f.opcode === OPCODES.pong, WAIT_MS);
  assert.equal(pong.payload.toString(), 'between');
  const answer = await ws.waitFrame((f) => f.opcode === OPCODES.text, WAIT_MS);
  assert.deepEqual({ op: JSON.parse(answer.payload).op, ref: JSON.parse(answer.payload).ref }, { op: 'subscribed', ref: 7 });
  assert.ok(!answer.masked, 'server frames are not masked');
});

test('a masked frame written one byte at a time is read', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  const bytes = encodeFrame(OPCODES.text, JSON.stringify({ op: 'subscribe', channel: 'slow', id: 3 }));
  for (const b of bytes) {
    ws.socket.write(Buffer.from([b]));
    await new Promise((r) => setTimeout(r, 2));
  }
  const answer = await ws.waitFrame((f) => f.opcode === OPCODES.text, WAIT_MS);
  assert.equal(JSON.parse(answer.payload).op, 'subscribed');
});

test('the close handshake: the client closes with 1000, the server answers 1000 and ends TCP', async (t) => {
  const hub = await hubFor(t);
  const ws = await connect(t, hub);
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(1000);
  ws.send(OPCODES.close, payload);
  const close = await ws.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS);
  assert.equal(closeCode(close), 1000);
  await ws.closed;
});

test('a text message that is not UTF-8 is closed with 1007; a binary one with 1003', async (t) => {
  const hub = await hubFor(t);
  const bad = await connect(t, hub);
  bad.send(OPCODES.text, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]));
  assert.equal(closeCode(await bad.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS)), 1007);
  const binary = await connect(t, hub);
  binary.send(OPCODES.binary, Buffer.from([1, 2, 3]));
  assert.equal(closeCode(await binary.waitFrame((f) => f.opcode === OPCODES.close, WAIT_MS)), 1003);
});
