// A real PostgreSQL (Debian's postgresql package) for the history-store tests: its own cluster,
// made by initdb in a temporary directory, on a free loopback port. PostgreSQL refuses to run as
// root, so when the tests run as root the cluster belongs to the unprivileged `postgres` user
// (runuser). Stopped and removed after the test.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, run } from './extra.mjs';

const BIN = process.env.RTHUB_PG_BIN || (() => {
  for (const v of ['17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (fs.existsSync(path.join(dir, 'initdb'))) return dir;
  }
  return '/usr/lib/postgresql/15/bin';
})();

const asRoot = process.getuid && process.getuid() === 0;

// Runs a PostgreSQL program as the cluster's owner.
function pgRun(program, args, options = {}) {
  const bin = path.join(BIN, program);
  return asRoot ? run('runuser', ['-u', 'postgres', '--', bin, ...args], options) : run(bin, args, options);
}

// Whether this machine can run the PostgreSQL tests (initdb present).
export function postgresAvailable() {
  return fs.existsSync(path.join(BIN, 'initdb')) && fs.existsSync(path.join(BIN, 'pg_ctl'));
}

// Starts a cluster and registers its teardown with the test context. Returns {port, conninfo,
// sql(text) -> rows of text columns, stop(), start()}: stop() and start() take it away and bring
// it back on the same port with its data (the outage tests).
export async function postgresFor(t) {
  // Outside /root (the postgres user must reach it) and owned by that user.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rthub-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  if (asRoot) await run('chown', ['postgres:postgres', dir]);
  const port = await freePort();
  const init = await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale'],
    { timeoutMs: 120000 });
  if (init.code !== 0) throw new Error(`initdb failed (${init.code}): ${init.stderr}${init.stdout}`);
  // Loopback TCP only, its socket in its own directory; no fsync: test data, speed over safety.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
  let running = false;
  const pg = {
    port,
    dir,
    conninfo: `host=127.0.0.1 port=${port} user=postgres dbname=postgres`,
    log: () => { try { return fs.readFileSync(log, 'utf8'); } catch { return ''; } },
    async start() {
      // -w: pg_ctl returns once the server accepts connections (or its own timeout, 60 s).
      const res = await pgRun('pg_ctl', ['-D', data, '-o', opts, '-l', log, '-w', '-t', '60', 'start'], { timeoutMs: 90000 });
      if (res.code !== 0) throw new Error(`pg_ctl start failed (${res.code}): ${res.stderr}${res.stdout}\n${pg.log()}`);
      running = true;
    },
    async stop() {
      if (!running) return;
      // fast: active connections are closed at once, as in an outage.
      const res = await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop'], { timeoutMs: 90000 });
      if (res.code !== 0) throw new Error(`pg_ctl stop failed (${res.code}): ${res.stderr}${res.stdout}`);
      running = false;
    },
    // Runs SQL with psql; resolves to rows, each an array of column texts.
    async sql(text) {
      const res = await run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres',
        '-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', text], { timeoutMs: 60000 });
      if (res.code !== 0) throw new Error(`psql ${text}: ${res.stderr}`);
      return res.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
    },
  };
  t.after(async () => {
    await pg.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await pg.start();
  return pg;
}
