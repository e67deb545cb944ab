//! The `LIKE 'pattern'` and `WHERE expr` filters of a listing `SHOW`
//! (Materialize's `ShowStatementFilter`), applied by the normal query path
//! rather than by an evaluator of our own: the rows `SHOW` computed become
//! a `VALUES` list, and
//!
//! ```sql
//! SELECT "#row" FROM (VALUES (0, NULL::text, ...), (1, 'a', ...), ...)
//!     AS show_rows ("#row", name, ...)
//! WHERE "#row" > 0 AND (<filter>)
//! ```
//!
//! names the rows to keep. So a filter may use anything a `WHERE` clause
//! can (functions, subqueries over tables, the session's own writes), gets
//! PostgreSQL's errors (an unknown column is 42703, a bad pattern 22025),
//! and `LIKE 'p'` means `name LIKE 'p'` exactly as in Materialize. The
//! first, typed `NULL` row (dropped by `"#row" > 0`) gives every column its
//! type even when there are no rows; the row numbers keep `SHOW`'s own
//! order, which the filter does not change.

use std::sync::Arc;

use sqlparser::ast::{BinaryOperator, Expr, SetExpr, Statement};

use crate::expr::string_format::quote_ident;
use crate::repr::{Datum, RelationDesc, Row};
use crate::sql::parse::{FreshetStatement, ShowFilter, parse_statements};
use crate::sql::source::quote_literal;

use super::sequence::{ExecuteResponse, sleep_pending};
use super::{AdapterError, Coordinator, Session};

/// The column that numbers the rows; its `#` keeps it apart from any
/// column a `SHOW` has.
const ROW_NUMBER: &str = "#row";

/// A datum as a SQL literal (`SHOW`'s columns are text and booleans).
fn literal(datum: &Datum) -> Result<String, AdapterError> {
    match datum {
        Datum::Null => Ok("NULL".into()),
        Datum::String(s) => Ok(quote_literal(s)),
        Datum::Bool(b) => Ok(if *b { "TRUE" } else { "FALSE" }.into()),
        other => Err(AdapterError::Internal(format!(
            "SHOW row holds a {other:?}, which a filter cannot read"
        ))),
    }
}

/// The query that names (by number, from 1) the rows of `rows` that
/// `filter` keeps.
pub fn filter_query(
    desc: &RelationDesc,
    rows: &[Row],
    filter: &ShowFilter,
) -> Result<Statement, AdapterError> {
    let typed_nulls: Vec<String> = desc
        .columns
        .iter()
        .map(|c| format!("CAST(NULL AS {})", c.typ.name()))
        .collect();
    let mut values = vec![format!("(0, {})", typed_nulls.join(", "))];
    for (n, row) in rows.iter().enumerate() {
        let datums = row
            .unpack()
            .iter()
            .map(literal)
            .collect::<Result<Vec<_>, _>>()?;
        values.push(format!("({}, {})", n + 1, datums.join(", ")));
    }
    let columns: Vec<String> = std::iter::once(ROW_NUMBER.to_string())
        .chain(desc.columns.iter().map(|c| c.name.clone()))
        .map(|c| quote_ident(&c))
        .collect();
    // `LIKE` matches the name (Materialize); `SHOW CLUSTER REPLICAS`,
    // which has none, matches its first column, the cluster.
    let like_column = desc
        .columns
        .iter()
        .find(|c| c.name == "name")
        .or(desc.columns.first())
        .map(|c| quote_ident(&c.name))
        .unwrap_or_default();
    let like = match filter {
        ShowFilter::Like(pattern) => {
            format!(" AND ({like_column} LIKE {})", quote_literal(pattern))
        }
        ShowFilter::Where(_) => String::new(),
    };
    let sql = format!(
        "SELECT {row} FROM (VALUES {values}) AS show_rows ({columns}) WHERE {row} > 0{like}",
        row = quote_ident(ROW_NUMBER),
        values = values.join(", "),
        columns = columns.join(", "),
    );
    let mut statements = parse_statements(&sql)?;
    let Some(FreshetStatement::Sql(statement)) = statements.pop() else {
        return Err(AdapterError::Internal(format!("SHOW filter query: {sql}")));
    };
    let mut statement = *statement;
    if let ShowFilter::Where(expr) = filter {
        // The parsed `WHERE` goes in as written: no printing and
        // re-parsing of the user's expression.
        let Statement::Query(query) = &mut statement else {
            return Err(AdapterError::Internal(format!("SHOW filter query: {sql}")));
        };
        let SetExpr::Select(select) = query.body.as_mut() else {
            return Err(AdapterError::Internal(format!("SHOW filter query: {sql}")));
        };
        let Some(rows_only) = select.selection.take() else {
            return Err(AdapterError::Internal(format!("SHOW filter query: {sql}")));
        };
        select.selection = Some(Expr::BinaryOp {
            left: Box::new(rows_only),
            op: BinaryOperator::And,
            right: Box::new(Expr::Nested(expr.clone())),
        });
    }
    Ok(statement)
}

impl Coordinator {
    /// The rows of `rows` (a `SHOW`'s, described by `desc`) that `filter`
    /// keeps, in their order.
    pub(super) async fn filter_show(
        self: &Arc<Self>,
        session: &mut Session,
        desc: &RelationDesc,
        rows: Vec<Row>,
        filter: ShowFilter,
    ) -> Result<Vec<Row>, AdapterError> {
        let mut stmt = filter_query(desc, &rows, &filter)?;
        {
            // `current_user`, `current_schema()` and the like, as in any
            // query.
            let state = self.state.lock().await;
            super::session_funcs::substitute(&mut stmt, session, &state.catalog)?;
        }
        sleep_pending(session).await?;
        let path = session.search_path();
        let ExecuteResponse::Rows { rows: kept, .. } =
            self.query(stmt, &path, session.txn_reads()).await?
        else {
            return Err(AdapterError::Internal(
                "SHOW filter query returned no rows".into(),
            ));
        };
        let mut numbers = kept
            .iter()
            .map(|r| {
                // The literal's type is the planner's choice (`integer`
                // today).
                let n = match r.unpack().first() {
                    Some(Datum::Int32(n)) => i64::from(*n),
                    Some(Datum::Int64(n)) => *n,
                    other => {
                        return Err(AdapterError::Internal(format!(
                            "SHOW row number is {other:?}"
                        )));
                    }
                };
                usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=rows.len()).contains(n))
                    .ok_or_else(|| AdapterError::Internal(format!("SHOW row number {n}")))
            })
            .collect::<Result<Vec<usize>, _>>()?;
        numbers.sort_unstable();
        let mut rows: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
        Ok(numbers
            .into_iter()
            .filter_map(|n| rows[n - 1].take())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::{ColumnDesc, ScalarType};

    fn desc() -> RelationDesc {
        RelationDesc {
            columns: vec![
                ColumnDesc {
                    name: "name".into(),
                    typ: ScalarType::Text,
                    nullable: false,
                },
                ColumnDesc {
                    name: "ready".into(),
                    typ: ScalarType::Bool,
                    nullable: false,
                },
            ],
        }
    }

    #[test]
    fn rows_become_quoted_values_after_a_typed_null_row() {
        let rows = vec![Row::new(vec![
            Datum::String("it's \\ here".into()),
            Datum::Bool(true),
        ])];
        let sql = filter_query(&desc(), &rows, &ShowFilter::Like("i%".into()))
            .expect("builds")
            .to_string();
        assert!(
            sql.contains("(0, CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN))"),
            "{sql}"
        );
        assert!(sql.contains("(1, 'it''s \\ here', true)"), "{sql}");
        assert!(
            sql.ends_with("WHERE \"#row\" > 0 AND (name LIKE 'i%')"),
            "{sql}"
        );
    }

    #[test]
    fn a_where_filter_is_anded_to_the_row_test() {
        let Ok(mut parsed) = parse_statements("SELECT 1 WHERE ready AND name <> 'x'") else {
            panic!("parses");
        };
        let Some(FreshetStatement::Sql(s)) = parsed.pop() else {
            panic!("a query");
        };
        let Statement::Query(q) = *s else {
            panic!("a query");
        };
        let SetExpr::Select(select) = *q.body else {
            panic!("a select");
        };
        let filter = ShowFilter::Where(Box::new(select.selection.expect("a where")));
        let sql = filter_query(&desc(), &[], &filter)
            .expect("builds")
            .to_string();
        assert!(
            sql.ends_with("WHERE \"#row\" > 0 AND (ready AND name <> 'x')"),
            "{sql}"
        );
    }
}
