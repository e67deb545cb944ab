//! Rewriting the stored statements that name a renamed column
//! (`coord::rename_column`), so that they mean what they meant before.
//!
//! PostgreSQL's dependents refer to a column by its number, so a rename
//! cannot break them. Freshet's are stored as SQL text and replayed at
//! start-up; they name the column, and two kinds of text do:
//!
//! * Statements about the relation itself, whose bare identifiers can only
//!   be its columns: an index's keys, an `ALTER TABLE` of it (`CHECK`
//!   conditions, key and foreign key columns, `ALTER COLUMN`), `COMMENT ON
//!   COLUMN s.t.c`, a sequence `OWNED BY s.t.c`, an identity added to a
//!   column, and other tables' foreign keys `REFERENCES s.t (c)`. The name
//!   is changed where it stands.
//! * Queries (views, materialized views), where a name may mean another
//!   relation's column, an alias, an outer query's column. Rather than
//!   resolve names, the renamed relation is given back its old column
//!   names where it is read: `FROM s.t` becomes `FROM s.t AS t (a, b)`
//!   (a column alias list, positional), so every name in the query means
//!   what it did, and `SELECT *` keeps its columns' names, as a
//!   PostgreSQL view's columns keep theirs. A three-part `s.t.a` becomes
//!   `t.a` (the alias hides the qualified name). Where another relation in
//!   the statement is already known as `t`, the alias could change what
//!   a name means: the rename is refused (`RefusedRewrite`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    AlterTableOperation, ColumnOption, CommentObject, Expr, Ident, ObjectName, Statement,
    TableAlias, TableAliasColumnDef, TableConstraint, TableFactor, Visit, VisitMut, Visitor,
    VisitorMut,
};

use super::constraints::ident;
use crate::catalog::names::sql_ident;
use crate::sql::parse::FreshetStatement;

/// A column rename: column `position` of relation `schema.relation`, which
/// was called `old`, is now `new`.
#[derive(Debug, Clone)]
pub struct ColumnRenaming {
    /// The relation's schema.
    pub schema: String,
    /// The relation's (current) name.
    pub relation: String,
    /// The column's position.
    pub position: usize,
    /// The column's old name.
    pub old: String,
    /// Its new name.
    pub new: String,
    /// The relation's column names before the rename (the alias list a
    /// query reads it under).
    pub columns: Vec<String>,
}

/// A stored statement that cannot be rewritten safely: the rename is
/// refused, with this reason.
#[derive(Debug, Clone)]
pub struct RefusedRewrite(pub String);

fn is(i: &Ident, name: &str) -> bool {
    ident(i) == name
}

impl ColumnRenaming {
    /// Whether `name` is `schema.relation` exactly (stored names are
    /// qualified: `coord::names`).
    fn names_relation(&self, name: &ObjectName) -> bool {
        let parts: Vec<_> = name.0.iter().map(|p| p.as_ident()).collect();
        matches!(parts.as_slice(), [Some(s), Some(r)] if is(s, &self.schema) && is(r, &self.relation))
    }

    /// Renames `c` if it is the old name.
    fn column(&self, c: &mut Ident) -> bool {
        if is(c, &self.old) {
            *c = sql_ident(&self.new);
            return true;
        }
        false
    }

    /// Renames the column of a `schema.relation.column` name.
    fn qualified_column(&self, name: &mut ObjectName) -> bool {
        let n = name.0.len();
        if n != 3 {
            return false;
        }
        if !self.names_relation(&ObjectName(name.0[..2].to_vec())) {
            return false;
        }
        let Some(mut c) = name.0[2].as_ident().cloned() else {
            return false;
        };
        if self.column(&mut c) {
            name.0[2] = sqlparser::ast::ObjectNamePart::Identifier(c);
            return true;
        }
        false
    }

    /// Renames the column in an expression over the relation's row alone
    /// (a `CHECK` condition, an index key): a bare name, `t.c` or
    /// `s.t.c`.
    pub fn row_expr(&self, expr: &mut Expr) -> bool {
        let mut visitor = RowExprRewriter {
            renaming: self,
            changed: false,
        };
        let _ = expr.visit(&mut visitor);
        visitor.changed
    }

    fn index_columns(&self, columns: &mut [sqlparser::ast::IndexColumn]) -> bool {
        let mut changed = false;
        for c in columns {
            changed |= self.row_expr(&mut c.column.expr);
        }
        changed
    }

    /// A foreign key's columns: the referencing ones when the constraint
    /// is the relation's (`own`), the referenced ones when it references
    /// the relation.
    fn foreign_key(&self, fk: &mut sqlparser::ast::ForeignKeyConstraint, own: bool) -> bool {
        let mut changed = false;
        if own {
            for c in &mut fk.columns {
                changed |= self.column(c);
            }
        }
        if self.names_relation(&fk.foreign_table) {
            for c in &mut fk.referred_columns {
                changed |= self.column(c);
            }
        }
        changed
    }

    /// A table constraint of the relation (`own`) or of another table.
    fn constraint(&self, constraint: &mut TableConstraint, own: bool) -> bool {
        match constraint {
            TableConstraint::ForeignKey(fk) => self.foreign_key(fk, own),
            TableConstraint::PrimaryKey(pk) if own => self.index_columns(&mut pk.columns),
            TableConstraint::Unique(u) if own => self.index_columns(&mut u.columns),
            TableConstraint::Check(check) if own => self.row_expr(&mut check.expr),
            _ => false,
        }
    }

    /// The relation's own `CREATE` statement as the catalog shows it
    /// (`SHOW CREATE`), naming the column by its new name. Its durable
    /// record keeps the `CREATE` as written and replays the rename after
    /// it (`coord::rename_column`).
    pub fn own_create(&self, stmt: &mut FreshetStatement) {
        let FreshetStatement::Sql(stmt) = stmt else {
            return;
        };
        match stmt.as_mut() {
            Statement::CreateTable(ct) => {
                if let Some(c) = ct.columns.get_mut(self.position) {
                    c.name = sql_ident(&self.new);
                }
                for c in &mut ct.columns {
                    for option in &mut c.options {
                        match &mut option.option {
                            ColumnOption::Check(check) => {
                                self.row_expr(&mut check.expr);
                            }
                            ColumnOption::ForeignKey(fk) => {
                                self.foreign_key(fk, false);
                            }
                            _ => {}
                        }
                    }
                }
                for constraint in &mut ct.constraints {
                    self.constraint(constraint, true);
                }
            }
            // A view's columns are its output names: the list names them
            // all, the renamed one by its new name.
            Statement::CreateView(cv) => {
                let mut names = self.columns.clone();
                for (name, given) in names.iter_mut().zip(&cv.columns) {
                    *name = ident(&given.name);
                }
                if let Some(name) = names.get_mut(self.position) {
                    name.clone_from(&self.new);
                }
                cv.columns = names
                    .iter()
                    .map(|n| sqlparser::ast::ViewColumnDef {
                        name: sql_ident(n),
                        data_type: None,
                        options: None,
                    })
                    .collect();
            }
            _ => {}
        }
    }

    /// Rewrites a stored statement (one that is not the relation's own
    /// `CREATE`); returns whether anything changed.
    pub fn statement(&self, stmt: &mut FreshetStatement) -> Result<bool, RefusedRewrite> {
        let mut changed = false;
        match stmt {
            FreshetStatement::Sql(s) => changed = self.sql(s)?,
            FreshetStatement::AlterSequence(s) => {
                if let Some(owner) = &mut s.owned_by {
                    changed = self.qualified_column(owner);
                }
            }
            FreshetStatement::AddIdentity(s) if self.names_relation(&s.table) => {
                changed = self.column(&mut s.column);
            }
            // A sink writes its input's columns by name, and its key names
            // them: the coordinator refuses before this is reached.
            FreshetStatement::CreateSink(s) if self.names_relation(&s.from) => {
                return Err(RefusedRewrite(format!(
                    "renaming a column of \"{}\", which a sink writes,",
                    self.relation
                )));
            }
            _ => {}
        }
        Ok(changed)
    }

    fn sql(&self, stmt: &mut Statement) -> Result<bool, RefusedRewrite> {
        let mut changed = false;
        match stmt {
            Statement::CreateTable(ct) => {
                // Another table's foreign keys that reference the relation.
                for c in &mut ct.columns {
                    for option in &mut c.options {
                        if let ColumnOption::ForeignKey(fk) = &mut option.option {
                            changed |= self.foreign_key(fk, false);
                        }
                    }
                }
                for constraint in &mut ct.constraints {
                    changed |= self.constraint(constraint, false);
                }
            }
            Statement::CreateIndex(ci) if self.names_relation(&ci.table_name) => {
                changed |= self.index_columns(&mut ci.columns);
                for c in &mut ci.include {
                    changed |= self.column(c);
                }
                if let Some(predicate) = &mut ci.predicate {
                    changed |= self.row_expr(predicate);
                }
            }
            Statement::CreateSequence {
                owned_by: Some(owner),
                ..
            } => changed |= self.qualified_column(owner),
            Statement::AlterTable(at) => {
                let own = self.names_relation(&at.name);
                for op in &mut at.operations {
                    match op {
                        AlterTableOperation::AddConstraint { constraint, .. } => {
                            changed |= self.constraint(constraint, own);
                        }
                        // A default cannot read columns: only the name.
                        AlterTableOperation::AlterColumn { column_name, .. } if own => {
                            changed |= self.column(column_name);
                        }
                        _ => {}
                    }
                }
            }
            Statement::Comment {
                object_type: CommentObject::Column,
                object_name,
                ..
            } => changed |= self.qualified_column(object_name),
            Statement::CreateView(_) => changed |= self.query(stmt)?,
            _ => {}
        }
        Ok(changed)
    }

    /// A view's or materialized view's query: the relation is read under
    /// its old column names.
    fn query(&self, stmt: &mut Statement) -> Result<bool, RefusedRewrite> {
        let mut check = AliasCheck {
            renaming: self,
            reads: false,
            clash: None,
        };
        let _ = Visit::visit(&*stmt, &mut check);
        if !check.reads {
            return Ok(false);
        }
        if let Some(clash) = check.clash {
            return Err(RefusedRewrite(format!(
                "renaming a column of \"{}\", read by a query that also calls another relation \"{clash}\",",
                self.relation
            )));
        }
        let mut rewriter = QueryRewriter {
            renaming: self,
            changed: false,
        };
        let _ = stmt.visit(&mut rewriter);
        Ok(rewriter.changed)
    }
}

/// Renames the column in an expression over the relation's row.
struct RowExprRewriter<'a> {
    renaming: &'a ColumnRenaming,
    changed: bool,
}

impl VisitorMut for RowExprRewriter<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let r = self.renaming;
        match expr {
            Expr::Identifier(c) => self.changed |= r.column(c),
            Expr::CompoundIdentifier(parts) => {
                let relation_matches = match parts.as_slice() {
                    [t, _] => is(t, &r.relation),
                    [s, t, _] => is(s, &r.schema) && is(t, &r.relation),
                    _ => false,
                };
                if relation_matches && let Some(c) = parts.last_mut() {
                    self.changed |= r.column(c);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether a statement reads the relation, and another relation there
/// that goes by the relation's name (a table of another schema, an
/// alias, a common table expression): the alias the rewrite adds would
/// clash with it.
struct AliasCheck<'a> {
    renaming: &'a ColumnRenaming,
    reads: bool,
    clash: Option<String>,
}

impl Visitor for AliasCheck<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let r = self.renaming;
        if let TableFactor::Table {
            name, args: None, ..
        } = factor
            && r.names_relation(name)
        {
            self.reads = true;
            return ControlFlow::Continue(());
        }
        let known_as = match factor {
            TableFactor::Table {
                alias: Some(alias), ..
            }
            | TableFactor::Derived {
                alias: Some(alias), ..
            }
            | TableFactor::TableFunction {
                alias: Some(alias), ..
            }
            | TableFactor::Function {
                alias: Some(alias), ..
            }
            | TableFactor::UNNEST {
                alias: Some(alias), ..
            } => Some(ident(&alias.name)),
            TableFactor::Table { name, .. } => name.0.last().and_then(|p| p.as_ident()).map(ident),
            _ => None,
        };
        if known_as.as_deref() == Some(r.relation.as_str()) {
            self.clash = known_as;
        }
        ControlFlow::Continue(())
    }
}

/// Gives the relation back its old column names where a query reads it.
struct QueryRewriter<'a> {
    renaming: &'a ColumnRenaming,
    changed: bool,
}

impl VisitorMut for QueryRewriter<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let r = self.renaming;
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        if !r.names_relation(name) {
            return ControlFlow::Continue(());
        }
        let alias = alias.get_or_insert_with(|| TableAlias {
            explicit: true,
            name: sql_ident(&r.relation),
            columns: Vec::new(),
            at: None,
        });
        // An alias list already naming the column keeps it; a shorter one
        // is completed with the columns' old names.
        if alias.columns.len() <= r.position {
            let given = alias.columns.len();
            alias
                .columns
                .extend(r.columns[given..].iter().map(|c| TableAliasColumnDef {
                    name: sql_ident(c),
                    data_type: None,
                }));
            self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let r = self.renaming;
        // `s.t.c`: the relation is known by its alias now.
        if let Expr::CompoundIdentifier(parts) = expr
            && parts.len() >= 3
            && is(&parts[0], &r.schema)
            && is(&parts[1], &r.relation)
        {
            parts.remove(0);
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::parse_statements;

    fn renaming() -> ColumnRenaming {
        ColumnRenaming {
            schema: "public".into(),
            relation: "t".into(),
            position: 0,
            old: "a".into(),
            new: "b2".into(),
            columns: vec!["a".into(), "b".into()],
        }
    }

    fn rewrite(sql: &str) -> Result<String, RefusedRewrite> {
        let mut stmts = parse_statements(sql).expect("parses");
        assert_eq!(stmts.len(), 1);
        renaming().statement(&mut stmts[0])?;
        Ok(stmts[0].to_sql())
    }

    #[test]
    fn a_query_reads_the_relation_under_its_old_column_names() {
        assert_eq!(
            rewrite("CREATE VIEW public.v AS SELECT a, public.t.b FROM public.t").unwrap(),
            "CREATE VIEW public.v AS SELECT a, t.b FROM public.t AS t (a, b)"
        );
        // An alias keeps its name; a short alias list is completed; one
        // that names the column already stays.
        assert_eq!(
            rewrite(
                "CREATE VIEW public.v AS SELECT x.a FROM public.t AS x JOIN public.u ON x.a = u.a"
            )
            .unwrap(),
            "CREATE VIEW public.v AS SELECT x.a FROM public.t AS x (a, b) JOIN public.u ON x.a = u.a"
        );
        assert_eq!(
            rewrite("CREATE VIEW public.v AS SELECT p FROM public.t AS x (p)").unwrap(),
            "CREATE VIEW public.v AS SELECT p FROM public.t AS x (p)"
        );
        // Another schema's `t` is another relation.
        assert_eq!(
            rewrite("CREATE VIEW public.v AS SELECT a FROM s.u").unwrap(),
            "CREATE VIEW public.v AS SELECT a FROM s.u"
        );
    }

    #[test]
    fn a_query_with_another_relation_called_t_is_refused() {
        assert!(rewrite("CREATE VIEW public.v AS SELECT 1 FROM public.t, s.t").is_err());
        assert!(
            rewrite("CREATE VIEW public.v AS SELECT 1 FROM public.t AS x, public.u AS t").is_err()
        );
        // Without the relation, nothing to do.
        assert!(rewrite("CREATE VIEW public.v AS SELECT 1 FROM s.t").is_ok());
    }

    #[test]
    fn statements_about_the_relation_rename_the_column() {
        assert_eq!(
            rewrite("CREATE INDEX i ON public.t ((a + 1), b)").unwrap(),
            "CREATE INDEX i ON public.t((b2 + 1), b)"
        );
        assert_eq!(
            rewrite("ALTER TABLE public.t ADD CONSTRAINT c CHECK (a > 0 AND t.a < 9)").unwrap(),
            "ALTER TABLE public.t ADD CONSTRAINT c CHECK (b2 > 0 AND t.b2 < 9)"
        );
        assert_eq!(
            rewrite("ALTER TABLE public.t ALTER COLUMN a SET NOT NULL").unwrap(),
            "ALTER TABLE public.t ALTER COLUMN b2 SET NOT NULL"
        );
        // Another table's: only the referenced columns are the relation's.
        assert_eq!(
            rewrite(
                "ALTER TABLE public.c ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES public.t (a)"
            )
            .unwrap(),
            "ALTER TABLE public.c ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES public.t(b2)"
        );
        assert_eq!(
            rewrite("CREATE TABLE public.c (a INT REFERENCES public.t (a), CHECK (a > 0))")
                .unwrap(),
            "CREATE TABLE public.c (a INT REFERENCES public.t (b2), CHECK (a > 0))"
        );
        assert_eq!(
            rewrite("COMMENT ON COLUMN public.t.a IS 'x'").unwrap(),
            "COMMENT ON COLUMN public.t.b2 IS 'x'"
        );
        assert_eq!(
            rewrite("COMMENT ON COLUMN public.u.a IS 'x'").unwrap(),
            "COMMENT ON COLUMN public.u.a IS 'x'"
        );
    }
}
