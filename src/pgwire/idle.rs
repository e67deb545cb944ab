//! `idle_in_transaction_session_timeout`: a connection that sits idle inside
//! a transaction (open or failed) for longer than the session's setting is
//! closed with PostgreSQL's FATAL `25P03` "terminating connection due to
//! idle-in-transaction timeout". An open transaction holds its snapshot
//! (`coord::txn::Snapshot`), which keeps the workers from compacting and
//! makes inputs keep their updates, so a forgotten transaction would hold
//! memory for as long as its client stays connected; Materialize ends
//! such sessions after two minutes by default, and so does Freshet.
//!
//! pgwire owns the socket and the connection's loop, so [`serve`] runs
//! that loop beside a watch on the connection's session, which it finds
//! through the peer address ([`Connections`]; the start-up handler
//! attaches the session). When the watch fires it drops the loop (closing
//! pgwire's socket and the session with it: the snapshot is released)
//! and sends the FATAL error through a duplicate of the socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use pgwire::api::PgWireServerHandlers;
use pgwire::error::ErrorInfo;
use pgwire::messages::PgWireBackendMessage;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::coord::session::TransactionState;

use super::server::SessionHandle;

/// The session of each connection being served, by peer address, once its
/// start-up has attached it.
#[derive(Default)]
pub struct Connections {
    by_peer: Mutex<HashMap<SocketAddr, Arc<OnceLock<SessionHandle>>>>,
}

impl Connections {
    /// Attaches the session of the connection from `peer` (at start-up).
    pub fn attach(&self, peer: SocketAddr, session: SessionHandle) {
        if let Ok(map) = self.by_peer.lock()
            && let Some(slot) = map.get(&peer)
        {
            let _ = slot.set(session);
        }
    }

    fn register(&self, peer: SocketAddr) -> Arc<OnceLock<SessionHandle>> {
        let slot = Arc::new(OnceLock::new());
        if let Ok(mut map) = self.by_peer.lock() {
            map.insert(peer, slot.clone());
        }
        slot
    }

    fn unregister(&self, peer: SocketAddr) {
        if let Ok(mut map) = self.by_peer.lock() {
            map.remove(&peer);
        }
    }
}

/// How long the session has been idle in a transaction past its timeout,
/// if it has; else how long to wait before looking again.
enum Watch {
    Expired,
    Wait(Duration),
}

/// Looks at the session without waiting for it (a statement running holds
/// it: not idle).
fn watch(session: Option<&SessionHandle>) -> Watch {
    const IDLE_POLL: Duration = Duration::from_secs(1);
    let Some(Ok(session)) = session.map(|s| s.try_lock()) else {
        return Watch::Wait(IDLE_POLL);
    };
    let timeout = session.idle_in_transaction_timeout();
    match (session.transaction, timeout, session.idle_since) {
        (TransactionState::Idle, _, _) | (_, None, _) | (_, _, None) => Watch::Wait(IDLE_POLL),
        (_, Some(timeout), Some(since)) => {
            let idle = since.elapsed();
            if idle >= timeout {
                Watch::Expired
            } else {
                Watch::Wait((timeout - idle).min(IDLE_POLL) + Duration::from_millis(5))
            }
        }
    }
}

/// Serves one client connection, ending it if its session stays idle in a
/// transaction for too long.
pub async fn serve<H: PgWireServerHandlers>(
    socket: TcpStream,
    peer: SocketAddr,
    handlers: H,
    connections: Arc<Connections>,
) {
    // A second handle on the socket, to send the FATAL error after pgwire's
    // loop (which owns the first) is dropped.
    let spare = socket
        .into_std()
        .and_then(|s| Ok((s.try_clone()?, s)))
        .and_then(|(spare, s)| Ok((spare, TcpStream::from_std(s)?)));
    let (spare, socket) = match spare {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!("connection from {peer} not served: {e}");
            return;
        }
    };
    let session = connections.register(peer);
    let mut connection = Box::pin(pgwire::tokio::process_socket(socket, None, handlers));
    let mut wait = Duration::from_secs(1);
    let expired = loop {
        tokio::select! {
            result = &mut connection => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                break false;
            }
            _ = tokio::time::sleep(wait) => match watch(session.get()) {
                Watch::Expired => break true,
                Watch::Wait(next) => wait = next,
            },
        }
    };
    connections.unregister(peer);
    if !expired {
        return;
    }
    // Between messages: pgwire is waiting for the client's next one, and
    // has nothing half-written.
    drop(connection);
    drop(session);
    let info = ErrorInfo::new(
        "FATAL".into(),
        "25P03".into(),
        "terminating connection due to idle-in-transaction timeout".into(),
    );
    let mut buf = BytesMut::new();
    if PgWireBackendMessage::ErrorResponse(info.into())
        .encode(&mut buf)
        .is_ok()
        && let Ok(mut spare) = TcpStream::from_std(spare)
    {
        let _ = spare.write_all(&buf).await;
        let _ = spare.shutdown().await;
    }
}
