//! x86_64 machine setup: where things live in guest memory, and the CPU state a Linux kernel
//! expects at its 64-bit entry point.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("Tern runs x86_64 guests on x86_64 hosts only");

pub mod acpi;
pub mod bootparams;
pub mod cpuid;
pub mod gdt;
pub mod lapic;
pub mod layout;
pub mod mptable;
pub mod msr;
pub mod paging;
pub mod regs;
pub mod xcr0;
