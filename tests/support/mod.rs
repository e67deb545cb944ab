//! Helpers shared by the integration tests (`tests/server.rs`, `tests/kafka.rs`): a server
//! process per test, connections, deadline-bounded polling, result conversion, a reader for
//! `COPY (SUBSCRIBE ...) TO STDOUT`, and a schema registry stand-in ([`registry`]).

// Each test crate uses a subset of the helpers.
#![allow(dead_code)]

pub mod kafka;
pub mod raw_numeric;
pub mod registry;
pub mod tls;

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::ops::Deref;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{Client, CopyOutStream, NoTls, SimpleQueryMessage};

/// The server binary under test, built by Cargo for integration tests.
const SERVER_BIN: &str = env!("CARGO_BIN_EXE_freshet");

/// The server binary to start: `FRESHET_SERVER_BIN` when set (so a saved benchmark binary can
/// be run against the server build it belongs to), else the one cargo built alongside.
fn server_bin() -> String {
    std::env::var("FRESHET_SERVER_BIN").unwrap_or_else(|_| SERVER_BIN.to_string())
}
/// Worker threads each server runs with.
const WORKERS: usize = 2;
/// How long a server may take to start answering queries.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two probes of a polled condition.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Server log lines printed when a test fails.
const LOG_TAIL_LINES: usize = 80;
/// How often a start is retried on a new port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 5;

/// Result rows as text (`None` is NULL), as the simple query protocol returns them.
pub type Rows = Vec<Vec<Option<String>>>;

/// Expected rows, written as text; the string `"NULL"` stands for NULL.
pub fn expect_rows(rows: &[&[&str]]) -> Rows {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| (*v != "NULL").then(|| v.to_string()))
                .collect()
        })
        .collect()
}

/// Runs `sql` with the simple query protocol and returns its rows as text.
pub async fn try_text_rows(client: &Client, sql: &str) -> Result<Rows, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| format!("`{sql}`: {e:?}"))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// [`try_text_rows`], panicking on an error.
pub async fn text_rows(client: &Client, sql: &str) -> Rows {
    try_text_rows(client, sql)
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"))
}

/// The SQLSTATE of an error the server sent, if it is one.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_string())
}

/// The message of an error: the server's, if it sent one.
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_string())
}

/// Calls `probe` until it returns `Ok`, at most until `timeout` has passed; `Err` carries a
/// description of what the probe last saw, for the failure message. A probe that is still
/// running at the deadline is abandoned.
pub async fn poll_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = "nothing: the first probe did not finish".to_string();
    loop {
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(seen)) => last = seen,
            // Cut off by the deadline: keep what the previous probe saw.
            Err(_) => {}
        }
        if Instant::now() + POLL_INTERVAL >= deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {what}; last seen: {last}"
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`poll_for`], panicking on a timeout.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    poll_for(what, timeout, probe)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A directory under the system temp dir, removed on drop unless `FRESHET_TEST_KEEP` is set.
pub struct ScratchDir {
    /// The directory.
    pub path: PathBuf,
}

impl ScratchDir {
    /// Creates a fresh, empty directory whose name contains `name`.
    pub fn create(name: &str) -> ScratchDir {
        static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "freshet-server-test-{}-{}-{name}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        ScratchDir { path }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::env::var_os("FRESHET_TEST_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A `freshet` server process with its own data directory and log file. It can be killed
/// with SIGKILL and restarted on the same data directory. On drop the process is killed; if
/// the test is failing, the tail of the server log is printed first.
pub struct TestServer {
    name: String,
    workers: usize,
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    /// Declared last: removed after the process is gone.
    _scratch: ScratchDir,
}

impl TestServer {
    /// Starts a server on a free port with a fresh data directory and waits until it answers
    /// `SELECT 1`.
    pub async fn start(name: &str) -> TestServer {
        TestServer::start_with_workers(name, WORKERS).await
    }

    /// [`TestServer::start`] with `workers` timely workers.
    pub async fn start_with_workers(name: &str, workers: usize) -> TestServer {
        let scratch = ScratchDir::create(name);
        let data_dir = scratch.path.join("data");
        let log_path = scratch.path.join("server.log");
        let mut server = TestServer {
            name: name.to_string(),
            workers,
            child: None,
            port: 0,
            data_dir,
            log_path,
            _scratch: scratch,
        };
        server.spawn().await;
        server
    }

    /// Spawns the process on a free port (retrying on a new port if the chosen one was taken
    /// in between) and waits until it answers queries.
    async fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "{}: the server is already running",
            self.name
        );
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .unwrap_or_else(|e| panic!("opening {}: {e}", self.log_path.display()));
            let _ = writeln!(log, "=== test harness: starting freshet on port {port} ===");
            let stderr: File = log.try_clone().expect("cloning the log file handle");
            let bin = server_bin();
            let child = Command::new(&bin)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(&self.data_dir)
                .arg("--workers")
                .arg(self.workers.to_string())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {bin}: {e}"));
            self.child = Some(child);
            self.port = port;
            match self.wait_until_ready().await {
                Ok(()) => return,
                Err(e) => {
                    let exited = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    let port_taken = self.log_tail(20).contains("in use");
                    if exited.is_some() && port_taken && attempt < START_ATTEMPTS {
                        self.child = None;
                        continue;
                    }
                    panic!("{}: {e}\n{}", self.name, self.log_tail(LOG_TAIL_LINES));
                }
            }
        }
    }

    /// Polls until a new connection answers `SELECT 1`, failing early if the process exits.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("freshet exited during start-up: {status}"));
            }
            let attempt = tokio::time::timeout(Duration::from_secs(5), async {
                let conn = self.try_connect().await?;
                conn.simple_query("SELECT 1")
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            });
            let last = match attempt.await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => "connection attempt timed out".to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "freshet did not answer on port {} within {STARTUP_TIMEOUT:?}: {last}",
                    self.port
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Kills the server with SIGKILL (`kill -9`) and reaps it. Panics if it had already
    /// exited on its own (a crash, which the test should not mistake for the kill).
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{}: the server had already exited ({status}) before kill -9\n{}",
                self.name,
                self.log_tail(LOG_TAIL_LINES)
            );
        }
        child.kill().expect("sending SIGKILL");
        let status = child.wait().expect("waiting for the killed server");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "{}: exit status after kill -9",
                self.name
            );
        }
        #[cfg(not(unix))]
        let _ = status;
    }

    /// Starts the server again on the same data directory (on a new port).
    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    /// Connects a new client.
    async fn try_connect(&self) -> Result<Conn, String> {
        self.try_connect_as("freshet").await
    }

    /// Connects a new client with the start-up parameter `user`.
    async fn try_connect_as(&self, user: &str) -> Result<Conn, String> {
        let stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .await
            .map_err(|e| format!("connecting to port {}: {e}", self.port))?;
        let _ = stream.set_nodelay(true);
        let (client, connection) = tokio_postgres::Config::new()
            .user(user)
            .dbname("freshet")
            .application_name(&self.name)
            .connect_raw(stream, NoTls)
            .await
            .map_err(|e| format!("PostgreSQL start-up on port {}: {e}", self.port))?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { client, task })
    }

    /// Connects a new client; panics (with the server log) on failure.
    pub async fn connect(&self) -> Conn {
        match self.try_connect().await {
            Ok(conn) => conn,
            Err(e) => panic!("{}: {e}\n{}", self.name, self.log_tail(LOG_TAIL_LINES)),
        }
    }

    /// Connects a new client as `user`; panics (with the server log) on
    /// failure.
    pub async fn connect_as(&self, user: &str) -> Conn {
        match self.try_connect_as(user).await {
            Ok(conn) => conn,
            Err(e) => panic!("{}: {e}\n{}", self.name, self.log_tail(LOG_TAIL_LINES)),
        }
    }

    /// Connects a new client and also returns the client side's local TCP port, which
    /// identifies the connection in the kernel's socket tables.
    pub async fn connect_with_local_port(&self) -> (Conn, u16) {
        let stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .await
            .unwrap_or_else(|e| panic!("connecting to port {}: {e}", self.port));
        let local_port = stream.local_addr().expect("local address").port();
        let (client, connection) = tokio_postgres::Config::new()
            .user("freshet")
            .dbname("freshet")
            .connect_raw(stream, NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL start-up: {e}"));
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        (Conn { client, task }, local_port)
    }

    /// The inode of the server's end of the TCP connection whose client end is on
    /// `client_port` (Linux only: read from `/proc/net/tcp`; `None` elsewhere or if absent).
    pub fn socket_of_client(&self, client_port: u16) -> Option<u64> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let table = fs::read_to_string("/proc/net/tcp").ok()?;
        let port_of = |addr: &str| {
            addr.rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
        };
        let inode = table.lines().skip(1).find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() > 9 && port_of(f[1]) == Some(self.port) && port_of(f[2]) == Some(client_port))
                .then(|| f[9].parse::<u64>().ok())
                .flatten()
        });
        assert!(
            inode.is_some_and(|i| i != 0 && self.holds_socket(i)),
            "the server's end of the connection from port {client_port} was not found \
             among its open sockets (inode {inode:?})"
        );
        inode
    }

    /// Whether the server process has a file descriptor open on socket `inode` (Linux).
    pub fn holds_socket(&self, inode: u64) -> bool {
        let target = format!("socket:[{inode}]");
        let Ok(entries) = fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return false;
        };
        entries
            .flatten()
            .any(|e| fs::read_link(e.path()).is_ok_and(|link| link.to_string_lossy() == target))
    }

    /// The last `lines` lines of the server log, with a header.
    pub fn log_tail(&self, lines: usize) -> String {
        match fs::read(&self.log_path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let all: Vec<&str> = text.lines().collect();
                let tail = &all[all.len().saturating_sub(lines)..];
                format!(
                    "--- server log of {} (last {} of {} lines of {}) ---\n{}\n--- end ---",
                    self.name,
                    tail.len(),
                    all.len(),
                    self.log_path.display(),
                    tail.join("\n")
                )
            }
            Err(e) => format!(
                "--- server log {} unreadable: {e} ---",
                self.log_path.display()
            ),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(LOG_TAIL_LINES));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A client connection; dereferences to the `tokio_postgres::Client`. Dropping it ends the
/// connection task, which closes the socket at once (even in the middle of a query).
pub struct Conn {
    client: Client,
    task: JoinHandle<()>,
}

impl Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One line of `COPY (SUBSCRIBE ...) TO STDOUT`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeLine {
    /// `mz_timestamp`.
    pub ts: u64,
    /// `mz_progressed` (always false without `PROGRESS`).
    pub progressed: bool,
    /// `mz_diff` (NULL on progress lines).
    pub diff: Option<i64>,
    /// The subscribed relation's columns.
    pub values: Vec<Option<String>>,
}

/// Reads `COPY (SUBSCRIBE ...) TO STDOUT` output line by line, with deadlines.
pub struct SubscribeLines {
    stream: Pin<Box<CopyOutStream>>,
    buffer: Vec<u8>,
    progress: bool,
    sql: String,
}

impl SubscribeLines {
    /// Starts `sql` (a `COPY (SUBSCRIBE ...) TO STDOUT`) on `client`, which should be used
    /// for nothing else afterwards. `progress` says whether the output has `mz_progressed`.
    pub async fn start(client: &Client, sql: &str, progress: bool) -> SubscribeLines {
        let stream = tokio::time::timeout(Duration::from_secs(30), client.copy_out(sql))
            .await
            .unwrap_or_else(|_| panic!("`{sql}` did not start within 30s"))
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e:?}"));
        SubscribeLines {
            stream: Box::pin(stream),
            buffer: Vec::new(),
            progress,
            sql: sql.to_string(),
        }
    }

    /// The next line, or an error if the deadline passes, the stream ends or fails, or the
    /// line is malformed.
    pub async fn next_line(&mut self, deadline: Instant) -> Result<SubscribeLine, String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.buffer.drain(..=end).collect();
                let text = String::from_utf8(raw[..raw.len() - 1].to_vec())
                    .map_err(|e| format!("a line that is not UTF-8: {e}"))?;
                return self.parse(&text);
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Err("deadline passed".into()),
                Ok(None) => return Err("the COPY stream ended".into()),
                Ok(Some(Err(e))) => return Err(format!("the COPY stream failed: {e:?}")),
                Ok(Some(Ok(bytes))) => self.buffer.extend_from_slice(&bytes),
            }
        }
    }

    /// Parses one line: `mz_timestamp [mz_progressed] mz_diff columns...`.
    fn parse(&self, line: &str) -> Result<SubscribeLine, String> {
        let fields: Vec<Option<String>> = line.split('\t').map(unescape_copy_field).collect();
        let fixed = if self.progress { 3 } else { 2 };
        if fields.len() < fixed {
            return Err(format!("a line with too few fields: {line:?}"));
        }
        let ts = fields[0]
            .as_deref()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(|| format!("bad mz_timestamp in {line:?}"))?;
        let progressed = if self.progress {
            match fields[1].as_deref() {
                Some("t") => true,
                Some("f") => false,
                _ => return Err(format!("bad mz_progressed in {line:?}")),
            }
        } else {
            false
        };
        let diff = match fields[fixed - 1].as_deref() {
            None => None,
            Some(d) => Some(
                d.parse::<i64>()
                    .map_err(|_| format!("bad mz_diff in {line:?}"))?,
            ),
        };
        Ok(SubscribeLine {
            ts,
            progressed,
            diff,
            values: fields[fixed..].to_vec(),
        })
    }

    /// Reads lines until `done` holds for those read so far; panics at the deadline.
    pub async fn read_until(
        &mut self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[SubscribeLine]) -> bool,
    ) -> Vec<SubscribeLine> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        while !done(&lines) {
            match self.next_line(deadline).await {
                Ok(line) => lines.push(line),
                Err(e) => panic!(
                    "waiting for {what} from `{}`: {e}; lines so far: {lines:#?}",
                    self.sql
                ),
            }
        }
        lines
    }

    /// Reads exactly `n` lines; panics at the deadline.
    pub async fn read_n(&mut self, n: usize, timeout: Duration, what: &str) -> Vec<SubscribeLine> {
        self.read_until(timeout, what, |lines| lines.len() >= n)
            .await
    }
}

/// Decodes one field of COPY's text format: `\N` is NULL, backslash escapes are undone.
pub fn unescape_copy_field(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

/// How long [`wait_for_rows`] waits.
const ROWS_WAIT: Duration = Duration::from_secs(60);

/// Runs `statements` one by one; panics on the first error.
pub async fn exec(client: &Client, statements: &[&str]) {
    for sql in statements {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("`{sql}`: {e:?}"));
    }
}

/// Polls `sql` until it returns `expected` (at most a minute).
pub async fn wait_for_rows(client: &Client, sql: &str, expected: &Rows) {
    poll_until(
        &format!("`{sql}` to return {expected:?}"),
        ROWS_WAIT,
        || async {
            let rows = try_text_rows(client, sql).await?;
            if &rows == expected {
                Ok(())
            } else {
                Err(format!("{rows:?}"))
            }
        },
    )
    .await;
}

/// Writes to `orders` until `stop` is set: inserts, updates and deletes, one statement (one
/// timestamp) at a time. Errors (the server being killed) end it.
/// Inserted ids start at `first_id`: two runs must not overlap, since the sinks' `KEY (id)`
/// is `NOT ENFORCED` and a repeated id is two rows the upsert topic cannot tell apart.
pub fn write_orders(
    server_conn: Conn,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    first_id: i64,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut n = 0;
        for i in first_id.. {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let sql = match i % 3 {
                0 => format!("UPDATE orders SET qty = qty + 1 WHERE id = {}", i - 1),
                1 => format!(
                    "INSERT INTO orders VALUES ({i}, 'w{}', {i}, 1.00, NULL)",
                    i % 5
                ),
                _ => format!("DELETE FROM orders WHERE id = {}", i - 10),
            };
            if server_conn.batch_execute(&sql).await.is_err() {
                break;
            }
            n += 1;
        }
        n
    })
}
