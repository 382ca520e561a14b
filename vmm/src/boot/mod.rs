//! Everything written into guest memory before the first vCPU runs: the kernel, the
//! initramfs, the command line, the zero page, the boot GDT, the identity page tables, the
//! ACPI tables and the MP table.

pub mod bzimage_header;
pub mod elf_segments;
pub mod initramfs;
pub mod kernel;

use std::path::Path;

use linux_loader::cmdline::Cmdline;
use vm_memory::{Bytes, GuestAddress};

use crate::arch::acpi::{acpi_tables, GuestNumaTopology, RSDP_START};
use crate::arch::bootparams::{boot_params, e820_map, BootParamsInput};
use crate::arch::layout::{
    BOOT_GDT_START, BOOT_IDT_START, CMDLINE_MAX_SIZE, CMDLINE_START, EBDA_START, ZERO_PAGE_START,
};
use crate::arch::{gdt, mptable, paging};
use crate::error::Error;
use crate::memory::GuestRam;

pub use self::kernel::{KernelFormat, LoadedKernel};

/// What the guest boots.
#[derive(Clone, Copy, Debug)]
pub struct BootSource<'a> {
    /// The kernel image.
    pub kernel: &'a Path,
    /// The initramfs, if any.
    pub initramfs: Option<&'a Path>,
    /// The kernel command line.
    pub cmdline: &'a str,
}

fn write<T: vm_memory::ByteValued>(
    ram: &GuestRam,
    value: T,
    addr: u64,
    what: &'static str,
) -> Result<(), Error> {
    ram.memory()
        .write_obj(value, GuestAddress(addr))
        .map_err(|e| Error::GuestWrite(what, e.to_string()))
}

/// Loads the kernel and initramfs and writes the boot structures (with SRAT and SLIT when
/// `numa` is given); returns the loaded kernel (its entry point is where every vCPU's
/// registers point).
pub fn prepare_boot(
    ram: &GuestRam,
    source: &BootSource<'_>,
    vcpus: usize,
    numa: Option<&GuestNumaTopology>,
    virtio: &[crate::virtio_mmio::layout::MmioSlot],
) -> Result<LoadedKernel, Error> {
    let kernel = kernel::load_kernel(ram.memory(), source.kernel)?;
    let initramfs = match source.initramfs {
        Some(path) => Some(initramfs::load_initramfs(
            ram.memory(),
            path,
            &kernel,
            ram.low_ram_end(),
        )?),
        None => None,
    };

    let cmdline = Cmdline::try_from(source.cmdline, CMDLINE_MAX_SIZE)
        .map_err(|e| Error::Cmdline(e.to_string()))?;
    linux_loader::loader::load_cmdline(ram.memory(), GuestAddress(CMDLINE_START), &cmdline)
        .map_err(|e| Error::GuestWrite("kernel command line", e.to_string()))?;

    let e820 = e820_map(&ram.ranges());
    let mut params = boot_params(BootParamsInput {
        header: kernel.header,
        cmdline_len: source.cmdline.len(),
        initramfs,
        e820: &e820,
    })?;
    params.acpi_rsdp_addr = RSDP_START;
    write(ram, params, ZERO_PAGE_START, "zero page")?;

    for (i, entry) in gdt::boot_gdt().into_iter().enumerate() {
        write(ram, entry, BOOT_GDT_START + 8 * i as u64, "boot GDT")?;
    }
    write(ram, 0u64, BOOT_IDT_START, "boot IDT")?;
    for (addr, word) in paging::identity_tables() {
        write(ram, word, addr, "page tables")?;
    }
    for (addr, table) in acpi_tables(vcpus as u8, numa, virtio)? {
        ram.memory()
            .write_slice(&table, GuestAddress(addr))
            .map_err(|e| Error::GuestWrite("ACPI tables", e.to_string()))?;
    }
    let mptable = mptable::mptable_bytes(vcpus, EBDA_START)?;
    ram.memory()
        .write_slice(&mptable, GuestAddress(EBDA_START))
        .map_err(|e| Error::GuestWrite("MP table", e.to_string()))?;
    Ok(kernel)
}
