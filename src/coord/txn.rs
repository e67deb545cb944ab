//! Explicit transactions and cursors.
//!
//! A transaction's writes (`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`,
//! `COPY FROM`) are kept in the session ([`Session::pending_writes`]) and
//! applied at COMMIT in one durable commit and at one timestamp, so other
//! sessions see all of them or none. Every read inside the transaction
//! sees them, as in PostgreSQL: [`read_own_writes`] rewrites a one-shot
//! plan so that each read of a table the transaction changed is the union
//! of the committed table and a constant of the transaction's changes to
//! it (`+1`/`-1` rows), and a read of a materialized view that depends on
//! such a table is its definition, evaluated from the base tables. The
//! same evaluation code then runs as outside a transaction (one
//! semantics). This covers queries, `INSERT … SELECT`, the queries that
//! `UPDATE` and `DELETE` compute their changes with (`WHERE`, `FROM`,
//! `USING`, subqueries), `RETURNING`, `ON CONFLICT DO UPDATE` subqueries,
//! `COPY (query) TO`, `DECLARE CURSOR FOR` a query and prepared
//! statements; constraint checks count the committed keys and the
//! pending writes. `ROLLBACK TO SAVEPOINT` truncates the pending writes,
//! so later reads no longer see the dropped ones.
//!
//! All of a transaction's reads happen at one timestamp, the [`Snapshot`]
//! its first read chose, which the workers keep readable until the
//! transaction ends. A transaction that writes fails at COMMIT (`40001`)
//! if a table it read has changed since its snapshot, so transactions are
//! serializable in commit order (strict serializable, Materialize's
//! default), with read-only transactions serialized at their snapshot.
//! DDL and `SUBSCRIBE`
//! after a write in the same transaction are refused (`0A000`): they
//! cannot see the pending writes.
//!
//! Cursors (`DECLARE ... CURSOR FOR`) hold a query's rows or a running
//! SUBSCRIBE; `FETCH n` returns up to `n` rows, waiting (up to its
//! `TIMEOUT`) for a subscribe's first row.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::catalog::{Catalog, ItemKind};
use crate::compute::{Command, ComputeController};
use crate::expr::{GlobalId, RelationExpr};
use crate::repr::{Row, SqlState, Timestamp};
use crate::sql::parse::FreshetStatement;

use super::session::{Cursor, Session, TransactionState};
use super::{AdapterError, CoordState, Coordinator, ExecuteResponse};

/// What a statement's reads see of the transaction it runs in: the
/// transaction's writes so far, and (inside `BEGIN ... COMMIT`) the
/// snapshot every read of the transaction happens at.
#[derive(Clone, Copy)]
pub struct TxnReads<'a> {
    /// The transaction's uncommitted writes, in order.
    pub writes: &'a [(GlobalId, Row, i64)],
    /// The transaction's snapshot, chosen by its first read; `None`
    /// outside an explicit transaction (each statement reads the latest).
    pub snapshot: Option<&'a std::sync::Mutex<Option<Snapshot>>>,
}

impl TxnReads<'_> {
    /// A statement outside any transaction: it reads the latest
    /// committed state.
    pub const NONE: TxnReads<'static> = TxnReads {
        writes: &[],
        snapshot: None,
    };

    /// Records that the transaction read `table` outside its snapshot (at
    /// the latest time): if another commit changed the table after the
    /// snapshot, COMMIT fails, as it would had the read been at the
    /// snapshot and then been overtaken. Nothing to do before the
    /// transaction's first read (there is no snapshot yet).
    pub fn note_read(&self, table: GlobalId) {
        if let Some(Ok(mut slot)) = self.snapshot.map(|s| s.lock())
            && let Some(snapshot) = slot.as_mut()
        {
            snapshot.tables.insert(table);
        }
    }
}

/// The time an explicit transaction's reads happen at, chosen by its
/// first read, as in Materialize (where a transaction's queries all read
/// at one timestamp) and PostgreSQL's REPEATABLE READ and SERIALIZABLE
/// (one snapshot per transaction), with the tables read through it.
///
/// The workers keep what reads at `ts` need while the snapshot lives
/// (`Command::ReadHold`): arrangements are not compacted past it, and
/// inputs keep the updates after it. Dropping it releases the hold.
pub struct Snapshot {
    /// The read timestamp.
    pub ts: Timestamp,
    /// The tables the transaction read, directly or through views: if the
    /// transaction writes, another commit to one of them after `ts` makes
    /// its COMMIT fail (40001).
    pub tables: BTreeSet<GlobalId>,
    holder: u64,
    compute: Arc<ComputeController>,
}

/// Numbers read holds.
static NEXT_HOLDER: AtomicU64 = AtomicU64::new(1);

impl Snapshot {
    /// Takes a snapshot at `ts` and holds it. Called under the state lock
    /// that chose `ts`, so that the hold reaches the workers before any
    /// later write.
    fn take(compute: &Arc<ComputeController>, ts: Timestamp) -> Snapshot {
        let holder = NEXT_HOLDER.fetch_add(1, Ordering::Relaxed);
        compute.send(Command::ReadHold {
            holder,
            ts: Some(ts),
        });
        Snapshot {
            ts,
            tables: BTreeSet::new(),
            holder,
            compute: compute.clone(),
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.compute.send(Command::ReadHold {
            holder: self.holder,
            ts: None,
        });
    }
}

/// Adds the tables `expr` reads, directly or through views, materialized
/// views and indexes, to `tables`.
fn tables_read(expr: &RelationExpr, catalog: &Catalog, tables: &mut BTreeSet<GlobalId>) {
    let mut ids = Vec::new();
    expr.depends_on(&mut ids);
    let mut seen = BTreeSet::new();
    while let Some(id) = ids.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(item) = catalog.get(id) else {
            continue;
        };
        match item.kind {
            ItemKind::Table => {
                tables.insert(id);
            }
            _ => {
                ids.extend(item.depends_on.iter().copied());
                if let Some(index) = &item.index {
                    ids.push(index.on);
                }
            }
        }
    }
}

impl CoordState {
    /// Whether the arrangement of `id` (a materialized view or an index)
    /// can be read at `ts`: it was created no later (its dataflow holds
    /// its contents from the time it was created on). Anything else is
    /// readable at any time its readers hold.
    pub(crate) fn readable_at(&self, id: GlobalId, ts: Timestamp) -> bool {
        self.dataflow_since
            .get(&id)
            .is_none_or(|since| *since <= ts)
    }
}

/// Replaces each read of a materialized view that was created after `ts`
/// (its arrangement does not reach back to it) by the view's plan,
/// rewritten the same way: evaluated from its inputs as of `ts`.
fn read_around_new_views(expr: &mut RelationExpr, ts: Timestamp, state: &CoordState) {
    if let RelationExpr::Get { id, .. } = expr {
        if state.readable_at(*id, ts) {
            return;
        }
        if let Some(plan) = state
            .catalog
            .get(*id)
            .filter(|item| item.kind == ItemKind::MaterializedView)
            .and_then(|item| item.plan.as_ref())
        {
            let mut inlined = plan.clone();
            read_around_new_views(&mut inlined, ts, state);
            *expr = inlined;
        }
        return;
    }
    for child in expr.children_mut() {
        read_around_new_views(child, ts, state);
    }
}

impl Coordinator {
    /// The timestamp a one-shot read of `expr` happens at: the
    /// transaction's snapshot inside an explicit transaction (its first
    /// read chooses and holds it), else the latest. Reads of materialized
    /// views created after the snapshot become reads of their plans.
    pub(super) fn read_ts_in(
        &self,
        state: &mut CoordState,
        expr: &mut RelationExpr,
        txn: TxnReads<'_>,
    ) -> Timestamp {
        let Some(slot) = txn.snapshot else {
            return self.read_ts_for(state, expr);
        };
        let mut ids = Vec::new();
        expr.depends_on(&mut ids);
        let Ok(mut slot) = slot.lock() else {
            return self.read_ts_for(state, expr);
        };
        if slot.is_none() {
            if ids.is_empty() {
                // Reads nothing (`INSERT ... VALUES`): no snapshot yet.
                return self.read_ts_for(state, expr);
            }
            *slot = Some(Snapshot::take(&self.compute, self.read_ts_for(state, expr)));
        }
        let Some(snapshot) = slot.as_mut() else {
            return self.read_ts_for(state, expr);
        };
        read_around_new_views(expr, snapshot.ts, state);
        tables_read(expr, &state.catalog, &mut snapshot.tables);
        snapshot.ts
    }
}

/// Makes the one-shot plan `expr` read the transaction's writes `pending`
/// (changes not yet committed, in the order they were made) as well as
/// the committed rows: each read of a changed table becomes the union of
/// the table and a constant of the table's net pending changes, and each
/// read of a materialized view that depends (at any depth) on a changed
/// table becomes the view's plan, rewritten the same way (its maintained
/// contents do not include the pending changes). Does nothing when
/// `pending` is empty.
pub(crate) fn read_own_writes(
    expr: &mut RelationExpr,
    pending: &[(GlobalId, Row, i64)],
    catalog: &Catalog,
) {
    if pending.is_empty() {
        return;
    }
    let mut changes: BTreeMap<GlobalId, BTreeMap<Row, i64>> = BTreeMap::new();
    for (id, row, diff) in pending {
        *changes
            .entry(*id)
            .or_default()
            .entry(row.clone())
            .or_default() += diff;
    }
    let changes: BTreeMap<GlobalId, Vec<(Row, i64)>> = changes
        .into_iter()
        .map(|(id, rows)| (id, rows.into_iter().filter(|(_, d)| *d != 0).collect()))
        .collect();
    overlay(expr, &changes, catalog);
}

/// [`read_own_writes`] with the changes by table; whether `expr` reads
/// one of them.
fn overlay(
    expr: &mut RelationExpr,
    changes: &BTreeMap<GlobalId, Vec<(Row, i64)>>,
    catalog: &Catalog,
) -> bool {
    if let RelationExpr::Get { id, .. } = expr {
        let id = *id;
        if let Some(rows) = changes.get(&id) {
            let arity = catalog.get(id).map_or(0, |t| t.desc.arity());
            let get = std::mem::replace(expr, RelationExpr::Union { inputs: Vec::new() });
            *expr = RelationExpr::Union {
                inputs: vec![
                    get,
                    RelationExpr::Constant {
                        rows: rows.clone(),
                        arity,
                    },
                ],
            };
            return true;
        }
        let Some(plan) = catalog
            .get(id)
            .filter(|item| item.kind == ItemKind::MaterializedView)
            .and_then(|item| item.plan.as_ref())
        else {
            return false;
        };
        let mut inlined = plan.clone();
        if overlay(&mut inlined, changes, catalog) {
            *expr = inlined;
            return true;
        }
        return false;
    }
    let mut read = false;
    for child in expr.children_mut() {
        read |= overlay(child, changes, catalog);
    }
    read
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
        let retracted_from = std::mem::take(&mut session.retracted_from);
        let state = &mut *self.state.lock().await;
        // The rows the transaction removed or replaced were read from the
        // committed table as it was then; if another session has changed
        // that table since, they may be gone or changed (optimistic
        // concurrency at table granularity; PostgreSQL's serializable
        // transactions fail the same way, and clients retry on 40001).
        // Likewise the transaction's reads happened at its snapshot: if a
        // table it read has changed since, what it wrote may rest on rows
        // that are gone (optimistic serializable validation, at table
        // granularity; a transaction that only reads never fails).
        let snapshot = session.snapshot.get_mut().ok().and_then(|s| s.take());
        let stale_read = snapshot.as_ref().is_some_and(|s| {
            s.tables
                .iter()
                .any(|t| state.table_commits.get(t).is_some_and(|c| *c > s.ts))
        });
        if stale_read
            || retracted_from
                .iter()
                .any(|(id, seen)| state.table_commits.get(id).is_some_and(|c| c > seen))
        {
            return Err(AdapterError::Variable {
                code: SqlState::T_R_SERIALIZATION_FAILURE,
                message: "could not serialize access due to concurrent update".into(),
            });
        }
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
            FreshetStatement::Subscribe(_) if !session.pending_writes.is_empty() => {
                return Err(super::sequence::after_writes(
                    "DECLARE CURSOR FOR SUBSCRIBE",
                ));
            }
            FreshetStatement::Subscribe(s) => {
                match self.subscribe(s, false, &session.search_path()).await? {
                    ExecuteResponse::Subscribe(subscribe) => Cursor::Subscribe {
                        subscribe: Box::new(subscribe),
                        buffered: VecDeque::new(),
                    },
                    _ => return Err(AdapterError::Internal("SUBSCRIBE did not subscribe".into())),
                }
            }
            FreshetStatement::Sql(s) => match self
                .query(*s, &session.search_path(), session.txn_reads())
                .await?
            {
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
                    let wait = super::sequence::or_cancel(subscribe.next_rows());
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
