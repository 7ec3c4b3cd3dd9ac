//! Time stamps: the TSC, and its frequency from CPUID or measured against PIT channel 2.
//!
//! Under QEMU TCG the TSC runs at a nominal rate unrelated to host speed; cycle counts are compared only with
//! other counts of the same boot (the model prints ratios), never taken as absolute speed.
//!
//! # Invariants
//! - `rdtsc` and `cpuid` have no side effects; nothing here changes machine state except the PC speaker gate
//!   of PIT channel 2, which only [`pit_calibrate_tsc_khz`] uses (speaker output kept off).

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

/// The PIT's input clock (Hz).
const PIT_HZ: u64 = 1_193_182;

/// Measures the TSC rate against PIT channel 2 over `ms` milliseconds (Linux's `pit_calibrate_tsc`): the gate
/// of channel 2 is raised with the speaker off, the channel counts down once in mode 0, and the TSC is read
/// before and after its output goes high. Returns kHz. Under QEMU TCG the PIT follows the host clock, so this is
/// the TSC's rate in host time.
pub fn pit_calibrate_tsc_khz(ms: u64) -> u64 {
    use x86_64::instructions::port::Port;
    let ms = ms.clamp(1, 50);
    let latch = PIT_HZ * ms / 1000;
    let mut speaker: Port<u8> = Port::new(0x61);
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel2: Port<u8> = Port::new(0x42);
    // SAFETY: ports 0x61 (system control port B), 0x43 (PIT command) and 0x42 (PIT channel 2) exist on every PC
    // QEMU emulates; channel 2 drives only the PC speaker, whose output bit is cleared here, and no other code of
    // this kernel uses the PIT. Nothing in memory changes.
    let t = unsafe {
        let b = speaker.read();
        speaker.write((b & !0x02) | 0x01);
        command.write(0xb0); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write((latch & 0xff) as u8);
        channel2.write((latch >> 8) as u8);
        let t0 = rdtsc();
        // Loop invariant: the PIT output (bit 5 of port 0x61) is low until the count reaches 0.
        while speaker.read() & 0x20 == 0 {}
        rdtsc() - t0
    };
    t / ms
}

/// The TSC rate in kHz and where it came from: CPUID when the CPU reports it, else the PIT over 20 ms, measured
/// once per boot (the first call).
pub fn tsc_khz_or_calibrate() -> (u64, &'static str) {
    static RATE: spin::Once<(u64, &'static str)> = spin::Once::new();
    *RATE.call_once(|| match tsc_khz() {
        Some(k) if k > 0 => (k, "cpuid"),
        _ => (pit_calibrate_tsc_khz(20).max(1), "pit"),
    })
}
