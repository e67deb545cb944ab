//! Sequence options in any order. PostgreSQL takes `CREATE SEQUENCE`'s
//! options (and an identity column's, `GENERATED ... AS IDENTITY (...)`)
//! in any order, as `pg_dump` writes them (`START WITH 1 INCREMENT BY 1
//! NO MINVALUE ...`); `sqlparser` takes them only in the order of
//! PostgreSQL's synopsis (`INCREMENT`, `MINVALUE`, `MAXVALUE`, `START`,
//! `CACHE`, `CYCLE`). [`reorder_tokens`] puts them in that order before
//! parsing.

use sqlparser::ast::{DataType, Expr, Ident, ObjectName, SequenceOptions};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

fn word(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn is(t: &Token, w: &str) -> bool {
    word(t).as_deref() == Some(w)
}

/// The rank of the option that starts at significant token `k` (in
/// `sqlparser`'s order), if one does.
fn option_rank(tokens: &[TokenWithSpan], sig: &[usize], k: usize) -> Option<usize> {
    let t = &tokens[sig[k]].token;
    let next = sig.get(k + 1).map(|&i| &tokens[i].token);
    match word(t)?.as_str() {
        "increment" => Some(0),
        "minvalue" => Some(1),
        "maxvalue" => Some(2),
        "start" => Some(3),
        "cache" => Some(4),
        "cycle" => Some(5),
        "no" => match next.and_then(word).as_deref() {
            Some("minvalue") => Some(1),
            Some("maxvalue") => Some(2),
            Some("cycle") => Some(5),
            _ => None,
        },
        _ => None,
    }
}

/// Reorders the options of every `CREATE SEQUENCE` and identity column in
/// `tokens` into `sqlparser`'s order.
pub fn reorder_tokens(tokens: &mut Vec<TokenWithSpan>) {
    let mut k = 0;
    loop {
        let sig: Vec<usize> = (0..tokens.len())
            .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
            .collect();
        let Some((start, end)) = next_region(tokens, &sig, &mut k) else {
            return;
        };
        reorder_region(tokens, &sig, start, end);
    }
}

/// The next options region at or after significant token `*k`: the
/// significant positions `start..end` it spans.
fn next_region(tokens: &[TokenWithSpan], sig: &[usize], k: &mut usize) -> Option<(usize, usize)> {
    let tok = |j: usize| sig.get(j).map(|&i| &tokens[i].token);
    while *k < sig.len() {
        let j = *k;
        *k += 1;
        let t = &tokens[sig[j]].token;
        // `CREATE [TEMP|TEMPORARY] SEQUENCE [IF NOT EXISTS] name [AS type]`
        if is(t, "sequence") && j > 0 {
            let mut c = j - 1;
            if tok(c).is_some_and(|t| is(t, "temp") || is(t, "temporary")) && c > 0 {
                c -= 1;
            }
            if !tok(c).is_some_and(|t| is(t, "create")) {
                continue;
            }
            let mut s = j + 1;
            if tok(s).is_some_and(|t| is(t, "if")) {
                s += 3;
            }
            // The name: words separated by periods.
            s += 1;
            while tok(s) == Some(&Token::Period) {
                s += 2;
            }
            if tok(s).is_some_and(|t| is(t, "as")) {
                s += 1;
                // `bigint`, `integer`, `smallint`, `int8`, ...: one word
                // (`double precision` is not a sequence type).
                s += 1;
            }
            let mut e = s;
            while let Some(t) = tok(e) {
                if *t == Token::SemiColon || is(t, "owned") {
                    break;
                }
                e += 1;
            }
            *k = e;
            return Some((s, e));
        }
        // `AS IDENTITY ( options )`
        if is(t, "identity")
            && j > 0
            && tok(j - 1).is_some_and(|t| is(t, "as"))
            && tok(j + 1) == Some(&Token::LParen)
        {
            let s = j + 2;
            let mut e = s;
            let mut depth = 0;
            while let Some(t) = tok(e) {
                match t {
                    Token::LParen => depth += 1,
                    Token::RParen if depth == 0 => break,
                    Token::RParen => depth -= 1,
                    _ => {}
                }
                e += 1;
            }
            *k = e;
            return Some((s, e));
        }
    }
    None
}

/// Reorders the options at significant positions `start..end`.
fn reorder_region(tokens: &mut Vec<TokenWithSpan>, sig: &[usize], start: usize, end: usize) {
    if start >= end {
        return;
    }
    // Each option: its rank and the significant positions it starts at.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut j = start;
    while j < end {
        match option_rank(tokens, sig, j) {
            Some(rank) => {
                groups.push((rank, j));
                // `NO x` is one option.
                j += if is(&tokens[sig[j]].token, "no") {
                    2
                } else {
                    1
                };
            }
            None if groups.is_empty() => return,
            None => j += 1,
        }
    }
    if groups.windows(2).all(|w| w[0].0 <= w[1].0) {
        return;
    }
    // The tokens of each option, from its first token to the next's.
    let first = sig[start];
    let last = sig[end - 1] + 1;
    let mut pieces: Vec<(usize, Vec<TokenWithSpan>)> = Vec::new();
    for (g, &(rank, at)) in groups.iter().enumerate() {
        let from = sig[at];
        let to = groups.get(g + 1).map_or(last, |&(_, next)| sig[next]);
        let mut piece: Vec<TokenWithSpan> = tokens[from..to]
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .cloned()
            .collect();
        let mut spaced = Vec::with_capacity(piece.len() * 2);
        for t in piece.drain(..) {
            let span = t.span;
            spaced.push(t);
            spaced.push(TokenWithSpan {
                token: Token::Whitespace(Whitespace::Space),
                span,
            });
        }
        pieces.push((rank, spaced));
    }
    pieces.sort_by_key(|(rank, _)| *rank);
    let replacement: Vec<TokenWithSpan> = pieces.into_iter().flat_map(|(_, p)| p).collect();
    tokens.splice(first..last, replacement);
}

/// `ALTER SEQUENCE [IF EXISTS] name option ...`: PostgreSQL takes its
/// options in any order, and so does [`parse_alter_sequence`].
#[derive(Debug, Clone, PartialEq)]
pub struct AlterSequenceStatement {
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// The sequence.
    pub name: ObjectName,
    /// `AS type`.
    pub data_type: Option<DataType>,
    /// `INCREMENT`, `MINVALUE`, `MAXVALUE`, `START`, `CACHE`, `CYCLE`.
    pub options: Vec<SequenceOptions>,
    /// `RESTART [[WITH] n]`: `Some(None)` restarts at the start value.
    pub restart: Option<Option<Expr>>,
    /// `OWNED BY table.column`, or `NONE` (one identifier).
    pub owned_by: Option<ObjectName>,
    /// `OWNER TO role`: the role (the statement has nothing else).
    pub owner_to: Option<String>,
    /// A form Freshet does not support (`SET SCHEMA`, `SET LOGGED`; `RENAME
    /// TO` is `sql::rename`'s), named.
    pub unsupported: Option<String>,
}

impl std::fmt::Display for AlterSequenceStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ALTER SEQUENCE {}{}",
            if self.if_exists { "IF EXISTS " } else { "" },
            self.name
        )?;
        if let Some(t) = &self.data_type {
            write!(f, " AS {t}")?;
        }
        for o in &self.options {
            write!(f, "{o}")?;
        }
        match &self.restart {
            Some(Some(v)) => write!(f, " RESTART WITH {v}")?,
            Some(None) => write!(f, " RESTART")?,
            None => {}
        }
        if let Some(o) = &self.owned_by {
            write!(f, " OWNED BY {o}")?;
        }
        if let Some(o) = &self.owner_to {
            write!(f, " OWNER TO {o}")?;
        }
        Ok(())
    }
}

fn conflicting() -> ParserError {
    ParserError::ParserError("conflicting or redundant options".into())
}

/// One of the options `CREATE SEQUENCE`, `ALTER SEQUENCE` and an identity
/// column take (`INCREMENT [BY] n`, `[NO] MINVALUE`, `[NO] MAXVALUE`,
/// `START [WITH] n`, `CACHE n`, `[NO] CYCLE`), if one is next.
pub fn parse_sequence_option(parser: &mut Parser) -> Result<Option<SequenceOptions>, ParserError> {
    Ok(if parser.parse_keyword(Keyword::INCREMENT) {
        let by = parser.parse_keyword(Keyword::BY);
        Some(SequenceOptions::IncrementBy(parser.parse_number()?, by))
    } else if parser.parse_keyword(Keyword::MINVALUE) {
        Some(SequenceOptions::MinValue(Some(parser.parse_number()?)))
    } else if parser.parse_keywords(&[Keyword::NO, Keyword::MINVALUE]) {
        Some(SequenceOptions::MinValue(None))
    } else if parser.parse_keyword(Keyword::MAXVALUE) {
        Some(SequenceOptions::MaxValue(Some(parser.parse_number()?)))
    } else if parser.parse_keywords(&[Keyword::NO, Keyword::MAXVALUE]) {
        Some(SequenceOptions::MaxValue(None))
    } else if parser.parse_keyword(Keyword::START) {
        let with = parser.parse_keyword(Keyword::WITH);
        Some(SequenceOptions::StartWith(parser.parse_number()?, with))
    } else if parser.parse_keyword(Keyword::CACHE) {
        Some(SequenceOptions::Cache(parser.parse_number()?))
    } else if parser.parse_keywords(&[Keyword::NO, Keyword::CYCLE]) {
        Some(SequenceOptions::Cycle(true))
    } else if parser.parse_keyword(Keyword::CYCLE) {
        Some(SequenceOptions::Cycle(false))
    } else {
        None
    })
}

/// Parses what follows `ALTER SEQUENCE`.
pub fn parse_alter_sequence(parser: &mut Parser) -> Result<AlterSequenceStatement, ParserError> {
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let mut stmt = AlterSequenceStatement {
        if_exists,
        name,
        data_type: None,
        options: Vec::new(),
        restart: None,
        owned_by: None,
        owner_to: None,
        unsupported: None,
    };
    if parser.parse_keywords(&[Keyword::OWNER, Keyword::TO]) {
        stmt.owner_to = Some(parser.parse_identifier()?.to_string());
        return Ok(stmt);
    }
    for (words, what) in [
        (&[Keyword::RENAME][..], "ALTER SEQUENCE ... RENAME"),
        (&[Keyword::SET], "ALTER SEQUENCE ... SET"),
    ] {
        if parser.parse_keywords(words) {
            // The rest of the statement is not read: it is refused whole.
            while !matches!(parser.peek_token().token, Token::EOF | Token::SemiColon) {
                parser.next_token();
            }
            stmt.unsupported = Some(what.into());
            return Ok(stmt);
        }
    }
    let mut any = false;
    loop {
        let option = if let Some(option) = parse_sequence_option(parser)? {
            Some(option)
        } else if parser.parse_keyword(Keyword::AS) {
            if stmt.data_type.replace(parser.parse_data_type()?).is_some() {
                return Err(conflicting());
            }
            None
        } else if parser.parse_keyword(Keyword::RESTART) {
            let value = if parser.parse_keyword(Keyword::WITH)
                || matches!(
                    parser.peek_token().token,
                    Token::Number(..) | Token::Minus | Token::Plus
                ) {
                Some(parser.parse_number()?)
            } else {
                None
            };
            if stmt.restart.replace(value).is_some() {
                return Err(conflicting());
            }
            None
        } else if parser.parse_keywords(&[Keyword::OWNED, Keyword::BY]) {
            let owner = if parser.parse_keyword(Keyword::NONE) {
                ObjectName::from(vec![Ident::new("NONE")])
            } else {
                parser.parse_object_name(false)?
            };
            if stmt.owned_by.replace(owner).is_some() {
                return Err(conflicting());
            }
            None
        } else if any {
            return Ok(stmt);
        } else {
            return parser.expected("an ALTER SEQUENCE option", parser.peek_token());
        };
        any = true;
        stmt.options.extend(option);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn reordered(sql: &str) -> String {
        let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        reorder_tokens(&mut tokens);
        tokens
            .iter()
            .map(|t| t.token.to_string())
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn options_take_sqlparsers_order() {
        assert_eq!(
            reordered(
                "CREATE SEQUENCE public.s AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1 OWNED BY t.id;"
            ),
            "CREATE SEQUENCE public.s AS integer INCREMENT BY 1 NO MINVALUE NO MAXVALUE START WITH 1 CACHE 1 OWNED BY t.id;"
        );
        assert_eq!(
            reordered(
                "CREATE TABLE u (id int GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY -5 CYCLE MINVALUE -100), v text)"
            ),
            "CREATE TABLE u (id int GENERATED ALWAYS AS IDENTITY (INCREMENT BY - 5 MINVALUE - 100 START WITH 10 CYCLE ), v text)"
        );
        // Already in order, or no options: unchanged.
        let sql = "CREATE SEQUENCE s INCREMENT 2 START 5";
        assert_eq!(reordered(sql), sql);
        assert_eq!(reordered("CREATE SEQUENCE s"), "CREATE SEQUENCE s");
        assert_eq!(
            reordered("SELECT sequence FROM t"),
            "SELECT sequence FROM t"
        );
    }
}
