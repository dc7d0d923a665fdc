// script_hub.mjs: a hub that plays a script, for the client conformance scenarios. It speaks the
// wire protocol of docs/PROTOCOL.md on /ws (WebSocket) and /events (SSE), but what it answers is
// decided by the scenario: refuse an upgrade, skip a seq, go silent, restart a channel's epoch.
// It also serves the browser page and bindings/js/rthub.js from the same origin, and records
// what the clients asked (subscribes with their `since`, pings, stream cursors).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODULE = join(REPO, 'bindings', 'js', 'rthub.js');

// A connection as the script sees it, the same for both transports.
class Session {
  constructor(transport, index, channels, send, close) {
    this.transport = transport;  // 'ws' | 'sse'
    this.index = index;          // 0 for the first connection of this transport, then 1, ...
    this.channels = channels;    // SSE: from the URL; WebSocket: filled by subscribes
    this._send = send;
    this.close = close;
    this.onSubscribe = null;     // WebSocket: (request) => answer it
  }
  send(object) { this._send(object); }
  message(channel, epoch, seq, data = seq) {
    this.send({ op: 'message', channel, epoch, seq, type: 't', data, ts: 1 });
  }
}

// script: {
//   ws(session) | ws: {refuse: status}   what a WebSocket connection does
//   sse(session, cursor) | sse: {refuse: status}
// }
export async function startScriptHub(script) {
  const log = { ws: 0, sse: 0, subscribes: [], pings: 0, cursors: [] };
  const sockets = new Set();
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://hub');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>rthub conformance</title>');
    } else if (url.pathname === '/rthub.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(readFileSync(MODULE));
    } else if (url.pathname === '/events') {
      const index = log.sse++;
      const cursor = req.headers['last-event-id'] || url.searchParams.get('last_event_id') || '';
      log.cursors.push(cursor);
      if (!script.sse || script.sse.refuse) {
        const status = script.sse ? script.sse.refuse : 404;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'refused', message: `scripted ${status}` } }));
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'close',
      });
      res.write('retry: 2000\n\n');
      const session = new Session('sse', index, url.searchParams.getAll('channel'),
        (o) => res.write(`data: ${JSON.stringify(o)}\n\n`), () => res.destroy());
      script.sse(session, cursor);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('upgrade', (req, socket, head) => {
    const index = log.ws++;
    if (!script.ws || script.ws.refuse) {
      const status = script.ws ? script.ws.refuse : 404;
      socket.end(`HTTP/1.1 ${status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session('ws', index, [], (o) => ws.send(JSON.stringify(o)), () => ws.terminate());
      ws.on('message', (text) => {
        const m = JSON.parse(String(text));
        if (m.op === 'ping') {
          log.pings++;
          if (!session.silent) session.send({ op: 'pong', ref: m.id });
        } else if (m.op === 'subscribe') {
          log.subscribes.push({ channel: m.channel, since: m.since || null, snapshot: m.snapshot === true, connection: index });
          session.channels.push(m.channel);
          if (session.onSubscribe) session.onSubscribe(m);
        }
      });
      script.ws(session);
    });
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    async close() {
      for (const client of wss.clients) client.terminate();
      for (const s of sockets) s.destroy();
      await new Promise((res) => server.close(res));
    },
  };
}
