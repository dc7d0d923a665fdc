// dart:ffi declarations of the C API of librthub (include/rthub/rthub.h).
//
// Names follow the C header on purpose, so that a reader (and tool/check_bindings.py, which
// verifies every symbol and signature here against rthub.h and the built librthub.so) can match
// each line to its prototype. Structs mirror the C structs field by field, in order; fields are
// only ever appended in C, so a struct here may be a prefix of a newer library's: every _init
// call passes sizeOf<T>() of the struct here, and the library reads only that much (rthub.h,
// "Versions of the structs"). The constants classes mirror the C enums, and the function
// typedefs the C callback types; the checker verifies both.
//
// Conventions the checker relies on: functions are bound with `lookupFunction<Native, Dart>('name')`
// (or `lookup<NativeFunction<Native>>('name')`), native function types are written inline or as
// `typedef name = Ret Function(Args);`, structs as `final class name extends Struct` with one
// `external` field per line, opaque handles as `final class name extends Opaque {}`.

// ignore_for_file: camel_case_types, non_constant_identifier_names

import 'dart:ffi';

/// RTHUB_VERSION_NUMBER of the rthub.h these bindings mirror. A library older than this lacks
/// what they call (library.dart refuses it); a newer one takes their shorter structs.
const rthubHeaderVersion = 200;

// ---- Opaque handles ----------------------------------------------------------------------------

final class rthub_hub extends Opaque {}

final class rthub_connect_answer extends Opaque {}

final class rthub_channel_check extends Opaque {}

final class rthub_client extends Opaque {}

// ---- Codes (C enums are int) -------------------------------------------------------------------

abstract final class rthub_history_direction {
  static const RTHUB_HISTORY_LATEST = 0;
  static const RTHUB_HISTORY_BEFORE = 1;
  static const RTHUB_HISTORY_AFTER = 2;
}

abstract final class rthub_err {
  static const RTHUB_OK = 0;
  static const RTHUB_ERR_INVALID = 1;
  static const RTHUB_ERR_NOMEM = 2;
  static const RTHUB_ERR_STATE = 3;
  static const RTHUB_ERR_IO = 4;
  static const RTHUB_ERR_UNAVAILABLE = 5;
  static const RTHUB_ERR_TOO_LARGE = 6;
  static const RTHUB_ERR_TIMEOUT = 7;
  static const RTHUB_ERR_INTERNAL = 8;
  static const RTHUB_ERR_UNKNOWN_OUTCOME = 9;
}

abstract final class rthub_client_event_kind {
  static const RTHUB_CLIENT_EVENT_MESSAGE = 0;
  static const RTHUB_CLIENT_EVENT_SUBSCRIBED = 1;
  static const RTHUB_CLIENT_EVENT_UNSUBSCRIBED = 2;
  static const RTHUB_CLIENT_EVENT_RESET = 3;
  static const RTHUB_CLIENT_EVENT_STATE = 4;
  static const RTHUB_CLIENT_EVENT_ERROR = 5;
  static const RTHUB_CLIENT_EVENT_PUBLISHED = 6;
  static const RTHUB_CLIENT_EVENT_SNAPSHOT = 7;
  static const RTHUB_CLIENT_EVENT_PRESENCE = 8;
  static const RTHUB_CLIENT_EVENT_JOIN = 9;
  static const RTHUB_CLIENT_EVENT_LEAVE = 10;
}

abstract final class rthub_client_state {
  static const RTHUB_CLIENT_CONNECTING = 0;
  static const RTHUB_CLIENT_CONNECTED = 1;
  static const RTHUB_CLIENT_DISCONNECTED = 2;
  static const RTHUB_CLIENT_FALLBACK = 3;
  static const RTHUB_CLIENT_CLOSED = 4;
}

abstract final class rthub_transport {
  static const RTHUB_TRANSPORT_NONE = 0;
  static const RTHUB_TRANSPORT_WS = 1;
  static const RTHUB_TRANSPORT_SSE = 2;
  static const RTHUB_TRANSPORT_POLL = 3;
}

abstract final class rthub_channel_action {
  static const RTHUB_SUBSCRIBE = 0;
  static const RTHUB_PUBLISH = 1;
}

// ---- Structs -----------------------------------------------------------------------------------

final class rthub_hub_options extends Struct {
  @Uint32()
  external int struct_size;
  external Pointer<Char> listen_host;
  @Int()
  external int port;
  external Pointer<Char> static_dir;
  @Size()
  external int history_size;
  @Int()
  external int history_ttl_seconds;
  @Int()
  external int heartbeat_seconds;
  external Pointer<Char> publish_key;
  @Size()
  external int max_message_bytes;
  @Size()
  external int max_queue_bytes;
  @Size()
  external int max_connections;
  @Size()
  external int max_connections_per_ip;
  @Size()
  external int max_subscriptions;
  external Pointer<Char> jwt_secret;
  @Int()
  external int allow_client_publish;
  external Pointer<Char> allowed_origins;
  @Double()
  external double max_connect_rate;
  external Pointer<Char> tls_cert;
  external Pointer<Char> tls_key;
  external Pointer<Char> redis_url;
  external Pointer<Char> bridge_channels;
  @Int()
  external int sse_retry_ms;
  @Int()
  external int shards;
  external Pointer<Char> redis_cluster;
  @Int()
  external int idempotency_window_seconds;
  external Pointer<Char> postgres_conninfo;
  external Pointer<Char> persist_patterns;
  @Int()
  external int persist_ttl_seconds;
  @Size()
  external int persist_buffer;
  @Size()
  external int max_keys;
  @Int64()
  external int poll_timeout_seconds;
}

final class rthub_position extends Struct {
  @Array(64)
  external Array<Char> epoch;
  @Uint64()
  external int seq;
}

final class rthub_publish_options extends Struct {
  @Uint32()
  external int struct_size;
  external Pointer<Char> idempotency_key;
  external Pointer<Char> key;
  @Uint64()
  external int flags;
}

/// RTHUB_PUBLISH_DELETE_KEY of rthub_publish_options.flags.
const int RTHUB_PUBLISH_DELETE_KEY = 1;

/// RTHUB_SUBSCRIBE_* flags of rthub_client_subscribe_with.
const int RTHUB_SUBSCRIBE_SNAPSHOT = 1;
const int RTHUB_SUBSCRIBE_PRESENCE = 2;

/// rthub_publish_done_fn: not used by the Dart classes (its position is valid only during the
/// call, and NativeCallable.listener runs the Dart side after it returned).
typedef rthub_publish_done_fn = Void Function(Int32 err, Pointer<rthub_position> position, Pointer<Void> user_data);

final class rthub_stats extends Struct {
  @Uint32()
  external int struct_size;
  @Uint64()
  external int connections_ws;
  @Uint64()
  external int connections_sse;
  @Uint64()
  external int accepted_ws;
  @Uint64()
  external int accepted_sse;
  @Uint64()
  external int subscriptions;
  @Uint64()
  external int channels;
  @Uint64()
  external int messages_published;
  @Uint64()
  external int deliveries;
  @Uint64()
  external int bytes_sent;
  @Uint64()
  external int resumes_recovered;
  @Uint64()
  external int resumes_lost;
  @Uint64()
  external int slow_consumers_dropped;
  @Uint64()
  external int errors;
  @Uint64()
  external int history_bytes;
  @Uint64()
  external int auth_failures;
  @Uint64()
  external int reconnects;
  @Uint64()
  external int sse_fallbacks;
}

final class rthub_transport_stats extends Struct {
  @Uint32()
  external int struct_size;
  @Uint64()
  external int connections;
  @Uint64()
  external int accepted;
  @Uint64()
  external int reconnects;
  @Uint64()
  external int fallbacks;
}

final class rthub_connect_info extends Struct {
  @Uint32()
  external int struct_size;
  external Pointer<Char> transport;
  external Pointer<Char> peer;
  external Pointer<Char> token;
  @Size()
  external int token_len;
  external Pointer<Char> origin;
  @Int()
  external int token_verified;
  external Pointer<Char> token_subject;
}

typedef rthub_connect_fn = Void Function(
    Pointer<rthub_connect_info> info, Pointer<rthub_connect_answer> answer, Pointer<Void> user_data);

final class rthub_channel_info extends Struct {
  @Uint32()
  external int struct_size;
  @Int32()
  external int action;
  external Pointer<Char> channel;
  external Pointer<Char> identity;
  @Int()
  external int allowed_by_rules;
}

typedef rthub_channel_fn = Void Function(
    Pointer<rthub_channel_info> info, Pointer<rthub_channel_check> check, Pointer<Void> user_data);

final class rthub_client_event extends Struct {
  @Uint32()
  external int struct_size;
  @Int32()
  external int kind;
  external Pointer<Char> channel;
  @Size()
  external int channel_len;
  external Pointer<Char> epoch;
  @Size()
  external int epoch_len;
  @Uint64()
  external int seq;
  external Pointer<Char> type;
  @Size()
  external int type_len;
  external Pointer<Char> data;
  @Size()
  external int data_len;
  @Int64()
  external int ts_ms;
  @Int()
  external int recovered;
  @Int32()
  external int state;
  @Int32()
  external int transport;
  external Pointer<Char> reason;
  @Size()
  external int reason_len;
  @Uint32()
  external int attempt;
  @Int64()
  external int retry_in_ms;
  external Pointer<Char> code;
  @Size()
  external int code_len;
  external Pointer<Char> message;
  @Size()
  external int message_len;
  @Uint64()
  external int request_id;
  external Pointer<Char> key;
  @Size()
  external int key_len;
  @Int()
  external int deleted;
  @Size()
  external int count;
}

/// rthub_client_event_fn: not used by the Dart classes, which poll (an event is valid only during
/// the callback, and NativeCallable.listener runs the Dart side after it returned).
typedef rthub_client_event_fn = Void Function(Pointer<rthub_client_event> event, Pointer<Void> user_data);

final class rthub_client_options extends Struct {
  @Uint32()
  external int struct_size;
  external Pointer<Char> url;
  external Pointer<Pointer<Char>> channels;
  @Size()
  external int channel_count;
  external Pointer<Char> token;
  external Pointer<Char> publish_key;
  @Int()
  external int sse_only;
  @Uint32()
  external int backoff_base_ms;
  @Uint32()
  external int backoff_cap_ms;
  @Uint32()
  external int max_attempts;
  @Int()
  external int heartbeat_seconds;
  @Int()
  external int watchdog_ms;
  @Int()
  external int handshake_timeout_ms;
  @Int()
  external int websocket_retry_ms;
  external Pointer<Char> ca_file;
  @Int()
  external int insecure_skip_verify_for_tests;
  @Size()
  external int max_pending_events;
  external Pointer<NativeFunction<rthub_client_event_fn>> on_event;
  external Pointer<Void> user_data;
  @Int()
  external int snapshot;
  @Int()
  external int presence;
  @Int()
  external int poll_only;
  @Int()
  external int sse_silence_ms;
}

final class rthub_client_counters extends Struct {
  @Uint32()
  external int struct_size;
  @Uint64()
  external int connects;
  @Uint64()
  external int reconnects;
  @Uint64()
  external int fallbacks;
  @Uint64()
  external int messages;
  @Uint64()
  external int duplicates_dropped;
  @Uint64()
  external int resets;
  @Uint64()
  external int watchdog_timeouts;
  @Uint64()
  external int snapshots;
}

// ---- Functions ---------------------------------------------------------------------------------

/// The functions of librthub, looked up once from a DynamicLibrary.
class RthubBindings {
  RthubBindings(this._lib);

  final DynamicLibrary _lib;

  late final rthub_version =
      _lib.lookupFunction<Pointer<Char> Function(), Pointer<Char> Function()>('rthub_version');

  late final rthub_strerror =
      _lib.lookupFunction<Pointer<Char> Function(Int32), Pointer<Char> Function(int)>('rthub_strerror');

  late final rthub_last_error =
      _lib.lookupFunction<Pointer<Char> Function(), Pointer<Char> Function()>('rthub_last_error');

  late final rthub_version_number =
      _lib.lookupFunction<UnsignedInt Function(), int Function()>('rthub_version_number');

  // Hub.

  late final rthub_hub_options_init = _lib.lookupFunction<Int32 Function(Pointer<rthub_hub_options>, Size),
      int Function(Pointer<rthub_hub_options>, int)>('rthub_hub_options_init');

  late final rthub_hub_new = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub_options>, Pointer<Pointer<rthub_hub>>),
      int Function(Pointer<rthub_hub_options>, Pointer<Pointer<rthub_hub>>)>('rthub_hub_new');

  late final rthub_hub_start =
      _lib.lookupFunction<Int32 Function(Pointer<rthub_hub>), int Function(Pointer<rthub_hub>)>('rthub_hub_start');

  late final rthub_hub_stop =
      _lib.lookupFunction<Int32 Function(Pointer<rthub_hub>), int Function(Pointer<rthub_hub>)>('rthub_hub_stop');

  /// The address of rthub_hub_free, for the NativeFinalizer of RthubHub.
  late final rthub_hub_free_ptr = _lib.lookup<NativeFunction<Void Function(Pointer<rthub_hub>)>>('rthub_hub_free');

  late final rthub_hub_free =
      _lib.lookupFunction<Void Function(Pointer<rthub_hub>), void Function(Pointer<rthub_hub>)>('rthub_hub_free');

  late final rthub_hub_port =
      _lib.lookupFunction<Int Function(Pointer<rthub_hub>), int Function(Pointer<rthub_hub>)>('rthub_hub_port');

  late final rthub_hub_publish = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Size, Pointer<rthub_position>),
      int Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, int,
          Pointer<rthub_position>)>('rthub_hub_publish');

  late final rthub_publish_options_init = _lib.lookupFunction<Int32 Function(Pointer<rthub_publish_options>, Size),
      int Function(Pointer<rthub_publish_options>, int)>('rthub_publish_options_init');

  late final rthub_hub_publish_with_options = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Size,
          Pointer<rthub_publish_options>, Pointer<rthub_position>),
      int Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, int, Pointer<rthub_publish_options>,
          Pointer<rthub_position>)>('rthub_hub_publish_with_options');

  /// Bound for completeness: the Dart classes do not use it (see rthub_publish_done_fn).
  late final rthub_hub_publish_async = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Size,
          Pointer<rthub_publish_options>, Pointer<NativeFunction<rthub_publish_done_fn>>, Pointer<Void>),
      int Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, int, Pointer<rthub_publish_options>,
          Pointer<NativeFunction<rthub_publish_done_fn>>, Pointer<Void>)>('rthub_hub_publish_async');

  late final rthub_hub_history = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Int32, Uint64, Size, Pointer<Pointer<Char>>),
      int Function(Pointer<rthub_hub>, Pointer<Char>, int, int, int, Pointer<Pointer<Char>>)>('rthub_hub_history');

  late final rthub_string_free =
      _lib.lookupFunction<Void Function(Pointer<Char>), void Function(Pointer<Char>)>('rthub_string_free');

  late final rthub_hub_stats = _lib.lookupFunction<Int32 Function(Pointer<rthub_hub>, Pointer<rthub_stats>),
      int Function(Pointer<rthub_hub>, Pointer<rthub_stats>)>('rthub_hub_stats');

  late final rthub_hub_transport_stats = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<rthub_transport_stats>),
      int Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<rthub_transport_stats>)>('rthub_hub_transport_stats');

  // Auth hooks. RthubHub installs the channel hook (a NativeCallable.listener that reads the check
  // through rthub_channel_check_info); the connect hook must answer during the call, which a
  // listener cannot, so it is bound for completeness only (see README.md).

  late final rthub_connect_accept = _lib.lookupFunction<
      Void Function(Pointer<rthub_connect_answer>, Pointer<Char>, Pointer<Pointer<Char>>, Size, Pointer<Pointer<Char>>,
          Size),
      void Function(Pointer<rthub_connect_answer>, Pointer<Char>, Pointer<Pointer<Char>>, int, Pointer<Pointer<Char>>,
          int)>('rthub_connect_accept');

  late final rthub_connect_refuse = _lib.lookupFunction<Void Function(Pointer<rthub_connect_answer>, Int),
      void Function(Pointer<rthub_connect_answer>, int)>('rthub_connect_refuse');

  late final rthub_hub_set_auth = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_hub>, Pointer<NativeFunction<rthub_connect_fn>>,
          Pointer<NativeFunction<rthub_channel_fn>>, Pointer<Void>),
      int Function(Pointer<rthub_hub>, Pointer<NativeFunction<rthub_connect_fn>>,
          Pointer<NativeFunction<rthub_channel_fn>>, Pointer<Void>)>('rthub_hub_set_auth');

  late final rthub_channel_check_complete = _lib.lookupFunction<Int32 Function(Pointer<rthub_channel_check>, Int),
      int Function(Pointer<rthub_channel_check>, int)>('rthub_channel_check_complete');

  late final rthub_channel_check_info = _lib.lookupFunction<
      Pointer<rthub_channel_info> Function(Pointer<rthub_channel_check>),
      Pointer<rthub_channel_info> Function(Pointer<rthub_channel_check>)>('rthub_channel_check_info');

  // Client.

  late final rthub_client_options_init = _lib.lookupFunction<Int32 Function(Pointer<rthub_client_options>, Size),
      int Function(Pointer<rthub_client_options>, int)>('rthub_client_options_init');

  late final rthub_client_new = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client_options>, Pointer<Pointer<rthub_client>>),
      int Function(Pointer<rthub_client_options>, Pointer<Pointer<rthub_client>>)>('rthub_client_new');

  late final rthub_client_start = _lib
      .lookupFunction<Int32 Function(Pointer<rthub_client>), int Function(Pointer<rthub_client>)>('rthub_client_start');

  late final rthub_client_stop = _lib
      .lookupFunction<Int32 Function(Pointer<rthub_client>), int Function(Pointer<rthub_client>)>('rthub_client_stop');

  /// The address of rthub_client_free, for the NativeFinalizer of RthubClient.
  late final rthub_client_free_ptr =
      _lib.lookup<NativeFunction<Void Function(Pointer<rthub_client>)>>('rthub_client_free');

  late final rthub_client_free = _lib
      .lookupFunction<Void Function(Pointer<rthub_client>), void Function(Pointer<rthub_client>)>('rthub_client_free');

  late final rthub_client_subscribe = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client>, Pointer<Char>, Pointer<rthub_position>),
      int Function(Pointer<rthub_client>, Pointer<Char>, Pointer<rthub_position>)>('rthub_client_subscribe');

  late final rthub_client_subscribe_with = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client>, Pointer<Char>, Pointer<rthub_position>, Uint32),
      int Function(Pointer<rthub_client>, Pointer<Char>, Pointer<rthub_position>, int)>('rthub_client_subscribe_with');

  late final rthub_client_presence = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client>, Pointer<Char>, Pointer<Uint64>),
      int Function(Pointer<rthub_client>, Pointer<Char>, Pointer<Uint64>)>('rthub_client_presence');

  late final rthub_client_publish_keyed = _lib.lookupFunction<
      Int32 Function(
          Pointer<rthub_client>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Size, Pointer<Char>, Uint32, Pointer<Uint64>),
      int Function(Pointer<rthub_client>, Pointer<Char>, Pointer<Char>, Pointer<Char>, int, Pointer<Char>, int,
          Pointer<Uint64>)>('rthub_client_publish_keyed');

  late final rthub_client_unsubscribe = _lib.lookupFunction<Int32 Function(Pointer<rthub_client>, Pointer<Char>),
      int Function(Pointer<rthub_client>, Pointer<Char>)>('rthub_client_unsubscribe');

  late final rthub_client_publish = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Size, Pointer<Uint64>),
      int Function(
          Pointer<rthub_client>, Pointer<Char>, Pointer<Char>, Pointer<Char>, int, Pointer<Uint64>)>('rthub_client_publish');

  late final rthub_client_next_event = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client>, Int, Pointer<Pointer<rthub_client_event>>),
      int Function(Pointer<rthub_client>, int, Pointer<Pointer<rthub_client_event>>)>('rthub_client_next_event');

  late final rthub_client_fd =
      _lib.lookupFunction<Int Function(Pointer<rthub_client>), int Function(Pointer<rthub_client>)>('rthub_client_fd');

  late final rthub_client_get_counters = _lib.lookupFunction<
      Int32 Function(Pointer<rthub_client>, Pointer<rthub_client_counters>),
      int Function(Pointer<rthub_client>, Pointer<rthub_client_counters>)>('rthub_client_get_counters');

  late final rthub_client_state_name =
      _lib.lookupFunction<Pointer<Char> Function(Int32), Pointer<Char> Function(int)>('rthub_client_state_name');

  late final rthub_transport_name =
      _lib.lookupFunction<Pointer<Char> Function(Int32), Pointer<Char> Function(int)>('rthub_transport_name');
}
