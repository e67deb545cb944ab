//! The SQL standard's `information_schema` views, as PostgreSQL 15 defines
//! them over its catalog: `schemata`, `tables`, `columns`, `views`,
//! `sequences`, and the views of constraints that schema browsers, ORMs
//! and BI tools read (`table_constraints`, `key_column_usage`,
//! `referential_constraints`, `constraint_column_usage`,
//! `constraint_table_usage`, `check_constraints`).
//!
//! Each function computes one view's rows from Freshet's catalog, with
//! PostgreSQL's columns (in [`super::RELATIONS`]) and PostgreSQL's values
//! for the same objects. As in PostgreSQL 15, a column's `NOT NULL` is
//! listed as a `CHECK` constraint named `<schema oid>_<table oid>_<column
//! number>_not_null` (it has no `pg_constraint` row).

use super::{
    Context, INFORMATION_SCHEMA, OWNER_NAME, PG_CATALOG, RELATIONS, base_types, default_text,
    definition, item_oid, schema_oid, text, with_columns, yes_no,
};
use crate::catalog::{
    Catalog, CatalogItem, CheckConstraint, ForeignKey, ItemKind, ReferentialAction,
};
use crate::repr::{Datum, ScalarType};

pub(super) fn info_schemata(c: &Context) -> Vec<Vec<Datum>> {
    let mut names = c.catalog.schema_names();
    names.push(PG_CATALOG.to_string());
    names.push(INFORMATION_SCHEMA.to_string());
    names.sort();
    names
        .into_iter()
        .map(|name| {
            vec![
                text(c.path.database.clone()),
                text(name),
                text(OWNER_NAME),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
            ]
        })
        .collect()
}

pub(super) fn info_tables(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for item in columned_relations(c.catalog) {
        let (kind, insertable) = match item.kind {
            ItemKind::Table => ("BASE TABLE", true),
            // Materialize's names for what PostgreSQL does not have.
            ItemKind::Source => ("SOURCE", false),
            ItemKind::MaterializedView => ("MATERIALIZED VIEW", false),
            _ => ("VIEW", false),
        };
        out.push(vec![
            text(c.path.database.clone()),
            text(item.schema.clone()),
            text(item.name.clone()),
            text(kind),
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            yes_no(insertable),
            yes_no(false),
            Datum::Null,
        ]);
    }
    for r in RELATIONS {
        out.push(vec![
            text(c.path.database.clone()),
            text(r.schema),
            text(r.name),
            text("VIEW"),
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            yes_no(false),
            yes_no(false),
            Datum::Null,
        ]);
    }
    out
}

/// `information_schema.columns.data_type`: the SQL standard's name of a
/// type without its modifiers (`ARRAY` for arrays).
fn standard_type_name(t: &ScalarType) -> String {
    match t {
        ScalarType::Numeric { .. } => "numeric".into(),
        ScalarType::VarChar(_) => "character varying".into(),
        ScalarType::Char(_) => "character".into(),
        ScalarType::Array(_) => "ARRAY".into(),
        other => other.without_modifier().name(),
    }
}

fn udt_name(t: &ScalarType) -> String {
    match t {
        ScalarType::Array(elem) => format!("_{}", udt_name(elem)),
        other => base_types()
            .into_iter()
            .find(|(b, _, _)| b.oid() == other.oid())
            .map(|(_, name, _)| name.to_string())
            .unwrap_or_default(),
    }
}

/// The relations `tables` and `columns` list: PostgreSQL's relation
/// kinds `r` and `v` (and Freshet's sources and materialized views), not
/// sequences.
fn columned_relations(catalog: &Catalog) -> impl Iterator<Item = &CatalogItem> {
    with_columns(catalog).filter(|i| i.kind != ItemKind::Sequence)
}

pub(super) fn info_views(c: &Context) -> Vec<Vec<Datum>> {
    c.catalog
        .items()
        .filter(|i| matches!(i.kind, ItemKind::View | ItemKind::MaterializedView))
        .map(|item| {
            vec![
                text(c.path.database.clone()),
                text(item.schema.clone()),
                text(item.name.clone()),
                definition(item),
                text("NONE"),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
            ]
        })
        .collect()
}

pub(super) fn info_columns(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    let int = |v: Option<i64>| v.map_or(Datum::Null, |v| Datum::Int32(v as i32));
    for item in columned_relations(c.catalog) {
        for (i, col) in item.desc.columns.iter().enumerate() {
            let identity = c
                .catalog
                .sequence_of_column(item.id, i)
                .and_then(|id| c.catalog.sequence(id))
                .filter(|seq| seq.identity.is_some());
            let default = item
                .table_columns
                .get(i)
                .and_then(|tc| tc.default.as_ref())
                .filter(|_| identity.is_none())
                .map(|d| text(default_text(c.catalog, d, &col.typ)))
                .unwrap_or(Datum::Null);
            let char_len = match col.typ {
                ScalarType::VarChar(n) => n.map(i64::from),
                ScalarType::Char(n) => n.map(i64::from),
                _ => None,
            };
            let octet_len = match col.typ {
                ScalarType::VarChar(_) | ScalarType::Char(_) | ScalarType::Text => {
                    Some(char_len.map_or(1_073_741_824, |n| n * 4))
                }
                _ => None,
            };
            let (precision, radix, scale) = numeric_precision(&col.typ);
            let datetime_precision = match col.typ {
                ScalarType::Date => Some(0),
                ScalarType::Time(_)
                | ScalarType::Timestamp(_)
                | ScalarType::TimestampTz(_)
                | ScalarType::Interval { .. } => Some(i64::from(
                    col.typ
                        .datetime_precision()
                        .unwrap_or(crate::repr::types::MAX_DATETIME_PRECISION),
                )),
                _ => None,
            };
            let database = || text(c.path.database.clone());
            let identity_value = |f: fn(&crate::catalog::SequenceDef) -> i64| {
                identity.map_or(Datum::Null, |seq| text(f(seq).to_string()))
            };
            out.push(vec![
                database(),
                text(item.schema.clone()),
                text(item.name.clone()),
                text(col.name.clone()),
                Datum::Int32(i as i32 + 1),
                default,
                // Only a table's columns are NOT NULL in PostgreSQL's
                // catalog (see `pg_attribute`).
                yes_no(item.kind != ItemKind::Table || col.nullable),
                text(standard_type_name(&col.typ)),
                int(char_len),
                int(octet_len),
                int(precision),
                int(radix),
                int(scale),
                int(datetime_precision),
                // interval_type: the fields, with the precision where
                // there is one (`DAY TO SECOND(2)`); interval_precision
                // is NULL in PostgreSQL 15 whatever the type.
                match &col.typ {
                    ScalarType::Interval {
                        fields: Some(fields),
                        precision,
                    } => text(format!(
                        "{}{}",
                        fields.name().to_uppercase(),
                        precision.map(|p| format!("({p})")).unwrap_or_default()
                    )),
                    _ => Datum::Null,
                },
                Datum::Null,
                // character_set_*: PostgreSQL leaves them NULL.
                Datum::Null,
                Datum::Null,
                Datum::Null,
                // collation_*: NULL for the default collation, the only
                // one a Freshet column has.
                Datum::Null,
                Datum::Null,
                Datum::Null,
                // domain_*: Freshet has no domains.
                Datum::Null,
                Datum::Null,
                Datum::Null,
                database(),
                text(PG_CATALOG),
                text(udt_name(&col.typ)),
                // scope_*, maximum_cardinality.
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                // dtd_identifier: the column's number, as text.
                text((i + 1).to_string()),
                yes_no(false),
                yes_no(identity.is_some()),
                match identity.and_then(|seq| seq.identity) {
                    Some(true) => text("ALWAYS"),
                    Some(false) => text("BY DEFAULT"),
                    None => Datum::Null,
                },
                identity_value(|s| s.start),
                identity_value(|s| s.increment),
                identity_value(|s| s.max),
                identity_value(|s| s.min),
                yes_no(identity.is_some_and(|seq| seq.cycle)),
                text("NEVER"),
                Datum::Null,
                yes_no(item.kind == ItemKind::Table),
            ]);
        }
    }
    out
}

/// `numeric_precision`, `numeric_precision_radix` and `numeric_scale` of
/// a column (or sequence) of type `t`.
fn numeric_precision(t: &ScalarType) -> (Option<i64>, Option<i64>, Option<i64>) {
    match t {
        ScalarType::Int16 => (Some(16), Some(2), Some(0)),
        ScalarType::Int32 => (Some(32), Some(2), Some(0)),
        ScalarType::Int64 => (Some(64), Some(2), Some(0)),
        ScalarType::Float32 => (Some(24), Some(2), None),
        ScalarType::Float64 => (Some(53), Some(2), None),
        ScalarType::Numeric { precision, scale } => (
            precision.map(i64::from),
            Some(10),
            precision.map(|_| i64::from(scale.unwrap_or(0))),
        ),
        _ => (None, None, None),
    }
}

/// `information_schema.sequences`: the sequences a user made (`CREATE
/// SEQUENCE`, and a `serial` column's); an identity column's sequence is
/// part of its column, and PostgreSQL leaves it out.
pub(super) fn info_sequences(c: &Context) -> Vec<Vec<Datum>> {
    let int = |v: Option<i64>| v.map_or(Datum::Null, |v| Datum::Int32(v as i32));
    c.catalog
        .sequences()
        .filter(|(_, def)| def.identity.is_none())
        .filter_map(|(id, def)| {
            let item = c.catalog.get(id)?;
            let (precision, radix, scale) = numeric_precision(&def.typ);
            Some(vec![
                text(c.path.database.clone()),
                text(item.schema.clone()),
                text(item.name.clone()),
                text(def.typ.name()),
                int(precision),
                int(radix),
                int(scale),
                text(def.start.to_string()),
                text(def.min.to_string()),
                text(def.max.to_string()),
                text(def.increment.to_string()),
                yes_no(def.cycle),
            ])
        })
        .collect()
}

/// What kind of constraint a [`Constraint`] is.
enum Kind<'a> {
    /// `PRIMARY KEY`.
    Primary,
    /// `UNIQUE`, and whether NULLs are distinct.
    Unique(bool),
    /// `CHECK`.
    Check(&'a CheckConstraint),
    /// `FOREIGN KEY`.
    Foreign(&'a ForeignKey),
}

/// A table's constraint (one row of `pg_constraint`).
struct Constraint<'a> {
    table: &'a CatalogItem,
    name: &'a str,
    kind: Kind<'a>,
    /// The constrained columns (`conkey`): a key's, in key order; the
    /// columns a check reads.
    columns: &'a [usize],
}

impl Constraint<'_> {
    /// `constraint_type`.
    fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Primary => "PRIMARY KEY",
            Kind::Unique(_) => "UNIQUE",
            Kind::Check(_) => "CHECK",
            Kind::Foreign(_) => "FOREIGN KEY",
        }
    }
}

/// Every table's constraints, in a stable order (keys, checks, foreign
/// keys, each by table).
fn constraints(catalog: &Catalog) -> Vec<Constraint<'_>> {
    let mut out = Vec::new();
    for (table, key) in catalog.all_unique_constraints() {
        let Some(table) = catalog.get(table) else {
            continue;
        };
        out.push(Constraint {
            table,
            name: &key.name,
            kind: if key.primary {
                Kind::Primary
            } else {
                Kind::Unique(key.nulls_distinct)
            },
            columns: &key.columns,
        });
    }
    for (table, check) in catalog.all_checks() {
        let Some(table) = catalog.get(table) else {
            continue;
        };
        out.push(Constraint {
            table,
            name: &check.name,
            kind: Kind::Check(check),
            columns: &check.columns,
        });
    }
    for (table, fk) in catalog.all_foreign_keys() {
        let Some(table) = catalog.get(table) else {
            continue;
        };
        out.push(Constraint {
            table,
            name: &fk.name,
            kind: Kind::Foreign(fk),
            columns: &fk.columns,
        });
    }
    out
}

/// The tables' `NOT NULL` columns, which PostgreSQL 15 lists as `CHECK`
/// constraints: the table, the column's position and the constraint's
/// name.
fn not_null_columns(catalog: &Catalog) -> Vec<(&CatalogItem, usize, String)> {
    let mut out = Vec::new();
    for table in catalog.items().filter(|i| i.kind == ItemKind::Table) {
        let namespace = schema_oid(catalog, &table.schema).unwrap_or(0);
        for (i, col) in table.desc.columns.iter().enumerate() {
            if !col.nullable {
                let name = format!("{namespace}_{}_{}_not_null", item_oid(table.id), i + 1);
                out.push((table, i, name));
            }
        }
    }
    out
}

/// The name of column `i` of `table`.
fn column_name(table: &CatalogItem, i: usize) -> Datum {
    table
        .desc
        .columns
        .get(i)
        .map_or(Datum::Null, |col| text(col.name.clone()))
}

/// The key (a `PRIMARY KEY` or `UNIQUE` constraint) a foreign key
/// references: its table and the key.
fn referenced_key<'a>(
    catalog: &'a Catalog,
    fk: &ForeignKey,
) -> Option<(&'a CatalogItem, &'a crate::catalog::UniqueKey)> {
    let (table, key) = catalog.constraint_of_index(fk.key_index)?;
    Some((catalog.get(table)?, key))
}

pub(super) fn info_table_constraints(c: &Context) -> Vec<Vec<Datum>> {
    let database = || text(c.path.database.clone());
    let mut out: Vec<Vec<Datum>> = constraints(c.catalog)
        .into_iter()
        .map(|k| {
            vec![
                database(),
                text(k.table.schema.clone()),
                text(k.name),
                database(),
                text(k.table.schema.clone()),
                text(k.table.name.clone()),
                text(k.type_name()),
                yes_no(false),
                yes_no(false),
                yes_no(true),
                match k.kind {
                    Kind::Unique(distinct) => yes_no(distinct),
                    _ => Datum::Null,
                },
            ]
        })
        .collect();
    for (table, _, name) in not_null_columns(c.catalog) {
        out.push(vec![
            database(),
            text(table.schema.clone()),
            text(name),
            database(),
            text(table.schema.clone()),
            text(table.name.clone()),
            text("CHECK"),
            yes_no(false),
            yes_no(false),
            yes_no(true),
            Datum::Null,
        ]);
    }
    out
}

pub(super) fn info_key_column_usage(c: &Context) -> Vec<Vec<Datum>> {
    let database = || text(c.path.database.clone());
    let mut out = Vec::new();
    for k in constraints(c.catalog) {
        if matches!(k.kind, Kind::Check(_)) {
            continue;
        }
        for (n, &column) in k.columns.iter().enumerate() {
            // A foreign key column's referenced column's position in the
            // referenced key.
            let position = match k.kind {
                Kind::Foreign(fk) => fk
                    .referenced_columns
                    .get(n)
                    .zip(referenced_key(c.catalog, fk))
                    .and_then(|(r, (_, key))| key.columns.iter().position(|c| c == r))
                    .map_or(Datum::Null, |p| Datum::Int32(p as i32 + 1)),
                _ => Datum::Null,
            };
            out.push(vec![
                database(),
                text(k.table.schema.clone()),
                text(k.name),
                database(),
                text(k.table.schema.clone()),
                text(k.table.name.clone()),
                column_name(k.table, column),
                Datum::Int32(n as i32 + 1),
                position,
            ]);
        }
    }
    out
}

/// `update_rule` / `delete_rule`.
fn rule(action: ReferentialAction) -> Datum {
    text(action.sql())
}

pub(super) fn info_referential_constraints(c: &Context) -> Vec<Vec<Datum>> {
    let database = || text(c.path.database.clone());
    constraints(c.catalog)
        .into_iter()
        .filter_map(|k| {
            let Kind::Foreign(fk) = k.kind else {
                return None;
            };
            let (unique_catalog, unique_schema, unique_name) = match referenced_key(c.catalog, fk) {
                Some((table, key)) => (
                    database(),
                    text(table.schema.clone()),
                    text(key.name.clone()),
                ),
                None => (Datum::Null, Datum::Null, Datum::Null),
            };
            Some(vec![
                database(),
                text(k.table.schema.clone()),
                text(k.name),
                unique_catalog,
                unique_schema,
                unique_name,
                // MATCH SIMPLE, the only kind Freshet has.
                text("NONE"),
                rule(fk.on_update),
                rule(fk.on_delete),
            ])
        })
        .collect()
}

/// The table whose columns a constraint uses, and those columns (each
/// once, in column order): a foreign key's are the referenced table's.
fn used_columns<'a>(
    catalog: &'a Catalog,
    k: &Constraint<'a>,
) -> Option<(&'a CatalogItem, Vec<usize>)> {
    let (table, columns) = match k.kind {
        Kind::Foreign(fk) => (
            catalog.get(fk.referenced)?,
            fk.referenced_columns.as_slice(),
        ),
        _ => (k.table, k.columns),
    };
    let mut columns = columns.to_vec();
    columns.sort_unstable();
    columns.dedup();
    Some((table, columns))
}

pub(super) fn info_constraint_column_usage(c: &Context) -> Vec<Vec<Datum>> {
    let database = || text(c.path.database.clone());
    let mut out = Vec::new();
    for k in constraints(c.catalog) {
        let Some((table, columns)) = used_columns(c.catalog, &k) else {
            continue;
        };
        for column in columns {
            out.push(vec![
                database(),
                text(table.schema.clone()),
                text(table.name.clone()),
                column_name(table, column),
                database(),
                text(k.table.schema.clone()),
                text(k.name),
            ]);
        }
    }
    out
}

pub(super) fn info_constraint_table_usage(c: &Context) -> Vec<Vec<Datum>> {
    let database = || text(c.path.database.clone());
    constraints(c.catalog)
        .into_iter()
        .filter_map(|k| {
            // A check uses no table here (PostgreSQL's definition).
            let table = match k.kind {
                Kind::Check(_) => return None,
                Kind::Foreign(fk) => c.catalog.get(fk.referenced)?,
                Kind::Primary | Kind::Unique(_) => k.table,
            };
            Some(vec![
                database(),
                text(table.schema.clone()),
                text(table.name.clone()),
                database(),
                text(k.table.schema.clone()),
                text(k.name),
            ])
        })
        .collect()
}

pub(super) fn info_check_constraints(c: &Context) -> Vec<Vec<Datum>> {
    let database = || text(c.path.database.clone());
    let mut out = Vec::new();
    for k in constraints(c.catalog) {
        let Kind::Check(check) = k.kind else { continue };
        // `pg_get_constraintdef` without its `CHECK ` (PostgreSQL takes
        // the substring from the seventh character).
        let suffix = if check.validated { "" } else { " NOT VALID" };
        let clause = format!("{}{suffix}", check.definition);
        out.push(vec![
            database(),
            text(k.table.schema.clone()),
            text(k.name),
            text(clause.get(6..).unwrap_or_default().to_string()),
        ]);
    }
    for (table, i, name) in not_null_columns(c.catalog) {
        // The column's name as it is, unquoted (PostgreSQL's).
        let clause = table
            .desc
            .columns
            .get(i)
            .map(|col| format!("{} IS NOT NULL", col.name))
            .unwrap_or_default();
        out.push(vec![
            database(),
            text(table.schema.clone()),
            text(name),
            text(clause),
        ]);
    }
    out
}
