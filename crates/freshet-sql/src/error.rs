//! [`PlanError`]: a statement that cannot be planned.

use datafusion_common::arrow::datatypes as arrow_schema_types;

use crate::repr::SqlState;

/// A statement that cannot be parsed or planned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// The SQL does not parse.
    #[error("{0}")]
    Syntax(String),
    /// The SQL does not parse, and where is known: `position` counts
    /// characters of the query string from 1, as PostgreSQL's error field
    /// `P` (psql's `LINE 1: ... ^`).
    #[error("{message}")]
    SyntaxAt {
        /// The message (`syntax error at or near "x"`).
        message: String,
        /// The position.
        position: usize,
    },
    /// A relation that does not exist.
    #[error("{kind} \"{name}\" does not exist")]
    UnknownItem {
        /// `relation`, `table`, `view`, ...
        kind: &'static str,
        /// The name as written.
        name: String,
    },
    /// A schema that does not exist.
    #[error("schema \"{0}\" does not exist")]
    UnknownSchema(String),
    /// A database other than the current one (Freshet has one database).
    #[error("database \"{0}\" does not exist")]
    UnknownDatabase(String),
    /// No schema of the `search_path` exists to create an object in.
    #[error("no schema has been selected to create in")]
    NoSchemaSelected,
    /// A schema name already in use.
    #[error("schema \"{0}\" already exists")]
    SchemaAlreadyExists(String),
    /// A system schema (`mz_internal`), which users cannot change.
    #[error("system schema \"{0}\" cannot be modified")]
    SystemSchema(String),
    /// A schema name with a prefix reserved for system schemas.
    #[error(
        "unacceptable schema name \"{0}\": the prefixes \"mz_\" and \"pg_\" are reserved for system schemas"
    )]
    ReservedSchemaName(String),
    /// A name with more parts than `database.schema.item`.
    #[error("improper qualified name (too many dotted names): {0}")]
    ImproperName(String),
    /// A column that does not exist.
    #[error("column {0} does not exist")]
    UnknownColumn(String),
    /// A type that does not exist (`'x'::regtype`).
    #[error("type \"{0}\" does not exist")]
    UnknownType(String),
    /// A function that does not exist.
    #[error("function {0} does not exist")]
    UnknownFunction(String),
    /// An operator that does not exist for its operands' types (`date +
    /// bigint`, `mz_now() - interval`).
    #[error("operator does not exist: {0}")]
    UndefinedOperator(String),
    /// A type without the equality or ordering that grouping, `DISTINCT`
    /// or sorting needs (`json`): "could not identify an equality operator
    /// for type json".
    #[error("could not identify an {0}")]
    MissingOperator(String),
    /// A type without the ordering `greatest` and `least` need (`json`):
    /// "could not identify a comparison function for type json".
    #[error("could not identify a comparison function for type {0}")]
    MissingComparison(String),
    /// A name that refers to several columns.
    #[error("{0}")]
    AmbiguousColumn(String),
    /// A function call that fits several candidates (`sum(NULL)`).
    #[error("function {0} is not unique")]
    AmbiguousFunction(String),
    /// A name already in use.
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        /// `table`, `view`, ...
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// An expression whose type nothing determines (`ARRAY[]` without a
    /// cast).
    #[error("{0}")]
    IndeterminateType(String),
    /// Operand types that do not fit.
    #[error("{0}")]
    TypeMismatch(String),
    /// A value stored into a column whose type has no assignment cast from
    /// the value's (`assignment_casts`).
    #[error("column \"{column}\" is of type {column_type} but {assigned} is of type {value_type}")]
    AssignmentMismatch {
        /// The column's name.
        column: String,
        /// The column's type, without modifiers.
        column_type: String,
        /// `expression`, or `default expression` for a `DEFAULT`.
        assigned: &'static str,
        /// The value's type, without modifiers.
        value_type: String,
    },
    /// A construct Freshet does not support yet.
    #[error("{0} not supported")]
    Unsupported(String),
    /// A construct DataFusion's planner does not implement; the message is
    /// DataFusion's own sentence.
    #[error("{0}")]
    NotImplemented(String),
    /// An object of the wrong kind for the statement.
    #[error("{0}")]
    WrongObjectType(String),
    /// Dependent objects block a DROP.
    #[error("cannot drop {name} because other objects depend on it")]
    DependentObjects {
        /// The object.
        name: String,
    },
    /// A semantic error DataFusion reported while planning.
    #[error("{0}")]
    Planning(String),
    /// A qualifier that names no relation of the `FROM` (`SELECT x.a FROM
    /// t`).
    #[error(
        "{} FROM-clause entry for table \"{table}\"",
        if *aliased { "invalid reference to" } else { "missing" }
    )]
    MissingFromEntry {
        /// The qualifier.
        table: String,
        /// The column it qualifies.
        column: String,
        /// Whether the qualifier is the name of a relation the `FROM`
        /// gives another name (`SELECT t.a FROM t AS x`).
        aliased: bool,
    },
    /// A relation name used twice in one `FROM` (`FROM t, t`).
    #[error("table name \"{0}\" specified more than once")]
    DuplicateAlias(String),
    /// A `$n` with no value bound (`SELECT $1` in a simple query).
    #[error("there is no parameter ${0}")]
    UndefinedParameter(usize),
    /// An invalid value for a parameter or option.
    #[error("{0}")]
    InvalidParameter(String),
    /// A constraint or column definition problem.
    #[error("{0}")]
    InvalidDefinition(String),
    /// A reference to a column where it may not be used (`DISTINCT ON`
    /// expressions that do not lead the `ORDER BY`).
    #[error("{0}")]
    InvalidColumnReference(String),
    /// An aggregate or a column where grouping does not allow it
    /// (`aggregate functions are not allowed in WHERE`, a column outside
    /// the `GROUP BY`).
    #[error("{0}")]
    Grouping(String),
    /// A recursive query that is not recursive in the way SQL allows.
    #[error("{0}")]
    InvalidRecursion(String),
    /// A window or frame that SQL does not allow (`RANGE` offsets with
    /// several `ORDER BY` columns).
    #[error("{0}")]
    Windowing(String),
    /// A negative frame offset.
    #[error("{0}")]
    InvalidPrecedingFollowing(String),
    /// An untyped literal that does not convert to the type it is read
    /// as, which PostgreSQL reports while planning (`coalesce(1, 'x')`).
    #[error("{message}")]
    InvalidLiteral {
        /// The SQLSTATE of the conversion's error.
        code: SqlState,
        /// The conversion's message.
        message: String,
    },
    /// The evaluation of a constant expression failed while planning, as
    /// PostgreSQL's constant folding does (`SELECT 1/0 FROM t WHERE
    /// false`; `sql/constant_errors.rs`).
    #[error("{message}")]
    ConstantEvaluation {
        /// The SQLSTATE of the evaluation's error.
        code: SqlState,
        /// The evaluation's message.
        message: String,
    },
    /// A bug in Freshet.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PlanError {
    /// An error evaluating a value while planning (a constant, a literal's
    /// conversion), with the evaluation's own SQLSTATE and message.
    pub fn from_eval(err: crate::expr::EvalError) -> PlanError {
        PlanError::ConstantEvaluation {
            code: err.code(),
            message: err.to_string(),
        }
    }

    /// PostgreSQL's `function name(types) does not exist` for a call with
    /// these Arrow argument types, as the DataFusion error a planning
    /// function returns (`NULL` is PostgreSQL's `unknown`).
    pub fn no_function(
        name: &str,
        arg_types: &[arrow_schema_types::DataType],
    ) -> datafusion_common::DataFusionError {
        let names: Vec<String> = arg_types
            .iter()
            .map(|t| match t {
                arrow_schema_types::DataType::Null => "unknown".to_string(),
                t => crate::repr::ScalarType::from_arrow(t)
                    .map_or_else(|_| t.to_string(), |t| t.name()),
            })
            .collect();
        datafusion_common::DataFusionError::External(Box::new(PlanError::UnknownFunction(format!(
            "{name}({})",
            names.join(", ")
        ))))
    }

    /// PostgreSQL's hint line for this error, if it gives one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PlanError::UnknownFunction(_) => Some(
                "No function matches the given name and argument types. You might need to add explicit type casts.",
            ),
            PlanError::UndefinedOperator(_) => Some(
                "No operator matches the given name and argument types. You might need to add explicit type casts.",
            ),
            PlanError::AmbiguousFunction(_) => Some(
                "Could not choose a best candidate function. You might need to add explicit type casts.",
            ),
            PlanError::DependentObjects { .. } => {
                Some("Use DROP ... CASCADE to drop the dependent objects too.")
            }
            PlanError::AssignmentMismatch { .. } => {
                Some("You will need to rewrite or cast the expression.")
            }
            _ => None,
        }
    }

    /// Where in the query string the error is (characters from 1), if known.
    pub fn position(&self) -> Option<usize> {
        match self {
            PlanError::SyntaxAt { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// The SQLSTATE this error reports.
    pub fn code(&self) -> SqlState {
        match self {
            PlanError::Syntax(_) | PlanError::SyntaxAt { .. } => SqlState::SYNTAX_ERROR,
            PlanError::UnknownItem { .. } => SqlState::UNDEFINED_TABLE,
            PlanError::UnknownSchema(_) | PlanError::NoSchemaSelected => {
                SqlState::INVALID_SCHEMA_NAME
            }
            PlanError::UnknownDatabase(_) => SqlState::INVALID_CATALOG_NAME,
            PlanError::SchemaAlreadyExists(_) => SqlState::DUPLICATE_SCHEMA,
            PlanError::SystemSchema(_) => SqlState::INSUFFICIENT_PRIVILEGE,
            PlanError::ReservedSchemaName(_) => SqlState::RESERVED_NAME,
            PlanError::ImproperName(_) => SqlState::SYNTAX_ERROR,
            PlanError::UnknownColumn(_) => SqlState::UNDEFINED_COLUMN,
            PlanError::UnknownType(_) => SqlState::UNDEFINED_OBJECT,
            PlanError::UnknownFunction(_)
            | PlanError::UndefinedOperator(_)
            | PlanError::MissingOperator(_)
            | PlanError::MissingComparison(_) => SqlState::UNDEFINED_FUNCTION,
            PlanError::AmbiguousFunction(_) => SqlState::AMBIGUOUS_FUNCTION,
            PlanError::AmbiguousColumn(_) => SqlState::AMBIGUOUS_COLUMN,
            PlanError::AlreadyExists { .. } => SqlState::DUPLICATE_TABLE,
            PlanError::TypeMismatch(_) | PlanError::AssignmentMismatch { .. } => {
                SqlState::DATATYPE_MISMATCH
            }
            PlanError::IndeterminateType(_) => SqlState::INDETERMINATE_DATATYPE,
            PlanError::Unsupported(_) | PlanError::NotImplemented(_) => {
                SqlState::FEATURE_NOT_SUPPORTED
            }
            PlanError::WrongObjectType(_) => SqlState::WRONG_OBJECT_TYPE,
            PlanError::DependentObjects { .. } => SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            PlanError::Planning(_) => SqlState::SYNTAX_ERROR,
            PlanError::InvalidParameter(_) => SqlState::INVALID_PARAMETER_VALUE,
            PlanError::UndefinedParameter(_) => SqlState::UNDEFINED_PARAMETER,
            PlanError::MissingFromEntry { .. } => SqlState::UNDEFINED_TABLE,
            PlanError::DuplicateAlias(_) => SqlState::DUPLICATE_ALIAS,
            PlanError::InvalidDefinition(_) => SqlState::INVALID_TABLE_DEFINITION,
            PlanError::InvalidColumnReference(_) => SqlState::INVALID_COLUMN_REFERENCE,
            PlanError::InvalidRecursion(_) => SqlState::INVALID_RECURSION,
            PlanError::Grouping(_) => SqlState::GROUPING_ERROR,
            PlanError::Windowing(_) => SqlState::WINDOWING_ERROR,
            PlanError::InvalidPrecedingFollowing(_) => {
                SqlState::INVALID_PRECEDING_OR_FOLLOWING_SIZE
            }
            PlanError::InvalidLiteral { code, .. } => *code,
            PlanError::ConstantEvaluation { code, .. } => *code,
            PlanError::Internal(_) => SqlState::INTERNAL_ERROR,
        }
    }

    /// Classifies an error DataFusion's planner reported.
    pub fn from_datafusion(e: datafusion_common::DataFusionError) -> PlanError {
        use datafusion_common::DataFusionError as D;
        let text = crate::expr::func::clean_datafusion_error(&e.to_string());
        // Name resolution reports its own errors (unknown schema, database)
        // through DataFusion as external errors.
        if let D::External(inner) = e.find_root()
            && let Some(plan) = inner.downcast_ref::<PlanError>()
        {
            return plan.clone();
        }
        // DataFusion's check of a select list (or HAVING) against the
        // GROUP BY. (Its ORDER BY form also meets columns it made up
        // itself: not the user's error.)
        if (text.contains("column in SELECT must be in GROUP BY")
            || text.contains("column in HAVING must be in GROUP BY"))
            && text.contains("must appear in the GROUP BY clause")
        {
            let column = text
                .split("column \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("");
            return PlanError::Grouping(format!(
                "column \"{column}\" must appear in the GROUP BY clause or be used in an aggregate function"
            ));
        }
        // (An aggregate in a subquery's WHERE reaches the planner wrapped,
        // `where_aggregates`: this is one in the outermost query's.)
        if text.contains("aggregate functions are not allowed in the WHERE clause") {
            return PlanError::Grouping("aggregate functions are not allowed in WHERE".into());
        }
        match e.find_root() {
            D::NotImplemented(m) => {
                PlanError::NotImplemented(crate::expr::func::clean_datafusion_error(m))
            }
            D::SQL(..) => PlanError::Syntax(text),
            D::SchemaError(se, _) => {
                use datafusion_common::SchemaError as S;
                match se.as_ref() {
                    // A column of Freshet's own rewrites (`__freshet_...`)
                    // that a later step cannot find: a shape of correlated
                    // subquery they do not handle, not the user's column.
                    S::FieldNotFound { field, .. } if field.name().starts_with("__freshet_") => {
                        PlanError::Unsupported("this form of correlated subquery".into())
                    }
                    // `x.a` where no relation of the FROM is named `x`.
                    S::FieldNotFound {
                        field,
                        valid_fields,
                    } if field.relation.as_ref().is_some_and(|q| {
                        !valid_fields.is_empty()
                            && valid_fields
                                .iter()
                                .all(|v| v.relation.as_ref().is_none_or(|r| r.table() != q.table()))
                    }) =>
                    {
                        let table = field
                            .relation
                            .as_ref()
                            .map(|q| q.table().to_string())
                            .unwrap_or_default();
                        PlanError::MissingFromEntry {
                            table,
                            column: field.name().to_string(),
                            aliased: false,
                        }
                    }
                    S::FieldNotFound { field, .. } => {
                        PlanError::UnknownColumn(format!("\"{}\"", field.name()))
                    }
                    // The same relation name twice in a FROM (`FROM t, t`).
                    S::DuplicateQualifiedField { qualifier, .. } => {
                        PlanError::DuplicateAlias(qualifier.table().to_string())
                    }
                    S::AmbiguousReference { field } => PlanError::AmbiguousColumn(format!(
                        "column reference \"{}\" is ambiguous",
                        field.name()
                    )),
                    _ => PlanError::Planning(text),
                }
            }
            // DataFusion checks a RANGE offset's ORDER BY before Freshet
            // lowers the frame.
            _ if text.contains("RANGE requires exactly one ORDER BY column") => {
                PlanError::Windowing(
                    "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column"
                        .into(),
                )
            }
            // No signature of a function takes these argument types
            // (`substr(text, numeric)`): PostgreSQL's function does not
            // exist either.
            _ if text.contains("failed to match any signature") => {
                let name = text
                    .split("Function '")
                    .nth(1)
                    .and_then(|rest| rest.split('\'').next())
                    .unwrap_or("");
                PlanError::UnknownFunction(format!("{name}(...)"))
            }
            // A planning function that refuses its argument types while
            // DataFusion coerces them: DataFusion rewords the error.
            _ if text.contains("coercion failed with: External error: function ") => {
                let rest = text
                    .split("coercion failed with: External error: function ")
                    .nth(1)
                    .unwrap_or("");
                let call = rest.split(" does not exist").next().unwrap_or(rest);
                PlanError::UnknownFunction(call.to_string())
            }
            // A planning function that refuses a supported-in-PostgreSQL
            // form (`not_impl_err!` in its `coerce_types`): still 0A000.
            _ if text.contains("coercion failed with: This feature is not implemented: ") => {
                let rest = text
                    .split("coercion failed with: This feature is not implemented: ")
                    .nth(1)
                    .unwrap_or("");
                let what = rest.split(". No function matches").next().unwrap_or(rest);
                PlanError::Unsupported(what.to_string())
            }
            // Arithmetic between types with no such operator (`1 +
            // 'a'::text`): DataFusion names the operands by their Arrow
            // types.
            _ if text.contains("annot coerce arithmetic expression ") => {
                let rest = text
                    .split("oerce arithmetic expression ")
                    .nth(1)
                    .unwrap_or("");
                let expr = rest.split(" to valid types").next().unwrap_or(rest);
                let pg_name = |arrow: &str| {
                    arrow
                        .parse::<arrow_schema_types::DataType>()
                        .ok()
                        .and_then(|t| crate::repr::ScalarType::from_arrow(&t).ok())
                        .map_or_else(|| arrow.to_string(), |t| t.name())
                };
                let words: Vec<&str> = expr.split(' ').collect();
                match words.as_slice() {
                    [left, op, right] => PlanError::UndefinedOperator(format!(
                        "{} {op} {}",
                        pg_name(left),
                        pg_name(right)
                    )),
                    _ => PlanError::Planning(text),
                }
            }
            // `mz_now()` markers (`sql/temporal.rs`) refuse an operand type
            // while DataFusion coerces it, which rewords the error.
            _ if text.contains("operator does not exist: ") => {
                let rest = text.split("operator does not exist: ").nth(1).unwrap_or("");
                let operator = rest.split(". No function matches").next().unwrap_or(rest);
                PlanError::UndefinedOperator(operator.to_string())
            }
            // `ORDER BY n` past the select list (or 0).
            _ if text.contains("order by column out of bounds, specified: ")
                || text.to_lowercase().contains("order by index starts at 1") =>
            {
                let n = text
                    .split("specified: ")
                    .nth(1)
                    .and_then(|rest| rest.split(',').next())
                    .unwrap_or("0");
                PlanError::InvalidColumnReference(format!(
                    "ORDER BY position {n} is not in select list"
                ))
            }
            _ if text.starts_with("there is no parameter $") => {
                match text["there is no parameter $".len()..].parse() {
                    Ok(n) => PlanError::UndefinedParameter(n),
                    Err(_) => PlanError::Planning(text),
                }
            }
            _ if text.contains("DISTINCT ON expressions must match initial ORDER BY") => {
                PlanError::InvalidColumnReference(
                    "SELECT DISTINCT ON expressions must match initial ORDER BY expressions".into(),
                )
            }
            _ if text.contains("Correlated scalar subquery must be aggregated") => {
                PlanError::Unsupported(
                    "correlated scalar subqueries that are not aggregated".into(),
                )
            }
            _ => {
                if let Some(rest) = text.strip_prefix("relation \"")
                    && let Some(name) = rest.strip_suffix("\" does not exist")
                {
                    PlanError::UnknownItem {
                        kind: "relation",
                        name: name.to_string(),
                    }
                } else if text.contains("table") && text.contains("not found") {
                    PlanError::UnknownItem {
                        kind: "relation",
                        name: text,
                    }
                } else if let Some(rest) = text.split("nvalid function '").nth(1) {
                    let name = rest.split('\'').next().unwrap_or(rest);
                    const WINDOW_FUNCTIONS: &[&str] = &[
                        "row_number",
                        "rank",
                        "dense_rank",
                        "percent_rank",
                        "cume_dist",
                        "ntile",
                        "lag",
                        "lead",
                        "first_value",
                        "last_value",
                        "nth_value",
                    ];
                    if WINDOW_FUNCTIONS.contains(&name) {
                        PlanError::Unsupported(format!("window function {name}"))
                    } else {
                        PlanError::UnknownFunction(name.to_string())
                    }
                } else if let Some(rest) = text
                    .split("No function matches the given name and argument types '")
                    .nth(1)
                {
                    // No signature takes these argument types: PostgreSQL
                    // has no such function (its hint is DataFusion's text).
                    PlanError::UnknownFunction(pg_call(rest.split("'.").next().unwrap_or(rest)))
                } else if text.contains("Cannot") && text.contains("coerce")
                    || text.contains("cannot be cast")
                    || text.contains("No function matches")
                {
                    PlanError::TypeMismatch(text)
                } else {
                    PlanError::Planning(text)
                }
            }
        }
    }
}

/// A call as DataFusion writes it with Arrow argument types (`lower(Int32)`,
/// `upper(Decimal128(2, 1))`) in PostgreSQL's type names (`lower(integer)`,
/// `upper(numeric)`); a type without a PostgreSQL name is left as it is.
fn pg_call(call: &str) -> String {
    let Some((name, rest)) = call.split_once('(') else {
        return call.to_string();
    };
    let Some(args) = rest.strip_suffix(')') else {
        return call.to_string();
    };
    // Split at the commas outside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in args.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !args.trim().is_empty() {
        parts.push(&args[start..]);
    }
    let names: Vec<String> = parts
        .iter()
        .map(|arrow| {
            let arrow = arrow.trim();
            match arrow.parse::<arrow_schema_types::DataType>() {
                Ok(arrow_schema_types::DataType::Null) => "unknown".to_string(),
                Ok(t) => crate::repr::ScalarType::from_arrow(&t)
                    .map_or_else(|_| arrow.to_string(), |t| t.name()),
                Err(_) => arrow.to_string(),
            }
        })
        .collect();
    format!("{name}({})", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::pg_call;

    #[test]
    fn calls_name_postgresql_types() {
        assert_eq!(pg_call("lower(Int32)"), "lower(integer)");
        assert_eq!(pg_call("upper(Decimal128(2, 1))"), "upper(numeric)");
        assert_eq!(pg_call("f(Utf8, Int64, Null)"), "f(text, bigint, unknown)");
        assert_eq!(pg_call("now()"), "now()");
        assert_eq!(pg_call("g(NoSuchType)"), "g(NoSuchType)");
    }
}
