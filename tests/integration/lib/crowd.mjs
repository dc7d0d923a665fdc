// A crowd of idle connections in a child process, so that a test can hold more connections than
// one process's descriptor limit allows: `node crowd.mjs PORT WS SSE`.
//
// It opens WS raw WebSocket connections (GET /ws) and SSE streams (GET /events?channel=crowd),
// a few hundred at a time, and prints one JSON line `{"ready":{"ws":N,"sse":M,"failed":F}}`
// once all are open. Then it waits for the server to end them and prints
// `{"done":{"ws":{CODE:COUNT...},"sse":{"ended":N,"reset":M}}}` when every one is gone (a
// WebSocket that ends without a close frame counts as 1006). A WebSocket close frame is
// answered with one, as browsers do. It exits after printing `done`, or when its stdin closes.

import net from 'node:net';
import crypto from 'node:crypto';

const [port, wsCount, sseCount] = process.argv.slice(2).map(Number);
const BATCH = 200;
const wsCodes = {};
const sse = { ended: 0, reset: 0 };
let open = 0;
const opened = { ws: 0, sse: 0 };
let failed = 0;
const why = {};  // failed openings by reason: the answer's status line, or the socket's error
function fail(reason) {
  failed += 1;
  why[reason] = (why[reason] || 0) + 1;
}
let gone = 0;
let readyPrinted = false;

function finish() {
  gone += 1;
  if (readyPrinted && gone === open) {
    process.stdout.write(`${JSON.stringify({ done: { ws: wsCodes, sse } })}\n`, () => process.exit(0));
  }
}

function openWs() {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let error = 'closed before an answer';  // or the refusal's status line, or the socket error
    let code = null;
    socket.on('connect', () => {
      socket.write(['GET /ws HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', '', ''].join('\r\n'));
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buffer.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
          error = buffer.subarray(0, buffer.indexOf('\r\n')).toString('latin1');
          socket.destroy();
          resolve(false);
          return;
        }
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        open += 1;
        opened.ws += 1;
        resolve(true);
      }
      // Server frames: unmasked, small. Only the close frame matters.
      while (buffer.length >= 2) {
        let len = buffer[1] & 0x7f;
        let offset = 2;
        if (len === 126) { if (buffer.length < 4) return; len = buffer.readUInt16BE(2); offset = 4; }
        if (len === 127) { if (buffer.length < 10) return; len = Number(buffer.readBigUInt64BE(2)); offset = 10; }
        if (buffer.length < offset + len) return;
        if ((buffer[0] & 0x0f) === 8 && code === null) {
          code = len >= 2 ? buffer.readUInt16BE(offset) : 1005;
          // The answering close frame: masked, echoing the code.
          const mask = crypto.randomBytes(4);
          const body = Buffer.from([code >> 8, code & 0xff]).map((b, i) => b ^ mask[i & 3]);
          socket.end(Buffer.concat([Buffer.from([0x88, 0x82]), mask, body]));
        }
        buffer = buffer.subarray(offset + len);
      }
    });
    socket.on('error', (e) => { error = e.code || e.message; });
    socket.on('close', () => {
      if (!upgraded) { fail(error); resolve(false); return; }
      const key = String(code ?? 1006);
      wsCodes[key] = (wsCodes[key] || 0) + 1;
      finish();
    });
  });
}

function openSse() {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let head = '';
    let streaming = false;
    let error = 'closed before an answer';  // or the refusal's status line, or the socket error
    let reset = false;
    socket.on('connect', () => {
      socket.write(`GET /events?channel=crowd HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.on('data', (chunk) => {
      if (streaming) return;
      head += chunk.toString('latin1');
      if (head.indexOf('\r\n\r\n') < 0) return;
      if (!head.startsWith('HTTP/1.1 200')) { error = head.slice(0, head.indexOf('\r\n')); socket.destroy(); return; }
      streaming = true;
      open += 1;
      opened.sse += 1;
      resolve(true);
    });
    socket.on('error', (e) => { reset = true; error = e.code || e.message; });
    socket.on('close', () => {
      if (!streaming) { fail(error); resolve(false); return; }
      if (reset) sse.reset += 1; else sse.ended += 1;
      finish();
    });
  });
}

async function openAll(count, opener) {
  for (let done = 0; done < count; done += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - done) }, opener));
  }
}

await openAll(wsCount, openWs);
await openAll(sseCount, openSse);
readyPrinted = true;
process.stdout.write(`${JSON.stringify({ ready: { ...opened, failed, why } })}\n`);
if (gone === open) process.stdout.write(`${JSON.stringify({ done: { ws: wsCodes, sse } })}\n`, () => process.exit(0));
process.stdin.on('close', () => process.exit(1));
process.stdin.resume();
