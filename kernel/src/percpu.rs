//! Per-CPU data: one [`PerCpu`] per CPU, found through the GS base as Linux finds its per-CPU area
//! (`this_cpu_ptr`): `gs:[0]` holds the structure's own address.
//!
//! The boot CPU's is a static, installed right after its GDT (before the heap exists); a secondary CPU's is
//! allocated by [`crate::smp`] before its startup IPI and installed first thing in its Rust entry. Every
//! [`PerCpu`] is registered in [`all`] (leaked: CPUs are never taken down).
//!
//! # Invariants
//! - a CPU's GS base points at its own `PerCpu` from its entry on, and nothing else writes the GS base;
//! - `cpu` numbers are dense, 0 is the boot CPU; fields that change after registration are atomics.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use x86_64::registers::model_specific::GsBase;
use x86_64::VirtAddr;

/// A CPU's state during bring-up.
pub mod state {
    /// Started (INIT and startup IPIs sent), not heard from.
    pub const WAITING: u8 = 0;
    /// Reached its Rust entry in time: online.
    pub const ONLINE: u8 = 1;
    /// Did not answer in time; the boot CPU went on without it (a late arrival halts).
    pub const ABANDONED: u8 = 2;
}

/// One CPU's data.
#[repr(C)]
pub struct PerCpu {
    /// This structure's address (read as `gs:[0]`).
    this: *const PerCpu,
    /// Linux's CPU number.
    pub cpu: u32,
    pub apic_id: AtomicU32,
    pub node: AtomicU32,
    /// The double-fault IST stack `[start, end)`.
    pub ist: (u64, u64),
    /// The kernel stack `[start, end)`, an unmapped guard page below `start` (the boot CPU's: the bootloader's).
    pub stack: (u64, u64),
    /// [`state`].
    pub state: AtomicU8,
}

// SAFETY: `this` is only ever the structure's own address (never written after construction); every field that
// changes after registration is atomic.
unsafe impl Sync for PerCpu {}

static BOOT_CPU: PerCpu = PerCpu {
    this: core::ptr::null(),
    cpu: 0,
    apic_id: AtomicU32::new(0),
    node: AtomicU32::new(0),
    ist: (0, 0),
    stack: (0, 0),
    state: AtomicU8::new(state::ONLINE),
};

/// The boot CPU's `PerCpu` with its `this` field (a static cannot point at itself in a const initializer, so
/// the boot CPU's GS base points at this wrapper, whose first field is the pointer).
#[repr(C)]
struct BootArea {
    this: &'static PerCpu,
}

static BOOT_AREA: BootArea = BootArea { this: &BOOT_CPU };

static CPUS: spin::Mutex<Vec<&'static PerCpu>> = spin::Mutex::new(Vec::new());

/// Installs the boot CPU's per-CPU area (call once, right after `gdt::init`).
pub fn init_boot_cpu() {
    GsBase::write(VirtAddr::from_ptr(&BOOT_AREA));
}

/// Registers the boot CPU (needs the heap) with its APIC id and node.
pub fn register_boot_cpu(apic_id: u32, node: u32) {
    BOOT_CPU.apic_id.store(apic_id, Ordering::Relaxed);
    BOOT_CPU.node.store(node, Ordering::Relaxed);
    let mut cpus = CPUS.lock();
    if cpus.is_empty() {
        cpus.push(&BOOT_CPU);
    }
}

/// A secondary CPU's `PerCpu`, leaked and registered, state [`state::WAITING`].
pub fn new_cpu(cpu: u32, apic_id: u32, node: u32, ist: (u64, u64), stack: (u64, u64)) -> &'static PerCpu {
    let p: &'static mut PerCpu = alloc::boxed::Box::leak(alloc::boxed::Box::new(PerCpu {
        this: core::ptr::null(),
        cpu,
        apic_id: AtomicU32::new(apic_id),
        node: AtomicU32::new(node),
        ist,
        stack,
        state: AtomicU8::new(state::WAITING),
    }));
    p.this = p as *const PerCpu;
    let p: &'static PerCpu = p;
    CPUS.lock().push(p);
    p
}

/// Points this CPU's GS base at `p` (a secondary CPU's first step).
pub fn install(p: &'static PerCpu) {
    GsBase::write(VirtAddr::from_ptr(p));
}

/// This CPU's `PerCpu`; `None` before the boot CPU's area is installed.
pub fn try_current() -> Option<&'static PerCpu> {
    if GsBase::read().as_u64() == 0 {
        return None;
    }
    let p: u64;
    // SAFETY: the GS base is set (checked) and points at a `PerCpu` or the boot CPU's `BootArea`, whose first
    // 8 bytes are a pointer to the CPU's `PerCpu` (module invariant); the read has no side effect.
    unsafe { core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags)) };
    // SAFETY: as above: `p` is the address of a `'static` `PerCpu`.
    Some(unsafe { &*(p as *const PerCpu) })
}

/// This CPU's `PerCpu`.
pub fn current() -> &'static PerCpu {
    try_current().expect("percpu::init_boot_cpu runs before anything asks for the current CPU")
}

/// The online CPUs.
pub fn online() -> Vec<&'static PerCpu> {
    CPUS.lock().iter().copied().filter(|c| c.state.load(Ordering::Acquire) == state::ONLINE).collect()
}
