#!/usr/bin/env python3
"""How much of the SQLite store's code repeats in the PostgreSQL store.

Usage: python3 scripts/store-repetition.py [SRC_DIR]

Reads every .rs file under SRC_DIR/store (default src/store) whose path names `sqlite` or
`postgres`. Code lines are compared after folding white space, dropping blank lines, comment
lines and lines of punctuation alone, and treating the placeholders `?`, `?N` and `$N` alike.
A SQLite code line counts as repeated when it lies in a run of 6 or more consecutive code lines
that also stands, line for line, in a PostgreSQL file. Prints the repeated share of the SQLite
code lines, and the same the other way round.
"""
import os
import re
import sys

RUN = 6


def code_lines(path):
    out = []
    for raw in open(path, encoding="utf-8"):
        line = " ".join(raw.split())
        if not line or line.startswith("//") or re.fullmatch(r"[\s{}()\[\];,.]*", line):
            continue
        line = re.sub(r"\$\d+|\?\d+|\?", "?", line)
        out.append(line)
    return out


def windows(lines):
    return {tuple(lines[i:i + RUN]) for i in range(len(lines) - RUN + 1)}


def repeated(side, other):
    seen = set()
    for lines in other.values():
        seen |= windows(lines)
    total = covered = 0
    for lines in side.values():
        mark = [False] * len(lines)
        for i in range(len(lines) - RUN + 1):
            if tuple(lines[i:i + RUN]) in seen:
                for j in range(i, i + RUN):
                    mark[j] = True
        total += len(lines)
        covered += sum(mark)
    return covered, total


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    store = os.path.join(src, "store")
    files = {"sqlite": {}, "postgres": {}}
    for root, _, names in os.walk(store):
        for name in names:
            path = os.path.join(root, name)
            if not name.endswith(".rs"):
                continue
            for backend in files:
                if backend in os.path.relpath(path, store):
                    files[backend][path] = code_lines(path)
    for side, other in (("sqlite", "postgres"), ("postgres", "sqlite")):
        covered, total = repeated(files[side], files[other])
        share = 100.0 * covered / total if total else 0.0
        print(f"{side}: {covered} of {total} code lines repeat in {other} ({share:.1f} %)")


if __name__ == "__main__":
    main()
