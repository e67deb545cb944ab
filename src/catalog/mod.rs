//! The catalog: every named item (tables, views, materialized views,
//! indexes, sources), its schema, its dependencies, and name resolution
//! through the `search_path`.
//!
//! The catalog is in memory; its durable form is the `CREATE` statement of
//! each item (and `CREATE SCHEMA` of each schema) in the durable store,
//! replayed in id order at start-up.
//!
//! Items live in schemas of the one database; names are unique per schema.
//! [`names`] resolves possibly-qualified names through a session's
//! `search_path`.

pub mod names;
pub mod pg_proc;
pub mod system;

use std::collections::BTreeMap;

use crate::expr::{GlobalId, RelationExpr, ScalarExpr};
use crate::repr::RelationDesc;

pub use names::{QualifiedName, Scope, SearchPath};

/// The schema every catalog starts with (it can be dropped, as in
/// PostgreSQL and Materialize).
pub const DEFAULT_SCHEMA: &str = "public";

/// The schema Materialize keeps introspection relations in; Freshet's system
/// relations live there. Users cannot create or drop anything in it.
pub const SYSTEM_SCHEMA: &str = "mz_internal";

/// What kind of item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A table.
    Table,
    /// A view (inlined where read).
    View,
    /// A materialized view (maintained by a dataflow).
    MaterializedView,
    /// An index (an arrangement of another item).
    Index,
    /// A source.
    Source,
    /// A connection to an external system.
    Connection,
    /// A secret (a password or key a connection uses).
    Secret,
    /// A sink (writes another item's changes to Kafka).
    Sink,
    /// A sequence (`CREATE SEQUENCE`, or a `serial` or identity column's).
    Sequence,
}

impl ItemKind {
    /// The SQL name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            ItemKind::Table => "table",
            ItemKind::View => "view",
            ItemKind::MaterializedView => "materialized view",
            ItemKind::Index => "index",
            ItemKind::Source => "source",
            ItemKind::Connection => "connection",
            ItemKind::Secret => "secret",
            ItemKind::Sink => "sink",
            ItemKind::Sequence => "sequence",
        }
    }
}

/// A table column's default and constraint.
#[derive(Debug, Clone)]
pub struct TableColumn {
    /// The default expression (evaluated on an empty row), if any.
    pub default: Option<ScalarExpr>,
}

/// A catalog item.
#[derive(Debug, Clone)]
pub struct CatalogItem {
    /// Its id.
    pub id: GlobalId,
    /// Its (unqualified) name, unique in its schema.
    pub name: String,
    /// Its schema (for an index: the indexed item's; for a source's
    /// outputs: the source's).
    pub schema: String,
    /// Its kind.
    pub kind: ItemKind,
    /// Its schema (for an index: the indexed item's).
    pub desc: RelationDesc,
    /// The statement that created it.
    pub create_sql: String,
    /// The items it reads.
    pub depends_on: Vec<GlobalId>,
    /// For views: the plan that is inlined; for materialized views: the plan
    /// the dataflow maintains.
    pub plan: Option<RelationExpr>,
    /// For tables: per-column defaults.
    pub table_columns: Vec<TableColumn>,
    /// For indexes: the indexed item, and the key expressions and their text.
    pub index: Option<IndexInfo>,
    /// Whether Freshet created it on its own (a source's subsource, a
    /// default index) rather than a user statement.
    pub owned_by: Option<GlobalId>,
}

/// What an index indexes.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    /// The indexed item.
    pub on: GlobalId,
    /// The key expressions over the item's rows.
    pub key: Vec<ScalarExpr>,
    /// The key expressions as written.
    pub key_text: Vec<String>,
}

/// The sequence a column default draws from: `nextval(<oid>)`, possibly
/// cast (`serial` and identity columns, `DEFAULT nextval('s')`).
pub fn default_sequence(e: &ScalarExpr) -> Option<GlobalId> {
    use crate::expr::func::VariadicFunc;
    use crate::expr::sequence::SequenceFunc;
    use crate::repr::Datum;
    match e {
        ScalarExpr::CallVariadic {
            func: VariadicFunc::Sequence(SequenceFunc::NextVal),
            exprs,
        } => match exprs.as_slice() {
            // The OID: a literal, possibly cast to `bigint`.
            [oid] if oid.is_constant() => match oid.eval(&[]) {
                Ok(Datum::Int64(oid)) => system::item_id(oid),
                Ok(Datum::Int32(oid)) => system::item_id(i64::from(oid)),
                _ => None,
            },
            _ => None,
        },
        ScalarExpr::CallUnary { expr, .. } => default_sequence(expr),
        _ => None,
    }
}

/// The catalog.
#[derive(Debug, Default)]
pub struct Catalog {
    items: BTreeMap<GlobalId, CatalogItem>,
    /// (schema, name) → item.
    by_name: BTreeMap<(String, String), GlobalId>,
    /// User schemas (not the system schema), with the id of their durable
    /// record.
    schemas: BTreeMap<String, GlobalId>,
    /// Counts the changes: every method that changes the catalog adds one.
    version: u64,
    /// Tables' `PRIMARY KEY` and `UNIQUE` constraints, by table.
    unique: BTreeMap<GlobalId, Vec<UniqueKey>>,
    /// Tables' `CHECK` constraints, by table, in name order (the order
    /// PostgreSQL checks them in).
    checks: BTreeMap<GlobalId, Vec<CheckConstraint>>,
    /// The durable records of `ALTER TABLE` statements that changed a
    /// table's constraints (`coord::alter_table`), by table: they go with
    /// the table.
    alter_records: BTreeMap<GlobalId, Vec<GlobalId>>,
    /// The one `ALTER TABLE ... ALTER COLUMN ... SET | DROP DEFAULT`
    /// record in force for a column, by table and column position (a
    /// later one replaces it: an earlier one may name a sequence dropped
    /// since).
    default_records: BTreeMap<(GlobalId, usize), GlobalId>,
    /// Tables' `FOREIGN KEY` constraints, by referencing table.
    foreign_keys: BTreeMap<GlobalId, Vec<ForeignKey>>,
    /// Sequences' definitions, by sequence.
    sequences: BTreeMap<GlobalId, SequenceDef>,
    /// Comments (`COMMENT ON`), by the kind of object, its id (an item's,
    /// a schema's record's, a constraint's) and `objsubid` (0 for the
    /// object, a column's position plus one for a column).
    comments: BTreeMap<(CommentClass, GlobalId, i32), Comment>,
}

/// What kind of object a comment is on: the catalog that holds the object
/// in PostgreSQL (`pg_description.classoid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommentClass {
    /// A relation (`pg_class`), or one of its columns.
    Relation,
    /// A schema (`pg_namespace`), by the id of its record.
    Namespace,
    /// A table's constraint (`pg_constraint`), by the constraint's id (a
    /// key's: its index's).
    Constraint,
}

/// A comment on an item or a column (`COMMENT ON ... IS 'text'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text (never empty: an empty comment removes it, as in
    /// PostgreSQL).
    pub text: String,
    /// The id of its durable record (`coord::comment`).
    pub record: GlobalId,
}

/// A sequence's definition (its values are the coordinator's:
/// `coord::sequence_objects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceDef {
    /// Its type: `smallint`, `integer` or `bigint`.
    pub typ: crate::repr::ScalarType,
    /// The step (never 0).
    pub increment: i64,
    /// The least value.
    pub min: i64,
    /// The greatest value.
    pub max: i64,
    /// The first value.
    pub start: i64,
    /// `CACHE` (kept and shown; each value is handed out by the
    /// coordinator, so sessions never hold values of their own).
    pub cache: i64,
    /// Whether it starts over after its last value.
    pub cycle: bool,
    /// The table column it belongs to (`serial`, identity, `OWNED BY`):
    /// the table and the column's position.
    pub owned_by: Option<(GlobalId, usize)>,
    /// For an identity column's sequence: whether the column is
    /// `GENERATED ALWAYS` (else `BY DEFAULT`).
    pub identity: Option<bool>,
    /// Whether its table's `CREATE TABLE` made it (a `serial` or identity
    /// column), or an `ALTER TABLE ... ADD GENERATED ... AS IDENTITY`:
    /// that record stands for it in the durable store.
    pub implicit: bool,
    /// For an implicit sequence: the table whose record makes it (its
    /// owner unless `ALTER SEQUENCE ... OWNED BY` changed that).
    pub maker: Option<GlobalId>,
}

/// A table's `CHECK` constraint; the coordinator enforces it
/// (`coord::check_constraints`).
#[derive(Debug, Clone)]
pub struct CheckConstraint {
    /// The constraint's name.
    pub name: String,
    /// Its id (its OID's).
    pub id: GlobalId,
    /// The condition, over the table's row.
    pub expr: ScalarExpr,
    /// The definition as `pg_get_constraintdef` shows it
    /// (`CHECK ((a > 0))`).
    pub definition: String,
    /// The definition as `pg_get_constraintdef(oid, true)` shows it
    /// (`CHECK (a > 0)`).
    pub pretty_definition: String,
    /// The columns the condition reads (positions in the table).
    pub columns: Vec<usize>,
    /// Whether the table's rows were checked when it was added (false for
    /// `NOT VALID`).
    pub validated: bool,
}

/// A table's `PRIMARY KEY` or `UNIQUE` constraint. Its index (an
/// arrangement on the key columns, owned by the table) serves reads; the
/// coordinator enforces it (`coord::constraints`).
#[derive(Debug, Clone)]
pub struct UniqueKey {
    /// The constraint's name (also its index's).
    pub name: String,
    /// The key columns (positions in the table).
    pub columns: Vec<usize>,
    /// Whether it is the primary key.
    pub primary: bool,
    /// Whether rows whose key has a NULL may repeat it (PostgreSQL's
    /// default; `NULLS NOT DISTINCT` turns it off).
    pub nulls_distinct: bool,
    /// Its index.
    pub index: GlobalId,
    /// Whether it is a constraint; `false` for a `CREATE UNIQUE INDEX`,
    /// which is enforced the same way but is no constraint (it is not in
    /// `pg_constraint`, and `DROP INDEX` drops it).
    pub constraint: bool,
}

/// What a foreign key does to the referencing rows when a referenced
/// key is deleted or changed (`ON DELETE` / `ON UPDATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferentialAction {
    /// `NO ACTION` (the default): an error at the end of the statement if
    /// the key is still referenced and no other row has it.
    NoAction,
    /// `RESTRICT`: an error if the row's key changes while referenced.
    Restrict,
    /// `CASCADE`: the referencing rows are deleted, or take the new key.
    Cascade,
    /// `SET NULL`: the referencing columns become NULL.
    SetNull,
    /// `SET DEFAULT`: the referencing columns take their defaults.
    SetDefault,
}

impl ReferentialAction {
    /// `pg_constraint.confupdtype`/`confdeltype`'s letter.
    pub fn letter(self) -> &'static str {
        match self {
            ReferentialAction::NoAction => "a",
            ReferentialAction::Restrict => "r",
            ReferentialAction::Cascade => "c",
            ReferentialAction::SetNull => "n",
            ReferentialAction::SetDefault => "d",
        }
    }

    /// The action as SQL writes it (`SET NULL`).
    pub fn sql(self) -> &'static str {
        match self {
            ReferentialAction::NoAction => "NO ACTION",
            ReferentialAction::Restrict => "RESTRICT",
            ReferentialAction::Cascade => "CASCADE",
            ReferentialAction::SetNull => "SET NULL",
            ReferentialAction::SetDefault => "SET DEFAULT",
        }
    }
}

/// A table's `FOREIGN KEY` constraint (MATCH SIMPLE): every row whose
/// key columns are all non-NULL has a row of the referenced table with
/// that key. The coordinator enforces it (`coord::foreign_keys`).
///
/// # Invariants
///
/// `columns` and `referenced_columns` have the same length, and
/// `referenced_columns` are, as a set, the columns of the referenced
/// table's `PRIMARY KEY` or `UNIQUE` constraint whose index is `key_index`.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// The constraint's name.
    pub name: String,
    /// Its id (its OID's).
    pub id: GlobalId,
    /// The referencing columns (positions in the table).
    pub columns: Vec<usize>,
    /// The referenced table.
    pub referenced: GlobalId,
    /// The referenced columns (positions in the referenced table), in
    /// the order written.
    pub referenced_columns: Vec<usize>,
    /// The index of the referenced table's key the columns match.
    pub key_index: GlobalId,
    /// `ON DELETE`.
    pub on_delete: ReferentialAction,
    /// `ON UPDATE`.
    pub on_update: ReferentialAction,
}

impl Catalog {
    /// The catalog's version, which every change (of an item or a schema)
    /// advances: a plan made at one version may not hold at another
    /// (`coord::prepared`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Adds an item.
    pub fn insert(&mut self, item: CatalogItem) {
        self.version += 1;
        self.by_name
            .insert((item.schema.clone(), item.name.clone()), item.id);
        self.items.insert(item.id, item);
    }

    /// Removes an item.
    pub fn remove(&mut self, id: GlobalId) -> Option<CatalogItem> {
        self.version += 1;
        // Comments on its constraints go with it.
        let constraints: Vec<GlobalId> = self
            .unique(id)
            .iter()
            .map(|k| k.index)
            .chain(self.checks(id).iter().map(|c| c.id))
            .chain(self.foreign_keys(id).iter().map(|f| f.id))
            .collect();
        self.comments.retain(|(class, item, _), _| {
            *item != id && !(*class == CommentClass::Constraint && constraints.contains(item))
        });
        self.unique.remove(&id);
        self.sequences.remove(&id);
        self.checks.remove(&id);
        self.alter_records.remove(&id);
        self.default_records.retain(|(table, _), _| *table != id);
        self.foreign_keys.remove(&id);
        let item = self.items.remove(&id)?;
        self.by_name
            .remove(&(item.schema.clone(), item.name.clone()));
        Some(item)
    }

    /// Renames an item in its schema (`ALTER ... RENAME TO`): everything
    /// else refers to it by id, so only the name maps change.
    pub fn rename_item(&mut self, id: GlobalId, new: &str) {
        self.version += 1;
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        self.by_name
            .remove(&(item.schema.clone(), item.name.clone()));
        item.name = new.to_string();
        self.by_name
            .insert((item.schema.clone(), item.name.clone()), id);
    }

    /// Renames column `position` of relation `id` (`ALTER ... RENAME
    /// COLUMN`), and in the descriptions of the indexes on it, which copy
    /// its columns.
    pub fn rename_column(&mut self, id: GlobalId, position: usize, new: &str) {
        self.version += 1;
        for item in self.items.values_mut() {
            let on = item.index.as_ref().map(|i| i.on);
            if (item.id == id || on == Some(id))
                && let Some(column) = item.desc.columns.get_mut(position)
            {
                column.name = new.to_string();
            }
        }
    }

    /// Sets the key expressions' text of index `id` (a column rename
    /// changes it).
    pub fn set_index_key_text(&mut self, id: GlobalId, key_text: Vec<String>) {
        self.version += 1;
        if let Some(index) = self.items.get_mut(&id).and_then(|i| i.index.as_mut()) {
            index.key_text = key_text;
        }
    }

    /// Renames a user schema (`ALTER SCHEMA ... RENAME TO`), moving its
    /// items' names with it; its record's id (which comments on the
    /// schema are keyed by) stays.
    pub fn rename_schema(&mut self, old: &str, new: &str) {
        self.version += 1;
        let Some(id) = self.schemas.remove(old) else {
            return;
        };
        self.schemas.insert(new.to_string(), id);
        for item in self.items.values_mut().filter(|i| i.schema == old) {
            self.by_name
                .remove(&(item.schema.clone(), item.name.clone()));
            item.schema = new.to_string();
            self.by_name
                .insert((item.schema.clone(), item.name.clone()), item.id);
        }
    }

    /// Replaces an item's stored statement (a rename rewrote the names in
    /// it).
    pub fn set_create_sql(&mut self, id: GlobalId, sql: String) {
        if let Some(item) = self.items.get_mut(&id) {
            item.create_sql = sql;
        }
    }

    /// Sets a table's `PRIMARY KEY` and `UNIQUE` constraints.
    pub fn set_unique(&mut self, table: GlobalId, keys: Vec<UniqueKey>) {
        self.version += 1;
        if keys.is_empty() {
            self.unique.remove(&table);
        } else {
            self.unique.insert(table, keys);
        }
    }

    /// A table's `PRIMARY KEY` and `UNIQUE` constraints.
    pub fn unique(&self, table: GlobalId) -> &[UniqueKey] {
        self.unique.get(&table).map_or(&[], |k| k.as_slice())
    }

    /// Sets a table's `CHECK` constraints (kept in name order).
    pub fn set_checks(&mut self, table: GlobalId, mut checks: Vec<CheckConstraint>) {
        self.version += 1;
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        if checks.is_empty() {
            self.checks.remove(&table);
        } else {
            self.checks.insert(table, checks);
        }
    }

    /// A table's `CHECK` constraints, in name order.
    pub fn checks(&self, table: GlobalId) -> &[CheckConstraint] {
        self.checks.get(&table).map_or(&[], |k| k.as_slice())
    }

    /// Every table's `CHECK` constraints.
    pub fn all_checks(&self) -> impl Iterator<Item = (GlobalId, &CheckConstraint)> {
        self.checks
            .iter()
            .flat_map(|(t, checks)| checks.iter().map(move |k| (*t, k)))
    }

    /// Sets a table's `FOREIGN KEY` constraints.
    pub fn set_foreign_keys(&mut self, table: GlobalId, keys: Vec<ForeignKey>) {
        self.version += 1;
        if keys.is_empty() {
            self.foreign_keys.remove(&table);
        } else {
            self.foreign_keys.insert(table, keys);
        }
    }

    /// A table's `FOREIGN KEY` constraints.
    pub fn foreign_keys(&self, table: GlobalId) -> &[ForeignKey] {
        self.foreign_keys.get(&table).map_or(&[], |k| k.as_slice())
    }

    /// Every table's `FOREIGN KEY` constraints, with the referencing
    /// table.
    pub fn all_foreign_keys(&self) -> impl Iterator<Item = (GlobalId, &ForeignKey)> {
        self.foreign_keys
            .iter()
            .flat_map(|(t, keys)| keys.iter().map(move |k| (*t, k)))
    }

    /// The `FOREIGN KEY` constraints that reference `table`, with their
    /// referencing tables.
    pub fn referencing(&self, table: GlobalId) -> impl Iterator<Item = (GlobalId, &ForeignKey)> {
        self.all_foreign_keys()
            .filter(move |(_, k)| k.referenced == table)
    }

    /// Records that durable record `record` (an `ALTER TABLE`) belongs to
    /// `table`.
    pub fn add_alter_record(&mut self, table: GlobalId, record: GlobalId) {
        self.alter_records.entry(table).or_default().push(record);
    }

    /// Forgets durable record `record` of `table`.
    pub fn remove_alter_record(&mut self, table: GlobalId, record: GlobalId) {
        if let Some(records) = self.alter_records.get_mut(&table) {
            records.retain(|r| *r != record);
        }
    }

    /// Sets (`Some`) or removes (`None`) the comment on object `id` of
    /// `class` (`sub` 0) or on its column `sub - 1`; returns the one it
    /// replaces.
    pub fn set_comment(
        &mut self,
        class: CommentClass,
        id: GlobalId,
        sub: i32,
        comment: Option<Comment>,
    ) -> Option<Comment> {
        self.version += 1;
        match comment {
            Some(c) => self.comments.insert((class, id, sub), c),
            None => self.comments.remove(&(class, id, sub)),
        }
    }

    /// The comment on object `id` of `class` (`sub` 0) or on its column
    /// `sub - 1`.
    pub fn comment(&self, class: CommentClass, id: GlobalId, sub: i32) -> Option<&Comment> {
        self.comments.get(&(class, id, sub))
    }

    /// Every comment: the kind of object, its id, the `objsubid`, the
    /// comment.
    pub fn comments(&self) -> impl Iterator<Item = (CommentClass, GlobalId, i32, &Comment)> {
        self.comments
            .iter()
            .map(|((class, id, sub), c)| (*class, *id, *sub, c))
    }

    /// Sets the record of the default of column `column` of `table`,
    /// returning the one it replaces.
    pub fn set_default_record(
        &mut self,
        table: GlobalId,
        column: usize,
        record: GlobalId,
    ) -> Option<GlobalId> {
        self.default_records.insert((table, column), record)
    }

    /// The record of the last `SET | DROP DEFAULT` of column `column` of
    /// `table`, if any (else its default is its `CREATE TABLE`'s).
    pub fn default_record(&self, table: GlobalId, column: usize) -> Option<GlobalId> {
        self.default_records.get(&(table, column)).copied()
    }

    /// The durable `ALTER TABLE` records of `table`.
    pub fn alter_records(&self, table: GlobalId) -> &[GlobalId] {
        self.alter_records.get(&table).map_or(&[], |r| r.as_slice())
    }

    /// Every table's unique keys: constraints and unique indexes.
    pub fn all_unique(&self) -> impl Iterator<Item = (GlobalId, &UniqueKey)> {
        self.unique
            .iter()
            .flat_map(|(t, keys)| keys.iter().map(move |k| (*t, k)))
    }

    /// Every table's `PRIMARY KEY` and `UNIQUE` constraints.
    pub fn all_unique_constraints(&self) -> impl Iterator<Item = (GlobalId, &UniqueKey)> {
        self.all_unique().filter(|(_, k)| k.constraint)
    }

    /// The constraint an index serves, with its table, if any.
    pub fn constraint_of_index(&self, index: GlobalId) -> Option<(GlobalId, &UniqueKey)> {
        self.all_unique_constraints()
            .find(|(_, k)| k.index == index)
    }

    /// The unique key an index enforces (a constraint's or its own, a
    /// unique index), with its table, if any.
    pub fn unique_key_of_index(&self, index: GlobalId) -> Option<(GlobalId, &UniqueKey)> {
        self.all_unique().find(|(_, k)| k.index == index)
    }

    /// Sets a sequence's definition.
    pub fn set_sequence(&mut self, id: GlobalId, def: SequenceDef) {
        self.version += 1;
        self.sequences.insert(id, def);
    }

    /// A sequence's definition.
    pub fn sequence(&self, id: GlobalId) -> Option<&SequenceDef> {
        self.sequences.get(&id)
    }

    /// Every sequence's definition.
    pub fn sequences(&self) -> impl Iterator<Item = (GlobalId, &SequenceDef)> {
        self.sequences.iter().map(|(id, d)| (*id, d))
    }

    /// Whether column `column` of `table` is an identity column: `Some(true)`
    /// for `GENERATED ALWAYS`, `Some(false)` for `BY DEFAULT`.
    pub fn identity(&self, table: GlobalId, column: usize) -> Option<bool> {
        self.sequence(self.sequence_of_column(table, column)?)?
            .identity
    }

    /// The sequence owned by column `column` of `table`, if any.
    pub fn sequence_of_column(&self, table: GlobalId, column: usize) -> Option<GlobalId> {
        self.sequences
            .iter()
            .find(|(_, d)| d.owned_by == Some((table, column)))
            .map(|(id, _)| *id)
    }

    /// The item with this id.
    pub fn get(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.get(&id)
    }

    /// The item named `name` in `schema`.
    pub fn lookup_in(&self, schema: &str, name: &str) -> Option<&CatalogItem> {
        self.by_name
            .get(&(schema.to_string(), name.to_string()))
            .and_then(|id| self.items.get(id))
    }

    /// Adds a user schema.
    pub fn insert_schema(&mut self, name: String, id: GlobalId) {
        self.version += 1;
        self.schemas.insert(name, id);
    }

    /// Removes a user schema (its items must be gone already); returns the
    /// id of its durable record.
    pub fn remove_schema(&mut self, name: &str) -> Option<GlobalId> {
        self.version += 1;
        let id = self.schemas.remove(name)?;
        self.comments
            .retain(|(class, item, _), _| !(*class == CommentClass::Namespace && *item == id));
        Some(id)
    }

    /// The id of a user schema's durable record.
    pub fn schema_id(&self, name: &str) -> Option<GlobalId> {
        self.schemas.get(name).copied()
    }

    /// Whether a schema exists (a user schema or the system schema).
    pub fn schema_exists(&self, name: &str) -> bool {
        name == SYSTEM_SCHEMA || system::is_catalog_schema(name) || self.schemas.contains_key(name)
    }

    /// All schemas, user schemas and the system schema, by name.
    pub fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.schemas.keys().cloned().collect();
        names.push(SYSTEM_SCHEMA.to_string());
        names.sort();
        names
    }

    /// All items, in id order.
    pub fn items(&self) -> impl Iterator<Item = &CatalogItem> {
        self.items.values()
    }

    /// The items that depend on `id`, directly or indirectly, in an order
    /// where dependents come before what they depend on.
    pub fn dependents(&self, id: GlobalId) -> Vec<GlobalId> {
        let mut out = Vec::new();
        self.collect_dependents(id, &mut out);
        out
    }

    fn collect_dependents(&self, id: GlobalId, out: &mut Vec<GlobalId>) {
        // Later ids can only depend on earlier ones; walk newest first.
        for item in self.items.values().rev() {
            if item.depends_on.contains(&id) && !out.contains(&item.id) {
                self.collect_dependents(item.id, out);
                out.push(item.id);
            }
        }
    }

    /// The index on `on` whose key is exactly the given columns, if any.
    pub fn indexes_on(&self, on: GlobalId) -> Vec<&CatalogItem> {
        self.items
            .values()
            .filter(|i| i.index.as_ref().is_some_and(|x| x.on == on))
            .collect()
    }
}
