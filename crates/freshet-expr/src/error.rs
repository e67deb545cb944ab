//! [`EvalError`]: what can go wrong evaluating an expression on one row.
//!
//! These errors travel through dataflows as data (in a collection parallel to
//! the rows), so they are ordered and serialisable.

use serde::{Deserialize, Serialize};

use crate::repr::SqlState;
use crate::repr::strconv::ParseError;

/// An error evaluating an expression on a row.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
pub enum EvalError {
    /// Division (or modulo) by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// An integer or float result outside the range of its type; holds the
    /// type name (`"integer"`, `"bigint"`, ...).
    #[error("{0} out of range")]
    OutOfRange(String),
    /// A numeric result beyond the representable precision.
    #[error("value overflows numeric format")]
    NumericOverflow,
    /// A value that does not convert to the target type.
    #[error("{message}")]
    Parse {
        /// The SQLSTATE chosen by the parser.
        code: SqlState,
        /// The PostgreSQL-style message.
        message: String,
    },
    /// An argument outside the domain of a function.
    #[error("{0}")]
    InvalidParameter(String),
    /// A scalar subquery produced more than one row.
    #[error("more than one row returned by a subquery used as an expression")]
    MultipleRowsFromSubquery,
    /// A `NOT NULL` column received NULL: the column, then the table's
    /// name (PostgreSQL's `column "c" of relation "t"`).
    #[error("null value in column \"{0}\" of relation \"{1}\" violates not-null constraint")]
    NotNullViolation(String, String),
    /// A construct that the evaluator does not implement.
    #[error("{0} not supported")]
    Unsupported(String),
    /// A collection reached a negative multiplicity: a bug, or a retraction of
    /// data that was never inserted.
    #[error("invalid negative multiplicity in {0}")]
    NegativeMultiplicity(String),
    /// A source record that could not be decoded (or applied).
    #[error("Decode error: {0}")]
    Decode(String),
    /// A recursive query still producing rows after this many iterations.
    #[error("recursive query exceeded the recursion limit of {0} iterations")]
    RecursionLimit(u64),
    /// A `generate_series` call whose series has more rows than this
    /// (`expr::series::MAX_SERIES_ROWS`), which Freshet would hold in
    /// memory at once.
    #[error("generate_series would return more than {0} rows")]
    SeriesTooLong(u64),
    /// An error of a `jsonb` operator or function (a document of the
    /// wrong shape, a bad path), with PostgreSQL's SQLSTATE.
    #[error("{message}")]
    Jsonb {
        /// The SQLSTATE.
        code: SqlState,
        /// PostgreSQL's message.
        message: String,
    },
    /// A bug in Freshet.
    #[error("internal error: {0}")]
    Internal(String),
    /// A definite error of a source as a whole rather than of one of its
    /// records: data the source should have read is gone for good (a Kafka
    /// partition's records deleted before the source read them). Stays in
    /// the source's data, so reads of it fail, until the source is
    /// dropped. (Last, so that stored errors keep their encoding.)
    #[error("Source error: {0}")]
    Source(String),
}

impl EvalError {
    /// The SQLSTATE this error reports.
    pub fn code(&self) -> SqlState {
        match self {
            EvalError::DivisionByZero => SqlState::DIVISION_BY_ZERO,
            // PostgreSQL's interval arithmetic reports its overflow as a
            // datetime error.
            EvalError::OutOfRange(t) if t == "interval" => SqlState::DATETIME_FIELD_OVERFLOW,
            EvalError::OutOfRange(_) | EvalError::NumericOverflow => {
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE
            }
            EvalError::Parse { code, .. } | EvalError::Jsonb { code, .. } => *code,
            EvalError::InvalidParameter(_) => SqlState::INVALID_PARAMETER_VALUE,
            EvalError::MultipleRowsFromSubquery => SqlState::CARDINALITY_VIOLATION,
            EvalError::NotNullViolation(..) => SqlState::NOT_NULL_VIOLATION,
            EvalError::Unsupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
            EvalError::Decode(_) | EvalError::Source(_) => SqlState::DATA_EXCEPTION,
            EvalError::RecursionLimit(_) | EvalError::SeriesTooLong(_) => {
                SqlState::PROGRAM_LIMIT_EXCEEDED
            }
            EvalError::NegativeMultiplicity(_) | EvalError::Internal(_) => SqlState::INTERNAL_ERROR,
        }
    }
}

impl From<ParseError> for EvalError {
    fn from(e: ParseError) -> EvalError {
        EvalError::Parse {
            code: e.code,
            message: e.message,
        }
    }
}
