//! The CPUID a vCPU sees: KVM's supported set, with the hypervisor bit set, nested
//! virtualization hidden, and a coherent topology of one socket with one core per vCPU.
//!
//! APIC IDs equal vCPU indices. Caches are described as private to each core, so a guest NUMA
//! topology (from ACPI) never contradicts cache sharing.

use kvm_bindings::{kvm_cpuid_entry2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};

const LEAF_FEATURES: u32 = 0x1;
const LEAF_CACHE_PARAMS: u32 = 0x4;
const LEAF_EXT_TOPOLOGY: u32 = 0xb;
const LEAF_V2_EXT_TOPOLOGY: u32 = 0x1f;
const LEAF_EXT_FEATURES: u32 = 0x8000_0001;
const LEAF_AMD_SIZE_IDS: u32 = 0x8000_0008;
const LEAF_AMD_CACHE_TOPOLOGY: u32 = 0x8000_001d;
const LEAF_AMD_EXT_APIC_ID: u32 = 0x8000_001e;

const ECX_VMX: u32 = 1 << 5;
const ECX_TSC_DEADLINE: u32 = 1 << 24;
const ECX_HYPERVISOR: u32 = 1 << 31;
const EDX_HTT: u32 = 1 << 28;
const EXT_ECX_CMP_LEGACY: u32 = 1 << 1;
const EXT_ECX_SVM: u32 = 1 << 2;

const LEVEL_TYPE_SMT: u32 = 1;
const LEVEL_TYPE_CORE: u32 = 2;

/// What the guest is told about its processors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTopology {
    /// Number of vCPUs, one core each, in one socket.
    pub vcpus: u8,
    /// Whether KVM emulates the TSC-deadline timer (KVM_CAP_TSC_DEADLINE_TIMER).
    pub tsc_deadline: bool,
}

impl CpuTopology {
    /// Bits of the APIC ID that number the cores of the socket.
    pub fn core_bits(self) -> u32 {
        u32::from(self.vcpus.max(1))
            .next_power_of_two()
            .trailing_zeros()
    }
}

/// `value` saturated to a field of `bits` bits, so a large count never spills into the next
/// field of the register.
fn field(value: u32, bits: u32) -> u32 {
    value.min((1 << bits) - 1)
}

fn is_amd(entries: &[kvm_cpuid_entry2]) -> bool {
    entries
        .iter()
        .find(|e| e.function == 0 && e.index == 0)
        .is_some_and(|e| {
            let vendor = [
                e.ebx.to_le_bytes(),
                e.edx.to_le_bytes(),
                e.ecx.to_le_bytes(),
            ]
            .concat();
            vendor == b"AuthenticAMD" || vendor == b"HygonGenuine"
        })
}

/// Topology subleaves of leaf 0xb or 0x1f for the vCPU with `apic_id`.
fn topology_leaf(function: u32, topo: CpuTopology, apic_id: u32) -> Vec<kvm_cpuid_entry2> {
    let levels = [
        (0, 1, LEVEL_TYPE_SMT),
        (topo.core_bits(), u32::from(topo.vcpus), LEVEL_TYPE_CORE),
        (0, 0, 0),
    ];
    levels
        .into_iter()
        .enumerate()
        .map(|(sub, (shift, count, kind))| kvm_cpuid_entry2 {
            function,
            index: sub as u32,
            flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
            eax: field(shift, 5),
            ebx: field(count, 16),
            ecx: (kind << 8) | sub as u32,
            edx: apic_id,
            ..Default::default()
        })
        .collect()
}

/// The CPUID entries for vCPU `index`, derived from KVM's supported entries.
pub fn vcpu_cpuid(
    supported: &[kvm_cpuid_entry2],
    topo: CpuTopology,
    index: u8,
) -> Vec<kvm_cpuid_entry2> {
    let apic_id = u32::from(index);
    let amd = is_amd(supported);
    let cores = u32::from(topo.vcpus.max(1));
    let mut entries: Vec<kvm_cpuid_entry2> = Vec::with_capacity(supported.len() + 6);
    let mut topology_leaves = Vec::new();

    for entry in supported {
        let mut e = *entry;
        match e.function {
            LEAF_FEATURES => {
                // EBX[23:16], addressable logical processor IDs, is 8 bits: above 128 vCPUs
                // 256 does not fit, and 255 tells the same number of ID bits (8).
                let addressable = field(1 << topo.core_bits(), 8);
                e.ebx = (e.ebx & 0x0000_ffff) | (field(apic_id, 8) << 24) | (addressable << 16);
                e.ecx = (e.ecx | ECX_HYPERVISOR) & !ECX_VMX;
                if topo.tsc_deadline {
                    e.ecx |= ECX_TSC_DEADLINE;
                }
                if cores > 1 {
                    e.edx |= EDX_HTT;
                }
            }
            LEAF_CACHE_PARAMS if e.eax & 0x1f != 0 => {
                // Cores in the package, less one, in the 6 bits from 26; one thread shares
                // each cache.
                e.eax = (e.eax & 0x3fff) | (field(cores - 1, 6) << 26);
            }
            LEAF_EXT_TOPOLOGY | LEAF_V2_EXT_TOPOLOGY => {
                if !topology_leaves.contains(&e.function) {
                    topology_leaves.push(e.function);
                    entries.extend(topology_leaf(e.function, topo, apic_id));
                }
                continue;
            }
            LEAF_EXT_FEATURES => {
                e.ecx &= !EXT_ECX_SVM;
                if amd && cores > 1 {
                    e.ecx |= EXT_ECX_CMP_LEGACY;
                }
            }
            LEAF_AMD_SIZE_IDS if amd => {
                // ApicIdSize in bits 15:12, cores less one in bits 7:0.
                e.ecx =
                    (e.ecx & !0xf0ff) | (field(topo.core_bits(), 4) << 12) | field(cores - 1, 8);
            }
            LEAF_AMD_CACHE_TOPOLOGY if amd => {
                e.eax &= !(0xfff << 14);
            }
            LEAF_AMD_EXT_APIC_ID if amd => {
                e.eax = apic_id;
                e.ebx = field(apic_id, 8);
                e.ecx = 0;
            }
            _ => {}
        }
        entries.push(e);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(function: u32, index: u32, regs: [u32; 4]) -> kvm_cpuid_entry2 {
        let [eax, ebx, ecx, edx] = regs;
        kvm_cpuid_entry2 {
            function,
            index,
            eax,
            ebx,
            ecx,
            edx,
            ..Default::default()
        }
    }

    fn vendor(name: &[u8; 12]) -> kvm_cpuid_entry2 {
        let word = |i: usize| u32::from_le_bytes([name[i], name[i + 1], name[i + 2], name[i + 3]]);
        leaf(0, 0, [0x1f, word(0), word(8), word(4)])
    }

    fn find(entries: &[kvm_cpuid_entry2], function: u32, index: u32) -> kvm_cpuid_entry2 {
        *entries
            .iter()
            .find(|e| e.function == function && e.index == index)
            .unwrap()
    }

    fn host(vendor_name: &[u8; 12]) -> Vec<kvm_cpuid_entry2> {
        vec![
            vendor(vendor_name),
            leaf(1, 0, [0x800f12, 0xff00_0800, ECX_VMX | 0x1, 0x1]),
            leaf(4, 0, [0xfc00_4121, 1, 2, 3]),
            leaf(4, 1, [0, 0, 0, 0]),
            leaf(0xb, 0, [1, 2, 0x100, 7]),
            leaf(0x8000_0001, 0, [0, 0, EXT_ECX_SVM | 0x1, 0]),
            leaf(0x8000_0008, 0, [0x3030, 0, 0x700f, 0]),
            leaf(0x8000_001e, 0, [9, 0x105, 3, 0]),
        ]
    }

    #[test]
    fn leaf_1_carries_apic_id_and_hides_vmx() {
        let topo = CpuTopology {
            vcpus: 3,
            tsc_deadline: true,
        };
        let out = vcpu_cpuid(&host(b"GenuineIntel"), topo, 2);
        let l1 = find(&out, 1, 0);
        assert_eq!(l1.ebx >> 24, 2);
        assert_eq!((l1.ebx >> 16) & 0xff, 4);
        assert_eq!(l1.ebx & 0xffff, 0x0800);
        assert_eq!(
            l1.ecx & (ECX_HYPERVISOR | ECX_VMX | ECX_TSC_DEADLINE),
            ECX_HYPERVISOR | ECX_TSC_DEADLINE
        );
        assert_eq!(l1.edx & EDX_HTT, EDX_HTT);
    }

    #[test]
    fn extended_topology_is_rebuilt() {
        let topo = CpuTopology {
            vcpus: 5,
            tsc_deadline: false,
        };
        let out = vcpu_cpuid(&host(b"GenuineIntel"), topo, 4);
        let smt = find(&out, 0xb, 0);
        let core = find(&out, 0xb, 1);
        let end = find(&out, 0xb, 2);
        assert_eq!((smt.eax, smt.ebx, smt.ecx, smt.edx), (0, 1, 0x100, 4));
        assert_eq!((core.eax, core.ebx, core.ecx, core.edx), (3, 5, 0x201, 4));
        assert_eq!((end.ebx, end.ecx >> 8), (0, 0));
        assert_eq!(out.iter().filter(|e| e.function == 0xb).count(), 3);
    }

    #[test]
    fn caches_are_private_to_a_core() {
        let topo = CpuTopology {
            vcpus: 4,
            tsc_deadline: false,
        };
        let out = vcpu_cpuid(&host(b"GenuineIntel"), topo, 0);
        let l4 = find(&out, 4, 0);
        assert_eq!(l4.eax >> 26, 3);
        assert_eq!((l4.eax >> 14) & 0xfff, 0);
        assert_eq!(l4.eax & 0x3fff, 0x0121);
    }

    #[test]
    fn amd_core_count_and_extended_apic_id() {
        let topo = CpuTopology {
            vcpus: 2,
            tsc_deadline: false,
        };
        let out = vcpu_cpuid(&host(b"AuthenticAMD"), topo, 1);
        let size = find(&out, 0x8000_0008, 0);
        assert_eq!(size.ecx & 0xff, 1);
        assert_eq!((size.ecx >> 12) & 0xf, 1);
        let ext = find(&out, 0x8000_0001, 0);
        assert_eq!(
            ext.ecx & (EXT_ECX_SVM | EXT_ECX_CMP_LEGACY),
            EXT_ECX_CMP_LEGACY
        );
        let apic = find(&out, 0x8000_001e, 0);
        assert_eq!((apic.eax, apic.ebx & 0xff), (1, 1));
    }

    /// Every topology field stays inside its bits however many vCPUs there are.
    #[test]
    fn topology_fields_hold_above_128_vcpus() {
        for vcpus in [128u8, 129, 200, 254] {
            let topo = CpuTopology {
                vcpus,
                tsc_deadline: false,
            };
            assert_eq!(topo.core_bits(), if vcpus <= 128 { 7 } else { 8 });
            let last = vcpus - 1;
            let intel = vcpu_cpuid(&host(b"GenuineIntel"), topo, last);
            let l1 = find(&intel, 1, 0);
            assert_eq!(l1.ebx >> 24, u32::from(last), "{vcpus}: APIC ID intact");
            let addressable = (l1.ebx >> 16) & 0xff;
            assert!(
                addressable >= u32::from(vcpus).min(255),
                "{vcpus}: {addressable}"
            );
            assert_eq!(l1.ebx & 0xffff, 0x0800, "{vcpus}: low half intact");
            let l4 = find(&intel, 4, 0);
            assert_eq!(l4.eax >> 26, 63, "{vcpus}: cores field saturates");
            assert_eq!(l4.eax & 0x3fff, 0x0121);
            let core = find(&intel, 0xb, 1);
            assert_eq!(
                (core.eax, core.ebx, core.edx),
                (topo.core_bits(), u32::from(vcpus), u32::from(last))
            );

            let amd = vcpu_cpuid(&host(b"AuthenticAMD"), topo, last);
            let size = find(&amd, 0x8000_0008, 0);
            assert_eq!(size.ecx & 0xff, u32::from(vcpus) - 1, "{vcpus}: NC");
            assert_eq!((size.ecx >> 12) & 0xf, topo.core_bits());
            assert_eq!(size.ecx & !0xf0ff, 0x700f & !0xf0ff, "other bits intact");
            let ext = find(&amd, 0x8000_001e, 0);
            assert_eq!((ext.eax, ext.ebx), (u32::from(last), u32::from(last)));
        }
    }

    #[test]
    fn a_field_saturates_at_its_width() {
        assert_eq!(field(256, 8), 255);
        assert_eq!(field(200, 6), 63);
        assert_eq!(field(5, 8), 5);
    }

    #[test]
    fn single_vcpu_has_no_htt() {
        let topo = CpuTopology {
            vcpus: 1,
            tsc_deadline: false,
        };
        assert_eq!(topo.core_bits(), 0);
        let out = vcpu_cpuid(&host(b"GenuineIntel"), topo, 0);
        assert_eq!(find(&out, 1, 0).edx & EDX_HTT, 0);
        assert_eq!((find(&out, 1, 0).ebx >> 16) & 0xff, 1);
    }
}
