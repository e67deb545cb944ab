//! Materialize's `EXPLAIN` forms, beside PostgreSQL's `EXPLAIN query`:
//!
//! ```sql
//! EXPLAIN [RAW | DECORRELATED | [LOCALLY] OPTIMIZED | PHYSICAL] PLAN
//!     [WITH (options)] [AS TEXT] FOR <explainee>
//! EXPLAIN [MATERIALIZED] VIEW name
//! ```
//!
//! where the explainee is a `SELECT`, `CREATE [MATERIALIZED] VIEW ...`,
//! `VIEW name` or `MATERIALIZED VIEW name`. Each answers one text column
//! named as in Materialize (`Optimized Plan`, ...): the raw plan is
//! DataFusion's logical plan as planned, the optimized one after its
//! optimizer (which decorrelates subqueries, so `DECORRELATED` shows it
//! too), the physical one Freshet's dataflow plan.

use sqlparser::ast::{ObjectName, Statement};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// Which plan an `EXPLAIN ... PLAN FOR` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainStage {
    /// `RAW PLAN`: the logical plan before optimization.
    Raw,
    /// `DECORRELATED PLAN`: the optimized logical plan (decorrelation is
    /// one of the optimizer's rules).
    Decorrelated,
    /// `[LOCALLY] OPTIMIZED PLAN`, or `PLAN` alone.
    Optimized,
    /// `PHYSICAL PLAN`: the dataflow plan.
    Physical,
}

impl ExplainStage {
    /// The output column's name, Materialize's.
    pub fn column(self) -> &'static str {
        match self {
            ExplainStage::Raw => "Raw Plan",
            ExplainStage::Decorrelated => "Decorrelated Plan",
            ExplainStage::Optimized => "Optimized Plan",
            ExplainStage::Physical => "Physical Plan",
        }
    }
}

/// What an `EXPLAIN ... PLAN` explains.
#[derive(Debug, Clone)]
pub enum ExplainTarget {
    /// A query, or a `CREATE [MATERIALIZED] VIEW` statement's query.
    Statement(Box<Statement>),
    /// An existing view's query.
    View(ObjectName),
    /// An existing materialized view's query.
    MaterializedView(ObjectName),
}

/// A Materialize `EXPLAIN`.
#[derive(Debug, Clone)]
pub struct ExplainPlanStatement {
    /// The plan shown.
    pub stage: ExplainStage,
    /// What is explained.
    pub target: ExplainTarget,
}

fn word_is(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.value.eq_ignore_ascii_case(w))
}

/// Whether the parser stands at a Materialize `EXPLAIN` form (`EXPLAIN`
/// followed by a stage, `PLAN`, `VIEW` or `MATERIALIZED VIEW`).
pub fn is_explain_plan(parser: &Parser) -> bool {
    let t0 = parser.peek_token().token;
    let t1 = parser.peek_nth_token(1).token;
    let t2 = parser.peek_nth_token(2).token;
    word_is(&t0, "EXPLAIN")
        && ([
            "RAW",
            "DECORRELATED",
            "OPTIMIZED",
            "LOCALLY",
            "PHYSICAL",
            "PLAN",
            "VIEW",
        ]
        .iter()
        .any(|w| word_is(&t1, w))
            || word_is(&t1, "MATERIALIZED") && word_is(&t2, "VIEW"))
}

/// Parses a Materialize `EXPLAIN` (the parser at `EXPLAIN`, see
/// [`is_explain_plan`]).
pub fn parse_explain_plan(parser: &mut Parser) -> Result<ExplainPlanStatement, ParserError> {
    parser.next_token(); // EXPLAIN
    let t = parser.peek_token().token;
    if word_is(&t, "VIEW") || word_is(&t, "MATERIALIZED") {
        return Ok(ExplainPlanStatement {
            stage: ExplainStage::Optimized,
            target: parse_object(parser)?,
        });
    }
    let stage = if word_is(&t, "PLAN") {
        ExplainStage::Optimized
    } else {
        parser.next_token();
        if word_is(&t, "RAW") {
            ExplainStage::Raw
        } else if word_is(&t, "DECORRELATED") {
            ExplainStage::Decorrelated
        } else if word_is(&t, "PHYSICAL") {
            ExplainStage::Physical
        } else {
            if word_is(&t, "LOCALLY") {
                expect_word(parser, "OPTIMIZED")?;
            }
            ExplainStage::Optimized
        }
    };
    expect_word(parser, "PLAN")?;
    // `WITH (arity, join implementations, ...)`: output options, which
    // change nothing here.
    if word_is(&parser.peek_token().token, "WITH") {
        parser.next_token();
        parser.expect_token(&Token::LParen)?;
        let mut depth = 1;
        while depth > 0 {
            match parser.next_token().token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::EOF => return parser.expected(")", parser.peek_token()),
                _ => {}
            }
        }
    }
    if word_is(&parser.peek_token().token, "AS") {
        parser.next_token();
        let format = parser.next_token();
        if !word_is(&format.token, "TEXT") {
            return Err(ParserError::ParserError(format!(
                "EXPLAIN ... AS {} is not supported: only AS TEXT",
                format.token
            )));
        }
    }
    expect_word(parser, "FOR")?;
    let t = parser.peek_token().token;
    let t1 = parser.peek_nth_token(1).token;
    let target = if word_is(&t, "VIEW") || word_is(&t, "MATERIALIZED") && word_is(&t1, "VIEW") {
        parse_object(parser)?
    } else {
        ExplainTarget::Statement(Box::new(parser.parse_statement()?))
    };
    Ok(ExplainPlanStatement { stage, target })
}

/// `VIEW name` or `MATERIALIZED VIEW name`.
fn parse_object(parser: &mut Parser) -> Result<ExplainTarget, ParserError> {
    let materialized = word_is(&parser.peek_token().token, "MATERIALIZED");
    if materialized {
        parser.next_token();
    }
    expect_word(parser, "VIEW")?;
    let name = parser.parse_object_name(false)?;
    Ok(if materialized {
        ExplainTarget::MaterializedView(name)
    } else {
        ExplainTarget::View(name)
    })
}

fn expect_word(parser: &mut Parser, w: &str) -> Result<(), ParserError> {
    let t = parser.peek_token();
    if word_is(&t.token, w) {
        parser.next_token();
        Ok(())
    } else {
        parser.expected(w, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;

    fn parse(sql: &str) -> ExplainPlanStatement {
        let mut parser = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .expect("tokenizes");
        assert!(is_explain_plan(&parser), "{sql}");
        parse_explain_plan(&mut parser).expect("parses")
    }

    #[test]
    fn materialize_forms() {
        let parser = Parser::new(&PostgreSqlDialect {})
            .try_with_sql("EXPLAIN SELECT 1")
            .expect("tokenizes");
        assert!(
            !is_explain_plan(&parser),
            "PostgreSQL's form is sqlparser's"
        );
        for (sql, stage) in [
            ("EXPLAIN PLAN FOR SELECT 1", ExplainStage::Optimized),
            (
                "EXPLAIN OPTIMIZED PLAN FOR SELECT 1",
                ExplainStage::Optimized,
            ),
            (
                "EXPLAIN LOCALLY OPTIMIZED PLAN FOR SELECT 1",
                ExplainStage::Optimized,
            ),
            ("EXPLAIN RAW PLAN AS TEXT FOR SELECT 1", ExplainStage::Raw),
            (
                "EXPLAIN DECORRELATED PLAN FOR SELECT 1",
                ExplainStage::Decorrelated,
            ),
            (
                "EXPLAIN PHYSICAL PLAN WITH (arity, join implementations) AS TEXT FOR SELECT 1",
                ExplainStage::Physical,
            ),
        ] {
            let e = parse(sql);
            assert_eq!(e.stage, stage, "{sql}");
            assert!(matches!(e.target, ExplainTarget::Statement(_)), "{sql}");
        }
        assert!(matches!(
            parse("EXPLAIN MATERIALIZED VIEW s.mv").target,
            ExplainTarget::MaterializedView(n) if n.to_string() == "s.mv"
        ));
        assert!(matches!(
            parse("EXPLAIN OPTIMIZED PLAN FOR VIEW v").target,
            ExplainTarget::View(_)
        ));
        assert!(matches!(
            parse("EXPLAIN PLAN FOR CREATE MATERIALIZED VIEW mv AS SELECT 1").target,
            ExplainTarget::Statement(s) if matches!(*s, Statement::CreateView(_))
        ));
    }
}
