//! PostgreSQL's assignment casts: which values a column of a given type
//! takes (`INSERT`, `UPDATE ... SET`, `ON CONFLICT DO UPDATE SET`, a
//! column's `DEFAULT`), and the error for the others.
//!
//! PostgreSQL converts a value stored into a column when `pg_cast` has an
//! implicit or assignment cast (`castcontext` `i` or `a`) from the value's
//! type to the column's, or when the column is of a string type (its
//! automatic I/O conversion *to* the string types is assignment-level;
//! *from* them it is explicit only), arrays element by element. Anything
//! else is `42804` ("column "a" is of type integer but expression is of
//! type boolean") while planning, whatever the rows. An untyped literal
//! (`'abc'`, `NULL`; PostgreSQL's `unknown`) is not a cast: it is read by
//! the column type's input function, and bad input fails then (`22P02`).
//!
//! [`assignable`] is the rule; its test compares it with the answers of a
//! real PostgreSQL 15 for every pair of the types Freshet has. Where the
//! statements are planned, the callers give each value's type (`None` for
//! an untyped literal, [`is_unknown_literal`]) to [`check_assignment`].
//! The values themselves are converted by
//! [`crate::expr::func::assign_cast`].

use sqlparser::ast::{Expr as SqlExpr, UnaryOperator, Value};

use crate::repr::ScalarType;

use super::PlanError;

/// Whether PostgreSQL stores a value of type `from` into a column of type
/// `to` (type modifiers aside: a length or precision is applied to the
/// value, never refused while planning).
pub fn assignable(from: &ScalarType, to: &ScalarType) -> bool {
    use ScalarType as T;
    let is_string = |t: &ScalarType| t.is_string() || *t == T::Name;
    let is_number = |t: &ScalarType| {
        matches!(
            t,
            T::Int16 | T::Int32 | T::Int64 | T::Float32 | T::Float64 | T::Numeric { .. }
        )
    };
    if is_string(to) {
        // Every type has an I/O conversion to the string types.
        return true;
    }
    match (from, to) {
        (T::Array(a), T::Array(b)) => assignable(a, b),
        (T::Array(_), _) | (_, T::Array(_)) => false,
        // The same type with another modifier: a length coercion.
        (a, b) if std::mem::discriminant(a) == std::mem::discriminant(b) => true,
        // Among the number types every cast is implicit or assignment.
        (a, b) if is_number(a) && is_number(b) => true,
        (T::Int16 | T::Int32 | T::Int64, T::RegType) => true,
        (T::RegType, T::Int32 | T::Int64) => true,
        (T::Date, T::Timestamp(_) | T::TimestampTz(_)) => true,
        (T::Timestamp(_) | T::TimestampTz(_), T::Date | T::Time(_)) => true,
        (T::Timestamp(_), T::TimestampTz(_)) | (T::TimestampTz(_), T::Timestamp(_)) => true,
        (T::Time(_), T::Interval { .. }) | (T::Interval { .. }, T::Time(_)) => true,
        (T::Json, T::Jsonb) | (T::Jsonb, T::Json) => true,
        _ => false,
    }
}

/// What is assigned, for the error's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assigned {
    /// A value of `INSERT`, `UPDATE ... SET` or `ON CONFLICT DO UPDATE SET`.
    Expression,
    /// A column's `DEFAULT`.
    Default,
}

/// Checks that a value of type `from` (`None`: an untyped literal, read
/// by the column type's input instead) may be stored into `column` of type
/// `to`: PostgreSQL's `42804` where it may not.
pub fn check_assignment(
    from: Option<&ScalarType>,
    to: &ScalarType,
    column: &str,
    assigned: Assigned,
) -> Result<(), PlanError> {
    match from {
        Some(from) if !assignable(from, to) => Err(PlanError::AssignmentMismatch {
            column: column.to_string(),
            column_type: to.regtype_name(),
            assigned: match assigned {
                Assigned::Expression => "expression",
                Assigned::Default => "default expression",
            },
            value_type: from.regtype_name(),
        }),
        _ => Ok(()),
    }
}

/// Whether `e` is of PostgreSQL's type `unknown`: a string constant
/// without a type, or `NULL` (either in parentheses), which a column's
/// type reads. `DEFAULT` (the column's own default) counts as one too.
pub fn is_unknown_literal(e: &SqlExpr) -> bool {
    match e {
        SqlExpr::Nested(inner) => is_unknown_literal(inner),
        SqlExpr::Value(v) => matches!(
            v.value,
            Value::Null
                | Value::SingleQuotedString(_)
                | Value::EscapedStringLiteral(_)
                | Value::DollarQuotedString(_)
                | Value::UnicodeStringLiteral(_)
        ),
        SqlExpr::Identifier(i) => {
            i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default")
        }
        _ => false,
    }
}

/// The type PostgreSQL gives a literal whose type its form alone decides:
/// a number (`integer`, `bigint` or `numeric`, as its grammar types it;
/// a sign folded in) or `TRUE`/`FALSE`. `None` for anything else.
pub fn literal_type(e: &SqlExpr) -> Option<ScalarType> {
    match e {
        SqlExpr::Nested(inner) => literal_type(inner),
        // PostgreSQL folds the minus into the number first, so
        // `-2147483648` is an `integer`.
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match number(expr)? {
            n if n.starts_with('-') => literal_type(expr),
            n => Some(number_type(&format!("-{n}"))),
        },
        SqlExpr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => number(expr).and_then(|_| literal_type(expr)),
        SqlExpr::Value(v) => match &v.value {
            Value::Boolean(_) => Some(ScalarType::Bool),
            Value::Number(n, _) => Some(number_type(n)),
            _ => None,
        },
        _ => None,
    }
}

/// The digits of a number literal (in parentheses, signed), if `e` is one.
fn number(e: &SqlExpr) -> Option<String> {
    match e {
        SqlExpr::Nested(inner) => number(inner),
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => number(expr).map(|n| format!("-{n}")),
        SqlExpr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => number(expr),
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(n.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The type of a number literal's digits: `integer` where it fits, else
/// `bigint`, else `numeric` (with a point or an exponent, `numeric`).
fn number_type(n: &str) -> ScalarType {
    if n.parse::<i32>().is_ok() {
        ScalarType::Int32
    } else if n.parse::<i64>().is_ok() {
        ScalarType::Int64
    } else {
        ScalarType::Numeric {
            precision: None,
            scale: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL 15's answers: for each type (rows, the value's type) and
    /// column type (columns, in the same order), whether `INSERT INTO t
    /// SELECT NULL::<row type>` into a column `c <column type>` plans
    /// (`1`) or is `42804` (`.`). Captured with a `DO` block that tries
    /// every pair, catching `datatype_mismatch`.
    const POSTGRES: &str = "\
boolean: 1......111.........1......................
smallint: .111111111........11......................
integer: .111111111........11......................
bigint: .111111111........11......................
real: .111111111.........1......................
double precision: .111111111.........1......................
numeric: .111111111.........1......................
text: .......111.........1......................
character varying: .......111.........1......................
bpchar: .......111.........1......................
bytea: .......1111........1......................
date: .......111.1.11....1......................
time: .......111..1..1...1......................
timestamp: .......111.1111....1......................
timestamptz: .......111.1111....1......................
interval: .......111..1..1...1......................
jsonb: .......111......1..11.....................
uuid: .......111.......1.1......................
regtype: ..11...111........11......................
name: .......111.........1......................
json: .......111......1..11.....................
boolean[]: .......111.........1.1......111.........1.
smallint[]: .......111.........1..111111111........11.
integer[]: .......111.........1..111111111........11.
bigint[]: .......111.........1..111111111........11.
real[]: .......111.........1..111111111.........1.
double precision[]: .......111.........1..111111111.........1.
numeric[]: .......111.........1..111111111.........1.
text[]: .......111.........1........111.........1.
character varying[]: .......111.........1........111.........1.
bpchar[]: .......111.........1........111.........1.
bytea[]: .......111.........1........1111........1.
date[]: .......111.........1........111.1.11....1.
time[]: .......111.........1........111..1..1...1.
timestamp[]: .......111.........1........111.1111....1.
timestamptz[]: .......111.........1........111.1111....1.
interval[]: .......111.........1........111..1..1...1.
jsonb[]: .......111.........1........111......1..11
uuid[]: .......111.........1........111.......1.1.
regtype[]: .......111.........1...11...111........11.
name[]: .......111.........1........111.........1.
json[]: .......111.........1........111......1..11";

    /// The types of [`POSTGRES`]'s rows and columns, in its order.
    fn types() -> Vec<ScalarType> {
        use ScalarType as T;
        let base = vec![
            T::Bool,
            T::Int16,
            T::Int32,
            T::Int64,
            T::Float32,
            T::Float64,
            T::Numeric {
                precision: None,
                scale: None,
            },
            T::Text,
            T::VarChar(None),
            T::Char(None),
            T::Bytea,
            T::Date,
            T::Time(None),
            T::Timestamp(None),
            T::TimestampTz(None),
            T::INTERVAL,
            T::Jsonb,
            T::Uuid,
            T::RegType,
            T::Name,
            T::Json,
        ];
        let arrays: Vec<T> = base.iter().map(|t| T::Array(Box::new(t.clone()))).collect();
        base.into_iter().chain(arrays).collect()
    }

    #[test]
    fn assignable_is_postgres_pg_cast() {
        let types = types();
        let lines: Vec<&str> = POSTGRES.lines().collect();
        assert_eq!(lines.len(), types.len());
        for (from, line) in types.iter().zip(&lines) {
            let (_, marks) = line.split_once(": ").expect("a row of the table");
            assert_eq!(marks.len(), types.len(), "{line}");
            for (to, mark) in types.iter().zip(marks.chars()) {
                assert_eq!(
                    assignable(from, to),
                    mark == '1',
                    "{} into a column of type {}",
                    from.regtype_name(),
                    to.regtype_name()
                );
            }
        }
    }

    #[test]
    fn modifiers_do_not_matter() {
        let varchar3 = ScalarType::VarChar(Some(3));
        assert!(assignable(&ScalarType::Int32, &varchar3));
        assert!(assignable(
            &ScalarType::Numeric {
                precision: Some(5),
                scale: Some(2)
            },
            &ScalarType::Int16
        ));
        assert!(assignable(
            &ScalarType::Timestamp(Some(3)),
            &ScalarType::TimestampTz(Some(0))
        ));
        assert!(!assignable(
            &ScalarType::Bool,
            &ScalarType::Timestamp(Some(3))
        ));
    }

    #[test]
    fn the_error_is_postgres_own() {
        let e = check_assignment(
            Some(&ScalarType::Bool),
            &ScalarType::Int32,
            "a",
            Assigned::Expression,
        )
        .unwrap_err();
        assert_eq!(e.code().as_str(), "42804");
        assert_eq!(
            e.to_string(),
            "column \"a\" is of type integer but expression is of type boolean"
        );
        assert_eq!(
            e.hint(),
            Some("You will need to rewrite or cast the expression.")
        );
        let e = check_assignment(
            Some(&ScalarType::Char(Some(2))),
            &ScalarType::Timestamp(Some(3)),
            "ts",
            Assigned::Default,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "column \"ts\" is of type timestamp without time zone but default expression is of type character"
        );
        assert!(check_assignment(None, &ScalarType::Int32, "a", Assigned::Expression).is_ok());
    }

    #[test]
    fn literals() {
        let parse = |s: &str| {
            sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                .try_with_sql(s)
                .and_then(|mut p| p.parse_expr())
                .expect("an expression")
        };
        for unknown in ["'abc'", "NULL", "(NULL)", "E'a\\n'", "$$x$$", "DEFAULT"] {
            assert!(is_unknown_literal(&parse(unknown)), "{unknown}");
        }
        for known in ["'abc'::text", "1", "TRUE", "\"default\""] {
            assert!(!is_unknown_literal(&parse(known)), "{known}");
        }
        let numeric = ScalarType::Numeric {
            precision: None,
            scale: None,
        };
        for (e, t) in [
            ("1", Some(ScalarType::Int32)),
            ("-2147483648", Some(ScalarType::Int32)),
            ("2147483648", Some(ScalarType::Int64)),
            ("99999999999999999999", Some(numeric.clone())),
            ("1.5", Some(numeric.clone())),
            ("(-1e3)", Some(numeric)),
            ("FALSE", Some(ScalarType::Bool)),
            ("-TRUE", None),
            ("1 + 1", None),
            ("'1'", None),
        ] {
            assert_eq!(literal_type(&parse(e)), t, "{e}");
        }
    }
}
