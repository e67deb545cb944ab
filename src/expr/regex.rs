//! PostgreSQL's POSIX regular expression match operators: `~`, `~*`, `!~`
//! and `!~*`.
//!
//! Patterns are compiled with the `regex` crate, whose syntax covers what
//! these operators are used for (classes, anchors, alternation,
//! repetition); PostgreSQL's back-references and look-around are not
//! supported by it and fail as invalid patterns (`2201B`), never as a
//! wrong answer. The operand is usually a constant, so each thread keeps
//! the patterns it compiled last.

use std::cell::RefCell;

use regex::{Regex, RegexBuilder};

use super::error::EvalError;
use crate::repr::SqlState;

/// How many compiled patterns each thread keeps.
const CACHE_SIZE: usize = 8;

thread_local! {
    static CACHE: RefCell<Vec<(String, bool, Regex)>> = const { RefCell::new(Vec::new()) };
}

/// Whether `s` matches `pattern` anywhere (`~`; `~*` when
/// `case_insensitive`).
pub fn is_match(s: &str, pattern: &str, case_insensitive: bool) -> Result<bool, EvalError> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(pos) = cache
            .iter()
            .position(|(p, ci, _)| *ci == case_insensitive && p == pattern)
        {
            // Most recently used first.
            let entry = cache.remove(pos);
            let matched = entry.2.is_match(s);
            cache.insert(0, entry);
            return Ok(matched);
        }
        let regex = RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| EvalError::Parse {
                code: SqlState::INVALID_REGULAR_EXPRESSION,
                message: format!(
                    "invalid regular expression: {}",
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("syntax error")
                        .trim()
                ),
            })?;
        let matched = regex.is_match(s);
        cache.insert(0, (pattern.to_string(), case_insensitive, regex));
        cache.truncate(CACHE_SIZE);
        Ok(matched)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_postgresql() {
        assert!(is_match("pg_toast", "^pg_", false).unwrap());
        assert!(!is_match("public", "^pg_", false).unwrap());
        assert!(is_match("ABC", "b", true).unwrap());
        assert!(!is_match("ABC", "b", false).unwrap());
        assert!(is_match("watchlist", "^(watchlist)$", false).unwrap());
        let err = is_match("a", "(", false).unwrap_err();
        assert!(matches!(err, EvalError::Parse { .. }), "{err:?}");
    }
}
