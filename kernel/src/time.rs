//! Time stamps: the TSC, and its frequency when CPUID says it.
//!
//! Under QEMU TCG the TSC runs at a nominal rate unrelated to host speed; cycle counts are compared only with
//! other counts of the same boot (the model prints ratios), never taken as absolute speed.
//!
//! # Invariants
//! - `rdtsc` and `cpuid` have no side effects; nothing here changes machine state.

use core::arch::x86_64::{__cpuid, _rdtsc, CpuidResult};

/// The time-stamp counter.
#[allow(unused_unsafe)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and only reads the counter.
    unsafe { _rdtsc() }
}

#[allow(unused_unsafe)]
fn cpuid(leaf: u32) -> CpuidResult {
    // SAFETY: CPUID exists on every x86_64 CPU and only reads identification registers.
    unsafe { __cpuid(leaf) }
}

/// The TSC frequency in kHz from CPUID leaf 0x15 (or 0x16's base MHz), if the CPU reports it.
pub fn tsc_khz() -> Option<u64> {
    let max = cpuid(0).eax;
    if max >= 0x15 {
        let r = cpuid(0x15);
        if r.eax != 0 && r.ebx != 0 && r.ecx != 0 {
            return Some(r.ecx as u64 * r.ebx as u64 / r.eax as u64 / 1000);
        }
    }
    if max >= 0x16 {
        let mhz = cpuid(0x16).eax & 0xffff;
        if mhz != 0 {
            return Some(mhz as u64 * 1000);
        }
    }
    None
}
