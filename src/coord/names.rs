//! Qualifying the names in a `CREATE` statement before it is executed and
//! stored: the object created gets its schema (`t` → `public.t`), and every
//! object it refers to is replaced by the schema-qualified name it
//! resolved to under the creating session's `search_path`.
//!
//! This is how Materialize stores definitions (its `create_sql` names
//! everything fully qualified): a view's stored text means the same objects
//! after a restart, whatever `search_path` the server or a later session
//! has. Names are stored as `schema.item`, without the database, because
//! Freshet has one database, whichever name a session calls it by.
//!
//! After this pass the DDL code resolves names with [`qualified`], a path
//! with no schemas: a name this pass missed fails to resolve instead of
//! resolving to some other schema's object.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Ident, ObjectName, Query, SchemaName, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};

use crate::catalog::names::PartialName;
use crate::catalog::{Catalog, QualifiedName, SearchPath};
use crate::sql::PlanError;
use crate::sql::parse::FreshetStatement;
use crate::sql::sink::SinkFormat;
use crate::sql::source::{Format, OptionValue};

/// The path DDL code resolves already-qualified names with: no schemas, so
/// only qualified names (and system relations) resolve.
pub fn qualified() -> SearchPath {
    SearchPath {
        schemas: Vec::new(),
        database: String::new(),
    }
}

/// Qualifies every name in a `CREATE` statement (other statements are left
/// as they are). Unknown schemas, databases and referenced objects are
/// errors here.
pub fn qualify_statement(
    catalog: &Catalog,
    path: &SearchPath,
    stmt: &mut FreshetStatement,
) -> Result<(), PlanError> {
    let q = Qualifier { catalog, path };
    match stmt {
        FreshetStatement::Sql(s) => match s.as_mut() {
            Statement::CreateSchema {
                schema_name: SchemaName::Simple(name),
                ..
            } => {
                let schema = super::drop::schema_name(path, name)?;
                *name = ObjectName::from(vec![crate::catalog::names::sql_ident(&schema)]);
                Ok(())
            }
            Statement::CreateTable(ct) => {
                q.create(&mut ct.name)?;
                // The tables `REFERENCES` names: the table itself, or one
                // that exists (a stored, qualified name is left alone:
                // at start-up its table may be gone with its constraint,
                // `super::foreign_keys`).
                let created = PartialName::from_object_name(&ct.name)?;
                for name in super::foreign_keys::referenced_names(ct) {
                    let partial = PartialName::from_object_name(name)?;
                    if partial.schema.is_some() {
                        continue;
                    }
                    // The new table is in the path's first schema, where
                    // the name is looked up first.
                    if partial.item == created.item {
                        *name = QualifiedName {
                            schema: created.schema.clone().unwrap_or_default(),
                            item: partial.item,
                        }
                        .to_object_name();
                        continue;
                    }
                    q.reference(name, "relation")?;
                }
                // The sequences defaults draw from.
                for c in &mut ct.columns {
                    for o in &mut c.options {
                        if let sqlparser::ast::ColumnOption::Default(e) = &mut o.option {
                            super::sequence_objects::qualify_sequence_args(e, catalog, path)?;
                        }
                    }
                }
                Ok(())
            }
            Statement::CreateSequence { name, owned_by, .. } => {
                q.create(name)?;
                // `OWNED BY [schema.]table.column`: the table, qualified.
                if let Some(owner) = owned_by
                    && owner.0.len() >= 2
                {
                    let column = owner.0.pop();
                    q.reference(owner, "relation")?;
                    owner.0.extend(column);
                }
                Ok(())
            }
            Statement::CreateView(cv) => {
                q.create(&mut cv.name)?;
                super::sequence_objects::qualify_sequence_args(&mut cv.query, catalog, path)?;
                q.query(&mut cv.query)
            }
            Statement::CreateIndex(ci) => {
                let on = q.reference(&mut ci.table_name, "relation")?;
                if let Some(name) = &mut ci.name {
                    // An index lives in its relation's schema (PostgreSQL
                    // and Materialize): a qualified index name must say so.
                    let partial = PartialName::from_object_name(name)?;
                    if partial.schema.as_ref().is_some_and(|s| *s != on.schema) {
                        return Err(PlanError::InvalidDefinition(format!(
                            "an index must be in the schema of its relation, \"{}\"",
                            on.schema
                        )));
                    }
                    *name = ObjectName::from(vec![crate::catalog::names::sql_ident(&partial.item)]);
                }
                Ok(())
            }
            _ => Ok(()),
        },
        FreshetStatement::CreateDefaultIndex { name, on, .. } => {
            let on = q.reference(on, "relation")?;
            if let Some(name) = name {
                let partial = PartialName::from_object_name(name)?;
                if partial.schema.as_ref().is_some_and(|s| *s != on.schema) {
                    return Err(PlanError::InvalidDefinition(format!(
                        "an index must be in the schema of its relation, \"{}\"",
                        on.schema
                    )));
                }
                *name = ObjectName::from(vec![crate::catalog::names::sql_ident(&partial.item)]);
            }
            Ok(())
        }
        FreshetStatement::CreateLoadGenerator(lg) => q.create(&mut lg.name),
        FreshetStatement::CreateSecret(s) => q.create(&mut s.name),
        FreshetStatement::CreateConnection(c) => {
            q.create(&mut c.name)?;
            for (_, value) in &mut c.options {
                if let OptionValue::Secret(secret) = value {
                    q.reference(secret, "secret")?;
                }
            }
            Ok(())
        }
        FreshetStatement::CreateKafkaSource(k) => {
            q.create(&mut k.name)?;
            q.reference(&mut k.connection, "connection")?;
            for format in k.key_format.iter_mut().chain([&mut k.value_format]) {
                if let Format::Avro { connection, .. } = format {
                    q.reference(connection, "connection")?;
                }
            }
            if let Some(metadata) = &mut k.transaction_metadata {
                q.reference(&mut metadata.source, "source")?;
            }
            Ok(())
        }
        FreshetStatement::CreateSink(s) => {
            q.create(&mut s.name)?;
            q.reference(&mut s.from, "relation")?;
            q.reference(&mut s.connection, "connection")?;
            if let SinkFormat::Avro { connection, .. } = &mut s.format {
                q.reference(connection, "connection")?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

struct Qualifier<'a> {
    catalog: &'a Catalog,
    path: &'a SearchPath,
}

impl Qualifier<'_> {
    /// The name of an object to create: into its schema.
    fn create(&self, name: &mut ObjectName) -> Result<(), PlanError> {
        *name = self.catalog.create_name(self.path, name)?.to_object_name();
        Ok(())
    }

    /// The name of an object referred to: the object it resolves to.
    fn reference(
        &self,
        name: &mut ObjectName,
        kind: &'static str,
    ) -> Result<QualifiedName, PlanError> {
        let item = self.catalog.resolve_existing(self.path, name, kind)?;
        let q = QualifiedName {
            schema: item.schema.clone(),
            item: item.name.clone(),
        };
        *name = q.to_object_name();
        Ok(q)
    }

    /// The relations a query reads.
    fn query(&self, query: &mut Query) -> Result<(), PlanError> {
        let mut visitor = RelationQualifier {
            q: self,
            ctes: Vec::new(),
        };
        match query.visit(&mut visitor) {
            ControlFlow::Break(e) => Err(e),
            ControlFlow::Continue(()) => Ok(()),
        }
    }
}

/// Qualifies the relations in a query's `FROM` clauses, leaving table
/// functions and references to common table expressions alone.
struct RelationQualifier<'a, 'b> {
    q: &'a Qualifier<'b>,
    /// The CTE names of each enclosing query. A query's CTE names are taken
    /// to be visible in all of it, its CTE definitions included: a CTE that
    /// reads a relation with the name of a later sibling CTE keeps that
    /// name unqualified (and it resolves through the path at start-up).
    ctes: Vec<Vec<String>>,
}

fn fold(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

impl VisitorMut for RelationQualifier<'_, '_> {
    type Break = PlanError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
        let names = query
            .with
            .as_ref()
            .map(|w| w.cte_tables.iter().map(|c| fold(&c.alias.name)).collect())
            .unwrap_or_default();
        self.ctes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<PlanError> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<PlanError> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let partial = match PartialName::from_object_name(name) {
            Ok(p) => p,
            Err(e) => return ControlFlow::Break(e),
        };
        if partial.schema.is_none() && self.ctes.iter().flatten().any(|c| *c == partial.item) {
            return ControlFlow::Continue(());
        }
        let qualified = match crate::catalog::system::resolve(&partial) {
            Some(relation) => QualifiedName {
                schema: relation.schema.to_string(),
                item: relation.name.to_string(),
            },
            None => match self.q.catalog.resolve_partial(self.q.path, &partial) {
                Ok(Some(item)) => QualifiedName {
                    schema: item.schema.clone(),
                    item: item.name.clone(),
                },
                // In a schema that does not exist, a relation that does
                // not exist, as a query's (PostgreSQL's 42P01).
                Ok(None) | Err(PlanError::UnknownSchema(_)) => {
                    return ControlFlow::Break(PlanError::UnknownItem {
                        kind: "relation",
                        name: name.to_string(),
                    });
                }
                Err(e) => return ControlFlow::Break(e),
            },
        };
        // A bare name keeps its old qualifier as an alias, so `t.col` and
        // `t.*` mean what they did.
        if partial.schema.is_none()
            && alias.is_none()
            && let Some(last) = name.0.last().and_then(|p| p.as_ident())
        {
            *alias = Some(TableAlias {
                explicit: true,
                name: last.clone(),
                columns: Vec::new(),
                at: None,
            });
        }
        *name = qualified.to_object_name();
        ControlFlow::Continue(())
    }
}

impl super::Coordinator {
    /// Qualifies a `CREATE` statement's names (under the lock, released
    /// before it returns), for statements checked or purified before
    /// [`super::Coordinator::execute_ddl`].
    pub(crate) async fn qualify(
        &self,
        mut stmt: FreshetStatement,
        path: &SearchPath,
    ) -> Result<FreshetStatement, PlanError> {
        let state = self.state.lock().await;
        qualify_statement(&state.catalog, path, &mut stmt)?;
        Ok(stmt)
    }
}
