//! Real PostgreSQL client libraries against a real Freshet server:
//! psycopg2, psycopg 3, asyncpg, pg8000 and SQLAlchemy (Core and
//! reflection, on both psycopg drivers), driven by
//! `tests/drivers/clients.py`; node-postgres (`pg`), driven by
//! `tests/drivers/node_pg.js`; and the PostgreSQL JDBC driver (pgjdbc),
//! driven by `tests/drivers/Jdbc.java`. Each library connects the way
//! applications do and runs its own start-up queries, parameter encodings
//! (text and binary), transactions (with savepoints), server-side cursors
//! or streamed reads, COPY and error handling; each script compares every
//! value with what the same script gets from PostgreSQL 15 (it passes
//! unchanged against PostgreSQL, which is how its expected values were
//! checked).
//!
//! `scripts/test` installs the libraries and names them: `FRESHET_PYTHON`
//! (a virtual environment's interpreter; else `python3` must have them),
//! `FRESHET_NODE_PATH` (a `node_modules` directory holding `pg`; else
//! node's own resolution must find it) and `FRESHET_JDBC_JAR` (else
//! `/usr/share/java/postgresql.jar`, Debian's `libpostgresql-jdbc-java`).
//! A missing library fails its test.

mod support;

use std::process::Command;

use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_and_sqlalchemy() {
    let server = TestServer::start("drivers").await;
    let python = std::env::var("FRESHET_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/drivers/clients.py");
    let port = server.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args([script, "--port", &port, "--freshet"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
    })
    .await
    .expect("the client script ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the Python client libraries are missing; scripts/test installs them \
         (see FRESHET_PYTHON):\n{stderr}"
    );
    assert!(
        output.status.success(),
        "client checks failed:\n{stdout}\n{stderr}"
    );
    // Every check ran and passed (the script prints one line per check).
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passed >= 10, "only {passed} checks ran:\n{stdout}");
}

/// Runs a client program (`program args... --port P --freshet`) against a
/// fresh server and checks that every one of its checks passed and that
/// there were at least `min_checks` of them.
async fn run_client(name: &str, mut command: Command, min_checks: usize) {
    let server = TestServer::start(name).await;
    command.args(["--port", &server.port().to_string(), "--freshet"]);
    let program = format!("{command:?}");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the client program ran")
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client checks failed ({program}):\n{stdout}\n{stderr}"
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(
        passed >= min_checks,
        "only {passed} checks ran:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres() {
    let mut node = Command::new("node");
    if let Ok(path) = std::env::var("FRESHET_NODE_PATH") {
        node.env("NODE_PATH", path);
    }
    node.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/drivers/node_pg.js"
    ));
    // A missing `pg` module fails the script's first line (`require`).
    run_client("drivers-node", node, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jdbc() {
    let jar = std::env::var("FRESHET_JDBC_JAR")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".into());
    assert!(
        std::path::Path::new(&jar).exists(),
        "the PostgreSQL JDBC driver is missing at {jar}; scripts/test installs it \
         (libpostgresql-jdbc-java; see FRESHET_JDBC_JAR)"
    );
    // `java File.java` compiles and runs a single-file program (JDK 11+).
    let mut java = Command::new("java");
    java.args(["-cp", &jar]).arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/drivers/Jdbc.java"
    ));
    run_client("drivers-jdbc", java, 10).await;
}
