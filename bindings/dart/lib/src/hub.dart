import 'dart:async';
import 'dart:convert';
import 'dart:ffi';

import 'package:ffi/ffi.dart';

import 'bindings.dart';
import 'errors.dart';
import 'library.dart';
import 'position.dart';

/// Settings of an [RthubHub]; null keeps the library's default.
class RthubHubOptions {
  const RthubHubOptions({
    this.host,
    this.port,
    this.staticDir,
    this.historySize,
    this.historyTtl,
    this.heartbeat,
    this.publishKey,
    this.maxMessageBytes,
    this.maxQueueBytes,
    this.maxConnections,
    this.maxConnectionsPerIp,
    this.maxSubscriptions,
    this.jwtSecret,
    this.allowClientPublish = false,
    this.allowedOrigins,
    this.maxConnectRate,
    this.tlsCert,
    this.tlsKey,
    this.redisUrl,
    this.bridgeChannels,
    this.sseRetry,
    this.shards,
    this.redisCluster,
    this.idempotencyWindow,
    this.postgresConninfo,
    this.persistPatterns,
    this.persistTtl,
    this.persistBuffer,
    this.maxKeys,
    this.pollTimeout,
    this.onChannel,
  });

  /// Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).
  final String? host;

  /// Port (default 8080); 0 picks a free one, see [RthubHub.port].
  final int? port;
  final String? staticDir;

  /// Messages kept per channel for resuming clients (default 1000; 0 keeps none).
  final int? historySize;
  final Duration? historyTtl;
  final Duration? heartbeat;
  final String? publishKey;
  final int? maxMessageBytes;
  final int? maxQueueBytes;
  final int? maxConnections;
  final int? maxConnectionsPerIp;
  final int? maxSubscriptions;
  final String? jwtSecret;
  final bool allowClientPublish;
  final List<String>? allowedOrigins;
  final double? maxConnectRate;
  final String? tlsCert;
  final String? tlsKey;
  final String? redisUrl;
  final List<String>? bridgeChannels;
  final Duration? sseRetry;

  /// Service threads accepting on the one port (SO_REUSEPORT), 1 to 64 (default 1).
  final int? shards;

  /// Redis Cluster seed nodes ("host:port").
  final List<String>? redisCluster;

  /// How long a publish's idempotency key is remembered (default 5 minutes, whole seconds).
  final Duration? idempotencyWindow;

  /// A libpq connection string or URI: history is kept in PostgreSQL too.
  final String? postgresConninfo;

  /// Channels kept in PostgreSQL (a trailing '*' matches a prefix); null: every channel.
  final List<String>? persistPatterns;

  /// Persisted messages older than this are deleted; null: kept.
  final Duration? persistTtl;

  /// Messages held while PostgreSQL is away (default 100000).
  final int? persistBuffer;

  /// Keys (keyed messages) a channel may hold (default 10000); a new key past it is refused.
  final int? maxKeys;

  /// How long GET /poll holds a request with nothing to send (default 25 s, whole seconds); a
  /// poller silent for twice as long is forgotten.
  final Duration? pollTimeout;

  /// Decides each subscribe and client publish: true allows it. It may answer later (a Future),
  /// e.g. after asking a database; until then the request waits. An exception denies it. Checks
  /// still open when the hub stops or closes are denied first.
  final FutureOr<bool> Function(RthubChannelRequest request)? onChannel;
}

/// What [RthubHubOptions.onChannel] decides.
class RthubChannelRequest {
  RthubChannelRequest._(rthub_channel_info info)
      : subscribe = info.action == rthub_channel_action.RTHUB_SUBSCRIBE,
        channel = info.channel.cast<Utf8>().toDartString(),
        identity = info.identity.cast<Utf8>().toDartString(),
        allowedByRules = info.allowed_by_rules != 0;

  /// True for a subscribe, false for a client publish.
  final bool subscribe;
  final String channel;

  /// The connection's identity; '' when anonymous.
  final String identity;

  /// What the JWT or anonymous rules alone answer.
  final bool allowedByRules;
}

/// A hub's counters, the numbers of GET /metrics.
class RthubStats {
  RthubStats._(rthub_stats s)
      : connectionsWs = s.connections_ws,
        connectionsSse = s.connections_sse,
        acceptedWs = s.accepted_ws,
        acceptedSse = s.accepted_sse,
        subscriptions = s.subscriptions,
        channels = s.channels,
        messagesPublished = s.messages_published,
        deliveries = s.deliveries,
        bytesSent = s.bytes_sent,
        resumesRecovered = s.resumes_recovered,
        resumesLost = s.resumes_lost,
        slowConsumersDropped = s.slow_consumers_dropped,
        errors = s.errors,
        historyBytes = s.history_bytes,
        authFailures = s.auth_failures,
        reconnects = s.reconnects,
        sseFallbacks = s.sse_fallbacks;

  final int connectionsWs, connectionsSse, acceptedWs, acceptedSse, subscriptions, channels;
  final int messagesPublished, deliveries, bytesSent, resumesRecovered, resumesLost;
  final int slowConsumersDropped, errors, historyBytes, authFailures, reconnects, sseFallbacks;
}

/// One transport's counts, the numbers of its transport="NAME" series in GET /metrics.
class RthubTransportStats {
  RthubTransportStats._(rthub_transport_stats s)
      : connections = s.connections,
        accepted = s.accepted,
        reconnects = s.reconnects,
        fallbacks = s.fallbacks;

  /// Open now (pollers: those whose state the hub keeps).
  final int connections;

  /// Since start: accepted, came back asking to resume, marked as a fallback.
  final int accepted, reconnects, fallbacks;
}

/// Which page of a channel's history [RthubHub.history] reads (rthub_history_direction).
enum RthubHistoryDirection { latest, before, after }

/// An rthub hub served by this process: /ws, /events, /publish, /metrics on one port, from a
/// service thread of its own. Owns its native handle: [close] frees it at once; a hub that is
/// garbage collected without [close] is freed by a NativeFinalizer.
///
/// The channel hook is [RthubHubOptions.onChannel]. The connect hook of the C API is not offered:
/// it must answer before its call returns, which a Dart callback from another thread cannot do
/// (see README.md).
final class RthubHub implements Finalizable {
  RthubHub._(this._handle) {
    _finalizer.attach(this, _handle.cast(), detach: this);
  }

  /// Creates a hub that does not serve yet: call [start].
  factory RthubHub([RthubHubOptions options = const RthubHubOptions()]) {
    final b = rthubBindings;
    return using((arena) {
      final o = arena<rthub_hub_options>();
      checkError(b.rthub_hub_options_init(o, sizeOf<rthub_hub_options>()), 'RthubHub');
      final r = o.ref;
      Pointer<Char> str(String? v) => v == null ? nullptr : nativeString(v, arena);
      if (options.host != null) r.listen_host = str(options.host);
      if (options.port != null) r.port = options.port!;
      r.static_dir = str(options.staticDir);
      if (options.historySize != null) r.history_size = options.historySize!;
      if (options.historyTtl != null) r.history_ttl_seconds = options.historyTtl!.inSeconds;
      if (options.heartbeat != null) r.heartbeat_seconds = options.heartbeat!.inSeconds;
      r.publish_key = str(options.publishKey);
      if (options.maxMessageBytes != null) r.max_message_bytes = options.maxMessageBytes!;
      if (options.maxQueueBytes != null) r.max_queue_bytes = options.maxQueueBytes!;
      if (options.maxConnections != null) r.max_connections = options.maxConnections!;
      if (options.maxConnectionsPerIp != null) r.max_connections_per_ip = options.maxConnectionsPerIp!;
      if (options.maxSubscriptions != null) r.max_subscriptions = options.maxSubscriptions!;
      r.jwt_secret = str(options.jwtSecret);
      r.allow_client_publish = options.allowClientPublish ? 1 : 0;
      r.allowed_origins = str(options.allowedOrigins?.join(','));
      if (options.maxConnectRate != null) r.max_connect_rate = options.maxConnectRate!;
      r.tls_cert = str(options.tlsCert);
      r.tls_key = str(options.tlsKey);
      r.redis_url = str(options.redisUrl);
      r.bridge_channels = str(options.bridgeChannels?.join(','));
      if (options.sseRetry != null) r.sse_retry_ms = options.sseRetry!.inMilliseconds;
      if (options.shards != null) r.shards = options.shards!;
      r.redis_cluster = str(options.redisCluster?.join(','));
      if (options.idempotencyWindow != null) r.idempotency_window_seconds = options.idempotencyWindow!.inSeconds;
      r.postgres_conninfo = str(options.postgresConninfo);
      r.persist_patterns = str(options.persistPatterns?.join(','));
      if (options.persistTtl != null) r.persist_ttl_seconds = options.persistTtl!.inSeconds;
      if (options.persistBuffer != null) r.persist_buffer = options.persistBuffer!;
      if (options.maxKeys != null) r.max_keys = options.maxKeys!;
      if (options.pollTimeout != null) r.poll_timeout_seconds = options.pollTimeout!.inSeconds;
      final out = arena<Pointer<rthub_hub>>();
      checkError(b.rthub_hub_new(o, out), 'RthubHub');
      final hub = RthubHub._(out.value);
      if (options.onChannel != null) hub._installChannelHook(options.onChannel!);
      return hub;
    });
  }

  // ---- The channel hook ----
  //
  // The hub calls rthub_channel_fn on its service thread; a NativeCallable.listener queues the
  // call to this isolate and returns at once. By the time Dart runs, the info pointer of the call
  // is gone, but the check owns a copy (rthub_channel_check_info) until it is completed, which
  // may be done from any thread: the decision is given here, when the host's Future completes.

  NativeCallable<rthub_channel_fn>? _channelHook;
  final _openChecks = <int>{}; // addresses of checks not completed yet

  void _installChannelHook(FutureOr<bool> Function(RthubChannelRequest) decide) {
    final hook = NativeCallable<rthub_channel_fn>.listener(
        (Pointer<rthub_channel_info> _, Pointer<rthub_channel_check> check, Pointer<Void> __) {
      _openChecks.add(check.address);
      if (_handle == nullptr) return _complete(check, false); // arrived after close: deny
      final request = RthubChannelRequest._(rthubBindings.rthub_channel_check_info(check).ref);
      Future.sync(() => decide(request)).then((allow) => _complete(check, allow), onError: (_) => _complete(check, false));
    });
    try {
      checkError(rthubBindings.rthub_hub_set_auth(_handle, nullptr, hook.nativeFunction, nullptr), 'RthubHub');
    } catch (_) {
      hook.close();
      close();
      rethrow;
    }
    _channelHook = hook;
  }

  /// Completes a check once (a second answer, e.g. after a deny at stop, is ignored).
  void _complete(Pointer<rthub_channel_check> check, bool allow) {
    if (!_openChecks.remove(check.address)) return;
    rthubBindings.rthub_channel_check_complete(check, allow ? 1 : 0);
  }

  /// Denies the checks still open, while the hub can still take their answers.
  void _denyOpenChecks() {
    for (final address in _openChecks.toList()) {
      _complete(Pointer<rthub_channel_check>.fromAddress(address), false);
    }
  }

  static final _finalizer = NativeFinalizer(rthubBindings.rthub_hub_free_ptr.cast());

  Pointer<rthub_hub> _handle;

  Pointer<rthub_hub> _live(String operation) {
    if (_handle == nullptr) throw RthubException(operation, RthubErrorCode.state, 'closed');
    return _handle;
  }

  /// Binds the port and starts serving.
  void start() => checkError(rthubBindings.rthub_hub_start(_live('start')), 'start');

  /// Closes every connection (WebSocket close 1001) and stops serving. Open channel checks are
  /// denied first.
  void stop() {
    final handle = _live('stop');
    _denyOpenChecks();
    checkError(rthubBindings.rthub_hub_stop(handle), 'stop');
  }

  /// The bound port of a started hub, or 0.
  int get port => _handle == nullptr ? 0 : rthubBindings.rthub_hub_port(_handle);

  /// Publishes [json] (one JSON value, passed through untouched) as [type] on [channel] and
  /// returns its position. It waits for the hub's service thread (microseconds in memory; a
  /// Redis round trip with Redis): from a Flutter UI isolate, prefer [publishAsync]. With
  /// [idempotencyKey] (at most 128 bytes), a repeat within the hub's idempotency window answers
  /// the first one's position; retry an [RthubErrorCode.unknownOutcome] with the same key.
  /// With [key] (at most 256 bytes) the channel keeps the message as the key's latest, sent to
  /// subscribers that ask for a snapshot; with [deleteKey] the message removes the key.
  RthubPosition publish(String channel, String json,
          {String? type, String? idempotencyKey, String? key, bool deleteKey = false}) =>
      using((arena) {
        final position = arena<rthub_position>();
        _publish(arena, channel, json, type, idempotencyKey, key, deleteKey, position, 'publish');
        return RthubPosition.fromNative(position.ref);
      });

  /// Checks and queues a message without waiting for its position.
  void publishAsync(String channel, String json,
          {String? type, String? idempotencyKey, String? key, bool deleteKey = false}) =>
      using((arena) => _publish(arena, channel, json, type, idempotencyKey, key, deleteKey, nullptr, 'publishAsync'));

  void _publish(Arena arena, String channel, String json, String? type, String? idempotencyKey, String? key,
      bool deleteKey, Pointer<rthub_position> out, String op) {
    final bytes = utf8.encode(json);
    final data = arena<Uint8>(bytes.isEmpty ? 1 : bytes.length);
    data.asTypedList(bytes.isEmpty ? 1 : bytes.length).setAll(0, bytes);
    final options = arena<rthub_publish_options>();
    checkError(rthubBindings.rthub_publish_options_init(options, sizeOf<rthub_publish_options>()), op);
    if (idempotencyKey != null) options.ref.idempotency_key = nativeString(idempotencyKey, arena);
    if (key != null) options.ref.key = nativeString(key, arena);
    if (deleteKey) options.ref.flags = RTHUB_PUBLISH_DELETE_KEY;
    checkError(
        rthubBindings.rthub_hub_publish_with_options(_live(op), nativeString(channel, arena),
            type == null ? nullptr : nativeString(type, arena), data.cast<Char>(), bytes.length, options, out),
        op);
  }

  /// Reads a page of a persisted channel's history (the hub needs `postgresConninfo`) and waits
  /// for it: the latest [limit] messages, or the [limit] before or after [seq]. Answers the JSON
  /// object GET /history answers, decoded: `{"channel":..., "epoch":..., "messages":[...]}`, the
  /// messages in ascending seq, each the object a subscriber receives. [limit] is 1 to 1000.
  /// Throws [RthubException]: invalid (a channel that is not persisted, a bad limit), state,
  /// unavailable (PostgreSQL unreachable).
  Map<String, dynamic> history(String channel,
          {RthubHistoryDirection direction = RthubHistoryDirection.latest, int seq = 0, int limit = 100}) =>
      using((arena) {
        final out = arena<Pointer<Char>>();
        checkError(
            rthubBindings.rthub_hub_history(
                _live('history'), nativeString(channel, arena), direction.index, seq, limit, out),
            'history');
        try {
          return jsonDecode(out.value.cast<Utf8>().toDartString()) as Map<String, dynamic>;
        } finally {
          rthubBindings.rthub_string_free(out.value);
        }
      });

  /// A snapshot of the hub's counters.
  RthubStats stats() => using((arena) {
        final s = arena<rthub_stats>();
        s.ref.struct_size = sizeOf<rthub_stats>();
        checkError(rthubBindings.rthub_hub_stats(_live('stats'), s), 'stats');
        return RthubStats._(s.ref);
      });

  /// The counts of the transport named [name] ("ws", "sse", "poll"); an [RthubException] when
  /// the hub has no such transport.
  RthubTransportStats transportStats(String name) => using((arena) {
        final s = arena<rthub_transport_stats>();
        s.ref.struct_size = sizeOf<rthub_transport_stats>();
        final cname = name.toNativeUtf8(allocator: arena).cast<Char>();
        checkError(rthubBindings.rthub_hub_transport_stats(_live('transportStats'), cname, s),
            'transportStats');
        return RthubTransportStats._(s.ref);
      });

  /// Stops the hub and frees it (open channel checks are denied first). Calling it again does
  /// nothing.
  void close() {
    if (_handle == nullptr) return;
    _denyOpenChecks();
    _finalizer.detach(this);
    rthubBindings.rthub_hub_free(_handle);
    _handle = nullptr;
    // The hub calls the hook no more. Checks it queued before it stopped still reach the listener
    // until the callable is closed; close it once those have been answered (denied).
    final hook = _channelHook;
    _channelHook = null;
    if (hook != null) Timer.run(hook.close);
  }
}
