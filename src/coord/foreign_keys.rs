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
//! (from `dml.rs::write`; the code is [`super::foreign_key_checks`]) under the coordinator's lock, once the statement's
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
//! are kept per constraint ([`super::foreign_key_checks::ForeignKeyState`], counted from the
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
//! dropped otherwise, so that is the only way it can be missing). `DROP
//! INDEX u CASCADE` of the unique index a constraint references drops it
//! the same way: at replay, the key it references is missing.

use std::collections::BTreeSet;

use sqlparser::ast::{
    ColumnOption, ConstraintReferenceMatchKind, CreateTable, DeferrableInitial,
    ForeignKeyConstraint, Ident, ObjectName,
};

use super::constraints::ident;
use super::error::AdapterError;
use crate::catalog::{Catalog, CatalogItem, ForeignKey, ItemKind, ReferentialAction, UniqueKey};
use crate::expr::GlobalId;
use crate::expr::string_format::quote_ident;
use crate::repr::{ScalarType, SqlState};
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
        ScalarType::Interval { .. } => "interval".into(),
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
        // At replay: the key was dropped since, by a `DROP INDEX ...
        // CASCADE` that dropped this constraint.
        if replay {
            return Ok(None);
        }
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
                hint: None,
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

/// The foreign keys of tables not in `tables` that reference a table in
/// it, with their referencing tables.
pub(crate) fn referencing_from_outside(
    catalog: &Catalog,
    tables: &[GlobalId],
) -> Vec<(GlobalId, ForeignKey)> {
    catalog
        .all_foreign_keys()
        .filter(|(c, fk)| {
            (tables.contains(&fk.referenced) || tables.contains(&fk.key_index))
                && !tables.contains(c)
        })
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
