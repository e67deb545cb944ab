//! `CREATE UNIQUE INDEX`: an index on table columns that no two rows may
//! share a key of, as PostgreSQL's is.
//!
//! It is a unique key of its table like a `UNIQUE` constraint's
//! ([`UniqueKey`] with `constraint` off): `coord::constraints` enforces
//! both on every write (`23505` naming the index), a key with a NULL never
//! conflicts unless the index is `NULLS NOT DISTINCT`, and `ON CONFLICT
//! (columns)` infers it. It is no constraint: it is not in
//! `pg_constraint`, `ON CONFLICT ON CONSTRAINT` does not name it, and
//! `DROP INDEX` drops it with its enforcement
//! ([`CoordState::drop_unique_index`]). Rows that already repeat a key
//! refuse it (`23505`, `could not create unique index`). Keys are plain
//! columns; a partial (`WHERE`) or expression index is `0A000`.
//!
//! # Durable form
//!
//! Its `CREATE UNIQUE INDEX` record, replayed after its table's in id
//! order; the key counts are rebuilt from the stored rows at start-up, as
//! the constraints' are.

use std::sync::Arc;

use sqlparser::ast::{CreateIndex, Expr};

use super::constraints::{could_not_create, duplicated_key, ident, make_object_name};
use super::names::qualified;
use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::names::PartialName;
use crate::catalog::{ItemKind, QualifiedName, UniqueKey};
use crate::expr::string_format::quote_ident;
use crate::expr::{GlobalId, ScalarExpr};
use crate::repr::SqlState;
use crate::sql::PlanError;

const TAG: &str = "CREATE INDEX";

fn unsupported(what: &str) -> AdapterError {
    PlanError::Unsupported(what.to_string()).into()
}

impl Coordinator {
    /// `CREATE UNIQUE INDEX [IF NOT EXISTS] [name] ON t (columns) [NULLS
    /// [NOT] DISTINCT]`. `replay_id` is set when its record is replayed:
    /// the rows are not checked (they are loaded afterwards).
    pub(crate) async fn create_unique_index(
        self: &Arc<Self>,
        state: &mut CoordState,
        ci: CreateIndex,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        if ci.predicate.is_some() {
            return Err(unsupported(
                "partial unique indexes (CREATE UNIQUE INDEX ... WHERE)",
            ));
        }
        if !ci.include.is_empty() {
            return Err(unsupported("CREATE UNIQUE INDEX ... INCLUDE"));
        }
        let table = state
            .catalog
            .resolve_existing(&qualified(), &ci.table_name, "relation")?
            .clone();
        match table.kind {
            ItemKind::Table => {}
            ItemKind::Index => {
                return Err(
                    PlanError::WrongObjectType(format!("\"{}\" is an index", table.name)).into(),
                );
            }
            other => {
                return Err(unsupported(&format!(
                    "unique indexes on a {} (\"{}\")",
                    other.name(),
                    table.name
                )));
            }
        }
        let mut columns = Vec::new();
        for c in &ci.columns {
            if c.operator_class.is_some() {
                return Err(unsupported("operator classes in CREATE UNIQUE INDEX"));
            }
            let name = match &c.column.expr {
                Expr::Identifier(i) => ident(i),
                Expr::Nested(e) if matches!(e.as_ref(), Expr::Identifier(_)) => {
                    let Expr::Identifier(i) = e.as_ref() else {
                        unreachable!("matched above")
                    };
                    ident(i)
                }
                other => {
                    return Err(unsupported(&format!(
                        "unique indexes on expressions (\"{other}\")"
                    )));
                }
            };
            let position = table
                .desc
                .columns
                .iter()
                .position(|x| x.name == name)
                .ok_or_else(|| AdapterError::Variable {
                    code: SqlState::UNDEFINED_COLUMN,
                    message: format!("column \"{name}\" does not exist"),
                })?;
            columns.push(position);
        }
        if columns.is_empty() {
            return Err(PlanError::Planning("an index needs at least one key".into()).into());
        }
        let column_names: Vec<String> = columns
            .iter()
            .map(|&c| table.desc.columns[c].name.clone())
            .collect();
        let name = match &ci.name {
            Some(n) => PartialName::from_object_name(n)?.item,
            // PostgreSQL's `ChooseIndexName`: `t_a_b_idx`, numbered while
            // taken.
            None => {
                let taken = |n: &str| state.catalog.lookup_in(&table.schema, n).is_some();
                let mut pass = 0;
                loop {
                    let label = if pass == 0 {
                        "idx".to_string()
                    } else {
                        format!("idx{pass}")
                    };
                    let n = make_object_name(&table.name, &column_names.join("_"), &label);
                    if !taken(&n) {
                        break n;
                    }
                    pass += 1;
                }
            }
        };
        let qname = QualifiedName {
            schema: table.schema.clone(),
            item: name.clone(),
        };
        if ci.if_not_exists && state.catalog.lookup_in(&qname.schema, &name).is_some() {
            return Ok(ExecuteResponse::CommandWithNotice {
                tag: TAG.into(),
                notices: vec![super::sequence::Notice::from(format!(
                    "relation \"{name}\" already exists, skipping"
                ))],
            });
        }
        state.check_name_free(&qname)?;
        let quoted: Vec<String> = column_names.iter().map(|c| quote_ident(c)).collect();
        let rows = match replay_id {
            Some(_) => None,
            None => {
                let rows = self.table_rows(state, &table).await?;
                let nulls_distinct = ci.nulls_distinct != Some(false);
                if let Some(kr) = duplicated_key(&rows, &columns, nulls_distinct) {
                    return Err(could_not_create(&name, &quoted, &kr));
                }
                Some(rows)
            }
        };
        let id = state.allocate_id(replay_id);
        state.persist_item(id, &name, sql, replay_id.is_some())?;
        let key = UniqueKey {
            name,
            columns: columns.clone(),
            primary: false,
            nulls_distinct: ci.nulls_distinct != Some(false),
            index: id,
            constraint: false,
        };
        self.create_index_dataflow(
            state,
            id,
            qname,
            &table,
            columns.iter().map(|&c| ScalarExpr::Column(c)).collect(),
            quoted,
            sql,
            None,
        )?;
        let mut keys = state.catalog.unique(table.id).to_vec();
        let before = keys.len();
        if let Some(rows) = &rows {
            state.unique.push_key(table.id, before, &key, rows);
        }
        keys.push(key);
        state.catalog.set_unique(table.id, keys);
        Ok(ExecuteResponse::command(TAG))
    }
}

impl CoordState {
    /// Forgets the unique key that index `index` (being dropped) enforces,
    /// if it is a unique index's and its table stays.
    pub(crate) fn drop_unique_index(&mut self, index: GlobalId) {
        let Some((table, _)) = self.catalog.unique_key_of_index(index) else {
            return;
        };
        let mut keys = self.catalog.unique(table).to_vec();
        if let Some(position) = keys.iter().position(|k| k.index == index && !k.constraint) {
            keys.remove(position);
            self.unique.remove_key(table, position);
            self.catalog.set_unique(table, keys);
        }
    }
}
