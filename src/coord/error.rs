//! [`AdapterError`]: everything a statement can fail with, as the client
//! sees it.

use crate::expr::EvalError;
use crate::repr::SqlState;
use crate::sql::PlanError;

/// An error executing a statement.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdapterError {
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The durable store failed.
    #[error("{0}")]
    Storage(String),
    /// A statement not allowed in the current transaction state.
    #[error("{0}")]
    Transaction(String),
    /// A session variable problem.
    #[error("{message}")]
    Variable {
        /// The SQLSTATE.
        code: SqlState,
        /// The message.
        message: String,
    },
    /// An external system (a Kafka broker) could not be reached.
    #[error("{0}")]
    Connection(String),
    /// An error with PostgreSQL's detail and hint lines: a constraint
    /// violation, objects that depend on one being dropped.
    #[error("{message}")]
    Constraint {
        /// The SQLSTATE.
        code: SqlState,
        /// The message.
        message: String,
        /// The detail (`Key (a)=(1) already exists.`).
        detail: Option<String>,
        /// The hint (`Use DROP ... CASCADE to drop the dependent objects
        /// too.`).
        hint: Option<String>,
    },
    /// A bug in Freshet.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdapterError {
    /// The error's detail line, if it has one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            AdapterError::Constraint { detail, .. } => detail.as_deref(),
            _ => None,
        }
    }

    /// The error's hint line, if it has one (PostgreSQL's wording).
    pub fn hint(&self) -> Option<&str> {
        match self {
            AdapterError::Plan(e) => e.hint(),
            AdapterError::Constraint { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// Where in the query string the error is (characters from 1), if known.
    pub fn position(&self) -> Option<usize> {
        match self {
            AdapterError::Plan(e) => e.position(),
            _ => None,
        }
    }

    /// The SQLSTATE.
    pub fn code(&self) -> SqlState {
        match self {
            AdapterError::Plan(e) => e.code(),
            AdapterError::Eval(e) => e.code(),
            AdapterError::Storage(_) => SqlState::IO_ERROR,
            AdapterError::Transaction(_) => SqlState::ACTIVE_SQL_TRANSACTION,
            AdapterError::Variable { code, .. } | AdapterError::Constraint { code, .. } => *code,
            AdapterError::Connection(_) => SqlState::CONNECTION_EXCEPTION,
            AdapterError::Internal(_) => SqlState::INTERNAL_ERROR,
        }
    }
}
