//! DML: `INSERT`, `UPDATE` and `DELETE` (each with `RETURNING`) and
//! `TRUNCATE`.
//!
//! Every statement computes its changes at the current read timestamp,
//! under the coordinator lock, then commits them to the durable store and
//! writes them at a new timestamp (or, inside `BEGIN … COMMIT`, keeps them
//! in the session until `COMMIT`): no other write interleaves. Inside a
//! transaction its reads also see the transaction's earlier writes
//! ([`super::txn::read_own_writes`]), so it changes what the transaction
//! sees.
//!
//! `UPDATE` and `DELETE` are planned as queries. `UPDATE t SET c = e FROM f
//! WHERE p` reads `SELECT t.*, <new row> FROM t, f WHERE p`; `DELETE FROM t
//! USING f WHERE p` reads `SELECT t.* FROM t WHERE EXISTS (SELECT 1 FROM f
//! WHERE p)`, so a row is deleted once however many rows of `f` it joins.
//! An `UPDATE … FROM` also counts each target row with that `EXISTS` form:
//! a row that joins several rows of `f` is updated once (as in PostgreSQL),
//! to the new row of one of its joins (PostgreSQL also picks one; here, the
//! smallest new row, so the choice is the same on every run).
//!
//! `RETURNING` items are planned as `SELECT <items> FROM t [AS alias]` and
//! evaluated over the affected rows (new rows for `INSERT` and `UPDATE`,
//! old rows for `DELETE`), in place of the table's contents, before the
//! write, so an error in them leaves the table unchanged. With a `FROM`
//! or `USING` list they may read its columns too (`RETURNING t.*, u.x`):
//! the statement's query then returns those columns, each target row
//! keeps those of the row it was changed with, and the items are
//! evaluated over both in the coordinator. The SQL of these queries is
//! [`super::dml_sql`]'s.
//!
//! A volatile default (`random()`, `nextval()`) that `DEFAULT` assigns
//! is evaluated for each row, as in PostgreSQL: the query has a
//! placeholder there, filled after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_expr::logical_plan::Projection;
use datafusion_expr::{ExprSchemable, LogicalPlan};
use sqlparser::ast::{Delete, Insert, Statement, Truncate, Update};

use crate::catalog::{CatalogItem, SearchPath};
use crate::compute::Command;
use crate::expr::{GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{Datum, Row};
use crate::sql::PlanError;
use crate::sql::identity_syntax::Overriding;
use crate::sql::lower::{lower, lower_query};
use crate::sql::plan::{optimize, plan_statement};
use crate::storage::durable::Commit;

use super::dml_sql::{
    Assignments, ReturningPlan, Target, assignments, default_items, delete_join_query, parse_one,
    returning_of, target_rows_query, update_from, update_query,
};
pub use super::dml_sql::{assigned_parameter_types, dml_query, returning_desc};
use super::sequence::{ExecuteResponse, finish};
use super::session::{Session, TransactionState};
use super::txn::TxnReads;
use super::{AdapterError, CoordState, Coordinator};

/// What a DML statement changes, before it is written.
struct Changes {
    /// The table it writes.
    table: CatalogItem,
    /// Rows added (positive) and removed (negative).
    updates: Vec<(Row, i64)>,
    /// The rows `RETURNING` reads, with their counts: the new rows of
    /// `INSERT` and `UPDATE`, the removed rows of `DELETE`.
    affected: Vec<(Row, i64)>,
    /// For a `RETURNING` clause that reads the `FROM` or `USING` list
    /// ([`ReturningPlan::Joined`]): each affected row followed by the
    /// columns of the row of the list it was paired with.
    joined: Vec<(Row, i64)>,
}

/// Computes constant rows through map/filter/project stages (as a peek's
/// stages are applied, [`super::peek::apply_stages`]) and unions in the
/// coordinator, in their order (the order of an `INSERT`'s `VALUES`,
/// which its `RETURNING` rows keep, as in PostgreSQL); `None` for any other
/// plan.
fn compute_locally(expr: &RelationExpr) -> Option<Result<Vec<(Row, i64)>, AdapterError>> {
    match expr {
        RelationExpr::Constant { rows, .. } => Some(Ok(rows.clone())),
        RelationExpr::Union { inputs } => {
            let mut out = Vec::new();
            for input in inputs {
                match compute_locally(input)? {
                    Ok(rows) => out.extend(rows),
                    Err(e) => return Some(Err(e)),
                }
            }
            Some(Ok(out))
        }
        RelationExpr::Mfp {
            input,
            exprs,
            predicates,
            projection,
        } => {
            let rows = match compute_locally(input)? {
                Ok(rows) => rows,
                Err(e) => return Some(Err(e)),
            };
            let stage = crate::compute::render::Mfp {
                exprs: exprs.clone(),
                predicates: predicates.clone(),
                projection: projection.clone(),
            };
            Some(super::peek::apply_stages(rows, std::slice::from_ref(&stage)).map_err(Into::into))
        }
        _ => None,
    }
}

/// A column default with the values of `now()` and its kin for the
/// running statement (`clock_timestamp()` and `random()` stay, evaluated
/// for each row), as PostgreSQL evaluates a default when it inserts.
pub(crate) fn resolved_default(default: &ScalarExpr) -> ScalarExpr {
    let mut e = default.clone();
    e.resolve_unmaterializable(
        super::sequence::statement_time(),
        super::sequence::statement_start(),
    );
    e
}

/// The rows an `INSERT` adds: `rows` (values of the columns at
/// `positions`, each with the columns whose value is their default though
/// the row has a placeholder there: a volatile `DEFAULT` item) with the
/// other columns' defaults, checked. Defaults are evaluated for each row,
/// column by column, as PostgreSQL evaluates them. The columns at
/// `ignored` get their defaults whatever `rows` say (`OVERRIDING USER
/// VALUE`).
pub(super) fn insert_rows(
    table: &CatalogItem,
    positions: &[usize],
    ignored: &[usize],
    rows: Vec<(Row, &[usize])>,
    updates: &mut Vec<(Row, i64)>,
) -> Result<(), AdapterError> {
    let defaults: Vec<Option<ScalarExpr>> = table
        .table_columns
        .iter()
        .map(|c| c.default.as_ref().map(resolved_default))
        .collect();
    for (r, row_defaults) in rows {
        let mut full: Vec<Option<Datum>> = vec![None; table.desc.arity()];
        for (i, d) in r.iter().enumerate() {
            if !ignored.contains(&positions[i]) {
                full[positions[i]] = Some(d);
            }
        }
        for &p in row_defaults {
            full[p] = None;
        }
        let mut out = Vec::with_capacity(full.len());
        for (i, d) in full.into_iter().enumerate() {
            let d = match d {
                Some(d) => d,
                None => match defaults.get(i).and_then(Option::as_ref) {
                    Some(e) => e.eval(&[])?,
                    None => Datum::Null,
                },
            };
            out.push(d);
        }
        updates.push((check_row(table, out)?, 1));
    }
    Ok(())
}

/// Replaces the placeholders of the columns `columns` (set to a volatile
/// `DEFAULT` by an `UPDATE`) in `row` by values of their defaults: one
/// row for each of the `diff` copies of `row`, each with its own values.
fn fill_defaults(
    table: &CatalogItem,
    columns: &[usize],
    row: Vec<Datum>,
    diff: i64,
) -> Result<Vec<(Vec<Datum>, i64)>, AdapterError> {
    if columns.is_empty() {
        return Ok(vec![(row, diff)]);
    }
    let mut out = Vec::with_capacity(usize::try_from(diff).unwrap_or_default());
    for _ in 0..diff {
        let mut row = row.clone();
        for &p in columns {
            if let Some(e) = table.table_columns.get(p).and_then(|c| c.default.as_ref()) {
                row[p] = resolved_default(e).eval(&[])?;
            }
        }
        out.push((row, 1));
    }
    Ok(out)
}

/// Replaces every read of `id` in `expr` by constant `rows`.
fn replace_get(expr: &mut RelationExpr, id: GlobalId, rows: &[(Row, i64)], arity: usize) {
    if let RelationExpr::Get { id: read, .. } = expr
        && *read == id
    {
        *expr = RelationExpr::Constant {
            rows: rows.to_vec(),
            arity,
        };
        return;
    }
    for child in expr.children_mut() {
        replace_get(child, id, rows, arity);
    }
}

impl Coordinator {
    /// INSERT, UPDATE and DELETE, with or without `RETURNING`.
    pub(super) async fn dml(
        self: &Arc<Self>,
        session: &mut Session,
        stmt: Statement,
    ) -> Result<ExecuteResponse, AdapterError> {
        self.dml_overriding(session, stmt, None).await
    }

    /// [`Coordinator::dml`], for an `INSERT` with `OVERRIDING { SYSTEM |
    /// USER } VALUE` when `overriding` is set.
    pub(super) async fn dml_overriding(
        self: &Arc<Self>,
        session: &mut Session,
        mut stmt: Statement,
        overriding: Option<Overriding>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let path = session.search_path();
        let mut state = self.state.lock().await;
        super::sequence_objects::resolve_sequence_args(&mut stmt, Some((&state.catalog, &path)))?;
        // RETURNING is planned first: the statement computes the columns
        // of its FROM or USING list that the clause reads.
        let returning = match returning_of(&stmt)? {
            Some(returning) => Some(returning.plan(&state.catalog, &path)?),
            None => None,
        };
        let from_columns = returning.as_ref().and_then(|(plan, _)| plan.list_columns());
        let (changes, tag) = match &stmt {
            Statement::Insert(insert) => (
                self.insert_changes(&mut state, session, &path, insert, overriding)
                    .await?,
                "INSERT 0",
            ),
            Statement::Update(update) => (
                self.update_changes(&mut state, &path, session.txn_reads(), update, from_columns)
                    .await?,
                "UPDATE",
            ),
            Statement::Delete(delete) => (
                self.delete_changes(&mut state, &path, session.txn_reads(), delete, from_columns)
                    .await?,
                "DELETE",
            ),
            _ => return Err(AdapterError::Internal("not DML".into())),
        };
        let returned = match returning {
            Some((plan, desc)) => Some((
                desc,
                self.returning(&mut state, &path, session.txn_reads(), plan, &changes)
                    .await?,
            )),
            None => None,
        };
        let affected: i64 = changes.affected.iter().map(|(_, d)| d).sum();
        let id = changes.table.id;
        let updates = changes
            .updates
            .into_iter()
            .map(|(r, d)| (id, r, d))
            .collect();
        self.write(&mut state, session, updates, true).await?;
        Ok(match returned {
            Some((desc, rows)) => ExecuteResponse::Returning {
                desc,
                rows,
                tag: tag.to_string(),
            },
            None => ExecuteResponse::Command {
                tag: tag.to_string(),
                rows: Some(usize::try_from(affected).unwrap_or_default()),
            },
        })
    }

    /// `TRUNCATE a, b, …`: empties each table as `DELETE FROM` does, all in
    /// one durable commit at one timestamp.
    pub(super) async fn truncate(
        self: &Arc<Self>,
        session: &mut Session,
        truncate: &Truncate,
    ) -> Result<ExecuteResponse, AdapterError> {
        let path = session.search_path();
        let mut state = self.state.lock().await;
        let mut tables: Vec<CatalogItem> = Vec::new();
        for t in &truncate.table_names {
            // A schema that does not exist is 3F000 here, as in
            // PostgreSQL (a query's relation there is 42P01).
            state.catalog.resolve(&path, &t.name)?;
            let table = Target {
                name: t.name.clone(),
                alias: None,
            }
            .table(&state.catalog, &path)?;
            if !tables.iter().any(|x| x.id == table.id) {
                tables.push(table);
            }
        }
        // A table a foreign key of another table references goes with
        // that table (`CASCADE`) or not at all (PostgreSQL).
        let cascade = matches!(
            truncate.cascade,
            Some(sqlparser::ast::CascadeOption::Cascade)
        );
        let mut notices = Vec::new();
        loop {
            let ids: Vec<GlobalId> = tables.iter().map(|t| t.id).collect();
            let outside = super::foreign_keys::referencing_from_outside(&state.catalog, &ids);
            let Some((child, fk)) = outside.first() else {
                break;
            };
            let child_name = state.catalog.get(*child).map_or("", |t| t.name.as_str());
            if !cascade {
                let parent = state
                    .catalog
                    .get(fk.referenced)
                    .map_or("", |t| t.name.as_str());
                return Err(AdapterError::Constraint {
                    code: crate::repr::SqlState::FEATURE_NOT_SUPPORTED,
                    message: "cannot truncate a table referenced in a foreign key constraint"
                        .into(),
                    detail: Some(format!("Table \"{child_name}\" references \"{parent}\".")),
                    hint: Some(format!(
                        "Truncate table \"{child_name}\" at the same time, or use TRUNCATE ... CASCADE."
                    )),
                });
            }
            notices.push(format!("truncate cascades to table \"{child_name}\""));
            if let Some(t) = state.catalog.get(*child).cloned() {
                tables.push(t);
            }
        }
        let mut updates = Vec::new();
        for table in &tables {
            let mut expr = RelationExpr::Get {
                id: table.id,
                name: table.name.clone(),
            };
            let ts = self.prepare_one_shot(&mut state, &mut expr, &path, session.txn_reads());
            for (r, d) in self.peek_expr_locked(&mut state, expr, ts).await? {
                updates.push((table.id, r, -d));
            }
        }
        self.write(&mut state, session, updates, false).await?;
        Ok(match notices.pop() {
            Some(notice) => ExecuteResponse::CommandWithNotice {
                tag: "TRUNCATE TABLE".into(),
                notices: vec![super::sequence::Notice::from(notice)],
            },
            None => ExecuteResponse::command("TRUNCATE TABLE"),
        })
    }

    /// Writes `updates`: durably and at a new timestamp, or, inside an
    /// explicit transaction, into the session until `COMMIT`. The
    /// statement computed them from the committed rows and (in a
    /// transaction) the transaction's earlier writes, which its reads see
    /// ([`super::txn::read_own_writes`]).
    /// `actions`: whether the changes fire foreign keys' referential
    /// actions (not for `TRUNCATE`).
    pub(super) async fn write(
        self: &Arc<Self>,
        state: &mut CoordState,
        session: &mut Session,
        mut updates: Vec<(GlobalId, Row, i64)>,
        actions: bool,
    ) -> Result<(), AdapterError> {
        let in_transaction = session.transaction == TransactionState::InTransaction;
        self.enforce_foreign_keys(state, &session.pending_writes, &mut updates, actions)
            .await?;
        state.check_rows(&updates)?;
        state.check_unique_all(&session.pending_writes, &updates)?;
        if in_transaction {
            for (id, _, diff) in &updates {
                if *diff < 0 {
                    let now = state.oracle.read_ts();
                    session.retracted_from.entry(*id).or_insert(now);
                }
            }
            session.pending_writes.extend(updates);
            return Ok(());
        }
        self.commit_table_writes(state, updates)
    }

    /// Commits table changes (already checked) to the durable store, counts
    /// them in the tables' keys, and sends them to the workers at a new
    /// timestamp.
    pub(super) fn commit_table_writes(
        &self,
        state: &mut CoordState,
        updates: Vec<(GlobalId, Row, i64)>,
    ) -> Result<(), AdapterError> {
        if updates.is_empty() {
            return Ok(());
        }
        state
            .store
            .commit(Commit {
                row_updates: updates.clone(),
                ..Default::default()
            })
            .map_err(|e| AdapterError::Storage(e.to_string()))?;
        let ts = state.oracle.write_ts();
        let mut last = None;
        for (t, _, _) in &updates {
            if last != Some(*t) {
                state.table_commits.insert(*t, ts);
                last = Some(*t);
            }
        }
        state.apply_unique(updates.iter().map(|(t, r, d)| (*t, r, *d)));
        state.apply_foreign_keys(updates.iter().map(|(t, r, d)| (*t, r, *d)));
        self.compute.send(Command::Write {
            updates,
            errors: Vec::new(),
            ts,
            worker: 0,
        });
        Ok(())
    }

    /// Computes `expr` at `ts` (after [`Coordinator::prepare_one_shot`]):
    /// in the coordinator where it is constant rows through
    /// map/filter/project stages, else by a peek.
    async fn compute_rows(
        self: &Arc<Self>,
        state: &mut CoordState,
        expr: RelationExpr,
        ts: crate::repr::Timestamp,
    ) -> Result<Vec<(Row, i64)>, AdapterError> {
        if let Some(rows) = self.with_sequences(|| compute_locally(&expr)) {
            return rows;
        }
        self.peek_expr_locked(state, expr, ts).await
    }

    /// The rows of a `RETURNING` clause over the affected rows (its
    /// subqueries read the transaction's earlier writes `pending`).
    async fn returning(
        self: &Arc<Self>,
        state: &mut CoordState,
        path: &SearchPath,
        pending: TxnReads<'_>,
        plan: ReturningPlan,
        changes: &Changes,
    ) -> Result<Vec<Row>, AdapterError> {
        let plan = match plan {
            ReturningPlan::Target(plan) => plan,
            ReturningPlan::Joined { exprs, .. } => {
                let volatile = exprs.iter().any(ScalarExpr::is_volatile);
                return self.with_sequences(|| {
                    let mut out = Vec::new();
                    for (row, diff) in &changes.joined {
                        let datums = row.unpack();
                        // A volatile item is evaluated once per copy of a
                        // row; the others once for all of them.
                        let (evaluations, copies) = if volatile { (*diff, 1) } else { (1, *diff) };
                        for _ in 0..evaluations {
                            let values = exprs
                                .iter()
                                .map(|e| e.eval(&datums))
                                .collect::<Result<Vec<_>, _>>()?;
                            let values = Row::new(values);
                            for _ in 0..copies {
                                out.push(values.clone());
                            }
                        }
                    }
                    Ok(out)
                });
            }
        };
        let (mut expr, finishing) = lower_query(&plan)?;
        replace_get(
            &mut expr,
            changes.table.id,
            &changes.affected,
            changes.table.desc.arity(),
        );
        let ts = self.prepare_one_shot(state, &mut expr, path, pending);
        let rows = self.compute_rows(state, expr, ts).await?;
        Ok(finish(rows, &finishing)?)
    }

    /// The rows an `INSERT` adds.
    async fn insert_changes(
        self: &Arc<Self>,
        state: &mut CoordState,
        session: &Session,
        path: &SearchPath,
        insert: &Insert,
        overriding: Option<Overriding>,
    ) -> Result<Changes, AdapterError> {
        let target = Target::of_insert(insert)?;
        let table = target.table(&state.catalog, path)?;
        // `DEFAULT VALUES`: one row of defaults.
        let default_values;
        let source = match &insert.source {
            Some(source) => source,
            None if insert.columns.is_empty() => {
                let items = vec!["DEFAULT"; table.desc.arity()].join(", ");
                let Statement::Query(q) = parse_one(&format!("VALUES ({items})"))? else {
                    return Err(AdapterError::Internal("VALUES did not parse".into()));
                };
                default_values = q;
                &default_values
            }
            None => {
                return Err(PlanError::Syntax("syntax error at or near \"DEFAULT\"".into()).into());
            }
        };
        // Column list → positions in the table.
        let positions: Vec<usize> = if insert.columns.is_empty() {
            (0..table.desc.arity()).collect()
        } else {
            insert
                .columns
                .iter()
                .map(|c| {
                    let n = c.to_string().to_lowercase().trim_matches('"').to_string();
                    table
                        .desc
                        .columns
                        .iter()
                        .position(|x| x.name == n)
                        .ok_or_else(|| {
                            PlanError::UnknownColumn(format!(
                                "\"{n}\" of relation \"{}\"",
                                table.name
                            ))
                        })
                })
                .collect::<Result<_, _>>()?
        };
        // A literal in exponent notation bound for a float column
        // is read as a float, as PostgreSQL's assignment cast from
        // `numeric` computes it (`1e30` is beyond Freshet's numeric).
        let mut source = source.clone();
        // `OVERRIDING SYSTEM VALUE`: a value given for a `GENERATED
        // ALWAYS` column is taken. `OVERRIDING USER VALUE`: values given
        // for identity columns are dropped, and the columns get their
        // defaults (their sequences' next values).
        if overriding.is_none() {
            super::sequence_objects::check_identity_insert(
                &state.catalog,
                &table,
                &positions,
                &source,
            )?;
        }
        let ignored: Vec<usize> = match overriding {
            Some(Overriding::User) => positions
                .iter()
                .copied()
                .filter(|&p| state.catalog.identity(table.id, p).is_some())
                .collect(),
            _ => Vec::new(),
        };
        // The types of the values, as PostgreSQL checks them: a
        // multi-row VALUES list item by item, before DataFusion unifies
        // its columns.
        super::assignment_checks::check_values_rows(
            &state.catalog,
            path,
            &mut source,
            &table,
            &positions,
        )?;
        let per_row_defaults = default_items(&mut source, &table, &positions)?;
        // The position of each row in the VALUES list, added last.
        let added = usize::from(per_row_defaults.is_some());
        let targets: Vec<_> = positions
            .iter()
            .map(|&p| table.desc.columns[p].typ.clone())
            .collect();
        crate::sql::literals::type_insert_literals(&mut source, &targets);
        let unknown = super::assignment_checks::unknown_columns(&source);
        let plan = plan_statement(&state.catalog.scope(path), Statement::Query(source))?;
        let arity = plan.schema().fields().len() - added;
        if arity > positions.len() {
            return Err(PlanError::Planning(
                "INSERT has more expressions than target columns".into(),
            )
            .into());
        }
        let unpad = super::assignment_checks::check_insert_source(
            unknown.as_deref(),
            plan.schema(),
            &table,
            &positions,
        )?;
        let plan = super::assignment_checks::unpad_columns(plan, &unpad)?;
        // After the source, as PostgreSQL plans them.
        let on_conflict = match &insert.on {
            Some(on) => Some(super::on_conflict::plan_on_conflict(
                &state.catalog,
                path,
                &table,
                &target
                    .alias
                    .as_ref()
                    .map_or_else(|| table.name.clone(), super::constraints::ident),
                on,
            )?),
            None => None,
        };
        // The items of a VALUES list go to their columns' types
        // one by one, as in PostgreSQL (`float_unify`).
        let plan = crate::sql::float_unify::type_insert_values(plan, &targets)
            .map_err(PlanError::from_datafusion)?;
        let plan = optimize(plan)?;
        let (mut expr, finishing) = lower_query(&plan)?;
        let ts = self.prepare_one_shot(state, &mut expr, path, session.txn_reads());
        let rows = finish(self.compute_rows(state, expr, ts).await?, &finishing)?;
        let rows: Vec<(Row, &[usize])> = match &per_row_defaults {
            None => rows.into_iter().map(|r| (r, &[][..])).collect(),
            Some(per_row) => {
                // Back in the order of the list, without the positions.
                let mut numbered = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut datums = r.unpack();
                    let i = match datums.pop() {
                        Some(Datum::Int64(i)) => usize::try_from(i).ok(),
                        _ => None,
                    };
                    let Some((i, defaults)) = i.and_then(|i| per_row.get(i).map(|d| (i, d))) else {
                        return Err(AdapterError::Internal(
                            "a VALUES row without its position".into(),
                        ));
                    };
                    numbered.push((i, Row::new(datums), defaults.as_slice()));
                }
                numbered.sort_by_key(|(i, _, _)| *i);
                numbered.into_iter().map(|(_, r, d)| (r, d)).collect()
            }
        };
        let mut updates = Vec::with_capacity(rows.len());
        self.with_sequences(|| insert_rows(&table, &positions, &ignored, rows, &mut updates))?;
        if let Some(plan) = &on_conflict {
            updates = self
                .apply_on_conflict(state, path, session.txn_reads(), &table, plan, updates)
                .await?;
        }
        // The rows inserted, and the new versions of the rows updated.
        let affected = updates.iter().filter(|(_, d)| *d > 0).cloned().collect();
        Ok(Changes {
            table,
            affected,
            updates,
            joined: Vec::new(),
        })
    }

    /// Plans and computes a query Freshet generated for a DML statement;
    /// it reads the transaction's writes `pending` too.
    pub(super) async fn compute_query(
        self: &Arc<Self>,
        state: &mut CoordState,
        path: &SearchPath,
        pending: TxnReads<'_>,
        sql: &str,
        cast_new_row: Option<(&CatalogItem, &Assignments)>,
    ) -> Result<Vec<(Row, i64)>, AdapterError> {
        let mut plan = plan_statement(&state.catalog.scope(path), parse_one(sql)?)?;
        if let Some((table, assigned)) = cast_new_row {
            plan = cast_new_columns(plan, table, assigned)?;
        }
        let plan = optimize(plan)?;
        let mut expr = lower(&plan)?;
        let ts = self.prepare_one_shot(state, &mut expr, path, pending);
        self.compute_rows(state, expr, ts).await
    }

    /// The rows an `UPDATE` replaces, and their new values; with
    /// `from_columns` (of its `FROM` list, that `RETURNING` reads), the
    /// new rows joined with them.
    async fn update_changes(
        self: &Arc<Self>,
        state: &mut CoordState,
        path: &SearchPath,
        pending: TxnReads<'_>,
        update: &Update,
        from_columns: Option<&[String]>,
    ) -> Result<Changes, AdapterError> {
        if update.limit.is_some() || !update.order_by.is_empty() || update.or.is_some() {
            return Err(PlanError::Syntax("UPDATE with ORDER BY, LIMIT or OR".into()).into());
        }
        let target = Target::of(&update.table, "UPDATE")?;
        let table = target.table(&state.catalog, path)?;
        let arity = table.desc.arity();
        super::sequence_objects::check_identity_update(&state.catalog, &table, update)?;
        let assigned = assignments(&table, update)?;
        let from = update_from(update);
        let sql = update_query(
            &target,
            &table,
            &assigned.values,
            &from,
            update.selection.as_ref(),
            from_columns.unwrap_or_default(),
        );
        let rows = self
            .compute_query(state, path, pending, &sql, Some((&table, &assigned)))
            .await?;
        let joined = from_columns.is_some();
        let per_row = &assigned.per_row_defaults;
        let mut changes = Changes {
            table,
            updates: Vec::new(),
            affected: Vec::new(),
            joined: Vec::new(),
        };
        // Old row → new row and the FROM columns (the smallest of them).
        let mut new_rows: BTreeMap<Row, (Row, Row)> = BTreeMap::new();
        for (r, d) in rows {
            let r = r.unpack();
            if r.len() != 2 * arity + from_columns.map_or(0, <[String]>::len) {
                return Err(AdapterError::Internal(
                    "UPDATE row has the wrong width".into(),
                ));
            }
            let old = Row::pack(&r[..arity]);
            let mut new = Vec::with_capacity(arity);
            // An assignment: a value too long for a varchar or char
            // column is an error, not cut.
            for (i, datum) in r[arity..2 * arity].iter().enumerate() {
                new.push(crate::expr::func::assign_cast(
                    datum.clone(),
                    &changes.table.desc.columns[i].typ,
                )?);
            }
            let from_row = Row::pack(&r[2 * arity..]);
            if from.is_empty() {
                self.with_sequences(|| {
                    changes.replace(old, new, per_row, d, joined.then_some(&from_row))
                })?;
            } else {
                let new = Row::new(new);
                match new_rows.get(&old) {
                    Some(kept) if (&kept.0, &kept.1) <= (&new, &from_row) => {}
                    _ => {
                        new_rows.insert(old, (new, from_row));
                    }
                }
            }
        }
        if from.is_empty() {
            return Ok(changes);
        }
        // Each target row once, however many rows it joins.
        let sql = target_rows_query(&target, &changes.table, &from, update.selection.as_ref());
        for (old, d) in self.compute_query(state, path, pending, &sql, None).await? {
            let Some((new, from_row)) = new_rows.get(&old) else {
                return Err(AdapterError::Internal(
                    "an UPDATE's target row without its new row".into(),
                ));
            };
            self.with_sequences(|| {
                changes.replace(old, new.unpack(), per_row, d, joined.then_some(from_row))
            })?;
        }
        Ok(changes)
    }

    /// The rows a `DELETE` removes; with `from_columns` (of its `USING`
    /// list, that `RETURNING` reads), joined with them.
    async fn delete_changes(
        self: &Arc<Self>,
        state: &mut CoordState,
        path: &SearchPath,
        pending: TxnReads<'_>,
        delete: &Delete,
        from_columns: Option<&[String]>,
    ) -> Result<Changes, AdapterError> {
        let (target, using) = Target::of_delete(delete)?;
        let table = target.table(&state.catalog, path)?;
        let sql = target_rows_query(&target, &table, &using, delete.selection.as_ref());
        let affected = self.compute_query(state, path, pending, &sql, None).await?;
        let mut joined = Vec::new();
        if let Some(from_columns) = from_columns {
            // Each deleted row with one of the rows it joins (the
            // smallest), as an `UPDATE … FROM` pairs them.
            let arity = table.desc.arity();
            let sql = delete_join_query(
                &target,
                &table,
                &using,
                delete.selection.as_ref(),
                from_columns,
            );
            let mut pairs: BTreeMap<Row, Row> = BTreeMap::new();
            for (r, _) in self.compute_query(state, path, pending, &sql, None).await? {
                let r = r.unpack();
                let old = Row::pack(&r[..arity]);
                let from_row = Row::pack(&r[arity..]);
                match pairs.get(&old) {
                    Some(kept) if *kept <= from_row => {}
                    _ => {
                        pairs.insert(old, from_row);
                    }
                }
            }
            for (old, d) in &affected {
                let Some(from_row) = pairs.get(old) else {
                    return Err(AdapterError::Internal(
                        "a DELETE's target row without its USING row".into(),
                    ));
                };
                joined.push((concat(old, from_row), *d));
            }
        }
        Ok(Changes {
            table,
            updates: affected.iter().map(|(r, d)| (r.clone(), -d)).collect(),
            affected,
            joined,
        })
    }
}

impl Changes {
    /// Replaces `diff` copies of `old` by `new` (whose columns `per_row`
    /// take their defaults' values, for each copy), with `from_row` the
    /// columns of the `FROM` row it joined, if `RETURNING` reads them.
    fn replace(
        &mut self,
        old: Row,
        new: Vec<Datum>,
        per_row: &[usize],
        diff: i64,
        from_row: Option<&Row>,
    ) -> Result<(), AdapterError> {
        for (new, d) in fill_defaults(&self.table, per_row, new, diff)? {
            let new = check_row(&self.table, new)?;
            self.updates.push((old.clone(), -d));
            self.updates.push((new.clone(), d));
            if let Some(from_row) = from_row {
                self.joined.push((concat(&new, from_row), d));
            }
            self.affected.push((new, d));
        }
        Ok(())
    }
}

/// `a`'s columns followed by `b`'s.
fn concat(a: &Row, b: &Row) -> Row {
    Row::pack(&a.iter().chain(b.iter()).collect::<Vec<_>>())
}

/// Casts the new row of an `UPDATE`'s query (the second of its rows of
/// the table's width, before the `FROM` columns) to the table's column
/// types, as an assignment does, once the types of the values `assigned`
/// are checked.
fn cast_new_columns(
    plan: LogicalPlan,
    table: &CatalogItem,
    assigned: &Assignments,
) -> Result<LogicalPlan, AdapterError> {
    let arity = table.desc.arity();
    let schema = plan.schema().clone();
    let width = schema.fields().len();
    if width < 2 * arity {
        return Err(AdapterError::Internal(
            "UPDATE query has the wrong width".into(),
        ));
    }
    let types = super::assignment_checks::column_types(&schema);
    super::assignment_checks::check_set_values(
        table,
        assigned.order.iter().filter_map(|&i| {
            let typ = types.get(arity + i).cloned().flatten();
            assigned.values.get(i)?.as_ref().map(|v| (i, v, typ))
        }),
    )?;
    let mut exprs = Vec::with_capacity(width);
    for i in 0..width {
        let column = datafusion_expr::Expr::Column(datafusion_common::Column::from(
            schema.qualified_field(i),
        ));
        let unpad = i >= arity
            && i < 2 * arity
            && assigned.values.get(i - arity).is_some_and(Option::is_some)
            && types.get(i).cloned().flatten().is_some_and(|t| {
                super::assignment_checks::needs_unpadding(&t, &table.desc.columns[i - arity].typ)
            });
        exprs.push(if unpad {
            let name = schema.field(i).name().clone();
            super::assignment_checks::unpadded(column).alias(name)
        } else if i < arity || i >= 2 * arity {
            column
        } else {
            let name = schema.field(i).name().clone();
            column
                .cast_to(&table.desc.columns[i - arity].typ.to_arrow(), &schema)
                .map_err(PlanError::from_datafusion)?
                .alias(name)
        });
    }
    Ok(LogicalPlan::Projection(
        Projection::try_new(exprs, Arc::new(plan)).map_err(PlanError::from_datafusion)?,
    ))
}

/// Checks NOT NULL and applies each column's type (with its modifiers) to
/// a row about to be written to `table`.
pub(crate) fn check_row(table: &CatalogItem, datums: Vec<Datum>) -> Result<Row, AdapterError> {
    let mut out = Vec::with_capacity(datums.len());
    for (d, c) in datums.into_iter().zip(&table.desc.columns) {
        if d.is_null() && !c.nullable {
            return Err(crate::expr::EvalError::NotNullViolation(
                c.name.clone(),
                table.name.clone(),
            )
            .into());
        }
        let d = crate::expr::func::assign_cast(d, &c.typ)?;
        out.push(d);
    }
    Ok(Row::new(out))
}
