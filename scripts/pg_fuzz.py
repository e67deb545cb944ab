#!/usr/bin/env python3
"""Randomized differential testing of query shapes against PostgreSQL.

Usage: pg_fuzz.py {recursive,subquery,outer,scalar} [--seed N] [--count N]
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
  arguments and `HAVING`, above and below its aggregate;
* `scalar`: random typed expressions over one table of every scalar type
  (smallint to bigint with their edges, numeric with scales, real and
  double, text, varchar and char, boolean, date, timestamp[tz], interval;
  NULLs) -- arithmetic, casts (also of bad text), CASE, coalesce, nullif,
  greatest/least, comparisons, LIKE, string, math and date/time functions
  -- in the select list, `WHERE`, `GROUP BY` keys and aggregate arguments
  (count [DISTINCT], sum, avg, min, max, bool_and/or, string_agg ORDER BY;
  no sums of floats, whose answer depends on row order; no infinite
  dates or timestamps in the data, which Freshet refuses).

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


# ---------------------------------------------------------------------------
# Scalar expressions and aggregates


SCALAR_COLS = [
    ("k", "int"),
    ("i2", "smallint"),
    ("i4", "int"),
    ("i8", "bigint"),
    ("n", "numeric(10,2)"),
    ("m", "numeric"),
    ("r", "real"),
    ("f", "double precision"),
    ("t", "text"),
    ("vc", "varchar(6)"),
    ("c", "char(4)"),
    ("b", "boolean"),
    ("dt", "date"),
    ("ts", "timestamp"),
    ("tz", "timestamptz"),
    ("iv", "interval"),
]
SCALAR_DDL = ["CREATE TABLE v (" + ", ".join(f"{c} {t}" for c, t in SCALAR_COLS) + ")"]
# The columns of each class of the expression generator.
CLASS_COLS = {
    "int": ["k", "i2", "i4", "i8"],
    "num": ["n", "m"],
    "float": ["r", "f"],
    "text": ["t", "vc", "c"],
    "bool": ["b"],
    "date": ["dt"],
    "ts": ["ts"],
    "tz": ["tz"],
    "iv": ["iv"],
}
TEXTS = ["", "a", "A", "ab", "abc", "Abc", " x ", "%_", "12", " 7 ", "-3", "1e3", "3.5",
         "abc", "true", "no", "2024-02-29", "2023-02-30", "10:30", "zz", "é", "a b"]
SMALL_INTS = [0, 1, 2, 3, 5, 7, -1, -2, 10, 100]


def s_lit(text):
    return "'" + text.replace("'", "''") + "'"


def s_value(rng, col, typ, null=0.15):
    """A random literal for column `col` of type `typ` (edges now and then)."""
    if rng.random() < null:
        return "NULL"
    edge = rng.random() < 0.06
    if col == "k":
        return str(rng.randint(0, 3))
    if typ == "smallint":
        return str(rng.choice([32767, -32768]) if edge else rng.choice(SMALL_INTS))
    if typ == "int":
        return str(rng.choice([2147483647, -2147483648]) if edge else rng.choice(SMALL_INTS + [1000, -50]))
    if typ == "bigint":
        return str(rng.choice([9223372036854775807, -9223372036854775808]) if edge
                   else rng.choice(SMALL_INTS + [123456789012]))
    if typ == "numeric(10,2)":
        return rng.choice(["0", "1.5", "-2.25", "0.01", "3", "99999999.99" if edge else "10.1", "-0.5", "2.675"])
    if typ == "numeric":
        return rng.choice(["0", "1.5", "-2.250", "0.0001", "3", "1e20" if edge else "7", "-0.5", "2.5", "123.456",
                           "'NaN'" if edge else "1"])
    if typ in ("real", "double precision"):
        return rng.choice(["0", "1.5", "-2.25", "0.1", "3", "1e20" if edge else "7", "-0.5", "2.5", "1e-5",
                           "'Infinity'" if edge else "4", "'-0'" if edge else "1"])
    if typ in ("text", "varchar(6)", "char(4)"):
        v = rng.choice(TEXTS)
        if typ != "text":
            v = v[:4]
        return s_lit(v)
    if typ == "boolean":
        return rng.choice(["true", "false"])
    if typ == "date":
        return s_lit(rng.choice(["2024-02-29", "2023-12-31", "2024-01-01", "1999-07-15", "2000-03-01",
                                 "2024-06-30"]))
    if typ in ("timestamp", "timestamptz"):
        return s_lit(rng.choice(["2024-02-29 13:45:10", "2023-12-31 23:59:59.5", "2024-01-01 00:00:00",
                                 "1999-07-15 06:07:08.123456", "2000-03-01 12:00:00",
                                 "2024-06-30 18:00:00"]))
    if typ == "interval":
        return s_lit(rng.choice(["1 day", "2 hours", "1 mon", "-3 days", "00:00:30", "1 year 2 mons",
                                 "1 day 02:03:04", "0"]))
    raise ValueError(typ)


def s_row(rng):
    return tuple(s_value(rng, c, t) for c, t in SCALAR_COLS)


def scalar_changes(rng):
    out = []
    for _ in range(rng.randint(2, 4)):
        kind = rng.randint(0, 2)
        key = rng.randint(0, 3)
        if kind == 0:
            out.append(insert("v", [s_row(rng) for _ in range(rng.randint(1, 3))]))
        elif kind == 1:
            col, typ = rng.choice(SCALAR_COLS[1:])
            out.append(f"UPDATE v SET {col} = {s_value(rng, col, typ)} WHERE k = {key}")
        else:
            out.append(f"DELETE FROM v WHERE k = {key}" + rng.choice(["", " AND b", " OR i4 IS NULL"]))
    return out


class Gen:
    """Random expressions of a class (int, num, float, text, bool, date,
    ts, tz, iv) over the columns of v."""

    def __init__(self, rng):
        self.rng = rng

    def pick(self, *options):
        return self.rng.choice(options)

    def col(self, cls):
        return self.rng.choice(CLASS_COLS[cls])

    def expr(self, cls, depth=2):
        rng = self.rng
        if depth <= 0 or rng.random() < 0.3:
            return self.leaf(cls)
        if rng.random() < 0.08:
            return self.generic(cls, depth)
        return getattr(self, "e_" + cls)(depth - 1)

    def leaf(self, cls):
        rng = self.rng
        if rng.random() < 0.7:
            return self.col(cls)
        if cls == "int":
            return str(rng.choice(SMALL_INTS + [0, 2147483647, -2147483648]))
        if cls == "num":
            return rng.choice(["1.5", "0.25", "-3.75", "2.5", "0", "10.005"])
        if cls == "float":
            return rng.choice(["1.5::float8", "0.1::float8", "2::real", "'-0'::float8", "1e300::float8"])
        if cls == "text":
            return s_lit(rng.choice(TEXTS))
        if cls == "bool":
            return rng.choice(["true", "false", "NULL::boolean"])
        if cls == "date":
            return "DATE " + s_lit(rng.choice(["2024-03-01", "2023-01-31", "2000-02-29"]))
        if cls == "ts":
            return "TIMESTAMP " + s_lit(rng.choice(["2024-03-01 10:00:00", "2023-01-31 23:30:00.25"]))
        if cls == "tz":
            return "TIMESTAMPTZ " + s_lit(rng.choice(["2024-03-01 10:00:00+00", "2023-01-31 23:30:00+05"]))
        if cls == "iv":
            return "INTERVAL " + s_lit(rng.choice(["1 day", "3 hours", "1 mon", "-2 days", "1 year"]))
        raise ValueError(cls)

    def generic(self, cls, depth):
        """CASE, coalesce, nullif, greatest, least: any class."""
        e = lambda: self.expr(cls, depth - 1)  # noqa: E731
        k = self.rng.randint(0, 4)
        if k == 0:
            return f"CASE WHEN {self.expr('bool', depth - 1)} THEN {e()} ELSE {e()} END"
        if k == 1:
            return f"coalesce({e()}, {e()})"
        if k == 2 and cls not in ("bool",):
            return f"nullif({e()}, {e()})"
        if k == 3:
            return f"greatest({e()}, {e()})"
        return f"least({e()}, {e()})"

    def e_int(self, d):
        rng = self.rng
        x = lambda: self.expr("int", d)  # noqa: E731
        k = rng.randint(0, 14)
        if k <= 3:
            return f"({x()} {rng.choice(['+', '-', '*', '/', '%'])} {x()})"
        if k == 4:
            return f"abs({x()})"
        if k == 5:
            return f"(-{x()})"
        if k == 6:
            return f"mod({x()}, {x()})"
        if k == 7:
            return f"length({self.expr('text', d)})"
        if k == 8:
            return f"position({self.expr('text', d)} IN {self.expr('text', d)})"
        if k == 9:
            return f"CAST({self.expr(rng.choice(['num', 'float', 'text', 'int']), d)} AS {rng.choice(['smallint', 'int', 'bigint'])})"
        if k == 10:
            return f"({self.expr('date', d)} - {self.expr('date', d)})"
        if k == 11:
            return f"CASE {x()} WHEN 1 THEN {x()} WHEN 2 THEN {x()} END"
        if k == 12:
            return f"ascii({self.expr('text', d)})"
        if k == 13:
            return f"sign({x()})::int"
        return self.generic("int", d + 1)

    def e_num(self, d):
        rng = self.rng
        x = lambda: self.expr("num", d)  # noqa: E731
        k = rng.randint(0, 14)
        if k <= 2:
            other = self.expr(rng.choice(["num", "int"]), d)
            return f"({x()} {rng.choice(['+', '-', '*', '/', '%'])} {other})"
        if k == 3:
            return f"round({x()}" + rng.choice(["", ", 0", ", 1", ", -1", ", 3"]) + ")"
        if k == 4:
            return f"trunc({x()}" + rng.choice(["", ", 1", ", -1"]) + ")"
        if k == 5:
            return f"{rng.choice(['ceil', 'floor', 'abs', 'sign'])}({x()})"
        if k == 6:
            return f"CAST({self.expr(rng.choice(['int', 'float', 'text', 'num']), d)} AS {rng.choice(['numeric', 'numeric(6,2)', 'numeric(4,1)', 'numeric(3,0)'])})"
        if k == 7:
            return f"sqrt({x()})"
        if k == 8:
            return f"mod({x()}, {x()})"
        if k == 9:
            return f"power({x()}, {rng.choice(['2', '0', '-1', '0.5', '3'])})"
        if k == 10:
            return f"extract({rng.choice(['year', 'month', 'day', 'dow', 'doy', 'epoch', 'quarter', 'week'])} FROM {self.expr(rng.choice(['date', 'ts', 'tz']), d)})"
        if k == 11:
            return f"extract({rng.choice(['hour', 'minute', 'second', 'epoch', 'day'])} FROM {self.expr('iv', d)})"
        if k == 12:
            return f"({self.expr('int', d)}::numeric / {rng.choice(['3', '7', '0', '2'])})"
        if k == 13:
            return f"scale({x()})"
        return self.generic("num", d + 1)

    def e_float(self, d):
        rng = self.rng
        x = lambda: self.expr("float", d)  # noqa: E731
        k = rng.randint(0, 11)
        if k <= 2:
            other = self.expr(rng.choice(["float", "int", "num"]), d)
            return f"({x()} {rng.choice(['+', '-', '*', '/'])} {other})"
        if k == 3:
            return f"sqrt({x()})"
        if k == 4:
            return f"power({x()}, {rng.choice(['2', '0.5', '-1', '3'])})"
        if k == 5:
            return f"{rng.choice(['abs', 'ceil', 'floor', 'round', 'trunc', 'sign'])}({x()})"
        if k == 6:
            return f"CAST({self.expr(rng.choice(['int', 'num', 'text', 'float']), d)} AS {rng.choice(['real', 'double precision'])})"
        if k == 7:
            return f"date_part('{rng.choice(['year', 'month', 'dow', 'epoch', 'second', 'hour'])}', {self.expr(rng.choice(['ts', 'tz', 'date']), d)})"
        if k == 8:
            return f"mod({self.expr('int', d)}, {self.expr('int', d)})::float8"
        if k == 9:
            return f"(-{x()})"
        if k == 10:
            return f"{rng.choice(['ln', 'exp', 'cbrt'])}({x()})"
        return self.generic("float", d + 1)

    def e_text(self, d):
        rng = self.rng
        x = lambda: self.expr("text", d)  # noqa: E731
        k = rng.randint(0, 15)
        if k <= 1:
            return f"({x()} || {self.expr(rng.choice(['text', 'int', 'num', 'text']), d)})"
        if k == 2:
            return f"{rng.choice(['lower', 'upper', 'initcap', 'reverse', 'md5'])}({x()})"
        if k == 3:
            return f"substr({x()}, {self.expr('int', d)}" + rng.choice(["", ", 2", ", 0", ", -1"]) + ")"
        if k == 4:
            return f"{rng.choice(['trim', 'ltrim', 'rtrim', 'btrim'])}({x()})"
        if k == 5:
            return f"trim({rng.choice(['BOTH', 'LEADING', 'TRAILING'])} 'a' FROM {x()})"
        if k == 6:
            return f"{rng.choice(['lpad', 'rpad'])}({x()}, {rng.choice(['0', '3', '5', '-1'])}" + rng.choice(["", ", 'xy'", ", ''"]) + ")"
        if k == 7:
            return f"CAST({self.expr(rng.choice(['int', 'num', 'float', 'bool', 'date', 'ts', 'tz', 'iv']), d)} AS {rng.choice(['text', 'varchar(3)', 'char(3)'])})"
        if k == 8:
            return f"replace({x()}, {s_lit(rng.choice(['a', 'b', ' ', '']))}, {s_lit(rng.choice(['', 'Z', 'yy']))})"
        if k == 9:
            return f"{rng.choice(['left', 'right'])}({x()}, {rng.choice(['1', '2', '-1', '0'])})"
        if k == 10:
            return f"concat({x()}, {self.expr(rng.choice(['int', 'text', 'bool', 'date']), d)})"
        if k == 11:
            return f"repeat({x()}, {rng.choice(['0', '2', '-1'])})"
        if k == 12:
            return f"split_part({x()}, {s_lit(rng.choice([' ', 'b', '']))}, {rng.choice(['1', '2', '-1'])})"
        if k == 13:
            return f"to_char({self.expr(rng.choice(['ts', 'date', 'int', 'num']), d)}, {s_lit(rng.choice(['YYYY-MM-DD', 'HH24:MI:SS', 'FM999.00', '999', 'Dy Mon DD']))})"
        if k == 14:
            return f"CAST({x()} AS {rng.choice(['varchar(2)', 'char(2)', 'char(6)'])})::text"
        return self.generic("text", d + 1)

    def e_bool(self, d):
        rng = self.rng
        k = rng.randint(0, 13)
        cls = rng.choice(list(CLASS_COLS))
        if k <= 2:
            return f"({self.expr(cls, d)} {rng.choice(OPS)} {self.expr(cls, d)})"
        if k == 3:
            return f"({self.expr('bool', d)} {rng.choice(['AND', 'OR'])} {self.expr('bool', d)})"
        if k == 4:
            return f"(NOT {self.expr('bool', d)})"
        if k == 5:
            return f"({self.expr(cls, d)} IS {rng.choice(['', 'NOT '])}NULL)"
        if k == 6:
            return f"({self.expr(cls, d)} IS {rng.choice(['', 'NOT '])}DISTINCT FROM {self.expr(cls, d)})"
        if k == 7:
            pat = s_lit(rng.choice(["a%", "%b%", "_", "A_c", "%", "", "\\%%", "%x_"]))
            return f"({self.expr('text', d)} {rng.choice(['LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE'])} {pat})"
        if k == 8:
            return f"({self.expr(cls, d)} {rng.choice(['', 'NOT '])}BETWEEN {self.expr(cls, d)} AND {self.expr(cls, d)})"
        if k == 9:
            return f"({self.expr(cls, d)} {rng.choice(['', 'NOT '])}IN ({self.expr(cls, d)}, {self.expr(cls, d)}))"
        if k == 10:
            return f"({self.expr('bool', d)} IS {rng.choice(['', 'NOT '])}{rng.choice(['TRUE', 'FALSE', 'UNKNOWN'])})"
        if k == 11:
            return f"CAST({self.expr(rng.choice(['text', 'int']), d)} AS boolean)"
        if k == 12:
            return f"starts_with({self.expr('text', d)}, {self.expr('text', d)})"
        return self.generic("bool", d + 1)

    def e_date(self, d):
        rng = self.rng
        k = rng.randint(0, 5)
        if k <= 1:
            return f"({self.expr('date', d)} {rng.choice(['+', '-'])} {self.expr('int', d)})"
        if k == 2:
            return f"CAST({self.expr(rng.choice(['ts', 'tz', 'text']), d)} AS date)"
        if k == 3:
            return f"make_date({rng.choice(['2024', '2023', '-1'])}, {self.expr('int', d)}, {rng.choice(['1', '29', '31'])})"
        if k == 4:
            return f"({self.expr('int', d)} + {self.expr('date', d)})"
        return self.generic("date", d + 1)

    def e_ts(self, d):
        rng = self.rng
        k = rng.randint(0, 6)
        if k <= 1:
            return f"({self.expr(rng.choice(['ts', 'date']), d)} {rng.choice(['+', '-'])} {self.expr('iv', d)})"
        if k == 2:
            unit = rng.choice(["year", "quarter", "month", "week", "day", "hour", "minute", "second", "millennium", "decade"])
            return f"date_trunc('{unit}', {self.expr('ts', d)})"
        if k == 3:
            return f"CAST({self.expr(rng.choice(['date', 'tz', 'text']), d)} AS timestamp)"
        if k == 4:
            return f"({self.expr('date', d)} + TIME '{rng.choice(['10:00', '23:59:59.5'])}')"
        if k == 5:
            return f"CAST({self.expr('ts', d)} AS timestamp({rng.choice(['0', '2'])}))"
        return self.generic("ts", d + 1)

    def e_tz(self, d):
        rng = self.rng
        k = rng.randint(0, 4)
        if k <= 1:
            return f"({self.expr('tz', d)} {rng.choice(['+', '-'])} {self.expr('iv', d)})"
        if k == 2:
            unit = rng.choice(["year", "month", "week", "day", "hour", "minute"])
            return f"date_trunc('{unit}', {self.expr('tz', d)})"
        if k == 3:
            return f"CAST({self.expr(rng.choice(['date', 'ts', 'text']), d)} AS timestamptz)"
        return self.generic("tz", d + 1)

    def e_iv(self, d):
        rng = self.rng
        k = rng.randint(0, 7)
        if k <= 1:
            return f"({self.expr('iv', d)} {rng.choice(['+', '-'])} {self.expr('iv', d)})"
        if k == 2:
            return f"({self.expr('iv', d)} {rng.choice(['*', '/'])} {self.expr(rng.choice(['int', 'float']), d)})"
        if k == 3:
            a = rng.choice(["ts", "tz"])
            return f"({self.expr(a, d)} - {self.expr(a, d)})"
        if k == 4:
            return f"{rng.choice(['justify_days', 'justify_hours', 'justify_interval'])}({self.expr('iv', d)})"
        if k == 5:
            return f"(-{self.expr('iv', d)})"
        if k == 6:
            return f"date_trunc('{rng.choice(['day', 'hour', 'month', 'year'])}', {self.expr('iv', d)})"
        return self.generic("iv", d + 1)


# Aggregates of each class whose answer does not depend on row order (no
# sum or avg of floats).
def scalar_aggregate(g, rng):
    cls = rng.choice(list(CLASS_COLS))
    e = g.expr(cls, rng.randint(0, 2))
    options = [f"count({e})", f"count(DISTINCT {e})", f"min({e})", f"max({e})"]
    if cls in ("int", "num"):
        options += [f"sum({e})", f"avg({e})", f"sum(DISTINCT {e})"]
    if cls == "iv":
        options += [f"sum({e})", f"avg({e})"]
    if cls == "bool":
        options += [f"bool_and({e})", f"bool_or({e})", f"every({e})"]
    if cls == "text":
        order = rng.choice(["", " DESC", " NULLS FIRST", " DESC NULLS LAST"])
        options += [f"string_agg({e}, {s_lit(rng.choice([',', '', ' | ']))} ORDER BY {e}{order})"]
    agg = rng.choice(options)
    if rng.random() < 0.15:
        agg += f" FILTER (WHERE {g.expr('bool', 1)})"
    return agg


def named(items):
    """Select items with distinct names (a view's columns need them)."""
    return ", ".join(f"{e} AS x{i}" for i, e in enumerate(items))


def scalar_case(rng):
    """Random typed expressions over v (every type, NULLs, edges) in the
    select list, WHERE, GROUP BY keys and aggregate arguments."""
    g = Gen(rng)
    shape = rng.choice(["select", "select", "where", "group", "group", "global"])
    cond = f" WHERE {g.expr('bool', 2)}" if shape == "where" or rng.random() < 0.3 else ""
    if shape in ("select", "where"):
        items = [g.expr(rng.choice(list(CLASS_COLS)), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        sql = f"SELECT k, {named(items)} FROM v{cond}"
    elif shape == "group":
        key = rng.choice([g.expr(rng.choice(list(CLASS_COLS)), rng.randint(0, 2)), "k"])
        aggs = [scalar_aggregate(g, rng) for _ in range(rng.randint(1, 3))]
        sql = f"SELECT {key} AS g, {named(aggs)} FROM v{cond} GROUP BY 1"
        if rng.random() < 0.2:
            sql += f" HAVING count(*) > {rng.randint(0, 2)}"
    else:
        aggs = [scalar_aggregate(g, rng) for _ in range(rng.randint(1, 3))]
        sql = f"SELECT {named(aggs)} FROM v{cond}"
    data = [insert("v", [s_row(rng) for _ in range(rng.randint(3, 8))])]
    return SCALAR_DDL, data, scalar_changes(rng), sql


FAMILIES = {"recursive": recursive_case, "subquery": subquery_case, "outer": outer_case, "scalar": scalar_case}


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
            if view[0] == "timeout":
                problems.append(f"CREATE MATERIALIZED VIEW: {show(view)}")
            elif view[1] != "0A000":
                # Fine if PostgreSQL refuses the query the same way.
                expected = pg.run(sql)
                if expected[0] != "error" or expected[1] != view[1]:
                    problems.append(f"CREATE MATERIALIZED VIEW: {show(view)}; pg: {show(expected)}")
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
