//! `ALTER TABLE`: `ADD [CONSTRAINT name] PRIMARY KEY | UNIQUE | CHECK |
//! FOREIGN KEY`,
//! `DROP CONSTRAINT [IF EXISTS] name`, and `ALTER COLUMN … SET | DROP
//! NOT NULL`, with PostgreSQL's names, checks and errors.
//!
//! A new constraint is checked against the table's committed rows (read
//! under the coordinator's lock, so no write comes between): a key
//! written twice is `23505` (`could not create unique index`), a row
//! whose condition is false `23514` (`… is violated by some row`), a row
//! whose key is not in the referenced table `23503` (as for an insert).
//! The operations of one statement apply together or not at all. A key
//! that a foreign key references cannot be dropped (`2BP01`).
//!
//! # Durable form
//!
//! A table's record holds its `CREATE TABLE`, whose constraints take the
//! ids after the table's at replay; it is never rewritten (an added
//! constraint would take an id another item has). Each operation is a
//! record of its own instead, replayed after the table in id order, with
//! everything named: `ALTER TABLE s.t ADD CONSTRAINT c …` at the
//! constraint's id (its index's, for a key), `ALTER TABLE s.t DROP
//! CONSTRAINT c` for a constraint of the `CREATE TABLE` (dropping one an
//! earlier record added deletes that record), `ALTER TABLE s.t ALTER
//! COLUMN x SET NOT NULL`. The records go with the table
//! (`Catalog::alter_records`).
//!
//! A column's default has one record in force: a `SET | DROP DEFAULT`
//! deletes the earlier one (`Catalog::default_record`), and the first one
//! rewrites the `CREATE TABLE` record without the column's `DEFAULT`
//! clause when that draws from a sequence (which may be dropped
//! afterwards; the ids the record takes do not change). `DROP SEQUENCE
//! ... CASCADE` drops the defaults that draw from the sequence the same
//! way ([`DroppedDefaults`]); a `serial` column's sequence dropped while
//! its table stays gets a `DROP SEQUENCE` record of the table's, since the
//! `CREATE TABLE` record makes it again at replay.

use std::sync::Arc;

use sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, Expr, TableConstraint,
};

use super::check_constraints::{DeclaredCheck, build_checks};
use super::constraints::ident;
use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::{
    CatalogItem, CheckConstraint, ForeignKey, ItemKind, QualifiedName, SearchPath, UniqueKey,
};
use crate::compute::Command;
use crate::expr::string_format::quote_ident;
use crate::expr::{GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{Datum, Row, SqlState};
use crate::sql::PlanError;
use crate::storage::durable::{CatalogRecord, Commit};

const TAG: &str = "ALTER TABLE";

fn error(code: SqlState, message: String) -> AdapterError {
    AdapterError::Variable { code, message }
}

/// A table's constraints and columns as an `ALTER TABLE` changes them,
/// before they are applied.
struct Work {
    table: CatalogItem,
    keys: Vec<UniqueKey>,
    checks: Vec<CheckConstraint>,
    foreign_keys: Vec<ForeignKey>,
    /// Foreign keys this statement adds and drops.
    added_foreign_keys: Vec<GlobalId>,
    dropped_foreign_keys: Vec<GlobalId>,
    /// Keys this statement adds (their indexes are built at the end).
    added_keys: Vec<GlobalId>,
    /// Indexes of keys this statement drops.
    dropped_indexes: Vec<GlobalId>,
    /// Records to write and to delete.
    puts: Vec<(GlobalId, CatalogRecord)>,
    deletes: Vec<GlobalId>,
    /// The table's rows (read once, when a constraint needs them).
    rows: Option<Vec<Row>>,
    notices: Vec<String>,
    /// The records of the defaults this statement sets or drops, by
    /// column.
    default_records: Vec<(usize, GlobalId)>,
}

impl Work {
    fn new(state: &CoordState, table: CatalogItem) -> Work {
        Work {
            keys: state.catalog.unique(table.id).to_vec(),
            checks: state.catalog.checks(table.id).to_vec(),
            foreign_keys: state.catalog.foreign_keys(table.id).to_vec(),
            added_foreign_keys: Vec::new(),
            dropped_foreign_keys: Vec::new(),
            table,
            added_keys: Vec::new(),
            dropped_indexes: Vec::new(),
            puts: Vec::new(),
            deletes: Vec::new(),
            rows: None,
            notices: Vec::new(),
            default_records: Vec::new(),
        }
    }

    /// The table's name, qualified, for the records.
    fn relation(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.table.schema),
            quote_ident(&self.table.name)
        )
    }

    fn constraint_exists(&self, name: &str) -> AdapterError {
        error(
            SqlState::DUPLICATE_OBJECT,
            format!(
                "constraint \"{name}\" for relation \"{}\" already exists",
                self.table.name
            ),
        )
    }

    fn column_names(&self, columns: &[usize]) -> Vec<String> {
        columns
            .iter()
            .map(|&c| quote_ident(&self.table.desc.columns[c].name))
            .collect()
    }

    fn not_null_violation(&self, column: usize) -> AdapterError {
        error(
            SqlState::NOT_NULL_VIOLATION,
            format!(
                "column \"{}\" of relation \"{}\" contains null values",
                self.table.desc.columns[column].name, self.table.name
            ),
        )
    }

    /// Records operation `sql` (already applied) at `id`.
    fn record(&mut self, id: GlobalId, name: &str, sql: String) {
        self.puts.push((
            id,
            CatalogRecord {
                name: name.to_string(),
                create_sql: sql,
            },
        ));
    }

    /// Puts the changed table in the catalog, with its records as
    /// written (`replay_id`: the one replayed).
    fn apply_records(&self, state: &mut CoordState, replay_id: Option<GlobalId>) {
        let id = self.table.id;
        state.catalog.insert(self.table.clone());
        for record in &self.deletes {
            state.catalog.remove_alter_record(id, *record);
        }
        match replay_id {
            Some(record) => state.catalog.add_alter_record(id, record),
            None => {
                for (record, _) in self.puts.iter().filter(|(r, _)| *r != id) {
                    state.catalog.add_alter_record(id, *record);
                }
            }
        }
        for &(column, record) in &self.default_records {
            state.catalog.set_default_record(id, column, record);
        }
    }

    /// Rewrites the table's `CREATE TABLE` record without the `DEFAULT`
    /// clause of column `column` (its default is replaced by a record of
    /// its own). The ids the record takes at replay do not change.
    ///
    /// The record is rewritten as stored: its `CREATE TABLE` names the
    /// table and its columns as they were created, and renames of them
    /// (`coord::rename`, `coord::rename_column`) follow it, which must
    /// stay (the names the `CREATE` derives, `t_pkey`, `t_a_check`, come
    /// from the created names). Columns are found by position, which no
    /// statement changes.
    fn without_create_default(
        &mut self,
        state: &CoordState,
        column: usize,
    ) -> Result<(), AdapterError> {
        let id = self.table.id;
        let stored = match self.puts.iter().find(|(r, _)| *r == id) {
            Some((_, record)) => record.create_sql.clone(),
            None => state
                .store
                .catalog_records()
                .map_err(|e| AdapterError::Storage(e.to_string()))?
                .into_iter()
                .find(|(r, _)| *r == id)
                .map(|(_, record)| record.create_sql)
                .ok_or_else(|| AdapterError::Internal(format!("table {id:?} has no record")))?,
        };
        let mut record = crate::sql::parse::parse_statements(&stored)?;
        if !drop_create_default(&mut record, column)? {
            return Ok(());
        }
        // What the catalog shows: the `CREATE TABLE` alone, as renamed.
        let mut shown = crate::sql::parse::parse_statements(&self.table.create_sql)?;
        drop_create_default(&mut shown, column)?;
        self.table.create_sql = join_statements(&shown);
        let name = self.table.name.clone();
        self.puts.retain(|(r, _)| *r != id);
        self.record(id, &name, join_statements(&record));
        Ok(())
    }

    /// Forgets the record of a constraint with id `id` that is dropped:
    /// one this statement wrote, or an earlier record's (deleted); `false`
    /// if it has none (it came with the `CREATE TABLE`).
    fn forget_record(&mut self, id: GlobalId, records: &[GlobalId]) -> bool {
        if let Some(i) = self.puts.iter().position(|(r, _)| *r == id) {
            self.puts.remove(i);
            true
        } else if records.contains(&id) {
            self.deletes.push(id);
            true
        } else {
            false
        }
    }
}

/// The relation an `ALTER ... [IF EXISTS] name` changes, or, when it does
/// not exist and `IF EXISTS` was given, the response that skips it
/// (PostgreSQL's notice, with the statement's `tag`).
pub(super) fn altered_relation(
    state: &CoordState,
    path: &SearchPath,
    name: &sqlparser::ast::ObjectName,
    if_exists: bool,
    tag: &str,
) -> Result<Result<CatalogItem, ExecuteResponse>, AdapterError> {
    match state.catalog.resolve(path, name) {
        Ok(Some(item)) => Ok(Ok(item.clone())),
        Ok(None) | Err(PlanError::UnknownSchema(_)) if if_exists => {
            Ok(Err(ExecuteResponse::CommandWithNotice {
                tag: tag.into(),
                notices: vec![super::sequence::Notice::from(format!(
                    "relation \"{name}\" does not exist, skipping"
                ))],
            }))
        }
        Ok(None) => Err(PlanError::UnknownItem {
            kind: "relation",
            name: name.to_string(),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The defaults that `DROP SEQUENCE ... CASCADE` drops with the
/// sequences they draw from, as `ALTER COLUMN ... DROP DEFAULT` records:
/// committed with the drop ([`DroppedDefaults::commit`]), then applied.
pub(super) struct DroppedDefaults(Vec<Work>);

impl DroppedDefaults {
    /// Drops the defaults of `columns` (table, column position).
    pub(super) fn new(
        state: &mut CoordState,
        columns: &[(GlobalId, usize)],
    ) -> Result<DroppedDefaults, AdapterError> {
        let mut works: Vec<Work> = Vec::new();
        let path = super::names::qualified();
        for &(table, column) in columns {
            let i = match works.iter().position(|w| w.table.id == table) {
                Some(i) => i,
                None => {
                    let item = state
                        .catalog
                        .get(table)
                        .cloned()
                        .ok_or_else(|| AdapterError::Internal(format!("no table {table:?}")))?;
                    works.push(Work::new(state, item));
                    works.len() - 1
                }
            };
            let name = works[i].table.desc.columns[column].name.clone();
            alter_default(state, &mut works[i], &name, None, &path, None)?;
        }
        Ok(DroppedDefaults(works))
    }

    /// The records to write and to delete.
    pub(super) fn commit(&self) -> Commit {
        Commit {
            put_items: self.0.iter().flat_map(|w| w.puts.clone()).collect(),
            delete_items: self.0.iter().flat_map(|w| w.deletes.clone()).collect(),
            ..Default::default()
        }
    }

    /// Applies the changes to the catalog (after they are committed).
    pub(super) fn apply(self, state: &mut CoordState) {
        for work in self.0 {
            work.apply_records(state, None);
        }
    }
}

impl Coordinator {
    /// `ALTER TABLE`. `replay_id` is set when a record of one operation is
    /// replayed at start-up: the operation takes that id and is not checked
    /// against rows (they are loaded afterwards) or stored again.
    pub(crate) async fn alter_table(
        self: &Arc<Self>,
        state: &mut CoordState,
        at: AlterTable,
        path: &SearchPath,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let table = match altered_relation(state, path, &at.name, at.if_exists, TAG)? {
            Ok(item) => item,
            Err(skipped) => return Ok(skipped),
        };
        if !at.operations.is_empty()
            && at
                .operations
                .iter()
                .all(|op| matches!(op, AlterTableOperation::OwnerTo { .. }))
        {
            return owner_to(&table);
        }
        if table.kind != ItemKind::Table {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not a table", table.name)).into(),
            );
        }
        for op in &at.operations {
            match op {
                AlterTableOperation::AddConstraint { .. }
                | AlterTableOperation::DropConstraint { .. }
                | AlterTableOperation::AlterColumn {
                    op:
                        AlterColumnOperation::SetNotNull
                        | AlterColumnOperation::DropNotNull
                        | AlterColumnOperation::SetDefault { .. }
                        | AlterColumnOperation::DropDefault,
                    ..
                } => {}
                other => {
                    return Err(PlanError::Unsupported(format!("ALTER TABLE ... {other}")).into());
                }
            }
        }
        let mut work = Work::new(state, table);
        let replay = replay_id.is_some();
        // PostgreSQL's passes: drops first, then NOT NULL, then keys, then
        // checks (so a name a drop frees is free for an added constraint).
        let mut operations: Vec<&AlterTableOperation> = at.operations.iter().collect();
        operations.sort_by_key(|op| match op {
            AlterTableOperation::DropConstraint { .. }
            | AlterTableOperation::AlterColumn {
                op: AlterColumnOperation::DropNotNull,
                ..
            } => 0,
            AlterTableOperation::AlterColumn { .. } => 1,
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::Check(_),
                ..
            } => 3,
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::ForeignKey(_),
                ..
            } => 4,
            _ => 2,
        });
        for op in operations {
            if !replay && work.rows.is_none() && needs_rows(op) {
                work.rows = Some(self.table_rows(state, &work.table).await?);
            }
            match op {
                AlterTableOperation::AddConstraint {
                    constraint,
                    not_valid,
                } => {
                    if let TableConstraint::ForeignKey(fk) = constraint {
                        add_foreign_key(state, &mut work, fk, *not_valid, path, replay_id)?;
                    } else {
                        add_constraint(state, &mut work, constraint, *not_valid, replay_id)?;
                    }
                }
                AlterTableOperation::DropConstraint {
                    if_exists,
                    name,
                    drop_behavior,
                } => {
                    if matches!(drop_behavior, Some(sqlparser::ast::DropBehavior::Cascade)) {
                        return Err(PlanError::Unsupported(
                            "ALTER TABLE ... DROP CONSTRAINT ... CASCADE".into(),
                        )
                        .into());
                    }
                    drop_constraint(state, &mut work, &ident(name), *if_exists, replay_id)?
                }
                AlterTableOperation::AlterColumn { column_name, op } => match op {
                    AlterColumnOperation::SetDefault { value } => alter_default(
                        state,
                        &mut work,
                        &ident(column_name),
                        Some(value),
                        path,
                        replay_id,
                    )?,
                    AlterColumnOperation::DropDefault => {
                        alter_default(state, &mut work, &ident(column_name), None, path, replay_id)?
                    }
                    _ => {
                        let set = matches!(op, AlterColumnOperation::SetNotNull);
                        alter_not_null(state, &mut work, &ident(column_name), set, replay_id)?
                    }
                },
                _ => {}
            }
        }
        // The records of dropped keys' indexes (their comments) go with
        // them.
        for &index in &work.dropped_indexes {
            work.deletes
                .extend_from_slice(state.catalog.alter_records(index));
        }
        if !replay {
            state
                .store
                .commit(Commit {
                    put_items: work.puts.clone(),
                    delete_items: work.deletes.clone(),
                    next_id: Some(state.next_id),
                    ..Default::default()
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
        }
        let id = work.table.id;
        for &index in &work.dropped_indexes {
            state.catalog.remove(index);
            self.compute.send(Command::Drop { id: index });
        }
        work.apply_records(state, replay_id);
        for key in work
            .keys
            .iter()
            .filter(|k| work.added_keys.contains(&k.index))
        {
            let key_text: Vec<String> = key
                .columns
                .iter()
                .map(|&c| work.table.desc.columns[c].name.clone())
                .collect();
            let index_sql = format!(
                "CREATE INDEX {} ON {} ({})",
                quote_ident(&key.name),
                work.relation(),
                work.column_names(&key.columns).join(", ")
            );
            self.create_index_dataflow(
                state,
                key.index,
                QualifiedName {
                    schema: work.table.schema.clone(),
                    item: key.name.clone(),
                },
                &work.table,
                key.columns.iter().map(|&c| ScalarExpr::Column(c)).collect(),
                key_text,
                &index_sql,
                Some(id),
            )?;
        }
        let keys_changed = !work.added_keys.is_empty() || !work.dropped_indexes.is_empty();
        state.catalog.set_unique(id, work.keys);
        state.catalog.set_checks(id, work.checks);
        state.catalog.set_foreign_keys(id, work.foreign_keys);
        for fk in &work.dropped_foreign_keys {
            state.foreign.remove(*fk);
        }
        // The key counts follow the keys (at start-up, they are counted
        // from the stored rows after the replay).
        if keys_changed && !replay {
            let rows = match work.rows.take() {
                Some(rows) => rows,
                None => self.table_rows(state, &work.table).await?,
            };
            state.unique.remove(id);
            state.apply_unique(rows.iter().map(|r| (id, r, 1)));
        }
        // The referenced-key counts of added foreign keys.
        if !work.added_foreign_keys.is_empty() && !replay {
            let rows = match work.rows.take() {
                Some(rows) => rows,
                None => self.table_rows(state, &work.table).await?,
            };
            for fk in &work.added_foreign_keys {
                state.foreign.remove(*fk);
            }
            state.apply_added_foreign_keys(id, &work.added_foreign_keys, &rows);
        }
        Ok(match work.notices.pop() {
            Some(notice) => ExecuteResponse::CommandWithNotice {
                tag: TAG.into(),
                notices: vec![super::sequence::Notice::from(notice)],
            },
            None => ExecuteResponse::command(TAG),
        })
    }

    /// The committed rows of `table`, one per copy.
    pub(crate) async fn table_rows(
        self: &Arc<Self>,
        state: &mut CoordState,
        table: &CatalogItem,
    ) -> Result<Vec<Row>, AdapterError> {
        let mut expr = RelationExpr::Get {
            id: table.id,
            name: table.name.clone(),
        };
        let path = super::names::qualified();
        let ts = self.prepare_one_shot(state, &mut expr, &path, super::txn::TxnReads::NONE);
        let mut rows = Vec::new();
        for (row, diff) in self.peek_expr_locked(state, expr, ts).await? {
            for _ in 0..diff.max(0) {
                rows.push(row.clone());
            }
        }
        Ok(rows)
    }
}

/// `ALTER TABLE name OWNER TO role`, which `pg_dump` writes for every
/// table, view, materialized view and sequence (PostgreSQL's `ALTER TABLE`
/// takes them all for this): accepted and changes nothing. Freshet has no
/// roles and no privileges (every session may do everything, and
/// `pg_class.relowner` is always Freshet's one owner), so which role owns
/// an object decides nothing; nothing is stored.
pub(crate) fn owner_to(item: &CatalogItem) -> Result<ExecuteResponse, AdapterError> {
    match item.kind {
        ItemKind::Table
        | ItemKind::View
        | ItemKind::MaterializedView
        | ItemKind::Sequence
        | ItemKind::Source => Ok(ExecuteResponse::command(TAG)),
        _ => Err(PlanError::WrongObjectType(format!(
            "\"{}\" is not a table, view, sequence, or foreign table",
            item.name
        ))
        .into()),
    }
}

/// Whether `op` is checked against the table's rows.
fn needs_rows(op: &AlterTableOperation) -> bool {
    match op {
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid,
        } => !(*not_valid && matches!(constraint, TableConstraint::Check(_))),
        AlterTableOperation::AlterColumn { op, .. } => {
            matches!(op, AlterColumnOperation::SetNotNull)
        }
        _ => false,
    }
}

/// The id of an operation: the next one, or, replayed, its record's.
fn op_id(state: &mut CoordState, replay_id: Option<GlobalId>) -> GlobalId {
    state.allocate_id(replay_id)
}

fn add_constraint(
    state: &mut CoordState,
    work: &mut Work,
    constraint: &TableConstraint,
    not_valid: bool,
    replay_id: Option<GlobalId>,
) -> Result<(), AdapterError> {
    if let TableConstraint::Check(check) = constraint {
        let name = check.name.as_ref().map(ident);
        if let Some(n) = &name
            && (work.checks.iter().any(|c| c.name == *n)
                || work.keys.iter().any(|k| k.name == *n)
                || work.foreign_keys.iter().any(|k| k.name == *n))
        {
            return Err(work.constraint_exists(n));
        }
        let declared = DeclaredCheck {
            name,
            expr: (*check.expr).clone(),
            not_valid,
        };
        let mut next_id = |state: &mut CoordState| op_id(state, replay_id);
        let keys: Vec<&str> = work.keys.iter().map(|k| k.name.as_str()).collect();
        let mut built = build_checks(
            state,
            &work.table,
            std::slice::from_ref(&declared),
            &work.checks,
            &keys,
            &mut next_id,
        )?;
        let Some(new) = built.pop() else {
            return Ok(());
        };
        if !not_valid && let Some(rows) = &work.rows {
            for row in rows {
                let datums: Vec<Datum> = row.iter().collect();
                if !super::check_constraints::holds(&new, &datums)? {
                    return Err(AdapterError::Constraint {
                        code: SqlState::CHECK_VIOLATION,
                        message: format!(
                            "check constraint \"{}\" of relation \"{}\" is violated by some row",
                            new.name, work.table.name
                        ),
                        detail: None,
                        hint: None,
                    });
                }
            }
        }
        let sql = format!(
            "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}){}",
            work.relation(),
            quote_ident(&new.name),
            check.expr,
            if not_valid { " NOT VALID" } else { "" }
        );
        work.record(new.id, &new.name, sql);
        work.checks.push(new);
        return Ok(());
    }
    let Some(key) = super::constraints::declared_key(constraint, &work.table.desc.columns)? else {
        return Ok(());
    };
    if key.primary && work.keys.iter().any(|k| k.primary) {
        return Err(error(
            SqlState::INVALID_TABLE_DEFINITION,
            format!(
                "multiple primary keys for table \"{}\" are not allowed",
                work.table.name
            ),
        ));
    }
    let schema = work.table.schema.clone();
    let relation_taken = |state: &CoordState, n: &str| {
        state
            .check_name_free(&QualifiedName {
                schema: schema.clone(),
                item: n.to_string(),
            })
            .is_err()
    };
    let name = match &key.name {
        Some(n) => n.clone(),
        None => {
            let cols: Vec<&str> = key
                .columns
                .iter()
                .map(|&c| work.table.desc.columns[c].name.as_str())
                .collect();
            super::constraints::default_name(&work.table.name, &cols, key.primary, &|n| {
                work.keys.iter().any(|k| k.name == n) || relation_taken(state, n)
            })
        }
    };
    if work.keys.iter().any(|k| k.name == name)
        || work.checks.iter().any(|c| c.name == name)
        || work.foreign_keys.iter().any(|c| c.name == name)
    {
        return Err(work.constraint_exists(&name));
    }
    if relation_taken(state, &name) {
        return Err(PlanError::AlreadyExists {
            kind: "relation",
            name,
        }
        .into());
    }
    if let Some(rows) = &work.rows {
        if key.primary {
            for &c in &key.columns {
                if rows
                    .iter()
                    .any(|r| r.iter().nth(c).is_none_or(|d| d.is_null()))
                {
                    return Err(work.not_null_violation(c));
                }
            }
        }
        if let Some(kr) = super::constraints::duplicated_key(rows, &key.columns, key.nulls_distinct)
        {
            return Err(super::constraints::could_not_create(
                &name,
                &work.column_names(&key.columns),
                &kr,
            ));
        }
    }
    if key.primary {
        for &c in &key.columns {
            work.table.desc.columns[c].nullable = false;
        }
    }
    let id = op_id(state, replay_id);
    let kind = match (key.primary, key.nulls_distinct) {
        (true, _) => "PRIMARY KEY",
        (false, true) => "UNIQUE",
        (false, false) => "UNIQUE NULLS NOT DISTINCT",
    };
    let sql = format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {kind} ({})",
        work.relation(),
        quote_ident(&name),
        work.column_names(&key.columns).join(", ")
    );
    work.record(id, &name, sql);
    work.added_keys.push(id);
    work.keys.push(UniqueKey {
        name,
        columns: key.columns,
        primary: key.primary,
        nulls_distinct: key.nulls_distinct,
        index: id,
        constraint: true,
    });
    Ok(())
}

fn drop_constraint(
    state: &mut CoordState,
    work: &mut Work,
    name: &str,
    if_exists: bool,
    replay_id: Option<GlobalId>,
) -> Result<(), AdapterError> {
    let records = state.catalog.alter_records(work.table.id).to_vec();
    let dropped = if let Some(i) = work
        .keys
        .iter()
        .position(|k| k.name == name && k.constraint)
    {
        let index = work.keys[i].index;
        // A foreign key (of another table, or one this table keeps)
        // that references the key depends on its index.
        let dependent = state
            .catalog
            .referencing(work.table.id)
            .filter(|(c, _)| *c != work.table.id)
            .map(|(c, fk)| (c, fk.clone()))
            .chain(
                work.foreign_keys
                    .iter()
                    .filter(|fk| fk.referenced == work.table.id)
                    .map(|fk| (work.table.id, fk.clone())),
            )
            .find(|(_, fk)| fk.key_index == index);
        if let Some((child, fk)) = dependent {
            let child = state.catalog.get(child).map_or("", |t| t.name.as_str());
            return Err(AdapterError::Constraint {
                code: SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                message: format!(
                    "cannot drop constraint {name} on table {} because other objects depend on it",
                    work.table.name
                ),
                detail: Some(format!(
                    "constraint {} on table {child} depends on index {name}",
                    fk.name
                )),
                hint: Some(super::drop::CASCADE_HINT.into()),
            });
        }
        let key = work.keys.remove(i);
        match work.added_keys.iter().position(|k| *k == key.index) {
            Some(j) => {
                work.added_keys.remove(j);
            }
            None => work.dropped_indexes.push(key.index),
        }
        key.index
    } else if let Some(i) = work.checks.iter().position(|c| c.name == name) {
        work.checks.remove(i).id
    } else if let Some(i) = work.foreign_keys.iter().position(|c| c.name == name) {
        let fk = work.foreign_keys.remove(i);
        match work.added_foreign_keys.iter().position(|k| *k == fk.id) {
            Some(j) => {
                work.added_foreign_keys.remove(j);
            }
            None => work.dropped_foreign_keys.push(fk.id),
        }
        fk.id
    } else if replay_id.is_some() {
        // A foreign key of the table's `CREATE TABLE` whose referenced
        // table was dropped since (`foreign_keys`): it is not there.
        op_id(state, replay_id);
        return Ok(());
    } else if if_exists {
        work.notices.push(format!(
            "constraint \"{name}\" of relation \"{}\" does not exist, skipping",
            work.table.name
        ));
        return Ok(());
    } else {
        return Err(error(
            SqlState::UNDEFINED_OBJECT,
            format!(
                "constraint \"{name}\" of relation \"{}\" does not exist",
                work.table.name
            ),
        ));
    };
    if replay_id.is_none() && !work.forget_record(dropped, &records) {
        let id = op_id(state, None);
        let sql = format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            work.relation(),
            quote_ident(name)
        );
        work.record(id, name, sql);
    } else if replay_id.is_some() {
        op_id(state, replay_id);
    }
    Ok(())
}

/// The position of column `column` of the table.
fn column_position(work: &Work, column: &str) -> Result<usize, AdapterError> {
    work.table
        .desc
        .columns
        .iter()
        .position(|x| x.name == column)
        .ok_or_else(|| {
            PlanError::UnknownColumn(format!("\"{column}\" of relation \"{}\"", work.table.name))
                .into()
        })
}

/// `ALTER COLUMN c SET DEFAULT e` (`value` is `Some`) or `DROP DEFAULT`:
/// the default is checked and planned as `CREATE TABLE`'s are.
fn alter_default(
    state: &mut CoordState,
    work: &mut Work,
    column: &str,
    value: Option<&Expr>,
    path: &SearchPath,
    replay_id: Option<GlobalId>,
) -> Result<(), AdapterError> {
    let c = column_position(work, column)?;
    let current = work.table.table_columns[c].default.as_ref();
    let is_identity = current
        .and_then(crate::catalog::default_sequence)
        .and_then(|s| state.catalog.sequence(s))
        .is_some_and(|d| d.identity.is_some());
    if is_identity {
        let message = format!(
            "column \"{column}\" of relation \"{}\" is an identity column",
            work.table.name
        );
        return Err(error(SqlState::SYNTAX_ERROR, message));
    }
    let calls_sequence = current.is_some_and(super::sequence_objects::calls_sequence);
    // The default is replaced: its record (if an earlier `SET | DROP
    // DEFAULT` made it) goes, and so does a `DEFAULT` clause of the
    // `CREATE TABLE` that draws from a sequence (which may be dropped
    // now, and the record would not replay without it).
    if replay_id.is_none() {
        match state.catalog.default_record(work.table.id, c) {
            Some(record) => {
                let records = state.catalog.alter_records(work.table.id).to_vec();
                work.forget_record(record, &records);
            }
            None if calls_sequence => {
                work.without_create_default(state, c)?;
            }
            None => {}
        }
    }
    let planned = match value {
        Some(e) => {
            let mut e = e.clone();
            super::sequence_objects::qualify_sequence_args(&mut e, &state.catalog, path)?;
            let typ = work.table.desc.columns[c].typ.clone();
            let planned = super::sequence::plan_constant_expr(&state.catalog, &e, column, &typ)?;
            Some((planned, e))
        }
        None => None,
    };
    let sql = format!(
        "ALTER TABLE {} ALTER COLUMN {} {}",
        work.relation(),
        quote_ident(column),
        match &planned {
            Some((_, e)) => format!("SET DEFAULT {e}"),
            None => "DROP DEFAULT".into(),
        }
    );
    work.table.table_columns[c].default = planned.map(|(p, _)| p);
    let id = op_id(state, replay_id);
    if replay_id.is_none() {
        work.record(id, column, sql);
    }
    work.default_records.push((c, id));
    Ok(())
}

fn alter_not_null(
    state: &mut CoordState,
    work: &mut Work,
    column: &str,
    set: bool,
    replay_id: Option<GlobalId>,
) -> Result<(), AdapterError> {
    let Some(c) = work
        .table
        .desc
        .columns
        .iter()
        .position(|x| x.name == column)
    else {
        return Err(PlanError::UnknownColumn(format!(
            "\"{column}\" of relation \"{}\"",
            work.table.name
        ))
        .into());
    };
    if set {
        if let Some(rows) = &work.rows
            && rows
                .iter()
                .any(|r| r.iter().nth(c).is_none_or(|d| d.is_null()))
        {
            return Err(work.not_null_violation(c));
        }
    } else {
        if work
            .keys
            .iter()
            .any(|k| k.primary && k.columns.contains(&c))
        {
            return Err(error(
                SqlState::INVALID_TABLE_DEFINITION,
                format!("column \"{column}\" is in a primary key"),
            ));
        }
        // What was planned over the table may rely on the column having
        // no NULLs.
        let id = work.table.id;
        let planned = state.catalog.items().any(|i| {
            i.depends_on.contains(&id)
                && !(i.kind == ItemKind::Index && i.index.as_ref().is_some_and(|x| x.on == id))
        });
        if planned && !work.table.desc.columns[c].nullable {
            return Err(PlanError::Unsupported(format!(
                "ALTER COLUMN DROP NOT NULL on a table that views depend on (\"{}\")",
                work.table.name
            ))
            .into());
        }
    }
    work.table.desc.columns[c].nullable = !set;
    let id = op_id(state, replay_id);
    if replay_id.is_none() {
        let sql = format!(
            "ALTER TABLE {} ALTER COLUMN {} {} NOT NULL",
            work.relation(),
            quote_ident(column),
            if set { "SET" } else { "DROP" }
        );
        work.record(id, column, sql);
    }
    Ok(())
}

/// `ADD [CONSTRAINT name] FOREIGN KEY (…) REFERENCES …`: the table's rows
/// must reference existing keys (unless replayed). `NOT VALID` is 0A000.
fn add_foreign_key(
    state: &mut CoordState,
    work: &mut Work,
    fk: &sqlparser::ast::ForeignKeyConstraint,
    not_valid: bool,
    path: &SearchPath,
    replay_id: Option<GlobalId>,
) -> Result<(), AdapterError> {
    if not_valid {
        return Err(PlanError::Unsupported("NOT VALID foreign keys".into()).into());
    }
    let declared = super::foreign_keys::declared(fk, None, None)?;
    if let Some(n) = &declared.name
        && (work.checks.iter().any(|c| c.name == *n)
            || work.keys.iter().any(|k| k.name == *n)
            || work.foreign_keys.iter().any(|k| k.name == *n))
    {
        return Err(work.constraint_exists(n));
    }
    let id = op_id(state, replay_id);
    let schema = work.table.schema.clone();
    let table_id = work.table.id;
    let taken = |n: &str| {
        work.checks.iter().any(|c| c.name == n)
            || work.keys.iter().any(|k| k.name == n)
            || work.foreign_keys.iter().any(|k| k.name == n)
            || super::check_constraints::constraint_name_in_schema(
                &state.catalog,
                &schema,
                table_id,
                n,
            )
    };
    let Some(new) = super::foreign_keys::build_foreign_key(
        &state.catalog,
        path,
        &work.table,
        &work.keys,
        &declared,
        &taken,
        id,
        replay_id.is_some(),
    )?
    else {
        return Ok(());
    };
    if let Some(rows) = &work.rows {
        super::foreign_key_checks::check_existing_rows(state, &work.table, &work.keys, rows, &new)?;
    }
    let sql = super::foreign_keys::add_record(&state.catalog, &work.table, &new);
    work.record(id, &new.name, sql);
    work.added_foreign_keys.push(id);
    work.foreign_keys.push(new);
    Ok(())
}

/// Removes the `DEFAULT` clause of column `column` from the `CREATE TABLE`
/// that starts a table's statements; returns whether there was one.
fn drop_create_default(
    statements: &mut [crate::sql::parse::FreshetStatement],
    column: usize,
) -> Result<bool, AdapterError> {
    let Some(crate::sql::parse::FreshetStatement::Sql(stmt)) = statements.first_mut() else {
        return Err(AdapterError::Internal(
            "a table's record starts with its CREATE TABLE".into(),
        ));
    };
    let sqlparser::ast::Statement::CreateTable(ct) = stmt.as_mut() else {
        return Err(AdapterError::Internal(
            "a table's record starts with its CREATE TABLE".into(),
        ));
    };
    let Some(c) = ct.columns.get_mut(column) else {
        return Ok(false);
    };
    let before = c.options.len();
    c.options
        .retain(|o| !matches!(o.option, sqlparser::ast::ColumnOption::Default(_)));
    Ok(c.options.len() != before)
}

fn join_statements(statements: &[crate::sql::parse::FreshetStatement]) -> String {
    statements
        .iter()
        .map(|s| s.to_sql())
        .collect::<Vec<_>>()
        .join(";\n")
}
