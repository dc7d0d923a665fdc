// Presence on one node (docs/PROTOCOL.md "Presence"): every subscriber of a channel is a member
// ({"id": connection id, "user": token sub or null}); a subscribe with "presence":true also gets
// the channel's join and leave events; {"op":"presence"} and GET /presence list the members,
// with the rights of subscribing. With --shards > 1 the shards share one member list (the shared
// memory broker); with --redis it is refused (unsupported) for now.
//
// Waits are for events: each bound is a generous timeout for one answer of a local hub.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, wsFor, sseFor, httpGet } from './lib/server.mjs';
import { signJwt } from './lib/jwt.mjs';

const ANSWER_MS = 10000; // one answer of a local hub, loaded machine
const SECRET = 'presence-test-secret';
const token = (claims) => signJwt(claims, SECRET);

test('join and leave events, the presence op and GET /presence, with the token\'s sub as user', async (t) => {
  const node = await serverFor(t, ['--jwt-secret', SECRET]);
  const channel = 'map';
  const watcher = await wsFor(t, `${node.wsUrl}?token=${token({ sub: 'alice', channels: '*' })}`, { label: 'alice' });
  const alone = await watcher.request({ op: 'subscribe', channel, presence: true });
  assert.equal(alone.op, 'subscribed');
  const first = await watcher.request({ op: 'presence', channel });
  assert.equal(first.op, 'presence', JSON.stringify(first));
  assert.equal(first.clients.length, 1);
  assert.equal(first.clients[0].user, 'alice');
  const aliceId = first.clients[0].id;
  assert.equal(typeof aliceId, 'number');

  // Bob joins over WebSocket, Carol over SSE: alice hears both, by id and user.
  const bob = await wsFor(t, `${node.wsUrl}?token=${token({ sub: 'bob', channels: ['map'] })}`, { label: 'bob' });
  await bob.request({ op: 'subscribe', channel });
  const bobJoin = await watcher.next({ op: 'join', channel }, ANSWER_MS);
  assert.equal(bobJoin.client.user, 'bob');
  const carol = await sseFor(t, `${node.url}/events?channel=${channel}&token=${token({ sub: 'carol', channels: '*' })}`, { label: 'carol' });
  const carolJoin = await watcher.next({ op: 'join', channel }, ANSWER_MS);
  assert.equal(carolJoin.client.user, 'carol');

  const listed = await httpGet(node.port, `/presence?channel=${channel}&token=${token({ sub: 'dave', channels: '*' })}`);
  assert.equal(listed.status, 200, listed.body);
  assert.equal(listed.json.channel, channel);
  assert.deepEqual(listed.json.clients.map((c) => c.user), ['alice', 'bob', 'carol'], 'by connection id');
  assert.deepEqual(listed.json.clients.map((c) => c.id), [aliceId, bobJoin.client.id, carolJoin.client.id]);
  // Bob did not ask for presence: no events for him.
  await bob.none({ op: 'join' }, 200);

  // Leaving: an unsubscribe and a closed stream.
  await bob.request({ op: 'unsubscribe', channel });
  assert.deepEqual((await watcher.next({ op: 'leave', channel }, ANSWER_MS)).client, bobJoin.client);
  carol.close();
  assert.deepEqual((await watcher.next({ op: 'leave', channel }, ANSWER_MS)).client, carolJoin.client);
  const after = await watcher.request({ op: 'presence', channel });
  assert.deepEqual(after.clients.map((c) => c.user), ['alice']);

  // Rights: the same as subscribing.
  const limited = `${token({ sub: 'eve', channels: ['other'] })}`;
  const refused = await httpGet(node.port, `/presence?channel=${channel}&token=${limited}`);
  assert.equal(refused.status, 403, refused.body);
  assert.equal((await httpGet(node.port, `/presence?channel=${channel}`)).status, 401, 'no token');
  const eve = await wsFor(t, `${node.wsUrl}?token=${limited}`, { label: 'eve' });
  const denied = await eve.request({ op: 'presence', channel });
  assert.deepEqual([denied.op, denied.code], ['error', 'forbidden']);
  assert.equal((await httpGet(node.port, '/presence')).status, 400, 'no channel');
});

test('anonymous members have user null', async (t) => {
  const node = await serverFor(t, []);
  const a = await wsFor(t, node.wsUrl, { label: 'anon' });
  await a.request({ op: 'subscribe', channel: 'room', presence: true });
  const listed = await httpGet(node.port, '/presence?channel=room');
  assert.equal(listed.status, 200, listed.body);
  assert.deepEqual(listed.json.clients.map((c) => c.user), [null]);
  const empty = await httpGet(node.port, '/presence?channel=nobody.here');
  assert.deepEqual(empty.json, { channel: 'nobody.here', clients: [] });
  const bad = await a.request({ op: 'subscribe', channel: 'room2', presence: 'yes' });
  assert.deepEqual([bad.op, bad.code], ['error', 'bad_request']);
});

test('--shards 2: one member list for both service threads, joins and leaves across them', async (t) => {
  const node = await serverFor(t, ['--shards', '2']);
  const channel = 'room';
  const watcher = await wsFor(t, node.wsUrl, { label: 'watcher' });
  assert.equal((await watcher.request({ op: 'subscribe', channel, presence: true })).op, 'subscribed');
  const watcherId = (await watcher.request({ op: 'presence', channel })).clients[0].id;
  // Shard i numbers its connections i+1, i+1+2, ... (ids unique in the hub): the parity of an id
  // tells the shard. The kernel spreads connections over the two listeners (SO_REUSEPORT) by
  // their source port; twenty connections all on the watcher's shard would take 2^-20 luck.
  const members = [];
  let other = null;
  for (let i = 0; i < 20 && !other; i++) {
    const ws = await wsFor(t, node.wsUrl, { label: `member${i}` });
    assert.equal((await ws.request({ op: 'subscribe', channel, presence: true })).op, 'subscribed');
    const join = await watcher.next({ op: 'join', channel }, ANSWER_MS);
    members.push(join.client);
    if (join.client.id % 2 !== watcherId % 2) other = { ws, client: join.client };
  }
  assert.ok(other, 'a member on the other shard');
  const ids = [watcherId, ...members.map((c) => c.id)];
  assert.equal(new Set(ids).size, ids.length, 'connection ids unique across shards');

  // Both shards answer the whole list, by id: over HTTP and to the other shard's member.
  const sorted = [...ids].sort((a, b) => a - b);
  const listed = await httpGet(node.port, `/presence?channel=${channel}`);
  assert.equal(listed.status, 200, listed.body);
  assert.deepEqual(listed.json.clients.map((c) => c.id), sorted);
  const asked = await other.ws.request({ op: 'presence', channel });
  assert.deepEqual(asked.clients.map((c) => c.id), sorted);

  // A newcomer's join reaches the other shard's presence subscriber too.
  const late = await wsFor(t, node.wsUrl, { label: 'late' });
  await late.request({ op: 'subscribe', channel });
  const lateJoin = await other.ws.next({ op: 'join', channel }, ANSWER_MS);
  assert.deepEqual((await watcher.next({ op: 'join', channel }, ANSWER_MS)).client, lateJoin.client);

  // The other shard's member leaves: the watcher hears it, and the list drops it.
  other.ws.close();
  assert.deepEqual((await watcher.next({ op: 'leave', channel }, ANSWER_MS)).client, other.client);
  const after = await httpGet(node.port, `/presence?channel=${channel}`);
  assert.ok(!after.json.clients.some((c) => c.id === other.client.id), after.body);
  assert.equal(after.json.clients.length, ids.length, 'the late member in, the leaver out');
});
