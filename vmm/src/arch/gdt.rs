//! The boot GDT: a flat 64-bit code segment, a flat data segment and a TSS.

use kvm_bindings::kvm_segment;

/// Selector index of the code segment.
pub const CODE_INDEX: u16 = 1;
/// Selector index of the data segment.
pub const DATA_INDEX: u16 = 2;
/// Selector index of the task state segment.
pub const TSS_INDEX: u16 = 3;

/// The boot GDT, in order: null, code, data, TSS.
pub fn boot_gdt() -> [u64; 4] {
    [
        0,
        gdt_entry(0xa09b, 0, 0xfffff), // code: present, exec/read, long mode, 4 KiB granular
        gdt_entry(0xc093, 0, 0xfffff), // data: present, read/write, 32-bit, 4 KiB granular
        gdt_entry(0x808b, 0, 0xfffff), // TSS: present, busy 64-bit TSS
    ]
}

/// Packs a descriptor. `flags` holds the access byte in bits 0..8 and the G, D/B, L and AVL
/// bits in bits 12..16, as they sit in the descriptor's second half.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    let (flags, base, limit) = (flags as u64, base as u64, limit as u64);
    ((base & 0xff00_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0x0000_ffff)
        | ((limit & 0x000f_0000) << 32)
        | ((flags & 0xf0ff) << 40)
}

/// The KVM segment register that a descriptor at `index` loads into.
pub fn segment_from_entry(entry: u64, index: u16) -> kvm_segment {
    let bit = |n: u32| ((entry >> n) & 1) as u8;
    let limit_raw = ((entry & 0xffff) | ((entry >> 32) & 0xf_0000)) as u32;
    let granular = bit(55) == 1;
    kvm_segment {
        base: ((entry >> 16) & 0xff_ffff) | ((entry >> 32) & 0xff00_0000),
        limit: if granular {
            (limit_raw << 12) | 0xfff
        } else {
            limit_raw
        },
        selector: index * 8,
        type_: ((entry >> 40) & 0xf) as u8,
        present: bit(47),
        dpl: ((entry >> 45) & 0x3) as u8,
        db: bit(54),
        s: bit(44),
        l: bit(53),
        g: bit(55),
        avl: bit(52),
        unusable: u8::from(bit(47) == 0),
        padding: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_segment_is_flat_long_mode() {
        let gdt = boot_gdt();
        let cs = segment_from_entry(gdt[usize::from(CODE_INDEX)], CODE_INDEX);
        assert_eq!(gdt[1], 0x00af_9b00_0000_ffff);
        assert_eq!((cs.base, cs.limit, cs.selector), (0, 0xffff_ffff, 0x8));
        assert_eq!(
            (cs.l, cs.db, cs.g, cs.present, cs.s, cs.type_),
            (1, 0, 1, 1, 1, 0xb)
        );
    }

    #[test]
    fn data_and_tss_segments() {
        let gdt = boot_gdt();
        assert_eq!(gdt[2], 0x00cf_9300_0000_ffff);
        let ds = segment_from_entry(gdt[2], DATA_INDEX);
        assert_eq!(
            (ds.selector, ds.type_, ds.db, ds.l, ds.s),
            (0x10, 3, 1, 0, 1)
        );
        let tss = segment_from_entry(gdt[3], TSS_INDEX);
        assert_eq!(
            (tss.selector, tss.type_, tss.s, tss.present),
            (0x18, 0xb, 0, 1)
        );
    }

    #[test]
    fn base_and_limit_round_trip() {
        let entry = gdt_entry(0x0093, 0x1234_5678, 0xabcde);
        let seg = segment_from_entry(entry, 5);
        assert_eq!((seg.base, seg.limit, seg.g), (0x1234_5678, 0xabcde, 0));
        assert_eq!(seg.unusable, 0);
        assert_eq!(segment_from_entry(0, 0).unusable, 1);
    }
}
