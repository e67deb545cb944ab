//! Per-connection state: session variables and the transaction status.

use std::collections::BTreeMap;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::catalog::SearchPath;
use crate::expr::GlobalId;
use crate::repr::{Diff, RelationDesc, Row, SqlState};

use super::cancel::{CancelToken, Canceller};
use super::{AdapterError, SubscribeResponse};

/// The session variables clients set or read at start-up, with their
/// defaults. Values are kept as text, as PostgreSQL reports them.
pub const DEFAULT_VARIABLES: &[(&str, &str)] = &[
    ("application_name", ""),
    ("check_function_bodies", "on"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("cluster", "default"),
    ("database", "materialize"),
    ("datestyle", "ISO, MDY"),
    ("default_table_access_method", "heap"),
    ("default_tablespace", ""),
    ("default_transaction_isolation", "strict serializable"),
    ("extra_float_digits", "1"),
    // Materialize's default: an open transaction holds its snapshot (and
    // memory), so a session idle in one is ended after two minutes.
    ("idle_in_transaction_session_timeout", "2min"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "on"),
    ("lock_timeout", "0"),
    // Materialize's: the most bytes of data one `COPY ... FROM STDIN`
    // takes (1 GiB), as its rows are kept until they are written together.
    ("max_copy_from_size", "1073741824"),
    ("max_identifier_length", "63"),
    // PostgreSQL's (read-only); JDBC's getIndexInfo and getImportedKeys
    // read it from `pg_settings`.
    ("max_index_keys", "32"),
    ("row_security", "on"),
    ("search_path", "public"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.0.0"),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "strict serializable"),
    ("xmloption", "content"),
];

/// The user of a session whose client named none (Materialize's default
/// user).
pub const DEFAULT_USER: &str = "materialize";

/// Where the session is in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionState {
    /// No explicit transaction.
    #[default]
    Idle,
    /// Inside `BEGIN ... COMMIT`.
    InTransaction,
    /// A statement in the transaction failed; only ROLLBACK/COMMIT work.
    Failed,
}

/// One client connection's state.
pub struct Session {
    vars: BTreeMap<String, String>,
    /// The transaction state.
    pub transaction: TransactionState,
    /// Writes of the open transaction, in order, applied together at
    /// COMMIT; the transaction's reads see them
    /// ([`super::txn::read_own_writes`]).
    pub pending_writes: Vec<(GlobalId, Row, Diff)>,
    /// The tables the open transaction retracted rows from, each with the
    /// last write's timestamp when the transaction first did: another
    /// commit to one of them after it ([`super::CoordState::table_commits`])
    /// may have changed or removed those rows.
    pub retracted_from: BTreeMap<GlobalId, crate::repr::Timestamp>,
    /// The open transaction's snapshot, once its first read chose one
    /// (behind a lock so that a read through [`Session::txn_reads`] can
    /// set it).
    pub snapshot: std::sync::Mutex<Option<super::txn::Snapshot>>,
    /// Since when the session has waited for its client's next statement
    /// (set when a query cycle ends, cleared when a statement starts), for
    /// `idle_in_transaction_session_timeout`.
    pub idle_since: Option<std::time::Instant>,
    /// Open cursors, by name.
    pub cursors: BTreeMap<String, Cursor>,
    /// The open transaction's savepoints, oldest first.
    pub savepoints: Vec<Savepoint>,
    /// Names of the statements prepared through the extended protocol
    /// (`Parse`), which `DEALLOCATE ALL` removes.
    pub prepared: std::collections::BTreeSet<String>,
    /// When the explicit transaction began (microseconds since the Unix
    /// epoch): `now()` inside it is this moment, as in PostgreSQL.
    pub transaction_start: Option<i64>,
    /// How long the running statement's `pg_sleep` calls sleep: set when
    /// they are replaced (under the coordinator's lock) and slept before
    /// the statement runs, outside it.
    pub pending_sleep: std::time::Duration,
    /// The database the client connected to: what `RESET` restores
    /// `database` to.
    startup_database: Option<String>,
    /// The variables the client set in its start-up message
    /// (`application_name`, `DateStyle`, `options=-c name=value`): what
    /// `RESET` restores them to, as in PostgreSQL.
    startup_vars: BTreeMap<String, String>,
    /// The user the client connected as (the start-up `user` parameter):
    /// `current_user`, `session_user`, `user` and `current_role`.
    user: String,
    /// The connection's process id, as `pg_backend_pid()` reports it: the
    /// one the server sent the client in BackendKeyData (which cancel
    /// requests name), else a number of its own, unique in the process.
    pub backend_pid: i32,
    /// The values `currval` and `lastval` read.
    pub sequences: super::sequence_objects::SessionSequencesRef,
    /// Where cancel requests for this connection arrive.
    pub canceller: Arc<Canceller>,
    /// The running query's view of them (see [`Session::start_query`]).
    pub cancel: CancelToken,
}

/// Process ids of sessions that no connection gave one (see
/// [`Session::backend_pid`]); far below pgwire's, which start at 100000.
static NEXT_BACKEND_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);

/// A savepoint (`SAVEPOINT name`): what `ROLLBACK TO` restores.
#[derive(Debug, Clone)]
pub struct Savepoint {
    /// Its name (names may repeat; the newest one is found first).
    pub name: String,
    /// How many of the transaction's writes came before it.
    pub writes: usize,
    /// The cursors open when it was set; a rollback to it closes the rest.
    pub cursors: Vec<String>,
}

/// An open cursor (`DECLARE`).
pub enum Cursor {
    /// A query's rows, not yet fetched.
    Rows {
        /// The schema.
        desc: RelationDesc,
        /// The rows left.
        rows: VecDeque<Row>,
    },
    /// A running SUBSCRIBE, with rows received but not yet fetched.
    Subscribe {
        /// The subscribe (boxed: it is far larger than the other variant).
        subscribe: Box<SubscribeResponse>,
        /// Rows received, not yet fetched.
        buffered: VecDeque<Row>,
    },
}

impl Cursor {
    /// The schema of the rows FETCH returns.
    pub fn desc(&self) -> RelationDesc {
        match self {
            Cursor::Rows { desc, .. } => desc.clone(),
            Cursor::Subscribe { subscribe, .. } => subscribe.output_desc(),
        }
    }
}

impl Default for Session {
    fn default() -> Self {
        let canceller = Canceller::new();
        Session {
            vars: DEFAULT_VARIABLES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            transaction: TransactionState::Idle,
            pending_writes: Vec::new(),
            retracted_from: BTreeMap::new(),
            snapshot: Default::default(),
            idle_since: None,
            cursors: BTreeMap::new(),
            savepoints: Vec::new(),
            prepared: Default::default(),
            transaction_start: None,
            pending_sleep: std::time::Duration::ZERO,
            startup_database: None,
            startup_vars: BTreeMap::new(),
            user: DEFAULT_USER.to_string(),
            backend_pid: NEXT_BACKEND_PID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            sequences: Default::default(),
            cancel: canceller.token(),
            canceller,
        }
    }
}

impl Session {
    /// Marks the start of a query (a simple query's text, or one Execute):
    /// cancel requests from now on stop it, earlier ones do not.
    pub fn start_query(&mut self) {
        self.cancel = self.canceller.token();
    }

    /// The running statement's cancel token: the query's, with the
    /// deadline `statement_timeout` sets from now.
    pub fn statement_cancel(&self) -> CancelToken {
        let timeout = self
            .get("statement_timeout")
            .ok()
            .and_then(timeout_ms)
            .filter(|ms| *ms > 0)
            .map(|ms| std::time::Duration::from_millis(ms as u64));
        self.cancel.with_timeout(timeout)
    }
}

/// The variable `SHOW` names, lower case: its words joined by spaces
/// (`time zone`), except a custom variable's two parts (`SHOW myapp.tenant`),
/// joined by a dot.
pub fn show_variable_name(variable: &[sqlparser::ast::Ident]) -> String {
    let words: Vec<String> = variable.iter().map(|i| i.value.to_lowercase()).collect();
    match words.as_slice() {
        [a, b] if !(a == "time" && b == "zone") => format!("{a}.{b}"),
        _ => words.join(" "),
    }
}

/// Whether `name` (lower case) is a custom variable: a name of two parts
/// around a dot (`myapp.tenant`), which PostgreSQL sets and reads like its
/// own variables. (PostgreSQL takes more dots too; `SHOW` here reads two.)
fn is_custom(name: &str) -> bool {
    name.split('.').count() == 2 && name.split('.').all(|part| !part.is_empty())
}

/// A boolean setting's value as PostgreSQL shows it (`on` or `off`), if
/// `value` spells one.
fn bool_setting(value: &str) -> Option<&'static str> {
    match value.trim().to_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some("on"),
        "off" | "false" | "no" | "0" | "f" | "n" => Some("off"),
        _ => None,
    }
}

/// A timeout setting in milliseconds: a number of milliseconds, or a
/// number with a unit (`ms`, `s`, `min`, `h`, `d`), as PostgreSQL takes it.
fn timeout_ms(value: &str) -> Option<i64> {
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: i64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    (n >= 0).then(|| n.saturating_mul(scale))
}

/// The error for a setting's value Freshet cannot honour (`0A000`).
fn unsupported(what: &str) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::FEATURE_NOT_SUPPORTED,
        message: format!("{what} not supported"),
    }
}

impl Session {
    /// The value of a variable.
    pub fn get(&self, name: &str) -> Result<&str, AdapterError> {
        self.vars
            .get(&name.to_lowercase())
            .map(|s| s.as_str())
            .ok_or_else(|| AdapterError::Variable {
                code: SqlState::UNDEFINED_OBJECT,
                message: format!(
                    "unrecognized configuration parameter \"{}\"",
                    name.to_lowercase()
                ),
            })
    }

    /// Sets a variable, validating the values Freshet depends on.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), AdapterError> {
        let name = name.to_lowercase();
        if is_custom(&name) {
            // A custom (placeholder) variable, `myapp.setting`: any value,
            // kept for the session, as in PostgreSQL.
            self.vars.insert(name, value.to_string());
            return Ok(());
        }
        if !self.vars.contains_key(&name) {
            return Err(AdapterError::Variable {
                code: SqlState::UNDEFINED_OBJECT,
                message: format!("unrecognized configuration parameter \"{name}\""),
            });
        }
        let invalid = |allowed: &str| AdapterError::Variable {
            code: SqlState::INVALID_PARAMETER_VALUE,
            message: format!("invalid value for parameter \"{name}\": \"{value}\"{allowed}"),
        };
        let value = match name.as_str() {
            "server_version"
            | "server_version_num"
            | "server_encoding"
            | "integer_datetimes"
            | "is_superuser"
            | "max_identifier_length"
            | "max_index_keys" => {
                return Err(AdapterError::Variable {
                    code: SqlState::CANT_CHANGE_RUNTIME_PARAM,
                    message: format!("parameter \"{name}\" cannot be changed"),
                });
            }
            // Freshet's tables have no access method to choose.
            "default_table_access_method" if value != "heap" => {
                return Err(invalid(" (only heap is supported)"));
            }
            "client_encoding" => {
                let v = value.to_uppercase().replace(['-', '_'], "");
                if v != "UTF8" && v != "UNICODE" {
                    return Err(invalid(" (only UTF8 is supported)"));
                }
                "UTF8".to_string()
            }
            "timezone" => {
                let v = value.to_uppercase();
                if !matches!(v.as_str(), "UTC" | "GMT" | "+00:00" | "ETC/UTC" | "Z" | "0") {
                    return Err(invalid(" (only UTC is supported)"));
                }
                "UTC".to_string()
            }
            "datestyle" => {
                let v = value.to_uppercase();
                if !v.contains("ISO") && !v.trim().is_empty() && v != "MDY" {
                    return Err(invalid(" (only ISO is supported)"));
                }
                "ISO, MDY".to_string()
            }
            // The settings `pg_dump` writes at the top of every dump.
            // Freshet has no locks a statement waits for (the coordinator
            // runs one statement at a time), so any lock timeout is never
            // reached.
            "lock_timeout" => {
                timeout_ms(value).ok_or_else(|| invalid(""))?;
                value.trim().to_string()
            }
            // 0 turns them off (`pgwire/idle.rs` ends idle sessions;
            // `cancel.rs` stops statements).
            "idle_in_transaction_session_timeout" | "statement_timeout" => {
                timeout_ms(value).ok_or_else(|| invalid(""))?;
                value.trim().to_string()
            }
            // Freshet has no function bodies to check, no `xml` type and no
            // row-level security policies: each value means the same.
            "check_function_bodies" | "row_security" => {
                bool_setting(value).ok_or_else(|| invalid(""))?.to_string()
            }
            "xmloption" => match value.to_lowercase().as_str() {
                v @ ("content" | "document") => v.to_string(),
                _ => return Err(invalid("")),
            },
            // Freshet has no tablespaces: only the default one (`''`).
            "default_tablespace" => {
                if !value.is_empty() && value != "pg_default" {
                    return Err(unsupported("tablespaces"));
                }
                value.to_string()
            }
            "extra_float_digits" => {
                let n = value
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| AdapterError::Variable {
                        code: SqlState::INVALID_PARAMETER_VALUE,
                        message: format!("invalid value for parameter \"{name}\": \"{value}\""),
                    })?;
                if !(-15..=3).contains(&n) {
                    return Err(AdapterError::Variable {
                        code: SqlState::INVALID_PARAMETER_VALUE,
                        message: format!(
                            "{n} is outside the valid range for parameter \"{name}\" (-15 .. 3)"
                        ),
                    });
                }
                n.to_string()
            }
            "max_copy_from_size" => match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => n.to_string(),
                _ => return Err(invalid(" (a number of bytes, at least 1)")),
            },
            "standard_conforming_strings" => {
                if !matches!(value.to_lowercase().as_str(), "on" | "true") {
                    return Err(invalid(" (only on is supported)"));
                }
                "on".to_string()
            }
            "search_path" => crate::catalog::names::split_search_path(value)
                .iter()
                .map(|s| crate::catalog::names::quote_schema(s))
                .collect::<Vec<_>>()
                .join(", "),
            _ => value.to_string(),
        };
        self.vars.insert(name, value);
        Ok(())
    }

    /// Resets a variable to its default.
    pub fn reset(&mut self, name: &str) -> Result<(), AdapterError> {
        let name = name.to_lowercase();
        if name == "all" {
            // Custom variables stay defined, reset to the empty string.
            let custom: Vec<String> = self.vars.keys().filter(|k| is_custom(k)).cloned().collect();
            self.vars = Session::default().vars;
            self.vars
                .extend(custom.into_iter().map(|k| (k, String::new())));
            if let Some(db) = &self.startup_database {
                self.vars.insert("database".into(), db.clone());
            }
            self.vars.extend(self.startup_vars.clone());
            return Ok(());
        }
        if let Some(value) = self.startup_vars.get(&name) {
            self.vars.insert(name, value.clone());
            return Ok(());
        }
        if name == "database"
            && let Some(db) = &self.startup_database
        {
            self.vars.insert(name, db.clone());
            return Ok(());
        }
        let Some((_, default)) = DEFAULT_VARIABLES.iter().find(|(k, _)| *k == name) else {
            if is_custom(&name) {
                // A custom variable resets to the empty string.
                self.vars.insert(name, String::new());
                return Ok(());
            }
            return Err(AdapterError::Variable {
                code: SqlState::UNDEFINED_OBJECT,
                message: format!("unrecognized configuration parameter \"{name}\""),
            });
        };
        self.vars.insert(name, default.to_string());
        Ok(())
    }

    /// How long the session may sit idle in a transaction before its
    /// connection is ended; `None`: forever (the setting is 0).
    pub fn idle_in_transaction_timeout(&self) -> Option<std::time::Duration> {
        let ms = timeout_ms(self.get("idle_in_transaction_session_timeout").ok()?)?;
        (ms > 0).then(|| std::time::Duration::from_millis(ms as u64))
    }

    /// What the statement about to run reads of its transaction: its
    /// writes, and inside an explicit transaction its snapshot.
    pub fn txn_reads(&self) -> super::txn::TxnReads<'_> {
        super::txn::TxnReads {
            writes: &self.pending_writes,
            snapshot: (self.transaction != TransactionState::Idle).then_some(&self.snapshot),
        }
    }

    /// Ends the transaction: pending writes are dropped (COMMIT applies
    /// them first) and cursors closed.
    pub fn end_transaction(&mut self) {
        self.transaction = TransactionState::Idle;
        self.transaction_start = None;
        self.pending_writes.clear();
        self.retracted_from.clear();
        if let Ok(snapshot) = self.snapshot.get_mut() {
            *snapshot = None;
        }
        self.cursors.clear();
        self.savepoints.clear();
    }

    /// `SAVEPOINT name`: remembers the transaction's writes and cursors so
    /// far.
    pub fn savepoint(&mut self, name: &str) -> Result<(), AdapterError> {
        self.require_transaction("SAVEPOINT")?;
        self.savepoints.push(Savepoint {
            name: name.to_string(),
            writes: self.pending_writes.len(),
            cursors: self.cursors.keys().cloned().collect(),
        });
        Ok(())
    }

    /// `RELEASE [SAVEPOINT] name`: forgets the newest savepoint of that
    /// name and every later one; their writes stay in the transaction.
    pub fn release_savepoint(&mut self, name: &str) -> Result<(), AdapterError> {
        self.require_transaction("RELEASE SAVEPOINT")?;
        let at = self.find_savepoint(name)?;
        self.savepoints.truncate(at);
        Ok(())
    }

    /// `ROLLBACK TO [SAVEPOINT] name`: drops the writes made and the cursors
    /// opened since the newest savepoint of that name, which stays (later
    /// ones go), and ends a failed transaction's error state, as in
    /// PostgreSQL.
    pub fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), AdapterError> {
        if self.transaction == TransactionState::Idle {
            return Err(no_transaction("ROLLBACK TO SAVEPOINT"));
        }
        let at = self.find_savepoint(name)?;
        self.savepoints.truncate(at + 1);
        let kept = &self.savepoints[at];
        self.pending_writes.truncate(kept.writes);
        let cursors = kept.cursors.clone();
        self.cursors.retain(|name, _| cursors.contains(name));
        self.transaction = TransactionState::InTransaction;
        Ok(())
    }

    fn find_savepoint(&self, name: &str) -> Result<usize, AdapterError> {
        self.savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| AdapterError::Variable {
                code: SqlState::INVALID_SAVEPOINT_SPECIFICATION,
                message: format!("savepoint \"{name}\" does not exist"),
            })
    }

    /// Savepoints exist only inside `BEGIN ... COMMIT`; outside one
    /// PostgreSQL refuses them (25P01).
    fn require_transaction(&self, what: &str) -> Result<(), AdapterError> {
        match self.transaction {
            TransactionState::InTransaction => Ok(()),
            TransactionState::Idle => Err(no_transaction(what)),
            TransactionState::Failed => Err(AdapterError::Variable {
                code: SqlState::IN_FAILED_SQL_TRANSACTION,
                message: "current transaction is aborted, commands ignored until end of transaction block".into(),
            }),
        }
    }

    /// Sets a variable the client's start-up message gives, which `RESET`
    /// then restores. A value Freshet refuses is left at its default.
    pub fn set_startup(&mut self, name: &str, value: &str) {
        if self.set(name, value).is_ok() {
            let name = name.to_lowercase();
            if let Some(v) = self.vars.get(&name) {
                self.startup_vars.insert(name, v.clone());
            }
        }
    }

    /// Starts the session in the database the client connected to.
    pub fn set_startup_database(&mut self, name: &str) {
        self.startup_database = Some(name.to_string());
        self.vars.insert("database".into(), name.to_string());
    }

    /// Records the user the client connected as.
    pub fn set_user(&mut self, name: &str) {
        self.user = name.to_string();
    }

    /// The user the client connected as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// How this session resolves names: its `search_path` and current
    /// database.
    pub fn search_path(&self) -> SearchPath {
        SearchPath::new(
            self.vars
                .get("search_path")
                .map_or("public", |s| s.as_str()),
            self.vars
                .get("database")
                .map_or("materialize", |s| s.as_str()),
        )
    }

    /// All variables but custom ones, for `SHOW ALL` (PostgreSQL's lists
    /// no custom variables).
    pub fn all(&self) -> impl Iterator<Item = (&String, &String)> {
        self.vars.iter().filter(|(k, _)| !is_custom(k))
    }
}

fn no_transaction(what: &str) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::NO_ACTIVE_SQL_TRANSACTION,
        message: format!("{what} can only be used in transaction blocks"),
    }
}
