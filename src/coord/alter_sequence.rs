//! `ALTER SEQUENCE [IF EXISTS] s [AS type] [INCREMENT [BY] n] [MINVALUE n
//! | NO MINVALUE] [MAXVALUE n | NO MAXVALUE] [START [WITH] n] [RESTART
//! [[WITH] n]] [CACHE n] [[NO] CYCLE] [OWNED BY t.c | NONE]`, options in
//! any order, with PostgreSQL's defaults, checks and messages
//! (`sequence_objects::init_params`).
//!
//! # Durable form
//!
//! A sequence's first record is its `CREATE SEQUENCE` (or, for a `serial`
//! or identity column's, its table's `CREATE TABLE`); it is never
//! rewritten. An `ALTER SEQUENCE` writes one record of its own, at a new
//! id so that it replays after everything it names: the whole definition,
//! every option spelled out (`ALTER SEQUENCE s.n AS bigint INCREMENT BY 1
//! MINVALUE 1 ... OWNED BY NONE`), replacing the sequence's earlier such
//! record. It goes with the sequence (`Catalog::alter_records`, deleted
//! when the sequence is dropped). A `CREATE SEQUENCE` record is rewritten
//! at the same time without its `OWNED BY` (which may name a table dropped
//! since: the new record names the owner, if any). The value (`RESTART`) is not in it: the
//! sequence's value is written with the record, to the store's sequence
//! values, which are restored after every record is replayed.
//!
//! A `serial` column's sequence, which its table's record makes
//! (`SequenceDef::maker`), may be given another owner (`OWNED BY NONE`,
//! another table's column) like any other: its record says so. When the
//! table that made it is dropped while it belongs elsewhere, it gets a
//! `CREATE SEQUENCE` record of its own at its id (`drop::drop_objects`).

use super::alter_table::altered_relation;
use super::sequence::ExecuteResponse;
use super::sequence_objects::{Current, init_params, owned_by_column, sequence_type};
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::{ItemKind, SearchPath, SequenceDef};
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::SqlState;
use crate::sql::PlanError;
use crate::sql::sequence_options::AlterSequenceStatement;
use crate::storage::durable::{CatalogRecord, Commit};

const TAG: &str = "ALTER SEQUENCE";

/// `def`'s options, every one spelled out, in `sqlparser`'s order.
pub(super) fn options_sql(def: &SequenceDef) -> String {
    format!(
        "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}CYCLE",
        def.typ.name(),
        def.increment,
        def.min,
        def.max,
        def.start,
        def.cache,
        if def.cycle { "" } else { "NO " },
    )
}

impl Coordinator {
    /// `ALTER SEQUENCE`. `replay_id` is set when its record is replayed at
    /// start-up: it takes that id and writes nothing.
    pub(crate) fn alter_sequence(
        &self,
        state: &mut CoordState,
        stmt: AlterSequenceStatement,
        path: &SearchPath,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        if let Some(what) = stmt.unsupported {
            return Err(PlanError::Unsupported(what).into());
        }
        let item = match altered_relation(state, path, &stmt.name, stmt.if_exists, TAG)? {
            Ok(item) => item,
            Err(skipped) => return Ok(skipped),
        };
        if item.kind != ItemKind::Sequence {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not a sequence", item.name)).into(),
            );
        }
        if stmt.owner_to.is_some() {
            // As `ALTER TABLE ... OWNER TO` (`alter_table::owner_to`):
            // Freshet has no roles, so this changes and stores nothing.
            return Ok(ExecuteResponse::command(TAG));
        }
        let old = state
            .catalog
            .sequence(item.id)
            .cloned()
            .ok_or_else(|| AdapterError::Internal(format!("no definition of {}", item.name)))?;
        let typ = stmt
            .data_type
            .as_ref()
            .map(|t| sequence_type(Some(t)))
            .transpose()?;
        let owned_by = match &stmt.owned_by {
            Some(owner) => {
                let column = owned_by_column(&state.catalog, path, owner, &item.schema)?;
                if old.identity.is_some() && column != old.owned_by {
                    let table = old
                        .owned_by
                        .and_then(|(t, _)| state.catalog.get(t))
                        .map_or(String::new(), |t| t.name.clone());
                    return Err(AdapterError::Constraint {
                        code: SqlState::FEATURE_NOT_SUPPORTED,
                        message: "cannot change ownership of identity sequence".into(),
                        detail: Some(format!(
                            "Sequence \"{}\" is linked to table \"{table}\".",
                            item.name
                        )),
                        hint: None,
                    });
                }
                Some(column)
            }
            None => None,
        };
        let owner_sql = |catalog: &crate::catalog::Catalog, owner: Option<(GlobalId, usize)>| {
            owner.and_then(|(table, column)| {
                let t = catalog.get(table)?;
                Some(format!(
                    "{}.{}.{}",
                    quote_ident(&t.schema),
                    quote_ident(&t.name),
                    quote_ident(&t.desc.columns.get(column)?.name)
                ))
            })
        };
        let earlier = state.catalog.alter_records(item.id).to_vec();
        let record_id = state.allocate_id(replay_id);
        let next_id = state.next_id;
        let catalog = &state.catalog;
        let mut new_def = None;
        self.sequences.alter(item.id, |last_value| {
            let (mut def, restart) = init_params(
                Some(Current {
                    def: &old,
                    last_value,
                }),
                typ,
                &stmt.options,
                stmt.restart.as_ref().map(|r| r.as_ref()),
            )?;
            if let Some(owner) = owned_by {
                def.owned_by = owner;
            }
            let qualified = format!("{}.{}", quote_ident(&item.schema), quote_ident(&item.name));
            let mut put_items = vec![(
                record_id,
                CatalogRecord {
                    name: item.name.clone(),
                    create_sql: format!(
                        "ALTER SEQUENCE {qualified} {} OWNED BY {}",
                        options_sql(&def),
                        owner_sql(catalog, def.owned_by).unwrap_or_else(|| "NONE".into())
                    ),
                },
            )];
            if !def.implicit {
                // The `CREATE SEQUENCE` loses its `OWNED BY`, which may name
                // a table dropped since (the record above says who owns it).
                put_items.push((
                    item.id,
                    CatalogRecord {
                        name: item.name.clone(),
                        create_sql: format!("CREATE SEQUENCE {qualified} {}", options_sql(&def)),
                    },
                ));
            }
            let commit = replay_id.is_none().then(|| Commit {
                put_items,
                delete_items: earlier.clone(),
                next_id: Some(next_id),
                ..Default::default()
            });
            new_def = Some(def.clone());
            Ok((def, restart, commit))
        })?;
        let def = new_def.ok_or_else(|| AdapterError::Internal("no new definition".into()))?;
        for record in earlier {
            state.catalog.remove_alter_record(item.id, record);
        }
        state.catalog.add_alter_record(item.id, record_id);
        let mut item = item;
        item.owned_by = def.owned_by.map(|(table, _)| table);
        state.catalog.insert(item.clone());
        state.catalog.set_sequence(item.id, def);
        Ok(ExecuteResponse::command(TAG))
    }
}
