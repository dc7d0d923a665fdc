// Runs where a Dart SDK is installed (not on the rthub CI machines, whose check of these
// bindings is tool/check_bindings.py):
//   RTHUB_LIBRARY=$PWD/../../build/lib/librthub.so dart test
import 'dart:async';

import 'package:rthub/rthub.dart';
import 'package:test/test.dart';

void main() {
  test('an embedded hub serves a client that receives, publishes and closes', () async {
    final hub = RthubHub(const RthubHubOptions(port: 0, allowClientPublish: true));
    addTearDown(hub.close);
    hub.start();
    expect(hub.port, greaterThan(0));

    final client = RthubClient(RthubClientOptions(
        url: 'http://127.0.0.1:${hub.port}',
        channels: const ['geometry'],
        backoffBase: const Duration(milliseconds: 20)));
    final events = StreamIterator(client.events);
    Future<RthubEvent> next(RthubEventKind kind) async {
      while (await events.moveNext().timeout(const Duration(seconds: 10))) {
        if (events.current.kind == kind) return events.current;
      }
      throw StateError('events ended');
    }

    final subscribed = await next(RthubEventKind.subscribed);
    expect(subscribed.channel, 'geometry');
    expect(subscribed.recovered, isNull);

    final position = hub.publish('geometry', '{"id": 7}', type: 'geometry.updated');
    final message = await next(RthubEventKind.message);
    expect(message.position, position);
    expect(message.type, 'geometry.updated');
    expect(message.json, {'id': 7});

    final own = await client.publish('geometry', '[1, 2]');
    expect(own.seq, position.seq + 1);

    expect(() => hub.publish('bad channel!', '{}'),
        throwsA(isA<RthubException>().having((e) => e.code, 'code', RthubErrorCode.invalid)));
    expect(hub.stats().messagesPublished, 2);
    expect(hub.transportStats('poll').connections, 0);
    expect(() => hub.transportStats('carrier-pigeon'),
        throwsA(isA<RthubException>().having((e) => e.code, 'code', RthubErrorCode.invalid)));

    await client.close();
    await client.close();
    expect(() => client.subscribe('more'), throwsA(isA<RthubException>()));
    hub.close();
    hub.close();
    expect(() => hub.start(), throwsA(isA<RthubException>()));
  });

  test('the channel hook decides later, from a Future', () async {
    final asked = <String>[];
    final hub = RthubHub(RthubHubOptions(
        port: 0,
        onChannel: (request) async {
          asked.add(request.channel);
          await Future<void>.delayed(const Duration(milliseconds: 10));
          return request.channel != 'secret';
        }));
    addTearDown(hub.close);
    hub.start();
    final client = RthubClient(RthubClientOptions(url: 'http://127.0.0.1:${hub.port}', channels: const ['open']));
    addTearDown(client.close);
    final events = StreamIterator(client.events);
    Future<RthubEvent> next(bool Function(RthubEvent) wanted) async {
      while (await events.moveNext().timeout(const Duration(seconds: 10))) {
        if (wanted(events.current)) return events.current;
      }
      throw StateError('events ended');
    }

    expect((await next((e) => e.kind == RthubEventKind.subscribed)).channel, 'open');
    client.subscribe('secret');
    final refused = await next((e) => e.kind == RthubEventKind.error);
    expect(refused.code, 'forbidden');
    expect(asked, containsAll(['open', 'secret']));
  });

  test('events wait in the library while the app does not read, and none is lost', () async {
    final hub = RthubHub(const RthubHubOptions(port: 0));
    addTearDown(hub.close);
    hub.start();
    final client = RthubClient(
        RthubClientOptions(url: 'http://127.0.0.1:${hub.port}', channels: const ['flow'], maxPendingEvents: 20));
    addTearDown(client.close);
    final received = <int>[];
    final subscribed = Completer<void>();
    final all = Completer<void>();
    final subscription = client.events.listen((e) {
      if (e.kind == RthubEventKind.subscribed) subscribed.complete();
      if (e.kind == RthubEventKind.message) {
        received.add(e.position.seq);
        if (received.length == 300) all.complete();
      }
    });
    await subscribed.future.timeout(const Duration(seconds: 10));
    subscription.pause();
    for (var i = 0; i < 300; i++) {
      hub.publish('flow', '$i');
    }
    subscription.resume();
    await all.future.timeout(const Duration(seconds: 20));
    expect(received, [for (var seq = 1; seq <= 300; seq++) seq]);
    await subscription.cancel();
  });

  test('options of 0.2 and idempotency keys are checked by the library', () {
    expect(() => RthubHub(const RthubHubOptions(port: 0, redisCluster: ['redis'])),
        throwsA(isA<RthubException>().having((e) => e.detail, 'detail', contains('redis_cluster'))));
    expect(() => RthubHub(const RthubHubOptions(port: 0, persistPatterns: ['orders:*'])),
        throwsA(isA<RthubException>().having((e) => e.detail, 'detail', contains('postgres_conninfo'))));
    final hub = RthubHub(const RthubHubOptions(port: 0, historySize: 0, idempotencyWindow: Duration(minutes: 1)));
    addTearDown(hub.close);
    hub.start();
    expect(() => hub.publish('a', '1', idempotencyKey: 'k' * 129),
        throwsA(isA<RthubException>().having((e) => e.code, 'code', RthubErrorCode.invalid)));
    expect(hub.publish('a', '1', idempotencyKey: 'k' * 128).seq, 1);
  });
}
