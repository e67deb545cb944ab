//! `COMMENT ON { TABLE | VIEW | MATERIALIZED VIEW | SEQUENCE | INDEX |
//! SOURCE | COLUMN | SCHEMA } name IS 'text' | NULL` and `COMMENT ON
//! CONSTRAINT name ON table`: comments on items, columns, schemas and
//! constraints, as PostgreSQL and Materialize keep them, shown by
//! `pg_description`, `obj_description` and `col_description` (so psql's
//! `\d+`, `\dt+` and `\dn+`). `pg_dump` writes one for every comment in
//! the source database. An empty text removes the comment, as `NULL` does
//! (as in PostgreSQL). Comments on other objects (functions, ...) are
//! refused (`0A000`).
//!
//! # Durable form
//!
//! Each comment is a record of its own, `COMMENT ON kind schema.item[.column]
//! IS 'text'`, replayed after its item; it goes with the item
//! (`Catalog::alter_records`: dropping the item deletes it); one on a
//! constraint goes with its table, one on a schema with the schema. A new comment
//! on the same object replaces the record; removing the comment deletes it.

use sqlparser::ast::{CommentObject, ObjectName};

use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::{CatalogItem, Comment, CommentClass, ItemKind, SearchPath};
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::SqlState;
use crate::sql::PlanError;
use crate::storage::durable::{CatalogRecord, Commit};

const TAG: &str = "COMMENT";

/// The kinds an object type names, and its word in PostgreSQL's "is not a
/// ..." message.
fn kinds(object: CommentObject) -> Option<(&'static [ItemKind], &'static str)> {
    Some(match object {
        CommentObject::Table => (&[ItemKind::Table], "a table"),
        CommentObject::View => (&[ItemKind::View], "a view"),
        CommentObject::MaterializedView => (&[ItemKind::MaterializedView], "a materialized view"),
        CommentObject::Sequence => (&[ItemKind::Sequence], "a sequence"),
        CommentObject::Index => (&[ItemKind::Index], "an index"),
        // A column of a relation with columns.
        CommentObject::Column => (
            &[
                ItemKind::Table,
                ItemKind::View,
                ItemKind::MaterializedView,
                ItemKind::Source,
            ],
            "a table, view, materialized view or source",
        ),
        _ => return None,
    })
}

impl Coordinator {
    /// `COMMENT ON`. `replay_id` is set when its record is replayed at
    /// start-up: it keeps that id and nothing is stored.
    pub(crate) fn comment_on(
        &self,
        state: &mut CoordState,
        object: CommentObject,
        name: &ObjectName,
        text: Option<String>,
        path: &SearchPath,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        if object == CommentObject::Schema {
            return self.comment_on_schema(state, name, text, path, replay_id);
        }
        let Some((allowed, expected)) = kinds(object) else {
            return Err(PlanError::Unsupported(format!("COMMENT ON {object}")).into());
        };
        // A column's name is its relation's, then the column.
        let (relation, column) = if object == CommentObject::Column {
            let mut parts = name.0.clone();
            let column = parts.pop().and_then(|p| p.as_ident().cloned());
            if parts.is_empty() {
                return Err(AdapterError::Variable {
                    code: SqlState::SYNTAX_ERROR,
                    message: "column name must be qualified".into(),
                });
            }
            (ObjectName(parts), column)
        } else {
            (name.clone(), None)
        };
        let item: CatalogItem = match state.catalog.resolve(path, &relation)? {
            Some(item) => item.clone(),
            None => {
                return Err(PlanError::UnknownItem {
                    kind: "relation",
                    name: relation.to_string(),
                }
                .into());
            }
        };
        if !allowed.contains(&item.kind) {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not {expected}", item.name)).into(),
            );
        }
        let (sub, target) = match &column {
            Some(c) => {
                let column = super::constraints::ident(c);
                let position = item
                    .desc
                    .columns
                    .iter()
                    .position(|x| x.name == column)
                    .ok_or_else(|| {
                        PlanError::UnknownColumn(format!(
                            "\"{column}\" of relation \"{}\"",
                            item.name
                        ))
                    })?;
                let sub = i32::try_from(position + 1)
                    .map_err(|_| AdapterError::Internal("too many columns".into()))?;
                (
                    sub,
                    format!(
                        "{}.{}.{}",
                        quote_ident(&item.schema),
                        quote_ident(&item.name),
                        quote_ident(&column)
                    ),
                )
            }
            None => (
                0,
                format!("{}.{}", quote_ident(&item.schema), quote_ident(&item.name)),
            ),
        };
        let sql_target = format!("{object} {target}");
        state.store_comment(
            CommentClass::Relation,
            (item.id, sub),
            Some(item.id),
            &item.name,
            &sql_target,
            text,
            replay_id,
        )?;
        Ok(ExecuteResponse::command(TAG))
    }

    /// `COMMENT ON SCHEMA name IS ...`.
    pub(crate) fn comment_on_schema(
        &self,
        state: &mut CoordState,
        name: &ObjectName,
        text: Option<String>,
        path: &SearchPath,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let schema = super::drop::schema_name(path, name)?;
        let Some(id) = state.catalog.schema_id(&schema) else {
            if state.catalog.schema_exists(&schema)
                || crate::catalog::system::is_catalog_schema(&schema)
            {
                return Err(PlanError::SystemSchema(schema).into());
            }
            return Err(PlanError::UnknownSchema(schema).into());
        };
        let target = format!("SCHEMA {}", quote_ident(&schema));
        state.store_comment(
            CommentClass::Namespace,
            (id, 0),
            None,
            &schema,
            &target,
            text,
            replay_id,
        )?;
        Ok(ExecuteResponse::command(TAG))
    }

    /// `COMMENT ON CONSTRAINT name ON table IS ...`.
    pub(crate) fn comment_on_constraint(
        &self,
        state: &mut CoordState,
        statement: &crate::sql::parse::CommentOnConstraintStatement,
        path: &SearchPath,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let table = state
            .catalog
            .resolve_existing(path, &statement.table, "relation")?
            .clone();
        let name = super::constraints::ident(&statement.name);
        let id = state
            .catalog
            .unique(table.id)
            .iter()
            .find(|k| k.name == name)
            .map(|k| k.index)
            .or_else(|| {
                state
                    .catalog
                    .checks(table.id)
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| c.id)
            })
            .or_else(|| {
                state
                    .catalog
                    .foreign_keys(table.id)
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| f.id)
            })
            .ok_or_else(|| AdapterError::Variable {
                code: SqlState::UNDEFINED_OBJECT,
                message: format!(
                    "constraint \"{name}\" for table \"{}\" does not exist",
                    table.name
                ),
            })?;
        let target = format!(
            "CONSTRAINT {} ON {}.{}",
            quote_ident(&name),
            quote_ident(&table.schema),
            quote_ident(&table.name)
        );
        state.store_comment(
            CommentClass::Constraint,
            (id, 0),
            Some(table.id),
            &table.name,
            &target,
            statement.comment.clone(),
            replay_id,
        )?;
        Ok(ExecuteResponse::command(TAG))
    }
}

impl CoordState {
    /// Sets or (with no text, or an empty one) removes the comment on
    /// `object` (an id and `objsubid`) of `class`, with its durable record
    /// `COMMENT ON {target} IS '...'` replacing the old one; the record
    /// goes with `owner`'s item when it is dropped.
    #[allow(clippy::too_many_arguments)]
    fn store_comment(
        &mut self,
        class: CommentClass,
        object: (GlobalId, i32),
        owner: Option<GlobalId>,
        record_name: &str,
        target: &str,
        text: Option<String>,
        replay_id: Option<GlobalId>,
    ) -> Result<(), AdapterError> {
        let (id, sub) = object;
        let text = text.filter(|t| !t.is_empty());
        let old = self.catalog.comment(class, id, sub).map(|c| c.record);
        let new = match &text {
            Some(t) => {
                let record = self.allocate_id(replay_id);
                let sql = format!("COMMENT ON {target} IS '{}'", t.replace('\'', "''"));
                Some((record, sql, t.clone()))
            }
            None => None,
        };
        if replay_id.is_none() {
            self.store
                .commit(Commit {
                    put_items: new
                        .iter()
                        .map(|(record, sql, _)| {
                            (
                                *record,
                                CatalogRecord {
                                    name: record_name.to_string(),
                                    create_sql: sql.clone(),
                                },
                            )
                        })
                        .collect(),
                    delete_items: old.into_iter().collect(),
                    next_id: Some(self.next_id),
                    ..Default::default()
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
        }
        if let (Some(old), Some(owner)) = (old, owner) {
            self.catalog.remove_alter_record(owner, old);
        }
        let comment = new.map(|(record, _, text)| {
            if let Some(owner) = owner {
                self.catalog.add_alter_record(owner, record);
            }
            Comment { text, record }
        });
        self.catalog.set_comment(class, id, sub, comment);
        Ok(())
    }
}
