//! `SHOW` over the catalog, with Materialize's columns
//! (<https://materialize.com/docs/sql/show-objects/> and its siblings):
//! databases, schemas, roles, the cluster and its replica, the objects of
//! one schema (Materialize: `FROM schema`, else the first schema of the
//! `search_path` that exists), subsources, indexes, columns and `CREATE`
//! statements. The rows are computed here, in Materialize's order (by all
//! columns; `SHOW COLUMNS` by position); a `LIKE` or `WHERE` filter is then
//! applied by the normal query path (`coord::show_filter`).

use std::sync::Arc;

use crate::catalog::system::{CLUSTER_NAME, OWNER_NAME, ObjectFacts, REPLICA_NAME, object_type};
use crate::catalog::{CatalogItem, ItemKind, SearchPath};
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType};
use crate::sql::PlanError;
use crate::sql::parse::{ShowFilter, ShowStatement};

use super::sequence::{ExecuteResponse, text_row};
use super::{AdapterError, CoordState, Coordinator, Session};

/// A column of a SHOW result: text unless given, never null unless said.
fn column(name: &str, typ: ScalarType, nullable: bool) -> ColumnDesc {
    ColumnDesc {
        name: name.to_string(),
        typ,
        nullable,
    }
}

/// The columns of a SHOW statement's result: Materialize's (less its
/// `comment` columns), plus the `status` of sources and sinks.
pub fn show_desc(show: &ShowStatement) -> RelationDesc {
    let text = |name| column(name, ScalarType::Text, false);
    let columns = match show {
        ShowStatement::Schemas(_)
        | ShowStatement::Tables(_)
        | ShowStatement::Views(_)
        | ShowStatement::Secrets(_)
        | ShowStatement::Types(_)
        | ShowStatement::Databases
        | ShowStatement::Roles => vec![text("name")],
        ShowStatement::Objects(_)
        | ShowStatement::Subsources { .. }
        | ShowStatement::Connections(_) => vec![text("name"), text("type")],
        ShowStatement::MaterializedViews(_) => vec![text("name"), text("cluster")],
        ShowStatement::Clusters => vec![text("name"), text("replicas")],
        ShowStatement::ClusterReplicas => vec![
            text("cluster"),
            text("replica"),
            column("size", ScalarType::Text, true),
            column("ready", ScalarType::Bool, false),
        ],
        ShowStatement::Sources(_) | ShowStatement::Sinks(_) => {
            vec![text("name"), text("type"), text("status")]
        }
        ShowStatement::Indexes { .. } => {
            vec![text("name"), text("on"), text("cluster"), text("key")]
        }
        ShowStatement::Columns(_) => vec![
            text("name"),
            column("nullable", ScalarType::Bool, false),
            text("type"),
        ],
        ShowStatement::Create(..) => vec![text("name"), text("create_sql")],
    };
    RelationDesc { columns }
}

/// Sorts rows by their values, all columns from the left (Materialize's
/// `ORDER BY q.*`; `Row`'s own order is only a storage order).
fn sort_by_values(rows: &mut [Row]) {
    rows.sort_by_cached_key(|r| r.unpack());
}

impl CoordState {
    /// The schema a `SHOW … [FROM schema]` lists: `FROM`'s (which must
    /// exist: 3F000 otherwise), else the first of the search path that
    /// exists.
    fn show_schema(
        &self,
        path: &SearchPath,
        from: Option<&sqlparser::ast::ObjectName>,
    ) -> Result<Option<String>, PlanError> {
        self.catalog.show_schema(path, from)
    }

    /// The items `keep` holds for in the schema a `SHOW … [FROM schema]`
    /// lists.
    fn items_in(
        &self,
        path: &SearchPath,
        from: Option<&sqlparser::ast::ObjectName>,
        keep: impl Fn(&CatalogItem) -> bool,
    ) -> Result<Vec<&CatalogItem>, PlanError> {
        let schema = self.show_schema(path, from)?;
        Ok(self
            .catalog
            .items()
            .filter(|i| Some(&i.schema) == schema.as_ref() && keep(i))
            .collect())
    }

    /// A source's `SHOW SOURCES` row: its kind (the same answer as
    /// `mz_sources.type`) and the state of its ingestion.
    fn source_row(&self, i: &CatalogItem) -> Row {
        let typ = self.source(i).map_or("unknown", |facts| facts.source_type);
        let status = match self.kafka_sources.get(&i.id) {
            Some(k) => k
                .control
                .status
                .lock()
                .map(|s| match s.error() {
                    Some(e) => format!("{}: {e}", s.status()),
                    None => s.status().to_string(),
                })
                .unwrap_or_default(),
            None => "running".to_string(),
        };
        text_row(&[&i.name, typ, &status])
    }

    /// The rows of `show`, in Materialize's order.
    fn show_rows(&self, show: &ShowStatement, path: &SearchPath) -> Result<Vec<Row>, AdapterError> {
        let of_kind = |kind: ItemKind| move |i: &CatalogItem| i.kind == kind;
        let mut rows: Vec<Row> = match show {
            ShowStatement::Schemas(from) => {
                if let Some(name) = from {
                    let db = crate::catalog::names::PartialName::from_object_name(name)?;
                    if db.schema.is_some() {
                        return Err(PlanError::ImproperName(name.to_string()).into());
                    }
                    if db.item != path.database {
                        return Err(PlanError::UnknownDatabase(db.item).into());
                    }
                }
                self.catalog
                    .schema_names()
                    .iter()
                    .map(|s| text_row(&[s]))
                    .collect()
            }
            ShowStatement::Databases => vec![text_row(&[&path.database])],
            ShowStatement::Roles => vec![text_row(&[OWNER_NAME])],
            // Materialize lists each replica as `name (size)`; Freshet's
            // one replica has no size.
            ShowStatement::Clusters => vec![text_row(&[CLUSTER_NAME, REPLICA_NAME])],
            ShowStatement::ClusterReplicas => vec![Row::new(vec![
                Datum::String(CLUSTER_NAME.into()),
                Datum::String(REPLICA_NAME.into()),
                Datum::Null,
                Datum::Bool(true),
            ])],
            // The user objects, as `mz_objects` has them (the
            // introspection relations are not among them).
            ShowStatement::Objects(from) => self
                .items_in(path, from.as_ref(), |i| !i.id.is_system())?
                .into_iter()
                .map(|i| text_row(&[&i.name, object_type(i)]))
                .collect(),
            // Freshet has no `CREATE TYPE`: every type is built in, in
            // `pg_catalog`. The schema must still exist.
            ShowStatement::Types(from) => {
                self.show_schema(path, from.as_ref())?;
                Vec::new()
            }
            ShowStatement::Subsources { from, on } => self.subsource_rows(path, from, on)?,
            ShowStatement::Tables(from) => {
                names(self.items_in(path, from.as_ref(), of_kind(ItemKind::Table))?)
            }
            ShowStatement::Views(from) => {
                names(self.items_in(path, from.as_ref(), of_kind(ItemKind::View))?)
            }
            ShowStatement::Secrets(from) => {
                names(self.items_in(path, from.as_ref(), of_kind(ItemKind::Secret))?)
            }
            ShowStatement::MaterializedViews(from) => self
                .items_in(path, from.as_ref(), of_kind(ItemKind::MaterializedView))?
                .into_iter()
                .map(|i| text_row(&[&i.name, CLUSTER_NAME]))
                .collect(),
            ShowStatement::Sources(from) => self
                .items_in(path, from.as_ref(), |i| {
                    i.kind == ItemKind::Source && !i.id.is_system()
                })?
                .into_iter()
                .map(|i| self.source_row(i))
                .collect(),
            ShowStatement::Sinks(from) => self
                .items_in(path, from.as_ref(), of_kind(ItemKind::Sink))?
                .into_iter()
                .map(|i| text_row(&[&i.name, "kafka", &self.sink_status(i.id)]))
                .collect(),
            ShowStatement::Connections(from) => self
                .items_in(path, from.as_ref(), of_kind(ItemKind::Connection))?
                .into_iter()
                .map(|i| {
                    let typ = self.connection_type(i.id).unwrap_or("unknown");
                    text_row(&[&i.name, typ])
                })
                .collect(),
            ShowStatement::Indexes { from, on } => self.index_rows(path, from, on)?,
            ShowStatement::Columns(name) => {
                let item = self.catalog.resolve_existing(path, name, "relation")?;
                // Materialize: indexes, sinks, connections and secrets
                // have no columns to show.
                if matches!(
                    item.kind,
                    ItemKind::Index | ItemKind::Sink | ItemKind::Connection | ItemKind::Secret
                ) {
                    return Err(PlanError::WrongObjectType(format!(
                        "\"{}\" is a {} and so does not have columns",
                        item.name,
                        item.kind.name()
                    ))
                    .into());
                }
                // In column order, not sorted.
                return Ok(item
                    .desc
                    .columns
                    .iter()
                    .map(|c| {
                        Row::new(vec![
                            Datum::String(c.name.clone()),
                            Datum::Bool(c.nullable),
                            Datum::String(c.typ.name()),
                        ])
                    })
                    .collect());
            }
            ShowStatement::Create(kind, name) => {
                let item = self.catalog.resolve_existing(path, name, kind)?;
                if item.kind.name() != *kind {
                    return Err(PlanError::WrongObjectType(format!(
                        "\"{}\" is not a {kind}",
                        item.name
                    ))
                    .into());
                }
                vec![text_row(&[
                    &format!("{}.{}.{}", path.database, item.schema, item.name),
                    &item.create_sql,
                ])]
            }
        };
        sort_by_values(&mut rows);
        Ok(rows)
    }

    /// `SHOW SUBSOURCES [FROM schema] [ON source]`: with `ON`, the
    /// subsources of that source (in any schema, unless `FROM` narrows);
    /// else those of the schema.
    fn subsource_rows(
        &self,
        path: &SearchPath,
        from: &Option<sqlparser::ast::ObjectName>,
        on: &Option<sqlparser::ast::ObjectName>,
    ) -> Result<Vec<Row>, AdapterError> {
        let on_id = match on {
            Some(n) => {
                let source = self.catalog.resolve_existing(path, n, "source")?;
                if source.kind != ItemKind::Source {
                    return Err(PlanError::WrongObjectType(format!(
                        "cannot show subsources on \"{}\" because it is a {}",
                        source.name,
                        source.kind.name()
                    ))
                    .into());
                }
                Some(source.id)
            }
            None => None,
        };
        let schema = if on.is_none() || from.is_some() {
            Some(self.show_schema(path, from.as_ref())?)
        } else {
            None
        };
        Ok(self
            .catalog
            .items()
            .filter(|i| {
                i.kind == ItemKind::Source
                    && i.owned_by.is_some()
                    && on_id.is_none_or(|o| i.owned_by == Some(o))
                    && schema
                        .as_ref()
                        .is_none_or(|s| Some(&i.schema) == s.as_ref())
            })
            .map(|i| text_row(&[&i.name, "subsource"]))
            .collect())
    }

    /// `SHOW INDEXES [FROM schema] [ON object]`: with `ON`, the indexes on
    /// that object (in its schema, unless `FROM` narrows); else those of
    /// the schema.
    fn index_rows(
        &self,
        path: &SearchPath,
        from: &Option<sqlparser::ast::ObjectName>,
        on: &Option<sqlparser::ast::ObjectName>,
    ) -> Result<Vec<Row>, AdapterError> {
        let on_id = match on {
            Some(n) => Some(self.catalog.resolve_existing(path, n, "relation")?.id),
            None => None,
        };
        let schema = if on.is_none() || from.is_some() {
            Some(self.show_schema(path, from.as_ref())?)
        } else {
            None
        };
        Ok(self
            .catalog
            .items()
            .filter_map(|i| {
                let info = i.index.as_ref()?;
                if on_id.is_some_and(|o| o != info.on) {
                    return None;
                }
                if schema
                    .as_ref()
                    .is_some_and(|s| Some(&i.schema) != s.as_ref())
                {
                    return None;
                }
                let on_name = self
                    .catalog
                    .get(info.on)
                    .map(|x| x.name.clone())
                    .unwrap_or_default();
                Some(text_row(&[
                    &i.name,
                    &on_name,
                    CLUSTER_NAME,
                    &format!("{{{}}}", info.key_text.join(",")),
                ]))
            })
            .collect())
    }
}

impl Coordinator {
    /// Runs a SHOW statement: its rows, filtered by `LIKE` or `WHERE`.
    pub(crate) async fn show(
        self: &Arc<Self>,
        session: &mut Session,
        show: ShowStatement,
        filter: Option<ShowFilter>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let path = session.search_path();
        let desc = show_desc(&show);
        let rows = self.state.lock().await.show_rows(&show, &path)?;
        let rows = match filter {
            Some(filter) => self.filter_show(session, &desc, rows, filter).await?,
            None => rows,
        };
        Ok(ExecuteResponse::Rows { desc, rows })
    }
}

fn names(items: Vec<&CatalogItem>) -> Vec<Row> {
    items.into_iter().map(|i| text_row(&[&i.name])).collect()
}
