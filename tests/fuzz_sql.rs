//! Mutation fuzzing of SQL over the wire (issue 2, part 11: "no client input
//! can panic the server").
//!
//! Statements taken from `sql-tests/*.slt` and a list of constructs are
//! mutated deterministically (a token deleted, duplicated, swapped with
//! another, replaced by a keyword or symbol, the statement cut short) and
//! sent to one server, each `.slt` file's statements in a schema of their
//! own (as if each file had the fresh server it is written for, so that the
//! share of mutations that reach execution does not drop with every new
//! file). Every statement must either succeed or fail with an
//! error that carries a SQLSTATE; a statement that does not answer within a
//! few seconds has its connection dropped (the server must clean up). Every
//! few statements, and at the end, the server must still answer a query
//! and must not have logged a panic.

mod support;

use std::time::Duration;

use support::{TestServer, sqlstate, text_rows};

/// Mutated statements sent per run.
const MUTATIONS: usize = 4000;
/// How long one statement may run before its connection is dropped.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements with the constructs the fuzzer should reach, on top of the
/// `.slt` files.
const SEEDS: &[&str] = &[
    "CREATE TABLE f (a int NOT NULL DEFAULT 1, b text, c numeric(10,2), d jsonb, e timestamptz, g bytea, h interval, u uuid)",
    "INSERT INTO f VALUES (1, 'x', 1.50, '{\"k\": [1, 2]}', '2024-01-01 00:00:00+00', '\\x00ff', '1 day', '00000000-0000-0000-0000-000000000001')",
    "INSERT INTO f (a, b) SELECT x, 'y' FROM generate_series(1, 20) AS g(x)",
    "UPDATE f SET b = upper(b) || 'z', c = c * 2 WHERE a % 2 = 0",
    "DELETE FROM f WHERE a > 15",
    "CREATE MATERIALIZED VIEW fm AS SELECT a % 3 AS k, count(*), sum(c), max(b), string_agg(b, ',') FROM f GROUP BY 1",
    "CREATE VIEW fv AS SELECT * FROM f WHERE d->>'k' IS NOT NULL",
    "CREATE INDEX fi ON fm (k)",
    "SELECT * FROM fm WHERE k = 1",
    "SELECT a, b, c::text, d->'k'->>0, e + h, length(g) FROM f ORDER BY a DESC LIMIT 5 OFFSET 1",
    "SELECT x.a, y.b FROM f x LEFT JOIN f y ON x.a = y.a + 1 FULL OUTER JOIN fm ON fm.k = x.a",
    "SELECT a FROM f WHERE a IN (SELECT k FROM fm) AND EXISTS (SELECT 1 FROM f g WHERE g.a = f.a)",
    "WITH w AS (SELECT a, b FROM f) SELECT DISTINCT b FROM w UNION SELECT 'q' EXCEPT SELECT 'y'",
    "SELECT (SELECT max(a) FROM f), CASE WHEN a > 2 THEN 1 / (a - a) ELSE 0 END FROM f",
    "SELECT CAST('12345678901234567890' AS bigint), 2147483647 + 1, 'abc'::int, 1.5::numeric(2,1) * 1e10",
    "SELECT bool_and(a > 0), bool_or(b IS NULL), avg(a), count(DISTINCT b) FROM f HAVING count(*) > 0",
    "EXPLAIN SELECT a, sum(a) FROM f GROUP BY a",
    "SHOW CREATE MATERIALIZED VIEW fm",
    "SHOW COLUMNS FROM f",
    "SET search_path = public, materialize",
    "BEGIN; INSERT INTO f (a) VALUES (99); COMMIT",
    "DROP VIEW fv",
    "DROP TABLE f CASCADE",
    "SELECT now(), current_timestamp - interval '1 hour', date_trunc('day', e) FROM f",
    "SELECT ARRAY[1, 2, NULL], '{\"a b\",c}'::text[], (ARRAY[1, 2])[2], array_length(ARRAY[1], 1), 2 = ANY(ARRAY[1, 2]), ARRAY[1] || 2",
    "SELECT a, x FROM f, unnest(ARRAY[a, a + 1]) AS x WHERE x > 1",
    "SELECT unnest(ARRAY[1, 2, 3]) AS u, unnest('{x,y}'::text[]) AS v",
    "SELECT b, array_agg(a ORDER BY a DESC), array_to_string(array_agg(c), ',') FROM f GROUP BY b",
    "SELECT a, b FROM f WHERE b NOT IN (SELECT b FROM f g WHERE g.a > 3) AND a NOT IN (SELECT k FROM fm WHERE k = f.a)",
    "SELECT b, a % 2, GROUPING(b, a % 2), count(*), sum(c) FROM f GROUP BY ROLLUP (b, a % 2)",
    "SELECT b, c, sum(a) FROM f GROUP BY CUBE (b, c) HAVING GROUPING(c) = 0",
    "SELECT b, max(a) FROM f GROUP BY GROUPING SETS ((b), (), (b, c))",
];

/// Words and symbols a mutation may insert.
const NOISE: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "(",
    ")",
    ",",
    "NULL",
    "'",
    "\"",
    ";",
    "*",
    "::",
    "->>",
    "GROUP BY",
    "ORDER BY",
    "JOIN",
    "ON",
    "1",
    "-1",
    "1e308",
    "'x'",
    "AS",
    "CASCADE",
    "DISTINCT",
    "LIMIT",
    "9223372036854775807",
    "/",
    "0",
    "NOT",
    "IN",
    "CAST",
    "jsonb",
    "numeric",
    "interval",
    "OVER ()",
    "LATERAL",
    "WITH RECURSIVE",
    "ARRAY[1]",
    "unnest",
    "$1",
    "\\",
    "--",
    "/*",
];

/// A SplitMix64 generator: the run is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A statement of the corpus, and the schema it runs in: each `.slt` file
/// gets a schema of its own (`slt_<file>`, first on the `search_path`), as
/// if it had a fresh server, so that its `CREATE TABLE t` does not collide
/// with another file's and its statements reach the objects it made. The
/// seeds run in `public`.
struct Entry {
    sql: String,
    schema: Option<String>,
}

/// The `statement`/`query` bodies of the `.slt` files, one entry each.
fn slt_statements() -> Vec<Entry> {
    let mut out = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql-tests");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files {
        if path.extension().is_none_or(|e| e != "slt") {
            continue;
        }
        let stem = path
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            })
            .unwrap_or_default();
        let schema = format!("slt_{stem}");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if !(line.starts_with("statement") || line.starts_with("query")) {
                continue;
            }
            let mut body = Vec::new();
            for l in lines.by_ref() {
                if l.trim().is_empty() || l == "----" {
                    break;
                }
                body.push(l);
            }
            let sql = body.join("\n");
            if !empties_namespace(&sql) {
                out.push(Entry {
                    sql,
                    schema: Some(schema.clone()),
                });
            }
        }
    }
    out
}

/// `.slt` statements that would leave the fuzzer's one session with little
/// to reach: dropping whole schemas (`DROP SCHEMA public CASCADE` takes the
/// seeds' tables with it) or pointing `search_path` away from `public`.
/// Mutations cannot produce these (the noise has neither word), so leaving
/// them out of the corpus keeps them out of the run.
fn empties_namespace(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    upper.contains("DROP SCHEMA") || upper.contains("SEARCH_PATH")
}

/// Splits SQL into rough tokens (words, quoted strings, symbols).
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut t = c.to_string();
        if c == '\'' || c == '"' {
            for d in chars.by_ref() {
                t.push(d);
                if d == c {
                    break;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            while let Some(&d) = chars.peek() {
                if !(d.is_alphanumeric() || d == '_' || d == '.') {
                    break;
                }
                t.push(d);
                chars.next();
            }
        }
        out.push(t);
    }
    out
}

/// One mutation of `sql`.
fn mutate(sql: &str, rng: &mut Rng) -> String {
    let mut t = tokens(sql);
    if t.is_empty() {
        return sql.to_string();
    }
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(t.len());
        match rng.below(6) {
            0 if t.len() > 1 => {
                t.remove(i);
            }
            1 => {
                let dup = t[i].clone();
                t.insert(i, dup);
            }
            2 => {
                let j = rng.below(t.len());
                t.swap(i, j);
            }
            3 => t[i] = NOISE[rng.below(NOISE.len())].to_string(),
            4 => t.insert(i, NOISE[rng.below(NOISE.len())].to_string()),
            _ => t.truncate(i.max(1)),
        }
        if t.is_empty() {
            break;
        }
    }
    t.join(" ")
}

/// Statements that would stream or wait instead of answering.
fn streams(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    ["SUBSCRIBE", "COPY", "FETCH", "DECLARE", "TIMEOUT", "SLEEP"]
        .iter()
        .any(|w| upper.contains(w))
}

/// Makes `schema` (created if need be) the first on the session's
/// `search_path`, or `public` alone for `None`; `current` is what the
/// session has now. A transaction left open is rolled back first.
async fn enter_schema(
    conn: &tokio_postgres::Client,
    current: &mut Option<String>,
    schema: &Option<String>,
) {
    if current == schema {
        return;
    }
    // A statement before may have left a transaction open (or failed).
    let sql = match schema {
        Some(s) => {
            format!("ROLLBACK; CREATE SCHEMA IF NOT EXISTS {s}; SET search_path = {s}, public")
        }
        None => "ROLLBACK; SET search_path = public".to_string(),
    };
    conn.batch_execute(&sql).await.expect(&sql);
    current.clone_from(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_sql_never_breaks_the_server() {
    let server = TestServer::start("fuzz-sql").await;
    let mut corpus: Vec<Entry> = SEEDS
        .iter()
        .map(|s| Entry {
            sql: s.to_string(),
            schema: None,
        })
        .collect();
    corpus.extend(slt_statements());
    assert!(corpus.len() > 100, "the .slt files were not found");
    let mut rng = Rng(0x5eed);
    let mut conn = server.connect().await;
    // The schema most seeds use, in place before mutation starts.
    for s in &SEEDS[..8] {
        conn.simple_query(s).await.expect(s);
    }
    // The corpus once as written, in order, so that the objects the
    // `.slt` files create exist for the mutations to reach.
    let mut path: Option<String> = None;
    for entry in corpus.iter().filter(|e| !streams(&e.sql)) {
        let sql = &entry.sql;
        enter_schema(&conn, &mut path, &entry.schema).await;
        if let Ok(Err(e)) = tokio::time::timeout(STATEMENT_TIMEOUT, conn.simple_query(sql)).await {
            assert!(sqlstate(&e).is_some(), "no SQLSTATE for `{sql}`: {e:?}");
        }
        assert!(
            !server.log_tail(100_000).contains("panicked"),
            "the server panicked on `{sql}`:\n{}",
            server.log_tail(60)
        );
    }
    let (mut ok, mut failed, mut timed_out) = (0usize, 0usize, 0usize);
    let mut sent = 0;
    while sent < MUTATIONS {
        let base = &corpus[rng.below(corpus.len())];
        let sql = if rng.below(10) == 0 {
            base.sql.clone()
        } else {
            mutate(&base.sql, &mut rng)
        };
        if streams(&sql) {
            continue;
        }
        enter_schema(&conn, &mut path, &base.schema).await;
        sent += 1;
        match tokio::time::timeout(STATEMENT_TIMEOUT, conn.simple_query(&sql)).await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                failed += 1;
                // A server error always names its SQLSTATE; a closed
                // connection would mean the server gave up on this client.
                assert!(
                    sqlstate(&e).is_some(),
                    "no SQLSTATE for `{sql}`: {e:?}\n{}",
                    server.log_tail(40)
                );
            }
            Err(_) => {
                // Drop the connection mid-statement; the server must clean up.
                timed_out += 1;
                conn = server.connect().await;
                path = None;
            }
        }
        // A seed sets the search_path itself: the next statement sets it
        // again, whatever its schema.
        if sql.to_uppercase().contains("SEARCH_PATH") {
            path = Some(String::new());
        }
        // The statement that made the server panic, if it did (a panic in
        // a connection's task is caught and must not go unnoticed).
        if server.log_tail(100_000).contains("panicked") {
            panic!("the server panicked on `{sql}`:\n{}", server.log_tail(60));
        }
        if sent % 100 == 0 {
            let check = server.connect().await;
            assert_eq!(
                text_rows(&check, "SELECT 1").await,
                vec![vec![Some("1".to_string())]],
                "after {sent} statements"
            );
        }
    }
    let check = server.connect().await;
    assert_eq!(
        text_rows(&check, "SELECT 1 + 1").await,
        vec![vec![Some("2".to_string())]]
    );
    let log = server.log_tail(100_000);
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    let caught = log.matches("caught a DataFusion panic").count();
    eprintln!(
        "{sent} mutated statements: {ok} succeeded, {failed} failed with a SQLSTATE \
         ({caught} of them DataFusion panics caught by the planner guard), {timed_out} timed out"
    );
    // Most mutations are errors, but not all: a fuzzer that only produces
    // parse errors reaches nothing.
    assert!(
        ok > sent / 20 && failed > sent / 5,
        "ok {ok}, failed {failed}"
    );
}
