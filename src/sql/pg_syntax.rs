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
//!   PostgreSQL's grammar does (`sql/pg_scalar.rs` types it).

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, VisitMut,
    VisitorMut,
};
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
    substring_similar(&mut tokens);
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
