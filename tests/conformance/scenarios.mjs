// scenarios.mjs: the client conformance scenarios (docs/CLIENT.md). Each one scripts the hub
// (script_hub.mjs), gives the client options, says when the run is complete (`until`, over the
// client's trace) and what must hold then (`check`). The same scenario runs against the C++
// client (rthub-listen) and the JS module (in Chromium); the trace is normalized the same way:
//   {kind:'state', state, transport}  transport 'ws' | 'sse' | 'poll' | 'none'
//   {kind:'message', channel, epoch, seq}   {kind:'reset', channel, seq}
//   {kind:'subscribed', channel, seq, recovered}   {kind:'error', code}
//   {kind:'snapshot', channel, seq, keys}   keys: the snapshot's keys in item order
import assert from 'node:assert/strict';

const E1 = 'e1';

// Answers every subscribe at `seq` (recovered when asked from a position), then runs `then`.
function answerSubscribes(session, { epoch = E1, seq = 0, recovered, then } = {}) {
  session.onSubscribe = (m) => {
    const answer = { op: 'subscribed', channel: m.channel, epoch, seq, ref: m.id };
    if (recovered !== undefined) answer.recovered = recovered;
    session.send(answer);
    if (then) then(m);
  };
}

function streamStart(session, { epoch = E1, seq = 0 } = {}) {
  for (const channel of session.channels) session.send({ op: 'subscribed', channel, epoch, seq });
}

export const states = (trace) => trace.filter((e) => e.kind === 'state').map((e) => `${e.state}/${e.transport}`);
export const seqs = (trace) => trace.filter((e) => e.kind === 'message').map((e) => e.seq);
const count = (trace, kind) => trace.filter((e) => e.kind === kind).length;

// A snapshot of channel `a` in parts, one keyed item per part, as the hub sends a large one.
function sendSnapshot(session, epoch, seq, keyed) {
  keyed.forEach(([key, itemSeq], i) => {
    const item = { op: 'message', channel: 'a', epoch, seq: itemSeq, type: 't', data: itemSeq, key, ts: 1 };
    const part = { op: 'snapshot', channel: 'a', epoch, seq, items: [item] };
    if (i + 1 < keyed.length) part.more = true;
    session.send(part);
  });
}

export const SCENARIOS = [
  {
    name: 'WebSocket first: messages in order, once',
    hub: {
      ws(s) { answerSubscribes(s, { then: () => [1, 2, 3].forEach((n) => s.message('a', E1, n)) }); },
    },
    until: (t) => seqs(t).length >= 3,
    check(t) {
      assert.deepEqual(states(t).slice(0, 2), ['connecting/ws', 'connected/ws']);
      assert.deepEqual(seqs(t), [1, 2, 3]);
      assert.equal(count(t, 'reset'), 0);
    },
  },
  {
    name: 'duplicates (replay overlapping live) are dropped',
    hub: {
      ws(s) { answerSubscribes(s, { then: () => [1, 2, 2, 1, 3].forEach((n) => s.message('a', E1, n)) }); },
    },
    until: (t) => seqs(t).includes(3),
    check(t) {
      assert.deepEqual(seqs(t), [1, 2, 3]);
      assert.equal(count(t, 'reset'), 0);
    },
  },
  {
    name: 'a seq gap gives a reset, then the message, and keeps the connection',
    hub: {
      ws(s) { answerSubscribes(s, { then: () => [1, 2, 5, 6].forEach((n) => s.message('a', E1, n)) }); },
    },
    until: (t) => seqs(t).includes(6),
    check(t, log) {
      assert.deepEqual(seqs(t), [1, 2, 5, 6]);
      const kinds = t.filter((e) => e.kind === 'reset' || e.kind === 'message').map((e) => `${e.kind}:${e.seq}`);
      assert.deepEqual(kinds, ['message:1', 'message:2', 'reset:4', 'message:5', 'message:6']);
      assert.deepEqual(states(t), ['connecting/ws', 'connected/ws'], 'no reconnect');
      assert.equal(log.ws, 1);
    },
  },
  {
    name: 'a refused WebSocket falls back to SSE at once',
    hub: {
      ws: { refuse: 502 },
      sse(s) { streamStart(s); s.message('a', E1, 1); s.message('a', E1, 2); },
    },
    until: (t) => seqs(t).length >= 2,
    check(t, log) {
      assert.deepEqual(states(t).slice(0, 4), ['connecting/ws', 'fallback/sse', 'connecting/sse', 'connected/sse']);
      assert.deepEqual(seqs(t), [1, 2]);
      assert.equal(log.ws, 1, 'one refused upgrade is enough');
    },
  },
  {
    name: 'when the stream fails too, long-polling is tried at once',
    hub: {
      ws: { refuse: 502 },
      sse: { refuse: 503 },
      poll(s) { streamStart(s); s.message('a', E1, 1); s.message('a', E1, 2); },
    },
    until: (t) => seqs(t).length >= 2,
    check(t, log) {
      assert.deepEqual(states(t).slice(0, 6), ['connecting/ws', 'fallback/sse', 'connecting/sse',
        'fallback/poll', 'connecting/poll', 'connected/poll']);
      assert.deepEqual(seqs(t), [1, 2]);
      assert.equal(log.poll, 1);
    },
  },
  {
    name: 'an event stream that brings nothing (a buffering proxy) is left for long-polling',
    options: { sseSilenceMs: 1000 },
    hub: {
      ws: { refuse: 502 },
      sse: { silent: true },
      poll(s) { streamStart(s); [1, 2, 3].forEach((n) => s.message('a', E1, n)); },
    },
    until: (t) => seqs(t).length >= 3,
    check(t, log) {
      assert.deepEqual(states(t).slice(0, 7), ['connecting/ws', 'fallback/sse', 'connecting/sse',
        'connected/sse', 'fallback/poll', 'connecting/poll', 'connected/poll']);
      const step = t.find((e) => e.kind === 'state' && e.state === 'fallback' && e.transport === 'poll');
      assert.match(step.reason, /nothing/);
      assert.deepEqual(seqs(t), [1, 2, 3]);
      assert.equal(log.sse, 1);
    },
  },
  {
    name: 'long-polling resumes from the cursor of each answer, and a WebSocket probe takes over '
      + 'mid-stream: nothing lost or repeated',
    options: { sseSilenceMs: 1000, websocketRetryMs: 1500 },
    hub: {
      wsRefusals: 1,  // the first attempt does not open; the probe does
      ws(s) {
        answerSubscribes(s, { seq: 4, recovered: true, then: () => [3, 4, 5].forEach((n) => s.message('a', E1, n)) });
      },
      sse: { refuse: 503 },
      poll(s) {
        streamStart(s);
        s.message('a', E1, 1);
        setTimeout(() => { s.message('a', E1, 2); s.message('a', E1, 3); }, 300);
      },
    },
    until: (t) => seqs(t).includes(5),
    check(t, log) {
      assert.deepEqual(seqs(t), [1, 2, 3, 4, 5]);
      assert.equal(count(t, 'reset'), 0);
      assert.ok(log.polls >= 2, 'the second answer came from a poll with the cursor');
      assert.deepEqual(log.subscribes.at(-1).since, { epoch: E1, seq: 3 });
      assert.equal(states(t).at(-1), 'connected/ws');
    },
  },
  {
    name: 'when the stream and long-polling fail too, back off and try WebSocket again',
    hub: { ws: { refuse: 502 }, sse: { refuse: 503 }, poll: { refuse: 503 } },
    until: (t) => states(t).filter((s) => s === 'connecting/ws').length >= 2,
    check(t) {
      assert.deepEqual(states(t).slice(0, 7), ['connecting/ws', 'fallback/sse', 'connecting/sse',
        'fallback/poll', 'connecting/poll', 'disconnected/poll', 'connecting/ws']);
      assert.ok(!states(t).some((s) => s.startsWith('connected')));
    },
  },
  {
    name: 'forced long-polling never tries WebSocket or SSE',
    options: { transport: 'poll' },
    hub: {
      ws: { refuse: 502 },
      sse: { refuse: 503 },
      poll(s) { streamStart(s); s.message('a', E1, 1); },
    },
    until: (t) => seqs(t).length >= 1,
    check(t, log) {
      assert.deepEqual(states(t).slice(0, 2), ['connecting/poll', 'connected/poll']);
      assert.equal(log.ws, 0);
      assert.equal(log.sse, 0);
      assert.deepEqual(log.pollCursors, ['']);
    },
  },
  {
    name: 'after a drop, the client resumes from its position: nothing lost or repeated',
    hub: {
      ws(s) {
        if (s.index === 0) {
          answerSubscribes(s, { then: () => { s.message('a', E1, 1); s.message('a', E1, 2); setTimeout(() => s.close(), 50); } });
        } else {
          answerSubscribes(s, { seq: 3, recovered: true, then: () => { s.message('a', E1, 2); s.message('a', E1, 3); } });
        }
      },
    },
    until: (t) => seqs(t).includes(3),
    check(t, log) {
      assert.deepEqual(seqs(t), [1, 2, 3]);
      assert.equal(count(t, 'reset'), 0);
      assert.deepEqual(log.subscribes[1].since, { epoch: E1, seq: 2 });
    },
  },
  {
    name: 'a resume the hub cannot serve (recovered:false) gives one reset',
    hub: {
      ws(s) {
        if (s.index === 0) {
          answerSubscribes(s, { then: () => { s.message('a', E1, 1); setTimeout(() => s.close(), 50); } });
        } else {
          answerSubscribes(s, { epoch: 'e2', seq: 10, recovered: false, then: () => s.message('a', 'e2', 11) });
        }
      },
    },
    until: (t) => seqs(t).includes(11),
    check(t) {
      assert.deepEqual(seqs(t), [1, 11]);
      assert.equal(count(t, 'reset'), 1);
      const order = t.filter((e) => e.kind === 'reset' || e.kind === 'message').map((e) => e.kind);
      assert.deepEqual(order, ['message', 'reset', 'message']);
    },
  },
  {
    name: 'snapshot parts make one snapshot, live messages follow; a lost resume brings a fresh one',
    options: { snapshot: true },
    hub: {
      ws(s) {
        if (s.index === 0) {
          answerSubscribes(s, { seq: 2, then: () => {
            sendSnapshot(s, E1, 2, [['x', 1], ['y', 2]]);
            s.message('a', E1, 2);  // at the snapshot's seq: already in it
            s.message('a', E1, 3);
            setTimeout(() => s.close(), 50);
          } });
        } else {
          answerSubscribes(s, { epoch: 'e2', seq: 5, recovered: false, then: () => {
            sendSnapshot(s, 'e2', 5, [['z', 5]]);
            s.message('a', 'e2', 6);
          } });
        }
      },
    },
    until: (t) => seqs(t).includes(6),
    check(t, log) {
      const order = t.filter((e) => ['snapshot', 'message', 'reset'].includes(e.kind))
        .map((e) => (e.kind === 'snapshot' ? `snapshot:${e.seq}:${e.keys.join('+')}` : `${e.kind}:${e.seq}`));
      assert.deepEqual(order, ['snapshot:2:x+y', 'message:3', 'reset:5', 'snapshot:5:z', 'message:6']);
      assert.equal(log.subscribes[0].snapshot, true);
      assert.equal(log.subscribes[1].snapshot, true, 'a resume asks for a snapshot too');
      assert.deepEqual(log.subscribes[1].since, { epoch: E1, seq: 3 });
    },
  },
  {
    name: 'the watchdog pings at half its time, then replaces a silent connection',
    options: { watchdogMs: 1000 },
    hub: {
      ws(s) {
        if (s.index === 0) s.silent = true;  // answers the subscribe, then nothing, not even pongs
        answerSubscribes(s);
      },
    },
    until: (t) => states(t).filter((s) => s === 'connected/ws').length >= 2,
    check(t, log) {
      assert.ok(log.pings >= 1, 'a ping after half the watchdog');
      const lost = t.find((e) => e.kind === 'state' && e.state === 'disconnected');
      assert.match(lost.reason, /watchdog/);
    },
  },
];
