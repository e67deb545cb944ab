//! Whole-row references as the argument of `row_to_json`, `to_json` and
//! `to_jsonb`: `SELECT row_to_json(t) FROM t`, `to_jsonb(s.*)` over a
//! subquery `s`.
//!
//! Freshet has no record type, so the reference is expanded before
//! DataFusion plans the statement: the call becomes one over the
//! relation's columns, each with its name, `freshet_row_to_json('a', t.a,
//! 'b', t.b)` (PostgreSQL's compact `{"a":1,"b":"x"}`) or
//! `jsonb_build_object('a', t.a, ...)` (which prints as `to_jsonb` of
//! the row does). The columns come from planning the query's `FROM`
//! alone (`SELECT * FROM ...`), whose schema keeps each column's relation.
//!
//! A name that is both a relation of the `FROM` and one of its columns is
//! the column, as in PostgreSQL. Any other use of a whole-row reference to
//! a table or subquery (`SELECT t FROM t`, `count(t.*)`) is refused with
//! `0A000`, never planned as something else.

use std::ops::ControlFlow;

use datafusion_expr::LogicalPlan;
use sqlparser::ast::{
    Cte, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName,
    OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, Value,
    VisitMut, VisitorMut, With,
};

use super::PlanError;
use super::plan::Resolver;

/// The `json` builder a whole-row `row_to_json` or `to_json` becomes.
pub const ROW_TO_JSON: &str = "freshet_row_to_json";

/// The functions whose whole-row argument is expanded, and what each call
/// becomes.
fn expansion(name: &str) -> Option<&'static str> {
    match name {
        "row_to_json" | "to_json" => Some(ROW_TO_JSON),
        "to_jsonb" => Some("jsonb_build_object"),
        _ => None,
    }
}

/// Whether `e` is a call this module may expand (`row_to_json(t)`,
/// `to_jsonb(t.*)`): its output column keeps the function's name, which
/// the expanded call's does not say ([`super::output_names`]).
pub fn is_row_call(e: &Expr) -> bool {
    row_call_arg(e).is_some()
}

/// The relation name of a call `f(t)` or `f(t.*)` of one of the
/// [`expansion`] functions, and whether it was written `t.*`.
fn row_call_arg(e: &Expr) -> Option<(String, bool)> {
    let Expr::Function(f) = e else {
        return None;
    };
    let [name] = f.name.0.as_slice() else {
        return None;
    };
    expansion(&normalize(name.as_ident()?))?;
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i)))] => {
            Some((normalize(i), false))
        }
        [FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(name))] => {
            Some((single_name(name)?, true))
        }
        _ => None,
    }
}

fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(normalize),
        _ => None,
    }
}

/// Expands the whole-row calls of every query of `statement` (see the
/// module documentation).
pub fn rewrite(resolver: &dyn Resolver, statement: &mut Statement) -> Result<(), PlanError> {
    let mut rewrite = Rewrite {
        resolver,
        withs: Vec::new(),
        froms: Vec::new(),
    };
    match statement.visit(&mut rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewrite<'a> {
    resolver: &'a dyn Resolver,
    /// The `WITH` clauses of the queries being visited, outermost first.
    withs: Vec<Option<With>>,
    /// The names of the tables and subqueries in the `FROM` clauses of
    /// the queries being visited, outermost first.
    froms: Vec<Vec<String>>,
}

/// The names of the relations a query's selects read that a whole-row
/// reference may name.
fn query_relation_names(body: &SetExpr, out: &mut Vec<String>) {
    match body {
        SetExpr::Select(select) => {
            let mut relations = Vec::new();
            from_relations(&select.from, &mut relations);
            out.extend(
                relations
                    .into_iter()
                    .filter(|(_, r)| !matches!(r, Relation::Other))
                    .map(|(n, _)| n),
            );
        }
        SetExpr::SetOperation { left, right, .. } => {
            query_relation_names(left, out);
            query_relation_names(right, out);
        }
        _ => {}
    }
}

impl VisitorMut for Rewrite<'_> {
    type Break = PlanError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
        self.withs.push(query.with.clone());
        let mut names = Vec::new();
        query_relation_names(&query.body, &mut names);
        self.froms.push(names);
        ControlFlow::Continue(())
    }

    // After the queries inside it: a subquery in `FROM` is expanded
    // before the query that reads it is planned for its columns.
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
        let ctes: Vec<Cte> = self
            .withs
            .iter()
            .flatten()
            .flat_map(|w| w.cte_tables.iter().cloned())
            .collect();
        let recursive = self.withs.iter().flatten().any(|w| w.recursive);
        self.withs.pop();
        self.froms.pop();
        let scope = Scope {
            resolver: self.resolver,
            ctes,
            recursive,
            outer: self.froms.concat(),
        };
        // The leftmost select of the statement's own query is named by
        // `output_names`; the items of any other keep the function's name
        // with an alias, so that an outer query can read them by it.
        let top = self.withs.is_empty();
        match rewrite_query(&scope, query, top) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// What a query's `FROM` can see: the catalog and the `WITH` queries
/// around it.
struct Scope<'a> {
    resolver: &'a dyn Resolver,
    ctes: Vec<Cte>,
    recursive: bool,
    /// The relations of the queries around this one ([`check_outer_rows`]).
    outer: Vec<String>,
}

fn rewrite_query(scope: &Scope<'_>, query: &mut Query, top: bool) -> Result<(), PlanError> {
    match query.body.as_mut() {
        SetExpr::Select(select) => {
            let order_by = query.order_by.as_mut().and_then(|o| match &mut o.kind {
                OrderByKind::Expressions(exprs) => Some(exprs),
                OrderByKind::All(_) => None,
            });
            let mut order_exprs: Vec<&mut Expr> = match order_by {
                Some(exprs) => exprs.iter_mut().map(|o| &mut o.expr).collect(),
                None => Vec::new(),
            };
            rewrite_select(scope, select, &mut order_exprs, !top)
        }
        body => rewrite_set_expr(scope, body, !top),
    }
}

/// The selects of a set operation (whose `ORDER BY` names output columns).
fn rewrite_set_expr(
    scope: &Scope<'_>,
    body: &mut SetExpr,
    name_items: bool,
) -> Result<(), PlanError> {
    match body {
        SetExpr::Select(select) => rewrite_select(scope, select, &mut [], name_items),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(scope, left, name_items)?;
            rewrite_set_expr(scope, right, true)
        }
        _ => Ok(()),
    }
}

/// A relation of a `FROM` clause that a whole-row reference may name.
#[derive(Clone, Debug)]
enum Relation {
    /// A table, view or `WITH` query, read by name.
    Named {
        name: ObjectName,
        /// Column aliases (`FROM t AS x(p, q)`): PostgreSQL's whole row of
        /// a table keeps the table's own names, which Freshet does not
        /// reproduce.
        column_aliases: bool,
    },
    /// A subquery, with the column aliases it was given.
    Derived {
        query: Box<Query>,
        column_aliases: Vec<String>,
    },
    /// Anything else (a function call, `UNNEST`, a parenthesized join):
    /// left to DataFusion.
    Other,
}

fn from_relations(from: &[TableWithJoins], out: &mut Vec<(String, Relation)>) {
    for t in from {
        relation(&t.relation, out);
        for j in &t.joins {
            relation(&j.relation, out);
        }
    }
}

fn relation(factor: &TableFactor, out: &mut Vec<(String, Relation)>) {
    match factor {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let Some(rel_name) = alias
                .as_ref()
                .map(|a| normalize(&a.name))
                .or_else(|| name.0.last().and_then(|p| p.as_ident()).map(normalize))
            else {
                return;
            };
            out.push((
                rel_name,
                Relation::Named {
                    name: name.clone(),
                    column_aliases: alias.as_ref().is_some_and(|a| !a.columns.is_empty()),
                },
            ));
        }
        TableFactor::Derived {
            subquery,
            alias: Some(alias),
            lateral: false,
            ..
        } => out.push((
            normalize(&alias.name),
            Relation::Derived {
                query: subquery.clone(),
                column_aliases: alias.columns.iter().map(|c| normalize(&c.name)).collect(),
            },
        )),
        TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } => {
            from_relations(std::slice::from_ref(table_with_joins), out);
            if let Some(a) = alias {
                out.push((normalize(&a.name), Relation::Other));
            }
        }
        TableFactor::Table { alias: Some(a), .. }
        | TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::TableFunction { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. }
        | TableFactor::UNNEST { alias: Some(a), .. } => {
            out.push((normalize(&a.name), Relation::Other));
        }
        _ => {}
    }
}

/// A whole-row reference found in an expression.
#[derive(Debug)]
struct Found {
    name: String,
    /// Written `t.*`, which is never a column.
    wildcard: bool,
}

/// Collects the references to `relations` in expressions of one query
/// level (not inside subqueries, which were rewritten on their own).
struct Collect<'a> {
    relations: &'a [(String, Relation)],
    depth: usize,
    found: Vec<Found>,
}

impl Collect<'_> {
    fn is_relation(&self, name: &str) -> bool {
        self.relations
            .iter()
            .any(|(n, r)| n == name && !matches!(r, Relation::Other))
    }
}

impl VisitorMut for Collect<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match e {
            Expr::Identifier(i) if self.is_relation(&normalize(i)) => self.found.push(Found {
                name: normalize(i),
                wildcard: false,
            }),
            Expr::QualifiedWildcard(name, _) => {
                if let Some(n) = single_name(name).filter(|n| self.is_relation(n)) {
                    self.found.push(Found {
                        name: n,
                        wildcard: true,
                    });
                }
            }
            Expr::Function(f) => {
                if let FunctionArguments::List(list) = &f.args {
                    for arg in &list.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(name))
                        | FunctionArg::Named {
                            arg: FunctionArgExpr::QualifiedWildcard(name),
                            ..
                        } = arg
                            && let Some(n) = single_name(name).filter(|n| self.is_relation(n))
                        {
                            self.found.push(Found {
                                name: n,
                                wildcard: true,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The expressions of a select that may hold whole-row references.
fn select_exprs<'s>(select: &'s mut Select, order_by: &'s mut [&mut Expr]) -> Vec<&'s mut Expr> {
    let mut exprs: Vec<&mut Expr> = Vec::new();
    for item in select.projection.iter_mut() {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => exprs.push(e),
            _ => {}
        }
    }
    if let Some(e) = select.selection.as_mut() {
        exprs.push(e);
    }
    if let GroupByExpr::Expressions(group, _) = &mut select.group_by {
        exprs.extend(group.iter_mut());
    }
    if let Some(e) = select.having.as_mut() {
        exprs.push(e);
    }
    if let Some(e) = select.qualify.as_mut() {
        exprs.push(e);
    }
    exprs.extend(order_by.iter_mut().map(|e| &mut **e));
    exprs
}

fn rewrite_select(
    scope: &Scope<'_>,
    select: &mut Select,
    order_by: &mut [&mut Expr],
    name_items: bool,
) -> Result<(), PlanError> {
    let mut relations = Vec::new();
    from_relations(&select.from, &mut relations);
    expand_select(scope, select, order_by, name_items, &relations)?;
    check_outer_rows(scope, select, order_by, &relations)
}

/// Refuses whole-row calls of a relation of an outer query (`SELECT
/// (SELECT row_to_json(t)) FROM t`), whose columns are not planned here.
fn check_outer_rows(
    scope: &Scope<'_>,
    select: &mut Select,
    order_by: &mut [&mut Expr],
    relations: &[(String, Relation)],
) -> Result<(), PlanError> {
    if scope.outer.is_empty() {
        return Ok(());
    }
    struct Outer<'a> {
        outer: &'a [String],
        own: &'a [(String, Relation)],
        depth: usize,
    }
    impl VisitorMut for Outer<'_> {
        type Break = PlanError;
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<PlanError> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<PlanError> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<PlanError> {
            if self.depth == 0
                && let Some((name, _)) = row_call_arg(e)
                && self.outer.contains(&name)
                && !self.own.iter().any(|(n, _)| *n == name)
            {
                return ControlFlow::Break(PlanError::Unsupported(format!(
                    "whole-row reference \"{name}\" to a relation of an outer query"
                )));
            }
            ControlFlow::Continue(())
        }
    }
    let mut check = Outer {
        outer: &scope.outer,
        own: relations,
        depth: 0,
    };
    for e in select_exprs(select, order_by) {
        if let ControlFlow::Break(err) = e.visit(&mut check) {
            return Err(err);
        }
    }
    Ok(())
}

fn expand_select(
    scope: &Scope<'_>,
    select: &mut Select,
    order_by: &mut [&mut Expr],
    name_items: bool,
    relations: &[(String, Relation)],
) -> Result<(), PlanError> {
    if relations.iter().all(|(_, r)| matches!(r, Relation::Other)) {
        return Ok(());
    }
    let mut collect = Collect {
        relations,
        depth: 0,
        found: Vec::new(),
    };
    for e in select_exprs(select, order_by) {
        let _ = e.visit(&mut collect);
    }
    if collect.found.is_empty() {
        return Ok(());
    }
    let found = collect.found;
    let from_plan = plan_from(scope, &select.from, &found)?;
    let schema = from_plan.schema();
    // A name that is also a column is the column.
    let is_column = |name: &str| schema.fields().iter().any(|f| f.name() == name);
    let mut rows: Vec<Row> = Vec::new();
    for f in &found {
        if !f.wildcard && is_column(&f.name) {
            continue;
        }
        let Some((_, rel)) = relations.iter().find(|(n, _)| *n == f.name) else {
            continue;
        };
        if rows.iter().any(|r| r.name == f.name) {
            continue;
        }
        rows.push(Row {
            name: f.name.clone(),
            columns: row_columns(scope, &f.name, rel, schema)?,
            is_column: is_column(&f.name),
        });
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut expand = Expand {
        rows: &rows,
        depth: 0,
    };
    if name_items {
        for item in select.projection.iter_mut() {
            if let SelectItem::UnnamedExpr(e) = item
                && let Some((rel, wildcard)) = row_call_arg(e)
                && expand.row(&rel, wildcard).is_some()
                && let Expr::Function(f) = &*e
                && let Some(name) = f.name.0[0].as_ident().map(normalize)
            {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: quoted(&name),
                };
            }
        }
    }
    for e in select_exprs(select, order_by) {
        if let ControlFlow::Break(err) = e.visit(&mut expand) {
            return Err(err);
        }
    }
    Ok(())
}

/// Plans `SELECT * FROM <from>` with the `WITH` queries in scope, whose
/// input schema holds every column of every relation of `from`.
fn plan_from(
    scope: &Scope<'_>,
    from: &[TableWithJoins],
    found: &[Found],
) -> Result<std::sync::Arc<LogicalPlan>, PlanError> {
    let parsed = sqlparser::parser::Parser::parse_sql(
        &sqlparser::dialect::PostgreSqlDialect {},
        "SELECT * FROM probe",
    );
    let Ok(Some(Statement::Query(mut probe))) = parsed.map(|mut s| s.pop()) else {
        return Err(PlanError::Internal("whole-row probe does not parse".into()));
    };
    if let SetExpr::Select(s) = probe.body.as_mut() {
        s.from = from.to_vec();
    }
    let ctes = referenced_ctes(scope, from);
    if !ctes.is_empty() {
        probe.with = Some(With {
            with_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            recursive: scope.recursive,
            cte_tables: ctes,
        });
    }
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    let unsupported = || {
        PlanError::Unsupported(format!(
            "whole-row reference \"{}\" in this FROM clause",
            names.first().copied().unwrap_or_default()
        ))
    };
    // A `WITH RECURSIVE` query reading itself would probe itself again.
    let depth = PROBE_DEPTH.with(|d| d.get());
    if depth >= MAX_PROBE_DEPTH {
        return Err(unsupported());
    }
    PROBE_DEPTH.with(|d| d.set(depth + 1));
    let planned = super::plan::plan_statement(scope.resolver, Statement::Query(probe));
    PROBE_DEPTH.with(|d| d.set(depth));
    let plan = match planned {
        Ok(plan) => plan,
        // A `FROM` that reads the columns of an outer query (`LATERAL`)
        // does not plan alone.
        Err(PlanError::UnknownColumn(_) | PlanError::MissingFromEntry { .. }) => {
            return Err(unsupported());
        }
        Err(e) => return Err(e),
    };
    // The projection `*` over the `FROM`: its input has every column,
    // those that `USING` merges included.
    let mut node = &plan;
    loop {
        match node {
            LogicalPlan::Projection(p) => return Ok(p.input.clone()),
            other => match other.inputs().as_slice() {
                [input] => node = *input,
                _ => return Err(unsupported()),
            },
        }
    }
}

thread_local! {
    /// How many [`plan_from`] probes are being planned on this thread,
    /// one inside the other.
    static PROBE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Probes planned inside probes (a subquery's `FROM` inside a `WITH`
/// query's ...) beyond this many are refused: only a `WITH RECURSIVE`
/// query that reads itself gets there.
const MAX_PROBE_DEPTH: usize = 16;

/// The `WITH` queries of `scope` that `from` reads, directly or through
/// one another; an inner one hides an outer one of the same name.
fn referenced_ctes(scope: &Scope<'_>, from: &[TableWithJoins]) -> Vec<Cte> {
    let mut visible: Vec<&Cte> = Vec::new();
    for cte in scope.ctes.iter().rev() {
        if !visible
            .iter()
            .any(|c| normalize(&c.alias.name) == normalize(&cte.alias.name))
        {
            visible.push(cte);
        }
    }
    let mut wanted: Vec<String> = Vec::new();
    let mut pending = relation_names(from);
    while let Some(name) = pending.pop() {
        if wanted.contains(&name) {
            continue;
        }
        if let Some(cte) = visible.iter().find(|c| normalize(&c.alias.name) == name) {
            wanted.push(name);
            let mut body = cte.query.clone();
            let mut names = RelationNames(Vec::new());
            let _ = body.visit(&mut names);
            pending.extend(names.0);
        }
    }
    // In the order they were written: one may read an earlier one.
    scope
        .ctes
        .iter()
        .filter(|c| wanted.contains(&normalize(&c.alias.name)))
        .filter(|c| visible.iter().any(|v| std::ptr::eq(*v, *c)))
        .cloned()
        .collect()
}

/// The one-part relation names a `FROM` reads (its subqueries' included).
fn relation_names(from: &[TableWithJoins]) -> Vec<String> {
    let mut names = RelationNames(Vec::new());
    let mut from = from.to_vec();
    let _ = from.visit(&mut names);
    names.0
}

struct RelationNames(Vec<String>);

impl VisitorMut for RelationNames {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        if let Some(name) = single_name(relation) {
            self.0.push(name);
        }
        ControlFlow::Continue(())
    }
}

/// One column of a whole row: the name it has in the JSON object and the
/// reference that reads it.
#[derive(Clone, Debug)]
struct RowColumn {
    key: String,
    reference: Expr,
}

/// The columns of relation `name` of the planned `FROM`, with the names
/// PostgreSQL gives them.
fn row_columns(
    scope: &Scope<'_>,
    name: &str,
    relation: &Relation,
    schema: &datafusion_common::DFSchema,
) -> Result<Vec<RowColumn>, PlanError> {
    let fields: Vec<(&datafusion_common::TableReference, &str)> = schema
        .iter()
        .filter_map(|(q, f)| match q {
            Some(q) if q.table() == name => Some((q, f.name().as_str())),
            _ => None,
        })
        .collect();
    if fields.is_empty() {
        return Err(PlanError::Unsupported(format!(
            "whole-row reference \"{name}\" to a relation without columns"
        )));
    }
    // PostgreSQL's names for the columns of a query (`?column?` for
    // `a + 1`), where DataFusion's are renderings of the expressions.
    let query_names = |query: &Query, aliases: &[String]| -> Vec<Option<String>> {
        let written = super::output_names::select_names(&Statement::Query(Box::new(query.clone())));
        let complete = written.iter().all(Option::is_some);
        (0..fields.len())
            .map(|i| match aliases.get(i) {
                Some(a) => Some(a.clone()),
                None if complete => written.get(i).cloned().flatten().map(|n| n.name),
                None => None,
            })
            .collect()
    };
    let keys: Vec<Option<String>> = match relation {
        Relation::Named {
            column_aliases: true,
            ..
        } => {
            return Err(PlanError::Unsupported(format!(
                "whole-row reference \"{name}\" to a table with column aliases"
            )));
        }
        Relation::Named { name: table, .. } => {
            let cte = match table.0.as_slice() {
                [part] => part.as_ident().and_then(|i| {
                    scope
                        .ctes
                        .iter()
                        .rev()
                        .find(|c| normalize(&c.alias.name) == normalize(i))
                }),
                _ => None,
            };
            match cte {
                Some(c) => {
                    let aliases: Vec<String> =
                        c.alias.columns.iter().map(|c| normalize(&c.name)).collect();
                    query_names(&c.query, &aliases)
                }
                // A table's or view's columns are named in the catalog.
                None => fields.iter().map(|(_, f)| Some(f.to_string())).collect(),
            }
        }
        Relation::Derived {
            query,
            column_aliases,
        } => query_names(query, column_aliases),
        Relation::Other => {
            return Err(PlanError::Unsupported(format!(
                "whole-row reference \"{name}\" to this kind of relation"
            )));
        }
    };
    Ok(fields
        .iter()
        .zip(keys)
        .map(|((qualifier, field), key)| {
            let key = key.unwrap_or_else(|| super::plan::column_name(field));
            let mut parts: Vec<Ident> = qualifier.to_vec().iter().map(|p| quoted(p)).collect();
            parts.push(quoted(field));
            RowColumn {
                key,
                reference: Expr::CompoundIdentifier(parts),
            }
        })
        .collect())
}

fn quoted(s: &str) -> Ident {
    Ident::with_quote('"', s)
}

/// The whole row of one relation of a query's `FROM`.
struct Row {
    name: String,
    columns: Vec<RowColumn>,
    /// The relation has a column of its own name, which the bare name
    /// means (`t.*` is still the whole row).
    is_column: bool,
}

/// Replaces the whole-row calls of one query level by their expansion,
/// and refuses any other whole-row reference.
struct Expand<'a> {
    rows: &'a [Row],
    depth: usize,
}

impl Expand<'_> {
    /// The row named `name`, written `name.*` if `wildcard`.
    fn row(&self, name: &str, wildcard: bool) -> Option<&[RowColumn]> {
        self.rows
            .iter()
            .find(|r| r.name == name && (wildcard || !r.is_column))
            .map(|r| r.columns.as_slice())
    }
}

fn refused(name: &str) -> PlanError {
    PlanError::Unsupported(format!(
        "whole-row reference \"{name}\" other than as the argument of row_to_json, to_json or to_jsonb"
    ))
}

impl VisitorMut for Expand<'_> {
    type Break = PlanError;

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<PlanError> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<PlanError> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<PlanError> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        if let Some((name, wildcard)) = row_call_arg(e)
            && let Some(columns) = self.row(&name, wildcard)
            && let Expr::Function(f) = e
        {
            let function = f.name.0[0]
                .as_ident()
                .map(normalize)
                .and_then(|n| expansion(&n))
                .unwrap_or(ROW_TO_JSON);
            let mut args = Vec::with_capacity(2 * columns.len());
            for c in columns {
                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                    Value::SingleQuotedString(c.key.clone()),
                ))));
                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                    c.reference.clone(),
                )));
            }
            *e = Expr::Function(super::pg_rewrite::call(function, args));
            return ControlFlow::Continue(());
        }
        match e {
            Expr::Identifier(i) if self.row(&normalize(i), false).is_some() => {
                ControlFlow::Break(refused(&normalize(i)))
            }
            Expr::QualifiedWildcard(name, _) => match single_name(name) {
                Some(n) if self.row(&n, true).is_some() => {
                    ControlFlow::Break(refused(&format!("{n}.*")))
                }
                _ => ControlFlow::Continue(()),
            },
            Expr::Function(f) => {
                if let FunctionArguments::List(list) = &f.args {
                    for arg in &list.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(name))
                        | FunctionArg::Named {
                            arg: FunctionArgExpr::QualifiedWildcard(name),
                            ..
                        } = arg
                            && let Some(n) = single_name(name)
                            && self.row(&n, true).is_some()
                        {
                            return ControlFlow::Break(refused(&format!("{n}.*")));
                        }
                    }
                }
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Continue(()),
        }
    }
}
