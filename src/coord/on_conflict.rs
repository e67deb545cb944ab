//! `INSERT … ON CONFLICT`: the arbiter constraints a clause names, and
//! what happens to a proposed row whose key one of them already holds.
//!
//! The coordinator decides each proposed row in order, against the keys
//! of the table's committed rows ([`super::constraints`] counts them),
//! the writes of the session's transaction, and the rows the statement
//! has already inserted or updated. `DO UPDATE` reads the existing row
//! from the constraint's index (or the transaction's writes). Its `SET`
//! and `WHERE` expressions are evaluated in the coordinator over the
//! existing row and the proposed one (`excluded`); when they have a
//! subquery, as a query over those two rows written as `VALUES`, once
//! for each conflict. `SET c = DEFAULT` evaluates the default for each
//! row, as PostgreSQL does.

use std::collections::{BTreeMap, HashMap, HashSet};

use datafusion_expr::LogicalPlan;
use sqlparser::ast::{
    AssignmentTarget, ConflictTarget, DoUpdate, Expr as SqlExpr, Ident, OnConflictAction, OnInsert,
};

use super::CoordState;
use super::constraints::{ident, key_of};
use super::error::AdapterError;
use crate::catalog::{Catalog, CatalogItem, SearchPath, UniqueKey};
use crate::expr::{GlobalId, ScalarExpr};
use crate::repr::{Datum, Row, ScalarType, SqlState};
use crate::sql::PlanError;

/// What `INSERT ... ON CONFLICT` does with a proposed row whose arbiter
/// key is taken.
pub(crate) enum ConflictAction {
    /// `DO NOTHING`: the row is skipped.
    Nothing,
    /// `DO UPDATE SET ... [WHERE ...]`: the existing row changes.
    Update(ConflictUpdate),
}

/// A planned `DO UPDATE SET ... [WHERE ...]`.
pub(crate) struct ConflictUpdate {
    /// The columns set, in the order of the `SET` list, each with its
    /// default for `SET c = DEFAULT` (evaluated for each row), or `None`
    /// for a value that `values` computes (the next one).
    set: Vec<(usize, Option<ScalarExpr>)>,
    /// How the values and the condition are computed.
    values: UpdateValues,
}

/// How the values of a `DO UPDATE SET` list and its `WHERE` condition are
/// computed from the existing row and the proposed one.
enum UpdateValues {
    /// As expressions over the existing row's columns followed by the
    /// proposed row's.
    Scalars {
        /// The values.
        values: Vec<ScalarExpr>,
        /// The condition.
        condition: Option<ScalarExpr>,
    },
    /// As a query over the two rows (items with subqueries):
    /// `SELECT <values> FROM (VALUES (<existing>)) AS alias CROSS JOIN
    /// (VALUES (<proposed>)) AS excluded WHERE <condition>`.
    Query {
        /// The values, as SQL.
        values: Vec<String>,
        /// The condition, as SQL.
        condition: Option<String>,
        /// The name of the existing row.
        alias: String,
    },
}

/// A planned `ON CONFLICT` clause.
pub(crate) struct OnConflictPlan {
    /// The constraints whose conflicts it handles (their positions in the
    /// table's constraints): the one the target names, or all of them for
    /// `DO NOTHING` without a target.
    arbiters: Vec<usize>,
    action: ConflictAction,
}

fn unsupported(what: &str) -> AdapterError {
    PlanError::Unsupported(what.to_string()).into()
}

fn no_matching_constraint() -> AdapterError {
    AdapterError::Variable {
        code: SqlState::INVALID_COLUMN_REFERENCE,
        message:
            "there is no unique or exclusion constraint matching the ON CONFLICT specification"
                .into(),
    }
}

/// Plans `on` for an `INSERT` into `table` (named `alias` in the
/// statement), resolving names in its expressions along `path`.
pub(crate) fn plan_on_conflict(
    catalog: &Catalog,
    path: &SearchPath,
    table: &CatalogItem,
    alias: &str,
    on: &OnInsert,
) -> Result<OnConflictPlan, AdapterError> {
    let OnInsert::OnConflict(on) = on else {
        return Err(unsupported("ON DUPLICATE KEY UPDATE"));
    };
    let keys = catalog.unique(table.id);
    let arbiters = match &on.conflict_target {
        None => {
            if matches!(on.action, OnConflictAction::DoUpdate(_)) {
                return Err(AdapterError::Variable {
                    code: SqlState::SYNTAX_ERROR,
                    message:
                        "ON CONFLICT DO UPDATE requires inference specification or constraint name"
                            .into(),
                });
            }
            (0..keys.len()).collect()
        }
        Some(ConflictTarget::Columns(cols)) => {
            let mut wanted = Vec::new();
            for c in cols {
                let n = ident(c);
                let Some(p) = table.desc.columns.iter().position(|x| x.name == n) else {
                    return Err(PlanError::UnknownColumn(format!("\"{n}\"")).into());
                };
                wanted.push(p);
            }
            wanted.sort_unstable();
            wanted.dedup();
            // PostgreSQL infers every unique index on exactly those columns.
            let found: Vec<usize> = keys
                .iter()
                .enumerate()
                .filter(|(_, k)| {
                    let mut cols = k.columns.clone();
                    cols.sort_unstable();
                    cols == wanted
                })
                .map(|(i, _)| i)
                .collect();
            if found.is_empty() {
                return Err(no_matching_constraint());
            }
            found
        }
        Some(ConflictTarget::OnConstraint(name)) => {
            let n = name.0.last().map(|p| p.to_string()).unwrap_or_default();
            let n = n.trim_matches('"').to_string();
            match keys.iter().position(|k| k.name == n && k.constraint) {
                Some(i) => vec![i],
                None => {
                    return Err(AdapterError::Variable {
                        code: SqlState::UNDEFINED_OBJECT,
                        message: format!(
                            "constraint \"{n}\" for table \"{}\" does not exist",
                            table.name
                        ),
                    });
                }
            }
        }
    };
    let action = match &on.action {
        OnConflictAction::DoNothing => ConflictAction::Nothing,
        OnConflictAction::DoUpdate(du) => {
            ConflictAction::Update(plan_do_update(catalog, path, table, alias, du)?)
        }
    };
    Ok(OnConflictPlan { arbiters, action })
}

/// Plans `DO UPDATE SET ... [WHERE ...]` over the existing row followed by
/// the proposed one: `SELECT <values>, <condition> FROM t AS alias CROSS
/// JOIN t AS excluded`, planned and lowered as a query's select list is
/// (the same evaluation code); with a subquery, kept as SQL for a query
/// over the two rows.
fn plan_do_update(
    catalog: &Catalog,
    path: &SearchPath,
    table: &CatalogItem,
    alias: &str,
    du: &DoUpdate,
) -> Result<ConflictUpdate, AdapterError> {
    let mut set: Vec<(usize, Option<ScalarExpr>)> = Vec::new();
    let mut values = Vec::new();
    // The column and value as written of each item of `values`.
    let mut assigned: Vec<(usize, &SqlExpr)> = Vec::new();
    for a in &du.assignments {
        let AssignmentTarget::ColumnName(name) = &a.target else {
            return Err(unsupported("ON CONFLICT DO UPDATE SET (a, b) = ..."));
        };
        let n = name.0.last().map(|p| p.to_string()).unwrap_or_default();
        let n = if n.starts_with('"') {
            n.trim_matches('"').to_string()
        } else {
            n.to_lowercase()
        };
        let Some(p) = table.desc.columns.iter().position(|c| c.name == n) else {
            return Err(PlanError::UnknownColumn(format!(
                "\"{n}\" of relation \"{}\"",
                table.name
            ))
            .into());
        };
        if set.iter().any(|(c, _)| *c == p) {
            return Err(AdapterError::Variable {
                code: SqlState::SYNTAX_ERROR,
                message: format!("multiple assignments to same column \"{n}\""),
            });
        }
        match &a.value {
            SqlExpr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") =>
            {
                let default = table
                    .table_columns
                    .get(p)
                    .and_then(|c| c.default.as_ref())
                    .map_or(
                        ScalarExpr::Literal(Datum::Null),
                        super::dml::resolved_default,
                    );
                set.push((p, Some(default)));
            }
            value => {
                set.push((p, None));
                values.push(value.to_string());
                assigned.push((p, value));
            }
        }
    }
    // An untyped literal is read as a boolean; anything else must be one
    // (checked once planned).
    let condition = du.selection.as_ref().map(|w| {
        if crate::sql::assignment_casts::is_unknown_literal(w) {
            format!("({w})::boolean")
        } else {
            format!("({w})")
        }
    });
    let mut items = values.clone();
    items.extend(condition.clone());
    if items.is_empty() {
        return Ok(ConflictUpdate {
            set,
            values: UpdateValues::Scalars {
                values: Vec::new(),
                condition: None,
            },
        });
    }
    let relation = crate::catalog::QualifiedName {
        schema: table.schema.clone(),
        item: table.name.clone(),
    }
    .to_object_name();
    let quoted_alias = crate::expr::string_format::quote_ident(alias);
    let sql = format!(
        "SELECT {} FROM {relation} AS {quoted_alias} CROSS JOIN {relation} AS excluded",
        items.join(", "),
    );
    let plan = super::sequence::plan_analyzed(catalog, path, super::dml_sql::parse_one(&sql)?)?;
    let LogicalPlan::Projection(p) = &plan else {
        return Err(unsupported("this ON CONFLICT DO UPDATE"));
    };
    if p.input.schema().fields().len() != 2 * table.desc.arity() || p.expr.len() != items.len() {
        return Err(unsupported("this ON CONFLICT DO UPDATE"));
    }
    let types = super::assignment_checks::column_types(plan.schema());
    if condition.is_some()
        && let Some(Some(t)) = types.last()
        && *t != ScalarType::Bool
    {
        return Err(PlanError::TypeMismatch(format!(
            "argument of WHERE must be type boolean, not type {}",
            t.regtype_name()
        ))
        .into());
    }
    super::assignment_checks::check_set_values(
        table,
        assigned
            .iter()
            .zip(types.iter().cloned())
            .map(|(&(column, value), typ)| (column, value, typ)),
    )?;
    if p.expr.iter().any(super::dml_sql::has_subquery) {
        return Ok(ConflictUpdate {
            set,
            values: UpdateValues::Query {
                values,
                condition,
                alias: quoted_alias,
            },
        });
    }
    let mut lowered = Vec::with_capacity(p.expr.len());
    for (k, e) in p.expr.iter().enumerate() {
        // A `char(n)` value into a `text` or `varchar` column loses its
        // padding, as PostgreSQL converts it.
        let unpadded;
        let e = match (assigned.get(k), types.get(k)) {
            (Some(&(column, _)), Some(Some(t)))
                if super::assignment_checks::needs_unpadding(
                    t,
                    &table.desc.columns[column].typ,
                ) =>
            {
                unpadded = super::assignment_checks::unpadded(e.clone());
                &unpadded
            }
            _ => e,
        };
        // `now()` and its kin take the statement's values, as a DEFAULT's
        // do (they were left unresolved: an internal error).
        let e = crate::sql::lower::lower_expr(e, p.input.schema())?;
        lowered.push(super::dml::resolved_default(&e));
    }
    let condition = if du.selection.is_some() {
        lowered.pop()
    } else {
        None
    };
    Ok(ConflictUpdate {
        set,
        values: UpdateValues::Scalars {
            values: lowered,
            condition,
        },
    })
}

/// The rows of `table` that a transaction's writes `pending` add
/// (positive) and remove (negative), by their key of each constraint of
/// `keys`.
fn pending_by_key(
    table: GlobalId,
    keys: &[UniqueKey],
    pending: &[(GlobalId, Row, i64)],
) -> Vec<HashMap<Row, Vec<(Row, i64)>>> {
    let mut out: Vec<HashMap<Row, Vec<(Row, i64)>>> = vec![HashMap::new(); keys.len()];
    for (id, row, diff) in pending {
        if *id != table {
            continue;
        }
        for (k, key) in keys.iter().enumerate() {
            if let Some(kr) = key_of(row, key) {
                out[k].entry(kr).or_default().push((row.clone(), *diff));
            }
        }
    }
    out
}

impl super::Coordinator {
    /// Applies `plan` to the rows an `INSERT` proposes for `table` (in
    /// order, each with multiplicity 1): a row whose arbiter key is in the
    /// committed rows and the transaction's writes `pending`, or in a row
    /// this statement inserted before it, is skipped (`DO NOTHING`) or
    /// updates the existing row (`DO UPDATE`; a key this statement already
    /// inserted or updated is `21000`, as in PostgreSQL). Returns the
    /// table's changes. Other constraints are checked on the result
    /// afterwards, as for any statement.
    pub(crate) async fn apply_on_conflict(
        self: &std::sync::Arc<Self>,
        state: &mut CoordState,
        path: &SearchPath,
        txn: super::txn::TxnReads<'_>,
        table: &CatalogItem,
        plan: &OnConflictPlan,
        proposed: Vec<(Row, i64)>,
    ) -> Result<Vec<(Row, i64)>, AdapterError> {
        let keys: Vec<UniqueKey> = plan
            .arbiters
            .iter()
            .filter_map(|&i| state.catalog.unique(table.id).get(i).cloned())
            .collect();
        // The existing rows are read at the latest time.
        txn.note_read(table.id);
        let pending = pending_by_key(table.id, &keys, txn.writes);
        let committed = |state: &CoordState, k: usize, kr: &Row| {
            state
                .unique
                .counts(table.id, plan.arbiters[k])
                .and_then(|m| m.get(kr))
                .copied()
                .unwrap_or(0)
        };
        let pending_count = |k: usize, kr: &Row| {
            pending[k]
                .get(kr)
                .map_or(0, |rows| rows.iter().map(|(_, d)| d).sum::<i64>())
        };
        let ts = state.oracle.read_ts();
        let mut touched: Vec<HashSet<Row>> = vec![Default::default(); keys.len()];
        let mut out = Vec::new();
        for (row, diff) in proposed {
            for _ in 0..diff.max(0) {
                let row_keys: Vec<Option<Row>> = keys.iter().map(|k| key_of(&row, k)).collect();
                let conflict = row_keys.iter().enumerate().find_map(|(k, kr)| {
                    let kr = kr.as_ref()?;
                    (touched[k].contains(kr) || committed(state, k, kr) + pending_count(k, kr) > 0)
                        .then_some((k, kr))
                });
                let Some((k, kr)) = conflict else {
                    for (k, kr) in row_keys.iter().enumerate() {
                        if let Some(kr) = kr {
                            touched[k].insert(kr.clone());
                        }
                    }
                    out.push((row.clone(), 1));
                    continue;
                };
                let ConflictAction::Update(update) = &plan.action else {
                    continue;
                };
                if touched[k].contains(kr) {
                    return Err(AdapterError::Variable {
                        code: SqlState::CARDINALITY_VIOLATION,
                        message: "ON CONFLICT DO UPDATE command cannot affect row a second time"
                            .into(),
                    });
                }
                // The existing row: the committed rows with the key, and
                // the transaction's changes to them.
                let mut versions: BTreeMap<Row, i64> = BTreeMap::new();
                if committed(state, k, kr) > 0 {
                    for (r, d) in self
                        .compute
                        .peek(keys[k].index, ts, Some(kr.clone()))
                        .await?
                    {
                        *versions.entry(r).or_default() += d;
                    }
                }
                for (r, d) in pending[k].get(kr).into_iter().flatten() {
                    *versions.entry(r.clone()).or_default() += d;
                }
                let existing = versions
                    .into_iter()
                    .find(|(_, d)| *d > 0)
                    .map(|(r, _)| r)
                    .ok_or_else(|| {
                        AdapterError::Internal(format!(
                            "key of constraint \"{}\" counted but not in its index",
                            keys[k].name
                        ))
                    })?;
                touched[k].insert(kr.clone());
                let Some(values) = self
                    .conflict_values(state, path, txn, table, update, (&existing, &row))
                    .await?
                else {
                    continue;
                };
                let mut new: Vec<Datum> = existing.iter().collect();
                let mut values = values.into_iter();
                let set = self.with_sequences(|| {
                    update
                        .set
                        .iter()
                        .map(|(col, default)| {
                            let value = match default {
                                Some(e) => e.eval(&[])?,
                                None => values.next().unwrap_or(Datum::Null),
                            };
                            let typ = &table.desc.columns[*col].typ;
                            Ok((*col, crate::expr::func::assign_cast(value, typ)?))
                        })
                        .collect::<Result<Vec<_>, AdapterError>>()
                })?;
                for (col, value) in set {
                    new[col] = value;
                }
                let new = super::dml::check_row(table, new)?;
                for (j, key) in keys.iter().enumerate() {
                    if let Some(nk) = key_of(&new, key) {
                        touched[j].insert(nk);
                    }
                }
                out.push((existing, -1));
                out.push((new, 1));
            }
        }
        Ok(out)
    }

    /// The values of `update`'s `SET` list that are not `DEFAULT`, for
    /// the conflict of `proposed` with `existing` (`conflict`); `None` if
    /// its `WHERE` condition is not true (then the values are not
    /// computed, as in PostgreSQL). Its subqueries read the transaction's
    /// writes `pending` too.
    async fn conflict_values(
        self: &std::sync::Arc<Self>,
        state: &mut CoordState,
        path: &SearchPath,
        pending: super::txn::TxnReads<'_>,
        table: &CatalogItem,
        update: &ConflictUpdate,
        (existing, proposed): (&Row, &Row),
    ) -> Result<Option<Vec<Datum>>, AdapterError> {
        match &update.values {
            UpdateValues::Scalars { values, condition } => {
                let mut both: Vec<Datum> = existing.iter().collect();
                both.extend(proposed.iter());
                self.with_sequences(|| {
                    if let Some(c) = condition
                        && c.eval(&both)? != Datum::Bool(true)
                    {
                        return Ok(None);
                    }
                    Ok(Some(
                        values
                            .iter()
                            .map(|e| e.eval(&both))
                            .collect::<Result<Vec<_>, _>>()?,
                    ))
                })
            }
            UpdateValues::Query {
                values,
                condition,
                alias,
            } => {
                let columns: Vec<String> = table
                    .desc
                    .columns
                    .iter()
                    .map(|c| Ident::with_quote('"', &c.name).to_string())
                    .collect();
                let columns = columns.join(", ");
                let literals = |row: &Row| {
                    row.iter()
                        .zip(&table.desc.columns)
                        .map(|(d, c)| super::dml_sql::datum_literal(&d, &c.typ.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut sql = format!(
                    "SELECT {} FROM (VALUES ({})) AS {alias}({columns}) \
                     CROSS JOIN (VALUES ({})) AS excluded({columns})",
                    if values.is_empty() {
                        "1".to_string()
                    } else {
                        values.join(", ")
                    },
                    literals(existing),
                    literals(proposed),
                );
                if let Some(c) = condition {
                    sql.push_str(&format!(" WHERE {c}"));
                }
                let rows = self.compute_query(state, path, pending, &sql, None).await?;
                let Some((row, _)) = rows.into_iter().find(|(_, d)| *d > 0) else {
                    return Ok(None);
                };
                let mut datums = row.unpack();
                datums.truncate(values.len());
                Ok(Some(datums))
            }
        }
    }
}
