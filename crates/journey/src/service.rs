//! `journey run`: the service against a real Kafka cluster. Loads and
//! validates the configuration, serves `/metrics`, `/health` and `/ready`,
//! starts the pipeline and stops it cleanly on SIGTERM or SIGINT.
//!
//! Threads: the pipeline's stage threads (its own), a small tokio runtime for
//! the HTTP server and the signal handlers, and the main thread, which owns
//! the pipeline, refreshes the health status every second and waits for a
//! stop signal.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use journey_kafka::metrics::Metrics;
use journey_kafka::Pipeline;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{self, SharedStatus, Status};

/// Runs until SIGTERM or SIGINT.
///
/// # Errors
/// An invalid configuration, an unusable listen address or state folder, or a
/// pipeline that fails to start or to shut down.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(Some(config_path))
        .map_err(|e| anyhow::anyhow!("invalid configuration ({}):\n{e}", config_path.display()))?;
    let listen: SocketAddr = config.http.listen.parse().context("field `http.listen`")?;
    std::fs::create_dir_all(&config.state.dir).with_context(|| {
        format!(
            "field `state.dir`: cannot create {}",
            config.state.dir.display()
        )
    })?;
    let pipeline_cfg = config
        .into_pipeline_config()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let metrics = Metrics::new();
    let status: SharedStatus = Arc::default();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("journey-http")
        .enable_all()
        .build()
        .context("cannot start the http runtime")?;
    let listener = rt
        .block_on(TcpListener::bind(listen))
        .with_context(|| format!("field `http.listen`: cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("journey: serving /metrics, /health and /ready on http://{addr}");
    tracing::info!(%addr, "http endpoint listening");

    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(http::serve(
        listener,
        metrics.registry().clone(),
        status.clone(),
        async {
            let _ = http_stopped.await;
        },
    ));
    let (stop_tx, stop_rx) = mpsc::channel::<&'static str>();
    rt.spawn(async move {
        let signal = wait_for_signal().await;
        let _ = stop_tx.send(signal);
    });

    tracing::info!(
        bootstrap = %pipeline_cfg.kafka.bootstrap_servers,
        application_id = %pipeline_cfg.kafka.application_id,
        raw_topics = pipeline_cfg.topics.raw.len(),
        "starting the pipeline"
    );
    let pipeline =
        Pipeline::start(pipeline_cfg, metrics.clone()).context("cannot start the pipeline")?;
    let mut last = Status::default();
    let signal = loop {
        let h = pipeline.health();
        let now = Status {
            ready: h.ready,
            healthy: h.healthy,
            detail: h.detail,
        };
        if now != last {
            if now.healthy || !now.ready {
                tracing::info!(ready = now.ready, healthy = now.healthy, detail = %now.detail, "status changed");
            } else {
                tracing::warn!(ready = now.ready, healthy = now.healthy, detail = %now.detail, "pipeline unhealthy");
            }
            *status.write().unwrap_or_else(|p| p.into_inner()) = now.clone();
            last = now;
        }
        match stop_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(signal) => break signal,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break "signal handler gone",
        }
    };
    tracing::info!(signal, "stopping: draining, flushing and committing");
    {
        let mut s = status.write().unwrap_or_else(|p| p.into_inner());
        s.ready = false;
        s.detail = "shutting down".into();
    }
    let stopped = pipeline
        .shutdown()
        .context("the pipeline did not shut down cleanly");
    let _ = http_stop.send(());
    match rt.block_on(server) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "http server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "http server task failed"),
    }
    stopped?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C) with the signal's name.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
