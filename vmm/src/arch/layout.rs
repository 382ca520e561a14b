//! Fixed guest-physical addresses of the boot structures and the 32-bit MMIO hole.

/// The boot GDT.
pub const BOOT_GDT_START: u64 = 0x500;
/// The (empty) boot IDT, right after the GDT.
pub const BOOT_IDT_START: u64 = 0x520;
/// The Linux zero page (`struct boot_params`).
pub const ZERO_PAGE_START: u64 = 0x7000;
/// Initial stack pointer of the boot vCPU.
pub const BOOT_STACK_POINTER: u64 = 0x8ff0;
/// Page-map level 4 of the identity page tables.
pub const PML4_START: u64 = 0x9000;
/// Page-directory-pointer table of the identity page tables.
pub const PDPTE_START: u64 = 0xa000;
/// First of the page directories (one per identity-mapped GiB).
pub const PDE_START: u64 = 0xb000;
/// The kernel command line.
pub const CMDLINE_START: u64 = 0x20000;
/// Room for the command line, including its NUL (Linux's x86 COMMAND_LINE_SIZE).
pub const CMDLINE_MAX_SIZE: usize = 2048;
/// Start of the extended BIOS data area; the MP table lives here.
pub const EBDA_START: u64 = 0x9fc00;
/// Where the kernel is loaded and where the "high" memory of the e820 map begins.
pub const HIMEM_START: u64 = 0x10_0000;
/// Start of the hole below 4 GiB kept free of RAM for MMIO, the IOAPIC and the LAPIC.
pub const MMIO_GAP_START: u64 = 0xc000_0000;
/// End of that hole.
pub const MMIO_GAP_END: u64 = 1 << 32;
/// Guest-physical address of the IOAPIC.
pub const IOAPIC_START: u64 = 0xfec0_0000;
/// Guest-physical address of the local APICs.
pub const APIC_START: u64 = 0xfee0_0000;
/// Three pages KVM needs for the task state segment (Intel), inside the MMIO hole.
pub const KVM_TSS_ADDRESS: u64 = 0xfffb_d000;
/// One page KVM needs for the real-mode identity map (Intel), just below the TSS.
pub const KVM_IDENTITY_MAP_ADDRESS: u64 = 0xfffb_c000;
