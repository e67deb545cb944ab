//! The PostgreSQL wire protocol server, on the `pgwire` crate: simple and
//! extended query protocols, `COPY ... TO STDOUT`, and streamed SUBSCRIBE
//! output. Any user and database are accepted (authentication is a later
//! issue).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use datafusion_expr::LogicalPlan;
use futures::{Sink, SinkExt, stream};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_query_response,
};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::data::{DataRow, NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Describe, Execute, Parse, ParseComplete, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::simplequery::Query;
use sqlparser::ast::{Expr as SqlExpr, Value, VisitMut, VisitorMut};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::catalog::SearchPath;
use crate::coord::prepared::PreparedQuery;
use crate::coord::session::TransactionState;
use crate::coord::{AdapterError, Coordinator, ExecuteResponse, Session, SubscribeResponse};
use crate::repr::{RelationDesc, Row, ScalarType, strconv};
use crate::sql::parse::{FreshetStatement, parse_statements};

use super::codec;

/// Serves clients on `listener` until the process ends.
pub async fn serve(listener: TcpListener, coord: Arc<Coordinator>) -> std::io::Result<()> {
    let connections = Arc::new(super::idle::Connections::default());
    let factory = Arc::new(Handlers {
        backend: Arc::new(Backend {
            coord,
            connections: connections.clone(),
            cancellers: Default::default(),
        }),
    });
    loop {
        let (socket, peer) = listener.accept().await?;
        let _ = socket.set_nodelay(true);
        let factory = factory.clone();
        let connections = connections.clone();
        tokio::spawn(super::idle::serve(socket, peer, factory, connections));
    }
}

struct Handlers {
    backend: Arc<Backend>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.backend.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.backend.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.backend.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.backend.clone()
    }
}

#[async_trait]
impl pgwire::api::cancel::CancelHandler for Backend {
    /// A CancelRequest, on a connection of its own: stops the statement
    /// running on the connection it names, where it waits
    /// ([`crate::coord::cancel`]).
    async fn on_cancel_request(&self, request: pgwire::messages::cancel::CancelRequest) {
        self.cancellers
            .cancel(request.pid, &request.secret_key.to_bytes());
    }
}

/// The query handlers, shared by every connection.
pub struct Backend {
    pub(super) coord: Arc<Coordinator>,
    /// The sessions of the connections being served, for
    /// `idle_in_transaction_session_timeout`.
    connections: Arc<super::idle::Connections>,
    /// The connections' cancellers, for CancelRequests.
    cancellers: Arc<crate::coord::cancel::Cancellers>,
}

#[async_trait]
impl NoopStartupHandler for Backend {
    /// After pgwire's own start-up (any user, no password), reports
    /// Freshet's values of the parameters drivers read (a later
    /// ParameterStatus replaces an earlier one) and starts the session with
    /// the client's `application_name`.
    async fn post_startup<C>(
        &self,
        client: &mut C,
        _message: pgwire::messages::PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = Session::default();
        let (pid, secret) = client.pid_and_secret_key();
        session.backend_pid = pid;
        self.cancellers
            .register(pid, secret.to_bytes().to_vec(), &session.canceller);
        // The settings the start-up message carries (`application_name`,
        // JDBC's `DateStyle` and `extra_float_digits`, and `-c name=value`
        // in `options`), which `RESET` then restores.
        // As in PostgreSQL, `options` first: a parameter of its own wins.
        if let Some(options) = client.metadata().get("options") {
            for (name, value) in startup_options(options) {
                session.set_startup(&name, &value);
            }
        }
        let parameters: std::collections::BTreeMap<&String, &String> =
            client.metadata().iter().collect();
        for (name, value) in parameters {
            if !matches!(
                name.as_str(),
                "user" | "database" | "replication" | "client_encoding" | "options"
            ) {
                session.set_startup(name, value);
            }
        }
        // `current_user` and friends: the user the client names (any is
        // accepted).
        if let Some(name) = client.metadata().get("user")
            && !name.is_empty()
        {
            session.set_user(name);
        }
        // The current database is the one the client names (three-part
        // names must name it), else `materialize`.
        if let Some(name) = client.metadata().get("database")
            && !name.is_empty()
        {
            session.set_startup_database(name);
        }
        let mut reported: Vec<(&str, String)> = vec![
            (
                "server_version",
                session
                    .get("server_version")
                    .unwrap_or("15.0.0")
                    .to_string(),
            ),
            ("TimeZone", "UTC".to_string()),
            ("DateStyle", "ISO, MDY".to_string()),
            ("IntervalStyle", "postgres".to_string()),
            ("integer_datetimes", "on".to_string()),
            ("standard_conforming_strings", "on".to_string()),
            ("client_encoding", "UTF8".to_string()),
            ("server_encoding", "UTF8".to_string()),
            ("is_superuser", "off".to_string()),
        ];
        reported.push((
            "application_name",
            session.get("application_name").unwrap_or("").to_string(),
        ));
        for (name, value) in reported {
            client
                .feed(PgWireBackendMessage::ParameterStatus(
                    pgwire::messages::startup::ParameterStatus::new(name.to_string(), value),
                ))
                .await?;
        }
        client.session_extensions().insert(Mutex::new(session));
        self.connections
            .attach(client.socket_addr(), session_of(client));
        Ok(())
    }
}

/// The `name=value` settings of a start-up `options` string: `-c
/// name=value` and `--name=value`, separated by spaces (`\ ` is a space
/// inside a value), as PostgreSQL reads them.
fn startup_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words.next()
        } else if let Some(rest) = w.strip_prefix("-c") {
            Some(rest.to_string())
        } else {
            w.strip_prefix("--").map(str::to_string)
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((name.replace('-', "_"), value.to_string()));
        }
    }
    out
}

pub(super) type SessionHandle = Arc<Mutex<Session>>;

pub(super) fn session_of<C: ClientInfo>(client: &C) -> SessionHandle {
    client
        .session_extensions()
        .get_or_insert_with(|| Mutex::new(Session::default()))
}

/// The ReadyForQuery status of a session. The session's own transaction
/// state is the truth: pgwire tracks one from the responses' kinds, which
/// cannot leave the failed state as `ROLLBACK TO SAVEPOINT` does.
/// Called when a query cycle ends: the session is idle from now on (until
/// its next statement), which `idle_in_transaction_session_timeout` counts.
pub(super) async fn transaction_status<C: ClientInfo>(client: &C) -> TransactionStatus {
    let session = session_of(client);
    let mut session = session.lock().await;
    session.idle_since = Some(std::time::Instant::now());
    match session.transaction {
        TransactionState::Idle => TransactionStatus::Idle,
        TransactionState::InTransaction => TransactionStatus::Transaction,
        TransactionState::Failed => TransactionStatus::Error,
    }
}

/// Fails the session's open transaction after an error the coordinator
/// did not see (a statement that does not parse, a parameter that does not
/// decode): as in PostgreSQL, any error inside a transaction block fails
/// it.
pub(super) async fn fail_transaction<C: ClientInfo>(client: &C) {
    let session = session_of(client);
    let mut session = session.lock().await;
    if session.transaction == TransactionState::InTransaction {
        session.transaction = TransactionState::Failed;
    }
}

/// `DEALLOCATE [PREPARE] name | ALL`: removes statements prepared through
/// the extended protocol (PostgreSQL's SQL-level and protocol-level
/// prepared statements share one namespace; Freshet has only the latter).
/// `None` for any other statement.
fn deallocate<C>(
    client: &C,
    session: &mut Session,
    stmt: &FreshetStatement,
) -> Option<Result<ExecuteResponse, AdapterError>>
where
    C: ClientPortalStore,
    C::PortalStore: PortalStore,
{
    let FreshetStatement::Sql(s) = stmt else {
        return None;
    };
    let sqlparser::ast::Statement::Deallocate { name, .. } = s.as_ref() else {
        return None;
    };
    let store = client.portal_store();
    if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
        for name in std::mem::take(&mut session.prepared) {
            store.rm_statement(&name);
        }
        return Some(Ok(ExecuteResponse::command("DEALLOCATE ALL")));
    }
    // An unquoted name is folded to lower case, as everywhere.
    let name = match name.quote_style {
        Some(_) => name.value.clone(),
        None => name.value.to_lowercase(),
    };
    if store.get_statement(&name).is_none() {
        return Some(Err(AdapterError::Variable {
            code: crate::repr::SqlState::INVALID_SQL_STATEMENT_NAME,
            message: format!("prepared statement \"{name}\" does not exist"),
        }));
    }
    store.rm_statement(&name);
    session.prepared.remove(&name);
    Some(Ok(ExecuteResponse::command("DEALLOCATE")))
}

pub(super) fn error_info(e: &AdapterError) -> ErrorInfo {
    let mut info = ErrorInfo::new(
        "ERROR".to_string(),
        e.code().as_str().to_string(),
        e.to_string(),
    );
    info.detail = e.detail().map(str::to_string);
    info.hint = e.hint().map(str::to_string);
    info.position = e.position().map(|p| p.to_string());
    info
}

fn user_error(e: AdapterError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e)))
}

/// The wire type of a Freshet type.
fn pg_type(t: &ScalarType) -> Type {
    Type::from_oid(t.oid()).unwrap_or(Type::TEXT)
}

fn fields(desc: &RelationDesc, format: &Format) -> Vec<FieldInfo> {
    desc.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // The type modifier tells clients a column's declared length,
            // precision and scale, as PostgreSQL's RowDescription does.
            FieldInfo::new(
                c.name.clone(),
                None,
                None,
                pg_type(&c.typ),
                format.format_for(i),
            )
            .with_type_modifier(crate::catalog::system::typmod(&c.typ))
        })
        .collect()
}

/// Encodes a row as a DataRow in the given per-column formats (`desc`
/// gives the columns' types, which an array's binary form names).
fn data_row(row: &Row, formats: &[FieldFormat], desc: &RelationDesc) -> DataRow {
    let mut buf = BytesMut::new();
    for (i, d) in row.iter().enumerate() {
        if d.is_null() {
            buf.put_i32(-1);
            continue;
        }
        let bytes = match formats.get(i) {
            Some(FieldFormat::Binary) => {
                let mut out = Vec::new();
                codec::encode_binary_as(&d, desc.columns.get(i).map(|c| &c.typ), &mut out);
                out
            }
            _ => text_value(&d, desc.columns.get(i).map(|c| &c.typ))
                .unwrap_or_default()
                .into_bytes(),
        };
        buf.put_i32(bytes.len() as i32);
        buf.put_slice(&bytes);
    }
    DataRow::new(buf, row.len() as i16)
}

fn rows_response(desc: &RelationDesc, rows: Vec<Row>, format: &Format) -> Response {
    let fields = Arc::new(fields(desc, format));
    let formats: Vec<FieldFormat> = (0..desc.arity()).map(|i| format.format_for(i)).collect();
    let data: Vec<PgWireResult<DataRow>> = rows
        .iter()
        .map(|r| Ok(data_row(r, &formats, desc)))
        .collect();
    Response::Query(QueryResponse::new(fields, stream::iter(data)))
}

/// The text form of `d`, a value of type `typ` (`None` for NULL): a
/// `regtype` (an OID) is written as its type's name.
pub(super) fn text_value(d: &crate::repr::Datum, typ: Option<&ScalarType>) -> Option<String> {
    match (d, typ) {
        (crate::repr::Datum::Int64(oid), Some(ScalarType::RegType)) => {
            Some(crate::repr::types::regtype_name(*oid))
        }
        _ => strconv::format(d),
    }
}

fn command_response(tag: &str, rows: Option<usize>) -> Response {
    let t = Tag::new(tag);
    Response::Execution(match rows {
        Some(n) => t.with_rows(n),
        None => t,
    })
}

impl Backend {
    /// Turns a statement's result into wire responses. SUBSCRIBE output is
    /// sent here directly, flushed per timestamp, until the subscribe ends
    /// or the client goes away. `extended` when the statement runs from a
    /// portal (its columns were told at Describe, and `format` is the
    /// portal's result formats).
    pub(super) async fn respond<C>(
        &self,
        client: &mut C,
        response: ExecuteResponse,
        format: &Format,
        extended: bool,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Ok(match response {
            ExecuteResponse::Rows { desc, rows } => rows_response(&desc, rows, format),
            // PostgreSQL's tag of the DML statement (`INSERT 0 2`), not
            // `SELECT 2`: pgwire adds the count of rows sent.
            ExecuteResponse::Returning { desc, rows, tag } => {
                let mut response = rows_response(&desc, rows, format);
                if let Response::Query(query) = &mut response {
                    query.set_command_tag(&tag);
                }
                response
            }
            ExecuteResponse::CopyRows {
                desc,
                rows,
                options,
            } => {
                let encoder = super::copy_format::CopyEncoder::new(&options, &desc);
                let format = encoder.format_code();
                client
                    .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                        format,
                        desc.arity() as i16,
                        vec![i16::from(format); desc.arity()],
                    )))
                    .await?;
                let n = rows.len();
                // A header line is a message of its own; the binary header
                // goes with the first row (or the trailer), as PostgreSQL
                // sends it, which tokio-postgres's decoder expects. Rows are
                // encoded as they are sent, one message each.
                let mut binary_header = None;
                match (encoder.start(), format) {
                    (Some(start), 1) => binary_header = Some(start),
                    (Some(start), _) => {
                        client
                            .feed(PgWireBackendMessage::CopyData(CopyData::new(Bytes::from(
                                start,
                            ))))
                            .await?
                    }
                    (None, _) => {}
                }
                let messages = rows.iter().map(|r| encoder.row(r)).chain(encoder.end());
                for mut bytes in messages {
                    if let Some(header) = binary_header.take() {
                        bytes.splice(0..0, header);
                    }
                    client
                        .feed(PgWireBackendMessage::CopyData(CopyData::new(Bytes::from(
                            bytes,
                        ))))
                        .await?;
                }
                client
                    .send(PgWireBackendMessage::CopyDone(CopyDone::new()))
                    .await?;
                command_response("COPY", Some(n))
            }
            ExecuteResponse::CopyIn(target) => super::copy_in::start(client, target),
            ExecuteResponse::Command { tag, rows } => command_response(&tag, rows),
            ExecuteResponse::CommandWithNotice { tag, notices } => {
                for notice in notices {
                    let (severity, code) = match notice.warning {
                        Some(code) => ("WARNING", code.as_str().to_string()),
                        None => ("NOTICE", "00000".to_string()),
                    };
                    let mut info = ErrorInfo::new(severity.into(), code, notice.message);
                    info.detail = notice.detail;
                    client
                        .feed(PgWireBackendMessage::NoticeResponse(info.into()))
                        .await?;
                }
                command_response(&tag, None)
            }
            ExecuteResponse::TransactionStart => Response::TransactionStart(Tag::new("BEGIN")),
            ExecuteResponse::TransactionEnd(tag) => Response::TransactionEnd(Tag::new(tag)),
            ExecuteResponse::Subscribe(s) => {
                self.stream_subscribe(client, s, format, extended).await?
            }
        })
    }

    async fn stream_subscribe<C>(
        &self,
        client: &mut C,
        mut s: SubscribeResponse,
        format: &Format,
        extended: bool,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let desc = s.output_desc();
        if s.copy {
            client
                .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                    0,
                    desc.arity() as i16,
                    vec![0; desc.arity()],
                )))
                .await?;
        } else if !extended {
            // In the extended protocol the columns went with Describe, as
            // a query's do; a simple query's come with its rows.
            let fields = fields(&desc, &Format::UnifiedText)
                .iter()
                .map(Into::into)
                .collect();
            client
                .send(PgWireBackendMessage::RowDescription(RowDescription::new(
                    fields,
                )))
                .await?;
        }
        let formats: Vec<FieldFormat> = (0..desc.arity()).map(|i| format.format_for(i)).collect();
        let cancel = session_of(client).lock().await.cancel.clone();
        let text_options = crate::sql::copy::CopyOptions::default();
        let encoder = super::copy_format::CopyEncoder::new(&text_options, &desc);
        let mut count = 0usize;
        let mut heartbeat = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            let next = tokio::select! {
                n = s.next_rows() => n,
                e = cancel.cancelled() => Err(e),
                _ = heartbeat.tick() => {
                    // Notice a client that went away even when no update
                    // flows: a write to a closed socket fails (the second
                    // one at the latest). ParameterStatus may arrive at any
                    // time and clients absorb it silently; this one repeats
                    // a value that never changes.
                    client
                        .send(PgWireBackendMessage::ParameterStatus(
                            pgwire::messages::startup::ParameterStatus::new(
                                "standard_conforming_strings".to_string(),
                                "on".to_string(),
                            ),
                        ))
                        .await?;
                    continue;
                }
            };
            let rows = match next {
                Ok(Some(rows)) => rows,
                Ok(None) => break,
                // An error ends copy-out mode by itself, without CopyDone,
                // as PostgreSQL sends it: the client then reports the error
                // as the COPY's result.
                Err(e) => return Ok(Response::Error(Box::new(error_info(&e)))),
            };
            for row in &rows {
                count += 1;
                if s.copy {
                    client
                        .feed(PgWireBackendMessage::CopyData(CopyData::new(Bytes::from(
                            encoder.row(row),
                        ))))
                        .await?;
                } else {
                    client
                        .feed(PgWireBackendMessage::DataRow(data_row(
                            row, &formats, &desc,
                        )))
                        .await?;
                }
            }
            client.flush().await?;
        }
        if s.copy {
            client
                .send(PgWireBackendMessage::CopyDone(CopyDone::new()))
                .await?;
            Ok(command_response("COPY", Some(count)))
        } else {
            Ok(command_response("SUBSCRIBE", Some(count)))
        }
    }
}

/// What sending one response of a simple query led to.
pub(super) enum Sent {
    /// The next statement's response may follow.
    Continue,
    /// An error: the query's remaining statements are skipped.
    Error,
    /// A `COPY ... FROM STDIN` started: the client's data comes next.
    CopyIn,
}

impl Backend {
    /// Sends one statement's response in the simple query protocol.
    pub(super) async fn send_simple_response<C>(
        &self,
        client: &mut C,
        response: Response,
    ) -> PgWireResult<Sent>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match response {
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
            }
            Response::Query(results) => send_query_response(client, results, true).await?,
            Response::Execution(tag)
            | Response::TransactionStart(tag)
            | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
            Response::Error(e) => {
                fail_transaction(client).await;
                client
                    .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                    .await?;
                return Ok(Sent::Error);
            }
            Response::CopyIn(copy) => {
                pgwire::api::copy::send_copy_in_response(client, copy).await?;
                client.set_state(PgWireConnectionState::CopyInProgress(false));
                return Ok(Sent::CopyIn);
            }
            // Freshet sends COPY TO STDOUT data itself.
            Response::CopyOut(_) | Response::CopyBoth(_) => {
                return Err(PgWireError::ApiError(
                    "unexpected COPY response to a simple query".into(),
                ));
            }
        }
        Ok(Sent::Continue)
    }
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    /// pgwire's own `on_query` (Freshet has no cancel handler, so there is
    /// no cancellation to race against), except that the ReadyForQuery
    /// status is the session's transaction state: an error fails an open
    /// transaction and `ROLLBACK TO SAVEPOINT` recovers it.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        session_of(client).lock().await.start_query();
        let query = query.query;
        if query.chars().all(|c| c == ';' || c.is_whitespace()) {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        } else {
            for r in SimpleQueryHandler::do_query(self, client, &query).await? {
                match self.send_simple_response(client, r).await? {
                    Sent::Continue => {}
                    Sent::Error => break,
                    // ReadyForQuery follows the copy's end (`copy_in`).
                    Sent::CopyIn => return Ok(()),
                }
            }
        }
        let status = transaction_status(client).await;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client);
        let statements = match parse_statements(query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&e.into())))]),
        };
        let mut responses = Vec::new();
        let mut statements = statements.into_iter();
        while let Some(stmt) = statements.next() {
            let result = {
                let mut session = session.lock().await;
                match deallocate(client, &mut session, &stmt) {
                    Some(r) => r,
                    None => self.coord.execute(&mut session, stmt, query).await,
                }
            };
            match result {
                Ok(r) => {
                    let r = self.respond(client, r, &Format::UnifiedText, false).await?;
                    let is_error = matches!(r, Response::Error(_));
                    let is_copy_in = matches!(r, Response::CopyIn(_));
                    responses.push(r);
                    if is_error {
                        break;
                    }
                    if is_copy_in {
                        // The rest run after the copy's data.
                        super::copy_in::stash_rest(client, statements.collect(), query);
                        break;
                    }
                }
                Err(e) => {
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// A statement prepared through the extended protocol.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The SQL text.
    pub sql: String,
    /// Parameter types, as declared or inferred (`text` where neither).
    pub param_types: Vec<Type>,
    /// Per parameter, whether neither the client nor the statement gave
    /// its type: its value is then put into the SQL as an untyped literal,
    /// which takes its type from where it stands, as PostgreSQL infers an
    /// unknown parameter's (`id = $1 OR $1 IS NULL`).
    pub untyped: Vec<bool>,
    /// The result schema, for statements that return rows.
    pub desc: Option<RelationDesc>,
    /// For a query: what it was last planned against, with the plan its
    /// executions reuse where one can be kept.
    pub planned: Option<Arc<std::sync::Mutex<Planned>>>,
}

/// What a prepared query was last planned against (checked before each
/// execution: planned again after DDL or a change of `search_path`), and
/// its kept plan (`coord::prepared`), if it could be kept.
#[derive(Debug)]
pub struct Planned {
    /// The catalog version it was planned at.
    catalog_version: u64,
    /// The search path it was planned with.
    path: SearchPath,
    /// The plan its executions bind their parameters into.
    query: Option<Arc<PreparedQuery>>,
}

impl Planned {
    /// What planning `stmt` (into `plan`, with the result columns `desc`)
    /// at `catalog_version` with `path` gives, for parameters of the wire
    /// types `param_types`.
    fn new(
        stmt: &sqlparser::ast::Statement,
        plan: Option<LogicalPlan>,
        desc: &RelationDesc,
        param_types: &[Type],
        catalog_version: u64,
        path: &SearchPath,
    ) -> Planned {
        let types: Vec<Option<ScalarType>> = param_types
            .iter()
            .map(|t| scalar_type_of_oid(t.oid()))
            .collect();
        let query = plan.and_then(|plan| {
            PreparedQuery::new(
                stmt,
                plan,
                desc.clone(),
                &types,
                catalog_version,
                path.clone(),
            )
        });
        Planned {
            catalog_version,
            path: path.clone(),
            query: query.map(Arc::new),
        }
    }
}

#[async_trait]
impl QueryParser for Backend {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let statements = parse_statements(sql).map_err(|e| user_error(e.into()))?;
        if statements.len() > 1 {
            return Err(user_error(AdapterError::Plan(
                crate::sql::PlanError::Syntax(
                    "cannot insert multiple commands into a prepared statement".into(),
                ),
            )));
        }
        let Some(stmt) = statements.into_iter().next() else {
            return Ok(None);
        };
        let path = session_of(client).lock().await.search_path();
        // A query Freshet cannot plan fails here, at Parse, as in
        // PostgreSQL: described as having no rows, its execution's rows
        // would come without a RowDescription.
        let described = self.describe(&stmt, &path).await.map_err(user_error)?;
        let (mut desc, inferred) = (described.desc, described.params);
        if let FreshetStatement::Fetch { name, .. } = &stmt {
            let session = session_of(client);
            let session = session.lock().await;
            desc = session.cursors.get(name).map(|c| c.desc());
        }
        let n = inferred.len().max(types.len()).max(max_placeholder(sql));
        let known: Vec<Option<Type>> = (0..n)
            .map(|i| {
                types
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| inferred.get(i).cloned().flatten())
            })
            .collect();
        let untyped = known.iter().map(Option::is_none).collect();
        let param_types: Vec<Type> = known.into_iter().map(|t| t.unwrap_or(Type::TEXT)).collect();
        let planned = match (&stmt, described.plan, &desc) {
            (FreshetStatement::Sql(s), Some((plan, version)), Some(d)) => Some(Arc::new(
                std::sync::Mutex::new(Planned::new(s, Some(plan), d, &param_types, version, &path)),
            )),
            _ => None,
        };
        Ok(Some(Prepared {
            sql: sql.to_string(),
            param_types,
            untyped,
            desc,
            planned,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &stmt.desc {
            Some(d) => fields(d, format.unwrap_or(&Format::UnifiedText)),
            None => vec![],
        })
    }
}

/// The highest `$n` in a statement (outside string literals and
/// comments: `'$1,234'` is no placeholder).
fn max_placeholder(sql: &str) -> usize {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    if let Ok(tokens) = sqlparser::tokenizer::Tokenizer::new(&dialect, sql).tokenize() {
        return tokens
            .iter()
            .filter_map(|t| match t {
                sqlparser::tokenizer::Token::Placeholder(p) => p.strip_prefix('$')?.parse().ok(),
                _ => None,
            })
            .max()
            .unwrap_or(0);
    }
    let mut max = 0;
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > start
                && let Ok(n) = sql[start..j].parse::<usize>()
            {
                max = max.max(n);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    max
}

impl Backend {
    /// The result schema and parameter types of a statement, where planning
    /// can tell them; the planning error of a query that does not plan.
    async fn describe(
        &self,
        stmt: &FreshetStatement,
        path: &SearchPath,
    ) -> Result<Described, AdapterError> {
        let mut described = self.describe_inner(stmt, path).await?;
        let params = &mut described.params;
        // `$n::type` and `CAST($n AS type)` name the parameter's type.
        if let FreshetStatement::Sql(s) | FreshetStatement::InsertOverriding { insert: s, .. } =
            stmt
        {
            let mut casts = CastedParams::default();
            let _ = sqlparser::ast::Visit::visit(s.as_ref(), &mut casts);
            for (n, t) in casts.found {
                if params.len() < n {
                    params.resize(n, None);
                }
                if params[n - 1].is_none() {
                    params[n - 1] = Some(t);
                }
            }
        }
        Ok(described)
    }

    async fn describe_inner(
        &self,
        stmt: &FreshetStatement,
        path: &SearchPath,
    ) -> Result<Described, AdapterError> {
        let s = match stmt {
            // (`INSERT ... OVERRIDING ... VALUE` is described as the
            // `INSERT` without the clause.)
            FreshetStatement::Sql(s) | FreshetStatement::InsertOverriding { insert: s, .. } => s,
            FreshetStatement::Show(show, _) => {
                return Ok(Described::of(
                    Some(crate::coord::sequence::show_desc(show)),
                    vec![],
                ));
            }
            FreshetStatement::Subscribe(s) => {
                return Ok(Described::of(
                    Some(self.coord.describe_subscribe(s, path).await?),
                    vec![],
                ));
            }
            FreshetStatement::ExplainPlan(e) => {
                return Ok(Described::of(
                    Some(crate::coord::sequence::text_desc(&[e.stage.column()])),
                    vec![],
                ));
            }
            _ => return Ok(Described::of(None, vec![])),
        };
        if let sqlparser::ast::Statement::Explain { .. } = s.as_ref() {
            return Ok(Described::of(
                Some(crate::coord::sequence::explain_desc()),
                vec![],
            ));
        }
        let state = self.coord.state.lock().await;
        // A DML statement's rows are its RETURNING clause's.
        let returning = || crate::coord::dml::returning_desc(&state.catalog, path, s);
        if let sqlparser::ast::Statement::Insert(insert) = s.as_ref() {
            return Ok(Described::of(
                returning()?,
                insert_parameter_types(&state.catalog, path, insert),
            ));
        }
        match s.as_ref() {
            sqlparser::ast::Statement::Query(_)
            | sqlparser::ast::Statement::Update(_)
            | sqlparser::ast::Statement::Delete(_) => {
                let is_query = matches!(s.as_ref(), sqlparser::ast::Statement::Query(_));
                // An UPDATE or DELETE is described by the query it reads
                // (`coord::dml`), which tells its parameters' types.
                let mut described = if is_query {
                    (**s).clone()
                } else {
                    match crate::coord::dml::dml_query(&state.catalog, path, s) {
                        Ok(query) => query,
                        // Its error comes when it runs.
                        Err(_) => return Ok(Described::of(returning()?, vec![])),
                    }
                };
                crate::coord::session_funcs::substitute_for_describe(&mut described);
                let aliased = crate::sql::plan::explicit_aliases(&described);
                match crate::sql::plan::plan_statement(&state.catalog.scope(path), described) {
                    Ok(plan) => {
                        let params = plan
                            .get_parameter_types()
                            .map(|m| {
                                let mut v: Vec<(usize, Option<Type>)> = m
                                    .into_iter()
                                    .filter_map(|(k, t)| {
                                        let i: usize = k.trim_start_matches('$').parse().ok()?;
                                        let t = t
                                            .and_then(|t| ScalarType::from_arrow(&t).ok())
                                            .map(|t| pg_type(&t));
                                        Some((i, t))
                                    })
                                    .collect();
                                v.sort_by_key(|x| x.0);
                                let n = v.last().map(|x| x.0).unwrap_or(0);
                                let mut out = vec![None; n];
                                for (i, t) in v {
                                    if i >= 1 {
                                        out[i - 1] = t;
                                    }
                                }
                                out
                            })
                            .unwrap_or_default();
                        // A table function's parameters (`generate_series(1,
                        // $1)`), which the plan's own expressions do not show.
                        let mut params = params;
                        for (i, t) in crate::sql::plan::table_function_parameter_types(&plan) {
                            if params.len() <= i {
                                params.resize(i + 1, None);
                            }
                            if params[i].is_none() {
                                params[i] = Some(pg_type(&t));
                            }
                        }
                        if !is_query {
                            // `SET c = $1`: the column's type.
                            for (n, t) in
                                crate::coord::dml::assigned_parameter_types(&state.catalog, path, s)
                            {
                                if params.len() < n {
                                    params.resize(n, None);
                                }
                                params[n - 1] = Some(pg_type(&t));
                            }
                            return Ok(Described::of(returning()?, params));
                        }
                        // The analyzer decides some result types (the
                        // common type of a CASE or UNION of float and
                        // numeric): described as executed, from the
                        // optimized plan, where it can be made; that plan
                        // is kept for the executions (`coord::prepared`).
                        let optimized = crate::sql::plan::optimize(plan.clone()).ok();
                        let desc = crate::sql::plan::plan_desc_with(
                            optimized.as_ref().unwrap_or(&plan),
                            &aliased,
                        )
                        .ok();
                        Ok(Described {
                            desc,
                            params,
                            plan: optimized.map(|p| (p, state.catalog.version())),
                        })
                    }
                    Err(e) if is_query => Err(e.into()),
                    // An UPDATE or DELETE's error comes when it runs; a
                    // RETURNING clause that does not plan fails here.
                    Err(_) => Ok(Described::of(returning()?, vec![])),
                }
            }
            sqlparser::ast::Statement::ShowVariable { variable } => {
                let name = crate::coord::session::show_variable_name(variable);
                if name == "all" {
                    return Ok(Described::of(
                        Some(crate::coord::sequence::text_desc(&["name", "setting"])),
                        vec![],
                    ));
                }
                let name = if name == "time zone" {
                    "timezone".to_string()
                } else {
                    name
                };
                Ok(Described::of(
                    Some(RelationDesc {
                        columns: vec![crate::repr::ColumnDesc {
                            name,
                            typ: ScalarType::Text,
                            nullable: false,
                        }],
                    }),
                    vec![],
                ))
            }
            _ => Ok(Described::of(None, vec![])),
        }
    }
}

/// What describing a statement tells.
struct Described {
    /// The result columns, if it has rows.
    desc: Option<RelationDesc>,
    /// The parameters' types, where planning tells them.
    params: Vec<Option<Type>>,
    /// A query's optimized plan, and the catalog version it was made at.
    plan: Option<(LogicalPlan, u64)>,
}

impl Described {
    /// Columns and parameter types, without a plan.
    fn of(desc: Option<RelationDesc>, params: Vec<Option<Type>>) -> Described {
        Described {
            desc,
            params,
            plan: None,
        }
    }
}

/// The types of `$n` parameters that stand for whole values in an INSERT's
/// VALUES list or plain SELECT list: their target columns' types.
fn insert_parameter_types(
    catalog: &crate::catalog::Catalog,
    path: &SearchPath,
    insert: &sqlparser::ast::Insert,
) -> Vec<Option<Type>> {
    let mut out: Vec<Option<Type>> = Vec::new();
    let sqlparser::ast::TableObject::TableName(name) = &insert.table else {
        return out;
    };
    let Ok(Some(table)) = catalog.resolve(path, name) else {
        return out;
    };
    let positions: Vec<Option<usize>> = if insert.columns.is_empty() {
        (0..table.desc.arity()).map(Some).collect()
    } else {
        insert
            .columns
            .iter()
            .map(|c| {
                let n = c.to_string().to_lowercase();
                let n = n.trim_matches('"');
                table.desc.columns.iter().position(|x| x.name == n)
            })
            .collect()
    };
    let Some(source) = &insert.source else {
        return out;
    };
    // The items of a `VALUES` list, or of a plain `SELECT`'s select list
    // (`INSERT ... SELECT $1, $2 WHERE NOT EXISTS (...)`): a bare
    // parameter there is typed as its column, as PostgreSQL infers it.
    let rows: Vec<Vec<&SqlExpr>> = match source.body.as_ref() {
        sqlparser::ast::SetExpr::Values(values) => {
            values.rows.iter().map(|r| r.iter().collect()).collect()
        }
        sqlparser::ast::SetExpr::Select(select) => vec![
            select
                .projection
                .iter()
                .map_while(|item| match item {
                    sqlparser::ast::SelectItem::UnnamedExpr(e)
                    | sqlparser::ast::SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                    _ => None,
                })
                .collect(),
        ],
        _ => return out,
    };
    for row in rows {
        for (i, e) in row.into_iter().enumerate() {
            if let SqlExpr::Value(v) = e
                && let Value::Placeholder(p) = &v.value
                && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                && n >= 1
                && let Some(Some(col)) = positions.get(i)
            {
                if out.len() < n {
                    out.resize(n, None);
                }
                out[n - 1] = Some(pg_type(&table.desc.columns[*col].typ));
            }
        }
    }
    out
}

/// Collects `$n::type` (and `($n)::type`) casts, which tell a parameter's
/// type. `$1::oid` and `$1::oid[]` (asyncpg's type-introspection query) are
/// described as PostgreSQL describes them, `oid` and `oid[]`, which clients
/// send without introspecting them; their values are `bigint`s in Freshet
/// ([`oid_parameter`]).
#[derive(Default)]
struct CastedParams {
    found: Vec<(usize, Type)>,
}

impl CastedParams {
    fn cast_type(data_type: &sqlparser::ast::DataType) -> Option<Type> {
        use sqlparser::ast::{ArrayElemTypeDef, DataType};
        let is_oid = crate::sql::pg_compat::is_oid_type;
        match data_type {
            t if is_oid(t) => Some(Type::OID),
            DataType::Array(
                ArrayElemTypeDef::SquareBracket(elem, _) | ArrayElemTypeDef::AngleBracket(elem),
            ) if is_oid(elem) => Some(Type::OID_ARRAY),
            t => crate::sql::types::scalar_type_from_sql(t)
                .ok()
                .map(|t| pg_type(&t)),
        }
    }
}

/// For a parameter described as `oid` or `oid[]`: the type its binary value
/// decodes as (four unsigned bytes per OID, as a `regtype`'s) and the type
/// of the value in Freshet (`bigint`, `bigint[]`).
fn oid_parameter(oid: u32) -> Option<(ScalarType, ScalarType)> {
    if oid == Type::OID.oid() {
        Some((ScalarType::RegType, ScalarType::Int64))
    } else if oid == Type::OID_ARRAY.oid() {
        Some((
            ScalarType::Array(Box::new(ScalarType::RegType)),
            ScalarType::Array(Box::new(ScalarType::Int64)),
        ))
    } else {
        None
    }
}

impl sqlparser::ast::Visitor for CastedParams {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &SqlExpr) -> std::ops::ControlFlow<()> {
        let mut inner = match expr {
            SqlExpr::Cast { expr: inner, .. } => inner.as_ref(),
            _ => return std::ops::ControlFlow::Continue(()),
        };
        while let SqlExpr::Nested(e) = inner {
            inner = e;
        }
        if let SqlExpr::Cast { data_type, .. } = expr
            && let SqlExpr::Value(v) = inner
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && n >= 1
            && let Some(t) = Self::cast_type(data_type)
        {
            self.found.push((n, t));
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Replaces `$n` placeholders with typed literals.
struct Substitute<'a> {
    /// Per parameter: its value's text and type (`None`: an untyped
    /// literal), or `None` for NULL.
    values: &'a [Option<(String, Option<ScalarType>)>],
    error: Option<usize>,
}

impl VisitorMut for Substitute<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut SqlExpr) -> std::ops::ControlFlow<()> {
        if let SqlExpr::Value(v) = expr
            && let Value::Placeholder(p) = &v.value
        {
            let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
                return std::ops::ControlFlow::Continue(());
            };
            let replacement = match self.values.get(n.wrapping_sub(1)) {
                Some(Some((text, Some(typ)))) => {
                    format!("CAST('{}' AS {})", text.replace('\'', "''"), typ.name())
                }
                Some(Some((text, None))) => format!("'{}'", text.replace('\'', "''")),
                Some(None) => "NULL".to_string(),
                None => {
                    self.error = Some(n);
                    return std::ops::ControlFlow::Break(());
                }
            };
            if let Ok(mut parser) =
                sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                    .try_with_sql(&replacement)
                && let Ok(e) = parser.parse_expr()
            {
                *expr = e;
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Prepared;
    type QueryParser = Backend;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(Backend {
            coord: self.coord.clone(),
            connections: self.connections.clone(),
            cancellers: self.cancellers.clone(),
        })
    }

    /// pgwire's own `on_parse`, plus a note of the statement's name in the
    /// session, so that `DEALLOCATE ALL` can remove it.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.clone().unwrap_or_default();
        if !name.is_empty() {
            session_of(client)
                .lock()
                .await
                .prepared
                .insert(name.clone());
        }
        let parser = self.query_parser();
        let parsed = match StoredStatement::parse(client, &message, parser).await {
            Ok(parsed) => parsed,
            Err(e) => {
                fail_transaction(client).await;
                client.set_transaction_status(transaction_status(client).await);
                return Err(e);
            }
        };
        match parsed {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(&name),
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's own `on_execute`, after which the ReadyForQuery status
    /// (sent at Sync) is the session's transaction state, as for simple
    /// queries.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self._on_execute(client, message).await;
        if result.is_err() {
            fail_transaction(client).await;
        }
        client.set_transaction_status(transaction_status(client).await);
        result
    }

    /// Describes a prepared statement as PostgreSQL does: its parameters'
    /// types, then its columns, or NoData for a statement that returns no
    /// rows. (pgwire's own answer sends an empty RowDescription for a
    /// statement with parameters and no rows, which pgjdbc takes for a
    /// query.) The columns' format codes are text (zero), as PostgreSQL's:
    /// the formats are chosen later, at Bind, and pgjdbc decodes a result
    /// by the codes it was first described with. Portals are pgwire's.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            // The unnamed statement is stored under pgwire's default name.
            let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name) {
                let p = &stmt.statement;
                client
                    .send(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(p.param_types.iter().map(Type::oid).collect()),
                    ))
                    .await?;
                let answer = match &p.desc {
                    Some(d) => PgWireBackendMessage::RowDescription(RowDescription::new(
                        fields(d, &Format::UnifiedText)
                            .iter()
                            .map(Into::into)
                            .collect(),
                    )),
                    None => PgWireBackendMessage::NoData(NoData::new()),
                };
                client.send(answer).await?;
                return Ok(());
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self.execute_portal(client, portal).await {
            // An error, returned as one: pgwire then sends it and discards
            // the messages that follow until Sync, as PostgreSQL does. (A
            // `Response::Error` would be sent and the next Bind or Execute
            // of a pipeline run, after the failed one.)
            Ok(Response::Error(e)) => {
                fail_transaction(client).await;
                Err(PgWireError::UserError(e))
            }
            response => response,
        }
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &target.statement;
        let fields = p
            .desc
            .as_ref()
            .map(|d| fields(d, &Format::UnifiedText))
            .unwrap_or_default();
        Ok(DescribeStatementResponse::new(
            p.param_types.clone(),
            fields,
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &target.statement.statement;
        let fields = p
            .desc
            .as_ref()
            .map(|d| fields(d, &target.result_column_format))
            .unwrap_or_default();
        Ok(DescribePortalResponse::new(fields))
    }
}

impl Backend {
    /// Runs a bound portal's statement: decodes its parameters, puts them
    /// into the SQL as typed literals, and executes it.
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let session = session_of(client);
        session.lock().await.start_query();
        // Decode the parameters.
        let mut values = Vec::new();
        let mut datums = Vec::new();
        for (i, raw) in portal.parameters.iter().enumerate() {
            let oid = prepared.param_types.get(i).map(|t| t.oid());
            let (wire_type, typ) = match oid.and_then(oid_parameter) {
                Some(types) => types,
                None => {
                    let t = oid.and_then(scalar_type_of_oid).unwrap_or(ScalarType::Text);
                    (t.clone(), t)
                }
            };
            let Some(bytes) = raw else {
                values.push(None);
                datums.push(crate::repr::Datum::Null);
                continue;
            };
            let datum = if portal.parameter_format.is_binary(i) {
                codec::decode_binary(bytes, &wire_type)
            } else {
                let text = std::str::from_utf8(bytes).unwrap_or_default();
                strconv::parse(text, &typ)
            };
            match datum {
                Ok(d) => {
                    let untyped = prepared.untyped.get(i).copied().unwrap_or(false);
                    values.push(strconv::format(&d).map(|t| (t, (!untyped).then_some(typ))));
                    datums.push(d);
                }
                Err(e) => {
                    return Ok(Response::Error(Box::new(error_info(&AdapterError::Eval(
                        e.into(),
                    )))));
                }
            }
        }
        // A query whose plan was kept: bound and run without planning.
        let kept = prepared
            .planned
            .as_ref()
            .and_then(|p| p.lock().ok().and_then(|p| p.query.clone()));
        if let Some(query) = kept {
            let result = {
                let mut session = session.lock().await;
                self.coord
                    .execute_prepared(&mut session, &query, &datums)
                    .await
            };
            match result {
                Some(Ok(r)) => {
                    return self
                        .respond(client, r, &portal.result_column_format, true)
                        .await;
                }
                Some(Err(e)) => return Ok(Response::Error(Box::new(error_info(&e)))),
                None => {}
            }
        }
        let mut statements = match parse_statements(&prepared.sql) {
            Ok(s) => s,
            Err(e) => return Ok(Response::Error(Box::new(error_info(&e.into())))),
        };
        let Some(mut stmt) = statements.pop() else {
            return Ok(Response::EmptyQuery);
        };
        if let Some(planned) = &prepared.planned {
            let path = session.lock().await.search_path();
            if let Err(e) = self.replan(prepared, planned, &stmt, &path).await {
                return Ok(Response::Error(Box::new(error_info(&e))));
            }
        }
        if let FreshetStatement::Sql(s) | FreshetStatement::InsertOverriding { insert: s, .. } =
            &mut stmt
        {
            let mut sub = Substitute {
                values: &values,
                error: None,
            };
            let _ = s.visit(&mut sub);
            if let Some(e) = sub.error {
                return Ok(Response::Error(Box::new(error_info(&AdapterError::Plan(
                    crate::sql::PlanError::UndefinedParameter(e),
                )))));
            }
        }
        let result = {
            let mut session = session.lock().await;
            match deallocate(client, &mut session, &stmt) {
                Some(r) => r,
                None => self.coord.execute(&mut session, stmt, &prepared.sql).await,
            }
        };
        match result {
            Ok(r) => {
                self.respond(client, r, &portal.result_column_format, true)
                    .await
            }
            Err(e) => Ok(Response::Error(Box::new(error_info(&e)))),
        }
    }

    /// Plans a prepared query again if the catalog or `path` changed since
    /// it was last planned, as PostgreSQL does: fails with the planning
    /// error (a relation that no longer exists) or, if its result columns
    /// changed, with `cached plan must not change result type` (its
    /// RowDescription no longer describes its rows); else keeps the new
    /// plan for the executions that follow.
    async fn replan(
        &self,
        prepared: &Prepared,
        planned: &std::sync::Mutex<Planned>,
        stmt: &FreshetStatement,
        path: &SearchPath,
    ) -> Result<(), AdapterError> {
        let FreshetStatement::Sql(s) = stmt else {
            return Ok(());
        };
        let version = self.coord.state.lock().await.catalog.version();
        let current = planned
            .lock()
            .map(|p| p.catalog_version == version && p.path == *path)
            .unwrap_or(false);
        if current {
            return Ok(());
        }
        let described = self.describe(stmt, path).await?;
        let (Some(new), Some(old)) = (&described.desc, &prepared.desc) else {
            return Err(crate::coord::prepared::result_type_changed());
        };
        if !crate::coord::prepared::same_row_type(new, old) {
            return Err(crate::coord::prepared::result_type_changed());
        }
        let (plan, version) = match described.plan {
            Some((plan, version)) => (Some(plan), version),
            None => (None, version),
        };
        let replanned = Planned::new(s, plan, old, &prepared.param_types, version, path);
        if let Ok(mut p) = planned.lock() {
            *p = replanned;
        }
        Ok(())
    }
}

/// The Freshet type of a wire type OID.
fn scalar_type_of_oid(oid: u32) -> Option<ScalarType> {
    Some(match oid {
        16 => ScalarType::Bool,
        21 => ScalarType::Int16,
        23 => ScalarType::Int32,
        20 => ScalarType::Int64,
        700 => ScalarType::Float32,
        701 => ScalarType::Float64,
        1700 => ScalarType::Numeric {
            precision: None,
            scale: None,
        },
        25 | 705 => ScalarType::Text,
        1043 => ScalarType::VarChar(None),
        1042 => ScalarType::Char(None),
        17 => ScalarType::Bytea,
        1082 => ScalarType::Date,
        1083 => ScalarType::Time(None),
        1114 => ScalarType::Timestamp(None),
        1184 => ScalarType::TimestampTz(None),
        1186 => ScalarType::INTERVAL,
        3802 => ScalarType::Jsonb,
        114 => ScalarType::Json,
        2950 => ScalarType::Uuid,
        2206 => ScalarType::RegType,
        19 => ScalarType::Name,
        oid => {
            // An array type: the element type whose array OID it is.
            return [
                16, 21, 23, 20, 700, 701, 1700, 25, 1043, 1042, 17, 1082, 1083, 1114, 1184, 1186,
                3802, 2950, 2206, 19,
            ]
            .into_iter()
            .filter_map(scalar_type_of_oid)
            .find(|t| t.array_oid() == oid)
            .map(|t| ScalarType::Array(Box::new(t)));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::startup_options;

    #[test]
    fn startup_options_are_postgresql_s() {
        let pairs = |o: &str| -> Vec<(String, String)> { startup_options(o) };
        assert_eq!(
            pairs("-c a=1 --b-c=2 -cd=3  -c e=x\\ y -x ignored"),
            [("a", "1"), ("b_c", "2"), ("d", "3"), ("e", "x y")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert!(pairs("").is_empty());
    }
}
