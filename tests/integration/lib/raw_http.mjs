// Raw HTTP/1.1 over one TCP connection: requests written as they are (pipelined when several),
// answers parsed off the stream, so that tests see exactly what the server sends and when it
// closes.

import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { httpGet, sleep, HANG_MS } from './server.mjs';

export const get = (path) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
export const options = (path) => `OPTIONS ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
export const post = (path, body) => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
};

// Takes the complete responses off the front of `buffer`; returns [responses, rest].
export function parseResponses(buffer) {
  const responses = [];
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    assert.ok(m, `not a status line: ${JSON.stringify(lines[0])}`);
    const headers = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(m[1]);
    assert.ok(headers['content-length'] !== undefined || status === 204,
      `every answer has a Content-Length, so that the next one can be found: ${lines.join(' | ')}`);
    const length = Number(headers['content-length'] ?? 0);
    if (buffer.length < end + 4 + length) break;
    const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    let json;
    try { json = JSON.parse(body); } catch { json = undefined; }
    responses.push({ status, headers, body, json, closes: /\bclose\b/i.test(headers.connection ?? '') });
    buffer = buffer.subarray(end + 4 + length);
  }
  return [responses, buffer];
}

// Writes `requests` in one write on a new connection; resolves once `requests.length` answers
// came (then hangs up) or the server closed. {responses, closed, trailing, error}. The bound is
// only against a hang (HANG_MS): no answer the server gives has a deadline of its own.
export function oneConnection(port, requests, timeoutMs = HANG_MS) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const responses = [];
    let done = false;
    let error = null;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closed, trailing: buffer.toString('latin1'), error });
    };
    const timer = setTimeout(() => {
      done = true;
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms after ${responses.length} of ${requests.length}; ` +
        `got ${JSON.stringify(responses.map((r) => r.status))}, then ${JSON.stringify(buffer.toString('latin1').slice(0, 300))}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(requests.join('')));
    socket.on('data', (chunk) => {
      let parsed;
      try {
        [parsed, buffer] = parseResponses(Buffer.concat([buffer, chunk]));
      } catch (e) {
        done = true;
        clearTimeout(timer);
        socket.destroy();
        reject(e);
        return;
      }
      responses.push(...parsed);
      if (responses.length >= requests.length) finish(false);
    });
    socket.on('error', (e) => { error = e; });
    socket.on('close', () => finish(true));
  });
}

// Sends `requests` pipelined and resends what the server left unanswered on new connections;
// resolves to {answers, connections} with one answer per request, in request order.
export async function pipeline(port, requests) {
  const answers = [];
  const connections = [];
  while (answers.length < requests.length) {
    const pending = requests.slice(answers.length);
    const got = await oneConnection(port, pending);
    connections.push(got);
    const where = `connection ${connections.length} (${pending.length} requests pipelined)`;
    assert.ok(got.responses.length > 0,
      `${where} ended without an answer (${got.error ? got.error.code : 'closed'}); got ${JSON.stringify(got.trailing.slice(0, 300))}`);
    assert.ok(!got.error, `${where}: ${got.error && got.error.message}`);
    got.responses.forEach((r, i) => {
      const last = i === got.responses.length - 1;
      assert.ok(!r.closes || last, `${where}: answer ${i + 1} says Connection: close, yet more answers came after it`);
      if (got.closed && last && got.responses.length < pending.length) {
        assert.ok(r.closes, `${where}: the server closed after ${got.responses.length} of ${pending.length} ` +
          'answers without saying Connection: close on the last one');
      }
    });
    assert.equal(got.trailing, '', `${where}: bytes after the last complete answer`);
    answers.push(...got.responses);
  }
  return { answers, connections };
}

export function assertError(answer, status, code, what) {
  assert.equal(answer.status, status, `${what}: ${answer.status} ${answer.body.slice(0, 300)}`);
  assert.equal(answer.json?.error?.code, code, `${what}: ${answer.body.slice(0, 300)}`);
}

// CPU time (user + system, in clock ticks) the process used so far, or undefined off Linux.
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

// The server is idle (not spinning) and still answers a new request.
export async function assertHealthyAfter(srv) {
  const before = cpuTicks(srv.proc.pid);
  await sleep(1000);
  const after = cpuTicks(srv.proc.pid);
  if (before !== undefined && after !== undefined) {
    assert.ok(after - before < 30, `the idle server used ${after - before} CPU ticks in 1 s: it spins`);
  }
  const res = await httpGet(srv.port, '/healthz');
  assert.equal(res.status, 200, `a fresh GET /healthz -> ${res.status} ${res.body}`);
  assert.equal(res.body, 'ok\n');
}

// One connection kept open: `write` sends bytes as they are, `answer()` resolves to the next
// complete answer, `closed` once the server has closed (with the bytes left unparsed).
export async function rawConnection(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let buffer = Buffer.alloc(0);
  const answers = [];
  const waiters = [];
  let error = null;
  const closed = new Promise((resolve) => socket.on('close', () => {
    for (const w of waiters.splice(0)) w.reject(new Error(`closed before an answer; ${error ? error.message : ''}`));
    resolve({ trailing: buffer.toString('latin1') });
  }));
  socket.on('error', (e) => { error = e; });
  socket.on('data', (chunk) => {
    let parsed;
    [parsed, buffer] = parseResponses(Buffer.concat([buffer, chunk]));
    answers.push(...parsed);
    while (answers.length && waiters.length) waiters.shift().resolve(answers.shift());
  });
  return {
    socket,
    closed,
    write: (bytes) => new Promise((resolve) => socket.write(bytes, resolve)),
    answer: () => (answers.length ? Promise.resolve(answers.shift())
      : new Promise((resolve, reject) => waiters.push({ resolve, reject }))),
    destroy: () => socket.destroy(),
  };
}
