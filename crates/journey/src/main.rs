//! `journey`: the journey-stitch command line. Parses the arguments, installs
//! the tracing subscriber (the only place that does) and hands over to one
//! module per subcommand: `service` (run), `demo`, `replay`,
//! `normalize_cmd` (normalize) and `bench`. `embedded` is the in-process
//! broker harness the demo, replay and bench share; `config` and `http` serve
//! `run`.

mod bench;
mod config;
mod demo;
mod embedded;
mod http;
mod normalize_cmd;
mod output_files;
mod replay;
mod rules_cmd;
mod service;
mod shadow;
mod status_cmd;
mod timeline;
mod unmerge_cmd;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use journey_core::model::Channel;
use journey_core::normalize::Format;
use tracing_subscriber::EnvFilter;

/// Stitches customer journeys across chat, phone, email, web, store and survey events on Kafka.
///
/// journey-stitch reads the raw contact events of six channels from Kafka, turns each into one
/// canonical record and stitches every customer's journey across channels and identifiers.
/// It emits handovers (context for the next agent), alerts when a journey breaks (repeat
/// contact, channel hopping, broken promise, detractor, abandoned checkout, ...) and identity
/// merges, all as Avro on Kafka.
///
/// New here? `journey demo` runs everything on an in-process broker with generated data.
#[derive(Debug, Parser)]
#[command(name = "journey", version, about, long_about, propagate_version = true)]
struct Cli {
    /// Log line format on stderr. The level comes from JOURNEY_LOG (or RUST_LOG), default `info`,
    /// e.g. JOURNEY_LOG=journey_kafka=debug.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service against a real Kafka cluster until SIGTERM or SIGINT.
    ///
    /// Reads the TOML config (environment variables JOURNEY_<SECTION>__<FIELD> override it,
    /// e.g. JOURNEY_KAFKA__BOOTSTRAP_SERVERS), validates it, serves Prometheus /metrics,
    /// /health and /ready, and runs the pipeline. Every field is listed with a comment in
    /// crates/journey/journey.example.toml.
    Run {
        /// The TOML configuration file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show the consumer groups of a running pipeline: members, the partitions each
    /// holds, committed offsets and lag per stage, and the local state size.
    Status {
        /// The TOML configuration file of the service.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Undo a wrong identity link: A and B never end up in one customer again.
    ///
    /// Writes a command to the control topic ([topics] control). The running pipeline
    /// re-derives the affected customers and journeys as if the link had never been
    /// made, emits a split record on the merges topic and corrects handovers and
    /// alerts. Identifiers are TYPE:VALUE (customer_number, loyalty_id, user_id, email,
    /// phone, device_id, vendor_contact, anonymous_id), normalised like event input.
    Unmerge {
        /// The TOML configuration file of the service.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// One identifier, e.g. customer_number:B-7.
        #[arg(long, value_name = "TYPE:VALUE")]
        a: String,
        /// The identifier wrongly linked to it, e.g. "phone:+49 170 1111111".
        #[arg(long, value_name = "TYPE:VALUE")]
        b: String,
        /// Why (kept with the command for audit; never copied to outputs).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Run everything on an in-process broker with generated data, then show a summary.
    ///
    /// Generates a realistic stream (customers with noisy identifiers on all six channels,
    /// scripted breakage stories, a few malformed records), produces it to an in-process
    /// Kafka broker, runs the full pipeline, prints events per channel, customers, merges,
    /// handovers, alerts per rule and three example journeys, and writes the outputs as JSON
    /// lines into --out.
    Demo {
        /// Number of generated customers (about 16 events each).
        #[arg(long, default_value_t = 2000)]
        customers: usize,
        /// Seed of the generator: the same seed gives the same input.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Folder for handovers.jsonl, alerts.jsonl, merges.jsonl, identity-reviews.jsonl, journeys.jsonl and dlq.jsonl.
        #[arg(long, value_name = "DIR", default_value = "journey-demo-out")]
        out: PathBuf,
        /// Partitions of every topic.
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// Give up when the pipeline has not finished after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        timeout: u64,
    },
    /// Feed raw JSON-lines files through the full pipeline and write the outputs.
    ///
    /// Each line is one raw record in the native format (docs/native-format.md). Its channel
    /// is the line's "channel" field when present (the line is then sent as-is), else the one
    /// channel named in the file name (chat.jsonl, 2026-11-chat.jsonl). Empty lines are
    /// skipped; every other line that cannot be processed ends up in dlq.jsonl with a reason.
    /// Writes handovers.jsonl, alerts.jsonl, merges.jsonl, identity-reviews.jsonl, journeys.jsonl and dlq.jsonl;
    /// the same input always gives byte-identical files.
    Replay {
        /// Input files (JSON lines).
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<PathBuf>,
        /// Folder for the output files (created when missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Partitions of every topic (default: topics.partitions of the config, 6).
        #[arg(long)]
        partitions: Option<i32>,
        /// A service config whose [topics], [batch], [normalize], [identity], [rules] and
        /// [output] to use ([kafka] is replaced by the in-process broker).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Shadow mode: a candidate rules file (`[rules]` section, see `journey rules check`).
        /// After the replay with the current rules (--config or defaults), prints which alerts
        /// would appear and disappear under the candidate: rule, customer and summary per
        /// alert, then counts per rule.
        #[arg(long, value_name = "CANDIDATE")]
        rules: Option<PathBuf>,
        /// Give up when the pipeline has not finished after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        timeout: u64,
    },
    /// Work with rules files (docs/rules.md).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Normalise raw JSON lines of one channel and print the canonical events (no Kafka).
    ///
    /// Prints each canonical event as pretty JSON on stdout and `line N: <error>` on stderr
    /// for each line that cannot be normalised; exits with 1 if any line failed.
    Normalize {
        /// The channel the lines come from: chat, phone, email, web, store or survey.
        #[arg(long, value_parser = parse_channel)]
        channel: Channel,
        /// The input format of the lines.
        #[arg(long, value_parser = parse_format, default_value = "native")]
        format: Format,
        /// Region for phone numbers without a country code (ISO 3166 alpha-2).
        #[arg(long, default_value = "DE")]
        region: String,
        /// IANA time zone for timestamps without an offset.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// JSON-lines file to read, or `-` for stdin.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Treat the whole file as one payload (a raw RFC 5322 email, a
        /// pretty-printed webhook body) instead of one payload per line.
        #[arg(long)]
        whole: bool,
    },
    /// Measure throughput and latency on the in-process broker.
    ///
    /// Loads N generated raw events, then measures (a) a plain consumer draining the raw
    /// topics, (b) a pass-through with the same Kafka hops and no logic, (c) the full pipeline
    /// processing them until idle, and the ratios, and (d) the
    /// event → output latency (p50/p99) while producing at a fixed rate for ~10 s.
    Bench {
        /// Number of raw events to load.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Partitions of every topic. The embedded broker keeps at most 100,000
        /// records or 5 MB per partition, so a million events need about 16.
        #[arg(long, default_value_t = 16)]
        partitions: i32,
        /// Events per second during the latency measurement.
        #[arg(long, default_value_t = 2000)]
        latency_rate: u32,
        /// Seconds of the latency measurement.
        #[arg(long, default_value_t = 10)]
        latency_secs: u32,
        /// Seed of the generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Append the figures as a markdown table row to this file (e.g. BENCHMARKS.md).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Give up when the pipeline has not finished after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 1800)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check a rules file: the `[rules]` section (other service sections are ignored).
    ///
    /// Reports syntax errors, unknown fields, wrong types and values out of range as
    /// `FILE:LINE:COLUMN: field `rules.…`: message`; exits with 1 if there is any.
    Check {
        /// The TOML file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse()
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn init_tracing(format: LogFormat) {
    let filter = std::env::var("JOURNEY_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config } => service::run(&config)?,
        Command::Status { config, json } => status_cmd::run(&config, json)?,
        Command::Unmerge {
            config,
            a,
            b,
            reason,
        } => unmerge_cmd::run(&config, &a, &b, &reason)?,
        Command::Demo {
            customers,
            seed,
            out,
            partitions,
            timeout,
        } => {
            demo::run(demo::DemoArgs {
                customers,
                seed,
                out,
                partitions,
                timeout: Duration::from_secs(timeout),
            })?;
        }
        Command::Replay {
            inputs,
            out,
            partitions,
            config,
            rules,
            timeout,
        } => {
            let files = replay::run(replay::ReplayArgs {
                inputs,
                out,
                partitions,
                config,
                rules,
                timeout: Duration::from_secs(timeout),
            })?;
            for f in files {
                println!("{}", f.display());
            }
        }
        Command::Rules {
            command: RulesCommand::Check { file },
        } => {
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            if !rules_cmd::run_check(&file, &mut out, &mut err)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Normalize {
            channel,
            format,
            region,
            time_zone,
            file,
            whole,
        } => return normalize(channel, format, region, time_zone, file, whole),
        Command::Bench {
            events,
            partitions,
            latency_rate,
            latency_secs,
            seed,
            record,
            timeout,
        } => {
            bench::run(bench::BenchArgs {
                events,
                partitions,
                latency_rate,
                latency_secs,
                seed,
                record,
                timeout: Duration::from_secs(timeout),
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn normalize(
    channel: Channel,
    format: Format,
    region: String,
    time_zone: String,
    file: PathBuf,
    whole: bool,
) -> anyhow::Result<ExitCode> {
    let section = config::NormalizeSection {
        default_region: region,
        time_zone,
        ..config::NormalizeSection::default()
    };
    let cfg = section.to_normalize_config().map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.replace("field `normalize.default_region`", "--region")
                .replace("field `normalize.time_zone`", "--time-zone")
        )
    })?;
    let (input, name): (Box<dyn BufRead>, String) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), "stdin".into())
    } else {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        (
            Box::new(std::io::BufReader::new(f)),
            file.display().to_string(),
        )
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let tally = if whole {
        normalize_cmd::run_whole(channel, format, &name, input, &cfg, &mut out, &mut err)?
    } else {
        normalize_cmd::run(channel, format, &name, input, &cfg, &mut out, &mut err)?
    };
    tracing::debug!(
        lines = tally.lines,
        events = tally.events,
        failed = tally.failed,
        "normalized"
    );
    Ok(if tally.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
