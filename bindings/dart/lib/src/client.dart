import 'dart:async';
import 'dart:convert';
import 'dart:ffi';
import 'dart:isolate';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'bindings.dart';
import 'errors.dart';
import 'library.dart';
import 'position.dart';

/// Settings of an [RthubClient]; only [url] is required, null keeps the library's default.
class RthubClientOptions {
  const RthubClientOptions({
    required this.url,
    this.channels = const [],
    this.token,
    this.publishKey,
    this.sseOnly = false,
    this.snapshot = false,
    this.presence = false,
    this.pollOnly = false,
    this.sseSilence,
    this.backoffBase,
    this.backoffCap,
    this.maxAttempts,
    this.heartbeat,
    this.watchdog,
    this.handshakeTimeout,
    this.webSocketRetry,
    this.caFile,
    this.insecureSkipVerifyForTests = false,
    this.maxPendingEvents,
  });

  /// The hub's base URL: http(s)://host:port[/prefix].
  final String url;

  /// Channels subscribed from the start.
  final List<String> channels;

  /// Sent as "Authorization: Bearer" on /ws and /events.
  final String? token;
  final String? publishKey;
  final bool sseOnly;

  /// [channels] are subscribed with a snapshot / with presence (see [RthubClient.subscribe]).
  final bool snapshot, presence;
  /// HTTP long-polling (/poll) only: never WebSocket or SSE.
  final bool pollOnly;

  /// An event stream that brings nothing this long after it opened is left for long-polling.
  final Duration? sseSilence;

  /// Reconnect backoff: attempt n waits a random delay in [0, min(backoffCap, backoffBase * 2^n)].
  final Duration? backoffBase;
  final Duration? backoffCap;

  /// Consecutive failed attempts before giving up; null or 0: forever.
  final int? maxAttempts;
  final Duration? heartbeat;
  final Duration? watchdog;
  final Duration? handshakeTimeout;
  final Duration? webSocketRetry;
  final String? caFile;

  /// Accepts any server certificate. Tests only.
  final bool insecureSkipVerifyForTests;

  /// Past this many events waiting, the client stops reading from the hub until the app catches up.
  final int? maxPendingEvents;
}

/// What an [RthubEvent] reports; [unknown] for a kind a newer library adds ([RthubEvent.kindCode]
/// has its number).
/// snapshot: the keyed state of a channel subscribed with a snapshot ([RthubEvent.json] is the list
/// of the current message of every key, in seq order; it replaces the app's state); presence: the
/// members of a presence channel ([RthubEvent.json] a list of {id, user}); join, leave: a member
/// ([RthubEvent.json] its {id, user}).
enum RthubEventKind {
  message,
  subscribed,
  unsubscribed,
  reset,
  state,
  error,
  published,
  snapshot,
  presence,
  join,
  leave,
  unknown
}

/// A client's connection state; [unknown] for a state a newer library adds
/// ([RthubEvent.stateCode] has its number).
enum RthubClientState { connecting, connected, disconnected, fallback, closed, unknown }

/// How a client is connected; [unknown] for a transport a newer library adds.
enum RthubTransport { none, ws, sse, poll, unknown }

/// values[code], or the enum's last value (`unknown`) for a code this binding does not know.
T _known<T extends Enum>(List<T> values, int code) => code >= 0 && code < values.length - 1 ? values[code] : values.last;

/// One thing that happened to a client; [kind] says which fields apply.
class RthubEvent {
  RthubEvent._({
    required this.kind,
    required this.kindCode,
    required this.stateCode,
    required this.channel,
    required this.position,
    required this.type,
    required this.data,
    required this.timestamp,
    required this.recovered,
    required this.state,
    required this.transport,
    required this.reason,
    required this.attempt,
    required this.retryIn,
    required this.code,
    required this.message,
    required this.requestId,
    required this.key,
    required this.deleted,
    required this.count,
  });

  final RthubEventKind kind;

  /// The library's numbers of [kind] and [state], also when this binding does not know them.
  final int kindCode, stateCode;
  final String channel;

  /// message, subscribed (the hub's latest), reset (where the channel continues), published.
  final RthubPosition position;

  /// message: the message type, e.g. "geometry.updated".
  final String type;

  /// message: the publisher's JSON value, as UTF-8 bytes exactly as published.
  final Uint8List data;

  /// message: the hub's publish time.
  final DateTime timestamp;

  /// subscribed: true resumed, false could not resume (reload state), null no resume was asked.
  final bool? recovered;
  final RthubClientState state;
  final RthubTransport transport;
  final String reason;
  final int attempt;

  /// state disconnected: delay before the next attempt; null when none.
  final Duration? retryIn;
  final String code;
  final String message;
  final int requestId;

  /// message: a keyed message's key ("" when none), and whether it deletes the key.
  final String key;
  final bool deleted;

  /// snapshot: its items; presence: its members.
  final int count;

  /// The message's data decoded (jsonDecode of [data]).
  Object? get json => jsonDecode(utf8.decode(data));

  @override
  String toString() => switch (kind) {
        RthubEventKind.message => 'message $channel@$position $type ${utf8.decode(data)}',
        RthubEventKind.state => 'state ${state.name} ${transport.name} $reason',
        RthubEventKind.error => 'error $code: $message',
        RthubEventKind.unknown => 'event of unknown kind $kindCode',
        _ => '${kind.name} $channel@$position',
      };
}

/// A client's own counters.
class RthubClientCounters {
  RthubClientCounters._(rthub_client_counters c)
      : connects = c.connects,
        reconnects = c.reconnects,
        fallbacks = c.fallbacks,
        messages = c.messages,
        duplicatesDropped = c.duplicates_dropped,
        resets = c.resets,
        watchdogTimeouts = c.watchdog_timeouts,
        snapshots = c.snapshots;

  final int connects, reconnects, fallbacks, messages, duplicatesDropped, resets, watchdogTimeouts, snapshots;
}

/// The hub's refusal of a request (an error event), as [RthubClient.publish] throws it.
class RthubRequestException implements Exception {
  RthubRequestException(this.code, this.message);

  final String code;
  final String message;

  @override
  String toString() => 'RthubRequestException: $code: $message';
}

/// A reconnecting client of an rthub hub: WebSocket first, Server-Sent Events when WebSocket
/// cannot pass, backoff with jitter, a heartbeat watchdog and exact resume.
///
/// Events arrive in order on [events]. They are taken from the library by a helper isolate that
/// waits in rthub_client_next_event (the library's poll API): an event's memory is valid only
/// until the next call, which rules out NativeCallable.listener (its Dart side runs after the
/// native callback returned), and the helper keeps the app's isolate free.
///
/// Delivery is bounded: the helper takes an event from the library only against a credit, and
/// the client gives credits back as [events] delivers them. While the app does not listen, or
/// pauses its subscription, at most [_window] events wait in Dart; the rest wait in the library,
/// which stops reading from the hub past `maxPendingEvents`.
///
/// Owns its native handle: call [close]. While the client runs, its helper isolate keeps it
/// reachable; a client that was never started or has ended is freed by a NativeFinalizer.
final class RthubClient implements Finalizable {
  RthubClient._(this._handle) {
    _finalizer.attach(this, _handle.cast(), detach: this);
  }

  /// Creates a client and starts it: it connects in the background.
  factory RthubClient(RthubClientOptions options) {
    final b = rthubBindings;
    final client = using((arena) {
      final o = arena<rthub_client_options>();
      checkError(b.rthub_client_options_init(o, sizeOf<rthub_client_options>()), 'RthubClient');
      final r = o.ref;
      r.url = nativeString(options.url, arena);
      if (options.channels.isNotEmpty) {
        final list = arena<Pointer<Char>>(options.channels.length);
        for (var i = 0; i < options.channels.length; i++) {
          list[i] = nativeString(options.channels[i], arena);
        }
        r.channels = list;
        r.channel_count = options.channels.length;
      }
      if (options.token != null) r.token = nativeString(options.token!, arena);
      if (options.publishKey != null) r.publish_key = nativeString(options.publishKey!, arena);
      r.sse_only = options.sseOnly ? 1 : 0;
      r.poll_only = options.pollOnly ? 1 : 0;
      if (options.sseSilence != null) r.sse_silence_ms = options.sseSilence!.inMilliseconds;
      if (options.backoffBase != null) r.backoff_base_ms = options.backoffBase!.inMilliseconds;
      if (options.backoffCap != null) r.backoff_cap_ms = options.backoffCap!.inMilliseconds;
      if (options.maxAttempts != null) r.max_attempts = options.maxAttempts!;
      if (options.heartbeat != null) r.heartbeat_seconds = options.heartbeat!.inSeconds;
      if (options.watchdog != null) r.watchdog_ms = options.watchdog!.inMilliseconds;
      if (options.handshakeTimeout != null) r.handshake_timeout_ms = options.handshakeTimeout!.inMilliseconds;
      if (options.webSocketRetry != null) r.websocket_retry_ms = options.webSocketRetry!.inMilliseconds;
      if (options.caFile != null) r.ca_file = nativeString(options.caFile!, arena);
      r.insecure_skip_verify_for_tests = options.insecureSkipVerifyForTests ? 1 : 0;
      if (options.maxPendingEvents != null) r.max_pending_events = options.maxPendingEvents!;
      r.snapshot = options.snapshot ? 1 : 0;
      r.presence = options.presence ? 1 : 0;
      // on_event stays NULL: events are polled.
      final out = arena<Pointer<rthub_client>>();
      checkError(b.rthub_client_new(o, out), 'RthubClient');
      return RthubClient._(out.value);
    });
    try {
      checkError(b.rthub_client_start(client._handle), 'RthubClient.start');
    } catch (_) {
      _finalizer.detach(client);
      b.rthub_client_free(client._handle);
      client._handle = nullptr;
      rethrow;
    }
    client._startPolling();
    return client;
  }

  static final _finalizer = NativeFinalizer(rthubBindings.rthub_client_free_ptr.cast());

  Pointer<rthub_client> _handle;
  late final _events = StreamController<RthubEvent>(onListen: _grant, onResume: _grant, onCancel: _cancelled);
  final _port = ReceivePort();
  final _polled = Completer<void>();
  final _waiters = <int, Completer<RthubEvent>>{};
  bool _closing = false;

  /// Events between the library and the app at most: what Dart holds while the app does not read.
  static const _window = 32;

  SendPort? _helper; // where credits go, once the helper isolate has said where
  int _owed = _window; // credits not given to the helper yet
  bool _unlistened = false; // the app cancelled its subscription: events are dropped, not held

  /// The client's events, in order. Single subscription. Keep it listened to (or paused only
  /// briefly) while a [publish] waits: its outcome comes through the same bounded pipe.
  Stream<RthubEvent> get events => _events.stream;

  /// Gives the helper the credits owed, when the app takes events (listens, not paused).
  void _grant() {
    final helper = _helper;
    if (helper == null || _closing || _owed == 0) return;
    if (_events.isPaused && !_unlistened) return;
    helper.send(_owed);
    _owed = 0;
  }

  void _cancelled() {
    _unlistened = true;
    _grant();
  }

  void _startPolling() {
    _port.listen((message) {
      if (message == null) {
        // The helper ended: the client is stopped and its queue drained (or closing).
        _port.close();
        _polled.complete();
        return;
      }
      if (message is SendPort) {
        _helper = message;
        if (_closing) {
          message.send(-1);
        } else {
          _grant();
        }
        return;
      }
      final event = message as RthubEvent;
      _owed++;
      if ((event.kind == RthubEventKind.published || event.kind == RthubEventKind.error) && event.requestId != 0) {
        final waiter = _waiters.remove(event.requestId);
        if (waiter != null) {
          waiter.complete(event);
          _grant();
          return;
        }
      }
      if (!_closing && !_unlistened) _events.add(event);
      _grant();
    });
    Isolate.spawn(_poll, _PollStart(_handle.address, rthubLibraryPath, _port.sendPort),
        debugName: 'rthub client events');
  }

  Pointer<rthub_client> _live(String operation) {
    if (_handle == nullptr || _closing) throw RthubException(operation, RthubErrorCode.state, 'closed');
    return _handle;
  }

  /// Subscribes to [channel] now and after every reconnect; with [since], continues after a
  /// position the app kept (an [RthubEventKind.subscribed] event says whether it could). With
  /// [snapshot] the channel's keyed state comes first (a snapshot event, again after a resume the
  /// hub could not honour), then the live messages after it; with [presence], a presence event
  /// after each subscribe, then join and leave events (over WebSocket).
  void subscribe(String channel, {RthubPosition? since, bool snapshot = false, bool presence = false}) =>
      using((arena) {
        Pointer<rthub_position> position = nullptr;
        if (since != null) {
          position = arena<rthub_position>();
          since.toNative(position);
        }
        final flags = (snapshot ? RTHUB_SUBSCRIBE_SNAPSHOT : 0) | (presence ? RTHUB_SUBSCRIBE_PRESENCE : 0);
        checkError(
            rthubBindings.rthub_client_subscribe_with(
                _live('subscribe'), nativeString(channel, arena), position, flags),
            'subscribe');
      });

  /// Asks for the members of a presence channel; returns the request id that the answer (a
  /// presence event, or an error) carries; over SSE or long-polling it is read from GET /presence.
  int presenceAsync(String channel) => using((arena) {
        final id = arena<Uint64>();
        checkError(rthubBindings.rthub_client_presence(_live('presence'), nativeString(channel, arena), id), 'presence');
        return id.value;
      });

  /// Publishes [json] with [key] (the message becomes the key's current state) or, with
  /// [deleteKey], removes the key ([json] may then be null); returns the request id like
  /// [publishAsync].
  int publishKeyedAsync(String channel, String? json, {required String key, bool deleteKey = false, String? type}) =>
      using((arena) {
        final bytes = utf8.encode(json ?? '');
        Pointer<Uint8> data = nullptr;
        if (json != null) {
          data = arena<Uint8>(bytes.isEmpty ? 1 : bytes.length);
          data.asTypedList(bytes.isEmpty ? 1 : bytes.length).setAll(0, bytes);
        }
        final id = arena<Uint64>();
        checkError(
            rthubBindings.rthub_client_publish_keyed(
                _live('publish'),
                nativeString(channel, arena),
                type == null ? nullptr : nativeString(type, arena),
                data.cast<Char>(),
                bytes.length,
                nativeString(key, arena),
                deleteKey ? RTHUB_PUBLISH_DELETE_KEY : 0,
                id),
            'publish');
        return id.value;
      });

  /// Stops receiving [channel] and forgets its position.
  void unsubscribe(String channel) => using((arena) => checkError(
      rthubBindings.rthub_client_unsubscribe(_live('unsubscribe'), nativeString(channel, arena)), 'unsubscribe'));

  /// Publishes [json] as [type] on [channel] (over the WebSocket, or POST /publish on SSE) and
  /// returns the request id that its outcome event (published or error) on [events] carries.
  int publishAsync(String channel, String json, {String? type}) => using((arena) {
        final bytes = utf8.encode(json);
        final data = arena<Uint8>(bytes.isEmpty ? 1 : bytes.length);
        data.asTypedList(bytes.isEmpty ? 1 : bytes.length).setAll(0, bytes);
        final id = arena<Uint64>();
        checkError(
            rthubBindings.rthub_client_publish(_live('publish'), nativeString(channel, arena),
                type == null ? nullptr : nativeString(type, arena), data.cast<Char>(), bytes.length, id),
            'publish');
        return id.value;
      });

  /// Publishes like [publishAsync] and completes with the message's position, or an
  /// [RthubRequestException] when the hub refuses it. Its outcome is not sent on [events].
  Future<RthubPosition> publish(String channel, String json, {String? type}) async {
    // The outcome is routed on this isolate's event loop, after this synchronous section: the
    // waiter is registered before it can arrive.
    final id = publishAsync(channel, json, type: type);
    final waiter = Completer<RthubEvent>();
    _waiters[id] = waiter;
    final event = await waiter.future;
    if (event.kind == RthubEventKind.error) throw RthubRequestException(event.code, event.message);
    return event.position;
  }

  /// A snapshot of the client's counters.
  RthubClientCounters counters() => using((arena) {
        final c = arena<rthub_client_counters>();
        c.ref.struct_size = sizeOf<rthub_client_counters>();
        checkError(rthubBindings.rthub_client_get_counters(_live('counters'), c), 'counters');
        return RthubClientCounters._(c.ref);
      });

  /// Closes the connection, stops the client and frees it; [events] is closed. Calling it again
  /// waits for the first call.
  Future<void> close() async {
    if (_closing) return _polled.future;
    _closing = true;
    _helper?.send(-1); // a helper waiting for credits ends; one that has not said hello yet is told then
    rthubBindings.rthub_client_stop(_handle); // a helper waiting in the library ends once it is drained
    await _polled.future;
    _finalizer.detach(this);
    rthubBindings.rthub_client_free(_handle);
    _handle = nullptr;
    for (final waiter in _waiters.values) {
      waiter.completeError(RthubException('publish', RthubErrorCode.state, 'closed'));
    }
    _waiters.clear();
    // Not awaited: its Future ends only once a listener has taken the done event, which an app
    // that never listened (or paused) would not.
    unawaited(_events.close());
  }
}

class _PollStart {
  _PollStart(this.client, this.libraryPath, this.port);

  final int client; // the rthub_client* as an address: a pointer cannot cross isolates
  final String? libraryPath;
  final SendPort port;
}

/// The helper isolate: takes events from the library against credits (a positive number from the
/// client; -1: stop), copies each and sends it, until the client stops.
Future<void> _poll(_PollStart start) async {
  final b = RthubBindings(openRthubLibrary(start.libraryPath));
  final client = Pointer<rthub_client>.fromAddress(start.client);
  final out = calloc<Pointer<rthub_client_event>>();
  final credits = ReceivePort();
  final grants = StreamIterator<Object?>(credits);
  start.port.send(credits.sendPort);
  var available = 0;
  try {
    while (true) {
      if (available == 0) {
        // Out of credits: the app has not taken what it got. Wait here, not in the library, whose
        // queue then fills and stops the client reading from the hub.
        if (!await grants.moveNext()) break;
        final grant = grants.current as int;
        if (grant < 0) break;
        available += grant;
        continue;
      }
      // Waits for the next event (blocking this helper isolate only); ends with RTHUB_ERR_TIMEOUT
      // once the client is stopped and drained.
      if (b.rthub_client_next_event(client, -1, out) != rthub_err.RTHUB_OK) break;
      start.port.send(_copy(out.value.ref)); // copied before the next call ends the event's life
      available--;
    }
  } finally {
    await grants.cancel();
    calloc.free(out);
    start.port.send(null);
  }
}

RthubEvent _copy(rthub_client_event e) => RthubEvent._(
      kind: _known(RthubEventKind.values, e.kind),
      kindCode: e.kind,
      stateCode: e.state,
      channel: stringOf(e.channel, e.channel_len),
      position: RthubPosition(stringOf(e.epoch, e.epoch_len), e.seq),
      type: stringOf(e.type, e.type_len),
      data: Uint8List.fromList(e.data.cast<Uint8>().asTypedList(e.data_len)),
      timestamp: DateTime.fromMillisecondsSinceEpoch(e.ts_ms),
      recovered: e.recovered < 0 ? null : e.recovered == 1,
      state: _known(RthubClientState.values, e.state),
      transport: _known(RthubTransport.values, e.transport),
      reason: stringOf(e.reason, e.reason_len),
      attempt: e.attempt,
      retryIn: e.retry_in_ms < 0 ? null : Duration(milliseconds: e.retry_in_ms),
      code: stringOf(e.code, e.code_len),
      message: stringOf(e.message, e.message_len),
      requestId: e.request_id,
      key: stringOf(e.key, e.key_len),
      deleted: e.deleted != 0,
      count: e.count,
    );
