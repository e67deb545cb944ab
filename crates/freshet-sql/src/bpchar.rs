//! `character(n)` (PostgreSQL's `bpchar`) semantics in the lowering.
//!
//! A `char(n)` value is stored padded with spaces to `n` characters (that is
//! its text output, as in PostgreSQL), but DataFusion sees it as plain
//! `Utf8` and knows nothing of PostgreSQL's rules for it:
//!
//! * converting it to `text` or `varchar` (a cast, or the implicit
//!   conversion when it is passed to a function or operator taking `text`,
//!   such as `||`, `upper` or `replace`) removes the trailing spaces;
//! * `length`/`char_length` count it without them;
//! * comparing two `char` values (or a `char` with an untyped literal,
//!   which PostgreSQL then types `char`) ignores trailing spaces; compared
//!   with `text` it is converted to `text` first;
//! * functions taking any type (`concat`, `concat_ws`, `format`), its own
//!   `octet_length`, `LIKE` and regular expressions see the padded value.
//!
//! The lowering therefore removes the padding ([`UnaryFunc::BpcharToText`])
//! exactly where PostgreSQL converts to `text`. Whether an expression is a
//! `char` comes from the exact SQL type DataFusion carries in field
//! metadata ([`ScalarType::from_field`]).

use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::expr::{Case, Cast, ScalarFunction};
use datafusion_expr::{Expr, ExprSchemable, Operator};

use crate::expr::ScalarExpr;
use crate::expr::func::UnaryFunc;
use crate::repr::{Datum, ScalarType};

/// Whether `e` is of type `char(n)`: its field says so, or it is a
/// `CASE`/`coalesce`/`nullif`/`greatest`/`least` whose first branch that
/// is not an untyped literal (a `CASE`'s `ELSE` comes first) is a `char`
/// (PostgreSQL resolves string
/// branches to the first one's type, as `text`, `varchar` and `char`
/// convert to each other implicitly; untyped literals take it).
pub fn is_char(e: &Expr, schema: &DFSchema) -> bool {
    match e {
        Expr::Alias(a) => is_char(&a.expr, schema),
        Expr::ScalarFunction(ScalarFunction { func, args })
            if matches!(func.name(), "coalesce" | "nullif" | "greatest" | "least") =>
        {
            branches_are_char(args.iter(), schema)
        }
        Expr::Case(Case {
            when_then_expr,
            else_expr,
            ..
        // PostgreSQL resolves the `ELSE` first, then the `THEN`s.
        }) => branches_are_char(
            else_expr
                .as_deref()
                .into_iter()
                .chain(when_then_expr.iter().map(|(_, then)| then.as_ref())),
            schema,
        ),
        _ => e
            .to_field(schema)
            .ok()
            .and_then(|(_, field)| ScalarType::from_field(&field).ok())
            .is_some_and(|t| matches!(t, ScalarType::Char(_))),
    }
}

fn branches_are_char<'a>(mut branches: impl Iterator<Item = &'a Expr>, schema: &DFSchema) -> bool {
    branches
        .find(|b| !is_untyped_literal(b))
        .is_some_and(|b| is_char(b, schema))
}

/// The lowered branches of a `CASE`/`coalesce`/`nullif`/`greatest`/`least`
/// `e` as PostgreSQL converts them to the result's type: where that is not
/// `char` (a `text` or `varchar` came first), each `char` branch loses its
/// padding.
pub fn branch(whole: &Expr, b: &Expr, lowered: ScalarExpr, schema: &DFSchema) -> ScalarExpr {
    if is_char(whole, schema) {
        lowered
    } else {
        text_arg(b, lowered, schema)
    }
}

/// A string literal or NULL that DataFusion typed only as `Utf8` (possibly
/// through a cast its type coercion added): PostgreSQL's `unknown`, which
/// takes the type of the `char` it meets.
fn is_untyped_literal(e: &Expr) -> bool {
    match e {
        Expr::Literal(ScalarValue::Utf8(_) | ScalarValue::Null, _) => true,
        Expr::Cast(Cast { expr, field }) => {
            field.metadata().is_empty()
                && matches!(expr.as_ref(), Expr::Literal(v, _) if v.is_null())
        }
        _ => false,
    }
}

/// `e` converted from `char(n)` to `text`: without its trailing spaces.
pub fn to_text(e: ScalarExpr) -> ScalarExpr {
    match e {
        ScalarExpr::Literal(Datum::String(s)) => {
            ScalarExpr::Literal(Datum::String(s.trim_end_matches(' ').to_string()))
        }
        e @ ScalarExpr::Literal(Datum::Null) => e,
        e => e.call_unary(UnaryFunc::BpcharToText),
    }
}

/// `lowered` (the lowering of `e`), converted to `text` if `e` is a `char`.
pub fn text_arg(e: &Expr, lowered: ScalarExpr, schema: &DFSchema) -> ScalarExpr {
    if is_char(e, schema) {
        to_text(lowered)
    } else {
        lowered
    }
}

/// The operands of `left op right`, lowered to `l` and `r`, as PostgreSQL
/// sees them when either is a `char`: comparisons compare without trailing
/// spaces (an untyped literal or a `varchar` compared with a `char` is
/// compared as a `char` too, a `text` as `text`),
/// `||` concatenates `text`; `LIKE` and regular expressions match the
/// padded value.
pub fn operands(
    op: &Operator,
    (left, l): (&Expr, ScalarExpr),
    (right, r): (&Expr, ScalarExpr),
    schema: &DFSchema,
) -> (ScalarExpr, ScalarExpr) {
    let (left_char, right_char) = (is_char(left, schema), is_char(right, schema));
    if !left_char && !right_char {
        return (l, r);
    }
    // What PostgreSQL compares as `char` when it meets one: an untyped
    // literal, and `varchar` (which has an implicit cast to `char`, where
    // `text` has the other way round).
    let as_char = |e: &Expr| {
        matches!(e, Expr::Literal(ScalarValue::Utf8(Some(_)), _))
            || e.to_field(schema)
                .ok()
                .and_then(|(_, field)| ScalarType::from_field(&field).ok())
                .is_some_and(|t| matches!(t, ScalarType::VarChar(_)))
    };
    match op {
        Operator::Eq
        | Operator::NotEq
        | Operator::Lt
        | Operator::LtEq
        | Operator::Gt
        | Operator::GtEq
        | Operator::IsDistinctFrom
        | Operator::IsNotDistinctFrom => {
            let l = if left_char || as_char(left) {
                to_text(l)
            } else {
                l
            };
            let r = if right_char || as_char(right) {
                to_text(r)
            } else {
                r
            };
            (l, r)
        }
        Operator::StringConcat => (
            if left_char { to_text(l) } else { l },
            if right_char { to_text(r) } else { r },
        ),
        _ => (l, r),
    }
}

/// Whether PostgreSQL passes a `char` argument of the function `name`
/// padded: functions of any type, which print it with its output function,
/// and `char`'s own `octet_length`. Every other function Freshet lowers
/// takes `text`.
pub fn keeps_padding(name: &str) -> bool {
    matches!(
        name,
        "concat"
            | "concat_ws"
            | "format"
            | "octet_length"
            | "coalesce"
            | "nullif"
            | "greatest"
            | "least"
            | "pg_typeof"
    )
}
