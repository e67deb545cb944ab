#!/usr/bin/env python3
"""Compare scalar expressions between PostgreSQL and a running Freshet.

Usage: pg_compare.py EXPRS.txt [--pg DSN] [--freshet DSN] [--all]

EXPRS.txt holds one expression per line (blank lines and lines starting with
`#` are skipped). For each, both servers run `SELECT <expr>` and
`SELECT pg_typeof(<expr>)::text`; the script prints every expression whose value
text, type or error SQLSTATE differs (with `--all`, every expression), then a
count. Values are compared as each server's text output.

DSNs default to $PGCOMPARE_PG (else `host=/tmp/pg-lead port=5498
user=postgres dbname=postgres`) and $PGCOMPARE_FRESHET (else
`host=127.0.0.1 port=6875 user=freshet dbname=freshet`). Needs psycopg2
(~/.cache/freshet-tools/python/bin/python has it).
"""

import argparse
import os

import psycopg2

# A connection whose values come back as the server's own text.
from pg_expect import connect


def evaluate(conn, expr):
    """(value text, type text) or ('ERROR <sqlstate>', message)."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {expr}")
            row = cur.fetchone()
            value = None if row is None else row[0]
            cur.execute(f"SELECT pg_typeof({expr})::text")
            typ = cur.fetchone()[0]
        return ("NULL" if value is None else str(value)), typ
    except psycopg2.Error as e:
        message = str(e).strip().split("\n")[0]
        return f"ERROR {e.pgcode}", message


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "PGCOMPARE_PG", "host=/tmp/pg-lead port=5498 user=postgres dbname=postgres"
        ),
    )
    parser.add_argument(
        "--freshet",
        default=os.environ.get(
            "PGCOMPARE_FRESHET", "host=127.0.0.1 port=6875 user=freshet dbname=freshet"
        ),
    )
    parser.add_argument("--all", action="store_true", help="print agreeing expressions too")
    args = parser.parse_args()
    pg = connect(args.pg)
    fr = connect(args.freshet)
    total = differ = 0
    with open(args.file) as f:
        exprs = [line.strip() for line in f]
    for expr in exprs:
        if not expr or expr.startswith("#"):
            continue
        total += 1
        p = evaluate(pg, expr)
        r = evaluate(fr, expr)
        # Errors agree when their SQLSTATEs do; messages are shown, not compared.
        same = p[0] == r[0] and (p[0].startswith("ERROR") or p[1] == r[1])
        if not same:
            differ += 1
        if not same or args.all:
            mark = "  " if same else "!="
            print(f"{mark} {expr}")
            print(f"     pg:      {p[0]}  :: {p[1]}")
            print(f"     freshet: {r[0]}  :: {r[1]}")
    print(f"{differ} of {total} expressions differ")


if __name__ == "__main__":
    main()
