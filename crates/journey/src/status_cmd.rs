//! `journey status`: what the consumer groups of a running pipeline hold and
//! how far behind they are, read from the cluster, plus the size of the local
//! state directory when it exists on this host.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;

/// Prints the status as a table, or as JSON with `json`.
pub fn run(config: &Path, json: bool) -> anyhow::Result<()> {
    let cfg = Config::load(Some(config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stages = journey_kafka::status::status(&cfg.kafka, &cfg.topics)
        .context("cannot read the consumer groups")?;
    let state_bytes = dir_size(&cfg.state.dir);
    if json {
        let doc = serde_json::json!({ "application_id": cfg.kafka.application_id, "stages": stages, "local_state_bytes": state_bytes });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "application {} on {}",
        cfg.kafka.application_id, cfg.kafka.bootstrap_servers
    );
    for s in &stages {
        println!(
            "\n{:<10} group {}  state {}  members {}  lag {}",
            s.stage,
            s.group,
            s.state,
            s.members.len(),
            s.lag
        );
        for m in &s.members {
            println!(
                "  member {} ({}): {}",
                m.client_id,
                m.host,
                m.partitions.join(" ")
            );
        }
        for p in s
            .partitions
            .iter()
            .filter(|p| p.lag > 0 || p.committed.is_none())
        {
            let committed = p
                .committed
                .map_or_else(|| "none".to_string(), |c| c.to_string());
            println!(
                "  {}/{}: committed {committed}, end {}, lag {}",
                p.topic, p.partition, p.end, p.lag
            );
        }
    }
    match state_bytes {
        Some(b) => println!(
            "\nlocal state {}: {:.1} MiB",
            cfg.state.dir.display(),
            b as f64 / 1_048_576.0
        ),
        None => println!(
            "\nlocal state {}: not on this host",
            cfg.state.dir.display()
        ),
    }
    Ok(())
}

fn dir_size(dir: &Path) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let meta = entry.metadata().ok()?;
        total += if meta.is_dir() {
            dir_size(&entry.path()).unwrap_or(0)
        } else {
            meta.len()
        };
    }
    Some(total)
}
