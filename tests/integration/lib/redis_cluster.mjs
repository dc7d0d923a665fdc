// A real Redis Cluster for the tests: six redis-server processes with --cluster-enabled yes on
// free loopback ports (each below 55536, since the cluster bus listens on port + 10000), each in
// its own temporary directory with no persistence, joined by `redis-cli --cluster create
// --cluster-replicas 1` into three masters with one replica each. Everything is stopped by the
// test that made it.
//
// cluster-node-timeout is short (NODE_TIMEOUT_MS) so that a failover happens within seconds; see
// failoverBoundMs() for what that promises.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { trackChild, run, tmpDir } from './extra.mjs';
import { REDIS_SERVER, REDIS_CLI, redisCli } from './redis.mjs';
import { sleep } from './server.mjs';

export const NODE_TIMEOUT_MS = 1000;

// How long Redis takes, at most, to promote a replica after its master dies (the cluster
// specification, "Replica election and promotion"): the master is PFAIL after node-timeout,
// FAIL once a majority of masters reported it (they ping every node at least each node-timeout/2,
// so within another node-timeout), then the replica waits 500 ms + up to 500 ms random + 1 s per
// rank (rank 0: one replica per master), asks for votes and wins within 2 x node-timeout. That
// is 4 x node-timeout + 1 s; the test machine is busy (six servers on two shared cores), so the
// bound doubles it.
export function failoverBoundMs(nodeTimeoutMs = NODE_TIMEOUT_MS) {
  return 2 * (4 * nodeTimeoutMs + 1000);
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// A port P in [20000, 45535] with P and P + 10000 (its cluster bus) free a moment ago. Random
// rather than kernel-chosen: ephemeral ports may lie above 55535.
async function freeClusterPort(taken) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 25536);
    if (taken.has(port) || taken.has(port + 10000) || taken.has(port - 10000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10000))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port pair (port, port + 10000) found below 55536');
}

function launch(port, dir, nodeTimeoutMs) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
    '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'),
    '--cluster-node-timeout', String(nodeTimeoutMs),
    // A replica may always take over, however stale its data: the tests kill masters on purpose.
    '--cluster-replica-validity-factor', '0',
    '--save', '', '--appendonly', 'no', '--dir', dir];
  const proc = trackChild(spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  const keep = (t) => { output += t; if (output.length > 32768) output = output.slice(-32768); };
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  return { proc, exited, output: () => output };
}

async function waitPing(port, instance, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (instance.proc.exitCode !== null || instance.proc.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited before it was ready; output:\n${instance.output()}`);
    }
    const res = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), 'PING'], { timeoutMs: 2000 }).catch(() => null);
    if (res && res.stdout.trim() === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} not ready in ${timeoutMs} ms:\n${instance.output()}`);
    await sleep(50);
  }
}

// Parses CLUSTER NODES: [{id, port, flags, master (its master's id or '-'), slots: [[first, last]]}].
// Slots under migration ("[5-<-id]") are not ranges and are left out.
export function parseClusterNodes(text) {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const f = line.trim().split(' ');
    const port = Number(/:(\d+)@/.exec(f[1])[1]);
    const slots = f.slice(8).filter((s) => !s.startsWith('[')).map((s) => {
      const [a, b] = s.split('-').map(Number);
      return [a, b === undefined ? a : b];
    });
    return { id: f[0], port, flags: f[2].split(','), master: f[3], linkState: f[7], slots };
  });
}

// Starts the cluster and registers its shutdown with t. Returns:
//   nodes: [{port, cli(...args), kill(signal), alive}], seeds: "127.0.0.1:P,127.0.0.1:Q",
//   topology(port?): CLUSTER NODES as parsed, asked of a live node (or of port),
//   ownerOf(slot, port?): the master node entry serving slot,
//   waitHealthy(timeoutMs): every live node sees cluster_state:ok, all slots, and every replica
//   has master_link_status:up.
export async function redisClusterFor(t, { nodeTimeoutMs = NODE_TIMEOUT_MS, count = 6 } = {}) {
  const root = tmpDir(t, 'rthub-cluster-');
  const taken = new Set();
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const port = await freeClusterPort(taken);
    const dir = path.join(root, String(port));
    fs.mkdirSync(dir);
    const instance = launch(port, dir, nodeTimeoutMs);
    const node = {
      port,
      address: `127.0.0.1:${port}`,
      instance,
      get alive() { return instance.proc.exitCode === null && instance.proc.signalCode === null; },
      get pid() { return instance.proc.pid; },
      cli: (...args) => redisCli(port, ...args),
      output: () => instance.output(),
      async kill(signal = 'SIGKILL') {
        if (node.alive) instance.proc.kill(signal);
        return instance.exited;
      },
      // Sends signal without waiting for an exit: SIGSTOP freezes the node, SIGKILL ends it.
      async signal(signal) {
        if (signal === 'SIGKILL') return node.kill(signal);
        if (node.alive) instance.proc.kill(signal);
        if (signal === 'SIGSTOP') node.frozen = true;
        if (signal === 'SIGCONT') node.frozen = false;
        return null;
      },
      frozen: false,
    };
    nodes.push(node);
  }
  t.after(async () => { await Promise.all(nodes.map((n) => n.kill('SIGKILL'))); });
  await Promise.all(nodes.map((n) => waitPing(n.port, n.instance, 10000)));

  const create = await run(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => n.address),
    '--cluster-replicas', '1', '--cluster-yes'], { timeoutMs: 60000 });
  if (create.code !== 0) throw new Error(`redis-cli --cluster create exited ${create.code}:\n${create.stdout}\n${create.stderr}`);

  const live = () => nodes.filter((n) => n.alive && !n.frozen);
  const cluster = {
    nodes,
    nodeTimeoutMs,
    seeds: nodes.slice(0, 2).map((n) => n.address).join(','),
    node: (port) => nodes.find((n) => n.port === port),
    async topology(port) {
      const asked = port ?? live()[0].port;
      return parseClusterNodes(await redisCli(asked, 'CLUSTER', 'NODES'));
    },
    async ownerOf(slot, port) {
      const topo = await cluster.topology(port);
      return topo.find((n) => n.flags.includes('master') && !n.flags.includes('fail')
        && n.slots.some(([a, b]) => slot >= a && slot <= b));
    },
    async waitHealthy(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let why = '';
      for (;;) {
        why = await cluster.unhealthy();
        if (!why) return;
        if (Date.now() > deadline) throw new Error(`cluster not healthy in ${timeoutMs} ms: ${why}`);
        await sleep(100);
      }
    },
    // '' when healthy, else the first thing that is not.
    async unhealthy() {
      for (const n of live()) {
        const info = await n.cli('CLUSTER', 'INFO').catch((e) => `error ${e.message}`);
        if (!/cluster_state:ok/.test(info)) return `${n.address}: not cluster_state:ok`;
        if (!/cluster_slots_ok:16384/.test(info)) return `${n.address}: not all slots ok`;
        const repl = await n.cli('INFO', 'replication').catch((e) => `error ${e.message}`);
        if (/role:slave/.test(repl) && !/master_link_status:up/.test(repl)) return `${n.address}: replica link not up`;
      }
      return '';
    },
  };
  // `--cluster create` returns once the slots are assigned; the nodes agree, and replicas finish
  // their first sync, a little later. 30 s: a full sync of an empty data set on a busy machine.
  await cluster.waitHealthy(30000);
  return cluster;
}
