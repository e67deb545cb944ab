//! `COMMENT ON { TABLE | VIEW | MATERIALIZED VIEW | SEQUENCE | INDEX |
//! SOURCE | COLUMN } name IS 'text' | NULL`: comments on items and
//! columns, as PostgreSQL and Materialize keep them, shown by
//! `pg_description`, `obj_description` and `col_description` (so psql's
//! `\d+` and `\dt+`). `pg_dump` writes one for every comment in the source
//! database. An empty text removes the comment, as `NULL` does (as in
//! PostgreSQL). Comments on other objects (schemas, constraints,
//! functions, ...) are refused (`0A000`).
//!
//! # Durable form
//!
//! Each comment is a record of its own, `COMMENT ON kind schema.item[.column]
//! IS 'text'`, replayed after its item; it goes with the item
//! (`Catalog::alter_records`: dropping the item deletes it). A new comment
//! on the same object replaces the record; removing the comment deletes it.

use sqlparser::ast::{CommentObject, ObjectName};

use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::{CatalogItem, Comment, ItemKind, SearchPath};
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
        let text = text.filter(|t| !t.is_empty());
        let old = state.catalog.comment(item.id, sub).map(|c| c.record);
        let new = match &text {
            Some(t) => {
                let record = state.allocate_id(replay_id);
                let sql = format!(
                    "COMMENT ON {object} {target} IS '{}'",
                    t.replace('\'', "''")
                );
                Some((record, sql, t.clone()))
            }
            None => None,
        };
        if replay_id.is_none() {
            state
                .store
                .commit(Commit {
                    put_items: new
                        .iter()
                        .map(|(record, sql, _)| {
                            (
                                *record,
                                CatalogRecord {
                                    name: item.name.clone(),
                                    create_sql: sql.clone(),
                                },
                            )
                        })
                        .collect(),
                    delete_items: old.into_iter().collect(),
                    next_id: Some(state.next_id),
                    ..Default::default()
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
        }
        if let Some(old) = old {
            state.catalog.remove_alter_record(item.id, old);
        }
        let comment = new.map(|(record, _, text)| {
            state.catalog.add_alter_record(item.id, record);
            Comment { text, record }
        });
        state.catalog.set_comment(item.id, sub, comment);
        Ok(ExecuteResponse::command(TAG))
    }
}
