//! `SHOW` over the catalog: schemas, the objects of one schema (Materialize:
//! `FROM schema`, else the first schema of the `search_path` that exists),
//! indexes, columns and `CREATE` statements.

use std::sync::Arc;

use crate::catalog::{CatalogItem, ItemKind, SearchPath};
use crate::repr::{RelationDesc, Row};
use crate::sql::PlanError;
use crate::sql::parse::ShowStatement;

use super::sequence::{ExecuteResponse, text_desc, text_row};
use super::{AdapterError, CoordState, Coordinator};

/// The cluster every dataflow runs on (Freshet has one), as `SHOW`
/// reports it.
const CLUSTER: &str = crate::catalog::system::CLUSTER_NAME;

/// The columns of a SHOW statement's result (Materialize's, plus the
/// `status` of sources and sinks).
pub fn show_desc(show: &ShowStatement) -> RelationDesc {
    text_desc(match show {
        ShowStatement::Schemas(_)
        | ShowStatement::Tables(_)
        | ShowStatement::Views(_)
        | ShowStatement::Secrets(_) => &["name"],
        ShowStatement::MaterializedViews(_) => &["name", "cluster"],
        ShowStatement::Sources(_) | ShowStatement::Sinks(_) => &["name", "type", "status"],
        ShowStatement::Connections(_) => &["name", "type"],
        ShowStatement::Indexes { .. } => &["name", "on", "cluster", "key"],
        ShowStatement::Columns(_) => &["name", "nullable", "type"],
        ShowStatement::Create(..) => &["name", "create_sql"],
    })
}

/// Sorts rows by their values (SHOW output is ordered by name; `Row`'s own
/// order is only a storage order).
fn sort_by_values(rows: &mut [Row]) {
    rows.sort_by_cached_key(|r| r.unpack());
}

impl CoordState {
    /// The items of one kind in the schema a `SHOW … [FROM schema]` lists.
    fn items_in(
        &self,
        path: &SearchPath,
        from: Option<&sqlparser::ast::ObjectName>,
        kind: ItemKind,
    ) -> Result<Vec<&CatalogItem>, PlanError> {
        let schema = self.catalog.show_schema(path, from)?;
        Ok(self
            .catalog
            .items()
            .filter(|i| i.kind == kind && Some(&i.schema) == schema.as_ref())
            .collect())
    }

    fn source_row(&self, i: &CatalogItem) -> Row {
        let (typ, status) = if i.owned_by.is_some() {
            ("subsource", "running".to_string())
        } else if let Some(k) = self.kafka_sources.get(&i.id) {
            let status = k
                .control
                .status
                .lock()
                .map(|s| match s.error() {
                    Some(e) => format!("{}: {e}", s.status()),
                    None => s.status().to_string(),
                })
                .unwrap_or_default();
            ("kafka", status)
        } else {
            ("load-generator", "running".to_string())
        };
        text_row(&[&i.name, typ, &status])
    }
}

impl Coordinator {
    pub(crate) async fn show(
        self: &Arc<Self>,
        show: ShowStatement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let state = self.state.lock().await;
        let desc = show_desc(&show);
        let mut rows: Vec<Row> = match &show {
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
                state
                    .catalog
                    .schema_names()
                    .iter()
                    .map(|s| text_row(&[s]))
                    .collect()
            }
            ShowStatement::Tables(from) => {
                names(state.items_in(path, from.as_ref(), ItemKind::Table)?)
            }
            ShowStatement::Views(from) => {
                names(state.items_in(path, from.as_ref(), ItemKind::View)?)
            }
            ShowStatement::Secrets(from) => {
                names(state.items_in(path, from.as_ref(), ItemKind::Secret)?)
            }
            ShowStatement::MaterializedViews(from) => state
                .items_in(path, from.as_ref(), ItemKind::MaterializedView)?
                .into_iter()
                .map(|i| text_row(&[&i.name, CLUSTER]))
                .collect(),
            ShowStatement::Sources(from) => state
                .items_in(path, from.as_ref(), ItemKind::Source)?
                .into_iter()
                .filter(|i| !i.id.is_system())
                .map(|i| state.source_row(i))
                .collect(),
            ShowStatement::Sinks(from) => state
                .items_in(path, from.as_ref(), ItemKind::Sink)?
                .into_iter()
                .map(|i| text_row(&[&i.name, "kafka", &state.sink_status(i.id)]))
                .collect(),
            ShowStatement::Connections(from) => state
                .items_in(path, from.as_ref(), ItemKind::Connection)?
                .into_iter()
                .map(|i| {
                    let typ = match state.connections.get(&i.id).map(|c| c.kind) {
                        Some(crate::sql::source::ConnectionKind::SchemaRegistry) => {
                            "confluent-schema-registry"
                        }
                        _ => "kafka",
                    };
                    text_row(&[&i.name, typ])
                })
                .collect(),
            ShowStatement::Indexes { from, on } => {
                let on_id = match on {
                    Some(n) => Some(state.catalog.resolve_existing(path, n, "relation")?.id),
                    None => None,
                };
                // With `ON`, the schema is the relation's; `FROM` narrows.
                let schema = if on.is_none() || from.is_some() {
                    state.catalog.show_schema(path, from.as_ref())?
                } else {
                    None
                };
                state
                    .catalog
                    .items()
                    .filter_map(|i| {
                        let info = i.index.as_ref()?;
                        if on_id.is_some_and(|o| o != info.on) {
                            return None;
                        }
                        if (on.is_none() || from.is_some()) && Some(&i.schema) != schema.as_ref() {
                            return None;
                        }
                        let on_name = state
                            .catalog
                            .get(info.on)
                            .map(|x| x.name.clone())
                            .unwrap_or_default();
                        Some(text_row(&[
                            &i.name,
                            &on_name,
                            CLUSTER,
                            &format!("{{{}}}", info.key_text.join(",")),
                        ]))
                    })
                    .collect()
            }
            ShowStatement::Columns(name) => {
                let item = state.catalog.resolve_existing(path, name, "relation")?;
                // In column order, not sorted.
                return Ok(ExecuteResponse::Rows {
                    desc,
                    rows: item
                        .desc
                        .columns
                        .iter()
                        .map(|c| {
                            text_row(&[&c.name, if c.nullable { "t" } else { "f" }, &c.typ.name()])
                        })
                        .collect(),
                });
            }
            ShowStatement::Create(kind, name) => {
                let item = state.catalog.resolve_existing(path, name, kind)?;
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
        Ok(ExecuteResponse::Rows { desc, rows })
    }
}

fn names(items: Vec<&CatalogItem>) -> Vec<Row> {
    items.into_iter().map(|i| text_row(&[&i.name])).collect()
}
