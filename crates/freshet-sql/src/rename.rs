//! `ALTER { TABLE | VIEW | MATERIALIZED VIEW | INDEX | SEQUENCE | SOURCE |
//! SINK | CONNECTION | SECRET } [IF EXISTS] name RENAME TO new` and `ALTER
//! SCHEMA name RENAME TO new`, which sqlparser parses only in part (not
//! `ALTER VIEW ... RENAME`, nor Materialize's object kinds): one statement
//! for every kind, executed by `coord::rename`.
//!
//! `ALTER { TABLE | VIEW | MATERIALIZED VIEW | SOURCE } [IF EXISTS] name
//! RENAME [COLUMN] c TO new` renames a column (`coord::rename_column`):
//! the same statement, with the column.
//!
//! The new name is one identifier, as in PostgreSQL's grammar: an object
//! keeps its schema, and `RENAME TO s.x` is a syntax error at the `.`.

use sqlparser::ast::{Ident, ObjectName};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// What kind of object an `ALTER ... RENAME TO` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameKind {
    /// `ALTER TABLE` (PostgreSQL renames any relation with it).
    Table,
    /// `ALTER VIEW`.
    View,
    /// `ALTER MATERIALIZED VIEW`.
    MaterializedView,
    /// `ALTER INDEX`.
    Index,
    /// `ALTER SEQUENCE`.
    Sequence,
    /// `ALTER SOURCE`.
    Source,
    /// `ALTER SINK`.
    Sink,
    /// `ALTER CONNECTION`.
    Connection,
    /// `ALTER SECRET`.
    Secret,
    /// `ALTER SCHEMA`.
    Schema,
}

impl RenameKind {
    /// The words after `ALTER` (the command tag's).
    pub fn sql(self) -> &'static str {
        match self {
            RenameKind::Table => "TABLE",
            RenameKind::View => "VIEW",
            RenameKind::MaterializedView => "MATERIALIZED VIEW",
            RenameKind::Index => "INDEX",
            RenameKind::Sequence => "SEQUENCE",
            RenameKind::Source => "SOURCE",
            RenameKind::Sink => "SINK",
            RenameKind::Connection => "CONNECTION",
            RenameKind::Secret => "SECRET",
            RenameKind::Schema => "SCHEMA",
        }
    }
}

/// `ALTER kind [IF EXISTS] name RENAME TO new_name`.
#[derive(Debug, Clone)]
pub struct AlterRenameStatement {
    /// The kind the statement names.
    pub kind: RenameKind,
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// The object.
    pub name: ObjectName,
    /// The column renamed (`RENAME [COLUMN] c TO new`); `None` when the
    /// object is.
    pub column: Option<Ident>,
    /// Its new name (the object's in the same schema, or the column's).
    pub new_name: Ident,
}

impl std::fmt::Display for AlterRenameStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ALTER {} {}{} RENAME ",
            self.kind.sql(),
            if self.if_exists { "IF EXISTS " } else { "" },
            self.name,
        )?;
        if let Some(column) = &self.column {
            write!(f, "COLUMN {column} ")?;
        }
        write!(f, "TO {}", self.new_name)
    }
}

fn word_is(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.value.eq_ignore_ascii_case(w) && word.quote_style.is_none())
}

/// The kind and the number of words it takes, if the statement starts
/// `ALTER <kind>`.
fn kind_at(parser: &Parser) -> Option<(RenameKind, usize)> {
    if !word_is(&parser.peek_nth_token(0).token, "ALTER") {
        return None;
    }
    let t1 = parser.peek_nth_token(1).token;
    let one = |kind| Some((kind, 1));
    if word_is(&t1, "MATERIALIZED") && word_is(&parser.peek_nth_token(2).token, "VIEW") {
        return Some((RenameKind::MaterializedView, 2));
    }
    [
        ("TABLE", RenameKind::Table),
        ("VIEW", RenameKind::View),
        ("INDEX", RenameKind::Index),
        ("SEQUENCE", RenameKind::Sequence),
        ("SOURCE", RenameKind::Source),
        ("SINK", RenameKind::Sink),
        ("CONNECTION", RenameKind::Connection),
        ("SECRET", RenameKind::Secret),
        ("SCHEMA", RenameKind::Schema),
    ]
    .into_iter()
    .find(|(w, _)| word_is(&t1, w))
    .and_then(|(_, kind)| one(kind))
}

/// Whether PostgreSQL's grammar has `RENAME [COLUMN] c TO new` for the
/// kind (and Materialize's, for sources: refused later, not as a syntax
/// error).
fn has_columns(kind: RenameKind) -> bool {
    matches!(
        kind,
        RenameKind::Table | RenameKind::View | RenameKind::MaterializedView | RenameKind::Source
    )
}

/// Whether the statement is `ALTER <kind> [IF EXISTS] name RENAME TO` or,
/// for a kind with columns, `... RENAME [COLUMN] c TO` (looked at without
/// consuming anything).
pub fn is_rename(parser: &Parser) -> bool {
    let Some((kind, words)) = kind_at(parser) else {
        return false;
    };
    let mut i = 1 + words;
    if word_is(&parser.peek_nth_token(i).token, "IF")
        && word_is(&parser.peek_nth_token(i + 1).token, "EXISTS")
    {
        i += 2;
    }
    // The name: identifiers separated by periods.
    loop {
        if !matches!(parser.peek_nth_token(i).token, Token::Word(_)) {
            return false;
        }
        i += 1;
        if parser.peek_nth_token(i).token == Token::Period {
            i += 1;
        } else {
            break;
        }
    }
    if !word_is(&parser.peek_nth_token(i).token, "RENAME") {
        return false;
    }
    let next = parser.peek_nth_token(i + 1).token;
    // `RENAME TO`, or a column: `RENAME COLUMN c TO`, `RENAME c TO` (a
    // column named `to` needs `COLUMN` or quotes, as in PostgreSQL).
    word_is(&next, "TO")
        || (has_columns(kind)
            && matches!(next, Token::Word(_))
            && (word_is(&parser.peek_nth_token(i + 2).token, "TO") || word_is(&next, "COLUMN")))
}

/// Parses a statement [`is_rename`] accepted.
pub fn parse_rename(parser: &mut Parser) -> Result<AlterRenameStatement, ParserError> {
    let Some((kind, words)) = kind_at(parser) else {
        return parser.expected("ALTER", parser.peek_token());
    };
    for _ in 0..=words {
        parser.next_token();
    }
    // PostgreSQL's grammar has no `ALTER SCHEMA IF EXISTS`.
    let if_exists =
        kind != RenameKind::Schema && parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::RENAME)?;
    let column = if parser.parse_keyword(Keyword::TO) {
        None
    } else {
        // `RENAME COLUMN TO x`: PostgreSQL takes `column` as the column's
        // name there.
        if !word_is(&parser.peek_nth_token(1).token, "TO") {
            let _ = parser.parse_keyword(Keyword::COLUMN);
        }
        let column = parser.parse_identifier()?;
        parser.expect_keyword(Keyword::TO)?;
        Some(column)
    };
    let new_name = parser.parse_identifier()?;
    Ok(AlterRenameStatement {
        kind,
        if_exists,
        name,
        column,
        new_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;

    fn parse(sql: &str) -> Option<AlterRenameStatement> {
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(sql).ok()?;
        if !is_rename(&parser) {
            return None;
        }
        parse_rename(&mut parser).ok()
    }

    #[test]
    fn every_kind_parses_and_prints_back() {
        for sql in [
            "ALTER TABLE IF EXISTS s.t RENAME TO t2",
            "ALTER VIEW v RENAME TO \"V 2\"",
            "ALTER MATERIALIZED VIEW mv RENAME TO mv2",
            "ALTER INDEX i RENAME TO j",
            "ALTER SEQUENCE q RENAME TO r",
            "ALTER SOURCE src RENAME TO src2",
            "ALTER SINK k RENAME TO k2",
            "ALTER CONNECTION c RENAME TO c2",
            "ALTER SECRET p RENAME TO p2",
            "ALTER SCHEMA s RENAME TO s2",
            "ALTER TABLE IF EXISTS s.t RENAME COLUMN a TO \"B\"",
            "ALTER VIEW v RENAME COLUMN a TO b",
            "ALTER MATERIALIZED VIEW mv RENAME COLUMN a TO b",
            "ALTER SOURCE src RENAME COLUMN a TO b",
        ] {
            assert_eq!(parse(sql).map(|s| s.to_string()).as_deref(), Some(sql));
        }
    }

    #[test]
    fn column_renames_parse_with_or_without_column() {
        let column = |sql| {
            parse(sql)
                .and_then(|s| s.column)
                .map(|c| c.value.to_lowercase())
        };
        assert_eq!(column("ALTER TABLE t RENAME a TO b").as_deref(), Some("a"));
        assert_eq!(
            column("ALTER TABLE t RENAME COLUMN a TO b").as_deref(),
            Some("a")
        );
        // A column named `column`, as PostgreSQL reads it.
        assert_eq!(
            column("ALTER TABLE t RENAME COLUMN TO b").as_deref(),
            Some("column")
        );
        assert_eq!(column("ALTER TABLE t RENAME TO b"), None);
    }

    #[test]
    fn other_alters_are_not_renames() {
        // PostgreSQL's grammar has no column rename for these kinds.
        assert!(parse("ALTER INDEX i RENAME COLUMN a TO b").is_none());
        assert!(parse("ALTER SEQUENCE q RENAME a TO b").is_none());
        assert!(parse("ALTER TABLE t RENAME CONSTRAINT a TO b").is_none());
        assert!(parse("ALTER SEQUENCE q RESTART").is_none());
        assert!(parse("ALTER SECRET p AS 'x'").is_none());
    }
}
