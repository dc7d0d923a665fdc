#!/usr/bin/env python3
"""check_bindings.py: verifies the dart:ffi bindings of rthub without a Dart SDK.

It parses lib/src/bindings.dart and include/rthub/rthub.h and checks that

  * every symbol the Dart code looks up is declared in rthub.h and exported by librthub.so
    (nm -D --defined-only);
  * each Dart native signature matches the C prototype: argument count, and each argument's and
    the result's C type (Int32/Uint32/Int64/Uint64/Size/Int/Double/Pointer<...>/Void ... against
    int32_t/uint32_t/.../size_t/int/double/T*/void, enums as 32-bit ints, opaque handles and
    structs by name, function pointers through their typedefs);
  * the Dart function type of each lookupFunction is the Dart mirror of its native type
    (Int32 -> int, Double -> double, Pointer<T> -> Pointer<T>, Void -> void);
  * every `final class X extends Struct` mirrors the C struct X: same fields, same order, same
    names and types (@Array(n) for arrays); every `extends Opaque` names a C type;
  * every constants class (`abstract final class X { static const NAME = n; }`) named after a C
    enum has each of its enumerators, with the same values, and nothing else;
  * every Dart function typedef named after a C callback type (`typedef rthub_channel_fn =
    Void Function(...)`) has its signature, so that a NativeCallable built on it is right;
  * `rthubHeaderVersion` is the RTHUB_VERSION_NUMBER of the header.

C functions of rthub.h that the Dart code does not bind are listed as a note (not an error).

Usage:
  check_bindings.py --library build/lib/librthub.so [--header include/rthub/rthub.h]
                    [--dart bindings/dart/lib/src/bindings.dart] [--nm nm]
Exit status 0 when everything matches, 1 with one line per problem otherwise.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

# ---------------------------------------------------------------------------------------------
# Types. Both sides are reduced to one shape:
#   ("prim", name)          a C arithmetic type, canonical name: int, uint32_t, size_t, double ...
#   ("void",)
#   ("named", name)         a struct or opaque typedef, by name
#   ("ptr", type)           pointer to type
#   ("array", type, n)      array of n
#   ("fn", ret, [params])   a function type (what a function pointer points to)
#   ("enum", name)          a C enum typedef (compatible with 32-bit ints)

# Dart native integer/float types and the C types they stand for.
DART_PRIMS = {
    "Int8": {"int8_t"}, "Uint8": {"uint8_t"}, "Int16": {"int16_t"}, "Uint16": {"uint16_t"},
    "Int32": {"int32_t", "int", "enum"}, "Uint32": {"uint32_t", "unsigned int", "enum"},
    "Int64": {"int64_t", "long long"}, "Uint64": {"uint64_t", "unsigned long long"},
    "Int": {"int", "int32_t", "enum"}, "UnsignedInt": {"unsigned int", "uint32_t", "enum"},
    "Long": {"long"}, "UnsignedLong": {"unsigned long"}, "LongLong": {"long long", "int64_t"},
    "UnsignedLongLong": {"unsigned long long", "uint64_t"},
    "Short": {"short"}, "UnsignedShort": {"unsigned short"},
    "Size": {"size_t", "uintptr_t"}, "UintPtr": {"uintptr_t", "size_t"}, "IntPtr": {"intptr_t", "ptrdiff_t"},
    "Char": {"char"}, "SignedChar": {"signed char"}, "UnsignedChar": {"unsigned char"},
    "Double": {"double"}, "Float": {"float"}, "Bool": {"bool", "_Bool"},
}
# As the pointee of a pointer, char may also be seen as bytes or package:ffi's Utf8.
CHAR_POINTEES = {"Char", "Utf8", "Uint8", "Int8"}
DART_FLOATS = {"Double", "Float"}

C_TYPE_WORDS = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool", "bool"}
C_FIXED = {"int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t",
           "size_t", "intptr_t", "uintptr_t", "ptrdiff_t"}


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def show(t):
    """A readable form of a type, for messages."""
    kind = t[0]
    if kind == "prim":
        return t[1]
    if kind == "void":
        return "void"
    if kind in ("named", "enum"):
        return t[1]
    if kind == "ptr":
        return show(t[1]) if t[1][0] == "fn" else show(t[1]) + "*"
    if kind == "array":
        return "%s[%d]" % (show(t[1]), t[2])
    if kind == "fn":
        return "%s(*)(%s)" % (show(t[1]), ", ".join(show(p) for p in t[2]))
    if kind == "dart":
        return dart_show(t[1])
    return repr(t)


# ---------------------------------------------------------------------------------------------
# C header


class CHeader:
    def __init__(self):
        self.functions = {}   # name -> ("fn", ret, params)
        self.structs = {}     # name -> [(field, type)]
        self.opaque = set()   # typedef struct X X; without a body
        self.enums = set()
        self.fnptrs = {}      # typedef name -> ("fn", ret, params)
        self.aliases = {}     # typedef name -> type
        self.enum_values = {}  # enum name -> {enumerator: value}
        self.version_number = None  # RTHUB_VERSION_NUMBER, from the MAJOR/MINOR/PATCH macros


def parse_version_number(text):
    parts = {}
    for m in re.finditer(r"#\s*define\s+RTHUB_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)", text):
        parts[m.group(1)] = int(m.group(2))
    if len(parts) != 3:
        return None
    return parts["MAJOR"] * 10000 + parts["MINOR"] * 100 + parts["PATCH"]


def enumerators(tokens):
    """{name: value} of an enum body's tokens; a name without '=' is one more than the last."""
    values, last = {}, -1
    for item in split_top(tokens, ","):
        if not item:
            continue
        if len(item) >= 3 and item[1] == "=":
            last = int("".join(item[2:]), 0)
        else:
            last += 1
        values[item[0]] = last
    return values


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = text.replace("\\\n", " ")  # a continued line (a macro over two lines) is one line
    out, skip = [], 0
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("#"):
            if re.match(r"#\s*if(def)?\s+__cplusplus", s) or (skip and re.match(r"#\s*if", s)):
                skip += 1
            elif skip and re.match(r"#\s*endif", s):
                skip -= 1
            continue
        if not skip:
            out.append(line)
    text = "\n".join(out)
    return re.sub(r"\bRTHUB_API\b", " ", text)


def c_tokens(text):
    return re.findall(r"[A-Za-z_]\w*|\d+|\.\.\.|\S", text)


def split_top(tokens, sep):
    """Splits a token list at `sep` outside (), [] and {}."""
    parts, cur, depth = [], [], 0
    for tok in tokens:
        if tok in "([{":
            depth += 1
        elif tok in ")]}":
            depth -= 1
        if tok == sep and depth == 0:
            parts.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        parts.append(cur)
    return parts


class CParser:
    def __init__(self, header):
        self.h = header

    def base_type(self, words):
        """Type of a list of specifier words (const/struct/enum already removed)."""
        h = self.h
        if not words:
            raise ValueError("missing type")
        if all(w in C_TYPE_WORDS for w in words):
            ws = [w for w in words if w != "signed"] if words != ["signed", "char"] else words
            if ws == ["void"]:
                return ("void",)
            name = " ".join(ws)
            name = {"unsigned": "unsigned int", "long int": "long", "unsigned long int": "unsigned long",
                    "long long int": "long long", "short int": "short", "_Bool": "bool"}.get(name, name)
            if name == "int" and "signed" in words and len(words) == 2:
                name = "int"
            return ("prim", name)
        if len(words) != 1:
            raise ValueError("unsupported type: " + " ".join(words))
        w = words[0]
        if w in C_FIXED:
            return ("prim", w)
        if w in h.enums:
            return ("enum", w)
        if w in h.fnptrs:
            return ("ptr", h.fnptrs[w])
        if w in h.aliases:
            return h.aliases[w]
        if w in h.structs or w in h.opaque:
            return ("named", w)
        raise ValueError("unknown C type: " + w)

    def declarator(self, tokens, named=True):
        """'const char *const *name[4]' -> (name, type). Unnamed parameters give name None."""
        toks = [t for t in tokens if t not in ("const", "volatile", "struct", "enum", "restrict")]
        array = None
        if "[" in toks:
            i = toks.index("[")
            array = int(toks[i + 1])
            toks = toks[:i]
        stars = toks.count("*")
        words = [t for t in toks if t != "*"]
        name = None
        if named and len(words) >= 2 and words[-1] not in C_TYPE_WORDS and words[-1] not in C_FIXED:
            name = words.pop()
        elif named and len(words) == 2 and words[-1] not in C_TYPE_WORDS:
            name = words.pop()
        t = self.base_type(words)
        for _ in range(stars):
            t = ("ptr", t)
        if array is not None:
            t = ("array", t, array)
        return name, t

    def params(self, tokens):
        if tokens in ([], ["void"]):
            return []
        out = []
        for p in split_top(tokens, ","):
            _, t = self.declarator(p)
            out.append(t)
        return out

    def statement(self, toks):
        h = self.h
        if not toks:
            return
        if toks[0] == "typedef":
            body = toks[1:]
            if body[0] in ("enum", "struct") and "{" in body:
                kind = body[0]
                i, j = body.index("{"), len(body) - 1 - body[::-1].index("}")
                name = body[j + 1]
                if kind == "enum":
                    h.enums.add(name)
                    h.enum_values[name] = enumerators(body[i + 1:j])
                    return
                fields = []
                h.opaque.discard(name)
                h.structs[name] = fields  # registered first: a field may point to its own struct
                for decl in split_top(body[i + 1:j], ";"):
                    # 'uint64_t a, b' -> the specifiers apply to each declarator
                    parts = split_top(decl, ",")
                    first = parts[0]
                    end = first.index("[") if "[" in first else len(first)
                    spec_end = end - 1  # the field's name
                    if "*" in first[:end]:
                        spec_end = min(spec_end, first.index("*"))
                    spec = [t for t in first[:spec_end] if t != "*"]
                    # the declarator of the first part is what follows the specifiers
                    decls = [first[spec_end:]] + parts[1:]
                    for d in decls:
                        fname, ftype = self.declarator(spec + d)
                        fields.append((fname, ftype))
                return
            if body[0] == "struct" and len(body) == 3:
                if body[2] not in h.structs:
                    h.opaque.add(body[2])
                return
            if "(" in body and body[body.index("(") + 1] == "*":  # typedef R (*name)(params)
                i = body.index("(")
                name = body[i + 2]
                _, ret = self.declarator(body[:i], named=False)
                close = body.index(")", i)
                plist = body[close + 2:len(body) - 1]
                h.fnptrs[name] = ("fn", ret, self.params(plist))
                return
            name, t = self.declarator(body)
            h.aliases[name] = t
            return
        if "(" in toks and toks[-1] == ")":
            i = toks.index("(")
            name = toks[i - 1]
            _, ret = self.declarator(toks[:i - 1], named=False)
            h.functions[name] = ("fn", ret, self.params(toks[i + 1:-1]))


def parse_header(path):
    header = CHeader()
    text = read_text(path)
    header.version_number = parse_version_number(text)
    tokens = c_tokens(strip_c(text))
    parser = CParser(header)
    for stmt in split_top(tokens, ";"):
        try:
            parser.statement(stmt)
        except (ValueError, IndexError) as e:
            raise SystemExit("check_bindings: cannot parse %s near: %s (%s)" % (path, " ".join(stmt[:12]), e))
    return header


# ---------------------------------------------------------------------------------------------
# Dart


def strip_dart(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def dart_tokens(text):
    return re.findall(r"[A-Za-z_$][\w$]*|\d+|'[^']*'|\S", text)


class DartTypeParser:
    """Parses Dart type expressions: Name<Args>, Ret Function(Params) with optional param names."""

    def __init__(self, tokens):
        self.t = tokens
        self.i = 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, expected=None):
        tok = self.peek()
        if expected is not None and tok != expected:
            raise ValueError("expected %r, got %r" % (expected, tok))
        self.i += 1
        return tok

    def type(self):
        name = self.take()
        if not re.match(r"[A-Za-z_]", name or ""):
            raise ValueError("expected a type, got %r" % name)
        args = []
        if self.peek() == "<":
            self.take("<")
            args.append(self.type())
            while self.peek() == ",":
                self.take(",")
                args.append(self.type())
            self.take(">")
        t = ("t", name, tuple(args))
        while self.peek() == "Function":
            self.take("Function")
            self.take("(")
            params = []
            while self.peek() != ")":
                params.append(self.type())
                if self.peek() not in (",", ")"):  # a parameter name
                    self.take()
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            t = ("f", t, tuple(params))
        return t


def dart_show(t):
    if t[0] == "f":
        return "%s Function(%s)" % (dart_show(t[1]), ", ".join(dart_show(p) for p in t[2]))
    if t[2]:
        return "%s<%s>" % (t[1], ", ".join(dart_show(a) for a in t[2]))
    return t[1]


def parse_type_text(tokens):
    # '>>' is two tokens already ('>' '>'), since the tokenizer splits every symbol
    p = DartTypeParser(tokens)
    t = p.type()
    if p.i != len(tokens):
        raise ValueError("trailing tokens: " + " ".join(tokens[p.i:]))
    return t


class DartFile:
    def __init__(self):
        self.opaque = {}     # name -> line
        self.structs = {}    # name -> (line, [(field, native type or ('array', type, n))])
        self.typedefs = {}   # name -> dart type
        self.bindings = []   # (symbol, native, dart or None, line)
        self.constants = {}  # class name -> (line, [(name, value, line)])
        self.typedef_lines = {}  # typedef name -> line
        self.header_version = None  # (value, line) of rthubHeaderVersion


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def matching(tokens, i, open_tok, close_tok):
    """Index of the token closing the bracket opened at tokens[i]."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] == open_tok:
            depth += 1
        elif tokens[j] == close_tok:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced %s" % open_tok)


def parse_dart(path):
    raw = read_text(path)
    text = strip_dart(raw)
    d = DartFile()

    for m in re.finditer(r"final\s+class\s+(\w+)\s+extends\s+Opaque\s*\{\s*\}", text):
        d.opaque[m.group(1)] = line_of(text, m.start())

    for m in re.finditer(r"abstract\s+final\s+class\s+(\w+)\s*\{([^}]*)\}", text):
        consts = [(c.group(1), int(c.group(2), 0), line_of(text, m.start(2) + c.start()))
                  for c in re.finditer(r"static\s+const\s+(\w+)\s*=\s*(-?\w+)\s*;", m.group(2))]
        d.constants[m.group(1)] = (line_of(text, m.start()), consts)

    m = re.search(r"const\s+rthubHeaderVersion\s*=\s*(\d+)\s*;", text)
    if m:
        d.header_version = (int(m.group(1)), line_of(text, m.start()))

    for m in re.finditer(r"typedef\s+(\w+)\s*=\s*([^;]+);", text):
        d.typedef_lines[m.group(1)] = line_of(text, m.start())
        try:
            d.typedefs[m.group(1)] = parse_type_text(dart_tokens(m.group(2)))
        except ValueError as e:
            raise SystemExit("check_bindings: %s:%d: typedef %s: %s" % (path, line_of(text, m.start()), m.group(1), e))

    for m in re.finditer(r"final\s+class\s+(\w+)\s+extends\s+Struct\s*\{", text):
        body_start = m.end()
        depth, j = 1, body_start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        body = text[body_start:j - 1]
        fields = []
        # [@Annotation(args)]* external Type name;
        for f in re.finditer(r"((?:@\w+\([^)]*\)\s*)*)external\s+([^;]+?)\s+(\w+)\s*;", body):
            annotations = re.findall(r"@(\w+)\(([^)]*)\)", f.group(1))
            dtype = parse_type_text(dart_tokens(f.group(2)))
            ann = [a for a in annotations if a[0] != "Array"]
            arr = [a for a in annotations if a[0] == "Array"]
            if arr:
                if dtype[1] != "Array" or len(dtype[2]) != 1:
                    raise SystemExit("check_bindings: %s: %s.%s: @Array needs an Array<T> field" % (path, m.group(1), f.group(3)))
                native = ("array", dtype[2][0], int(arr[0][1]))
            elif ann:
                native = ("t", ann[0][0], ())
                if dtype[1] not in ("int", "double", "bool"):
                    raise SystemExit("check_bindings: %s: %s.%s: @%s on a %s field" % (path, m.group(1), f.group(3), ann[0][0], dtype[1]))
            else:
                native = dtype
            fields.append((f.group(3), native, line_of(text, body_start + f.start())))
        d.structs[m.group(1)] = (line_of(text, m.start()), fields)

    toks = dart_tokens(text)
    # token positions -> lines: recompute by scanning the text for each symbol string
    for i, tok in enumerate(toks):
        if tok not in ("lookupFunction", "lookup") or i + 1 >= len(toks) or toks[i + 1] != "<":
            continue
        close = matching(toks, i + 1, "<", ">")
        args = split_top_dart(toks[i + 2:close])
        if close + 2 >= len(toks) or toks[close + 1] != "(" or not toks[close + 2].startswith("'"):
            continue
        symbol = toks[close + 2].strip("'")
        line = line_of(text, text.find("'%s'" % symbol))
        try:
            if tok == "lookupFunction":
                if len(args) != 2:
                    raise ValueError("lookupFunction needs <Native, Dart>")
                native, dart = parse_type_text(args[0]), parse_type_text(args[1])
            else:
                t = parse_type_text(args[0]) if len(args) == 1 else None
                if not t or t[0] != "t" or t[1] != "NativeFunction" or len(t[2]) != 1:
                    raise ValueError("lookup<NativeFunction<...>> expected")
                native, dart = t[2][0], None
        except ValueError as e:
            raise SystemExit("check_bindings: %s:%d: %s: %s" % (path, line, symbol, e))
        d.bindings.append((symbol, native, dart, line))
    return d


def split_top_dart(tokens):
    parts, cur, depth = [], [], 0
    for tok in tokens:
        if tok in "<(":
            depth += 1
        elif tok in ">)":
            depth -= 1
        if tok == "," and depth == 0:
            parts.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        parts.append(cur)
    return parts


# ---------------------------------------------------------------------------------------------
# Comparison


class Checker:
    def __init__(self, header, dart):
        self.h = header
        self.d = dart
        self.errors = []

    def resolve(self, t):
        """Follows Dart typedef names of function types."""
        while t[0] == "t" and not t[2] and t[1] in self.d.typedefs:
            t = self.d.typedefs[t[1]]
        return t

    def match(self, dt, ct, pointee=False):
        """None when the Dart native type dt stands for the C type ct, else why not."""
        dt = self.resolve(dt)
        kind = ct[0]
        if kind == "void":
            return None if dt == ("t", "Void", ()) else "want Void"
        if kind == "prim" or kind == "enum":
            cname = "enum" if kind == "enum" else ct[1]
            if dt[0] != "t" or dt[2]:
                return "want a native integer or float type"
            if pointee and cname == "char" and dt[1] in CHAR_POINTEES:
                return None
            if dt[1] not in DART_PRIMS:
                return "%s is not a native number type" % dt[1]
            return None if cname in DART_PRIMS[dt[1]] else "%s does not stand for %s" % (dt[1], show(ct))
        if kind == "named":
            if dt != ("t", ct[1], ()):
                return "want %s" % ct[1]
            if ct[1] in self.h.structs and ct[1] not in self.d.structs:
                return "%s is a C struct: mirror it with `final class %s extends Struct`" % (ct[1], ct[1])
            if ct[1] in self.h.opaque and ct[1] not in self.d.opaque and ct[1] not in self.d.structs:
                return "%s is opaque in C: declare `final class %s extends Opaque {}`" % (ct[1], ct[1])
            return None
        if kind == "ptr":
            target = ct[1]
            if target[0] == "fn":
                if dt[0] != "t" or dt[1] != "Pointer" or len(dt[2]) != 1:
                    return "want Pointer<NativeFunction<...>>"
                nf = dt[2][0]
                if nf[0] != "t" or nf[1] != "NativeFunction" or len(nf[2]) != 1:
                    return "want Pointer<NativeFunction<...>>"
                return self.match_fn(nf[2][0], target)
            if dt[0] != "t" or dt[1] != "Pointer" or len(dt[2]) != 1:
                return "want Pointer<%s>" % show(target)
            if target[0] == "void":
                return None if self.resolve(dt[2][0]) == ("t", "Void", ()) else "want Pointer<Void>"
            why = self.match(dt[2][0], target, pointee=True)
            return None if why is None else "pointer to: " + why
        if kind == "array":
            if dt[0] != "array" or dt[2] != ct[2]:
                return "want @Array(%d) Array<...>" % ct[2]
            return self.match(dt[1], ct[1], pointee=True)
        if kind == "fn":
            return self.match_fn(dt, ct)
        return "unsupported C type %s" % show(ct)

    def match_fn(self, dt, ct):
        dt = self.resolve(dt)
        if dt[0] != "f":
            return "want a native function type"
        _, ret, params = dt
        _, cret, cparams = ct
        if len(params) != len(cparams):
            return "%d arguments, the C prototype has %d" % (len(params), len(cparams))
        why = self.match(ret, cret)
        if why:
            return "result: %s (C: %s)" % (why, show(cret))
        for n, (p, cp) in enumerate(zip(params, cparams), 1):
            why = self.match(p, cp)
            if why:
                return "argument %d: %s, got %s (C: %s)" % (n, why, dart_show(self.resolve(p)), show(cp))
        return None

    def dart_side(self, native):
        """The Dart type that lookupFunction expects for a native type."""
        native = self.resolve(native)
        if native[0] == "f":
            return ("f", self.dart_side(native[1]), tuple(self.dart_side(p) for p in native[2]))
        name = native[1]
        if name == "Void":
            return ("t", "void", ())
        if name in DART_FLOATS:
            return ("t", "double", ())
        if name == "Bool":
            return ("t", "bool", ())
        if name in DART_PRIMS:
            return ("t", "int", ())
        return native

    def check_bindings(self, exported):
        seen = set()
        for symbol, native, dart, line in self.d.bindings:
            where = "bindings.dart:%d: %s" % (line, symbol)
            if symbol not in self.h.functions:
                self.errors.append("%s: not declared in rthub.h" % where)
                continue
            if exported is not None and symbol not in exported:
                self.errors.append("%s: not exported by the library (nm -D --defined-only)" % where)
            why = self.match_fn(native, self.h.functions[symbol])
            if why:
                self.errors.append("%s: native signature %s does not match the C prototype %s: %s"
                                   % (where, dart_show(self.resolve(native)), show(self.h.functions[symbol]), why))
            elif dart is not None:
                want = self.dart_side(native)
                got = self.resolve(dart)
                if got != want:
                    self.errors.append("%s: Dart type %s is not the mirror of the native type (want %s)"
                                       % (where, dart_show(got), dart_show(want)))
            seen.add(symbol)
        return seen

    def check_structs(self):
        for name, (line, fields) in self.d.structs.items():
            where = "bindings.dart:%d: struct %s" % (line, name)
            if name not in self.h.structs:
                self.errors.append("%s: no such struct in rthub.h" % where)
                continue
            cfields = self.h.structs[name]
            if len(fields) != len(cfields):
                self.errors.append("%s: %d fields, the C struct has %d" % (where, len(fields), len(cfields)))
            for n, ((fname, ftype, fline), (cname, ctype)) in enumerate(zip(fields, cfields), 1):
                fwhere = "bindings.dart:%d: %s.%s" % (fline, name, fname)
                if fname != cname:
                    self.errors.append("%s: field %d is %s in C (order or name differs)" % (fwhere, n, cname))
                why = self.match(ftype, ctype)
                if why:
                    got = dart_show(ftype) if ftype[0] != "array" else "Array(%d)" % ftype[2]
                    self.errors.append("%s: %s, got %s (C: %s %s)" % (fwhere, why, got, show(ctype), cname))
        for name, line in self.d.opaque.items():
            if name not in self.h.opaque and name not in self.h.structs:
                self.errors.append("bindings.dart:%d: opaque %s: no such C type in rthub.h" % (line, name))


    def check_enums(self):
        for name, (line, consts) in self.d.constants.items():
            where = "bindings.dart:%d: %s" % (line, name)
            if name not in self.h.enum_values:
                self.errors.append("%s: no such enum in rthub.h" % where)
                continue
            cvalues = self.h.enum_values[name]
            for const, value, cline in consts:
                if const not in cvalues:
                    self.errors.append("bindings.dart:%d: %s.%s: no such enumerator in rthub.h" % (cline, name, const))
                elif cvalues[const] != value:
                    self.errors.append("bindings.dart:%d: %s.%s is %d, rthub.h says %d"
                                       % (cline, name, const, value, cvalues[const]))
            missing = sorted(set(cvalues) - {c[0] for c in consts})
            if missing:
                self.errors.append("%s: lacks %s of rthub.h" % (where, ", ".join(missing)))

    def check_callback_typedefs(self):
        for name, line in self.d.typedef_lines.items():
            if name not in self.h.fnptrs:
                continue
            why = self.match_fn(self.d.typedefs[name], self.h.fnptrs[name])
            if why:
                self.errors.append("bindings.dart:%d: typedef %s does not match the C callback type %s: %s"
                                   % (line, name, show(self.h.fnptrs[name]), why))

    def check_version(self):
        if self.d.header_version is None:
            self.errors.append("bindings.dart: no `const rthubHeaderVersion = N;` (RTHUB_VERSION_NUMBER)")
        elif self.d.header_version[0] != self.h.version_number:
            self.errors.append("bindings.dart:%d: rthubHeaderVersion is %d, rthub.h's RTHUB_VERSION_NUMBER is %s"
                               % (self.d.header_version[1], self.d.header_version[0], self.h.version_number))


def exported_symbols(library, nm):
    out = subprocess.run([nm, "-D", "--defined-only", library], check=True, capture_output=True, text=True).stdout
    symbols = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "TtWwDdBbRrVv":
            symbols.add(parts[2].split("@")[0])
    return symbols


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header", default=os.path.join(REPO, "include", "rthub", "rthub.h"))
    ap.add_argument("--dart", default=os.path.join(REPO, "bindings", "dart", "lib", "src", "bindings.dart"))
    ap.add_argument("--library", default=os.environ.get("RTHUB_LIBRARY"),
                    help="librthub.so to check the symbols against (default: $RTHUB_LIBRARY)")
    ap.add_argument("--nm", default=os.environ.get("NM", "nm"))
    args = ap.parse_args(argv)
    if not args.library:
        ap.error("--library (or RTHUB_LIBRARY) is required")

    header = parse_header(args.header)
    dart = parse_dart(args.dart)
    checker = Checker(header, dart)
    seen = checker.check_bindings(exported_symbols(args.library, args.nm))
    checker.check_structs()
    checker.check_enums()
    checker.check_callback_typedefs()
    checker.check_version()
    if not dart.bindings:
        checker.errors.append("bindings.dart: no lookupFunction/lookup bindings found")

    for error in checker.errors:
        print(error)
    unbound = sorted(set(header.functions) - seen)
    summary = "%d bindings, %d structs, %d opaque types, %d enums, %d callback types checked against %s and %s" % (
        len(dart.bindings), len(dart.structs), len(dart.opaque), len(dart.constants),
        len([n for n in dart.typedef_lines if n in header.fnptrs]),
        os.path.relpath(args.header), os.path.relpath(args.library))
    if unbound:
        print("note: C functions without a Dart binding: " + ", ".join(unbound))
    if checker.errors:
        print("check_bindings: FAILED: %d problem(s); %s" % (len(checker.errors), summary))
        return 1
    print("check_bindings: OK: " + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
