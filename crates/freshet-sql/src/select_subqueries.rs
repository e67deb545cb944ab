//! `EXISTS (subquery)` and `x IN (subquery)` in a select list, which
//! DataFusion does not decorrelate there (only in `WHERE`), rewritten
//! before planning into correlated `count(*)` scalar subqueries, which it
//! does (with the empty-group "count bug" handled):
//!
//! * `EXISTS (SELECT … FROM f WHERE w)` is
//!   `(SELECT count(*) FROM f WHERE w) > 0` (`NOT EXISTS`: `= 0`);
//! * `x IN (SELECT y FROM f WHERE w)` has PostgreSQL's NULL semantics:
//!   `CASE WHEN m > 0 THEN true WHEN n = 0 THEN false WHEN x IS NULL OR
//!   z > 0 THEN NULL ELSE false END`, where `m`, `n` and `z` count the
//!   rows of `f` where `w` holds and, respectively, `y = x`, always, and
//!   `y IS NULL` (`NOT IN` is its negation).
//!
//! Only subqueries of the plain form `SELECT … FROM tables [WHERE …]` (no
//! table functions or derived tables, no aggregates, `GROUP BY`, `HAVING`, `LIMIT`, `WITH` or set operations,
//! whose row counts a `count(*)` would not give) are rewritten. `x` moves
//! into the subquery, so for `IN` every column it names must be qualified
//! by a relation of the outer query that the subquery does not also name
//! (an unqualified column is qualified when the outer `FROM` is one
//! table); otherwise it is left to `subquery_predicates`, which counts
//! the rows of the planned subquery.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, GroupByExpr, Ident, Query, Select, SelectItem,
    SetExpr, Statement, TableFactor, TableWithJoins, Visit, VisitMut, Visitor, VisitorMut,
};

/// Rewrites the select-list subqueries of every `SELECT` in `statement`.
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn rewrite_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            // An operand of a grouped select may read its aggregates, which
            // cannot move into a subquery's WHERE: `subquery_predicates`
            // rewrites the planned form instead.
            let no_group = matches!(
                &select.group_by,
                GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty()
            );
            let grouped = !no_group
                || select.having.is_some()
                || has_own_aggregate_or_window(&select.projection);
            if grouped {
                return;
            }
            let outer = single_relation(&select.from);
            for item in select.projection.iter_mut() {
                if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item
                {
                    rewrite_expr(e, outer.as_ref());
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left);
            rewrite_set_expr(right);
        }
        _ => {}
    }
}

/// The name that qualifies the columns of a `FROM` of one table (its
/// alias, else its name).
pub(super) fn single_relation(from: &[TableWithJoins]) -> Option<Ident> {
    let [only] = from else { return None };
    if !only.joins.is_empty() {
        return None;
    }
    match &only.relation {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(a) => Some(a.name.clone()),
            None => name.0.last()?.as_ident().cloned(),
        },
        _ => None,
    }
}

/// Rewrites the subqueries of `e` that are not themselves inside a
/// subquery (those are rewritten when their own query is visited).
fn rewrite_expr(e: &mut Expr, outer: Option<&Ident>) {
    struct Operands<'a> {
        outer: Option<&'a Ident>,
        depth: usize,
    }
    impl VisitorMut for Operands<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if self.depth == 0
                && let Some(r) = replacement(e, self.outer)
            {
                *e = Expr::Nested(Box::new(r));
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    let _ = e.visit(&mut Operands { outer, depth: 0 });
}

/// The rewritten form of `e` if it is a select-list subquery this module
/// rewrites.
fn replacement(e: &Expr, outer: Option<&Ident>) -> Option<Expr> {
    match e {
        Expr::Exists { subquery, negated } => plain_select(subquery).map(|select| {
            let count = count_subquery(select, None);
            Expr::BinaryOp {
                left: Box::new(count),
                op: if *negated {
                    BinaryOperator::Eq
                } else {
                    BinaryOperator::Gt
                },
                right: Box::new(number("0")),
            }
        }),
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => in_subquery(expr, subquery, *negated, outer),
        _ => None,
    }
}

/// The select of a query of the form `SELECT … FROM … [WHERE …]`, whose
/// row count is `count(*)` over its `FROM` and `WHERE`.
pub(super) fn plain_select(query: &Query) -> Option<&Select> {
    if query.with.is_some()
        || query.order_by.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
    {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let no_group =
        matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    if !no_group
        || select.having.is_some()
        || select.qualify.is_some()
        || select.top.is_some()
        || !select.named_window.is_empty()
        || select.from.is_empty()
        || !only_tables(&select.from)
        || has_aggregate_or_window(&select.projection)
    {
        return None;
    }
    Some(select)
}

/// Whether a `FROM` reads only tables and views (no table functions such
/// as a lateral `unnest(t.col)`, and no derived tables, whose
/// correlation DataFusion may not decorrelate the same way).
fn only_tables(from: &[TableWithJoins]) -> bool {
    let table = |f: &TableFactor| matches!(f, TableFactor::Table { args: None, .. });
    from.iter()
        .all(|t| table(&t.relation) && t.joins.iter().all(|j| table(&j.relation)))
}

/// Whether a select list calls a function that may be an aggregate or a
/// window function: any call that is not a known scalar function is
/// assumed to be one, so the rewrite never changes a query's row count.
fn has_aggregate_or_window(projection: &[SelectItem]) -> bool {
    calls_aggregate(projection, false)
}

/// [`has_aggregate_or_window`] for the calls outside subqueries only.
fn has_own_aggregate_or_window(projection: &[SelectItem]) -> bool {
    calls_aggregate(projection, true)
}

fn calls_aggregate(projection: &[SelectItem], own_only: bool) -> bool {
    struct Calls {
        found: bool,
        depth: usize,
        own_only: bool,
    }
    impl Visitor for Calls {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if self.own_only && self.depth > 0 {
                return ControlFlow::Continue(());
            }
            if let Expr::Function(f) = e {
                let name = f
                    .name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.to_lowercase())
                    .unwrap_or_default();
                let scalar = matches!(
                    name.as_str(),
                    "coalesce"
                        | "nullif"
                        | "lower"
                        | "upper"
                        | "length"
                        | "abs"
                        | "greatest"
                        | "least"
                );
                if !scalar || f.over.is_some() || f.filter.is_some() {
                    self.found = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    let mut calls = Calls {
        found: false,
        depth: 0,
        own_only,
    };
    for item in projection {
        let _ = item.visit(&mut calls);
    }
    calls.found
}

fn number(n: &str) -> Expr {
    Expr::value(sqlparser::ast::Value::Number(n.to_string(), false))
}

/// `(SELECT count(*) FROM <select's FROM> WHERE <its WHERE> [AND extra])`.
fn count_subquery(select: &Select, extra: Option<Expr>) -> Expr {
    let mut counted = select.clone();
    counted.distinct = None;
    counted.projection = vec![SelectItem::UnnamedExpr(count_star())];
    counted.selection = match (counted.selection.take(), extra) {
        (Some(w), Some(x)) => Some(Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(w))),
            op: BinaryOperator::And,
            right: Box::new(x),
        }),
        (w, x) => w.or(x),
    };
    Expr::Subquery(Box::new(Query {
        with: None,
        body: Box::new(SetExpr::Select(Box::new(counted))),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }))
}

fn count_star() -> Expr {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql("count(*)")
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| number("0"))
}

/// `x [NOT] IN (subquery)` as counts (see the module documentation), if
/// the subquery is plain and `x` can move into it.
fn in_subquery(x: &Expr, subquery: &Query, negated: bool, outer: Option<&Ident>) -> Option<Expr> {
    let select = plain_select(subquery)?;
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let (SelectItem::UnnamedExpr(y) | SelectItem::ExprWithAlias { expr: y, .. }) = item else {
        return None;
    };
    let x = qualified(x, outer, &inner_names(&select.from))?;
    let nested = |e: &Expr| Box::new(Expr::Nested(Box::new(e.clone())));
    let matches = count_subquery(
        select,
        Some(Expr::BinaryOp {
            left: nested(y),
            op: BinaryOperator::Eq,
            right: nested(&x),
        }),
    );
    let all = count_subquery(select, None);
    let nulls = count_subquery(select, Some(Expr::IsNull(nested(y))));
    let cmp = |left: Expr, op: BinaryOperator| Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(number("0")),
    };
    let boolean = |b: bool| Expr::value(sqlparser::ast::Value::Boolean(b));
    let case = Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![
            sqlparser::ast::CaseWhen {
                condition: cmp(matches, BinaryOperator::Gt),
                result: boolean(true),
            },
            sqlparser::ast::CaseWhen {
                condition: cmp(all, BinaryOperator::Eq),
                result: boolean(false),
            },
            sqlparser::ast::CaseWhen {
                condition: Expr::BinaryOp {
                    left: Box::new(Expr::IsNull(nested(&x))),
                    op: BinaryOperator::Or,
                    right: Box::new(cmp(nulls, BinaryOperator::Gt)),
                },
                result: Expr::value(sqlparser::ast::Value::Null),
            },
        ],
        else_result: Some(Box::new(boolean(false))),
    };
    Some(if negated {
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            expr: Box::new(Expr::Nested(Box::new(case))),
        }
    } else {
        case
    })
}

/// The names that qualify columns in a `FROM` (tables' aliases and
/// names), lower-cased.
pub(super) fn inner_names(from: &[TableWithJoins]) -> Vec<String> {
    let mut names = Vec::new();
    let mut add = |factor: &TableFactor| match factor {
        TableFactor::Table { name, alias, .. } => {
            if let Some(a) = alias {
                names.push(a.name.value.to_lowercase());
            }
            if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                names.push(last.value.to_lowercase());
            }
        }
        other => {
            // Derived tables, functions: only their alias names columns;
            // without one, nothing can be assumed.
            match other {
                TableFactor::Derived { alias: Some(a), .. }
                | TableFactor::Function { alias: Some(a), .. }
                | TableFactor::UNNEST { alias: Some(a), .. } => {
                    names.push(a.name.value.to_lowercase())
                }
                _ => names.push(String::new()),
            }
        }
    };
    for t in from {
        add(&t.relation);
        for j in &t.joins {
            add(&j.relation);
        }
    }
    names
}

/// `x` with every column qualified by an outer relation the subquery does
/// not name (`inner`), or `None` if that cannot be assured: `x` must not
/// read anything the subquery could resolve differently.
pub(super) fn qualified(x: &Expr, outer: Option<&Ident>, inner: &[String]) -> Option<Expr> {
    if inner.iter().any(String::is_empty) {
        return None;
    }
    struct Qualify<'a> {
        outer: Option<&'a Ident>,
        inner: &'a [String],
        ok: bool,
    }
    impl VisitorMut for Qualify<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(column) => match self.outer {
                    Some(o) if !self.inner.contains(&o.value.to_lowercase()) => {
                        *e = Expr::CompoundIdentifier(vec![o.clone(), column.clone()]);
                    }
                    _ => {
                        self.ok = false;
                        return ControlFlow::Break(());
                    }
                },
                Expr::CompoundIdentifier(parts) => {
                    let qualifier = parts
                        .len()
                        .checked_sub(2)
                        .and_then(|i| parts.get(i))
                        .map(|q| q.value.to_lowercase());
                    if qualifier.is_none_or(|q| self.inner.contains(&q)) {
                        self.ok = false;
                        return ControlFlow::Break(());
                    }
                }
                Expr::Function(f) if !matches!(f.args, FunctionArguments::None) => {}
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.ok = false;
                    return ControlFlow::Break(());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut x = x.clone();
    let mut q = Qualify {
        outer,
        inner,
        ok: true,
    };
    let _ = VisitMut::visit(&mut x, &mut q);
    q.ok.then_some(x)
}
