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

    await client.close();
    await client.close();
    expect(() => client.subscribe('more'), throwsA(isA<RthubException>()));
    hub.close();
    hub.close();
    expect(() => hub.start(), throwsA(isA<RthubException>()));
  });
}
