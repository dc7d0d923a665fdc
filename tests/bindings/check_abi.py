#!/usr/bin/env python3
"""check_abi.py: what librthub.so exports.

  * Every C symbol it exports is named rthub_* (nm -D --defined-only); nothing of its
    dependencies or of the C++ standard library leaks out.
  * Every function that rthub.h declares with RTHUB_API is exported.
  * C++ symbols (mangled _Z...) are accepted only in namespace rthub (rthub::..., and the
    typeinfo/vtable of its classes), as lib/rthub.map allows for the C++ API (hub.hpp, client.hpp),
    and never for implementation details (X::Impl, rthub::client::...); they are listed. With
    --c-only, any C++ symbol fails the check: the C ABI alone is exported.
  * The library has a SONAME (librthub.so.MAJOR.MINOR).

Usage: check_abi.py LIBRARY HEADER [--c-only] [--nm nm] [--readelf readelf]
"""

import argparse
import re
import subprocess
import sys


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def exported(nm, library):
    """[(raw name, demangled name)] of the defined dynamic symbols."""
    raw = run([nm, "-D", "--defined-only", library]).splitlines()
    demangled = run([nm, "-D", "--defined-only", "-C", library]).splitlines()
    out = []
    for r, d in zip(raw, demangled):
        rp, dp = r.split(maxsplit=2), d.split(maxsplit=2)
        if len(rp) < 3:
            continue
        out.append((rp[2].split("@")[0], dp[2] if len(dp) == 3 else rp[2]))
    return out


def declared_functions(header):
    text = open(header, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return sorted(set(re.findall(r"RTHUB_API\b[^;(]*?\b(rthub_\w+)\s*\(", text)))


CXX_OK = re.compile(r"^(rthub::|typeinfo for rthub::|typeinfo name for rthub::|vtable for rthub::)")
# Implementation details that the public headers name only as an opaque pointer (the pimpl
# classes) or not at all (internal namespaces): exporting them makes them part of the ABI.
CXX_INTERNAL = re.compile(r"::Impl\b|\brthub::(client|detail|internal)::")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("library")
    ap.add_argument("header")
    ap.add_argument("--c-only", action="store_true", help="fail on any exported C++ symbol")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--readelf", default="readelf")
    args = ap.parse_args()

    problems = []
    symbols = exported(args.nm, args.library)
    names = {raw for raw, _ in symbols}
    c_symbols = sorted(raw for raw, _ in symbols if not raw.startswith("_Z"))
    cxx_symbols = sorted(dem for raw, dem in symbols if raw.startswith("_Z"))

    for name in c_symbols:
        if not name.startswith("rthub_"):
            problems.append("exports %s: only rthub_* C symbols may be exported" % name)
    for name in cxx_symbols:
        if args.c_only:
            problems.append("exports the C++ symbol %s (--c-only)" % name)
        elif not CXX_OK.match(name):
            problems.append("exports the C++ symbol %s, outside namespace rthub" % name)
        elif CXX_INTERNAL.search(name):
            problems.append("exports the C++ implementation detail %s (hide it: "
                            "class __attribute__((visibility(\"hidden\"))) ..., as lib/hub.cpp does for Hub::Impl)"
                            % name)
    for name in declared_functions(args.header):
        if name not in names:
            problems.append("%s is declared RTHUB_API in rthub.h but not exported" % name)

    dynamic = run([args.readelf, "-d", args.library])
    soname = re.search(r"\(SONAME\).*\[(.*)\]", dynamic)
    if not soname or not re.match(r"librthub\.so\.\d+", soname.group(1)):
        problems.append("no SONAME librthub.so.N (got %s)" % (soname.group(1) if soname else "none"))

    print("%s: %d C symbols (rthub_*), %d C++ symbols, SONAME %s"
          % (args.library, len(c_symbols), len(cxx_symbols), soname.group(1) if soname else "-"))
    if cxx_symbols:
        print("C++ symbols exported (namespace rthub, the C++ API of hub.hpp/client.hpp):")
        for name in cxx_symbols:
            print("  " + name)
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print("ABI: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
