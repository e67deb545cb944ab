//! The sequence functions: `nextval`, `currval`, `setval` and `lastval`.
//!
//! Their state is not the expression's: the sequences are the
//! coordinator's, and `currval`/`lastval` read what the calling session
//! last got. The coordinator lends the evaluator a [`SequenceAccess`] for
//! as long as it evaluates a statement's expressions on its own thread
//! ([`with_access`]); a call anywhere else (a dataflow worker) is an error
//! (the coordinator refuses such plans before they run, so it is not
//! reached).
//!
//! The functions' first argument is the sequence's OID (a `regclass`, which
//! Freshet plans as a `bigint`); like PostgreSQL's they are strict.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::EvalError;
use crate::repr::Datum;

/// A sequence function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SequenceFunc {
    /// `nextval(regclass)`: advances the sequence and returns its new value.
    NextVal,
    /// `currval(regclass)`: the value `nextval` last returned for this
    /// sequence in this session.
    CurrVal,
    /// `setval(regclass, bigint [, is_called boolean])`: sets the value.
    SetVal,
    /// `lastval()`: the value `nextval` last returned in this session.
    LastVal,
}

impl SequenceFunc {
    /// The function's SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            SequenceFunc::NextVal => "nextval",
            SequenceFunc::CurrVal => "currval",
            SequenceFunc::SetVal => "setval",
            SequenceFunc::LastVal => "lastval",
        }
    }

    /// The function named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<SequenceFunc> {
        match name {
            "nextval" => Some(SequenceFunc::NextVal),
            "currval" => Some(SequenceFunc::CurrVal),
            "setval" => Some(SequenceFunc::SetVal),
            "lastval" => Some(SequenceFunc::LastVal),
            _ => None,
        }
    }

    /// Whether a call changes the sequence (so it may not be evaluated
    /// twice, or folded).
    pub fn changes_state(&self) -> bool {
        matches!(self, SequenceFunc::NextVal | SequenceFunc::SetVal)
    }
}

/// What evaluates sequence functions: the coordinator's sequences and the
/// session's last values.
pub trait SequenceAccess {
    /// Calls `func` on evaluated, non-NULL arguments.
    fn call(&self, func: SequenceFunc, args: &[Datum]) -> Result<Datum, EvalError>;
}

thread_local! {
    /// The access lent to this thread by [`with_access`].
    static ACCESS: RefCell<Option<Rc<dyn SequenceAccess>>> = const { RefCell::new(None) };
}

/// Restores the thread's previous access when dropped (also on a panic).
struct Restore(Option<Rc<dyn SequenceAccess>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        ACCESS.with(|a| *a.borrow_mut() = previous);
    }
}

/// Runs `f` with `access` answering this thread's sequence function calls.
pub fn with_access<R>(access: Rc<dyn SequenceAccess>, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(ACCESS.with(|a| a.borrow_mut().replace(access)));
    f()
}

/// Evaluates a call of `func` on `args`.
pub fn eval(func: SequenceFunc, args: Vec<Datum>) -> Result<Datum, EvalError> {
    if args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    let access = ACCESS.with(|a| a.borrow().clone());
    match access {
        Some(access) => access.call(func, &args),
        None => Err(EvalError::Unsupported(format!(
            "{}() in this part of a query",
            func.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Counter(Cell<i64>);

    impl SequenceAccess for Counter {
        fn call(&self, func: SequenceFunc, _args: &[Datum]) -> Result<Datum, EvalError> {
            assert_eq!(func, SequenceFunc::NextVal);
            self.0.set(self.0.get() + 1);
            Ok(Datum::Int64(self.0.get()))
        }
    }

    #[test]
    fn calls_reach_the_lent_access_only_while_it_is_lent() {
        let args = || vec![Datum::Int64(16_400)];
        assert!(matches!(
            eval(SequenceFunc::NextVal, args()),
            Err(EvalError::Unsupported(_))
        ));
        let counter = Rc::new(Counter(Cell::new(0)));
        let values = with_access(counter.clone(), || {
            (0..3)
                .map(|_| eval(SequenceFunc::NextVal, args()).unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            values,
            vec![Datum::Int64(1), Datum::Int64(2), Datum::Int64(3)]
        );
        // Strict: a NULL argument is NULL, without a call.
        let null = with_access(counter.clone(), || {
            eval(SequenceFunc::NextVal, vec![Datum::Null]).unwrap()
        });
        assert_eq!(null, Datum::Null);
        assert_eq!(counter.0.get(), 3);
        assert!(eval(SequenceFunc::NextVal, args()).is_err());
    }
}
