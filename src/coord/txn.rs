//! Explicit transactions and cursors.
//!
//! A transaction that writes is *write-only*, as in Materialize: its
//! INSERTs (and UPDATEs/DELETEs, computed from committed data) are kept in
//! the session and applied at COMMIT in one durable commit and at one
//! timestamp, so other sessions see all of them or none. Reads in such a
//! transaction fail rather than miss its own writes.
//!
//! Cursors (`DECLARE ... CURSOR FOR`) hold a query's rows or a running
//! SUBSCRIBE; `FETCH n` returns up to `n` rows, waiting (up to its
//! `TIMEOUT`) for a subscribe's first row.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType, SqlState};
use crate::sql::parse::FreshetStatement;

use super::session::{Cursor, Session, TransactionState};
use super::{AdapterError, Coordinator, ExecuteResponse, SubscribeResponse};

impl SubscribeResponse {
    /// The columns of the subscribe's output: `mz_timestamp`,
    /// `mz_progressed` (with PROGRESS), `mz_diff`, then the relation's.
    pub fn output_desc(&self) -> RelationDesc {
        let mut columns = vec![ColumnDesc {
            name: "mz_timestamp".into(),
            typ: ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            nullable: false,
        }];
        if self.progress {
            columns.push(ColumnDesc {
                name: "mz_progressed".into(),
                typ: ScalarType::Bool,
                nullable: false,
            });
        }
        columns.push(ColumnDesc {
            name: "mz_diff".into(),
            typ: ScalarType::Int64,
            nullable: true,
        });
        columns.extend(self.desc.columns.iter().map(|c| ColumnDesc {
            nullable: true,
            ..c.clone()
        }));
        RelationDesc { columns }
    }

    /// Waits for the next complete timestamp(s) that produce output rows
    /// (changes, or a progress row with PROGRESS) and returns the rows.
    /// `Ok(None)` once the subscribe has ended.
    pub async fn next_rows(&mut self) -> Result<Option<Vec<Row>>, AdapterError> {
        loop {
            let Some(update) = self.stream.next().await? else {
                return Ok(None);
            };
            let rows = self.rows_of(&update);
            if !rows.is_empty() || update.upper.is_none() {
                return Ok(Some(rows));
            }
        }
    }

    fn rows_of(&self, update: &crate::compute::SubscribeUpdate) -> Vec<Row> {
        let mut rows = Vec::with_capacity(update.updates.len() + 1);
        for (row, ts, diff) in &update.updates {
            let mut datums = vec![Datum::Numeric((*ts).into())];
            if self.progress {
                datums.push(Datum::Bool(false));
            }
            datums.push(Datum::Int64(*diff));
            datums.extend(row.iter());
            rows.push(Row::new(datums));
        }
        if self.progress
            && let Some(upper) = update.upper
        {
            let mut datums = vec![Datum::Numeric(upper.into()), Datum::Bool(true), Datum::Null];
            datums.extend(self.desc.columns.iter().map(|_| Datum::Null));
            rows.push(Row::new(datums));
        }
        rows
    }
}

impl Coordinator {
    /// Applies a transaction's pending writes: one durable commit, one
    /// timestamp.
    pub(crate) async fn commit_pending(
        self: &Arc<Self>,
        session: &mut Session,
    ) -> Result<(), AdapterError> {
        if session.pending_writes.is_empty() {
            return Ok(());
        }
        let updates = std::mem::take(&mut session.pending_writes);
        let state = &mut *self.state.lock().await;
        for (id, _, _) in &updates {
            if state.catalog.get(*id).is_none() {
                return Err(AdapterError::Variable {
                    code: SqlState::UNDEFINED_TABLE,
                    message: "a table written in this transaction was dropped".into(),
                });
            }
        }
        // Another session may have committed one of the keys meanwhile, or
        // added a CHECK constraint.
        state.check_rows(&updates)?;
        state.check_unique_all(&[], &updates)?;
        state.check_foreign_keys(&[], &updates, false)?;
        self.commit_table_writes(state, updates)
    }

    /// `DECLARE name CURSOR FOR ...`.
    pub(crate) async fn declare(
        self: &Arc<Self>,
        session: &mut Session,
        name: String,
        statement: FreshetStatement,
    ) -> Result<ExecuteResponse, AdapterError> {
        if session.transaction == TransactionState::Idle {
            return Err(AdapterError::Variable {
                code: SqlState::NO_ACTIVE_SQL_TRANSACTION,
                message: "DECLARE CURSOR can only be used in transaction blocks".into(),
            });
        }
        if session.cursors.contains_key(&name) {
            return Err(AdapterError::Variable {
                code: SqlState::DUPLICATE_CURSOR,
                message: format!("cursor \"{name}\" already exists"),
            });
        }
        let cursor = match statement {
            FreshetStatement::Subscribe(s) => {
                match self.subscribe(s, false, &session.search_path()).await? {
                    ExecuteResponse::Subscribe(subscribe) => Cursor::Subscribe {
                        subscribe,
                        buffered: VecDeque::new(),
                    },
                    _ => return Err(AdapterError::Internal("SUBSCRIBE did not subscribe".into())),
                }
            }
            FreshetStatement::Sql(s) => match self.query(*s, &session.search_path()).await? {
                ExecuteResponse::Rows { desc, rows } => Cursor::Rows {
                    desc,
                    rows: rows.into(),
                },
                _ => return Err(AdapterError::Internal("query returned no rows".into())),
            },
            _ => {
                return Err(AdapterError::Plan(crate::sql::PlanError::Unsupported(
                    "this statement in DECLARE".into(),
                )));
            }
        };
        session.cursors.insert(name, cursor);
        Ok(ExecuteResponse::command("DECLARE CURSOR"))
    }

    /// `FETCH n name [WITH (TIMEOUT = ...)]`.
    pub(crate) async fn fetch(
        self: &Arc<Self>,
        session: &mut Session,
        name: &str,
        count: Option<u64>,
        timeout: Option<Duration>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let Some(cursor) = session.cursors.get_mut(name) else {
            return Err(AdapterError::Variable {
                code: SqlState::INVALID_CURSOR_NAME,
                message: format!("cursor \"{name}\" does not exist"),
            });
        };
        let limit = count.map(|c| c as usize).unwrap_or(usize::MAX);
        let desc = cursor.desc();
        let rows = match cursor {
            Cursor::Rows { rows, .. } => {
                let n = limit.min(rows.len());
                rows.drain(..n).collect()
            }
            Cursor::Subscribe {
                subscribe,
                buffered,
            } => {
                if buffered.is_empty() {
                    let wait = subscribe.next_rows();
                    let next = match timeout {
                        Some(t) => tokio::time::timeout(t, wait)
                            .await
                            .unwrap_or(Ok(Some(Vec::new()))),
                        None => wait.await,
                    };
                    if let Some(rows) = next? {
                        buffered.extend(rows);
                    }
                }
                // Take whatever else is already complete, without waiting.
                while buffered.len() < limit {
                    match tokio::time::timeout(Duration::ZERO, subscribe.next_rows()).await {
                        Ok(Ok(Some(rows))) if !rows.is_empty() => buffered.extend(rows),
                        Ok(Err(e)) => return Err(e),
                        _ => break,
                    }
                }
                let n = limit.min(buffered.len());
                buffered.drain(..n).collect()
            }
        };
        Ok(ExecuteResponse::Rows { desc, rows })
    }
}
