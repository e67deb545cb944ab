//! Spellings PostgreSQL's own clients use that mean nothing more than a
//! plainer form, rewritten before DataFusion's planner sees them:
//!
//! * `a OPERATOR(pg_catalog.~) b` is `a ~ b` (psql's `\d name` writes
//!   every operator this way);
//! * `pg_catalog.f(...)` is `f(...)` and `x::pg_catalog.t` is `x::t`:
//!   every function and type Freshet has lives in `pg_catalog` in
//!   PostgreSQL;
//! * `x COLLATE "default"` (also `pg_catalog.default`, `"C"` and
//!   `"POSIX"`) is `x`: Freshet compares text by code point, which is what
//!   those collations do for UTF-8. Any other collation is `0A000`;
//! * `array_upper(a, d)` is `array_length(a, d)` and `array_lower(a, d)`
//!   is 1 where that is not NULL: Freshet's arrays have one dimension and
//!   lower bound 1 (psql's `\d name` calls `array_upper`);
//! * `localtimestamp` is `now()::timestamp`, `localtime` is `now()::time`
//!   and `transaction_timestamp()` is `now()`: the session's time zone is
//!   always UTC. With a precision, `current_timestamp(p)` is
//!   `now()::timestamptz(p)` and `localtimestamp(p)` `now()::timestamp(p)`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, DataType, Expr, ObjectNamePart, Statement, VisitMut,
    VisitorMut,
};

use super::PlanError;

/// Rewrites the spellings above in `statement`.
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewrite;

/// The operator `OPERATOR(schema.op)` names, if it is one of PostgreSQL's
/// built-in binary operators that has a plain spelling.
fn plain_operator(parts: &[String]) -> Option<BinaryOperator> {
    let (op, schema) = parts.split_last()?;
    if !(schema.is_empty() || schema.len() == 1 && schema[0].eq_ignore_ascii_case("pg_catalog")) {
        return None;
    }
    Some(match op.as_str() {
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        "*" => BinaryOperator::Multiply,
        "/" => BinaryOperator::Divide,
        "%" => BinaryOperator::Modulo,
        "||" => BinaryOperator::StringConcat,
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        _ => return None,
    })
}

/// Removes a `pg_catalog.` qualifier from a type name (also an array's
/// element type's).
fn plain_type(data_type: &mut DataType) {
    match data_type {
        DataType::Custom(name, modifiers)
            if name.0.len() == 2
                && name.0[0]
                    .as_ident()
                    .is_some_and(|s| s.value.eq_ignore_ascii_case("pg_catalog")) =>
        {
            let Some(ident) = name.0[1].as_ident() else {
                return;
            };
            let mut text = ident.to_string();
            if !modifiers.is_empty() {
                text = format!("{text}({})", modifiers.join(", "));
            }
            if let Ok(plain) =
                sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_data_type())
            {
                *data_type = plain;
            }
        }
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(elem, _)
            | ArrayElemTypeDef::AngleBracket(elem)
            | ArrayElemTypeDef::Parenthesis(elem),
        ) => {
            plain_type(elem);
            // An OID is a `bigint` in Freshet (a scalar `x::oid` becomes
            // one in `coord::catalog_funcs`); `oid[]` is what clients such
            // as asyncpg pass lists of type OIDs as.
            if is_oid_type(elem) {
                **elem = DataType::BigInt(None);
            }
        }
        _ => {}
    }
}

/// The plain form of a call of one of PostgreSQL's current-time
/// functions that Freshet spells with `now()`, by (lower-case) name.
fn time_function(name: &str) -> Option<&'static str> {
    Some(match name {
        "localtimestamp" => "CAST(now() AS timestamp)",
        "localtime" => "CAST(now() AS time)",
        "transaction_timestamp" => "now()",
        _ => return None,
    })
}

/// The type of a current-time function called with a precision
/// (`localtimestamp(2)` is `now()::timestamp(2)`), with `p` for it.
fn precise_time_function(name: &str) -> Option<&'static str> {
    Some(match name {
        "current_timestamp" => "timestamp(p) with time zone",
        "localtimestamp" => "timestamp(p)",
        "localtime" => "time(p)",
        _ => return None,
    })
}

/// The precision argument of such a call: a single unsigned integer
/// literal, as PostgreSQL's grammar has it (`(-1)` is a syntax error
/// there); `None` where the call has other arguments.
fn precision_arg(args: &sqlparser::ast::FunctionArguments) -> Option<Result<u64, PlanError>> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator, Value};
    let FunctionArguments::List(list) = args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] = list.args.as_slice() else {
        return None;
    };
    // An integer literal is already `CAST(n AS int4)` here (see
    // `plan::IntegerLiterals`).
    let e = match e {
        Expr::Cast {
            expr,
            data_type: DataType::Int4(None),
            ..
        } => expr.as_ref(),
        e => e,
    };
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(
                n.parse::<u64>()
                    .map_err(|_| PlanError::Syntax(format!("syntax error at or near \"{n}\""))),
            ),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            ..
        } => Some(Err(PlanError::Syntax(
            "syntax error at or near \"-\"".into(),
        ))),
        _ => None,
    }
}

/// Whether [`rewrite`] replaces calls of the function `name` (so that
/// the column they compute must be named before it does).
/// Whether `t` names PostgreSQL's `oid` type (a `bigint` in Freshet).
pub fn is_oid_type(t: &DataType) -> bool {
    matches!(t, DataType::Custom(name, m)
        if m.is_empty() && name.0.len() == 1
            && name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("oid")))
}

pub fn is_rewritten_function(name: &str) -> bool {
    time_function(name).is_some()
        || precise_time_function(name).is_some()
        || name == "generate_subscripts"
}

fn parse_expr(sql: &str) -> Option<Expr> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// `generate_subscripts(a, dim [, reverse])` as `unnest` of the array of
/// those subscripts (`crate::expr::array::ArrayFunc::Subscripts`), so
/// that several of them and `unnest` calls in one select list run in
/// lockstep, as PostgreSQL runs set-returning functions there. `None` for
/// other arities (which then fail as an unknown function).
pub fn subscripts_as_unnest(f: &sqlparser::ast::Function) -> Option<Expr> {
    subscripts_with_lower(f, 1)
}

/// [`subscripts_as_unnest`] with subscripts that start at `lower`.
pub fn subscripts_with_lower(f: &sqlparser::ast::Function, lower: i64) -> Option<Expr> {
    let sqlparser::ast::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<String> = list
        .args
        .iter()
        .map(|a| match a {
            sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(e)) => {
                Some(e.to_string())
            }
            _ => None,
        })
        .collect::<Option<_>>()?;
    let reverse = match args.len() {
        2 => "false".to_string(),
        3 => args[2].clone(),
        _ => return None,
    };
    parse_expr(&format!(
        "unnest({}(({}), ({}), ({reverse}), {lower}))",
        super::array::SUBSCRIPTS,
        args[0],
        args[1]
    ))
}

impl VisitorMut for Rewrite {
    type Break = PlanError;

    fn pre_visit_table_factor(
        &mut self,
        table_factor: &mut sqlparser::ast::TableFactor,
    ) -> ControlFlow<PlanError> {
        // `TABLESAMPLE` (which DataFusion's planner drops, reading every
        // row): refused rather than answered with the whole table.
        if let sqlparser::ast::TableFactor::Table {
            sample: Some(_), ..
        } = table_factor
        {
            return ControlFlow::Break(PlanError::Unsupported("TABLESAMPLE".into()));
        }
        // A table function: `FROM pg_catalog.generate_series(...)`.
        if let sqlparser::ast::TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = table_factor
            && name.0.len() == 2
            && let ObjectNamePart::Identifier(schema) = &name.0[0]
            && schema.value.eq_ignore_ascii_case("pg_catalog")
        {
            name.0.remove(0);
        }
        // `FROM generate_subscripts(a, d) s`: `FROM unnest(...)` of the
        // subscripts (see `subscripts_as_unnest`), its column named as
        // PostgreSQL names it.
        if let sqlparser::ast::TableFactor::Table {
            name,
            args: Some(args),
            alias,
            with_ordinality: false,
            ..
        } = table_factor
            && let [ObjectNamePart::Identifier(function)] = name.0.as_slice()
            && function.value.eq_ignore_ascii_case("generate_subscripts")
        {
            let list: Vec<String> = args.args.iter().map(|a| a.to_string()).collect();
            let call = format!("generate_subscripts({})", list.join(", "));
            let alias_name = alias
                .as_ref()
                .map_or_else(|| "generate_subscripts".to_string(), |a| a.name.to_string());
            let columns = match alias.as_ref().filter(|a| !a.columns.is_empty()) {
                Some(a) => a
                    .columns
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                None => alias_name.clone(),
            };
            let unnest = parse_expr(&call)
                .and_then(|e| match e {
                    Expr::Function(f) => subscripts_as_unnest(&f),
                    _ => None,
                })
                .and_then(|u| {
                    let sql = format!("SELECT * FROM {u} AS {alias_name}({columns})");
                    let mut statements = sqlparser::parser::Parser::parse_sql(
                        &sqlparser::dialect::PostgreSqlDialect {},
                        &sql,
                    )
                    .ok()?;
                    let Some(Statement::Query(q)) = statements.pop() else {
                        return None;
                    };
                    let sqlparser::ast::SetExpr::Select(select) = *q.body else {
                        return None;
                    };
                    select.from.into_iter().next().map(|t| t.relation)
                });
            match unnest {
                Some(factor) => *table_factor = factor,
                None => {
                    return ControlFlow::Break(PlanError::Unsupported(format!(
                        "{call} with these arguments"
                    )));
                }
            }
            return ControlFlow::Continue(());
        }
        // A function in FROM that returns a scalar (`generate_series`,
        // `unnest`) names its one column after the table alias when no
        // column alias is given, as in PostgreSQL: `FROM generate_series(1,
        // 3) s` has the column `s`.
        // (Functions with a named output column, like
        // `jsonb_array_elements_text`'s `value`, keep its name.)
        if let sqlparser::ast::TableFactor::Table {
            name,
            args: Some(_),
            alias: Some(alias),
            with_ordinality: false,
            ..
        } = table_factor
            && alias.columns.is_empty()
            && let [ObjectNamePart::Identifier(function)] = name.0.as_slice()
            && [
                "generate_series",
                "unnest",
                "jsonb_object_keys",
                "json_object_keys",
            ]
            .iter()
            .any(|f| function.value.eq_ignore_ascii_case(f))
        {
            alias
                .columns
                .push(sqlparser::ast::TableAliasColumnDef::from_name(
                    alias.name.value.clone(),
                ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<PlanError> {
        match expr {
            Expr::BinaryOp { op, .. } => {
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                    match plain_operator(parts) {
                        Some(plain) => *op = plain,
                        None => {
                            return ControlFlow::Break(PlanError::Unsupported(format!(
                                "operator OPERATOR({})",
                                parts.join(".")
                            )));
                        }
                    }
                }
            }
            Expr::Collate {
                expr: inner,
                collation,
            } => {
                let parts: Vec<String> = collation
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
                    .collect();
                let plain = match parts.as_slice() {
                    [name] => name,
                    [schema, name] if schema.eq_ignore_ascii_case("pg_catalog") => name,
                    _ => "",
                };
                if !matches!(plain, "default" | "C" | "POSIX") {
                    return ControlFlow::Break(PlanError::Unsupported(format!(
                        "collation {collation}"
                    )));
                }
                *expr = Expr::Nested(inner.clone());
                // The replacement's parts are visited after this.
            }
            Expr::Cast { data_type, .. } => plain_type(data_type),
            Expr::Function(f) => {
                if f.name.0.len() == 2
                    && let ObjectNamePart::Identifier(schema) = &f.name.0[0]
                    && schema.value.eq_ignore_ascii_case("pg_catalog")
                {
                    f.name.0.remove(0);
                }
                let no_args = match &f.args {
                    sqlparser::ast::FunctionArguments::None => true,
                    sqlparser::ast::FunctionArguments::List(l) => l.args.is_empty(),
                    sqlparser::ast::FunctionArguments::Subquery(_) => false,
                };
                let name = f
                    .name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.to_lowercase())
                    .unwrap_or_default();
                if no_args
                    && f.name.0.len() == 1
                    && f.over.is_none()
                    && let Some(plain) = time_function(&name)
                    && let Ok(parsed) =
                        sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                            .try_with_sql(plain)
                            .and_then(|mut p| p.parse_expr())
                {
                    *expr = parsed;
                    return ControlFlow::Continue(());
                }
                let single = matches!(f.name.0.as_slice(), [ObjectNamePart::Identifier(_)]);
                if single
                    && f.over.is_none()
                    && let Some(typ) = precise_time_function(&name)
                {
                    match precision_arg(&f.args) {
                        Some(Ok(p)) => {
                            let typ = typ.replace("(p)", &format!("({p})"));
                            if let Some(parsed) = parse_expr(&format!("CAST(now() AS {typ})")) {
                                *expr = parsed;
                            }
                            return ControlFlow::Continue(());
                        }
                        Some(Err(e)) => return ControlFlow::Break(e),
                        None => {}
                    }
                }
                if single && name == "generate_subscripts" {
                    if let Some(unnest) = subscripts_as_unnest(f) {
                        *expr = unnest;
                    }
                    return ControlFlow::Continue(());
                }
                if single && name == "array_upper" {
                    f.name.0[0] = ObjectNamePart::Identifier("array_length".into());
                } else if single && name == "array_lower" {
                    let mut length = f.clone();
                    length.name.0[0] = ObjectNamePart::Identifier("array_length".into());
                    let sql = format!("CASE WHEN {length} IS NOT NULL THEN 1::integer END");
                    match sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                        .try_with_sql(&sql)
                        .and_then(|mut p| p.parse_expr())
                    {
                        Ok(e) => *expr = Expr::Nested(Box::new(e)),
                        Err(e) => {
                            return ControlFlow::Break(PlanError::Internal(format!(
                                "array_lower rewrite: {e}"
                            )));
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> Result<String, String> {
        let mut statement =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .map_err(|e| e.to_string())?
                .remove(0);
        rewrite(&mut statement).map_err(|e| e.to_string())?;
        Ok(statement.to_string())
    }

    #[test]
    fn psql_spellings_become_plain() {
        assert_eq!(
            rewritten(
                "SELECT c.oid FROM pg_class AS c WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)"
            )
            .unwrap(),
            "SELECT c.oid FROM pg_class AS c WHERE c.relname ~ ('^(t)$') AND pg_table_is_visible(c.oid)"
        );
        assert_eq!(
            rewritten("SELECT 'a' COLLATE \"C\"").unwrap(),
            "SELECT ('a')"
        );
        assert_eq!(
            rewritten("SELECT x::pg_catalog.text, y::pg_catalog.int2[], z::pg_catalog.varchar(3)")
                .unwrap(),
            "SELECT x::TEXT, y::INT2[], z::VARCHAR(3)"
        );
    }

    #[test]
    fn unknown_spellings_are_refused() {
        assert!(rewritten("SELECT 'a' COLLATE \"de_DE\"").is_err());
        assert!(rewritten("SELECT 1 OPERATOR(myschema.+) 2").is_err());
    }
}
