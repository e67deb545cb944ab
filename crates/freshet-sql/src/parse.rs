//! Statement parsing: sqlparser's PostgreSQL dialect, plus the statements
//! Freshet adds (Materialize's syntax): `SUBSCRIBE`, `SHOW <objects>`,
//! `CREATE SOURCE ... FROM LOAD GENERATOR`, `CREATE DEFAULT INDEX`,
//! `COPY (SUBSCRIBE ...) TO STDOUT`.

use sqlparser::ast::{Ident, ObjectName, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::PlanError;
pub use super::subscribe::{SubscribeRelation, SubscribeStatement, parse_subscribe};

/// A parsed statement.
#[derive(Debug, Clone)]
pub enum FreshetStatement {
    /// A statement sqlparser understands.
    Sql(Box<Statement>),
    /// `SUBSCRIBE ...`.
    Subscribe(SubscribeStatement),
    /// `COPY ... FROM STDIN | TO STDOUT`, including Materialize's
    /// `COPY (SUBSCRIBE ...) TO STDOUT`.
    Copy(super::copy::CopyStatement),
    /// `SHOW TABLES | VIEWS | ... | COLUMNS FROM x | CREATE ...`, with the
    /// `LIKE 'pattern'` or `WHERE expr` filter the listing ones take.
    Show(ShowStatement, Option<ShowFilter>),
    /// `CREATE SOURCE name FROM LOAD GENERATOR ...`.
    CreateLoadGenerator(LoadGeneratorStatement),
    /// Materialize's `EXPLAIN ... PLAN FOR ...` and `EXPLAIN [MATERIALIZED]
    /// VIEW name`.
    ExplainPlan(super::explain::ExplainPlanStatement),
    /// `DECLARE name CURSOR [WITHOUT HOLD] FOR query | SUBSCRIBE ...`.
    Declare {
        /// The cursor name.
        name: String,
        /// What it reads.
        statement: Box<FreshetStatement>,
    },
    /// `FETCH [FORWARD] [n | ALL | NEXT] [FROM | IN] name [WITH (TIMEOUT = 'interval')]`.
    Fetch {
        /// The cursor name.
        name: String,
        /// How many rows; `None` for ALL.
        count: Option<u64>,
        /// How long to wait for a first row of a subscribe; `None` waits
        /// until there is one.
        timeout: Option<std::time::Duration>,
    },
    /// `CLOSE name | ALL`.
    Close {
        /// The cursor name; `None` for ALL.
        name: Option<String>,
    },
    /// `CREATE SECRET ...`.
    CreateSecret(super::source::CreateSecretStatement),
    /// `ALTER kind [IF EXISTS] name RENAME TO new` (`sql/rename.rs`).
    AlterRename(super::rename::AlterRenameStatement),
    /// `ALTER SECRET [IF EXISTS] name AS 'value'`.
    AlterSecret(super::source::AlterSecretStatement),
    /// `COMMENT ON CONSTRAINT name ON table IS 'text' | NULL`, which
    /// sqlparser does not parse.
    CommentOnConstraint(CommentOnConstraintStatement),
    /// `ALTER SEQUENCE [IF EXISTS] name options`.
    AlterSequence(super::sequence_options::AlterSequenceStatement),
    /// `ALTER TABLE t ALTER [COLUMN] c ADD GENERATED ... AS IDENTITY [(...)]`.
    AddIdentity(Box<super::identity_syntax::AddIdentityStatement>),
    /// `INSERT ... OVERRIDING { SYSTEM | USER } VALUE ...`: the `INSERT`
    /// without the clause, and the clause.
    InsertOverriding {
        /// The `INSERT`.
        insert: Box<Statement>,
        /// Which values win.
        overriding: super::identity_syntax::Overriding,
    },
    /// `CREATE CONNECTION ... TO KAFKA | CONFLUENT SCHEMA REGISTRY ...`.
    CreateConnection(super::source::CreateConnectionStatement),
    /// `CREATE SOURCE ... FROM KAFKA CONNECTION ...`.
    CreateKafkaSource(super::source::CreateKafkaSourceStatement),
    /// `CREATE SINK ... INTO KAFKA CONNECTION ...`.
    CreateSink(super::sink::CreateSinkStatement),
    /// `DROP SOURCE | SINK | CONNECTION | SECRET [IF EXISTS] names [CASCADE | RESTRICT]`.
    DropObjects {
        /// `SOURCE`, `CONNECTION` or `SECRET`.
        kind: DropKind,
        /// `IF EXISTS`.
        if_exists: bool,
        /// The sources.
        names: Vec<ObjectName>,
        /// `CASCADE`.
        cascade: bool,
    },
    /// `REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH [NO] DATA]`
    /// (`pg_dump` writes it after loading the data): Freshet's
    /// materialized views are always up to date, so it only checks that
    /// `name` is one.
    RefreshMaterializedView {
        /// The view.
        name: ObjectName,
    },
    /// `CREATE DEFAULT INDEX [IF NOT EXISTS] [name] ON obj`.
    CreateDefaultIndex {
        /// The index name, if given.
        name: Option<ObjectName>,
        /// The indexed object.
        on: ObjectName,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
}

impl FreshetStatement {
    /// The statement as SQL text that parses back to it (what the catalog
    /// stores for the objects a statement creates).
    pub fn to_sql(&self) -> String {
        match self {
            FreshetStatement::Sql(s) => s.to_string(),
            FreshetStatement::CreateLoadGenerator(lg) => {
                let mut sql = format!(
                    "CREATE SOURCE {}{} FROM LOAD GENERATOR {} (TICK INTERVAL '{}ms'",
                    if lg.if_not_exists {
                        "IF NOT EXISTS "
                    } else {
                        ""
                    },
                    lg.name,
                    match lg.kind {
                        LoadGeneratorKind::Counter => "COUNTER",
                        LoadGeneratorKind::Auction => "AUCTION",
                    },
                    lg.tick_ms
                );
                if let Some(u) = lg.up_to {
                    sql.push_str(&format!(", UP TO {u}"));
                }
                if lg.seed != 0 {
                    sql.push_str(&format!(", SEED {}", lg.seed));
                }
                sql.push(')');
                if lg.kind == LoadGeneratorKind::Auction {
                    sql.push_str(" FOR ALL TABLES");
                }
                sql
            }
            FreshetStatement::CreateDefaultIndex {
                name,
                on,
                if_not_exists,
            } => format!(
                "CREATE DEFAULT INDEX {}{}ON {on}",
                if *if_not_exists { "IF NOT EXISTS " } else { "" },
                name.as_ref().map(|n| format!("{n} ")).unwrap_or_default()
            ),
            FreshetStatement::CreateSecret(s) => s.to_string(),
            FreshetStatement::AlterSequence(s) => s.to_string(),
            FreshetStatement::AlterRename(s) => s.to_string(),
            FreshetStatement::CommentOnConstraint(c) => format!(
                "COMMENT ON CONSTRAINT {} ON {} IS {}",
                c.name,
                c.table,
                c.comment.as_ref().map_or_else(
                    || "NULL".to_string(),
                    |t| format!("'{}'", t.replace('\'', "''"))
                )
            ),
            FreshetStatement::AddIdentity(s) => s.to_string(),
            FreshetStatement::CreateConnection(c) => c.to_string(),
            FreshetStatement::CreateKafkaSource(k) => k.to_string(),
            FreshetStatement::CreateSink(k) => k.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// `COMMENT ON CONSTRAINT name ON table IS 'text' | NULL`.
#[derive(Debug, Clone)]
pub struct CommentOnConstraintStatement {
    /// The constraint.
    pub name: Ident,
    /// Its table.
    pub table: ObjectName,
    /// The text; `None` removes the comment.
    pub comment: Option<String>,
}

/// `COMMENT ON CONSTRAINT` after its first three words.
fn parse_comment_on_constraint(
    parser: &mut Parser,
) -> Result<CommentOnConstraintStatement, ParserError> {
    let name = parser.parse_identifier()?;
    parser.expect_keyword(Keyword::ON)?;
    let table = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::IS)?;
    let comment = if parser.parse_keyword(Keyword::NULL) {
        None
    } else {
        Some(parser.parse_literal_string()?)
    };
    Ok(CommentOnConstraintStatement {
        name,
        table,
        comment,
    })
}

/// The objects Freshet's own `DROP` statements drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropKind {
    /// `DROP SOURCE`.
    Source,
    /// `DROP SINK`.
    Sink,
    /// `DROP CONNECTION`.
    Connection,
    /// `DROP SECRET`.
    Secret,
}

/// A SHOW statement over catalog objects. `from` is `FROM schema` (or
/// `FROM database.schema`); without it, the first schema of the
/// `search_path` that exists is listed (Materialize).
#[derive(Debug, Clone)]
pub enum ShowStatement {
    /// `SHOW SCHEMAS [FROM database]`.
    Schemas(Option<ObjectName>),
    /// `SHOW OBJECTS [FROM schema]`: every object of the schema, with its
    /// kind.
    Objects(Option<ObjectName>),
    /// `SHOW TYPES [FROM schema]`: the schema's user-defined types.
    Types(Option<ObjectName>),
    /// `SHOW SUBSOURCES [FROM schema] [ON source]`.
    Subsources {
        /// `FROM schema`.
        from: Option<ObjectName>,
        /// `ON source`.
        on: Option<ObjectName>,
    },
    /// `SHOW DATABASES`.
    Databases,
    /// `SHOW ROLES`.
    Roles,
    /// `SHOW CLUSTERS`.
    Clusters,
    /// `SHOW CLUSTER REPLICAS`.
    ClusterReplicas,
    /// `SHOW TABLES [FROM schema]`.
    Tables(Option<ObjectName>),
    /// `SHOW VIEWS [FROM schema]`.
    Views(Option<ObjectName>),
    /// `SHOW MATERIALIZED VIEWS [FROM schema]`.
    MaterializedViews(Option<ObjectName>),
    /// `SHOW SOURCES [FROM schema]`.
    Sources(Option<ObjectName>),
    /// `SHOW SINKS [FROM schema]`.
    Sinks(Option<ObjectName>),
    /// `SHOW CONNECTIONS [FROM schema]`.
    Connections(Option<ObjectName>),
    /// `SHOW SECRETS [FROM schema]`.
    Secrets(Option<ObjectName>),
    /// `SHOW INDEXES [FROM schema] [ON obj]`: the indexes on `obj`, else
    /// those in the schema.
    Indexes {
        /// `FROM schema`.
        from: Option<ObjectName>,
        /// `ON obj`.
        on: Option<ObjectName>,
    },
    /// `SHOW COLUMNS FROM obj`.
    Columns(ObjectName),
    /// `SHOW CREATE TABLE|VIEW|MATERIALIZED VIEW|SOURCE|INDEX|SINK|CONNECTION obj`:
    /// the kind's SQL name (as `ItemKind::name`) and the object.
    Create(&'static str, ObjectName),
}

impl ShowStatement {
    /// Whether the statement takes a `LIKE` or `WHERE` filter: every
    /// listing does, `SHOW CREATE` (one row) does not (Materialize).
    pub fn takes_filter(&self) -> bool {
        !matches!(self, ShowStatement::Create(..))
    }
}

/// The filter after a listing `SHOW`: `LIKE 'pattern'` keeps the rows
/// whose `name` matches (the first column, where there is no `name`);
/// `WHERE expr` is evaluated over the result's columns (Materialize's
/// `ShowStatementFilter`).
#[derive(Debug, Clone)]
pub enum ShowFilter {
    /// `LIKE 'pattern'`.
    Like(String),
    /// `WHERE expr`.
    Where(Box<sqlparser::ast::Expr>),
}

/// The load generator kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadGeneratorKind {
    /// `COUNTER`: one row per tick, 1, 2, 3, ...
    Counter,
    /// `AUCTION`: Materialize's auction schema.
    Auction,
}

/// `CREATE SOURCE name FROM LOAD GENERATOR kind [(TICK INTERVAL 'i', ...)] [FOR ALL TABLES]`.
#[derive(Debug, Clone)]
pub struct LoadGeneratorStatement {
    /// The source name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The generator.
    pub kind: LoadGeneratorKind,
    /// The tick interval, in milliseconds.
    pub tick_ms: u64,
    /// `UP TO n`: stop after n ticks.
    pub up_to: Option<u64>,
    /// The random seed.
    pub seed: u64,
}

fn syntax(e: ParserError) -> PlanError {
    let s = e.to_string();
    let s = s.strip_prefix("sql parser error: ").unwrap_or(&s);
    PlanError::Syntax(s.to_string())
}

/// A parser error of `sql` in PostgreSQL's words: `syntax error at or near
/// "x"` (or `at end of input`) at the offending token's position, where the
/// parser names the token it found and where.
fn syntax_in(sql: &str, e: ParserError) -> PlanError {
    let text = e.to_string();
    let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
    let Some((body, location)) = text.rsplit_once(" at Line: ") else {
        return match text.split_once("found: ") {
            Some((_, "EOF")) => PlanError::SyntaxAt {
                message: "syntax error at end of input".into(),
                position: sql.chars().count() + 1,
            },
            Some((_, token)) => PlanError::Syntax(format!("syntax error at or near \"{token}\"")),
            None => syntax(e),
        };
    };
    let Some(position) = position_of(sql, location) else {
        return syntax(e);
    };
    let message = match body.split_once("found: ") {
        Some((_, "EOF")) => "syntax error at end of input".to_string(),
        Some((_, token)) => format!("syntax error at or near \"{token}\""),
        None if body.starts_with("Unterminated string literal") => {
            let rest: String = sql.chars().skip(position - 1).collect();
            format!("unterminated quoted string at or near \"{rest}\"")
        }
        None => body.to_string(),
    };
    PlanError::SyntaxAt { message, position }
}

/// The character position (from 1) of sqlparser's `Line: l, Column: c` in
/// `sql`.
fn position_of(sql: &str, location: &str) -> Option<usize> {
    let (line, column) = location.split_once(", Column: ")?;
    position_at(sql, line.trim().parse().ok()?, column.trim().parse().ok()?)
}

/// The character position (from 1) of line `line`, column `column` (both
/// from 1) of `sql`.
fn position_at(sql: &str, line: u64, column: u64) -> Option<usize> {
    let before: usize = sql
        .split_inclusive('\n')
        .take(usize::try_from(line.checked_sub(1)?).ok()?)
        .map(|l| l.chars().count())
        .sum();
    Some(before + usize::try_from(column).ok()?)
}

/// A syntax error `message` at `token`, with its position where known.
fn syntax_at(sql: &str, token: &TokenWithSpan, message: String) -> PlanError {
    match position_at(sql, token.span.start.line, token.span.start.column) {
        Some(position) => PlanError::SyntaxAt { message, position },
        None => PlanError::Syntax(message),
    }
}

/// The parser has no `EXCLUDE` clause of a window frame (`ROWS BETWEEN
/// ... EXCLUDE CURRENT ROW`), which PostgreSQL has: where the parser stops
/// at `EXCLUDE` in a statement with a window frame, the error is `0A000`,
/// a construct Freshet does not support, not bad syntax.
fn frame_exclusion(sql: &str, e: ParserError) -> PlanError {
    if !e
        .to_string()
        .to_ascii_uppercase()
        .contains("FOUND: EXCLUDE")
    {
        return syntax_in(sql, e);
    }
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = sqlparser::tokenizer::Tokenizer::new(&dialect, sql).tokenize() else {
        return syntax_in(sql, e);
    };
    // `EXCLUDE` right after a frame bound (`CURRENT ROW`, `n PRECEDING`,
    // `UNBOUNDED FOLLOWING`).
    let words: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let after_bound = words.windows(2).any(|w| {
        word_is(w[1], "EXCLUDE")
            && ["ROW", "PRECEDING", "FOLLOWING"]
                .iter()
                .any(|b| word_is(w[0], b))
    });
    if after_bound {
        return PlanError::Unsupported("EXCLUDE in a window frame".into());
    }
    syntax_in(sql, e)
}

/// Parses a string of `;`-separated statements.
pub fn parse_statements(sql: &str) -> Result<Vec<FreshetStatement>, PlanError> {
    let dialect = PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_in(sql, e.into()))?;
    // `""`: PostgreSQL has no empty identifier.
    if let Some(t) = tokens.iter().find(
        |t| matches!(&t.token, Token::Word(w) if w.quote_style == Some('"') && w.value.is_empty()),
    ) {
        let message = "zero-length delimited identifier at or near \"\"\"\"".to_string();
        return Err(syntax_at(sql, t, message));
    }
    let mut tokens = super::pg_syntax::rewrite_tokens(tokens);
    let overriding = super::identity_syntax::strip_overriding(&mut tokens);
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let next = parser.peek_token();
        if next.token == Token::EOF {
            break;
        }
        let stmt = parse_one(&mut parser).map_err(|e| parse_error(sql, e))?;
        let clause = overriding
            .iter()
            .find(|(at, _)| *at == next.span.start)
            .map(|(_, o)| *o);
        out.push(match (stmt, clause) {
            (FreshetStatement::Sql(insert), Some(overriding))
                if matches!(*insert, Statement::Insert(_)) =>
            {
                FreshetStatement::InsertOverriding { insert, overriding }
            }
            (_, Some(_)) => {
                return Err(PlanError::Syntax(
                    "syntax error at or near \"OVERRIDING\"".into(),
                ));
            }
            (stmt, None) => stmt,
        });
        if parser.peek_token().token != Token::EOF && !parser.consume_token(&Token::SemiColon) {
            let t = parser.peek_token();
            let message = format!("syntax error at or near \"{}\"", t.token);
            return Err(syntax_at(sql, &t, message));
        }
    }
    Ok(out)
}

/// The error for a statement the parser stops in: a frame exclusion
/// ([`frame_exclusion`]), a negative type modifier
/// ([`negative_type_modifier`]), or bad syntax.
fn parse_error(sql: &str, e: ParserError) -> PlanError {
    negative_type_modifier(sql, &e).unwrap_or_else(|| frame_exclusion(sql, e))
}

/// The types a modifier follows, as the parser may meet them.
const TYPES_WITH_MODIFIERS: &[&str] = &[
    "numeric",
    "decimal",
    "dec",
    "timestamptz",
    "timetz",
    "time",
    "timestamp",
    "interval",
    "varchar",
    "bpchar",
    "char",
    "character",
    "varying",
    "float",
    "bit",
    "varbit",
];

/// The parser reads a type modifier only as an unsigned number, and stops
/// at `time(-1)`. PostgreSQL's grammar does the same for the types named
/// by keywords (`time`, `timestamp`, `interval`, `varchar`, `char`,
/// `float`: a syntax error at the `-`), but reads any expressions as the
/// modifiers of `numeric` and of types named as identifiers (`timestamptz`,
/// `timetz`, `pg_catalog.time`) and refuses a negative one when it checks
/// the modifier (`22023`, with the type's message). `None` where the
/// parser did not stop at `name(-`.
fn negative_type_modifier(sql: &str, e: &ParserError) -> Option<PlanError> {
    if !e.to_string().ends_with("found: -") && !e.to_string().contains("found: - at") {
        return None;
    }
    let dialect = PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, sql)
        .tokenize()
        .ok()?;
    let words: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    // `[pg_catalog .] type ( - n`: the first such place in the statement
    // (not a function call, `abs(-1)`).
    let (i, modifier) = words.windows(4).enumerate().find_map(|(i, w)| match w {
        [
            Token::Word(word),
            Token::LParen,
            Token::Minus,
            Token::Number(n, _),
        ] if TYPES_WITH_MODIFIERS.contains(&word.value.to_lowercase().as_str()) => {
            Some((i, n.clone()))
        }
        _ => None,
    })?;
    let Token::Word(name) = words[i] else {
        return None;
    };
    let qualified =
        i >= 2 && matches!(words[i - 1], Token::Period) && word_is(words[i - 2], "pg_catalog");
    let name = name.value.to_lowercase();
    let invalid = |message: String| Some(PlanError::InvalidParameter(message));
    match (name.as_str(), qualified) {
        ("numeric" | "decimal" | "dec", _) => invalid(format!(
            "NUMERIC precision -{modifier} must be between 1 and 1000"
        )),
        ("timestamptz", _) => invalid(format!(
            "TIMESTAMP(-{modifier}) WITH TIME ZONE precision must not be negative"
        )),
        ("timetz", _) => invalid(format!(
            "TIME(-{modifier}) WITH TIME ZONE precision must not be negative"
        )),
        ("time", true) => invalid(format!("TIME(-{modifier}) precision must not be negative")),
        ("timestamp", true) => invalid(format!(
            "TIMESTAMP(-{modifier}) precision must not be negative"
        )),
        ("interval", true) => invalid("invalid INTERVAL type modifier".into()),
        ("varchar", true) => invalid("length for type varchar must be at least 1".into()),
        ("bpchar", _) => invalid("length for type char must be at least 1".into()),
        _ => Some(PlanError::Syntax("syntax error at or near \"-\"".into())),
    }
}

fn word_is(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.value.eq_ignore_ascii_case(w))
}

fn parse_one(parser: &mut Parser) -> Result<FreshetStatement, ParserError> {
    let t0 = parser.peek_token().token;
    let t1 = parser.peek_nth_token(1).token;
    let t2 = parser.peek_nth_token(2).token;
    if word_is(&t0, "SUBSCRIBE") {
        parser.next_token();
        return parse_subscribe(parser).map(FreshetStatement::Subscribe);
    }
    if super::explain::is_explain_plan(parser) {
        return super::explain::parse_explain_plan(parser).map(FreshetStatement::ExplainPlan);
    }
    if word_is(&t0, "COPY") {
        parser.next_token();
        return super::copy::parse_copy(parser, parse_subscribe).map(FreshetStatement::Copy);
    }
    if word_is(&t0, "SHOW")
        && let Some(show) = parse_show(parser)?
    {
        let filter = if show.takes_filter() {
            parse_show_filter(parser)?
        } else {
            None
        };
        return Ok(FreshetStatement::Show(show, filter));
    }
    if word_is(&t0, "CREATE") && word_is(&t1, "SOURCE") {
        parser.next_token();
        parser.next_token();
        return parse_create_source(parser);
    }
    if word_is(&t0, "CREATE") && word_is(&t1, "SINK") {
        parser.next_token();
        parser.next_token();
        return super::sink::parse_create_sink(parser).map(FreshetStatement::CreateSink);
    }
    if word_is(&t0, "CREATE") && word_is(&t1, "SECRET") {
        parser.next_token();
        parser.next_token();
        return super::source::parse_create_secret(parser).map(FreshetStatement::CreateSecret);
    }
    if super::rename::is_rename(parser) {
        return super::rename::parse_rename(parser).map(FreshetStatement::AlterRename);
    }
    if word_is(&t0, "ALTER") && word_is(&t1, "SECRET") {
        parser.next_token();
        parser.next_token();
        return super::source::parse_alter_secret(parser).map(FreshetStatement::AlterSecret);
    }
    if super::identity_syntax::is_add_identity(parser) {
        return super::identity_syntax::parse_add_identity(parser)
            .map(|s| FreshetStatement::AddIdentity(Box::new(s)));
    }
    if word_is(&t0, "COMMENT") && word_is(&t1, "ON") && word_is(&t2, "CONSTRAINT") {
        parser.next_token();
        parser.next_token();
        parser.next_token();
        return parse_comment_on_constraint(parser).map(FreshetStatement::CommentOnConstraint);
    }
    if word_is(&t0, "ALTER") && word_is(&t1, "SEQUENCE") {
        parser.next_token();
        parser.next_token();
        return super::sequence_options::parse_alter_sequence(parser)
            .map(FreshetStatement::AlterSequence);
    }
    if word_is(&t0, "CREATE") && word_is(&t1, "CONNECTION") {
        parser.next_token();
        parser.next_token();
        return super::source::parse_create_connection(parser)
            .map(FreshetStatement::CreateConnection);
    }
    if word_is(&t0, "DECLARE") {
        parser.next_token();
        let name = ident_name(parser.parse_identifier()?);
        let _ = parser.parse_keyword(Keyword::NO);
        let _ = parser.parse_keyword(Keyword::SCROLL);
        parser.expect_keyword(Keyword::CURSOR)?;
        if parser.parse_keyword(Keyword::WITH) || parser.parse_keyword(Keyword::WITHOUT) {
            parser.expect_keyword(Keyword::HOLD)?;
        }
        parser.expect_keyword(Keyword::FOR)?;
        let inner = if word_is(&parser.peek_token().token, "SUBSCRIBE") {
            parser.next_token();
            FreshetStatement::Subscribe(parse_subscribe(parser)?)
        } else {
            FreshetStatement::Sql(Box::new(Statement::Query(parser.parse_query()?)))
        };
        return Ok(FreshetStatement::Declare {
            name,
            statement: Box::new(inner),
        });
    }
    if word_is(&t0, "FETCH") {
        parser.next_token();
        let _ = parser.parse_keyword(Keyword::FORWARD);
        let count = if parser.parse_keyword(Keyword::ALL) {
            None
        } else if parser.parse_keyword(Keyword::NEXT) {
            Some(1)
        } else if let Token::Number(_, _) = parser.peek_token().token {
            Some(parser.parse_literal_uint()?)
        } else {
            Some(1)
        };
        let _ = parser.parse_one_of_keywords(&[Keyword::FROM, Keyword::IN]);
        let name = ident_name(parser.parse_identifier()?);
        let mut timeout = None;
        if parser.parse_keyword(Keyword::WITH) {
            parser.expect_token(&Token::LParen)?;
            let option = parser.parse_identifier()?.value.to_lowercase();
            if option != "timeout" {
                return Err(ParserError::ParserError(format!(
                    "unrecognized FETCH option {option}"
                )));
            }
            let _ = parser.consume_token(&Token::Eq);
            let text = parser.parse_literal_string()?;
            timeout = Some(std::time::Duration::from_millis(
                parse_interval_ms_allow_zero(&text, "FETCH timeout")?,
            ));
            parser.expect_token(&Token::RParen)?;
        }
        return Ok(FreshetStatement::Fetch {
            name,
            count,
            timeout,
        });
    }
    if word_is(&t0, "CLOSE") {
        parser.next_token();
        if parser.parse_keyword(Keyword::ALL) {
            return Ok(FreshetStatement::Close { name: None });
        }
        return Ok(FreshetStatement::Close {
            name: Some(ident_name(parser.parse_identifier()?)),
        });
    }
    let drop_kind = if word_is(&t1, "SOURCE") {
        Some(DropKind::Source)
    } else if word_is(&t1, "SINK") {
        Some(DropKind::Sink)
    } else if word_is(&t1, "CONNECTION") {
        Some(DropKind::Connection)
    } else if word_is(&t1, "SECRET") {
        Some(DropKind::Secret)
    } else {
        None
    };
    if let (true, Some(kind)) = (word_is(&t0, "DROP"), drop_kind) {
        parser.next_token();
        parser.next_token();
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let names = parser.parse_comma_separated(|p| p.parse_object_name(false))?;
        let cascade = parser.parse_keyword(Keyword::CASCADE);
        if !cascade {
            let _ = parser.parse_keyword(Keyword::RESTRICT);
        }
        return Ok(FreshetStatement::DropObjects {
            kind,
            if_exists,
            names,
            cascade,
        });
    }
    if word_is(&t0, "REFRESH") && word_is(&t1, "MATERIALIZED") && word_is(&t2, "VIEW") {
        parser.next_token();
        parser.next_token();
        parser.next_token();
        let _ = parser.parse_keyword(Keyword::CONCURRENTLY);
        let name = parser.parse_object_name(false)?;
        with_data(parser)?;
        return Ok(FreshetStatement::RefreshMaterializedView { name });
    }
    let t3 = parser.peek_nth_token(3).token;
    if word_is(&t0, "CREATE")
        && (word_is(&t1, "MATERIALIZED")
            || (word_is(&t1, "OR") && word_is(&t2, "REPLACE") && word_is(&t3, "MATERIALIZED")))
    {
        let stmt = parser.parse_statement()?;
        with_data(parser)?;
        return Ok(FreshetStatement::Sql(Box::new(stmt)));
    }
    if word_is(&t0, "CREATE") && word_is(&t1, "DEFAULT") && word_is(&t2, "INDEX") {
        parser.next_token();
        parser.next_token();
        parser.next_token();
        let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = if parser.parse_keyword(Keyword::ON) {
            None
        } else {
            let n = parser.parse_object_name(false)?;
            parser.expect_keyword(Keyword::ON)?;
            Some(n)
        };
        let on = parser.parse_object_name(false)?;
        return Ok(FreshetStatement::CreateDefaultIndex {
            name,
            on,
            if_not_exists,
        });
    }
    Ok(FreshetStatement::Sql(Box::new(parser.parse_statement()?)))
}

/// Skips PostgreSQL's `WITH [NO] DATA` after `CREATE MATERIALIZED VIEW`
/// and `REFRESH MATERIALIZED VIEW`. A materialized view is maintained from
/// its creation on, so it is never unpopulated: `pg_dump`'s `CREATE
/// MATERIALIZED VIEW ... WITH NO DATA` (followed, after the data, by
/// `REFRESH MATERIALIZED VIEW`) makes a view that reads its current
/// result at once, where PostgreSQL would refuse to read it before the
/// `REFRESH` (`55000`).
fn with_data(parser: &mut Parser) -> Result<(), ParserError> {
    if parser.parse_keyword(Keyword::WITH) {
        let _ = parser.parse_keyword(Keyword::NO);
        parser.expect_keyword(Keyword::DATA)?;
    }
    Ok(())
}

/// An identifier as PostgreSQL folds it: lower case unless quoted.
fn ident_name(ident: sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_lowercase()
    }
}

/// `[FROM | IN schema] [ON object]`, in either order, after `SHOW INDEXES`
/// and `SHOW SUBSOURCES`.
fn parse_from_on(
    parser: &mut Parser,
) -> Result<(Option<ObjectName>, Option<ObjectName>), ParserError> {
    let mut from = None;
    let mut on = None;
    loop {
        if from.is_none()
            && parser
                .parse_one_of_keywords(&[Keyword::FROM, Keyword::IN])
                .is_some()
        {
            from = Some(parser.parse_object_name(false)?);
        } else if on.is_none() && parser.parse_keyword(Keyword::ON) {
            on = Some(parser.parse_object_name(false)?);
        } else {
            return Ok((from, on));
        }
    }
}

/// `[LIKE 'pattern' | WHERE expr]` at the end of a listing `SHOW`.
fn parse_show_filter(parser: &mut Parser) -> Result<Option<ShowFilter>, ParserError> {
    if parser.parse_keyword(Keyword::LIKE) {
        return Ok(Some(ShowFilter::Like(parser.parse_literal_string()?)));
    }
    if parser.parse_keyword(Keyword::WHERE) {
        return Ok(Some(ShowFilter::Where(Box::new(parser.parse_expr()?))));
    }
    Ok(None)
}

fn parse_show(parser: &mut Parser) -> Result<Option<ShowStatement>, ParserError> {
    let t1 = parser.peek_nth_token(1).token;
    let t2 = parser.peek_nth_token(2).token;
    let simple = |w: &str| word_is(&t1, w);
    type Make = fn(Option<ObjectName>) -> ShowStatement;
    let show: Option<(usize, Make)> = if simple("SCHEMAS") {
        Some((2, ShowStatement::Schemas))
    } else if simple("TABLES") {
        Some((2, ShowStatement::Tables))
    } else if simple("VIEWS") {
        Some((2, ShowStatement::Views))
    } else if simple("MATERIALIZED") && word_is(&t2, "VIEWS") {
        Some((3, ShowStatement::MaterializedViews))
    } else if simple("SOURCES") {
        Some((2, ShowStatement::Sources))
    } else if simple("SINKS") {
        Some((2, ShowStatement::Sinks))
    } else if simple("CONNECTIONS") {
        Some((2, ShowStatement::Connections))
    } else if simple("SECRETS") {
        Some((2, ShowStatement::Secrets))
    } else if simple("OBJECTS") {
        Some((2, ShowStatement::Objects))
    } else if simple("TYPES") {
        Some((2, ShowStatement::Types))
    } else {
        None
    };
    if let Some((n, make)) = show {
        for _ in 0..n {
            parser.next_token();
        }
        let from = if parser
            .parse_one_of_keywords(&[Keyword::FROM, Keyword::IN])
            .is_some()
        {
            Some(parser.parse_object_name(false)?)
        } else {
            None
        };
        return Ok(Some(make(from)));
    }
    // Listings of the whole region take no `FROM`. (`SHOW cluster`,
    // singular, is the session variable.)
    let whole: Option<(usize, ShowStatement)> = if simple("DATABASES") {
        Some((2, ShowStatement::Databases))
    } else if simple("ROLES") {
        Some((2, ShowStatement::Roles))
    } else if simple("CLUSTERS") {
        Some((2, ShowStatement::Clusters))
    } else if simple("CLUSTER") && word_is(&t2, "REPLICAS") {
        Some((3, ShowStatement::ClusterReplicas))
    } else {
        None
    };
    if let Some((n, show)) = whole {
        for _ in 0..n {
            parser.next_token();
        }
        return Ok(Some(show));
    }
    if simple("SUBSOURCES") {
        parser.next_token();
        parser.next_token();
        let (from, on) = parse_from_on(parser)?;
        return Ok(Some(ShowStatement::Subsources { from, on }));
    }
    if simple("INDEXES") || simple("INDEX") {
        parser.next_token();
        parser.next_token();
        let (from, on) = parse_from_on(parser)?;
        return Ok(Some(ShowStatement::Indexes { from, on }));
    }
    if simple("COLUMNS") {
        parser.next_token();
        parser.next_token();
        let _ = parser.parse_one_of_keywords(&[Keyword::FROM, Keyword::IN]);
        return Ok(Some(ShowStatement::Columns(
            parser.parse_object_name(false)?,
        )));
    }
    if simple("CREATE") {
        parser.next_token();
        parser.next_token();
        let kind = if parser.parse_keyword(Keyword::MATERIALIZED) {
            parser.expect_keyword(Keyword::VIEW)?;
            "materialized view"
        } else if word_is(&parser.peek_token().token, "SINK") {
            parser.next_token();
            "sink"
        } else {
            match parser.parse_one_of_keywords(&[
                Keyword::TABLE,
                Keyword::VIEW,
                Keyword::SOURCE,
                Keyword::INDEX,
                Keyword::CONNECTION,
            ]) {
                Some(Keyword::TABLE) => "table",
                Some(Keyword::VIEW) => "view",
                Some(Keyword::SOURCE) => "source",
                Some(Keyword::INDEX) => "index",
                Some(Keyword::CONNECTION) => "connection",
                _ => {
                    return Err(ParserError::ParserError(
                        "expected TABLE, VIEW, MATERIALIZED VIEW, SOURCE, INDEX, SINK or \
                         CONNECTION after SHOW CREATE"
                            .into(),
                    ));
                }
            }
        };
        return Ok(Some(ShowStatement::Create(
            kind,
            parser.parse_object_name(false)?,
        )));
    }
    Ok(None)
}

fn parse_create_source(parser: &mut Parser) -> Result<FreshetStatement, ParserError> {
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::FROM)?;
    let t = parser.next_token().token;
    if word_is(&t, "KAFKA") {
        return super::source::parse_kafka_source(parser, name, if_not_exists)
            .map(FreshetStatement::CreateKafkaSource);
    }
    if !word_is(&t, "LOAD") {
        return Err(ParserError::ParserError(format!(
            "Expected: KAFKA or LOAD GENERATOR, found: {t}"
        )));
    }
    let t = parser.next_token().token;
    if !word_is(&t, "GENERATOR") {
        return Err(ParserError::ParserError(
            "expected GENERATOR after LOAD".into(),
        ));
    }
    let kind = match parser.next_token().token {
        Token::Word(w) if w.value.eq_ignore_ascii_case("COUNTER") => LoadGeneratorKind::Counter,
        Token::Word(w) if w.value.eq_ignore_ascii_case("AUCTION") => LoadGeneratorKind::Auction,
        other => {
            return Err(ParserError::ParserError(format!(
                "unsupported load generator {other}"
            )));
        }
    };
    let mut stmt = LoadGeneratorStatement {
        name,
        if_not_exists,
        kind,
        tick_ms: 1000,
        up_to: None,
        seed: 0,
    };
    if parser.consume_token(&Token::LParen) {
        loop {
            let w1 = parser.parse_identifier()?.value.to_uppercase();
            match w1.as_str() {
                "TICK" => {
                    let w2 = parser.parse_identifier()?.value.to_uppercase();
                    if w2 != "INTERVAL" {
                        return Err(ParserError::ParserError(
                            "expected INTERVAL after TICK".into(),
                        ));
                    }
                    let _ = parser.consume_token(&Token::Eq);
                    let text = parser.parse_literal_string()?;
                    stmt.tick_ms = parse_interval_ms(&text, "TICK INTERVAL")?;
                }
                "UP" => {
                    parser.expect_keyword(Keyword::TO)?;
                    let _ = parser.consume_token(&Token::Eq);
                    stmt.up_to = Some(parser.parse_literal_uint()?);
                }
                "SEED" => {
                    let _ = parser.consume_token(&Token::Eq);
                    stmt.seed = parser.parse_literal_uint()?;
                }
                other => {
                    return Err(ParserError::ParserError(format!(
                        "unrecognized load generator option {other}"
                    )));
                }
            }
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    if parser.parse_keyword(Keyword::FOR) {
        parser.expect_keyword(Keyword::ALL)?;
        let t = parser.next_token().token;
        if !word_is(&t, "TABLES") {
            return Err(ParserError::ParserError(
                "expected TABLES after FOR ALL".into(),
            ));
        }
    }
    Ok(FreshetStatement::CreateLoadGenerator(stmt))
}

/// Parses a FETCH timeout: an interval that may be zero.
fn parse_interval_ms_allow_zero(text: &str, what: &str) -> Result<u64, ParserError> {
    let t = text.trim();
    if t.trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace())
        .parse::<f64>()
        == Ok(0.0)
    {
        return Ok(0);
    }
    parse_interval_ms(t, what)
}

/// Parses a simple interval such as `100ms`, `1s`, `2 seconds`, the value
/// of `what` (`TICK INTERVAL`, `FETCH timeout`), which errors name.
fn parse_interval_ms(text: &str, what: &str) -> Result<u64, ParserError> {
    let t = text.trim().to_lowercase();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| ParserError::ParserError(format!("invalid {what} '{text}'")))?;
    let ms = match unit.trim() {
        "ms" | "millisecond" | "milliseconds" => n,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => n * 1000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60_000.0,
        other => {
            return Err(ParserError::ParserError(format!(
                "invalid {what} unit '{other}'"
            )));
        }
    };
    if ms < 1.0 {
        return Err(ParserError::ParserError(format!(
            "{what} must be at least 1ms"
        )));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_at(sql: &str) -> (String, Option<usize>) {
        let e = parse_statements(sql).expect_err(sql);
        (e.to_string(), e.position())
    }

    #[test]
    fn syntax_errors_are_postgresql_s_with_positions() {
        assert_eq!(
            error_at("SELEC 1"),
            ("syntax error at or near \"SELEC\"".into(), Some(1))
        );
        // Characters, not bytes, across lines.
        assert_eq!(
            error_at("SELECT 'é';\nSELECT 1 FROM;"),
            ("syntax error at or near \";\"".into(), Some(26))
        );
        assert_eq!(
            error_at("SELECT 1 +\n"),
            ("syntax error at end of input".into(), Some(12))
        );
        assert_eq!(
            error_at("SELECT 'abc"),
            (
                "unterminated quoted string at or near \"'abc\"".into(),
                Some(8)
            )
        );
        assert_eq!(
            error_at("CREATE TABLE \"\" (a int)"),
            (
                "zero-length delimited identifier at or near \"\"\"\"".into(),
                Some(14)
            )
        );
    }
}
