//! # mm: the SPARSEMEM memory model
//!
//! This crate owns the memory model of the project: the normalized firmware layout, memblock, NUMA nodes and
//! zones, SPARSEMEM sections and subsections, the 64-byte struct pages of the memmap, the hole-initialization
//! policies, the pageblock usemap with the `set_pfnblock_flags_mask` invariant, the verifier and the report.
//! It also owns the pure parsers of its inputs (ACPI SRAT tables, the kernel command line, Linux boot logs).
//!
//! It is `no_std` with `alloc` and touches no hardware: the kernel and the host simulator run the same code.
//! The only two things that differ between them sit behind small traits: where memmap memory comes from and how
//! the report is printed.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod acpi;
pub mod buddy;
pub mod cmdline;
pub mod consts;
pub mod deferred;
pub mod dmesg;
pub mod hotplug;
pub mod layout;
pub mod memblock;
pub mod memmap;
pub mod memmodel;
pub mod model;
pub mod page;
pub mod policy;
pub mod procfs;
pub mod report;
pub mod smp;
pub mod sparse;
pub mod usemap;
pub mod verify;
pub mod walkers;
pub mod watermarks;
pub mod zonelock;
pub mod zones;
