//! ACPI tables for a hardware-reduced platform: RSDP, XSDT, FADT, DSDT and MADT, plus SRAT
//! and SLIT ([`numa`]) when the guest has a NUMA topology.
//!
//! The FADT says there is no VGA, no CMOS RTC and no i8042 to probe, and points at the
//! power-management block of `devices::acpi_pm` for soft-off (via `\_S5`) and reset. The MADT
//! lists one local APIC per vCPU (APIC ID = vCPU index) and the IOAPIC.

use acpi_tables::fadt::{FADTBuilder, Flags, PmProfile};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::madt::{
    EnabledStatus, IoApic, LocalInterruptController, ProcessorLocalApic, MADT,
};
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::{aml, Aml};
use devices::acpi_pm::{
    ACPI_PM_PORT_BASE, RESET_OFFSET, RESET_VALUE, S5_SLEEP_TYPE, SLEEP_CONTROL_OFFSET,
    SLEEP_STATUS_OFFSET,
};
use devices::serial::{COM1_IRQ, COM1_PORT_BASE, COM_PORT_COUNT};

use super::layout::{APIC_START, IOAPIC_START};
use crate::virtio_mmio::layout::MmioSlot;

pub mod numa;
pub mod virtio;

pub use self::numa::GuestNumaTopology;

/// Where the RSDP goes: the BIOS area Linux scans, also passed in the zero page.
pub const RSDP_START: u64 = 0xe0000;
/// End of the area the tables may fill.
pub const ACPI_END: u64 = 0x10_0000;

pub(crate) const OEM_ID: [u8; 6] = *b"TERN  ";
pub(crate) const OEM_TABLE_ID: [u8; 8] = *b"TERNVM  ";
pub(crate) const OEM_REVISION: u32 = 1;
const TABLE_ALIGN: u64 = 16;

/// IAPC_BOOT_ARCH: VGA is not present.
const BOOT_ARCH_NO_VGA: u16 = 1 << 2;
/// IAPC_BOOT_ARCH: the CMOS RTC is not present.
const BOOT_ARCH_NO_CMOS_RTC: u16 = 1 << 5;

/// Errors laying out the tables.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcpiError {
    /// The tables do not fit below 1 MiB.
    #[error("the ACPI tables need {0} bytes, more than the {1} bytes reserved for them")]
    TooLarge(u64, u64),
}

/// The highest APIC ID a device may have: 0xff is the broadcast ID.
pub const MAX_APIC_ID: u8 = 0xfe;

/// The IOAPIC's ID: the first one after the vCPUs' APIC IDs (0 to `vcpus` - 1). Tern allows
/// at most 254 vCPUs, so it is at most 254 and never the broadcast ID; the MADT and the MP
/// table both take it from here.
pub fn ioapic_id(vcpus: u8) -> u8 {
    vcpus.min(MAX_APIC_ID)
}

fn bytes_of(table: &dyn Aml) -> Vec<u8> {
    let mut bytes = Vec::new();
    table.to_aml_bytes(&mut bytes);
    bytes
}

fn io_register(port: u16) -> GAS {
    GAS::new(
        AddressSpace::SystemIo,
        8,
        0,
        AccessSize::ByteAccess,
        u64::from(port),
    )
}

/// COM1 as an ACPI device, so that its interrupt is routed through the IOAPIC (a
/// hardware-reduced platform has no legacy PIC to route ISA interrupts).
fn com1_device(body: &mut Vec<u8>) {
    let hid = aml::EISAName::new("PNP0501");
    let ports = aml::IO::new(COM1_PORT_BASE, COM1_PORT_BASE, 1, COM_PORT_COUNT as u8);
    let irq = aml::Interrupt::new(true, true, false, false, COM1_IRQ);
    let resources = aml::ResourceTemplate::new(vec![&ports, &irq]);
    let hid_name = aml::Name::new("_HID".into(), &hid);
    let uid_name = aml::Name::new("_UID".into(), &0u8);
    let crs_name = aml::Name::new("_CRS".into(), &resources);
    let com1 = aml::Device::new("COM1".into(), vec![&hid_name, &uid_name, &crs_name]);
    aml::Scope::new("\\_SB_".into(), vec![&com1]).to_aml_bytes(body);
}

fn dsdt(virtio: &[MmioSlot]) -> Vec<u8> {
    let mut body = Vec::new();
    let s5 = aml::Package::new(vec![&S5_SLEEP_TYPE, &S5_SLEEP_TYPE, &0u8, &0u8]);
    aml::Name::new("_S5_".into(), &s5).to_aml_bytes(&mut body);
    com1_device(&mut body);
    virtio::virtio_devices(virtio, &mut body);
    let mut table = Sdt::new(*b"DSDT", 36, 6, OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    table.append_slice(&body);
    table.as_slice().to_vec()
}

fn fadt(dsdt_addr: u64) -> Vec<u8> {
    let mut fadt = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt_addr)
        .preferred_pm_profile(PmProfile::EnterpriseServer)
        .flag(Flags::HwReducedAcpi)
        .flag(Flags::ResetRegSup)
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    fadt.iapc_boot_arch = (BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_CMOS_RTC).into();
    fadt.reset_reg = io_register(ACPI_PM_PORT_BASE + RESET_OFFSET);
    fadt.reset_value = RESET_VALUE;
    fadt.sleep_control_reg = io_register(ACPI_PM_PORT_BASE + SLEEP_CONTROL_OFFSET);
    fadt.sleep_status_reg = io_register(ACPI_PM_PORT_BASE + SLEEP_STATUS_OFFSET);
    fadt.hypervisor_vendor_identity = u64::from_le_bytes(*b"TERNVMM\0").into();
    bytes_of(&fadt.finalize())
}

fn madt(vcpus: u8) -> Vec<u8> {
    let mut madt = MADT::new(
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
        LocalInterruptController::Address(APIC_START as u32),
    );
    for cpu in 0..vcpus {
        madt.add_structure(ProcessorLocalApic::new(cpu, cpu, EnabledStatus::Enabled));
    }
    madt.add_structure(IoApic::new(ioapic_id(vcpus), IOAPIC_START as u32, 0));
    bytes_of(&madt)
}

/// The tables for `vcpus` vCPUs, the virtio-mmio devices in `virtio` and, if given, a guest
/// NUMA topology, as (guest address, bytes), the RSDP first at [`RSDP_START`].
pub fn acpi_tables(
    vcpus: u8,
    numa: Option<&GuestNumaTopology>,
    virtio: &[MmioSlot],
) -> Result<Vec<(u64, Vec<u8>)>, AcpiError> {
    let extra = numa
        .map(|t| vec![numa::srat(t), numa::slit(t)])
        .unwrap_or_default();
    lay_out(vcpus, extra, virtio)
}

fn lay_out(
    vcpus: u8,
    extra: Vec<Vec<u8>>,
    virtio: &[MmioSlot],
) -> Result<Vec<(u64, Vec<u8>)>, AcpiError> {
    let mut next = (RSDP_START + Rsdp::len() as u64).next_multiple_of(TABLE_ALIGN);
    let mut place = |bytes: Vec<u8>| {
        let addr = next;
        next = (addr + bytes.len() as u64).next_multiple_of(TABLE_ALIGN);
        (addr, bytes)
    };
    let dsdt = place(dsdt(virtio));
    let fadt = place(fadt(dsdt.0));
    let madt = place(madt(vcpus));
    let extra: Vec<(u64, Vec<u8>)> = extra.into_iter().map(&mut place).collect();

    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    for addr in [fadt.0, madt.0]
        .into_iter()
        .chain(extra.iter().map(|(a, _)| *a))
    {
        xsdt.add_entry(addr);
    }
    let xsdt = place(bytes_of(&xsdt));
    if next > ACPI_END {
        return Err(AcpiError::TooLarge(
            next - RSDP_START,
            ACPI_END - RSDP_START,
        ));
    }
    let rsdp = (RSDP_START, bytes_of(&Rsdp::new(OEM_ID, xsdt.0)));

    let mut tables = vec![rsdp, xsdt, fadt, dsdt, madt];
    tables.extend(extra);
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
    }

    fn find<'a>(tables: &'a [(u64, Vec<u8>)], sig: &[u8]) -> &'a (u64, Vec<u8>) {
        tables.iter().find(|(_, t)| t.starts_with(sig)).unwrap()
    }

    fn u32_at(bytes: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn every_table_checksums_and_states_its_length() {
        let tables = acpi_tables(4, None, &[]).unwrap();
        let (rsdp_addr, rsdp) = &tables[0];
        assert_eq!(*rsdp_addr, RSDP_START);
        assert_eq!(&rsdp[..8], b"RSD PTR ");
        assert_eq!(sum(&rsdp[..20]), 0);
        assert_eq!(sum(rsdp), 0);
        for (_, table) in &tables[1..] {
            assert_eq!(u32_at(table, 4) as usize, table.len(), "{:?}", &table[..4]);
            assert_eq!(
                sum(table),
                0,
                "checksum of {:?}",
                std::str::from_utf8(&table[..4])
            );
        }
    }

    #[test]
    fn pointers_chain_from_rsdp_to_every_table() {
        let tables = lay_out(2, vec![b"TEST".to_vec()], &[]).unwrap();
        let xsdt = find(&tables, b"XSDT");
        assert_eq!(u64_at(&tables[0].1, 24), xsdt.0);
        let entries: Vec<u64> = xsdt.1[36..]
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            entries,
            vec![
                find(&tables, b"FACP").0,
                find(&tables, b"APIC").0,
                find(&tables, b"TEST").0
            ]
        );
        let fadt = &find(&tables, b"FACP").1;
        assert_eq!(u64_at(fadt, 140), find(&tables, b"DSDT").0);
        assert!(tables.iter().all(|(a, _)| a % 16 == 0));
        assert!(tables.iter().all(|(a, t)| a + t.len() as u64 <= ACPI_END));
    }

    #[test]
    fn fadt_is_hardware_reduced_with_sleep_and_reset_registers() {
        let tables = acpi_tables(1, None, &[]).unwrap();
        let fadt = &find(&tables, b"FACP").1;
        let flags = u32_at(fadt, 112);
        assert_ne!(flags & (1 << 20), 0, "HW_REDUCED_ACPI");
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        let boot_arch = u16::from_le_bytes([fadt[109], fadt[110]]);
        assert_eq!(boot_arch & 0b10, 0, "no i8042 to probe");
        assert_ne!(boot_arch & BOOT_ARCH_NO_CMOS_RTC, 0);
        // Reset register (GAS at 116) and its value (128); sleep control register at 244.
        assert_eq!((fadt[116], u64_at(fadt, 120)), (1, 0x602));
        assert_eq!(fadt[128], RESET_VALUE);
        assert_eq!((fadt[244], u64_at(fadt, 248)), (1, 0x600));
        assert_eq!((fadt[256], u64_at(fadt, 260)), (1, 0x601));
    }

    #[test]
    fn madt_lists_each_vcpu_and_the_ioapic() {
        let tables = acpi_tables(3, None, &[]).unwrap();
        let madt = &find(&tables, b"APIC").1;
        assert_eq!(u32_at(madt, 36), 0xfee0_0000);
        let entries = &madt[44..];
        for cpu in 0..3usize {
            let e = &entries[cpu * 8..cpu * 8 + 8];
            assert_eq!(
                (e[0], e[1], e[2], e[3], u32_at(e, 4)),
                (0, 8, cpu as u8, cpu as u8, 1)
            );
        }
        let ioapic = &entries[24..36];
        assert_eq!((ioapic[0], ioapic[1], ioapic[2]), (1, 12, 3));
        assert_eq!((u32_at(ioapic, 4), u32_at(ioapic, 8)), (0xfec0_0000, 0));
    }

    #[test]
    fn the_ioapic_id_is_free_and_never_the_broadcast_id() {
        for vcpus in 1..=254u8 {
            let id = ioapic_id(vcpus);
            assert!(id >= vcpus && id != 0xff, "{vcpus} vCPUs: {id}");
        }
        let tables = acpi_tables(254, None, &[]).unwrap();
        let madt = &find(&tables, b"APIC").1;
        let ioapic = &madt[44 + 254 * 8..44 + 254 * 8 + 12];
        assert_eq!((ioapic[0], ioapic[2]), (1, 254));
    }

    #[test]
    fn dsdt_names_the_s5_sleep_state() {
        let tables = acpi_tables(1, None, &[]).unwrap();
        let dsdt = &find(&tables, b"DSDT").1;
        let body = &dsdt[36..];
        // NameOp "_S5_" PackageOp ...
        assert_eq!(&body[..5], b"\x08_S5_");
        assert_eq!(body[5], 0x12);
        assert!(body.windows(2).any(|w| w == [0x0a, S5_SLEEP_TYPE]));
    }

    #[test]
    fn dsdt_declares_com1_with_its_port_and_interrupt() {
        let tables = acpi_tables(1, None, &[]).unwrap();
        let dsdt = &find(&tables, b"DSDT").1;
        assert!(dsdt.windows(4).any(|w| w == b"COM1"));
        // IO descriptor: 0x47, decode16, min 0x3f8, max 0x3f8, align 1, length 8.
        assert!(dsdt
            .windows(8)
            .any(|w| w == [0x47, 1, 0xf8, 3, 0xf8, 3, 1, 8]));
        // Extended IRQ descriptor: consumer, edge, active high, exclusive, IRQ 4.
        assert!(dsdt
            .windows(9)
            .any(|w| w == [0x89, 6, 0, 0b11, 1, 4, 0, 0, 0]));
    }

    #[test]
    fn too_many_tables_are_refused() {
        let huge = vec![vec![0u8; 200 * 1024]];
        assert!(matches!(
            lay_out(1, huge, &[]),
            Err(AcpiError::TooLarge(..))
        ));
    }

    #[test]
    fn a_numa_guest_gets_srat_and_slit_in_the_xsdt() {
        let topo = GuestNumaTopology {
            vcpu_domains: vec![0, 1],
            memory: vec![(0, 1 << 28, 0), (1 << 28, 1 << 28, 1)],
            distances: vec![vec![10, 20], vec![20, 10]],
        };
        let tables = acpi_tables(2, Some(&topo), &[]).unwrap();
        let xsdt = find(&tables, b"XSDT");
        assert_eq!(xsdt.1.len(), 36 + 4 * 8);
        for sig in [b"SRAT", b"SLIT"] {
            let addr = find(&tables, sig).0;
            assert!(xsdt.1[36..]
                .chunks(8)
                .any(|c| u64::from_le_bytes(c.try_into().unwrap()) == addr));
        }
    }
}
