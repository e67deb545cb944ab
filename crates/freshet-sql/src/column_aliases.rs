//! Column alias lists that do not name every column, as PostgreSQL takes
//! them: `FROM t AS x(p)` renames `t`'s first column and keeps the others'
//! names, and so does `WITH w(k) AS (SELECT a, b ...)`. DataFusion's
//! planner wants a name for every column, so a statement it refuses for
//! that is completed here and planned again: each alias list is compared
//! with the columns of what it renames (planned on its own, with the
//! common table expressions it reads), a short one gets the remaining
//! columns' own names, and a long one is PostgreSQL's error (42P10, `table
//! "x" has 3 columns available but 4 columns specified`).
//!
//! This runs only after DataFusion refused the statement (its message is
//! [`is_alias_count_error`]), so other statements pay nothing for it. A
//! relation that cannot be planned on its own (a `LATERAL` subquery reading
//! an outer table) is left as written, and DataFusion's error stands.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Cte, Ident, ObjectName, Query, SetExpr, Statement, TableAlias, TableAliasColumnDef,
    TableFactor, Visit, VisitMut, Visitor, VisitorMut, With,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::PlanError;

/// Whether `message` is DataFusion's refusal of an alias list that does not
/// name every column.
pub fn is_alias_count_error(message: &str) -> bool {
    message.contains("names given as column alias")
}

/// Whether `statement` has a column alias list anywhere (a relation's or a
/// common table expression's).
pub fn has_column_aliases(statement: &Statement) -> bool {
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if alias_of(factor).is_some_and(|a| !a.columns.is_empty()) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            let ctes = query.with.iter().flat_map(|w| &w.cte_tables);
            if ctes.into_iter().any(|c| !c.alias.columns.is_empty()) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut find = Find(false);
    let _ = statement.visit(&mut find);
    find.0
}

/// Completes the short alias lists of `statement` and refuses the long
/// ones. `columns_of` plans a query on its own and gives its output column
/// names (`None` if it cannot be planned).
pub fn complete(
    statement: &mut Statement,
    columns_of: &dyn Fn(Query) -> Option<Vec<String>>,
) -> Result<(), PlanError> {
    let mut completer = Completer {
        frames: Vec::new(),
        columns_of,
    };
    match statement.visit(&mut completer) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Completer<'a> {
    /// The common table expressions of each enclosing query, outermost
    /// first, with whether its `WITH` is `RECURSIVE`.
    frames: Vec<(bool, Vec<Cte>)>,
    columns_of: &'a dyn Fn(Query) -> Option<Vec<String>>,
}

impl VisitorMut for Completer<'_> {
    type Break = PlanError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
        if let Some(with) = &mut query.with {
            for i in 0..with.cte_tables.len() {
                if with.cte_tables[i].alias.columns.is_empty() {
                    continue;
                }
                // The expressions before it are in scope, and (RECURSIVE)
                // itself, which then cannot be planned on its own.
                let mut frames = self.frames.clone();
                frames.push((with.recursive, with.cte_tables[..i].to_vec()));
                let cte = &with.cte_tables[i];
                let mut standalone = (*cte.query).clone();
                let names = referenced_tables(&standalone);
                if let Some(outer) = in_scope(&frames, names) {
                    let inner = standalone.with.take();
                    let mut ctes = outer.cte_tables;
                    let recursive = outer.recursive || inner.as_ref().is_some_and(|w| w.recursive);
                    ctes.extend(inner.map(|w| w.cte_tables).unwrap_or_default());
                    standalone.with = Some(With {
                        recursive,
                        cte_tables: ctes,
                        with_token: outer.with_token,
                    });
                }
                let Some(columns) = (self.columns_of)(standalone) else {
                    continue;
                };
                let cte = &mut with.cte_tables[i];
                let what = format!("WITH query \"{}\"", cte.alias.name.value);
                if let Err(e) = fill(&mut cte.alias, &columns, &what) {
                    return ControlFlow::Break(e);
                }
            }
            self.frames.push((with.recursive, with.cte_tables.clone()));
        } else {
            self.frames.push((false, Vec::new()));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<PlanError> {
        self.frames.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<PlanError> {
        if alias_of(factor).is_none_or(|a| a.columns.is_empty()) {
            return ControlFlow::Continue(());
        }
        let mut bare = factor.clone();
        if let Some(alias) = alias_mut(&mut bare) {
            alias.columns.clear();
        }
        let Some(mut standalone) = select_star_from(bare) else {
            return ControlFlow::Continue(());
        };
        standalone.with = in_scope(&self.frames, referenced_tables(&standalone));
        let Some(columns) = (self.columns_of)(standalone) else {
            return ControlFlow::Continue(());
        };
        let Some(alias) = alias_mut(factor) else {
            return ControlFlow::Continue(());
        };
        let what = format!("table \"{}\"", alias.name.value);
        match fill(alias, &columns, &what) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// Gives `alias` the names of `columns` it lacks, or refuses it if it
/// names more columns than there are.
fn fill(alias: &mut TableAlias, columns: &[String], what: &str) -> Result<(), PlanError> {
    let given = alias.columns.len();
    if given > columns.len() {
        return Err(PlanError::InvalidColumnReference(format!(
            "{what} has {} columns available but {given} columns specified",
            columns.len()
        )));
    }
    alias
        .columns
        .extend(columns[given..].iter().map(|name| TableAliasColumnDef {
            name: Ident::with_quote('"', name.clone()),
            data_type: None,
        }));
    Ok(())
}

fn alias_of(factor: &TableFactor) -> Option<&TableAlias> {
    match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

fn alias_mut(factor: &mut TableFactor) -> Option<&mut TableAlias> {
    match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. } => alias.as_mut(),
        _ => None,
    }
}

/// `SELECT * FROM factor`.
fn select_star_from(factor: TableFactor) -> Option<Query> {
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT * FROM x").ok()?;
    let Some(Statement::Query(mut query)) = parsed.into_iter().next() else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    select.from.first_mut()?.relation = factor;
    Some(*query)
}

/// The names `query` reads as tables (lower-cased unless quoted), which
/// may be common table expressions.
fn referenced_tables(query: &Query) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
            if let [part] = name.0.as_slice()
                && let Some(ident) = part.as_ident()
            {
                self.0.insert(normalize(ident));
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names(BTreeSet::new());
    let _ = query.visit(&mut names);
    names.0
}

fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// A `WITH` of the common table expressions among `frames` that `names`
/// read, directly or through one another (the innermost of a name), in
/// their order; `None` if there are none.
fn in_scope(frames: &[(bool, Vec<Cte>)], mut names: BTreeSet<String>) -> Option<With> {
    // (frame, position) of each expression taken.
    let mut taken: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut recursive = false;
    let mut pending: Vec<String> = names.iter().cloned().collect();
    while let Some(name) = pending.pop() {
        let found = frames
            .iter()
            .enumerate()
            .rev()
            .find_map(|(f, (rec, ctes))| {
                ctes.iter()
                    .rposition(|c| normalize(&c.alias.name) == name)
                    .map(|p| (f, p, *rec))
            });
        let Some((f, p, rec)) = found else {
            continue;
        };
        if !taken.insert((f, p)) {
            continue;
        }
        recursive |= rec;
        for n in referenced_tables(&frames[f].1[p].query) {
            if names.insert(n.clone()) {
                pending.push(n);
            }
        }
    }
    if taken.is_empty() {
        return None;
    }
    let with = Parser::parse_sql(&PostgreSqlDialect {}, "WITH x AS (SELECT 1) SELECT 1")
        .ok()?
        .into_iter()
        .next();
    let Some(Statement::Query(query)) = with else {
        return None;
    };
    let mut with = query.with?;
    with.recursive = recursive;
    with.cte_tables = taken
        .into_iter()
        .map(|(f, p)| frames[f].1[p].clone())
        .collect();
    Some(with)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    /// Columns from a fake catalog: `t(a, b, c)`; a query's columns are its
    /// select list's names or, for `SELECT *` from `t`, t's.
    fn columns_of(query: Query) -> Option<Vec<String>> {
        let text = query.to_string();
        if text.contains("FROM t") && text.starts_with("SELECT * FROM t") {
            return Some(vec!["a".into(), "b".into(), "c".into()]);
        }
        if text.ends_with("SELECT a, b FROM t") {
            return Some(vec!["a".into(), "b".into()]);
        }
        None
    }

    fn completed(sql: &str) -> Result<String, String> {
        let mut s = parse(sql);
        complete(&mut s, &columns_of)
            .map(|()| s.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn short_lists_get_the_other_names() {
        assert!(has_column_aliases(&parse("SELECT * FROM t AS x(p)")));
        assert!(!has_column_aliases(&parse("SELECT * FROM t AS x")));
        assert_eq!(
            completed("SELECT * FROM t AS x(p)").unwrap(),
            r#"SELECT * FROM t AS x (p, "b", "c")"#
        );
        assert_eq!(
            completed("WITH w(k) AS (SELECT a, b FROM t) SELECT * FROM w").unwrap(),
            r#"WITH w (k, "b") AS (SELECT a, b FROM t) SELECT * FROM w"#
        );
    }

    #[test]
    fn long_lists_are_refused() {
        assert_eq!(
            completed("SELECT * FROM t AS x(p, q, r, s)").unwrap_err(),
            "table \"x\" has 3 columns available but 4 columns specified"
        );
        assert_eq!(
            completed("WITH w(k, l, m) AS (SELECT a, b FROM t) SELECT * FROM w").unwrap_err(),
            "WITH query \"w\" has 2 columns available but 3 columns specified"
        );
    }

    #[test]
    fn what_cannot_be_planned_alone_stays() {
        assert_eq!(
            completed("SELECT * FROM u AS x(p)").unwrap(),
            "SELECT * FROM u AS x (p)"
        );
    }

    #[test]
    fn common_table_expressions_in_scope() {
        let frames =
            match parse("WITH a AS (SELECT 1), b AS (SELECT * FROM a), c AS (SELECT 2) SELECT 1") {
                Statement::Query(q) => vec![(false, q.with.unwrap().cte_tables)],
                _ => unreachable!(),
            };
        let with = in_scope(&frames, BTreeSet::from(["b".to_string()])).unwrap();
        let names: Vec<_> = with
            .cte_tables
            .iter()
            .map(|c| c.alias.name.value.clone())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(in_scope(&frames, BTreeSet::from(["t".to_string()])).is_none());
    }
}
