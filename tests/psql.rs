//! `psql`'s describe commands against a real Freshet server, run by the
//! real `psql` client (PostgreSQL 15's; `scripts/test` installs
//! `postgresql-client` where it is missing): `\d`, `\dt`, `\dv`, `\dm`,
//! `\di`, `\dn`, `\l`, `\d[+] name`, `\df[+]` and `\dT` read `pg_catalog`
//! with psql's own queries (`OPERATOR(pg_catalog.~)`, `pg_table_is_visible`,
//! `pg_get_userbyid`, `pg_get_function_result`, ...), and their output is
//! compared line by line with what psql prints for the same objects in
//! PostgreSQL, apart from owner and database names and the signatures
//! Freshet does not have.

mod support;

use std::process::Command;

use support::TestServer;

/// Runs `psql -c command` against `server` and returns its standard
/// output, each line trimmed (psql centers titles and pads cells); panics
/// with psql's error output if it fails.
fn psql(server: &TestServer, command: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-X",
            "-P",
            "pager=off",
            "-h",
            "127.0.0.1",
            "-U",
            "alice",
            "-d",
            "shop",
        ])
        .args(["-p", &server.port().to_string(), "-c", command])
        .output()
        .expect("psql is installed (scripts/test installs postgresql-client)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && stderr.is_empty(),
        "psql -c '{command}' failed:\n{stderr}\n{stdout}"
    );
    trimmed(&stdout)
}

/// `text` with each line trimmed.
fn trimmed(text: &str) -> String {
    text.trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_commands_list_the_catalog() {
    let server = TestServer::start("psql-describe").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE watchlist (user_id bigint NOT NULL, note text);
         CREATE VIEW notes AS SELECT note FROM watchlist;
         CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM watchlist;
         CREATE INDEX watchlist_user ON watchlist (user_id);
         CREATE SCHEMA sales;
         CREATE TABLE sales.orders (id int);",
    )
    .await
    .expect("objects to describe");

    // `mz_internal` is not on the path (as in Materialize), so its
    // relations are not listed.
    assert_eq!(
        psql(&server, r"\d"),
        trimmed(
            "                 List of relations
 Schema |   Name    |       Type        |  Owner  
--------+-----------+-------------------+---------
 public | counts    | materialized view | freshet
 public | notes     | view              | freshet
 public | watchlist | table             | freshet
(3 rows)
"
        )
    );
    assert_eq!(
        psql(&server, r"\dt sales.*"),
        trimmed(
            "        List of relations
 Schema |  Name  | Type  |  Owner  
--------+--------+-------+---------
 sales  | orders | table | freshet
(1 row)
"
        )
    );
    assert_eq!(
        psql(&server, r"\dv"),
        trimmed(
            "        List of relations
 Schema | Name  | Type |  Owner  
--------+-------+------+---------
 public | notes | view | freshet
(1 row)
"
        )
    );
    assert_eq!(
        psql(&server, r"\dm"),
        trimmed(
            "               List of relations
 Schema |  Name  |       Type        |  Owner  
--------+--------+-------------------+---------
 public | counts | materialized view | freshet
(1 row)
"
        )
    );
    assert_eq!(
        psql(&server, r"\di"),
        trimmed(
            "                  List of relations
 Schema |      Name      | Type  |  Owner  |   Table   
--------+----------------+-------+---------+-----------
 public | watchlist_user | index | freshet | watchlist
(1 row)
"
        )
    );
    assert_eq!(
        psql(&server, r"\dn"),
        trimmed(
            "    List of schemas
    Name     |  Owner  
-------------+---------
 mz_catalog  | freshet
 mz_internal | freshet
 public      | freshet
 sales       | freshet
(4 rows)
"
        )
    );
    // Repeated calls of one function keep PostgreSQL's name for each.
    assert_eq!(
        psql(&server, "SELECT format_type(23, -1), format_type(25, -1)"),
        trimmed(
            "format_type | format_type
-------------+-------------
integer     | text
(1 row)"
        )
    );
    let databases = psql(&server, r"\l");
    assert!(
        databases.contains(
            "shop | freshet | UTF8     | C.UTF-8 | C.UTF-8 |            | libc            |"
        ),
        "{databases}"
    );

    // `\d name`: a table, with its columns' defaults (correlated
    // subqueries) and its index. PostgreSQL prints `btree (user_id)` for
    // the index and, with `+`, `Access method: heap`; Freshet's indexes are
    // arrangements and its tables have no access method PostgreSQL knows.
    assert_eq!(
        psql(&server, r"\d watchlist"),
        trimmed(
            r#"             Table "public.watchlist"
 Column  |  Type  | Collation | Nullable | Default 
---------+--------+-----------+----------+---------
 user_id | bigint |           | not null | 
 note    | text   |           |          | 
Indexes:
    "watchlist_user" arrangement (user_id)
"#
        )
    );
    assert_eq!(
        psql(&server, r"\d+ watchlist"),
        trimmed(
            r#"                                         Table "public.watchlist"
 Column  |  Type  | Collation | Nullable | Default | Storage  | Compression | Stats target | Description 
---------+--------+-----------+----------+---------+----------+-------------+--------------+-------------
 user_id | bigint |           | not null |         | plain    |             |              | 
 note    | text   |           |          |         | extended |             |              | 
Indexes:
    "watchlist_user" arrangement (user_id)
"#
        )
    );
    // A view, and with `+` its definition (Freshet prints the stored,
    // qualified query on one line where PostgreSQL reformats it).
    assert_eq!(
        psql(&server, r"\d notes"),
        trimmed(
            r#"              View "public.notes"
 Column | Type | Collation | Nullable | Default 
--------+------+-----------+----------+---------
 note   | text |           |          | 
"#
        )
    );
    assert_eq!(
        psql(&server, r"\d+ notes"),
        trimmed(
            r#"                           View "public.notes"
 Column | Type | Collation | Nullable | Default | Storage  | Description 
--------+------+-----------+----------+---------+----------+-------------
 note   | text |           |          |         | extended | 
View definition:
SELECT note FROM public.watchlist AS watchlist;
"#
        )
    );
    assert_eq!(
        psql(&server, r"\d counts"),
        trimmed(
            r#"        Materialized view "public.counts"
 Column |  Type  | Collation | Nullable | Default 
--------+--------+-----------+----------+---------
 n      | bigint |           |          | 
"#
        )
    );
    assert_eq!(
        psql(&server, r"\d watchlist_user"),
        trimmed(
            r#"    Index "public.watchlist_user"
 Column  |  Type  | Key? | Definition 
---------+--------+------+------------
 user_id | bigint | yes  | user_id
arrangement, for table "public.watchlist"
"#
        )
    );
}

/// `\d` of the two tables of a foreign key: the referencing table lists
/// it under "Foreign-key constraints:", the referenced one under
/// "Referenced by:" (psql asks for both only where `relhastriggers` is
/// true, and reads `pg_trigger`, `pg_partition_ancestors` and
/// `pg_get_constraintdef(oid, true)` for them). PostgreSQL prints `btree`
/// where Freshet prints `arrangement`, as above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_foreign_keys() {
    let server = TestServer::start("psql-foreign-keys").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE p (id int PRIMARY KEY);
         CREATE TABLE c (id int PRIMARY KEY, pid int REFERENCES p (id) ON DELETE CASCADE);",
    )
    .await
    .expect("tables to describe");
    assert_eq!(
        psql(&server, r"\d c"),
        trimmed(
            r#"                 Table "public.c"
 Column |  Type   | Collation | Nullable | Default 
--------+---------+-----------+----------+---------
 id     | integer |           | not null | 
 pid    | integer |           |          | 
Indexes:
    "c_pkey" PRIMARY KEY, arrangement (id)
Foreign-key constraints:
    "c_pid_fkey" FOREIGN KEY (pid) REFERENCES p(id) ON DELETE CASCADE
"#
        )
    );
    assert_eq!(
        psql(&server, r"\d p"),
        trimmed(
            r#"                 Table "public.p"
 Column |  Type   | Collation | Nullable | Default 
--------+---------+-----------+----------+---------
 id     | integer |           | not null | 
Indexes:
    "p_pkey" PRIMARY KEY, arrangement (id)
Referenced by:
    TABLE "c" CONSTRAINT "c_pid_fkey" FOREIGN KEY (pid) REFERENCES p(id) ON DELETE CASCADE
"#
        )
    );
}

/// `\d` of a table of interval columns with fields and precisions: their
/// types as PostgreSQL's `format_type` writes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_interval_columns() {
    let server = TestServer::start("psql-intervals").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE iv (a interval day to second, b interval year, c interval hour to minute,
             d interval(3), e interval second(2), f interval minute to second(1), g interval,
             h interval day to second(0))",
    )
    .await
    .expect("table to describe");
    assert_eq!(
        psql(&server, r"\d iv"),
        trimmed(
            r#"                           Table "public.iv"
 Column |             Type             | Collation | Nullable | Default 
--------+------------------------------+-----------+----------+---------
 a      | interval day to second       |           |          | 
 b      | interval year                |           |          | 
 c      | interval hour to minute      |           |          | 
 d      | interval(3)                  |           |          | 
 e      | interval second(2)           |           |          | 
 f      | interval minute to second(1) |           |          | 
 g      | interval                     |           |          | 
 h      | interval day to second(0)    |           |          | 
"#
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_and_types() {
    let server = TestServer::start("psql-functions").await;
    // No user-defined functions or types: both lists are empty, as in a
    // fresh PostgreSQL database.
    assert_eq!(
        psql(&server, r"\df"),
        trimmed(
            "                       List of functions
 Schema | Name | Result data type | Argument data types | Type 
--------+------+------------------+---------------------+------
(0 rows)
"
        )
    );
    assert_eq!(
        psql(&server, r"\dT"),
        trimmed(
            "     List of data types
 Schema | Name | Description 
--------+------+-------------
(0 rows)
"
        )
    );
    // A pattern searches `pg_catalog` too: PostgreSQL's rows for the
    // signatures Freshet has.
    assert_eq!(
        psql(&server, r"\df count"),
        trimmed(
            r#"                         List of functions
   Schema   | Name  | Result data type | Argument data types | Type 
------------+-------+------------------+---------------------+------
 pg_catalog | count | bigint           |                     | agg
 pg_catalog | count | bigint           | "any"               | agg
(2 rows)
"#
        )
    );
    // PostgreSQL lists two more `upper`s, on ranges and multiranges, which
    // Freshet does not have.
    assert_eq!(
        psql(&server, r"\df+ upper"),
        trimmed(
            "                                                                             List of functions
   Schema   | Name  | Result data type | Argument data types | Type | Volatility | Parallel |  Owner  | Security | Access privileges | Language | Source code | Description 
------------+-------+------------------+---------------------+------+------------+----------+---------+----------+-------------------+----------+-------------+-------------
 pg_catalog | upper | text             | text                | func | immutable  | safe     | freshet | invoker  |                   | internal | upper       | uppercase
(1 row)
"
        )
    );
    assert_eq!(
        psql(&server, r"\dT int4"),
        trimmed(
            "                           List of data types
   Schema   |  Name   |                   Description                   
------------+---------+-------------------------------------------------
 pg_catalog | integer | -2 billion to 2 billion integer, 4-byte storage
(1 row)
"
        )
    );
}

/// Runs `psql` with one `-c` per command against `server` and returns what it wrote to
/// standard error: the notices, as psql prints them.
fn psql_notices(server: &TestServer, commands: &[&str]) -> String {
    let mut psql = Command::new("psql");
    psql.args([
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        &server.port().to_string(),
    ]);
    for c in commands {
        psql.args(["-c", c]);
    }
    let output = psql.output().expect("psql is installed");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `DROP ... IF EXISTS` of a missing object and `DROP ... CASCADE` send PostgreSQL's notices:
/// one per name skipped, and the objects dropped along, counted with a DETAIL line each when
/// there are several. The expected text is PostgreSQL 15's output for the same commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_notices() {
    let server = TestServer::start("psql_drop_notices").await;
    let got = psql_notices(
        &server,
        &[
            "DROP TABLE IF EXISTS nope.t",
            "DROP TABLE IF EXISTS public.zz, zz2",
            "DROP VIEW IF EXISTS vv",
            "DROP MATERIALIZED VIEW IF EXISTS mm",
            "DROP INDEX IF EXISTS ii",
            "DROP SEQUENCE IF EXISTS sq",
            "CREATE TABLE ft (a int PRIMARY KEY)",
            "CREATE TABLE fc (a int REFERENCES ft, b int DEFAULT 1)",
            "CREATE VIEW fv AS SELECT * FROM ft",
            "DROP TABLE ft CASCADE",
            "DROP TABLE fc",
            "CREATE TABLE ct (a int)",
            "CREATE VIEW cv1 AS SELECT a FROM ct",
            "CREATE VIEW cv2 AS SELECT a FROM cv1",
            "CREATE MATERIALIZED VIEW cm AS SELECT a FROM ct",
            "CREATE INDEX ci ON cm (a)",
            "DROP VIEW cv1 CASCADE",
            "CREATE VIEW cv3 AS SELECT a FROM cm",
            "DROP TABLE ct CASCADE",
        ],
    );
    let want = "\
NOTICE:  schema \"nope\" does not exist, skipping
NOTICE:  table \"zz\" does not exist, skipping
NOTICE:  table \"zz2\" does not exist, skipping
NOTICE:  view \"vv\" does not exist, skipping
NOTICE:  materialized view \"mm\" does not exist, skipping
NOTICE:  index \"ii\" does not exist, skipping
NOTICE:  sequence \"sq\" does not exist, skipping
NOTICE:  drop cascades to 2 other objects
DETAIL:  drop cascades to constraint fc_a_fkey on table fc
drop cascades to view fv
NOTICE:  drop cascades to view cv2
NOTICE:  drop cascades to 2 other objects
DETAIL:  drop cascades to materialized view cm
drop cascades to view cv3
";
    assert_eq!(got, want);
}

/// `BEGIN` inside a transaction block and `COMMIT` or `ROLLBACK` outside one succeed with
/// PostgreSQL's warnings (25001, 25P01), as psql shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_block_warnings() {
    let server = TestServer::start("psql_txn_warnings").await;
    let got = psql_notices(
        &server,
        &["BEGIN", "BEGIN", "COMMIT", "COMMIT", "ROLLBACK", "SELECT 1"],
    );
    let want = "\
WARNING:  there is already a transaction in progress
WARNING:  there is no transaction in progress
WARNING:  there is no transaction in progress
";
    assert_eq!(got, want);
}

/// Settings in the start-up message (`application_name`, `-c name=value` in `options`) are the
/// session's, and what `RESET` and `RESET ALL` restore, as in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_settings_are_what_reset_restores() {
    let server = TestServer::start("psql_startup_settings").await;
    let output = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p"])
        .arg(server.port().to_string())
        .args([
            "-c",
            "SET application_name = 'other'",
            "-c",
            "SET extra_float_digits = 0",
            "-c",
            "SHOW application_name",
            "-c",
            "RESET ALL",
            "-c",
            "SHOW application_name",
            "-c",
            "SHOW extra_float_digits",
            "-c",
            "SHOW myapp.tenant",
            "-c",
            "SET extra_float_digits = 1",
            "-c",
            "RESET extra_float_digits",
            "-c",
            "SHOW extra_float_digits",
        ])
        .env("PGAPPNAME", "startup app")
        .env("PGOPTIONS", "-c extra_float_digits=2 --myapp.tenant=a\\ b")
        .output()
        .expect("psql is installed");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "other\nstartup app\n2\na b\n2\n"
    );
}
