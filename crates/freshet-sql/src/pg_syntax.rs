//! PostgreSQL syntax sqlparser does not parse, rewritten into syntax it
//! does:
//!
//! * `trim(LEADING | TRAILING | BOTH FROM x)` and `trim(FROM x)`, which
//!   trim blanks: the tokens get the characters `' '` before `FROM`;
//! * `x [NOT] BETWEEN SYMMETRIC a AND b`: the tokens become `x [NOT]
//!   BETWEEN freshet_between_symmetric(a) AND b` (the lower bound ends at
//!   the first `AND` outside parentheses, as PostgreSQL's grammar says),
//!   and [`rewrite`] turns that into PostgreSQL's expansion `(x BETWEEN a
//!   AND b) OR (x BETWEEN b AND a)` (for `NOT`, both `NOT BETWEEN`s
//!   joined by `AND`); `BETWEEN ASYMMETRIC` is `BETWEEN`;
//! * `substring(x SIMILAR p ESCAPE e)`: the tokens become `substring(x
//!   FROM p FOR e)`, its SQL:1999 spelling, which means the same;
//! * `(a, b) OVERLAPS (c, d)`, which sqlparser parses but DataFusion does
//!   not plan: [`rewrite`] makes it the call `overlaps(a, b, c, d)`, as
//!   PostgreSQL's grammar does (`sql/pg_scalar.rs` types it);
//! * `a IS [NOT] DISTINCT FROM b AND c`, whose right operand sqlparser
//!   parses as a whole expression (`a IS DISTINCT FROM (b AND c)`): where
//!   such a test meets `AND`, `OR` or `NOT` without parentheses,
//!   [`distinct_from_precedence`] parses the chain again with PostgreSQL's
//!   precedences (`IS` above `NOT` above `AND` above `OR`);
//! * `t.a[i]` (a qualified column subscripted), which sqlparser parses as
//!   field `a` of the row `t`, subscripted: [`qualified_subscripts`] makes
//!   it `(t.a)[i]`, PostgreSQL's reading (JDBC's `getImportedKeys` reads
//!   `con.conkey[pos.n]`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Statement, UnaryOperator, Value, Visit, VisitMut, Visitor, VisitorMut,
};

use super::PlanError;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

/// The marker the lower bound of `BETWEEN SYMMETRIC` is wrapped in.
const SYMMETRIC: &str = "freshet_between_symmetric";

fn is_word(t: &Token, keyword: Keyword, text: &str) -> bool {
    matches!(t, Token::Word(w)
        if w.quote_style.is_none() && (w.keyword == keyword || w.value.eq_ignore_ascii_case(text)))
}

fn is_blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

/// Turns `SIMILAR` and its `ESCAPE` directly inside `substring(...)` into
/// `FROM` and `FOR` (a `SIMILAR TO` there stays).
fn substring_similar(tokens: &mut [TokenWithSpan]) {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_blank(&tokens[i].token))
        .collect();
    // The depths of the open `substring(` parentheses, and whether a
    // `SIMILAR` was rewritten in each.
    let mut open: Vec<(i64, bool)> = Vec::new();
    let mut depth: i64 = 0;
    for (k, &i) in significant.iter().enumerate() {
        let token = |n: usize| significant.get(n).map(|&j| &tokens[j].token);
        match &tokens[i].token {
            Token::LParen => {
                depth += 1;
                if k > 0
                    && token(k - 1).is_some_and(|t| is_word(t, Keyword::SUBSTRING, "substring"))
                {
                    open.push((depth, false));
                }
            }
            Token::RParen => {
                if open.last().is_some_and(|(d, _)| *d == depth) {
                    open.pop();
                }
                depth -= 1;
            }
            t if is_word(t, Keyword::SIMILAR, "similar")
                && open.last().is_some_and(|(d, _)| *d == depth)
                && !token(k + 1).is_some_and(|t| is_word(t, Keyword::TO, "to")) =>
            {
                tokens[i].token = Token::make_keyword("FROM");
                if let Some(last) = open.last_mut() {
                    last.1 = true;
                }
            }
            t if is_word(t, Keyword::ESCAPE, "escape")
                && open
                    .last()
                    .is_some_and(|(d, similar)| *d == depth && *similar) =>
            {
                tokens[i].token = Token::make_keyword("FOR");
            }
            _ => {}
        }
    }
}

/// Rewrites the token stream of a statement (see the module comment).
pub fn rewrite_tokens(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    super::sequence_options::reorder_tokens(&mut tokens);
    substring_similar(&mut tokens);
    super::interval_literals::precision_literal_tokens(&mut tokens);
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    // The non-blank tokens' positions in `out`, to look back past blanks.
    let mut significant: Vec<usize> = Vec::new();
    // Pending `BETWEEN SYMMETRIC` lower bounds: the parenthesis depth at
    // which each one's `AND` closes it.
    let mut open_bounds: Vec<i64> = Vec::new();
    let mut depth: i64 = 0;
    for t in tokens {
        let span = t.span;
        let back = |n: usize| {
            significant
                .len()
                .checked_sub(n)
                .map(|i| out[significant[i]].token.clone())
        };
        let (prev, prev2, prev3) = (back(1), back(2), back(3));
        let (prev, prev2, prev3) = (prev.as_ref(), prev2.as_ref(), prev3.as_ref());
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        if is_word(&t.token, Keyword::FROM, "from") {
            let after_trim_paren = |p: Option<&Token>, q: Option<&Token>| {
                p == Some(&Token::LParen) && q.is_some_and(|q| is_word(q, Keyword::TRIM, "trim"))
            };
            let where_word = prev.is_some_and(|p| {
                is_word(p, Keyword::LEADING, "leading")
                    || is_word(p, Keyword::TRAILING, "trailing")
                    || is_word(p, Keyword::BOTH, "both")
            });
            if after_trim_paren(prev, prev2) || (where_word && after_trim_paren(prev2, prev3)) {
                for token in [
                    Token::SingleQuotedString(" ".into()),
                    Token::Whitespace(Whitespace::Space),
                ] {
                    out.push(TokenWithSpan { token, span });
                }
                significant.push(out.len() - 2);
            }
        }
        if prev.is_some_and(|p| is_word(p, Keyword::BETWEEN, "between")) {
            if is_word(&t.token, Keyword::SYMMETRIC, "symmetric") {
                out.push(TokenWithSpan {
                    token: Token::make_word(SYMMETRIC, None),
                    span,
                });
                significant.push(out.len() - 1);
                out.push(TokenWithSpan {
                    token: Token::LParen,
                    span,
                });
                significant.push(out.len() - 1);
                open_bounds.push(depth);
                continue;
            }
            if is_word(&t.token, Keyword::ASYMMETRIC, "asymmetric") {
                continue;
            }
        }
        if is_word(&t.token, Keyword::AND, "and") && open_bounds.last() == Some(&depth) {
            open_bounds.pop();
            out.push(TokenWithSpan {
                token: Token::RParen,
                span,
            });
            significant.push(out.len() - 1);
            out.push(TokenWithSpan {
                token: Token::Whitespace(Whitespace::Space),
                span,
            });
        }
        if !is_blank(&t.token) {
            significant.push(out.len());
        }
        out.push(t);
    }
    out
}

/// Gives `IS [NOT] DISTINCT FROM` PostgreSQL's precedence: sqlparser
/// parses its right operand with the lowest precedence, so `x IS DISTINCT
/// FROM y OR z` became `x IS DISTINCT FROM (y OR z)` (a wrong answer for
/// booleans, a type error otherwise). Each chain of `AND`, `OR`, `NOT` and
/// `IS [NOT] DISTINCT FROM` that holds such a test (parenthesized operands
/// are single operands) is read again in the order it was written, which
/// its tree keeps in order, and parsed with PostgreSQL's precedences.
pub fn distinct_from_precedence(statement: &mut Statement) {
    let _ = statement.visit(&mut DistinctFrom);
}

/// Reads `t.a[i]` (and `s.t.a[i]`) as the subscripted column `t.a`, as
/// PostgreSQL does: sqlparser's field accesses after a name become part of
/// the name up to the first subscript.
pub fn qualified_subscripts(statement: &mut Statement) {
    struct Qualified;
    impl VisitorMut for Qualified {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let Expr::CompoundFieldAccess { root, access_chain } = e else {
                return ControlFlow::Continue(());
            };
            let Expr::Identifier(first) = root.as_ref() else {
                return ControlFlow::Continue(());
            };
            let names = access_chain
                .iter()
                .take_while(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
                .count();
            if names == 0 || names == access_chain.len() {
                return ControlFlow::Continue(());
            }
            let mut parts = vec![first.clone()];
            for access in access_chain.drain(..names) {
                if let AccessExpr::Dot(Expr::Identifier(name)) = access {
                    parts.push(name);
                }
            }
            **root = Expr::CompoundIdentifier(parts);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Qualified);
}

/// An element of a chain of `AND`, `OR`, `NOT` and `IS [NOT] DISTINCT
/// FROM`, in written order.
enum Item {
    Operand(Box<Expr>),
    Not,
    /// A binary operator: `AND`, `OR`, or `IS [NOT] DISTINCT FROM`
    /// (`Distinct(negated)`).
    And,
    Or,
    Distinct(bool),
}

impl Item {
    /// PostgreSQL's precedence of a binary operator (higher binds tighter).
    fn precedence(&self) -> Option<u8> {
        match self {
            Item::Or => Some(1),
            Item::And => Some(2),
            Item::Distinct(_) => Some(4),
            Item::Operand(_) | Item::Not => None,
        }
    }
}

/// `NOT`'s precedence, between `AND` and `IS`.
const NOT_PRECEDENCE: u8 = 3;

/// Whether `e` is a node of a chain.
fn in_chain(e: &Expr) -> bool {
    matches!(
        e,
        Expr::BinaryOp {
            op: BinaryOperator::And | BinaryOperator::Or,
            ..
        } | Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } | Expr::IsDistinctFrom(..)
            | Expr::IsNotDistinctFrom(..)
    )
}

/// The chain rooted at `e`, in written order.
fn flatten(e: Expr, out: &mut Vec<Item>) {
    match e {
        Expr::BinaryOp {
            left,
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            right,
        } => {
            flatten(*left, out);
            out.push(if op == BinaryOperator::And {
                Item::And
            } else {
                Item::Or
            });
            flatten(*right, out);
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => {
            out.push(Item::Not);
            flatten(*expr, out);
        }
        Expr::IsDistinctFrom(left, right) => {
            flatten(*left, out);
            out.push(Item::Distinct(false));
            flatten(*right, out);
        }
        Expr::IsNotDistinctFrom(left, right) => {
            flatten(*left, out);
            out.push(Item::Distinct(true));
            flatten(*right, out);
        }
        other => out.push(Item::Operand(Box::new(other))),
    }
}

/// Parses the rest of `items` into an expression whose binary operators bind at
/// least as tightly as `min` (precedence climbing, left-associative).
/// `None` if the chain is not well formed (it always is: it was parsed).
fn climb(items: &mut std::iter::Peekable<std::vec::IntoIter<Item>>, min: u8) -> Option<Expr> {
    let mut left = match items.next()? {
        Item::Operand(e) => *e,
        Item::Not => Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(climb(items, NOT_PRECEDENCE + 1)?),
        },
        _ => return None,
    };
    while let Some(p) = items.peek().and_then(Item::precedence) {
        if p < min {
            break;
        }
        let op = items.next()?;
        let right = Box::new(climb(items, p + 1)?);
        let l = Box::new(left);
        left = match op {
            Item::And => Expr::BinaryOp {
                left: l,
                op: BinaryOperator::And,
                right,
            },
            Item::Or => Expr::BinaryOp {
                left: l,
                op: BinaryOperator::Or,
                right,
            },
            Item::Distinct(false) => Expr::IsDistinctFrom(l, right),
            Item::Distinct(true) => Expr::IsNotDistinctFrom(l, right),
            Item::Operand(_) | Item::Not => return None,
        };
    }
    Some(left)
}

struct DistinctFrom;

impl VisitorMut for DistinctFrom {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Bottom up: a chain's inner nodes are re-parsed first, which keeps
        // the written order, so the chain's root reads it whole.
        if !in_chain(expr) {
            return ControlFlow::Continue(());
        }
        let mut items = Vec::new();
        flatten(expr.clone(), &mut items);
        if !items.iter().any(|i| matches!(i, Item::Distinct(_))) {
            return ControlFlow::Continue(());
        }
        let mut items = items.into_iter().peekable();
        if let Some(parsed) = climb(&mut items, 0)
            && items.next().is_none()
        {
            *expr = parsed;
        }
        ControlFlow::Continue(())
    }
}

/// Expands the `BETWEEN SYMMETRIC` markers [`rewrite_tokens`] left.
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Symmetric);
}

struct Symmetric;

/// The argument of a marker call.
fn marker_arg(e: &Expr) -> Option<Expr> {
    let Expr::Function(f) = e else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case(SYMMETRIC) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] => Some(x.clone()),
        _ => None,
    }
}

impl VisitorMut for Symmetric {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // PostgreSQL's prefix operators: `|/ x` is sqrt and `||/ x` cbrt
        // of a double precision, `@ x` the absolute value.
        if let Expr::UnaryOp { op, expr: operand } = expr
            && let Some((name, double)) = match op {
                UnaryOperator::PGSquareRoot => Some(("sqrt", true)),
                UnaryOperator::PGCubeRoot => Some(("cbrt", true)),
                UnaryOperator::PGAbs => Some(("abs", false)),
                _ => None,
            }
        {
            let mut arg = std::mem::replace(operand.as_mut(), Expr::value(Value::Null));
            if double {
                arg = Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(Expr::Nested(Box::new(arg))),
                    data_type: DataType::DoublePrecision,
                    array: false,
                    format: None,
                };
            }
            let args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))];
            *expr = Expr::Function(super::pg_rewrite::call(name, args));
            return ControlFlow::Continue(());
        }
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Overlaps,
            right,
        } = expr
            && let (Expr::Tuple(l), Expr::Tuple(r)) = (left.as_ref(), right.as_ref())
            && l.len() == 2
            && r.len() == 2
        {
            let args = l
                .iter()
                .chain(r.iter())
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a.clone())))
                .collect();
            *expr = Expr::Function(super::pg_rewrite::call("overlaps", args));
            return ControlFlow::Continue(());
        }
        if let Expr::Between {
            expr: x,
            negated,
            low,
            high,
        } = expr
            && let Some(low) = marker_arg(low)
        {
            let between = |a: &Expr, b: &Expr| Expr::Between {
                expr: x.clone(),
                negated: *negated,
                low: Box::new(a.clone()),
                high: Box::new(b.clone()),
            };
            let op = if *negated {
                BinaryOperator::And
            } else {
                BinaryOperator::Or
            };
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(between(&low, high)))),
                op,
                right: Box::new(Expr::Nested(Box::new(between(high, &low)))),
            }));
        }
        ControlFlow::Continue(())
    }
}

/// PostgreSQL's ordered-set and hypothetical-set aggregates, which take
/// `WITHIN GROUP (ORDER BY ...)`.
const ORDERED_SET_AGGREGATES: [&str; 7] = [
    "percentile_cont",
    "percentile_disc",
    "mode",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
];

/// Refuses PostgreSQL's ordered-set aggregates (`percentile_cont(0.5)
/// WITHIN GROUP (ORDER BY x)`, `mode()`, ...) with 0A000 naming them:
/// Freshet does not have them (nor does Materialize), and without this
/// check they would be "function does not exist".
pub fn check_within_group(statement: &Statement) -> Result<(), PlanError> {
    struct Check;
    impl Visitor for Check {
        type Break = PlanError;
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<PlanError> {
            if let Expr::Function(f) = e
                && !f.within_group.is_empty()
            {
                let name = f.name.to_string().to_lowercase();
                if ORDERED_SET_AGGREGATES.contains(&name.as_str()) {
                    return ControlFlow::Break(PlanError::Unsupported(format!(
                        "ordered-set aggregate {name}(...) WITHIN GROUP (ORDER BY ...)"
                    )));
                }
            }
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Check) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `FETCH { FIRST | NEXT } [n] { ROW | ROWS } ONLY`, the SQL standard's
/// `LIMIT` (which DataFusion's planner does not take), becomes `LIMIT n`
/// (1 without `n`); `WITH TIES` and `PERCENT` are refused (0A000).
pub fn rewrite_fetch(statement: &mut Statement) -> Result<(), PlanError> {
    use sqlparser::ast::{LimitClause, Query};
    struct Fetch;
    impl VisitorMut for Fetch {
        type Break = PlanError;
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
            let Some(fetch) = query.fetch.take() else {
                return ControlFlow::Continue(());
            };
            if fetch.with_ties || fetch.percent {
                let what = if fetch.with_ties {
                    "WITH TIES"
                } else {
                    "PERCENT"
                };
                return ControlFlow::Break(PlanError::Unsupported(format!("FETCH ... {what}")));
            }
            let count = fetch
                .quantity
                .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
            match &mut query.limit_clause {
                None => {
                    query.limit_clause = Some(LimitClause::LimitOffset {
                        limit: Some(count),
                        offset: None,
                        limit_by: vec![],
                    });
                }
                Some(LimitClause::LimitOffset {
                    limit: l @ None, ..
                }) => *l = Some(count),
                Some(_) => {
                    return ControlFlow::Break(PlanError::Syntax(
                        "multiple LIMIT clauses not allowed".into(),
                    ));
                }
            }
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Fetch) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}
