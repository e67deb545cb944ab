//! `SUBSCRIBE`: starting one (the relation, its `AS OF` and `UP TO`
//! timestamps, its output clause resolved against the relation's columns)
//! and turning each complete timestamp's updates into output rows.
//!
//! The output follows Materialize's:
//! * by default, `mz_timestamp`, `mz_progressed` (with `PROGRESS`),
//!   `mz_diff`, then the relation's columns; the rows of a timestamp in row
//!   order, or in the order `WITHIN TIMESTAMP ORDER BY` gives (which may
//!   name `mz_diff`);
//! * with `ENVELOPE UPSERT (KEY (...))`, one row per key that changed at a
//!   timestamp: `mz_state` instead of `mz_diff`, then the key columns, then
//!   the other columns. One row added is `upsert` with its values, one
//!   removed is `delete` with NULL values, one replaced by another is
//!   `upsert` with the new values; any other mix (two rows for one key) is
//!   `key_violation` with NULL values;
//! * `ENVELOPE DEBEZIUM (KEY (...))` is the same with the old values too:
//!   the key, `before_<col>` and `after_<col>`; an added row is `insert`.
//!
//! `UP TO t` ends the subscribe once every timestamp before `t` has been
//! sent; nothing at or after `t` is.

use std::cmp::Ordering;
use std::sync::Arc;

use sqlparser::ast::{Expr as SqlExpr, OrderByExpr, Value};

use crate::catalog::{ItemKind, SearchPath};
use crate::compute::Command;
use crate::compute::controller::SubscribeStream;
use crate::expr::relation::{SortKey, compare_by_keys};
use crate::expr::{GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType, Timestamp};
use crate::sql::PlanError;
use crate::sql::lower::lower;
use crate::sql::plan::plan_query;
use crate::sql::subscribe::{SubscribeOutput, SubscribeRelation, SubscribeStatement};

use super::{AdapterError, CoordState, Coordinator, ExecuteResponse};

/// A running SUBSCRIBE: its output schema and the stream of updates. Dropping
/// it stops the subscribe and its dataflow.
pub struct SubscribeResponse {
    /// The relation's columns.
    pub desc: RelationDesc,
    /// The output's columns.
    output: RelationDesc,
    /// Whether progress rows are wanted.
    pub progress: bool,
    /// Whether output goes through `COPY`.
    pub copy: bool,
    /// The updates.
    pub stream: SubscribeStream,
    format: OutputFormat,
    /// The first timestamp: progress rows start there.
    as_of: Timestamp,
    /// The last progress row's timestamp.
    last_progress: Option<Timestamp>,
    /// `UP TO`: the first timestamp not sent.
    up_to: Option<Timestamp>,
    /// Every timestamp before `UP TO` has been sent.
    ended: bool,
    guard: SubscribeGuard,
}

/// The output clause, resolved to column positions.
#[derive(Debug, Clone)]
enum OutputFormat {
    /// `mz_diff` and the columns; the rows of a timestamp ordered by these
    /// keys over `[mz_diff, columns...]` (none: in row order).
    Diffs(Vec<SortKey>),
    /// `ENVELOPE UPSERT` or (`debezium`) `ENVELOPE DEBEZIUM`, keyed by these
    /// columns.
    Envelope { key: Vec<usize>, debezium: bool },
}

struct SubscribeGuard {
    coord: Arc<Coordinator>,
    subscribe_id: u64,
    transient: Option<GlobalId>,
}

impl Drop for SubscribeGuard {
    fn drop(&mut self) {
        self.coord.compute.drop_subscribe(self.subscribe_id);
        if let Some(id) = self.transient {
            self.coord.compute.send(Command::Drop { id });
        }
    }
}

impl Coordinator {
    /// Starts `SUBSCRIBE`; `copy` when it runs as `COPY (SUBSCRIBE ...) TO
    /// STDOUT`.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        s: SubscribeStatement,
        copy: bool,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let mut state = self.state.lock().await;
        let (expr, desc) = relation_of(&state, &s.relation, path)?;
        let format = resolve_output(&s.output, &desc)?;
        super::materializable::check_materializable(&expr, "SUBSCRIBE", &state.catalog)?;
        let as_of_given = match &s.as_of {
            Some(a) => Some((timestamp_of(&state.catalog, &a.expr, "AS OF")?, a.at_least)),
            None => None,
        };
        let up_to = match &s.up_to {
            Some(e) => Some(timestamp_of(&state.catalog, e, "UP TO")?),
            None => None,
        };
        let ts = self.read_ts_for(&mut state, &expr);
        let as_of = match as_of_given {
            Some((a, false)) if a < ts => {
                return Err(PlanError::InvalidParameter(format!(
                    "AS OF {a} is before the earliest readable time {ts}"
                ))
                .into());
            }
            Some((a, _)) => a.max(ts),
            None => ts,
        };
        if let Some(u) = up_to
            && u < as_of
        {
            return Err(PlanError::InvalidParameter(format!(
                "UP TO {u} is before the subscribe's start (AS OF {as_of})"
            ))
            .into());
        }
        let (id, transient) = match expr {
            RelationExpr::Get { id, .. } => (id, None),
            other => {
                let id = self.create_transient(&mut state, other, ts);
                (id, Some(id))
            }
        };
        // Sent under the lock that chose `as_of`: no later write can let
        // the workers compact past it first.
        let (subscribe_id, stream) = self.compute.subscribe(id, as_of, s.snapshot);
        drop(state);
        Ok(ExecuteResponse::Subscribe(SubscribeResponse {
            output: output_desc(&desc, s.progress, &format),
            desc,
            progress: s.progress,
            copy,
            stream,
            format,
            as_of,
            last_progress: None,
            up_to,
            ended: false,
            guard: SubscribeGuard {
                coord: self.clone(),
                subscribe_id,
                transient,
            },
        }))
    }
}

impl Coordinator {
    /// The columns a SUBSCRIBE's rows will have, for the extended
    /// protocol's Describe: its relation's, shaped by its output clause.
    pub(crate) async fn describe_subscribe(
        &self,
        s: &SubscribeStatement,
        path: &SearchPath,
    ) -> Result<RelationDesc, AdapterError> {
        let state = self.state.lock().await;
        let (_, desc) = relation_of(&state, &s.relation, path)?;
        let format = resolve_output(&s.output, &desc)?;
        Ok(output_desc(&desc, s.progress, &format))
    }
}

/// What a SUBSCRIBE reads: the expression and its columns.
fn relation_of(
    state: &CoordState,
    relation: &SubscribeRelation,
    path: &SearchPath,
) -> Result<(RelationExpr, RelationDesc), AdapterError> {
    Ok(match relation {
        SubscribeRelation::Name(name) => {
            let item = state.catalog.resolve_existing(path, name, "relation")?;
            let expr = match (&item.kind, &item.plan) {
                (ItemKind::View, Some(p)) => p.clone(),
                _ => RelationExpr::Get {
                    id: item.id,
                    name: item.name.clone(),
                },
            };
            (expr, item.desc.clone())
        }
        SubscribeRelation::Query(q) => {
            let statement = sqlparser::ast::Statement::Query(q.clone());
            let aliased = crate::sql::plan::explicit_aliases(&statement);
            let plan = plan_query(&state.catalog.scope(path), statement)?;
            (
                lower(&plan)?,
                crate::sql::plan::plan_desc_with(&plan, &aliased)?,
            )
        }
    })
}

/// The position of the column `name` of `desc` (`42703`/`42702` as
/// PostgreSQL reports unknown and ambiguous names).
fn column_position(desc: &RelationDesc, name: &sqlparser::ast::Ident) -> Result<usize, PlanError> {
    let name = if name.quote_style.is_some() {
        name.value.clone()
    } else {
        name.value.to_lowercase()
    };
    let mut found = desc
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name == name);
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(PlanError::AmbiguousColumn(format!(
            "column reference \"{name}\" is ambiguous"
        ))),
        (None, _) => Err(PlanError::UnknownColumn(format!("\"{name}\""))),
    }
}

/// Resolves the output clause's column names against the relation.
fn resolve_output(
    output: &SubscribeOutput,
    desc: &RelationDesc,
) -> Result<OutputFormat, PlanError> {
    match output {
        SubscribeOutput::Diffs => Ok(OutputFormat::Diffs(Vec::new())),
        SubscribeOutput::EnvelopeUpsert(key) | SubscribeOutput::EnvelopeDebezium(key) => {
            let debezium = matches!(output, SubscribeOutput::EnvelopeDebezium(_));
            let mut positions = Vec::with_capacity(key.len());
            for k in key {
                let p = column_position(desc, k)?;
                if positions.contains(&p) {
                    return Err(PlanError::InvalidColumnReference(format!(
                        "column \"{}\" appears more than once in the KEY of ENVELOPE {}",
                        desc.columns[p].name,
                        if debezium { "DEBEZIUM" } else { "UPSERT" }
                    )));
                }
                positions.push(p);
            }
            Ok(OutputFormat::Envelope {
                key: positions,
                debezium,
            })
        }
        SubscribeOutput::WithinTimestampOrderBy(order) => order
            .iter()
            .map(|o| sort_key(o, desc))
            .collect::<Result<_, _>>()
            .map(OutputFormat::Diffs),
    }
}

/// One `WITHIN TIMESTAMP ORDER BY` item: a column of the output after
/// `mz_timestamp` (`mz_diff` or one of the relation's), by name or by
/// position (1 is `mz_diff`).
fn sort_key(o: &OrderByExpr, desc: &RelationDesc) -> Result<SortKey, PlanError> {
    let column = match &o.expr {
        SqlExpr::Identifier(id)
            if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("mz_diff") =>
        {
            0
        }
        SqlExpr::Identifier(id) => column_position(desc, id)? + 1,
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => match n.parse::<usize>() {
                Ok(p) if (1..=desc.arity() + 1).contains(&p) => p - 1,
                _ => {
                    return Err(PlanError::InvalidColumnReference(format!(
                        "WITHIN TIMESTAMP ORDER BY position {n} is not in select list"
                    )));
                }
            },
            _ => return Err(order_by_expression()),
        },
        _ => return Err(order_by_expression()),
    };
    let asc = o.options.asc.unwrap_or(true);
    Ok(SortKey {
        expr: ScalarExpr::Column(column),
        asc,
        // PostgreSQL's defaults: NULLs sort as if larger than any value.
        nulls_first: o.options.nulls_first.unwrap_or(!asc),
    })
}

fn order_by_expression() -> PlanError {
    PlanError::Unsupported(
        "expressions in WITHIN TIMESTAMP ORDER BY (name a column or mz_diff)".into(),
    )
}

/// Evaluates the timestamp of `AS OF` or `UP TO` (`clause`): a constant
/// that converts to `mz_timestamp` (milliseconds since the Unix epoch), as
/// in Materialize: an integer or integral `numeric`, a `timestamp`,
/// `timestamptz` or `date`, or text holding an integer or a timestamp.
fn timestamp_of(
    catalog: &crate::catalog::Catalog,
    e: &SqlExpr,
    clause: &str,
) -> Result<Timestamp, AdapterError> {
    let plan = super::sequence::plan_select_analyzed(catalog, &format!("SELECT ({e})"))?;
    let datafusion_expr::LogicalPlan::Projection(p) = &plan else {
        return Err(AdapterError::Internal(format!(
            "unexpected plan for {clause}"
        )));
    };
    let [expr] = p.expr.as_slice() else {
        return Err(AdapterError::Internal(format!(
            "unexpected plan for {clause}"
        )));
    };
    let mut scalar = crate::sql::lower::lower_expr(expr, p.input.schema())?;
    let mut reads_mz_now = false;
    scalar.visit_mut(&mut |x| {
        reads_mz_now |= matches!(
            x,
            ScalarExpr::Unmaterializable(crate::expr::scalar::UnmaterializableFunc::MzNow)
        )
    });
    if reads_mz_now {
        return Err(PlanError::Unsupported(format!("mz_now() in {clause}")).into());
    }
    // `now()` and its kin are the statement's transaction time.
    scalar.resolve_unmaterializable(
        super::sequence::statement_time(),
        super::sequence::statement_start(),
    );
    let datum = scalar.eval(&[])?;
    let invalid = |what: &str| -> AdapterError {
        PlanError::InvalidParameter(format!("{clause} {what} is not a valid mz_timestamp")).into()
    };
    let micros_to_ms =
        |us: i64| u64::try_from(us.div_euclid(1000)).map_err(|_| invalid(&us.to_string()));
    match datum {
        Datum::Null => {
            Err(PlanError::InvalidParameter(format!("{clause} must not be NULL")).into())
        }
        Datum::Int16(v) => u64::try_from(v).map_err(|_| invalid(&v.to_string())),
        Datum::Int32(v) => u64::try_from(v).map_err(|_| invalid(&v.to_string())),
        Datum::Int64(v) => u64::try_from(v).map_err(|_| invalid(&v.to_string())),
        Datum::Numeric(n) => {
            if n.clone().fract().is_zero()
                && let Some(v) = n.to_i128().and_then(|v| u64::try_from(v).ok())
            {
                Ok(v)
            } else {
                Err(invalid(&n.to_string()))
            }
        }
        Datum::Timestamp(us) | Datum::TimestampTz(us) => micros_to_ms(us),
        Datum::Date(days) => micros_to_ms(i64::from(days) * 86_400_000_000),
        Datum::String(text) => {
            if let Ok(v) = text.trim().parse::<u64>() {
                Ok(v)
            } else if let Ok(us) = crate::repr::strconv::parse_timestamptz(&text) {
                micros_to_ms(us)
            } else {
                Err(invalid(&format!("'{text}'")))
            }
        }
        _ => Err(PlanError::TypeMismatch(format!(
            "{clause} must be a number, a timestamp, a date or text"
        ))
        .into()),
    }
}

/// The value columns of an envelope: the relation's columns that are
/// not in `key`, in order.
fn value_columns(arity: usize, key: &[usize]) -> impl Iterator<Item = usize> + '_ {
    (0..arity).filter(move |i| !key.contains(i))
}

/// The columns of the subscribe's output: `mz_timestamp`,
/// `mz_progressed` (with PROGRESS), then `mz_diff` and the relation's
/// columns, or an envelope's `mz_state`, key and values.
fn output_desc(desc: &RelationDesc, progress: bool, format: &OutputFormat) -> RelationDesc {
    let mut columns = vec![ColumnDesc {
        name: "mz_timestamp".into(),
        typ: ScalarType::Numeric {
            precision: None,
            scale: None,
        },
        nullable: false,
    }];
    if progress {
        columns.push(ColumnDesc {
            name: "mz_progressed".into(),
            typ: ScalarType::Bool,
            nullable: false,
        });
    }
    let nullable = |c: &ColumnDesc, name: String| ColumnDesc {
        name,
        typ: c.typ.clone(),
        nullable: true,
    };
    match format {
        OutputFormat::Diffs(_) => {
            columns.push(ColumnDesc {
                name: "mz_diff".into(),
                typ: ScalarType::Int64,
                nullable: true,
            });
            columns.extend(desc.columns.iter().map(|c| nullable(c, c.name.clone())));
        }
        OutputFormat::Envelope { key, debezium } => {
            columns.push(ColumnDesc {
                name: "mz_state".into(),
                typ: ScalarType::Text,
                nullable: true,
            });
            let relation = &desc.columns;
            columns.extend(
                key.iter()
                    .map(|k| nullable(&relation[*k], relation[*k].name.clone())),
            );
            if *debezium {
                columns.extend(
                    value_columns(desc.arity(), key)
                        .map(|v| nullable(&relation[v], format!("before_{}", relation[v].name))),
                );
            }
            columns.extend(value_columns(desc.arity(), key).map(|v| {
                let name = if *debezium {
                    format!("after_{}", relation[v].name)
                } else {
                    relation[v].name.clone()
                };
                nullable(&relation[v], name)
            }));
        }
    }
    RelationDesc { columns }
}

impl SubscribeResponse {
    /// The subscribe's id.
    pub fn id(&self) -> u64 {
        self.guard.subscribe_id
    }

    /// The columns of the subscribe's output.
    pub fn output_desc(&self) -> RelationDesc {
        self.output.clone()
    }

    fn value_columns<'a>(&'a self, key: &'a [usize]) -> impl Iterator<Item = usize> + 'a {
        value_columns(self.desc.arity(), key)
    }

    /// Waits for the next complete timestamp(s) that produce output rows
    /// (changes, or a progress row with PROGRESS) and returns the rows.
    /// `Ok(None)` once the subscribe has ended.
    pub async fn next_rows(&mut self) -> Result<Option<Vec<Row>>, AdapterError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let Some(mut update) = self.stream.next().await? else {
                return Ok(None);
            };
            if let Some(up_to) = self.up_to {
                update.updates.retain(|(_, t, _)| *t < up_to);
                if update.upper.is_none_or(|u| u >= up_to) {
                    self.ended = true;
                    update.upper = Some(up_to);
                }
            }
            // Progress reports the frontier, which is never before the
            // first timestamp (the workers may report an earlier one
            // before they reach it), once per advance.
            let progress_to = update
                .upper
                .map(|u| u.max(self.as_of))
                .filter(|u| self.progress && self.last_progress != Some(*u));
            if progress_to.is_some() {
                self.last_progress = progress_to;
            }
            let rows = self.rows_of(&update, progress_to);
            if !rows.is_empty() || update.upper.is_none() || self.ended {
                return Ok(Some(rows));
            }
        }
    }

    /// The output rows of `update`, and a progress row to `progress_to`.
    fn rows_of(
        &self,
        update: &crate::compute::SubscribeUpdate,
        progress_to: Option<Timestamp>,
    ) -> Vec<Row> {
        let mut rows = Vec::with_capacity(update.updates.len() + 1);
        // The updates come in time order; each timestamp is formatted on
        // its own.
        for group in update.updates.chunk_by(|a, b| a.1 == b.1) {
            let ts = group[0].1;
            let prefix = |rows: &mut Vec<Row>, datums: Vec<Datum>| {
                let mut out = vec![Datum::Numeric(ts.into())];
                if self.progress {
                    out.push(Datum::Bool(false));
                }
                out.extend(datums);
                rows.push(Row::new(out));
            };
            match &self.format {
                OutputFormat::Diffs(order) => {
                    let mut unpacked: Vec<Vec<Datum>> = group
                        .iter()
                        .map(|(row, _, diff)| {
                            let mut d = vec![Datum::Int64(*diff)];
                            d.extend(row.iter());
                            d
                        })
                        .collect();
                    // Stable: rows that tie keep their row order.
                    if !order.is_empty() {
                        unpacked.sort_by(|a, b| compare_by_keys(order, a, b));
                    }
                    for datums in unpacked {
                        prefix(&mut rows, datums);
                    }
                }
                OutputFormat::Envelope { key, debezium } => {
                    for datums in self.envelope_rows(group, key, *debezium) {
                        prefix(&mut rows, datums);
                    }
                }
            }
        }
        if let Some(upper) = progress_to {
            let width = self.output.arity() - 2;
            let mut datums = vec![Datum::Numeric(upper.into()), Datum::Bool(true)];
            datums.extend(std::iter::repeat_n(Datum::Null, width));
            rows.push(Row::new(datums));
        }
        rows
    }

    /// The envelope rows (after `mz_timestamp` and `mz_progressed`) of one
    /// timestamp's consolidated updates, one per key, in key order.
    fn envelope_rows(
        &self,
        group: &[(Row, Timestamp, i64)],
        key: &[usize],
        debezium: bool,
    ) -> Vec<Vec<Datum>> {
        let key_order: Vec<SortKey> = key
            .iter()
            .map(|k| SortKey {
                expr: ScalarExpr::Column(*k),
                asc: true,
                nulls_first: false,
            })
            .collect();
        let mut unpacked: Vec<(Vec<Datum>, i64)> = group
            .iter()
            .map(|(row, _, diff)| (row.unpack(), *diff))
            .collect();
        // Within a key, removals first.
        unpacked.sort_by(|a, b| compare_by_keys(&key_order, &a.0, &b.0).then(a.1.cmp(&b.1)));
        let values = self.value_columns(key).count();
        let mut out = Vec::new();
        for same_key in
            unpacked.chunk_by(|a, b| compare_by_keys(&key_order, &a.0, &b.0) == Ordering::Equal)
        {
            let key_datums = key.iter().map(|k| same_key[0].0[*k].clone());
            let value_datums = |row: &[Datum]| {
                self.value_columns(key)
                    .map(|v| row[v].clone())
                    .collect::<Vec<_>>()
            };
            let nulls = || vec![Datum::Null; values];
            let (state, before, after) = match same_key {
                [(row, 1)] => (
                    if debezium { "insert" } else { "upsert" },
                    nulls(),
                    value_datums(row),
                ),
                [(row, -1)] => ("delete", value_datums(row), nulls()),
                [(old, -1), (new, 1)] => ("upsert", value_datums(old), value_datums(new)),
                _ => ("key_violation", nulls(), nulls()),
            };
            let mut datums = vec![Datum::String(state.into())];
            datums.extend(key_datums);
            if debezium {
                datums.extend(before);
            }
            datums.extend(after);
            out.push(datums);
        }
        out
    }
}
