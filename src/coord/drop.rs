//! `DROP <item kind>` and the schema statements: `CREATE SCHEMA`,
//! `DROP SCHEMA … [RESTRICT | CASCADE]`, and the `public` schema a new
//! data directory starts with.
//!
//! A schema's durable form is a catalog record like an item's, holding its
//! `CREATE SCHEMA` statement, so the start-up replay (in id order) creates
//! a schema before the items in it. `public` is created once, when the
//! store is new (or was written before schemas existed), with the reserved
//! id 0; after that it is an ordinary schema that can be dropped.

use sqlparser::ast::{ObjectName, SchemaName};

use crate::catalog::names::PartialName;
use crate::catalog::{CatalogItem, DEFAULT_SCHEMA, ItemKind, SYSTEM_SCHEMA, SearchPath};
use crate::compute::Command;
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::SqlState;
use crate::sql::PlanError;
use crate::storage::durable::{CatalogRecord, Commit};

use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};

/// The id of `public`'s catalog record (item ids start at 1).
pub const PUBLIC_SCHEMA_ID: GlobalId = GlobalId(0);

/// The record of the `public` schema a new store starts with.
pub fn public_schema_record() -> CatalogRecord {
    CatalogRecord {
        name: DEFAULT_SCHEMA.to_string(),
        create_sql: format!("CREATE SCHEMA {DEFAULT_SCHEMA}"),
    }
}

/// The name of a schema, as `CREATE`/`DROP SCHEMA` give it: `s` or
/// `database.s`.
pub(crate) fn schema_name(path: &SearchPath, name: &ObjectName) -> Result<String, PlanError> {
    let partial = PartialName::from_object_name(name)?;
    match (partial.database, partial.schema) {
        (None, None) => Ok(partial.item),
        (None, Some(db)) if db == path.database => Ok(partial.item),
        (None, Some(db)) => Err(PlanError::UnknownDatabase(db)),
        _ => Err(PlanError::ImproperName(name.to_string())),
    }
}

impl CoordState {
    /// Adds `id` and, transitively, what depends on it to `to_drop`
    /// (dependents first). Without `cascade`, dependents other than the
    /// item's own indexes block the drop: each adds PostgreSQL's detail
    /// line to `blocked`, with `what` (`table t`), the object they block.
    fn collect_drop(
        &self,
        id: GlobalId,
        cascade: bool,
        what: &str,
        path: &SearchPath,
        to_drop: &mut Vec<GlobalId>,
        blocked: &mut Vec<(String, String)>,
    ) {
        // A source's outputs go with it.
        let mut family = vec![id];
        family.extend(
            self.catalog
                .items()
                .filter(|i| i.owned_by == Some(id))
                .map(|i| i.id),
        );
        for member in family.clone() {
            let dependents: Vec<GlobalId> = self
                .catalog
                .dependents(member)
                .into_iter()
                .filter(|d| !family.contains(d))
                .collect();
            if !cascade {
                // Indexes on the dropped item itself, or on one of its
                // dependents, go with it without being named.
                let blocking: Vec<&CatalogItem> = dependents
                    .iter()
                    .filter_map(|d| self.catalog.get(*d))
                    .filter(|d| {
                        !(d.kind == ItemKind::Index
                            && d.index
                                .as_ref()
                                .is_some_and(|i| i.on == member || dependents.contains(&i.on)))
                    })
                    .collect();
                for line in dependency_lines(&self.catalog, path, what, member, blocking) {
                    blocked.push((what.to_string(), line));
                }
            }
            for d in dependents {
                if !to_drop.contains(&d) {
                    to_drop.push(d);
                }
            }
        }
        for member in family.into_iter().rev() {
            if !to_drop.contains(&member) {
                to_drop.push(member);
            }
        }
    }
}

/// The description PostgreSQL gives an item in dependency messages:
/// `view v`, with its schema when that is not on the search path.
fn describe(item: &CatalogItem, path: &SearchPath) -> String {
    if path.schemas.contains(&item.schema) {
        format!("{} {}", item.kind.name(), quote_ident(&item.name))
    } else {
        format!(
            "{} {}.{}",
            item.kind.name(),
            quote_ident(&item.schema),
            quote_ident(&item.name)
        )
    }
}

/// PostgreSQL's notice lines for the objects a `DROP ... CASCADE` of
/// `named` drops too (`drop cascades to view v`), in creation order. As in
/// PostgreSQL, the parts of a dropped object that have no life of their
/// own are not listed: its indexes, a source's subsources, a `serial`
/// column's sequence.
fn cascaded_lines(
    state: &CoordState,
    to_drop: &[GlobalId],
    named: &[GlobalId],
    path: &SearchPath,
) -> Vec<String> {
    let catalog = &state.catalog;
    let mut cascaded: Vec<&CatalogItem> = to_drop
        .iter()
        .filter(|id| !named.contains(id))
        .filter_map(|id| catalog.get(*id))
        .filter(|i| i.owned_by.is_none())
        .filter(|i| {
            !(i.kind == ItemKind::Index
                && i.index.as_ref().is_some_and(|x| to_drop.contains(&x.on)))
        })
        .filter(|i| {
            !catalog
                .sequence(i.id)
                .is_some_and(|d| d.implicit && d.maker.is_some_and(|t| to_drop.contains(&t)))
        })
        .collect();
    cascaded.sort_by_key(|i| i.id);
    cascaded
        .into_iter()
        .map(|i| format!("drop cascades to {}", describe(i, path)))
        .collect()
}

/// PostgreSQL's detail lines for a `DROP ... RESTRICT` of `what` (`table
/// t`, whose catalog item is `root`) that `blocking` depend on: one per
/// dependent, in creation order, naming the dropped object it depends on
/// directly.
fn dependency_lines(
    catalog: &crate::catalog::Catalog,
    path: &SearchPath,
    what: &str,
    root: GlobalId,
    mut blocking: Vec<&CatalogItem>,
) -> Vec<String> {
    blocking.sort_by_key(|i| i.id);
    blocking
        .iter()
        .map(|item| {
            // A view's plan names the tables under the views it reads
            // too: the dependency on another dropped view is the direct
            // one.
            let on = item
                .depends_on
                .iter()
                .filter(|d| **d != root && blocking.iter().any(|b| b.id == **d))
                .max()
                .and_then(|d| catalog.get(*d))
                .map_or_else(|| what.to_string(), |d| describe(d, path));
            format!("{} depends on {on}", describe(item, path))
        })
        .collect()
}

/// PostgreSQL's `2BP01` for a `DROP ... RESTRICT` of `what` that other
/// objects depend on, with their detail lines and the hint to use
/// `CASCADE`.
fn dependent_objects(what: &str, lines: &[String]) -> AdapterError {
    AdapterError::Constraint {
        code: SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        message: format!("cannot drop {what} because other objects depend on it"),
        detail: (!lines.is_empty()).then(|| lines.join("\n")),
        hint: Some(CASCADE_HINT.into()),
    }
}

/// PostgreSQL's `42809` for `DROP kind name` of an item of another kind,
/// with the hint naming the statement that drops it.
fn wrong_kind(name: &str, kind: ItemKind, actual: ItemKind) -> AdapterError {
    let article = |k: ItemKind| match k {
        ItemKind::Index => "an",
        _ => "a",
    };
    AdapterError::Constraint {
        code: SqlState::WRONG_OBJECT_TYPE,
        message: format!("\"{name}\" is not {} {}", article(kind), kind.name()),
        detail: None,
        hint: Some(format!(
            "Use DROP {} to remove {} {}.",
            actual.name().to_uppercase(),
            article(actual),
            actual.name()
        )),
    }
}

/// PostgreSQL's hint for a `DROP` that dependent objects block.
pub(crate) const CASCADE_HINT: &str = "Use DROP ... CASCADE to drop the dependent objects too.";

impl Coordinator {
    /// `DROP kind [IF EXISTS] names [CASCADE | RESTRICT]`.
    pub async fn drop_objects(
        &self,
        kind: ItemKind,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let tag = match kind {
            ItemKind::Table => "DROP TABLE",
            ItemKind::View => "DROP VIEW",
            ItemKind::MaterializedView => "DROP MATERIALIZED VIEW",
            ItemKind::Index => "DROP INDEX",
            ItemKind::Source => "DROP SOURCE",
            ItemKind::Connection => "DROP CONNECTION",
            ItemKind::Secret => "DROP SECRET",
            ItemKind::Sink => "DROP SINK",
            ItemKind::Sequence => "DROP SEQUENCE",
        };
        let mut state = self.state.lock().await;
        let mut to_drop: Vec<GlobalId> = Vec::new();
        // Column defaults that draw from dropped sequences (`CASCADE`).
        let mut defaults = Vec::new();
        // Without `CASCADE`: the dropped objects others depend on, and
        // PostgreSQL's detail line for each dependent.
        let mut blocked: Vec<(String, String)> = Vec::new();
        // The items the statement names (the rest of `to_drop` goes with
        // them).
        let mut named: Vec<GlobalId> = Vec::new();
        // `IF EXISTS`: PostgreSQL's notice for each name not found.
        let mut skipped: Vec<String> = Vec::new();
        for name in names {
            let item = match state.catalog.resolve(path, name) {
                Ok(Some(item)) => item,
                // `IF EXISTS` also skips a name whose schema does not exist
                // (PostgreSQL).
                Ok(None) if if_exists => {
                    let last =
                        name.0
                            .last()
                            .and_then(|p| p.as_ident())
                            .map_or_else(String::new, |i| match i.quote_style {
                                Some(_) => i.value.clone(),
                                None => i.value.to_lowercase(),
                            });
                    skipped.push(format!(
                        "{} \"{last}\" does not exist, skipping",
                        kind.name()
                    ));
                    continue;
                }
                Err(PlanError::UnknownSchema(schema)) if if_exists => {
                    skipped.push(format!("schema \"{schema}\" does not exist, skipping"));
                    continue;
                }
                // PostgreSQL's code for a missing index is 42704, not the
                // 42P01 of the other relations.
                Ok(None) if kind == ItemKind::Index => {
                    return Err(AdapterError::Variable {
                        code: SqlState::UNDEFINED_OBJECT,
                        message: format!("index \"{name}\" does not exist"),
                    });
                }
                Ok(None) => {
                    return Err(PlanError::UnknownItem {
                        kind: kind.name(),
                        name: name.to_string(),
                    }
                    .into());
                }
                Err(e) => return Err(e.into()),
            };
            named.push(item.id);
            let n = item.name.clone();
            if item.kind != kind {
                return Err(wrong_kind(&n, kind, item.kind));
            }
            if item.id.is_system() {
                return Err(PlanError::WrongObjectType(format!(
                    "cannot drop \"{n}\": it is a system relation"
                ))
                .into());
            }
            if let Some((table, key)) = state.catalog.constraint_of_index(item.id) {
                let table = state.catalog.get(table).map_or("", |t| t.name.as_str());
                return Err(AdapterError::Constraint {
                    code: SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    message: format!(
                        "cannot drop index {n} because constraint {} on table {table} requires it",
                        key.name
                    ),
                    detail: None,
                    hint: Some(format!(
                        "You can drop constraint {} on table {table} instead.",
                        key.name
                    )),
                });
            }
            // Foreign keys may reference the key of a unique index:
            // `CASCADE` drops them with it (below, with the other
            // constraints that reference what goes).
            let dependent: Vec<String> = state
                .catalog
                .all_foreign_keys()
                .filter(|(_, fk)| fk.key_index == item.id)
                .map(|(child, fk)| {
                    let child = state.catalog.get(child).map_or("", |t| t.name.as_str());
                    format!(
                        "constraint {} on table {child} depends on index {n}",
                        fk.name
                    )
                })
                .collect();
            if !cascade && !dependent.is_empty() {
                return Err(dependent_objects(&format!("index {n}"), &dependent));
            }
            if item.kind == ItemKind::Sequence {
                let def = state.catalog.sequence(item.id);
                // An identity column's sequence is the column's.
                if let Some(def) = def
                    && def.identity.is_some()
                    && let Some((table, column)) = def.owned_by
                    && let Some(t) = state.catalog.get(table)
                {
                    let column = t.desc.columns.get(column).map_or("", |c| c.name.as_str());
                    return Err(AdapterError::Constraint {
                        code: SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        message: format!(
                            "cannot drop sequence {n} because column {column} of table {} requires it",
                            t.name
                        ),
                        detail: None,
                        hint: Some(format!(
                            "You can drop column {column} of table {} instead.",
                            t.name
                        )),
                    });
                }
                // A column default that draws from the sequence depends on
                // it: `CASCADE` drops the default.
                let users = super::sequence_objects::defaults_using(&state.catalog, item.id);
                if !users.is_empty() && !cascade {
                    return Err(AdapterError::Constraint {
                        code: SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        message: format!(
                            "cannot drop sequence {n} because other objects depend on it"
                        ),
                        detail: Some(
                            users
                                .iter()
                                .map(|u| {
                                    format!(
                                        "default value for column {} of table {} depends on sequence {n}",
                                        u.column_name, u.table_name
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("\n"),
                        ),
                        hint: Some(CASCADE_HINT.into()),
                    });
                }
                for u in users {
                    if !defaults
                        .iter()
                        .any(|d: &super::sequence_objects::DefaultUser| {
                            d.table == u.table && d.column == u.column
                        })
                    {
                        defaults.push(u);
                    }
                }
                let id = item.id;
                if !to_drop.contains(&id) {
                    to_drop.push(id);
                }
                continue;
            }
            if item.owned_by.is_some() {
                return Err(PlanError::WrongObjectType(format!(
                    "cannot drop \"{n}\": it belongs to a source; drop the source instead"
                ))
                .into());
            }
            let id = item.id;
            let what = format!("{} {}", kind.name(), quote_ident(&n));
            state.collect_drop(id, cascade, &what, path, &mut to_drop, &mut blocked);
        }
        // A foreign key of another table that references a dropped table
        // goes with it (`CASCADE`) or blocks the drop.
        let referencing = super::foreign_keys::referencing_from_outside(&state.catalog, &to_drop);
        let mut lines: Vec<String> = defaults
            .iter()
            .map(|d| {
                format!(
                    "drop cascades to default value for column {} of table {}",
                    d.column_name, d.table_name
                )
            })
            .collect();
        lines.extend(
            referencing
                .iter()
                .map(|(child, fk)| {
                    let child = state.catalog.get(*child).map_or("", |t| t.name.as_str());
                    (child, fk)
                })
                .map(|(child, fk)| {
                    let parent = state
                        .catalog
                        .get(fk.referenced)
                        .map_or("", |t| t.name.as_str());
                    if cascade {
                        format!("drop cascades to constraint {} on table {child}", fk.name)
                    } else {
                        format!(
                            "constraint {} on table {child} depends on table {parent}",
                            fk.name
                        )
                    }
                }),
        );
        if !cascade && (!blocked.is_empty() || !referencing.is_empty()) {
            let what = match (blocked.first(), referencing.first()) {
                (Some((what, _)), _) => what.clone(),
                (None, Some((_, fk))) => {
                    let parent = state
                        .catalog
                        .get(fk.referenced)
                        .map_or("", |t| t.name.as_str());
                    format!("{} {parent}", kind.name())
                }
                (None, None) => String::new(),
            };
            let all: Vec<String> = blocked
                .into_iter()
                .map(|(_, line)| line)
                .chain(lines)
                .collect();
            return Err(dependent_objects(&what, &all));
        }
        if cascade {
            lines.extend(cascaded_lines(&state, &to_drop, &named, path));
        }
        // The defaults go by records of their own (`ALTER COLUMN ... DROP
        // DEFAULT`), and so does a dropped `serial` column's sequence whose
        // table stays (its table's record makes it at replay).
        let columns: Vec<(GlobalId, usize)> = defaults
            .iter()
            .filter(|d| !to_drop.contains(&d.table))
            .map(|d| (d.table, d.column))
            .collect();
        let dropped_defaults = super::alter_table::DroppedDefaults::new(&mut state, &columns)?;
        let mut extra = dropped_defaults.commit();
        let mut sequence_records = Vec::new();
        for &id in &to_drop {
            let Some(item) = state.catalog.get(id) else {
                continue;
            };
            if let Some(def) = state.catalog.sequence(id)
                && def.implicit
                && let Some(table) = def.maker
                && !to_drop.contains(&table)
            {
                let sql = format!(
                    "DROP SEQUENCE {}.{}",
                    quote_ident(&item.schema),
                    quote_ident(&item.name)
                );
                let name = item.name.clone();
                let record = state.allocate_id(None);
                extra.put_items.push((
                    record,
                    CatalogRecord {
                        name,
                        create_sql: sql,
                    },
                ));
                sequence_records.push((table, record));
            }
        }
        // A `serial` column's sequence that `ALTER SEQUENCE ... OWNED BY`
        // took from its dropped table outlives it: it gets a `CREATE
        // SEQUENCE` record of its own, at its id (where the table's record
        // made it; its `ALTER SEQUENCE` record replays after).
        let standalone: Vec<GlobalId> = state
            .catalog
            .items()
            .filter(|i| i.kind == ItemKind::Sequence && !to_drop.contains(&i.id))
            .filter(|i| {
                state
                    .catalog
                    .sequence(i.id)
                    .is_some_and(|d| d.implicit && d.maker.is_some_and(|t| to_drop.contains(&t)))
            })
            .map(|i| i.id)
            .collect();
        for &id in &standalone {
            if let (Some(item), Some(def)) = (state.catalog.get(id), state.catalog.sequence(id)) {
                extra.put_items.push((
                    id,
                    CatalogRecord {
                        name: item.name.clone(),
                        create_sql: format!(
                            "CREATE SEQUENCE {}.{} {}",
                            quote_ident(&item.schema),
                            quote_ident(&item.name),
                            super::alter_sequence::options_sql(def)
                        ),
                    },
                ));
            }
        }
        if !extra.put_items.is_empty() {
            extra.next_id = Some(state.next_id);
        }
        self.drop_ids(&mut state, to_drop, Vec::new(), extra)?;
        dropped_defaults.apply(&mut state);
        for id in standalone {
            if let Some(mut def) = state.catalog.sequence(id).cloned() {
                def.implicit = false;
                def.maker = None;
                state.catalog.set_sequence(id, def);
            }
        }
        for (table, record) in sequence_records {
            state.catalog.add_alter_record(table, record);
        }
        let mut notices: Vec<super::sequence::Notice> =
            skipped.into_iter().map(Into::into).collect();
        match lines.as_slice() {
            [] => {}
            [one] => notices.push(one.clone().into()),
            // PostgreSQL's count, with each object on a DETAIL line.
            more => notices.push(super::sequence::Notice {
                message: format!("drop cascades to {} other objects", more.len()),
                detail: Some(more.join("\n")),
                warning: None,
            }),
        }
        Ok(if notices.is_empty() {
            ExecuteResponse::command(tag)
        } else {
            ExecuteResponse::CommandWithNotice {
                tag: tag.into(),
                notices,
            }
        })
    }

    /// Drops items (in the order given: dependents first) and schemas'
    /// records, in one durable commit with `extra` (the records of what
    /// the drop changes elsewhere).
    fn drop_ids(
        &self,
        state: &mut CoordState,
        to_drop: Vec<GlobalId>,
        schemas: Vec<String>,
        extra: Commit,
    ) -> Result<(), AdapterError> {
        if to_drop.is_empty() && schemas.is_empty() {
            return Ok(());
        }
        // No dropped source commits another batch after this.
        Coordinator::stop_kafka_sources(state, &to_drop);
        self.stop_sinks(state, &to_drop);
        let mut schema_ids: Vec<GlobalId> = schemas
            .iter()
            .filter_map(|s| state.catalog.schema_id(s))
            .collect();
        // A dropped schema's comment record goes with it.
        let comments: Vec<GlobalId> = schema_ids
            .iter()
            .filter_map(|id| {
                state
                    .catalog
                    .comment(crate::catalog::CommentClass::Namespace, *id, 0)
                    .map(|c| c.record)
            })
            .collect();
        schema_ids.extend(comments);
        // A dropped table's `ALTER TABLE` records (`alter_table.rs`).
        let mut alter_records: Vec<GlobalId> = to_drop
            .iter()
            .flat_map(|id| state.catalog.alter_records(*id).to_vec())
            .collect();
        // Foreign keys of other tables that reference a dropped table go
        // (a record of one `ALTER TABLE` added too; one of a `CREATE
        // TABLE` is skipped at replay, `foreign_keys`).
        let dangling = super::foreign_keys::referencing_from_outside(&state.catalog, &to_drop);
        for (child, fk) in &dangling {
            if state.catalog.alter_records(*child).contains(&fk.id) {
                alter_records.push(fk.id);
            }
        }
        state
            .store
            .commit(Commit {
                delete_items: to_drop
                    .iter()
                    .chain(&schema_ids)
                    .chain(&alter_records)
                    .chain(&extra.delete_items)
                    .copied()
                    .collect(),
                ..extra
            })
            .map_err(|e| AdapterError::Storage(e.to_string()))?;
        for (child, fk) in dangling {
            let kept: Vec<_> = state
                .catalog
                .foreign_keys(child)
                .iter()
                .filter(|k| k.id != fk.id)
                .cloned()
                .collect();
            state.catalog.set_foreign_keys(child, kept);
            state.catalog.remove_alter_record(child, fk.id);
            state.foreign.remove(fk.id);
        }
        for id in to_drop {
            for fk in state.catalog.foreign_keys(id).to_vec() {
                state.foreign.remove(fk.id);
            }
            if let Some(mut source) = state.sources.remove(&id)
                && let Some(task) = source.task.take()
            {
                task.abort();
            }
            let sequence = state
                .catalog
                .get(id)
                .is_some_and(|i| i.kind == ItemKind::Sequence);
            state.drop_unique_index(id);
            state.catalog.remove(id);
            state.unique.remove(id);
            if sequence {
                self.sequences.remove(id);
            } else {
                self.compute.send(Command::Drop { id });
            }
        }
        for schema in schemas {
            state.catalog.remove_schema(&schema);
        }
        Ok(())
    }

    /// `CREATE SCHEMA [IF NOT EXISTS] name`.
    pub(crate) fn create_schema(
        &self,
        state: &mut CoordState,
        name: SchemaName,
        if_not_exists: bool,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let SchemaName::Simple(name) = name else {
            return Err(PlanError::Unsupported("CREATE SCHEMA ... AUTHORIZATION".into()).into());
        };
        // `super::names` checked a database part and removed it.
        let name = PartialName::from_object_name(&name)?.item;
        if !state.catalog.schema_exists(&name)
            && (name.starts_with("mz_") || name.starts_with("pg_"))
        {
            return Err(PlanError::ReservedSchemaName(name).into());
        }
        if state.catalog.schema_exists(&name) {
            if if_not_exists {
                return Ok(ExecuteResponse::CommandWithNotice {
                    tag: "CREATE SCHEMA".into(),
                    notices: vec![super::sequence::Notice::from(format!(
                        "schema \"{name}\" already exists, skipping"
                    ))],
                });
            }
            return Err(PlanError::SchemaAlreadyExists(name).into());
        }
        let id = state.allocate_id(replay_id);
        if replay_id.is_none() {
            state
                .store
                .commit(Commit {
                    put_items: vec![(
                        id,
                        CatalogRecord {
                            name: name.clone(),
                            create_sql: sql.to_string(),
                        },
                    )],
                    next_id: Some(state.next_id),
                    ..Default::default()
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
        }
        state.catalog.insert_schema(name, id);
        Ok(ExecuteResponse::command("CREATE SCHEMA"))
    }

    /// `DROP SCHEMA [IF EXISTS] names [RESTRICT | CASCADE]`: `RESTRICT`
    /// (the default) refuses a schema with objects in it; `CASCADE` drops
    /// them and, transitively, the objects elsewhere that depend on them.
    pub async fn drop_schemas(
        &self,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let mut state = self.state.lock().await;
        let mut to_drop: Vec<GlobalId> = Vec::new();
        let mut schemas: Vec<String> = Vec::new();
        for name in names {
            let schema = schema_name(path, name)?;
            if schema == SYSTEM_SCHEMA || crate::catalog::system::is_catalog_schema(&schema) {
                return Err(PlanError::SystemSchema(schema).into());
            }
            if !state.catalog.schema_exists(&schema) {
                if if_exists {
                    continue;
                }
                return Err(PlanError::UnknownSchema(schema).into());
            }
            let members: Vec<&CatalogItem> = state
                .catalog
                .items()
                .filter(|i| i.schema == schema)
                .collect();
            if !cascade && !members.is_empty() {
                // An index, a column's own sequence and a source's outputs
                // go with the object they belong to, unnamed.
                let named: Vec<&CatalogItem> = members
                    .iter()
                    .copied()
                    .filter(|i| {
                        i.kind != ItemKind::Index
                            && i.owned_by.is_none()
                            && state
                                .catalog
                                .sequence(i.id)
                                .is_none_or(|d| d.owned_by.is_none())
                    })
                    .collect();
                let what = format!("schema {}", quote_ident(&schema));
                let lines: Vec<String> = named
                    .iter()
                    .map(|i| format!("{} depends on {what}", describe(i, path)))
                    .collect();
                return Err(dependent_objects(&what, &lines));
            }
            let ids: Vec<GlobalId> = members
                .iter()
                .filter(|i| i.owned_by.is_none())
                .map(|i| i.id)
                .collect();
            for id in ids {
                state.collect_drop(id, true, "", path, &mut to_drop, &mut Vec::new());
            }
            if !schemas.contains(&schema) {
                schemas.push(schema);
            }
        }
        self.drop_ids(&mut state, to_drop, schemas, Commit::default())?;
        Ok(ExecuteResponse::command("DROP SCHEMA"))
    }
}
