//! The operator endpoint: `GET /metrics` (Prometheus text format),
//! `GET /health` (200 while the pipeline is healthy, else 503) and
//! `GET /ready` (200 once the pipeline is ready, else 503).
//!
//! The server knows nothing about the pipeline: it reads a shared [`Status`]
//! that the owner of the pipeline refreshes, and a Prometheus registry. The
//! listener and the shutdown signal are injected, so tests bind port 0.

use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;

/// What `/health` and `/ready` report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub ready: bool,
    pub healthy: bool,
    /// One line for humans (no identifiers, no payloads).
    pub detail: String,
}

/// The status shared between the pipeline's owner (writer) and the server (reader).
pub type SharedStatus = Arc<RwLock<Status>>;

#[derive(Clone)]
struct AppState {
    registry: Registry,
    status: SharedStatus,
}

/// The routes, for serving and for tests.
pub fn router(registry: Registry, status: SharedStatus) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(AppState { registry, status })
}

/// Serves until `shutdown` completes.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    status: SharedStatus,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry, status))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&app.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain".to_string())],
            format!("cannot encode metrics: {e}\n").into_bytes(),
        ),
    }
}

fn read(status: &SharedStatus) -> Status {
    status.read().unwrap_or_else(|p| p.into_inner()).clone()
}

async fn health(State(app): State<AppState>) -> impl IntoResponse {
    let s = read(&app.status);
    let code = if s.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        format!(
            "{}\n",
            if s.detail.is_empty() {
                if s.healthy {
                    "healthy"
                } else {
                    "unhealthy"
                }
            } else {
                &s.detail
            }
        ),
    )
}

async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    let s = read(&app.status);
    let code = if s.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, if s.ready { "ready\n" } else { "not ready\n" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A minimal HTTP/1.1 GET: status code and body.
    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.expect("read");
        let code = buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    #[tokio::test]
    async fn endpoints_follow_the_status() {
        let registry = Registry::new();
        let c = prometheus::IntCounter::new("journey_test_events_total", "test counter")
            .expect("counter");
        registry.register(Box::new(c.clone())).expect("register");
        c.inc_by(3);
        let status: SharedStatus = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, registry, status.clone(), async {
            let _ = rx.await;
        }));

        assert_eq!(get(addr, "/ready").await.0, 503);
        assert_eq!(get(addr, "/health").await.0, 503);
        *status.write().expect("lock") = Status {
            ready: true,
            healthy: true,
            detail: "all stages running".into(),
        };
        assert_eq!(get(addr, "/ready").await.0, 200);
        let (code, body) = get(addr, "/health").await;
        assert_eq!((code, body.trim()), (200, "all stages running"));
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(body.contains("journey_test_events_total 3"), "{body}");
        assert_eq!(get(addr, "/nope").await.0, 404);

        let _ = tx.send(());
        server.await.expect("join").expect("serve");
    }
}
