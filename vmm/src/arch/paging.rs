//! Identity page tables for the 64-bit entry: the first 4 GiB mapped with 2 MiB pages.

use super::layout::{PDE_START, PDPTE_START, PML4_START};

/// GiB of guest-physical space the boot page tables identity-map.
pub const IDENTITY_MAPPED_GIB: u64 = 4;

const PRESENT_WRITABLE: u64 = 0x3;
const HUGE_PAGE: u64 = 0x80;
const ENTRIES_PER_TABLE: u64 = 512;

/// The page-table words to write, as (guest address, value) pairs: one PML4 entry, one
/// PDPT entry per GiB and 512 PD entries per GiB. CR3 then points at [`PML4_START`].
pub fn identity_tables() -> Vec<(u64, u64)> {
    let mut words =
        Vec::with_capacity((1 + IDENTITY_MAPPED_GIB * (1 + ENTRIES_PER_TABLE)) as usize);
    words.push((PML4_START, PDPTE_START | PRESENT_WRITABLE));
    for gib in 0..IDENTITY_MAPPED_GIB {
        let pd = PDE_START + gib * 0x1000;
        words.push((PDPTE_START + gib * 8, pd | PRESENT_WRITABLE));
        for i in 0..ENTRIES_PER_TABLE {
            let page = (gib * ENTRIES_PER_TABLE + i) << 21;
            words.push((pd + i * 8, page | PRESENT_WRITABLE | HUGE_PAGE));
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Walks the tables the way the MMU does, for a 2 MiB-page mapping.
    fn translate(tables: &HashMap<u64, u64>, va: u64) -> Option<u64> {
        let pml4e = tables.get(&(PML4_START + ((va >> 39) & 0x1ff) * 8))?;
        let pdpte = tables.get(&((pml4e & !0xfff) + ((va >> 30) & 0x1ff) * 8))?;
        let pde = tables.get(&((pdpte & !0xfff) + ((va >> 21) & 0x1ff) * 8))?;
        assert_eq!(pde & HUGE_PAGE, HUGE_PAGE);
        Some((pde & !0x1f_ffff & !HUGE_PAGE & !PRESENT_WRITABLE) | (va & 0x1f_ffff))
    }

    #[test]
    fn maps_the_first_four_gib_onto_itself() {
        let tables: HashMap<u64, u64> = identity_tables().into_iter().collect();
        for va in [
            0,
            0x7000,
            0x100_0000,
            0x3fff_ffff,
            0x4000_0000,
            0xc000_1234,
            0xffff_ffff,
        ] {
            assert_eq!(translate(&tables, va), Some(va), "va {va:#x}");
        }
        assert_eq!(translate(&tables, 1 << 32), None);
    }

    #[test]
    fn tables_stay_below_the_ebda_and_do_not_overlap() {
        let words = identity_tables();
        let mut addrs: Vec<u64> = words.iter().map(|(a, _)| *a).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), words.len());
        assert!(addrs
            .iter()
            .all(|a| *a >= PML4_START && *a < super::super::layout::EBDA_START));
        assert!(*addrs.last().unwrap() < super::super::layout::CMDLINE_START);
    }
}
