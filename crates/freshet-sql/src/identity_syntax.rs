//! Identity-column syntax of PostgreSQL's that sqlparser does not parse,
//! both of which `pg_dump` writes:
//!
//! * `INSERT INTO t [(cols)] OVERRIDING { SYSTEM | USER } VALUE ...`
//!   (`pg_dump --inserts` writes `OVERRIDING SYSTEM VALUE` into every
//!   `INSERT` of a table with a `GENERATED ALWAYS` identity column):
//!   [`strip_overriding`] takes the clause out of the tokens and says which
//!   statement had it; the statement becomes
//!   [`FreshetStatement::InsertOverriding`](super::parse::FreshetStatement).
//! * `ALTER TABLE [IF EXISTS] [ONLY] t ALTER [COLUMN] c ADD GENERATED
//!   { ALWAYS | BY DEFAULT } AS IDENTITY [( SEQUENCE NAME s option ... )]`
//!   (how `pg_dump` declares every identity column): sqlparser stops at
//!   `SEQUENCE NAME`; [`parse_add_identity`] reads the statement whole.

use sqlparser::ast::{Ident, ObjectName, SequenceOptions};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan};

/// `OVERRIDING { SYSTEM | USER } VALUE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overriding {
    /// `OVERRIDING SYSTEM VALUE`: values given for `GENERATED ALWAYS`
    /// identity columns are taken.
    System,
    /// `OVERRIDING USER VALUE`: values given for identity columns are
    /// ignored; the columns get their sequences' next values.
    User,
}

impl std::fmt::Display for Overriding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overriding::System => "OVERRIDING SYSTEM VALUE",
            Overriding::User => "OVERRIDING USER VALUE",
        })
    }
}

fn word(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Takes every `OVERRIDING { SYSTEM | USER } VALUE` that stands at the top
/// level of an `INSERT` statement out of `tokens`, and returns where each
/// such `INSERT` starts (its `INSERT` keyword's location) with the clause.
pub fn strip_overriding(tokens: &mut Vec<TokenWithSpan>) -> Vec<(Location, Overriding)> {
    let mut found = Vec::new();
    let mut remove: Vec<(usize, usize)> = Vec::new();
    // The `INSERT` the current statement starts with, if it does.
    let mut insert: Option<Location> = None;
    let mut at_start = true;
    let mut depth: i64 = 0;
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    for (k, &i) in significant.iter().enumerate() {
        let t = &tokens[i].token;
        if at_start {
            at_start = false;
            insert = (word(t).as_deref() == Some("insert")).then_some(tokens[i].span.start);
        }
        match t {
            Token::SemiColon if depth == 0 => {
                at_start = true;
                continue;
            }
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        let Some(start) = insert else { continue };
        if depth != 0 || word(t).as_deref() != Some("overriding") {
            continue;
        }
        let next = |n: usize| significant.get(k + n).and_then(|&j| word(&tokens[j].token));
        let kind = match next(1).as_deref() {
            Some("system") => Overriding::System,
            Some("user") => Overriding::User,
            _ => continue,
        };
        if next(2).as_deref() != Some("value") {
            continue;
        }
        remove.push((i, significant[k + 2]));
        found.push((start, kind));
        insert = None;
    }
    for (from, to) in remove.into_iter().rev() {
        tokens.drain(from..=to);
    }
    found
}

/// `ALTER TABLE [IF EXISTS] [ONLY] t ALTER [COLUMN] c ADD GENERATED
/// { ALWAYS | BY DEFAULT } AS IDENTITY [( options )]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddIdentityStatement {
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// `ONLY` (Freshet has no table inheritance: it changes nothing).
    pub only: bool,
    /// The table.
    pub table: ObjectName,
    /// The column.
    pub column: Ident,
    /// `ALWAYS` (else `BY DEFAULT`).
    pub always: bool,
    /// `SEQUENCE NAME s`: the identity sequence's name (else PostgreSQL's
    /// `table_column_seq`).
    pub sequence_name: Option<ObjectName>,
    /// The sequence's other options.
    pub options: Vec<SequenceOptions>,
}

impl std::fmt::Display for AddIdentityStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ALTER TABLE {}{}{} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY",
            if self.if_exists { "IF EXISTS " } else { "" },
            if self.only { "ONLY " } else { "" },
            self.table,
            self.column,
            if self.always { "ALWAYS" } else { "BY DEFAULT" },
        )?;
        if self.sequence_name.is_none() && self.options.is_empty() {
            return Ok(());
        }
        f.write_str(" (")?;
        if let Some(name) = &self.sequence_name {
            write!(f, "SEQUENCE NAME {name}")?;
        }
        for o in &self.options {
            // Each option writes its own leading space.
            write!(f, "{o}")?;
        }
        f.write_str(" )")
    }
}

/// Whether the statement at the parser is `ALTER TABLE ... ALTER [COLUMN]
/// c ADD GENERATED`: its first tokens, up to `GENERATED`.
pub fn is_add_identity(parser: &Parser) -> bool {
    let at = |n: usize| word(&parser.peek_nth_token(n).token);
    if at(0).as_deref() != Some("alter") || at(1).as_deref() != Some("table") {
        return false;
    }
    // The table name: words separated by periods, after `IF EXISTS` and
    // `ONLY`.
    let mut n = 2;
    if at(n).as_deref() == Some("if") {
        n += 2;
    }
    if at(n).as_deref() == Some("only") {
        n += 1;
    }
    n += 1;
    while parser.peek_nth_token(n).token == Token::Period {
        n += 2;
    }
    if at(n).as_deref() != Some("alter") {
        return false;
    }
    n += 1;
    if at(n).as_deref() == Some("column") {
        n += 1;
    }
    n += 1;
    at(n).as_deref() == Some("add") && at(n + 1).as_deref() == Some("generated")
}

/// Parses an `ALTER TABLE ... ADD GENERATED ... AS IDENTITY` statement
/// (one [`is_add_identity`] recognises), options in any order.
pub fn parse_add_identity(parser: &mut Parser) -> Result<AddIdentityStatement, ParserError> {
    parser.expect_keywords(&[Keyword::ALTER, Keyword::TABLE])?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let only = parser.parse_keyword(Keyword::ONLY);
    let table = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::ALTER)?;
    let _ = parser.parse_keyword(Keyword::COLUMN);
    let column = parser.parse_identifier()?;
    parser.expect_keywords(&[Keyword::ADD, Keyword::GENERATED])?;
    let always = if parser.parse_keyword(Keyword::ALWAYS) {
        true
    } else {
        parser.expect_keywords(&[Keyword::BY, Keyword::DEFAULT])?;
        false
    };
    parser.expect_keywords(&[Keyword::AS, Keyword::IDENTITY])?;
    let mut stmt = AddIdentityStatement {
        if_exists,
        only,
        table,
        column,
        always,
        sequence_name: None,
        options: Vec::new(),
    };
    if !parser.consume_token(&Token::LParen) {
        return Ok(stmt);
    }
    loop {
        if parser.consume_token(&Token::RParen) {
            return Ok(stmt);
        }
        if parser.parse_keywords(&[Keyword::SEQUENCE, Keyword::NAME]) {
            if stmt.sequence_name.is_some() {
                return Err(ParserError::ParserError(
                    "conflicting or redundant options".into(),
                ));
            }
            stmt.sequence_name = Some(parser.parse_object_name(false)?);
            continue;
        }
        match super::sequence_options::parse_sequence_option(parser)? {
            Some(option) => stmt.options.push(option),
            None => return parser.expected("a sequence option or )", parser.peek_token()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn stripped(sql: &str) -> (String, Vec<(Location, Overriding)>) {
        let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        let found = strip_overriding(&mut tokens);
        let text: String = tokens.iter().map(|t| t.token.to_string()).collect();
        (text.split_whitespace().collect::<Vec<_>>().join(" "), found)
    }

    #[test]
    fn overriding_is_taken_out_of_inserts_only() {
        let (text, found) = stripped(
            "INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1); SELECT 1; \
             INSERT INTO u (a) OVERRIDING USER VALUE SELECT 2",
        );
        assert_eq!(
            text,
            "INSERT INTO t VALUES (1); SELECT 1; INSERT INTO u (a) SELECT 2"
        );
        assert_eq!(
            found
                .iter()
                .map(|(l, o)| (l.line, l.column, *o))
                .collect::<Vec<_>>(),
            vec![(1, 1, Overriding::System), (1, 61, Overriding::User)]
        );
        // Not in a SELECT, nor in parentheses.
        let sql = "SELECT overriding system value FROM t";
        assert_eq!(stripped(sql), (sql.to_string(), vec![]));
        let (_, found) = stripped("INSERT INTO t SELECT (overriding system value) FROM t");
        assert!(found.is_empty());
    }

    #[test]
    fn add_identity_reads_pg_dumps_form() {
        let sql = "ALTER TABLE public.t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (\n\
                   SEQUENCE NAME public.t_id_seq START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1\n)";
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(sql).unwrap();
        assert!(is_add_identity(&parser));
        let stmt = parse_add_identity(&mut parser).unwrap();
        assert!(stmt.always);
        assert_eq!(stmt.sequence_name.unwrap().to_string(), "public.t_id_seq");
        assert_eq!(stmt.options.len(), 5);
        let parser = Parser::new(&dialect)
            .try_with_sql("ALTER TABLE t ALTER COLUMN id SET DEFAULT 1")
            .unwrap();
        assert!(!is_add_identity(&parser));
    }
}
