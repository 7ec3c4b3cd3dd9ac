//! The boot facts: what the boot found (the firmware map, the physical-memory window, the heap's range, the RSDP,
//! the NUMA discovery, the CPUs and their bring-up, and the command line), for the self-tests and the hotplug events, which run after the boot.
//!
//! # Invariants
//! - set once by `kernel_main` ([`set`]) before any self-test runs, never changed afterwards;
//! - [`get`] before [`set`] is a bug and panics.

use spin::Once;

use crate::{acpi, cmdline, memmap, phys};

/// What the boot found.
pub struct Facts {
    pub firmware: memmap::FirmwareMap,
    pub phys: phys::PhysMem,
    /// The heap's physical range.
    pub heap: (u64, u64),
    pub rsdp_addr: Option<u64>,
    pub numa: acpi::Numa,
    /// The CPUs of the MADT (empty: no MADT or a malformed one; the boot CPU alone).
    pub cpus: alloc::vec::Vec<mm::acpi::MadtCpu>,
    /// The CPUs the boot tried to bring up (CPU 0 the boot CPU), and how that went.
    pub plan: alloc::vec::Vec<mm::smp::CpuSlot>,
    pub smp: crate::smp::BringUp,
    pub options: cmdline::Options,
}

static FACTS: Once<Facts> = Once::new();

/// Records the facts (the first call wins; `kernel_main` makes exactly one).
pub fn set(facts: Facts) {
    FACTS.call_once(|| facts);
}

/// The boot facts.
pub fn get() -> &'static Facts {
    FACTS.get().expect("boot facts are set before the self-tests run")
}
