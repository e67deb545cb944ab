//! Enforcing `FOREIGN KEY` constraints (declared in [`super::foreign_keys`],
//! whose module documentation describes the rules): the referenced-key
//! counts of child rows ([`ForeignKeyState`]), the checks at the end of a
//! statement and at `COMMIT` ([`CoordState::check_foreign_keys`]), the
//! referential actions ([`Coordinator::enforce_foreign_keys`]) and the
//! check of a table's rows when `ALTER TABLE` adds a constraint.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::error::AdapterError;
use super::{CoordState, Coordinator};
use crate::catalog::{Catalog, CatalogItem, ForeignKey, ReferentialAction, UniqueKey};
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::{Datum, Row, ScalarType, SqlState};
use crate::sql::PlanError;

/// A constraint resolved against its tables, to read keys out of rows.
pub(crate) struct Resolved {
    /// The referencing table.
    pub child: GlobalId,
    /// The referenced table.
    pub parent: GlobalId,
    /// The position of the referenced key among the parent's keys.
    pub key_position: usize,
    /// The parent's key columns, in the key's order.
    parent_columns: Vec<usize>,
    /// The child's columns, in the key's order.
    child_columns: Vec<usize>,
    /// The parent's column types, in the key's order.
    types: Vec<ScalarType>,
}

/// A child row's key.
pub(crate) enum ChildKey {
    /// A NULL in it: the row references nothing (MATCH SIMPLE).
    Null,
    /// The key, as the parent's values.
    Key(Row),
    /// A value no key of the parent can have (out of its type's range).
    Unmatchable,
}

impl Resolved {
    /// Resolves `fk` of `child` (`None` if its parent or key is gone).
    pub(crate) fn new(catalog: &Catalog, child: GlobalId, fk: &ForeignKey) -> Option<Resolved> {
        let parent = catalog.get(fk.referenced)?;
        Resolved::with_keys(child, fk, parent, catalog.unique(fk.referenced))
    }

    /// Resolves `fk` of `child` against `parent` with the keys `keys`.
    fn with_keys(
        child: GlobalId,
        fk: &ForeignKey,
        parent: &CatalogItem,
        keys: &[UniqueKey],
    ) -> Option<Resolved> {
        let key_position = keys.iter().position(|k| k.index == fk.key_index)?;
        let key = &keys[key_position];
        let mut child_columns = Vec::with_capacity(key.columns.len());
        for c in &key.columns {
            let i = fk.referenced_columns.iter().position(|r| r == c)?;
            child_columns.push(fk.columns[i]);
        }
        Some(Resolved {
            child,
            parent: fk.referenced,
            key_position,
            types: key
                .columns
                .iter()
                .map(|&c| parent.desc.columns[c].typ.clone())
                .collect(),
            parent_columns: key.columns.clone(),
            child_columns,
        })
    }

    /// The key of a child row.
    pub(crate) fn child_key(&self, row: &[Datum]) -> ChildKey {
        let mut out = Vec::with_capacity(self.child_columns.len());
        for (&c, typ) in self.child_columns.iter().zip(&self.types) {
            let d = row.get(c).cloned().unwrap_or(Datum::Null);
            if d.is_null() {
                return ChildKey::Null;
            }
            match crate::expr::func::assign_cast(d, typ) {
                Ok(d) => out.push(d),
                Err(_) => return ChildKey::Unmatchable,
            }
        }
        ChildKey::Key(Row::pack(&out))
    }

    /// The key of a parent row (`None` with a NULL: no child row can
    /// reference it).
    pub(crate) fn parent_key(&self, row: &[Datum]) -> Option<Row> {
        let mut out = Vec::with_capacity(self.parent_columns.len());
        for &c in &self.parent_columns {
            let d = row.get(c).cloned().unwrap_or(Datum::Null);
            if d.is_null() {
                return None;
            }
            out.push(d);
        }
        Some(Row::pack(&out))
    }
}

/// The committed counts of the keys child rows reference, per
/// constraint (by its id). Only rows whose key has no NULL are counted.
#[derive(Debug, Default)]
pub struct ForeignKeyState {
    references: HashMap<GlobalId, HashMap<Row, i64>>,
}

impl ForeignKeyState {
    /// Forgets a dropped constraint.
    pub fn remove(&mut self, constraint: GlobalId) {
        self.references.remove(&constraint);
    }
}

fn value_text(d: &Datum) -> String {
    crate::repr::strconv::format(d).unwrap_or_else(|| "null".into())
}

fn columns_and_values(t: Option<&CatalogItem>, cols: &[usize], row: &[Datum]) -> (String, String) {
    let names: Vec<String> = cols
        .iter()
        .map(|&c| {
            t.and_then(|t| t.desc.columns.get(c))
                .map_or_else(String::new, |c| quote_ident(&c.name))
        })
        .collect();
    let values: Vec<String> = cols
        .iter()
        .map(|&c| row.get(c).map_or_else(|| "null".into(), value_text))
        .collect();
    (names.join(", "), values.join(", "))
}

/// PostgreSQL's error for a child row whose key is not in the parent.
pub(crate) fn not_present(
    catalog: &Catalog,
    fk: &ForeignKey,
    child: GlobalId,
    row: &[Datum],
) -> AdapterError {
    let t = catalog.get(child);
    let (names, values) = columns_and_values(t, &fk.columns, row);
    AdapterError::Constraint {
        code: SqlState::FOREIGN_KEY_VIOLATION,
        message: format!(
            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
            t.map_or("", |t| t.name.as_str()),
            fk.name
        ),
        detail: Some(format!(
            "Key ({names})=({values}) is not present in table \"{}\".",
            catalog.get(fk.referenced).map_or("", |t| t.name.as_str())
        )),
        hint: None,
    }
}

/// PostgreSQL's error for a parent key that is still referenced.
fn still_referenced(
    catalog: &Catalog,
    fk: &ForeignKey,
    child: GlobalId,
    row: &[Datum],
) -> AdapterError {
    let parent = catalog.get(fk.referenced);
    let child = catalog.get(child).map_or("", |t| t.name.as_str());
    let (names, values) = columns_and_values(parent, &fk.referenced_columns, row);
    AdapterError::Constraint {
        code: SqlState::FOREIGN_KEY_VIOLATION,
        message: format!(
            "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{child}\"",
            parent.map_or("", |t| t.name.as_str()),
            fk.name
        ),
        detail: Some(format!(
            "Key ({names})=({values}) is still referenced from table \"{child}\"."
        )),
        hint: None,
    }
}

/// The statement's changes as row events: a removed row followed by an
/// added row of the same table and count is an update (old, Some(new)),
/// as `UPDATE` and `ON CONFLICT DO UPDATE` list them; any other removed
/// row is a delete.
fn events(updates: &[(GlobalId, Row, i64)]) -> Vec<(GlobalId, &Row, Option<&Row>, i64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < updates.len() {
        let (t, old, d) = &updates[i];
        if *d < 0 {
            match updates.get(i + 1) {
                Some((t2, new, d2)) if t2 == t && *d2 == -*d => {
                    out.push((*t, old, Some(new), -*d));
                    i += 2;
                    continue;
                }
                _ => out.push((*t, old, None, -*d)),
            }
        }
        i += 1;
    }
    out
}

/// Checks that the rows `rows` of `table` (whose keys are `keys`) satisfy
/// `fk`, a foreign key `ALTER TABLE` adds: PostgreSQL's `23503` for the
/// first that references a missing key.
pub(crate) fn check_existing_rows(
    state: &CoordState,
    table: &CatalogItem,
    keys: &[UniqueKey],
    rows: &[Row],
    fk: &ForeignKey,
) -> Result<(), AdapterError> {
    let self_reference = fk.referenced == table.id;
    let r = if self_reference {
        Resolved::with_keys(table.id, fk, table, keys)
    } else {
        Resolved::new(&state.catalog, table.id, fk)
    };
    let Some(r) = r else {
        return Err(AdapterError::Internal(format!(
            "foreign key \"{}\" without its referenced key",
            fk.name
        )));
    };
    let own: std::collections::HashSet<Row> = if self_reference {
        rows.iter()
            .filter_map(|row| r.parent_key(&row.unpack()))
            .collect()
    } else {
        Default::default()
    };
    let committed = state.unique.counts(r.parent, r.key_position);
    for row in rows {
        let datums = row.unpack();
        let present = match r.child_key(&datums) {
            ChildKey::Null => true,
            ChildKey::Unmatchable => false,
            ChildKey::Key(k) if self_reference => own.contains(&k),
            ChildKey::Key(k) => committed.and_then(|c| c.get(&k)).is_some_and(|n| *n > 0),
        };
        if !present {
            let mut e = not_present(&state.catalog, fk, table.id, &datums);
            // The table may not be in the catalog under this name yet.
            if let AdapterError::Constraint { message, .. } = &mut e {
                *message = format!(
                    "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                    table.name, fk.name
                );
            }
            return Err(e);
        }
    }
    Ok(())
}

impl CoordState {
    /// Counts the rows `rows` of `table` for its foreign keys `added` (new
    /// ones: their counts start from nothing).
    pub(crate) fn apply_added_foreign_keys(
        &mut self,
        table: GlobalId,
        added: &[GlobalId],
        rows: &[Row],
    ) {
        let resolved: Vec<(GlobalId, Resolved)> = self
            .catalog
            .foreign_keys(table)
            .iter()
            .filter(|fk| added.contains(&fk.id))
            .filter_map(|fk| Some((fk.id, Resolved::new(&self.catalog, table, fk)?)))
            .collect();
        for row in rows {
            let datums = row.unpack();
            for (id, r) in &resolved {
                if let ChildKey::Key(k) = r.child_key(&datums) {
                    *self
                        .foreign
                        .references
                        .entry(*id)
                        .or_default()
                        .entry(k)
                        .or_default() += 1;
                }
            }
        }
    }

    /// Counts committed `updates` in the constraints' referenced-key
    /// counts.
    pub(crate) fn apply_foreign_keys<'a>(
        &mut self,
        updates: impl IntoIterator<Item = (GlobalId, &'a Row, i64)>,
    ) {
        let mut resolved: HashMap<GlobalId, Vec<(GlobalId, Resolved)>> = HashMap::new();
        for (table, row, d) in updates {
            let constraints = resolved.entry(table).or_insert_with(|| {
                self.catalog
                    .foreign_keys(table)
                    .iter()
                    .filter_map(|fk| Some((fk.id, Resolved::new(&self.catalog, table, fk)?)))
                    .collect()
            });
            if constraints.is_empty() {
                continue;
            }
            let datums: Vec<Datum> = row.iter().collect();
            for (id, r) in constraints.iter() {
                if let ChildKey::Key(k) = r.child_key(&datums) {
                    let counts = self.foreign.references.entry(*id).or_default();
                    let n = counts.entry(k.clone()).or_default();
                    *n += d;
                    if *n == 0 {
                        counts.remove(&k);
                    }
                }
            }
        }
    }

    /// Checks the foreign keys that `updates` (a statement's changes, or
    /// at `COMMIT` a transaction's) touch, after `pending` (the
    /// transaction's earlier writes): PostgreSQL's `23503` for a child
    /// row whose key is not in its parent, or a parent key that leaves
    /// while referenced. `statement` applies `RESTRICT`'s row rule.
    pub(crate) fn check_foreign_keys(
        &self,
        pending: &[(GlobalId, Row, i64)],
        updates: &[(GlobalId, Row, i64)],
        statement: bool,
    ) -> Result<(), AdapterError> {
        let changed: BTreeSet<GlobalId> = updates.iter().map(|(t, _, _)| *t).collect();
        let constraints: Vec<(GlobalId, &ForeignKey)> = self
            .catalog
            .all_foreign_keys()
            .filter(|(c, fk)| changed.contains(c) || changed.contains(&fk.referenced))
            .collect();
        if constraints.is_empty() {
            return Ok(());
        }
        let all = || pending.iter().chain(updates);
        for (child, fk) in constraints {
            let Some(r) = Resolved::new(&self.catalog, child, fk) else {
                continue;
            };
            // The parent's keys after the changes.
            let committed = self.unique.counts(r.parent, r.key_position);
            let mut parent_delta: HashMap<Row, i64> = HashMap::new();
            for (t, row, d) in all() {
                if *t == r.parent
                    && let Some(k) = r.parent_key(&row.unpack())
                {
                    *parent_delta.entry(k).or_default() += d;
                }
            }
            let parent_count = |k: &Row| {
                committed.and_then(|c| c.get(k)).copied().unwrap_or(0)
                    + parent_delta.get(k).copied().unwrap_or(0)
            };
            if changed.contains(&child) {
                for (t, row, d) in updates {
                    if *t != child || *d <= 0 {
                        continue;
                    }
                    let datums = row.unpack();
                    let present = match r.child_key(&datums) {
                        ChildKey::Null => true,
                        ChildKey::Unmatchable => false,
                        ChildKey::Key(k) => parent_count(&k) > 0,
                    };
                    if !present {
                        return Err(not_present(&self.catalog, fk, child, &datums));
                    }
                }
            }
            if !changed.contains(&r.parent) {
                continue;
            }
            // Keys leaving the parent.
            let restrict = |update: bool| {
                statement
                    && if update {
                        fk.on_update == ReferentialAction::Restrict
                    } else {
                        fk.on_delete == ReferentialAction::Restrict
                    }
            };
            let mut removed: Vec<(Row, Vec<Datum>, bool)> = Vec::new();
            for (t, old, new, _) in events(updates) {
                if t != r.parent {
                    continue;
                }
                let datums = old.unpack();
                let Some(k) = r.parent_key(&datums) else {
                    continue;
                };
                let new_key = new.and_then(|n| r.parent_key(&n.unpack()));
                if new_key.as_ref() == Some(&k) {
                    continue;
                }
                let forced = restrict(new.is_some());
                if !forced && parent_count(&k) > 0 {
                    continue;
                }
                removed.push((k, datums, forced));
            }
            if removed.is_empty() {
                continue;
            }
            let committed_refs = self.foreign.references.get(&fk.id);
            let mut child_delta: HashMap<Row, i64> = HashMap::new();
            for (t, row, d) in all() {
                if *t == child
                    && let ChildKey::Key(k) = r.child_key(&row.unpack())
                {
                    *child_delta.entry(k).or_default() += d;
                }
            }
            for (k, datums, _) in removed {
                let refs = committed_refs.and_then(|c| c.get(&k)).copied().unwrap_or(0)
                    + child_delta.get(&k).copied().unwrap_or(0);
                if refs > 0 {
                    return Err(still_referenced(&self.catalog, fk, child, &datums));
                }
            }
        }
        Ok(())
    }
}

/// A child table's rows as a statement's actions see them (committed,
/// then the transaction's and the statement's changes), with the rows of
/// each referenced key.
struct ChildRows {
    rows: HashMap<Row, i64>,
    by_key: HashMap<Row, Vec<Row>>,
    /// How many of the statement's changes are counted.
    applied: usize,
}

impl ChildRows {
    fn add(&mut self, r: &Resolved, row: &Row, d: i64) {
        let n = self.rows.entry(row.clone()).or_default();
        let was = *n;
        *n += d;
        if was <= 0
            && *n > 0
            && let ChildKey::Key(k) = r.child_key(&row.unpack())
        {
            self.by_key.entry(k).or_default().push(row.clone());
        }
    }

    fn catch_up(&mut self, r: &Resolved, updates: &[(GlobalId, Row, i64)]) {
        for (t, row, d) in &updates[self.applied..] {
            if *t == r.child {
                self.add(r, row, *d);
            }
        }
        self.applied = updates.len();
    }
}

/// How deep actions may cascade before the statement is refused.
const MAX_WAVES: usize = 100_000;

impl Coordinator {
    /// Applies the referential actions a statement's changes `updates`
    /// fire (appending the changes to `updates`; `pending` are the
    /// transaction's earlier writes), then checks every foreign key they
    /// touch ([`CoordState::check_foreign_keys`]). `actions` is false for
    /// `TRUNCATE`, which fires none.
    pub(crate) async fn enforce_foreign_keys(
        self: &Arc<Self>,
        state: &mut CoordState,
        pending: &[(GlobalId, Row, i64)],
        updates: &mut Vec<(GlobalId, Row, i64)>,
        actions: bool,
    ) -> Result<(), AdapterError> {
        if state.catalog.all_foreign_keys().next().is_none() {
            return Ok(());
        }
        if actions {
            self.referential_actions(state, pending, updates).await?;
        }
        state.check_foreign_keys(pending, updates, true)
    }

    async fn referential_actions(
        self: &Arc<Self>,
        state: &mut CoordState,
        pending: &[(GlobalId, Row, i64)],
        updates: &mut Vec<(GlobalId, Row, i64)>,
    ) -> Result<(), AdapterError> {
        let mut views: HashMap<GlobalId, ChildRows> = HashMap::new();
        // The tables the transaction or the statement added rows to (so
        // far: `updates[..written_upto]`).
        let mut written: BTreeSet<GlobalId> = pending
            .iter()
            .filter(|(_, _, d)| *d > 0)
            .map(|(t, _, _)| *t)
            .collect();
        let mut written_upto = 0;
        let mut start = 0;
        let mut waves = 0;
        while start < updates.len() {
            waves += 1;
            if waves > MAX_WAVES {
                return Err(PlanError::Unsupported(
                    "referential actions cascading this deep".into(),
                )
                .into());
            }
            let end = updates.len();
            let wave: Vec<(GlobalId, Row, Option<Row>, i64)> = events(&updates[start..end])
                .into_iter()
                .map(|(t, old, new, n)| (t, old.clone(), new.cloned(), n))
                .collect();
            start = end;
            for (table, old, new, _) in wave {
                let fired: Vec<(GlobalId, ForeignKey)> = state
                    .catalog
                    .referencing(table)
                    .filter(|(_, fk)| {
                        let a = if new.is_some() {
                            fk.on_update
                        } else {
                            fk.on_delete
                        };
                        matches!(
                            a,
                            ReferentialAction::Cascade
                                | ReferentialAction::SetNull
                                | ReferentialAction::SetDefault
                        )
                    })
                    .map(|(c, fk)| (c, fk.clone()))
                    .collect();
                for (child, fk) in fired {
                    let Some(r) = Resolved::new(&state.catalog, child, &fk) else {
                        continue;
                    };
                    let old_datums = old.unpack();
                    let Some(key) = r.parent_key(&old_datums) else {
                        continue;
                    };
                    let new_datums = new.as_ref().map(|n| n.unpack());
                    if new_datums
                        .as_ref()
                        .is_some_and(|n| r.parent_key(n).as_ref() == Some(&key))
                    {
                        continue;
                    }
                    let committed = state
                        .foreign
                        .references
                        .get(&fk.id)
                        .and_then(|c| c.get(&key))
                        .copied()
                        .unwrap_or(0);
                    // Nothing to do unless the key is referenced: by a
                    // committed row, or possibly by a row the transaction
                    // or the statement wrote to the child (then its rows
                    // are read and indexed, once).
                    for (t, _, d) in &updates[written_upto..] {
                        if *d > 0 {
                            written.insert(*t);
                        }
                    }
                    written_upto = updates.len();
                    if committed <= 0 && !views.contains_key(&fk.id) && !written.contains(&child) {
                        continue;
                    }
                    if let std::collections::hash_map::Entry::Vacant(slot) = views.entry(fk.id) {
                        let Some(table) = state.catalog.get(child).cloned() else {
                            continue;
                        };
                        let mut view = ChildRows {
                            rows: HashMap::new(),
                            by_key: HashMap::new(),
                            applied: 0,
                        };
                        for row in self.table_rows(state, &table).await? {
                            view.add(&r, &row, 1);
                        }
                        for (t, row, d) in pending {
                            if *t == child {
                                view.add(&r, row, *d);
                            }
                        }
                        slot.insert(view);
                    }
                    let Some(view) = views.get_mut(&fk.id) else {
                        continue;
                    };
                    view.catch_up(&r, updates);
                    let referencing: Vec<(Row, i64)> = view
                        .by_key
                        .get(&key)
                        .map(|rows| {
                            rows.iter()
                                .filter_map(|row| {
                                    let n = view.rows.get(row).copied().unwrap_or(0);
                                    (n > 0).then(|| (row.clone(), n))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if referencing.is_empty() {
                        continue;
                    }
                    let Some(child_table) = state.catalog.get(child).cloned() else {
                        continue;
                    };
                    let a = if new.is_some() {
                        fk.on_update
                    } else {
                        fk.on_delete
                    };
                    for (row, n) in referencing {
                        match (a, &new_datums) {
                            (ReferentialAction::Cascade, None) => {
                                updates.push((child, row, -n));
                            }
                            (action, _) => {
                                let mut datums = row.unpack();
                                for (i, &c) in fk.columns.iter().enumerate() {
                                    let typ = &child_table.desc.columns[c].typ;
                                    datums[c] = match (action, &new_datums) {
                                        (ReferentialAction::Cascade, Some(nd)) => {
                                            let p = fk.referenced_columns[i];
                                            crate::expr::func::assign_cast(nd[p].clone(), typ)?
                                        }
                                        (ReferentialAction::SetDefault, _) => match child_table
                                            .table_columns
                                            .get(c)
                                            .and_then(|tc| tc.default.as_ref())
                                        {
                                            Some(e) => {
                                                let e = super::dml::resolved_default(e);
                                                self.with_sequences(|| e.eval(&[]))?
                                            }
                                            None => Datum::Null,
                                        },
                                        _ => Datum::Null,
                                    };
                                }
                                let new_row = super::dml::check_row(&child_table, datums)?;
                                updates.push((child, row, -n));
                                updates.push((child, new_row, n));
                            }
                        }
                    }
                    view.catch_up(&r, updates);
                }
            }
        }
        Ok(())
    }
}
