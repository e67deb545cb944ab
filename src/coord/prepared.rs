//! Plans kept for the executions of a prepared query.
//!
//! A query sent with the extended protocol is planned when it is parsed
//! (it fails there if it does not plan, and Describe reports its columns),
//! with its `$n` parameters as DataFusion placeholders. A
//! [`PreparedQuery`] keeps that optimized plan, so that each execution
//! binds the parameters' values into it as literals and lowers it, instead
//! of planning the SQL text again with the values written into it. What
//! depends on the moment of execution is still decided then: the read
//! timestamp, `now()` and `mz_now()`, the system catalog's rows, and the
//! choice between a fast-path read and a dataflow (`prepare_one_shot`,
//! `start_peek`).
//!
//! A plan is kept only where binding gives what planning the text with
//! the values would: a query that calls no session function (those become
//! literals of the session's values before planning), each of whose
//! placeholders DataFusion typed exactly as the statement's parameter
//! type, of a type whose values become Arrow scalars exactly (no
//! `numeric`, no type modifiers). It holds for one catalog version and one
//! search path: after any DDL or `SET search_path` an execution falls back
//! to planning, and `pgwire::server` plans the statement again (failing
//! with PostgreSQL's `cached plan must not change result type` if its
//! columns changed).

use std::sync::Arc;

use datafusion_common::ScalarValue;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_expr::expr::Placeholder;
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::{Expr, LogicalPlan};
use sqlparser::ast::Statement;
use tokio::sync::MutexGuard;

use super::sequence::{ExecuteResponse, finish, statement_clock, with_statement_clock};
use super::session::{Session, TransactionState};
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::SearchPath;
use crate::repr::{Datum, RelationDesc, ScalarType};
use crate::sql::PlanError;
use crate::sql::lower::lower_query;

/// A prepared query's optimized plan, with placeholders for its
/// parameters.
///
/// # Invariants
///
/// Every placeholder in `plan` is `$n` with `1 <= n <= params.len()`, and
/// every occurrence of it is typed `params[n - 1]`, without metadata.
#[derive(Debug)]
pub struct PreparedQuery {
    /// The catalog version the plan was made at.
    catalog_version: u64,
    /// The search path the plan's names were resolved with.
    path: SearchPath,
    /// The optimized plan.
    plan: LogicalPlan,
    /// The result columns, as Describe reported them.
    desc: RelationDesc,
    /// The Arrow type of each parameter, where the plan reads it.
    params: Vec<Option<DataType>>,
}

impl PreparedQuery {
    /// Keeps `plan`, the optimized plan of `stmt` made at catalog version
    /// `catalog_version` with `path`, whose parameters are bound with the
    /// types `param_types` (`None`: one Freshet has no type for), if its
    /// executions may bind their values into it (see the module
    /// documentation).
    pub fn new(
        stmt: &Statement,
        plan: LogicalPlan,
        desc: RelationDesc,
        param_types: &[Option<ScalarType>],
        catalog_version: u64,
        path: SearchPath,
    ) -> Option<PreparedQuery> {
        if !matches!(stmt, Statement::Query(_)) || super::session_funcs::reads_session(stmt) {
            return None;
        }
        let mut params: Vec<Option<DataType>> = vec![None; param_types.len()];
        let mut bindable = true;
        let _ = plan.apply_with_subqueries(|node| {
            // A table function's arguments (`generate_series(1, $1)`) sit
            // in its table source, where binding does not reach them: such
            // a plan is planned again with the values.
            if let LogicalPlan::TableScan(scan) = node
                && let Some(f) = scan
                    .source
                    .downcast_ref::<crate::sql::plan::TableFunctionSource>()
                && f.args.iter().any(|a| {
                    a.exists(|e| Ok(matches!(e, Expr::Placeholder(_))))
                        .unwrap_or(true)
                })
            {
                bindable = false;
                return Ok(TreeNodeRecursion::Stop);
            }
            node.apply_expressions(|e| {
                e.apply(|e| {
                    if let Expr::Placeholder(p) = e {
                        let typed = placeholder_index(p).and_then(|i| {
                            let declared = param_types.get(i)?.as_ref().filter(|t| exact(t))?;
                            let field = p.field.as_ref()?;
                            let t = declared.to_arrow();
                            (field.data_type() == &t && field.metadata().is_empty())
                                .then_some((i, t))
                        });
                        match typed {
                            Some((i, t)) => params[i] = Some(t),
                            None => {
                                bindable = false;
                                return Ok(TreeNodeRecursion::Stop);
                            }
                        }
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        });
        bindable.then_some(PreparedQuery {
            catalog_version,
            path,
            plan,
            desc,
            params,
        })
    }

    /// The catalog version the plan was made at.
    pub fn catalog_version(&self) -> u64 {
        self.catalog_version
    }

    /// The search path the plan was made with.
    pub fn path(&self) -> &SearchPath {
        &self.path
    }

    /// The parameters' values as Arrow scalars of their placeholders'
    /// types; `None` if one is not of its parameter's type.
    fn values(&self, params: &[Datum]) -> Option<Vec<Option<ScalarValue>>> {
        self.params
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                None => Some(None),
                Some(t) => scalar(params.get(i)?, t).map(Some),
            })
            .collect()
    }

    /// The plan with each placeholder replaced by its value. Expressions
    /// keep their names (as DataFusion's own `with_param_values` does), so
    /// that column references above them still resolve; the schemas are
    /// kept, as the literals have the placeholders' types.
    fn bind(&self, values: &[Option<ScalarValue>]) -> Result<LogicalPlan, PlanError> {
        self.plan
            .clone()
            .transform_up_with_subqueries(|node| {
                let names = NamePreserver::new(&node);
                node.map_expressions(|e| {
                    if !e.exists(|e| Ok(matches!(e, Expr::Placeholder(_))))? {
                        return Ok(Transformed::no(e));
                    }
                    let name = names.save(&e);
                    let bound = e.transform_up(|e| match e {
                        Expr::Placeholder(p) => {
                            let value = placeholder_index(&p)
                                .and_then(|i| values.get(i).cloned().flatten())
                                .ok_or_else(|| {
                                    datafusion_common::DataFusionError::Plan(format!(
                                        "there is no parameter {}",
                                        p.id
                                    ))
                                })?;
                            Ok(Transformed::yes(Expr::Literal(value, None)))
                        }
                        e => Ok(Transformed::no(e)),
                    })?;
                    Ok(bound.update_data(|e| name.restore(e)))
                })
            })
            .map(|t| t.data)
            .map_err(PlanError::from_datafusion)
    }
}

/// The index (`n - 1`) of a placeholder `$n`.
fn placeholder_index(p: &Placeholder) -> Option<usize> {
    p.id.strip_prefix('$')?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

/// Whether every value of `t` is one Arrow scalar of `t.to_arrow()`, and
/// that type means `t` alone: the types a placeholder may be bound as.
fn exact(t: &ScalarType) -> bool {
    matches!(
        t,
        ScalarType::Bool
            | ScalarType::Int16
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Float32
            | ScalarType::Float64
            | ScalarType::Text
            | ScalarType::Bytea
            | ScalarType::Date
            | ScalarType::Timestamp(None)
            | ScalarType::TimestampTz(None)
            | ScalarType::Uuid
    )
}

/// `d` as a scalar of type `t`, if it is a value (or NULL) of that type.
fn scalar(d: &Datum, t: &DataType) -> Option<ScalarValue> {
    let value = crate::expr::func::datum_to_scalar(d, t).ok()?;
    let same_kind = matches!(
        (d, t),
        (Datum::Null, _)
            | (Datum::Bool(_), DataType::Boolean)
            | (Datum::Int16(_), DataType::Int16)
            | (Datum::Int32(_), DataType::Int32)
            | (Datum::Int64(_), DataType::Int64)
            | (Datum::Float32(_), DataType::Float32)
            | (Datum::Float64(_), DataType::Float64)
            | (Datum::String(_), DataType::Utf8)
            | (Datum::Bytes(_), DataType::Binary)
            | (Datum::Date(_), DataType::Date32)
            | (Datum::Timestamp(_), DataType::Timestamp(_, None))
            | (Datum::TimestampTz(_), DataType::Timestamp(_, Some(_)))
            | (Datum::Uuid(_), DataType::FixedSizeBinary(16))
    );
    (same_kind && &value.data_type() == t).then_some(value)
}

impl Coordinator {
    /// Executes a prepared query with its parameters' values (`params[i]`
    /// for `$(i + 1)`, decoded as the statement's parameter types), as
    /// [`Coordinator::execute`] would execute its text with the values
    /// written in. `None`, having done nothing, where the plan no longer
    /// holds (the catalog or the session's search path changed) or a value
    /// is not of its parameter's type: the caller then executes the text.
    pub async fn execute_prepared(
        self: &Arc<Self>,
        session: &mut Session,
        query: &PreparedQuery,
        params: &[Datum],
    ) -> Option<Result<ExecuteResponse, AdapterError>> {
        session.idle_since = None;
        let path = session.search_path();
        if path != query.path {
            return None;
        }
        let values = query.values(params)?;
        if session.transaction == TransactionState::Failed {
            return Some(Err(super::sequence::failed_transaction()));
        }
        let clock = statement_clock(session);
        let result = super::sequence_objects::with_session_sequences(
            session.sequences.clone(),
            with_statement_clock(
                clock,
                session.statement_cancel(),
                self.run_prepared(query, &values, &path, session.txn_reads()),
            ),
        )
        .await?;
        if result.is_err() && session.transaction == TransactionState::InTransaction {
            session.transaction = TransactionState::Failed;
        }
        Some(result)
    }

    /// Answers a prepared query (under the statement's clock), reading
    /// the transaction's writes `pending` too; `None` if the catalog
    /// changed since it was planned.
    async fn run_prepared(
        &self,
        query: &PreparedQuery,
        values: &[Option<ScalarValue>],
        path: &SearchPath,
        pending: super::txn::TxnReads<'_>,
    ) -> Option<Result<ExecuteResponse, AdapterError>> {
        let state = self.state.lock().await;
        if state.catalog.version() != query.catalog_version {
            return None;
        }
        Some(
            self.answer_prepared(state, query, values, path, pending)
                .await,
        )
    }

    /// Binds the values, lowers the plan, and reads its rows (and the
    /// transaction's writes `pending`) at a read timestamp chosen now.
    async fn answer_prepared(
        &self,
        mut state: MutexGuard<'_, CoordState>,
        query: &PreparedQuery,
        values: &[Option<ScalarValue>],
        path: &SearchPath,
        pending: super::txn::TxnReads<'_>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let plan = query.bind(values)?;
        let (mut expr, finishing) = lower_query(&plan)?;
        let ts = self.prepare_one_shot(&mut state, &mut expr, path, pending);
        let started = self.start_peek(&mut state, expr, ts);
        drop(state);
        let rows = self.finish_peek(started).await?;
        let rows = finish(rows, &finishing)?;
        Ok(ExecuteResponse::Rows {
            desc: query.desc.clone(),
            rows,
        })
    }
}

/// Whether two result descriptions are the same row type, as PostgreSQL
/// compares a prepared statement's columns when it plans it again: the
/// same number of columns, of the same names and types.
pub fn same_row_type(a: &RelationDesc, b: &RelationDesc) -> bool {
    a.columns.len() == b.columns.len()
        && a.columns
            .iter()
            .zip(&b.columns)
            .all(|(x, y)| x.name == y.name && x.typ == y.typ)
}

/// PostgreSQL's error for a prepared statement whose columns changed since
/// it was prepared (its RowDescription would no longer describe its rows).
pub fn result_type_changed() -> AdapterError {
    AdapterError::Variable {
        code: crate::repr::SqlState::FEATURE_NOT_SUPPORTED,
        message: "cached plan must not change result type".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, CatalogItem, ItemKind};
    use crate::expr::GlobalId;
    use crate::repr::ColumnDesc;
    use crate::sql::parse::{FreshetStatement, parse_statements};
    use crate::sql::plan::{optimize, plan_desc, plan_statement};

    /// A catalog with `public.t (k int NOT NULL, v int, n numeric(10,2), s text)`.
    fn catalog() -> Catalog {
        let mut catalog = Catalog::default();
        catalog.insert_schema("public".into(), GlobalId(0));
        let column = |name: &str, typ: ScalarType| ColumnDesc {
            name: name.into(),
            typ,
            nullable: name != "k",
        };
        catalog.insert(CatalogItem {
            id: GlobalId(1),
            name: "t".into(),
            schema: "public".into(),
            kind: ItemKind::Table,
            desc: RelationDesc {
                columns: vec![
                    column("k", ScalarType::Int32),
                    column("v", ScalarType::Int32),
                    column(
                        "n",
                        ScalarType::Numeric {
                            precision: Some(10),
                            scale: Some(2),
                        },
                    ),
                    column("s", ScalarType::Text),
                ],
            },
            create_sql: String::new(),
            depends_on: vec![],
            plan: None,
            table_columns: vec![],
            index: None,
            owned_by: None,
        });
        catalog
    }

    /// The kept plan of `sql` with parameters of `types`, if one is kept.
    fn prepare(catalog: &Catalog, sql: &str, types: &[ScalarType]) -> Option<PreparedQuery> {
        let path = SearchPath::default();
        let Some(FreshetStatement::Sql(stmt)) = parse_statements(sql).expect("parses").pop() else {
            panic!("{sql} is not SQL");
        };
        let plan = plan_statement(&catalog.scope(&path), (*stmt).clone()).expect("plans");
        let plan = optimize(plan).expect("optimizes");
        let desc = plan_desc(&plan).expect("describes");
        let types: Vec<Option<ScalarType>> = types.iter().cloned().map(Some).collect();
        PreparedQuery::new(&stmt, plan, desc, &types, catalog.version(), path)
    }

    #[test]
    fn keeps_a_plan_only_where_binding_is_exact() {
        let catalog = catalog();
        let cases: &[(&str, &[ScalarType], bool)] = &[
            ("SELECT v FROM t WHERE k = $1", &[ScalarType::Int32], true),
            ("SELECT v FROM t", &[], true),
            (
                "SELECT v FROM t WHERE k > $1 AND k <= $2",
                &[ScalarType::Int32, ScalarType::Int32],
                true,
            ),
            ("SELECT v FROM t WHERE s = $1", &[ScalarType::Text], true),
            // A parameter the client declared of another type than the
            // placeholder's: the text's literal would be that type.
            ("SELECT v FROM t WHERE k = $1", &[ScalarType::Int64], false),
            ("SELECT v FROM t WHERE k = $1", &[ScalarType::Text], false),
            // numeric's Arrow type has a precision and scale of its own.
            (
                "SELECT v FROM t WHERE n = $1",
                &[ScalarType::Numeric {
                    precision: None,
                    scale: None,
                }],
                false,
            ),
        ];
        for (sql, types, kept) in cases {
            assert_eq!(
                prepare(&catalog, sql, types).is_some(),
                *kept,
                "{sql} {types:?}"
            );
        }
    }

    /// Session functions are replaced by the session's values before
    /// planning, so a statement that calls one keeps no plan.
    #[test]
    fn session_functions_are_seen() {
        for (sql, reads) in [
            ("SELECT v FROM t WHERE k = $1", false),
            ("SELECT version(), v FROM t", true),
            ("SELECT v FROM t WHERE s = current_user", true),
            ("SELECT current_setting('search_path')", true),
            ("SELECT * FROM pg_settings", true),
            ("SELECT 'x'::regclass", true),
            ("SELECT unnest(indkey) FROM pg_index", true),
        ] {
            let Some(FreshetStatement::Sql(stmt)) = parse_statements(sql).expect(sql).pop() else {
                panic!("{sql}");
            };
            assert_eq!(
                super::super::session_funcs::reads_session(&stmt),
                reads,
                "{sql}"
            );
        }
    }

    #[test]
    fn binding_replaces_every_placeholder_and_keeps_the_columns() {
        let catalog = catalog();
        let query = prepare(
            &catalog,
            "SELECT v + $2 AS w, k FROM t WHERE k = $1 ORDER BY k LIMIT 5",
            &[ScalarType::Int32, ScalarType::Int32],
        )
        .expect("kept");
        let values = query
            .values(&[Datum::Int32(3), Datum::Null])
            .expect("values of their types");
        let bound = query.bind(&values).expect("binds");
        assert!(bound.get_parameter_names().expect("names").is_empty());
        assert_eq!(
            plan_desc(&bound).expect("describes"),
            plan_desc(&query.plan).unwrap()
        );
        lower_query(&bound).expect("lowers");
        // A value of another type than its parameter's is not bound.
        assert!(query.values(&[Datum::Int64(3), Datum::Null]).is_none());
        assert!(
            query.values(&[Datum::Int32(3)]).is_none(),
            "a missing value"
        );
    }

    #[test]
    fn every_catalog_change_advances_the_version() {
        let mut catalog = catalog();
        let v = catalog.version();
        let item = catalog.remove(GlobalId(1)).expect("t");
        assert!(catalog.version() > v);
        let v = catalog.version();
        catalog.insert(item);
        assert!(catalog.version() > v);
        let v = catalog.version();
        catalog.insert_schema("s".into(), GlobalId(2));
        assert!(catalog.version() > v);
        let v = catalog.version();
        catalog.remove_schema("s");
        assert!(catalog.version() > v);
    }
}
