#!/usr/bin/env python3
"""Writes a copy of rthub.h as a host built against another version would have it.

  old:   the fields that 0.2 appended to rthub_hub_options removed (from its "Since 0.2:" marker
         to "Add new fields just above here"): the layout of 0.1, today's hosts' header.
  newer: one field appended (`uint64_t future_field`) to each options struct, as a later
         version will.

Generated rather than kept as copies, so that the copies follow every other change of rthub.h.
"""
import argparse
import pathlib
import re
import sys

MARK = "  /* Add new fields just above here. */\n"
OPTIONS_STRUCTS = ("rthub_hub_options", "rthub_client_options", "rthub_publish_options")


def struct_span(text, name):
    start = text.index("typedef struct %s {" % name)
    return start, text.index(MARK, start)


def old(text):
    start, mark = struct_span(text, "rthub_hub_options")
    since = text.index("  /* Since 0.2: */\n", start, mark)
    return text[:since] + text[mark:]


def newer(text):
    for name in OPTIONS_STRUCTS:
        _, mark = struct_span(text, name)
        text = text[:mark] + "  uint64_t future_field; /* a field of a later rthub.h */\n" + text[mark:]
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--header", required=True)
    parser.add_argument("--mode", choices=("old", "newer"), required=True)
    parser.add_argument("--out", required=True, help="the rthub.h to write")
    args = parser.parse_args()
    text = pathlib.Path(args.header).read_text()
    try:
        result = old(text) if args.mode == "old" else newer(text)
    except ValueError:
        sys.exit("skewed_header.py: %s lacks a marker this script relies on" % args.header)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result)


if __name__ == "__main__":
    main()
