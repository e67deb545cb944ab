//! [`ScalarExpr`]: a scalar expression over the columns of one row.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::repr::{Datum, ScalarType};

use super::EvalError;
use super::func::{self, BinaryFunc, UnaryFunc, VariadicFunc};

/// A scalar expression, evaluated against one row.
#[derive(Clone, Debug)]
pub enum ScalarExpr {
    /// The value of a column of the input row.
    Column(usize),
    /// A constant.
    Literal(Datum),
    /// A function of one argument.
    CallUnary {
        /// The function.
        func: UnaryFunc,
        /// Its argument.
        expr: Box<ScalarExpr>,
    },
    /// A function of two arguments.
    CallBinary {
        /// The function.
        func: BinaryFunc,
        /// The first argument.
        left: Box<ScalarExpr>,
        /// The second argument.
        right: Box<ScalarExpr>,
    },
    /// A function of any number of arguments.
    CallVariadic {
        /// The function.
        func: VariadicFunc,
        /// The arguments.
        exprs: Vec<ScalarExpr>,
    },
    /// `CASE WHEN cond THEN then ELSE els END`; only the chosen branch is
    /// evaluated, so `CASE WHEN x = 0 THEN 0 ELSE 1 / x END` never divides by
    /// zero.
    If {
        /// The condition; NULL counts as false.
        cond: Box<ScalarExpr>,
        /// The value where the condition holds.
        then: Box<ScalarExpr>,
        /// The value elsewhere.
        els: Box<ScalarExpr>,
    },
    /// A scalar function that DataFusion implements and Freshet does not:
    /// evaluated through DataFusion's implementation one row at a time.
    External(Arc<func::ExternalFunc>),
    /// A function whose value is the moment a query runs (`now()`,
    /// `current_date`): replaced by a literal when a one-shot query or a
    /// DML statement is planned ([`ScalarExpr::resolve_unmaterializable`]);
    /// a materialized view, an index, a SUBSCRIBE or a sink cannot hold it.
    Unmaterializable(UnmaterializableFunc),
    /// `body` of each element of the array `array` (NULL: an empty
    /// array), as `ARRAY(SELECT body FROM unnest(array))` computes it
    /// (`sql/array_subquery.rs`). `body` is closed: it reads the element as
    /// its column 0 and nothing else, so column rewrites of the enclosing
    /// expression leave it alone.
    ArrayMap {
        /// The array.
        array: Box<ScalarExpr>,
        /// The value of each element.
        body: Box<ScalarExpr>,
    },
}

/// A function whose value belongs to the moment a query runs, not to the
/// data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnmaterializableFunc {
    /// `now()`, `current_timestamp`, `transaction_timestamp()`: `timestamptz`.
    Now,
    /// `statement_timestamp()`: the start of the statement (`timestamptz`).
    StatementTimestamp,
    /// `clock_timestamp()`: the wall clock when it is evaluated, row by row
    /// (`timestamptz`). It stays in one-shot plans and is evaluated there.
    ClockTimestamp,
    /// `timeofday()`: the wall clock when it is evaluated, as PostgreSQL's
    /// text (`Sun Nov 22 22:30:00.123456 2026 UTC`). Evaluated, like
    /// [`UnmaterializableFunc::ClockTimestamp`].
    TimeOfDay,
    /// `current_date`: `date` (in UTC).
    CurrentDate,
    /// `mz_now()`: the logical timestamp a query reads at (milliseconds
    /// since the Unix epoch, as `bigint`). One-shot queries replace it by
    /// their read timestamp first ([`RelationExpr::resolve_mz_now`]); in
    /// maintained plans it may only bound rows in time
    /// ([`super::temporal`]).
    ///
    /// [`RelationExpr::resolve_mz_now`]: super::RelationExpr::resolve_mz_now
    MzNow,
    /// `random()`: a `double precision` in [0, 1), new for each row;
    /// evaluated in one-shot plans, refused in maintained ones (it is not
    /// deterministic).
    Random,
    /// `gen_random_uuid()`: a version 4 `uuid`, like [`Self::Random`].
    GenRandomUuid,
    /// A constant `'now'`, `'today'`, `'tomorrow'` or `'yesterday'` of a
    /// date/time type: `now` as `timestamptz`, the others as `date`, which
    /// `sql/lower.rs` casts to the type written.
    DateTimeInput(crate::repr::strconv::SpecialDateTime),
}

impl UnmaterializableFunc {
    /// The function's SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            UnmaterializableFunc::Now => "now",
            UnmaterializableFunc::StatementTimestamp => "statement_timestamp",
            UnmaterializableFunc::ClockTimestamp => "clock_timestamp",
            UnmaterializableFunc::TimeOfDay => "timeofday",
            UnmaterializableFunc::CurrentDate => "current_date",
            UnmaterializableFunc::MzNow => "mz_now",
            UnmaterializableFunc::Random => "random",
            UnmaterializableFunc::GenRandomUuid => "gen_random_uuid",
            UnmaterializableFunc::DateTimeInput(s) => s.word(),
        }
    }

    /// How errors and `EXPLAIN` name the call: `now()`, or the input
    /// `'today'`.
    pub fn describe(&self) -> String {
        match self {
            UnmaterializableFunc::DateTimeInput(s) => format!("'{}'", s.word()),
            f => format!("{}()", f.name()),
        }
    }

    /// Whether the function is evaluated row by row (the wall clock)
    /// rather than replaced by one value per statement.
    pub fn is_evaluated(&self) -> bool {
        matches!(
            self,
            UnmaterializableFunc::ClockTimestamp
                | UnmaterializableFunc::TimeOfDay
                | UnmaterializableFunc::Random
                | UnmaterializableFunc::GenRandomUuid
        )
    }

    /// Whether the function gives a different value each time even at one
    /// moment (named so in the error that refuses it in maintained plans).
    pub fn is_random(&self) -> bool {
        matches!(
            self,
            UnmaterializableFunc::Random | UnmaterializableFunc::GenRandomUuid
        )
    }

    /// The value at `unix_micros` (microseconds since 1970-01-01 UTC).
    pub fn value_at(&self, unix_micros: i64) -> Datum {
        match self {
            UnmaterializableFunc::Now
            | UnmaterializableFunc::StatementTimestamp
            | UnmaterializableFunc::ClockTimestamp => Datum::TimestampTz(unix_micros),
            UnmaterializableFunc::TimeOfDay => Datum::String(time_of_day(unix_micros)),
            UnmaterializableFunc::CurrentDate => {
                Datum::Date(unix_micros.div_euclid(86_400_000_000) as i32)
            }
            UnmaterializableFunc::DateTimeInput(s) => match s.day_offset() {
                Some(offset) => Datum::Date(unix_micros.div_euclid(86_400_000_000) as i32 + offset),
                None => Datum::TimestampTz(unix_micros),
            },
            // Only reached where no read timestamp was given: the moment
            // itself, in milliseconds.
            UnmaterializableFunc::MzNow => Datum::Int64(unix_micros.div_euclid(1000)),
            UnmaterializableFunc::Random => {
                // The top 53 bits, as PostgreSQL's `pg_prng_double`.
                Datum::f64((random_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64))
            }
            UnmaterializableFunc::GenRandomUuid => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&random_u64().to_le_bytes());
                bytes[8..].copy_from_slice(&random_u64().to_le_bytes());
                Datum::Uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }
        }
    }
}

thread_local! {
    /// Each thread's `random()` state (SplitMix64), seeded from the
    /// process's random hash keys and the clock.
    static RANDOM_STATE: std::cell::Cell<u64> = std::cell::Cell::new({
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(wall_clock_micros());
        h.finish()
    });
}

/// The next of the thread's random numbers (SplitMix64).
fn random_u64() -> u64 {
    RANDOM_STATE.with(|state| {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// The wall clock: microseconds since 1970-01-01 UTC.
fn wall_clock_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `timeofday()`'s text for `unix_micros`: PostgreSQL's
/// `%a %b %d %H:%M:%S.<micros> %Y %Z` in the session time zone (UTC).
fn time_of_day(unix_micros: i64) -> String {
    let secs = unix_micros.div_euclid(1_000_000);
    let micros = unix_micros.rem_euclid(1_000_000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => format!(
            "{}.{micros:06} {} UTC",
            t.format("%a %b %d %H:%M:%S"),
            t.format("%Y")
        ),
        None => String::new(),
    }
}

impl ScalarExpr {
    /// The conjuncts of this expression: the operands of its top-level
    /// `AND`s, or the expression itself.
    pub fn into_conjuncts(self) -> Vec<ScalarExpr> {
        match self {
            ScalarExpr::CallBinary {
                func: BinaryFunc::And,
                left,
                right,
            } => {
                let mut out = left.into_conjuncts();
                out.extend(right.into_conjuncts());
                out
            }
            other => vec![other],
        }
    }

    /// A column reference.
    pub fn column(c: usize) -> ScalarExpr {
        ScalarExpr::Column(c)
    }

    /// `NULL`.
    pub fn null() -> ScalarExpr {
        ScalarExpr::Literal(Datum::Null)
    }

    /// Applies a unary function to this expression.
    pub fn call_unary(self, func: UnaryFunc) -> ScalarExpr {
        ScalarExpr::CallUnary {
            func,
            expr: Box::new(self),
        }
    }

    /// Applies a binary function to this expression and `other`.
    pub fn call_binary(self, other: ScalarExpr, func: BinaryFunc) -> ScalarExpr {
        ScalarExpr::CallBinary {
            func,
            left: Box::new(self),
            right: Box::new(other),
        }
    }

    /// A cast of this expression to `to`.
    pub fn cast(self, to: ScalarType) -> ScalarExpr {
        self.call_unary(UnaryFunc::Cast(to))
    }

    /// Evaluates the expression against `row`.
    pub fn eval(&self, row: &[Datum]) -> Result<Datum, EvalError> {
        match self {
            ScalarExpr::Column(c) => row
                .get(*c)
                .cloned()
                .ok_or_else(|| EvalError::Internal(format!("column {c} out of range"))),
            ScalarExpr::Literal(d) => Ok(d.clone()),
            ScalarExpr::CallUnary { func, expr } => func.eval(expr.eval(row)?),
            ScalarExpr::CallBinary { func, left, right } => match func {
                // AND and OR evaluate lazily, as PostgreSQL may: FALSE AND
                // <error> is FALSE.
                BinaryFunc::And => {
                    let l = left.eval(row)?;
                    if l == Datum::Bool(false) {
                        return Ok(l);
                    }
                    let r = right.eval(row)?;
                    func::and(l, r)
                }
                BinaryFunc::Or => {
                    let l = left.eval(row)?;
                    if l == Datum::Bool(true) {
                        return Ok(l);
                    }
                    let r = right.eval(row)?;
                    func::or(l, r)
                }
                // Read the document where it is: a `jsonb` column is
                // often the whole record, and `->` reads a sliver of it.
                BinaryFunc::JsonbGet { text } => {
                    func::jsonb_get(&*left.eval_ref(row)?, &*right.eval_ref(row)?, *text)
                }
                _ => func.eval(left.eval(row)?, right.eval(row)?),
            },
            ScalarExpr::CallVariadic { func, exprs } => func.eval(exprs, row),
            ScalarExpr::If { cond, then, els } => {
                if cond.eval(row)? == Datum::Bool(true) {
                    then.eval(row)
                } else {
                    els.eval(row)
                }
            }
            ScalarExpr::External(f) => {
                let args = f
                    .args
                    .iter()
                    .map(|a| a.eval(row))
                    .collect::<Result<Vec<_>, _>>()?;
                f.invoke(args)
            }
            ScalarExpr::Unmaterializable(f) if f.is_evaluated() => {
                Ok(f.value_at(wall_clock_micros()))
            }
            ScalarExpr::Unmaterializable(f) => Err(EvalError::Internal(format!(
                "{}() was not replaced by its value",
                f.name()
            ))),
            ScalarExpr::ArrayMap { array, body } => match array.eval(row)? {
                Datum::Null => Ok(Datum::Array(Vec::new())),
                Datum::Array(elements) => elements
                    .into_iter()
                    .map(|e| body.eval(std::slice::from_ref(&e)))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Datum::Array),
                other => Err(EvalError::Internal(format!("unnest of {other:?}"))),
            },
        }
    }

    /// Calls `f` on this expression and on every expression under it.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(&mut ScalarExpr)) {
        f(self);
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(_) | ScalarExpr::Unmaterializable(_) => {}
            ScalarExpr::CallUnary { expr, .. } => expr.visit_mut(f),
            ScalarExpr::CallBinary { left, right, .. } => {
                left.visit_mut(f);
                right.visit_mut(f);
            }
            ScalarExpr::CallVariadic { exprs, .. } => exprs.iter_mut().for_each(|e| e.visit_mut(f)),
            ScalarExpr::If { cond, then, els } => {
                cond.visit_mut(f);
                then.visit_mut(f);
                els.visit_mut(f);
            }
            ScalarExpr::External(ext) => {
                Arc::make_mut(ext)
                    .args
                    .iter_mut()
                    .for_each(|e| e.visit_mut(f));
            }
            ScalarExpr::ArrayMap { array, .. } => array.visit_mut(f),
        }
    }

    /// Replaces `now()` and its kin by their values for a statement that
    /// began at `statement` in a transaction that began at `transaction`.
    /// The wall-clock functions stay, to be evaluated.
    pub fn resolve_unmaterializable(&mut self, transaction: i64, statement: i64) {
        self.visit_mut(&mut |e| {
            if let ScalarExpr::Unmaterializable(f) = e {
                match f {
                    UnmaterializableFunc::StatementTimestamp => {
                        *e = ScalarExpr::Literal(f.value_at(statement));
                    }
                    f if f.is_evaluated() => {}
                    f => *e = ScalarExpr::Literal(f.value_at(transaction)),
                }
            }
        });
    }

    /// [`ScalarExpr::eval`], borrowing a column's or literal's value
    /// instead of cloning it.
    pub fn eval_ref<'a>(&'a self, row: &'a [Datum]) -> Result<Cow<'a, Datum>, EvalError> {
        match self {
            ScalarExpr::Column(c) => row
                .get(*c)
                .map(Cow::Borrowed)
                .ok_or_else(|| EvalError::Internal(format!("column {c} out of range"))),
            ScalarExpr::Literal(d) => Ok(Cow::Borrowed(d)),
            other => other.eval(row).map(Cow::Owned),
        }
    }

    /// Whether evaluating the expression twice on one row may give two
    /// values (`random()`, `clock_timestamp()`): PostgreSQL evaluates it
    /// once per row, so a dataflow must evaluate it once per copy of a row,
    /// on consolidated updates (`compute::render`'s
    /// `once_per_copy`), never once for a row's insertion and again for its
    /// retraction.
    pub fn is_volatile(&self) -> bool {
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(_) => false,
            ScalarExpr::Unmaterializable(f) => f.is_evaluated(),
            ScalarExpr::CallUnary { expr, .. } => expr.is_volatile(),
            ScalarExpr::CallBinary { left, right, .. } => left.is_volatile() || right.is_volatile(),
            ScalarExpr::CallVariadic {
                func: VariadicFunc::Sequence(_),
                ..
            } => true,
            ScalarExpr::CallVariadic { exprs, .. } => exprs.iter().any(|e| e.is_volatile()),
            ScalarExpr::If { cond, then, els } => {
                cond.is_volatile() || then.is_volatile() || els.is_volatile()
            }
            ScalarExpr::External(f) => f.args.iter().any(|e| e.is_volatile()),
            ScalarExpr::ArrayMap { array, body } => array.is_volatile() || body.is_volatile(),
        }
    }

    /// Whether the expression reads no column (so it can be folded).
    pub fn is_constant(&self) -> bool {
        match self {
            ScalarExpr::Column(_) => false,
            ScalarExpr::Literal(_) => true,
            ScalarExpr::CallUnary { expr, .. } => expr.is_constant(),
            ScalarExpr::CallBinary { left, right, .. } => left.is_constant() && right.is_constant(),
            // A sequence function's value is not the expression's.
            ScalarExpr::CallVariadic {
                func: VariadicFunc::Sequence(_),
                ..
            } => false,
            ScalarExpr::CallVariadic { exprs, .. } => exprs.iter().all(|e| e.is_constant()),
            ScalarExpr::If { cond, then, els } => {
                cond.is_constant() && then.is_constant() && els.is_constant()
            }
            ScalarExpr::External(f) => f.args.iter().all(|e| e.is_constant()),
            ScalarExpr::Unmaterializable(_) => false,
            ScalarExpr::ArrayMap { array, .. } => array.is_constant(),
        }
    }

    /// Rewrites every column reference `c` to `map(c)`.
    pub fn permute(&mut self, map: &impl Fn(usize) -> usize) {
        match self {
            ScalarExpr::Column(c) => *c = map(*c),
            ScalarExpr::Literal(_) => {}
            ScalarExpr::CallUnary { expr, .. } => expr.permute(map),
            ScalarExpr::CallBinary { left, right, .. } => {
                left.permute(map);
                right.permute(map);
            }
            ScalarExpr::CallVariadic { exprs, .. } => exprs.iter_mut().for_each(|e| e.permute(map)),
            ScalarExpr::If { cond, then, els } => {
                cond.permute(map);
                then.permute(map);
                els.permute(map);
            }
            ScalarExpr::External(f) => {
                let mut f2 = (**f).clone();
                f2.args.iter_mut().for_each(|e| e.permute(map));
                *f = Arc::new(f2);
            }
            ScalarExpr::Unmaterializable(_) => {}
            ScalarExpr::ArrayMap { array, .. } => array.permute(map),
        }
    }
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Column(c) => write!(f, "#{c}"),
            ScalarExpr::Literal(d) => match crate::repr::strconv::format(d) {
                Some(s) => write!(f, "{s:?}"),
                None => write!(f, "null"),
            },
            ScalarExpr::CallUnary { func, expr } => write!(f, "{func:?}({expr})"),
            ScalarExpr::CallBinary { func, left, right } => {
                write!(f, "({left} {} {right})", func.symbol())
            }
            ScalarExpr::CallVariadic { func, exprs } => {
                match func {
                    VariadicFunc::Jsonb(jsonb) => write!(f, "{}(", jsonb.name())?,
                    func => write!(f, "{func:?}(")?,
                }
                for (i, e) in exprs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, ")")
            }
            ScalarExpr::If { cond, then, els } => {
                write!(f, "if {cond} then {then} else {els}")
            }
            ScalarExpr::External(func) => {
                write!(f, "{}(", func.udf.name())?;
                for (i, e) in func.args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, ")")
            }
            ScalarExpr::Unmaterializable(func) => write!(f, "{}", func.describe()),
            ScalarExpr::ArrayMap { array, body } => write!(f, "array_map({array}, {body})"),
        }
    }
}
