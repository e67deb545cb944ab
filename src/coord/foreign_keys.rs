//! `FOREIGN KEY` constraints of tables (MATCH SIMPLE), with PostgreSQL's
//! names, errors and referential actions.
//!
//! `CREATE TABLE` declares them (`pid int REFERENCES p`, `FOREIGN KEY
//! (a, b) REFERENCES p (x, y)`, [`declared_foreign_keys`]) and `ALTER
//! TABLE … ADD` adds them (`super::alter_table`); [`build_foreign_key`]
//! resolves one against the referenced table: its columns must be that
//! table's `PRIMARY KEY` or a `UNIQUE` key (as a set), of comparable
//! types. The name is PostgreSQL's `t_col1_col2_fkey`.
//!
//! # Enforcement
//!
//! Every table write goes through [`super::Coordinator::enforce_foreign_keys`]
//! (from `dml.rs::write`) under the coordinator's lock, once the statement's
//! changes are known:
//!
//! 1. Referential actions. A parent row deleted, or updated to another
//!    key, whose key rows of a child reference, makes `ON DELETE` /
//!    `ON UPDATE CASCADE`, `SET NULL` and `SET DEFAULT` change those rows,
//!    in the same statement (so its whole effect commits or none); the
//!    changes may in turn fire other constraints' actions, in waves, until
//!    none does. The child's rows are read once per statement (its
//!    committed rows, then the transaction's and the statement's changes)
//!    and indexed by key.
//! 2. Checks, at the end of the statement (NO ACTION's rule, so a
//!    statement may insert a parent and its child in any order): every
//!    row written to a child whose key has no NULL must have its key in
//!    the parent, and every key leaving a parent (no row of the parent
//!    has it afterwards) must not be referenced. `RESTRICT` refuses a
//!    row's key change even if another row then has the key.
//!
//! Both sides are counts, not scans: the parent's key counts are those
//! of its unique key ([`super::constraints::UniqueState`]); the child's
//! are kept here per constraint ([`ForeignKeyState`], counted from the
//! stored rows at start-up). A child's key is cast to the parent's column
//! types before it is compared (an `int8` column may reference an `int4`
//! key). In an explicit transaction, each statement is checked against
//! the committed rows and the transaction's earlier writes, and the whole
//! transaction again at `COMMIT`.
//!
//! # Durable form
//!
//! A constraint of a `CREATE TABLE` is in the table's record; one added
//! by `ALTER TABLE` is a record of its own (`super::alter_table`). Records
//! name the referenced table qualified. `DROP TABLE p CASCADE` drops the
//! constraints that reference `p`: an added one's record is deleted; one
//! of a `CREATE TABLE` is skipped when the record is replayed, as its
//! referenced table does not exist then (a referenced table cannot be
//! dropped otherwise, so that is the only way it can be missing).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sqlparser::ast::{
    ColumnOption, ConstraintReferenceMatchKind, CreateTable, DeferrableInitial,
    ForeignKeyConstraint, Ident, ObjectName,
};

use super::constraints::ident;
use super::error::AdapterError;
use super::{CoordState, Coordinator};
use crate::catalog::{Catalog, CatalogItem, ForeignKey, ItemKind, ReferentialAction, UniqueKey};
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::{Datum, Row, ScalarType, SqlState};
use crate::sql::PlanError;

fn error(code: SqlState, message: String) -> AdapterError {
    AdapterError::Variable { code, message }
}

fn unsupported(what: &str) -> AdapterError {
    PlanError::Unsupported(what.to_string()).into()
}

/// A `FOREIGN KEY` constraint as declared, before it is resolved.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredForeignKey {
    /// The name given with `CONSTRAINT name`, if any.
    pub name: Option<String>,
    /// The referencing columns' names.
    pub columns: Vec<String>,
    /// The referenced table, as written (qualified once stored).
    pub referenced: ObjectName,
    /// The referenced columns' names (none: the primary key's).
    pub referenced_columns: Vec<String>,
    /// `ON DELETE`.
    pub on_delete: ReferentialAction,
    /// `ON UPDATE`.
    pub on_update: ReferentialAction,
}

fn action(a: Option<&sqlparser::ast::ReferentialAction>) -> ReferentialAction {
    use sqlparser::ast::ReferentialAction as A;
    match a {
        None | Some(A::NoAction) => ReferentialAction::NoAction,
        Some(A::Restrict) => ReferentialAction::Restrict,
        Some(A::Cascade) => ReferentialAction::Cascade,
        Some(A::SetNull) => ReferentialAction::SetNull,
        Some(A::SetDefault) => ReferentialAction::SetDefault,
    }
}

/// Reads one `REFERENCES` clause: a column's (`column` set) or a table
/// constraint's. `DEFERRABLE`, `INITIALLY DEFERRED`, `MATCH FULL` and
/// `MATCH PARTIAL` are 0A000.
pub(crate) fn declared(
    fk: &ForeignKeyConstraint,
    name: Option<String>,
    column: Option<&Ident>,
) -> Result<DeclaredForeignKey, AdapterError> {
    if let Some(c) = &fk.characteristics
        && (c.deferrable == Some(true)
            || c.initially == Some(DeferrableInitial::Deferred)
            || c.enforced == Some(false))
    {
        return Err(unsupported("DEFERRABLE constraints"));
    }
    match fk.match_kind {
        None | Some(ConstraintReferenceMatchKind::Simple) => {}
        Some(ConstraintReferenceMatchKind::Full) => {
            return Err(unsupported("MATCH FULL foreign keys"));
        }
        Some(ConstraintReferenceMatchKind::Partial) => {
            return Err(unsupported("MATCH PARTIAL foreign keys"));
        }
    }
    let columns = match column {
        Some(c) => vec![ident(c)],
        None => fk.columns.iter().map(ident).collect(),
    };
    Ok(DeclaredForeignKey {
        name: name.or_else(|| fk.name.as_ref().map(ident)),
        columns,
        referenced: fk.foreign_table.clone(),
        referenced_columns: fk.referred_columns.iter().map(ident).collect(),
        on_delete: action(fk.on_delete.as_ref()),
        on_update: action(fk.on_update.as_ref()),
    })
}

/// The `FOREIGN KEY` constraints `ct` declares: column constraints first,
/// column by column, then table constraints (PostgreSQL's order).
pub(crate) fn declared_foreign_keys(
    ct: &CreateTable,
) -> Result<Vec<DeclaredForeignKey>, AdapterError> {
    let mut out = Vec::new();
    for c in &ct.columns {
        for opt in &c.options {
            if let ColumnOption::ForeignKey(fk) = &opt.option {
                out.push(declared(fk, opt.name.as_ref().map(ident), Some(&c.name))?);
            }
        }
    }
    for constraint in &ct.constraints {
        if let sqlparser::ast::TableConstraint::ForeignKey(fk) = constraint {
            out.push(declared(fk, None, None)?);
        }
    }
    Ok(out)
}

/// Every referenced table name in `ct` (to qualify before it is stored).
pub(crate) fn referenced_names(ct: &mut CreateTable) -> Vec<&mut ObjectName> {
    let mut out = Vec::new();
    for c in &mut ct.columns {
        for opt in &mut c.options {
            if let ColumnOption::ForeignKey(fk) = &mut opt.option {
                out.push(&mut fk.foreign_table);
            }
        }
    }
    for constraint in &mut ct.constraints {
        if let sqlparser::ast::TableConstraint::ForeignKey(fk) = constraint {
            out.push(&mut fk.foreign_table);
        }
    }
    out
}

/// PostgreSQL's name for a foreign key of `table` over `columns`:
/// `table_col1_col2_fkey`, numbered while `taken`.
pub(crate) fn default_name(table: &str, columns: &[&str], taken: &dyn Fn(&str) -> bool) -> String {
    let name2 = columns.join("_");
    let mut pass = 0;
    loop {
        let label = if pass == 0 {
            "fkey".to_string()
        } else {
            format!("fkey{pass}")
        };
        let name = super::constraints::make_object_name(table, &name2, &label);
        if !taken(&name) {
            return name;
        }
        pass += 1;
    }
}

/// The type's name without modifiers, as PostgreSQL's messages print it.
fn base_type_name(t: &ScalarType) -> String {
    match t {
        ScalarType::VarChar(_) => "character varying".into(),
        ScalarType::Char(_) => "character".into(),
        ScalarType::Numeric { .. } => "numeric".into(),
        ScalarType::Time(_) => "time without time zone".into(),
        ScalarType::Timestamp(_) => "timestamp without time zone".into(),
        ScalarType::TimestampTz(_) => "timestamp with time zone".into(),
        ScalarType::Interval(_) => "interval".into(),
        other => other.name(),
    }
}

/// Whether a column of type `fk` may reference one of type `pk`:
/// PostgreSQL's rule is that the key's equality operator (of its
/// operator family) applies to the referencing type, directly or by an
/// implicit cast.
fn comparable(fk: &ScalarType, pk: &ScalarType) -> bool {
    use ScalarType as T;
    let int = |t: &T| matches!(t, T::Int16 | T::Int32 | T::Int64);
    let float = |t: &T| matches!(t, T::Float32 | T::Float64);
    let string = |t: &T| matches!(t, T::Text | T::VarChar(_) | T::Char(_) | T::Name);
    match (fk, pk) {
        _ if std::mem::discriminant(fk) == std::mem::discriminant(pk) => match (fk, pk) {
            (T::Array(a), T::Array(b)) => a == b,
            _ => true,
        },
        _ if int(fk) && (int(pk) || float(pk)) => true,
        (_, T::Numeric { .. }) if int(fk) => true,
        (T::Numeric { .. }, _) if float(pk) => true,
        _ if float(fk) && float(pk) => true,
        (T::Char(_), T::Char(_)) => true,
        _ if string(fk) && string(pk) && !matches!(pk, T::Char(_)) => true,
        (T::Date, T::Timestamp(_) | T::TimestampTz(_)) | (T::Timestamp(_), T::TimestampTz(_)) => {
            true
        }
        _ => false,
    }
}

/// The referenced table of a declared key, as [`build_foreign_key`] needs
/// it: the table being created refers to itself with its own keys.
pub(crate) struct Referenced<'a> {
    /// The table.
    pub table: &'a CatalogItem,
    /// Its `PRIMARY KEY` and `UNIQUE` constraints.
    pub keys: &'a [UniqueKey],
}

/// Resolves `declared` for `table` (whose keys are `own_keys`; it may not
/// be in the catalog yet), its referenced table through `path`. `taken` says whether a name is used by another
/// constraint of the table or of its schema. `Ok(None)` during replay
/// when the referenced table no longer exists (it was dropped with
/// `CASCADE`, which dropped this constraint).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_foreign_key(
    catalog: &Catalog,
    path: &crate::catalog::SearchPath,
    table: &CatalogItem,
    own_keys: &[UniqueKey],
    declared: &DeclaredForeignKey,
    taken: &dyn Fn(&str) -> bool,
    id: GlobalId,
    replay: bool,
) -> Result<Option<ForeignKey>, AdapterError> {
    let partial = crate::catalog::names::PartialName::from_object_name(&declared.referenced)?;
    // The table itself, unless an unqualified name finds another table
    // first on the path.
    let self_reference = partial.item == table.name
        && match &partial.schema {
            Some(s) => *s == table.schema,
            None => {
                !matches!(catalog.resolve(path, &declared.referenced), Ok(Some(t)) if t.id != table.id)
            }
        };
    let found;
    let referenced = if self_reference {
        Referenced {
            table,
            keys: own_keys,
        }
    } else {
        found = match catalog.resolve(path, &declared.referenced) {
            Ok(Some(item)) => item,
            Ok(None) | Err(PlanError::UnknownSchema(_)) if replay => return Ok(None),
            Ok(None) => {
                return Err(PlanError::UnknownItem {
                    kind: "relation",
                    name: partial.item.clone(),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if found.kind != ItemKind::Table || found.id.is_system() {
            return Err(PlanError::WrongObjectType(format!(
                "referenced relation \"{}\" is not a table",
                found.name
            ))
            .into());
        }
        Referenced {
            table: found,
            keys: catalog.unique(found.id),
        }
    };
    let position = |t: &CatalogItem, n: &str| {
        t.desc
            .columns
            .iter()
            .position(|c| c.name == n)
            .ok_or_else(|| {
                AdapterError::from(PlanError::UnknownColumn(format!(
                    "\"{n}\" referenced in foreign key constraint"
                )))
            })
    };
    let columns = declared
        .columns
        .iter()
        .map(|n| position(table, n))
        .collect::<Result<Vec<_>, _>>()?;
    let referenced_columns = if declared.referenced_columns.is_empty() {
        match referenced.keys.iter().find(|k| k.primary) {
            Some(k) => k.columns.clone(),
            None => {
                return Err(error(
                    SqlState::UNDEFINED_OBJECT,
                    format!(
                        "there is no primary key for referenced table \"{}\"",
                        referenced.table.name
                    ),
                ));
            }
        }
    } else {
        declared
            .referenced_columns
            .iter()
            .map(|n| position(referenced.table, n))
            .collect::<Result<Vec<_>, _>>()?
    };
    if columns.len() != referenced_columns.len() {
        return Err(error(
            SqlState::INVALID_FOREIGN_KEY,
            "number of referencing and referenced columns for foreign key disagree".into(),
        ));
    }
    let wanted: BTreeSet<usize> = referenced_columns.iter().copied().collect();
    let key = referenced.keys.iter().find(|k| {
        wanted.len() == referenced_columns.len()
            && k.columns.len() == wanted.len()
            && k.columns.iter().all(|c| wanted.contains(c))
    });
    let Some(key) = key else {
        return Err(error(
            SqlState::INVALID_FOREIGN_KEY,
            format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                referenced.table.name
            ),
        ));
    };
    let name = match &declared.name {
        Some(n) => n.clone(),
        None => {
            let names: Vec<&str> = columns
                .iter()
                .map(|&c| table.desc.columns[c].name.as_str())
                .collect();
            default_name(&table.name, &names, taken)
        }
    };
    for (&c, &p) in columns.iter().zip(&referenced_columns) {
        let (fc, pc) = (&table.desc.columns[c], &referenced.table.desc.columns[p]);
        if !comparable(&fc.typ, &pc.typ) {
            return Err(AdapterError::Constraint {
                code: SqlState::DATATYPE_MISMATCH,
                message: format!("foreign key constraint \"{name}\" cannot be implemented"),
                detail: Some(format!(
                    "Key columns \"{}\" and \"{}\" are of incompatible types: {} and {}.",
                    fc.name,
                    pc.name,
                    base_type_name(&fc.typ),
                    base_type_name(&pc.typ)
                )),
            });
        }
    }
    Ok(Some(ForeignKey {
        name,
        id,
        columns,
        referenced: referenced.table.id,
        referenced_columns,
        key_index: key.index,
        on_delete: declared.on_delete,
        on_update: declared.on_update,
    }))
}

/// The `ALTER TABLE … ADD CONSTRAINT` record of `fk`, an added constraint
/// of `table`.
pub(crate) fn add_record(catalog: &Catalog, table: &CatalogItem, fk: &ForeignKey) -> String {
    let qualified =
        |t: &CatalogItem| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
    let names = |t: &CatalogItem, cols: &[usize]| {
        cols.iter()
            .map(|&c| quote_ident(&t.desc.columns[c].name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let parent = if fk.referenced == table.id {
        table
    } else {
        match catalog.get(fk.referenced) {
            Some(p) => p,
            None => table,
        }
    };
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}",
        qualified(table),
        quote_ident(&fk.name),
        names(table, &fk.columns),
        qualified(parent),
        names(parent, &fk.referenced_columns),
        fk.on_update.sql(),
        fk.on_delete.sql()
    )
}

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
        let mut start = 0;
        let mut waves = 0;
        while start < updates.len() {
            waves += 1;
            if waves > MAX_WAVES {
                return Err(unsupported("referential actions cascading this deep"));
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
                    // Nothing to do unless some row references the key.
                    let committed = state
                        .foreign
                        .references
                        .get(&fk.id)
                        .and_then(|c| c.get(&key))
                        .copied()
                        .unwrap_or(0);
                    if committed <= 0 && !views.contains_key(&fk.id) {
                        let changed = pending.iter().chain(updates.iter()).any(|(t, row, d)| {
                            *t == child
                                && *d > 0
                                && matches!(r.child_key(&row.unpack()), ChildKey::Key(k) if k == key)
                        });
                        if !changed {
                            continue;
                        }
                    }
                    if !views.contains_key(&fk.id) {
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
                        views.insert(fk.id, view);
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

/// The foreign keys of tables not in `tables` that reference a table in
/// it, with their referencing tables.
pub(crate) fn referencing_from_outside(
    catalog: &Catalog,
    tables: &[GlobalId],
) -> Vec<(GlobalId, ForeignKey)> {
    catalog
        .all_foreign_keys()
        .filter(|(c, fk)| tables.contains(&fk.referenced) && !tables.contains(c))
        .map(|(c, fk)| (c, fk.clone()))
        .collect()
}

/// Whether `name` is a constraint of a table in `schema` other than
/// `table` (foreign keys; `check_constraints::constraint_name_in_schema`
/// asks about the others).
pub(crate) fn name_in_schema(catalog: &Catalog, schema: &str, table: GlobalId, name: &str) -> bool {
    catalog.all_foreign_keys().any(|(t, k)| {
        k.name == name && t != table && catalog.get(t).is_some_and(|t| t.schema == schema)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_postgresql() {
        let free = |_: &str| false;
        assert_eq!(default_name("c", &["pid"], &free), "c_pid_fkey");
        assert_eq!(default_name("c2", &["x", "y"], &free), "c2_x_y_fkey");
        let taken = |n: &str| n == "c_pid_fkey";
        assert_eq!(default_name("c", &["pid"], &taken), "c_pid_fkey1");
    }

    #[test]
    fn types_compare_as_postgresql_allows() {
        use ScalarType as T;
        let numeric = T::Numeric {
            precision: None,
            scale: None,
        };
        assert!(comparable(&T::Int64, &T::Int32));
        assert!(comparable(&T::Int16, &T::Int64));
        assert!(comparable(&T::Int32, &numeric));
        assert!(!comparable(&numeric, &T::Int32));
        assert!(!comparable(&T::Float64, &T::Int32));
        assert!(!comparable(&T::Text, &T::Int32));
        assert!(comparable(&T::VarChar(Some(3)), &T::Text));
        assert!(comparable(&T::Text, &T::VarChar(None)));
    }
}
