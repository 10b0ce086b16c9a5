//! `journey run` child processes for the multi-instance and reliability
//! tests: each instance has its own config, state folder, log and stdout file
//! in the test's temp dir, and can be SIGKILLed, SIGTERMed, SIGSTOPped and
//! SIGCONTed. [`Fleet::supervise`] plays the process supervisor: it restarts
//! an instance that exited on its own (an abort at a fault site, a crash) and,
//! like the Kubernetes liveness probe on `/health` (deploy/k8s), one that
//! stays unhealthy; both are counted so a scenario can report them.
//!
//! Shared by source inclusion:
//! `#[path = "../../../tests/support/instances.rs"] mod instances;` from
//! `crates/journey/tests/*.rs` (uses `CARGO_BIN_EXE_journey`, so only the
//! `journey` package's tests can include it).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Fault injection passed to the children: `JOURNEY_FAULT=<spec>` and
/// `JOURNEY_FAULT_SEED=<seed + start count>` (a new seed per start, so a
/// restarted child does not abort at the same batch again).
#[derive(Debug, Clone)]
pub struct FaultEnv {
    pub spec: String,
    pub seed: u64,
    /// `JOURNEY_FAULT_STALL_MS` for the `stall` site (its default when `None`).
    pub stall_ms: Option<u64>,
}

/// One running `journey run` process.
pub struct Instance {
    pub child: Child,
    pub started: Instant,
    /// Since when `/health` answered "unhealthy" without interruption.
    unhealthy_since: Option<Instant>,
    paused: bool,
}

/// Counts of what happened to the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// Processes started (first starts and restarts).
    pub starts: usize,
    /// SIGKILLs sent by the test.
    pub kills: usize,
    /// Children that exited on their own (abort at a fault site, crash) and were restarted.
    pub exits: usize,
    /// Children restarted because `/health` stayed unhealthy (liveness probe).
    pub liveness_restarts: usize,
}

/// Instances `0..n` of one application on one cluster.
pub struct Fleet {
    pub dir: PathBuf,
    pub bootstrap: String,
    pub app: String,
    pub partitions: i32,
    pub session_timeout_ms: u32,
    /// `None`: the children run without fault injection (`JOURNEY_FAULT` removed).
    pub fault: Option<FaultEnv>,
    /// How long `/health` may stay unhealthy before the supervisor restarts the child.
    pub liveness_grace: Duration,
    /// `None` = not running (never started, killed and not restarted yet, or stopped).
    pub slots: Vec<Option<Instance>>,
    pub counts: FleetCounts,
}

impl Fleet {
    pub fn new(dir: &Path, bootstrap: &str, app: &str, partitions: i32) -> Fleet {
        Fleet {
            dir: dir.to_path_buf(),
            bootstrap: bootstrap.to_string(),
            app: app.to_string(),
            partitions,
            session_timeout_ms: 6_000,
            fault: None,
            liveness_grace: Duration::from_secs(5),
            slots: Vec::new(),
            counts: FleetCounts::default(),
        }
    }

    pub fn config_path(&self, n: usize) -> PathBuf {
        self.dir.join(format!("journey-{n}.toml"))
    }

    pub fn state_dir(&self, n: usize) -> PathBuf {
        self.dir.join(format!("state-{n}"))
    }

    pub fn log_path(&self, n: usize) -> PathBuf {
        self.dir.join(format!("journey-{n}.log"))
    }

    fn stdout_path(&self, n: usize) -> PathBuf {
        self.dir.join(format!("journey-{n}.out"))
    }

    /// Starts instance `n` (its state folder is kept across restarts).
    pub fn start(&mut self, n: usize) {
        if self.slots.len() <= n {
            self.slots.resize_with(n + 1, || None);
        }
        assert!(self.slots[n].is_none(), "instance {n} is already running");
        let config = format!(
            "[kafka]\nbootstrap_servers = \"{}\"\napplication_id = \"{}\"\nsession_timeout_ms = {}\n\n\
             [topics]\npartitions = {}\n\n[state]\ndir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
            self.bootstrap,
            self.app,
            self.session_timeout_ms,
            self.partitions,
            self.state_dir(n).display()
        );
        std::fs::write(self.config_path(n), config).expect("config written");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(n))
            .expect("log");
        let _ = writeln!(
            &log,
            "===== start #{} of instance {n} =====",
            self.counts.starts + 1
        );
        // stdout names the HTTP address; a fresh file per start.
        let stdout = std::fs::File::create(self.stdout_path(n)).expect("stdout file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_journey"));
        cmd.args(["run", "--config"])
            .arg(self.config_path(n))
            // Failed offset commits are logged at debug level: I6 needs them.
            .env("JOURNEY_LOG", "info,journey_kafka::stage=debug")
            .stdout(stdout)
            .stderr(log);
        match &self.fault {
            Some(f) => {
                cmd.env("JOURNEY_FAULT", &f.spec).env(
                    "JOURNEY_FAULT_SEED",
                    (f.seed + self.counts.starts as u64).to_string(),
                );
                match f.stall_ms {
                    Some(ms) => cmd.env("JOURNEY_FAULT_STALL_MS", ms.to_string()),
                    None => cmd.env_remove("JOURNEY_FAULT_STALL_MS"),
                };
            }
            None => {
                cmd.env_remove("JOURNEY_FAULT")
                    .env_remove("JOURNEY_FAULT_SEED");
            }
        }
        let child = cmd.spawn().expect("journey run starts");
        self.counts.starts += 1;
        self.slots[n] = Some(Instance {
            child,
            started: Instant::now(),
            unhealthy_since: None,
            paused: false,
        });
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&n| self.slots[n].is_some())
            .collect()
    }

    pub fn is_running(&self, n: usize) -> bool {
        self.slots.get(n).is_some_and(Option::is_some)
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(&mut self, n: usize) {
        if let Some(mut i) = self.slots.get_mut(n).and_then(Option::take) {
            let _ = i.child.kill();
            let _ = i.child.wait();
            self.counts.kills += 1;
            self.note(n, "SIGKILL by the test");
        }
    }

    /// SIGTERM (clean shutdown: drain, flush, commit), SIGKILL after `grace`.
    pub fn terminate(&mut self, n: usize, grace: Duration) {
        if let Some(mut i) = self.slots.get_mut(n).and_then(Option::take) {
            if i.paused {
                signal(&i.child, "CONT");
            }
            signal(&i.child, "TERM");
            let deadline = Instant::now() + grace;
            while i.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if i.child.try_wait().ok().flatten().is_none() {
                self.note(n, "did not stop after SIGTERM, SIGKILL");
                let _ = i.child.kill();
            }
            let _ = i.child.wait();
        }
    }

    /// SIGTERM to every running instance at once, then waits for all.
    pub fn terminate_all(&mut self, grace: Duration) {
        for i in self.slots.iter_mut().flatten() {
            if i.paused {
                signal(&i.child, "CONT");
                i.paused = false;
            }
            signal(&i.child, "TERM");
        }
        for n in self.running() {
            self.terminate(n, grace);
        }
    }

    /// SIGSTOP: the process (and its heartbeats) freezes.
    pub fn pause(&mut self, n: usize) {
        if let Some(i) = self.slots.get_mut(n).and_then(Option::as_mut) {
            signal(&i.child, "STOP");
            i.paused = true;
        }
    }

    /// Waits up to `within` for instance `n` to stop itself (the `freeze`
    /// fault site: state `T` in `/proc`), marks it paused so the supervisor
    /// leaves it alone, and says whether it did. The others are supervised
    /// meanwhile.
    pub fn wait_frozen(&mut self, n: usize, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            let Some(i) = self.slots.get_mut(n).and_then(Option::as_mut) else {
                return false;
            };
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", i.child.id())).unwrap_or_default();
            // The state follows the command name in parentheses.
            if stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
            {
                i.paused = true;
                self.note(n, "froze itself (fault site `freeze`)");
                return true;
            }
            // Not `supervise`: a child that is stopping must not be restarted.
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGCONT.
    pub fn resume(&mut self, n: usize) {
        if let Some(i) = self.slots.get_mut(n).and_then(Option::as_mut) {
            signal(&i.child, "CONT");
            i.paused = false;
            i.unhealthy_since = None;
        }
    }

    /// Restarts every instance that exited on its own, and every instance whose
    /// `/health` has been unhealthy for longer than `liveness_grace`. Returns
    /// how many were restarted.
    pub fn supervise(&mut self) -> usize {
        let mut restarted = 0;
        for n in 0..self.slots.len() {
            let Some(i) = self.slots[n].as_mut() else {
                continue;
            };
            if i.paused {
                continue;
            }
            if let Ok(Some(status)) = i.child.try_wait() {
                self.slots[n] = None;
                self.counts.exits += 1;
                self.note(n, &format!("exited on its own ({status}), restarting"));
                self.start(n);
                restarted += 1;
                continue;
            }
            let addr = http_addr(&self.dir.join(format!("journey-{n}.out")));
            let healthy = addr.map(|a| get_status(a, "/health"));
            match healthy {
                Some(Some(503)) => {
                    let since = *i.unhealthy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > self.liveness_grace {
                        let mut i = self.slots[n].take().expect("running");
                        let _ = i.child.kill();
                        let _ = i.child.wait();
                        self.counts.liveness_restarts += 1;
                        self.note(n, "unhealthy past the liveness grace, SIGKILL and restart");
                        self.start(n);
                        restarted += 1;
                    }
                }
                _ => i.unhealthy_since = None,
            }
        }
        restarted
    }

    /// Sleeps `d` while supervising every 250 ms.
    pub fn sleep_supervised(&mut self, d: Duration) {
        let end = Instant::now() + d;
        loop {
            self.supervise();
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(250)));
        }
    }

    /// The last `lines` lines of every instance's log.
    pub fn log_tails(&self, lines: usize) -> String {
        (0..self.slots.len())
            .map(|n| {
                let text = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
                let mut tail: Vec<&str> = text.lines().rev().take(lines).collect();
                tail.reverse();
                format!(
                    "--- instance {n} ({}) ---\n{}",
                    self.log_path(n).display(),
                    tail.join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A line in the instance's log from the test (what the test did to it).
    fn note(&self, n: usize, what: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .open(self.log_path(n))
        {
            let _ = writeln!(f, "===== test: {what} =====");
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in self.slots.iter_mut().flatten() {
            let _ = i.child.kill();
            let _ = i.child.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status();
}

/// The HTTP address `journey run` printed to stdout.
fn http_addr(stdout: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(stdout).ok()?;
    let at = text.find("http://")?;
    let rest = &text[at + 7..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The status code of `GET path`, `None` when the server does not answer in time.
fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}
