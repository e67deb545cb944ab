#!/usr/bin/env python3
"""Randomized differential testing of query shapes against PostgreSQL.

Usage: pg_fuzz.py {recursive,subquery,outer} [--seed N] [--count N]
                  [--pg DSN] [--freshet DSN] [--log FILE] [--timeout S] [-v]

Generates `--count` queries of one family from `--seed` (the same seed gives
the same queries) and runs each against PostgreSQL and a running Freshet:

* `recursive`: `WITH RECURSIVE` whose recursive term joins the work table
  with tables, derived tables and CTEs (inner, comma and cross joins, keys
  of one or two columns, non-equality conditions), `UNION` and `UNION ALL`
  (the latter with a depth bound), read by plain, filtered, grouped and
  joined outer queries;
* `subquery`: `[NOT] EXISTS`, `[NOT] IN` (NULLs on both sides), `op
  ANY/ALL` and scalar subqueries (aggregated, or not: `21000` for more
  than one row), correlated or not, in `WHERE` and in the select list;
* `outer`: subqueries inside subqueries that read the outermost query (two
  levels out), in the middle query's `WHERE`, select list, aggregate
  arguments and `HAVING`, above and below its aggregate.

Each case runs in a fresh schema on both servers. On Freshet the query is
first created as a materialized view, before any data; then after the
initial rows and after each of a few changes (inserts, updates, deletes) the
one-shot answer and the view's rows are compared with PostgreSQL's, as
multisets of the servers' text output. An error must carry PostgreSQL's
SQLSTATE; Freshet's `0A000` (unsupported) is counted as refused, not as a
difference. A statement that does not answer within `--timeout` seconds is a
hang (its connection is dropped); with `--log`, a `panicked` line appearing
in the server's log stops the run. Prints each difference, then counts.

DSNs default to $PGCOMPARE_PG and $PGCOMPARE_FRESHET as in pg_compare.py.
Needs psycopg2 (~/.cache/freshet-tools/python/bin/python has it).
"""

import argparse
import os
import random
import select
import sys
import time

import psycopg2
import psycopg2.extensions
import psycopg2.extras


def raw_text(value, _cursor):
    return value


class Server:
    """An asynchronous connection (so a statement can time out) whose values
    come back as the server's text."""

    def __init__(self, dsn, timeout):
        self.dsn = dsn
        self.timeout = timeout
        self.conn = None
        self.oids = None
        self.schema = None
        self.init = []
        self.reconnect()

    def reconnect(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
        self.conn = psycopg2.connect(self.dsn, async_=1)
        self.wait()
        if self.oids is None:
            rows = self.run_raw("SELECT oid FROM pg_type")
            self.oids = tuple(int(r[0]) for r in rows)
        as_text = psycopg2.extensions.new_type(self.oids, "FUZZ_RAW", raw_text)
        psycopg2.extensions.register_type(as_text, self.conn)
        for sql in self.init:
            self.run_raw(sql)
        if self.schema is not None:
            self.run_raw(f"SET search_path = {self.schema}")

    def wait(self):
        deadline = time.monotonic() + self.timeout
        while True:
            state = self.conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if state == psycopg2.extensions.POLL_READ:
                select.select([self.conn.fileno()], [], [], left)
            elif state == psycopg2.extensions.POLL_WRITE:
                select.select([], [self.conn.fileno()], [], left)

    def run_raw(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        self.wait()
        return cur.fetchall() if cur.description is not None else None

    def run(self, sql):
        """('rows', sorted rows) or ('error', sqlstate, message) or
        ('timeout',)."""
        try:
            rows = self.run_raw(sql)
        except TimeoutError:
            self.reconnect()
            return ("timeout",)
        except psycopg2.OperationalError as e:
            if self.conn.closed:
                self.reconnect()
                return ("error", "closed", str(e).strip())
            return ("error", e.pgcode, str(e).strip().split("\n")[0])
        except psycopg2.Error as e:
            return ("error", e.pgcode, str(e).strip().split("\n")[0])
        rows = rows or []
        return ("rows", sorted(tuple("NULL" if v is None else v for v in r) for r in rows))

    def enter(self, schema):
        self.run(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self.run(f"CREATE SCHEMA {schema}")
        self.schema = schema
        self.run(f"SET search_path = {schema}")

    def leave(self, schema):
        self.schema = None
        self.run("SET search_path = public")
        self.run(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ---------------------------------------------------------------------------
# Data


def value(rng, hi=5, null=0.2):
    return "NULL" if rng.random() < null else str(rng.randint(0, hi))


def rows_of(rng, arity, n, hi=5, null=0.2):
    return [tuple(value(rng, hi, null) for _ in range(arity)) for _ in range(n)]


def insert(table, rows):
    return f"INSERT INTO {table} VALUES " + ", ".join("(" + ", ".join(r) + ")" for r in rows)


def changes(rng, tables):
    """A few random changes of the tables: (name, columns) pairs."""
    out = []
    for _ in range(rng.randint(2, 4)):
        name, cols = rng.choice(tables)
        kind = rng.randint(0, 2)
        col = rng.choice(cols)
        if kind == 0:
            out.append(insert(name, rows_of(rng, len(cols), rng.randint(1, 3))))
        elif kind == 1:
            other = rng.choice(cols)
            out.append(
                f"UPDATE {name} SET {col} = {value(rng)} WHERE {other} = {rng.randint(0, 5)}"
            )
        else:
            cond = rng.choice([f"{col} = {rng.randint(0, 5)}", f"{col} IS NULL", f"{col} > 3"])
            out.append(f"DELETE FROM {name} WHERE {cond}")
    return out


# ---------------------------------------------------------------------------
# WITH RECURSIVE


REC_TABLES = [("e", ["src", "dst"]), ("n", ["id", "w"])]
REC_DDL = ["CREATE TABLE e (src int, dst int)", "CREATE TABLE n (id int, w int)"]


def recursive_case(rng):
    union_all = rng.random() < 0.5
    depth = union_all or rng.random() < 0.3
    bound = rng.randint(1, 5)
    # Base term: rows (a, b[, d]).
    base = rng.choice(
        [
            "SELECT src, dst FROM e",
            f"SELECT src, dst FROM e WHERE src = {rng.randint(0, 5)}",
            f"SELECT src, dst FROM e WHERE src < {rng.randint(0, 5)} OR dst IS NULL",
            f"SELECT {rng.randint(0, 5)}, {rng.randint(0, 5)}",
            "SELECT id, w FROM n WHERE w IS NOT NULL",
            f"VALUES ({rng.randint(0, 5)}, {rng.randint(0, 5)}), ({rng.randint(0, 5)}, NULL)",
            "SELECT DISTINCT src, src FROM e",
        ]
    )
    if depth:
        if base.startswith("VALUES"):
            base = f"SELECT column1, column2, 0 FROM ({base}) v"
        else:
            base = base.replace("SELECT src, dst", "SELECT src, dst, 0", 1)
            base = base.replace("SELECT id, w", "SELECT id, w, 0", 1)
            base = base.replace("SELECT DISTINCT src, src", "SELECT DISTINCT src, src, 0", 1)
            if base.startswith("SELECT ") and base.count(",") == 1 and "FROM" not in base:
                base = base + ", 0"
    # The recursive term: the work table r joined with tables.
    other = rng.choice(
        [
            ("e", "src", "dst"),
            ("n", "id", "w"),
            ("(SELECT src, max(dst) AS dst FROM e GROUP BY src)", "src", "dst"),
            ("(SELECT DISTINCT dst AS src, src AS dst FROM e)", "src", "dst"),
            ("(SELECT id AS src, w AS dst FROM n WHERE w > 1)", "src", "dst"),
            ("c", "src", "dst"),
        ]
    )
    table, key, val = other
    alias = "x"
    on = rng.choice(
        [
            f"r.b = {alias}.{key}",
            f"r.b = {alias}.{key} AND r.a <> {alias}.{val}",
            f"r.b = {alias}.{key} AND r.a = {alias}.{val}",
            f"r.b + 1 = {alias}.{key}",
            f"r.b < {alias}.{key}",
            f"r.b IS NOT DISTINCT FROM {alias}.{key}",
            f"(r.a, r.b) = ({alias}.{val}, {alias}.{key})",
            f"r.b = {alias}.{key} OR r.a = {alias}.{key}",
        ]
    )
    proj = rng.choice(
        [
            f"r.a, {alias}.{val}",
            f"{alias}.{key}, {alias}.{val}",
            f"r.b, {alias}.{val}",
            f"r.a, coalesce({alias}.{val}, r.b)",
            f"least(r.a, {alias}.{val}), greatest(r.b, {alias}.{val})",
        ]
    )
    if depth:
        proj += ", r.d + 1"
    join = rng.choice(["join", "join_swapped", "comma", "cross", "two"])
    from_table = f"{table} {alias}"
    if join == "join":
        body = f"FROM r JOIN {from_table} ON {on}"
        where = []
    elif join == "join_swapped":
        body = f"FROM {from_table} JOIN r ON {on}"
        where = []
    elif join == "comma":
        body = f"FROM r, {from_table}"
        where = [on]
    elif join == "cross":
        body = f"FROM r CROSS JOIN {from_table}"
        where = [on]
    else:
        body = f"FROM r JOIN {from_table} ON {on} JOIN n y ON y.id = {alias}.{val}"
        where = []
        if rng.random() < 0.5:
            proj = proj.replace(f"{alias}.{val}", "y.w", 1)
    if depth:
        where.append(f"r.d < {bound}")
    if rng.random() < 0.3:
        where.append(rng.choice([f"{alias}.{val} IS NOT NULL", "r.a <> r.b", f"{alias}.{key} > 0"]))
    recursive = f"SELECT {proj} {body}" + (" WHERE " + " AND ".join(where) if where else "")
    cols = "a, b, d" if depth else "a, b"
    union = "UNION ALL" if union_all else "UNION"
    ctes = []
    if table == "c":
        ctes.append("c(src, dst) AS (SELECT src, dst FROM e WHERE dst IS NOT NULL)")
    ctes.append(f"r({cols}) AS ({base} {union} {recursive})")
    outer = rng.choice(
        [
            f"SELECT {cols} FROM r",
            "SELECT a, count(*) AS n FROM r GROUP BY a",
            "SELECT count(*) AS n, count(DISTINCT b) AS m FROM r",
            f"SELECT {cols} FROM r WHERE a = {rng.randint(0, 5)}",
            f"SELECT DISTINCT {cols} FROM r",
            "SELECT r.a, n.w FROM r JOIN n ON r.b = n.id",
            "SELECT a, b FROM r WHERE b IN (SELECT src FROM e)",
            "SELECT r1.a, r2.b FROM r r1 JOIN r r2 ON r1.b = r2.a",
        ]
    )
    sql = "WITH RECURSIVE " + ", ".join(ctes) + " " + outer
    data = [insert("e", rows_of(rng, 2, rng.randint(2, 8))), insert("n", rows_of(rng, 2, rng.randint(1, 5)))]
    return REC_DDL, data, changes(rng, REC_TABLES), sql


# ---------------------------------------------------------------------------
# Subqueries


SUB_TABLES = [("t", ["a", "b"]), ("s", ["k", "x"]), ("u", ["x", "y"])]
SUB_DDL = [
    "CREATE TABLE t (a int, b int)",
    "CREATE TABLE s (k int, x int)",
    "CREATE TABLE u (x int, y int)",
]
OPS = ["=", "<>", "<", "<=", ">", ">="]


def sub_data(rng):
    return [
        insert("t", rows_of(rng, 2, rng.randint(2, 6))),
        insert("s", rows_of(rng, 2, rng.randint(0, 6))),
        insert("u", rows_of(rng, 2, rng.randint(0, 6))),
    ]


def correlation(rng, inner, outer):
    """Conditions of a subquery over `inner` (alias, columns) reading
    `outer` (alias, columns)."""
    ia, icols = inner
    oa, ocols = outer
    kinds = [
        lambda: f"{ia}.{rng.choice(icols)} = {oa}.{rng.choice(ocols)}",
        lambda: f"{ia}.{rng.choice(icols)} {rng.choice(OPS)} {oa}.{rng.choice(ocols)}",
        lambda: f"{oa}.{rng.choice(ocols)} IS NULL",
        lambda: f"{ia}.{rng.choice(icols)} IS NOT DISTINCT FROM {oa}.{rng.choice(ocols)}",
        lambda: f"{ia}.{rng.choice(icols)} > {rng.randint(0, 4)}",
    ]
    n = rng.choice([0, 1, 1, 2])
    return [rng.choice(kinds)() for _ in range(n)]


def where(conds):
    return (" WHERE " + " AND ".join(conds)) if conds else ""


def subquery_case(rng):
    """A query over t with one subquery predicate or value over s or u."""
    inner_table = rng.choice([("s", ["k", "x"]), ("u", ["x", "y"])])
    name, icols = inner_table
    alias = name + "1"
    conds = correlation(rng, (alias, icols), ("t", ["a", "b"]))
    col = f"{alias}.{rng.choice(icols)}"
    sub = f"SELECT {col} FROM {name} {alias}{where(conds)}"
    lhs = rng.choice(["t.a", "t.b", "t.a + 1", "NULL::int", "2"])
    agg = rng.choice(["count(*)", f"count({col})", f"sum({col})", f"max({col})", f"min({col})"])
    having = rng.random() < 0.2
    grouped = f"SELECT {agg} FROM {name} {alias}{where(conds)}" + (
        f" GROUP BY {alias}.{icols[0]}" if having else ""
    )
    kind = rng.choice(["exists", "not_exists", "in", "not_in", "any", "all", "scalar", "scalar_raw"])
    if kind == "exists":
        pred = f"EXISTS ({sub})"
    elif kind == "not_exists":
        pred = f"NOT EXISTS ({sub})"
    elif kind == "in":
        pred = f"{lhs} IN ({sub})"
    elif kind == "not_in":
        pred = f"{lhs} NOT IN ({sub})"
    elif kind == "any":
        pred = f"{lhs} {rng.choice(OPS)} ANY ({sub})"
    elif kind == "all":
        pred = f"{lhs} {rng.choice(OPS)} ALL ({sub})"
    elif kind == "scalar":
        pred = f"{lhs} {rng.choice(OPS)} ({grouped})"
    else:
        pred = f"{lhs} {rng.choice(OPS)} ({sub})"
    wrap = rng.choice(["where", "select", "select_not", "where_or", "select_case", "where_and"])
    if wrap == "where":
        sql = f"SELECT a, b FROM t WHERE {pred}"
    elif wrap == "where_and":
        sql = f"SELECT a, b FROM t WHERE t.a IS NOT NULL AND {pred}"
    elif wrap == "where_or":
        sql = f"SELECT a, b FROM t WHERE t.b = 1 OR {pred}"
    elif wrap == "select":
        sql = f"SELECT a, b, {pred} FROM t"
    elif wrap == "select_not":
        sql = f"SELECT a, b, NOT ({pred}) FROM t"
    else:
        sql = f"SELECT a, CASE WHEN {pred} THEN 'y' ELSE 'n' END FROM t"
    if kind == "scalar" and rng.random() < 0.3:
        sql = f"SELECT a, ({grouped}) FROM t"
    return SUB_DDL, sub_data(rng), changes(rng, SUB_TABLES), sql


def outer_case(rng):
    """A subquery over s inside a subquery over t's rows whose innermost
    subquery over u reads t (two levels out), placed in the middle query's
    WHERE, select list, aggregate argument or HAVING."""
    top_col = rng.choice(["t.a", "t.b"])
    inner_conds = [f"u.y {rng.choice(OPS)} {top_col}"]
    if rng.random() < 0.7:
        inner_conds.append(rng.choice(["u.x = s.x", "u.x = s.k", "u.x > s.x"]))
    if rng.random() < 0.2:
        inner_conds.append(f"u.x = {rng.choice(['t.a', 't.b'])}")
    inner_agg = rng.choice(["count(*)", "max(u.y)", "sum(u.x)", "min(u.x)"])
    inner_scalar = f"(SELECT {inner_agg} FROM u{where(inner_conds)})"
    inner_exists = f"EXISTS (SELECT 1 FROM u{where(inner_conds)})"
    inner_in = f"s.x IN (SELECT u.x FROM u{where(inner_conds)})"
    inner_pred = rng.choice([inner_exists, inner_in, f"s.x < {inner_scalar}", f"NOT {inner_exists}"])
    mid_conds = []
    if rng.random() < 0.7:
        mid_conds.append(rng.choice(["s.k = t.a", "s.k = t.b", "s.x > t.a", "s.k IS NOT DISTINCT FROM t.a"]))
    mid_agg = rng.choice(["count(*)", "max(s.x)", "sum(s.x)", "count(s.x)"])
    place = rng.choice(["where", "above", "above_mix", "agg_arg", "having", "select_plain", "case_above"])
    if place == "where":
        mid = f"SELECT {mid_agg} FROM s{where(mid_conds + [inner_pred])}"
    elif place == "above":
        mid = f"SELECT {mid_agg} + {inner_scalar} FROM s{where(mid_conds)}"
    elif place == "above_mix":
        top_only = [c for c in inner_conds if "s." not in c]
        sc = f"(SELECT {inner_agg} FROM u{where(top_only)})"
        mid = f"SELECT coalesce({mid_agg}, 0) * 10 + {sc} FROM s{where(mid_conds)}"
    elif place == "case_above":
        top_only = [c for c in inner_conds if "s." not in c]
        ex = f"EXISTS (SELECT 1 FROM u{where(top_only)})"
        mid = f"SELECT CASE WHEN {ex} THEN {mid_agg} ELSE -1 END FROM s{where(mid_conds)}"
    elif place == "agg_arg":
        mid = f"SELECT sum({inner_scalar}) FROM s{where(mid_conds)}"
    elif place == "having":
        top_only = [c for c in inner_conds if "s." not in c]
        sc = f"(SELECT {inner_agg} FROM u{where(top_only)})"
        mid = f"SELECT {mid_agg} FROM s{where(mid_conds)} HAVING count(*) > {sc}"
    else:
        mid = f"SELECT {mid_agg} FROM s WHERE s.x = {inner_scalar}" + (
            f" AND {mid_conds[0]}" if mid_conds else ""
        )
    wrap = rng.choice(["select", "where", "exists"])
    if wrap == "select":
        sql = f"SELECT a, b, ({mid}) FROM t"
    elif wrap == "where":
        sql = f"SELECT a, b FROM t WHERE ({mid}) > {rng.randint(0, 3)}"
    else:
        sql = f"SELECT a, b FROM t WHERE EXISTS ({mid})"
    return SUB_DDL, sub_data(rng), changes(rng, SUB_TABLES), sql


FAMILIES = {"recursive": recursive_case, "subquery": subquery_case, "outer": outer_case}


# ---------------------------------------------------------------------------
# Running


def same(pg, fr):
    """Whether Freshet's result `fr` agrees with PostgreSQL's `pg`."""
    if pg[0] == "rows" and fr[0] == "rows":
        return pg[1] == fr[1]
    if pg[0] == "error" and fr[0] == "error":
        return pg[1] == fr[1]
    # PostgreSQL's statement_timeout (57014): both loop.
    return pg[0] == "error" and pg[1] == "57014" and fr[0] == "timeout"


def show(result):
    if result[0] == "rows":
        return repr(result[1][:20]) + (" ..." if len(result[1]) > 20 else "")
    return " ".join(str(x) for x in result)


def run_case(index, case, pg, fr, log, stats, verbose):
    ddl, data, steps, sql = case
    schema = f"fz_{index}"
    pg.enter(schema)
    fr.enter(schema)
    problems = []
    try:
        for s in ddl:
            pg.run(s)
            fr.run(s)
        view = fr.run(f"CREATE MATERIALIZED VIEW fz_view AS {sql}")
        maintained = view[0] == "rows"
        if not maintained:
            stats["view_refused" if view[1] == "0A000" else "view_error"] += 1
            if view[0] == "timeout" or view[1] not in ("0A000",):
                problems.append(f"CREATE MATERIALIZED VIEW: {show(view)}")
        for i, s in enumerate([None] + data + steps):
            if s is not None:
                a, b = pg.run(s), fr.run(s)
                if a[0] != b[0]:
                    problems.append(f"statement {s}: pg {show(a)}, freshet {show(b)}")
                if i < len(data):
                    continue  # compare once all the initial rows are in
            expected = pg.run(sql)
            got = fr.run(sql)
            stats["checks"] += 1
            if got[0] == "error" and got[1] == "0A000" and expected[0] != "error":
                stats["refused"] += 1
                if verbose:
                    print(f"[{index}] refused: {got[2]}\n  {sql}")
                break
            if not same(expected, got):
                problems.append(f"after {s!r}: one-shot: pg {show(expected)}, freshet {show(got)}")
            if maintained:
                got_view = fr.run("SELECT * FROM fz_view")
                stats["view_checks"] += 1
                if expected[0] == "error":
                    # The view's error surfaces when read (or it stays
                    # empty if the error is of a later step's rows).
                    if got_view[0] == "rows" and got_view[1] and got[0] == "error":
                        problems.append(
                            f"after {s!r}: view: pg {show(expected)}, freshet {show(got_view)}"
                        )
                elif not same(expected, got_view):
                    problems.append(
                        f"after {s!r}: view: pg {show(expected)}, freshet {show(got_view)}"
                    )
            if expected[0] == "rows":
                stats["rows_compared"] += len(expected[1])
    finally:
        fr.leave(schema)
        pg.leave(schema)
    if log and "panicked" in open(log, errors="replace").read():
        problems.append("the server panicked (see its log)")
    for p in problems:
        if "timeout" in p:
            stats["timeouts"] += 1
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("family", choices=sorted(FAMILIES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=200)
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
    parser.add_argument("--log", help="the Freshet server's log, checked for panics")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    pg = Server(args.pg, args.timeout)
    pg.init.append("SET statement_timeout = '10s'")
    pg.reconnect()
    fr = Server(args.freshet, args.timeout)
    stats = {k: 0 for k in ["checks", "view_checks", "refused", "view_refused", "view_error", "timeouts", "rows_compared"]}
    failed = 0
    for i in range(args.count):
        rng = random.Random(args.seed * 1_000_003 + i)
        case = FAMILIES[args.family](rng)
        problems = run_case(i, case, pg, fr, args.log, stats, args.verbose)
        if problems:
            failed += 1
            print(f"[{i}] {case[3]}")
            for s in case[1] + case[2]:
                print(f"    -- {s}")
            for p in problems:
                print(f"  {p}")
            sys.stdout.flush()
            if any("panicked" in p for p in problems):
                break
    print(
        f"{args.family}: {args.count} queries (seed {args.seed}), {failed} with differences; "
        + ", ".join(f"{k} {v}" for k, v in stats.items())
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
