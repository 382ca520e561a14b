//! The Intel MultiProcessor table (MP spec 1.4), so a guest without ACPI finds every vCPU,
//! the IOAPIC and the legacy interrupt routing.
//!
//! Laid out at the start of the EBDA (and on into the reserved area below 1 MiB for many
//! vCPUs): the floating pointer structure, then the configuration
//! table header and its entries: one processor per vCPU, the ISA bus, the IOAPIC, ISA IRQs
//! 0-15 on IOAPIC pins 0-15 (KVM's default routing), and LINT0/LINT1 as ExtINT/NMI.

use super::acpi::ioapic_id;
use super::layout::{APIC_START, IOAPIC_START};

const FLOATING_POINTER_LEN: usize = 16;
const HEADER_LEN: usize = 44;
const LAPIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;
const SPEC_REV: u8 = 4;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTPROCESSOR: u8 = 2;
const ISA_IRQS: u8 = 16;
const INT_TYPE_INT: u8 = 0;
const INT_TYPE_NMI: u8 = 1;
const INT_TYPE_EXTINT: u8 = 3;
const ALL_LAPICS: u8 = 0xff;

/// Errors building the table.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MpTableError {
    /// APIC IDs are 8 bits and one is needed for the IOAPIC.
    #[error("an MP table can describe at most 254 vCPUs, not {0}")]
    TooManyVcpus(usize),
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, b| sum.wrapping_add(*b))
        .wrapping_neg()
}

fn processor(apic_id: u8, boot: bool) -> [u8; 20] {
    let mut e = [0u8; 20];
    e[0] = 0; // processor entry
    e[1] = apic_id;
    e[2] = LAPIC_VERSION;
    e[3] = CPU_ENABLED | if boot { CPU_BOOTPROCESSOR } else { 0 };
    e[4..8].copy_from_slice(&0x600u32.to_le_bytes()); // family 6 signature
    e[8..12].copy_from_slice(&0x201u32.to_le_bytes()); // FPU and APIC present
    e
}

fn interrupt(kind: u8, int_type: u8, src_irq: u8, dst_id: u8, dst_pin: u8) -> [u8; 8] {
    // Flags 0: polarity and trigger mode conform to the bus (ISA: active high, edge).
    [kind, int_type, 0, 0, 0, src_irq, dst_id, dst_pin]
}

/// The table's bytes for `vcpus` vCPUs, to be written at guest address `base`.
pub fn mptable_bytes(vcpus: usize, base: u64) -> Result<Vec<u8>, MpTableError> {
    if vcpus == 0 || vcpus > 254 {
        return Err(MpTableError::TooManyVcpus(vcpus));
    }
    let ioapic_id = ioapic_id(vcpus as u8);
    let mut entries: Vec<u8> = Vec::new();
    for cpu in 0..vcpus {
        entries.extend(processor(cpu as u8, cpu == 0));
    }
    entries.extend([1, 0, b'I', b'S', b'A', b' ', b' ', b' ']); // bus 0 is ISA
    let mut ioapic = [2, ioapic_id, IOAPIC_VERSION, 1, 0, 0, 0, 0];
    ioapic[4..8].copy_from_slice(&(IOAPIC_START as u32).to_le_bytes());
    entries.extend(ioapic);
    for irq in 0..ISA_IRQS {
        entries.extend(interrupt(3, INT_TYPE_INT, irq, ioapic_id, irq));
    }
    entries.extend(interrupt(4, INT_TYPE_EXTINT, 0, ALL_LAPICS, 0));
    entries.extend(interrupt(4, INT_TYPE_NMI, 0, ALL_LAPICS, 1));
    let entry_count = (vcpus + 1 + 1 + usize::from(ISA_IRQS) + 2) as u16;

    let table_len = (HEADER_LEN + entries.len()) as u16;
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(b"PCMP");
    header[4..6].copy_from_slice(&table_len.to_le_bytes());
    header[6] = SPEC_REV;
    header[8..16].copy_from_slice(b"TERN    ");
    header[16..28].copy_from_slice(b"MICROVM     ");
    header[34..36].copy_from_slice(&entry_count.to_le_bytes());
    header[36..40].copy_from_slice(&(APIC_START as u32).to_le_bytes());
    let mut table = header.to_vec();
    table.extend(entries);
    table[7] = checksum(&table);

    let mut fp = [0u8; FLOATING_POINTER_LEN];
    fp[0..4].copy_from_slice(b"_MP_");
    fp[4..8].copy_from_slice(&((base + FLOATING_POINTER_LEN as u64) as u32).to_le_bytes());
    fp[8] = 1; // length in 16-byte units
    fp[9] = SPEC_REV;
    fp[10] = checksum(&fp);

    let mut bytes = fp.to_vec();
    bytes.extend(table);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x9fc00;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
    }

    #[test]
    fn floating_pointer_points_at_a_valid_table() {
        let bytes = mptable_bytes(2, BASE).unwrap();
        assert_eq!(&bytes[0..4], b"_MP_");
        assert_eq!(sum(&bytes[..16]), 0);
        let physptr = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        assert_eq!(u64::from(physptr), BASE + 16);
        let table = &bytes[16..];
        assert_eq!(&table[0..4], b"PCMP");
        let len = usize::from(u16::from_le_bytes([table[4], table[5]]));
        assert_eq!(len, table.len());
        assert_eq!(sum(table), 0);
    }

    #[test]
    fn one_processor_entry_per_vcpu_and_the_bsp_first() {
        let bytes = mptable_bytes(3, BASE).unwrap();
        let table = &bytes[16..];
        let count = u16::from_le_bytes([table[34], table[35]]);
        assert_eq!(count, 3 + 1 + 1 + 16 + 2);
        let cpus: Vec<&[u8]> = table[44..44 + 60].chunks(20).collect();
        for (i, cpu) in cpus.iter().enumerate() {
            assert_eq!((cpu[0], cpu[1]), (0, i as u8));
            assert_eq!(cpu[3] & CPU_ENABLED, CPU_ENABLED);
            assert_eq!(cpu[3] & CPU_BOOTPROCESSOR != 0, i == 0);
        }
        let ioapic = &table[44 + 60 + 8..44 + 60 + 16];
        assert_eq!((ioapic[0], ioapic[1]), (2, 3));
        assert_eq!(
            u32::from_le_bytes(ioapic[4..8].try_into().unwrap()),
            0xfec0_0000
        );
    }

    #[test]
    fn routes_isa_irqs_and_local_interrupts() {
        let bytes = mptable_bytes(1, BASE).unwrap();
        let table = &bytes[16..];
        let tail: Vec<&[u8]> = table[44 + 20 + 16..].chunks(8).collect();
        assert_eq!(tail.len(), 18);
        assert_eq!(tail[4], &[3, INT_TYPE_INT, 0, 0, 0, 4, 1, 4]);
        assert_eq!(tail[16], &[4, INT_TYPE_EXTINT, 0, 0, 0, 0, 0xff, 0]);
        assert_eq!(tail[17], &[4, INT_TYPE_NMI, 0, 0, 0, 0, 0xff, 1]);
    }

    #[test]
    fn rejects_too_many_vcpus() {
        assert_eq!(
            mptable_bytes(255, BASE),
            Err(MpTableError::TooManyVcpus(255))
        );
        assert_eq!(mptable_bytes(0, BASE), Err(MpTableError::TooManyVcpus(0)));
        let bytes = mptable_bytes(254, BASE).unwrap();
        assert!(
            BASE + bytes.len() as u64 <= 0xe0000,
            "must stay below the ACPI area"
        );
        // The IOAPIC of 254 vCPUs is 254, not the broadcast ID 255, in its entry and routes.
        let table = &bytes[16..];
        let ioapic = &table[44 + 254 * 20 + 8..44 + 254 * 20 + 16];
        assert_eq!((ioapic[0], ioapic[1]), (2, 254));
        let first_route = &table[44 + 254 * 20 + 16..44 + 254 * 20 + 24];
        assert_eq!((first_route[0], first_route[6]), (3, 254));
    }
}
