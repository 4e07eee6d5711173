//! Accepting connections: HTTP/1.1 on plain ones; over TLS ([`crate::tls`]) HTTP/2 as well;
//! with a header read timeout and a cap on the open connections of this node.
//!
//! A plain connection that opens with a live request (an SSE stream, a WebSocket) is served by
//! [`direct`], without hyper's per-connection buffers; every other connection is hyper's.
//!
//! The header read timeout bounds how long a connection may take to send a request's head, and
//! also how long a keep-alive connection may wait idle for its next request: a client that
//! connects and never finishes its headers is closed, instead of holding a file descriptor for
//! as long as it likes. It bounds nothing else: a response in progress (an SSE stream), an
//! upgraded WebSocket and a request body being read are not cut by it.
//!
//! At the cap, the node stops accepting until a connection closes (new clients wait in the
//! kernel's backlog) and says so once in its log each time the cap is reached.

mod direct;

use axum::Router;
use direct::Opening;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits on connections (from [`crate::ServerConfig`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// How long a request's head may take to arrive, and a keep-alive connection may wait for
    /// its next request.
    pub header_read_timeout: Duration,
    /// Open connections on this node.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting and waits for the
/// open connections to finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Each stream served by [`direct`] holds a sender; `recv` ends once all are dropped.
    let (open_streams, mut streams_done) = tokio::sync::mpsc::channel::<()>(1);
    // HTTP/1.1 on plain connections; over TLS, HTTP/2 too (browsers pick it through ALPN).
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let plain = Arc::new(builder.clone().http1_only());
    let builder = Arc::new(builder);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut at_cap = false;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                at_cap = false;
                permit
            }
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "the connection limit is reached: new connections wait until one closes"
                    );
                    metrics::counter!("spine_connection_limit_reached_total").increment(1);
                    at_cap = true;
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener stays usable.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let Some(tls) = tls.clone() else {
            // Weak until the connection turns out to be a stream: a client that connects and
            // sends nothing must not hold up the shutdown.
            let (plain, app, streams) = (plain.clone(), app.clone(), open_streams.downgrade());
            tokio::spawn(async move {
                match direct::opening(&stream, limits.header_read_timeout).await {
                    Opening::Live => {
                        // `None`: the server is shutting down; the connection just closes.
                        if let Some(open) = streams.upgrade() {
                            direct::serve(stream, app, limits.header_read_timeout).await;
                            drop(open);
                        }
                    }
                    Opening::Other => {
                        let connection =
                            plain.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        if let Err(e) = watcher.watch(connection.into_owned()).await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    }
                    Opening::Silent => {}
                }
                drop(permit);
            });
            continue;
        };
        let builder = builder.clone();
        tokio::spawn(async move {
            // The handshake is bounded like a request head.
            match tokio::time::timeout(limits.header_read_timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(connection.into_owned()).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    // Streams served outside hyper end on the live shutdown signal; wait for them too.
    drop(open_streams);
    let _ = streams_done.recv().await;
    Ok(())
}
