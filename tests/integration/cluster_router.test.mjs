// The Redis Cluster router and sharded subscriber (lib/broker/redis/cluster/) against a real
// six-process cluster: key slots as the nodes compute them, commands on the owning master, MOVED
// and ASK during a resharding, SPUBLISH/SSUBSCRIBE delivery, and a master killed (SIGKILL) or frozen (SIGSTOP).
// The C++ side runs in rthub-cluster-probe (tests/cluster/cluster_probe.cpp), driven over stdio.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { trackChild } from './lib/extra.mjs';
import { redisClusterFor, failoverBoundMs } from './lib/redis_cluster.mjs';
import { sleep, waitFor } from './lib/server.mjs';

const PROBE = process.env.RTHUB_CLUSTER_PROBE;
// The probe's connect timeout: hiredis' libuv adapter never reports a refused connect, so a
// connect to a dead node is abandoned after this long (ClusterRouter, RouterOptions).
const CONNECT_TIMEOUT_MS = 500;
// ClusterRouter's own pace: it rediscovers every kFailoverPollMs (200 ms) while a master of its
// map is unreachable, at most once per kMinDiscoveryGapMs (100 ms), checking timeouts every 50 ms.
const ROUTER_POLL_MS = 200;
// RouterOptions::reply_timeout_ms, the default the probe keeps.
const REPLY_TIMEOUT_MS = 3000;

// The probe process: request(op, fields) resolves with its answer; events are kept and awaited
// with waitEvent(predicate).
function startProbe(t, seeds) {
  const proc = trackChild(spawn(PROBE, [seeds, String(CONNECT_TIMEOUT_MS)], { stdio: ['pipe', 'pipe', 'pipe'] }));
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr += d; });
  const answers = new Map();
  const events = [];
  const watchers = new Set();
  let nextId = 1;
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.event) {
      events.push(msg);
      for (const w of watchers) w();
      return;
    }
    const waiter = answers.get(msg.id);
    if (waiter) { answers.delete(msg.id); waiter(msg); }
  });
  t.after(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const probe = {
    events,
    stderr: () => stderr,
    request(op, fields = {}) {
      const id = nextId++;
      return new Promise((resolve) => {
        answers.set(id, resolve);
        proc.stdin.write(JSON.stringify({ id, op, ...fields }) + '\n');
      });
    },
    command: (key, args) => probe.request('command', { key, args }),
    // Resolves with the first event (from index `from`) that satisfies pred.
    waitEvent(pred, { from = 0, timeoutMs = 10000, what = 'event' } = {}) {
      return new Promise((resolve, reject) => {
        let index = from;
        const check = () => {
          for (; index < events.length; index++) {
            if (pred(events[index])) { cleanup(); resolve(events[index]); return true; }
          }
          return false;
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${what} in ${timeoutMs} ms; stderr: ${stderr}`)); }, timeoutMs);
        const cleanup = () => { clearTimeout(timer); watchers.delete(check); };
        if (!check()) watchers.add(check);
      });
    },
    async quit() {
      const exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
      await probe.request('quit');
      return exited;
    },
  };
  return probe;
}

const slotOf = async (cluster, key) => Number(await cluster.nodes.find((n) => n.alive).cli('CLUSTER', 'KEYSLOT', key));

test('the cluster router against a real six-node Redis Cluster', { skip: !PROBE && 'RTHUB_CLUSTER_PROBE not set' }, async (t) => {
  const cluster = await redisClusterFor(t);
  const probe = startProbe(t, cluster.seeds);
  // The map comes from one CLUSTER SLOTS round trip; 10 s allows for a busy machine.
  await probe.waitEvent((e) => e.event === 'ready', { timeoutMs: 10000, what: 'ready' });

  await t.test('key slots are those CLUSTER KEYSLOT answers', async () => {
    const keys = ['', 'a', 'foo', '{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'ümlaut', '日本語', '{', '}{'];
    for (let i = 0; i < 300; i++) keys.push(`k${i}:${Math.random().toString(36).slice(2)}`, `rthub:{ch${i}}:s`);
    const seed = cluster.nodes[0].address;
    for (const key of keys) {
      const [mine, theirs] = await Promise.all([
        probe.request('slot', { key }),
        probe.request('command_at', { node: seed, args: ['CLUSTER', 'KEYSLOT', key] }),
      ]);
      assert.equal(theirs.status, 'reply', JSON.stringify(theirs));
      assert.equal(mine.slot, theirs.value, `slot of ${JSON.stringify(key)}`);
    }
  });

  await t.test('CLUSTER SLOTS and CLUSTER SHARDS of every node give the same map', async () => {
    for (const node of cluster.nodes) {
      const res = await probe.request('maps_agree', { node: node.address });
      assert.equal(res.error, '', `${node.address}: ${res.error}`);
      assert.equal(res.covered, 16384);
      assert.ok(res.agree, `${node.address}: the two replies name the same masters`);
    }
  });

  await t.test('commands go to the master that owns the key, with no redirection', async () => {
    const before = await probe.request('stats');
    for (let i = 0; i < 60; i++) {
      const key = `route:${i}`;
      const res = await probe.command(key, ['SET', key, `v${i}`]);
      assert.equal(res.status, 'reply', JSON.stringify(res));
      assert.equal(res.value, 'OK');
      const owner = await cluster.ownerOf(await slotOf(cluster, key));
      assert.equal(res.node, `127.0.0.1:${owner.port}`, `${key} answered by its master`);
      if (i % 20 === 0) assert.equal(await cluster.node(owner.port).cli('GET', key), `v${i}`);  // stored there
    }
    const after = await probe.request('stats');
    assert.equal(after.moved, before.moved, 'no MOVED while the map is right');
    // Bad input gets a clear answer: a Redis error, or a refusal before anything is sent.
    const unknown = await probe.command('k', ['NO-SUCH-COMMAND', 'k']);
    assert.equal(unknown.status, 'reply');
    assert.equal(unknown.type, 'error');
    assert.match(unknown.value, /unknown command/i);
    const empty = await probe.command('k', []);
    assert.equal(empty.status, 'invalid');
  });

  await t.test('a command sent to a wrong node follows MOVED to the owner', async () => {
    const key = 'moved:probe';
    const owner = await cluster.ownerOf(await slotOf(cluster, key));
    const other = (await cluster.topology()).find((n) => n.flags.includes('master') && n.port !== owner.port);
    const before = await probe.request('stats');
    const res = await probe.request('command_at', { node: `127.0.0.1:${other.port}`, args: ['SET', key, 'x'] });
    assert.equal(res.status, 'reply', JSON.stringify(res));
    assert.equal(res.value, 'OK');
    assert.equal(res.node, `127.0.0.1:${owner.port}`);
    assert.equal((await probe.request('stats')).moved, before.moved + 1);
  });

  await t.test('SPUBLISH reaches an SSUBSCRIBE on the owning shard', async () => {
    const channels = ['news', 'chat.room-1', 'orders', 'alerts', 'x'];
    const from = probe.events.length;
    for (const channel of channels) await probe.request('ssubscribe', { channel });
    for (const channel of channels) {
      await probe.waitEvent((e) => e.event === 'active' && e.channel === channel && e.active, { from, what: `active ${channel}` });
    }
    const owners = new Set();
    for (const channel of channels) {
      const res = await probe.command(channel, ['SPUBLISH', channel, `hello ${channel}`]);
      assert.equal(res.status, 'reply', JSON.stringify(res));
      assert.equal(res.value, 1, `${channel}: one subscriber on its shard`);
      owners.add(res.node);
      await probe.waitEvent((e) => e.event === 'message' && e.channel === channel && e.payload === `hello ${channel}`,
        { from, timeoutMs: 5000, what: `message on ${channel}` });
    }
    assert.ok(owners.size >= 2, 'the channels span several shards');
    // From outside the router too: redis-cli straight to the owner.
    const owner = await cluster.ownerOf(await slotOf(cluster, 'news'));
    assert.equal(await cluster.node(owner.port).cli('SPUBLISH', 'news', 'from redis-cli'), '1');
    await probe.waitEvent((e) => e.event === 'message' && e.channel === 'news' && e.payload === 'from redis-cli', { from });
    // After SUNSUBSCRIBE nothing arrives: the publish counts no subscriber.
    await probe.request('sunsubscribe', { channel: 'x' });
    await waitFor(async () => (await probe.command('x', ['SPUBLISH', 'x', 'late'])).value === 0,
      { timeoutMs: 5000, what: 'x unsubscribed' });
  });

  await t.test('a resharded slot: ASK while migrating, MOVED after, subscriber follows', async () => {
    const slot = await slotOf(cluster, '{mig}');
    const source = await cluster.ownerOf(slot);
    const target = (await cluster.topology()).find((n) => n.flags.includes('master') && n.port !== source.port);
    const src = cluster.node(source.port);
    const dst = cluster.node(target.port);

    assert.equal((await probe.command('{mig}a', ['SET', '{mig}a', 'before'])).value, 'OK');
    let from = probe.events.length;
    await probe.request('ssubscribe', { channel: '{mig}news' });
    await probe.waitEvent((e) => e.event === 'active' && e.channel === '{mig}news' && e.active, { from });

    await dst.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
    await src.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
    // A key the source does not hold, in a migrating slot: the source answers ASK.
    let stats = await probe.request('stats');
    const asked = await probe.command('{mig}b', ['SET', '{mig}b', 'new']);
    assert.equal(asked.status, 'reply', JSON.stringify(asked));
    assert.equal(asked.value, 'OK');
    assert.equal(asked.node, dst.address, 'ASK followed to the importing node');
    assert.equal((await probe.request('stats')).asked, stats.asked + 1);

    assert.equal(await src.cli('MIGRATE', '127.0.0.1', String(dst.port), '', '0', '5000', 'KEYS', '{mig}a'), 'OK');
    from = probe.events.length;
    for (const n of [dst, src]) await n.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
    for (const m of (await cluster.topology()).filter((n) => n.flags.includes('master'))) {
      if (m.port !== source.port && m.port !== target.port) await cluster.node(m.port).cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
    }

    stats = await probe.request('stats');
    const moved = await probe.command('{mig}a', ['GET', '{mig}a']);
    assert.equal(moved.status, 'reply', JSON.stringify(moved));
    assert.equal(moved.value, 'before');
    assert.equal(moved.node, dst.address);
    // Either this GET met the MOVED, or a rediscovery already had the new owner.
    const owner = await waitFor(async () => {
      const o = await probe.request('owner', { key: '{mig}a' });
      return o.node === dst.address && o;
    }, { timeoutMs: 5000, what: 'the map to show the new owner' });
    assert.equal(owner.node, dst.address);

    // The source dropped the shard subscription when its slot left; the subscriber is back on
    // the new owner.
    await probe.waitEvent((e) => e.event === 'active' && e.channel === '{mig}news' && e.active, { from, timeoutMs: 10000, what: 'resubscribed' });
    const pub = await probe.command('{mig}news', ['SPUBLISH', '{mig}news', 'after the move']);
    assert.equal(pub.node, dst.address);
    assert.equal(pub.value, 1);
    await probe.waitEvent((e) => e.event === 'message' && e.payload === 'after the move', { from });
  });

  // A master stops (SIGKILL: dead; SIGSTOP: frozen) while an INCR loop runs on one of its keys;
  // its replica is promoted and the router and subscriber recover on it.
  const failover = async (prefix, signal, failureBoundMs, recoveryExtraMs) => {
    await cluster.waitHealthy(30000);
    // A hash tag whose master still has a live replica (an earlier failover left one shard
    // without any).
    let tag;
    let master;
    let replica;
    for (let i = 0; !replica; i++) {
      assert.ok(i < 100, 'no shard with a live replica');
      tag = `${prefix}${i}`;
      master = await cluster.ownerOf(await slotOf(cluster, tag));
      replica = (await cluster.topology()).find((n) => n.master === master.id
        && !n.flags.some((f) => f.startsWith('fail')) && cluster.node(n.port)?.alive);
    }
    const key = `{${tag}}counter`;
    let from = probe.events.length;
    await probe.request('ssubscribe', { channel: `{${tag}}news` });
    await probe.waitEvent((e) => e.event === 'active' && e.channel === `{${tag}}news` && e.active, { from });
    const replicaNode = cluster.node(replica.port);
    assert.equal((await probe.command(key, ['SET', key, '0'])).value, 'OK');

    // A publisher that never stops: one INCR after the other, each result timed.
    const results = [];
    let running = true;
    const publisher = (async () => {
      while (running) {
        const started = Date.now();
        const res = await probe.command(key, ['INCR', key]);
        results.push({ started, ms: Date.now() - started, res });
        if (res.status !== 'reply') await sleep(20);
      }
    })();
    await sleep(300);
    from = probe.events.length;
    const killedAt = Date.now();
    await cluster.node(master.port).signal(signal);

    // The cluster's promise: the replica is a master within failoverBoundMs().
    const bound = failoverBoundMs(cluster.nodeTimeoutMs);
    await waitFor(async () => /role:master/.test(await replicaNode.cli('INFO', 'replication').catch(() => '')),
      { timeoutMs: bound, intervalMs: 50, what: 'the replica promoted' });
    const promotedAt = Date.now();

    // The router's promise: within one failover poll (plus a connect timeout spent on the dead
    // node, plus a second poll for nodes whose gossip lags) of the promotion, commands succeed
    // again on the new master. 2 s of slack for the busy machine.
    const recoveryBound = 2 * ROUTER_POLL_MS + CONNECT_TIMEOUT_MS + 2000 + recoveryExtraMs;
    await waitFor(() => results.some((r) => r.started >= promotedAt && r.res.status === 'reply' && r.res.node === replicaNode.address),
      { timeoutMs: recoveryBound, intervalMs: 20, what: 'an INCR answered by the promoted replica' });
    running = false;
    await publisher;

    // Every command answered after the stop: the one in flight at that moment included (a busy
    // machine may let the promotion land during its reply timeout, so that it is the only failure).
    const during = results.filter((r) => r.started + r.ms >= killedAt);
    const failures = during.filter((r) => r.res.status !== 'reply');
    const timeline = () => during.map((r) => `+${r.started - killedAt}ms ${r.ms}ms ${r.res.status} ${r.res.node} ${r.res.error ?? ''}`)
      .join('\n') + `\nkilled ${master.port}, replica ${replica.port}, promoted +${promotedAt - killedAt}ms`;
    assert.ok(failures.length > 0, 'commands failed while no master served the slot');
    for (const f of failures) {
      assert.equal(f.res.status, 'unavailable', JSON.stringify(f.res));
      // Failing loudly and soon: a lost connection at once, a dead node after the connect timeout.
      assert.ok(f.ms <= failureBoundMs, `a failure took ${f.ms} ms: ${JSON.stringify(f.res)}\n${timeline()}`);
    }
    const replies = during.filter((r) => r.res.status === 'reply');
    assert.ok(replies.every((r) => r.res.type === 'integer'), JSON.stringify(replies.find((r) => r.res.type !== 'integer')));
    const firstOk = replies.find((r) => r.res.node === replicaNode.address);
    t.diagnostic(`${signal}: stop -> promotion ${promotedAt - killedAt} ms; stop -> first INCR on the new master ` +
      `${firstOk.started + firstOk.ms - killedAt} ms; ${failures.length} failed INCRs meanwhile`);

    // The sharded subscriber moved to the new master too.
    await probe.waitEvent((e) => e.event === 'active' && e.channel === `{${tag}}news` && e.active, { from, timeoutMs: recoveryBound, what: 'resubscribed after failover' });
    const pub = await probe.command(`{${tag}}news`, ['SPUBLISH', `{${tag}}news`, 'after failover']);
    assert.equal(pub.node, replicaNode.address);
    assert.equal(pub.value, 1);
    await probe.waitEvent((e) => e.event === 'message' && e.payload === 'after failover', { from });
  };

  await t.test('a master killed: its replica is promoted and the router recovers', async () => {
    // A dead node fails a command at once (reset, then refused connects): within the connect
    // timeout, plus 1 s for the busy machine.
    await failover('fo', 'SIGKILL', CONNECT_TIMEOUT_MS + 1000, 0);
  });

  await t.test('a master frozen: the router gives up on it and recovers on the promoted replica', async () => {
    // A frozen node accepts connections (the kernel does) and answers nothing: a command fails
    // after the router's reply timeout (RouterOptions::reply_timeout_ms, 3 s), checked every
    // 50 ms, plus 1 s for the busy machine.
    // Recovery may also wait out one reply timeout: an INCR, or a discovery, that went to the
    // frozen node just before the promotion.
    await failover('fz', 'SIGSTOP', REPLY_TIMEOUT_MS + 50 + 1000, REPLY_TIMEOUT_MS);
  });

  await t.test('the probe stops cleanly', async () => {
    assert.equal(await probe.quit(), 0);
  });
});
