//! `ALTER { TABLE | VIEW | MATERIALIZED VIEW | INDEX | SEQUENCE | SOURCE |
//! SINK | CONNECTION | SECRET } [IF EXISTS] name RENAME TO new` and `ALTER
//! SCHEMA name RENAME TO new` (parsed by `sql/rename.rs`), with
//! PostgreSQL's checks and errors (Materialize's kinds likewise).
//!
//! Everything that runs (dataflows, subscribes, sources, sinks) and every
//! plan refers to items by id, so a rename changes only names: the
//! catalog's name maps (and so `pg_class`, `SHOW`, name resolution) at
//! once, and the stored statements that name the renamed object, which
//! `coord::rename_sql` rewrites. Every changed record (the renamed
//! object's own, its dependents', comments', `ALTER` records') is written
//! in one durable commit, so a restart replays either the old names
//! throughout or the new ones. `RENAME [COLUMN] c TO new` goes on to
//! `coord::rename_column`.

use super::rename_sql::Renaming;
use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::names::PartialName;
use sqlparser::ast::{ObjectName, Statement};

use crate::catalog::names::sql_ident;
use crate::catalog::{CatalogItem, ItemKind, QualifiedName, SYSTEM_SCHEMA, SearchPath};
use crate::expr::GlobalId;
use crate::repr::SqlState;
use crate::sql::PlanError;
use crate::sql::parse::{FreshetStatement, parse_statements};
use crate::sql::rename::{AlterRenameStatement, RenameKind};
use crate::storage::durable::Commit;

/// The kinds `ALTER TABLE` and `ALTER INDEX` rename: PostgreSQL's
/// relations (its `RENAME` takes any relation with either).
const RELATIONS: &[ItemKind] = &[
    ItemKind::Table,
    ItemKind::View,
    ItemKind::MaterializedView,
    ItemKind::Index,
    ItemKind::Sequence,
];

/// The kinds a statement renames, and the word of its "is not a ..."
/// error.
fn allowed(kind: RenameKind) -> (&'static [ItemKind], &'static str) {
    match kind {
        RenameKind::Table => (RELATIONS, "a table"),
        RenameKind::Index => (RELATIONS, "an index"),
        RenameKind::View => (&[ItemKind::View], "a view"),
        RenameKind::MaterializedView => (&[ItemKind::MaterializedView], "a materialized view"),
        RenameKind::Sequence => (&[ItemKind::Sequence], "a sequence"),
        RenameKind::Source => (&[ItemKind::Source], "a source"),
        RenameKind::Sink => (&[ItemKind::Sink], "a sink"),
        RenameKind::Connection => (&[ItemKind::Connection], "a connection"),
        RenameKind::Secret => (&[ItemKind::Secret], "a secret"),
        RenameKind::Schema => (&[], "a schema"),
    }
}

/// Whether PostgreSQL calls what the statement names a relation (its
/// errors then say `relation`, `42P01`); Materialize's connections,
/// secrets and sinks are other objects (`42704`).
fn names_relation(kind: RenameKind) -> bool {
    !matches!(
        kind,
        RenameKind::Sink | RenameKind::Connection | RenameKind::Secret
    )
}

impl Coordinator {
    /// `ALTER ... RENAME TO`.
    pub(crate) async fn alter_rename(
        &self,
        stmt: AlterRenameStatement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        if stmt.column.is_some() {
            return self.alter_rename_column(stmt, path).await;
        }
        let tag = format!("ALTER {}", stmt.kind.sql());
        let mut state = self.state.lock().await;
        let new = super::constraints::ident(&stmt.new_name);
        if stmt.kind == RenameKind::Schema {
            rename_schema(&mut state, &stmt, &new, path)?;
            return Ok(ExecuteResponse::command(&tag));
        }
        let partial = PartialName::from_object_name(&stmt.name)?;
        if crate::catalog::system::resolve(&partial).is_some()
            || partial.schema.as_deref() == Some(SYSTEM_SCHEMA)
        {
            return Err(system_catalog(&partial.item));
        }
        let item = match state.catalog.resolve_partial(path, &partial) {
            Ok(Some(item)) => item,
            // `IF EXISTS` also skips a name whose schema does not exist.
            Ok(None) | Err(PlanError::UnknownSchema(_)) if stmt.if_exists => {
                return Ok(ExecuteResponse::CommandWithNotice {
                    tag,
                    notices: vec![super::sequence::Notice::from(format!(
                        "{} \"{}\" does not exist, skipping",
                        what(stmt.kind),
                        stmt.name
                    ))],
                });
            }
            Ok(None) => return Err(unknown(&stmt)),
            Err(e) => return Err(e.into()),
        };
        let (kinds, expected) = allowed(stmt.kind);
        if !kinds.contains(&item.kind) {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not {expected}", item.name)).into(),
            );
        }
        if item.id.is_system() {
            return Err(system_catalog(&item.name));
        }
        let record = record_of(&state, item)?;
        check_constraint_name(&state, item, &new)?;
        if let Some(existing) = state.catalog.lookup_in(&item.schema, &new) {
            return Err(PlanError::AlreadyExists {
                kind: if names_relation(stmt.kind) {
                    "relation"
                } else {
                    existing.kind.name()
                },
                name: new,
            }
            .into());
        }
        let (id, kind, renaming) = (
            item.id,
            item.kind,
            Renaming::Item {
                schema: item.schema.clone(),
                old: item.name.clone(),
                new: new.clone(),
            },
        );
        rewrite_records(&state, &renaming, Some((id, kind, record)), None)?;
        rename_item_and_key(&mut state, id, &new);
        rewrite_items(&mut state, &renaming);
        Ok(ExecuteResponse::command(&tag))
    }
}

/// `ALTER SCHEMA old RENAME TO new`.
fn rename_schema(
    state: &mut CoordState,
    stmt: &AlterRenameStatement,
    new: &str,
    path: &SearchPath,
) -> Result<(), AdapterError> {
    let old = super::drop::schema_name(path, &stmt.name)?;
    if old == SYSTEM_SCHEMA || crate::catalog::system::is_catalog_schema(&old) {
        return Err(PlanError::SystemSchema(old).into());
    }
    let Some(record) = state.catalog.schema_id(&old) else {
        return Err(PlanError::UnknownSchema(old).into());
    };
    if new.starts_with("mz_") || new.starts_with("pg_") {
        return Err(PlanError::ReservedSchemaName(new.to_string()).into());
    }
    if state.catalog.schema_exists(new) {
        return Err(PlanError::SchemaAlreadyExists(new.to_string()).into());
    }
    let renaming = Renaming::Schema {
        old: old.clone(),
        new: new.to_string(),
    };
    rewrite_records(state, &renaming, None, Some(record))?;
    state.catalog.rename_schema(&old, new);
    rewrite_items(state, &renaming);
    Ok(())
}

/// The word of the "does not exist" messages.
fn what(kind: RenameKind) -> &'static str {
    match kind {
        RenameKind::Sink => "sink",
        RenameKind::Connection => "connection",
        RenameKind::Secret => "secret",
        _ => "relation",
    }
}

fn unknown(stmt: &AlterRenameStatement) -> AdapterError {
    if names_relation(stmt.kind) {
        PlanError::UnknownItem {
            kind: "relation",
            name: stmt.name.to_string(),
        }
        .into()
    } else {
        AdapterError::Variable {
            code: SqlState::UNDEFINED_OBJECT,
            message: format!("{} \"{}\" does not exist", what(stmt.kind), stmt.name),
        }
    }
}

/// PostgreSQL's error for a relation that does not exist.
pub(super) fn names_relation_error(name: &ObjectName) -> AdapterError {
    PlanError::UnknownItem {
        kind: "relation",
        name: name.to_string(),
    }
    .into()
}

/// PostgreSQL's error for renaming a system catalog relation.
pub(super) fn system_catalog(name: &str) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::INSUFFICIENT_PRIVILEGE,
        message: format!("permission denied: \"{name}\" is a system catalog"),
    }
}

/// The record that makes an item, which ends with its renames: its own,
/// or, for what Freshet made for a table's `CREATE TABLE` (a constraint's
/// index, a `serial` or identity column's sequence), the table's, which
/// names them by the names it gives them (as PostgreSQL's `ALTER INDEX`
/// renames the constraint with its index). Other items made for another
/// item (a subsource, a default index) are refused, and so is a
/// constraint with a comment (its record names the constraint).
fn record_of(state: &CoordState, item: &CatalogItem) -> Result<GlobalId, AdapterError> {
    let owner = item.owned_by.or_else(|| {
        state
            .catalog
            .sequence(item.id)
            .filter(|d| d.implicit)
            .and_then(|d| d.maker)
    });
    let Some(owner) = owner.and_then(|o| state.catalog.get(o)) else {
        return Ok(item.id);
    };
    let made_by_table = owner.kind == ItemKind::Table
        && (state.catalog.constraint_of_index(item.id).is_some()
            || state.catalog.sequence(item.id).is_some());
    let commented = state
        .catalog
        .comment(crate::catalog::CommentClass::Constraint, item.id, 0)
        .is_some();
    if made_by_table && !commented {
        let records = state
            .store
            .catalog_records()
            .map_err(|e| AdapterError::Storage(e.to_string()))?;
        // An `ALTER TABLE ... ADD CONSTRAINT` or `ADD GENERATED ... AS
        // IDENTITY` record is at the item's id.
        return Ok(if records.iter().any(|(id, _)| *id == item.id) {
            item.id
        } else {
            owner.id
        });
    }
    Err(PlanError::Unsupported(format!(
        "renaming {} \"{}\", which {} \"{}\" created,",
        item.kind.name(),
        item.name,
        owner.kind.name(),
        owner.name
    ))
    .into())
}

/// PostgreSQL's check that an index renamed with its constraint does not
/// take another constraint's name (`42710`).
fn check_constraint_name(
    state: &CoordState,
    item: &CatalogItem,
    new: &str,
) -> Result<(), AdapterError> {
    let Some((table, _)) = state.catalog.constraint_of_index(item.id) else {
        return Ok(());
    };
    let taken = state.catalog.unique(table).iter().any(|k| k.name == new)
        || state.catalog.checks(table).iter().any(|c| c.name == new)
        || state
            .catalog
            .foreign_keys(table)
            .iter()
            .any(|f| f.name == new);
    if !taken {
        return Ok(());
    }
    let table = state.catalog.get(table).map(|t| t.name.clone());
    Err(AdapterError::Variable {
        code: SqlState::DUPLICATE_OBJECT,
        message: format!(
            "constraint \"{new}\" for relation \"{}\" already exists",
            table.unwrap_or_default()
        ),
    })
}

/// Renames an item, and the unique key its index enforces (a constraint
/// is renamed with its index, as in PostgreSQL; a unique index's key
/// bears its name too).
fn rename_item_and_key(state: &mut CoordState, id: GlobalId, new: &str) {
    state.catalog.rename_item(id, new);
    if let Some((table, _)) = state.catalog.unique_key_of_index(id) {
        let mut keys = state.catalog.unique(table).to_vec();
        for key in keys.iter_mut().filter(|k| k.index == id) {
            key.name = new.to_string();
        }
        state.catalog.set_unique(table, keys);
    }
}

/// The statement that renames an item of `kind` (in its record).
pub(super) fn rename_kind(kind: ItemKind) -> RenameKind {
    match kind {
        ItemKind::Table => RenameKind::Table,
        ItemKind::View => RenameKind::View,
        ItemKind::MaterializedView => RenameKind::MaterializedView,
        ItemKind::Index => RenameKind::Index,
        ItemKind::Sequence => RenameKind::Sequence,
        ItemKind::Source => RenameKind::Source,
        ItemKind::Sink => RenameKind::Sink,
        ItemKind::Connection => RenameKind::Connection,
        ItemKind::Secret => RenameKind::Secret,
    }
}

/// Rewrites the stored records a rename changes, in one durable commit.
///
/// A renamed item's record (`renamed`: the item, its kind, and the record
/// that makes it: its own, or its table's, [`record_of`]) keeps its
/// `CREATE` statement as it was and ends with `ALTER kind schema.old
/// RENAME TO new` (changed by the item's next rename while it is the last
/// statement), replayed right after it: names the `CREATE` derives
/// from the item's name (a table's constraints, `t_pkey`, `t_a_fkey`; its
/// `serial` columns' sequences) stay what they were, as in PostgreSQL.
/// Records after it name the item by its new name; records before it
/// cannot name it (an item's dependents come after it), and a name like
/// its old one there is another, earlier item's. A renamed schema's name
/// changes in every record.
fn rewrite_records(
    state: &CoordState,
    renaming: &Renaming,
    renamed: Option<(GlobalId, ItemKind, GlobalId)>,
    schema_record: Option<GlobalId>,
) -> Result<(), AdapterError> {
    let records = state
        .store
        .catalog_records()
        .map_err(|e| AdapterError::Storage(e.to_string()))?;
    let mut put_items = Vec::new();
    for (id, mut record) in records {
        if renamed.is_some_and(|(_, _, record)| id < record) {
            continue;
        }
        let mut statements = parse_statements(&record.create_sql).map_err(|e| {
            AdapterError::Internal(format!("stored statement of {id:?} does not parse: {e}"))
        })?;
        let mut changed = false;
        match (renamed, renaming) {
            (Some((item, kind, record_id)), Renaming::Item { schema, old, new })
                if record_id == id =>
            {
                // The last statement, if it renames the item (not a
                // column), names it as it was created.
                match statements.last_mut() {
                    Some(FreshetStatement::AlterRename(rename))
                        if rename.column.is_none()
                            && rename.kind == rename_kind(kind)
                            && super::constraints::ident(&rename.new_name) == *old =>
                    {
                        rename.new_name = sql_ident(new);
                    }
                    _ => statements.push(FreshetStatement::AlterRename(AlterRenameStatement {
                        kind: rename_kind(kind),
                        if_exists: false,
                        name: QualifiedName {
                            schema: schema.clone(),
                            item: old.clone(),
                        }
                        .to_object_name(),
                        column: None,
                        new_name: sql_ident(new),
                    })),
                }
                // A table's record that makes the item keeps the table's
                // name.
                if item == id {
                    record.name = new.clone();
                }
                changed = true;
            }
            _ => {
                if let Some(taken) = created_as(&statements, renaming) {
                    return Err(PlanError::Unsupported(format!(
                        "renaming to \"{taken}\", the name another object was created with,"
                    ))
                    .into());
                }
                for stmt in &mut statements {
                    if renaming.statement(stmt) {
                        changed = true;
                        pin_index_name(stmt, state.catalog.get(id));
                    }
                }
            }
        }
        if let (Some(record_id), Renaming::Schema { new, .. }) = (schema_record, renaming)
            && record_id == id
        {
            record.name = new.clone();
            changed = true;
        }
        if changed {
            record.create_sql = join(&statements);
            put_items.push((id, record));
        }
    }
    state
        .store
        .commit(Commit {
            put_items,
            ..Default::default()
        })
        .map_err(|e| AdapterError::Storage(e.to_string()))
}

/// The new name of an item rename, if a later record creates its item
/// under that name and renames it at once: replayed, the item renamed
/// now would already hold it.
fn created_as(statements: &[FreshetStatement], renaming: &Renaming) -> Option<String> {
    let Renaming::Item { schema, new, .. } = renaming else {
        return None;
    };
    let taken = QualifiedName {
        schema: schema.clone(),
        item: new.clone(),
    };
    statements.iter().find_map(|s| match s {
        FreshetStatement::AlterRename(r)
            if PartialName::from_object_name(&r.name).is_ok_and(|p| {
                p.schema.as_ref() == Some(&taken.schema) && p.item == taken.item
            }) =>
        {
            Some(taken.item.clone())
        }
        _ => None,
    })
}

/// An index created without a name was named after its relation: a
/// rewritten record names it, so that it keeps its name at replay when
/// its relation has another.
fn pin_index_name(stmt: &mut FreshetStatement, item: Option<&CatalogItem>) {
    let Some(item) = item.filter(|i| i.kind == ItemKind::Index) else {
        return;
    };
    match stmt {
        FreshetStatement::Sql(s) => {
            if let Statement::CreateIndex(ci) = s.as_mut()
                && ci.name.is_none()
            {
                ci.name = Some(ObjectName::from(vec![sql_ident(&item.name)]));
            }
        }
        FreshetStatement::CreateDefaultIndex {
            name: name @ None, ..
        } => {
            *name = Some(ObjectName::from(vec![sql_ident(&item.name)]));
        }
        _ => {}
    }
}

fn join(statements: &[FreshetStatement]) -> String {
    statements
        .iter()
        .map(|s| s.to_sql())
        .collect::<Vec<_>>()
        .join(";\n")
}

/// Replays the `ALTER ... RENAME TO` that ends a renamed item's record
/// (`rewrite_records`): the item its `CREATE` just made takes its name.
pub(crate) fn replay_rename(
    state: &mut CoordState,
    stmt: &AlterRenameStatement,
) -> Result<ExecuteResponse, AdapterError> {
    if stmt.column.is_some() {
        return super::rename_column::replay_rename_column(state, stmt);
    }
    let partial = PartialName::from_object_name(&stmt.name)?;
    let schema = partial.schema.clone().unwrap_or_default();
    let item = state
        .catalog
        .lookup_in(&schema, &partial.item)
        .ok_or_else(|| PlanError::UnknownItem {
            kind: "relation",
            name: stmt.name.to_string(),
        })?;
    let (id, new) = (item.id, super::constraints::ident(&stmt.new_name));
    // What the catalog shows (`SHOW CREATE`) is the `CREATE` alone, naming
    // the item as it is now called.
    let renaming = Renaming::Item {
        schema,
        old: partial.item,
        new: new.clone(),
    };
    let mut statements = parse_statements(&item.create_sql)?;
    statements.retain(|s| !matches!(s, FreshetStatement::AlterRename(_)));
    for s in &mut statements {
        renaming.statement(s);
    }
    let sql = join(&statements);
    rename_item_and_key(state, id, &new);
    state.catalog.set_create_sql(id, sql);
    Ok(ExecuteResponse::command(&format!(
        "ALTER {}",
        stmt.kind.sql()
    )))
}

/// Rewrites the statements the catalog keeps for its items (`SHOW CREATE`,
/// `pg_views.definition`) as the records were.
fn rewrite_items(state: &mut CoordState, renaming: &Renaming) {
    let changed: Vec<_> = state
        .catalog
        .items()
        .filter_map(|item| {
            let mut statements = parse_statements(&item.create_sql).ok()?;
            let mut changed = false;
            for stmt in &mut statements {
                changed |= renaming.statement(stmt);
            }
            changed.then(|| (item.id, join(&statements)))
        })
        .collect();
    for (id, sql) in changed {
        state.catalog.set_create_sql(id, sql);
    }
}
