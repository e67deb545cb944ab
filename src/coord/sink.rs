//! Kafka sinks: `CREATE SINK`, the glue between a sink's input (a
//! subscribe to the item it writes out) and its thread
//! ([`crate::storage::kafka_sink`]), and stopping sinks on `DROP`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::catalog::{Catalog, CatalogItem, ItemKind};
use crate::compute::controller::SubscribeStream;
use crate::expr::{GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{RelationDesc, Timestamp};
use crate::sql::PlanError;
use crate::sql::sink::{CreateSinkStatement, SinkEnvelope, SinkFormat};
use crate::sql::source::{ConnectionKind, OptionValue};
use crate::storage::avro_sink::{self, AvroSinkSchemas, AvroSinkSpec, SchemaIds};
use crate::storage::kafka_sink::{self, SinkControl, SinkInput, SinkParams};
use crate::storage::registry::{RegistryClient, RegistryConfig, RegistryError};
use crate::storage::sink::{Envelope, RowEncoder, SinkEncoding};

use super::ddl::item_name;
use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};

/// A Kafka sink and its thread.
pub struct KafkaSink {
    /// Its definition.
    pub statement: CreateSinkStatement,
    /// Stops the thread and reports its status.
    pub control: Arc<SinkControl>,
    /// The subscribe that feeds it, once started.
    pub subscribe_id: Option<u64>,
    /// The task forwarding the subscribe's updates to the thread.
    pub task: Option<tokio::task::JoinHandle<()>>,
}

/// A sink's definition, resolved against the catalog.
struct SinkPlan {
    from: CatalogItem,
    connection: GlobalId,
    options: BTreeMap<String, String>,
    progress_topic: String,
    key: Option<Vec<usize>>,
    avro: Option<AvroPlan>,
}

/// An Avro sink's registry and generated schemas.
struct AvroPlan {
    connection: GlobalId,
    registry: RegistryConfig,
    schemas: AvroSinkSchemas,
}

/// The number of columns of `expr`, where it is easy to see.
fn arity(catalog: &Catalog, expr: &RelationExpr) -> Option<usize> {
    match expr {
        RelationExpr::Get { id, .. } => catalog.get(*id).map(|i| i.desc.arity()),
        RelationExpr::Reduce {
            group_key,
            aggregates,
            ..
        } => Some(group_key.len() + aggregates.len()),
        RelationExpr::Mfp { projection, .. } => Some(projection.len()),
        RelationExpr::CheckSingleRow { input, .. } | RelationExpr::Distinct { input } => {
            arity(catalog, input)
        }
        _ => None,
    }
}

/// The unique keys of `expr`'s output that are easy to see: the grouping
/// columns of a `GROUP BY`, carried through maps, filters, projections and
/// materialized views. Not finding a key is no proof there is none.
fn unique_keys(catalog: &Catalog, expr: &RelationExpr) -> Vec<Vec<usize>> {
    match expr {
        RelationExpr::Get { id, .. } => match catalog.get(*id) {
            Some(item)
                if matches!(item.kind, ItemKind::MaterializedView | ItemKind::View)
                    && item.plan.is_some() =>
            {
                unique_keys(catalog, item.plan.as_ref().expect("checked"))
            }
            _ => Vec::new(),
        },
        RelationExpr::Reduce { group_key, .. } => vec![(0..group_key.len()).collect()],
        RelationExpr::Distinct { input } => arity(catalog, input)
            .map(|n| vec![(0..n).collect()])
            .unwrap_or_default(),
        RelationExpr::Mfp {
            input,
            exprs,
            projection,
            ..
        } => {
            let Some(input_arity) = arity(catalog, input) else {
                return Vec::new();
            };
            // The input column an extended column copies, if it does.
            let source = |mut c: usize| {
                while c >= input_arity {
                    match exprs.get(c - input_arity) {
                        Some(ScalarExpr::Column(d)) if *d < c => c = *d,
                        _ => return None,
                    }
                }
                Some(c)
            };
            let outputs: Vec<Option<usize>> = projection.iter().map(|p| source(*p)).collect();
            unique_keys(catalog, input)
                .into_iter()
                .filter_map(|key| {
                    key.iter()
                        .map(|c| outputs.iter().position(|o| *o == Some(*c)))
                        .collect::<Option<Vec<usize>>>()
                })
                .collect()
        }
        RelationExpr::CheckSingleRow { input, .. } => unique_keys(catalog, input),
        _ => Vec::new(),
    }
}

impl CoordState {
    /// Resolves a sink's definition; the errors `CREATE SINK` reports.
    fn plan_sink(&self, stmt: &CreateSinkStatement) -> Result<SinkPlan, AdapterError> {
        let Some(from) = self.lookup(&stmt.from)?.cloned() else {
            return Err(PlanError::UnknownItem {
                kind: "relation",
                name: stmt.from.to_string(),
            }
            .into());
        };
        if !matches!(
            from.kind,
            ItemKind::Table | ItemKind::Source | ItemKind::MaterializedView
        ) {
            return Err(PlanError::WrongObjectType(format!(
                "\"{}\" is a {}: sinks write out tables, sources and materialized views",
                from.name,
                from.kind.name()
            ))
            .into());
        }
        let (connection, conn_stmt) =
            self.connection_for(&stmt.connection, ConnectionKind::Kafka)?;
        let (options, _) = self.kafka_options(&conn_stmt)?;
        let progress_topic = conn_stmt
            .options
            .iter()
            .find_map(|(name, value)| match (name.as_str(), value) {
                ("PROGRESS TOPIC", OptionValue::Value(t)) => Some(t.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("_freshet-progress-{connection}"));
        let key = match &stmt.key {
            None => None,
            Some(names) => {
                let mut columns = Vec::new();
                for n in names {
                    let Some(i) = from.desc.columns.iter().position(|c| &c.name == n) else {
                        return Err(PlanError::UnknownColumn(format!(
                            "\"{n}\" of relation \"{}\"",
                            from.name
                        ))
                        .into());
                    };
                    if columns.contains(&i) {
                        return Err(PlanError::InvalidDefinition(format!(
                            "column \"{n}\" appears twice in the sink key"
                        ))
                        .into());
                    }
                    columns.push(i);
                }
                Some(columns)
            }
        };
        if stmt.envelope == SinkEnvelope::Upsert {
            let Some(key) = &key else {
                return Err(PlanError::InvalidDefinition(
                    "ENVELOPE UPSERT requires that KEY be specified".into(),
                )
                .into());
            };
            if !stmt.key_not_enforced {
                let known = unique_keys(
                    &self.catalog,
                    &RelationExpr::Get {
                        id: from.id,
                        name: from.name.clone(),
                    },
                );
                if !known.iter().any(|k| k.iter().all(|c| key.contains(c))) {
                    let names = |k: &[usize]| {
                        k.iter()
                            .map(|c| format!("\"{}\"", from.desc.columns[*c].name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let known_text = if known.is_empty() {
                        "no unique keys are known for it".to_string()
                    } else {
                        let list: Vec<String> =
                            known.iter().map(|k| format!("({})", names(k))).collect();
                        format!("its known unique keys are {}", list.join(", "))
                    };
                    return Err(PlanError::InvalidDefinition(format!(
                        "upsert key could not be validated as unique: Freshet could not prove \
                         that ({}) is a unique key of \"{}\" ({known_text}); if it is, say \
                         KEY (...) NOT ENFORCED",
                        names(key),
                        from.name
                    ))
                    .into());
                }
            }
        }
        let avro = match &stmt.format {
            SinkFormat::Json => None,
            SinkFormat::Avro {
                connection,
                key_fullname,
                value_fullname,
            } => Some(self.plan_avro(
                stmt,
                &from,
                key.as_deref(),
                connection,
                key_fullname.as_deref(),
                value_fullname.as_deref(),
            )?),
        };
        Ok(SinkPlan {
            from,
            connection,
            options,
            progress_topic,
            key,
            avro,
        })
    }

    /// The registry and the schemas of an Avro sink; Materialize's rules
    /// for the `AVRO ... FULLNAME` options.
    fn plan_avro(
        &self,
        stmt: &CreateSinkStatement,
        from: &CatalogItem,
        key: Option<&[usize]>,
        connection: &sqlparser::ast::ObjectName,
        key_fullname: Option<&str>,
        value_fullname: Option<&str>,
    ) -> Result<AvroPlan, AdapterError> {
        let (connection, conn_stmt) =
            self.connection_for(connection, ConnectionKind::SchemaRegistry)?;
        let (registry, _) = self.registry_config(&conn_stmt)?;
        let invalid = |m: &str| AdapterError::from(PlanError::InvalidParameter(m.into()));
        match (
            key.is_some(),
            key_fullname.is_some(),
            value_fullname.is_some(),
        ) {
            (false, true, _) => {
                return Err(invalid(
                    "AVRO KEY FULLNAME needs a KEY: the sink's messages have no key",
                ));
            }
            (true, true, false) => {
                return Err(invalid(
                    "AVRO KEY FULLNAME needs AVRO VALUE FULLNAME as well",
                ));
            }
            (true, false, true) => {
                return Err(invalid(
                    "AVRO VALUE FULLNAME needs AVRO KEY FULLNAME as well when the sink has a KEY",
                ));
            }
            _ => {}
        }
        let schemas = avro_sink::sink_schemas(
            &from.desc,
            key,
            stmt.envelope == SinkEnvelope::Debezium,
            key_fullname,
            value_fullname,
        )
        .map_err(|e| invalid(&e))?;
        Ok(AvroPlan {
            connection,
            registry,
            schemas,
        })
    }
}

/// Registers an Avro sink's schemas for `CREATE SINK`: the errors it
/// reports.
async fn register_schemas(
    registry: RegistryConfig,
    topic: String,
    schemas: AvroSinkSchemas,
) -> Result<SchemaIds, AdapterError> {
    let result = tokio::task::spawn_blocking(move || {
        avro_sink::register(&RegistryClient::new(registry), &topic, &schemas)
    })
    .await
    .map_err(|e| AdapterError::Internal(e.to_string()))?;
    result.map_err(|e| match e {
        RegistryError::Rejected(m) => AdapterError::from(PlanError::InvalidDefinition(format!(
            "the schema registry refused the sink's Avro schema: {m}"
        ))),
        other => AdapterError::Connection(format!(
            "registering the sink's Avro schemas with the schema registry: {other}"
        )),
    })
}

impl Coordinator {
    /// `CREATE SINK` from a client: checks the definition, creates the
    /// topics and finds out (without holding the coordinator's lock)
    /// whether the brokers support transactions, then creates the sink. A
    /// broker without transactions is reported in a notice.
    pub(crate) async fn create_sink_checked(
        self: &Arc<Self>,
        stmt: CreateSinkStatement,
    ) -> Result<ExecuteResponse, AdapterError> {
        let (options, progress_topic, avro) = {
            let state = self.state.lock().await;
            let name = item_name(&stmt.name)?;
            if state.exists_already(&name, stmt.if_not_exists)? {
                return Ok(ExecuteResponse::command("CREATE SINK"));
            }
            let plan = state.plan_sink(&stmt)?;
            (plan.options, plan.progress_topic, plan.avro)
        };
        // The schemas first: a registry that cannot be reached or that
        // refuses them is reported before any topic is created.
        let schema_ids = match avro {
            Some(a) => Some(register_schemas(a.registry, stmt.topic.clone(), a.schemas).await?),
            None => None,
        };
        let (topic, partitions, replication) = (
            stmt.topic.clone(),
            stmt.partition_count,
            stmt.replication_factor,
        );
        let transactional = tokio::task::spawn_blocking(move || {
            kafka_sink::check(&options, &topic, partitions, replication, &progress_topic)
        })
        .await
        .map_err(|e| AdapterError::Internal(e.to_string()))?
        .map_err(AdapterError::Connection)?;
        let sql = stmt.to_string();
        let name = item_name(&stmt.name)?;
        let mut state = self.state.lock().await;
        let response = self.create_sink(
            &mut state,
            stmt,
            &sql,
            None,
            Some(transactional),
            schema_ids,
        )?;
        if transactional {
            return Ok(response);
        }
        Ok(ExecuteResponse::CommandWithNotice {
            tag: "CREATE SINK".into(),
            notices: vec![super::sequence::Notice::from(format!(
                "the Kafka brokers do not support transactions: sink \"{}\" writes with an \
                 idempotent producer instead, so a timestamp's messages are not atomic, and after \
                 a crash or a broker failure the sink reads its topic back and writes what is \
                 missing",
                name.item
            ))],
        })
    }

    /// `CREATE SINK`. At start-up (`replay_id` set) the thread is started
    /// by [`Coordinator::start_sink`] once the stored data is loaded.
    /// `schema_ids` are the ids of an Avro sink's schemas, if `CREATE SINK`
    /// registered them already.
    pub(crate) fn create_sink(
        &self,
        state: &mut CoordState,
        stmt: CreateSinkStatement,
        sql: &str,
        replay_id: Option<GlobalId>,
        transactional: Option<bool>,
        schema_ids: Option<SchemaIds>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let name = item_name(&stmt.name)?;
        if state.exists_already(&name, stmt.if_not_exists)? {
            return Ok(ExecuteResponse::command("CREATE SINK"));
        }
        let plan = state.plan_sink(&stmt)?;
        let id = state.allocate_id(replay_id);
        state.persist_item(id, &name.item, sql, replay_id.is_some())?;
        state.catalog.insert(CatalogItem {
            id,
            name: name.item,
            schema: name.schema,
            kind: ItemKind::Sink,
            desc: RelationDesc { columns: vec![] },
            create_sql: sql.to_string(),
            depends_on: [plan.from.id, plan.connection]
                .into_iter()
                .chain(plan.avro.as_ref().map(|a| a.connection))
                .collect(),
            plan: None,
            table_columns: vec![],
            index: None,
            owned_by: None,
        });
        state.sinks.insert(
            id,
            KafkaSink {
                statement: stmt,
                control: Arc::new(SinkControl::default()),
                subscribe_id: None,
                task: None,
            },
        );
        if replay_id.is_none() {
            self.start_sink(state, id, transactional, schema_ids)?;
        }
        Ok(ExecuteResponse::command("CREATE SINK"))
    }

    /// Starts sink `id`: subscribes to its input at the current read
    /// timestamp (with a snapshot) and starts its thread (which registers an
    /// Avro sink's schemas unless `schema_ids` has their ids).
    pub(crate) fn start_sink(
        &self,
        state: &mut CoordState,
        id: GlobalId,
        transactional: Option<bool>,
        schema_ids: Option<SchemaIds>,
    ) -> Result<(), AdapterError> {
        let Some(sink) = state.sinks.get(&id) else {
            return Ok(());
        };
        let stmt = sink.statement.clone();
        let control = sink.control.clone();
        let plan = state.plan_sink_replayed(&stmt)?;
        let encoding = match plan.avro {
            None => SinkEncoding::Json(RowEncoder::new(&plan.from.desc, plan.key)),
            Some(a) => SinkEncoding::Avro(Box::new(AvroSinkSpec {
                desc: plan.from.desc.clone(),
                key: plan.key,
                schemas: a.schemas,
                registry: a.registry,
                ids: schema_ids,
            })),
        };
        let params = SinkParams {
            id,
            options: plan.options,
            topic: stmt.topic.clone(),
            partition_count: stmt.partition_count,
            replication_factor: stmt.replication_factor,
            progress_topic: plan.progress_topic,
            encoding,
            envelope: match stmt.envelope {
                SinkEnvelope::Upsert => Envelope::Upsert,
                SinkEnvelope::Debezium => Envelope::Debezium,
            },
            transactional,
        };
        let as_of = state.oracle.read_ts();
        // Sent under the lock that chose `as_of`, as for SUBSCRIBE.
        let (subscribe_id, stream) = self.compute.subscribe(plan.from.id, as_of, true);
        let (tx, rx) = std::sync::mpsc::channel();
        kafka_sink::spawn(params, control, rx);
        let task = tokio::spawn(forward(stream, as_of, tx));
        if let Some(sink) = state.sinks.get_mut(&id) {
            sink.subscribe_id = Some(subscribe_id);
            sink.task = Some(task);
        }
        Ok(())
    }

    /// Stops the sinks among `ids`.
    pub(crate) fn stop_sinks(&self, state: &mut CoordState, ids: &[GlobalId]) {
        for id in ids {
            if let Some(mut sink) = state.sinks.remove(id) {
                sink.control.cancelled.store(true, Ordering::SeqCst);
                if let Some(task) = sink.task.take() {
                    task.abort();
                }
                if let Some(s) = sink.subscribe_id {
                    self.compute.drop_subscribe(s);
                }
                if let Ok(mut s) = sink.control.status.lock() {
                    s.status = "dropped";
                }
            }
        }
    }
}

impl CoordState {
    /// [`CoordState::plan_sink`] for a sink already in the catalog (its
    /// key was checked when it was created).
    fn plan_sink_replayed(&self, stmt: &CreateSinkStatement) -> Result<SinkPlan, AdapterError> {
        let mut stmt = stmt.clone();
        stmt.key_not_enforced = true;
        self.plan_sink(&stmt)
    }

    /// The `SHOW SINKS` status of sink `id`.
    pub fn sink_status(&self, id: GlobalId) -> String {
        let Some(sink) = self.sinks.get(&id) else {
            return "dropped".into();
        };
        sink.control
            .status
            .lock()
            .map(|s| match &s.error {
                Some(e) => format!("{}: {e}", s.status),
                None if s.status.is_empty() => "starting".to_string(),
                None => s.status.to_string(),
            })
            .unwrap_or_default()
    }
}

/// Feeds a subscribe's updates to a sink's thread, one timestamp at a time,
/// starting with the snapshot at `as_of` (even when it is empty).
async fn forward(
    mut stream: SubscribeStream,
    as_of: Timestamp,
    tx: std::sync::mpsc::Sender<SinkInput>,
) {
    let mut first = true;
    loop {
        let update = match stream.next().await {
            Ok(Some(u)) => u,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(SinkInput::Failed(e.to_string()));
                return;
            }
        };
        let mut by_time: BTreeMap<Timestamp, Vec<_>> = BTreeMap::new();
        if first {
            by_time.insert(as_of, Vec::new());
            first = false;
        }
        for (row, ts, diff) in update.updates {
            by_time.entry(ts).or_default().push((row, diff));
        }
        for (ts, changes) in by_time {
            if tx.send(SinkInput::Updates { ts, changes }).is_err() {
                return;
            }
        }
    }
}
