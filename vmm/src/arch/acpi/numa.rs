//! The guest's NUMA topology in ACPI: SRAT (which proximity domain each vCPU and each RAM
//! range belongs to) and SLIT (the distances between domains). Guest node G is proximity
//! domain G.

use acpi_tables::sdt::Sdt;
use acpi_tables::slit::SLIT;
use acpi_tables::srat::MemoryAffinity;
use acpi_tables::Aml;

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID};

/// Distance of a node to itself.
pub const LOCAL_DISTANCE: u8 = 10;
/// Smallest distance between two different nodes that Linux accepts.
pub const MIN_REMOTE_DISTANCE: u8 = 11;

/// What SRAT and SLIT describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestNumaTopology {
    /// The proximity domain of each vCPU, indexed by APIC ID.
    pub vcpu_domains: Vec<u32>,
    /// RAM ranges as (guest-physical start, size, proximity domain).
    pub memory: Vec<(u64, u64, u32)>,
    /// distances[a][b] between domains a and b.
    pub distances: Vec<Vec<u8>>,
}

/// SRAT: a processor local APIC affinity entry per vCPU, a memory affinity entry per range.
pub fn srat(topology: &GuestNumaTopology) -> Vec<u8> {
    let mut table = Sdt::new(*b"SRAT", 48, 3, OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    table.write_u32(36, 1); // reserved; 1 for compatibility
    for (apic_id, domain) in topology.vcpu_domains.iter().enumerate() {
        let mut entry = [0u8; 16];
        entry[0] = 0; // processor local APIC/SAPIC affinity
        entry[1] = 16;
        entry[2] = (*domain & 0xff) as u8;
        entry[3] = apic_id as u8;
        entry[4..8].copy_from_slice(&1u32.to_le_bytes()); // enabled
        entry[9..12].copy_from_slice(&domain.to_le_bytes()[1..4]);
        table.append_slice(&entry);
    }
    for &(start, size, domain) in &topology.memory {
        let mut entry = Vec::new();
        MemoryAffinity::new(domain, start, size)
            .enabled()
            .to_aml_bytes(&mut entry);
        table.append_slice(&entry);
    }
    table.as_slice().to_vec()
}

/// SLIT: the distance matrix, with off-diagonal distances raised to at least 11 (Linux
/// ignores a SLIT that calls two different nodes local).
pub fn slit(topology: &GuestNumaTopology) -> Vec<u8> {
    let n = topology.distances.len();
    let mut table = SLIT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION, n as u32);
    for a in 0..n {
        for b in (a + 1)..n {
            let d = topology.distances[a]
                .get(b)
                .copied()
                .unwrap_or(20)
                .max(MIN_REMOTE_DISTANCE);
            table.set_distance(a, b, d);
        }
    }
    let mut bytes = Vec::new();
    table.to_aml_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
    }

    fn two_nodes() -> GuestNumaTopology {
        GuestNumaTopology {
            vcpu_domains: vec![0, 1, 1],
            memory: vec![
                (0, 0x1000_0000, 0),
                (0x1000_0000, 0x3000_0000, 1),
                (1 << 32, 1 << 30, 1),
            ],
            distances: vec![vec![10, 21], vec![21, 10]],
        }
    }

    #[test]
    fn srat_bytes() {
        let t = srat(&two_nodes());
        assert_eq!(&t[..4], b"SRAT");
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            t.len()
        );
        assert_eq!(t.len(), 48 + 3 * 16 + 3 * 40);
        assert_eq!(sum(&t), 0);
        assert_eq!(u32::from_le_bytes(t[36..40].try_into().unwrap()), 1);
        let cpu2 = &t[48 + 32..48 + 48];
        assert_eq!(cpu2, &[0, 16, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mem2 = &t[96 + 80..96 + 120];
        assert_eq!((mem2[0], mem2[1]), (1, 40));
        assert_eq!(u32::from_le_bytes(mem2[2..6].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(mem2[8..16].try_into().unwrap()), 1 << 32);
        assert_eq!(
            u64::from_le_bytes(mem2[16..24].try_into().unwrap()),
            1 << 30
        );
        assert_eq!(
            u32::from_le_bytes(mem2[28..32].try_into().unwrap()),
            1,
            "enabled"
        );
    }

    #[test]
    fn slit_bytes() {
        let mut topo = two_nodes();
        topo.distances = vec![vec![10, 31, 21], vec![31, 10, 10], vec![21, 10, 10]];
        let t = slit(&topo);
        assert_eq!(&t[..4], b"SLIT");
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            t.len()
        );
        assert_eq!(sum(&t), 0);
        assert_eq!(u64::from_le_bytes(t[36..44].try_into().unwrap()), 3);
        assert_eq!(&t[44..], &[10, 31, 21, 31, 10, 11, 21, 11, 10]);
    }
}
