//! The service configuration of `journey run` (and, optionally, `journey
//! replay`): one TOML file plus environment overrides, composed from the
//! sections that the library crates declare next to their code.
//!
//! Layers, later wins: built-in defaults → the TOML file → environment
//! variables with the prefix `JOURNEY_` and `__` between levels
//! (`JOURNEY_KAFKA__BOOTSTRAP_SERVERS=broker:9092`,
//! `JOURNEY_NORMALIZE__DEFAULT_REGION=AT`). Only variables whose first level
//! names a section are read, so `JOURNEY_LOG` and friends do not collide.
//!
//! Every section rejects unknown fields. [`Config::load`] reports the path of
//! the offending field; [`Config::validate`] checks values once at start and
//! names the field and the fix. `crates/journey/journey.example.toml` lists
//! every field with a comment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format as _, Serialized, Toml};
use figment::Figment;
use journey_core::avro::Framing;
use journey_core::fold::{Lateness, StitchConfig};
use journey_core::identity::IdentityPolicy;
use journey_core::normalize::NormalizeConfig;
use journey_core::rules::RulesConfig;
use journey_kafka::{BatchConfig, KafkaConfig, PipelineConfig, TopicsConfig};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The top-level sections, also the only first levels read from the environment.
pub const SECTIONS: [&str; 10] = [
    "kafka",
    "topics",
    "batch",
    "normalize",
    "identity",
    "rules",
    "lateness",
    "state",
    "http",
    "output",
];

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "JOURNEY_";

/// The whole service configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[kafka]`: cluster address, application id, `[kafka.librdkafka]` pass-through.
    pub kafka: KafkaConfig,
    /// `[topics]`: raw input topics per channel, output topics, partitions.
    pub topics: TopicsConfig,
    /// `[batch]`: records per batch and how long to wait for a full one.
    pub batch: BatchConfig,
    /// `[normalize]`: phone region and time zone of the raw sources.
    pub normalize: NormalizeSection,
    /// `[identity]`: the guards against merging two different people.
    pub identity: IdentityPolicy,
    /// `[rules]`: alert rules, journey owners, handover size.
    pub rules: RulesConfig,
    /// `[lateness]`: how late an event may arrive and still join its journey.
    pub lateness: Lateness,
    /// `[state]`: where the RocksDB state lives.
    pub state: StateSection,
    /// `[http]`: the metrics and health endpoint.
    pub http: HttpSection,
    /// `[output]`: how the Avro output records are framed.
    pub output: OutputSection,
}

/// `[normalize]`: settings every normaliser shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeSection {
    /// ISO 3166 alpha-2 region for phone numbers without a country code
    /// (`0170 1234567` → `+491701234567` with `DE`).
    pub default_region: String,
    /// IANA time zone (`Europe/Berlin`) for timestamps written without an
    /// offset. Default `UTC`; never the server's local zone.
    pub time_zone: String,
    /// Extra junk identifier values (a shared mailbox, a hotline number),
    /// trimmed and lower-case, compared after normalisation.
    pub blocked_values: Vec<String>,
    /// Keyword → issue topic, e.g. `configurator = "configurator"`,
    /// `"geld zurück" = "refund"`: an event without a topic whose free text
    /// (message, body, subject, comment) contains the keyword gets the topic.
    /// The text is read for this only and never copied.
    pub keyword_topics: std::collections::BTreeMap<String, String>,
}

impl Default for NormalizeSection {
    fn default() -> Self {
        NormalizeSection {
            default_region: "DE".into(),
            time_zone: "UTC".into(),
            blocked_values: Vec::new(),
            keyword_topics: std::collections::BTreeMap::new(),
        }
    }
}

impl NormalizeSection {
    /// The normaliser settings, or a message naming the field and the fix.
    pub fn to_normalize_config(&self) -> Result<NormalizeConfig, String> {
        let time_zone = jiff::tz::TimeZone::get(self.time_zone.trim()).map_err(|_| {
            format!(
                "field `normalize.time_zone`: `{}` is not an IANA time zone name \
                 (use e.g. \"UTC\" or \"Europe/Berlin\")",
                self.time_zone
            )
        })?;
        let cfg = NormalizeConfig {
            default_region: self.default_region.trim().to_ascii_uppercase(),
            time_zone,
            blocked_values: self.blocked_values.clone(),
            keyword_topics: self
                .keyword_topics
                .iter()
                .map(|(k, t)| (k.clone(), t.clone()))
                .collect(),
        };
        cfg.validate().map_err(|e| {
            let field = if e.starts_with("blocked") {
                "blocked_values"
            } else {
                "default_region"
            };
            format!("field `normalize.{field}`: {e}")
        })?;
        Ok(cfg)
    }
}

/// `[state]`: the local state of the stitcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// Directory of the RocksDB state (one database per instance, keys
    /// prefixed by partition). Must be writable.
    pub dir: PathBuf,
    /// Write every state change to the stage's changelog topic
    /// (`<application_id>.identity-changelog`, `.stitch-changelog`) and restore a
    /// partition from it when the partition is assigned. Needed for more than
    /// one instance and for moving to a new machine; costs an extra produce of
    /// the changed state per batch.
    pub changelog: bool,
    /// Standby replicas: keep the state of every partition this instance
    /// does not own warm from the changelogs, so that taking one over after
    /// a failure catches up a few batches instead of restoring from the
    /// beginning. Every instance then holds all of the state (disk) and reads
    /// every changelog (network). Needs `changelog`.
    pub standby: bool,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            dir: PathBuf::from("/var/lib/journey"),
            changelog: true,
            standby: false,
        }
    }
}

/// `[http]`: the Prometheus `/metrics`, `/health` and `/ready` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// `host:port` to listen on; port 0 picks a free port (printed at start).
    pub listen: String,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: "0.0.0.0:9464".into(),
        }
    }
}

/// How Avro output records are framed (see `docs/avro.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FramingKind {
    /// Avro single-object encoding: `C3 01`, the schema fingerprint, the datum.
    #[default]
    SingleObject,
    /// Confluent wire format: `00`, a 4-byte schema id from the registry, the datum.
    Confluent,
}

/// Schema registry ids per record type, for `framing = "confluent"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaIds {
    pub journey_event: u32,
    pub handover: u32,
    pub journey_alert: u32,
    pub merge_record: u32,
}

/// `[output]`: framing of the Avro records on the output topics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    /// `single_object` (default, needs no registry) or `confluent`.
    pub framing: FramingKind,
    /// `[output.schema_ids]`: required with `confluent`, the ids under which
    /// the `.avsc` files of `schemas/` are registered.
    pub schema_ids: Option<SchemaIds>,
}

impl OutputSection {
    /// The framing the pipeline takes.
    ///
    /// The pipeline takes one [`Framing`] for every output record type, so
    /// with `confluent` all four schema ids must currently be equal (a
    /// registry with one id per subject needs a framing per record type in
    /// `journey_kafka::PipelineConfig`).
    pub fn framing(&self) -> Result<Framing, String> {
        match (self.framing, self.schema_ids) {
            (FramingKind::SingleObject, _) => Ok(Framing::SingleObject),
            (FramingKind::Confluent, None) => Err(
                "field `output.schema_ids`: required with framing = \"confluent\"; add \
                 [output.schema_ids] with journey_event, handover, journey_alert and merge_record"
                    .into(),
            ),
            (FramingKind::Confluent, Some(ids)) => {
                let all = [
                    ids.journey_event,
                    ids.handover,
                    ids.journey_alert,
                    ids.merge_record,
                ];
                if all.iter().any(|&id| id != all[0]) {
                    return Err(
                        "field `output.schema_ids`: the pipeline supports one schema id for \
                                all output record types so far; register the schemas under one id \
                                or use framing = \"single_object\""
                            .into(),
                    );
                }
                Ok(Framing::Confluent { schema_id: all[0] })
            }
        }
    }
}

/// Why the configuration could not be loaded or is not valid.
#[derive(Debug)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The figment of the defaults, the file (when given) and the environment.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        f.merge(
            Env::prefixed(ENV_PREFIX)
                .split("__")
                .filter(|key| SECTIONS.contains(&section_of(&key.as_str().to_ascii_lowercase()))),
        )
    }

    /// Loads defaults → `file` → environment and validates the result.
    ///
    /// # Errors
    /// Every problem found, one per line, each naming the field (its path,
    /// e.g. `kafka.bootstrap_servrs`) and where the value came from.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
        }
        let cfg: Config = Self::figment(file).extract().map_err(|e| {
            let lines: Vec<String> = e.into_iter().map(|e| describe(&e)).collect();
            ConfigError(lines.join("\n"))
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    /// A message per problem naming the field and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.kafka.bootstrap_servers.trim().is_empty() {
            problems.push(
                "field `kafka.bootstrap_servers`: must not be empty (e.g. \"broker-1:9092,broker-2:9092\")".into(),
            );
        }
        if self.kafka.application_id.trim().is_empty() {
            problems.push(
                "field `kafka.application_id`: must not be empty (e.g. \"journey-stitch\")".into(),
            );
        }
        if let Err(e) = self.topics.validate() {
            problems.push(e);
        }
        if self.batch.max_records == 0 {
            problems.push("field `batch.max_records`: must be at least 1 (default 5000)".into());
        }
        if let Err(e) = self.normalize.to_normalize_config() {
            problems.push(e);
        }
        if self.kafka.transactions && !self.state.changelog {
            problems.push(
                "field `kafka.transactions`: the transactional mode needs `state.changelog = true`"
                    .into(),
            );
        }
        if self.state.standby && !self.state.changelog {
            problems.push(
                "field `state.standby`: standby replicas follow the changelogs; set `state.changelog = true`"
                    .into(),
            );
        }
        if self.state.dir.as_os_str().is_empty() {
            problems.push("field `state.dir`: must name a writable directory".into());
        }
        if self.http.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "field `http.listen`: `{}` is not a `host:port` socket address (e.g. \"0.0.0.0:9464\")",
                self.http.listen
            ));
        }
        if let Err(e) = self.output.framing() {
            problems.push(e);
        }
        problems.extend(self.identity.validate());
        problems.extend(self.rules.validate().into_iter().map(|p| p.to_string()));
        if self.lateness.allowed_hours < 1 {
            problems.push(
                "field `lateness.allowed_hours`: must be at least 1 (default 720, 30 days)".into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems.join("\n")))
        }
    }

    /// The pipeline's configuration (call [`Config::validate`] first).
    ///
    /// # Errors
    /// The validation message when a value is not usable.
    pub fn into_pipeline_config(self) -> Result<PipelineConfig, ConfigError> {
        let normalize = self.normalize.to_normalize_config().map_err(ConfigError)?;
        let framing = self.output.framing().map_err(ConfigError)?;
        Ok(PipelineConfig {
            kafka: self.kafka,
            topics: self.topics,
            batch: self.batch,
            normalize,
            stitch: StitchConfig {
                identity: self.identity,
                rules: self.rules,
                lateness: self.lateness,
            },
            state_dir: self.state.dir,
            framing,
            changelog: self.state.changelog,
            standby: self.state.standby,
        })
    }
}

/// The first level of an environment key, whether or not `__` was already turned into `.`.
fn section_of(key: &str) -> &str {
    let end = [key.find('.'), key.find("__")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(key.len());
    &key[..end]
}

/// One figment error as a line: the field path first, then what is wrong and where it came from.
fn describe(e: &figment::Error) -> String {
    let path = if e.path.is_empty() {
        String::new()
    } else {
        format!("field `{}`: ", e.path.join("."))
    };
    let source = match &e.metadata {
        Some(md) => match &md.source {
            Some(src) => format!(" (from {} {src})", md.name),
            None => format!(" (from {})", md.name),
        },
        None => String::new(),
    };
    let mut msg = e.kind.to_string();
    if let figment::error::Kind::UnknownField(_, expected) = &e.kind {
        if !expected.is_empty() {
            msg = format!("{msg}; remove it or fix its spelling");
        }
    }
    format!("{path}{msg}{source}")
}
