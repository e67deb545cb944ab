"""Real PostgreSQL client libraries against a server: psycopg2, psycopg 3,
asyncpg, pg8000 and SQLAlchemy (Core, reflection, the ORM) on both psycopg drivers.

Run by tests/drivers.rs against Freshet (with --freshet, which adds the
streaming checks: a maintained view and SUBSCRIBE through a cursor). The
same script, without --freshet, passes against PostgreSQL 15: that is how
its expected values were checked.

    python3 tests/drivers/clients.py --port 6875 [--freshet] [--user U] [--dbname D]

Each check prints one line; the exit status is the number of failures.
"""

import argparse
import asyncio
import datetime
import decimal
import sys
import traceback
import uuid

import asyncpg
import pg8000.native
import psycopg
import psycopg2
import psycopg2.errors
import psycopg2.extras
import sqlalchemy

ARGS = argparse.ArgumentParser()
ARGS.add_argument("--port", type=int, required=True)
ARGS.add_argument("--host", default="127.0.0.1")
ARGS.add_argument("--user", default="freshet")
ARGS.add_argument("--dbname", default="postgres")
ARGS.add_argument("--freshet", action="store_true")
ARGS = ARGS.parse_args()

DSN = f"host={ARGS.host} port={ARGS.port} user={ARGS.user} dbname={ARGS.dbname}"
URL = f"{ARGS.user}@{ARGS.host}:{ARGS.port}/{ARGS.dbname}"
FAILURES = []

UTC = datetime.timezone.utc
ROW = (
    1,
    "x",
    decimal.Decimal("1.50"),
    datetime.datetime(2024, 1, 1, 12, 30, tzinfo=UTC),
    {"a": [1, 2]},
    b"\x00\x01",
    uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    datetime.date(2024, 1, 2),
    True,
    1.25,
    datetime.timedelta(days=1, hours=2),
)
COLUMNS = (
    "a int NOT NULL, b text, c numeric(10,2), d timestamptz, e jsonb, f bytea, "
    "g uuid, h date, i boolean, j float8, k interval"
)


def check(name):
    def wrap(f):
        try:
            f()
            print(f"ok    {name}")
        except Exception:
            FAILURES.append(name)
            print(f"FAIL  {name}")
            traceback.print_exc(file=sys.stdout)
        return f

    return wrap


def expect(got, want):
    if got != want:
        raise AssertionError(f"got {got!r}, want {want!r}")


def setup():
    c = psycopg2.connect(DSN)
    c.autocommit = True
    cur = c.cursor()
    cur.execute("DROP VIEW IF EXISTS drv_refl_v")
    cur.execute("DROP MATERIALIZED VIEW IF EXISTS drv_refl_mv")
    for t in ("drv_types", "drv_tx", "drv_sa", "drv_refl"):
        cur.execute(f"DROP TABLE IF EXISTS {t}")
    cur.execute(f"CREATE TABLE drv_types ({COLUMNS})")
    cur.execute("CREATE TABLE drv_tx (id int NOT NULL, v text)")
    cur.execute("CREATE TABLE drv_sa (id bigint NOT NULL, name text, score double precision)")
    c.close()


setup()


@check("psycopg2: parameters in, every type out (text format)")
def _():
    c = psycopg2.connect(DSN)
    c.autocommit = True
    cur = c.cursor()
    params = list(ROW)
    params[4] = psycopg2.extras.Json(params[4])
    params[6] = str(params[6])
    cur.execute("INSERT INTO drv_types VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", params)
    cur.execute("SELECT * FROM drv_types WHERE a = %s", (1,))
    (row,) = cur.fetchall()
    row = list(row)
    row[5] = bytes(row[5])
    row[6] = uuid.UUID(row[6])
    expect(tuple(row), ROW)
    expect([d.name for d in cur.description][:3], ["a", "b", "c"])
    c.close()


@check("psycopg2: transactions, errors with SQLSTATE, executemany")
def _():
    c = psycopg2.connect(DSN)
    cur = c.cursor()
    cur.executemany("INSERT INTO drv_tx VALUES (%s, %s)", [(1, "a"), (2, "b")])
    c.commit()
    cur.execute("INSERT INTO drv_tx VALUES (3, 'c')")
    c.rollback()
    cur.execute("SELECT id, v FROM drv_tx ORDER BY id")
    expect(cur.fetchall(), [(1, "a"), (2, "b")])
    c.rollback()
    try:
        cur.execute("SELECT 1 / 0")
        raise AssertionError("no error")
    except psycopg2.errors.DivisionByZero as e:
        expect(e.pgcode, "22012")
    c.rollback()
    try:
        cur.execute("SELECT * FROM no_such_table")
        raise AssertionError("no error")
    except psycopg2.errors.UndefinedTable as e:
        expect(e.pgcode, "42P01")
    c.rollback()
    cur.execute("SELECT 1")
    expect(cur.fetchone(), (1,))
    c.close()


@check("psycopg2: named (server-side) cursor and COPY TO STDOUT")
def _():
    import io

    c = psycopg2.connect(DSN)
    cur = c.cursor(name="drv_named")
    cur.itersize = 1
    cur.execute("SELECT id, v FROM drv_tx ORDER BY id")
    expect(list(cur), [(1, "a"), (2, "b")])
    cur.close()
    c.commit()
    out = io.StringIO()
    c.cursor().copy_expert("COPY (SELECT id, v FROM drv_tx ORDER BY id) TO STDOUT", out)
    expect(out.getvalue(), "1\ta\n2\tb\n")
    c.close()


@check("psycopg 3: binary parameters and results, COPY rows")
def _():
    with psycopg.connect(DSN, autocommit=True) as c:
        text = c.execute("SELECT * FROM drv_types WHERE a = %s", (1,)).fetchone()
        binary = c.execute("SELECT * FROM drv_types WHERE a = %b", (1,), binary=True).fetchone()
        expect(text, ROW)
        expect(binary, ROW)
        got = c.execute(
            "SELECT %s::int + 1, %s::text || 'y', %s::numeric * 2, %s::bigint[]",
            (41, "x", decimal.Decimal("1.25"), [1, 2]),
            binary=True,
        ).fetchone()
        expect(got, (42, "xy", decimal.Decimal("2.50"), [1, 2]))
        with c.cursor() as cur:
            with cur.copy("COPY (SELECT id, v FROM drv_tx ORDER BY id) TO STDOUT") as cp:
                cp.set_types(["int4", "text"])
                expect(list(cp.rows()), [(1, "a"), (2, "b")])


@check("COPY FROM STDIN: psycopg2, psycopg 3 (text and binary), asyncpg (binary)")
def _():
    import io

    c = psycopg2.connect(DSN)
    c.autocommit = True
    cur = c.cursor()
    cur.execute("DROP TABLE IF EXISTS drv_copy")
    cur.execute(
        "CREATE TABLE drv_copy (id int NOT NULL, name text, amount numeric(10,2), "
        "at timestamptz, tags text[])"
    )
    cur.copy_expert(
        "COPY drv_copy FROM STDIN (FORMAT csv, HEADER)",
        io.StringIO('id,name,amount,at,tags\n1,"a, b",1.5,2024-01-01 00:00:00+00,"{x,y}"\n2,,,,\n'),
    )
    cur.copy_from(io.StringIO("3\tthree\n"), "drv_copy", columns=("id", "name"))
    try:
        cur.copy_expert("COPY drv_copy (id) FROM STDIN", io.StringIO("4\nnope\n"))
        raise AssertionError("no error")
    except psycopg2.errors.InvalidTextRepresentation as e:
        expect(e.pgcode, "22P02")
        expect(e.diag.context, 'COPY drv_copy, line 2, column id: "nope"')
    with psycopg.connect(DSN, autocommit=True) as c3:
        with c3.cursor() as cur3:
            with cur3.copy("COPY drv_copy (id, name, amount, at, tags) FROM STDIN") as cp:
                at = datetime.datetime(2024, 1, 2, tzinfo=UTC)
                cp.write_row((5, "tab\there", decimal.Decimal("2.25"), at, ["p", None]))
            with cur3.copy("COPY drv_copy (id, name, amount) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int4", "text", "numeric"])
                cp.write_row((6, "binary", decimal.Decimal("-7.50")))

    async def run():
        a = await asyncpg.connect(host=ARGS.host, port=ARGS.port, user=ARGS.user, database="postgres")
        try:
            got = await a.copy_records_to_table(
                "drv_copy",
                records=[(7, "asyncpg", decimal.Decimal("0.01")), (8, None, None)],
                columns=["id", "name", "amount"],
            )
            expect(got, "COPY 2")
            out = io.BytesIO()
            await a.copy_from_query(
                "SELECT id, name FROM drv_copy WHERE id >= 7 ORDER BY id", output=out, format="csv"
            )
            expect(out.getvalue(), b"7,asyncpg\n8,\n")
        finally:
            await a.close()

    asyncio.run(run())
    cur.execute("SELECT id, name, amount, at, tags FROM drv_copy ORDER BY id")
    jan = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    expect(
        cur.fetchall(),
        [
            (1, "a, b", decimal.Decimal("1.50"), jan, ["x", "y"]),
            (2, None, None, None, None),
            (3, "three", None, None, None),
            (5, "tab\there", decimal.Decimal("2.25"), jan + datetime.timedelta(days=1), ["p", None]),
            (6, "binary", decimal.Decimal("-7.50"), None, None),
            (7, "asyncpg", decimal.Decimal("0.01"), None, None),
            (8, None, None, None, None),
        ],
    )
    c.close()


@check("psycopg 3: untyped (unknown) parameters take their type from where they stand")
def _():
    with psycopg.connect(DSN, autocommit=True) as c:
        # psycopg 3 sends a str as `unknown` (OID 0): an integer where it is
        # compared with one, as PostgreSQL infers it.
        expect(c.execute("SELECT a FROM drv_types WHERE a = %s", ("1",)).fetchall(), [(1,)])
        expect(
            c.execute("SELECT a FROM drv_types WHERE a = coalesce(%s, 0)", ("1",)).fetchall(),
            [(1,)],
        )
        expect(c.execute("SELECT %s::int + 1", ("4",)).fetchone(), (5,))


@check("psycopg 3: nested transactions (savepoints)")
def _():
    with psycopg.connect(DSN) as c:
        with c.transaction():
            c.execute("INSERT INTO drv_tx VALUES (10, 'outer')")
            with c.transaction():
                c.execute("INSERT INTO drv_tx VALUES (11, 'kept')")
            try:
                with c.transaction():
                    c.execute("INSERT INTO drv_tx VALUES (12, 'rolled back')")
                    raise RuntimeError("undo the savepoint")
            except RuntimeError:
                pass
        rows = c.execute("SELECT id, v FROM drv_tx WHERE id >= 10 ORDER BY id").fetchall()
        expect(rows, [(10, "outer"), (11, "kept")])
        c.rollback()
        c.execute("DELETE FROM drv_tx WHERE id >= 10")
        c.commit()


@check("ReadyForQuery status: a failed transaction recovers at ROLLBACK TO SAVEPOINT")
def _():
    from psycopg.pq import TransactionStatus as TS

    # psycopg2 sends simple queries, psycopg 3 the extended protocol; both
    # read the transaction status from each ReadyForQuery.
    c = psycopg2.connect(DSN)
    cur = c.cursor()
    cur.execute("SAVEPOINT a")
    try:
        cur.execute("SELECT 1 / 0")
    except psycopg2.errors.DivisionByZero:
        pass
    expect(c.info.transaction_status, psycopg2.extensions.TRANSACTION_STATUS_INERROR)
    cur.execute("ROLLBACK TO SAVEPOINT a")
    expect(c.info.transaction_status, psycopg2.extensions.TRANSACTION_STATUS_INTRANS)
    cur.execute("INSERT INTO drv_tx VALUES (40, 'x')")
    c.rollback()
    expect(c.info.transaction_status, psycopg2.extensions.TRANSACTION_STATUS_IDLE)
    c.close()
    with psycopg.connect(DSN) as c:
        c.execute("SAVEPOINT a")
        for bad in ("SELECT 1 / %s", "SELEC %s"):
            try:
                c.execute(bad, (0,))
                raise AssertionError("no error")
            except psycopg.Error:
                pass
            expect(c.info.transaction_status, TS.INERROR)
            try:
                c.execute("SELECT %s", (1,))
                raise AssertionError("no error")
            except psycopg.errors.InFailedSqlTransaction:
                pass
            c.execute("ROLLBACK TO SAVEPOINT a")
            expect(c.info.transaction_status, TS.INTRANS)
        c.execute("INSERT INTO drv_tx VALUES (%s, 'x')", (40,))
        c.rollback()
        expect(c.info.transaction_status, TS.IDLE)


@check("psycopg 3: pg_backend_pid is the BackendKeyData pid; pg_settings and set_config")
def _():
    with psycopg.connect(DSN, autocommit=True) as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        expect(pid, c.info.backend_pid)
        expect(c.execute("SELECT pg_backend_pid()", prepare=True).fetchone()[0], pid)
        got = c.execute("SELECT set_config('application_name', 'drv', false)").fetchone()
        expect(got, ("drv",))
        row = c.execute(
            "SELECT setting, vartype FROM pg_settings WHERE name = %s", ("application_name",)
        ).fetchone()
        expect(row, ("drv", "string"))
        expect(c.execute("SHOW application_name").fetchone(), ("drv",))


@check("asyncpg: prepared statements, binary types, errors")
def _():
    async def run():
        c = await asyncpg.connect(host=ARGS.host, port=ARGS.port, user=ARGS.user, database="postgres")
        try:
            row = await c.fetchrow("SELECT * FROM drv_types WHERE a = $1", 1)
            got = list(row.values())
            got[4] = __import__("json").loads(got[4])
            expect(tuple(got), ROW)
            stmt = await c.prepare("SELECT $1::bigint * 2 AS twice, $2::text AS t")
            expect(await stmt.fetchrow(21, "z"), (42, "z"))
            expect([a.name for a in stmt.get_attributes()], ["twice", "t"])
            expect(await c.fetchval("SELECT ARRAY['a', NULL]::text[]"), ["a", None])
            # Any other array type (and numeric[], timestamptz[], ...) makes
            # asyncpg send its type-introspection query over pg_type first.
            expect(await c.fetchval("SELECT ARRAY[1, NULL, 3]::int4[]"), [1, None, 3])
            expect(await c.fetchval("SELECT $1::int8[]", [5, 6]), [5, 6])
            expect(
                await c.fetchval("SELECT ARRAY[1.5]::numeric[]"), [decimal.Decimal("1.5")]
            )
            try:
                await c.fetch("SELECT 1 / 0")
                raise AssertionError("no error")
            except asyncpg.exceptions.DivisionByZeroError as e:
                expect(e.sqlstate, "22012")
            async with c.transaction():
                await c.execute("INSERT INTO drv_tx VALUES (20, 'async')")
            expect(await c.fetchval("SELECT v FROM drv_tx WHERE id = 20"), "async")
            await c.execute("DELETE FROM drv_tx WHERE id = 20")
        finally:
            await c.close()

    asyncio.run(run())


@check("pg8000: native parameters and types")
def _():
    c = pg8000.native.Connection(ARGS.user, host=ARGS.host, port=ARGS.port, database="postgres")
    rows = c.run("SELECT a, b, c, d, e, h, i, j FROM drv_types WHERE a = :a", a=1)
    expect(tuple(rows[0]), ROW[:5] + ROW[7:10])
    expect(c.run("SELECT :x::int + 1", x=1), [[2]])
    c.close()


def sqlalchemy_core(driver):
    engine = sqlalchemy.create_engine(f"postgresql+{driver}://{URL}")
    meta = sqlalchemy.MetaData()
    table = sqlalchemy.Table(
        "drv_sa",
        meta,
        sqlalchemy.Column("id", sqlalchemy.BigInteger, nullable=False),
        sqlalchemy.Column("name", sqlalchemy.Text),
        sqlalchemy.Column("score", sqlalchemy.Double),
    )
    with engine.begin() as c:
        c.execute(table.delete())
        c.execute(table.insert(), [{"id": 1, "name": "a", "score": 0.5}, {"id": 2, "name": "b", "score": None}])
    with engine.connect() as c:
        got = c.execute(sqlalchemy.select(table.c.id, table.c.name).where(table.c.id > 0).order_by(table.c.id)).all()
        expect([tuple(r) for r in got], [(1, "a"), (2, "b")])
        total = c.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(table)).scalar()
        expect(total, 2)
        avg = c.execute(sqlalchemy.select(sqlalchemy.func.avg(table.c.score))).scalar()
        expect(avg, 0.5)
    insp = sqlalchemy.inspect(engine)
    names = insp.get_table_names()
    for t in ("drv_sa", "drv_tx", "drv_types"):
        assert t in names, names
    expect(insp.has_table("drv_sa"), True)
    expect(insp.has_table("no_such_table"), False)
    engine.dispose()


def sqlalchemy_reflection(driver):
    engine = sqlalchemy.create_engine(f"postgresql+{driver}://{URL}")
    with engine.begin() as c:
        for sql in (
            "DROP VIEW IF EXISTS drv_refl_v",
            "DROP MATERIALIZED VIEW IF EXISTS drv_refl_mv",
            "DROP TABLE IF EXISTS drv_refl",
            "CREATE TABLE drv_refl (id int NOT NULL, amount numeric(10,2), name varchar(20) DEFAULT 'x', "
            "tags int[], doc jsonb, note text, at timestamptz, flag boolean DEFAULT true)",
            "CREATE VIEW drv_refl_v AS SELECT id, note FROM drv_refl",
            "CREATE MATERIALIZED VIEW drv_refl_mv AS SELECT id, count(*) AS n FROM drv_refl GROUP BY id",
            "CREATE INDEX drv_refl_id_note ON drv_refl (id, note)",
        ):
            c.exec_driver_sql(sql)
    insp = sqlalchemy.inspect(engine)
    assert "drv_refl" in insp.get_table_names()
    assert "drv_refl_v" in insp.get_view_names()
    assert "drv_refl_v" not in insp.get_table_names()
    assert "drv_refl_mv" in insp.get_materialized_view_names()
    columns = [(c["name"], repr(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns("drv_refl")]
    expect(
        columns,
        [
            ("id", "INTEGER()", False, None),
            ("amount", "NUMERIC(precision=10, scale=2)", True, None),
            ("name", "VARCHAR(length=20)", True, "'x'::character varying"),
            ("tags", "ARRAY(INTEGER())", True, None),
            ("doc", "JSONB(astext_type=Text())", True, None),
            ("note", "TEXT()", True, None),
            ("at", "TIMESTAMP(timezone=True)", True, None),
            ("flag", "BOOLEAN()", True, "true"),
        ],
    )
    view_columns = [(c["name"], repr(c["type"]), c["nullable"]) for c in insp.get_columns("drv_refl_v")]
    expect(view_columns, [("id", "INTEGER()", True), ("note", "TEXT()", True)])
    mv_columns = [(c["name"], repr(c["type"])) for c in insp.get_columns("drv_refl_mv")]
    expect(mv_columns, [("id", "INTEGER()"), ("n", "BIGINT()")])
    expect(insp.get_pk_constraint("drv_refl")["constrained_columns"], [])
    # The access method differs (Freshet's indexes are arrangements, named
    # in dialect_options), not the index.
    indexes = [(i["name"], i["unique"], i["column_names"]) for i in insp.get_indexes("drv_refl")]
    expect(indexes, [("drv_refl_id_note", False, ["id", "note"])])
    expect(insp.get_unique_constraints("drv_refl"), [])
    expect(insp.get_foreign_keys("drv_refl"), [])
    expect(insp.get_check_constraints("drv_refl"), [])
    expect(insp.get_table_comment("drv_refl"), {"text": None})
    expect((insp.has_table("drv_refl"), insp.has_table("drv_refl_nope")), (True, False))
    # A table reflected by autoload, then a Core round trip through it.
    table = sqlalchemy.Table("drv_refl", sqlalchemy.MetaData(), autoload_with=engine)
    expect([c.name for c in table.columns], ["id", "amount", "name", "tags", "doc", "note", "at", "flag"])
    with engine.begin() as c:
        c.execute(
            table.insert(),
            [{"id": 1, "amount": decimal.Decimal("1.5"), "tags": [1, 2], "doc": {"a": [1]}, "note": "n"}],
        )
    with engine.connect() as c:
        row = c.execute(sqlalchemy.select(table).where(table.c.id == 1)).one()
    expect(tuple(row), (1, decimal.Decimal("1.50"), "x", [1, 2], {"a": [1]}, "n", None, True))
    meta = sqlalchemy.MetaData()
    meta.reflect(engine, views=True, only=["drv_refl", "drv_refl_v", "drv_refl_mv"])
    expect(sorted(meta.tables), ["drv_refl", "drv_refl_mv", "drv_refl_v"])
    engine.dispose()


@check("SQLAlchemy on psycopg2: reflection (inspector, autoload) and a Core round trip")
def _():
    sqlalchemy_reflection("psycopg2")


@check("SQLAlchemy on psycopg 3: reflection (inspector, autoload) and a Core round trip")
def _():
    sqlalchemy_reflection("psycopg")


def sqlalchemy_constraints(driver):
    """The inspector on tables with every kind of constraint, made by SQL:
    primary keys, UNIQUE (one and two columns, NULLS NOT DISTINCT), CHECK
    (one NOT VALID), foreign keys (to a primary key and, in another
    column order, to a unique key, with actions), and the indexes the keys
    have."""
    engine = sqlalchemy.create_engine(f"postgresql+{driver}://{URL}")
    with engine.begin() as c:
        for sql in (
            "DROP TABLE IF EXISTS drv_con_child",
            "DROP TABLE IF EXISTS drv_con_parent",
            "CREATE TABLE drv_con_parent (id int PRIMARY KEY, code text UNIQUE, a int, b int, "
            "CONSTRAINT drv_con_ab UNIQUE NULLS NOT DISTINCT (a, b), CONSTRAINT drv_con_a_pos CHECK (a > 0))",
            "CREATE TABLE drv_con_child (cid bigint, pid int REFERENCES drv_con_parent (id) ON DELETE CASCADE, "
            "x int, y int, PRIMARY KEY (cid), "
            "CONSTRAINT drv_con_yx FOREIGN KEY (y, x) REFERENCES drv_con_parent (b, a) ON UPDATE SET NULL ON DELETE RESTRICT)",
            "ALTER TABLE drv_con_child ADD CONSTRAINT drv_con_xy CHECK (x < y) NOT VALID",
        ):
            c.exec_driver_sql(sql)
    insp = sqlalchemy.inspect(engine)
    expect(
        insp.get_pk_constraint("drv_con_parent"),
        {
            "constrained_columns": ["id"],
            "name": "drv_con_parent_pkey",
            "comment": None,
            "dialect_options": {"postgresql_include": []},
        },
    )
    expect(insp.get_pk_constraint("drv_con_child")["constrained_columns"], ["cid"])
    uniques = sorted((u["name"], u["column_names"], u.get("dialect_options", {})) for u in insp.get_unique_constraints("drv_con_parent"))
    expect(
        uniques,
        [
            ("drv_con_ab", ["a", "b"], {"postgresql_include": [], "postgresql_nulls_not_distinct": True}),
            ("drv_con_parent_code_key", ["code"], {"postgresql_include": [], "postgresql_nulls_not_distinct": False}),
        ],
    )
    checks = sorted((k["name"], k["sqltext"], k.get("dialect_options", {})) for k in insp.get_check_constraints("drv_con_parent"))
    expect(checks, [("drv_con_a_pos", "a > 0", {})])
    checks = sorted((k["name"], k["sqltext"], k.get("dialect_options", {})) for k in insp.get_check_constraints("drv_con_child"))
    expect(checks, [("drv_con_xy", "x < y", {"not_valid": True})])
    fks = sorted(
        (f["name"], f["constrained_columns"], f["referred_schema"], f["referred_table"], f["referred_columns"], f["options"])
        for f in insp.get_foreign_keys("drv_con_child")
    )
    expect(
        fks,
        [
            ("drv_con_child_pid_fkey", ["pid"], None, "drv_con_parent", ["id"], {"ondelete": "CASCADE"}),
            ("drv_con_yx", ["y", "x"], None, "drv_con_parent", ["b", "a"], {"onupdate": "SET NULL", "ondelete": "RESTRICT"}),
        ],
    )
    # The keys' indexes are the constraints' (SQLAlchemy names them in
    # duplicates_constraint); the access method differs (Freshet's indexes
    # are arrangements), so only names, uniqueness and columns compare.
    indexes = sorted(
        (i["name"], i["unique"], i["column_names"], i.get("duplicates_constraint"))
        for i in insp.get_indexes("drv_con_parent")
    )
    expect(
        indexes,
        [
            ("drv_con_ab", True, ["a", "b"], "drv_con_ab"),
            ("drv_con_parent_code_key", True, ["code"], "drv_con_parent_code_key"),
        ],
    )
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE drv_con_child")
        c.exec_driver_sql("DROP TABLE drv_con_parent")
    engine.dispose()


@check("SQLAlchemy on psycopg2: constraints reflected (keys, unique, check, foreign keys, indexes)")
def _():
    sqlalchemy_constraints("psycopg2")


@check("SQLAlchemy on psycopg 3: constraints reflected (keys, unique, check, foreign keys, indexes)")
def _():
    sqlalchemy_constraints("psycopg")


def sqlalchemy_orm(driver):
    """The ORM: a declarative model with a primary key and a server default
    (create_all, INSERT ... RETURNING to fetch the default, get by primary
    key, an UPDATE whose row count the ORM checks, DELETE), the primary key
    reflected, PostgreSQL's upsert (INSERT ... ON CONFLICT), and a
    relationship over a foreign key (ON DELETE CASCADE, the missing parent
    refused with 23503, the key reflected)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

    class Base(DeclarativeBase):
        pass

    class Account(Base):
        __tablename__ = "drv_orm"
        id: Mapped[int] = mapped_column(sqlalchemy.BigInteger, primary_key=True, autoincrement=False)
        email: Mapped[str] = mapped_column(sqlalchemy.Text, unique=True)
        plan: Mapped[str] = mapped_column(sqlalchemy.Text, server_default="free")
        logins: Mapped[list["Login"]] = relationship(back_populates="account", passive_deletes=True)

    class Login(Base):
        __tablename__ = "drv_orm_login"
        id: Mapped[int] = mapped_column(sqlalchemy.BigInteger, primary_key=True, autoincrement=False)
        account_id: Mapped[int] = mapped_column(sqlalchemy.ForeignKey("drv_orm.id", ondelete="CASCADE"))
        account: Mapped[Account] = relationship(back_populates="logins")

    engine = sqlalchemy.create_engine(f"postgresql+{driver}://{URL}")
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Account(id=1, email="a@x"), Account(id=2, email="b@x")])
        s.commit()
        a = s.get(Account, 1)
        expect((a.email, a.plan), ("a@x", "free"))
        a.plan = "pro"
        s.commit()
        s.delete(s.get(Account, 2))
        s.commit()
    with Session(engine) as s:
        s.add(Account(id=3, email="a@x"))
        try:
            s.commit()
            raise AssertionError("a duplicate email was accepted")
        except sqlalchemy.exc.IntegrityError as e:
            expect(e.orig.pgcode if hasattr(e.orig, "pgcode") else e.orig.sqlstate, "23505")
    table = Account.__table__
    with engine.begin() as c:
        stmt = pg_insert(table).values([{"id": 1, "email": "a@x"}, {"id": 4, "email": "d@x"}])
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"plan": "upserted"})
        got = c.execute(stmt.returning(table.c.id, table.c.plan)).all()
        expect(sorted(tuple(r) for r in got), [(1, "upserted"), (4, "free")])
    with engine.connect() as c:
        got = c.execute(sqlalchemy.select(table.c.id, table.c.email, table.c.plan).order_by(table.c.id)).all()
        expect([tuple(r) for r in got], [(1, "a@x", "upserted"), (4, "d@x", "free")])
    insp = sqlalchemy.inspect(engine)
    expect(insp.get_pk_constraint("drv_orm")["constrained_columns"], ["id"])
    expect([u["column_names"] for u in insp.get_unique_constraints("drv_orm")], [["email"]])
    with Session(engine) as s:
        s.add_all([Login(id=1, account=s.get(Account, 1)), Login(id=2, account_id=4), Login(id=3, account_id=4)])
        s.commit()
        expect(sorted(x.id for x in s.get(Account, 4).logins), [2, 3])
        s.add(Login(id=9, account_id=99))
        try:
            s.commit()
            raise AssertionError("a login of a missing account was accepted")
        except sqlalchemy.exc.IntegrityError as e:
            expect(e.orig.pgcode if hasattr(e.orig, "pgcode") else e.orig.sqlstate, "23503")
    with Session(engine) as s:
        s.delete(s.get(Account, 4))
        s.commit()
        expect([x.id for x in s.scalars(sqlalchemy.select(Login).order_by(Login.id))], [1])
    fks = insp.get_foreign_keys("drv_orm_login")
    expect(
        [(f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"], f["options"]) for f in fks],
        [("drv_orm_login_account_id_fkey", ["account_id"], "drv_orm", ["id"], {"ondelete": "CASCADE"})],
    )
    Base.metadata.drop_all(engine)
    engine.dispose()


@check("SQLAlchemy ORM on psycopg2: primary key, RETURNING, upsert, foreign key")
def _():
    sqlalchemy_orm("psycopg2")


@check("SQLAlchemy ORM on psycopg 3: primary key, RETURNING, upsert, foreign key")
def _():
    sqlalchemy_orm("psycopg")


def sqlalchemy_autoincrement(driver):
    """Keys the server generates: a SERIAL primary key (SQLAlchemy's
    default for an integer key) and an identity column, filled in by the
    ORM from INSERT ... RETURNING (several rows in one statement), and
    reflected back (the sequence default, the identity)."""
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "drv_auto"
        id: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str] = mapped_column(sqlalchemy.Text)

    class Ticket(Base):
        __tablename__ = "drv_ident"
        id: Mapped[int] = mapped_column(sqlalchemy.BigInteger, sqlalchemy.Identity(always=True), primary_key=True)
        title: Mapped[str] = mapped_column(sqlalchemy.Text)

    engine = sqlalchemy.create_engine(f"postgresql+{driver}://{URL}")
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        notes = [Note(body=b) for b in ["z", "a", "m"]]
        tickets = [Ticket(title=t) for t in ["first", "second"]]
        s.add_all(notes + tickets)
        s.commit()
        expect([(n.id, n.body) for n in notes], [(1, "z"), (2, "a"), (3, "m")])
        expect([(t.id, t.title) for t in tickets], [(1, "first"), (2, "second")])
        s.add(Note(body="later"))
        s.commit()
        expect(s.scalars(sqlalchemy.select(Note.id).where(Note.body == "later")).one(), 4)
    insp = sqlalchemy.inspect(engine)
    cols = {c["name"]: c for c in insp.get_columns("drv_auto")}
    expect(cols["id"]["default"], "nextval('drv_auto_id_seq'::regclass)")
    expect(cols["id"]["autoincrement"], True)
    # The identity and its sequence's options (SQLAlchemy finds the
    # sequence with pg_get_serial_sequence(attrelid::regclass::text,
    # attname)::regclass::oid).
    ident = {c["name"]: c for c in insp.get_columns("drv_ident")}
    expect(list(ident), ["id", "title"])
    expect(
        ident["id"].get("identity"),
        {
            "always": True,
            "start": 1,
            "increment": 1,
            "minvalue": 1,
            "maxvalue": 9223372036854775807,
            "cache": 1,
            "cycle": False,
        },
    )
    expect((ident["id"]["default"], ident["title"].get("identity")), (None, None))
    Base.metadata.drop_all(engine)
    engine.dispose()


@check("SQLAlchemy ORM on psycopg2: SERIAL and identity keys")
def _():
    sqlalchemy_autoincrement("psycopg2")


@check("SQLAlchemy ORM on psycopg 3: SERIAL and identity keys")
def _():
    sqlalchemy_autoincrement("psycopg")


@check("psycopg 3 and asyncpg: a statement that does not plan fails at Parse")
def _():
    with psycopg.connect(DSN, autocommit=True) as c:
        try:
            c.execute("SELECT no_such_column FROM drv_tx WHERE id = %s", (1,), prepare=True)
            raise AssertionError("no error")
        except psycopg.errors.UndefinedColumn as e:
            expect(e.sqlstate, "42703")
        # A catalog function with a bound parameter describes and runs.
        got = c.execute("SELECT current_setting(%s::varchar)", ("standard_conforming_strings",), prepare=True)
        expect(got.fetchone(), ("on",))

    async def run():
        c = await asyncpg.connect(host=ARGS.host, port=ARGS.port, user=ARGS.user, database="postgres")
        try:
            # prepare() is Parse and Describe only: the error comes from them.
            try:
                await c.prepare("SELECT no_such_column FROM drv_tx")
                raise AssertionError("no error")
            except asyncpg.exceptions.UndefinedColumnError as e:
                expect(e.sqlstate, "42703")
            if ARGS.freshet:
                try:
                    await c.prepare("SELECT generate_series(1, 2), generate_series(1, 3)")
                    raise AssertionError("no error")
                except asyncpg.exceptions.FeatureNotSupportedError as e:
                    expect(e.sqlstate, "0A000")
            expect(await c.fetchval("SELECT 1"), 1)
        finally:
            await c.close()

    asyncio.run(run())


@check("SQLAlchemy on psycopg2: Core insert and select, table names")
def _():
    sqlalchemy_core("psycopg2")


@check("SQLAlchemy on psycopg 3: Core insert and select, table names")
def _():
    sqlalchemy_core("psycopg")


@check("psycopg 3: an error in a pipeline skips the statements after it until Sync")
def _():
    # PostgreSQL discards the extended-protocol messages that follow an error until Sync: the
    # second INSERT must not run, and the connection stays usable.
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS drv_pipe")
        c.execute("CREATE TABLE drv_pipe (a int)")
        try:
            with c.pipeline():
                c.execute("INSERT INTO drv_pipe VALUES (1/0)")
                c.execute("INSERT INTO drv_pipe VALUES (99)")
            raise AssertionError("the pipeline did not fail")
        except psycopg.errors.DivisionByZero:
            pass
        expect(c.execute("SELECT count(*) FROM drv_pipe").fetchone(), (0,))
        c.execute("DROP TABLE drv_pipe")

if ARGS.freshet:

    @check("psycopg 3: a maintained view and SUBSCRIBE through a cursor")
    def _():
        with psycopg.connect(DSN, autocommit=True) as c:
            c.execute("DROP MATERIALIZED VIEW IF EXISTS drv_counts")
            c.execute("CREATE MATERIALIZED VIEW drv_counts AS SELECT v, count(*) AS n FROM drv_tx GROUP BY v")
            expect(c.execute("SELECT v, n FROM drv_counts ORDER BY v").fetchall(), [("a", 1), ("b", 1)])
        with psycopg.connect(DSN) as c:
            c.execute("DECLARE s CURSOR FOR SUBSCRIBE drv_counts WITH (SNAPSHOT = false)")
            with psycopg.connect(DSN, autocommit=True) as w:
                w.execute("INSERT INTO drv_tx VALUES (30, 'a')")
            rows = c.execute("FETCH ALL s WITH (timeout = '10s')").fetchall()
            changes = sorted((r[1], r[2], r[3]) for r in rows)
            expect(changes, [(-1, "a", 1), (1, "a", 2)])
            c.rollback()
        with psycopg.connect(DSN, autocommit=True) as c:
            c.execute("DELETE FROM drv_tx WHERE id = 30")
            c.execute("DROP MATERIALIZED VIEW drv_counts")


    @check("psycopg 3: SUBSCRIBE through cursor.stream(), left early (a cancel request)")
    def _():
        # Materialize's documented way to read a SUBSCRIBE from Python. Leaving the loop
        # makes psycopg cancel the statement and read to its end, which needs the server to
        # honour CancelRequest.
        with psycopg.connect(DSN, autocommit=True) as c:
            cur = c.cursor()
            got = []
            query = "SUBSCRIBE (SELECT v FROM drv_tx) WITH (PROGRESS) ENVELOPE UPSERT (KEY (v))"
            for row in cur.stream(query):
                if not row[1]:
                    got.append(row[2:])
                if len(got) == 2:
                    break
            expect([d.name for d in cur.description], ["mz_timestamp", "mz_progressed", "mz_state", "v"])
            expect(sorted(got), [("upsert", "a"), ("upsert", "b")])
            expect(c.execute("SELECT count(*) FROM drv_tx").fetchone(), (2,))

sys.exit(len(FAILURES))
