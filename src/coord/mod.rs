//! The coordinator: sequences statements from all sessions, assigns
//! timestamps, owns the catalog and the durable store, and drives the
//! compute workers.
//!
//! * [`session`]: per-connection state (variables, transaction status).
//! * [`sequence`]: statement execution, by statement kind.
//! * [`prepared`]: plans kept for a prepared query's executions.
//! * [`ddl`]: `CREATE` and start-up replay of the catalog.
//! * [`dml`]: `INSERT`, `UPDATE`, `DELETE` (with `RETURNING`) and
//!   `TRUNCATE`; [`dml_sql`]: the queries they read;
//!   [`assignment_checks`]: the types of the values they store, checked
//!   against the columns'.
//! * [`drop`]: `DROP`, and `CREATE`/`DROP SCHEMA`.
//! * [`constraints`], [`check_constraints`], [`foreign_keys`]: tables'
//!   `PRIMARY KEY`/`UNIQUE`, `CHECK` and `FOREIGN KEY` constraints
//!   ([`foreign_key_checks`] enforces the last); [`alter_table`]: adding
//!   and dropping them; [`on_conflict`]: `INSERT … ON CONFLICT`.
//! * [`sequence_objects`]: sequences (`CREATE SEQUENCE`, `serial` and
//!   identity columns) and the values `nextval` hands out;
//!   [`alter_identity`]: `ALTER COLUMN ... ADD GENERATED ... AS IDENTITY`.
//! * [`names`]: qualifying the names in a `CREATE` statement before it is
//!   executed and stored.
//! * [`rename`]: `ALTER ... RENAME TO`; [`rename_sql`]: the stored names
//!   it rewrites; [`rename_column`]: `ALTER ... RENAME COLUMN`, and
//!   [`rename_column_sql`] the stored statements it rewrites.
//! * [`show`]: `SHOW` over the catalog; [`show_filter`]: its `LIKE` and
//!   `WHERE` filters, run as queries; [`object_facts`]: what a source,
//!   sink or connection is, for `SHOW` and `mz_catalog` alike.
//! * [`cancel`]: cancel requests and `statement_timeout`.
//! * [`comment`]: `COMMENT ON`.
//! * [`source`]: secrets, connections and Kafka sources.
//! * [`sink`]: Kafka sinks.
//! * [`subscribe`]: `SUBSCRIBE`, and the rows it sends.
//! * [`timestamp`]: the timestamp oracle.
//! * [`append_only`]: which relations only ever grow.
//! * [`materializable`]: which plans may be maintained.
//! * [`clock`]: time passing for temporal filters (`mz_now()`).

pub mod alter_identity;
pub mod alter_sequence;
pub mod alter_table;
pub mod append_only;
pub mod assignment_checks;
pub mod cancel;
pub mod catalog_funcs;
pub mod catalog_type_kinds;
pub mod catalog_vectors;
pub mod check_constraints;
pub mod clock;
pub mod comment;
pub mod constraints;
pub mod copy;
pub mod ddl;
pub mod dml;
pub mod dml_sql;
pub mod drop;
pub mod error;
pub mod foreign_key_checks;
pub mod foreign_keys;
pub mod introspection;
pub mod kafka_options;
pub mod materializable;
pub mod names;
pub mod object_facts;
pub mod on_conflict;
pub mod peek;
pub mod prepared;
pub mod rename;
pub mod rename_column;
pub mod rename_column_sql;
pub mod rename_sql;
pub mod sequence;
pub mod sequence_objects;
pub mod session;
pub mod session_funcs;
pub mod show;
pub mod show_filter;
pub mod sink;
pub mod source;
pub mod subscribe;
pub mod timestamp;
pub mod txn;
pub mod unique_index;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::catalog::Catalog;
use crate::compute::ComputeController;
use crate::storage::durable::DurableStore;

pub use error::AdapterError;
pub use sequence::ExecuteResponse;
pub use session::Session;
pub use subscribe::SubscribeResponse;

/// The coordinator's state, guarded by one lock: catalog changes and writes
/// happen one at a time.
pub struct CoordState {
    /// The catalog.
    pub catalog: Catalog,
    /// The durable store.
    pub store: Arc<DurableStore>,
    /// The next user item id.
    pub next_id: u64,
    /// The next transient dataflow id.
    pub next_transient: u64,
    /// The timestamp oracle.
    pub oracle: timestamp::TimestampOracle,
    /// Running load generators, by source id.
    pub sources: std::collections::BTreeMap<crate::expr::GlobalId, ddl::RunningSource>,
    /// Running Kafka sources, by source id.
    pub kafka_sources: std::collections::BTreeMap<crate::expr::GlobalId, source::KafkaSource>,
    /// Kafka sinks, by sink id.
    pub sinks: std::collections::BTreeMap<crate::expr::GlobalId, sink::KafkaSink>,
    /// Secrets, by id.
    pub secrets: std::collections::BTreeMap<crate::expr::GlobalId, String>,
    /// Connections, by id.
    pub connections: std::collections::BTreeMap<
        crate::expr::GlobalId,
        crate::sql::source::CreateConnectionStatement,
    >,
    /// The committed key counts behind tables' `PRIMARY KEY` and `UNIQUE`
    /// constraints.
    pub unique: constraints::UniqueState,
    /// The committed counts of the keys that tables' `FOREIGN KEY`
    /// constraints reference.
    pub foreign: foreign_key_checks::ForeignKeyState,
    /// The timestamp of each table's latest commit (since start-up): a
    /// transaction that read a table at an earlier snapshot, or retracted
    /// rows of it before, and writes fails at COMMIT ([`txn::Snapshot`],
    /// `Session::retracted_from`).
    pub table_commits: std::collections::BTreeMap<crate::expr::GlobalId, crate::repr::Timestamp>,
    /// The earliest time each materialized view's and index's arrangement
    /// can be read at (the last write's when it was created): a
    /// transaction whose snapshot is earlier reads around it
    /// ([`CoordState::readable_at`]).
    pub dataflow_since: std::collections::BTreeMap<crate::expr::GlobalId, crate::repr::Timestamp>,
}

/// The coordinator.
pub struct Coordinator {
    /// The state.
    pub state: Mutex<CoordState>,
    /// The compute workers.
    pub compute: Arc<ComputeController>,
    /// Sequences' values (behind a lock of their own).
    pub sequences: Arc<sequence_objects::Sequences>,
}

impl Coordinator {
    /// Opens the durable store in `data_dir`, starts `workers` compute
    /// workers, and recreates every item the store holds.
    pub async fn start(data_dir: &Path, workers: usize) -> Result<Arc<Coordinator>, AdapterError> {
        let store =
            DurableStore::open(data_dir).map_err(|e| AdapterError::Storage(e.to_string()))?;
        let compute = Arc::new(ComputeController::start(workers).map_err(AdapterError::Internal)?);
        let store = Arc::new(store);
        let coord = Arc::new(Coordinator {
            sequences: Arc::new(sequence_objects::Sequences::new(store.clone())),
            state: Mutex::new(CoordState {
                catalog: Catalog::default(),
                store,
                next_id: 1,
                next_transient: 1 << 62,
                oracle: timestamp::TimestampOracle::default(),
                sources: Default::default(),
                kafka_sources: Default::default(),
                sinks: Default::default(),
                secrets: Default::default(),
                connections: Default::default(),
                unique: Default::default(),
                foreign: Default::default(),
                table_commits: Default::default(),
                dataflow_since: Default::default(),
            }),
            compute,
        });
        {
            let mut state = coord.state.lock().await;
            coord.install_introspection(&mut state);
        }
        coord.clone().bootstrap().await?;
        coord.start_introspection();
        coord.start_clock();
        Ok(coord)
    }
}
