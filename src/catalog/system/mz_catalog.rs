//! Materialize's system catalog, `mz_catalog`: the relations Materialize's
//! users, its console and tools built for it (dbt-materialize among them)
//! read to learn what a region holds: `mz_databases`, `mz_schemas`,
//! `mz_tables`, `mz_views`, `mz_materialized_views`, `mz_indexes`,
//! `mz_index_columns`, `mz_sources`, `mz_sinks`, `mz_connections`,
//! `mz_secrets`, `mz_columns`, `mz_relations`, `mz_objects`,
//! `mz_clusters` and `mz_roles`.
//!
//! Columns follow Materialize's documentation
//! (<https://materialize.com/docs/sql/system-catalog/mz_catalog/>), less
//! those of features Freshet does not have (privileges, redacted SQL,
//! cluster replicas and sizes). Ids are Materialize's text ids: `u<n>` for
//! a user object (its Freshet id), `s<n>` for a system one; OIDs are the
//! ones `pg_catalog` shows for the same objects. As in Materialize,
//! `mz_catalog` is searched before the search path, after `pg_catalog`.

use super::{
    CLUSTER_NAME, Context, MZ_CATALOG, OWNER_NAME, OWNER_OID, default_text, item_oid, oid,
    schema_oid, text, typmod,
};
use crate::catalog::{Catalog, CatalogItem, ItemKind};
use crate::expr::GlobalId;
use crate::repr::Datum;

/// Materialize's id of the one cluster.
const CLUSTER_ID: &str = "u1";
/// Materialize's id of the one database.
const DATABASE_ID: &str = "u1";
/// The OID of the one database (as `pg_database` shows it).
const DATABASE_OID: i64 = 16_383;
/// Materialize's id of the owner role.
const OWNER_ID: &str = "u1";

/// An object's Materialize id.
fn object_id(id: GlobalId) -> Datum {
    if id.is_system() {
        text(format!("s{}", id.0 - (1 << 61)))
    } else {
        text(format!("u{}", id.0))
    }
}

/// A schema's Materialize id: its record's for a user schema, a fixed
/// system id for the system schemas.
fn schema_id(catalog: &Catalog, schema: &str) -> Datum {
    match catalog.schema_id(schema) {
        Some(id) => object_id(id),
        None => match schema_oid(catalog, schema) {
            Some(o) => text(format!("s{o}")),
            None => Datum::Null,
        },
    }
}

/// Materialize's name of an item's kind (`mz_objects.type`).
fn object_type(item: &CatalogItem) -> &'static str {
    match item.kind {
        ItemKind::Table => "table",
        ItemKind::View => "view",
        ItemKind::MaterializedView => "materialized-view",
        ItemKind::Index => "index",
        ItemKind::Source => "source",
        ItemKind::Connection => "connection",
        ItemKind::Secret => "secret",
        ItemKind::Sink => "sink",
        // Materialize has no sequences.
        ItemKind::Sequence => "sequence",
    }
}

/// Whether an item is a relation in Materialize's sense (`mz_relations`).
fn is_relation(item: &CatalogItem) -> bool {
    matches!(
        item.kind,
        ItemKind::Table | ItemKind::View | ItemKind::MaterializedView | ItemKind::Source
    )
}

/// The cluster an item runs on: the one cluster for what keeps a dataflow
/// or reads from outside, none for the rest.
fn cluster_of(item: &CatalogItem) -> Datum {
    match item.kind {
        ItemKind::MaterializedView | ItemKind::Index | ItemKind::Source | ItemKind::Sink => {
            text(CLUSTER_ID)
        }
        _ => Datum::Null,
    }
}

/// The words of an item's `CREATE` statement, upper case, for telling
/// what kind of source, sink or connection it is.
fn create_words(item: &CatalogItem) -> String {
    format!(
        " {} ",
        item.create_sql
            .to_uppercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// The connection an item's `CREATE` statement names (`CONNECTION x`), as
/// an id.
fn connection_of(catalog: &Catalog, item: &CatalogItem) -> Datum {
    item.depends_on
        .iter()
        .filter_map(|id| catalog.get(*id))
        .find(|d| d.kind == ItemKind::Connection)
        .map_or(Datum::Null, |c| object_id(c.id))
}

/// The items of `kind`.
fn items_of(catalog: &Catalog, kind: ItemKind) -> impl Iterator<Item = &CatalogItem> {
    catalog.items().filter(move |i| i.kind == kind)
}

/// The leading columns most relations share: `id`, `oid`, `schema_id`,
/// `name`.
fn head(c: &Context, item: &CatalogItem) -> Vec<Datum> {
    vec![
        object_id(item.id),
        oid(item_oid(item.id)),
        schema_id(c.catalog, &item.schema),
        text(item.name.clone()),
    ]
}

pub(super) fn mz_databases(c: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        text(DATABASE_ID),
        oid(DATABASE_OID),
        text(c.path.database.clone()),
        text(OWNER_ID),
    ]]
}

pub(super) fn mz_schemas(c: &Context) -> Vec<Vec<Datum>> {
    let mut names = c.catalog.schema_names();
    names.extend([super::PG_CATALOG, super::INFORMATION_SCHEMA, MZ_CATALOG].map(String::from));
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let o = schema_oid(c.catalog, &name)?;
            // The system schemas belong to no database, as in Materialize.
            let database = if c.catalog.schema_id(&name).is_some() {
                text(DATABASE_ID)
            } else {
                Datum::Null
            };
            Some(vec![
                schema_id(c.catalog, &name),
                oid(o),
                database,
                text(name),
                text(OWNER_ID),
            ])
        })
        .collect()
}

pub(super) fn mz_tables(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::Table)
        .map(|item| {
            let mut row = head(c, item);
            row.extend([text(OWNER_ID), text(item.create_sql.clone())]);
            row
        })
        .collect()
}

pub(super) fn mz_views(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::View)
        .map(|item| {
            let mut row = head(c, item);
            row.extend([
                super::definition(item),
                text(OWNER_ID),
                text(item.create_sql.clone()),
            ]);
            row
        })
        .collect()
}

pub(super) fn mz_materialized_views(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::MaterializedView)
        .map(|item| {
            let mut row = head(c, item);
            row.extend([
                text(CLUSTER_ID),
                super::definition(item),
                text(OWNER_ID),
                text(item.create_sql.clone()),
            ]);
            row
        })
        .collect()
}

pub(super) fn mz_indexes(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::Index)
        .map(|item| {
            vec![
                object_id(item.id),
                oid(item_oid(item.id)),
                text(item.name.clone()),
                item.index
                    .as_ref()
                    .map_or(Datum::Null, |ix| object_id(ix.on)),
                text(CLUSTER_ID),
                text(OWNER_ID),
                text(item.create_sql.clone()),
            ]
        })
        .collect()
}

pub(super) fn mz_index_columns(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for item in items_of(c.catalog, ItemKind::Index) {
        let Some(ix) = &item.index else { continue };
        let on = c.catalog.get(ix.on);
        for (position, key) in ix.key.iter().enumerate() {
            // A key that is a column names its position; any other
            // expression is given as written.
            let (on_position, on_expression, nullable) = match key {
                crate::expr::ScalarExpr::Column(col) => (
                    Datum::Int64(*col as i64 + 1),
                    Datum::Null,
                    on.and_then(|o| o.desc.columns.get(*col))
                        .is_none_or(|c| c.nullable),
                ),
                _ => (
                    Datum::Null,
                    ix.key_text
                        .get(position)
                        .map_or(Datum::Null, |t| text(t.clone())),
                    true,
                ),
            };
            out.push(vec![
                object_id(item.id),
                Datum::Int64(position as i64 + 1),
                on_position,
                on_expression,
                Datum::Bool(nullable),
            ]);
        }
    }
    out
}

pub(super) fn mz_sources(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::Source)
        .filter(|item| !item.id.is_system())
        .map(|item| {
            let words = create_words(item);
            let kafka = words.contains(" FROM KAFKA ");
            let source_type = if item.owned_by.is_some() {
                "subsource"
            } else if kafka {
                "kafka"
            } else {
                "load-generator"
            };
            let format = |clause: &str| -> Datum {
                if !kafka {
                    return Datum::Null;
                }
                for f in ["AVRO", "JSON", "CSV", "TEXT", "BYTES"] {
                    if words.contains(&format!(" {clause}{f} ")) {
                        return text(f.to_lowercase());
                    }
                }
                Datum::Null
            };
            let value_format = match format("VALUE FORMAT ") {
                Datum::Null => format("FORMAT "),
                f => f,
            };
            let envelope = if !kafka {
                Datum::Null
            } else if words.contains(" ENVELOPE UPSERT") {
                text("upsert")
            } else if words.contains(" ENVELOPE DEBEZIUM") {
                text("debezium")
            } else {
                text("none")
            };
            let mut row = head(c, item);
            row.extend([
                text(source_type),
                connection_of(c.catalog, item),
                Datum::Null,
                envelope,
                format("KEY FORMAT "),
                value_format,
                if item.owned_by.is_some() {
                    Datum::Null
                } else {
                    text(CLUSTER_ID)
                },
                text(OWNER_ID),
                text(item.create_sql.clone()),
            ]);
            row
        })
        .collect()
}

pub(super) fn mz_sinks(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::Sink)
        .map(|item| {
            let words = create_words(item);
            let format = if words.contains(" FORMAT AVRO ") {
                text("avro")
            } else {
                text("json")
            };
            let envelope = if words.contains(" ENVELOPE DEBEZIUM") {
                text("debezium")
            } else {
                text("upsert")
            };
            let mut row = head(c, item);
            row.extend([
                text("kafka"),
                connection_of(c.catalog, item),
                Datum::Null,
                envelope,
                format.clone(),
                format.clone(),
                format,
                text(CLUSTER_ID),
                text(OWNER_ID),
                text(item.create_sql.clone()),
            ]);
            row
        })
        .collect()
}

pub(super) fn mz_connections(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::Connection)
        .map(|item| {
            let kind = if create_words(item).contains(" CONFLUENT SCHEMA REGISTRY ") {
                "confluent-schema-registry"
            } else {
                "kafka"
            };
            let mut row = head(c, item);
            row.extend([text(kind), text(OWNER_ID), text(item.create_sql.clone())]);
            row
        })
        .collect()
}

pub(super) fn mz_secrets(c: &Context) -> Vec<Vec<Datum>> {
    items_of(c.catalog, ItemKind::Secret)
        .map(|item| {
            let mut row = head(c, item);
            row.push(text(OWNER_ID));
            row
        })
        .collect()
}

pub(super) fn mz_columns(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for item in c.catalog.items().filter(|i| is_relation(i)) {
        for (position, column) in item.desc.columns.iter().enumerate() {
            let default = item
                .table_columns
                .get(position)
                .and_then(|tc| tc.default.as_ref())
                .map_or(Datum::Null, |d| {
                    text(default_text(c.catalog, d, &column.typ))
                });
            out.push(vec![
                object_id(item.id),
                text(column.name.clone()),
                Datum::Int64(position as i64 + 1),
                Datum::Bool(column.nullable),
                text(column.typ.name()),
                default,
                oid(i64::from(column.typ.oid())),
                Datum::Int32(typmod(&column.typ)),
            ]);
        }
    }
    out
}

pub(super) fn mz_relations(c: &Context) -> Vec<Vec<Datum>> {
    objects(c, is_relation)
}

pub(super) fn mz_objects(c: &Context) -> Vec<Vec<Datum>> {
    objects(c, |_| true)
}

/// The rows of `mz_objects` (and `mz_relations`) for the items `keep`
/// holds for.
fn objects(c: &Context, keep: fn(&CatalogItem) -> bool) -> Vec<Vec<Datum>> {
    c.catalog
        .items()
        .filter(|i| keep(i) && !i.id.is_system())
        .map(|item| {
            let mut row = head(c, item);
            row.extend([text(object_type(item)), text(OWNER_ID), cluster_of(item)]);
            row
        })
        .collect()
}

pub(super) fn mz_clusters(_: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        text(CLUSTER_ID),
        text(CLUSTER_NAME),
        text(OWNER_ID),
        Datum::Bool(true),
    ]]
}

pub(super) fn mz_roles(_: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        text(OWNER_ID),
        oid(OWNER_OID),
        text(OWNER_NAME),
        Datum::Bool(true),
    ]]
}
