//! `COPY`: `COPY t [(cols)] FROM STDIN`, `COPY t | (query) TO STDOUT` and
//! `COPY (SUBSCRIBE ...) TO STDOUT`, with PostgreSQL's options.
//!
//! `COPY ... FROM STDIN` happens in two steps. [`Coordinator::copy`]
//! resolves the table and columns and returns
//! [`ExecuteResponse::CopyIn`]; the wire layer then receives the client's
//! data, decodes it (`pgwire/copy_format.rs`) into rows of the listed
//! columns, and hands them to [`Coordinator::copy_in`], which writes them
//! as one `INSERT` would: the other columns' defaults, NOT NULL, CHECK,
//! UNIQUE and FOREIGN KEY constraints, one durable commit at one
//! timestamp (or the open transaction's writes). All rows or none.

use std::sync::Arc;

use sqlparser::ast::Statement;

use crate::catalog::names::PartialName;
use crate::catalog::{CatalogItem, ItemKind, SearchPath};
use crate::expr::GlobalId;
use crate::repr::{RelationDesc, Row, ScalarType, SqlState};
use crate::sql::PlanError;
use crate::sql::copy::{
    CopyDirection, CopyEndpoint, CopyFormat, CopyHeader, CopyOptions, CopyRelation, CopyStatement,
};

use super::sequence::{ExecuteResponse, as_statement, failed_transaction};
use super::session::{Session, TransactionState};
use super::{AdapterError, Coordinator};

/// A `COPY ... FROM STDIN` waiting for its data.
#[derive(Debug, Clone)]
pub struct CopyInTarget {
    /// The table.
    pub table: GlobalId,
    /// Its name, for errors' context (`COPY t, line 2`).
    pub table_name: String,
    /// The table's columns when the COPY started: the rows are refused if
    /// they changed before the data arrived.
    pub table_desc: RelationDesc,
    /// The columns the data holds, in order: name and type.
    pub columns: Vec<(String, ScalarType)>,
    /// Their positions in the table.
    pub positions: Vec<usize>,
    /// The data's format.
    pub options: CopyOptions,
    /// Per listed column: `FORCE_NOT_NULL` names it.
    pub force_not_null: Vec<bool>,
    /// Per listed column: `FORCE_NULL` names it.
    pub force_null: Vec<bool>,
    /// The most bytes of data the copy takes (the session's
    /// `max_copy_from_size`).
    pub max_size: u64,
}

/// The columns `names` (all of `desc`'s when empty) as positions, with
/// PostgreSQL's errors for an unknown or repeated column.
fn column_positions(
    desc: &RelationDesc,
    table: &str,
    names: &[String],
) -> Result<Vec<usize>, AdapterError> {
    if names.is_empty() {
        return Ok((0..desc.arity()).collect());
    }
    let mut positions: Vec<usize> = Vec::with_capacity(names.len());
    for n in names {
        let p = desc
            .columns
            .iter()
            .position(|c| &c.name == n)
            .ok_or_else(|| PlanError::UnknownColumn(format!("\"{n}\" of relation \"{table}\"")))?;
        if positions.contains(&p) {
            return Err(AdapterError::Variable {
                code: SqlState::DUPLICATE_COLUMN,
                message: format!("column \"{n}\" specified more than once"),
            });
        }
        positions.push(p);
    }
    Ok(positions)
}

/// Checks that the columns a `FORCE_*` option names are copied
/// (PostgreSQL's 42P10 `FORCE_QUOTE column "x" not referenced by COPY`).
fn check_forced(
    option: &str,
    named: &[String],
    copied: &[String],
    desc: &RelationDesc,
    table: &str,
) -> Result<(), AdapterError> {
    for n in named {
        if copied.iter().any(|c| c == n) {
            continue;
        }
        // A column of the table that is not copied, or none at all.
        if !desc.columns.iter().any(|c| &c.name == n) {
            return Err(
                PlanError::UnknownColumn(format!("\"{n}\" of relation \"{table}\"")).into(),
            );
        }
        return Err(AdapterError::Variable {
            code: SqlState::INVALID_COLUMN_REFERENCE,
            message: format!("{option} column \"{n}\" not referenced by COPY"),
        });
    }
    Ok(())
}

impl Coordinator {
    /// Starts a `COPY`: `TO STDOUT` computes its rows (or starts its
    /// subscribe); `FROM STDIN` returns the target its data is written to.
    pub(super) async fn copy(
        self: &Arc<Self>,
        session: &mut Session,
        copy: CopyStatement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let from = copy.direction == CopyDirection::From;
        match &copy.endpoint {
            CopyEndpoint::Client => {}
            CopyEndpoint::File(_) | CopyEndpoint::Program => {
                return Err(PlanError::NotImplemented(format!(
                    "COPY {} a file or program on the server: use COPY ... {} and \
                     a client-side facility such as psql's \\copy",
                    if from { "FROM" } else { "TO" },
                    if from { "FROM STDIN" } else { "TO STDOUT" },
                ))
                .into());
            }
        }
        if copy.has_where {
            return Err(PlanError::NotImplemented("COPY FROM ... WHERE".into()).into());
        }
        let options = copy.options()?;
        match copy.relation {
            CopyRelation::Table { name, columns } if from => {
                let max_size = session
                    .get("max_copy_from_size")?
                    .parse()
                    .unwrap_or(u64::MAX);
                self.copy_in_target(&name, &columns, options, max_size, path)
                    .await
            }
            CopyRelation::Subscribe(s) => {
                if options.format != CopyFormat::Text
                    || options.header != CopyHeader::None
                    || options != CopyOptions::default()
                {
                    return Err(PlanError::NotImplemented(
                        "COPY (SUBSCRIBE ...) TO STDOUT with options other than FORMAT TEXT".into(),
                    )
                    .into());
                }
                if !session.pending_writes.is_empty() {
                    return Err(super::sequence::after_writes("COPY (SUBSCRIBE ...)"));
                }
                self.subscribe(s, true, path).await
            }
            CopyRelation::Table { name, columns } => {
                let cols = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(|c| crate::expr::string_format::quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let query = super::dml_sql::parse_one(&format!("SELECT {cols} FROM {name}"))?;
                self.copy_out(session, query, options, path).await
            }
            CopyRelation::Query(q) => {
                self.copy_out(session, Statement::Query(q), options, path)
                    .await
            }
        }
    }

    /// `COPY ... TO STDOUT`: the query's rows, to be written in `options`'
    /// format.
    async fn copy_out(
        self: &Arc<Self>,
        session: &mut Session,
        mut stmt: Statement,
        options: CopyOptions,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        {
            let state = self.state.lock().await;
            super::session_funcs::substitute(&mut stmt, session, &state.catalog)?;
        }
        super::sequence::sleep_pending(session).await?;
        match self.query(stmt, path, session.txn_reads()).await? {
            ExecuteResponse::Rows { desc, rows } => {
                if let Some(n) = options
                    .force_quote
                    .named()
                    .iter()
                    .find(|n| !desc.columns.iter().any(|c| &c.name == *n))
                {
                    return Err(PlanError::UnknownColumn(format!("\"{n}\"")).into());
                }
                Ok(ExecuteResponse::CopyRows {
                    desc,
                    rows,
                    options,
                })
            }
            other => Ok(other),
        }
    }

    /// `COPY t [(cols)] FROM STDIN`: the table and columns its data goes
    /// to.
    async fn copy_in_target(
        self: &Arc<Self>,
        name: &sqlparser::ast::ObjectName,
        columns: &[String],
        options: CopyOptions,
        max_size: u64,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        let state = self.state.lock().await;
        let partial = PartialName::from_object_name(name)?;
        let Some(item) = state.catalog.resolve_partial(path, &partial)? else {
            return Err(PlanError::UnknownItem {
                kind: "relation",
                name: match &partial.schema {
                    Some(schema) => format!("{schema}.{}", partial.item),
                    None => partial.item.clone(),
                },
            }
            .into());
        };
        if item.kind != ItemKind::Table {
            return Err(PlanError::WrongObjectType(format!(
                "cannot copy to {} \"{}\"",
                item.kind.name(),
                item.name
            ))
            .into());
        }
        let table: &CatalogItem = item;
        let positions = column_positions(&table.desc, &table.name, columns)?;
        let copied: Vec<String> = positions
            .iter()
            .map(|&p| table.desc.columns[p].name.clone())
            .collect();
        for (option, named) in [
            ("FORCE_NOT_NULL", options.force_not_null.named()),
            ("FORCE_NULL", options.force_null.named()),
        ] {
            check_forced(option, named, &copied, &table.desc, &table.name)?;
        }
        Ok(ExecuteResponse::CopyIn(CopyInTarget {
            table: table.id,
            table_name: table.name.clone(),
            table_desc: table.desc.clone(),
            columns: positions
                .iter()
                .map(|&p| {
                    let c = &table.desc.columns[p];
                    (c.name.clone(), c.typ.clone())
                })
                .collect(),
            force_not_null: copied
                .iter()
                .map(|c| options.force_not_null.contains(c))
                .collect(),
            force_null: copied
                .iter()
                .map(|c| options.force_null.contains(c))
                .collect(),
            positions,
            options,
            max_size,
        }))
    }

    /// Writes the rows a `COPY ... FROM STDIN` received (values of the
    /// target's columns, in order), as one statement of `session`.
    pub async fn copy_in(
        self: &Arc<Self>,
        session: &mut Session,
        target: &CopyInTarget,
        rows: Vec<Row>,
    ) -> Result<ExecuteResponse, AdapterError> {
        if session.transaction == TransactionState::Failed {
            return Err(failed_transaction());
        }
        as_statement(session, async |session| {
            self.copy_in_inner(session, target, rows).await
        })
        .await
    }

    async fn copy_in_inner(
        self: &Arc<Self>,
        session: &mut Session,
        target: &CopyInTarget,
        rows: Vec<Row>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let mut state = self.state.lock().await;
        let table = match state.catalog.get(target.table) {
            Some(t) if t.desc == target.table_desc => t.clone(),
            _ => {
                return Err(AdapterError::Variable {
                    code: SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    message: format!(
                        "table \"{}\" was dropped or altered during COPY",
                        target.table_name
                    ),
                });
            }
        };
        let n = rows.len();
        let mut updates = Vec::with_capacity(n);
        let rows = rows.into_iter().map(|r| (r, &[][..])).collect();
        self.with_sequences(|| {
            super::dml::insert_rows(&table, &target.positions, &[], rows, &mut updates)
        })?;
        let updates = updates.into_iter().map(|(r, d)| (table.id, r, d)).collect();
        self.write(&mut state, session, updates, true).await?;
        Ok(ExecuteResponse::Command {
            tag: "COPY".into(),
            rows: Some(n),
        })
    }
}
