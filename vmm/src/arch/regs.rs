//! Register state of a vCPU at the kernel's 64-bit entry point (Linux boot protocol).

use kvm_bindings::{kvm_fpu, kvm_regs, kvm_sregs};

use super::gdt::{boot_gdt, segment_from_entry, CODE_INDEX, DATA_INDEX, TSS_INDEX};
use super::layout::{
    BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PML4_START, ZERO_PAGE_START,
};

const CR0_PE: u64 = 1;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;

/// General registers: the entry point, a stack, and RSI pointing at the zero page.
pub fn boot_regs(entry: u64) -> kvm_regs {
    kvm_regs {
        rflags: 0x2,
        rip: entry,
        rsp: BOOT_STACK_POINTER,
        rbp: BOOT_STACK_POINTER,
        rsi: ZERO_PAGE_START,
        ..Default::default()
    }
}

/// Adjusts the special registers KVM reported for a fresh vCPU: flat segments from the boot
/// GDT, paging with the identity tables, and long mode enabled.
pub fn boot_sregs(mut sregs: kvm_sregs) -> kvm_sregs {
    let gdt = boot_gdt();
    let code = segment_from_entry(gdt[usize::from(CODE_INDEX)], CODE_INDEX);
    let data = segment_from_entry(gdt[usize::from(DATA_INDEX)], DATA_INDEX);
    let tss = segment_from_entry(gdt[usize::from(TSS_INDEX)], TSS_INDEX);

    sregs.gdt.base = BOOT_GDT_START;
    sregs.gdt.limit = (std::mem::size_of_val(&gdt) - 1) as u16;
    sregs.idt.base = BOOT_IDT_START;
    sregs.idt.limit = (std::mem::size_of::<u64>() - 1) as u16;
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = tss;

    sregs.cr3 = PML4_START;
    sregs.cr4 |= CR4_PAE;
    sregs.cr0 |= CR0_PE | CR0_PG;
    sregs.efer |= EFER_LME | EFER_LMA;
    sregs
}

/// FPU state after reset: x87 control word and MXCSR at their defaults.
pub fn boot_fpu() -> kvm_fpu {
    kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regs_point_at_entry_stack_and_zero_page() {
        let regs = boot_regs(0x100_0000);
        assert_eq!(
            (regs.rip, regs.rsp, regs.rsi, regs.rflags),
            (0x100_0000, 0x8ff0, 0x7000, 2)
        );
    }

    #[test]
    fn sregs_enable_long_mode_with_paging() {
        let sregs = boot_sregs(kvm_sregs::default());
        assert_eq!(sregs.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
        assert_eq!(sregs.cr4 & CR4_PAE, CR4_PAE);
        assert_eq!(sregs.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
        assert_eq!(sregs.cr3, PML4_START);
        assert_eq!(
            (sregs.cs.selector, sregs.ss.selector, sregs.tr.selector),
            (8, 0x10, 0x18)
        );
        assert_eq!((sregs.gdt.base, sregs.gdt.limit), (BOOT_GDT_START, 31));
    }

    #[test]
    fn fpu_defaults() {
        let fpu = boot_fpu();
        assert_eq!((fpu.fcw, fpu.mxcsr), (0x37f, 0x1f80));
    }
}
