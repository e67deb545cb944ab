//! Rewriting the names in stored statements after a rename
//! (`coord::rename`): every `schema.item` that named the renamed item (or
//! an item of the renamed schema) names it by its new name.
//!
//! PostgreSQL's views refer to relations by OID, so a rename cannot break
//! them. Freshet's stored `CREATE` statements name what they refer to
//! (qualified, `coord::names`) and are replayed at start-up, so the names
//! in them must follow the rename, or a restart would fail to find what
//! a view reads. The rewrite works on the parsed statements (sqlparser's
//! visitor for queries and expressions, the fields of each statement kind
//! Freshet stores otherwise), never on the text.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AlterTableOperation, CommentObject, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, ObjectNamePart, SchemaName, Statement, TableAlias, TableConstraint,
    TableFactor, Value, VisitMut, VisitorMut,
};

use super::constraints::ident;
use crate::catalog::QualifiedName;
use crate::catalog::names::sql_ident;
use crate::sql::parse::FreshetStatement;
use crate::sql::sink::SinkFormat;
use crate::sql::source::{Format, OptionValue};

/// What a rename changes.
#[derive(Debug, Clone)]
pub enum Renaming {
    /// Item `old` of `schema` is now `new`.
    Item {
        /// Its schema.
        schema: String,
        /// Its old name.
        old: String,
        /// Its new name.
        new: String,
    },
    /// Schema `old` is now `new`.
    Schema {
        /// Its old name.
        old: String,
        /// Its new name.
        new: String,
    },
}

fn part_is(part: &ObjectNamePart, name: &str) -> bool {
    part.as_ident().is_some_and(|i| ident(i) == name)
}

fn part(name: &str) -> ObjectNamePart {
    ObjectNamePart::Identifier(sql_ident(name))
}

impl Renaming {
    /// Whether `name` is `schema.old` exactly (the renamed item).
    fn names_item(&self, name: &ObjectName) -> bool {
        match self {
            Renaming::Item { schema, old, .. } => {
                name.0.len() == 2 && part_is(&name.0[0], schema) && part_is(&name.0[1], old)
            }
            Renaming::Schema { .. } => false,
        }
    }

    /// Renames a stored (qualified) name: `schema.old` (with `prefix`, also
    /// `schema.old.column`), or any `old_schema.x`. Returns whether it
    /// changed.
    fn object(&self, name: &mut ObjectName, prefix: bool) -> bool {
        match self {
            Renaming::Item { schema, old, new } => {
                let n = name.0.len();
                if (n == 2 || (prefix && n > 2))
                    && part_is(&name.0[0], schema)
                    && part_is(&name.0[1], old)
                {
                    name.0[1] = part(new);
                    return true;
                }
                false
            }
            Renaming::Schema { old, new } => {
                if name.0.len() >= 2 && part_is(&name.0[0], old) {
                    name.0[0] = part(new);
                    return true;
                }
                false
            }
        }
    }

    /// Renames a one-part schema name (`CREATE SCHEMA s`, `COMMENT ON
    /// SCHEMA s`).
    fn schema(&self, name: &mut ObjectName) -> bool {
        match self {
            Renaming::Schema { old, new } if name.0.len() == 1 && part_is(&name.0[0], old) => {
                name.0[0] = part(new);
                true
            }
            _ => false,
        }
    }

    /// Renames an index's one-part name, given its relation's (qualified)
    /// name: an index lives in its relation's schema.
    fn index(&self, index: &mut ObjectName, relation: &ObjectName) -> bool {
        match self {
            Renaming::Item { schema, old, new }
                if index.0.len() == 1
                    && part_is(&index.0[0], old)
                    && relation.0.first().is_some_and(|p| part_is(p, schema)) =>
            {
                index.0[0] = part(new);
                true
            }
            _ => false,
        }
    }

    /// Rewrites a stored statement; returns whether anything changed.
    pub fn statement(&self, stmt: &mut FreshetStatement) -> bool {
        let mut changed = false;
        let mut c = |b: bool| changed |= b;
        match stmt {
            FreshetStatement::Sql(s) => c(self.sql(s)),
            FreshetStatement::CreateDefaultIndex { name, on, .. } => {
                if let Some(name) = name {
                    c(self.index(name, on));
                }
                c(self.object(on, false));
            }
            FreshetStatement::CreateLoadGenerator(lg) => c(self.object(&mut lg.name, false)),
            FreshetStatement::CreateSecret(s) => c(self.object(&mut s.name, false)),
            FreshetStatement::CreateConnection(conn) => {
                c(self.object(&mut conn.name, false));
                for (_, value) in &mut conn.options {
                    if let OptionValue::Secret(secret) = value {
                        c(self.object(secret, false));
                    }
                }
            }
            FreshetStatement::CreateKafkaSource(k) => {
                c(self.object(&mut k.name, false));
                c(self.object(&mut k.connection, false));
                for format in k.key_format.iter_mut().chain([&mut k.value_format]) {
                    if let Format::Avro { connection, .. } = format {
                        c(self.object(connection, false));
                    }
                }
                if let Some(metadata) = &mut k.transaction_metadata {
                    c(self.object(&mut metadata.source, false));
                }
            }
            FreshetStatement::CreateSink(s) => {
                c(self.object(&mut s.name, false));
                c(self.object(&mut s.from, false));
                c(self.object(&mut s.connection, false));
                if let SinkFormat::Avro { connection, .. } = &mut s.format {
                    c(self.object(connection, false));
                }
            }
            FreshetStatement::AlterSequence(s) => {
                c(self.object(&mut s.name, false));
                if let Some(owner) = &mut s.owned_by {
                    c(self.object(owner, true));
                }
            }
            FreshetStatement::AddIdentity(s) => {
                c(self.object(&mut s.table, false));
                if let Some(sequence) = &mut s.sequence_name {
                    c(self.object(sequence, false));
                }
            }
            FreshetStatement::CommentOnConstraint(comment) => {
                c(self.object(&mut comment.table, false))
            }
            // The end of a renamed item's record names the item as its
            // `CREATE` did (`coord::rename`): only its schema's rename
            // changes that.
            FreshetStatement::AlterRename(r) if matches!(self, Renaming::Schema { .. }) => {
                c(self.object(&mut r.name, false))
            }
            // Not stored.
            _ => {}
        }
        changed
    }

    /// Rewrites a sqlparser statement.
    fn sql(&self, stmt: &mut Statement) -> bool {
        let mut changed = false;
        let mut c = |b: bool| changed |= b;
        match stmt {
            Statement::CreateTable(ct) => {
                c(self.object(&mut ct.name, false));
                for name in super::foreign_keys::referenced_names(ct) {
                    c(self.object(name, false));
                }
            }
            Statement::CreateView(cv) => c(self.object(&mut cv.name, false)),
            Statement::CreateIndex(ci) => {
                if let Some(name) = &mut ci.name {
                    c(self.index(name, &ci.table_name));
                }
                c(self.object(&mut ci.table_name, false));
            }
            Statement::CreateSequence { name, owned_by, .. } => {
                c(self.object(name, false));
                if let Some(owner) = owned_by {
                    c(self.object(owner, true));
                }
            }
            Statement::CreateSchema {
                schema_name: SchemaName::Simple(name),
                ..
            } => c(self.schema(name)),
            Statement::AlterTable(at) => {
                c(self.object(&mut at.name, false));
                for op in &mut at.operations {
                    if let AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::ForeignKey(fk),
                        ..
                    } = op
                    {
                        c(self.object(&mut fk.foreign_table, false));
                    }
                }
            }
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => match object_type {
                CommentObject::Schema => c(self.schema(object_name)),
                CommentObject::Column => c(self.object(object_name, true)),
                _ => c(self.object(object_name, false)),
            },
            _ => {}
        }
        // The relations queries read, column references qualified with a
        // renamed relation, and the sequences defaults draw from.
        let mut visitor = Rewriter {
            renaming: self,
            changed: false,
        };
        let _ = stmt.visit(&mut visitor);
        changed || visitor.changed
    }
}

/// The visitor over queries and expressions.
struct Rewriter<'a> {
    renaming: &'a Renaming,
    changed: bool,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // The renamed relation keeps its old name as its alias, so that
        // `t.col` and `t.*` still mean its columns (as PostgreSQL's
        // `pg_get_viewdef` then shows `FROM t2 t`).
        if let TableFactor::Table {
            name,
            alias: alias @ None,
            args: None,
            ..
        } = factor
            && self.renaming.names_item(name)
            && let Renaming::Item { old, .. } = self.renaming
        {
            *alias = Some(TableAlias {
                explicit: true,
                name: sql_ident(old),
                columns: Vec::new(),
                at: None,
            });
            self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        self.changed |= self.renaming.object(relation, false);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            // `schema.relation.column`.
            Expr::CompoundIdentifier(parts) if parts.len() >= 3 => self.column(parts),
            Expr::Function(f) => self.sequence_arg(f),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl Rewriter<'_> {
    /// A column reference through a renamed relation or schema.
    fn column(&mut self, parts: &mut Vec<Ident>) {
        match self.renaming {
            // The relation is now known by its alias, its old name.
            Renaming::Item { schema, old, .. }
                if ident(&parts[0]) == *schema && ident(&parts[1]) == *old =>
            {
                parts.remove(0);
                self.changed = true;
            }
            Renaming::Schema { old, new } if ident(&parts[0]) == *old => {
                parts[0] = sql_ident(new);
                self.changed = true;
            }
            _ => {}
        }
    }

    /// `nextval('schema.sequence')` (and `currval`, `setval`): the name in
    /// the literal, which `coord::names` qualified.
    fn sequence_arg(&mut self, f: &mut sqlparser::ast::Function) {
        let is_sequence_call = f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
            ["nextval", "currval", "setval"]
                .iter()
                .any(|n| i.value.eq_ignore_ascii_case(n))
        });
        if !is_sequence_call {
            return;
        }
        let FunctionArguments::List(list) = &mut f.args else {
            return;
        };
        let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut() else {
            return;
        };
        let Some(text) = super::sequence_objects::sequence_name_arg(first) else {
            return;
        };
        let Ok(partial) = super::catalog_funcs::parse_relation_name(text) else {
            return;
        };
        let Some(schema) = partial.schema else {
            return;
        };
        let mut name = QualifiedName {
            schema,
            item: partial.item,
        }
        .to_object_name();
        if self.renaming.object(&mut name, false) {
            *first = Expr::value(Value::SingleQuotedString(name.to_string()));
            self.changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::parse_statements;

    fn rewrite(renaming: &Renaming, sql: &str) -> String {
        let mut stmts = parse_statements(sql).expect("parses");
        assert_eq!(stmts.len(), 1);
        renaming.statement(&mut stmts[0]);
        stmts[0].to_sql()
    }

    fn item(old: &str, new: &str) -> Renaming {
        Renaming::Item {
            schema: "public".into(),
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn a_view_reads_the_new_name_under_the_old_alias() {
        assert_eq!(
            rewrite(
                &item("t", "t2"),
                "CREATE VIEW public.v AS SELECT t.a, public.t.b FROM public.t JOIN public.u AS x ON t.a = x.a"
            ),
            "CREATE VIEW public.v AS SELECT t.a, t.b FROM public.t2 AS t JOIN public.u AS x ON t.a = x.a"
        );
        // Another schema's `t` and an aliased reference keep theirs.
        assert_eq!(
            rewrite(
                &item("t", "t2"),
                "CREATE VIEW public.v AS SELECT * FROM s.t, public.t AS y"
            ),
            "CREATE VIEW public.v AS SELECT * FROM s.t, public.t2 AS y"
        );
    }

    #[test]
    fn indexes_sequences_and_constraints_follow() {
        assert_eq!(
            rewrite(&item("t", "t2"), "CREATE INDEX i ON public.t (a)"),
            "CREATE INDEX i ON public.t2(a)"
        );
        assert_eq!(
            rewrite(&item("i", "j"), "CREATE INDEX i ON public.t (a)"),
            "CREATE INDEX j ON public.t(a)"
        );
        assert_eq!(
            rewrite(
                &item("q", "r"),
                "CREATE TABLE public.t (a INT DEFAULT nextval('public.q'))"
            ),
            "CREATE TABLE public.t (a INT DEFAULT nextval('public.r'))"
        );
        assert_eq!(
            rewrite(
                &item("p", "p2"),
                "CREATE TABLE public.c (a INT REFERENCES public.p (a))"
            ),
            "CREATE TABLE public.c (a INT REFERENCES public.p2 (a))"
        );
        assert_eq!(
            rewrite(&item("t", "t2"), "COMMENT ON COLUMN public.t.a IS 'x'"),
            "COMMENT ON COLUMN public.t2.a IS 'x'"
        );
    }

    #[test]
    fn a_schema_rename_moves_every_name_in_it() {
        let renaming = Renaming::Schema {
            old: "s".into(),
            new: "s2".into(),
        };
        assert_eq!(rewrite(&renaming, "CREATE SCHEMA s"), "CREATE SCHEMA s2");
        assert_eq!(
            rewrite(
                &renaming,
                "CREATE MATERIALIZED VIEW s.m AS SELECT s.t.a FROM s.t, public.u"
            ),
            "CREATE MATERIALIZED VIEW s2.m AS SELECT s2.t.a FROM s2.t, public.u"
        );
        assert_eq!(
            rewrite(&renaming, "CREATE INDEX i ON s.t (a)"),
            "CREATE INDEX i ON s2.t(a)"
        );
    }
}
