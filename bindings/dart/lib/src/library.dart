import 'dart:ffi';
import 'dart:io' show Platform;

import 'package:ffi/ffi.dart';

import 'bindings.dart';

String? _libraryPath;
RthubBindings? _bindings;

/// Loads librthub from [path] instead of the platform's default name. Call it before any other
/// rthub API (typically in main()).
void useRthubLibrary(String path) {
  if (_bindings != null && path != _libraryPath) {
    throw StateError('librthub is already loaded from ${_libraryPath ?? 'the default location'}');
  }
  _libraryPath = path;
}

/// The path given to [useRthubLibrary], or null for the platform's default.
String? get rthubLibraryPath => _libraryPath;

/// Opens librthub: [path] when given, else $RTHUB_LIBRARY, else the platform's name for it
/// (librthub.so on Linux and Android, librthub.dylib on macOS, rthub.dll on Windows). On iOS the
/// static library is linked into the app itself.
DynamicLibrary openRthubLibrary([String? path]) {
  path ??= Platform.environment['RTHUB_LIBRARY'];
  if (path != null && path.isNotEmpty) return DynamicLibrary.open(path);
  if (Platform.isIOS) return DynamicLibrary.process();
  if (Platform.isMacOS) return DynamicLibrary.open('librthub.dylib');
  if (Platform.isWindows) return DynamicLibrary.open('rthub.dll');
  return DynamicLibrary.open('librthub.so');
}

/// The bindings of this isolate, opened on first use. A library older than the header these
/// bindings mirror is refused here, with its version, rather than called with structs it cannot
/// read.
RthubBindings get rthubBindings => _bindings ??= _checked(RthubBindings(openRthubLibrary(_libraryPath)));

RthubBindings _checked(RthubBindings b) {
  int version;
  try {
    version = b.rthub_version_number();
  } on ArgumentError {
    version = 0; // before 0.2: no rthub_version_number
  }
  if (version < rthubHeaderVersion) {
    throw StateError('librthub ${b.rthub_version().cast<Utf8>().toDartString()} is older than the '
        'rthub.h of these bindings ($rthubHeaderVersion): update the library');
  }
  return b;
}

/// The version of the loaded library, "MAJOR.MINOR.PATCH".
String rthubVersion() => rthubBindings.rthub_version().cast<Utf8>().toDartString();

/// Reads a C string of known length (not necessarily NUL-terminated).
String stringOf(Pointer<Char> text, int length) =>
    length == 0 ? '' : text.cast<Utf8>().toDartString(length: length);

/// Copies [text] into native memory from [allocator] as a NUL-terminated UTF-8 C string.
Pointer<Char> nativeString(String text, Allocator allocator) => text.toNativeUtf8(allocator: allocator).cast<Char>();
