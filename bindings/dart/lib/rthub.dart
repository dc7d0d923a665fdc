/// Embed rthub in Dart and Flutter apps: [RthubClient], a reconnecting client (WebSocket first,
/// Server-Sent Events when WebSocket cannot pass, exact resume), and [RthubHub], a hub served by
/// the app itself. Both bind librthub's C API through dart:ffi (see README.md for shipping the
/// library with an app).
library rthub;

export 'src/client.dart' show RthubClient, RthubClientOptions, RthubEvent, RthubEventKind, RthubClientState,
    RthubTransport, RthubClientCounters, RthubRequestException;
export 'src/errors.dart' show RthubException, RthubErrorCode;
export 'src/hub.dart' show RthubHub, RthubHubOptions, RthubStats, RthubTransportStats, RthubChannelRequest, RthubHistoryDirection;
export 'src/library.dart' show useRthubLibrary, rthubVersion;
export 'src/position.dart' show RthubPosition;
