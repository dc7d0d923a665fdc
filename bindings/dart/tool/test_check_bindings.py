#!/usr/bin/env python3
"""Tests of check_bindings.py: the real bindings pass, and copies of bindings.dart with one
signature or struct changed on purpose fail, each with a message that names the problem.

Usage: test_check_bindings.py --library build/lib/librthub.so   (or RTHUB_LIBRARY=...)
"""

import argparse
import contextlib
import io
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import check_bindings  # noqa: E402

DART = os.path.join(HERE, "..", "lib", "src", "bindings.dart")
LIBRARY = os.environ.get("RTHUB_LIBRARY")

# (what the mutation does, text in bindings.dart, its replacement, words the failure must contain)
MUTATIONS = [
    ("a result type changed (Int32 -> Int64)",
     "Int32 Function(Pointer<rthub_hub>), int Function(Pointer<rthub_hub>)>('rthub_hub_start')",
     "Int64 Function(Pointer<rthub_hub>), int Function(Pointer<rthub_hub>)>('rthub_hub_start')",
     ["rthub_hub_start", "result"]),
    ("an argument type changed (Size -> Uint32)",
     "Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Size, Pointer<rthub_position>)",
     "Int32 Function(Pointer<rthub_hub>, Pointer<Char>, Pointer<Char>, Pointer<Char>, Uint32, Pointer<rthub_position>)",
     ["rthub_hub_publish", "argument 5"]),
    ("an argument dropped",
     "Int32 Function(Pointer<rthub_client>, Pointer<Char>, Pointer<rthub_position>),",
     "Int32 Function(Pointer<rthub_client>, Pointer<Char>),",
     ["rthub_client_subscribe", "2 arguments", "has 3"]),
    ("a pointer to the wrong struct",
     "Int32 Function(Pointer<rthub_hub>, Pointer<rthub_stats>),",
     "Int32 Function(Pointer<rthub_hub>, Pointer<rthub_position>),",
     ["rthub_hub_stats", "argument 2"]),
    ("a symbol the library does not export",
     "('rthub_client_fd')",
     "('rthub_client_fd_v2')",
     ["rthub_client_fd_v2", "not declared in rthub.h"]),
    ("a Dart type that does not mirror the native one",
     "Pointer<Char> Function(Int32), Pointer<Char> Function(int)>('rthub_strerror')",
     "Pointer<Char> Function(Int32), Pointer<Char> Function(double)>('rthub_strerror')",
     ["rthub_strerror", "not the mirror"]),
    ("a struct field type changed (@Uint64 -> @Uint32)",
     "  @Uint64()\n  external int seq;\n}",
     "  @Uint32()\n  external int seq;\n}",
     ["rthub_position.seq", "Uint32"]),
    ("two struct fields swapped",
     "  @Uint64()\n  external int accepted_ws;\n  @Uint64()\n  external int accepted_sse;",
     "  @Uint64()\n  external int accepted_sse;\n  @Uint64()\n  external int accepted_ws;",
     ["rthub_stats.accepted_sse", "order"]),
    ("a struct field missing",
     "  @Int()\n  external int allowed_by_rules;\n",
     "",
     ["rthub_channel_info", "4 fields", "has 5"]),
    ("an array length changed",
     "@Array(64)",
     "@Array(32)",
     ["rthub_position.epoch", "Array(64)"]),
    ("an enum value changed",
     "static const RTHUB_ERR_UNKNOWN_OUTCOME = 9;",
     "static const RTHUB_ERR_UNKNOWN_OUTCOME = 10;",
     ["rthub_err.RTHUB_ERR_UNKNOWN_OUTCOME", "is 10", "says 9"]),
    ("an enumerator missing",
     "  static const RTHUB_CLIENT_FALLBACK = 3;\n",
     "",
     ["rthub_client_state", "lacks RTHUB_CLIENT_FALLBACK"]),
    ("a callback typedef with a wrong argument (checked on its own, as a NativeCallable uses it)",
     "typedef rthub_publish_done_fn = Void Function(Int32 err,",
     "typedef rthub_publish_done_fn = Void Function(Int64 err,",
     ["typedef rthub_publish_done_fn", "argument 1"]),
    ("the header version of the bindings behind rthub.h",
     "const rthubHeaderVersion = 200;",
     "const rthubHeaderVersion = 100;",
     ["rthubHeaderVersion is 100"]),
    ("an options _init without the struct size",
     "Int32 Function(Pointer<rthub_hub_options>, Size),\n      int Function(Pointer<rthub_hub_options>, int)>",
     "Int32 Function(Pointer<rthub_hub_options>),\n      int Function(Pointer<rthub_hub_options>)>",
     ["rthub_hub_options_init", "1 arguments", "has 2"]),
    ("a function pointer typedef with a wrong argument",
     "Pointer<rthub_channel_info> info, Pointer<rthub_channel_check> check, Pointer<Void> user_data);",
     "Pointer<rthub_channel_info> info, Pointer<rthub_channel_check> check, Int64 user_data);",
     ["rthub_hub_set_auth", "argument 3"]),
]


def run_checker(dart_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check_bindings.main(["--dart", dart_path, "--library", LIBRARY])
    return code, out.getvalue()


class CheckBindingsTest(unittest.TestCase):
    def test_real_bindings_pass(self):
        code, out = run_checker(DART)
        self.assertEqual(code, 0, out)
        self.assertIn("check_bindings: OK", out)

    def test_each_mutation_fails(self):
        original = check_bindings.read_text(DART)
        for what, old, new, words in MUTATIONS:
            with self.subTest(what):
                self.assertEqual(original.count(old), 1, "the mutation's text must occur once: " + old)
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "bindings.dart")
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(original.replace(old, new))
                    code, out = run_checker(path)
                self.assertEqual(code, 1, "%s: the checker passed:\n%s" % (what, out))
                for word in words:
                    self.assertIn(word, out, "%s: the report lacks %r:\n%s" % (what, word, out))

    def test_symbol_declared_but_not_exported_is_caught(self):
        # A prototype in the header that the built library lacks (not compiled, hidden, renamed).
        header = check_bindings.read_text(os.path.join(check_bindings.REPO, "include", "rthub", "rthub.h"))
        dart = check_bindings.read_text(DART)
        anchor = "  late final rthub_client_fd ="
        self.assertEqual(dart.count(anchor), 1)
        with tempfile.TemporaryDirectory() as tmp:
            hpath, dpath = os.path.join(tmp, "rthub.h"), os.path.join(tmp, "bindings.dart")
            with open(hpath, "w", encoding="utf-8") as f:
                f.write(header.replace("#ifdef __cplusplus\n}", "RTHUB_API int rthub_not_built(void);\n#ifdef __cplusplus\n}"))
            with open(dpath, "w", encoding="utf-8") as f:
                f.write(dart.replace(anchor, "  late final rthub_not_built = _lib.lookupFunction<Int Function(), "
                                             "int Function()>('rthub_not_built');\n\n" + anchor))
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = check_bindings.main(["--header", hpath, "--dart", dpath, "--library", LIBRARY])
        self.assertEqual(code, 1, out.getvalue())
        self.assertIn("rthub_not_built: not exported by the library", out.getvalue())

    def test_missing_struct_field_in_header_is_caught(self):
        # The other direction: the C header grows a field that the Dart struct lacks.
        header = check_bindings.read_text(os.path.join(check_bindings.REPO, "include", "rthub", "rthub.h"))
        marker = "  uint64_t watchdog_timeouts;"
        self.assertEqual(header.count(marker), 1)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rthub.h")
            with open(path, "w", encoding="utf-8") as f:
                f.write(header.replace(marker, marker + "\n  uint64_t new_counter;"))
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = check_bindings.main(["--header", path, "--library", LIBRARY])
        self.assertEqual(code, 1, out.getvalue())
        self.assertIn("rthub_client_counters", out.getvalue())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", default=LIBRARY)
    args, rest = ap.parse_known_args()
    if not args.library:
        ap.error("--library (or RTHUB_LIBRARY) is required")
    LIBRARY = args.library
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
