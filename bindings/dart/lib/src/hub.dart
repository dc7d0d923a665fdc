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
  });

  /// Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).
  final String? host;

  /// Port (default 8080); 0 picks a free one, see [RthubHub.port].
  final int? port;
  final String? staticDir;
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

/// An rthub hub served by this process: /ws, /events, /publish, /metrics on one port, from a
/// service thread of its own. Owns its native handle: [close] frees it at once; a hub that is
/// garbage collected without [close] is freed by a NativeFinalizer.
///
/// The auth hooks of the C API are not offered here: their callbacks must answer synchronously
/// on the hub's thread, which Dart cannot do (see README.md).
final class RthubHub implements Finalizable {
  RthubHub._(this._handle) {
    _finalizer.attach(this, _handle.cast(), detach: this);
  }

  /// Creates a hub that does not serve yet: call [start].
  factory RthubHub([RthubHubOptions options = const RthubHubOptions()]) {
    final b = rthubBindings;
    return using((arena) {
      final o = arena<rthub_hub_options>();
      b.rthub_hub_options_init(o);
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
      final out = arena<Pointer<rthub_hub>>();
      checkError(b.rthub_hub_new(o, out), 'RthubHub');
      return RthubHub._(out.value);
    });
  }

  static final _finalizer = NativeFinalizer(rthubBindings.rthub_hub_free_ptr.cast());

  Pointer<rthub_hub> _handle;

  Pointer<rthub_hub> _live(String operation) {
    if (_handle == nullptr) throw RthubException(operation, RthubErrorCode.state, 'closed');
    return _handle;
  }

  /// Binds the port and starts serving.
  void start() => checkError(rthubBindings.rthub_hub_start(_live('start')), 'start');

  /// Closes every connection (WebSocket close 1001) and stops serving.
  void stop() => checkError(rthubBindings.rthub_hub_stop(_live('stop')), 'stop');

  /// The bound port of a started hub, or 0.
  int get port => _handle == nullptr ? 0 : rthubBindings.rthub_hub_port(_handle);

  /// Publishes [json] (one JSON value, passed through untouched) as [type] on [channel] and
  /// returns its position. It waits for the hub's service thread (microseconds in memory; a
  /// Redis round trip with Redis): from a Flutter UI isolate, prefer [publishAsync].
  RthubPosition publish(String channel, String json, {String? type}) => using((arena) {
        final position = arena<rthub_position>();
        _publish(arena, channel, json, type, position, 'publish');
        return RthubPosition.fromNative(position.ref);
      });

  /// Checks and queues a message without waiting for its position.
  void publishAsync(String channel, String json, {String? type}) =>
      using((arena) => _publish(arena, channel, json, type, nullptr, 'publishAsync'));

  void _publish(Arena arena, String channel, String json, String? type, Pointer<rthub_position> out, String op) {
    final bytes = utf8.encode(json);
    final data = arena<Uint8>(bytes.isEmpty ? 1 : bytes.length);
    data.asTypedList(bytes.isEmpty ? 1 : bytes.length).setAll(0, bytes);
    checkError(
        rthubBindings.rthub_hub_publish(_live(op), nativeString(channel, arena),
            type == null ? nullptr : nativeString(type, arena), data.cast<Char>(), bytes.length, out),
        op);
  }

  /// A snapshot of the hub's counters.
  RthubStats stats() => using((arena) {
        final s = arena<rthub_stats>();
        s.ref.struct_size = sizeOf<rthub_stats>();
        checkError(rthubBindings.rthub_hub_stats(_live('stats'), s), 'stats');
        return RthubStats._(s.ref);
      });

  /// Stops the hub and frees it. Calling it again does nothing.
  void close() {
    if (_handle == nullptr) return;
    _finalizer.detach(this);
    rthubBindings.rthub_hub_free(_handle);
    _handle = nullptr;
  }
}
