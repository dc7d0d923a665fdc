import 'package:ffi/ffi.dart';

import 'bindings.dart';
import 'library.dart';

/// The rthub_err codes of rthub.h.
enum RthubErrorCode {
  ok,
  invalid, // bad argument: channel name, JSON, option
  noMemory,
  state, // wrong state: not started, already started, stopped, closed
  io, // socket or file failure, e.g. the port cannot be bound
  unavailable, // the broker cannot take the message now
  tooLarge,
  timeout,
  internal, // a bug in rthub: please report it
  unknownOutcome, // a publish may or may not have happened (broker timeout): retry with its idempotency key
}

/// A failed call: the operation, its rthub_err code and the library's detail text.
class RthubException implements Exception {
  RthubException(this.operation, this.code, [this.detail = '']);

  final String operation;
  final RthubErrorCode code;
  final String detail;

  @override
  String toString() => 'RthubException: $operation: ${code.name}${detail.isEmpty ? '' : ': $detail'}';
}

/// Throws an [RthubException] for a non-zero rthub_err. The detail is read at once, on the
/// calling thread (rthub_last_error is per thread).
void checkError(int err, String operation) {
  if (err == rthub_err.RTHUB_OK) return;
  final detail = rthubBindings.rthub_last_error().cast<Utf8>().toDartString();
  final code = err > 0 && err < RthubErrorCode.values.length ? RthubErrorCode.values[err] : RthubErrorCode.internal;
  throw RthubException(operation, code, detail);
}
