//! Tests of the service configuration: defaults, file, environment, errors.
// figment's Jail dictates the closures' error type.
#![allow(clippy::result_large_err)]

use super::*;

/// Runs `f` with a jail: a temporary working directory and a clean environment
/// for `JOURNEY_*` variables.
fn jail(f: impl FnOnce(&mut figment::Jail) -> figment::error::Result<()>) {
    figment::Jail::expect_with(f);
}

#[test]
fn defaults_load_and_validate() {
    jail(|_| {
        let cfg = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.normalize.default_region, "DE");
        assert_eq!(cfg.state.dir, PathBuf::from("/var/lib/journey"));
        assert_eq!(cfg.http.listen, "0.0.0.0:9464");
        let p = cfg.into_pipeline_config().map_err(|e| e.to_string())?;
        assert_eq!(p.framing, Framing::SingleObject);
        assert_eq!(p.topics.raw.len(), 6);
        Ok(())
    });
}

#[test]
fn file_then_environment_override() {
    jail(|j| {
        j.create_file(
            "journey.toml",
            r#"
            [kafka]
            bootstrap_servers = "file:9092"
            [kafka.librdkafka]
            "security.protocol" = "SASL_SSL"
            [normalize]
            time_zone = "Europe/Berlin"
            "#,
        )?;
        j.set_env("JOURNEY_KAFKA__BOOTSTRAP_SERVERS", "env:9092");
        j.set_env("JOURNEY_TOPICS__PARTITIONS", "12");
        j.set_env("JOURNEY_LOG", "debug"); // not a section: ignored
        let cfg = Config::load(Some(Path::new("journey.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(cfg.kafka.bootstrap_servers, "env:9092");
        assert_eq!(
            cfg.kafka
                .librdkafka
                .get("security.protocol")
                .map(String::as_str),
            Some("SASL_SSL")
        );
        assert_eq!(cfg.topics.partitions, 12);
        let p = cfg.into_pipeline_config().map_err(|e| e.to_string())?;
        assert_eq!(p.normalize.time_zone.iana_name(), Some("Europe/Berlin"));
        Ok(())
    });
}

#[test]
fn unknown_field_is_rejected_with_its_name() {
    jail(|j| {
        j.create_file("journey.toml", "[kafka]\nbootstrap_servrs = \"x:1\"\n")?;
        let err = Config::load(Some(Path::new("journey.toml")))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("bootstrap_servrs"), "{err}");
        assert!(err.contains("kafka"), "{err}");

        j.set_env("JOURNEY_RULES__DETRACTOR__NPS_MAXX", "5");
        let err = Config::load(None).expect_err("must fail").to_string();
        assert!(err.contains("nps_maxx"), "{err}");
        assert!(err.contains("rules.detractor"), "{err}");
        Ok(())
    });
}

#[test]
fn bad_region_and_time_zone_are_named() {
    jail(|j| {
        j.create_file(
            "journey.toml",
            "[normalize]\ndefault_region = \"Germany\"\ntime_zone = \"Mars/Olympus\"\n",
        )?;
        let err = Config::load(Some(Path::new("journey.toml")))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("normalize.time_zone"), "{err}");
        assert!(err.contains("Mars/Olympus"), "{err}");
        j.create_file(
            "journey.toml",
            "[normalize]\ndefault_region = \"Germany\"\n",
        )?;
        let err = Config::load(Some(Path::new("journey.toml")))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("normalize.default_region"), "{err}");
        Ok(())
    });
}

#[test]
fn transactions_and_standby_need_the_changelog() {
    let mut cfg = Config::default();
    cfg.kafka.transactions = true;
    cfg.state.standby = true;
    cfg.validate().expect("both work with the changelog");
    cfg.state.changelog = false;
    let err = cfg.validate().expect_err("must fail").to_string();
    assert!(err.contains("kafka.transactions"), "{err}");
    assert!(err.contains("state.standby"), "{err}");
}

#[test]
fn confluent_framing_needs_schema_ids() {
    let mut cfg = Config::default();
    cfg.output.framing = FramingKind::Confluent;
    let err = cfg.validate().expect_err("must fail").to_string();
    assert!(err.contains("output.schema_ids"), "{err}");
    cfg.output.schema_ids = Some(SchemaIds {
        journey_event: 7,
        handover: 7,
        journey_alert: 7,
        merge_record: 7,
    });
    assert_eq!(
        cfg.output.framing(),
        Ok(Framing::Confluent { schema_id: 7 })
    );
}

#[test]
fn missing_file_is_reported() {
    let err = Config::load(Some(Path::new("/nonexistent/journey.toml")))
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("/nonexistent/journey.toml"), "{err}");
}

#[test]
fn example_file_parses_and_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("journey.example.toml");
    jail(|_| {
        let cfg = Config::load(Some(&path)).map_err(|e| e.to_string())?;
        assert_eq!(cfg.normalize.time_zone, "Europe/Berlin");
        assert_eq!(cfg.topics.raw.len(), 6);
        Ok(())
    });
}
