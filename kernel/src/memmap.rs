//! The firmware memory map: BootInfo's regions translated into `mm::layout` terms and printed like Linux.
//!
//! Translation of bootloader_api's `MemoryRegionKind`:
//! `Usable` -> usable; `Bootloader` -> [`RegionKind::BootloaderReserved`] (RAM in use: printed `usable` and also
//! listed as a `memlab: reserved ... bootloader` line); `UnknownBios(n)` -> the e820 type `n` (Linux's names:
//! reserved, ACPI data, ACPI NVS, unusable, persistent (type 7), type N); `UnknownUefi(n)` -> the e820 kind
//! Linux's EFI stub gives that UEFI type (`RegionKind::from_efi_type`), else `UEFI type n`.
//!
//! Printed lines (parsed by the host):
//! ```text
//! BIOS-provided physical RAM map:
//! BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
//! memlab: firmware map: 13 raw regions, 11 printed
//! memlab: reserved [mem 0x0000000001000000-0x0000000001570fff] bootloader
//! ```
//! Regions are printed sorted with adjacent regions of the same kind merged (`mm::layout::normalize`); the
//! end is inclusive, as Linux prints it.
//!
//! # Invariants
//! - no region is dropped or changed except by merging adjacent same-kind regions; if normalization rejects the
//!   map, the raw regions are printed sorted instead, after a warning.

use alloc::vec::Vec;

use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use mm::layout::{normalize, FirmwareRegion, LayoutOptions, RegionKind};

use crate::println;

/// Translates one bootloader region kind.
pub fn kind(k: MemoryRegionKind) -> RegionKind {
    match k {
        MemoryRegionKind::Usable => RegionKind::Usable,
        MemoryRegionKind::Bootloader => RegionKind::BootloaderReserved,
        MemoryRegionKind::UnknownBios(n) => RegionKind::from_e820_type(n),
        // As Linux's EFI stub builds its e820 table; a type the stub leaves out stays visible as `UEFI type n`.
        MemoryRegionKind::UnknownUefi(n) => RegionKind::from_efi_type(n).unwrap_or(RegionKind::UefiType(n)),
        // MemoryRegionKind is non_exhaustive; a future kind is kept visible rather than guessed.
        _ => RegionKind::E820Type(0),
    }
}

/// The firmware map, raw (as the bootloader hands it over) and as printed.
pub struct FirmwareMap {
    pub raw: Vec<FirmwareRegion>,
    pub printed: Vec<FirmwareRegion>,
}

/// Translates BootInfo's regions.
pub fn from_boot_info(regions: &MemoryRegions) -> FirmwareMap {
    let raw: Vec<FirmwareRegion> = regions.iter().map(|r| FirmwareRegion::new(r.start, r.end, kind(r.kind))).collect();
    let printed = match normalize(&raw, &[], &LayoutOptions::default()) {
        Ok(layout) => layout.regions,
        Err(e) => {
            log::warn!("memory map: {}; printing the raw regions sorted", e);
            let mut v = raw.clone();
            v.sort_by_key(|r| (r.start, r.end));
            v
        }
    };
    FirmwareMap { raw, printed }
}

/// The end of the physical range the bootloader maps: `max(highest region end, 4 GiB)` rounded up to 2 MiB.
pub fn mapped_limit(region_ends: impl Iterator<Item = u64>) -> u64 {
    let max = region_ends.max().unwrap_or(0).max(1 << 32);
    max.checked_add((2 << 20) - 1).map_or(u64::MAX & !((2 << 20) - 1), |m| m & !((2 << 20) - 1))
}

/// Prints one reservation line.
pub fn print_reservation(start: u64, end: u64, what: &str) {
    println!("memlab: reserved [mem {:#018x}-{:#018x}] {}", start, end - 1, what);
}

/// Prints the map and the bootloader reservations.
pub fn print(map: &FirmwareMap) {
    println!("BIOS-provided physical RAM map:");
    for r in &map.printed {
        println!("BIOS-e820: [mem {:#018x}-{:#018x}] {}", r.start, r.end - 1, r.kind);
    }
    println!("memlab: firmware map: {} raw regions, {} printed", map.raw.len(), map.printed.len());
    for r in map.printed.iter().filter(|r| r.kind == RegionKind::BootloaderReserved) {
        print_reservation(r.start, r.end, "bootloader");
    }
}
