import 'dart:ffi';

import 'bindings.dart';

/// Where a message sits in its channel: [seq] increases by one per message; [epoch] changes
/// whenever the channel's numbering restarts (history lost, hub restarted).
class RthubPosition {
  const RthubPosition(this.epoch, this.seq);

  final String epoch;
  final int seq;

  /// Reads an rthub_position (epoch is a NUL-terminated char[64]).
  factory RthubPosition.fromNative(rthub_position position) {
    final bytes = <int>[];
    for (var i = 0; i < 64; i++) {
      final c = position.epoch[i];
      if (c == 0) break;
      bytes.add(c);
    }
    return RthubPosition(String.fromCharCodes(bytes), position.seq);
  }

  /// Writes this position into [out] (epoch truncated to 63 bytes).
  void toNative(Pointer<rthub_position> out) {
    final codes = epoch.codeUnits;
    for (var i = 0; i < 64; i++) {
      out.ref.epoch[i] = i < codes.length && i < 63 ? codes[i] : 0;
    }
    out.ref.seq = seq;
  }

  @override
  bool operator ==(Object other) => other is RthubPosition && other.epoch == epoch && other.seq == seq;

  @override
  int get hashCode => Object.hash(epoch, seq);

  @override
  String toString() => '$epoch:$seq';
}
