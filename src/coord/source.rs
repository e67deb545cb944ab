//! Secrets, connections and Kafka sources: their `CREATE` statements, and
//! the glue between a source's readers and the rest of the coordinator:
//! each batch is committed durably, then written at a fresh timestamp to
//! the timely worker of the reader that read it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sqlparser::ast::ObjectName;

use crate::catalog::{CatalogItem, ItemKind, SearchPath};
use crate::compute::Command;
use crate::expr::{EvalError, GlobalId};
use crate::repr::{RelationDesc, Row};
use crate::sql::PlanError;
use crate::sql::source::{
    AlterSecretStatement, ConnectionKind, CreateConnectionStatement, CreateKafkaSourceStatement,
    CreateSecretStatement, Envelope, Format, IncludeKind, OptionValue,
};
use crate::storage::decode::{self, DefinitionError, SourceDecoder};
use crate::storage::durable::{CatalogRecord, Commit, IngestBatch, SnapshotBounds, SourceValue};
use crate::storage::kafka::{
    self, IngestControl, IngestParams, TransactionResume, TransactionTopic,
};
use crate::storage::kafka_snapshot;
use crate::storage::kafka_txn::Grouping;
use crate::storage::registry::{RegistryClient, RegistryConfig, RegistryError, SchemaLookup};

use super::ddl::item_name;
use super::sequence::ExecuteResponse;
use super::{AdapterError, CoordState, Coordinator};
use crate::catalog::QualifiedName;

/// How long a Debezium source holds back a partition's trailing run of
/// events of one transaction once no more records arrive (without
/// `TRANSACTION METADATA`, a run's end is only known from what follows it).
const RUN_IDLE: std::time::Duration = std::time::Duration::from_millis(250);

/// How long `CREATE SOURCE` waits for the brokers to tell the source's
/// snapshot bounds before it leaves them to a thread (see
/// [`SnapshotBounds::Pending`]).
const SNAPSHOT_LOOKUP: std::time::Duration = std::time::Duration::from_secs(5);

/// `START TIMESTAMP -n` means n ms before the source is created
/// (Materialize): fixed when it is created, so a reader that retries, or a
/// restart, starts from the same offsets instead of a later "now".
pub(crate) fn fix_start_timestamp(stmt: &mut CreateKafkaSourceStatement) {
    if let Some(ts) = stmt.start_timestamp.filter(|ts| *ts < 0) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        stmt.start_timestamp = Some(now_ms.saturating_add(ts).max(0));
    }
}

/// A Kafka source and its readers (one thread per timely worker).
pub struct KafkaSource {
    /// Its definition.
    pub statement: CreateKafkaSourceStatement,
    /// Stops the readers and reports their status.
    pub control: Arc<IngestControl>,
}

impl From<DefinitionError> for AdapterError {
    fn from(e: DefinitionError) -> AdapterError {
        match e {
            DefinitionError::Unsupported(what) => PlanError::Unsupported(what).into(),
            DefinitionError::Invalid(msg) => PlanError::InvalidDefinition(msg).into(),
        }
    }
}

impl CoordState {
    fn lookup_kind(&self, name: &ObjectName, kind: ItemKind) -> Result<&CatalogItem, AdapterError> {
        match self.lookup(name)? {
            Some(item) if item.kind == kind => Ok(item),
            Some(item) => Err(PlanError::WrongObjectType(format!(
                "\"{}\" is not a {}",
                item.name,
                kind.name()
            ))
            .into()),
            None => Err(PlanError::UnknownItem {
                kind: kind.name(),
                name: name.to_string(),
            }
            .into()),
        }
    }

    fn secret_value(
        &self,
        name: &ObjectName,
        uses: &mut Vec<GlobalId>,
    ) -> Result<String, AdapterError> {
        let item = self.lookup_kind(name, ItemKind::Secret)?;
        uses.push(item.id);
        Ok(self.secrets.get(&item.id).cloned().unwrap_or_default())
    }

    /// librdkafka options for a Kafka connection, secrets resolved; also
    /// the secrets it uses.
    pub fn kafka_options(
        &self,
        stmt: &CreateConnectionStatement,
    ) -> Result<(BTreeMap<String, String>, Vec<GlobalId>), AdapterError> {
        let mut given = Vec::with_capacity(stmt.options.len());
        let mut uses = Vec::new();
        for (name, value) in &stmt.options {
            let text = match value {
                OptionValue::Value(s) => s.clone(),
                OptionValue::Secret(s) => self.secret_value(s, &mut uses)?,
                OptionValue::List(l) => l.join(","),
            };
            given.push((name.as_str(), text));
        }
        Ok((super::kafka_options::kafka_client_options(given)?, uses))
    }

    /// The resolved options of a schema registry connection; also the
    /// secrets it uses.
    pub fn registry_config(
        &self,
        stmt: &CreateConnectionStatement,
    ) -> Result<(RegistryConfig, Vec<GlobalId>), AdapterError> {
        let mut uses = Vec::new();
        let mut url = None;
        let mut user = None;
        let mut password = None;
        for (name, value) in &stmt.options {
            let text = match value {
                OptionValue::Value(s) => s.clone(),
                OptionValue::Secret(s) => self.secret_value(s, &mut uses)?,
                OptionValue::List(_) => {
                    return Err(PlanError::InvalidDefinition(format!(
                        "schema registry option {name} takes one value"
                    ))
                    .into());
                }
            };
            match name.as_str() {
                "URL" => url = Some(text),
                "USERNAME" => user = Some(text),
                "PASSWORD" => password = Some(text),
                "SSL CERTIFICATE AUTHORITY"
                | "SSL CERTIFICATE"
                | "SSL KEY"
                | "AWS PRIVATELINK"
                | "SSH TUNNEL" => {
                    return Err(PlanError::Unsupported(format!(
                        "schema registry connection option {name}"
                    ))
                    .into());
                }
                other => {
                    return Err(PlanError::InvalidDefinition(format!(
                        "unrecognized schema registry connection option {other}"
                    ))
                    .into());
                }
            }
        }
        let Some(url) = url else {
            return Err(PlanError::InvalidDefinition(
                "a schema registry connection needs a URL".into(),
            )
            .into());
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(PlanError::InvalidDefinition(format!(
                "invalid schema registry URL \"{url}\": it must start with http:// or https://"
            ))
            .into());
        }
        let auth = match (user, password) {
            (Some(u), p) => Some((u, p.unwrap_or_default())),
            (None, Some(_)) => {
                return Err(PlanError::InvalidDefinition(
                    "a schema registry PASSWORD needs a USERNAME".into(),
                )
                .into());
            }
            (None, None) => None,
        };
        Ok((
            RegistryConfig {
                url: url.trim_end_matches('/').to_string(),
                auth,
            },
            uses,
        ))
    }

    /// The registry connections of a source's Avro formats.
    fn registry_connections(
        &self,
        stmt: &CreateKafkaSourceStatement,
    ) -> Result<Vec<(ObjectName, GlobalId, RegistryConfig)>, AdapterError> {
        let mut out: Vec<(ObjectName, GlobalId, RegistryConfig)> = Vec::new();
        for format in stmt.key_format.iter().chain([&stmt.value_format]) {
            if let Format::Avro { connection, .. } = format {
                if out.iter().any(|(n, _, _)| n == connection) {
                    continue;
                }
                let (id, conn) = self.connection_for(connection, ConnectionKind::SchemaRegistry)?;
                let (config, _) = self.registry_config(&conn)?;
                out.push((connection.clone(), id, config));
            }
        }
        Ok(out)
    }

    /// A source's decoder, with clients of its schema registries.
    fn source_decoder(
        &self,
        stmt: &CreateKafkaSourceStatement,
    ) -> Result<SourceDecoder, AdapterError> {
        let lookups: Vec<(ObjectName, Arc<dyn SchemaLookup>)> = self
            .registry_connections(stmt)?
            .into_iter()
            .map(|(name, _, config)| {
                let client: Arc<dyn SchemaLookup> = Arc::new(RegistryClient::new(config));
                (name, client)
            })
            .collect();
        Ok(SourceDecoder::with_registries(stmt, &|name| {
            lookups
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, l)| l.clone())
        })?)
    }

    /// `TRANSACTION METADATA`: the transaction source's id and its topic,
    /// checked (a JSON or Avro Kafka source on the same connection, for a
    /// JSON or Avro Debezium source).
    fn transaction_topic(
        &self,
        stmt: &CreateKafkaSourceStatement,
    ) -> Result<Option<(GlobalId, TransactionTopic)>, AdapterError> {
        let Some(metadata) = &stmt.transaction_metadata else {
            return Ok(None);
        };
        let json_or_avro = |f: &Format| matches!(f, Format::Json | Format::Avro { .. });
        if !json_or_avro(&stmt.value_format) {
            return Err(PlanError::Unsupported(
                "TRANSACTION METADATA with a value format other than JSON or Avro".into(),
            )
            .into());
        }
        let item = self.lookup_kind(&metadata.source, ItemKind::Source)?;
        let Some(tx) = self.kafka_sources.get(&item.id) else {
            return Err(PlanError::WrongObjectType(format!(
                "\"{}\" is not a Kafka source",
                item.name
            ))
            .into());
        };
        if !json_or_avro(&tx.statement.value_format) {
            return Err(PlanError::Unsupported(
                "a TRANSACTION METADATA source with a format other than JSON or Avro".into(),
            )
            .into());
        }
        let (ours, _) = self.connection_for(&stmt.connection, ConnectionKind::Kafka)?;
        let (theirs, _) = self.connection_for(&tx.statement.connection, ConnectionKind::Kafka)?;
        if ours != theirs {
            return Err(PlanError::Unsupported(
                "a TRANSACTION METADATA source on another Kafka connection".into(),
            )
            .into());
        }
        Ok(Some((
            item.id,
            TransactionTopic {
                topic: tx.statement.topic.clone(),
                collection: metadata.collection.clone(),
                decoder: self.source_decoder(&tx.statement)?,
            },
        )))
    }

    pub(crate) fn connection_for(
        &self,
        name: &ObjectName,
        kind: ConnectionKind,
    ) -> Result<(GlobalId, CreateConnectionStatement), AdapterError> {
        let item = self.lookup_kind(name, ItemKind::Connection)?;
        let Some(stmt) = self.connections.get(&item.id) else {
            return Err(AdapterError::Internal(format!(
                "connection {} has no definition",
                item.id
            )));
        };
        if stmt.kind != kind {
            return Err(PlanError::WrongObjectType(format!(
                "\"{}\" is not a {} connection",
                item.name,
                match kind {
                    ConnectionKind::Kafka => "Kafka",
                    ConnectionKind::SchemaRegistry => "schema registry",
                }
            ))
            .into());
        }
        Ok((item.id, stmt.clone()))
    }

    /// Whether `name` is taken and `IF NOT EXISTS` makes that fine; an
    /// error if it is taken otherwise.
    pub(crate) fn exists_already(
        &self,
        name: &QualifiedName,
        if_not_exists: bool,
    ) -> Result<bool, AdapterError> {
        if if_not_exists && self.catalog.lookup_in(&name.schema, &name.item).is_some() {
            return Ok(true);
        }
        self.check_name_free(name)?;
        Ok(false)
    }

    /// Adds a non-relation item (a secret or connection) to the catalog.
    fn insert_object(
        &mut self,
        name: &QualifiedName,
        kind: ItemKind,
        sql: &str,
        depends_on: Vec<GlobalId>,
        replay_id: Option<GlobalId>,
    ) -> Result<GlobalId, AdapterError> {
        let id = self.allocate_id(replay_id);
        self.catalog.insert(CatalogItem {
            id,
            name: name.item.clone(),
            schema: name.schema.clone(),
            kind,
            desc: RelationDesc { columns: vec![] },
            create_sql: sql.to_string(),
            depends_on,
            plan: None,
            table_columns: vec![],
            index: None,
            owned_by: None,
        });
        self.persist_item(id, &name.item, sql, replay_id.is_some())?;
        Ok(id)
    }
}

impl Coordinator {
    /// `CREATE SECRET`.
    pub(crate) fn create_secret(
        &self,
        state: &mut CoordState,
        stmt: CreateSecretStatement,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let name = item_name(&stmt.name)?;
        if state.exists_already(&name, stmt.if_not_exists)? {
            return Ok(ExecuteResponse::command("CREATE SECRET"));
        }
        let id = state.insert_object(&name, ItemKind::Secret, sql, vec![], replay_id)?;
        state.secrets.insert(id, stmt.value);
        Ok(ExecuteResponse::command("CREATE SECRET"))
    }

    /// `ALTER SECRET`: the new value is stored (as the secret's `CREATE
    /// SECRET` statement) and used by whatever resolves the secret from now
    /// on; running sources and sinks keep the value they started with.
    pub(crate) async fn alter_secret(
        &self,
        stmt: AlterSecretStatement,
        path: &SearchPath,
    ) -> Result<ExecuteResponse, AdapterError> {
        const TAG: &str = "ALTER SECRET";
        let mut state = self.state.lock().await;
        let item = match state.catalog.resolve(path, &stmt.name) {
            Ok(Some(item)) => item,
            Ok(None) | Err(PlanError::UnknownSchema(_)) if stmt.if_exists => {
                return Ok(ExecuteResponse::command(TAG));
            }
            Ok(None) => {
                return Err(PlanError::UnknownItem {
                    kind: ItemKind::Secret.name(),
                    name: stmt.name.to_string(),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if item.kind != ItemKind::Secret {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not a secret", item.name)).into(),
            );
        }
        let id = item.id;
        let create = CreateSecretStatement {
            name: ObjectName::from(vec![
                crate::catalog::names::sql_ident(&item.schema),
                crate::catalog::names::sql_ident(&item.name),
            ]),
            if_not_exists: false,
            value: stmt.value,
        };
        let sql = create.to_string();
        let name = item.name.clone();
        state
            .store
            .commit(Commit {
                put_items: vec![(
                    id,
                    CatalogRecord {
                        name,
                        create_sql: sql.clone(),
                    },
                )],
                ..Default::default()
            })
            .map_err(|e| AdapterError::Storage(e.to_string()))?;
        if let Some(mut item) = state.catalog.remove(id) {
            item.create_sql = sql;
            state.catalog.insert(item);
        }
        state.secrets.insert(id, create.value);
        Ok(ExecuteResponse::command(TAG))
    }

    /// Checks a new connection's options (and, unless `VALIDATE = false`,
    /// that the broker answers) without holding the coordinator's lock.
    pub(crate) async fn validate_connection(
        &self,
        stmt: &CreateConnectionStatement,
    ) -> Result<(), AdapterError> {
        let options = {
            let state = self.state.lock().await;
            match stmt.kind {
                ConnectionKind::Kafka => Some(state.kafka_options(stmt)?.0),
                ConnectionKind::SchemaRegistry => {
                    let (config, _) = state.registry_config(stmt)?;
                    drop(state);
                    if stmt.validate {
                        tokio::task::spawn_blocking(move || RegistryClient::new(config).validate())
                            .await
                            .map_err(|e| AdapterError::Internal(e.to_string()))?
                            .map_err(|e| {
                                AdapterError::Connection(format!(
                                    "cannot reach the schema registry: {e}"
                                ))
                            })?;
                    }
                    None
                }
            }
        };
        if let (Some(options), true) = (options, stmt.validate) {
            tokio::task::spawn_blocking(move || {
                kafka::validate(&options, std::time::Duration::from_secs(10))
            })
            .await
            .map_err(|e| AdapterError::Internal(e.to_string()))?
            .map_err(AdapterError::Connection)?;
        }
        Ok(())
    }

    /// `CREATE CONNECTION` (validated beforehand).
    pub(crate) fn create_connection(
        &self,
        state: &mut CoordState,
        stmt: CreateConnectionStatement,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let name = item_name(&stmt.name)?;
        if state.exists_already(&name, stmt.if_not_exists)? {
            return Ok(ExecuteResponse::command("CREATE CONNECTION"));
        }
        let uses = match stmt.kind {
            ConnectionKind::Kafka => state.kafka_options(&stmt)?.1,
            ConnectionKind::SchemaRegistry => state.registry_config(&stmt)?.1,
        };
        let id = state.insert_object(&name, ItemKind::Connection, sql, uses, replay_id)?;
        state.connections.insert(id, stmt);
        Ok(ExecuteResponse::command("CREATE CONNECTION"))
    }

    /// Materialize's "purification" of `CREATE SOURCE`: fetches the latest
    /// schema of each Avro format without one (subjects `<topic>-value`
    /// and, when the key is needed, `<topic>-key`) and writes it into the
    /// statement as its seed. The stored statement then defines the
    /// columns by itself: a restart does not ask the registry for them.
    pub(crate) async fn purify_kafka_source(
        &self,
        mut stmt: CreateKafkaSourceStatement,
    ) -> Result<CreateKafkaSourceStatement, AdapterError> {
        let unseeded = |f: &Format| matches!(f, Format::Avro { schema: None, .. });
        let key_needed = decode::key_needed(&stmt);
        let fetch_key = key_needed && stmt.key_format.as_ref().is_some_and(unseeded);
        let fetch_value = unseeded(&stmt.value_format);
        if !fetch_key && !fetch_value {
            return Ok(stmt);
        }
        let registries = {
            let state = self.state.lock().await;
            if stmt.if_not_exists && state.lookup(&stmt.name)?.is_some() {
                return Ok(stmt);
            }
            state.registry_connections(&stmt)?
        };
        let config_of = |f: &Option<Format>| -> Option<RegistryConfig> {
            let Some(Format::Avro { connection, .. }) = f else {
                return None;
            };
            registries
                .iter()
                .find(|(n, _, _)| n == connection)
                .map(|(_, _, c)| c.clone())
        };
        let key_config = config_of(&stmt.key_format).filter(|_| fetch_key);
        let value_config = config_of(&Some(stmt.value_format.clone())).filter(|_| fetch_value);
        let topic = stmt.topic.clone();
        let (key_schema, value_schema) = tokio::task::spawn_blocking(move || {
            let fetch = |config: Option<RegistryConfig>, subject: String| {
                config
                    .map(|c| RegistryClient::new(c).latest(&subject).map(|s| s.schema))
                    .transpose()
            };
            let value = fetch(value_config, format!("{topic}-value"));
            let key = fetch(key_config, format!("{topic}-key"));
            (key, value)
        })
        .await
        .map_err(|e| AdapterError::Internal(e.to_string()))?;
        let fetched =
            |r: Result<Option<String>, RegistryError>, subject: &str, required: bool| match r {
                Ok(s) => Ok(s),
                Err(RegistryError::NotFound(_)) if !required => Ok(None),
                Err(RegistryError::NotFound(m)) => {
                    Err(AdapterError::from(PlanError::InvalidDefinition(format!(
                        "no schema for subject \"{subject}\" in the schema registry ({m})"
                    ))))
                }
                Err(e) => Err(AdapterError::Connection(format!(
                    "fetching the schema of subject \"{subject}\": {e}"
                ))),
            };
        let value_schema = fetched(value_schema, &format!("{}-value", stmt.topic), true)?;
        // A Debezium source keys on the key's bytes when there is no key
        // schema; INCLUDE KEY and UPSERT need the key's columns.
        let key_required = !matches!(stmt.envelope, crate::sql::source::Envelope::Debezium)
            || stmt
                .include
                .iter()
                .any(|(k, _)| *k == crate::sql::source::IncludeKind::Key);
        let key_schema = fetched(key_schema, &format!("{}-key", stmt.topic), key_required)?;
        if let (Some(schema), Format::Avro { schema: seed, .. }) =
            (value_schema, &mut stmt.value_format)
        {
            *seed = Some(schema);
        }
        if let (Some(schema), Some(Format::Avro { schema: seed, .. })) =
            (key_schema, &mut stmt.key_format)
        {
            *seed = Some(schema);
        }
        Ok(stmt)
    }

    /// The bounds of a new source's snapshot (see
    /// [`kafka_snapshot`]), asked of the brokers outside the coordinator's
    /// lock; `None` when they cannot tell within [`SNAPSHOT_LOOKUP`] (the
    /// source then records [`SnapshotBounds::Pending`]). `START TIMESTAMP`
    /// must already be absolute ([`fix_start_timestamp`]). Refuses a
    /// `START OFFSET` that [`kafka_snapshot::check_start_offsets`] refuses
    /// (the number of entries only when the brokers answer).
    pub(crate) async fn lookup_snapshot(
        &self,
        stmt: &CreateKafkaSourceStatement,
    ) -> Result<Option<SnapshotBounds>, AdapterError> {
        kafka_snapshot::check_start_offsets(&stmt.topic, &stmt.start_offsets, None)
            .map_err(PlanError::InvalidParameter)?;
        let options = {
            let state = self.state.lock().await;
            if stmt.if_not_exists && state.lookup(&stmt.name)?.is_some() {
                return Ok(None);
            }
            // A connection that does not resolve fails `CREATE SOURCE` itself.
            let Ok((_, conn)) = state.connection_for(&stmt.connection, ConnectionKind::Kafka)
            else {
                return Ok(None);
            };
            let Ok((options, _)) = state.kafka_options(&conn) else {
                return Ok(None);
            };
            options
        };
        let (topic, starts, ts) = (
            stmt.topic.clone(),
            stmt.start_offsets.clone(),
            stmt.start_timestamp,
        );
        let found = tokio::task::spawn_blocking(move || {
            kafka_snapshot::lookup(&options, &topic, &starts, ts, SNAPSHOT_LOOKUP)
        })
        .await;
        match found {
            Ok(Ok(bounds)) => {
                kafka_snapshot::check_start_offsets(
                    &stmt.topic,
                    &stmt.start_offsets,
                    Some(bounds.len()),
                )
                .map_err(PlanError::InvalidParameter)?;
                Ok(Some(SnapshotBounds::Known(bounds)))
            }
            Ok(Err(e)) => {
                tracing::info!(
                    "the snapshot of topic \"{}\" is taken later: {e}",
                    stmt.topic
                );
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    /// `CREATE SOURCE ... FROM KAFKA`. At start-up (`replay_id` set) the
    /// readers are started by [`Coordinator::start_kafka_source`] once the
    /// source's stored contents are loaded. A new source stores its
    /// snapshot's bounds (`snapshot`, else [`SnapshotBounds::Pending`]) in
    /// the commit that stores it.
    pub(crate) fn create_kafka_source(
        self: &Arc<Self>,
        state: &mut CoordState,
        stmt: CreateKafkaSourceStatement,
        sql: &str,
        replay_id: Option<GlobalId>,
        snapshot: Option<SnapshotBounds>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let name = item_name(&stmt.name)?;
        if state.exists_already(&name, stmt.if_not_exists)? {
            return Ok(ExecuteResponse::command("CREATE SOURCE"));
        }
        let (connection, conn_stmt) =
            state.connection_for(&stmt.connection, ConnectionKind::Kafka)?;
        // Checks the options (and secrets) resolve.
        state.kafka_options(&conn_stmt)?;
        let registries = state.registry_connections(&stmt)?;
        let transaction_source = state.transaction_topic(&stmt)?.map(|(id, _)| id);
        let decoder = SourceDecoder::new(&stmt)?;
        // Materialize types `INCLUDE HEADERS` as a list of records, which
        // Freshet has not: say what the column is instead.
        let headers_notice = stmt.include.iter().find_map(|(kind, alias)| {
            (*kind == IncludeKind::Headers).then(|| {
                format!(
                    "column \"{}\" is jsonb: an array of {{\"key\": text, \"value\": hex}} \
                     objects, one per header in the record's order (a null value is null), \
                     where Materialize has a list of (key text, value bytea) records",
                    alias.as_deref().unwrap_or("headers")
                )
            })
        });
        let id = state.allocate_id(replay_id);
        self.compute.send(Command::CreateInput { id });
        state.catalog.insert(CatalogItem {
            id,
            name: name.item.clone(),
            schema: name.schema.clone(),
            kind: ItemKind::Source,
            desc: decoder.desc().clone(),
            create_sql: sql.to_string(),
            depends_on: std::iter::once(connection)
                .chain(registries.iter().map(|(_, id, _)| *id))
                .chain(transaction_source)
                .collect(),
            plan: None,
            table_columns: vec![],
            index: None,
            owned_by: None,
        });
        let bounds = snapshot.unwrap_or(SnapshotBounds::Pending);
        state.persist_item_with(
            id,
            &name.item,
            sql,
            replay_id.is_some(),
            Commit {
                snapshot_bounds: vec![(id, bounds.clone())],
                ..Default::default()
            },
        )?;
        state.kafka_sources.insert(
            id,
            KafkaSource {
                statement: stmt,
                control: Arc::new(IngestControl::default()),
            },
        );
        if replay_id.is_none() {
            self.start_kafka_source(
                state,
                id,
                BTreeMap::new(),
                TransactionResume::default(),
                Some(bounds),
            )?;
        }
        Ok(match headers_notice {
            Some(notice) => ExecuteResponse::CommandWithNotice {
                tag: "CREATE SOURCE".into(),
                notices: vec![super::sequence::Notice::from(notice)],
            },
            None => ExecuteResponse::command("CREATE SOURCE"),
        })
    }

    /// Starts the readers of Kafka source `id` (one per timely worker),
    /// resuming at the given offsets (and, with `TRANSACTION METADATA`,
    /// the transaction topic's); `snapshot` is its snapshot as stored (a
    /// thread takes and stores a pending one).
    pub(crate) fn start_kafka_source(
        self: &Arc<Self>,
        state: &mut CoordState,
        id: GlobalId,
        resume: BTreeMap<i32, i64>,
        resume_transactions: TransactionResume,
        snapshot: Option<SnapshotBounds>,
    ) -> Result<(), AdapterError> {
        let Some(source) = state.kafka_sources.get(&id) else {
            return Ok(());
        };
        let stmt = source.statement.clone();
        let control = source.control.clone();
        let (_, conn_stmt) = state.connection_for(&stmt.connection, ConnectionKind::Kafka)?;
        let (options, _) = state.kafka_options(&conn_stmt)?;
        let decoder = state.source_decoder(&stmt)?;
        let transactions = state.transaction_topic(&stmt)?.map(|(_, t)| t);
        let grouping = if transactions.is_some() {
            Grouping::Metadata
        } else if stmt.envelope == Envelope::Debezium
            && matches!(stmt.value_format, Format::Json | Format::Avro { .. })
        {
            Grouping::Runs { idle: RUN_IDLE }
        } else {
            Grouping::None
        };
        let params = IngestParams {
            id,
            options,
            topic: stmt.topic.clone(),
            start_offsets: stmt.start_offsets.clone(),
            start_timestamp: stmt.start_timestamp,
            resume,
            resume_transactions,
            decoder,
            // A transaction's events may span partitions: they are grouped
            // by one reader.
            readers: if transactions.is_some() {
                1
            } else {
                self.compute.workers()
            },
            grouping,
            transactions,
            ready: {
                let progress = self.compute.progress();
                Arc::new(move |timeout| progress.wait_ready(timeout))
            },
        };
        let readers = params.readers;
        if let Ok(mut status) = control.status.lock() {
            status.snapshot = snapshot.clone();
            seed_partitions(&mut status, &params.resume, readers);
        }
        if snapshot == Some(SnapshotBounds::Pending) {
            spawn_snapshot_lookup(&params, state.store.clone(), control.clone());
        }
        let coord = self.clone();
        let store = state.store.clone();
        let deliver_control = control.clone();
        if let (Ok((keys, bytes)), Ok(mut status)) =
            (state.store.upsert_state_size(id), control.status.lock())
        {
            status.upsert_keys = keys as i64;
            status.upsert_bytes = bytes as i64;
        }
        let deliver = move |reader: usize, batch: IngestBatch| -> kafka::DeliverResult {
            // From commit to timestamp, one batch of the source at a time
            // (see `IngestControl::order_lock`). The drop of the source
            // takes the commit lock, not this one, while holding the
            // coordinator's: no lock cycle.
            let Ok(_order) = deliver_control.order_lock.lock() else {
                return Ok(false);
            };
            let outcome = {
                let Ok(_guard) = deliver_control.commit_lock.lock() else {
                    return Ok(false);
                };
                if deliver_control.cancelled.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                store
                    .commit_ingest(batch)
                    .map_err(|e| format!("committing ingested data: {e}"))?
            };
            let mut state = coord.state.blocking_lock();
            if !state.kafka_sources.contains_key(&id) {
                return Ok(false);
            }
            let ts = if outcome.changes.is_empty() {
                state.oracle.read_ts()
            } else {
                let (updates, errors) = split_changes(id, outcome.changes);
                let ts = state.oracle.write_ts();
                // The reader's rows go to its own worker.
                coord.compute.send(Command::Write {
                    updates,
                    errors,
                    ts,
                    worker: reader,
                });
                ts
            };
            drop(state);
            if let Ok(mut status) = deliver_control.status.lock() {
                status.last_ingest_ts = status.last_ingest_ts.max(ts);
                status.upsert_keys += outcome.keys_delta;
                status.upsert_bytes += outcome.bytes_delta;
            }
            Ok(true)
        };
        kafka::spawn(params, control, Arc::new(deliver));
        Ok(())
    }

    /// Stops the readers of the Kafka sources among `ids`: after this, none
    /// of them commits another batch.
    pub(crate) fn stop_kafka_sources(state: &mut CoordState, ids: &[GlobalId]) {
        for id in ids {
            if let Some(source) = state.kafka_sources.remove(id) {
                source.control.cancelled.store(true, Ordering::SeqCst);
                // Wait for a batch being committed to finish.
                drop(source.control.commit_lock.lock());
                if let Ok(mut s) = source.control.status.lock() {
                    s.dropped = true;
                }
            }
            state.connections.remove(id);
            state.secrets.remove(id);
        }
    }
}

/// Fills in the statistics of the partitions the source is known to have
/// before its readers report: each partition's committed next offset from
/// the durable store, else, for a partition of its snapshot, where the
/// snapshot starts. So a restarted source shows its snapshot's progress
/// before its readers reach the brokers.
fn seed_partitions(status: &mut kafka::SourceStatus, resume: &BTreeMap<i32, i64>, readers: usize) {
    let starts: Vec<(i32, i64)> = match &status.snapshot {
        Some(SnapshotBounds::Known(parts)) => {
            parts.iter().map(|b| (b.partition, b.start)).collect()
        }
        _ => Vec::new(),
    };
    for (p, start) in starts {
        let e = status.partitions.entry(p).or_default();
        e.reader = kafka::reader_of(p, readers);
        // Zero: nothing committed or reported for it yet.
        if e.next_offset == 0 {
            e.next_offset = start;
        }
    }
    for (p, next) in resume {
        let e = status.partitions.entry(*p).or_default();
        e.reader = kafka::reader_of(*p, readers);
        e.next_offset = *next;
    }
}

/// Takes a source's pending snapshot bounds once the brokers answer
/// (retrying with backoff), on a thread: stores them (under the source's
/// commit lock, so not after the source is dropped) and shows them.
fn spawn_snapshot_lookup(
    params: &kafka::IngestParams,
    store: Arc<crate::storage::durable::DurableStore>,
    control: Arc<IngestControl>,
) {
    let (id, options, topic, starts, ts, readers) = (
        params.id,
        params.options.clone(),
        params.topic.clone(),
        params.start_offsets.clone(),
        params.start_timestamp,
        params.readers,
    );
    let run = move || {
        let mut backoff = std::time::Duration::from_secs(1);
        while !control.cancelled.load(Ordering::SeqCst) {
            match kafka_snapshot::lookup(&options, &topic, &starts, ts, SNAPSHOT_LOOKUP) {
                Ok(parts) => {
                    let bounds = SnapshotBounds::Known(parts);
                    let Ok(_guard) = control.commit_lock.lock() else {
                        return;
                    };
                    if control.cancelled.load(Ordering::SeqCst) {
                        return;
                    }
                    let stored = store.commit(Commit {
                        snapshot_bounds: vec![(id, bounds.clone())],
                        ..Default::default()
                    });
                    match stored {
                        Ok(()) => {
                            if let Ok(mut status) = control.status.lock() {
                                status.snapshot = Some(bounds);
                                seed_partitions(&mut status, &BTreeMap::new(), readers);
                            }
                            return;
                        }
                        Err(e) => tracing::warn!("source {id}: storing its snapshot: {e}"),
                    }
                }
                Err(e) => tracing::debug!("source {id}: snapshot not taken yet: {e}"),
            }
            let deadline = std::time::Instant::now() + backoff;
            while std::time::Instant::now() < deadline {
                if control.cancelled.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name(format!("kafka-snapshot-{id}"))
        .spawn(run)
    {
        tracing::warn!("source {id}: starting its snapshot lookup: {e}");
    }
}

/// Row updates and error updates for the workers.
type WriteParts = (Vec<(GlobalId, Row, i64)>, Vec<(GlobalId, EvalError, i64)>);

/// Splits a source's changes into rows and errors.
pub fn split_changes(id: GlobalId, changes: Vec<(SourceValue, i64)>) -> WriteParts {
    let mut updates = Vec::new();
    let mut errors = Vec::new();
    for (value, diff) in changes {
        match value {
            Ok(row) => updates.push((id, row, diff)),
            Err(e) => errors.push((id, e, diff)),
        }
    }
    (updates, errors)
}
