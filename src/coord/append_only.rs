//! Which relations only ever grow, from the catalog's knowledge of them:
//! Kafka sources with `ENVELOPE NONE`, the append-only outputs of load
//! generators, and materialized views that are monotonic over those
//! ([`RelationExpr::is_monotonic`]). Tables (`UPDATE`, `DELETE`), `UPSERT`
//! and Debezium sources and system relations change rows, so they do not.
//!
//! The set travels with each dataflow to the workers
//! (`compute::worker::Command::CreateDataflow::append_only`), which render
//! `GROUP BY`s of `min`/`max` over such inputs with one value per group
//! (`compute::monotonic`).

use std::collections::BTreeSet;

use crate::catalog::ItemKind;
use crate::expr::{GlobalId, RelationExpr};
use crate::sql::source::Envelope;
use crate::storage::loadgen;

use super::CoordState;

impl CoordState {
    /// Whether relation `id` only ever grows.
    pub(crate) fn is_append_only(&self, id: GlobalId) -> bool {
        if let Some(source) = self.kafka_sources.get(&id) {
            return matches!(source.statement.envelope, Envelope::None);
        }
        for source in self.sources.values() {
            if let Some(output) = source.outputs.iter().position(|o| *o == id) {
                return loadgen::appends_only(&source.statement.kind, output);
            }
        }
        match self.catalog.get(id) {
            Some(item) if item.kind == ItemKind::MaterializedView => item
                .plan
                .as_ref()
                .is_some_and(|plan| plan.is_monotonic(&|d| self.is_append_only(d))),
            _ => false,
        }
    }

    /// The relations `plan` reads that only ever grow.
    pub(crate) fn append_only_inputs(&self, plan: &RelationExpr) -> BTreeSet<GlobalId> {
        let mut deps = Vec::new();
        plan.depends_on(&mut deps);
        deps.into_iter()
            .filter(|id| self.is_append_only(*id))
            .collect()
    }
}
