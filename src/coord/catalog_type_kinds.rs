//! Dead `CASE` branches over `pg_type.typtype`.
//!
//! Drivers guard what they ask of a type by its kind:
//! asyncpg's type-introspection query computes a domain's base type with
//! `CASE WHEN t.typtype = 'd' THEN (WITH RECURSIVE ... WHERE t2.oid = t.oid
//! ...) END`, a correlated subquery that the planner cannot decorrelate.
//! When no row of `pg_type` has that kind (Freshet has base types and
//! their arrays, all kind `b`), the branch is never taken. This pass
//! removes such branches before planning, so the query answers as
//! PostgreSQL's does.
//!
//! A `CASE` becomes NULL only where it has no `ELSE` but NULL and each of
//! its branches is dead: its condition is `a.typtype = 'k'` (or `CASE
//! a.typtype WHEN 'k'`), `a` is bound, in the query that holds the
//! expression or the nearest one around it that binds `a`, to
//! `pg_catalog.pg_type` (without a column alias list, and no CTE named
//! `pg_type` hides it), and `k` is a kind no row of `pg_type` has. Names
//! fold to lower case unless quoted, as in PostgreSQL. A query whose body
//! is a set operation binds its names to nothing this pass trusts.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Query, SetExpr, Statement, TableFactor, Value, VisitMut,
    VisitorMut,
};

use crate::catalog::Catalog;
use crate::catalog::system;
use crate::sql::output_names::normalize as name_of;

/// Removes the `CASE` branches of `stmt` that test a `pg_type` row for a
/// kind no type of `catalog` (the built-in types when `None`) has.
pub fn remove_dead_branches(stmt: &mut Statement, catalog: Option<&Catalog>) {
    let mut pass = Pass {
        kinds: None,
        catalog,
        scopes: Vec::new(),
    };
    let _ = stmt.visit(&mut pass);
}

/// What a query binds a name to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Binding {
    PgType,
    Other,
}

struct Pass<'a> {
    /// The kinds `pg_type` has, computed when first needed.
    kinds: Option<BTreeSet<String>>,
    catalog: Option<&'a Catalog>,
    /// The enclosing queries, innermost last.
    scopes: Vec<Scope>,
}

/// What a query binds.
struct Scope {
    /// The names its `FROM` binds.
    names: Vec<(String, Binding)>,
    /// Whether a CTE of it is named `pg_type`.
    hides_pg_type: bool,
    /// Its CTEs' queries, which do not see its `FROM`.
    ctes: Vec<*const Query>,
    /// Whether it is a CTE of the query around it.
    is_cte: bool,
}

impl Pass<'_> {
    /// Whether `name` (a qualifier) means a row of the catalog's `pg_type`
    /// where the innermost scope stands.
    fn is_pg_type_row(&self, name: &str) -> bool {
        let hidden = |depth: usize| self.scopes[..=depth].iter().any(|s| s.hides_pg_type);
        let mut depth = self.scopes.len();
        while depth > 0 {
            depth -= 1;
            let scope = &self.scopes[depth];
            if let Some((_, b)) = scope.names.iter().find(|(n, _)| n == name) {
                return *b == Binding::PgType && !hidden(depth);
            }
            if scope.is_cte {
                // A CTE does not see the FROM of the query it belongs to.
                depth = depth.saturating_sub(1);
            }
        }
        false
    }

    fn kind_is_absent(&mut self, kind: &str) -> bool {
        let catalog = self.catalog;
        let kinds = self.kinds.get_or_insert_with(|| match catalog {
            Some(c) => system::type_kinds(c),
            None => system::type_kinds(&Catalog::default()),
        });
        !kinds.contains(kind)
    }

    /// The kind `cond` tests a `pg_type` row for: `a.typtype = 'k'`.
    fn tested_kind(&self, cond: &Expr) -> Option<String> {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = strip(cond)
        else {
            return None;
        };
        match (self.typtype_of(left), literal(right)) {
            (true, Some(k)) => Some(k),
            _ => match (literal(left), self.typtype_of(right)) {
                (Some(k), true) => Some(k),
                _ => None,
            },
        }
    }

    /// Whether `e` is `a.typtype` of a `pg_type` row `a`.
    fn typtype_of(&self, e: &Expr) -> bool {
        match strip(e) {
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [a, c] => name_of(c) == "typtype" && self.is_pg_type_row(&name_of(a)),
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the branch is dead: its condition tests for an absent kind.
    fn dead(&mut self, operand: Option<&Expr>, when: &CaseWhen) -> bool {
        let kind = match operand {
            None => self.tested_kind(&when.condition),
            Some(op) if self.typtype_of(op) => literal(&when.condition),
            Some(_) => None,
        };
        kind.is_some_and(|k| self.kind_is_absent(&k))
    }
}

/// `e` without parentheses.
fn strip(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

/// The text of a string literal.
fn literal(e: &Expr) -> Option<String> {
    match strip(e) {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The names a query's `FROM` binds (none trusted for a set operation).
fn bindings(query: &Query) -> Vec<(String, Binding)> {
    let mut out = Vec::new();
    collect_bindings(query.body.as_ref(), &mut out);
    if !matches!(query.body.as_ref(), SetExpr::Select(_)) {
        // Every name bound anywhere in a set operation is untrusted.
        for (_, b) in &mut out {
            *b = Binding::Other;
        }
    }
    out
}

/// The names the `FROM`s of `body`'s selects bind.
fn collect_bindings(body: &SetExpr, out: &mut Vec<(String, Binding)>) {
    match body {
        SetExpr::Select(select) => {
            for t in &select.from {
                for factor in
                    std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation))
                {
                    bind(factor, out);
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            collect_bindings(left, out);
            collect_bindings(right, out);
        }
        SetExpr::Query(q) => out.extend(bindings(q)),
        _ => {}
    }
}

fn bind(factor: &TableFactor, out: &mut Vec<(String, Binding)>) {
    match factor {
        TableFactor::Table {
            name, alias, args, ..
        } => {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(name_of))
                .collect();
            let is_pg_type = args.is_none()
                && parts.len() == name.0.len()
                && match parts.as_slice() {
                    [n] => n == "pg_type",
                    [s, n] => s == "pg_catalog" && n == "pg_type",
                    _ => false,
                };
            // (A column alias list renames `typtype` away.)
            let binding = if is_pg_type && alias.as_ref().is_none_or(|a| a.columns.is_empty()) {
                Binding::PgType
            } else {
                Binding::Other
            };
            match alias {
                Some(a) => out.push((name_of(&a.name), binding)),
                None => {
                    if let Some(last) = parts.last() {
                        out.push((last.clone(), binding));
                    }
                }
            }
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            bind(&table_with_joins.relation, out);
            for j in &table_with_joins.joins {
                bind(&j.relation, out);
            }
        }
        other => {
            if let Some(a) = factor_alias(other) {
                out.push((a, Binding::Other));
            }
        }
    }
}

/// The alias of a table factor other than a table.
fn factor_alias(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Derived { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::TableFunction { alias, .. } => alias.as_ref().map(|a| name_of(&a.name)),
        _ => None,
    }
}

impl VisitorMut for Pass<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let ctes = query
            .with
            .as_ref()
            .map(|w| &w.cte_tables[..])
            .unwrap_or(&[]);
        let me: *const Query = query;
        let is_cte = self.scopes.last().is_some_and(|s| s.ctes.contains(&me));
        self.scopes.push(Scope {
            names: bindings(query),
            hides_pg_type: ctes.iter().any(|c| name_of(&c.alias.name) == "pg_type"),
            ctes: ctes.iter().map(|c| &*c.query as *const Query).collect(),
            is_cte,
        });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } = expr
        else {
            return ControlFlow::Continue(());
        };
        // Only a CASE that is NULL whatever the row: every branch dead and
        // no ELSE but NULL. (Removing some branches could change the CASE's
        // type, which all of them decide.)
        let else_null = match else_result.as_deref() {
            None => true,
            Some(e) => matches!(strip(e), Expr::Value(v) if v.value == Value::Null),
        };
        if !else_null || conditions.is_empty() {
            return ControlFlow::Continue(());
        }
        let operand = operand.as_deref().cloned();
        let conditions = conditions.clone();
        if conditions
            .iter()
            .all(|when| self.dead(operand.as_ref(), when))
        {
            *expr = Expr::Value(Value::Null.into());
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmts =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .expect("parses");
        remove_dead_branches(&mut stmts[0], None);
        stmts[0].to_string()
    }

    #[test]
    fn removes_branches_for_absent_kinds_of_pg_type_rows() {
        assert_eq!(
            rewritten(
                "SELECT CASE WHEN t.typtype = 'd' THEN (SELECT 1 FROM x WHERE x.a = t.oid) END \
                 FROM pg_catalog.pg_type AS t"
            ),
            "SELECT NULL FROM pg_catalog.pg_type AS t"
        );
        assert_eq!(
            rewritten(
                "SELECT CASE WHEN 'c' = PG_TYPE.typtype THEN 1 WHEN pg_type.typtype = 'd' \
                 THEN 2 ELSE NULL END FROM pg_type"
            ),
            "SELECT NULL FROM pg_type"
        );
        assert_eq!(
            rewritten("SELECT CASE T.typtype WHEN 'd' THEN 1 END FROM pg_type t"),
            "SELECT NULL FROM pg_type t"
        );
        // Inside a subquery, `t` is still the outer query's.
        assert_eq!(
            rewritten("SELECT (SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM y) FROM pg_type t"),
            "SELECT (SELECT NULL FROM y) FROM pg_type t"
        );
    }

    #[test]
    fn keeps_branches_it_cannot_prove_dead() {
        for sql in [
            // A kind that pg_type has.
            "SELECT CASE WHEN t.typtype = 'b' THEN 1 END FROM pg_type AS t",
            // One live branch: the CASE keeps every branch (its type is theirs).
            "SELECT CASE WHEN t.typtype = 'd' THEN 1.0 WHEN t.typtype = 'b' THEN 1 END \
             FROM pg_type AS t",
            // An ELSE other than NULL.
            "SELECT CASE WHEN t.typtype = 'd' THEN 1.0 ELSE 1 END FROM pg_type AS t",
            // A column alias list: `t.typtype` is another column.
            "SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM pg_type AS t (a, b, c, d, e, f, typtype)",
            // The upper-case alias is the inner `t`.
            "SELECT (SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM my_types T) FROM pg_type t",
            // An upper-case CTE named pg_type.
            "WITH PG_TYPE AS (SELECT 'd' AS typtype) \
             SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM pg_type AS t",
            // `t` is not pg_type.
            "SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM my_types AS t",
            // An inner query rebinds `t`.
            "SELECT (SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM my_types AS t) \
             FROM pg_type AS t",
            // A CTE named pg_type hides the catalog's.
            "WITH pg_type AS (SELECT 'd' AS typtype) \
             SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM pg_type AS t",
            // A CTE does not see the FROM of its query.
            "WITH c AS (SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM y) \
             SELECT * FROM c, pg_type AS t",
            // A set operation's names are not trusted.
            "SELECT CASE WHEN t.typtype = 'd' THEN 1 END FROM pg_type AS t \
             UNION ALL SELECT 1 FROM x AS t",
            // Not an equality with a literal.
            "SELECT CASE WHEN t.typtype <> 'd' THEN 1 END FROM pg_type AS t",
        ] {
            let mut stmts = sqlparser::parser::Parser::parse_sql(
                &sqlparser::dialect::PostgreSqlDialect {},
                sql,
            )
            .expect("parses");
            let before = stmts[0].to_string();
            remove_dead_branches(&mut stmts[0], None);
            assert_eq!(stmts[0].to_string(), before, "{sql}");
        }
    }
}
