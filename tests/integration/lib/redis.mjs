// A real redis-server (Debian's package) for the Redis-mode tests: on a free
// loopback port, in a temporary directory, with no persistence.

import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { trackChild, freePort, run, tmpDir, sleep } from './extra.mjs';
import { HANG_MS } from './server.mjs';

export const REDIS_SERVER = process.env.RTHUB_REDIS_SERVER || 'redis-server';
export const REDIS_CLI = process.env.RTHUB_REDIS_CLI || 'redis-cli';

// Runs `redis-cli -p PORT ...args`; resolves to its trimmed stdout.
export async function redisCli(port, ...args) {
  const res = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args]);
  if (res.code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res.stdout.trim();
}

function launch(port, dir, extraArgs = []) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--protected-mode', 'yes', ...extraArgs];
  const proc = trackChild(spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (t) => { output += t; if (output.length > 32768) output = output.slice(-32768); });
  proc.stderr.on('data', (t) => { output += t; });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  return { proc, exited, output: () => output };
}

async function waitReady(port, instance, timeoutMs = HANG_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (instance.proc.exitCode !== null || instance.proc.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited before it was ready; output:\n${instance.output()}`);
    }
    const res = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), 'PING'], { timeoutMs: 2000 }).catch(() => null);
    if (res && res.stdout.trim() === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} not ready in ${timeoutMs} ms; output:\n${instance.output()}`);
    await sleep(50);
  }
}

// Starts redis-server and registers its cleanup with the test context.
// Returns {port, url, cli(...args), kill(signal), start(), stop()}:
// kill() ends it (default SIGKILL) and start() starts it again on the same
// port (with no data: nothing is persisted). extraArgs go to redis-server (e.g. --replicaof).
export async function redisFor(t, extraArgs = []) {
  const dir = tmpDir(t, 'rthub-redis-');
  const port = await freePort();
  let instance = null;
  const redis = {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    cli: (...args) => redisCli(port, ...args),
    get pid() { return instance?.proc.pid; },
    output: () => instance?.output() ?? '',
    async start() {
      assert.equal(instance, null, 'redis-server is already running');
      instance = launch(port, dir, extraArgs);
      await waitReady(port, instance);
    },
    async kill(signal = 'SIGKILL') {
      if (!instance) return null;
      const { proc, exited } = instance;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const result = await exited;
      instance = null;
      return result;
    },
  };
  t.after(() => redis.kill('SIGKILL'));
  await redis.start();
  return redis;
}
