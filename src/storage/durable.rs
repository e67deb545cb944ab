//! The durable store, on redb (see `docs/design/durable-store.md`).
//!
//! One redb file holds:
//!
//! * `catalog`: item id → the item's `CREATE` statement and name;
//! * `table_rows`: (table id, encoded row) → multiplicity;
//! * `offsets`: source id → how far the source has been ingested;
//! * `meta`: counters such as the next item id.
//!
//! A [`Commit`] is applied in one write transaction, fsynced before
//! `commit` returns (redb's `Durability::Immediate`): a statement is
//! acknowledged only after its commit, and a crash leaves each commit wholly
//! there or wholly absent. Ingested rows and the offset that produced them
//! go into the same commit, which is what exactly-once ingestion needs.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::expr::GlobalId;
use crate::repr::{Diff, Row};

const CATALOG: TableDefinition<u64, &[u8]> = TableDefinition::new("catalog");
const TABLE_ROWS: TableDefinition<(u64, &[u8]), i64> = TableDefinition::new("table_rows");
const OFFSETS: TableDefinition<u64, u64> = TableDefinition::new("offsets");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// An error of the durable store.
#[derive(Debug, thiserror::Error)]
#[error("durable store: {0}")]
pub struct StorageError(String);

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

/// A catalog record: what is needed to recreate an item after a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CatalogRecord {
    /// The item's name.
    pub name: String,
    /// The statement that created it.
    pub create_sql: String,
}

/// Changes applied atomically by [`DurableStore::commit`].
#[derive(Debug, Default)]
pub struct Commit {
    /// Catalog items to write.
    pub put_items: Vec<(GlobalId, CatalogRecord)>,
    /// Catalog items to delete (with their table rows and offsets).
    pub delete_items: Vec<GlobalId>,
    /// Row multiplicity changes.
    pub row_updates: Vec<(GlobalId, Row, Diff)>,
    /// New source offsets.
    pub offsets: Vec<(GlobalId, u64)>,
    /// The next item id, if it changed.
    pub next_id: Option<u64>,
}

impl Commit {
    /// Whether the commit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.put_items.is_empty()
            && self.delete_items.is_empty()
            && self.row_updates.is_empty()
            && self.offsets.is_empty()
            && self.next_id.is_none()
    }
}

/// Everything in the store, read at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Catalog items in id order.
    pub items: Vec<(GlobalId, CatalogRecord)>,
    /// Table rows with multiplicities.
    pub rows: Vec<(GlobalId, Row, Diff)>,
    /// Source offsets.
    pub offsets: Vec<(GlobalId, u64)>,
    /// The next item id.
    pub next_id: u64,
}

/// The durable store.
pub struct DurableStore {
    db: Database,
}

impl DurableStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<DurableStore, StorageError> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let db = Database::create(dir.join("freshet.redb")).map_err(err)?;
        let store = DurableStore { db };
        // Create the tables so that reads find them.
        store.commit(Commit::default())?;
        Ok(store)
    }

    /// Applies `commit` atomically and durably.
    pub fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut catalog = txn.open_table(CATALOG).map_err(err)?;
            let mut rows = txn.open_table(TABLE_ROWS).map_err(err)?;
            let mut offsets = txn.open_table(OFFSETS).map_err(err)?;
            let mut meta = txn.open_table(META).map_err(err)?;
            for (id, record) in &commit.put_items {
                let bytes = serde_json::to_vec(record).map_err(err)?;
                catalog.insert(id.0, bytes.as_slice()).map_err(err)?;
            }
            for id in &commit.delete_items {
                catalog.remove(id.0).map_err(err)?;
                offsets.remove(id.0).map_err(err)?;
                let keys: Vec<Vec<u8>> = rows
                    .range((id.0, &[][..])..(id.0 + 1, &[][..]))
                    .map_err(err)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().1.to_vec()))
                    .collect();
                for k in keys {
                    rows.remove((id.0, k.as_slice())).map_err(err)?;
                }
            }
            for (id, row, diff) in &commit.row_updates {
                let key = row.encode();
                let old = rows
                    .get((id.0, key.as_slice()))
                    .map_err(err)?
                    .map(|v| v.value())
                    .unwrap_or(0);
                let new = old + diff;
                if new == 0 {
                    rows.remove((id.0, key.as_slice())).map_err(err)?;
                } else {
                    rows.insert((id.0, key.as_slice()), new).map_err(err)?;
                }
            }
            for (id, offset) in &commit.offsets {
                offsets.insert(id.0, *offset).map_err(err)?;
            }
            if let Some(next) = commit.next_id {
                meta.insert("next_id", next).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    /// Reads everything in the store.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let mut snap = Snapshot::default();
        let catalog = txn.open_table(CATALOG).map_err(err)?;
        for entry in catalog.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let record: CatalogRecord = serde_json::from_slice(v.value()).map_err(err)?;
            snap.items.push((GlobalId(k.value()), record));
        }
        let rows = txn.open_table(TABLE_ROWS).map_err(err)?;
        for entry in rows.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let (id, bytes) = k.value();
            let row = Row::decode(bytes).map_err(err)?;
            snap.rows.push((GlobalId(id), row, v.value()));
        }
        let offsets = txn.open_table(OFFSETS).map_err(err)?;
        for entry in offsets.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            snap.offsets.push((GlobalId(k.value()), v.value()));
        }
        let meta = txn.open_table(META).map_err(err)?;
        snap.next_id = meta
            .get("next_id")
            .map_err(err)?
            .map(|v| v.value())
            .unwrap_or(1);
        Ok(snap)
    }
}
