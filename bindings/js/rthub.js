// rthub.js: a reconnecting browser client for an rthub hub. One ES module, no dependencies,
// no build step: `import { connect } from './rthub.js'`.
//
//   const client = connect('https://hub.example.com', { channels: ['geometry'] });
//   client.on('message', (m) => apply(m.channel, m.type, m.data));
//   client.on('reset', ({ channel }) => reloadState(channel));   // messages were missed
//
// What it does is the same as the C++ rthub::Client; docs/CLIENT.md writes it down once, and
// tests/conformance runs the same scenarios against both:
//   - WebSocket first (ws(s)://host/ws). When the WebSocket does not open (an HTTP error, a proxy
//     that drops `Upgrade`, no answer within `openTimeout`), it tries the same channels over
//     EventSource (/events?channel=..&fallback=1) at once; that is a fallback once the stream
//     opens, and while on it a WebSocket is tried again every `websocketRetryMs`. When the event
//     stream fails too, or opens but brings nothing within `sseSilenceMs` (a proxy that buffers
//     it), it long-polls /poll instead (a second fallback; WebSocket is still tried again).
//   - Reconnects with exponential backoff and full jitter: after the n-th failure in a row it
//     waits a random delay in [0, min(backoffCap, backoffBase * 2^n)] ms; a connection that
//     held 5 s starts the count again.
//   - A heartbeat watchdog: silence for half the watchdog sends a ping over WebSocket; a
//     connection that brought nothing (no message, no ping) for twice the hub's heartbeat is
//     dropped and replaced.
//   - Exact resume: each channel's position (epoch, seq) is kept; a new WebSocket subscribes
//     with `since`, a new EventSource passes the positions as its cursor. Duplicates are
//     dropped, so the application sees every message once, in order. When messages were missed
//     (the hub cannot replay them, or a seq gap), a `reset` event says "reload this channel's
//     state"; the connection stays.
//   - Keyed state (snapshots): a channel subscribed with {snapshot: true} (or listed in
//     `channels` with the `snapshot` option on) gets the latest message of every key from the
//     hub when it joins, and a fresh snapshot whenever a resume could not be honoured. The client
//     keeps the channel's state (key -> message), applies each live message to it (a `delete`
//     removes its key) and hands it over in `snapshot` and `keyed` events, or client.keyedState(channel).
//   - Presence: a channel subscribed with {presence: true} keeps its members (who else is
//     subscribed): over WebSocket from the hub's list and its join/leave events; over SSE (which
//     cannot ask) from GET /presence once per subscribe. client.presence(channel) asks anew.
//
// Events (client.on(name, fn) gets the detail object; or addEventListener(name, e => e.detail)):
//   message      {channel, epoch, seq, type, data, ts, transport, key?, delete?}
//   snapshot     {channel, epoch, seq, items, state}            a whole snapshot arrived: `state`
//                (a Map key -> message) replaces what the application had for the channel
//   presence     {channel, clients, change?}  a presence channel's members (Array of {id, user}),
//                after the hub's list and after every join or leave (change: {op, client})
//   keyed        after each live change of a snapshot channel's state: {channel, state, message}
//   subscribed   {channel, epoch, seq, recovered, transport}   (recovered as the hub sent it)
//   unsubscribed {channel}
//   reset        {channel, epoch, seq, previous, reason}       reload the channel's state
//   state        {state, transport, reason, attempt, retryIn}
//                state: 'connecting' | 'connected' | 'fallback' | 'disconnected' | 'closed'
//                transport: 'ws' | 'sse' | 'poll'
//   fallback     {reason, transport}                           now on SSE, or long-polling
//   error        {code, message, channel}                      a request the hub refused
//
// All of this runs on the page's event loop; there are no threads.

// Long-polling /poll with EventSource's face (onopen, onmessage, onerror, close), so that the
// client treats it as one more stream: a chain of GETs, each held by the hub until it has
// something or its poll timeout passes, each answer {cursor, messages} giving the cursor the
// next one continues from. Opens on the first answer's headers; onanswer on every answer (an
// empty one is the hub's sign of life for the watchdog).
export class LongPoll {
  constructor(url) {
    this._url = url;
    this._abort = typeof AbortController === 'function' ? new AbortController() : null;
    this._closed = false;
    this.onopen = this.onmessage = this.onerror = this.onanswer = null;
  }

  start() { this._loop(); }

  close() {
    this._closed = true;
    if (this._abort) this._abort.abort();
  }

  async _loop() {
    let url = this._url;
    let opened = false;
    while (!this._closed) {
      let res, body;
      try {
        res = await fetch(url, { cache: 'no-store', signal: this._abort ? this._abort.signal : undefined });
      } catch (e) {
        return this._fail(`GET /poll failed: ${e.message}`);
      }
      if (this._closed) return;
      if (!res.ok) return this._fail(`/poll answered HTTP ${res.status}`);
      if (!opened) {
        opened = true;
        if (this.onopen) this.onopen();
        if (this._closed) return;
      }
      try {
        body = await res.json();
      } catch (e) {
        return this._fail(`an unreadable /poll answer: ${e.message}`);
      }
      if (this._closed) return;
      if (!body || !Array.isArray(body.messages)) return this._fail('a /poll answer without messages');
      if (typeof body.cursor === 'string' && body.cursor) url = withCursor(this._url, body.cursor);
      if (this.onanswer) this.onanswer();
      for (const m of body.messages) {
        if (this._closed) return;
        if (this.onmessage) this.onmessage({ data: m });
      }
    }
  }

  _fail(reason) {
    if (this._closed) return;
    this._closed = true;
    if (this.onerror) this.onerror({ reason });
  }
}

// The /poll URL with `cursor` in place of the first poll's cursor, and no fallback mark (the hub
// counts a fallback once, on the first poll).
function withCursor(url, cursor) {
  const u = new URL(url);
  u.searchParams.delete('fallback');
  u.searchParams.set('cursor', cursor);
  return u.toString();
}

const CHANNEL_NAME = /^[A-Za-z0-9_.:@/-]{1,255}$/;
// A connection that held this long was a success: the next failure starts the backoff afresh.
export const STABLE_CONNECTION_MS = 5000;

export const DEFAULTS = Object.freeze({
  channels: [],            // subscribed from the start (more with subscribe())
  snapshot: false,         // the `channels` above are subscribed with {snapshot: true}
  token: '',               // JWT, sent as ?token= on /ws and /events (browsers cannot set headers)
  transport: 'auto',       // 'auto': WebSocket, then SSE, then long-polling; 'ws', 'sse', 'poll': only that
  backoffBase: 500,        // ms
  backoffCap: 30000,       // ms
  maxAttempts: 0,          // failed attempts in a row before giving up (state 'closed'); 0: forever
  heartbeat: 25,           // s, the hub's --heartbeat
  watchdogMs: 0,           // silence that ends a connection; 0: 2 x heartbeat
  openTimeout: 10000,      // ms for a WebSocket handshake or the start of an event stream (0: none)
  websocketRetryEvery: 0,  // on SSE after a fallback: every Nth reconnect tries WebSocket (0: never, as C++)
  websocketRetryMs: 60000, // ... and after this long on SSE, WebSocket is tried again (0: never)
  sseSilenceMs: 5000,      // an event stream silent this long after opening: long-poll instead
  httpPublish: true,       // on SSE, publish() uses POST /publish; false: publish() rejects
  publishKey: '',          // Bearer key for POST /publish (see README: a key in a page is public)
  maxQueuedPublishes: 1000, // publishes waiting for a connection
  random: Math.random,     // uniform in [0, 1): the jitter source (inject one in tests)
});

// The error a publish() promise rejects with: the hub's error object ({code, message, ref}),
// or one of the client's own codes: 'disconnected', 'closed', 'unsupported', 'limit'.
export class RthubError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'RthubError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// Full-jitter exponential backoff: the delay (integer ms) before the retry that follows
// `attempt` failures in a row (attempt 0: the first retry). Uniform over 0 ... ceiling, where
// ceiling = min(cap, base * 2^attempt).
export function backoffDelay(attempt, base, cap, random = Math.random) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 1000));
  let u = Number(random());
  if (!(u >= 0)) u = 0; // also NaN
  if (u >= 1) u = 0.9999999999999999;
  return Math.min(ceiling, Math.floor(u * (ceiling + 1)));
}

export function isChannelName(name) {
  return typeof name === 'string' && CHANNEL_NAME.test(name);
}

// Creates a client and starts it on the next microtask, so that listeners added right after
// connect() see every event.
export function connect(url, options) {
  const client = new RthubClient(url, options);
  queueMicrotask(() => client.start());
  return client;
}

export class RthubClient extends EventTarget {
  // url: the hub's base URL, http(s)://host:port[/prefix] (ws(s):// works too); relative URLs
  // are resolved against the page. Default: the page's own origin.
  constructor(url, options = {}) {
    super();
    const o = this.options = { ...DEFAULTS, ...options };
    if (o.transport === 'websocket') o.transport = 'ws'; // the name before 0.3
    if (!['auto', 'ws', 'sse', 'poll'].includes(o.transport)) throw new TypeError(`rthub: bad transport option: ${o.transport}`);
    for (const k of ['backoffBase', 'backoffCap', 'maxAttempts', 'heartbeat', 'watchdogMs', 'openTimeout',
      'websocketRetryEvery', 'websocketRetryMs', 'sseSilenceMs', 'maxQueuedPublishes']) {
      if (!(Number.isFinite(o[k]) && o[k] >= 0)) throw new TypeError(`rthub: option ${k} must be a number >= 0`);
    }
    if (typeof o.random !== 'function') throw new TypeError('rthub: option random must be a function');

    const page = globalThis.location ? globalThis.location.href : undefined;
    const base = new URL(url || page, page);
    const secure = base.protocol === 'https:' || base.protocol === 'wss:';
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(base.protocol)) throw new TypeError(`rthub: not an http(s) or ws(s) URL: ${url}`);
    const prefix = base.pathname.replace(/\/+$/, '');
    this._httpBase = `${secure ? 'https:' : 'http:'}//${base.host}${prefix}`;
    this._wsUrl = `${secure ? 'wss:' : 'ws:'}//${base.host}${prefix}/ws`;

    this.stats = {
      connects: 0,          // connections opened (either transport)
      reconnects: 0,        // connections opened after an earlier one was lost
      fallbacks: 0,         // steps down that opened: WebSocket to SSE, SSE to long-polling
      websocketRetries: 0,  // WebSocket attempts made while on SSE after a fallback
      messages: 0,          // messages handed to the application
      duplicates: 0,        // messages at or before a channel's position, dropped
      resets: 0,            // reset events
      watchdogTimeouts: 0,  // connections dropped for silence
      snapshots: 0,         // whole snapshots applied
    };

    this._wanted = new Set();     // channels the application wants
    this._positions = new Map();  // channel -> {epoch, seq} of the last message handed over
    this._snapshots = new Set();  // channels that want the hub's keyed snapshot
    this._keyed = new Map();      // snapshot channel -> Map key -> message (its current state)
    this._parts = new Map();      // snapshot channel -> items of a snapshot still arriving in parts
    this._presence = new Map();   // presence channel -> Map id -> {id, user}
    this._conn = null;            // the current connection (see _newConn), or null
    this._state = 'idle';
    this._transport = null;
    this._started = false;
    this._closed = false;
    this._everConnected = false;
    this._failures = 0;           // failed attempts in a row: the backoff exponent
    this._timer = null;           // the pending reconnect
    this._fallbackSince = 0;      // when the client fell back to SSE (0: not fallen back)
    this._fallenTo = null;        // 'sse' or 'poll' after a fallback opened
    this._lastWebSocketTry = 0;
    this._sseTriesSinceWebSocket = 0;
    this._nextId = 1;
    this._requests = new Map();   // request id -> {op, channel, conn, resolve, reject}
    this._queued = [];            // publishes waiting for a connection
    this._restartQueued = false;
    this._onOnline = () => { if (this._timer) { clearTimeout(this._timer); this._timer = null; this._open(); } };

    for (const channel of o.channels) this.subscribe(channel, { snapshot: Boolean(o.snapshot) });
  }

  // ------------------------------------------------------------------ public API

  get state() { return this._state; }
  get transport() { return this._transport; }
  get reconnects() { return this.stats.reconnects; }
  get fallbacks() { return this.stats.fallbacks; }
  get channels() { return [...this._wanted]; }
  position(channel) {
    const p = this._positions.get(channel);
    return p ? { epoch: p.epoch, seq: p.seq } : null;
  }
  get positions() {
    const out = {};
    for (const [channel, p] of this._positions) out[channel] = { epoch: p.epoch, seq: p.seq };
    return out;
  }

  // Listens to one event; fn gets the event's detail. Returns a function that stops listening.
  on(type, fn) {
    const listener = (e) => fn(e.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  start() {
    if (this._started || this._closed) return this;
    this._started = true;
    if (globalThis.addEventListener) globalThis.addEventListener('online', this._onOnline);
    this._open();
    return this;
  }

  // Closes the connection for good; waiting publishes reject with code 'closed'.
  close(reason = 'closed by the application') {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._timer);
    this._timer = null;
    if (globalThis.removeEventListener) globalThis.removeEventListener('online', this._onOnline);
    if (this._conn) this._teardown(this._conn);
    this._conn = null;
    this._rejectRequests(null, 'closed', 'the client was closed');
    for (const item of this._queued.splice(0)) item.reject(new RthubError('closed', 'the client was closed'));
    this._setState('closed', this._transport, { reason });
  }

  // Drops the current connection and resumes on a new one (after the usual backoff delay).
  reconnect(reason = 'reconnect requested') {
    if (this._closed || !this._started) return;
    if (this._conn) this._drop(this._conn, reason);
    else if (this._timer) { clearTimeout(this._timer); this._timer = null; this._open(); }
  }

  // Subscribes now (if connected) and on every later connection. `since` ({epoch, seq}, e.g.
  // kept from an earlier page load) resumes after that position; without it the channel starts
  // at the hub's current position. Subscribing to a channel already wanted does nothing.
  // With `snapshot`, the hub sends the channel's keyed state first (see the header).
  subscribe(channel, { since, snapshot = false, presence = false } = {}) {
    if (!isChannelName(channel)) throw new TypeError(`rthub: bad channel name: ${JSON.stringify(channel)}`);
    if (this._wanted.has(channel)) return;
    this._wanted.add(channel);
    if (snapshot) this._snapshots.add(channel);
    if (presence) this._presence.set(channel, new Map());
    if (since) this._positions.set(channel, { epoch: String(since.epoch), seq: Number(since.seq) });
    const conn = this._conn;
    if (conn && conn.open) {
      if (conn.transport === 'ws') this._sendSubscribe(conn, channel);
      else this._restartStream(conn);
    } else if (this._started && !this._closed && !conn && !this._timer) {
      this._open(); // idle: an event stream with no channels had nothing to stream
    }
  }

  // Stops receiving the channel and forgets its position.
  unsubscribe(channel) {
    if (!this._wanted.delete(channel)) return;
    this._positions.delete(channel);
    this._snapshots.delete(channel);
    this._keyed.delete(channel);
    this._parts.delete(channel);
    this._presence.delete(channel);
    const conn = this._conn;
    if (!conn || !conn.open) return;
    conn.live.delete(channel);
    if (conn.transport === 'ws') {
      if (conn.requested.delete(channel)) this._send(conn, { op: 'unsubscribe', channel, id: this._request({ op: 'unsubscribe', channel, conn }) });
    } else {
      this._restartStream(conn);
    }
  }

  // Publishes `data` (any JSON value) as `type` on `channel`. Resolves with the message's
  // position {channel, epoch, seq}; rejects with an RthubError (the hub's {code, message}).
  // Over WebSocket the hub must allow it (token rights or --allow-client-publish). Over SSE it
  // is a POST /publish (httpPublish), or rejects with code 'unsupported'. While disconnected it
  // waits for the next connection. If the connection drops before the hub answers, it rejects
  // with code 'disconnected': the message may or may not have been published.
  publish(channel, type, data) {
    return new Promise((resolve, reject) => {
      if (!isChannelName(channel)) return reject(new RthubError('bad_request', `bad channel name: ${JSON.stringify(channel)}`));
      if (data === undefined) return reject(new RthubError('bad_request', 'missing data'));
      let body;
      try {
        body = JSON.stringify({ channel, type: type == null ? 'message' : String(type), data });
      } catch (e) {
        return reject(new RthubError('bad_request', `data is not JSON: ${e.message}`));
      }
      if (this._closed) return reject(new RthubError('closed', 'the client was closed'));
      const item = { channel, body, resolve, reject };
      const conn = this._conn;
      if (conn && conn.open) this._sendPublish(conn, item);
      else if (this._queued.length >= this.options.maxQueuedPublishes) reject(new RthubError('limit', 'too many publishes waiting for a connection'));
      else this._queued.push(item);
    });
  }

  // ------------------------------------------------------------------ connecting

  _open() {
    this._timer = null;
    if (this._closed) return;
    if (this._useWebSocket()) this._openWebSocket();
    else this._openStream({ kind: this._fallenTo === 'poll' || this.options.transport === 'poll' ? 'poll' : 'sse' });
  }

  _useWebSocket() {
    const o = this.options;
    if (o.transport === 'poll') return false;
    if (typeof EventSource === 'undefined' || o.transport === 'ws') return true;
    if (typeof WebSocket === 'undefined' || o.transport === 'sse') return false;
    if (!this._fallbackSince) return true;
    // Fallen back to SSE: reconnects stay on SSE (a WebSocket probe beside the open stream finds
    // the way back), or, with websocketRetryEvery, every Nth reconnect tries WebSocket first.
    this._sseTriesSinceWebSocket++;
    return Boolean(o.websocketRetryEvery) && this._sseTriesSinceWebSocket >= o.websocketRetryEvery;
  }

  // A connection: one WebSocket or one EventSource and what this client knows about it.
  _newConn(transport, extra) {
    return {
      transport,
      sock: null,
      open: false,
      openedAt: 0,              // when the handshake completed
      pingedAt: -1,             // lastRx when the watchdog last pinged
      lastRx: 0,
      live: new Set(),          // channels whose `subscribed` arrived on this connection
      requested: new Set(),     // WebSocket: channels a subscribe was sent for
      timers: [],
      ...extra,
    };
  }

  _openWebSocket({ probe = false } = {}) {
    const conn = this._newConn('ws', { probe });
    if (this._fallbackSince) this.stats.websocketRetries++;
    this._lastWebSocketTry = Date.now();
    this._sseTriesSinceWebSocket = 0;
    const url = this._wsUrl + (this.options.token ? `?token=${encodeURIComponent(this.options.token)}` : '');
    if (!probe) {
      this._conn = conn;
      this._setState('connecting', 'ws', { attempt: this._failures });
    }
    try {
      conn.sock = new WebSocket(url);
    } catch (e) {
      conn.sock = null;
      queueMicrotask(() => this._openFailed(conn, `websocket: ${e.message}`));
      return conn;
    }
    const ws = conn.sock;
    ws.onopen = () => this._opened(conn);
    ws.onmessage = (ev) => this._received(conn, ev.data);
    ws.onclose = (ev) => {
      const why = `websocket closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`;
      if (conn.open) this._drop(conn, why, ev.code);
      else this._openFailed(conn, `websocket could not open (${ev.code})`);
    };
    ws.onerror = null; // a close event follows every error
    if (this.options.openTimeout) {
      conn.timers.push(setTimeout(() => {
        if (!conn.open) this._openFailed(conn, `websocket: no handshake answer within ${this.options.openTimeout} ms`);
      }, this.options.openTimeout));
    }
    return conn;
  }

  // An event stream (kind 'sse', /events) or long-polling (kind 'poll', /poll): both name their
  // channels in the URL and resume from the positions' cursor.
  _openStream({ kind = 'sse', fallbackReason = '' } = {}) {
    const channels = [...this._wanted];
    const conn = this._newConn(kind, { fallbackReason, channels });
    const what = kind === 'sse' ? 'event stream' : 'long-poll';
    if (channels.length === 0) {
      // An event stream needs at least one channel; subscribe() opens one.
      this._setState('disconnected', kind, { reason: 'no channels to stream', retryIn: -1 });
      return;
    }
    const query = channels.map((c) => `channel=${encodeURIComponent(c)}`);
    const cursor = this._cursor(channels);
    if (cursor) query.push(`${kind === 'sse' ? 'last_event_id' : 'cursor'}=${encodeURIComponent(cursor)}`);
    if (this.options.transport === 'auto') query.push('fallback=1'); // counted by the hub's metrics
    // One stream, one choice: a snapshot for every channel it does not resume. The state of a
    // channel that did not ask is not kept, so such a snapshot is only passed over.
    if (kind === 'sse' && channels.some((c) => this._snapshots.has(c))) query.push('snapshot=1');
    if (this.options.token) query.push(`token=${encodeURIComponent(this.options.token)}`);
    this._conn = conn;
    this._setState('connecting', kind, { attempt: this._failures });
    try {
      const url = `${this._httpBase}/${kind === 'sse' ? 'events' : 'poll'}?${query.join('&')}`;
      conn.sock = kind === 'sse' ? new EventSource(url) : new LongPoll(url);
    } catch (e) {
      conn.sock = null;
      queueMicrotask(() => this._openFailed(conn, `${what}: ${e.message}`));
      return;
    }
    const es = conn.sock;
    es.onopen = () => this._opened(conn);
    es.onmessage = (ev) => this._received(conn, ev.data);
    es.onanswer = () => { if (this._conn === conn) conn.lastRx = Date.now(); };
    // The browser would reconnect by itself; the client does it instead, with its own backoff.
    es.onerror = (ev) => {
      const why = ev && ev.reason ? `: ${ev.reason}` : '';
      if (conn.open) this._drop(conn, `${what} ended${why}`);
      else this._openFailed(conn, `${what} could not open${why}`);
    };
    if (kind === 'poll') es.start();
    if (this.options.openTimeout) {
      conn.timers.push(setTimeout(() => {
        if (!conn.open) this._openFailed(conn, `${what}: no answer within ${this.options.openTimeout} ms`);
      }, this.options.openTimeout));
    }
  }

  // The event stream failed, ended before bringing anything, or stays silent (a proxy that
  // buffers it): long-poll at once, the same channels from the same positions.
  _stepDownToPolling(conn, reason) {
    this._teardown(conn);
    this._conn = null;
    this._setState('fallback', 'poll', { reason, retryIn: -1 });
    this._openStream({ kind: 'poll', fallbackReason: reason });
  }

  // The SSE cursor for a new stream, built from the positions (the hub's format:
  // channel:epoch:seq, joined by ','). Channels without a position are left out and start
  // at the hub's current position.
  _cursor(channels) {
    const parts = [];
    for (const channel of channels) {
      const p = this._positions.get(channel);
      if (p) parts.push(`${channel}:${p.epoch}:${p.seq}`);
    }
    return parts.join(',');
  }

  _opened(conn) {
    if (conn.probe) {
      // A WebSocket retry made while streaming over SSE got through: switch to it.
      if (this._closed || !this._conn || this._conn.transport === 'ws') { this._teardown(conn); return; }
      this._teardown(this._conn);
      conn.probe = false;
      conn.replacing = true; // a switch of transport, not a reconnect
      this._conn = conn;
    } else if (this._conn !== conn) {
      return;
    }
    conn.open = true;
    conn.openedAt = conn.lastRx = Date.now();
    this._armWatchdog(conn, this._watchdogMs() / 2);
    this.stats.connects++;
    if (this._everConnected && !conn.replacing) this.stats.reconnects++;
    this._everConnected = true;

    if (conn.transport === 'ws') {
      this._fallbackSince = 0;
      this._fallenTo = null;
      for (const channel of this._wanted) this._sendSubscribe(conn, channel);
    } else {
      if (conn.fallbackReason && this._fallenTo !== conn.transport) { // each step that opens counts
        if (!this._fallbackSince) this._fallbackSince = Date.now();
        this._fallenTo = conn.transport;
        this.stats.fallbacks++;
        this._emit('fallback', { reason: conn.fallbackReason, transport: conn.transport });
      }
      if (conn.transport === 'sse' && this.options.transport === 'auto' && this.options.sseSilenceMs) {
        const silence = this.options.sseSilenceMs;
        conn.timers.push(setTimeout(() => {
          if (this._conn === conn && conn.open && !conn.heard) {
            this._stepDownToPolling(conn, `the event stream brought nothing in ${silence} ms (a proxy may buffer it)`);
          }
        }, silence));
      }
      if (this._fallbackSince && this.options.websocketRetryMs && typeof WebSocket !== 'undefined') {
        this._armWebSocketRetry(conn);
      }
      // Channels changed while the stream was opening: open one for the current set.
      const wanted = this._wanted;
      if (conn.channels.length !== wanted.size || conn.channels.some((c) => !wanted.has(c))) this._restartStream(conn);
    }
    this._setState('connected', conn.transport, {});
    // (A state listener may have dropped or closed the connection meanwhile.)
    if (this._conn === conn && conn.open) for (const item of this._queued.splice(0)) this._sendPublish(conn, item);
  }

  // While on SSE after a fallback: after websocketRetryMs, try a WebSocket next to the stream;
  // if it opens, it takes over (resuming from the positions), else the stream goes on.
  _armWebSocketRetry(sseConn) {
    sseConn.timers.push(setTimeout(() => {
      if (this._conn !== sseConn || this._closed) return;
      const probe = this._openWebSocket({ probe: true });
      probe.failed = () => { // it did not get through: keep streaming, try again later
        probe.failed = null;
        this._teardown(probe);
        if (this._conn === sseConn) this._armWebSocketRetry(sseConn);
      };
    }, this.options.websocketRetryMs));
  }

  _openFailed(conn, reason) {
    if (conn.probe) { if (conn.failed) conn.failed(); return; }
    if (this._conn !== conn) return;
    this._teardown(conn);
    this._conn = null;
    if (conn.transport === 'ws' && this.options.transport === 'auto' && typeof EventSource !== 'undefined'
      && this._wanted.size > 0) {
      // The WebSocket did not get through (a browser cannot tell why): stream over SSE instead,
      // right away. Only when the stream opens is this a fallback; if it fails too, the hub is
      // unreachable and the next attempt tries WebSocket first again. Without a channel there
      // is nothing to stream: a plain failure.
      this._setState('fallback', 'sse', { reason: `WebSocket handshake failed: ${reason}`, retryIn: -1 });
      this._openStream({ kind: 'sse', fallbackReason: reason });
      return;
    }
    if (conn.transport === 'sse' && this.options.transport === 'auto' && conn.fallbackReason && !this._fallbackSince) {
      // The event stream tried after it did not open either: long-polling, by the same rule.
      this._stepDownToPolling(conn, `the event stream failed: ${reason}`);
      return;
    }
    this._retryLater(reason, conn.transport);
  }

  // An open connection is lost (or dropped on purpose): clean up, then reconnect with backoff.
  _drop(conn, reason, code) {
    if (this._conn !== conn) return;
    if (conn.transport === 'sse' && this.options.transport === 'auto' && !conn.heard) {
      this._stepDownToPolling(conn, `the event stream failed: ${reason}`); // ended before any event
      return;
    }
    this._teardown(conn);
    this._conn = null;
    if (Date.now() - conn.openedAt >= STABLE_CONNECTION_MS) this._failures = 0;
    this._rejectRequests(conn, 'disconnected',
      `connection lost before the hub answered (${reason}); the message may or may not have been published`);
    this._retryLater(reason, conn.transport, code);
  }

  _retryLater(reason, transport, code) {
    if (this._closed) return;
    const attempt = this._failures++;
    const o = this.options;
    if (o.maxAttempts && attempt >= o.maxAttempts) {
      this.close(`gave up after ${o.maxAttempts} retries: ${reason}`);
      return;
    }
    const delay = backoffDelay(attempt, o.backoffBase, o.backoffCap, o.random);
    this._setState('disconnected', transport, { reason, code, attempt, retryIn: delay });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _teardown(conn) {
    for (const t of conn.timers) clearTimeout(t);
    conn.timers.length = 0;
    clearTimeout(conn.watchdog);
    const sock = conn.sock;
    conn.sock = null;
    conn.open = false;
    if (!sock) return;
    sock.onopen = sock.onmessage = sock.onerror = sock.onclose = null;
    try {
      if (conn.transport === 'ws') {
        if (sock.readyState === 0 || sock.readyState === 1) sock.close(1000, 'client reconnects');
      } else {
        sock.close();
      }
    } catch (e) { /* already closed */ }
  }

  // An event stream's channels changed: open a new stream for the new set, resuming from the
  // positions. Batched, so that several subscribe()/unsubscribe() calls reopen it once.
  _restartStream(conn) {
    if (this._restartQueued) return;
    this._restartQueued = true;
    queueMicrotask(() => {
      this._restartQueued = false;
      if (this._conn !== conn || this._closed) return;
      this._teardown(conn);
      this._conn = null;
      this._openStream({ kind: conn.transport, fallbackReason: conn.fallbackReason });
      if (this._conn) this._conn.replacing = true;
    });
  }

  _watchdogMs() {
    return this.options.watchdogMs || 2 * this.options.heartbeat * 1000;
  }

  // Silence for half the watchdog time: over WebSocket, ask the hub for a pong. Silence for the
  // whole: the connection is dead and is replaced. Re-armed lazily, so that receiving costs
  // nothing but a timestamp.
  _armWatchdog(conn, delay) {
    conn.watchdog = setTimeout(() => {
      if (this._conn !== conn || !conn.open) return;
      const limit = this._watchdogMs();
      const silent = Date.now() - conn.lastRx;
      if (silent >= limit) {
        this.stats.watchdogTimeouts++;
        this._drop(conn, `watchdog: nothing from the hub for ${silent} ms`);
        return;
      }
      const pingAt = limit / 2;
      if (conn.transport === 'ws' && conn.pingedAt !== conn.lastRx && silent >= pingAt) {
        conn.pingedAt = conn.lastRx; // one ping per silence
        this._send(conn, { op: 'ping', id: this._nextId++ });
      }
      const pinged = conn.pingedAt === conn.lastRx;
      this._armWatchdog(conn, conn.transport === 'ws' && !pinged ? Math.max(1, pingAt - silent) : limit - silent);
    }, delay);
  }

  // ------------------------------------------------------------------ protocol

  _request(entry) {
    const id = this._nextId++;
    this._requests.set(id, entry);
    return id;
  }

  _send(conn, obj) {
    try {
      conn.sock.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
    } catch (e) {
      queueMicrotask(() => this._drop(conn, `websocket send failed: ${e.message}`));
    }
  }

  _sendSubscribe(conn, channel) {
    if (conn.requested.has(channel)) return;
    conn.requested.add(channel);
    const req = { op: 'subscribe', channel, id: this._request({ op: 'subscribe', channel, conn }) };
    const p = this._positions.get(channel);
    if (p) req.since = { epoch: p.epoch, seq: p.seq };
    if (this._snapshots.has(channel)) req.snapshot = true;
    if (this._presence.has(channel)) req.presence = true;
    this._send(conn, req);
  }

  _sendPublish(conn, item) {
    if (conn.transport === 'ws') {
      const id = this._request({ op: 'publish', conn, resolve: item.resolve, reject: item.reject });
      this._send(conn, `{"op":"publish","id":${id},${item.body.slice(1)}`);
    } else if (this.options.httpPublish) {
      this._publishOverHttp(item);
    } else {
      item.reject(new RthubError('unsupported', 'connected over SSE, which cannot publish (httpPublish is off)'));
    }
  }

  async _publishOverHttp(item) {
    const headers = { 'Content-Type': 'application/json' };
    if (this.options.publishKey) headers.Authorization = `Bearer ${this.options.publishKey}`;
    let res, text;
    try {
      res = await fetch(`${this._httpBase}/publish`, { method: 'POST', headers, body: item.body });
      text = await res.text();
    } catch (e) {
      item.reject(new RthubError('unavailable', `POST /publish failed: ${e.message}`));
      return;
    }
    let body = null;
    try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (res.ok && body && typeof body.seq === 'number') {
      item.resolve({ channel: body.channel, epoch: body.epoch, seq: body.seq });
    } else {
      const err = (body && body.error) || {};
      item.reject(new RthubError(err.code || 'unavailable', err.message || `POST /publish: HTTP ${res.status} ${text}`, { status: res.status }));
    }
  }

  _rejectRequests(conn, code, message) {
    for (const [id, req] of this._requests) {
      if (conn && req.conn !== conn) continue;
      this._requests.delete(id);
      if (req.reject) req.reject(new RthubError(code, message));
    }
  }

  _received(conn, text) {
    if (this._conn !== conn) return;
    conn.lastRx = Date.now();
    conn.heard = true;
    let m;
    try {
      m = typeof text === 'string' ? JSON.parse(text) : text; // long-polling hands objects
    } catch (e) {
      this._emit('error', { code: 'protocol', message: `the hub sent something that is not JSON: ${String(text).slice(0, 200)}` });
      return;
    }
    const req = m.ref !== undefined ? this._requests.get(m.ref) : undefined;
    if (req && m.op !== 'message') this._requests.delete(m.ref);
    switch (m.op) {
      case 'message': this._onMessage(conn, m); break;
      case 'subscribed': this._onSubscribed(conn, m); break;
      case 'snapshot': this._onSnapshot(conn, m); break;
      case 'join': case 'leave': this._onPresenceChange(m); break;
      case 'presence':
        this._setPresence(m.channel, m.clients);
        if (req && req.resolve) req.resolve(m.clients);
        break;
      case 'unsubscribed': this._emit('unsubscribed', { channel: m.channel }); break;
      case 'published':
        if (req && req.resolve) req.resolve({ channel: m.channel, epoch: m.epoch, seq: m.seq });
        break;
      case 'error': this._onError(conn, m, req); break;
      default: break; // ping, pong, refreshed, and ops of later versions
    }
  }

  _onSubscribed(conn, m) {
    const channel = m.channel;
    if (!this._wanted.has(channel)) return; // unsubscribed meanwhile
    conn.live.add(channel);
    const had = this._positions.get(channel);
    const now = { epoch: m.epoch, seq: m.seq };
    // recovered:true: the missed messages follow and move the position on. Otherwise the
    // channel continues from the hub's position; if the client had one, messages were lost.
    let reset = false;
    if (m.recovered !== true) {
      reset = Boolean(had) && (m.recovered === false || had.epoch !== m.epoch || had.seq !== m.seq);
      this._positions.set(channel, now);
    }
    this._emit('subscribed', { channel, epoch: m.epoch, seq: m.seq, recovered: m.recovered, transport: conn.transport });
    if (this._presence.has(channel)) {
      this.presence(channel).catch((e) => { // a fresh list each time
        if (e.code === 'unsupported') this._presence.delete(channel); // the hub serves none: ask no more
      });
    }
    if (reset) {
      this.stats.resets++;
      this._emit('reset', {
        channel, epoch: m.epoch, seq: m.seq, previous: had,
        reason: m.recovered === false ? 'the hub could not replay the missed messages (recovered:false)' : 'the channel moved on',
      });
    }
  }

  // Applies a snapshot once its last part is in: it replaces the channel's state, and the
  // position moves to the snapshot's, from which live messages continue.
  _onSnapshot(conn, m) {
    const channel = m.channel;
    if (!conn.live.has(channel) || !this._snapshots.has(channel)) return;
    const items = (this._parts.get(channel) || []).concat(Array.isArray(m.items) ? m.items : []);
    if (m.more) { this._parts.set(channel, items); return; }
    this._parts.delete(channel);
    const state = new Map();
    for (const item of items) if (typeof item.key === 'string' && !item.delete) state.set(item.key, item);
    this._keyed.set(channel, state);
    this._positions.set(channel, { epoch: m.epoch, seq: m.seq });
    this.stats.snapshots++;
    this._emit('snapshot', { channel, epoch: m.epoch, seq: m.seq, items, state, transport: conn.transport });
  }

  // Asks the hub for a presence channel's members (WebSocket: the presence op, whose answer
  // orders itself with the join/leave events; SSE: GET /presence). Resolves to the members.
  presence(channel) {
    const conn = this._conn;
    if (conn && conn.open && conn.transport === 'ws') {
      return new Promise((resolve, reject) => {
        const id = this._request({ op: 'presence', conn, resolve, reject });
        this._send(conn, { op: 'presence', channel, id });
      });
    }
    const token = this.options.token ? `&token=${encodeURIComponent(this.options.token)}` : '';
    return fetch(`${this._httpBase}/presence?channel=${encodeURIComponent(channel)}${token}`)
      .then((res) => res.json().then((body) => {
        if (!res.ok) throw new RthubError((body.error && body.error.code) || 'unavailable', (body.error && body.error.message) || `HTTP ${res.status}`);
        return this._setPresence(channel, body.clients);
      }));
  }

  _setPresence(channel, clients) {
    const members = this._presence.get(channel);
    if (!members || !Array.isArray(clients)) return clients;
    members.clear();
    for (const c of clients) members.set(c.id, c);
    this._emit('presence', { channel, clients: [...members.values()] });
    return clients;
  }

  _onPresenceChange(m) {
    const members = this._presence.get(m.channel);
    if (!members || !m.client) return;
    if (m.op === 'join') members.set(m.client.id, m.client);
    else members.delete(m.client.id);
    this._emit('presence', { channel: m.channel, clients: [...members.values()], change: { op: m.op, client: m.client } });
  }

  // The current keyed state (Map key -> message) of a channel subscribed with a snapshot.
  keyedState(channel) {
    return this._keyed.get(channel) || new Map();
  }

  _onMessage(conn, m) {
    const channel = m.channel;
    if (!conn.live.has(channel)) return; // not (or no longer) subscribed on this connection
    const pos = this._positions.get(channel);
    if (pos && pos.epoch === m.epoch) {
      if (m.seq <= pos.seq) { this.stats.duplicates++; return; }
      if (m.seq > pos.seq + 1) {
        // A gap (the hub as built never sends one): say so, then deliver; the connection stays.
        this.stats.resets++;
        this._emit('reset', {
          channel, epoch: m.epoch, seq: m.seq - 1, previous: pos,
          reason: `messages ${pos.seq + 1}..${m.seq - 1} were skipped`,
        });
      }
    } else if (pos) {
      // A new epoch without an unasked `subscribed` first: the numbering restarted.
      this.stats.resets++;
      this._emit('reset', { channel, epoch: m.epoch, seq: m.seq - 1, previous: pos, reason: 'the channel\'s epoch changed' });
    }
    this._positions.set(channel, { epoch: m.epoch, seq: m.seq });
    this.stats.messages++;
    const detail = {
      channel, epoch: m.epoch, seq: m.seq, type: m.type, data: m.data, ts: m.ts, transport: conn.transport,
    };
    if (typeof m.key === 'string') detail.key = m.key;
    if (m.delete === true) detail.delete = true;
    const state = this._keyed.get(channel);
    if (state && detail.key !== undefined) {
      if (detail.delete) state.delete(detail.key);
      else state.set(detail.key, m);
    }
    this._emit('message', detail);
    if (state && detail.key !== undefined) this._emit('keyed', { channel, state, message: detail });
  }

  _onError(conn, m, req) {
    if (req && (req.op === 'publish' || req.op === 'presence')) { req.reject(new RthubError(m.code, m.message, { ref: m.ref })); return; }
    if (req && req.op === 'unsubscribe' && m.code === 'not_found') return;
    if (req && req.op === 'subscribe') {
      conn.requested.delete(req.channel);
      if (m.code === 'unsupported' && (this._snapshots.has(req.channel) || this._presence.has(req.channel))) {
        // A hub that serves no presence (--shards > 1, or Redis mode without it) or keeps no
        // snapshots: subscribe again without presence first, then (refused again) without the
        // snapshot, so that the channel still streams with what the hub has; the error event
        // says what is missing.
        if (this._presence.has(req.channel)) this._presence.delete(req.channel);
        else this._snapshots.delete(req.channel);
        if (this._conn === conn && this._wanted.has(req.channel)) this._sendSubscribe(conn, req.channel);
      } else if (m.code === 'unavailable') {
        // The hub's history store is down: reconnect (with backoff) and subscribe again.
        this._emit('error', { code: m.code, message: m.message, channel: req.channel });
        this._drop(conn, `the hub could not subscribe ${req.channel}: ${m.message}`);
        return;
      } else {
        // Refused (forbidden, bad name, limit): it would be refused again, so stop asking.
        this._wanted.delete(req.channel);
        this._positions.delete(req.channel);
      }
    }
    this._emit('error', { code: m.code, message: m.message, channel: req ? req.channel : undefined });
  }

  // ------------------------------------------------------------------ events

  _setState(state, transport, extra) {
    this._state = state;
    if (transport) this._transport = transport;
    this._emit('state', { state, transport: transport || null, reason: '', attempt: this._failures, retryIn: -1, ...extra });
  }

  _emit(type, detail) {
    let ev;
    if (typeof CustomEvent === 'function') {
      ev = new CustomEvent(type, { detail });
    } else {
      ev = new Event(type);
      ev.detail = detail;
    }
    this.dispatchEvent(ev);
  }
}
