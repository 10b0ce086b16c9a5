//! The pipeline handle: opens the state store, creates the internal topics,
//! starts the three stages and the alias follower on their own threads, and
//! reports health, progress and the final journeys.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use journey_core::journey::CustomerJourney;
use journey_core::store::StateStore;
use journey_store::{RocksStore, StoreOptions};
use prometheus::IntCounter;
use tracing::info;

use crate::aliases::{self, AliasTable};
use crate::identity_stage::IdentityStage;
use crate::metrics::Metrics;
use crate::normalise_stage::NormaliseStage;
use crate::records::Codecs;
use crate::spawn::{assignment, spawn_err, StageEnv};
use crate::stage::{lock_assignment, Shared};
use crate::stitch_stage::{self, StitchStage};
use crate::topics::{create_topics, partition_count};
use crate::{PipelineConfig, PipelineError};

/// Liveness and readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ready: bool,
    pub healthy: bool,
    pub detail: String,
}

/// Monotonic counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub raw_in: u64,
    pub dead_letters: u64,
    pub events_out: u64,
    pub stitched: u64,
    pub handovers: u64,
    pub alerts: u64,
    pub merges: u64,
}

pub struct Pipeline {
    cfg: PipelineConfig,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    store: Arc<RocksStore>,
    threads: Vec<(&'static str, JoinHandle<Result<(), PipelineError>>)>,
    errors: Arc<Mutex<Vec<String>>>,
    /// The stitch partitions this instance holds (`None`: the pass-through).
    stitch_assignment: Option<crate::stage::SharedAssignment>,
}

impl Pipeline {
    pub fn start(cfg: PipelineConfig, metrics: Arc<Metrics>) -> Result<Pipeline, PipelineError> {
        cfg.topics.validate().map_err(PipelineError::Config)?;
        crate::fault::init().map_err(PipelineError::Config)?;
        crate::pause::start();
        if cfg.kafka.transactions && !cfg.changelog {
            return Err(PipelineError::Config(
                "transactions need the changelog: state written after a commit must be \
                 recoverable from it"
                    .into(),
            ));
        }
        let k = &cfg.kafka;
        let p = cfg.topics.partitions;
        let hops = k.internal_topic("identity-hops");
        let alias_topic = k.internal_topic("aliases");
        let stitch = k.internal_topic("stitch");
        let t = &cfg.topics;
        let identity_changelog = k.internal_topic("identity-changelog");
        let stitch_changelog = k.internal_topic("stitch-changelog");
        let owner_topics = owner_alert_topics(t, &cfg.stitch.rules);
        let mut needed: Vec<(&str, i32)> = vec![
            (&t.events, p),
            (&hops, p),
            (&alias_topic, p),
            (&stitch, p),
            (&identity_changelog, p),
            (&stitch_changelog, p),
            (&t.handover, p),
            (&t.alerts, p),
            (&t.merges, p),
            (&t.dlq, p),
            (&t.quarantine, p),
            (&t.late, p),
            (&t.control, 1),
        ];
        needed.extend(owner_topics.iter().map(|o| (o.as_str(), p)));
        create_topics(k, &needed)?;
        for topic in [&t.events, &hops, &stitch] {
            let n = partition_count(k, topic)?;
            if n != p {
                return Err(PipelineError::Config(format!(
                    "topic {topic} has {n} partitions but `topics.partitions` is {p}: the events and internal topics must be co-partitioned"
                )));
            }
        }
        let (identity_store, store) = open_stores(&cfg.state_dir)?;
        let shared = Arc::new(Shared::default());
        shared.touch();
        let aliases = Arc::new(Mutex::new(AliasTable::default()));
        let codecs = Codecs::new(cfg.framing);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();

        {
            let (kafka, shared, aliases, topic) = (
                k.clone(),
                shared.clone(),
                aliases.clone(),
                alias_topic.clone(),
            );
            threads.push((
                "aliases",
                std::thread::Builder::new()
                    .name("aliases".into())
                    .spawn(move || aliases::follow(&kafka, &topic, p, aliases, shared))
                    .map_err(spawn_err)?,
            ));
        }

        let formats: HashMap<String, _> = t
            .raw
            .iter()
            .map(|r| (r.topic.clone(), (r.channel, r.format)))
            .collect();
        let mut raw_topics: Vec<String> = t.raw.iter().map(|r| r.topic.clone()).collect();
        raw_topics.push(t.control.clone());
        let normalise = NormaliseStage {
            formats,
            cfg: cfg.normalize.clone(),
            codecs: codecs.clone(),
            events_topic: t.events.clone(),
            control_topic: t.control.clone(),
            stitch_topic: stitch.clone(),
            dlq_topic: t.dlq.clone(),
            partitions: p,
            metrics: metrics.clone(),
            watermark_ms: i64::MIN,
            broadcast_ms: i64::MIN,
        };
        let store_dyn: Arc<dyn StateStore> = store.clone();
        let identity = IdentityStage {
            store: identity_store.clone(),
            aliases: aliases.clone(),
            codecs: codecs.clone(),
            hops_topic: hops.clone(),
            aliases_topic: alias_topic.clone(),
            stitch_topic: stitch.clone(),
            dlq_topic: t.dlq.clone(),
            partitions: p,
            metrics: metrics.clone(),
        };
        let stitch_assignment = assignment(&stitch);
        let mut stitcher = StitchStage::new(
            store_dyn.clone(),
            aliases,
            codecs,
            cfg.stitch.clone(),
            t,
            stitch.clone(),
            p,
            metrics.clone(),
        );
        stitcher.assignment = Some(stitch_assignment.clone());
        let changelog = |topic: &str| cfg.changelog.then(|| topic.to_string());

        let env = StageEnv {
            cfg: &cfg,
            shared: &shared,
            metrics: &metrics,
            errors: &errors,
        };
        threads.push(env.spawn(normalise, &raw_topics, None, 0, assignment(""), None)?);
        // Range assignment keeps partition n of the events and hops topics on one instance.
        let identity_assignment = assignment(&t.events);
        threads.push(env.spawn(
            identity,
            &[t.events.clone(), hops],
            Some(identity_store.clone()),
            1,
            identity_assignment.clone(),
            changelog(&identity_changelog),
        )?);
        threads.push(env.spawn(
            stitcher,
            &[stitch],
            Some(store_dyn.clone()),
            2,
            stitch_assignment.clone(),
            changelog(&stitch_changelog),
        )?);
        if cfg.standby && cfg.changelog {
            let followers = [
                (
                    "identity",
                    identity_changelog,
                    identity_store,
                    identity_assignment,
                ),
                (
                    "stitch",
                    stitch_changelog,
                    store_dyn,
                    stitch_assignment.clone(),
                ),
            ];
            for (stage, topic, store, assigned) in followers {
                let standby = crate::standby::Standby {
                    stage,
                    kafka: k.clone(),
                    changelog: topic,
                    store,
                    partitions: p,
                    claimed: lock_assignment(&assigned).claimed.clone(),
                    shared: shared.clone(),
                    metrics: metrics.clone(),
                };
                let handle = std::thread::Builder::new()
                    .name(format!("{stage}-standby"))
                    .spawn(move || standby.run())
                    .map_err(spawn_err)?;
                threads.push(("standby", handle));
            }
        }
        shared.ready.store(true, Ordering::Relaxed);
        info!(partitions = p, state_dir = %cfg.state_dir.display(), "pipeline started");
        Ok(Pipeline {
            cfg,
            shared,
            metrics,
            store,
            threads,
            errors,
            stitch_assignment: Some(stitch_assignment),
        })
    }

    /// The pass-through baseline for benchmarks: the pipeline's topics, consumer
    /// groups, hops, acknowledgement waits and offset writes, without any logic.
    /// `counters().raw_in` counts raw records, `counters().stitched` what reached the last stage.
    pub fn start_passthrough(
        cfg: PipelineConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Pipeline, PipelineError> {
        use crate::passthrough::Forward;
        crate::fault::init().map_err(PipelineError::Config)?;
        let k = &cfg.kafka;
        let p = cfg.topics.partitions;
        let stitch = k.internal_topic("stitch");
        let t = &cfg.topics;
        create_topics(k, &[(&t.events, p), (&stitch, p)])?;
        let (first, store) = open_stores(&cfg.state_dir)?;
        let store_dyn: Arc<dyn StateStore> = store.clone();
        let shared = Arc::new(Shared::default());
        shared.touch();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut raw_topics: Vec<String> = t.raw.iter().map(|r| r.topic.clone()).collect();
        raw_topics.push(t.control.clone());
        let raw_in = metrics.events_in.with_label_values(&["all"]);
        let env = StageEnv {
            cfg: &cfg,
            shared: &shared,
            metrics: &metrics,
            errors: &errors,
        };
        let unused = IntCounter::new("unused", "unused")
            .map_err(|e| PipelineError::Config(e.to_string()))?;
        let threads = vec![
            env.spawn(
                Forward::<0> {
                    to: Some(t.events.clone()),
                    partitions: p,
                    counter: raw_in,
                },
                &raw_topics,
                None,
                0,
                assignment(""),
                None,
            )?,
            env.spawn(
                Forward::<1> {
                    to: Some(stitch.clone()),
                    partitions: p,
                    counter: unused,
                },
                std::slice::from_ref(&t.events),
                Some(first),
                1,
                assignment(&t.events),
                None,
            )?,
            env.spawn(
                Forward::<2> {
                    to: None,
                    partitions: p,
                    counter: metrics.stitched.clone(),
                },
                std::slice::from_ref(&stitch),
                Some(store_dyn),
                2,
                assignment(&stitch),
                None,
            )?,
        ];
        shared.ready.store(true, Ordering::Relaxed);
        Ok(Pipeline {
            cfg,
            shared,
            metrics,
            store,
            threads,
            errors,
            stitch_assignment: None,
        })
    }

    pub fn health(&self) -> Health {
        let failed = self.shared.failed.load(Ordering::Relaxed);
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("; ");
        const STAGES: [&str; 3] = ["normalise", "identity", "stitch"];
        let unreachable: Vec<&str> = (0..STAGES.len())
            .filter(|&i| self.shared.broker.is_down(i))
            .map(|i| STAGES[i])
            .collect();
        let state_errors: Vec<String> = (0..STAGES.len())
            .filter_map(|i| self.shared.state_error(i))
            .collect();
        Health {
            ready: self.shared.ready.load(Ordering::Relaxed)
                && !failed
                && unreachable.is_empty()
                && state_errors.is_empty(),
            healthy: !failed && state_errors.is_empty(),
            detail: if failed {
                errors
            } else if !state_errors.is_empty() {
                format!(
                    "state writes failing ({}); consumption paused, retrying",
                    state_errors.join("; ")
                )
            } else if !unreachable.is_empty() {
                format!(
                    "brokers unreachable from stage {}; retrying",
                    unreachable.join(", ")
                )
            } else {
                "ok".into()
            },
        }
    }

    pub fn counters(&self) -> Counters {
        let m = &self.metrics;
        let sum = |v: &prometheus::IntCounterVec| -> u64 {
            use prometheus::core::Collector;
            v.collect()
                .iter()
                .flat_map(|f| f.get_metric())
                .map(|m| m.get_counter().get_value() as u64)
                .sum()
        };
        Counters {
            raw_in: sum(&m.events_in),
            dead_letters: sum(&m.dead_letters),
            events_out: sum(&m.events_out),
            stitched: m.stitched.get(),
            handovers: m.handovers.get(),
            alerts: sum(&m.alerts),
            merges: m.merges.get(),
        }
    }

    /// Waits until `expected_raw` raw records were consumed, nothing happened
    /// for `quiet` and no stage is taking partitions over.
    pub fn wait_quiet(
        &self,
        expected_raw: u64,
        quiet: Duration,
        timeout: Duration,
    ) -> Result<(), PipelineError> {
        let start = Instant::now();
        loop {
            if self.shared.failed.load(Ordering::Relaxed) {
                return Err(PipelineError::Stage {
                    stage: "pipeline",
                    reason: self.health().detail,
                });
            }
            let consumed = self.shared.processed[0].load(Ordering::Relaxed);
            let since = self
                .shared
                .started
                .get()
                .map_or(0, |s| s.elapsed().as_millis() as u64);
            let idle = since.saturating_sub(self.shared.last_activity_ms.load(Ordering::Relaxed));
            let taking_over = self.shared.taking_over.load(Ordering::SeqCst) > 0;
            if consumed >= expected_raw && idle >= quiet.as_millis() as u64 && !taking_over {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(PipelineError::Timeout(format!(
                    "{consumed} of {expected_raw} raw records consumed, still busy"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every journey in this instance's local stitch state, held or kept for
    /// reuse (e.g. to check that a halted pipeline left its state alone).
    pub fn local_journeys(&self) -> Result<Vec<CustomerJourney>, PipelineError> {
        stitch_stage::journeys(
            self.store.as_ref(),
            self.cfg.topics.partitions,
            &self.cfg.stitch,
            |_| true,
        )
    }

    /// The journeys of the stitch partitions this instance holds now (local
    /// state of partitions it no longer holds is kept for reuse, not shown).
    pub fn journeys(&self) -> Result<Vec<CustomerJourney>, PipelineError> {
        let holds = |p: i32| {
            self.stitch_assignment
                .as_ref()
                .is_none_or(|a| crate::stage::lock_assignment(a).owns(p))
        };
        stitch_stage::journeys(
            self.store.as_ref(),
            self.cfg.topics.partitions,
            &self.cfg.stitch,
            holds,
        )
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops every stage after its current batch (which is flushed and committed).
    pub fn shutdown(self) -> Result<(), PipelineError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let mut first_err = None;
        for (name, t) in self.threads {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(PipelineError::Stage {
                        stage: name,
                        reason: "thread panicked".into(),
                    });
                }
            }
        }
        self.store.flush()?;
        info!("pipeline stopped");
        first_err.map_or(Ok(()), Err)
    }
}

/// One database per stateful stage (`<dir>/identity`, `<dir>/stitch`): the
/// stages gain and lose partitions independently, so dropping or restoring one
/// stage's partition must never touch the other's state.
fn open_stores(
    dir: &std::path::Path,
) -> Result<(Arc<dyn StateStore>, Arc<RocksStore>), PipelineError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        PipelineError::Config(format!(
            "field `state.dir`: cannot create {}: {e}",
            dir.display()
        ))
    })?;
    let identity: Arc<dyn StateStore> = Arc::new(RocksStore::open(
        &dir.join("identity"),
        &StoreOptions::default(),
    )?);
    let stitch = Arc::new(RocksStore::open(
        &dir.join("stitch"),
        &StoreOptions::default(),
    )?);
    Ok((identity, stitch))
}
/// The per-owner alert topics (`<alerts>.<owner>`) when alerts are routed by
/// owner: one per configured owner and the default owner.
pub fn owner_alert_topics(
    topics: &crate::TopicsConfig,
    rules: &journey_core::rules::RulesConfig,
) -> Vec<String> {
    if !rules.route_by_owner {
        return Vec::new();
    }
    let mut owners: Vec<&String> = rules.owners.values().collect();
    owners.push(&rules.default_owner);
    let mut out: Vec<String> = owners
        .into_iter()
        .map(|o| rules.alert_topic(&topics.alerts, o))
        .collect();
    out.sort();
    out.dedup();
    out
}
