//! Name resolution: `item`, `schema.item` and `database.schema.item`, through
//! a session's `search_path`, as PostgreSQL does it.
//!
//! * An unqualified name is looked up in each schema of the path in turn
//!   (schemas that do not exist are skipped, `"$user"` is ignored); the
//!   system relations in `mz_internal` also answer to their bare names,
//!   after the path (a Freshet convenience, kept from before schemas).
//! * A qualified name names its schema, which must exist (`3F000`).
//! * Freshet has one database; a three-part name must name the current one
//!   (the session's `database`: the start-up parameter, else
//!   `materialize`), else `3D000`.
//! * A new object goes into the schema its name gives, else into the first
//!   schema of the path that exists (`3F000` "no schema has been selected
//!   to create in" if none does).

use datafusion_common::TableReference;
use sqlparser::ast::ObjectName;

use super::{Catalog, CatalogItem, ItemKind, SYSTEM_SCHEMA};
use crate::sql::PlanError;
use crate::sql::plan::{ResolvedItem, Resolver};

/// How a session resolves names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    /// The schemas of `search_path`, in order (`"$user"` left out).
    pub schemas: Vec<String>,
    /// The current database.
    pub database: String,
}

impl Default for SearchPath {
    /// The path of a new session (and of the start-up replay): `public`,
    /// in database `materialize`.
    fn default() -> Self {
        SearchPath {
            schemas: vec![super::DEFAULT_SCHEMA.to_string()],
            database: "materialize".to_string(),
        }
    }
}

impl SearchPath {
    /// The path a `search_path` value (as [`split_search_path`] reads it)
    /// and a database name give.
    pub fn new(search_path: &str, database: &str) -> SearchPath {
        SearchPath {
            schemas: split_search_path(search_path)
                .into_iter()
                .filter(|s| s != "$user")
                .collect(),
            database: database.to_string(),
        }
    }
}

/// Splits a `search_path` value into schema names: comma-separated,
/// unquoted names folded to lower case, `"quoted"` names kept as written
/// (`""` inside stands for `"`).
pub fn split_search_path(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        name.push('"');
                    } else {
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            while chars.peek().is_some_and(|c| *c != ',') {
                chars.next();
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                name.push(c);
                chars.next();
            }
            name = name.trim().to_lowercase();
        }
        if !name.is_empty() {
            out.push(name);
        }
        if chars.next().is_none() {
            break;
        }
    }
    out
}

/// A schema name as `search_path` prints it: quoted unless it is a plain
/// lower-case identifier.
pub fn quote_schema(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A name as written, split into its parts (folded as PostgreSQL folds
/// identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialName {
    /// The database, if given.
    pub database: Option<String>,
    /// The schema, if given.
    pub schema: Option<String>,
    /// The item.
    pub item: String,
}

impl PartialName {
    /// Splits an object name: `item`, `schema.item` or
    /// `database.schema.item`.
    pub fn from_object_name(name: &ObjectName) -> Result<PartialName, PlanError> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| {
                p.as_ident()
                    .map(|i| {
                        if i.quote_style.is_some() {
                            i.value.clone()
                        } else {
                            i.value.to_lowercase()
                        }
                    })
                    .unwrap_or_default()
            })
            .collect();
        match parts.as_slice() {
            [item] => Ok(PartialName {
                database: None,
                schema: None,
                item: item.clone(),
            }),
            [schema, item] => Ok(PartialName {
                database: None,
                schema: Some(schema.clone()),
                item: item.clone(),
            }),
            [database, schema, item] => Ok(PartialName {
                database: Some(database.clone()),
                schema: Some(schema.clone()),
                item: item.clone(),
            }),
            _ => Err(PlanError::ImproperName(name.to_string())),
        }
    }

    /// A DataFusion table reference (already folded by its planner).
    pub fn from_table_reference(name: &TableReference) -> PartialName {
        PartialName {
            database: name.catalog().map(str::to_string),
            schema: name.schema().map(str::to_string),
            item: name.table().to_string(),
        }
    }
}

/// An item's full name in the one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    /// The schema.
    pub schema: String,
    /// The item's name in it.
    pub item: String,
}

impl QualifiedName {
    /// The name as SQL: `"schema"."item"` where quoting is needed.
    pub fn to_object_name(&self) -> ObjectName {
        ObjectName::from(vec![sql_ident(&self.schema), sql_ident(&self.item)])
    }
}

/// An identifier that prints as `name` and folds back to it: quoted unless
/// it is a plain lower-case identifier.
pub fn sql_ident(name: &str) -> sqlparser::ast::Ident {
    // As PostgreSQL's `quote_identifier` (`quote_ident`) decides.
    if !crate::expr::string_format::needs_quotes(name) {
        sqlparser::ast::Ident::new(name)
    } else {
        sqlparser::ast::Ident::with_quote('"', name)
    }
}

impl Catalog {
    /// Checks the database part of a name.
    pub(crate) fn check_database(
        &self,
        path: &SearchPath,
        name: &PartialName,
    ) -> Result<(), PlanError> {
        match &name.database {
            Some(db) if *db != path.database => Err(PlanError::UnknownDatabase(db.clone())),
            _ => Ok(()),
        }
    }

    /// Resolves a name to an item, if one by that name is visible.
    pub fn resolve_partial(
        &self,
        path: &SearchPath,
        name: &PartialName,
    ) -> Result<Option<&CatalogItem>, PlanError> {
        self.check_database(path, name)?;
        if let Some(schema) = &name.schema {
            if !self.schema_exists(schema) {
                return Err(PlanError::UnknownSchema(schema.clone()));
            }
            return Ok(self.lookup_in(schema, &name.item));
        }
        // `mz_internal` is not searched, as in Materialize: its relations
        // are named with their schema, and clients listing the visible
        // tables (psql's `\dt`, SQLAlchemy) do not see them.
        for schema in &path.schemas {
            if let Some(item) = self.lookup_in(schema, &name.item) {
                return Ok(Some(item));
            }
        }
        Ok(None)
    }

    /// Resolves an object name to an item, if one by that name is visible.
    pub fn resolve(
        &self,
        path: &SearchPath,
        name: &ObjectName,
    ) -> Result<Option<&CatalogItem>, PlanError> {
        self.resolve_partial(path, &PartialName::from_object_name(name)?)
    }

    /// Resolves an object name to an item, or fails with `kind "name" does
    /// not exist`.
    pub fn resolve_existing(
        &self,
        path: &SearchPath,
        name: &ObjectName,
        kind: &'static str,
    ) -> Result<&CatalogItem, PlanError> {
        self.resolve(path, name)?
            .ok_or_else(|| PlanError::UnknownItem {
                kind,
                name: name.to_string(),
            })
    }

    /// The schema a new object named `name` goes into, and its name there.
    pub fn create_name(
        &self,
        path: &SearchPath,
        name: &ObjectName,
    ) -> Result<QualifiedName, PlanError> {
        let partial = PartialName::from_object_name(name)?;
        self.check_database(path, &partial)?;
        let schema = match partial.schema {
            Some(schema) => {
                if !self.schema_exists(&schema) {
                    return Err(PlanError::UnknownSchema(schema));
                }
                schema
            }
            None => path
                .schemas
                .iter()
                .find(|s| self.schema_exists(s))
                .cloned()
                .ok_or(PlanError::NoSchemaSelected)?,
        };
        if schema == SYSTEM_SCHEMA || super::system::is_catalog_schema(&schema) {
            return Err(PlanError::SystemSchema(schema));
        }
        Ok(QualifiedName {
            schema,
            item: partial.item,
        })
    }

    /// Fails if `name` is taken in its schema.
    pub fn check_name_free(&self, name: &QualifiedName) -> Result<(), PlanError> {
        match self.lookup_in(&name.schema, &name.item) {
            Some(existing) => Err(PlanError::AlreadyExists {
                kind: existing.kind.name(),
                name: name.item.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The schema a `SHOW … [FROM schema]` lists: the one given (which must
    /// exist), else the first schema of the path that exists.
    pub fn show_schema(
        &self,
        path: &SearchPath,
        from: Option<&ObjectName>,
    ) -> Result<Option<String>, PlanError> {
        match from {
            Some(name) => {
                let parts = PartialName::from_object_name(name)?;
                // `FROM schema` or `FROM database.schema`.
                let (database, schema) = match (parts.database, parts.schema) {
                    (None, None) => (None, parts.item),
                    (None, Some(db)) => (Some(db), parts.item),
                    _ => return Err(PlanError::ImproperName(name.to_string())),
                };
                if let Some(db) = database
                    && db != path.database
                {
                    return Err(PlanError::UnknownDatabase(db));
                }
                if !self.schema_exists(&schema) {
                    return Err(PlanError::UnknownSchema(schema));
                }
                Ok(Some(schema))
            }
            None => Ok(path.schemas.iter().find(|s| self.schema_exists(s)).cloned()),
        }
    }

    /// This catalog seen through a session's search path, for planning.
    pub fn scope<'a>(&'a self, path: &'a SearchPath) -> Scope<'a> {
        Scope {
            catalog: self,
            path,
        }
    }
}

/// A catalog and a search path: what DataFusion's planner resolves
/// relation names against.
pub struct Scope<'a> {
    /// The catalog.
    pub catalog: &'a Catalog,
    /// The search path.
    pub path: &'a SearchPath,
}

impl Resolver for Scope<'_> {
    fn resolve(&self, name: &TableReference) -> Result<Option<ResolvedItem>, PlanError> {
        let partial = PartialName::from_table_reference(name);
        if let Some(relation) = super::system::resolve(&partial) {
            self.catalog.check_database(self.path, &partial)?;
            return Ok(Some(ResolvedItem {
                id: relation.id,
                name: format!("{}.{}", relation.schema, relation.name),
                desc: relation.desc,
                view: None,
                always_empty: super::system::is_always_empty(relation.id),
            }));
        }
        // A query's relation in a schema that does not exist is a relation
        // that does not exist, as in PostgreSQL (42P01; DDL says 3F000).
        let item = match self.catalog.resolve_partial(self.path, &partial) {
            Ok(Some(item)) => item,
            Ok(None) | Err(PlanError::UnknownSchema(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if matches!(
            item.kind,
            ItemKind::Index | ItemKind::Connection | ItemKind::Secret | ItemKind::Sink
        ) {
            return Ok(None);
        }
        Ok(Some(ResolvedItem {
            id: item.id,
            name: item.name.clone(),
            desc: item.desc.clone(),
            view: match item.kind {
                ItemKind::View => item.plan.clone(),
                _ => None,
            },
            always_empty: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_values() {
        assert_eq!(split_search_path("a, public"), vec!["a", "public"]);
        assert_eq!(split_search_path("A,\"My S\""), vec!["a", "My S"]);
        assert_eq!(
            split_search_path("\"$user\", public"),
            vec!["$user", "public"]
        );
        assert_eq!(split_search_path("\"a\"\"b\""), vec!["a\"b"]);
        assert_eq!(split_search_path(""), Vec::<String>::new());
        assert_eq!(
            SearchPath::new("\"$user\", s", "materialize").schemas,
            vec!["s"]
        );
        assert_eq!(quote_schema("My S"), "\"My S\"");
        assert_eq!(quote_schema("s_1"), "s_1");
    }
}
