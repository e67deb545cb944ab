//! `PRIMARY KEY` and `UNIQUE` constraints of tables.
//!
//! `CREATE TABLE` declares them (column options or table constraints,
//! [`declared_keys`]); each gets PostgreSQL's name (`t_pkey`,
//! `t_a_b_key`) and an index of that name on its columns, owned by the
//! table (it goes with the table and serves point reads, as PostgreSQL's
//! index does).
//!
//! The coordinator enforces them. It keeps, per constraint, the count of
//! each key in the table's committed contents ([`UniqueState`], rebuilt
//! from the stored rows at start-up); every table write happens under the
//! coordinator's lock, so checking a statement's changes against those
//! counts and applying them after the commit sees every earlier write.
//! A statement is checked as a whole, after all its rows (the SQL
//! standard's rule, which PostgreSQL applies to deferrable constraints:
//! `UPDATE t SET id = id + 1` succeeds however the rows are visited).
//! In an explicit transaction each statement is checked against the
//! committed rows and the transaction's own earlier writes, and the whole
//! transaction again at `COMMIT` (another session may have committed the
//! same key meanwhile). Keys compare as values (`1.0 = 1.00`), as the
//! rows' own equality does; a key with a NULL never conflicts unless the
//! constraint is `NULLS NOT DISTINCT`.

use std::collections::{BTreeMap, HashMap};

use sqlparser::ast::{
    ColumnOption, CreateTable, Expr, Ident, IndexColumn, NullsDistinctOption, TableConstraint,
};

use super::CoordState;
use super::error::AdapterError;
use crate::catalog::UniqueKey;
use crate::expr::GlobalId;
use crate::repr::{ColumnDesc, Datum, Row, SqlState};
use crate::sql::PlanError;

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`).
const MAX_NAME_BYTES: usize = 63;

/// A constraint as declared, before it has a name and an index.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredKey {
    /// The name given with `CONSTRAINT name`, if any.
    pub name: Option<String>,
    /// The key columns (positions in the table).
    pub columns: Vec<usize>,
    /// Whether it is the primary key.
    pub primary: bool,
    /// See [`UniqueKey::nulls_distinct`].
    pub nulls_distinct: bool,
}

pub(crate) fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn unsupported(what: &str) -> AdapterError {
    PlanError::Unsupported(what.to_string()).into()
}

fn syntax(message: String) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::SYNTAX_ERROR,
        message,
    }
}

/// The `PRIMARY KEY` and `UNIQUE` constraints `ct` declares over
/// `columns` (the table's columns, as built from `ct`), in the order
/// written: column constraints first, column by column, then table
/// constraints (PostgreSQL's order).
pub(crate) fn declared_keys(
    ct: &CreateTable,
    columns: &[ColumnDesc],
) -> Result<Vec<DeclaredKey>, AdapterError> {
    let mut keys = Vec::new();
    for (i, c) in ct.columns.iter().enumerate() {
        for opt in &c.options {
            let name = opt.name.as_ref().map(ident);
            match &opt.option {
                ColumnOption::PrimaryKey(pk) => {
                    if pk.characteristics.is_some() {
                        return Err(unsupported("DEFERRABLE constraints"));
                    }
                    keys.push(DeclaredKey {
                        name,
                        columns: vec![i],
                        primary: true,
                        nulls_distinct: true,
                    });
                }
                ColumnOption::Unique(u) => {
                    if u.characteristics.is_some() {
                        return Err(unsupported("DEFERRABLE constraints"));
                    }
                    keys.push(DeclaredKey {
                        name,
                        columns: vec![i],
                        primary: false,
                        nulls_distinct: !matches!(
                            u.nulls_distinct,
                            NullsDistinctOption::NotDistinct
                        ),
                    });
                }
                _ => {}
            }
        }
    }
    for constraint in &ct.constraints {
        if let Some(key) = declared_key(constraint, columns)? {
            keys.push(key);
        }
    }
    // PostgreSQL keeps one of several keys with the same columns (in the
    // same order) and NULL rule: the first, primary if any of them is, and
    // named as the first of them that has a name.
    let mut kept: Vec<DeclaredKey> = Vec::new();
    for key in keys {
        match kept
            .iter_mut()
            .find(|k| k.columns == key.columns && k.nulls_distinct == key.nulls_distinct)
        {
            Some(prior) => {
                if prior.primary && key.primary {
                    return Err(multiple_primary_keys(ct));
                }
                prior.primary |= key.primary;
                if prior.name.is_none() {
                    prior.name = key.name;
                }
            }
            None => kept.push(key),
        }
    }
    let keys = kept;
    if keys.iter().filter(|k| k.primary).count() > 1 {
        return Err(multiple_primary_keys(ct));
    }
    Ok(keys)
}

/// The `PRIMARY KEY` or `UNIQUE` constraint a table constraint declares
/// over `columns` (`None` for a `CHECK`, which
/// `check_constraints::declared_checks` reads).
pub(crate) fn declared_key(
    constraint: &TableConstraint,
    columns: &[ColumnDesc],
) -> Result<Option<DeclaredKey>, AdapterError> {
    let (name, cols, primary, nulls_distinct, characteristics) = match constraint {
        TableConstraint::PrimaryKey(pk) => (
            pk.name.as_ref().map(ident),
            &pk.columns,
            true,
            true,
            pk.characteristics.is_some(),
        ),
        TableConstraint::Unique(u) => (
            u.name.as_ref().map(ident),
            &u.columns,
            false,
            !matches!(u.nulls_distinct, NullsDistinctOption::NotDistinct),
            u.characteristics.is_some(),
        ),
        // `check_constraints::declared_checks`.
        TableConstraint::Check(_) => return Ok(None),
        // `foreign_keys::declared_foreign_keys`.
        TableConstraint::ForeignKey(_) => return Ok(None),
        other => return Err(unsupported(&format!("table constraint {other}"))),
    };
    if characteristics {
        return Err(unsupported("DEFERRABLE constraints"));
    }
    let kind = if primary { "primary key" } else { "unique" };
    let mut positions = Vec::new();
    for c in cols {
        let n = key_column(c)?;
        let Some(p) = columns.iter().position(|x| x.name == n) else {
            return Err(PlanError::UnknownColumn(format!("\"{n}\" named in key")).into());
        };
        if positions.contains(&p) {
            return Err(AdapterError::Variable {
                code: SqlState::DUPLICATE_COLUMN,
                message: format!("column \"{n}\" appears twice in {kind} constraint"),
            });
        }
        positions.push(p);
    }
    Ok(Some(DeclaredKey {
        name,
        columns: positions,
        primary,
        nulls_distinct,
    }))
}

fn multiple_primary_keys(ct: &CreateTable) -> AdapterError {
    let table = ct.name.0.last().map(|p| p.to_string()).unwrap_or_default();
    AdapterError::Variable {
        code: SqlState::INVALID_TABLE_DEFINITION,
        message: format!(
            "multiple primary keys for table \"{}\" are not allowed",
            table.trim_matches('"')
        ),
    }
}

/// The column a key names (a plain column name, ascending, no operator
/// class: an expression is 0A000, as in PostgreSQL's constraints, where it
/// is a syntax error).
fn key_column(c: &IndexColumn) -> Result<String, AdapterError> {
    if c.operator_class.is_some()
        || c.column.options.asc.is_some()
        || c.column.options.nulls_first.is_some()
    {
        return Err(syntax(format!(
            "syntax error at or near \"{}\"",
            c.column.to_string().split_whitespace().nth(1).unwrap_or("")
        )));
    }
    match &c.column.expr {
        Expr::Identifier(i) => Ok(ident(i)),
        other => Err(syntax(format!("syntax error at or near \"{other}\""))),
    }
}

/// PostgreSQL's name for a constraint of `table` over `columns`:
/// `table_pkey` or `table_col1_col2_key`, cut to 63 bytes as its
/// `makeObjectName` cuts the longer part first, then made unique by a
/// number (`t_a_key1`) while `taken` says the name is in use.
pub(crate) fn default_name(
    table: &str,
    columns: &[&str],
    primary: bool,
    taken: &dyn Fn(&str) -> bool,
) -> String {
    let label = if primary { "pkey" } else { "key" };
    let name2 = if primary {
        String::new()
    } else {
        columns.join("_")
    };
    let mut pass = 0;
    loop {
        let suffix = if pass == 0 {
            label.to_string()
        } else {
            format!("{label}{pass}")
        };
        let name = make_object_name(table, &name2, &suffix);
        if !taken(&name) {
            return name;
        }
        pass += 1;
    }
}

/// PostgreSQL's `makeObjectName`: `name1_name2_label`, with name1 and
/// name2 shortened (the longer one first, a byte at a time, never inside
/// a character) until the whole fits in 63 bytes.
pub(crate) fn make_object_name(name1: &str, name2: &str, label: &str) -> String {
    let overhead = label.len() + 1 + usize::from(!name2.is_empty());
    let mut l1 = name1.len();
    let mut l2 = name2.len();
    while l1 + l2 + overhead > MAX_NAME_BYTES {
        if l1 > l2 {
            l1 -= 1;
        } else {
            l2 -= 1;
        }
    }
    let cut = |s: &str, mut n: usize| {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    let mut name = cut(name1, l1);
    if !name2.is_empty() {
        name.push('_');
        name.push_str(&cut(name2, l2));
    }
    name.push('_');
    name.push_str(label);
    name
}

/// The committed key counts of every constrained table, one map per
/// constraint, in the catalog's order of the table's constraints.
#[derive(Debug, Default)]
pub struct UniqueState {
    tables: BTreeMap<GlobalId, Vec<HashMap<Row, i64>>>,
}

impl UniqueState {
    /// The committed counts of the keys of `table`'s key at `position`
    /// (among `Catalog::unique`).
    pub(crate) fn counts(&self, table: GlobalId, position: usize) -> Option<&HashMap<Row, i64>> {
        self.tables.get(&table).and_then(|k| k.get(position))
    }

    /// Forgets a dropped table.
    pub fn remove(&mut self, table: GlobalId) {
        self.tables.remove(&table);
    }

    /// Adds the counts of `table`'s new key (after the `before` it had):
    /// the count of each key in `rows`.
    pub(crate) fn push_key(
        &mut self,
        table: GlobalId,
        before: usize,
        key: &UniqueKey,
        rows: &[Row],
    ) {
        let counts = self
            .tables
            .entry(table)
            .or_insert_with(|| vec![HashMap::new(); before]);
        let mut map: HashMap<Row, i64> = HashMap::new();
        for row in rows {
            if let Some(kr) = key_of(row, key) {
                *map.entry(kr).or_default() += 1;
            }
        }
        counts.push(map);
    }

    /// Forgets the counts of `table`'s key at `position` (dropped).
    pub(crate) fn remove_key(&mut self, table: GlobalId, position: usize) {
        if let Some(counts) = self.tables.get_mut(&table)
            && position < counts.len()
        {
            counts.remove(position);
        }
    }
}

/// The least key of `columns` that `rows` hold more than once (a key
/// with a NULL counts only if `nulls_distinct` is off), if any: the one
/// PostgreSQL reports when it cannot build a unique index.
pub(super) fn duplicated_key(
    rows: &[Row],
    columns: &[usize],
    nulls_distinct: bool,
) -> Option<Vec<Datum>> {
    let mut counts: HashMap<Vec<Datum>, usize> = HashMap::new();
    let mut duplicated: Option<Vec<Datum>> = None;
    for row in rows {
        let datums: Vec<Datum> = row.iter().collect();
        let kr: Vec<Datum> = columns
            .iter()
            .map(|&c| datums.get(c).cloned().unwrap_or(Datum::Null))
            .collect();
        if nulls_distinct && kr.iter().any(|d| d.is_null()) {
            continue;
        }
        let n = counts.entry(kr.clone()).or_default();
        *n += 1;
        if *n == 2 && duplicated.as_ref().is_none_or(|d| kr < *d) {
            duplicated = Some(kr);
        }
    }
    duplicated
}

/// PostgreSQL's error for unique index `name` over `columns` (quoted
/// names) that the rows' key `key` would be in twice.
pub(super) fn could_not_create(name: &str, columns: &[String], key: &[Datum]) -> AdapterError {
    let values: Vec<String> = key
        .iter()
        .map(|d| crate::repr::strconv::format(d).unwrap_or_else(|| "null".into()))
        .collect();
    AdapterError::Constraint {
        code: SqlState::UNIQUE_VIOLATION,
        message: format!("could not create unique index \"{name}\""),
        detail: Some(format!(
            "Key ({})=({}) is duplicated.",
            columns.join(", "),
            values.join(", ")
        )),
        hint: None,
    }
}

/// The key of `row` under `key`, or `None` if the key cannot conflict
/// (a NULL in a `NULLS DISTINCT` key).
pub(super) fn key_of(row: &Row, key: &UniqueKey) -> Option<Row> {
    let datums: Vec<Datum> = row.iter().collect();
    let mut out = Vec::with_capacity(key.columns.len());
    for &c in &key.columns {
        let d = datums.get(c).cloned().unwrap_or(Datum::Null);
        if d.is_null() && key.nulls_distinct {
            return None;
        }
        out.push(d);
    }
    Some(Row::pack(&out).into_key())
}

impl CoordState {
    /// Checks that the changes `updates` and `pending` (earlier writes of
    /// the same transaction) make to table `table` leave every
    /// `PRIMARY KEY` and `UNIQUE` key of the table at most once:
    /// PostgreSQL's `23505` otherwise, naming the first key written twice.
    pub(crate) fn check_unique(
        &self,
        table: GlobalId,
        pending: &[(GlobalId, Row, i64)],
        updates: &[(GlobalId, Row, i64)],
    ) -> Result<(), AdapterError> {
        let keys = self.catalog.unique(table);
        if keys.is_empty() {
            return Ok(());
        }
        let committed = self.unique.tables.get(&table);
        let changes = pending
            .iter()
            .chain(updates)
            .filter(|(t, _, _)| *t == table)
            .map(|(_, r, d)| (r, *d));
        for (k, key) in keys.iter().enumerate() {
            let counts = committed.and_then(|c| c.get(k));
            let mut delta: HashMap<Row, i64> = HashMap::new();
            let mut added = Vec::new();
            for (row, d) in changes.clone() {
                if let Some(kr) = key_of(row, key) {
                    *delta.entry(kr.clone()).or_default() += d;
                    if d > 0 {
                        added.push(kr);
                    }
                }
            }
            for kr in added {
                let before = counts.and_then(|c| c.get(&kr)).copied().unwrap_or(0);
                if before + delta[&kr] > 1 {
                    return Err(self.duplicate_key(table, key, &kr));
                }
            }
        }
        Ok(())
    }

    /// [`CoordState::check_unique`] for every table `updates` change.
    pub(crate) fn check_unique_all(
        &self,
        pending: &[(GlobalId, Row, i64)],
        updates: &[(GlobalId, Row, i64)],
    ) -> Result<(), AdapterError> {
        let mut tables: Vec<GlobalId> = updates.iter().map(|(t, _, _)| *t).collect();
        tables.sort();
        tables.dedup();
        for table in tables {
            self.check_unique(table, pending, updates)?;
        }
        Ok(())
    }

    /// Counts committed `updates` (of any tables: a statement's, a
    /// transaction's, or the stored rows at start-up) in the tables' key
    /// counts.
    pub(crate) fn apply_unique<'a>(
        &mut self,
        updates: impl IntoIterator<Item = (GlobalId, &'a Row, i64)>,
    ) {
        for (table, row, d) in updates {
            let keys = self.catalog.unique(table);
            if keys.is_empty() {
                continue;
            }
            let counts = self
                .unique
                .tables
                .entry(table)
                .or_insert_with(|| vec![HashMap::new(); keys.len()]);
            for (k, key) in keys.iter().enumerate() {
                let Some(kr) = key_of(row, key) else { continue };
                let Some(map) = counts.get_mut(k) else {
                    continue;
                };
                let n = map.entry(kr.clone()).or_default();
                *n += d;
                if *n == 0 {
                    map.remove(&kr);
                }
            }
        }
    }

    /// PostgreSQL's error for a key that would be there twice.
    fn duplicate_key(&self, table: GlobalId, key: &UniqueKey, kr: &Row) -> AdapterError {
        let desc = self.catalog.get(table).map(|t| &t.desc);
        let names: Vec<String> = key
            .columns
            .iter()
            .map(|&c| {
                desc.and_then(|d| d.columns.get(c))
                    .map_or_else(String::new, |c| {
                        crate::expr::string_format::quote_ident(&c.name)
                    })
            })
            .collect();
        let values: Vec<String> = kr
            .iter()
            .map(|d| crate::repr::strconv::format(&d).unwrap_or_else(|| "null".into()))
            .collect();
        AdapterError::Constraint {
            code: SqlState::UNIQUE_VIOLATION,
            message: format!(
                "duplicate key value violates unique constraint \"{}\"",
                key.name
            ),
            detail: Some(format!(
                "Key ({})=({}) already exists.",
                names.join(", "),
                values.join(", ")
            )),
            hint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_postgresql() {
        let free = |_: &str| false;
        assert_eq!(default_name("t", &[], true, &free), "t_pkey");
        assert_eq!(default_name("t", &["a", "b"], false, &free), "t_a_b_key");
        let taken = |n: &str| n == "t_a_key" || n == "t_a_key1";
        assert_eq!(default_name("t", &["a"], false, &taken), "t_a_key2");
        // 63 bytes at most, the longer part cut first.
        let long = "x".repeat(70);
        let n = default_name(&long, &["col"], false, &free);
        assert_eq!(n.len(), 63);
        assert!(n.ends_with("_col_key"), "{n}");
        let n = default_name("tbl", &[&long], false, &free);
        assert!(n.starts_with("tbl_x") && n.ends_with("_key") && n.len() == 63);
    }
}
