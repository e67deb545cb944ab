//! Planning with DataFusion: a [`ContextProvider`] over Freshet's catalog,
//! DataFusion's SQL planner, analyzer (type coercion) and optimizer.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion_common::arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_common::{Result as DfResult, TableReference};
use datafusion_expr::planner::{ContextProvider, ExprPlanner};
use datafusion_expr::{
    AggregateUDF, HigherOrderUDF, LogicalPlan, ScalarUDF, TableSource, WindowUDF,
};
use datafusion_optimizer::{Analyzer, Optimizer, OptimizerContext, OptimizerRule};
use datafusion_sql::planner::{ParserOptions, SqlToRel};
use sqlparser::ast::Statement;

use crate::expr::{GlobalId, RelationExpr};
use crate::repr::RelationDesc;

use super::PlanError;

/// What planning needs to know about a catalog item.
#[derive(Clone, Debug)]
pub struct ResolvedItem {
    /// The item's id.
    pub id: GlobalId,
    /// Its name.
    pub name: String,
    /// Its schema.
    pub desc: RelationDesc,
    /// For a (non-materialized) view: its plan, inlined where it is read.
    pub view: Option<RelationExpr>,
    /// Whether it is a catalog relation that never has rows (`pg_policy`
    /// and the like, see `empty_relations`).
    pub always_empty: bool,
}

/// The parameters (`$n`, as index `n - 1`) that the arguments of table
/// functions in `plan` cast to a type, with that type: the arguments of
/// `generate_series` arrive cast to its form's types
/// (`generate_series::SeriesArgsPlanner`), which PostgreSQL infers for an
/// untyped parameter. DataFusion's `get_parameter_types` does not see them,
/// as they sit in the table source.
pub fn table_function_parameter_types(plan: &LogicalPlan) -> Vec<(usize, crate::repr::ScalarType)> {
    use datafusion_common::tree_node::TreeNodeRecursion;
    let mut found = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Some(f) = scan.source.downcast_ref::<TableFunctionSource>()
        {
            for a in &f.args {
                if let datafusion_expr::Expr::Cast(cast) = a
                    && let datafusion_expr::Expr::Placeholder(p) = cast.expr.as_ref()
                    && let Some(n) = p.id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                    && n >= 1
                    && let Ok(t) = crate::repr::ScalarType::from_field(&cast.field)
                {
                    found.push((n - 1, t));
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// A table function in FROM, as DataFusion's planner sees it.
#[derive(Debug)]
pub struct TableFunctionSource {
    /// The function.
    pub func: crate::expr::relation::TableFunc,
    /// Its (constant) arguments.
    pub args: Vec<datafusion_expr::Expr>,
    schema: SchemaRef,
}

impl TableFunctionSource {
    /// The source of `func` called with `args`, producing rows of `schema`.
    pub fn new(
        func: crate::expr::relation::TableFunc,
        args: Vec<datafusion_expr::Expr>,
        schema: SchemaRef,
    ) -> Self {
        TableFunctionSource { func, args, schema }
    }
}

impl TableSource for TableFunctionSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// The work table of a recursive CTE: what its recursive term reads of
/// the CTE itself.
#[derive(Debug)]
pub struct WorkTableSource {
    /// The CTE's name.
    pub name: String,
    schema: SchemaRef,
}

impl TableSource for WorkTableSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Name resolution, implemented by the catalog.
pub trait Resolver: Send + Sync {
    /// Resolves a possibly-qualified relation name: `Ok(None)` if nothing
    /// by that name is visible, an error for a name that cannot be
    /// resolved at all (an unknown schema or database).
    fn resolve(&self, name: &TableReference) -> Result<Option<ResolvedItem>, PlanError>;
}

/// A catalog item as DataFusion's planner sees it: a schema and an id.
#[derive(Debug)]
pub struct CatalogTableSource {
    /// The resolved item.
    pub item: ResolvedItem,
    schema: SchemaRef,
}

impl TableSource for CatalogTableSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

struct Functions {
    scalars: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    windows: HashMap<String, Arc<WindowUDF>>,
    planners: Vec<Arc<dyn ExprPlanner>>,
    relation_planners: Vec<Arc<dyn datafusion_expr::planner::RelationPlanner>>,
    options: ConfigOptions,
}

static FUNCTIONS: LazyLock<Functions> = LazyLock::new(|| {
    let mut options = ConfigOptions::default();
    options.sql_parser.dialect = datafusion_common::config::Dialect::PostgreSQL;
    options.sql_parser.parse_float_as_decimal = true;
    options.sql_parser.enable_ident_normalization = true;
    options.optimizer.skip_failed_rules = false;
    // Every scalar subquery becomes a join that the dataflow maintains.
    options
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    options.execution.time_zone = Some("+00:00".into());
    let mut scalars = HashMap::new();
    for f in datafusion_functions::all_default_functions() {
        // Functions whose type depends on the configuration: `now()` is a
        // `timestamptz` only with the time zone set.
        let f = f
            .inner()
            .with_updated_config(&options)
            .map(Arc::new)
            .unwrap_or(f);
        scalars.insert(f.name().to_string(), f.clone());
        for alias in f.aliases() {
            scalars.insert(alias.clone(), f.clone());
        }
    }
    // PostgreSQL's array functions, by their names (and the markers of
    // the rewritten `op ANY/ALL (array)`).
    for f in super::array::functions()
        .into_iter()
        .chain(super::array::quantified_functions())
    {
        scalars.insert(f.name().to_string(), f);
    }
    for f in super::values::functions()
        .into_iter()
        .chain(super::pg_funcs::functions())
        .chain(super::array_subquery::functions())
        .chain(super::pg_scalar::functions())
        .chain(super::bitwise::functions())
    {
        scalars.insert(f.name().to_string(), f);
    }
    scalars.retain(|name, _| super::pg_funcs::is_postgres_scalar(name));
    // The sequence functions.
    for f in super::sequence_funcs::functions() {
        scalars.insert(f.name().to_string(), f);
    }
    // The `jsonb` functions.
    for f in super::jsonb::functions() {
        scalars.insert(f.name().to_string(), f);
    }
    // `ARRAY[...]` in the arguments of a function in `FROM`.
    scalars.insert(
        super::unnest_ordinality::CONSTRUCT.to_string(),
        super::array::constructor(),
    );
    // `mz_now()` and the markers of its rewritten comparisons.
    for f in super::temporal::functions() {
        scalars.insert(f.name().to_string(), f);
    }
    // `timezone(zone, ts)`, which `AT TIME ZONE` becomes, and PostgreSQL's
    // `to_char`, `to_timestamp`, `to_date`, `round`, `trunc`, `ceil` and
    // `floor` in place of DataFusion's.
    for f in super::timezone::functions()
        .into_iter()
        .chain(super::formatting::functions())
        .chain(super::rounding::functions())
        .chain(super::numeric_math::functions())
        .chain(super::date_trunc::functions())
    {
        scalars.insert(f.name().to_string(), f);
    }
    let mut aggregates = HashMap::new();
    for f in datafusion_functions_aggregate::all_default_aggregate_functions() {
        aggregates.insert(f.name().to_string(), f.clone());
        for alias in f.aliases() {
            aggregates.insert(alias.clone(), f.clone());
        }
    }
    // `sum` and `avg` with PostgreSQL's result types.
    aggregates.extend(super::aggregate_funcs::aggregate_functions());
    aggregates.retain(|name, _| super::pg_funcs::is_postgres_aggregate(name));
    for f in super::jsonb::aggregate_functions() {
        aggregates.insert(f.name().to_string(), f);
    }
    let planners: Vec<Arc<dyn ExprPlanner>> = vec![
        Arc::new(super::unknown_literals::UnknownLiteralPlanner),
        Arc::new(super::date_arith::DatePlanner),
        Arc::new(super::bitwise::BitwisePlanner),
        Arc::new(super::pg_scalar::ExtractPlanner),
        Arc::new(super::pg_scalar::IntervalPlanner),
        Arc::new(super::pg_scalar::SubstringPlanner),
        Arc::new(super::jsonb::JsonbPlanner),
        Arc::new(super::array::ArrayPlanner),
        Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
        Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
        Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
        Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
    ];
    Functions {
        scalars,
        aggregates,
        windows: super::window_funcs::window_functions(),
        planners,
        relation_planners: vec![
            Arc::new(super::generate_series::SeriesArgsPlanner),
            Arc::new(super::unnest_ordinality::UnnestOrdinalityPlanner),
        ],
        options,
    }
});

/// A [`ContextProvider`] over a [`Resolver`].
pub struct PlanContext<'a> {
    resolver: &'a dyn Resolver,
}

impl<'a> PlanContext<'a> {
    /// A context resolving names through `resolver`.
    pub fn new(resolver: &'a dyn Resolver) -> Self {
        PlanContext { resolver }
    }
}

impl ContextProvider for PlanContext<'_> {
    fn get_table_source(&self, name: TableReference) -> DfResult<Arc<dyn TableSource>> {
        match self.resolver.resolve(&name) {
            Ok(Some(item)) => {
                let schema = Arc::new(item.desc.to_arrow_schema());
                Ok(Arc::new(CatalogTableSource { item, schema }))
            }
            Err(e) => Err(datafusion_common::DataFusionError::External(Box::new(e))),
            Ok(None) => Err(datafusion_common::DataFusionError::Plan(format!(
                "relation \"{}\" does not exist",
                match name.schema() {
                    Some(schema) => format!("{schema}.{}", name.table()),
                    None => name.table().to_string(),
                }
            ))),
        }
    }

    fn get_table_function_source(
        &self,
        name: &str,
        args: Vec<datafusion_expr::Expr>,
    ) -> DfResult<Arc<dyn TableSource>> {
        // `f(...) WITH ORDINALITY`, renamed by `jsonb_table::mark_lateral`:
        // the function's source, with a numbering column.
        if let Some(inner) = name.strip_suffix(super::jsonb_table::WITH_ORDINALITY) {
            let source = self.get_table_function_source(inner, args)?;
            let Some(source) = source.downcast_ref::<TableFunctionSource>() else {
                return Err(datafusion_common::DataFusionError::NotImplemented(format!(
                    "{inner} WITH ORDINALITY"
                )));
            };
            let mut fields: Vec<Field> = source
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("ordinality", DataType::Int64, false));
            return Ok(Arc::new(TableFunctionSource {
                func: crate::expr::relation::TableFunc::WithOrdinality(Box::new(
                    source.func.clone(),
                )),
                args: source.args.clone(),
                schema: Arc::new(datafusion_common::arrow::datatypes::Schema::new(fields)),
            }));
        }
        match name.to_lowercase().as_str() {
            "generate_series" => {
                if !(2..=3).contains(&args.len()) {
                    return Err(datafusion_common::DataFusionError::Plan(
                        "function generate_series takes 2 or 3 arguments".into(),
                    ));
                }
                // The form PostgreSQL chooses gives the column's type. The
                // arguments arrive cast to the form's types
                // (`generate_series::SeriesArgsPlanner`).
                let form =
                    super::generate_series::resolve(&args, &datafusion_common::DFSchema::empty())
                        .map_err(|e| datafusion_common::DataFusionError::External(Box::new(e)))?;
                let schema = Arc::new(datafusion_common::arrow::datatypes::Schema::new(vec![
                    form.output.to_field("generate_series", false),
                ]));
                Ok(Arc::new(TableFunctionSource {
                    func: crate::expr::relation::TableFunc::GenerateSeries,
                    args,
                    schema,
                }))
            }
            "regexp_matches" => {
                if !(2..=3).contains(&args.len()) {
                    return Err(datafusion_common::DataFusionError::Plan(
                        "function regexp_matches takes 2 or 3 arguments".into(),
                    ));
                }
                let schema = Arc::new(datafusion_common::arrow::datatypes::Schema::new(vec![
                    Field::new(
                        "regexp_matches",
                        crate::repr::ScalarType::Array(Box::new(crate::repr::ScalarType::Text))
                            .to_arrow(),
                        true,
                    ),
                ]));
                Ok(Arc::new(TableFunctionSource {
                    func: crate::expr::relation::TableFunc::RegexpMatches,
                    args,
                    schema,
                }))
            }
            other => match super::jsonb_table::table_source(other, args) {
                Some(Ok(source)) => Ok(Arc::new(source)),
                Some(Err(e)) => Err(datafusion_common::DataFusionError::External(Box::new(e))),
                None => Err(datafusion_common::DataFusionError::NotImplemented(format!(
                    "table function {other}"
                ))),
            },
        }
    }

    fn create_cte_work_table(
        &self,
        name: &str,
        schema: SchemaRef,
    ) -> DfResult<Arc<dyn TableSource>> {
        Ok(Arc::new(WorkTableSource {
            name: name.to_string(),
            schema,
        }))
    }

    fn get_type_planner(&self) -> Option<Arc<dyn datafusion_expr::planner::TypePlanner>> {
        Some(Arc::new(FreshetTypePlanner))
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &FUNCTIONS.planners
    }

    fn get_relation_planners(&self) -> &[Arc<dyn datafusion_expr::planner::RelationPlanner>] {
        &FUNCTIONS.relation_planners
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        FUNCTIONS.scalars.get(name).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        FUNCTIONS.aggregates.get(name).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        FUNCTIONS.windows.get(name).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn get_variable_field(&self, _variable_names: &[String]) -> Option<FieldRef> {
        None::<Arc<Field>>
    }

    fn options(&self) -> &ConfigOptions {
        &FUNCTIONS.options
    }

    fn udf_names(&self) -> Vec<String> {
        FUNCTIONS.scalars.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        FUNCTIONS.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        FUNCTIONS.windows.keys().cloned().collect()
    }
}

/// Maps SQL type names to Freshet's types (and their Arrow form, with the
/// exact type in the field metadata): `time` and `timestamp` are
/// microseconds, as in PostgreSQL (DataFusion's default is nanoseconds);
/// `jsonb`, `uuid`, `varchar(n)`, `char(n)` keep what they are.
#[derive(Debug)]
struct FreshetTypePlanner;

impl datafusion_expr::planner::TypePlanner for FreshetTypePlanner {
    fn plan_type_field(&self, sql_type: &sqlparser::ast::DataType) -> DfResult<Option<FieldRef>> {
        // Named, so that DataFusion does not take a cast for a "type-only"
        // one that keeps its input's metadata: `c::text` of a `char(n)`
        // column is `text`, not the `char(n)` it is `Utf8` like.
        match super::types::scalar_type_from_sql(sql_type) {
            Ok(t) => Ok(Some(Arc::new(t.to_field("cast", true)))),
            // A date/time type modifier Freshet cannot honour must not
            // fall back to DataFusion's type, which would ignore it.
            // Nor may a modifier PostgreSQL refuses (`varchar(0)`).
            Err(e)
                if super::types::is_datetime(sql_type)
                    || matches!(e, super::PlanError::InvalidParameter(_)) =>
            {
                Err(datafusion_common::DataFusionError::External(Box::new(e)))
            }
            Err(_) => Ok(None),
        }
    }
}

/// PostgreSQL types an integer literal as `integer` when it fits, and
/// DataFusion as `bigint`: `2147483647 + 1` must overflow. Literals that fit
/// are wrapped in a cast to `int4`, except where a bare integer means a
/// position (`ORDER BY 1`, `GROUP BY 1`) or a count (`LIMIT`, `OFFSET`).
struct IntegerLiterals;

fn is_int4_literal_cast(e: &sqlparser::ast::Expr) -> Option<sqlparser::ast::Expr> {
    use sqlparser::ast::{CastKind, DataType as SqlType, Expr};
    match e {
        Expr::Cast {
            kind: CastKind::DoubleColon,
            expr,
            data_type: SqlType::Int4(None),
            ..
        } if matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, sqlparser::ast::Value::Number(..))) => {
            Some((**expr).clone())
        }
        _ => None,
    }
}

/// A window frame's offsets (`ROWS 2 PRECEDING`) are counts, which
/// DataFusion reads only as bare numbers.
fn unwrap_frame_offsets(expr: &mut sqlparser::ast::Expr) {
    use sqlparser::ast::{Expr, WindowFrameBound, WindowType};
    if let Expr::Function(f) = expr
        && let Some(WindowType::WindowSpec(spec)) = &mut f.over
        && let Some(frame) = &mut spec.window_frame
    {
        for bound in std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut()) {
            if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) =
                bound
                && let Some(inner) = is_int4_literal_cast(e)
            {
                **e = inner;
            }
        }
    }
}

fn unwrap_positions(body: &mut sqlparser::ast::SetExpr) {
    use sqlparser::ast::{GroupByExpr, SetExpr};
    match body {
        SetExpr::Select(select) => {
            if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
                for e in exprs.iter_mut() {
                    if let Some(inner) = is_int4_literal_cast(e) {
                        *e = inner;
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            unwrap_positions(left);
            unwrap_positions(right);
        }
        _ => {}
    }
}

impl sqlparser::ast::VisitorMut for IntegerLiterals {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut sqlparser::ast::Expr) -> std::ops::ControlFlow<()> {
        use sqlparser::ast::{CastKind, DataType as SqlType, Expr, Value};
        unwrap_frame_offsets(expr);
        super::negative_literals::fold(expr);
        if let Expr::Value(v) = expr
            && let Value::Number(n, false) = &v.value
            && n.parse::<i32>().is_ok()
        {
            *expr = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(expr.clone()),
                data_type: SqlType::Int4(None),
                array: false,
                format: None,
            };
        }
        std::ops::ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> std::ops::ControlFlow<()> {
        use sqlparser::ast::{LimitClause, OrderByKind};
        unwrap_positions(&mut query.body);
        if let Some(order_by) = &mut query.order_by
            && let OrderByKind::Expressions(exprs) = &mut order_by.kind
        {
            for o in exprs.iter_mut() {
                if let Some(inner) = is_int4_literal_cast(&o.expr) {
                    o.expr = inner;
                }
            }
        }
        match &mut query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                if let Some(l) = limit
                    && let Some(inner) = is_int4_literal_cast(l)
                {
                    *l = inner;
                }
                if let Some(o) = offset
                    && let Some(inner) = is_int4_literal_cast(&o.value)
                {
                    o.value = inner;
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                if let Some(inner) = is_int4_literal_cast(offset) {
                    *offset = inner;
                }
                if let Some(inner) = is_int4_literal_cast(limit) {
                    *limit = inner;
                }
            }
            None => {}
        }
        if let Some(fetch) = &mut query.fetch
            && let Some(q) = &mut fetch.quantity
            && let Some(inner) = is_int4_literal_cast(q)
        {
            *q = inner;
        }
        std::ops::ControlFlow::Continue(())
    }
}

fn parser_options() -> ParserOptions {
    ParserOptions {
        parse_float_as_decimal: true,
        enable_ident_normalization: true,
        support_varchar_with_length: true,
        enable_options_value_normalization: false,
        collect_spans: false,
        map_string_types_to_utf8view: false,
        default_null_ordering: datafusion_sql::planner::NullOrdering::NullsMax,
    }
}

/// Plans a statement (a query, or DML whose source DataFusion plans) into an
/// analyzed but unoptimized logical plan.
pub fn plan_statement(
    resolver: &dyn Resolver,
    statement: Statement,
) -> Result<LogicalPlan, PlanError> {
    let (visible, aliased) = relation_names(&statement);
    plan_statement_unchecked(resolver, statement).map_err(|e| match e {
        // The qualifier names a relation of the statement, of another
        // query level than the column's (a correlated subquery's): the
        // column is what is missing, as PostgreSQL reports.
        PlanError::MissingFromEntry { table, column, .. } if visible.contains(&table) => {
            PlanError::UnknownColumn(format!("{table}.{column}"))
        }
        // The name of a relation the FROM names otherwise.
        PlanError::MissingFromEntry { table, column, .. } if aliased.contains(&table) => {
            PlanError::MissingFromEntry {
                table,
                column,
                aliased: true,
            }
        }
        e => e,
    })
}

/// The names `statement` gives relations, as PostgreSQL folds them: those
/// a column may be qualified with (each `FROM` item's alias, else its
/// name's last part, and each CTE's name), and the names of the relations
/// an alias renames.
fn relation_names(
    statement: &Statement,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    use super::output_names::normalize as name_of;
    use sqlparser::ast::{Query, TableFactor, Visit, Visitor};
    use std::ops::ControlFlow;
    #[derive(Default)]
    struct Names {
        visible: std::collections::BTreeSet<String>,
        aliased: std::collections::BTreeSet<String>,
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            for cte in q.with.iter().flat_map(|w| &w.cte_tables) {
                self.visible.insert(name_of(&cte.alias.name));
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias, .. } = f
                && let Some(last) = name.0.last().and_then(|p| p.as_ident())
            {
                if alias.is_some() {
                    self.aliased.insert(name_of(last));
                } else {
                    self.visible.insert(name_of(last));
                }
            }
            let alias = match f {
                TableFactor::Table { alias, .. }
                | TableFactor::Derived { alias, .. }
                | TableFactor::Function { alias, .. }
                | TableFactor::UNNEST { alias, .. }
                | TableFactor::TableFunction { alias, .. }
                | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
                _ => None,
            };
            if let Some(a) = alias {
                self.visible.insert(name_of(&a.name));
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names::default();
    let _ = statement.visit(&mut names);
    (names.visible, names.aliased)
}

fn plan_statement_unchecked(
    resolver: &dyn Resolver,
    mut statement: Statement,
) -> Result<LogicalPlan, PlanError> {
    super::pg_syntax::distinct_from_precedence(&mut statement);
    super::pg_syntax::qualified_subscripts(&mut statement);
    super::pg_syntax::check_within_group(&statement)?;
    super::pg_syntax::rewrite_fetch(&mut statement)?;
    // Named as written, before the rewrites below change expressions.
    let names = super::output_names::select_names(&statement);
    super::output_names::alias_window_ordinals(&mut statement, &names);
    super::whole_row::rewrite(resolver, &mut statement)?;
    super::literals::rewrite_exponent_literals(&mut statement)?;
    super::values::rewrite_values(&mut statement);
    super::float_unify::mark_values(&mut statement);
    let _ = sqlparser::ast::VisitMut::visit(&mut statement, &mut IntegerLiterals);
    super::pg_compat::rewrite(&mut statement)?;
    super::row_constructor::rewrite(&mut statement);
    super::row_in_subquery::rewrite(&mut statement)?;
    super::pg_syntax::rewrite(&mut statement);
    super::row_compare::rewrite(&mut statement)?;
    super::bitwise::rewrite(&mut statement);
    super::temporal::rewrite_mz_now(&mut statement)?;
    super::timezone::rewrite(&mut statement);
    super::interval_literals::rewrite(&mut statement)?;
    super::array_subquery::rewrite(&mut statement)?;
    super::pg_rewrite::rewrite(&mut statement)?;
    super::array::rewrite_quantified(&mut statement)?;
    super::select_srf::rewrite(&mut statement)?;
    super::jsonb_table::mark_lateral(&mut statement);
    super::unnest_ordinality::rewrite_from_arrays(&mut statement);
    super::select_subqueries::rewrite(&mut statement);
    super::set_ops_all::mark(&mut statement);
    super::empty_array::check_empty_arrays(&statement)?;
    super::where_aggregates::wrap(&mut statement, &|name| {
        FUNCTIONS.aggregates.contains_key(name)
    });
    check_scalar_subqueries(&statement)?;
    let context = PlanContext::new(resolver);
    let planner = SqlToRel::new_with_options(&context, parser_options());
    super::output_names::name_type_casts(&mut statement, &names);
    let retry = super::output_names::alias_outputs(&statement, &names);
    let unaliased =
        super::column_aliases::has_column_aliases(&statement).then(|| statement.clone());
    let planned = match guard_panics("planner", || planner.sql_statement_to_plan(statement))? {
        Ok(plan) => Ok(plan),
        Err(e) if super::column_aliases::is_alias_count_error(&e.to_string()) => {
            // An alias list naming fewer (or more) columns than there are:
            // completed as PostgreSQL does, and planned again.
            let Some(mut statement) = unaliased else {
                return Err(PlanError::from_datafusion(e));
            };
            let columns_of = |query: sqlparser::ast::Query| {
                let plan = guard_panics("planner", || {
                    planner.sql_statement_to_plan(Statement::Query(Box::new(query)))
                })
                .ok()?
                .ok()?;
                Some(
                    plan.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect(),
                )
            };
            super::column_aliases::complete(&mut statement, &columns_of)?;
            guard_panics("planner", || planner.sql_statement_to_plan(statement))?
                .map_err(PlanError::from_datafusion)
        }
        Err(e) if super::output_names::is_duplicate_name_error(&e.to_string()) => {
            // Output columns that share a name: planned again with unique
            // aliases (`output_names`).
            let Some(aliased) = retry? else {
                return Err(PlanError::from_datafusion(e));
            };
            match guard_panics("planner", || planner.sql_statement_to_plan(aliased))? {
                Ok(plan) => Ok(plan),
                Err(e) if super::output_names::is_duplicate_name_error(&e.to_string()) => Err(
                    PlanError::Unsupported("columns of the same name in a subquery".into()),
                ),
                Err(e) => Err(PlanError::from_datafusion(e)),
            }
        }
        Err(e) => Err(PlanError::from_datafusion(e)),
    }?;
    let planned = guard_panics("planner", || super::float_unify::rewrite(planned))?
        .map_err(PlanError::from_datafusion)?;
    // Aggregates in a subquery's `WHERE`, wrapped for the planner.
    super::where_aggregates::unwrap(planned)
}

/// Refuses, before DataFusion's planner sees them, a scalar subquery with no
/// columns (`(SELECT FROM t)`) or several, and `x IN`, `ANY` or `ALL` over a
/// subquery of several columns, with PostgreSQL's messages, and a row value
/// compared with a subquery (`(a, b) [NOT] IN (SELECT ...)`) that
/// `row_in_subquery` could not rewrite.
fn check_scalar_subqueries(statement: &Statement) -> Result<(), PlanError> {
    use sqlparser::ast::{Expr, SetExpr, Visit, Visitor};
    use std::ops::ControlFlow;
    struct Check;
    impl Visitor for Check {
        type Break = PlanError;
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<PlanError> {
            let no_columns = |body: &SetExpr| matches!(body, SetExpr::Select(select) if select.projection.is_empty());
            // A subquery of more than one column where one value is read
            // (a row comparison has been expanded by `row_compare`).
            let wide = |body: &SetExpr| super::row_in_subquery::width(body).is_some_and(|w| w > 1);
            let wide_subquery = |e: &Expr| matches!(e, Expr::Subquery(q) if wide(q.body.as_ref()));
            match e {
                Expr::Subquery(q) if no_columns(q.body.as_ref()) || wide(q.body.as_ref()) => {
                    ControlFlow::Break(PlanError::Syntax(
                        "subquery must return only one column".into(),
                    ))
                }
                Expr::InSubquery { expr, subquery, .. }
                    if !matches!(expr.as_ref(), Expr::Tuple(_)) && wide(subquery.body.as_ref()) =>
                {
                    ControlFlow::Break(PlanError::Syntax("subquery has too many columns".into()))
                }
                Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. }
                    if wide_subquery(right.as_ref()) =>
                {
                    ControlFlow::Break(match left.as_ref() {
                        Expr::Tuple(_) => PlanError::Unsupported(
                            "row values with ANY or ALL over this subquery".into(),
                        ),
                        _ => PlanError::Syntax("subquery has too many columns".into()),
                    })
                }
                Expr::InSubquery { expr, .. } if matches!(expr.as_ref(), Expr::Tuple(_)) => {
                    ControlFlow::Break(PlanError::Unsupported(
                        "row values with IN or NOT IN a subquery".into(),
                    ))
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match statement.visit(&mut Check) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Plans and optimizes a query.
pub fn plan_query(resolver: &dyn Resolver, statement: Statement) -> Result<LogicalPlan, PlanError> {
    let plan = plan_statement(resolver, statement)?;
    optimize(plan)
}

/// Runs DataFusion's analyzer (type coercion, subquery checks) and optimizer
/// (decorrelation, predicate pushdown, projection pruning, simplification).
pub fn optimize(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    // Every column was resolved when the statement was planned: a column
    // that is missing now was lost by a rewrite of a correlated subquery
    // (a shape the decorrelation does not handle), not named by the user.
    // It is refused as unsupported rather than reported as `42703`.
    let correlated = is_correlated(&plan);
    optimize_resolved(plan).map_err(|e| match e {
        PlanError::UnknownColumn(_) | PlanError::MissingFromEntry { .. } if correlated => {
            PlanError::Unsupported("this form of correlated subquery".into())
        }
        e => e,
    })
}

/// Whether some subquery of `plan` reads a column of a query outside it.
fn is_correlated(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|n| {
        found |= n
            .expressions()
            .iter()
            .any(datafusion_expr::Expr::contains_outer);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

fn optimize_resolved(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    // Aggregates PostgreSQL computes in an outer query: moved there where
    // they are in the select list's scalar subqueries, refused elsewhere.
    let plan = super::outer_aggregates::rewrite(plan)?;
    super::subquery_outer_refs::check_outer_aggregates(&plan)?;
    // `x NOT IN (SELECT y ... WHERE y = x)`: the correlation kept apart
    // from the `x = y` pair.
    let plan = super::lower_not_in::keep_correlation_keys(plan)?;
    // Subqueries in a VALUES list, as select lists.
    let plan = super::values_subqueries::rewrite(plan)?;
    // Subqueries in an aggregate's FILTER, computed in a projection.
    let plan = super::aggregate_filter::rewrite(plan)?;
    // Subqueries whose HAVING or select list above an aggregate without
    // GROUP BY reads the outer row: moved out into the outer query.
    let plan = super::aggregate_row::rewrite(plan)?;
    // Subqueries that read a query two or more levels out.
    let plan = super::outer_levels::rewrite(plan)?;
    // Subqueries that read the outer row outside their filters.
    let plan = super::subquery_outer_refs::rewrite(plan)?;
    // Lateral top-k subqueries, which DataFusion does not decorrelate.
    let plan = super::lateral_top_k::rewrite(plan)?;
    // Correlated subqueries with a LIMIT (`ORDER BY ... LIMIT 1`).
    let plan = super::subquery_top_k::rewrite(plan)?;
    // Correlated scalar subqueries that are not aggregated, which
    // DataFusion's analyzer refuses.
    let plan = super::scalar_subquery::rewrite(plan)?;
    // EXISTS, IN, ANY and ALL where DataFusion makes no semi or anti
    // join of them, as counting scalar subqueries.
    let plan = super::subquery_predicates::rewrite(plan)?;
    // Aggregated ones correlated by other conditions than equalities.
    let plan = super::subquery_domain::rewrite(plan)?;
    // Reads of catalog relations that are always empty.
    let plan = super::empty_relations::rewrite(plan)?;
    // `json` beside another type in a UNION, before coercion casts it.
    super::json::check_unions(&plan)?;
    let mut analyzer = Analyzer::new();
    // First: it reads the operands as written, before the other rewrites.
    analyzer.add_function_rewrite(Arc::new(super::json::JsonOperatorCheck));
    analyzer.add_function_rewrite(Arc::new(super::json::JsonCaseType));
    analyzer.add_function_rewrite(Arc::new(super::float4::Float4Arithmetic));
    analyzer.add_function_rewrite(Arc::new(super::float_compare::FloatCompare));
    analyzer.add_function_rewrite(Arc::new(super::casts::NullIfType));
    analyzer.add_function_rewrite(Arc::new(super::unknown_literals::UnknownLiteralCheck));
    analyzer.add_function_rewrite(Arc::new(super::unknown_literals::TextComparisonCheck));
    analyzer.add_function_rewrite(Arc::new(super::comparison_order::ColumnFirst));
    analyzer.add_function_rewrite(Arc::new(super::integer_args::IntegerArgumentCheck));
    let analyzed = guard_panics("analyzer", || {
        analyzer.execute_and_check(plan, &FUNCTIONS.options, |_, _| {})
    })?
    .map_err(PlanError::from_datafusion)?;
    // What PostgreSQL's constant folding raises, before the optimizer
    // drops the branches no row reaches.
    super::constant_errors::check(&analyzed)?;
    let analyzed = super::constant_errors::fold_strict_nulls(analyzed)?;
    let config = OptimizerContext::new_with_config_options(Arc::new(FUNCTIONS.options.clone()))
        .with_skip_failing_rules(false);
    // DataFusion's expression simplifier folds constants with Arrow's
    // arithmetic, which wraps on overflow: `i64::MAX + 1` would become a
    // wrong answer instead of an error. Freshet evaluates every expression
    // itself, so the rule is left out.
    // `DISTINCT ON` is lowered as a top-1 per group, not as DataFusion's
    // `first_value` aggregates.
    // Projection pruning does not see the outer references of a lateral
    // unnest (`FROM t, unnest(t.a)` would lose `t.a`): such plans keep
    // their columns.
    // `single_distinct_aggregation_to_group_by` turns `sum(x), count(DISTINCT
    // y)` into a `sum` of partial sums, whose type PostgreSQL's `sum` changes
    // (`sum(bigint)` is `numeric`); Freshet evaluates DISTINCT aggregates
    // itself.
    let lateral = super::unnest::has_lateral_join(&analyzed)
        || super::jsonb_table::has_lateral_call(&analyzed);
    let rules = Optimizer::new()
        .rules
        .into_iter()
        .filter(|r| r.name() != "simplify_expressions")
        .filter(|r| r.name() != "single_distinct_aggregation_to_group_by")
        .filter(|r| !(lateral && r.name() == "optimize_projections"))
        // It would push a LIMIT into a cross join's sides, the lateral
        // call's included, which then no longer reads as one (and a
        // lateral side's rows are per left row: the limit is not its own).
        .filter(|r| !(lateral && r.name() == "push_down_limit"))
        .map(|r| -> Arc<dyn OptimizerRule + Send + Sync> {
            if r.name() == "replace_distinct_aggregate" {
                Arc::new(KeepDistinctOn(r))
            } else if r.name() == "eliminate_cross_join" {
                Arc::new(SkipWhen {
                    rule: r,
                    skip: has_null_equal_join,
                })
            } else if r.name() == "common_sub_expression_eliminate" {
                Arc::new(SkipWhen {
                    rule: r,
                    skip: has_aggregate_filter_or_char,
                })
            } else {
                r
            }
        })
        .collect();
    guard_panics("optimizer", || {
        Optimizer::with_rules(rules).optimize(analyzed, &config, |_, _| {})
    })?
    .map_err(PlanError::from_datafusion)
}

/// An optimizer rule that leaves `DISTINCT ON` alone and applies the rule
/// it wraps to every other node.
#[derive(Debug)]
struct KeepDistinctOn(Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for KeepDistinctOn {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<datafusion_optimizer::ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn datafusion_optimizer::OptimizerConfig,
    ) -> DfResult<datafusion_common::tree_node::Transformed<LogicalPlan>> {
        if matches!(
            plan,
            LogicalPlan::Distinct(datafusion_expr::Distinct::On(_))
        ) {
            return Ok(datafusion_common::tree_node::Transformed::no(plan));
        }
        self.0.rewrite(plan, config)
    }
}

/// A DataFusion optimizer rule left out of plans where `skip` says it
/// would give a wrong answer (see [`has_null_equal_join`] and
/// [`has_aggregate_filter_or_char`]).
#[derive(Debug)]
struct SkipWhen {
    rule: Arc<dyn OptimizerRule + Send + Sync>,
    skip: fn(&LogicalPlan) -> DfResult<bool>,
}

impl OptimizerRule for SkipWhen {
    fn name(&self) -> &str {
        self.rule.name()
    }

    fn apply_order(&self) -> Option<datafusion_optimizer::ApplyOrder> {
        self.rule.apply_order()
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn datafusion_optimizer::OptimizerConfig,
    ) -> DfResult<datafusion_common::tree_node::Transformed<LogicalPlan>> {
        if (self.skip)(&plan)? {
            return Ok(datafusion_common::tree_node::Transformed::no(plan));
        }
        self.rule.rewrite(plan, config)
    }
}

/// Whether `plan` has a join whose keys match NULLs. DataFusion's
/// `eliminate_cross_join` flattens nested inner joins and rebuilds them all
/// with the top join's NULL equality, so in `a JOIN b ON a.x IS NOT
/// DISTINCT FROM b.x JOIN c ON c.y = b.y` the first join lost its NULL
/// matches (and a `WHERE` equality over such a join gained them): the rule
/// is left out of such plans.
fn has_null_equal_join(plan: &LogicalPlan) -> DfResult<bool> {
    let mut null_equal = false;
    plan.apply_with_subqueries(|n| {
        null_equal |= matches!(n, LogicalPlan::Join(j)
            if j.null_equality == datafusion_common::NullEquality::NullEqualsNull);
        Ok(stop_if(null_equal))
    })?;
    Ok(null_equal)
}

/// Whether `plan` has an aggregate with a `FILTER` or a `char(n)` value
/// anywhere. DataFusion's `common_sub_expression_eliminate` computes an
/// argument that two aggregates share in a projection under the
/// aggregate, for every row, also for rows an aggregate's `FILTER`
/// rejects, so `count(10 / x) FILTER (WHERE x <> 0), sum(10 / x) FILTER
/// (WHERE x > 0)` divided by zero where PostgreSQL answers; and the column
/// it computes a shared expression in has lost a `char(n)` type (its field
/// metadata), so `length(coalesce(c, c)), coalesce(c, c) || 'x'` counted
/// and kept the padding: the rule is left out of such plans.
fn has_aggregate_filter_or_char(plan: &LogicalPlan) -> DfResult<bool> {
    use datafusion_common::tree_node::TreeNode as _;
    let mut found = false;
    let is_char = |f: &datafusion_common::arrow::datatypes::Field| {
        matches!(
            crate::repr::ScalarType::from_field(f),
            Ok(crate::repr::ScalarType::Char(_))
        )
    };
    plan.apply_with_subqueries(|n| {
        found |= n.schema().fields().iter().any(|f| is_char(f));
        for e in n.expressions() {
            e.apply(|e| {
                found |= matches!(e, datafusion_expr::Expr::Cast(c) if is_char(&c.field));
                Ok(stop_if(found))
            })?;
        }
        if let LogicalPlan::Aggregate(a) = n {
            for e in &a.aggr_expr {
                e.apply(|e| {
                    found |= matches!(
                        e,
                        datafusion_expr::Expr::AggregateFunction(f) if f.params.filter.is_some()
                    );
                    Ok(stop_if(found))
                })?;
            }
        }
        Ok(stop_if(found))
    })?;
    Ok(found)
}

/// A tree walk's next step: stop once `found`.
fn stop_if(found: bool) -> datafusion_common::tree_node::TreeNodeRecursion {
    if found {
        datafusion_common::tree_node::TreeNodeRecursion::Stop
    } else {
        datafusion_common::tree_node::TreeNodeRecursion::Continue
    }
}

thread_local! {
    /// Set while a DataFusion step runs under [`guard_panics`].
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs a panic hook that reports a panic caught by [`guard_panics`] as
/// a warning (the statement fails, the server carries on) and leaves every
/// other panic to the default hook.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if GUARDED.with(|g| g.get()) {
            tracing::warn!("caught a DataFusion panic, the statement fails: {info}");
        } else {
            default(info)
        }
    }));
}

/// Runs a DataFusion planning step, turning a panic in it (a DataFusion bug
/// on an unusual query) into an error for this statement alone.
fn guard_panics<T>(step: &str, f: impl FnOnce() -> T) -> Result<T, PlanError> {
    let was = GUARDED.with(|g| g.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.map_err(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        PlanError::Internal(format!(
            "the DataFusion {step} failed on this query: {detail}"
        ))
    })
}

/// The output schema of a plan, as Freshet types.
pub fn plan_desc(plan: &LogicalPlan) -> Result<RelationDesc, PlanError> {
    plan_desc_with(plan, &[])
}

/// The output schema of a plan, as Freshet types; `aliased[i]` says that
/// output column `i` was named with `AS` (see [`explicit_aliases`]), so
/// its name is kept exactly as written.
pub fn plan_desc_with(plan: &LogicalPlan, aliased: &[bool]) -> Result<RelationDesc, PlanError> {
    let schema = plan.schema();
    let mut columns = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let typ = crate::repr::ScalarType::from_field(field).map_err(PlanError::Unsupported)?;
        let name = if aliased.get(i).copied().unwrap_or(false) {
            // As written, unless `output_names` marked it unique.
            super::output_names::strip_mark(field.name())
                .unwrap_or(field.name())
                .to_string()
        } else {
            column_name(field.name())
        };
        columns.push(crate::repr::ColumnDesc {
            name,
            typ,
            nullable: field.is_nullable(),
        });
    }
    Ok(RelationDesc { columns })
}

/// Which output columns of a query its select list names with `AS`
/// (`SELECT x AS "Total (USD)"`), by position, up to its first `*`; for a
/// set operation, its first branch's, which name its columns. Their names
/// are the user's, whatever characters they hold; other names are
/// DataFusion's renderings of expressions, which [`plan_desc`] turns into
/// PostgreSQL's.
pub fn explicit_aliases(statement: &Statement) -> Vec<bool> {
    use sqlparser::ast::SelectItem;
    let Some(select) = super::output_names::leftmost_select(statement) else {
        return Vec::new();
    };
    select
        .projection
        .iter()
        .take_while(|item| {
            !matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        })
        .map(|item| matches!(item, SelectItem::ExprWithAlias { .. }))
        .collect()
}

/// PostgreSQL's name for an output column that DataFusion named after its
/// expression: `sum(t.v)` is `sum`, `t.k` is `k`, other expressions are
/// `?column?`.
pub(super) fn column_name(name: &str) -> String {
    if let Some(name) = super::output_names::strip_mark(name) {
        return name.to_string();
    }
    let is_ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if is_ident(name) {
        return name.to_string();
    }
    if let Some(n) = super::array::column_name(name) {
        return n;
    }
    if let Some((func, _)) = name.split_once('(')
        && is_ident(func)
        && super::array::call_spans_all(name)
        // DataFusion names literals after their Arrow type (`Int64(1)`);
        // its functions are lower case.
        && !func.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return match func.to_lowercase().as_str() {
            "cast" | "try_cast" => "?column?".to_string(),
            f if f.starts_with("freshet_") => "?column?".to_string(),
            f => f.to_string(),
        };
    }
    // An aggregate's `FILTER (WHERE …)` follows its call: the name is the
    // call's when the filter's parenthesis closes at the end.
    if let Some(at) = name.find(") FILTER (WHERE ")
        && super::array::call_spans_all(&name[..=at])
        && super::array::call_spans_all(&name[at + 1..])
    {
        return column_name(&name[..=at]);
    }
    // A window function's name carries its window after the call.
    const WINDOW_MARKERS: &[&str] = &[
        ") PARTITION BY [",
        ") ORDER BY [",
        ") ROWS BETWEEN ",
        ") RANGE BETWEEN ",
        ") GROUPS BETWEEN ",
    ];
    if let Some((func, _)) = name.split_once('(')
        && is_ident(func)
        && !func.starts_with(|c: char| c.is_ascii_uppercase())
        && WINDOW_MARKERS.iter().any(|m| name.contains(m))
    {
        return func.to_lowercase();
    }
    if let Some((qualifier, column)) = name.rsplit_once('.')
        && is_ident(column)
        && qualifier.split('.').all(is_ident)
    {
        return column.to_string();
    }
    "?column?".to_string()
}
