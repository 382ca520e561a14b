//! Tern's whole-system tests and the NUMA lab runner.
//!
//! The lab boots an "L1" Linux under QEMU's software emulation with N emulated NUMA
//! nodes and nested SVM; inside it /dev/kvm is fast enough for `tern` to boot an L2
//! guest. A test describes one run with a [`LabSpec`] (nodes, memory, the shell script
//! L1 runs) and calls [`run_with_retries`]; it gets the script's exit status and console
//! back in a [`LabOutput`], or a [`LabError`]. A [`LabFailure`] is the lab's own fault and
//! is retried at most twice, each retry printed to stderr.
//!
//! ```no_run
//! use tern_tests::{run_with_retries, LabSpec};
//! let spec = LabSpec::new("hello", "echo hi; test -c /dev/kvm").with_nodes(2);
//! let out = run_with_retries(&spec)?;
//! assert_eq!(out.status, 0);
//! # Ok::<(), tern_tests::LabError>(())
//! ```

pub mod api_fuzz;
pub mod bench;
pub mod console;
pub mod cpio;
pub mod error;
pub mod guest_fault;
pub mod host_run;
pub mod host_view;
pub mod initramfs;
pub mod l1init;
pub mod ldd;
pub mod ledger;
mod lock;
mod logs;
pub mod output;
pub mod paths;
pub mod placement_json;
pub mod pty;
pub mod qemu;
pub mod runner;
pub mod sections;
pub mod soak;
pub mod spec;
pub mod tern_script;
pub mod threads;
pub mod tiny_guest;

pub use error::{FailureReason, LabError, LabFailure};
pub use host_view::{guest_vmas, tern_inspect_command, thread_cpus, GuestVma};
pub use output::LabOutput;
pub use runner::{run, run_with_retries, MAX_RETRIES};
pub use spec::{CarriedFile, LabSpec};
pub use tern_script::{tern_command, PlacementLine, TernRun};
