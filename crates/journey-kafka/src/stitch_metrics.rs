//! The stitch stage's identity and journey KPI metrics, registered into the
//! pipeline's registry next to the plumbing metrics in [`crate::metrics`].
//! Labels are bounded: rule and guard names, configured topics and owners.

use std::collections::HashMap;

use journey_core::fold::FoldOutput;
use journey_core::model::{AlertStatus, JourneyAlert};
use journey_core::rules::RulesConfig;
use prometheus::{
    exponential_buckets, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    Opts, Registry,
};

pub struct StitchMetrics {
    /// Identifiers per customer, observed for the customers of every re-folded component.
    pub cluster_size: Histogram,
    /// Review records emitted, per reason.
    pub reviews: IntCounterVec,
    /// Operator unmerges received.
    pub unmerges: IntCounter,
    /// Split records emitted.
    pub splits: IntCounter,
    /// Events older than the allowed lateness, sent to the late-events topic.
    pub late_events: IntCounterVec,
    /// New alerts per rule and issue topic (`other` for topics no owner entry names).
    pub alerts_by_topic: IntCounterVec,
    /// Resolution records per rule.
    pub resolutions: IntCounterVec,
    /// Event time from alert to resolution, per rule.
    pub time_to_resolution: HistogramVec,
    /// Assisted contacts and channels in an alerted issue's evidence, at resolution.
    pub issue_contacts: Histogram,
    pub issue_channels: Histogram,
    /// Share of customers (of the components this instance re-folded since
    /// start) with at least one open alert.
    pub breakage_share: Gauge,
    /// label → (customers, customers with an open alert), for the share.
    breakage: std::sync::Mutex<HashMap<u64, (u32, u32)>>,
}

impl StitchMetrics {
    pub fn new(registry: &Registry) -> StitchMetrics {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
            r.register(Box::new(c.clone())).expect("unique metric");
            c
        }
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace("journey");
        let hist = |name: &str, help: &str, buckets: Vec<f64>| {
            HistogramOpts::new(name, help)
                .namespace("journey")
                .buckets(buckets)
        };
        StitchMetrics {
            cluster_size: reg(
                registry,
                Histogram::with_opts(hist(
                    "identity_cluster_identifiers",
                    "Identifiers per customer, for the customers of re-folded components.",
                    exponential_buckets(1.0, 2.0, 8).expect("valid buckets"),
                ))
                .expect("valid metric"),
            ),
            reviews: reg(
                registry,
                IntCounterVec::new(
                    opts(
                        "identity_reviews_total",
                        "Identity review records emitted to the quarantine topic.",
                    ),
                    &["reason"],
                )
                .expect("valid metric"),
            ),
            unmerges: reg(
                registry,
                IntCounter::with_opts(opts("identity_unmerges_total", "Operator unmerges received."))
                    .expect("valid metric"),
            ),
            splits: reg(
                registry,
                IntCounter::with_opts(opts(
                    "identity_splits_total",
                    "Split records emitted on the merges topic.",
                ))
                .expect("valid metric"),
            ),
            late_events: reg(
                registry,
                IntCounterVec::new(
                    opts(
                        "late_events_total",
                        "Events older than the allowed lateness, sent to the late-events topic.",
                    ),
                    &["channel"],
                )
                .expect("valid metric"),
            ),
            alerts_by_topic: reg(
                registry,
                IntCounterVec::new(
                    opts("kpi_alerts_total", "New alerts per rule and issue topic."),
                    &["rule", "topic"],
                )
                .expect("valid metric"),
            ),
            resolutions: reg(
                registry,
                IntCounterVec::new(
                    opts("kpi_resolutions_total", "Alerts resolved, per rule."),
                    &["rule"],
                )
                .expect("valid metric"),
            ),
            time_to_resolution: reg(
                registry,
                HistogramVec::new(
                    hist(
                        "kpi_time_to_resolution_seconds",
                        "Event time from an alert to its resolution.",
                        exponential_buckets(60.0, 2.0, 16).expect("valid buckets"),
                    ),
                    &["rule"],
                )
                .expect("valid metric"),
            ),
            issue_contacts: reg(
                registry,
                Histogram::with_opts(hist(
                    "kpi_issue_contacts",
                    "Assisted contacts in a resolved alerted issue's evidence.",
                    vec![1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0],
                ))
                .expect("valid metric"),
            ),
            issue_channels: reg(
                registry,
                Histogram::with_opts(hist(
                    "kpi_issue_channels",
                    "Distinct channels in a resolved alerted issue's evidence.",
                    vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                ))
                .expect("valid metric"),
            ),
            breakage_share: reg(
                registry,
                Gauge::with_opts(opts(
                    "kpi_journeys_with_breakage_ratio",
                    "Share of customers with an open alert, over the components this instance re-folded since start.",
                ))
                .expect("valid metric"),
            ),
            breakage: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// After a component was re-folded: cluster sizes and the breakage share.
    pub fn observe_fold(&self, label: u64, fold: &FoldOutput) {
        for c in &fold.customers {
            self.cluster_size.observe(c.identifiers.len() as f64);
        }
        let resolved: std::collections::HashSet<&str> = fold
            .alerts
            .iter()
            .filter_map(|a| a.resolves_alert_id.as_deref())
            .collect();
        let broken: std::collections::HashSet<&str> = fold
            .alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Open && !resolved.contains(a.alert_id.as_str()))
            .map(|a| a.customer_id.as_str())
            .collect();
        let mut map = self.breakage.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(label, (fold.customers.len() as u32, broken.len() as u32));
        let (customers, with_breakage) = map.values().fold((0u64, 0u64), |(c, b), (x, y)| {
            (c + *x as u64, b + *y as u64)
        });
        if customers > 0 {
            self.breakage_share
                .set(with_breakage as f64 / customers as f64);
        }
    }

    /// A label whose state moved away (merged into another component).
    pub fn forget(&self, label: u64) {
        self.breakage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&label);
    }

    /// A new (first revision of an) alert or resolution record was emitted.
    pub fn observe_alert(&self, a: &JourneyAlert, fold: &FoldOutput, rules: &RulesConfig) {
        match a.status {
            AlertStatus::Open => {
                let topic = a
                    .issue_key
                    .as_deref()
                    .and_then(|k| k.strip_prefix("topic:"))
                    .filter(|t| rules.owners.contains_key(*t))
                    .unwrap_or("other");
                self.alerts_by_topic
                    .with_label_values(&[a.rule.as_str(), topic])
                    .inc();
            }
            AlertStatus::Resolved => {
                self.resolutions.with_label_values(&[a.rule.as_str()]).inc();
                let opened = a
                    .resolves_alert_id
                    .as_deref()
                    .and_then(|id| fold.alerts.iter().find(|x| x.alert_id == id));
                if let Some(opened) = opened {
                    let secs = (a.fired_at_ms - opened.fired_at_ms).max(0) as f64 / 1000.0;
                    self.time_to_resolution
                        .with_label_values(&[a.rule.as_str()])
                        .observe(secs);
                }
                if a.issue_key.is_some() {
                    let contacts = a
                        .evidence
                        .iter()
                        .filter(|t| {
                            t.channel.is_assisted()
                                && matches!(
                                    t.activity,
                                    journey_core::model::Activity::Contact
                                        | journey_core::model::Activity::Appointment
                                )
                        })
                        .count();
                    let channels: std::collections::HashSet<_> =
                        a.evidence.iter().map(|t| t.channel).collect();
                    self.issue_contacts.observe(contacts as f64);
                    self.issue_channels.observe(channels.len() as f64);
                }
            }
        }
    }
}
