// script_hub.mjs: a hub that plays a script, for the client conformance scenarios. It speaks the
// wire protocol of docs/PROTOCOL.md on /ws (WebSocket), /events (SSE) and /poll (long-polling),
// but what it answers is
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
    this.transport = transport;  // 'ws' | 'sse' | 'poll'
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
//   wsRefusals: n                        the first n upgrades are refused (502) all the same
//   sse(session, cursor) | sse: {refuse: status} | sse: {silent: true} (headers, then nothing:
//                                                     a proxy that buffers the stream)
//   poll(session, cursor) | poll: {refuse: status}   a long-poll session (its first poll)
// }
// A long-poll session lives across its polls: what the script sends waits for the next poll,
// which is held until something waits or POLL_HOLD_MS pass (the hub's --poll-timeout). Its
// cursors are "s<session>:<n>"; a poll without one of those starts a new session.
const POLL_HOLD_MS = 1000;

export async function startScriptHub(script) {
  const log = { ws: 0, sse: 0, poll: 0, polls: 0, subscribes: [], pings: 0, cursors: [], pollCursors: [] };
  const pollSessions = [];
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
      if (script.sse && script.sse.silent) {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.flushHeaders();
        return;
      }
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
    } else if (url.pathname === '/poll') {
      log.polls++;
      const cursor = url.searchParams.get('cursor') || '';
      const ours = /^s(\d+):\d+$/.exec(cursor);
      let session = ours ? pollSessions[Number(ours[1])] : null;
      if (!session) {
        log.pollCursors.push(cursor);
        if (!script.poll || script.poll.refuse) {
          const status = script.poll ? script.poll.refuse : 404;
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'refused', message: `scripted ${status}` } }));
          return;
        }
        session = newPollSession(log.poll++, url.searchParams.getAll('channel'));
        pollSessions.push(session);
        session.hold(res);
        script.poll(session, cursor);
        return;
      }
      session.hold(res);
    } else {
      res.writeHead(404);
      res.end();
    }
  });

  // A long-poll session: objects wait in `queue` until a poll takes them.
  function newPollSession(index, channels) {
    const queue = [];
    let waiting = null;  // {res, timer}
    let answered = 0;
    const answer = () => {
      if (!waiting) return;
      const { res, timer } = waiting;
      waiting = null;
      clearTimeout(timer);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ cursor: `s${index}:${++answered}`, messages: queue.splice(0) }));
    };
    const session = new Session('poll', index, channels, (o) => {
      queue.push(o);
      setImmediate(answer);  // what is sent together is answered together
    }, () => { if (waiting) waiting.res.destroy(); waiting = null; });
    session.hold = (res) => {
      if (waiting) waiting.res.destroy();
      waiting = { res, timer: setTimeout(answer, queue.length ? 0 : POLL_HOLD_MS) };
      res.on('close', () => { if (waiting && waiting.res === res) { clearTimeout(waiting.timer); waiting = null; } });
    };
    return session;
  }
  const wss = new WebSocketServer({ noServer: true });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('upgrade', (req, socket, head) => {
    const index = log.ws++;
    if (!script.ws || script.ws.refuse || index < (script.wsRefusals || 0)) {
      const status = !script.ws ? 404 : script.ws.refuse || 502;
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
