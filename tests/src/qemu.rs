//! Starting QEMU for L1 and making sure it never outlives its run.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::paths;
use crate::spec::LabSpec;

/// The QEMU binary: `$TERN_QEMU`, else the lab's own build (see
/// `resources/build-lab-qemu.sh`: Debian's QEMU has nested-SVM bugs that crash L2 guests and
/// L1 in this lab, fixed by the build's patches).
pub fn qemu_binary() -> String {
    std::env::var("TERN_QEMU").unwrap_or_else(|_| paths::lab_qemu().display().to_string())
}

/// L1's kernel command line.
pub fn kernel_cmdline(spec: &LabSpec) -> String {
    let mut line = String::from("console=ttyS0 panic=-1 quiet");
    if !spec.l1_cmdline.trim().is_empty() {
        line.push(' ');
        line.push_str(spec.l1_cmdline.trim());
    }
    line
}

/// QEMU's arguments for `spec`: TCG with nested SVM, one memory backend and NUMA node
/// per spec node, the serial console on stdout, no other devices.
pub fn qemu_args(spec: &LabSpec, kernel: &Path, initrd: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "-accel",
        "tcg",
        "-cpu",
        "EPYC,+svm,+npt",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("-smp".into());
    args.push(spec.total_cpus().to_string());
    args.push("-m".into());
    args.push(format!("{}M", spec.total_mib()));
    for node in 0..spec.nodes {
        let first = node * spec.cpus_per_node;
        let last = first + spec.cpus_per_node - 1;
        let cpus = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        args.push("-object".into());
        args.push(format!(
            "memory-backend-ram,id=m{node},size={}M",
            spec.node_mib
        ));
        args.push("-numa".into());
        args.push(format!("node,nodeid={node},cpus={cpus},memdev=m{node}"));
    }
    for (from, to, distance) in &spec.distances {
        args.push("-numa".into());
        args.push(format!("dist,src={from},dst={to},val={distance}"));
    }
    args.push("-kernel".into());
    args.push(kernel.display().to_string());
    args.push("-initrd".into());
    args.push(initrd.display().to_string());
    args.push("-append".into());
    args.push(kernel_cmdline(spec));
    args
}

/// A running QEMU, killed and reaped on drop.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
}

impl Qemu {
    /// Starts QEMU with stdout and stderr piped and stdin closed. QEMU is also told to
    /// die with the thread that started it (PR_SET_PDEATHSIG), so it cannot be orphaned.
    pub fn start(args: &[String]) -> io::Result<Qemu> {
        let mut cmd = Command::new(qemu_binary());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure runs in the forked child before exec and only calls prctl,
        // which is async-signal-safe; it touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Qemu {
            child: cmd.spawn()?,
        })
    }

    /// The child process (to take its pipes).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Returns QEMU's exit status if it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Kills QEMU (if still running) and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // An error here means it exited meanwhile; wait() tells either way.
        let _ = self.child.kill();
        self.child.wait()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numa_layout_in_args() {
        let spec = LabSpec::new("t", "")
            .with_nodes(3)
            .with_cpus_per_node(2)
            .with_node_mib(512)
            .with_l1_cmdline("foo=1");
        let args = qemu_args(&spec, Path::new("/k"), Path::new("/i"));
        let joined = args.join(" ");
        assert!(joined.contains("-smp 6 -m 1536M"));
        assert!(joined.contains("-object memory-backend-ram,id=m0,size=512M"));
        assert!(joined.contains("-numa node,nodeid=0,cpus=0-1,memdev=m0"));
        assert!(joined.contains("-numa node,nodeid=2,cpus=4-5,memdev=m2"));
        assert!(joined.contains("-cpu EPYC,+svm,+npt"));
        assert!(
            joined.ends_with("-kernel /k -initrd /i -append console=ttyS0 panic=-1 quiet foo=1")
        );
    }

    #[test]
    fn one_cpu_per_node() {
        let spec = LabSpec::new("t", "");
        let joined = qemu_args(&spec, Path::new("/k"), Path::new("/i")).join(" ");
        assert!(joined.contains("-numa node,nodeid=1,cpus=1,memdev=m1"));
        assert!(joined.contains("-smp 2 -m 2048M"));
    }
}
