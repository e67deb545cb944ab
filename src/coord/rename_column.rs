//! `ALTER { TABLE | VIEW | MATERIALIZED VIEW } [IF EXISTS] name RENAME
//! [COLUMN] c TO new` (parsed by `sql/rename.rs`), with PostgreSQL's
//! checks and errors. As in PostgreSQL the statement's kind word does not
//! restrict the relation: `ALTER VIEW t RENAME COLUMN` renames a table's
//! column.
//!
//! Plans, dataflows and constraints refer to columns by position, so they
//! keep running; what changes is the column's name (the relation's and
//! its indexes' descriptions, the text of its `CHECK` constraints and
//! index keys, and so `pg_attribute`, `SELECT *`, name resolution) and the
//! stored statements that name the column, which `coord::rename_column_sql`
//! rewrites. Like an object rename (`coord::rename`), the relation's own
//! record keeps its `CREATE` and ends with `ALTER kind s.t RENAME COLUMN
//! old TO new`, replayed right after it (the names its `CREATE` derived
//! from the column, `t_a_check`, `t_a_seq`, stay, as in PostgreSQL);
//! every later record names the column by its new name; all of it is one
//! durable commit.
//!
//! A view's or materialized view's query keeps reading the relation under
//! the old column names, so its own columns keep their names, as in
//! PostgreSQL. Renaming a column of a relation a sink writes, or a
//! source's, is refused (`0A000`): a sink's records name the columns.

use super::rename::{names_relation_error, rename_kind, system_catalog};
use super::rename_column_sql::ColumnRenaming;
use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::names::PartialName;
use crate::catalog::{ItemKind, SYSTEM_SCHEMA, SearchPath};
use crate::expr::{GlobalId, ScalarExpr};
use crate::repr::SqlState;
use crate::sql::PlanError;
use crate::sql::parse::{FreshetStatement, parse_statements};
use crate::sql::rename::AlterRenameStatement;
use crate::storage::durable::Commit;

fn error(code: SqlState, message: String) -> AdapterError {
    AdapterError::Variable { code, message }
}

impl Coordinator {
    /// `ALTER ... RENAME [COLUMN] c TO new`.
    pub(crate) async fn alter_rename_column(
        &self,
        stmt: AlterRenameStatement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let tag = format!("ALTER {}", stmt.kind.sql());
        let Some(column) = &stmt.column else {
            return Err(AdapterError::Internal("not a column rename".into()));
        };
        let (old, new) = (
            super::constraints::ident(column),
            super::constraints::ident(&stmt.new_name),
        );
        let mut state = self.state.lock().await;
        let partial = PartialName::from_object_name(&stmt.name)?;
        if crate::catalog::system::resolve(&partial).is_some()
            || partial.schema.as_deref() == Some(SYSTEM_SCHEMA)
        {
            return Err(system_catalog(&partial.item));
        }
        let item = match state.catalog.resolve_partial(path, &partial) {
            Ok(Some(item)) => item.clone(),
            Ok(None) | Err(PlanError::UnknownSchema(_)) if stmt.if_exists => {
                return Ok(ExecuteResponse::CommandWithNotice {
                    tag,
                    notices: vec![
                        format!("relation \"{}\" does not exist, skipping", stmt.name).into(),
                    ],
                });
            }
            Ok(None) => return Err(names_relation_error(&stmt.name)),
            Err(e) => return Err(e.into()),
        };
        if item.id.is_system() {
            return Err(system_catalog(&item.name));
        }
        match item.kind {
            ItemKind::Table | ItemKind::View | ItemKind::MaterializedView => {}
            // PostgreSQL renames an index's columns (its keys' names);
            // Freshet's index keys are their expressions' text.
            ItemKind::Index | ItemKind::Source => {
                return Err(PlanError::Unsupported(format!(
                    "renaming a column of {} \"{}\"",
                    item.kind.name(),
                    item.name
                ))
                .into());
            }
            ItemKind::Sequence | ItemKind::Sink | ItemKind::Connection | ItemKind::Secret => {
                return Err(AdapterError::Constraint {
                    code: SqlState::WRONG_OBJECT_TYPE,
                    message: format!("cannot rename columns of relation \"{}\"", item.name),
                    detail: Some(format!(
                        "This operation is not supported for {}s.",
                        item.kind.name()
                    )),
                    hint: None,
                });
            }
        }
        let Some(position) = item.desc.columns.iter().position(|c| c.name == old) else {
            return Err(error(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{old}\" does not exist"),
            ));
        };
        if item.desc.columns.iter().any(|c| c.name == new) {
            return Err(error(
                SqlState::DUPLICATE_COLUMN,
                format!(
                    "column \"{new}\" of relation \"{}\" already exists",
                    item.name
                ),
            ));
        }
        if let Some(sink) = state
            .catalog
            .items()
            .find(|i| i.kind == ItemKind::Sink && i.depends_on.contains(&item.id))
        {
            return Err(PlanError::Unsupported(format!(
                "renaming a column of \"{}\", which sink \"{}\" writes,",
                item.name, sink.name
            ))
            .into());
        }
        let renaming = ColumnRenaming {
            schema: item.schema.clone(),
            relation: item.name.clone(),
            position,
            old,
            new,
            columns: item.desc.columns.iter().map(|c| c.name.clone()).collect(),
        };
        rewrite_records(&state, &renaming, item.id, item.kind)?;
        apply(&mut state, item.id, &renaming)?;
        // The catalog's statements of what reads the relation, as the
        // records were rewritten.
        let changed: Vec<_> = state
            .catalog
            .items()
            .filter(|i| i.id != item.id && i.index.as_ref().map(|x| x.on) != Some(item.id))
            .filter_map(|i| {
                let mut statements = parse_statements(&i.create_sql).ok()?;
                let mut changed = false;
                for s in &mut statements {
                    changed |= renaming.statement(s).unwrap_or(false);
                }
                changed.then(|| (i.id, join(&statements)))
            })
            .collect();
        for (id, sql) in changed {
            state.catalog.set_create_sql(id, sql);
        }
        Ok(ExecuteResponse::command(&tag))
    }
}

fn join(statements: &[FreshetStatement]) -> String {
    statements
        .iter()
        .map(|s| s.to_sql())
        .collect::<Vec<_>>()
        .join(";\n")
}

/// Rewrites the stored records in one durable commit: the relation's own
/// ends with the rename, every later one names the column by its new name
/// (records before the relation's cannot name it). A statement that cannot
/// be rewritten safely refuses the rename before anything is written.
fn rewrite_records(
    state: &CoordState,
    renaming: &ColumnRenaming,
    relation: GlobalId,
    kind: ItemKind,
) -> Result<(), AdapterError> {
    let records = state
        .store
        .catalog_records()
        .map_err(|e| AdapterError::Storage(e.to_string()))?;
    let mut put_items = Vec::new();
    for (id, mut record) in records {
        if id < relation {
            continue;
        }
        let mut statements = parse_statements(&record.create_sql).map_err(|e| {
            AdapterError::Internal(format!("stored statement of {id:?} does not parse: {e}"))
        })?;
        let mut changed = false;
        if id == relation {
            statements.push(FreshetStatement::AlterRename(AlterRenameStatement {
                kind: rename_kind(kind),
                if_exists: false,
                name: crate::catalog::QualifiedName {
                    schema: renaming.schema.clone(),
                    item: renaming.relation.clone(),
                }
                .to_object_name(),
                column: Some(crate::catalog::names::sql_ident(&renaming.old)),
                new_name: crate::catalog::names::sql_ident(&renaming.new),
            }));
            changed = true;
        } else {
            for stmt in &mut statements {
                changed |= renaming
                    .statement(stmt)
                    .map_err(|refused| PlanError::Unsupported(refused.0))?;
            }
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

/// Renames the column in the catalog: the relation's and its indexes'
/// descriptions, its `CHECK` constraints' and index keys' text, its own
/// statement (`SHOW CREATE`) and its indexes'. The same at execution and
/// at replay.
fn apply(
    state: &mut CoordState,
    relation: GlobalId,
    renaming: &ColumnRenaming,
) -> Result<(), AdapterError> {
    let Some(item) = state.catalog.get(relation).cloned() else {
        return Err(AdapterError::Internal(format!(
            "renamed relation {relation:?} is gone"
        )));
    };
    state
        .catalog
        .rename_column(relation, renaming.position, &renaming.new);
    // The relation's statement: the `CREATE` alone (what the catalog shows
    // of a record that ends with renames), naming the column anew.
    let mut statements = parse_statements(&item.create_sql)?;
    statements.retain(|s| !matches!(s, FreshetStatement::AlterRename(_)));
    if let Some(create) = statements.first_mut() {
        renaming.own_create(create);
    }
    state.catalog.set_create_sql(relation, join(&statements));
    let mut checks = state.catalog.checks(relation).to_vec();
    for check in &mut checks {
        let condition = check
            .pretty_definition
            .strip_prefix("CHECK (")
            .and_then(|s| s.strip_suffix(')'));
        if let Some(mut expr) = condition.and_then(parse_expr)
            && renaming.row_expr(&mut expr)
        {
            check.definition = super::check_constraints::definition(&expr);
            check.pretty_definition = format!("CHECK ({expr})");
        }
    }
    state.catalog.set_checks(relation, checks);
    let indexes: Vec<_> = state
        .catalog
        .indexes_on(relation)
        .into_iter()
        .cloned()
        .collect();
    for index in indexes {
        let Some(info) = &index.index else { continue };
        let key_text = info
            .key
            .iter()
            .zip(&info.key_text)
            .map(|(key, text)| match key {
                ScalarExpr::Column(c) if *c == renaming.position && *text == renaming.old => {
                    renaming.new.clone()
                }
                _ => match parse_expr(text) {
                    Some(mut expr) => {
                        if renaming.row_expr(&mut expr) {
                            expr.to_string()
                        } else {
                            text.clone()
                        }
                    }
                    None => text.clone(),
                },
            })
            .collect();
        state.catalog.set_index_key_text(index.id, key_text);
        if let Ok(mut statements) = parse_statements(&index.create_sql) {
            let mut changed = false;
            for s in &mut statements {
                changed |= renaming.statement(s).unwrap_or(false);
            }
            if changed {
                state.catalog.set_create_sql(index.id, join(&statements));
            }
        }
    }
    Ok(())
}

fn parse_expr(text: &str) -> Option<sqlparser::ast::Expr> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

/// Replays the `ALTER ... RENAME COLUMN` that ends a relation's record
/// (`rewrite_records`).
pub(crate) fn replay_rename_column(
    state: &mut CoordState,
    stmt: &AlterRenameStatement,
) -> Result<ExecuteResponse, AdapterError> {
    let partial = PartialName::from_object_name(&stmt.name)?;
    let schema = partial.schema.clone().unwrap_or_default();
    let item = state
        .catalog
        .lookup_in(&schema, &partial.item)
        .ok_or_else(|| names_relation_error(&stmt.name))?;
    let old = stmt
        .column
        .as_ref()
        .map(super::constraints::ident)
        .unwrap_or_default();
    let Some(position) = item.desc.columns.iter().position(|c| c.name == old) else {
        return Err(AdapterError::Internal(format!(
            "replayed rename of column \"{old}\" of \"{}\", which it does not have",
            item.name
        )));
    };
    let renaming = ColumnRenaming {
        schema,
        relation: item.name.clone(),
        position,
        old,
        new: super::constraints::ident(&stmt.new_name),
        columns: item.desc.columns.iter().map(|c| c.name.clone()).collect(),
    };
    let id = item.id;
    apply(state, id, &renaming)?;
    Ok(ExecuteResponse::command(&format!(
        "ALTER {}",
        stmt.kind.sql()
    )))
}
