//! Cancelling a running statement, as PostgreSQL's CancelRequest does.
//!
//! A client (psql on Ctrl-C, a driver's `cancel()`, psycopg leaving a
//! `stream()` early) opens a second connection and sends the process id and
//! secret key that BackendKeyData gave it. [`Cancellers`] finds that
//! connection's [`Canceller`] and counts a request. The running statement
//! took a [`CancelToken`] when it started ([`super::Session::start_query`])
//! and sees the count move.
//!
//! A statement stops only where it waits and stopping loses nothing: a
//! SUBSCRIBE between timestamps, a FETCH waiting for a subscribe's rows, a
//! one-shot read waiting for its dataflow, `pg_sleep`. It fails there with
//! 57014, `canceling statement due to user request`. Writes, DDL and
//! commits run to their end, as PostgreSQL's do past their last interrupt
//! check. A request that arrives while nothing runs is forgotten when the
//! next statement starts.
//!
//! `statement_timeout` stops a statement at the same places, once it has
//! run that long (each statement of a simple query on its own, as in
//! PostgreSQL 13 and later). It does not end a SUBSCRIBE's stream, whose
//! statement is meant to run until the client leaves it (Materialize
//! applies the setting to writes only).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;

use crate::repr::SqlState;

use super::AdapterError;

/// One connection's count of cancel requests.
#[derive(Debug)]
pub struct Canceller {
    requests: watch::Sender<u64>,
}

impl Canceller {
    /// A canceller no request has reached.
    pub fn new() -> Arc<Canceller> {
        Arc::new(Canceller {
            requests: watch::Sender::new(0),
        })
    }

    /// Counts a request: the statement running now stops at its next wait.
    pub fn cancel(&self) {
        self.requests.send_modify(|n| *n += 1);
    }

    /// A token for a statement starting now: earlier requests do not stop
    /// it.
    pub fn token(&self) -> CancelToken {
        let requests = self.requests.subscribe();
        let seen = *requests.borrow();
        CancelToken {
            requests,
            seen,
            deadline: None,
        }
    }
}

/// What a running statement watches for a cancel request.
#[derive(Debug, Clone)]
pub struct CancelToken {
    requests: watch::Receiver<u64>,
    /// The count of requests when the statement started.
    seen: u64,
    /// When `statement_timeout` stops the statement.
    deadline: Option<tokio::time::Instant>,
}

impl CancelToken {
    /// The same token, for a statement that `statement_timeout` (`None`:
    /// none) stops once it has run that long.
    pub fn with_timeout(&self, timeout: Option<std::time::Duration>) -> CancelToken {
        CancelToken {
            deadline: timeout.map(|t| tokio::time::Instant::now() + t),
            ..self.clone()
        }
    }

    /// Resolves, with the error to fail with, once a request arrives after
    /// the statement started or its deadline passes; never, if neither
    /// can happen.
    pub async fn cancelled(&self) -> AdapterError {
        let mut requests = self.requests.clone();
        let seen = self.seen;
        let request = async {
            if requests.wait_for(|n| *n != seen).await.is_err() {
                // The connection is gone: no request can come.
                std::future::pending::<()>().await;
            }
        };
        let timeout = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = request => canceled(),
            () = timeout => AdapterError::Variable {
                code: SqlState::QUERY_CANCELED,
                message: "canceling statement due to statement timeout".into(),
            },
        }
    }

    /// Runs `f` unless the statement is cancelled first, which fails it
    /// with 57014 (and drops `f`: only futures that lose nothing when
    /// dropped belong here).
    pub async fn or_cancel<T>(
        &self,
        f: impl Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        tokio::select! {
            biased;
            result = f => result,
            e = self.cancelled() => Err(e),
        }
    }
}

/// PostgreSQL's error for a cancelled statement.
pub fn canceled() -> AdapterError {
    AdapterError::Variable {
        code: SqlState::QUERY_CANCELED,
        message: "canceling statement due to user request".into(),
    }
}

/// What a cancel request names a connection by: its process id and secret
/// key.
type Key = (i32, Vec<u8>);

/// The connections' cancellers, by the process id and secret key each
/// client was given.
#[derive(Debug, Default)]
pub struct Cancellers {
    by_key: Mutex<HashMap<Key, Weak<Canceller>>>,
}

impl Cancellers {
    /// Registers a connection's canceller under its key. Entries of
    /// connections that have ended (their sessions dropped the canceller)
    /// are removed here.
    pub fn register(&self, pid: i32, secret: Vec<u8>, canceller: &Arc<Canceller>) {
        if let Ok(mut by_key) = self.by_key.lock() {
            by_key.retain(|_, c| c.strong_count() > 0);
            by_key.insert((pid, secret), Arc::downgrade(canceller));
        }
    }

    /// Cancels the statement running on the connection with this key, if
    /// the key is right; else nothing (PostgreSQL answers neither way).
    pub fn cancel(&self, pid: i32, secret: &[u8]) {
        let canceller = self
            .by_key
            .lock()
            .ok()
            .and_then(|by_key| by_key.get(&(pid, secret.to_vec())).and_then(Weak::upgrade));
        if let Some(c) = canceller {
            c.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_stops_only_statements_running_when_it_came() {
        let c = Canceller::new();
        c.cancel();
        // Started after the request: not stopped.
        let token = c.token();
        let done = token.or_cancel(async { Ok(1) }).await;
        assert_eq!(done.ok(), Some(1));
        let waiting = token.or_cancel(std::future::pending::<Result<(), AdapterError>>());
        c.cancel();
        let err = waiting.await.expect_err("cancelled");
        assert_eq!(err.to_string(), "canceling statement due to user request");
    }

    #[tokio::test]
    async fn a_deadline_stops_a_statement_that_runs_too_long() {
        let token = Canceller::new()
            .token()
            .with_timeout(Some(std::time::Duration::from_millis(10)));
        let done = token.or_cancel(async { Ok(1) }).await;
        assert_eq!(done.ok(), Some(1));
        let err = token
            .or_cancel(std::future::pending::<Result<(), AdapterError>>())
            .await
            .expect_err("timed out");
        assert_eq!(
            err.to_string(),
            "canceling statement due to statement timeout"
        );
    }

    #[tokio::test]
    async fn requests_need_the_right_key() {
        let cancellers = Cancellers::default();
        let c = Canceller::new();
        cancellers.register(7, vec![1, 2, 3, 4], &c);
        let token = c.token();
        cancellers.cancel(7, &[1, 2, 3, 5]);
        cancellers.cancel(8, &[1, 2, 3, 4]);
        let still = tokio::time::timeout(std::time::Duration::from_millis(20), token.cancelled());
        assert!(still.await.is_err(), "a wrong key cancels nothing");
        cancellers.cancel(7, &[1, 2, 3, 4]);
        let _ = token.cancelled().await;
        // A connection that ended leaves the map at the next registration.
        drop(c);
        let other = Canceller::new();
        cancellers.register(9, vec![0], &other);
        let keys: Vec<i32> = cancellers
            .by_key
            .lock()
            .unwrap()
            .keys()
            .map(|k| k.0)
            .collect();
        assert_eq!(keys, [9]);
    }
}
