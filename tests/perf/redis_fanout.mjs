// Redis fan-out cost with several hub nodes (docs/BENCHMARKS.md "Redis routing"):
// N nodes on one redis-server, C channels whose single subscriber sits on one node each
// (channel i on node i % N), M messages published through node 0 at a steady rate. Prints
// Redis' output and input bytes per published message, each node's inbound messages/s
// (rthub_broker_messages_in_total) and Redis commands per message.
//
//   node tests/perf/redis_fanout.mjs [--server build/bin/rthub-server] [--nodes 4]
//        [--channels 1000] [--messages 5000] [--rate 1000] [--payload 100]
//
// Needs redis-server and the test dependencies (cd tests && npm ci). Everything it starts
// stops when it ends.

import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => {
  if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1]]);
  return pairs;
}, []));
const SERVER = args.server || process.env.RTHUB_SERVER || 'build/bin/rthub-server';
const NODES = Number(args.nodes || 4);
const CHANNELS = Number(args.channels || 1000);
const MESSAGES = Number(args.messages || 5000);
const RATE = Number(args.rate || 1000);
const PAYLOAD = Number(args.payload || 100);

const children = [];
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const cli = (port, ...a) => execFileSync('redis-cli', ['-p', String(port), ...a], { encoding: 'utf8' }).trim();

function get(port, p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function post(port, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/publish', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`publish: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function metric(port, name) {
  const { body } = await get(port, '/metrics');
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(body);
  return m ? Number(m[1]) : 0;
}

function info(port) {
  const text = cli(port, 'INFO', 'all');
  const num = (k) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(text)[1]);
  let calls = 0;
  for (const m of text.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(m[1]);
  const evalsha = /^cmdstat_evalsha:calls=(\d+)/m.exec(text);
  const evalCalls = /^cmdstat_eval:calls=(\d+)/m.exec(text);
  return { out: num('total_net_output_bytes'), in: num('total_net_input_bytes'), calls,
    scripts: (evalsha ? Number(evalsha[1]) : 0) + (evalCalls ? Number(evalCalls[1]) : 0) };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rthub-fanout-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const redisPort = await freePort();
children.push(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
  '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
for (let i = 0; i < 100; i++) { try { if (cli(redisPort, 'PING') === 'PONG') break; } catch { /* not yet */ } await sleep(50); }

const ports = [];
for (let i = 0; i < NODES; i++) {
  const port = await freePort();
  children.push(spawn(SERVER, ['--listen', `127.0.0.1:${port}`, '--redis', `redis://127.0.0.1:${redisPort}`,
    '--allow-client-publish'], { stdio: 'ignore' }));
  ports.push(port);
}
for (const port of ports) {
  for (;;) { try { if ((await get(port, '/healthz')).status === 200) break; } catch { /* starting */ } await sleep(100); }
}

// One connection per node, subscribed to that node's channels.
const received = new Array(NODES).fill(0);
const sockets = [];
for (let i = 0; i < NODES; i++) {
  const ws = new WebSocket(`ws://127.0.0.1:${ports[i]}/ws`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let subscribed = 0;
  const mine = [];
  for (let c = i; c < CHANNELS; c += NODES) mine.push(`fan.${c}`);
  const allSubscribed = new Promise((resolve) => {
    ws.on('message', (raw) => {
      const f = JSON.parse(raw);
      if (f.op === 'subscribed' && ++subscribed === mine.length) resolve();
      else if (f.op === 'message') received[i]++;
    });
  });
  for (const channel of mine) ws.send(JSON.stringify({ op: 'subscribe', channel }));
  await allSubscribed;
  sockets.push(ws);
}
await sleep(1000);  // subscriptions settle in Redis

const data = { pad: 'x'.repeat(Math.max(0, PAYLOAD - 'message'.length - '{"pad":""}'.length)) };
const before = info(redisPort);
const inBefore = await Promise.all(ports.map((p) => metric(p, 'rthub_broker_messages_in_total')));
const started = Date.now();
const batch = 50;
for (let sent = 0; sent < MESSAGES; sent += batch) {
  const items = [];
  for (let k = sent; k < Math.min(MESSAGES, sent + batch); k++) items.push({ channel: `fan.${k % CHANNELS}`, data });
  await post(ports[0], items);
  const due = started + ((sent + batch) * 1000) / RATE;
  if (due > Date.now()) await sleep(due - Date.now());
}
const seconds = (Date.now() - started) / 1000;
for (let waited = 0; received.reduce((a, b) => a + b, 0) < MESSAGES && waited < 30000; waited += 100) await sleep(100);
const after = info(redisPort);
const inAfter = await Promise.all(ports.map((p) => metric(p, 'rthub_broker_messages_in_total')));

const per = (x) => (x / MESSAGES).toFixed(1);
console.log(`server: ${SERVER}`);
console.log(`${NODES} nodes, ${CHANNELS} channels (one subscriber each, channel i on node i % ${NODES}), ` +
  `${MESSAGES} messages of ${PAYLOAD} bytes (type + data) through node 0 in ${seconds.toFixed(1)} s ` +
  `(${(MESSAGES / seconds).toFixed(0)} msg/s)`);
console.log(`delivered: ${received.reduce((a, b) => a + b, 0)} of ${MESSAGES}`);
console.log(`redis output bytes per message: ${per(after.out - before.out)}`);
console.log(`redis input bytes per message: ${per(after.in - before.in)}`);
console.log(`redis commands per message (scripts' inner commands included): ${per(after.calls - before.calls)}; ` +
  `script calls (round trips) per message: ${per(after.scripts - before.scripts)}`);
ports.forEach((_, i) => console.log(`node ${i}: ${((inAfter[i] - inBefore[i]) / seconds).toFixed(0)} inbound msg/s ` +
  `(${inAfter[i] - inBefore[i]} messages)`));
for (const ws of sockets) ws.terminate();
agent.destroy();
process.exit(0);
