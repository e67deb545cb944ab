//! `ALTER TABLE t ALTER [COLUMN] c ADD GENERATED { ALWAYS | BY DEFAULT }
//! AS IDENTITY [( SEQUENCE NAME s, options )]`: makes an existing column
//! an identity column, with PostgreSQL's checks and messages. This is how
//! `pg_dump` declares identity columns: `CREATE TABLE` with a plain
//! `NOT NULL` column, then this statement naming the sequence, and
//! `setval` on it after the data.
//!
//! The column must be `NOT NULL`, of type `smallint`, `integer` or
//! `bigint`, and have no default and no identity yet. The new sequence is
//! named `SEQUENCE NAME` (in the table's schema unless qualified), else
//! PostgreSQL's `table_column_seq`; it is owned by the column and dropped
//! with the table. Rows already in the table keep their values.
//!
//! # Durable form
//!
//! The sequence's record, at the sequence's id, is this statement with
//! every name qualified and every option spelled out: replayed after the
//! table's `CREATE TABLE`, it recreates the sequence at the same id (where
//! its stored value is restored) and the column's default. The sequence is
//! `implicit` ([`SequenceDef::implicit`]): a later `ALTER SEQUENCE` writes
//! a record of its own and leaves this one.

use super::alter_table::altered_relation;
use super::sequence::ExecuteResponse;
use super::sequence_objects::{self, nextval_default, sequence_item};
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::names::PartialName;
use crate::catalog::{ItemKind, QualifiedName, SearchPath, SequenceDef};
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::{ScalarType, SqlState};
use crate::sql::PlanError;
use crate::sql::identity_syntax::AddIdentityStatement;
use crate::storage::durable::{CatalogRecord, Commit};

const TAG: &str = "ALTER TABLE";

fn prerequisite(message: String) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        message,
    }
}

/// The statement that recreates the identity, every option spelled out.
fn record_sql(
    table: &QualifiedName,
    column: &str,
    sequence: &QualifiedName,
    def: &SequenceDef,
) -> String {
    format!(
        "ALTER TABLE {}.{} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY (SEQUENCE NAME {}.{} \
         INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}CYCLE)",
        quote_ident(&table.schema),
        quote_ident(&table.item),
        quote_ident(column),
        if def.identity == Some(true) {
            "ALWAYS"
        } else {
            "BY DEFAULT"
        },
        quote_ident(&sequence.schema),
        quote_ident(&sequence.item),
        def.increment,
        def.min,
        def.max,
        def.start,
        def.cache,
        if def.cycle { "" } else { "NO " },
    )
}

impl Coordinator {
    /// `ALTER TABLE ... ADD GENERATED ... AS IDENTITY`. `replay_id` is set
    /// when its record is replayed at start-up: the sequence takes that id
    /// and nothing is stored.
    pub(crate) fn add_identity(
        &self,
        state: &mut CoordState,
        stmt: AddIdentityStatement,
        path: &SearchPath,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let table = match altered_relation(state, path, &stmt.table, stmt.if_exists, TAG)? {
            Ok(item) => item,
            Err(skipped) => return Ok(skipped),
        };
        if table.kind != ItemKind::Table {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not a table", table.name)).into(),
            );
        }
        let column = super::constraints::ident(&stmt.column);
        let position = table
            .desc
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| {
                PlanError::UnknownColumn(format!("\"{column}\" of relation \"{}\"", table.name))
            })?;
        let desc = &table.desc.columns[position];
        let typ = desc.typ.clone();
        if !matches!(
            typ,
            ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64
        ) {
            return Err(AdapterError::Variable {
                code: SqlState::INVALID_PARAMETER_VALUE,
                message: "identity column type must be smallint, integer, or bigint".into(),
            });
        }
        if desc.nullable {
            return Err(prerequisite(format!(
                "column \"{column}\" of relation \"{}\" must be declared NOT NULL before identity can be added",
                table.name
            )));
        }
        if state.catalog.identity(table.id, position).is_some() {
            return Err(prerequisite(format!(
                "column \"{column}\" of relation \"{}\" is already an identity column",
                table.name
            )));
        }
        if table.table_columns[position].default.is_some() {
            return Err(prerequisite(format!(
                "column \"{column}\" of relation \"{}\" already has a default value",
                table.name
            )));
        }
        let table_name = QualifiedName {
            schema: table.schema.clone(),
            item: table.name.clone(),
        };
        let sequence = match &stmt.sequence_name {
            Some(name) => {
                let partial = PartialName::from_object_name(name)?;
                let schema = partial.schema.unwrap_or_else(|| table.schema.clone());
                if !state.catalog.schema_exists(&schema) {
                    return Err(PlanError::UnknownSchema(schema).into());
                }
                QualifiedName {
                    schema,
                    item: partial.item,
                }
            }
            None => QualifiedName {
                schema: table.schema.clone(),
                item: sequence_objects::column_sequence_name(&table.name, &column, &|n| {
                    state
                        .check_name_free(&QualifiedName {
                            schema: table.schema.clone(),
                            item: n.to_string(),
                        })
                        .is_err()
                }),
            },
        };
        state
            .check_name_free(&sequence)
            .map_err(|_| PlanError::AlreadyExists {
                kind: "relation",
                name: sequence.item.clone(),
            })?;
        let mut def = sequence_objects::definition(typ.clone(), &stmt.options)?;
        def.identity = Some(stmt.always);
        def.owned_by = Some((table.id, position));
        def.implicit = true;
        def.maker = Some(table.id);
        let sql = record_sql(&table_name, &column, &sequence, &def);
        let id = state.allocate_id(replay_id);
        if replay_id.is_none() {
            state
                .store
                .commit(Commit {
                    put_items: vec![(
                        id,
                        CatalogRecord {
                            name: sequence.item.clone(),
                            create_sql: sql.clone(),
                        },
                    )],
                    next_id: Some(state.next_id),
                    ..Default::default()
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
        }
        let mut item = sequence_item(id, &sequence, &sql);
        item.owned_by = Some(table.id);
        state.catalog.insert(item);
        state.catalog.set_sequence(id, def.clone());
        self.sequences.create(id, &sequence.item, &def);
        let mut table = table;
        table.table_columns[position].default = Some(nextval_default(id, &typ));
        state.catalog.insert(table);
        Ok(ExecuteResponse::command(TAG))
    }
}
