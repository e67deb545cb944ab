//! Materialize's system catalog, `mz_catalog`: the relations Materialize's
//! users, its console and tools built for it (dbt-materialize among them)
//! read to learn what a region holds: `mz_databases`, `mz_schemas`,
//! `mz_tables`, `mz_views`, `mz_materialized_views`, `mz_indexes`,
//! `mz_index_columns`, `mz_sources`, `mz_sinks`, `mz_connections`,
//! `mz_secrets`, `mz_columns`, `mz_relations`, `mz_objects`,
//! `mz_clusters`, `mz_cluster_replicas`, `mz_roles` and `mz_types`.
//!
//! Columns follow Materialize's documentation
//! (<https://materialize.com/docs/sql/system-catalog/mz_catalog/>), less
//! those of features Freshet does not have (privileges, redacted SQL,
//! replica sizes). Ids are Materialize's text ids: `u<n>` for a user object
//! (its Freshet id), `s<n>` for a system one (a built-in type's is `s` and
//! its OID); OIDs are the ones `pg_catalog` shows for the same objects. As
//! in Materialize, `mz_catalog` is searched before the search path, after
//! `pg_catalog`.
//!
//! What kind of source, sink or connection an object is, and its formats
//! and envelope, come from the coordinator's parsed definitions through
//! [`ObjectFacts`] (the same answers `SHOW SOURCES` gives), not from the
//! stored `CREATE` text.

use super::{
    CLUSTER_NAME, Context, MZ_CATALOG, OWNER_NAME, OWNER_OID, default_text, item_oid, oid,
    schema_oid, text, typmod,
};
use crate::catalog::{Catalog, CatalogItem, ItemKind};
use crate::expr::GlobalId;
use crate::repr::Datum;

/// What a source is, from its definition (`mz_sources`, `SHOW SOURCES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFacts {
    /// Materialize's name of its kind: `kafka`, `load-generator` or
    /// `subsource`.
    pub source_type: &'static str,
    /// A Kafka source's envelope: `none`, `upsert` or `debezium`.
    pub envelope: Option<&'static str>,
    /// A Kafka source's key format, if it decodes the key: `avro`, `json`,
    /// `csv`, `text` or `bytes`.
    pub key_format: Option<&'static str>,
    /// A Kafka source's value format.
    pub value_format: Option<&'static str>,
}

/// What a sink is, from its definition (`mz_sinks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkFacts {
    /// Its envelope: `upsert` or `debezium`.
    pub envelope: &'static str,
    /// The format of its keys, if it has a `KEY`: `avro` or `json`.
    pub key_format: Option<&'static str>,
    /// The format of its values.
    pub value_format: &'static str,
}

/// What the coordinator knows of sources, sinks and connections beyond
/// their catalog records. The catalog cannot depend on the coordinator, so
/// the coordinator implements this and hands it to [`super::rows`].
pub trait ObjectFacts {
    /// Source `item`'s facts; `None` if it is not a source the
    /// coordinator runs.
    fn source(&self, item: &CatalogItem) -> Option<SourceFacts>;
    /// Sink `id`'s facts; `None` if it is not a sink.
    fn sink(&self, id: GlobalId) -> Option<SinkFacts>;
    /// Materialize's name of connection `id`'s kind (`kafka`,
    /// `confluent-schema-registry`); `None` if it is not a connection.
    fn connection_type(&self, id: GlobalId) -> Option<&'static str>;
}

/// No facts: every source, sink and connection reads as unknown (`NULL`).
/// For computing catalog rows without a coordinator (tests).
pub struct NoFacts;

impl ObjectFacts for NoFacts {
    fn source(&self, _: &CatalogItem) -> Option<SourceFacts> {
        None
    }
    fn sink(&self, _: GlobalId) -> Option<SinkFacts> {
        None
    }
    fn connection_type(&self, _: GlobalId) -> Option<&'static str> {
        None
    }
}

/// A text datum, or `NULL`.
fn text_or_null(s: Option<&str>) -> Datum {
    s.map_or(Datum::Null, text)
}

/// Materialize's id of the one cluster.
const CLUSTER_ID: &str = "u1";
/// Materialize's id of the cluster's one replica.
const REPLICA_ID: &str = "u1";
/// The name of the cluster's one replica (Materialize names a managed
/// cluster's replicas `r1`, `r2`, ...).
pub const REPLICA_NAME: &str = "r1";
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

/// Materialize's name of an item's kind (`mz_objects.type`, `SHOW
/// OBJECTS`).
pub fn object_type(item: &CatalogItem) -> &'static str {
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
            let facts = c.facts.source(item);
            let facts = facts.as_ref();
            let mut row = head(c, item);
            row.extend([
                text_or_null(facts.map(|f| f.source_type)),
                connection_of(c.catalog, item),
                Datum::Null,
                text_or_null(facts.and_then(|f| f.envelope)),
                text_or_null(facts.and_then(|f| f.key_format)),
                text_or_null(facts.and_then(|f| f.value_format)),
                // A subsource is maintained by its source's ingestion,
                // not on a cluster of its own.
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
            let facts = c.facts.sink(item.id);
            let facts = facts.as_ref();
            let value_format = text_or_null(facts.map(|f| f.value_format));
            let mut row = head(c, item);
            row.extend([
                text("kafka"),
                connection_of(c.catalog, item),
                Datum::Null,
                text_or_null(facts.map(|f| f.envelope)),
                // The deprecated `format` is the value's.
                value_format.clone(),
                text_or_null(facts.and_then(|f| f.key_format)),
                value_format,
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
            let mut row = head(c, item);
            row.extend([
                text_or_null(c.facts.connection_type(item.id)),
                text(OWNER_ID),
                text(item.create_sql.clone()),
            ]);
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

pub(super) fn mz_cluster_replicas(_: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        text(REPLICA_ID),
        text(REPLICA_NAME),
        text(CLUSTER_ID),
        // Freshet has no replica sizes: the replica is this process and
        // its workers.
        Datum::Null,
        Datum::Null,
        text(OWNER_ID),
        // Arrangements live in memory.
        Datum::Bool(false),
    ]]
}

/// `mz_types`: the built-in types (`pg_type`'s) and their arrays, in
/// `pg_catalog`. Freshet has no `CREATE TYPE`, so there are no others.
pub(super) fn mz_types(c: &Context) -> Vec<Vec<Datum>> {
    let schema = schema_id(c.catalog, super::PG_CATALOG);
    let mut out = Vec::new();
    for (t, typname, _) in super::base_types() {
        let array = crate::repr::ScalarType::Array(Box::new(t.clone()));
        for (o, name, category) in [
            (t.oid(), typname.to_string(), "base"),
            (array.oid(), format!("_{typname}"), "array"),
        ] {
            out.push(vec![
                text(format!("s{o}")),
                oid(i64::from(o)),
                schema.clone(),
                text(name),
                text(category),
                text(OWNER_ID),
                // Built in: no `CREATE` statement.
                Datum::Null,
            ]);
        }
    }
    out
}
