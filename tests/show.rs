//! `SHOW` over the extended protocol, where `sql-tests/show.slt` cannot
//! look: every `SHOW` statement, prepared through a PostgreSQL driver
//! (`tokio-postgres`: Parse, Describe, then Bind/Execute with binary
//! results), is described with Materialize's column names and types before
//! it runs, and its rows then decode with exactly those types (a `LIKE` or
//! `WHERE` filter changes the rows, never the columns).

mod support;

use support::TestServer;

/// A `SHOW` statement, the columns Describe must give, and the rows it
/// must return (text, `NULL` for null; booleans as `t`/`f`).
struct Case {
    sql: &'static str,
    /// Names and `pg_type` names.
    columns: &'static [(&'static str, &'static str)],
    rows: &'static [&'static [&'static str]],
}

/// A result value as text, decoded with the described type.
fn value(row: &tokio_postgres::Row, i: usize, typ: &str) -> String {
    let shown = if typ == "bool" {
        row.get::<_, Option<bool>>(i)
            .map(|b| if b { "t" } else { "f" }.to_string())
    } else {
        row.get::<_, Option<String>>(i)
    };
    shown.unwrap_or_else(|| "NULL".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_show_is_described_before_it_runs() {
    let server = TestServer::start("show-describe").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE t (a int NOT NULL, b text);
         CREATE VIEW v AS SELECT a FROM t;
         CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM t;
         CREATE INDEX ti ON t (b);
         CREATE SECRET pw AS 'x';
         CREATE SOURCE auction FROM LOAD GENERATOR AUCTION FOR ALL TABLES",
    )
    .await
    .expect("setup");
    let cases = [
        Case {
            sql: "SHOW OBJECTS WHERE type <> 'source'",
            columns: &[("name", "text"), ("type", "text")],
            rows: &[
                &["mv", "materialized-view"],
                &["pw", "secret"],
                &["t", "table"],
                &["ti", "index"],
                &["v", "view"],
            ],
        },
        Case {
            sql: "SHOW SUBSOURCES ON auction LIKE 'b%'",
            columns: &[("name", "text"), ("type", "text")],
            rows: &[&["bids", "subsource"]],
        },
        Case {
            sql: "SHOW CLUSTERS",
            columns: &[("name", "text"), ("replicas", "text")],
            rows: &[&["default", "r1"]],
        },
        Case {
            sql: "SHOW CLUSTER REPLICAS WHERE ready",
            columns: &[
                ("cluster", "text"),
                ("replica", "text"),
                ("size", "text"),
                ("ready", "bool"),
            ],
            rows: &[&["default", "r1", "NULL", "t"]],
        },
        Case {
            sql: "SHOW DATABASES",
            columns: &[("name", "text")],
            rows: &[&["freshet"]],
        },
        Case {
            sql: "SHOW TYPES",
            columns: &[("name", "text")],
            rows: &[],
        },
        Case {
            sql: "SHOW ROLES LIKE 'fresh%'",
            columns: &[("name", "text")],
            rows: &[&["freshet"]],
        },
        Case {
            sql: "SHOW SCHEMAS WHERE name = 'public'",
            columns: &[("name", "text")],
            rows: &[&["public"]],
        },
        Case {
            sql: "SHOW TABLES",
            columns: &[("name", "text")],
            rows: &[&["t"]],
        },
        Case {
            sql: "SHOW VIEWS",
            columns: &[("name", "text")],
            rows: &[&["v"]],
        },
        Case {
            sql: "SHOW MATERIALIZED VIEWS",
            columns: &[("name", "text"), ("cluster", "text")],
            rows: &[&["mv", "default"]],
        },
        Case {
            sql: "SHOW SOURCES WHERE type = 'load-generator'",
            columns: &[("name", "text"), ("type", "text"), ("status", "text")],
            rows: &[&["auction", "load-generator", "running"]],
        },
        Case {
            sql: "SHOW SINKS",
            columns: &[("name", "text"), ("type", "text"), ("status", "text")],
            rows: &[],
        },
        Case {
            sql: "SHOW CONNECTIONS",
            columns: &[("name", "text"), ("type", "text")],
            rows: &[],
        },
        Case {
            sql: "SHOW SECRETS",
            columns: &[("name", "text")],
            rows: &[&["pw"]],
        },
        Case {
            sql: "SHOW INDEXES ON t",
            columns: &[
                ("name", "text"),
                ("on", "text"),
                ("cluster", "text"),
                ("key", "text"),
            ],
            rows: &[&["ti", "t", "default", "{b}"]],
        },
        Case {
            sql: "SHOW COLUMNS FROM t WHERE NOT nullable",
            columns: &[("name", "text"), ("nullable", "bool"), ("type", "text")],
            rows: &[&["a", "f", "integer"]],
        },
        Case {
            sql: "SHOW CREATE VIEW v",
            columns: &[("name", "text"), ("create_sql", "text")],
            rows: &[&[
                "freshet.public.v",
                "CREATE VIEW public.v AS SELECT a FROM public.t AS t",
            ]],
        },
    ];
    let mut problems = Vec::new();
    for case in &cases {
        let statement = match c.prepare(case.sql).await {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{}: prepare failed: {e:?}", case.sql));
                continue;
            }
        };
        let described: Vec<(String, String)> = statement
            .columns()
            .iter()
            .map(|col| (col.name().to_string(), col.type_().name().to_string()))
            .collect();
        let expected: Vec<(String, String)> = case
            .columns
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        if described != expected {
            problems.push(format!(
                "{}: described {described:?}, expected {expected:?}",
                case.sql
            ));
            continue;
        }
        let rows = match c.query(&statement, &[]).await {
            Ok(rows) => rows,
            Err(e) => {
                problems.push(format!("{}: execute failed: {e:?}", case.sql));
                continue;
            }
        };
        let got: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                (0..expected.len())
                    .map(|i| value(r, i, &expected[i].1))
                    .collect()
            })
            .collect();
        let want: Vec<Vec<String>> = case
            .rows
            .iter()
            .map(|r| r.iter().map(|v| v.to_string()).collect())
            .collect();
        if got != want {
            problems.push(format!("{}: rows {got:?}, expected {want:?}", case.sql));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_errors_have_their_sqlstate_in_both_protocols() {
    let server = TestServer::start("show-errors").await;
    let c = server.connect().await;
    // PostgreSQL reports a pattern's bad escape when matching reaches it:
    // `apples` gets there.
    c.batch_execute("CREATE TABLE t (a int); CREATE TABLE apples (x int)")
        .await
        .expect("setup");
    for (sql, code) in [
        ("SHOW OBJECTS FROM nope", "3F000"),
        ("SHOW TYPES FROM nope", "3F000"),
        ("SHOW SUBSOURCES ON nope", "42P01"),
        ("SHOW COLUMNS FROM nope", "42P01"),
        ("SHOW TABLES WHERE nope", "42703"),
        ("SHOW TABLES LIKE 'a\\'", "22025"),
    ] {
        let simple = c.simple_query(sql).await.expect_err(sql);
        assert_eq!(
            support::sqlstate(&simple).as_deref(),
            Some(code),
            "{sql}: {simple:?}"
        );
        // Extended: the error comes at Describe or at Execute, with the
        // same code.
        let extended = match c.prepare(sql).await {
            Err(e) => e,
            Ok(statement) => c.query(&statement, &[]).await.expect_err(sql),
        };
        assert_eq!(
            support::sqlstate(&extended).as_deref(),
            Some(code),
            "{sql}: {extended:?}"
        );
    }
}
