//! Prometheus metrics: one registry per pipeline, handles pre-registered so
//! the hot path only increments. Names follow `journey_<name>_<unit>_total`;
//! labels are bounded (`channel`, `stage`, `rule`, `error_type`, `topic`).

use std::sync::Arc;

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};

pub struct Metrics {
    registry: Registry,
    /// Raw records consumed per channel.
    pub events_in: IntCounterVec,
    /// Canonical events produced per channel.
    pub events_out: IntCounterVec,
    /// Dead letters per channel (or `internal`) and error type.
    pub dead_letters: IntCounterVec,
    pub alerts: IntCounterVec,
    pub handovers: IntCounter,
    pub merges: IntCounter,
    /// Outputs withdrawn after history changed (late or re-routed events).
    pub retractions: IntCounter,
    pub refused_links: IntCounterVec,
    /// Events applied to journey state.
    pub stitched: IntCounter,
    pub batch_seconds: HistogramVec,
    /// Records behind the end of the input, per stage (from librdkafka statistics).
    pub consumer_lag: IntGaugeVec,
    pub components: IntGauge,
    pub component_size: Histogram,
    pub state_write_errors: IntCounter,
    /// Identity and journey KPI metrics of the stitch stage.
    pub stitch: crate::stitch_metrics::StitchMetrics,
    /// 1 while some stage reaches no broker (it retries; the pipeline is not ready).
    pub broker_unreachable: IntGauge,
    /// Stored offsets found ahead of what the cluster holds (the stage stops).
    pub offsets_backwards: IntCounterVec,
    /// Partitions brought up to date from a changelog, per stage and kind
    /// (`full`: from the beginning; `catch_up`: from the local state's position).
    pub state_restores: IntCounterVec,
    /// Batches processed but not written because the consumer lost its
    /// assignment meanwhile (session expired, `max.poll.interval.ms` exceeded).
    pub stale_batches: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help).namespace("journey"), labels)
                .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::with_opts(Opts::new(name, help).namespace("journey"))
                .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let events_in = counter_vec("events_in_total", "Raw records consumed.", &["channel"]);
        let events_out = counter_vec(
            "events_out_total",
            "Canonical events produced.",
            &["channel"],
        );
        let dead_letters = counter_vec(
            "dead_letters_total",
            "Records sent to the dead-letter topic.",
            &["channel", "error_type"],
        );
        let alerts = counter_vec(
            "alerts_total",
            "Alerts emitted (new or corrected).",
            &["rule"],
        );
        let refused_links = counter_vec(
            "identity_refused_links_total",
            "Identity links refused by a guard.",
            &["guard"],
        );
        let offsets_backwards = counter_vec(
            "offsets_backwards_total",
            "Stored offsets found ahead of what the cluster holds (data lost); the stage stops.",
            &["stage"],
        );
        let state_restores = counter_vec(
            "state_restores_total",
            "Partitions restored from a changelog: full (from the beginning) or catch_up (from the local state's position).",
            &["stage", "kind"],
        );
        let handovers = counter("handovers_total", "Handover records emitted.");
        let merges = counter("merges_total", "Identity merge records emitted.");
        let retractions = counter(
            "retractions_total",
            "Outputs retracted because a late or re-routed event changed history.",
        );
        let stitched = counter("stitched_events_total", "Events applied to journey state.");
        let state_write_errors = counter(
            "state_write_errors_total",
            "Failed state writes (the stage pauses and retries; health reports it).",
        );
        let stale_batches = counter_vec(
            "stale_batches_total",
            "Batches discarded unwritten because the consumer lost its partitions while \
             processing them (session expired, max.poll.interval.ms exceeded).",
            &["stage"],
        );
        let broker_unreachable = IntGauge::with_opts(
            Opts::new(
                "broker_unreachable",
                "1 while some stage reaches no broker (retrying, not ready), else 0.",
            )
            .namespace("journey"),
        )
        .expect("valid metric");
        registry
            .register(Box::new(broker_unreachable.clone()))
            .expect("unique metric");
        let batch_seconds = HistogramVec::new(
            HistogramOpts::new(
                "batch_duration_seconds",
                "Time to process one batch, from poll to durable state.",
            )
            .namespace("journey")
            .buckets(exponential_buckets(0.000_5, 2.0, 16).expect("valid buckets")),
            &["stage"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(batch_seconds.clone()))
            .expect("unique metric");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "consumer_lag_records",
                "Records behind the end of the input.",
            )
            .namespace("journey"),
            &["stage"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(consumer_lag.clone()))
            .expect("unique metric");
        let components = IntGauge::with_opts(
            Opts::new(
                "components_touched",
                "Components re-folded in the last batch.",
            )
            .namespace("journey"),
        )
        .expect("valid metric");
        registry
            .register(Box::new(components.clone()))
            .expect("unique metric");
        let component_size = Histogram::with_opts(
            HistogramOpts::new(
                "component_events",
                "Events per identity component when re-folded.",
            )
            .namespace("journey")
            .buckets(exponential_buckets(1.0, 2.0, 14).expect("valid buckets")),
        )
        .expect("valid metric");
        registry
            .register(Box::new(component_size.clone()))
            .expect("unique metric");
        let stitch = crate::stitch_metrics::StitchMetrics::new(&registry);
        Arc::new(Metrics {
            stitch,
            registry,
            events_in,
            events_out,
            dead_letters,
            alerts,
            handovers,
            merges,
            retractions,
            refused_links,
            stitched,
            batch_seconds,
            consumer_lag,
            components,
            component_size,
            state_write_errors,
            stale_batches,
            broker_unreachable,
            offsets_backwards,
            state_restores,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
