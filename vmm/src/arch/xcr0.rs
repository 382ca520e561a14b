//! The XCR0 a vCPU starts with.
//!
//! Linux sets XCR0 to every user state CPUID leaf 0xd offers, then checks that CPUID's XSAVE
//! size matches. KVM keeps that size in step when the guest writes XCR0, but a KVM that does
//! not see the write (as in the project's nested, emulated lab, where the guest then warns
//! "XSAVE consistency problem") leaves it stale. Starting each vCPU with that same XCR0 makes
//! the guest's write a no-op, so both agree either way; on any other KVM it changes nothing
//! the guest can see after its own write.

use kvm_bindings::kvm_cpuid_entry2;

/// x87, SSE, AVX, the three AVX-512 states and PKRU: the user states Tern lets a guest start
/// with (not MPX, which is deprecated, nor AMX, which needs a permission KVM may not have).
const USER_STATES: u64 = 0b10_1110_0111;
const X87_SSE: u64 = 0b11;
const AVX: u64 = 1 << 2;
const AVX512: u64 = 0b1110_0000;

/// The XCR0 to start with, from the vCPU's CPUID: the user states leaf 0xd offers, kept
/// consistent (AVX-512 whole and only with AVX). `None` without XSAVE (no leaf 0xd).
pub fn boot_xcr0(cpuid: &[kvm_cpuid_entry2]) -> Option<u64> {
    let leaf = cpuid.iter().find(|e| e.function == 0xd && e.index == 0)?;
    let offered = (u64::from(leaf.edx) << 32 | u64::from(leaf.eax)) & USER_STATES;
    if offered & X87_SSE != X87_SSE {
        return None;
    }
    let mut xcr0 = offered;
    if xcr0 & AVX == 0 || xcr0 & AVX512 != AVX512 {
        xcr0 &= !AVX512;
    }
    Some(xcr0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_0xd(eax: u32, edx: u32) -> Vec<kvm_cpuid_entry2> {
        vec![kvm_cpuid_entry2 {
            function: 0xd,
            index: 0,
            eax,
            edx,
            ..Default::default()
        }]
    }

    #[test]
    fn user_states_the_cpuid_offers() {
        assert_eq!(boot_xcr0(&leaf_0xd(0x7, 0)), Some(0x7));
        // MPX (bits 3, 4) and AMX (17, 18) are left out; PKRU and AVX-512 stay.
        assert_eq!(boot_xcr0(&leaf_0xd(0x6_02ff, 0)), Some(0x2e7));
    }

    #[test]
    fn avx512_only_whole_and_with_avx() {
        assert_eq!(boot_xcr0(&leaf_0xd(0x67, 0)), Some(0x7));
        assert_eq!(boot_xcr0(&leaf_0xd(0xe3, 0)), Some(0x3));
    }

    #[test]
    fn nothing_without_xsave() {
        assert_eq!(boot_xcr0(&[]), None);
        assert_eq!(boot_xcr0(&leaf_0xd(0x1, 0)), None);
    }
}
