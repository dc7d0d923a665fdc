// A WebSocket client on a raw TCP socket, for what `ws` does by itself and a
// test must not do (answer protocol pings, mask and frame correctly): it does
// the handshake, then parses the server's frames and answers nothing unless
// told to.

import net from 'node:net';
import crypto from 'node:crypto';
import { HANG_MS, hangBound } from './server.mjs';

export const OPCODES = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

// A client frame (masked).
export function encodeFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = [((fin ? 0x80 : 0) | opcode)];
  const maskBit = mask ? 0x80 : 0;
  if (data.length < 126) head.push(maskBit | data.length);
  else if (data.length < 65536) head.push(maskBit | 126, data.length >> 8, data.length & 0xff);
  else {
    head.push(maskBit | 127);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(data.length));
    head.push(...len);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

// Connects, sends the upgrade request and resolves once the 101 arrived.
// frames: [{opcode, payload, at}], closedAt: when the server closed TCP.
export function rawWebSocket(port, { path = '/ws', headers = {}, host = '127.0.0.1', timeoutMs = HANG_MS } = {}) {
  timeoutMs = hangBound(timeoutMs);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const key = crypto.randomBytes(16).toString('base64');
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    const frames = [];
    const listeners = new Set();
    let closedAt = null;
    let resolveClosed;
    const closed = new Promise((r) => { resolveClosed = r; });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('raw WebSocket: no 101 in time')); }, timeoutMs);

    const parse = () => {
      for (;;) {
        if (buffer.length < 2) return;
        const b0 = buffer[0];
        const b1 = buffer[1];
        let len = b1 & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buffer.length < 4) return;
          len = buffer.readUInt16BE(2);
          offset = 4;
        } else if (len === 127) {
          if (buffer.length < 10) return;
          len = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        const masked = (b1 & 0x80) !== 0;
        if (masked) offset += 4;
        if (buffer.length < offset + len) return;
        let payload = buffer.subarray(offset, offset + len);
        if (masked) {
          const k = buffer.subarray(offset - 4, offset);
          payload = Buffer.from(payload.map((x, i) => x ^ k[i & 3]));
        }
        const frame = { opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, masked, payload: Buffer.from(payload), at: Date.now() };
        buffer = buffer.subarray(offset + len);
        frames.push(frame);
        for (const l of listeners) l(frame);
      }
    };

    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 4);
        if (!/^HTTP\/1\.1 101/.test(head)) {
          clearTimeout(timer);
          socket.destroy();
          reject(new Error(`raw WebSocket: handshake refused: ${head.split('\r\n')[0]}`));
          return;
        }
        upgraded = true;
        clearTimeout(timer);
        resolve(client);
      }
      parse();
    });
    const onGone = () => {
      if (closedAt === null) closedAt = Date.now();
      resolveClosed(closedAt);
    };
    socket.on('end', onGone);
    socket.on('close', onGone);
    socket.on('error', () => { /* reported through 'close' */ });
    socket.on('connect', () => {
      const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });

    const client = {
      socket,
      frames,
      closed,
      get closedAt() { return closedAt; },
      get isClosed() { return closedAt !== null; },
      // Text frames that parse as JSON objects.
      json: () => frames.filter((f) => f.opcode === OPCODES.text).map((f) => { try { return JSON.parse(f.payload.toString('utf8')); } catch { return null; } }).filter(Boolean),
      onFrame(fn) { listeners.add(fn); return () => listeners.delete(fn); },
      // Resolves with the first frame (already received or coming) that `match` accepts.
      waitFrame(match, waitMs = HANG_MS) {
        waitMs = hangBound(waitMs);
        const found = frames.find(match);
        if (found) return Promise.resolve(found);
        return new Promise((res, rej) => {
          const t = setTimeout(() => { off(); rej(new Error(`raw WebSocket: no matching frame in ${waitMs} ms; got opcodes ${frames.map((f) => f.opcode)}`)); }, waitMs);
          const off = client.onFrame((f) => { if (match(f)) { clearTimeout(t); off(); res(f); } });
        });
      },
      send(opcode, payload, options) { socket.write(encodeFrame(opcode, payload, options)); },
      sendText(text) { socket.write(encodeFrame(OPCODES.text, Buffer.from(text))); },
      destroy() { socket.destroy(); },
    };
  });
}
