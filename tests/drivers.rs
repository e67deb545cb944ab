//! Real PostgreSQL client libraries against a real Freshet server:
//! psycopg2, psycopg 3, asyncpg, pg8000 and SQLAlchemy (Core and
//! reflection, on both psycopg drivers), driven by
//! `tests/drivers/clients.py`. Each library connects the way applications
//! do and runs its own start-up queries, parameter encodings (text and
//! binary), transactions (with savepoints), server-side cursors, COPY and
//! error handling; the script compares every value with what the same
//! script gets from PostgreSQL 15 (it passes unchanged against PostgreSQL,
//! which is how its expected values were checked).
//!
//! `scripts/test` installs the libraries into a virtual environment and
//! names its interpreter in `FRESHET_PYTHON`; without it, `python3` must
//! have them.

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
