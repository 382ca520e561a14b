//! tern running in L1 under the driver: started once per lab run with the guest workload,
//! its output (stdout and stderr through one pipe) followed on a thread, and stopped (killed
//! if need be) on every way out.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::console::{worth_passing_on, ConsoleState};
use super::records::{Failure, FailureKind};

/// The VM the soak runs: its shape and the images it boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSpec {
    /// The tern binary.
    pub tern: PathBuf,
    /// Guest kernel.
    pub kernel: PathBuf,
    /// Guest initramfs.
    pub initramfs: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// Guest nodes (one vCPU each; guest node N bound to host node N modulo the host's).
    pub guest_nodes: u32,
    /// Host nodes.
    pub host_nodes: u32,
    /// Memory per guest node, MiB.
    pub node_mib: u64,
    /// Memory the workload on each guest CPU checks, MiB.
    pub workload_mib: u64,
    /// `--memory-backing`.
    pub backing: &'static str,
}

impl VmSpec {
    /// tern's arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--kernel".into(),
            self.kernel.display().to_string(),
            "--initramfs".into(),
            self.initramfs.display().to_string(),
            "--api-sock".into(),
            self.socket.display().to_string(),
            "--memory-backing".into(),
            self.backing.into(),
        ];
        for g in 0..self.guest_nodes {
            args.push("--numa".into());
            args.push(format!(
                "node={g},vcpus={g},memory={}M,host-node={}",
                self.node_mib,
                g % self.host_nodes.max(1)
            ));
        }
        args.push("--cmdline".into());
        args.push(format!(
            "console=ttyS0 reboot=k panic=1 pci=off quiet tern_task=fill tern_mib={} \
             tern_seconds=1000000",
            self.workload_mib
        ));
        args
    }
}

/// A running tern.
#[derive(Debug)]
pub struct Tern {
    child: Child,
    console: Arc<Mutex<ConsoleState>>,
    reader: Option<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

/// Locks `m`, taking the state even if a thread panicked holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Tern {
    /// Starts tern as `spec` says. Prints `TERN-START` first, as the lab runner expects
    /// before a guest boots.
    pub fn start(spec: &VmSpec) -> std::io::Result<Self> {
        let _ = std::fs::remove_file(&spec.socket);
        Self::spawn(&spec.tern, &spec.args())
    }

    /// Runs `program` with `args` as the VMM, following its output.
    pub fn spawn(program: &Path, args: &[String]) -> std::io::Result<Self> {
        let (reader, writer) = std::io::pipe()?;
        println!("TERN-START at={}", uptime_s());
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .spawn()?;
        let console = Arc::new(Mutex::new(ConsoleState::default()));
        let shared = Arc::clone(&console);
        let reader = thread::Builder::new()
            .name("tern-output".into())
            .spawn(move || follow(BufReader::new(reader), &shared))?;
        Ok(Self {
            child,
            console,
            reader: Some(reader),
            exit: None,
        })
    }

    /// tern's process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What its output said so far.
    pub fn console(&self) -> ConsoleState {
        lock(&self.console).clone()
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `limit` for it to end by itself.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.exited()
    }

    /// Why it ended while it should have run: a guest crash (its message, or exit status 2)
    /// or tern's own end; `what` says what the driver was doing.
    pub fn death(&mut self, what: &str) -> Option<Failure> {
        let status = self.exited()?;
        // Let the output thread take in tern's last words.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let console = self.console();
        let tail: Vec<&str> = console
            .tail
            .iter()
            .rev()
            .take(12)
            .rev()
            .map(String::as_str)
            .collect();
        let (kind, said) = match &console.crash {
            Some(line) => (FailureKind::GuestCrash, line.clone()),
            None if status.code() == Some(2) => (FailureKind::GuestCrash, "exit status 2".into()),
            None => (FailureKind::TernDied, format!("tern ended: {status}")),
        };
        Some(Failure::new(
            kind,
            format!(
                "{said} while {what}; tern's last lines: {}",
                tail.join(" | ")
            ),
        ))
    }

    /// Kills it if it still runs and waits for it.
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Follows tern's output to its end, passing on the lines L1's console should show.
fn follow(reader: impl BufRead, console: &Mutex<ConsoleState>) {
    for line in reader.split(b'\n') {
        let Ok(bytes) = line else {
            break;
        };
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\r');
        if worth_passing_on(text) {
            println!("{text}");
        }
        lock(console).observe(text, Instant::now());
    }
}

/// L1's uptime in seconds, as /proc/uptime gives it.
pub fn uptime_s() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "0".into())
}

/// Whether `path` exists, for a clear error before starting.
pub fn require(path: &Path, what: &str) -> Result<(), String> {
    if path.exists() {
        Ok(())
    } else {
        Err(format!("{what} {} does not exist", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_bind_each_guest_node_to_its_host_node() {
        let spec = VmSpec {
            tern: "/usr/local/bin/tern".into(),
            kernel: "/images/bzImage".into(),
            initramfs: "/images/guest.cpio".into(),
            socket: "/tmp/soak.sock".into(),
            guest_nodes: 2,
            host_nodes: 2,
            node_mib: 192,
            workload_mib: 64,
            backing: "anon",
        };
        let args = spec.args().join(" ");
        assert!(
            args.contains("--numa node=0,vcpus=0,memory=192M,host-node=0 --numa node=1,vcpus=1,memory=192M,host-node=1"),
            "{args}"
        );
        assert!(args.contains("--memory-backing anon"), "{args}");
        assert!(args.contains("tern_task=fill tern_mib=64"), "{args}");
    }

    #[test]
    fn follows_a_process_and_tells_its_end() {
        let script = "echo 'TERN-GUEST: hello from the guest'; \
                      echo 'cpu0: HB pass=0 uptime_ms=5 pass_ms=1 errors=0'; exit 2";
        let mut tern = Tern::spawn(Path::new("/bin/sh"), &["-c".into(), script.into()]).unwrap();
        assert!(tern.wait_for_exit(Duration::from_secs(10)).is_some());
        let death = tern.death("testing").unwrap();
        assert_eq!(death.kind, FailureKind::GuestCrash);
        assert!(
            death.detail.contains("exit status 2 while testing"),
            "{}",
            death.detail
        );
        let console = tern.console();
        assert!(console.ready);
        assert_eq!(console.heartbeats(), 1);
    }
}
