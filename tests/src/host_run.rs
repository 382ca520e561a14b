//! A tern running on this host with a tiny guest and its API socket, for the host API tests.
//! Test support: it panics with a message on anything unexpected, as a test should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::client::{Client, Response};
use serde_json::Value;

/// The tern binary: `$TERN_BIN`, else the release build in Cargo's target directory.
pub fn tern_bin() -> PathBuf {
    crate::paths::tern_bin().0
}

/// A running tern, killed (and its files removed) when dropped.
#[derive(Debug)]
pub struct RunningTern {
    /// The process.
    pub child: Child,
    /// Its scratch directory.
    pub dir: PathBuf,
    /// Its API socket.
    pub sock: PathBuf,
    /// Where its console output goes.
    pub console: PathBuf,
    /// A client on its socket.
    pub client: Client,
    /// Where its stderr goes, if not to the test's.
    pub stderr: Option<PathBuf>,
}

impl RunningTern {
    /// Starts tern with `kernel` (an image) and `args`, and waits for its API.
    pub fn start(name: &str, kernel: &[u8], args: &[&str]) -> Self {
        Self::spawn(name, kernel, args, None, false, None)
    }

    /// Like [`RunningTern::start`], with tern's stdout going to `stdout` instead of the
    /// console file, and its stderr to a file ([`RunningTern::stderr_text`]).
    pub fn start_with_stdout(name: &str, kernel: &[u8], args: &[&str], stdout: Stdio) -> Self {
        Self::spawn(name, kernel, args, Some(stdout), true, None)
    }

    /// Like [`Self::start`], with tern's log at `level` (TERN_LOG) kept in its stderr file
    /// (see [`Self::log`]) instead of shown.
    pub fn start_logging(name: &str, kernel: &[u8], args: &[&str], level: &str) -> Self {
        Self::spawn(name, kernel, args, None, true, Some(level))
    }

    /// Starts tern, its stderr in `stderr.txt` if `stderr_to_file`, with TERN_LOG=`level`.
    fn spawn(
        name: &str,
        kernel: &[u8],
        args: &[&str],
        stdout: Option<Stdio>,
        stderr_to_file: bool,
        level: Option<&str>,
    ) -> Self {
        let dir = std::env::temp_dir().join(format!("tern-host-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("guest.elf");
        std::fs::write(&image, kernel).unwrap();
        let sock = dir.join("api.sock");
        let console = dir.join("console.out");
        let stderr = stderr_to_file.then(|| dir.join("stderr.txt"));
        let stdout =
            stdout.unwrap_or_else(|| Stdio::from(std::fs::File::create(&console).unwrap()));
        let stderr_stdio = match &stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::inherit(),
        };
        let mut command = Command::new(tern_bin());
        command
            .args([
                "--kernel",
                image.to_str().unwrap(),
                "--api-sock",
                sock.to_str().unwrap(),
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr_stdio);
        if let Some(level) = level {
            command.env("TERN_LOG", level);
        }
        let child = command.spawn().unwrap();
        let client = Client::new(&sock).unwrap();
        let tern = Self {
            child,
            dir,
            sock,
            console,
            client,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tern.client.get("/v1/vm").is_err() {
            assert!(Instant::now() < deadline, "tern's API did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        tern
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let r = self.client.get(path).unwrap();
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: Value) -> Response {
        self.client.put_json(path, &body).unwrap()
    }

    /// Any request; the status and the body as JSON (null if it is not JSON).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let r = self
            .client
            .request(method, path, body.as_deref().map(str::as_bytes))
            .unwrap();
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    /// What tern logged so far (started with [`Self::start_logging`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default()
    }

    /// Bytes the guest wrote to its console.
    pub fn heartbeats(&self) -> u64 {
        std::fs::metadata(&self.console)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Waits until the guest has written at least `more` more bytes to its console.
    pub fn wait_for_heartbeats(&self, more: u64) {
        let start = self.heartbeats();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.heartbeats() < start + more {
            assert!(
                Instant::now() < deadline,
                "no heartbeats: the guest is not running"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// vCPU `vcpu`'s thread id, once its thread has started.
    pub fn vcpu_tid(&self, vcpu: usize) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let tid = self.get("/v1/vcpus")[vcpu]["thread_id"].as_i64().unwrap();
            if tid > 0 {
                return tid;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every thread of tern: its name (`comm`) and the CPUs it may run on
    /// (`Cpus_allowed_list` of `/proc/<pid>/task/<tid>/status`).
    pub fn thread_affinities(&self) -> Vec<(String, String)> {
        let task = format!("/proc/{}/task", self.child.id());
        let mut threads: Vec<(String, String)> = std::fs::read_dir(&task)
            .unwrap()
            .filter_map(|entry| {
                let dir = entry.ok()?.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                let status = std::fs::read_to_string(dir.join("status")).ok()?;
                let cpus = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
                Some((name.trim().to_string(), cpus.trim().to_string()))
            })
            .collect();
        threads.sort();
        threads
    }

    /// What tern wrote to stderr so far (when started with [`RunningTern::start_with_stdout`]).
    pub fn stderr_text(&self) -> String {
        self.stderr
            .as_ref()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default()
    }

    /// CPU time (user and system) that thread `tid` of tern has used, in seconds.
    pub fn thread_cpu_s(&self, tid: i64) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/task/{tid}/stat", self.child.id())).unwrap();
        // The fields after the command name (which may hold spaces) start with the state.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a system constant.
        let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ticks as f64 / per_s as f64
    }

    /// CPU time of tern's main thread (its thread id is the process id), in seconds.
    pub fn main_thread_cpu_s(&self) -> f64 {
        self.thread_cpu_s(i64::from(self.child.id()))
    }

    /// Sends SIGTERM and waits (at most 10 s) for tern to exit: its status and how long it took.
    pub fn sigterm(&mut self) -> (i32, Duration) {
        let start = Instant::now();
        let pid = self.child.id() as i32;
        // SAFETY: kill only sends a signal to our own child, which has not been reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let status = self.wait_exit();
        (status, start.elapsed())
    }

    /// Waits for tern to exit; its status.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "tern did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningTern {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
