//! Functions whose value belongs to the session, not to the data:
//! `version()`, `current_schema()` (also without parentheses),
//! `current_database()` and `current_catalog`, `current_setting(name [,
//! missing_ok])`, and the user the client connected as: `current_user`,
//! `session_user`, `user` and `current_role` (SQL's special forms, without
//! parentheses), `pg_backend_pid()`, `set_config(name, value, false)`,
//! and the `pg_settings` view of the session's variables.
//! Drivers call them when they connect (SQLAlchemy asks for `version()` and
//! `current_schema()`, JDBC's `getSchema()` for `current_schema()`).
//!
//! In a one-shot query they are replaced by literals before planning, with
//! the session's values at that moment, as PostgreSQL evaluates them once
//! per statement. A view or materialized view has no session to read them
//! from, so [`refuse_in_view`] refuses them there with `0A000` (as
//! Materialize refuses them in materialized views).

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, SelectItem, SetExpr, Statement, TableFactor, Value, Visit, VisitMut, Visitor,
    VisitorMut,
};

use super::AdapterError;
use super::session::Session;
use crate::catalog::{Catalog, SearchPath};

/// SQL's parameterless special functions that name the session's user.
const USER_FUNCTIONS: &[&str] = &["current_user", "session_user", "user", "current_role"];

/// What `version()` returns: PostgreSQL's shape (clients parse the version
/// after `PostgreSQL `), then Freshet's own.
pub fn version_string(server_version: &str) -> String {
    format!(
        "PostgreSQL {server_version} on x86_64-pc-linux-gnu (Freshet {})",
        env!("CARGO_PKG_VERSION")
    )
}

/// Replaces the session functions in `stmt` by their values; fails as
/// PostgreSQL does for `current_setting` of an unknown parameter (42704).
pub fn substitute(
    stmt: &mut Statement,
    session: &mut Session,
    catalog: &Catalog,
) -> Result<(), AdapterError> {
    let path = session.search_path();
    let mut rewrite = Rewrite {
        values: Some((session, catalog, &path)),
        sets: Vec::new(),
        sleep: std::time::Duration::ZERO,
    };
    name_columns(stmt);
    match stmt.visit(&mut rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }?;
    // `set_config` takes effect when the statement runs (its value, the
    // literal now in the statement, was checked when it was replaced).
    let sets = std::mem::take(&mut rewrite.sets);
    session.pending_sleep = rewrite.sleep;
    for (name, value) in sets {
        session.set(&name, &value)?;
    }
    super::sequence_objects::resolve_sequence_args(stmt, Some((catalog, &path)))?;
    super::catalog_type_kinds::remove_dead_branches(stmt, Some(catalog));
    super::catalog_funcs::substitute(stmt, Some((catalog, &path)))
}

/// The session or catalog function (or catalog cast) `expr` is, by name:
/// what [`substitute`] replaces by the session's values.
fn session_call(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Function(f) => {
            Rewrite::session_function(f).or_else(|| super::catalog_funcs::catalog_function(f))
        }
        Expr::Cast { .. } => {
            super::catalog_funcs::catalog_cast(expr).map(|t| format!("a cast to {t}"))
        }
        Expr::Identifier(Ident {
            value,
            quote_style: None,
            ..
        }) => Some(value.to_lowercase()).filter(|v| {
            matches!(
                v.as_str(),
                "current_schema" | "current_catalog" | "current_role"
            )
        }),
        _ => None,
    }
}

/// Finds the first session function in what it visits, and with
/// `settings` a reference to `pg_settings`.
struct FindSessionCall {
    settings: bool,
}

impl Visitor for FindSessionCall {
    type Break = String;
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match session_call(expr) {
            Some(name) => ControlFlow::Break(name),
            None => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table { name, .. } if self.settings && is_pg_settings(name) => {
                ControlFlow::Break("pg_settings".into())
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Fails with `0A000` naming the first session function in a view's query:
/// a view has no session to take the value from.
pub fn refuse_in_view(query: &sqlparser::ast::Query) -> Result<(), crate::sql::PlanError> {
    match query.visit(&mut FindSessionCall { settings: false }) {
        ControlFlow::Break(name) => Err(crate::sql::PlanError::Unsupported(format!(
            "{name} in a view"
        ))),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether [`substitute`] may change `stmt`: it calls a session or catalog
/// function, reads `pg_settings`, or uses a vector column of `pg_index` or
/// `pg_proc` (`catalog_vectors`). A statement that does none of these plans
/// the same whatever the session's variables are.
pub fn reads_session(stmt: &Statement) -> bool {
    if stmt
        .visit(&mut FindSessionCall { settings: true })
        .is_break()
    {
        return true;
    }
    let text = stmt.to_string().to_lowercase();
    // A sequence function's sequence is resolved when the statement runs.
    text.contains("pg_index")
        || text.contains("pg_proc")
        || ["nextval", "currval", "setval", "lastval"]
            .iter()
            .any(|f| text.contains(f))
}

/// Keeps the column names PostgreSQL gives a select list item that is one
/// of these calls (the function's name), which the literal replacing it
/// would otherwise change.
fn name_columns(stmt: &mut Statement) {
    let Statement::Query(query) = stmt else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    for item in select.projection.iter_mut() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let cast_target = super::catalog_funcs::catalog_cast(expr);
        let name = match expr {
            Expr::Function(f) => {
                Rewrite::session_function(f).or_else(|| super::catalog_funcs::catalog_function(f))
            }
            Expr::Identifier(Ident {
                value,
                quote_style: None,
                ..
            }) if matches!(
                value.to_lowercase().as_str(),
                "current_schema" | "current_catalog" | "current_role"
            ) =>
            {
                Some(value.to_lowercase())
            }
            // `x::regclass` is named after `x` (its last name part) or,
            // failing that, after the type, as PostgreSQL names casts.
            Expr::Cast { expr: inner, .. } => {
                let folded = |i: &Ident| match i.quote_style {
                    Some(_) => i.value.clone(),
                    None => i.value.to_lowercase(),
                };
                cast_target.map(|target| match inner.as_ref() {
                    Expr::Identifier(i) => folded(i),
                    Expr::CompoundIdentifier(parts) => {
                        parts.last().map_or_else(|| target.to_string(), folded)
                    }
                    _ => target.to_string(),
                })
            }
            _ => None,
        };
        if let Some(name) = name {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', name),
            };
        }
    }
}

/// Replaces the session functions in `stmt` by `text` values of no
/// consequence, for describing a statement's result columns (the extended
/// protocol's Describe, which has no session at hand): only their type
/// matters there.
pub fn substitute_for_describe(stmt: &mut Statement) {
    name_columns(stmt);
    let _ = stmt.visit(&mut Rewrite {
        values: None,
        sets: Vec::new(),
        sleep: std::time::Duration::ZERO,
    });
    let _ = super::sequence_objects::resolve_sequence_args(stmt, None);
    super::catalog_type_kinds::remove_dead_branches(stmt, None);
    let _ = super::catalog_funcs::substitute(stmt, None);
}

struct Rewrite<'a> {
    /// The session, its catalog and its path; `None` when describing.
    values: Option<(&'a Session, &'a Catalog, &'a SearchPath)>,
    /// The variables `set_config` calls set, in order: applied to the
    /// session after the rewrite, and read by later `current_setting`
    /// calls in the statement (PostgreSQL evaluates them in that order).
    sets: Vec<(String, String)>,
    /// The total of the statement's `pg_sleep` calls.
    sleep: std::time::Duration,
}

/// The value of a literal argument: a plain literal, or a string literal
/// cast to a string type (drivers send `$1::VARCHAR`, and a bound
/// parameter becomes such a literal).
fn literal_value(e: &Expr) -> Option<Value> {
    match e {
        Expr::Value(v) => Some(v.value.clone()),
        Expr::Nested(inner) => literal_value(inner),
        Expr::Cast {
            expr: inner,
            data_type:
                DataType::Text
                | DataType::Varchar(_)
                | DataType::CharacterVarying(_)
                | DataType::Custom(..),
            ..
        } if matches!(
            literal_value(inner),
            Some(Value::SingleQuotedString(_) | Value::Null)
        ) && is_string_type(e) =>
        {
            literal_value(inner)
        }
        _ => None,
    }
}

/// Whether the cast `e` is to `text`, `varchar` or `name`.
fn is_string_type(e: &Expr) -> bool {
    let Expr::Cast { data_type, .. } = e else {
        return false;
    };
    match data_type {
        DataType::Text | DataType::Varchar(_) | DataType::CharacterVarying(_) => true,
        DataType::Custom(name, modifiers) => {
            modifiers.is_empty()
                && name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("name"))
        }
        _ => false,
    }
}

/// A `text` literal (`NULL::text` for `None`).
fn text(value: Option<String>) -> Expr {
    typed_string(value, DataType::Text)
}

/// A string literal of type `data_type` (`NULL` for `None`).
fn typed_string(value: Option<String>, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(Expr::value(match value {
            Some(v) => Value::SingleQuotedString(v),
            None => Value::Null,
        })),
        data_type,
        array: false,
        format: None,
    }
}

/// A `name` literal (`NULL::name` for `None`): what `current_schema()`,
/// `current_database()` and `current_user` return in PostgreSQL.
fn name(value: Option<String>) -> Expr {
    typed_string(
        value,
        DataType::Custom(ObjectName::from(vec![Ident::new("name")]), Vec::new()),
    )
}

impl Rewrite<'_> {
    fn current_schema(&self) -> Expr {
        name(
            self.values
                .and_then(|(_, catalog, path)| catalog.show_schema(path, None).ok().flatten()),
        )
    }

    fn current_database(&self) -> Expr {
        name(self.values.map(|(_, _, path)| path.database.clone()))
    }

    fn user(&self) -> Expr {
        name(
            self.values
                .map(|(session, _, _)| session.user().to_string()),
        )
    }

    /// The name of the session function `f` calls, if it calls one.
    fn session_function(f: &Function) -> Option<String> {
        let name = match f.name.0.as_slice() {
            [part] => part.as_ident()?.value.to_lowercase(),
            [schema, part] if schema.as_ident()?.value.eq_ignore_ascii_case("pg_catalog") => {
                part.as_ident()?.value.to_lowercase()
            }
            _ => return None,
        };
        let special = USER_FUNCTIONS.contains(&name.as_str()) || name == "current_catalog";
        let known = matches!(
            name.as_str(),
            "version"
                | "current_schema"
                | "current_database"
                | "current_setting"
                | "pg_backend_pid"
                | "set_config"
                | "pg_sleep"
        );
        // The special forms take no parentheses (`current_user()` is a
        // syntax error in PostgreSQL).
        (known || special && matches!(f.args, FunctionArguments::None)).then_some(name)
    }

    fn call(&mut self, f: &Function) -> Result<Option<Expr>, AdapterError> {
        let Some(name) = Self::session_function(f) else {
            return Ok(None);
        };
        let args: Vec<&FunctionArg> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => list.args.iter().collect(),
            FunctionArguments::Subquery(_) => return Ok(None),
        };
        let literal = |arg: &FunctionArg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => literal_value(e),
            _ => None,
        };
        if name == "current_setting" {
            let values: Vec<Option<Value>> = args.iter().map(|a| literal(a)).collect();
            if let Some(Some(_)) = values.first() {
                return self.current_setting(&values);
            }
            return Ok(self.current_setting_of(args.first().copied()));
        }
        if name == "set_config" {
            let args: Vec<Option<Value>> = args.iter().map(|a| literal(a)).collect();
            return self.set_config(&args);
        }
        if name == "pg_sleep" && self.values.is_none() {
            return Ok(Some(text(Some(String::new()))));
        }
        if name == "pg_sleep" {
            let args: Vec<Option<Value>> = args.iter().map(|a| literal(a)).collect();
            return self.pg_sleep(&args).map(Some);
        }
        Ok(match (name.as_str(), args.as_slice()) {
            ("version", []) => Some(text(Some(version_string(
                self.values
                    .and_then(|(session, _, _)| session.get("server_version").ok())
                    .unwrap_or("15.0.0"),
            )))),
            ("current_schema", []) => Some(self.current_schema()),
            ("current_database", []) => Some(self.current_database()),
            ("current_catalog", []) => Some(self.current_database()),
            ("pg_backend_pid", []) => Some(Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(Expr::value(Value::Number(
                    self.values
                        .map_or(0, |(session, _, _)| session.backend_pid)
                        .to_string(),
                    false,
                ))),
                data_type: DataType::Integer(None),
                array: false,
                format: None,
            }),
            (user, []) if USER_FUNCTIONS.contains(&user) => Some(self.user()),
            _ => None,
        })
    }

    /// `current_setting(name)` of a name that is not a literal (psql's
    /// `\dconfig` reads `current_setting(s.name)` over `pg_settings`): a
    /// `CASE` over the session's variables, NULL for another name (where
    /// PostgreSQL fails). When describing, a `text` of no consequence.
    fn current_setting_of(&self, arg: Option<&FunctionArg>) -> Option<Expr> {
        let Some((session, _, _)) = self.values else {
            return Some(text(None));
        };
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = arg? else {
            return None;
        };
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let mut sql = format!("CASE lower(CAST(({arg}) AS text))");
        for (name, value) in session.all() {
            let value = self
                .sets
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or(value.as_str(), |(_, v)| v.as_str());
            sql.push_str(&format!(" WHEN {} THEN {}", quote(name), quote(value)));
        }
        sql.push_str(" ELSE NULL::text END");
        sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_expr())
            .ok()
            .map(|e| Expr::Nested(Box::new(e)))
    }

    /// `pg_sleep(seconds)` with a literal argument: the sleep is added to
    /// the statement's (slept before it runs, outside the coordinator's
    /// lock), and the call is PostgreSQL's `void` value, the empty text.
    /// A NULL, negative or NaN argument does not sleep.
    fn pg_sleep(&mut self, args: &[Option<Value>]) -> Result<Expr, AdapterError> {
        let seconds = match args {
            [Some(Value::Number(n, _))] => n.parse::<f64>().ok(),
            [Some(Value::Null)] => None,
            [Some(Value::SingleQuotedString(s))] => Some(s.trim().parse::<f64>().map_err(
                |_| AdapterError::Variable {
                    code: crate::repr::SqlState::INVALID_TEXT_REPRESENTATION,
                    message: format!("invalid input syntax for type double precision: \"{s}\""),
                },
            )?),
            _ => {
                return Err(crate::sql::PlanError::Unsupported(
                    "pg_sleep with an argument that is not a constant".into(),
                )
                .into());
            }
        };
        if let Some(s) = seconds
            && s > 0.0
            && let Ok(d) = std::time::Duration::try_from_secs_f64(s)
        {
            self.sleep = self.sleep.saturating_add(d);
        }
        Ok(text(Some(String::new())))
    }

    /// `current_setting(name [, missing_ok])` with literal arguments: the
    /// value, NULL for a NULL argument or a missing parameter when
    /// `missing_ok`. Other arguments leave the call alone (it then fails as
    /// an unknown function).
    fn current_setting(&self, args: &[Option<Value>]) -> Result<Option<Expr>, AdapterError> {
        let (name, missing_ok) = match args {
            [Some(name)] => (name, Value::Boolean(false)),
            [Some(name), Some(missing_ok)] => (name, missing_ok.clone()),
            _ => return Ok(None),
        };
        let missing_ok = match missing_ok {
            Value::Boolean(b) => b,
            Value::Null => return Ok(Some(text(None))),
            _ => return Ok(None),
        };
        let name = match name {
            Value::SingleQuotedString(s) => s,
            Value::Null => return Ok(Some(text(None))),
            _ => return Ok(None),
        };
        let Some((session, _, _)) = self.values else {
            return Ok(Some(text(None)));
        };
        if let Some((_, v)) = self
            .sets
            .iter()
            .rev()
            .find(|(n, _)| n == &name.to_lowercase())
        {
            return Ok(Some(text(Some(v.clone()))));
        }
        match session.get(name) {
            Ok(v) => Ok(Some(text(Some(v.to_string())))),
            Err(_) if missing_ok => Ok(Some(text(None))),
            // The name as written, as PostgreSQL reports it.
            Err(_) => Err(AdapterError::Variable {
                code: crate::repr::SqlState::UNDEFINED_OBJECT,
                message: format!("unrecognized configuration parameter \"{name}\""),
            }),
        }
    }
}

impl Rewrite<'_> {
    /// `set_config(name, value, is_local)` with literal arguments: the new
    /// value, which the session takes when the statement runs. Only
    /// session-wide settings (`is_local` false) exist in Freshet; a local
    /// one is refused with 0A000. Other arguments leave the call alone (it
    /// then fails as an unknown function).
    fn set_config(&mut self, args: &[Option<Value>]) -> Result<Option<Expr>, AdapterError> {
        let [Some(name), Some(value), Some(local)] = args else {
            return Ok(None);
        };
        let (Value::SingleQuotedString(name), Value::Boolean(local)) = (name, local) else {
            return Ok(None);
        };
        let value = match value {
            Value::SingleQuotedString(v) => v.clone(),
            // PostgreSQL resets the variable for a NULL value; Freshet
            // does not emulate that.
            _ => return Ok(None),
        };
        if *local {
            return Err(crate::sql::PlanError::Unsupported(
                "set_config with is_local = true".into(),
            )
            .into());
        }
        let Some((session, _, _)) = self.values else {
            return Ok(Some(text(Some(value))));
        };
        // Check the name and value now, on a copy, so that an invalid one
        // fails the statement before anything runs; the value PostgreSQL
        // returns is the one the setting takes.
        let mut probe = Session::default();
        probe.set_user(session.user());
        for (n, v) in session.all() {
            let _ = probe.set(n, v);
        }
        probe.set(name, &value)?;
        let stored = probe.get(name)?.to_string();
        self.sets.push((name.to_lowercase(), stored.clone()));
        Ok(Some(text(Some(stored))))
    }
}

/// The `pg_settings` view of the session's variables, as a derived table
/// replacing a reference to it (`pg_settings` or
/// `pg_catalog.pg_settings`): PostgreSQL's columns, one row per variable.
/// PostgreSQL spells a few names in mixed case; their spelling is kept.
fn pg_settings(
    session: Option<&Session>,
    alias: Option<sqlparser::ast::TableAlias>,
) -> TableFactor {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let rows: Vec<String> = session
        .map(|session| {
            session
                .all()
                .map(|(name, value)| {
                    let boot = super::session::DEFAULT_VARIABLES
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or("", |(_, v)| v);
                    let pg_name = match name.as_str() {
                        "datestyle" => "DateStyle",
                        "timezone" => "TimeZone",
                        "intervalstyle" => "IntervalStyle",
                        other => other,
                    };
                    let (context, vartype) = match name.as_str() {
                        "server_version" | "server_version_num" | "server_encoding" => {
                            ("internal", "string")
                        }
                        "max_identifier_length" | "max_index_keys" => ("internal", "integer"),
                        "is_superuser" => ("internal", "bool"),
                        "integer_datetimes" | "standard_conforming_strings" => ("internal", "bool"),
                        "extra_float_digits"
                        | "max_copy_from_size"
                        | "statement_timeout"
                        | "lock_timeout"
                        | "idle_in_transaction_session_timeout" => ("user", "integer"),
                        "check_function_bodies" | "row_security" => ("user", "bool"),
                        "xmloption" => ("user", "enum"),
                        _ => ("user", "string"),
                    };
                    let unit = if matches!(
                        name.as_str(),
                        "statement_timeout"
                            | "lock_timeout"
                            | "idle_in_transaction_session_timeout"
                    ) {
                        "'ms'"
                    } else {
                        "NULL"
                    };
                    let source = if value == boot { "default" } else { "session" };
                    format!(
                        "({}, {}, {unit}, {}, {}, {}, {}, {}, {}, {})",
                        quote(pg_name),
                        quote(value),
                        quote(context),
                        quote(vartype),
                        quote(source),
                        quote(boot),
                        quote(boot),
                        // short_desc: Freshet has none.
                        quote(""),
                        quote(if context == "internal" {
                            "Preset Options"
                        } else {
                            "Client Connection Defaults"
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Describing (no session) needs the columns only.
    let values = if rows.is_empty() {
        // (Each column named: Freshet refuses a subquery's duplicate names.)
        let columns: Vec<String> = (0..10).map(|i| format!("NULL::text AS c{i}")).collect();
        format!("SELECT {} WHERE false", columns.join(", "))
    } else {
        format!("VALUES {}", rows.join(", "))
    };
    let sql = format!(
        "SELECT * FROM (SELECT name, setting, unit, category, short_desc, \
         NULL::text AS extra_desc, context, vartype, source, NULL::text AS min_val, \
         NULL::text AS max_val, NULL::text[] AS enumvals, boot_val, reset_val, \
         NULL::text AS sourcefile, NULL::int AS sourceline, false AS pending_restart \
         FROM ({values}) AS v (name, setting, unit, context, vartype, source, boot_val, \
         reset_val, short_desc, category)) AS pg_settings"
    );
    let mut parsed =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &sql)
            .expect("the pg_settings query parses");
    let Some(Statement::Query(query)) = parsed.pop() else {
        unreachable!("a query")
    };
    let SetExpr::Select(select) = *query.body else {
        unreachable!("a select")
    };
    let mut factor = select.from.into_iter().next().expect("a FROM").relation;
    if let (TableFactor::Derived { alias: a, .. }, Some(alias)) = (&mut factor, alias) {
        *a = Some(alias);
    }
    factor
}

/// Whether `name` names `pg_settings` (bare, or in `pg_catalog`, which is
/// searched first).
fn is_pg_settings(name: &sqlparser::ast::ObjectName) -> bool {
    names_catalog_object(name, "pg_settings")
}

/// Whether `name` names the `pg_catalog` object `object`, bare (the
/// catalog is searched first) or qualified; a quoted part keeps its case.
pub(super) fn names_catalog_object(name: &sqlparser::ast::ObjectName, object: &str) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| match i.quote_style {
            Some(_) => i.value.clone(),
            None => i.value.to_lowercase(),
        })
        .collect();
    match parts.as_slice() {
        [o] => o == object,
        [schema, o] => schema == "pg_catalog" && o == object,
        _ => false,
    }
}

impl VisitorMut for Rewrite<'_> {
    type Break = AdapterError;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<AdapterError> {
        if let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
            && is_pg_settings(name)
        {
            let alias = alias.clone();
            *factor = pg_settings(self.values.map(|(s, _, _)| s), alias);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<AdapterError> {
        let replacement = match expr {
            Expr::Function(f) => match self.call(f) {
                Ok(r) => r,
                Err(e) => return ControlFlow::Break(e),
            },
            Expr::Identifier(Ident {
                value,
                quote_style: None,
                ..
            }) => match value.to_lowercase().as_str() {
                "current_schema" => Some(self.current_schema()),
                "current_catalog" => Some(self.current_database()),
                "current_role" => Some(self.user()),
                _ => None,
            },
            _ => None,
        };
        if let Some(r) = replacement {
            *expr = r;
        }
        ControlFlow::Continue(())
    }
}
