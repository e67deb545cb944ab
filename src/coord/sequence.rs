//! Statement execution: queries (peeks), DML, SHOW/SET, transactions,
//! EXPLAIN and SUBSCRIBE. DDL lives in [`super::ddl`].

use std::sync::Arc;

use datafusion_expr::LogicalPlan;
use sqlparser::ast::{Expr as SqlExpr, Statement};

use crate::catalog::{Catalog, CatalogItem, ItemKind, SearchPath};
use crate::compute::Command;
use crate::expr::relation::compare_by_keys;
use crate::expr::{EvalError, GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType, SqlState, Timestamp};
use crate::sql::PlanError;
use crate::sql::lower::{Finishing, lower_expr, lower_query};
use crate::sql::parse::{DropKind, FreshetStatement};
use crate::sql::plan::{plan_query, plan_statement};

use super::peek::{PeekPlan, apply_stages};
use super::session::{Session, TransactionState};
use super::txn::TxnReads;
use super::{AdapterError, CoordState, Coordinator, SubscribeResponse};

/// What a statement returns to the client.
pub enum ExecuteResponse {
    /// Rows, with their schema.
    Rows {
        /// The schema.
        desc: RelationDesc,
        /// The rows.
        rows: Vec<Row>,
    },
    /// The rows of `COPY ... TO STDOUT`.
    CopyRows {
        /// The schema.
        desc: RelationDesc,
        /// The rows.
        rows: Vec<Row>,
        /// The format they are written in.
        options: crate::sql::copy::CopyOptions,
    },
    /// `COPY ... FROM STDIN`: the wire layer receives the data and hands
    /// its rows to [`Coordinator::copy_in`].
    CopyIn(super::copy::CopyInTarget),
    /// A completed command: its tag and affected row count.
    Command {
        /// The command tag, e.g. `INSERT 0` or `CREATE TABLE`.
        tag: String,
        /// Rows affected, where the tag reports them.
        rows: Option<usize>,
    },
    /// `BEGIN`.
    TransactionStart,
    /// `COMMIT` / `ROLLBACK`.
    TransactionEnd(&'static str),
    /// A completed command with notices for the client, sent before its
    /// tag.
    CommandWithNotice {
        /// The command tag.
        tag: String,
        /// The notices, in order.
        notices: Vec<Notice>,
    },
    /// A running SUBSCRIBE.
    Subscribe(SubscribeResponse),
    /// The rows of a DML statement's `RETURNING` clause, one per affected
    /// row, and the statement's tag (`INSERT 0`, `UPDATE`, `DELETE`), to
    /// which the wire layer adds the count.
    Returning {
        /// The schema.
        desc: RelationDesc,
        /// The rows.
        rows: Vec<Row>,
        /// The command tag, without the count.
        tag: String,
    },
}

/// A NOTICE (or WARNING) sent with a command's result.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The message.
    pub message: String,
    /// Its DETAIL line(s), if any.
    pub detail: Option<String>,
    /// `None` for a NOTICE (`00000`); a WARNING's SQLSTATE (`BEGIN` in a
    /// transaction block is `25001`).
    pub warning: Option<crate::repr::SqlState>,
}

impl Notice {
    /// A WARNING with its SQLSTATE.
    pub fn warning(code: crate::repr::SqlState, message: &str) -> Notice {
        Notice {
            message: message.to_string(),
            detail: None,
            warning: Some(code),
        }
    }
}

impl From<String> for Notice {
    fn from(message: String) -> Notice {
        Notice {
            message,
            detail: None,
            warning: None,
        }
    }
}

impl ExecuteResponse {
    /// A command without a row count.
    pub fn command(tag: &str) -> ExecuteResponse {
        ExecuteResponse::Command {
            tag: tag.to_string(),
            rows: None,
        }
    }

    /// A command completed with a WARNING (PostgreSQL's `BEGIN` inside a
    /// transaction block, `COMMIT` outside one).
    pub fn with_warning(tag: &str, code: SqlState, message: &str) -> ExecuteResponse {
        ExecuteResponse::CommandWithNotice {
            tag: tag.to_string(),
            notices: vec![Notice::warning(code, message)],
        }
    }
}

/// Parses `sql` (one `SELECT` Freshet wrote, naming relations qualified)
/// and plans it through DataFusion's analyzer only (types coerced, nothing
/// rewritten), for a caller that lowers its select list as expressions.
pub(super) fn plan_select_analyzed(catalog: &Catalog, sql: &str) -> Result<LogicalPlan, PlanError> {
    let stmt = crate::sql::parse::parse_statements(sql)?;
    let Some(FreshetStatement::Sql(s)) = stmt.into_iter().next() else {
        return Err(PlanError::Internal(format!("{sql} did not parse")));
    };
    plan_analyzed(catalog, &super::names::qualified(), *s)
}

/// Plans `stmt` with names resolved along `path`, and analyzes it (types
/// coerced, wildcards expanded) without optimizing it: the plan keeps the
/// shape the statement has.
pub(super) fn plan_analyzed(
    catalog: &Catalog,
    path: &SearchPath,
    stmt: Statement,
) -> Result<LogicalPlan, PlanError> {
    let plan = plan_statement(&catalog.scope(path), stmt)?;
    datafusion_optimizer::Analyzer::new()
        .execute_and_check(
            plan,
            &datafusion_common::config::ConfigOptions::default(),
            |_, _| {},
        )
        .map_err(PlanError::from_datafusion)
}

/// Plans a constant expression cast to `typ` (the DEFAULT of the column
/// named `column`): `42804` where its own type has no assignment cast to
/// `typ`, as in PostgreSQL.
pub fn plan_constant_expr(
    catalog: &Catalog,
    e: &SqlExpr,
    column: &str,
    typ: &ScalarType,
) -> Result<ScalarExpr, PlanError> {
    // A constant reads no relation.
    let mut e = e.clone();
    super::sequence_objects::resolve_sequence_args(
        &mut e,
        Some((catalog, &super::names::qualified())),
    )
    .map_err(|e| match e {
        AdapterError::Plan(p) => p,
        other => PlanError::Internal(other.to_string()),
    })?;
    // The default's own type must have an assignment cast to the
    // column's (an untyped literal is read by the column's type). Planned
    // alone for its type; where that fails, the planning below reports why,
    // as it does for a subquery, which PostgreSQL refuses first (0A000).
    let has_subquery = sqlparser::ast::visit_expressions(&e, |x| {
        if matches!(
            x,
            SqlExpr::Subquery(_) | SqlExpr::Exists { .. } | SqlExpr::InSubquery { .. }
        ) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .is_break();
    if !has_subquery
        && !crate::sql::assignment_casts::is_unknown_literal(&e)
        && let Ok(plan) = plan_select_analyzed(catalog, &format!("SELECT ({e})"))
        && let Some(Some(own)) = super::assignment_checks::column_types(plan.schema()).first()
    {
        crate::sql::assignment_casts::check_assignment(
            Some(own),
            typ,
            column,
            crate::sql::assignment_casts::Assigned::Default,
        )?;
    }
    // A name the constant cannot resolve is a column reference, which
    // PostgreSQL refuses in a DEFAULT with 0A000.
    let plan = plan_select_analyzed(catalog, &format!("SELECT CAST(({e}) AS {})", typ.name()))
        .map_err(|err| {
            if err.code() == crate::repr::SqlState::UNDEFINED_COLUMN {
                PlanError::NotImplemented(
                    "cannot use column reference in DEFAULT expression".into(),
                )
            } else {
                err
            }
        })?;
    match &plan {
        LogicalPlan::Projection(p) if p.expr.len() == 1 => {
            let e = lower_expr(&p.expr[0], p.input.schema())?;
            // A default reads no column; `now()` and its kin take their
            // values when a row is inserted (`dml::resolved_default`),
            // `nextval(...)` draws then. `mz_now()` has no value there.
            let mut reads_column = false;
            e.clone().visit_mut(&mut |x| {
                reads_column |= matches!(
                    x,
                    ScalarExpr::Column(_)
                        | ScalarExpr::Unmaterializable(
                            crate::expr::scalar::UnmaterializableFunc::MzNow
                        )
                )
            });
            if reads_column {
                return Err(PlanError::Unsupported(
                    "a DEFAULT that is not constant".into(),
                ));
            }
            Ok(e)
        }
        _ => Err(PlanError::Internal("unexpected plan for a DEFAULT".into())),
    }
}

/// Plans an expression over the rows of `item` (an index key).
pub fn plan_expr_over(
    catalog: &Catalog,
    item: &CatalogItem,
    e: &SqlExpr,
) -> Result<ScalarExpr, PlanError> {
    let name = crate::catalog::QualifiedName {
        schema: item.schema.clone(),
        item: item.name.clone(),
    };
    let plan = plan_select_analyzed(
        catalog,
        &format!("SELECT {e} FROM {}", name.to_object_name()),
    )?;
    match &plan {
        LogicalPlan::Projection(p) if p.expr.len() == 1 => lower_expr(&p.expr[0], p.input.schema()),
        _ => Err(PlanError::Internal(
            "unexpected plan for an index key".into(),
        )),
    }
}

pub use super::show::show_desc;

/// The columns of EXPLAIN's result.
pub fn explain_desc() -> RelationDesc {
    text_desc(&["logical_plan", "dataflow_plan"])
}

/// A relation of text columns.
pub fn text_desc(names: &[&str]) -> RelationDesc {
    RelationDesc {
        columns: names
            .iter()
            .map(|n| ColumnDesc {
                name: n.to_string(),
                typ: ScalarType::Text,
                nullable: false,
            })
            .collect(),
    }
}

/// A row of text values.
pub(crate) fn text_row(values: &[&str]) -> Row {
    Row::new(
        values
            .iter()
            .map(|v| Datum::String(v.to_string()))
            .collect(),
    )
}

/// Applies a query's finishing (ORDER BY, OFFSET, LIMIT, final projection)
/// to its rows.
pub(super) fn finish(rows: Vec<(Row, i64)>, finishing: &Finishing) -> Result<Vec<Row>, EvalError> {
    let mut expanded: Vec<Row> = Vec::new();
    for (r, d) in rows {
        if d < 0 {
            return Err(EvalError::NegativeMultiplicity("query result".into()));
        }
        for _ in 0..d {
            expanded.push(r.clone());
        }
    }
    if !finishing.order_by.is_empty() {
        // ORDER BY compares values: unpack each row once.
        let mut unpacked: Vec<(Vec<Datum>, Row)> =
            expanded.into_iter().map(|r| (r.unpack(), r)).collect();
        unpacked.sort_by(|a, b| compare_by_keys(&finishing.order_by, &a.0, &b.0));
        expanded = unpacked.into_iter().map(|(_, r)| r).collect();
    }
    let iter = expanded.into_iter().skip(finishing.offset);
    let limited: Vec<Row> = match finishing.limit {
        Some(l) => iter.take(l).collect(),
        None => iter.collect(),
    };
    match &finishing.project {
        None => Ok(limited),
        Some(exprs) => limited
            .into_iter()
            .map(|r| {
                let datums = r.unpack();
                exprs.iter().map(|e| e.eval(&datums)).collect()
            })
            .collect(),
    }
}

/// Runs `f` as one statement of `session`: with the statement's clock
/// (`now()`) and the session's sequence values; an error fails an open
/// transaction block.
pub(super) async fn as_statement<T>(
    session: &mut Session,
    f: impl AsyncFnOnce(&mut Session) -> Result<T, AdapterError>,
) -> Result<T, AdapterError> {
    let clock = statement_clock(session);
    let sequences = session.sequences.clone();
    let cancel = session.statement_cancel();
    let result = super::sequence_objects::with_session_sequences(
        sequences,
        with_statement_clock(clock, cancel, f(session)),
    )
    .await;
    if result.is_err() && session.transaction == TransactionState::InTransaction {
        session.transaction = TransactionState::Failed;
    }
    result
}

impl Coordinator {
    /// Executes one statement for a session.
    pub async fn execute(
        self: &Arc<Self>,
        session: &mut Session,
        stmt: FreshetStatement,
        sql: &str,
    ) -> Result<ExecuteResponse, AdapterError> {
        session.idle_since = None;
        if session.transaction == TransactionState::Failed {
            // COMMIT, ROLLBACK and ROLLBACK TO SAVEPOINT leave the failed
            // state; everything else is refused.
            let ends = matches!(&stmt, FreshetStatement::Sql(s) if matches!(**s, Statement::Commit { .. } | Statement::Rollback { .. }));
            if !ends {
                return Err(failed_transaction());
            }
        }
        as_statement(session, async |session| {
            self.execute_inner(session, stmt, sql).await
        })
        .await
    }

    async fn execute_inner(
        self: &Arc<Self>,
        session: &mut Session,
        stmt: FreshetStatement,
        sql: &str,
    ) -> Result<ExecuteResponse, AdapterError> {
        let path = session.search_path();
        match stmt {
            FreshetStatement::Sql(s) => self.execute_sql(session, *s, sql).await,
            FreshetStatement::Declare { name, statement } => {
                self.declare(session, name, *statement).await
            }
            FreshetStatement::Fetch {
                name,
                count,
                timeout,
            } => self.fetch(session, &name, count, timeout).await,
            FreshetStatement::Close { name } => {
                match name {
                    Some(n) => {
                        if session.cursors.remove(&n).is_none() {
                            return Err(AdapterError::Variable {
                                code: crate::repr::SqlState::INVALID_CURSOR_NAME,
                                message: format!("cursor \"{n}\" does not exist"),
                            });
                        }
                    }
                    None => session.cursors.clear(),
                }
                Ok(ExecuteResponse::command("CLOSE CURSOR"))
            }
            FreshetStatement::Copy(c) if c.direction == crate::sql::copy::CopyDirection::From => {
                self.copy(session, c, &path).await
            }
            FreshetStatement::InsertOverriding { insert, overriding } => {
                self.dml_overriding(session, *insert, Some(overriding))
                    .await
            }
            FreshetStatement::Copy(c) => self.copy(session, c, &path).await,
            FreshetStatement::Show(show, filter) => self.show(session, show, filter).await,
            FreshetStatement::Subscribe(_) if !session.pending_writes.is_empty() => {
                Err(after_writes("SUBSCRIBE"))
            }
            FreshetStatement::ExplainPlan(_) if !session.pending_writes.is_empty() => {
                Err(after_writes("EXPLAIN"))
            }
            FreshetStatement::ExplainPlan(e) => self.explain_plan(e, &path).await,
            _ if !session.pending_writes.is_empty() => Err(after_writes("DDL")),
            FreshetStatement::CreateConnection(_) => {
                let stmt = self.qualify(stmt, &path).await?;
                if let FreshetStatement::CreateConnection(c) = &stmt {
                    self.validate_connection(c).await?;
                }
                self.clone().execute_ddl(stmt, sql, None, &path).await
            }
            FreshetStatement::CreateKafkaSource(_) => {
                let FreshetStatement::CreateKafkaSource(k) = self.qualify(stmt, &path).await?
                else {
                    return Err(AdapterError::Internal("CREATE SOURCE changed kind".into()));
                };
                // Fetches Avro schemas into the statement (outside the
                // coordinator lock) before it is planned and stored.
                let mut k = self.purify_kafka_source(k).await?;
                // The snapshot's bounds are taken from the brokers now,
                // outside the lock, and stored with the source.
                super::source::fix_start_timestamp(&mut k);
                let snapshot = self.lookup_snapshot(&k).await?;
                self.clone()
                    .execute_ddl_with(
                        FreshetStatement::CreateKafkaSource(k),
                        sql,
                        None,
                        &path,
                        snapshot,
                    )
                    .await
            }
            FreshetStatement::CreateSink(_) => {
                let FreshetStatement::CreateSink(s) = self.qualify(stmt, &path).await? else {
                    return Err(AdapterError::Internal("CREATE SINK changed kind".into()));
                };
                self.create_sink_checked(s).await
            }
            FreshetStatement::AlterSecret(s) => self.alter_secret(s, &path).await,
            FreshetStatement::AlterRename(s) => {
                if !session.pending_writes.is_empty() {
                    return Err(after_writes(&format!("ALTER {}", s.kind.sql())));
                }
                self.alter_rename(s, &path).await
            }
            FreshetStatement::CreateLoadGenerator(_)
            | FreshetStatement::AlterSequence(_)
            | FreshetStatement::CommentOnConstraint(_)
            | FreshetStatement::AddIdentity(_)
            | FreshetStatement::CreateSecret(_)
            | FreshetStatement::CreateDefaultIndex { .. } => {
                self.clone().execute_ddl(stmt, sql, None, &path).await
            }
            FreshetStatement::DropObjects {
                kind,
                if_exists,
                names,
                cascade,
            } => {
                let kind = match kind {
                    DropKind::Source => ItemKind::Source,
                    DropKind::Sink => ItemKind::Sink,
                    DropKind::Connection => ItemKind::Connection,
                    DropKind::Secret => ItemKind::Secret,
                };
                self.drop_objects(kind, if_exists, &names, cascade, &path)
                    .await
            }
            FreshetStatement::Subscribe(s) => self.subscribe(s, false, &path).await,
            FreshetStatement::RefreshMaterializedView { name } => {
                self.refresh_materialized_view(&name, &path).await
            }
        }
    }

    /// `REFRESH MATERIALIZED VIEW name`: a materialized view is always up
    /// to date, so this checks only that `name` is one, with PostgreSQL's
    /// errors.
    async fn refresh_materialized_view(
        &self,
        name: &sqlparser::ast::ObjectName,
        path: &crate::catalog::SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let state = self.state.lock().await;
        let item = state
            .catalog
            .resolve(path, name)?
            .ok_or_else(|| PlanError::UnknownItem {
                kind: "relation",
                name: name.to_string(),
            })?;
        let (code, message) = match item.kind {
            ItemKind::MaterializedView => {
                return Ok(ExecuteResponse::command("REFRESH MATERIALIZED VIEW"));
            }
            ItemKind::Table | ItemKind::Source => (
                crate::repr::SqlState::FEATURE_NOT_SUPPORTED,
                format!("\"{}\" is not a materialized view", item.name),
            ),
            _ => (
                crate::repr::SqlState::WRONG_OBJECT_TYPE,
                format!("\"{}\" is not a table or materialized view", item.name),
            ),
        };
        Err(AdapterError::Variable { code, message })
    }

    async fn execute_sql(
        self: &Arc<Self>,
        session: &mut Session,
        stmt: Statement,
        sql: &str,
    ) -> Result<ExecuteResponse, AdapterError> {
        let path = session.search_path();
        match stmt {
            Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::CreateSequence { .. }
            | Statement::CreateSchema { .. }
            | Statement::AlterTable(_)
            | Statement::Comment { .. }
            | Statement::Drop { .. }
            | Statement::Explain { .. }
                if !session.pending_writes.is_empty() =>
            {
                Err(after_writes(&statement_kind(&stmt)))
            }
            Statement::Query(_) => {
                let mut stmt = stmt;
                {
                    let state = self.state.lock().await;
                    super::session_funcs::substitute(&mut stmt, session, &state.catalog)?;
                }
                sleep_pending(session).await?;
                self.query(stmt, &path, session.txn_reads()).await
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                self.dml(session, stmt).await
            }
            // `TRUNCATE a, b` empties the tables as `DELETE FROM` does (one
            // atomic, durable write), with PostgreSQL's tag.
            Statement::Truncate(truncate) => self.truncate(session, &truncate).await,
            Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::CreateSequence { .. }
            | Statement::CreateSchema { .. }
            | Statement::AlterTable(_)
            | Statement::Comment { .. } => {
                self.clone()
                    .execute_ddl(FreshetStatement::Sql(Box::new(stmt)), sql, None, &path)
                    .await
            }
            // `ALTER SCHEMA name OWNER TO role` (`pg_dump` writes one for
            // every schema it creates): as `ALTER TABLE ... OWNER TO`
            // (`alter_table::owner_to`), accepted and changing nothing,
            // since Freshet has no roles.
            Statement::AlterSchema(alter)
                if !alter.operations.is_empty()
                    && alter.operations.iter().all(|op| {
                        matches!(op, sqlparser::ast::AlterSchemaOperation::OwnerTo { .. })
                    }) =>
            {
                let schema = alter
                    .name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .map(super::constraints::ident)
                    .unwrap_or_default();
                let state = self.state.lock().await;
                if !state.catalog.schema_exists(&schema) && !alter.if_exists {
                    return Err(PlanError::UnknownSchema(schema).into());
                }
                Ok(ExecuteResponse::command("ALTER SCHEMA"))
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                use sqlparser::ast::ObjectType;
                if object_type == ObjectType::Schema {
                    return self.drop_schemas(if_exists, &names, cascade, &path).await;
                }
                let kind = match object_type {
                    ObjectType::Table => ItemKind::Table,
                    ObjectType::View => ItemKind::View,
                    ObjectType::MaterializedView => ItemKind::MaterializedView,
                    ObjectType::Index => ItemKind::Index,
                    ObjectType::Sequence => ItemKind::Sequence,
                    other => return Err(PlanError::Unsupported(format!("DROP {other}")).into()),
                };
                self.drop_objects(kind, if_exists, &names, cascade, &path)
                    .await
            }
            Statement::StartTransaction { .. } => {
                if session.transaction != TransactionState::Idle {
                    // PostgreSQL warns and carries on in the open block.
                    return Ok(ExecuteResponse::with_warning(
                        "BEGIN",
                        SqlState::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    ));
                }
                session.transaction = TransactionState::InTransaction;
                session.transaction_start = Some(statement_time());
                Ok(ExecuteResponse::TransactionStart)
            }
            // (`AND CHAIN` outside a block is PostgreSQL's error; sqlparser
            // does not tell it from `AND NO CHAIN`, so both run as before.)
            Statement::Commit { chain: false, .. }
            | Statement::Rollback {
                savepoint: None,
                chain: false,
            } if session.transaction == TransactionState::Idle => {
                let tag = if matches!(stmt, Statement::Commit { .. }) {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                };
                session.end_transaction();
                Ok(ExecuteResponse::with_warning(
                    tag,
                    SqlState::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress",
                ))
            }
            Statement::Commit { .. } => {
                let failed = session.transaction == TransactionState::Failed;
                let result = if failed {
                    Ok(())
                } else {
                    self.commit_pending(session).await
                };
                session.end_transaction();
                result?;
                Ok(ExecuteResponse::TransactionEnd(if failed {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                }))
            }
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => {
                session.rollback_to_savepoint(&name.value)?;
                Ok(ExecuteResponse::command("ROLLBACK"))
            }
            Statement::Rollback { .. } => {
                session.end_transaction();
                Ok(ExecuteResponse::TransactionEnd("ROLLBACK"))
            }
            Statement::Savepoint { name } => {
                session.savepoint(&name.value)?;
                Ok(ExecuteResponse::command("SAVEPOINT"))
            }
            Statement::ReleaseSavepoint { name } => {
                session.release_savepoint(&name.value)?;
                Ok(ExecuteResponse::command("RELEASE"))
            }
            Statement::Set(set) => {
                use sqlparser::ast::Set;
                match set {
                    Set::SingleAssignment {
                        variable, values, ..
                    } => {
                        let name = variable.to_string();
                        // `search_path` is a list of names: a quoted name or
                        // a string stays one name, as written.
                        let list = name.eq_ignore_ascii_case("search_path");
                        let value = values
                            .iter()
                            .map(|v| match v {
                                SqlExpr::Value(v) => match &v.value {
                                    sqlparser::ast::Value::SingleQuotedString(s) if list => {
                                        crate::catalog::names::quote_schema(s)
                                    }
                                    sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
                                    other => other.to_string(),
                                },
                                SqlExpr::Identifier(i) if list && i.quote_style.is_some() => {
                                    crate::catalog::names::quote_schema(&i.value)
                                }
                                SqlExpr::Identifier(i) => i.value.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        if value.eq_ignore_ascii_case("default") {
                            session.reset(&name)?;
                        } else {
                            session.set(&name, &value)?;
                        }
                        Ok(ExecuteResponse::command("SET"))
                    }
                    Set::SetTimeZone { value, .. } => {
                        let v = match value {
                            SqlExpr::Value(v) => match &v.value {
                                sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
                                other => other.to_string(),
                            },
                            other => other.to_string(),
                        };
                        session.set("timezone", &v)?;
                        Ok(ExecuteResponse::command("SET"))
                    }
                    Set::SetTransaction { .. } => Ok(ExecuteResponse::command("SET")),
                    Set::SetNames { charset_name, .. } => {
                        session.set("client_encoding", &charset_name.to_string())?;
                        Ok(ExecuteResponse::command("SET"))
                    }
                    other => Err(PlanError::Unsupported(format!("{other}")).into()),
                }
            }
            Statement::Reset(r) => {
                use sqlparser::ast::Reset;
                match r.reset {
                    Reset::ALL => session.reset("all")?,
                    Reset::ConfigurationParameter(name) => session.reset(&name.to_string())?,
                }
                Ok(ExecuteResponse::command("RESET"))
            }
            Statement::ShowVariable { variable } => {
                let name = crate::coord::session::show_variable_name(&variable);
                // PostgreSQL's spelling of `SHOW transaction_isolation`.
                let name = if name == "transaction isolation level" {
                    "transaction_isolation".to_string()
                } else {
                    name
                };
                if name == "all" {
                    let rows = session.all().map(|(k, v)| text_row(&[k, v])).collect();
                    return Ok(ExecuteResponse::Rows {
                        desc: text_desc(&["name", "setting"]),
                        rows,
                    });
                }
                let name = if name == "time zone" {
                    "timezone".to_string()
                } else {
                    name
                };
                let value = session.get(&name)?.to_string();
                Ok(ExecuteResponse::Rows {
                    desc: text_desc(&[&name]),
                    rows: vec![text_row(&[&value])],
                })
            }
            Statement::Discard { .. } => {
                session.reset("all")?;
                Ok(ExecuteResponse::command("DISCARD ALL"))
            }
            // PostgreSQL's runs the query and reports its timing.
            // (`EXPLAIN (ANALYZE) ...` too, unless `ANALYZE false`/`off`.)
            Statement::Explain {
                analyze, options, ..
            } if analyze
                || options.iter().flatten().any(|o| {
                    o.name.value.eq_ignore_ascii_case("analyze")
                        && o.arg.as_ref().is_none_or(|a| {
                            !matches!(a.to_string().to_lowercase().as_str(), "false" | "off" | "0")
                        })
                }) =>
            {
                Err(PlanError::Unsupported("EXPLAIN ANALYZE".into()).into())
            }
            Statement::Explain { statement, .. } => self.explain(*statement, &path).await,
            other => {
                Err(PlanError::Unsupported(format!("statement {}", statement_kind(&other))).into())
            }
        }
    }

    /// Runs a one-shot query, whose reads see the transaction's writes
    /// `pending`.
    pub async fn query(
        self: &Arc<Self>,
        stmt: Statement,
        path: &SearchPath,
        pending: TxnReads<'_>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let mut state = self.state.lock().await;
        let aliased = crate::sql::plan::explicit_aliases(&stmt);
        let plan = plan_query(&state.catalog.scope(path), stmt)?;
        let desc = crate::sql::plan::plan_desc_with(&plan, &aliased)?;
        let (mut expr, finishing) = lower_query(&plan)?;
        let ts = self.prepare_one_shot(&mut state, &mut expr, path, pending);
        let started = self.start_peek(&mut state, expr, ts);
        drop(state);
        let rows = self.finish_peek(started).await?;
        let rows = finish(rows, &finishing)?;
        Ok(ExecuteResponse::Rows { desc, rows })
    }

    /// Sends the commands that answer `expr` at `ts`: a direct read of an
    /// arrangement where the plan allows one, else a transient dataflow.
    /// Called under the state lock that chose `ts`, so that no later write
    /// reaches the workers (and lets them compact past `ts`) before the
    /// peek does.
    pub(super) fn start_peek(
        &self,
        state: &mut CoordState,
        expr: RelationExpr,
        ts: Timestamp,
    ) -> StartedPeek {
        // Stages that call `nextval` run here, after the rest.
        let (expr, post) = super::peek::sequence_stages(expr);
        let readable = |id| state.readable_at(id, ts);
        match PeekPlan::new(expr, &state.catalog, &readable) {
            PeekPlan::Fast {
                id,
                key,
                stages,
                then,
            } => StartedPeek {
                pending: self.compute.start_peek(id, ts, key),
                stages,
                then,
                post,
                transient: None,
            },
            PeekPlan::Dataflow(expr) => {
                let id = self.create_transient(state, expr, ts);
                StartedPeek {
                    pending: self.compute.start_peek(id, ts, None),
                    stages: Vec::new(),
                    then: None,
                    post,
                    transient: Some(id),
                }
            }
        }
    }

    /// Builds a transient dataflow for `plan` that reads its inputs as of
    /// `as_of`, arranged by whole rows;
    /// the caller drops it (`Command::Drop`) when done.
    pub(super) fn create_transient(
        &self,
        state: &mut CoordState,
        plan: RelationExpr,
        as_of: Timestamp,
    ) -> GlobalId {
        let id = GlobalId(state.next_transient);
        state.next_transient += 1;
        self.compute.send(Command::CreateDataflow {
            id,
            append_only: state.append_only_inputs(&plan),
            plan,
            key: None,
            as_of: Some(as_of),
        });
        id
    }

    /// Waits for a started peek, releases its transient dataflow, and
    /// applies the remaining stages.
    pub(super) async fn finish_peek(
        &self,
        started: StartedPeek,
    ) -> Result<Vec<(Row, i64)>, AdapterError> {
        // A cancelled read drops its transient dataflow as a finished one
        // does; the workers' answer, if it comes, finds no one waiting.
        let result = or_cancel(async { Ok(started.pending.wait().await?) }).await;
        if let Some(id) = started.transient {
            self.compute.send(Command::Drop { id });
        }
        let rows = apply_stages(result?, &started.stages)?;
        let rows = match &started.then {
            Some(aggregate) => aggregate.apply(&rows)?,
            None => rows,
        };
        if started.post.is_empty() {
            return Ok(rows);
        }
        Ok(self.with_sequences(|| apply_stages(rows, &started.post))?)
    }

    /// Chooses a one-shot query's (or DML statement's) read timestamp and
    /// gives its plan the values of that moment: `mz_now()`, `now()` and
    /// its kin, and the rows of the catalog relations it reads, as the
    /// session with search path `path` sees them; inside a transaction,
    /// its reads also see the transaction's writes `pending`
    /// ([`super::txn::read_own_writes`]).
    pub(super) fn prepare_one_shot(
        &self,
        state: &mut CoordState,
        expr: &mut RelationExpr,
        path: &SearchPath,
        pending: TxnReads<'_>,
    ) -> Timestamp {
        super::txn::read_own_writes(expr, pending.writes, &state.catalog);
        let ts = self.read_ts_in(state, expr, pending);
        expr.resolve_mz_now(ts);
        expr.resolve_unmaterializable(statement_time(), statement_start());
        let sequences = &self.sequences;
        expr.resolve_catalog_relations(&|id| {
            crate::catalog::system::rows(id, &state.catalog, path, &*state).or_else(|| {
                // A sequence reads as its one row of values.
                state.catalog.sequence(id)?;
                Some((vec![sequences.row(id)?], 3))
            })
        });
        ts
    }

    /// Computes `expr` at `ts` while holding the state lock.
    pub(super) async fn peek_expr_locked(
        self: &Arc<Self>,
        state: &mut CoordState,
        expr: RelationExpr,
        ts: Timestamp,
    ) -> Result<Vec<(Row, i64)>, AdapterError> {
        let started = self.start_peek(state, expr, ts);
        self.finish_peek(started).await
    }

    async fn explain(
        self: &Arc<Self>,
        stmt: Statement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let plans = self.explain_plans(stmt, path, false).await?;
        Ok(ExecuteResponse::Rows {
            desc: explain_desc(),
            rows: vec![text_row(&[&plans.optimized, &plans.dataflow])],
        })
    }

    /// Materialize's `EXPLAIN [stage] PLAN FOR ...` and `EXPLAIN
    /// [MATERIALIZED] VIEW name`: one column, the stage's plan.
    async fn explain_plan(
        self: &Arc<Self>,
        explain: crate::sql::explain::ExplainPlanStatement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        use crate::sql::explain::{ExplainStage, ExplainTarget};
        let stmt = match explain.target {
            ExplainTarget::Statement(s) => *s,
            ExplainTarget::View(name) => self.view_definition(&name, ItemKind::View, path).await?,
            ExplainTarget::MaterializedView(name) => {
                self.view_definition(&name, ItemKind::MaterializedView, path)
                    .await?
            }
        };
        let raw = explain.stage == ExplainStage::Raw;
        let plans = self.explain_plans(stmt, path, raw).await?;
        let text = match explain.stage {
            ExplainStage::Raw => plans.raw.unwrap_or_default(),
            ExplainStage::Decorrelated | ExplainStage::Optimized => plans.optimized,
            ExplainStage::Physical => plans.dataflow,
        };
        Ok(ExecuteResponse::Rows {
            desc: text_desc(&[explain.stage.column()]),
            rows: vec![text_row(&[&text])],
        })
    }

    /// The `CREATE` statement of the view or materialized view (`kind`)
    /// `name`.
    async fn view_definition(
        self: &Arc<Self>,
        name: &sqlparser::ast::ObjectName,
        kind: ItemKind,
        path: &SearchPath,
    ) -> Result<Statement, AdapterError> {
        let kind_name = kind.name();
        let state = self.state.lock().await;
        let item = state.catalog.resolve_existing(path, name, kind_name)?;
        if item.kind != kind {
            return Err(PlanError::WrongObjectType(format!(
                "\"{}\" is not a {kind_name}",
                item.name
            ))
            .into());
        }
        match crate::sql::parse::parse_statements(&item.create_sql)?.pop() {
            Some(FreshetStatement::Sql(s)) => Ok(*s),
            _ => Err(AdapterError::Internal(format!(
                "the definition of {} does not parse as a view",
                item.name
            ))),
        }
    }

    /// The plans of a query (or a `CREATE [MATERIALIZED] VIEW`'s query);
    /// the plan before optimization only when `raw` asks for it.
    async fn explain_plans(
        self: &Arc<Self>,
        stmt: Statement,
        path: &SearchPath,
        raw: bool,
    ) -> Result<ExplainedPlans, AdapterError> {
        let state = self.state.lock().await;
        // How a one-shot read is answered, for a query only (a view's query
        // is maintained, not peeked).
        let one_shot = matches!(stmt, Statement::Query(_));
        let query = match stmt {
            Statement::Query(_) => stmt,
            Statement::CreateView(cv) => Statement::Query(cv.query),
            other => {
                return Err(
                    PlanError::Unsupported(format!("EXPLAIN {}", statement_kind(&other))).into(),
                );
            }
        };
        let raw = if raw {
            let plan = crate::sql::plan::plan_statement(&state.catalog.scope(path), query.clone())?;
            Some(format!("{}", plan.display_indent()))
        } else {
            None
        };
        let plan = plan_query(&state.catalog.scope(path), query)?;
        let (expr, finishing) = lower_query(&plan)?;
        let mut dataflow = String::new();
        expr.explain_with(0, &mut dataflow, &|id| state.is_append_only(id));
        if !finishing.order_by.is_empty() || finishing.limit.is_some() || finishing.offset > 0 {
            dataflow.push_str(&format!(
                "Finish order_by=[{}] limit={:?} offset={}\n",
                finishing
                    .order_by
                    .iter()
                    .map(|k| format!("{} {}", k.expr, if k.asc { "ASC" } else { "DESC" }))
                    .collect::<Vec<_>>()
                    .join(", "),
                finishing.limit,
                finishing.offset
            ));
        }
        match PeekPlan::new(expr, &state.catalog, &|_| true) {
            _ if !one_shot => {}
            PeekPlan::Fast {
                id,
                key,
                stages,
                then,
            } => {
                let name = state
                    .catalog
                    .get(id)
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                match key {
                    Some(k) => dataflow.push_str(&format!(
                        "Peek: index lookup in {name} for key {}, then {} map/filter/project stage(s)\n",
                        k.iter().map(|d| crate::repr::strconv::format(&d).unwrap_or("null".into())).collect::<Vec<_>>().join(", "),
                        stages.len()
                    )),
                    None => dataflow.push_str(&format!(
                        "Peek: read of {name}, then {} map/filter/project stage(s)\n",
                        stages.len()
                    )),
                }
                if let Some(then) = then {
                    dataflow.push_str(&format!(
                        "Peek: then a global aggregate in the coordinator, then {} map/filter/project stage(s)\n",
                        then.post.len()
                    ));
                }
            }
            PeekPlan::Dataflow(_) => dataflow.push_str("Peek: transient dataflow\n"),
        }
        Ok(ExplainedPlans {
            raw,
            optimized: format!("{}", plan.display_indent()),
            dataflow,
        })
    }
}

/// What `EXPLAIN` shows of a query.
struct ExplainedPlans {
    /// DataFusion's logical plan as planned, when asked for.
    raw: Option<String>,
    /// The logical plan after DataFusion's optimizer.
    optimized: String,
    /// Freshet's dataflow plan, with how a one-shot read is answered.
    dataflow: String,
}

/// A peek whose commands have been sent.
pub(super) struct StartedPeek {
    pending: crate::compute::controller::PendingPeek,
    stages: Vec<crate::compute::render::Mfp>,
    then: Option<crate::coord::peek::GlobalAggregate>,
    /// Stages that call sequence functions, applied last (see
    /// [`super::peek::sequence_stages`]).
    post: Vec<crate::compute::render::Mfp>,
    transient: Option<GlobalId>,
}

/// The error for a statement `what` that cannot see a transaction's
/// pending writes (DDL, `SUBSCRIBE`), after a write in the transaction.
pub(super) fn after_writes(what: &str) -> AdapterError {
    PlanError::Unsupported(format!("{what} in a transaction block that has written")).into()
}

fn statement_kind(s: &Statement) -> String {
    let text = s.to_string();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

tokio::task_local! {
    /// The value of `now()` for the statement [`Coordinator::execute`] is
    /// running (the start of its transaction), and of
    /// `statement_timestamp()` (the statement's own start).
    static STATEMENT_NOW: (i64, i64);
    /// The running statement's view of cancel requests.
    static CANCEL: super::cancel::CancelToken;
}

/// The error for a statement in a failed transaction block.
pub(super) fn failed_transaction() -> AdapterError {
    AdapterError::Variable {
        code: crate::repr::SqlState::IN_FAILED_SQL_TRANSACTION,
        message: "current transaction is aborted, commands ignored until end of transaction block"
            .into(),
    }
}

/// The clock of a statement about to run: the moment `now()` reads (its
/// transaction's start inside `BEGIN ... COMMIT`, else the statement's)
/// and the statement's start.
pub(super) fn statement_clock(session: &Session) -> (i64, i64) {
    let start = wall_clock_micros();
    (session.transaction_start.unwrap_or(start), start)
}

/// Runs a statement's future with its clock (see [`statement_clock`]) and
/// its session's cancel token, which [`or_cancel`] watches.
pub(super) async fn with_statement_clock<T>(
    clock: (i64, i64),
    cancel: super::cancel::CancelToken,
    f: impl std::future::Future<Output = T>,
) -> T {
    STATEMENT_NOW.scope(clock, CANCEL.scope(cancel, f)).await
}

/// Runs `f`, a wait that loses nothing when dropped, unless the running
/// statement is cancelled first (57014).
pub(super) async fn or_cancel<T>(
    f: impl std::future::Future<Output = Result<T, AdapterError>>,
) -> Result<T, AdapterError> {
    match CANCEL.try_with(Clone::clone) {
        Ok(token) => token.or_cancel(f).await,
        Err(_) => f.await,
    }
}

/// Sleeps what the statement's `pg_sleep` calls asked for, unless it is
/// cancelled.
pub(super) async fn sleep_pending(session: &mut Session) -> Result<(), AdapterError> {
    let d = std::mem::take(&mut session.pending_sleep);
    if !d.is_zero() {
        or_cancel(async {
            tokio::time::sleep(d).await;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// The moment the running statement started, for `statement_timestamp()`;
/// outside [`Coordinator::execute`], the wall clock.
pub(super) fn statement_start() -> i64 {
    STATEMENT_NOW
        .try_with(|now| now.1)
        .unwrap_or_else(|_| wall_clock_micros())
}

/// The moment of a statement's transaction, for `now()` and
/// `current_date`: microseconds since 1970-01-01 UTC. Outside
/// [`Coordinator::execute`] (a statement with no session), the wall clock.
pub(super) fn statement_time() -> i64 {
    STATEMENT_NOW
        .try_with(|now| now.0)
        .unwrap_or_else(|_| wall_clock_micros())
}

/// The wall clock: microseconds since 1970-01-01 UTC.
pub(crate) fn wall_clock_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
