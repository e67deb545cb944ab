//! `CREATE` and `DROP`, and the start-up replay that recreates every item
//! from its `CREATE` statement in the durable store.

use std::sync::Arc;
use std::time::Duration;

use sqlparser::ast::{ColumnOption, CreateIndex, CreateTable, CreateView, ObjectName, Statement};

use crate::catalog::names::PartialName;
use crate::catalog::{
    CatalogItem, IndexInfo, ItemKind, QualifiedName, SearchPath, TableColumn, UniqueKey,
};
use crate::compute::Command;
use crate::expr::string_format::quote_ident;
use crate::expr::{EvalError, GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{ColumnDesc, RelationDesc, Row};
use crate::sql::PlanError;
use crate::sql::parse::{FreshetStatement, LoadGeneratorStatement, parse_statements};
use crate::storage::durable::{CatalogRecord, Commit, SnapshotBounds};
use crate::storage::kafka::TransactionResume;
use crate::storage::loadgen;

use super::names::{qualified, qualify_statement};
use super::sequence::{ExecuteResponse, wall_clock_micros};
use super::sequence_objects;
use super::{AdapterError, CoordState, Coordinator};

/// A running load generator.
pub struct RunningSource {
    /// The ticks produced so far (durable).
    pub offset: u64,
    /// The generator.
    pub statement: LoadGeneratorStatement,
    /// Its output collections.
    pub outputs: Vec<GlobalId>,
    /// When its ticks happened (durable with the offset).
    pub clock: loadgen::Clock,
    /// The task producing ticks.
    pub task: Option<tokio::task::JoinHandle<()>>,
}

/// The schema and name of an object name that [`super::names`] qualified
/// (`schema.item`).
pub fn item_name(name: &ObjectName) -> Result<QualifiedName, PlanError> {
    let partial = PartialName::from_object_name(name)?;
    match partial.schema {
        Some(schema) => Ok(QualifiedName {
            schema,
            item: partial.item,
        }),
        None => Err(PlanError::Internal(format!(
            "the name \"{name}\" reached DDL unqualified"
        ))),
    }
}

fn normalize(s: &str, quoted: bool) -> String {
    if quoted {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}

impl CoordState {
    pub(crate) fn check_name_free(&self, name: &QualifiedName) -> Result<(), PlanError> {
        self.catalog.check_name_free(name)
    }

    /// The item an already-qualified name names, if any.
    pub(crate) fn lookup(&self, name: &ObjectName) -> Result<Option<&CatalogItem>, PlanError> {
        self.catalog.resolve(&qualified(), name)
    }

    /// A new item id: `forced` during replay, else the next one.
    pub(crate) fn allocate_id(&mut self, forced: Option<GlobalId>) -> GlobalId {
        match forced {
            Some(id) => {
                self.next_id = self.next_id.max(id.0 + 1);
                id
            }
            None => {
                let id = GlobalId(self.next_id);
                self.next_id += 1;
                id
            }
        }
    }

    /// Persists a new item (unless replaying).
    pub(crate) fn persist_item(
        &mut self,
        id: GlobalId,
        name: &str,
        sql: &str,
        replay: bool,
    ) -> Result<(), AdapterError> {
        self.persist_item_with(id, name, sql, replay, Commit::default())
    }

    /// Persists a new item (unless replaying) in one commit with `with`
    /// (what else the item stores when it is created).
    pub(crate) fn persist_item_with(
        &mut self,
        id: GlobalId,
        name: &str,
        sql: &str,
        replay: bool,
        with: Commit,
    ) -> Result<(), AdapterError> {
        if replay {
            return Ok(());
        }
        self.store
            .commit(Commit {
                put_items: vec![(
                    id,
                    CatalogRecord {
                        name: name.to_string(),
                        create_sql: sql.to_string(),
                    },
                )],
                next_id: Some(self.next_id),
                ..with
            })
            .map_err(|e| AdapterError::Storage(e.to_string()))
    }
}

impl Coordinator {
    /// Recreates every item in the durable store, with table contents and
    /// source offsets, at one timestamp.
    pub(crate) async fn bootstrap(self: Arc<Self>) -> Result<(), AdapterError> {
        let mut snapshot = {
            let state = self.state.lock().await;
            state
                .store
                .snapshot()
                .map_err(|e| AdapterError::Storage(e.to_string()))?
        };
        if !snapshot.schemas_initialized {
            // A new store (or one from before schemas) starts with `public`.
            let record = super::drop::public_schema_record();
            let state = self.state.lock().await;
            state
                .store
                .commit(Commit {
                    put_items: vec![(super::drop::PUBLIC_SCHEMA_ID, record.clone())],
                    schemas_initialized: true,
                    ..Default::default()
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
            snapshot
                .items
                .insert(0, (super::drop::PUBLIC_SCHEMA_ID, record));
        }
        // Stored statements name their objects qualified; older ones
        // resolve through the default path (`public`).
        let path = SearchPath::default();
        for (id, record) in &snapshot.items {
            let statements = parse_statements(&record.create_sql)?;
            for stmt in statements {
                self.clone()
                    .execute_ddl(stmt, &record.create_sql, Some(*id), &path)
                    .await?;
            }
        }
        // Sequences resume where they were written ahead to.
        for (id, value) in &snapshot.sequence_values {
            self.sequences.restore(*id, *value);
        }
        let mut state = self.state.lock().await;
        state.next_id = state.next_id.max(snapshot.next_id);
        let mut updates: Vec<(GlobalId, Row, i64)> = snapshot.rows;
        state.apply_unique(updates.iter().map(|(t, r, d)| (*t, r, *d)));
        state.apply_foreign_keys(updates.iter().map(|(t, r, d)| (*t, r, *d)));
        for (id, segments) in snapshot.loadgen_clocks {
            if let Some(source) = state.sources.get_mut(&id) {
                source.clock.segments = segments;
            }
        }
        for (id, offset) in snapshot.offsets {
            if let Some(source) = state.sources.get_mut(&id) {
                source.offset = offset;
                for tick in 1..=offset {
                    for (output, row, diff) in loadgen::tick(
                        &source.statement.kind,
                        source.statement.seed,
                        tick,
                        &source.clock,
                    ) {
                        updates.push((source.outputs[output], row, diff));
                    }
                }
            }
        }
        let mut errors = Vec::new();
        let mut resume = Vec::new();
        for id in state.kafka_sources.keys().copied().collect::<Vec<_>>() {
            let snapshot = state
                .store
                .source_snapshot(id)
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
            let (rows, errs) = super::source::split_changes(id, snapshot.updates);
            // The source's definite errors are in its data: it is failed again.
            let definite = errs.iter().filter_map(|(_, e, diff)| match e {
                EvalError::Source(message) if *diff > 0 => Some(message.clone()),
                _ => None,
            });
            if let Some(source) = state.kafka_sources.get(&id)
                && let Ok(mut status) = source.control.status.lock()
            {
                status.definite.extend(definite);
            }
            updates.extend(rows);
            errors.extend(errs);
            let transactions = TransactionResume {
                offsets: snapshot.transaction_offsets.into_iter().collect(),
                pending: snapshot.pending_ends.into_iter().collect(),
            };
            resume.push((
                id,
                snapshot.offsets.into_iter().collect(),
                transactions,
                snapshot.snapshot_bounds,
            ));
        }
        let ts = state.oracle.write_ts();
        self.compute.send(Command::Write {
            updates,
            errors,
            ts,
            worker: 0,
        });
        for (id, offsets, transactions, bounds) in resume {
            self.start_kafka_source(&mut state, id, offsets, transactions, bounds)?;
        }
        // Sinks start from everything just loaded: their snapshot is at `ts`.
        for id in state.sinks.keys().copied().collect::<Vec<_>>() {
            self.start_sink(&mut state, id, None, None)?;
        }
        let ids: Vec<GlobalId> = state.sources.keys().copied().collect();
        drop(state);
        for id in ids {
            self.clone().start_source_task(id).await;
        }
        Ok(())
    }

    /// Executes a DDL statement. `replay_id` is set when recreating an item
    /// at start-up: it keeps its id and nothing is persisted again.
    /// Names resolve through `path` (the session's; at start-up, the
    /// default path, for statements stored before names were qualified).
    pub async fn execute_ddl(
        self: Arc<Self>,
        stmt: FreshetStatement,
        sql: &str,
        replay_id: Option<GlobalId>,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        self.execute_ddl_with(stmt, sql, replay_id, path, None)
            .await
    }

    /// [`Coordinator::execute_ddl`], with the snapshot bounds a new Kafka
    /// source records (taken beforehand, outside the coordinator's lock;
    /// `None`: take them later, see [`SnapshotBounds::Pending`]).
    pub(crate) async fn execute_ddl_with(
        self: Arc<Self>,
        stmt: FreshetStatement,
        sql: &str,
        replay_id: Option<GlobalId>,
        path: &SearchPath,
        snapshot: Option<SnapshotBounds>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let mut stmt = stmt;
        let mut state = self.state.lock().await;
        qualify_statement(&state.catalog, path, &mut stmt)?;
        if replay_id.is_none()
            && let FreshetStatement::CreateKafkaSource(k) = &mut stmt
        {
            super::source::fix_start_timestamp(k);
        }
        // What is stored is this statement alone, not the whole query string
        // it came in (which may hold several statements).
        let own_sql = if replay_id.is_some() {
            sql.to_string()
        } else {
            stmt.to_sql()
        };
        let sql = own_sql.as_str();
        let replay = replay_id.is_some();
        match stmt {
            FreshetStatement::Sql(s) => match *s {
                Statement::CreateSchema {
                    schema_name,
                    if_not_exists,
                    ..
                } => self.create_schema(&mut state, schema_name, if_not_exists, sql, replay_id),
                Statement::CreateTable(ct) => self.create_table(&mut state, ct, sql, replay_id),
                Statement::CreateView(cv) => self.create_view(&mut state, cv, sql, replay_id),
                Statement::CreateIndex(ci) if ci.unique => {
                    self.create_unique_index(&mut state, ci, sql, replay_id)
                        .await
                }
                Statement::CreateIndex(ci) => self.create_index(&mut state, ci, sql, replay_id),
                seq @ Statement::CreateSequence { .. } => {
                    self.create_sequence(&mut state, &seq, sql, replay_id)
                }
                Statement::Comment {
                    object_type,
                    object_name,
                    comment,
                    ..
                } => self.comment_on(
                    &mut state,
                    object_type,
                    &object_name,
                    comment,
                    path,
                    replay_id,
                ),
                Statement::AlterTable(at) => {
                    self.alter_table(&mut state, at, path, replay_id).await
                }
                Statement::Drop {
                    object_type: sqlparser::ast::ObjectType::Sequence,
                    names,
                    ..
                } if let Some(record) = replay_id => {
                    self.replay_drop_sequence(&mut state, &names, record)
                }
                other => Err(AdapterError::Internal(format!(
                    "not a DDL statement: {other}"
                ))),
            },
            // Only replayed: the end of a renamed item's record
            // (`coord::rename`).
            FreshetStatement::AlterRename(s) => super::rename::replay_rename(&mut state, &s),
            FreshetStatement::CreateSecret(s) => self.create_secret(&mut state, s, sql, replay_id),
            FreshetStatement::AddIdentity(s) => self.add_identity(&mut state, *s, path, replay_id),
            FreshetStatement::AlterSequence(s) => {
                self.alter_sequence(&mut state, s, path, replay_id)
            }
            FreshetStatement::CommentOnConstraint(c) => {
                self.comment_on_constraint(&mut state, &c, path, replay_id)
            }
            FreshetStatement::CreateConnection(c) => {
                self.create_connection(&mut state, c, sql, replay_id)
            }
            FreshetStatement::CreateKafkaSource(k) => {
                self.create_kafka_source(&mut state, k, sql, replay_id, snapshot)
            }
            FreshetStatement::CreateSink(s) => {
                self.create_sink(&mut state, s, sql, replay_id, None, None)
            }
            FreshetStatement::CreateDefaultIndex {
                name,
                on,
                if_not_exists,
            } => {
                let item = state
                    .catalog
                    .resolve_existing(&qualified(), &on, "relation")?
                    .clone();
                let index_name = QualifiedName {
                    schema: item.schema.clone(),
                    item: match name {
                        Some(n) => PartialName::from_object_name(&n)?.item,
                        None => format!("{}_primary_idx", item.name),
                    },
                };
                if if_not_exists
                    && state
                        .catalog
                        .lookup_in(&index_name.schema, &index_name.item)
                        .is_some()
                {
                    return Ok(ExecuteResponse::command("CREATE INDEX"));
                }
                let keys = (0..item.desc.arity()).map(ScalarExpr::Column).collect();
                let key_text = item.desc.columns.iter().map(|c| c.name.clone()).collect();
                self.install_index(&mut state, index_name, item, keys, key_text, sql, replay_id)
            }
            FreshetStatement::CreateLoadGenerator(lg) => {
                let name = item_name(&lg.name)?;
                if state.lookup(&lg.name)?.is_some() {
                    if lg.if_not_exists {
                        return Ok(ExecuteResponse::command("CREATE SOURCE"));
                    }
                    state.check_name_free(&name)?;
                }
                let outputs = loadgen::outputs(&lg.kind);
                if outputs.is_empty() {
                    return Err(
                        PlanError::Unsupported(format!("LOAD GENERATOR {:?}", lg.kind)).into(),
                    );
                }
                for o in &outputs {
                    if let Some(n) = o.name {
                        state.check_name_free(&QualifiedName {
                            schema: name.schema.clone(),
                            item: n.to_string(),
                        })?;
                    }
                }
                let id = state.allocate_id(replay_id);
                let mut output_ids = Vec::new();
                for o in &outputs {
                    let (oid, oname) = match o.name {
                        None => (id, name.item.clone()),
                        Some(n) => {
                            let forced = replay_id.map(|_| GlobalId(state.next_id));
                            (state.allocate_id(forced), n.to_string())
                        }
                    };
                    self.compute.send(Command::CreateInput { id: oid });
                    state.catalog.insert(CatalogItem {
                        id: oid,
                        name: oname,
                        schema: name.schema.clone(),
                        kind: ItemKind::Source,
                        desc: o.desc.clone(),
                        create_sql: sql.to_string(),
                        depends_on: vec![],
                        plan: None,
                        table_columns: vec![],
                        index: None,
                        owned_by: if oid == id { None } else { Some(id) },
                    });
                    output_ids.push(oid);
                }
                state.persist_item(id, &name.item, sql, replay)?;
                state.sources.insert(
                    id,
                    RunningSource {
                        offset: 0,
                        clock: loadgen::Clock::new(lg.tick_ms),
                        statement: lg,
                        outputs: output_ids,
                        task: None,
                    },
                );
                if !replay {
                    drop(state);
                    self.clone().start_source_task(id).await;
                }
                Ok(ExecuteResponse::command("CREATE SOURCE"))
            }
            _ => Err(AdapterError::Internal("not a DDL statement".into())),
        }
    }

    fn create_table(
        &self,
        state: &mut CoordState,
        ct: CreateTable,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let name = item_name(&ct.name)?;
        if state.lookup(&ct.name)?.is_some() && ct.if_not_exists {
            return Ok(ExecuteResponse::command("CREATE TABLE"));
        }
        state.check_name_free(&name)?;
        if ct.query.is_some() {
            return Err(PlanError::Unsupported("CREATE TABLE ... AS".into()).into());
        }
        let mut columns = Vec::new();
        let mut table_columns = Vec::new();
        let mut column_sequences = Vec::new();
        for c in &ct.columns {
            let cname = normalize(&c.name.value, c.name.quote_style.is_some());
            if columns.iter().any(|x: &ColumnDesc| x.name == cname) {
                return Err(AdapterError::Variable {
                    code: crate::repr::SqlState::DUPLICATE_COLUMN,
                    message: format!("column \"{cname}\" specified more than once"),
                });
            }
            // `serial` is an integer column drawing from a sequence of its
            // own, NOT NULL.
            let serial = sequence_objects::serial_type(&c.data_type);
            let typ = match &serial {
                Some(t) => t.clone(),
                None => crate::sql::types::scalar_type_from_sql(&c.data_type)?,
            };
            let mut nullable = serial.is_none();
            let mut default = None;
            let mut identity = None;
            let twice = |what: &str| AdapterError::Variable {
                code: crate::repr::SqlState::SYNTAX_ERROR,
                message: format!(
                    "{what} specified for column \"{cname}\" of table \"{}\"",
                    name.item
                ),
            };
            for opt in &c.options {
                if let Some((always, options)) = sequence_objects::identity_option(&opt.option)? {
                    if identity.is_some() {
                        return Err(twice("multiple identity specifications"));
                    }
                    identity = Some((always, options));
                    continue;
                }
                match &opt.option {
                    ColumnOption::NotNull => nullable = false,
                    ColumnOption::Null => nullable = true,
                    ColumnOption::Default(_) if serial.is_some() || default.is_some() => {
                        return Err(twice("multiple default values"));
                    }
                    // Checked below (`constraints::declared_keys`,
                    // `check_constraints::declared_checks`).
                    ColumnOption::PrimaryKey(_)
                    | ColumnOption::Unique(_)
                    | ColumnOption::Check(_)
                    | ColumnOption::ForeignKey(_) => {}
                    ColumnOption::Default(e) => {
                        let expr =
                            super::sequence::plan_constant_expr(&state.catalog, e, &cname, &typ)?;
                        default = Some(expr);
                    }
                    other => {
                        return Err(PlanError::Unsupported(format!("column option {other}")).into());
                    }
                }
            }
            if let Some(typ) = serial {
                column_sequences.push(sequence_objects::ColumnSequence {
                    column: columns.len(),
                    def: sequence_objects::definition(typ, &[])?,
                });
            }
            if let Some((always, options)) = identity {
                if default.is_some()
                    || !column_sequences.is_empty()
                        && column_sequences
                            .last()
                            .is_some_and(|s| s.column == columns.len())
                {
                    return Err(twice("both default and identity"));
                }
                if !matches!(
                    typ,
                    crate::repr::ScalarType::Int16
                        | crate::repr::ScalarType::Int32
                        | crate::repr::ScalarType::Int64
                ) {
                    return Err(AdapterError::Variable {
                        code: crate::repr::SqlState::INVALID_PARAMETER_VALUE,
                        message: "identity column type must be smallint, integer, or bigint".into(),
                    });
                }
                // An identity column is NOT NULL.
                nullable = false;
                let mut def = sequence_objects::definition(typ.clone(), &options)?;
                def.identity = Some(always);
                column_sequences.push(sequence_objects::ColumnSequence {
                    column: columns.len(),
                    def,
                });
            }
            columns.push(ColumnDesc {
                name: cname,
                typ,
                nullable,
            });
            table_columns.push(TableColumn { default });
        }
        // A primary key's columns are NOT NULL (even if declared NULL, as
        // PostgreSQL 15 has it).
        let declared = super::constraints::declared_keys(&ct, &columns)?;
        for key in declared.iter().filter(|k| k.primary) {
            for &c in &key.columns {
                columns[c].nullable = false;
            }
        }
        let id = state.allocate_id(replay_id);
        // Each constraint's index takes the next id (during replay too: the
        // table's record stands for them, as a source's for its outputs).
        let mut keys = Vec::new();
        for key in &declared {
            let key_name = match &key.name {
                Some(n) => n.clone(),
                None => {
                    let cols: Vec<&str> = key
                        .columns
                        .iter()
                        .map(|&c| columns[c].name.as_str())
                        .collect();
                    super::constraints::default_name(&name.item, &cols, key.primary, &|n| {
                        keys.iter().any(|k: &UniqueKey| k.name == n)
                            || state
                                .check_name_free(&QualifiedName {
                                    schema: name.schema.clone(),
                                    item: n.to_string(),
                                })
                                .is_err()
                    })
                }
            };
            // The index is a relation: PostgreSQL's message says so.
            let taken = keys.iter().any(|k| k.name == key_name)
                || state
                    .check_name_free(&QualifiedName {
                        schema: name.schema.clone(),
                        item: key_name.clone(),
                    })
                    .is_err();
            if taken {
                return Err(PlanError::AlreadyExists {
                    kind: "relation",
                    name: key_name,
                }
                .into());
            }
            let forced = replay_id.map(|_| GlobalId(state.next_id));
            keys.push(UniqueKey {
                name: key_name,
                columns: key.columns.clone(),
                primary: key.primary,
                nulls_distinct: key.nulls_distinct,
                index: state.allocate_id(forced),
                constraint: true,
            });
        }
        let key_names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
        self.create_column_sequences(
            state,
            &name,
            id,
            &columns,
            &mut table_columns,
            column_sequences,
            &key_names,
            replay_id.is_some(),
        )?;
        let table = CatalogItem {
            id,
            name: name.item,
            schema: name.schema,
            kind: ItemKind::Table,
            desc: RelationDesc { columns },
            create_sql: sql.to_string(),
            depends_on: vec![],
            plan: None,
            table_columns,
            index: None,
            owned_by: None,
        };
        let key_names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        let checks = super::check_constraints::create_table_checks(
            state,
            &ct,
            &table,
            &key_names,
            replay_id.is_some(),
        )?;
        let foreign_keys = self.create_table_foreign_keys(
            state,
            &ct,
            &table,
            &keys,
            &checks,
            replay_id.is_some(),
        )?;
        state.persist_item(id, &table.name, sql, replay_id.is_some())?;
        self.compute.send(Command::CreateInput { id });
        state.catalog.insert(table);
        state.catalog.set_checks(id, checks);
        if let Some(table) = state.catalog.get(id).cloned() {
            for key in &keys {
                let key_text: Vec<String> = key
                    .columns
                    .iter()
                    .map(|&c| table.desc.columns[c].name.clone())
                    .collect();
                let index_sql = format!(
                    "CREATE INDEX {} ON {}.{} ({})",
                    quote_ident(&key.name),
                    quote_ident(&table.schema),
                    quote_ident(&table.name),
                    key_text
                        .iter()
                        .map(|c| quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.create_index_dataflow(
                    state,
                    key.index,
                    QualifiedName {
                        schema: table.schema.clone(),
                        item: key.name.clone(),
                    },
                    &table,
                    key.columns.iter().map(|&c| ScalarExpr::Column(c)).collect(),
                    key_text,
                    &index_sql,
                    Some(id),
                )?;
            }
        }
        state.catalog.set_unique(id, keys);
        state.catalog.set_foreign_keys(id, foreign_keys);
        Ok(ExecuteResponse::command("CREATE TABLE"))
    }

    /// The `FOREIGN KEY` constraints of a `CREATE TABLE` of `table` (not
    /// in the catalog yet), which has the keys `keys` and the checks
    /// `checks`; each takes the next id (during replay too).
    fn create_table_foreign_keys(
        &self,
        state: &mut CoordState,
        ct: &CreateTable,
        table: &CatalogItem,
        keys: &[UniqueKey],
        checks: &[crate::catalog::CheckConstraint],
        replay: bool,
    ) -> Result<Vec<crate::catalog::ForeignKey>, AdapterError> {
        let declared = super::foreign_keys::declared_foreign_keys(ct)?;
        let mut out: Vec<crate::catalog::ForeignKey> = Vec::new();
        for d in &declared {
            let forced = replay.then_some(GlobalId(state.next_id));
            let fk_id = state.allocate_id(forced);
            let own = |n: &str| {
                keys.iter().any(|k| k.name == n)
                    || checks.iter().any(|c| c.name == n)
                    || out.iter().any(|k| k.name == n)
            };
            let taken = |n: &str| {
                own(n)
                    || super::check_constraints::constraint_name_in_schema(
                        &state.catalog,
                        &table.schema,
                        table.id,
                        n,
                    )
            };
            let Some(fk) = super::foreign_keys::build_foreign_key(
                &state.catalog,
                &qualified(),
                table,
                keys,
                d,
                &taken,
                fk_id,
                replay,
            )?
            else {
                continue;
            };
            if d.name.is_some() && own(&fk.name) {
                return Err(AdapterError::Variable {
                    code: crate::repr::SqlState::DUPLICATE_OBJECT,
                    message: format!(
                        "constraint \"{}\" for relation \"{}\" already exists",
                        fk.name, table.name
                    ),
                });
            }
            out.push(fk);
        }
        Ok(out)
    }

    fn create_view(
        &self,
        state: &mut CoordState,
        cv: CreateView,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let name = item_name(&cv.name)?;
        let tag = if cv.materialized {
            "CREATE MATERIALIZED VIEW"
        } else {
            "CREATE VIEW"
        };
        if state.lookup(&cv.name)?.is_some() {
            if cv.if_not_exists {
                return Ok(ExecuteResponse::command(tag));
            }
            if !cv.or_replace {
                state.check_name_free(&name)?;
            }
        }
        if cv.or_replace && state.lookup(&cv.name)?.is_some() {
            return Err(
                PlanError::Unsupported("CREATE OR REPLACE for an existing view".into()).into(),
            );
        }
        super::session_funcs::refuse_in_view(&cv.query)?;
        // The query's relations are qualified: any path resolves them.
        let path = qualified();
        let mut statement = Statement::Query(cv.query.clone());
        // The sequences `nextval(...)` names (qualified too).
        sequence_objects::resolve_sequence_args(&mut statement, Some((&state.catalog, &path)))?;
        let aliased = crate::sql::plan::explicit_aliases(&statement);
        // PostgreSQL does not plan a view's query when the view is
        // created: a failing constant fails its reads instead.
        let scope = state.catalog.scope(&path);
        let plan = if cv.materialized && replay_id.is_none() {
            crate::sql::plan::plan_query(&scope, statement)?
        } else {
            crate::sql::constant_errors::deferred(|| {
                crate::sql::plan::plan_query(&scope, statement)
            })?
        };
        let mut desc = crate::sql::plan::plan_desc_with(&plan, &aliased)?;
        if !cv.columns.is_empty() {
            if cv.columns.len() != desc.arity() {
                return Err(PlanError::Planning(format!(
                    "view \"{}\" has {} columns but {} column names were given",
                    name.item,
                    desc.arity(),
                    cv.columns.len()
                ))
                .into());
            }
            for (c, n) in desc.columns.iter_mut().zip(&cv.columns) {
                c.name = normalize(&n.name.value, n.name.quote_style.is_some());
            }
        }
        for (i, c) in desc.columns.iter().enumerate() {
            if desc.columns[..i].iter().any(|x| x.name == c.name) {
                return Err(AdapterError::Variable {
                    code: crate::repr::SqlState::DUPLICATE_COLUMN,
                    message: format!("column \"{}\" specified more than once", c.name),
                });
            }
        }
        let expr = crate::sql::lower::lower(&plan)?;
        if cv.materialized {
            super::materializable::check_materializable(
                &expr,
                "a materialized view",
                &state.catalog,
            )?;
        }
        let mut depends_on = Vec::new();
        expr.depends_on(&mut depends_on);
        // A view the query reads is inlined into its plan: it depends on
        // that view all the same (dropping it is refused or cascades, as
        // in PostgreSQL). The query's names are qualified, so a CTE's
        // (unqualified) name resolves to nothing.
        let _ = sqlparser::ast::visit_relations(&cv.query, |relation| {
            if let Ok(Some(item)) = state.catalog.resolve(&path, relation)
                && item.kind == ItemKind::View
                && !depends_on.contains(&item.id)
            {
                depends_on.push(item.id);
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        let id = state.allocate_id(replay_id);
        state.persist_item(id, &name.item, sql, replay_id.is_some())?;
        let kind = if cv.materialized {
            ItemKind::MaterializedView
        } else {
            ItemKind::View
        };
        if cv.materialized {
            let since = state.oracle.read_ts();
            state.dataflow_since.insert(id, since);
            self.compute.send(Command::CreateDataflow {
                id,
                plan: expr.clone(),
                key: None,
                append_only: state.append_only_inputs(&expr),
                as_of: None,
            });
        }
        state.catalog.insert(CatalogItem {
            id,
            name: name.item,
            schema: name.schema,
            kind,
            desc,
            create_sql: sql.to_string(),
            depends_on,
            plan: Some(expr),
            table_columns: vec![],
            index: None,
            owned_by: None,
        });
        Ok(ExecuteResponse::command(tag))
    }

    fn create_index(
        &self,
        state: &mut CoordState,
        ci: CreateIndex,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        // (`CREATE UNIQUE INDEX` is `unique_index`.)
        let item = state
            .catalog
            .resolve_existing(&qualified(), &ci.table_name, "relation")?
            .clone();
        if item.kind == ItemKind::Index {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is an index", item.name)).into(),
            );
        }
        let index_name = match &ci.name {
            Some(n) => PartialName::from_object_name(n)?.item,
            None => {
                let cols: Vec<String> = ci
                    .columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_lowercase())
                    .collect();
                format!("{}_{}_idx", item.name, cols.join("_"))
            }
        };
        let index_name = QualifiedName {
            schema: item.schema.clone(),
            item: index_name,
        };
        if state
            .catalog
            .lookup_in(&index_name.schema, &index_name.item)
            .is_some()
            && ci.if_not_exists
        {
            return Ok(ExecuteResponse::command("CREATE INDEX"));
        }
        let mut keys = Vec::new();
        let mut key_text = Vec::new();
        for c in &ci.columns {
            keys.push(super::sequence::plan_expr_over(
                &state.catalog,
                &item,
                &c.column.expr,
            )?);
            key_text.push(c.column.expr.to_string());
        }
        if keys.is_empty() {
            return Err(PlanError::Planning("an index needs at least one key".into()).into());
        }
        self.install_index(state, index_name, item, keys, key_text, sql, replay_id)
    }

    #[allow(clippy::too_many_arguments)]
    fn install_index(
        &self,
        state: &mut CoordState,
        index_name: QualifiedName,
        item: CatalogItem,
        keys: Vec<ScalarExpr>,
        key_text: Vec<String>,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        state.check_name_free(&index_name)?;
        let id = state.allocate_id(replay_id);
        state.persist_item(id, &index_name.item, sql, replay_id.is_some())?;
        self.create_index_dataflow(state, id, index_name, &item, keys, key_text, sql, None)?;
        Ok(ExecuteResponse::command("CREATE INDEX"))
    }

    /// Builds index `id`'s dataflow (an arrangement of `item` on `keys`)
    /// and adds it to the catalog.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_index_dataflow(
        &self,
        state: &mut CoordState,
        id: GlobalId,
        index_name: QualifiedName,
        item: &CatalogItem,
        keys: Vec<ScalarExpr>,
        key_text: Vec<String>,
        sql: &str,
        owned_by: Option<GlobalId>,
    ) -> Result<(), AdapterError> {
        let source = match (&item.kind, &item.plan) {
            (ItemKind::View, Some(plan)) => plan.clone(),
            _ => RelationExpr::Get {
                id: item.id,
                name: item.name.clone(),
            },
        };
        super::materializable::check_materializable(&source, "an index", &state.catalog)?;
        let mut depends_on = Vec::new();
        source.depends_on(&mut depends_on);
        if !depends_on.contains(&item.id) {
            depends_on.push(item.id);
        }
        let since = state.oracle.read_ts();
        state.dataflow_since.insert(id, since);
        self.compute.send(Command::CreateDataflow {
            id,
            append_only: state.append_only_inputs(&source),
            plan: source,
            key: Some(keys.clone()),
            as_of: None,
        });
        state.catalog.insert(CatalogItem {
            id,
            name: index_name.item,
            schema: index_name.schema,
            kind: ItemKind::Index,
            desc: item.desc.clone(),
            create_sql: sql.to_string(),
            depends_on,
            plan: None,
            table_columns: vec![],
            index: Some(IndexInfo {
                on: item.id,
                key: keys,
                key_text,
            }),
            owned_by,
        });
        Ok(())
    }

    /// Starts the task that produces a load generator's ticks: each tick's
    /// rows and the new offset are committed together, then written.
    pub(crate) async fn start_source_task(self: Arc<Self>, id: GlobalId) {
        let coord = self.clone();
        let mut state = self.state.lock().await;
        let Some(source) = state.sources.get_mut(&id) else {
            return;
        };
        let tick_ms = source.statement.tick_ms;
        if source.statement.up_to.is_none_or(|u| source.offset < u) {
            let next = source.offset + 1;
            start_clock_run(&mut state, id, next, wall_clock_micros());
        }
        // Tick `n` is produced when the wall clock reaches the time its
        // clock gives it (at once if that has passed), so rows carry the
        // time they appear at.
        let task = tokio::spawn(async move {
            loop {
                let due = {
                    let state = coord.state.lock().await;
                    let Some(source) = state.sources.get(&id) else {
                        return;
                    };
                    source.clock.at(source.offset + 1)
                };
                let wait = due.saturating_sub(wall_clock_micros());
                if wait > 0 {
                    tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
                }
                let mut state = coord.state.lock().await;
                let Some(source) = state.sources.get(&id) else {
                    return;
                };
                if source.statement.up_to.is_some_and(|u| source.offset >= u) {
                    return;
                }
                let next = source.offset + 1;
                // Far behind (the process was stopped or starved): a new
                // run from now, rather than a burst of ticks in the past.
                let now = wall_clock_micros();
                if now.saturating_sub(source.clock.at(next)) > LOADGEN_MAX_LAG_MICROS {
                    start_clock_run(&mut state, id, next, now);
                }
                let Some(source) = state.sources.get(&id) else {
                    return;
                };
                let updates: Vec<(GlobalId, Row, i64)> = loadgen::tick(
                    &source.statement.kind,
                    source.statement.seed,
                    next,
                    &source.clock,
                )
                .into_iter()
                .map(|(o, r, d)| (source.outputs[o], r, d))
                .collect();
                let commit = Commit {
                    offsets: vec![(id, next)],
                    ..Default::default()
                };
                if let Err(e) = state.store.commit(commit) {
                    tracing::error!("load generator {id}: {e}; retrying");
                    drop(state);
                    tokio::time::sleep(Duration::from_millis(tick_ms.max(100))).await;
                    continue;
                }
                if let Some(s) = state.sources.get_mut(&id) {
                    s.offset = next;
                }
                let ts = state.oracle.write_ts();
                coord.compute.send(Command::Write {
                    updates,
                    errors: Vec::new(),
                    ts,
                    worker: 0,
                });
            }
        });
        if let Some(source) = state.sources.get_mut(&id) {
            source.task = Some(task);
        }
    }
}

/// How far behind its clock a load generator may fall before its ticks
/// start a new run from the wall clock (see [`start_clock_run`]).
const LOADGEN_MAX_LAG_MICROS: i64 = 1_000_000;

/// Starts a new run of load generator `id`'s ticks at tick `first`, at
/// `micros`, and records it before any of its ticks, so that they replay at
/// their times. Should recording fail, the run is kept in memory (its ticks
/// then fail to commit too, and are retried).
fn start_clock_run(state: &mut CoordState, id: GlobalId, first: u64, micros: i64) {
    let Some(source) = state.sources.get_mut(&id) else {
        return;
    };
    source.clock.start_run(first, micros);
    let commit = Commit {
        loadgen_clocks: vec![(id, source.clock.segments.clone())],
        ..Default::default()
    };
    if let Err(e) = state.store.commit(commit) {
        tracing::error!("load generator {id}: recording its clock: {e}");
    }
}
