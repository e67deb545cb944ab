#!/usr/bin/env python3
"""Fill the expected results of a sqllogictest file from PostgreSQL.

Usage: pg_expect.py FILE.slt [--pg DSN] [--write] [--messages]

Runs every record of FILE against a PostgreSQL server, in order, and prints the
file with each `query` record's results replaced by PostgreSQL's (or, with
`--write`, rewrites FILE in place). Statements run as they are; a record under
`skipif postgres` is skipped and kept as it is. Results use the harness's
conventions (sql-tests/README.md): PostgreSQL's text output, `NULL`, `(empty)`
for the empty string, one row per line with the values separated by spaces,
rows sorted for `rowsort` and values one per line and sorted for `valuesort`.

Everything that does not go as written is reported on stderr: a `statement ok`
or `query` that fails on PostgreSQL (Freshet-only syntax, say), an `error`
record that PostgreSQL runs without an error, and a `statement error (XXXXX)`
or `query error (XXXXX)` record whose SQLSTATE is not PostgreSQL's. With
`--messages`, every other `error` record's pattern is matched, as the harness
does, against PostgreSQL's error as the harness would see it (`(sqlstate
XXXXX) db error: ERROR: message`), and a pattern that does not match is
reported too. The record is then kept
unchanged. The file runs in a fresh database, dropped afterwards. DSN defaults to $PGEXPECT_DSN or `host=/tmp/pg-lead port=5498
user=postgres dbname=postgres`. Needs psycopg2 (the test venv has it:
~/.cache/freshet-tools/python/bin/python).
"""

import argparse
import os
import re
import sys

import psycopg2
import psycopg2.extensions

DEFAULT_DSN = "host=/tmp/pg-lead port=5498 user=postgres dbname=postgres"


def raw_text(value, _cursor):
    return value


def connect(dsn):
    """An autocommit connection whose values come back as the server's text."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_type")
        oids = tuple(row[0] for row in cur.fetchall())
    # Every type comes back as PostgreSQL's own text.
    as_text = psycopg2.extensions.new_type(oids, "FRESHET_RAW", raw_text)
    psycopg2.extensions.register_type(as_text, conn)
    array_text = psycopg2.extensions.new_array_type(oids, "FRESHET_RAW_ARRAY", as_text)
    del array_text  # arrays are in `oids` too (their own pg_type rows): text as well
    return conn


def split_records(text):
    """Yields lists of lines; records are separated by blank lines."""
    record = []
    for line in text.split("\n"):
        if line.strip() == "":
            if record:
                yield record
                record = []
            yield None  # a blank line, kept as it is
        else:
            record.append(line)
    if record:
        yield record


def cell(value):
    if value is None:
        return "NULL"
    if value == "":
        return "(empty)"
    # One row per line: a line break inside a value becomes a space (the
    # harness compares with whitespace normalised).
    return str(value).replace("\r\n", " ").replace("\n", " ")


def type_letter(type_code):
    if type_code in (20, 21, 23, 26):
        return "I"
    if type_code in (700, 701, 1700):
        return "R"
    return "T"


def run_query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else []
        letters = "".join(type_letter(d.type_code) for d in cur.description or [])
    return letters, rows


def format_results(rows, sort_mode):
    if sort_mode == "valuesort":
        values = sorted(cell(v) for row in rows for v in row)
        return values
    lines = [" ".join(cell(v) for v in row) for row in rows]
    if sort_mode == "rowsort":
        lines.sort()
    return lines


SQLSTATE_ONLY = re.compile(r"^\(([0-9A-Z]{5})\)$")


def check_error(pattern, error, where, check_messages):
    """Reports an `error` record whose expectation PostgreSQL's error does not meet."""
    code = getattr(error, "pgcode", None)
    only = SQLSTATE_ONLY.match(pattern.strip())
    if only:
        if code != only.group(1):
            print(
                f"{where}: expected SQLSTATE {only.group(1)}, PostgreSQL gives {first_line(error)}",
                file=sys.stderr,
            )
        return
    if not check_messages or not pattern.strip():
        return
    message = str(getattr(error, "pgerror", None) or error).strip().split("\n")[0]
    message = re.sub(r"^ERROR:\s*", "", message)
    seen = f"(sqlstate {code}) db error: ERROR: {message}"
    try:
        matched = re.search(pattern.strip(), seen)
    except re.error:
        return
    if not matched:
        print(f"{where}: pattern {pattern.strip()!r} does not match PostgreSQL's {seen!r}", file=sys.stderr)


def process(records, conn, where, check_messages=False):
    out = []
    line_no = 1
    for record in records:
        if record is None:
            out.append("")
            line_no += 1
            continue
        start = line_no
        line_no += len(record)
        out.extend(handle(record, conn, f"{where}:{start}", check_messages))
    return out


def handle(record, conn, where, check_messages=False):
    lines = list(record)
    # Leading comments and conditions.
    i = 0
    skip = False
    while i < len(lines) and (lines[i].startswith("#") or lines[i].split()[0] in ("skipif", "onlyif")):
        words = lines[i].split()
        if words[0] == "skipif" and len(words) > 1 and words[1] == "postgres":
            skip = True
        if words[0] == "onlyif" and len(words) > 1 and not words[1].startswith("postgres"):
            skip = True
        i += 1
    if i == len(lines) or skip:
        return lines
    head = lines[i].split()
    kind = head[0]
    if kind == "statement":
        sql = "\n".join(lines[i + 1:])
        expect_error = len(head) > 1 and head[1] == "error"
        pattern = lines[i].split("error", 1)[1] if expect_error else ""
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
            if expect_error:
                print(f"{where}: PostgreSQL ran a `statement error` without an error", file=sys.stderr)
        except psycopg2.Error as e:
            if not expect_error:
                print(f"{where}: statement failed on PostgreSQL: {first_line(e)}", file=sys.stderr)
            else:
                check_error(pattern, e, where, check_messages)
        return lines
    if kind == "query":
        try:
            sep = lines.index("----", i + 1)
        except ValueError:
            sep = len(lines)
        sql = "\n".join(lines[i + 1:sep])
        expect_error = len(head) > 1 and head[1] == "error"
        pattern = lines[i].split("error", 1)[1] if expect_error else ""
        try:
            letters, rows = run_query(conn, sql)
        except psycopg2.Error as e:
            if not expect_error:
                print(f"{where}: query failed on PostgreSQL: {first_line(e)}", file=sys.stderr)
            else:
                check_error(pattern, e, where, check_messages)
            return lines
        if expect_error:
            print(f"{where}: PostgreSQL ran a `query error` without an error", file=sys.stderr)
            return lines
        types = head[1] if len(head) > 1 else letters
        if len(types) != len(letters):
            types = letters
        sort_mode = next((w for w in head[2:] if w in ("rowsort", "valuesort", "nosort")), None)
        new_head = " ".join(["query", types] + head[2:])
        body = format_results(rows, sort_mode)
        return lines[:i] + [new_head] + lines[i + 1:sep] + ["----"] + body
    return lines


def first_line(error):
    text = str(error).strip().split("\n")[0]
    code = getattr(error, "pgcode", None)
    return f"{code} {text}" if code else text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("--pg", default=os.environ.get("PGEXPECT_DSN", DEFAULT_DSN))
    parser.add_argument("--write", action="store_true", help="rewrite FILE in place")
    parser.add_argument(
        "--messages",
        action="store_true",
        help="also match every error record's pattern against PostgreSQL's error",
    )
    args = parser.parse_args()
    with open(args.file) as f:
        text = f.read()
    # Each run gets a fresh database, so files are independent of each other
    # (as each run of the harness gets a fresh server).
    admin = psycopg2.connect(args.pg)
    admin.autocommit = True
    scratch = f"freshet_expect_{os.getpid()}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {scratch}")
    try:
        conn = connect(f"{args.pg} dbname={scratch}")
        try:
            out = process(list(split_records(text)), conn, args.file, args.messages)
        finally:
            conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE {scratch}")
        admin.close()
    # split_records yields one None per blank line, and one for the text after
    # the final newline, so joining restores the file's own line ends.
    result = "\n".join(out)
    if args.write:
        with open(args.file, "w") as f:
            f.write(result)
    else:
        sys.stdout.write(result)


if __name__ == "__main__":
    main()
