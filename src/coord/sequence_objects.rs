//! Sequences: `CREATE SEQUENCE`, `DROP SEQUENCE`, the sequences behind
//! `serial` and identity columns, and the state `nextval`, `currval`,
//! `setval` and `lastval` read and change, with PostgreSQL's semantics and
//! messages.
//!
//! A sequence's definition is in the catalog ([`SequenceDef`]); its value
//! is here, in [`Sequences`], behind a lock of its own (a `nextval` runs
//! while a query's rows are computed, outside the coordinator's lock).
//! Sequence calls are evaluated only in the coordinator, which lends the
//! evaluator a [`StatementAccess`] while it computes rows
//! ([`Coordinator::with_sequences`]); a plan that would call one in a
//! dataflow is refused, and a maintained view may not call one at all.
//!
//! **Durability** is PostgreSQL's: a value is never handed out twice, even
//! after `kill -9`, and values may be skipped after a crash. Before
//! handing out a value past the last one written, the value 32 steps
//! further (more for a statement that has already drawn more than 32) is
//! written to the durable store as where the sequence resumes: one write
//! per 32 values, as PostgreSQL logs a sequence every 32 values. `setval`
//! writes at once. As in PostgreSQL, sequences are not transactional: a
//! rolled-back transaction keeps the values it drew.
//!
//! `CACHE` is accepted and shown, but values are not cached per session:
//! every session draws from the one sequence.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use sqlparser::ast::{DataType, Expr, ObjectName, SequenceOptions, UnaryOperator, Value};

use crate::catalog::{Catalog, CatalogItem, ItemKind, QualifiedName, SequenceDef};
use crate::expr::func::VariadicFunc;
use crate::expr::sequence::{SequenceAccess, SequenceFunc};
use crate::expr::{EvalError, GlobalId, ScalarExpr};
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType, SqlState};
use crate::sql::PlanError;
use crate::storage::durable::{Commit, DurableStore, SequenceValue};

use super::AdapterError;

/// How many values past the one handed out are written ahead
/// (PostgreSQL's `SEQ_LOG_VALS`).
const LOG_VALUES: i64 = 32;

/// The columns of a sequence read as a relation (`SELECT * FROM s`).
pub fn sequence_desc() -> RelationDesc {
    RelationDesc {
        columns: vec![
            ColumnDesc {
                name: "last_value".into(),
                typ: ScalarType::Int64,
                nullable: false,
            },
            ColumnDesc {
                name: "log_cnt".into(),
                typ: ScalarType::Int64,
                nullable: false,
            },
            ColumnDesc {
                name: "is_called".into(),
                typ: ScalarType::Bool,
                nullable: false,
            },
        ],
    }
}

/// A sequence's value.
#[derive(Debug, Clone)]
struct SequenceState {
    /// Its name, for messages.
    name: String,
    def: SequenceDef,
    last_value: i64,
    is_called: bool,
    /// How many more values may be handed out before the next durable
    /// write.
    log_cnt: i64,
}

impl SequenceState {
    fn new(name: String, def: SequenceDef) -> SequenceState {
        SequenceState {
            name,
            last_value: def.start,
            is_called: false,
            log_cnt: 0,
            def,
        }
    }

    /// The value after `v`, or the error of a sequence at its end.
    fn step(&self, v: i64) -> Result<i64, EvalError> {
        let d = &self.def;
        let next = i128::from(v) + i128::from(d.increment);
        if d.increment > 0 && next > i128::from(d.max) {
            if d.cycle {
                return Ok(d.min);
            }
            return Err(limit(format!(
                "nextval: reached maximum value of sequence \"{}\" ({})",
                self.name, d.max
            )));
        }
        if d.increment < 0 && next < i128::from(d.min) {
            if d.cycle {
                return Ok(d.max);
            }
            return Err(limit(format!(
                "nextval: reached minimum value of sequence \"{}\" ({})",
                self.name, d.min
            )));
        }
        Ok(next as i64)
    }

    /// The value `nextval` hands out next.
    fn next(&self) -> Result<i64, EvalError> {
        if self.is_called {
            self.step(self.last_value)
        } else {
            Ok(self.last_value)
        }
    }
}

fn limit(message: String) -> EvalError {
    EvalError::Parse {
        code: SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED,
        message,
    }
}

fn not_yet_defined(message: String) -> EvalError {
    EvalError::Parse {
        code: SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        message,
    }
}

/// Every sequence's value.
pub struct Sequences {
    store: Arc<DurableStore>,
    states: Mutex<BTreeMap<GlobalId, SequenceState>>,
}

impl Sequences {
    /// No sequences, written to `store`.
    pub fn new(store: Arc<DurableStore>) -> Sequences {
        Sequences {
            store,
            states: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<GlobalId, SequenceState>> {
        // A panic while holding the lock leaves consistent states (each
        // change is one assignment after the durable write).
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a sequence at its start.
    pub fn create(&self, id: GlobalId, name: &str, def: &SequenceDef) {
        self.lock()
            .insert(id, SequenceState::new(name.to_string(), def.clone()));
    }

    /// Removes a sequence.
    pub fn remove(&self, id: GlobalId) {
        self.lock().remove(&id);
    }

    /// Sets a sequence's value from the durable store (at start-up).
    pub fn restore(&self, id: GlobalId, value: SequenceValue) {
        if let Some(s) = self.lock().get_mut(&id) {
            s.last_value = value.last_value;
            s.is_called = value.is_called;
            s.log_cnt = 0;
        }
    }

    /// Changes a sequence's definition (`ALTER SEQUENCE`) under its lock,
    /// so no value is drawn meanwhile: `change` gets the current value and
    /// gives the new definition, the value `RESTART` sets, and the commit
    /// the value is written with (`None` when replaying: nothing is
    /// written, the value is restored afterwards).
    pub fn alter(
        &self,
        id: GlobalId,
        change: impl FnOnce(i64) -> Result<(SequenceDef, Option<i64>, Option<Commit>), AdapterError>,
    ) -> Result<(), AdapterError> {
        let mut states = self.lock();
        let s = states
            .get_mut(&id)
            .ok_or_else(|| AdapterError::from(no_sequence(id)))?;
        let (def, restart, commit) = change(s.last_value)?;
        let (last_value, is_called) = match restart {
            Some(v) => (v, false),
            None => (s.last_value, s.is_called),
        };
        if let Some(commit) = commit {
            self.store
                .commit(Commit {
                    sequence_values: vec![(
                        id,
                        SequenceValue {
                            last_value,
                            is_called,
                        },
                    )],
                    ..commit
                })
                .map_err(|e| AdapterError::Storage(e.to_string()))?;
        }
        s.def = def;
        s.last_value = last_value;
        s.is_called = is_called;
        s.log_cnt = 0;
        Ok(())
    }

    /// The row `SELECT * FROM s` reads.
    pub fn row(&self, id: GlobalId) -> Option<Row> {
        let states = self.lock();
        let s = states.get(&id)?;
        Some(Row::pack(&[
            Datum::Int64(s.last_value),
            Datum::Int64(s.log_cnt),
            Datum::Bool(s.is_called),
        ]))
    }

    fn write(&self, id: GlobalId, value: SequenceValue) -> Result<(), EvalError> {
        self.store
            .commit(Commit {
                sequence_values: vec![(id, value)],
                ..Default::default()
            })
            .map_err(|e| EvalError::Internal(format!("writing a sequence's value: {e}")))
    }

    /// `nextval`: `drawn` is how many values the statement drew before.
    fn nextval(&self, id: GlobalId, drawn: u64) -> Result<i64, EvalError> {
        let mut states = self.lock();
        let s = states.get_mut(&id).ok_or_else(|| no_sequence(id))?;
        let next = s.next()?;
        if s.log_cnt <= 0 || !s.is_called {
            // Write ahead: the sequence resumes past `ahead` more values.
            let ahead = LOG_VALUES.max(i64::try_from(drawn).unwrap_or(i64::MAX));
            let mut logged = next;
            let mut count = 0;
            let probe = SequenceState {
                last_value: next,
                is_called: true,
                ..s.clone()
            };
            while count < ahead {
                match probe.step(logged) {
                    Ok(v) => logged = v,
                    Err(_) => break,
                }
                count += 1;
            }
            self.write(
                id,
                SequenceValue {
                    last_value: logged,
                    is_called: true,
                },
            )?;
            s.log_cnt = count;
        } else {
            s.log_cnt -= 1;
        }
        s.last_value = next;
        s.is_called = true;
        Ok(next)
    }

    /// `setval`.
    fn setval(&self, id: GlobalId, value: i64, is_called: bool) -> Result<(), EvalError> {
        let mut states = self.lock();
        let s = states.get_mut(&id).ok_or_else(|| no_sequence(id))?;
        if value < s.def.min || value > s.def.max {
            return Err(EvalError::Parse {
                code: SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                message: format!(
                    "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                    s.name, s.def.min, s.def.max
                ),
            });
        }
        self.write(
            id,
            SequenceValue {
                last_value: value,
                is_called,
            },
        )?;
        s.last_value = value;
        s.is_called = is_called;
        s.log_cnt = 0;
        Ok(())
    }

    fn name(&self, id: GlobalId) -> Result<String, EvalError> {
        self.lock()
            .get(&id)
            .map(|s| s.name.clone())
            .ok_or_else(|| no_sequence(id))
    }
}

/// The error for an OID that names no sequence.
fn no_sequence(id: GlobalId) -> EvalError {
    EvalError::Parse {
        code: SqlState::INTERNAL_ERROR,
        message: format!(
            "could not open relation with OID {}",
            crate::catalog::system::item_oid(id)
        ),
    }
}

/// A session's sequence values: what `currval` and `lastval` read.
#[derive(Debug, Default)]
pub struct SessionSequences {
    /// The value `nextval` (or `setval` with `is_called`) last gave, by
    /// sequence.
    current: HashMap<GlobalId, i64>,
    /// The sequence `nextval` last advanced.
    last: Option<GlobalId>,
}

/// A session's [`SessionSequences`], shared with its running statement.
pub type SessionSequencesRef = Arc<Mutex<SessionSequences>>;

tokio::task_local! {
    /// The running statement's session's sequence values.
    static SESSION_SEQUENCES: SessionSequencesRef;
}

/// Runs a statement's future with its session's sequence values.
pub(super) async fn with_session_sequences<T>(
    session: SessionSequencesRef,
    f: impl std::future::Future<Output = T>,
) -> T {
    SESSION_SEQUENCES.scope(session, f).await
}

/// What a statement's sequence calls reach: the sequences and the
/// session's values.
pub struct StatementAccess {
    sequences: Arc<Sequences>,
    session: SessionSequencesRef,
    /// How many values this access has drawn.
    drawn: Cell<u64>,
}

fn oid_arg(args: &[Datum]) -> Result<GlobalId, EvalError> {
    match args.first() {
        Some(Datum::Int64(oid)) => {
            crate::catalog::system::item_id(*oid).ok_or_else(|| EvalError::Parse {
                code: SqlState::INTERNAL_ERROR,
                message: format!("could not open relation with OID {oid}"),
            })
        }
        other => Err(EvalError::Internal(format!(
            "sequence function of {other:?}"
        ))),
    }
}

impl SequenceAccess for StatementAccess {
    fn call(&self, func: SequenceFunc, args: &[Datum]) -> Result<Datum, EvalError> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        match func {
            SequenceFunc::NextVal => {
                let id = oid_arg(args)?;
                let v = self.sequences.nextval(id, self.drawn.get())?;
                self.drawn.set(self.drawn.get() + 1);
                session.current.insert(id, v);
                session.last = Some(id);
                Ok(Datum::Int64(v))
            }
            SequenceFunc::CurrVal => {
                let id = oid_arg(args)?;
                let name = self.sequences.name(id)?;
                match session.current.get(&id) {
                    Some(v) => Ok(Datum::Int64(*v)),
                    None => Err(not_yet_defined(format!(
                        "currval of sequence \"{name}\" is not yet defined in this session"
                    ))),
                }
            }
            SequenceFunc::SetVal => {
                let id = oid_arg(args)?;
                let (value, is_called) = match args {
                    [_, Datum::Int64(v)] => (*v, true),
                    [_, Datum::Int64(v), Datum::Bool(c)] => (*v, *c),
                    other => {
                        return Err(EvalError::Internal(format!("setval of {other:?}")));
                    }
                };
                self.sequences.setval(id, value, is_called)?;
                if is_called {
                    session.current.insert(id, value);
                }
                Ok(Datum::Int64(value))
            }
            SequenceFunc::LastVal => {
                let undefined =
                    || not_yet_defined("lastval is not yet defined in this session".into());
                let id = session.last.ok_or_else(undefined)?;
                // A dropped sequence's value is gone with it.
                self.sequences.name(id).map_err(|_| undefined())?;
                session
                    .current
                    .get(&id)
                    .map(|v| Datum::Int64(*v))
                    .ok_or_else(undefined)
            }
        }
    }
}

impl super::Coordinator {
    /// Runs `f` (which evaluates a statement's expressions) with the
    /// statement's sequence calls answered.
    pub(super) fn with_sequences<R>(&self, f: impl FnOnce() -> R) -> R {
        let session = SESSION_SEQUENCES
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Arc::new(Mutex::new(SessionSequences::default())));
        let access = Rc::new(StatementAccess {
            sequences: self.sequences.clone(),
            session,
            drawn: Cell::new(0),
        });
        crate::expr::sequence::with_access(access, f)
    }
}

/// Whether `e` calls a sequence function.
/// The sequences `e` names in calls of sequence functions (as a constant
/// OID, as planned defaults name them).
pub fn sequences_called(e: &ScalarExpr) -> Vec<GlobalId> {
    let mut found = Vec::new();
    let mut e = e.clone();
    e.visit_mut(&mut |x| {
        if let ScalarExpr::CallVariadic {
            func: VariadicFunc::Sequence(_),
            exprs,
        } = x
            && let Some(oid) = exprs.first()
            && oid.is_constant()
        {
            let id = match oid.eval(&[]) {
                Ok(Datum::Int64(oid)) => crate::catalog::system::item_id(oid),
                Ok(Datum::Int32(oid)) => crate::catalog::system::item_id(i64::from(oid)),
                _ => None,
            };
            found.extend(id);
        }
    });
    found
}

pub fn calls_sequence(e: &ScalarExpr) -> bool {
    let mut found = false;
    let mut e = e.clone();
    e.visit_mut(&mut |x| {
        if matches!(
            x,
            ScalarExpr::CallVariadic {
                func: VariadicFunc::Sequence(_),
                ..
            }
        ) {
            found = true;
        }
    });
    found
}

pub use crate::catalog::default_sequence;

/// `nextval(<oid>)`, as a default draws from sequence `id`, cast to `typ`.
pub fn nextval_default(id: GlobalId, typ: &ScalarType) -> ScalarExpr {
    let call = ScalarExpr::CallVariadic {
        func: VariadicFunc::Sequence(SequenceFunc::NextVal),
        exprs: vec![ScalarExpr::Literal(Datum::Int64(
            crate::catalog::system::item_oid(id),
        ))],
    };
    if *typ == ScalarType::Int64 {
        call
    } else {
        call.cast(typ.clone())
    }
}

fn quote_name(n: &str) -> String {
    crate::expr::string_format::quote_ident(n)
}

/// PostgreSQL's errors for a definition (`22023`).
fn invalid(message: String) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::INVALID_PARAMETER_VALUE,
        message,
    }
}

/// An option's integer value.
fn integer(e: &Expr) -> Result<i64, AdapterError> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<i64>().map_err(|_| AdapterError::Variable {
                code: SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                message: format!("value \"{n}\" is out of range for type bigint"),
            }),
            _ => Err(syntax(e)),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => integer(expr)?.checked_neg().ok_or_else(|| syntax(e)),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => integer(expr),
        Expr::Nested(inner) => integer(inner),
        _ => Err(syntax(e)),
    }
}

fn syntax(e: &Expr) -> AdapterError {
    AdapterError::Variable {
        code: SqlState::SYNTAX_ERROR,
        message: format!("syntax error at or near \"{e}\""),
    }
}

/// The range of a sequence type.
fn type_range(typ: &ScalarType) -> (i64, i64) {
    match typ {
        ScalarType::Int16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
        ScalarType::Int32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    }
}

/// A sequence's type (`AS type`): `smallint`, `integer` or `bigint`.
pub fn sequence_type(t: Option<&DataType>) -> Result<ScalarType, AdapterError> {
    let Some(t) = t else {
        return Ok(ScalarType::Int64);
    };
    match crate::sql::types::scalar_type_from_sql(t)? {
        typ @ (ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64) => Ok(typ),
        _ => Err(invalid(
            "sequence type must be smallint, integer, or bigint".into(),
        )),
    }
}

/// A sequence's definition from its options, with PostgreSQL's defaults
/// and checks (`init_params` in PostgreSQL's `sequence.c`).
pub fn definition(
    typ: ScalarType,
    options: &[SequenceOptions],
) -> Result<SequenceDef, AdapterError> {
    init_params(None, Some(typ), options, None).map(|(def, _)| def)
}

/// What `ALTER SEQUENCE` starts from: the definition and the value.
pub struct Current<'a> {
    pub def: &'a SequenceDef,
    pub last_value: i64,
}

/// PostgreSQL's `init_params`: the definition of a new sequence
/// (`current` is `None`: every option not given takes its default) or of
/// an altered one (an option not given keeps its value; `AS type` resets a
/// bound that was the old type's limit), and the value `RESTART` sets.
/// The checks and their order are PostgreSQL's.
pub fn init_params(
    current: Option<Current<'_>>,
    typ: Option<ScalarType>,
    options: &[SequenceOptions],
    restart: Option<Option<&Expr>>,
) -> Result<(SequenceDef, Option<i64>), AdapterError> {
    let old = current.as_ref().map(|c| c.def);
    let mut increment = None;
    let mut min = None;
    let mut max = None;
    let mut start = None;
    let mut cache = None;
    let mut cycle = None;
    for o in options {
        let conflicting = || AdapterError::Variable {
            code: SqlState::SYNTAX_ERROR,
            message: "conflicting or redundant options".into(),
        };
        match o {
            SequenceOptions::IncrementBy(e, _) => {
                if increment.replace(integer(e)?).is_some() {
                    return Err(conflicting());
                }
            }
            SequenceOptions::MinValue(e) => {
                let v = e.as_ref().map(integer).transpose()?;
                if min.replace(v).is_some() {
                    return Err(conflicting());
                }
            }
            SequenceOptions::MaxValue(e) => {
                let v = e.as_ref().map(integer).transpose()?;
                if max.replace(v).is_some() {
                    return Err(conflicting());
                }
            }
            SequenceOptions::StartWith(e, _) => {
                if start.replace(integer(e)?).is_some() {
                    return Err(conflicting());
                }
            }
            SequenceOptions::Cache(e) => {
                if cache.replace(integer(e)?).is_some() {
                    return Err(conflicting());
                }
            }
            // `sqlparser`'s flag is `NO`.
            SequenceOptions::Cycle(no) => {
                if cycle.replace(!*no).is_some() {
                    return Err(conflicting());
                }
            }
        }
    }
    // `AS type` on an altered sequence: a bound at the old type's limit
    // moves to the new type's.
    let (reset_min, reset_max) = match (old, &typ) {
        (Some(d), Some(_)) => {
            let (old_min, old_max) = type_range(&d.typ);
            (d.min == old_min, d.max == old_max)
        }
        _ => (false, false),
    };
    let typ = typ
        .or_else(|| old.map(|d| d.typ.clone()))
        .unwrap_or(ScalarType::Int64);
    let (type_min, type_max) = type_range(&typ);
    let increment = increment.or(old.map(|d| d.increment)).unwrap_or(1);
    if increment == 0 {
        return Err(invalid("INCREMENT must not be zero".into()));
    }
    let cycle = cycle.or(old.map(|d| d.cycle)).unwrap_or(false);
    let type_name = typ.name();
    let max = match (max, old) {
        (Some(Some(v)), _) => v,
        (None, Some(d)) if !reset_max => d.max,
        _ if increment > 0 || reset_max => type_max,
        _ => -1,
    };
    if max < type_min || max > type_max {
        return Err(invalid(format!(
            "MAXVALUE ({max}) is out of range for sequence data type {type_name}"
        )));
    }
    let min = match (min, old) {
        (Some(Some(v)), _) => v,
        (None, Some(d)) if !reset_min => d.min,
        _ if increment < 0 || reset_min => type_min,
        _ => 1,
    };
    if min < type_min || min > type_max {
        return Err(invalid(format!(
            "MINVALUE ({min}) is out of range for sequence data type {type_name}"
        )));
    }
    if min >= max {
        return Err(invalid(format!(
            "MINVALUE ({min}) must be less than MAXVALUE ({max})"
        )));
    }
    let start = match (start, old) {
        (Some(v), _) => v,
        (None, Some(d)) => d.start,
        (None, None) if increment > 0 => min,
        (None, None) => max,
    };
    if start < min {
        return Err(invalid(format!(
            "START value ({start}) cannot be less than MINVALUE ({min})"
        )));
    }
    if start > max {
        return Err(invalid(format!(
            "START value ({start}) cannot be greater than MAXVALUE ({max})"
        )));
    }
    // `RESTART [WITH n]`, or else the current value, within the bounds.
    let restart = match restart {
        Some(Some(e)) => Some(integer(e)?),
        Some(None) => Some(start),
        None => None,
    };
    if let Some(value) = restart.or(current.as_ref().map(|c| c.last_value)) {
        if value < min {
            return Err(invalid(format!(
                "RESTART value ({value}) cannot be less than MINVALUE ({min})"
            )));
        }
        if value > max {
            return Err(invalid(format!(
                "RESTART value ({value}) cannot be greater than MAXVALUE ({max})"
            )));
        }
    }
    let cache = cache.or(old.map(|d| d.cache)).unwrap_or(1);
    if cache <= 0 {
        return Err(invalid(format!(
            "CACHE ({cache}) must be greater than zero"
        )));
    }
    Ok((
        SequenceDef {
            typ,
            increment,
            min,
            max,
            start,
            cache,
            cycle,
            owned_by: old.and_then(|d| d.owned_by),
            identity: old.and_then(|d| d.identity),
            implicit: old.is_some_and(|d| d.implicit),
            maker: old.and_then(|d| d.maker),
        },
        restart,
    ))
}

/// The item of a sequence named `name`.
pub fn sequence_item(id: GlobalId, name: &QualifiedName, sql: &str) -> CatalogItem {
    CatalogItem {
        id,
        name: name.item.clone(),
        schema: name.schema.clone(),
        kind: ItemKind::Sequence,
        desc: sequence_desc(),
        create_sql: sql.to_string(),
        depends_on: vec![],
        plan: None,
        table_columns: vec![],
        index: None,
        owned_by: None,
    }
}

/// The `serial` type a column is declared with, as the integer type it
/// stands for.
pub fn serial_type(t: &DataType) -> Option<ScalarType> {
    let DataType::Custom(name, modifiers) = t else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    let [part] = name.0.as_slice() else {
        return None;
    };
    match part.as_ident()?.value.to_lowercase().as_str() {
        "smallserial" | "serial2" => Some(ScalarType::Int16),
        "serial" | "serial4" => Some(ScalarType::Int32),
        "bigserial" | "serial8" => Some(ScalarType::Int64),
        _ => None,
    }
}

/// The column an `OWNED BY table.column` names: the table and the
/// column's position.
pub fn owned_by_column(
    catalog: &Catalog,
    path: &crate::catalog::SearchPath,
    name: &ObjectName,
    schema: &str,
) -> Result<Option<(GlobalId, usize)>, AdapterError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .collect();
    if parts.len() == 1 && parts[0] == "none" {
        return Ok(None);
    }
    let Some((column, table)) = parts.split_last() else {
        return Err(invalid("invalid OWNED BY option".into()));
    };
    if table.is_empty() {
        return Err(AdapterError::Constraint {
            code: SqlState::SYNTAX_ERROR,
            message: "invalid OWNED BY option".into(),
            detail: None,
            hint: Some("Specify OWNED BY table.column or OWNED BY NONE.".into()),
        });
    }
    let table_name = ObjectName::from(
        table
            .iter()
            .map(|p| sqlparser::ast::Ident::with_quote('"', p.clone()))
            .collect::<Vec<_>>(),
    );
    let item = catalog
        .resolve(path, &table_name)?
        .ok_or_else(|| PlanError::UnknownItem {
            kind: "relation",
            name: table.join("."),
        })?;
    if item.kind != ItemKind::Table {
        return Err(PlanError::WrongObjectType(format!(
            "sequence cannot be owned by relation \"{}\"",
            item.name
        ))
        .into());
    }
    if item.schema != schema {
        return Err(AdapterError::Variable {
            code: SqlState::INVALID_PARAMETER_VALUE,
            message: "sequence must be in same schema as table it is linked to".into(),
        });
    }
    let position = item
        .desc
        .columns
        .iter()
        .position(|c| &c.name == column)
        .ok_or_else(|| {
            PlanError::UnknownColumn(format!("\"{column}\" of relation \"{}\"", item.name))
        })?;
    Ok(Some((item.id, position)))
}

/// Replaces the sequence named by the first argument of each `nextval`,
/// `currval` and `setval` call in `stmt` (`'s'` or `'s'::regclass`) by its
/// OID, which the planned functions take; with `None` (describing a
/// statement, where only types matter), by 0. A name that is no relation
/// is `42P01`; one of a relation that is not a sequence, `42809`.
pub fn resolve_sequence_args<V: sqlparser::ast::VisitMut>(
    stmt: &mut V,
    values: Option<(&Catalog, &crate::catalog::SearchPath)>,
) -> Result<(), AdapterError> {
    match stmt.visit(&mut SequenceArgs { values }) {
        std::ops::ControlFlow::Break(e) => Err(e),
        std::ops::ControlFlow::Continue(()) => Ok(()),
    }
}

struct SequenceArgs<'a> {
    values: Option<(&'a Catalog, &'a crate::catalog::SearchPath)>,
}

/// The name a sequence function's first argument gives as text, if it
/// does: `'s'` or `'s'::regclass` (`CAST('s' AS regclass)`).
pub(crate) fn sequence_name_arg(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        Expr::Nested(inner) => sequence_name_arg(inner),
        Expr::Cast { expr, .. } if super::catalog_funcs::catalog_cast(e) == Some("regclass") => {
            sequence_name_arg(expr)
        }
        _ => None,
    }
}

impl SequenceArgs<'_> {
    fn oid(&self, name: &str) -> Result<i64, AdapterError> {
        let Some((catalog, path)) = self.values else {
            return Ok(0);
        };
        let partial = super::catalog_funcs::parse_relation_name(name)?;
        // A catalog relation is a relation, not a sequence.
        if let Some(relation) = crate::catalog::system::resolve(&partial) {
            return Err(PlanError::WrongObjectType(format!(
                "\"{}\" is not a sequence",
                relation.name
            ))
            .into());
        }
        let item = super::catalog_funcs::resolve_relation_text(catalog, path, name)?;
        if item.kind != ItemKind::Sequence {
            return Err(
                PlanError::WrongObjectType(format!("\"{}\" is not a sequence", item.name)).into(),
            );
        }
        Ok(crate::catalog::system::item_oid(item.id))
    }
}

impl sqlparser::ast::VisitorMut for SequenceArgs<'_> {
    type Break = AdapterError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<AdapterError> {
        use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
        let Expr::Function(f) = expr else {
            return std::ops::ControlFlow::Continue(());
        };
        let name = match f.name.0.as_slice() {
            [part] => part.as_ident().map(|i| i.value.to_lowercase()),
            [schema, part]
                if schema
                    .as_ident()
                    .is_some_and(|s| s.value.eq_ignore_ascii_case("pg_catalog")) =>
            {
                part.as_ident().map(|i| i.value.to_lowercase())
            }
            _ => None,
        };
        if !matches!(name.as_deref(), Some("nextval" | "currval" | "setval")) {
            return std::ops::ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &mut f.args else {
            return std::ops::ControlFlow::Continue(());
        };
        let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut() else {
            return std::ops::ControlFlow::Continue(());
        };
        let Some(seq) = sequence_name_arg(first) else {
            return std::ops::ControlFlow::Continue(());
        };
        match self.oid(seq) {
            Ok(oid) => {
                *first = Expr::value(Value::Number(oid.to_string(), false));
                std::ops::ControlFlow::Continue(())
            }
            Err(e) => std::ops::ControlFlow::Break(e),
        }
    }
}

/// Qualifies the sequence names in `nextval('s')` calls of `e` (a column
/// default or a view's query, about to be stored), so that the stored statement names the
/// same sequence whatever the search path at start-up.
pub fn qualify_sequence_args<V: sqlparser::ast::VisitMut>(
    e: &mut V,
    catalog: &Catalog,
    path: &crate::catalog::SearchPath,
) -> Result<(), PlanError> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut error = None;
    let _ = sqlparser::ast::visit_expressions_mut(e, |x: &mut Expr| -> std::ops::ControlFlow<()> {
        let Expr::Function(f) = x else {
            return std::ops::ControlFlow::Continue(());
        };
        let is_sequence_call = f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
            ["nextval", "currval", "setval"]
                .iter()
                .any(|n| i.value.eq_ignore_ascii_case(n))
        });
        if !is_sequence_call {
            return std::ops::ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &mut f.args else {
            return std::ops::ControlFlow::Continue(());
        };
        let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut() else {
            return std::ops::ControlFlow::Continue(());
        };
        let Some(name) = sequence_name_arg(first).map(str::to_string) else {
            return std::ops::ControlFlow::Continue(());
        };
        let resolved = super::catalog_funcs::parse_relation_name(&name)
            .map_err(|e| PlanError::Internal(e.to_string()))
            .and_then(|partial| catalog.resolve_partial(path, &partial));
        match resolved {
            Ok(Some(item)) => {
                let q = QualifiedName {
                    schema: item.schema.clone(),
                    item: item.name.clone(),
                };
                *first = Expr::value(Value::SingleQuotedString(q.to_object_name().to_string()));
            }
            // Left for planning to report.
            Ok(None) => {}
            Err(e) => error = Some(e),
        }
        std::ops::ControlFlow::Continue(())
    });
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A sequence that a `CREATE TABLE` column declares (`serial`, or an
/// identity column): created with the table, owned by the column.
pub struct ColumnSequence {
    /// The column's position.
    pub column: usize,
    /// The definition (owned by the column).
    pub def: SequenceDef,
}

/// The identity a column option declares: `Some(always)` for
/// `GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY [(options)]`, with
/// the options.
pub fn identity_option(
    o: &sqlparser::ast::ColumnOption,
) -> Result<Option<(bool, Vec<SequenceOptions>)>, AdapterError> {
    use sqlparser::ast::{ColumnOption, GeneratedAs};
    match o {
        ColumnOption::Generated {
            generated_as,
            sequence_options,
            generation_expr: None,
            ..
        } => {
            let always = match generated_as {
                GeneratedAs::Always => true,
                GeneratedAs::ByDefault => false,
                GeneratedAs::ExpStored => {
                    return Err(PlanError::Unsupported("generated columns".into()).into());
                }
            };
            Ok(Some((always, sequence_options.clone().unwrap_or_default())))
        }
        ColumnOption::Generated { .. } => {
            Err(PlanError::Unsupported("generated columns".into()).into())
        }
        _ => Ok(None),
    }
}

/// The name of the sequence of column `column` of `table`:
/// PostgreSQL's `table_column_seq`, numbered (`…_seq1`) while `taken`.
pub fn column_sequence_name(table: &str, column: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let mut name = super::constraints::make_object_name(table, column, "seq");
    let mut pass = 0;
    while taken(&name) {
        pass += 1;
        name = super::constraints::make_object_name(table, column, &format!("seq{pass}"));
    }
    name
}

impl super::Coordinator {
    /// `CREATE SEQUENCE`.
    pub(crate) fn create_sequence(
        &self,
        state: &mut super::CoordState,
        stmt: &sqlparser::ast::Statement,
        sql: &str,
        replay_id: Option<GlobalId>,
    ) -> Result<super::ExecuteResponse, AdapterError> {
        let sqlparser::ast::Statement::CreateSequence {
            temporary,
            if_not_exists,
            name,
            data_type,
            sequence_options,
            owned_by,
        } = stmt
        else {
            return Err(AdapterError::Internal("not CREATE SEQUENCE".into()));
        };
        if *temporary {
            return Err(PlanError::Unsupported("temporary sequences".into()).into());
        }
        let qname = super::ddl::item_name(name)?;
        if state.lookup(name)?.is_some() && *if_not_exists {
            return Ok(super::ExecuteResponse::CommandWithNotice {
                tag: "CREATE SEQUENCE".into(),
                notices: vec![super::sequence::Notice::from(format!(
                    "relation \"{}\" already exists, skipping",
                    qname.item
                ))],
            });
        }
        // PostgreSQL's word: sequences share the relations' names.
        state
            .check_name_free(&qname)
            .map_err(|_| PlanError::AlreadyExists {
                kind: "relation",
                name: qname.item.clone(),
            })?;
        let typ = sequence_type(data_type.as_ref())?;
        let mut def = definition(typ, sequence_options)?;
        def.owned_by = match owned_by {
            Some(owner) => owned_by_column(
                &state.catalog,
                &super::names::qualified(),
                owner,
                &qname.schema,
            )?,
            None => None,
        };
        let id = state.allocate_id(replay_id);
        state.persist_item(id, &qname.item, sql, replay_id.is_some())?;
        let mut item = sequence_item(id, &qname, sql);
        item.owned_by = def.owned_by.map(|(table, _)| table);
        state.catalog.insert(item);
        state.catalog.set_sequence(id, def.clone());
        self.sequences.create(id, &qname.item, &def);
        Ok(super::ExecuteResponse::command("CREATE SEQUENCE"))
    }

    /// Replays the record of a `DROP SEQUENCE` of a `serial` column's
    /// sequence whose table stayed (`drop::drop_objects`): the table's
    /// record made the sequence again, this drops it. The record goes with
    /// the table.
    pub(crate) fn replay_drop_sequence(
        &self,
        state: &mut super::CoordState,
        names: &[ObjectName],
        record: GlobalId,
    ) -> Result<super::ExecuteResponse, AdapterError> {
        state.allocate_id(Some(record));
        for name in names {
            let item = state
                .catalog
                .resolve(&super::names::qualified(), name)?
                .filter(|i| i.kind == ItemKind::Sequence)
                .ok_or_else(|| AdapterError::Internal(format!("no sequence {name} to drop")))?;
            let id = item.id;
            let table = state.catalog.sequence(id).and_then(|d| d.maker);
            state.catalog.remove(id);
            self.sequences.remove(id);
            if let Some(table) = table {
                state.catalog.add_alter_record(table, record);
            }
        }
        Ok(super::ExecuteResponse::command("DROP SEQUENCE"))
    }

    /// Creates the sequences of a new table's `serial` and identity
    /// columns (after the table's other ids: during replay too, as for
    /// its constraints' indexes), and sets the columns' defaults to draw
    /// from them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_column_sequences(
        &self,
        state: &mut super::CoordState,
        table: &QualifiedName,
        table_id: GlobalId,
        columns: &[ColumnDesc],
        defaults: &mut [crate::catalog::TableColumn],
        sequences: Vec<ColumnSequence>,
        taken_names: &[String],
        replaying: bool,
    ) -> Result<(), AdapterError> {
        let mut chosen: Vec<String> = Vec::new();
        for mut cs in sequences {
            let column = &columns[cs.column];
            let seq_name = column_sequence_name(&table.item, &column.name, &|n| {
                chosen.iter().chain(taken_names).any(|c| c == n)
                    || state
                        .check_name_free(&QualifiedName {
                            schema: table.schema.clone(),
                            item: n.to_string(),
                        })
                        .is_err()
            });
            let forced = replaying.then_some(GlobalId(state.next_id));
            let id = state.allocate_id(forced);
            cs.def.owned_by = Some((table_id, cs.column));
            cs.def.implicit = true;
            cs.def.maker = Some(table_id);
            let qname = QualifiedName {
                schema: table.schema.clone(),
                item: seq_name.clone(),
            };
            let sql = format!(
                "CREATE SEQUENCE {} AS {} OWNED BY {}.{}",
                qname.to_object_name(),
                cs.def.typ.name(),
                QualifiedName {
                    schema: table.schema.clone(),
                    item: table.item.clone(),
                }
                .to_object_name(),
                quote_name(&column.name)
            );
            let mut item = sequence_item(id, &qname, &sql);
            item.owned_by = Some(table_id);
            state.catalog.insert(item);
            state.catalog.set_sequence(id, cs.def.clone());
            self.sequences.create(id, &seq_name, &cs.def);
            defaults[cs.column].default = Some(nextval_default(id, &column.typ));
            chosen.push(seq_name);
        }
        Ok(())
    }
}

/// A column whose default draws from a sequence.
pub struct DefaultUser {
    pub table: GlobalId,
    pub column: usize,
    pub table_name: String,
    pub column_name: String,
}

/// The table columns whose defaults draw from sequence `id`: PostgreSQL's
/// "default value for column c of table t depends on sequence s".
pub fn defaults_using(catalog: &Catalog, id: GlobalId) -> Vec<DefaultUser> {
    let mut out = Vec::new();
    for item in catalog.items().filter(|i| i.kind == ItemKind::Table) {
        for (c, tc) in item.table_columns.iter().enumerate() {
            if tc
                .default
                .as_ref()
                .is_some_and(|d| sequences_called(d).contains(&id))
            {
                out.push(DefaultUser {
                    table: item.id,
                    column: c,
                    table_name: item.name.clone(),
                    column_name: item.desc.columns[c].name.clone(),
                });
            }
        }
    }
    out
}

/// PostgreSQL's error for a value given to a `GENERATED ALWAYS` identity
/// column (`428C9`), with the hint an `INSERT` gets.
fn generated_always(message: String, column: &str, hint: Option<&str>) -> AdapterError {
    AdapterError::Constraint {
        code: SqlState::GENERATED_ALWAYS,
        message,
        detail: Some(format!(
            "Column \"{column}\" is an identity column defined as GENERATED ALWAYS."
        )),
        hint: hint.map(str::to_string),
    }
}

fn is_default_item(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

/// Refuses an `INSERT` that gives a `GENERATED ALWAYS` identity column a
/// value: only `DEFAULT` may go there (unless the `INSERT` says
/// `OVERRIDING SYSTEM VALUE` or `OVERRIDING USER VALUE`, when this is not
/// called).
pub fn check_identity_insert(
    catalog: &Catalog,
    table: &CatalogItem,
    positions: &[usize],
    source: &sqlparser::ast::Query,
) -> Result<(), AdapterError> {
    for (j, &p) in positions.iter().enumerate() {
        if catalog.identity(table.id, p) != Some(true) {
            continue;
        }
        let all_default = match source.body.as_ref() {
            sqlparser::ast::SetExpr::Values(values) => values
                .rows
                .iter()
                .all(|row| row.get(j).is_none_or(is_default_item)),
            _ => false,
        };
        if !all_default {
            let column = &table.desc.columns[p].name;
            return Err(generated_always(
                format!("cannot insert a non-DEFAULT value into column \"{column}\""),
                column,
                Some("Use OVERRIDING SYSTEM VALUE to override."),
            ));
        }
    }
    Ok(())
}

/// Refuses an `UPDATE` that sets a `GENERATED ALWAYS` identity column to
/// anything but `DEFAULT`.
pub fn check_identity_update(
    catalog: &Catalog,
    table: &CatalogItem,
    update: &sqlparser::ast::Update,
) -> Result<(), AdapterError> {
    use sqlparser::ast::AssignmentTarget;
    for a in &update.assignments {
        let pairs: Vec<(&ObjectName, Option<&Expr>)> = match (&a.target, &a.value) {
            (AssignmentTarget::ColumnName(n), v) => vec![(n, Some(v))],
            (AssignmentTarget::Tuple(names), Expr::Tuple(values)) => names
                .iter()
                .enumerate()
                .map(|(i, n)| (n, values.get(i)))
                .collect(),
            (AssignmentTarget::Tuple(names), _) => names.iter().map(|n| (n, None)).collect(),
        };
        for (name, value) in pairs {
            let Some(ident) = name.0.first().and_then(|p| p.as_ident()) else {
                continue;
            };
            let column = super::dml_sql::fold(ident);
            let Some(p) = table.desc.columns.iter().position(|c| c.name == column) else {
                continue;
            };
            if catalog.identity(table.id, p) == Some(true) && !value.is_some_and(is_default_item) {
                return Err(generated_always(
                    format!("column \"{column}\" can only be updated to DEFAULT"),
                    &column,
                    None,
                ));
            }
        }
    }
    Ok(())
}
