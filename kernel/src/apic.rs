//! The local APIC in xAPIC mode: this CPU's APIC id, software enable, end of interrupt, and the interrupt
//! command register that sends INIT, startup and fixed IPIs to another CPU.
//!
//! The registers are memory-mapped at the address in `IA32_APIC_BASE` (0xfee00000 on every machine QEMU
//! emulates) and reached through the bootloader's physical-memory mapping, which covers the first 4 GiB. That
//! mapping is write-back; the APIC page is still uncacheable because the firmware's MTRRs say so (the effective
//! type of WB page attributes over an UC MTRR range is UC), and QEMU dispatches MMIO by address whatever the
//! memory type.
//!
//! # Invariants
//! - [`init`] runs on the boot CPU before any other function here, and checks that the register page is mapped;
//! - only [`crate::smp`] sends IPIs, one at a time (the ICR is per CPU, and `send` waits for the previous
//!   delivery to finish).

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

use crate::phys::PhysMem;

const IA32_APIC_BASE: u32 = 0x1b;
const REG_ID: u64 = 0x20;
const REG_EOI: u64 = 0xb0;
const REG_SVR: u64 = 0xf0;
const REG_ESR: u64 = 0x280;
const REG_ICR_LOW: u64 = 0x300;
const REG_ICR_HIGH: u64 = 0x310;
/// ICR delivery status: the previous IPI has not been accepted yet.
const ICR_PENDING: u32 = 1 << 12;
/// The spurious-interrupt vector (its low 4 bits must be 1s on old APICs).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// The virtual address of the register page (0: not initialized).
static BASE: AtomicU64 = AtomicU64::new(0);

/// Finds the register page (`IA32_APIC_BASE`) and checks it is mapped. Returns its physical address.
pub fn init(phys: &PhysMem) -> Result<u64, &'static str> {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU with an APIC (all of them); reading it has no effect.
    let msr = unsafe { Msr::new(IA32_APIC_BASE).read() };
    if msr & (1 << 11) == 0 {
        return Err("the local APIC is disabled in IA32_APIC_BASE");
    }
    let pa = msr & 0x000f_ffff_ffff_f000;
    if !phys.is_mapped(pa, 4096) {
        return Err("the local APIC's registers are not in the physical-memory mapping");
    }
    BASE.store(phys.virt(pa), Ordering::Release);
    Ok(pa)
}

fn reg(offset: u64) -> *mut u32 {
    let base = BASE.load(Ordering::Acquire);
    assert!(base != 0, "apic::init runs first");
    (base + offset) as *mut u32
}

fn read(offset: u64) -> u32 {
    // SAFETY: `reg` points into the mapped APIC register page (checked by `init`); APIC registers are 32-bit,
    // 16-byte aligned, and reading ID, ICR or ESR has no side effect.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: u64, value: u32) {
    // SAFETY: as in `read`; the registers written here (SVR, EOI, ESR, ICR) are this CPU's own, and an ICR
    // write only sends the IPI the caller asked for.
    unsafe { reg(offset).write_volatile(value) }
}

/// This CPU's xAPIC id.
pub fn id() -> u32 {
    read(REG_ID) >> 24
}

/// Software-enables this CPU's APIC (spurious vector [`SPURIOUS_VECTOR`]), so it accepts fixed IPIs.
pub fn enable() {
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    // Clears the error status (write, then read), as Linux's `setup_local_APIC` does.
    write(REG_ESR, 0);
    let _ = read(REG_ESR);
}

/// Signals the end of the interrupt being handled.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Sends one IPI: `low` is the ICR's low word (vector, delivery mode, level, trigger), to xAPIC id `apic_id`.
fn send(apic_id: u32, low: u32) {
    while read(REG_ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(REG_ICR_HIGH, apic_id << 24);
    write(REG_ICR_LOW, low);
    while read(REG_ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
}

/// INIT, level-triggered assert then de-assert (Linux's `wakeup_secondary_cpu_via_init`).
pub fn send_init(apic_id: u32) {
    send(apic_id, 0x0000_c500);
    send(apic_id, 0x0000_8500);
}

/// A startup IPI: the CPU starts in real mode at `page << 12`, `CS = page << 8`, `IP = 0`.
pub fn send_startup(apic_id: u32, page: u8) {
    send(apic_id, 0x0000_0600 | u32::from(page));
}

/// A fixed interrupt of `vector` to `apic_id`.
pub fn send_fixed(apic_id: u32, vector: u8) {
    send(apic_id, 0x0000_4000 | u32::from(vector));
}
