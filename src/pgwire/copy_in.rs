//! The copy-in sub-protocol of `COPY ... FROM STDIN`: after the
//! CopyInResponse, the client's CopyData messages go to the copy's
//! [`CopyDecoder`], and CopyDone writes the decoded rows
//! ([`crate::coord::Coordinator::copy_in`]) or reports the data's first
//! error; CopyFail abandons the copy. In both protocols the rest of the
//! conversation is pgwire's: it sends ReadyForQuery after CopyDone (simple
//! protocol) or at the Sync that follows (extended).
//!
//! A simple query's statements after its `COPY ... FROM STDIN` run once
//! the copy is done, as in PostgreSQL.

use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{Response, Tag};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use crate::coord::AdapterError;
use crate::coord::copy::CopyInTarget;
use crate::repr::SqlState;
use crate::sql::copy::CopyFormat;
use crate::sql::parse::FreshetStatement;

use super::copy_format::{CopyDecoder, CopyError};
use super::server::{Backend, Sent, error_info, fail_transaction, session_of, transaction_status};

/// A copy in progress: its decoder, and the statements of its simple
/// query that follow it.
pub(super) struct CopyInState {
    decoder: CopyDecoder,
    rest: Vec<FreshetStatement>,
    query: String,
}

/// The session's copy in progress, if any.
#[derive(Default)]
pub(super) struct CopyInSlot(Mutex<Option<CopyInState>>);

fn slot<C: ClientInfo>(client: &C) -> std::sync::Arc<CopyInSlot> {
    client
        .session_extensions()
        .get_or_insert_with(CopyInSlot::default)
}

/// Starts a copy into `target`: its decoder waits for the data, and the
/// response makes pgwire (or the simple-query loop) send CopyInResponse.
pub(super) fn start<C: ClientInfo>(client: &C, target: CopyInTarget) -> Response {
    let format = i8::from(target.options.format == CopyFormat::Binary);
    let columns = target.columns.len();
    let state = CopyInState {
        decoder: CopyDecoder::new(target),
        rest: Vec::new(),
        query: String::new(),
    };
    *slot(client).0.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
    Response::CopyIn(pgwire::api::results::CopyResponse::new(
        format,
        columns,
        futures::stream::empty(),
    ))
}

/// Keeps the statements of a simple query that follow its copy, to run
/// when the copy is done.
pub(super) fn stash_rest<C: ClientInfo>(client: &C, rest: Vec<FreshetStatement>, query: &str) {
    if let Some(state) = slot(client)
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        state.rest = rest;
        state.query = query.to_string();
    }
}

fn take<C: ClientInfo>(client: &C) -> Option<CopyInState> {
    slot(client)
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
}

fn copy_error(e: CopyError) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".into(), e.code.as_str().to_string(), e.message);
    info.hint = e.hint;
    info.where_context = Some(e.context);
    info
}

fn protocol_violation(message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        SqlState::PROTOCOL_VIOLATION.as_str().to_string(),
        message.into(),
    )))
}

#[async_trait]
impl CopyHandler for Backend {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(state) = slot(client)
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            state.decoder.feed(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(state) = take(client) else {
            return Err(protocol_violation("COPY data without a COPY in progress"));
        };
        let extended = matches!(client.state(), PgWireConnectionState::CopyInProgress(true));
        let session = session_of(client);
        let ok = match state.decoder.finish() {
            Err(e) => {
                fail_transaction(client).await;
                client
                    .send(PgWireBackendMessage::ErrorResponse(copy_error(e).into()))
                    .await?;
                false
            }
            Ok((target, rows)) => {
                let result = {
                    let mut session = session.lock().await;
                    self.coord.copy_in(&mut session, &target, rows).await
                };
                match result {
                    Ok(crate::coord::ExecuteResponse::Command { tag, rows }) => {
                        let tag = Tag::new(&tag).with_rows(rows.unwrap_or_default());
                        client
                            .send(PgWireBackendMessage::CommandComplete(tag.into()))
                            .await?;
                        true
                    }
                    Ok(_) => {
                        return Err(PgWireError::ApiError(
                            "unexpected response to COPY data".into(),
                        ));
                    }
                    Err(e) => {
                        fail_transaction(client).await;
                        client
                            .send(PgWireBackendMessage::ErrorResponse(error_info(&e).into()))
                            .await?;
                        false
                    }
                }
            }
        };
        if ok && !extended && !state.rest.is_empty() {
            self.run_rest(client, state.rest, &state.query).await?;
        }
        client.set_transaction_status(transaction_status(client).await);
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        take(client);
        fail_transaction(client).await;
        client.set_transaction_status(transaction_status(client).await);
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            SqlState::QUERY_CANCELED.as_str().to_string(),
            format!("COPY from stdin failed: {}", fail.message),
        )))
    }
}

impl Backend {
    /// Runs the statements of a simple query that followed its copy, and
    /// sends their results (ReadyForQuery follows from pgwire). Another
    /// `COPY ... FROM STDIN` among them is refused.
    async fn run_rest<C>(
        &self,
        client: &mut C,
        rest: Vec<FreshetStatement>,
        query: &str,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client);
        for stmt in rest {
            let result = {
                let mut session = session.lock().await;
                self.coord.execute(&mut session, stmt, query).await
            };
            let response = match result {
                Ok(crate::coord::ExecuteResponse::CopyIn(_)) => {
                    Err(AdapterError::Plan(crate::sql::PlanError::NotImplemented(
                        "a second COPY FROM STDIN in one simple query".into(),
                    )))
                }
                Ok(r) => Ok(self
                    .respond(client, r, &pgwire::api::portal::Format::UnifiedText, false)
                    .await?),
                Err(e) => Err(e),
            };
            let response = match response {
                Ok(r) => r,
                Err(e) => Response::Error(Box::new(error_info(&e))),
            };
            if !matches!(
                self.send_simple_response(client, response).await?,
                Sent::Continue
            ) {
                break;
            }
        }
        Ok(())
    }
}
