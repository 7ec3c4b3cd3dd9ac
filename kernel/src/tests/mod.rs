//! The self-tests: one table, [`TESTS`]. Add a test by writing a `fn() -> TestResult` and adding one row.
//!
//! Smoke tests check that the boot pipeline works on whatever QEMU profile is running: serial, heap, the
//! firmware map, ACPI/SRAT (against `expect_nodes=` when the runner passes the profile's node count), and the
//! layout built from both. Demo tests (`__` prefix) show the failure paths and run only when named exactly.
//!
//! # Invariants
//! - tests only read the boot facts ([`crate::facts`]); none changes global state except through the heap.

use crate::selftest::SelfTest;

mod buddy;
mod demos;
mod memmap;
mod platform;
mod smp;

use buddy::*;
use demos::*;
use memmap::*;
use platform::*;
use smp::*;

/// Every self-test, in the order they run.
pub static TESTS: &[SelfTest] = &[
    SelfTest { name: "serial_ready", run: serial_ready },
    SelfTest { name: "heap_alloc_free", run: heap_alloc_free },
    SelfTest { name: "heap_is_reserved_usable_ram", run: heap_is_reserved_usable_ram },
    SelfTest { name: "firmware_map_sorted", run: firmware_map_sorted },
    SelfTest { name: "firmware_map_has_ram", run: firmware_map_has_ram },
    SelfTest { name: "acpi_rsdp_found", run: acpi_rsdp_found },
    SelfTest { name: "acpi_srat_nodes", run: acpi_srat_nodes },
    SelfTest { name: "acpi_madt_cpus", run: acpi_madt_cpus },
    SelfTest { name: "smp_cpus_online", run: smp_cpus_online },
    SelfTest { name: "smp_shared_counters", run: smp_shared_counters },
    SelfTest { name: "layout_with_numa", run: layout_with_numa },
    SelfTest { name: "cmdline_table", run: cmdline_table },
    SelfTest { name: "mm_policy_promises_kept", run: mm_policy_promises_kept },
    SelfTest { name: "mm_memmap_node_local", run: mm_memmap_node_local },
    SelfTest { name: "mm_accounting", run: mm_accounting },
    SelfTest { name: "mm_pfn_valid_semantics", run: mm_pfn_valid_semantics },
    SelfTest { name: "mm_poison_detected", run: mm_poison_detected },
    SelfTest { name: "mm_memmap_layout", run: mm_memmap_layout },
    SelfTest { name: "mm_timing_recorded", run: mm_timing_recorded },
    SelfTest { name: "buddy_handover_accounting", run: buddy_handover_accounting },
    SelfTest { name: "buddy_drain_and_refill", run: buddy_drain_and_refill },
    SelfTest { name: "buddy_random_stress", run: buddy_random_stress },
    SelfTest { name: "buddy_node_local", run: buddy_node_local },
    SelfTest { name: "buddy_zonelists_follow_distances", run: buddy_zonelists_follow_distances },
    SelfTest { name: "walkers_meet_the_policy", run: walkers_meet_the_policy },
    SelfTest { name: "heap_collections", run: heap_collections },
    SelfTest { name: "heap_grows_from_buddy", run: heap_grows_from_buddy },
    SelfTest { name: "__fail_demo", run: fail_demo },
    SelfTest { name: "__pagefault_demo", run: pagefault_demo },
    SelfTest { name: "__hang_demo", run: hang_demo },
    SelfTest { name: "__overflow_demo", run: overflow_demo },
    SelfTest { name: "__panic_demo", run: panic_demo },
    SelfTest { name: "__poisoned_page_demo", run: poisoned_page_demo },
];
