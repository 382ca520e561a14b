//! Tern's virtual machine monitor: a KVM VM with guest RAM, vCPU threads, legacy devices and
//! the boot of a Linux kernel. The `tern` binary (main.rs) is a thin shell around [`launch`].

pub mod arch;
pub mod balance_view;
pub mod boot;
pub mod config;
pub mod console;
pub mod control;
pub mod device_manager;
pub mod dirty_log;
pub mod error;
pub mod event_loop;
pub mod exit;
pub mod host;
pub mod launch;
pub mod logger;
pub mod memory;
pub mod pinning;
pub mod placement_report;
pub mod plan;
pub mod signals;
pub mod terminal;
pub mod vcpu;
pub mod virtio_mmio;
pub mod vm;

pub use error::Error;
pub use launch::launch;
