//! The layout's tests: normalization rules, bad input, the x86 adjustments and user maps.
use super::*;
use RegionKind::*;

fn fr(start: u64, end: u64, kind: RegionKind) -> FirmwareRegion {
    FirmwareRegion::new(start, end, kind)
}

/// The map QEMU 7.2 `-m 4000M` (pc, BIOS) hands over (shared/reference/qemu-layouts.md).
pub(crate) fn qemu_m4000() -> Vec<FirmwareRegion> {
    vec![
        fr(0, 0x9fc00, Usable),
        fr(0x9fc00, 0xa0000, Reserved),
        fr(0xf0000, 0x100000, Reserved),
        fr(0x100000, 0x1000000, Usable),
        fr(0x1000000, 0x1140000, BootloaderReserved),
        fr(0x1140000, 0x1571000, BootloaderReserved),
        fr(0x1571000, 0xbffe0000, Usable),
        fr(0xbffe0000, 0xc0000000, Reserved),
        fr(0xfffc0000, 0x100000000, Reserved),
        fr(0x100000000, 0x13a000000, Usable),
        fr(0xfd00000000, 0x10000000000, Reserved),
    ]
}

#[test]
fn qemu_m4000_normalizes_to_linux_memblock() {
    let l = normalize(&qemu_m4000(), &[], &LayoutOptions::default()).unwrap();
    assert_eq!(
        l.memory,
        vec![
            MemRange { start_pfn: 0, end_pfn: 0x9f, nid: 0 },
            MemRange { start_pfn: 0x100, end_pfn: 0xbffe0, nid: 0 },
            MemRange { start_pfn: 0x100000, end_pfn: 0x13a000, nid: 0 },
        ]
    );
    assert_eq!(l.reserved, vec![Reservation { start_pfn: 0x1000, end_pfn: 0x1571, reason: ReserveReason::Bootloader }]);
    // The two bootloader regions merged into one region, as did nothing else.
    assert_eq!(l.regions.len(), 10);
    assert!(l.notes.iter().any(|n| matches!(n, LayoutNote::TrimmedRam { end_pfn: 0x9f, .. })));
}

#[test]
fn x86_quirks_reserve_page_0_and_remove_the_bios_area() {
    let (regions, lines) = x86_e820_quirks(&qemu_m4000());
    assert_eq!(lines[0], "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved");
    assert_eq!(lines[1], "e820: remove [mem 0x000a0000-0x000fffff] usable");
    let l = normalize(&regions, &[], &LayoutOptions::default()).unwrap();
    assert_eq!(l.memory[0], MemRange { start_pfn: 1, end_pfn: 0x9f, nid: 0 });
    assert_eq!(l.memory[1].start_pfn, 0x100);
    // RAM reported across the BIOS area is split around it.
    let (r, _) = x86_e820_quirks(&[fr(0, 0x200000, Usable)]);
    assert_eq!(r, vec![fr(0, 0x1000, Reserved), fr(0x1000, 0xa0000, Usable), fr(0x100000, 0x200000, Usable)]);
}

#[test]
fn mem_and_memmap_options_change_the_map() {
    use crate::cmdline::{MemmapEntry, MemmapKind};
    // mem=4000M on a bigger map: RAM ends mid-section; memmap=64M$0x20000000 carves a reserved hole.
    let (r, lines) = apply_user_map(
        &[fr(0, 0x9fc00, Usable), fr(0x100000, 0x200000000, Usable)],
        Some(4000 << 20),
        &[MemmapEntry::Add { kind: MemmapKind::Reserved, size: 64 << 20, start: 0x20000000 }],
    );
    assert_eq!(lines[0], "e820: remove [mem 0xfa000000-0xfffffffffffffffe] usable");
    assert_eq!(lines[1], "user-defined physical RAM map:");
    let l = normalize(&r, &[], &LayoutOptions::default()).unwrap();
    assert_eq!(
        l.memory,
        vec![
            MemRange { start_pfn: 0, end_pfn: 0x9f, nid: 0 },
            MemRange { start_pfn: 0x100, end_pfn: 0x20000, nid: 0 },
            MemRange { start_pfn: 0x24000, end_pfn: 0xfa000, nid: 0 },
        ]
    );
    let (r, _) = apply_user_map(
        &r,
        None,
        &[MemmapEntry::Exactmap, MemmapEntry::Add { kind: MemmapKind::Ram, size: 1 << 30, start: 1 << 32 }],
    );
    assert_eq!(r, vec![fr(1 << 32, (1 << 32) + (1 << 30), Usable)]);
    let (r, _) = apply_user_map(
        &[fr(0, 1 << 30, Usable)],
        None,
        &[MemmapEntry::Update { size: 1 << 20, start: 1 << 20, from: Some(1), to: Some(2) }],
    );
    assert_eq!(r, vec![fr(0, 1 << 20, Usable), fr(2 << 20, 1 << 30, Usable), fr(1 << 20, 2 << 20, Reserved)]);
}

#[test]
fn overlaps_resolved_by_precedence_and_noted() {
    let l = normalize(
        &[fr(0, 0x10000, Usable), fr(0x8000, 0x20000, Reserved), fr(0x1f000, 0x30000, AcpiNvs)],
        &[],
        &LayoutOptions::default(),
    )
    .unwrap();
    assert_eq!(l.regions, vec![fr(0, 0x8000, Usable), fr(0x8000, 0x1f000, Reserved), fr(0x1f000, 0x30000, AcpiNvs)]);
    assert_eq!(l.notes.len(), 3);
    assert_eq!(l.notes[2], LayoutNote::RamAtPfnZero { end_pfn: 8 });
    assert!(matches!(l.notes[0], LayoutNote::Overlap { start: 0x8000, end: 0x10000, winner: Reserved, loser: Usable }));
    assert_eq!(l.memory, vec![MemRange { start_pfn: 0, end_pfn: 8, nid: 0 }]);
}

#[test]
fn unsorted_duplicates_and_empty_regions() {
    let l = normalize(
        &[fr(0x100000, 0x200000, Usable), fr(0, 0x1000, Usable), fr(0x100000, 0x200000, Usable), fr(5, 5, Reserved)],
        &[],
        &LayoutOptions::default(),
    )
    .unwrap();
    assert_eq!(l.memory.len(), 2);
    assert_eq!(
        l.notes,
        vec![
            LayoutNote::Duplicate { index: 2, first: 0 },
            LayoutNote::DroppedEmpty { index: 3 },
            LayoutNote::RamAtPfnZero { end_pfn: 1 }
        ]
    );
}

#[test]
fn errors_are_named() {
    let o = LayoutOptions::default();
    assert_eq!(normalize(&[fr(10, 5, Usable)], &[], &o), Err(LayoutError::Inverted { index: 0, start: 10, end: 5 }));
    assert!(matches!(normalize(&[fr(0, 1 << 47, Usable)], &[], &o), Err(LayoutError::BeyondPhysmem { .. })));
    assert!(normalize(&[fr(0, 1 << 47, Usable)], &[], &LayoutOptions::five_level()).is_ok());
    let many: Vec<_> = (0..E820_MAX_ENTRIES as u64 + 1).map(|i| fr(i << 20, (i << 20) + 4096, Usable)).collect();
    assert_eq!(
        normalize(&many, &[], &o),
        Err(LayoutError::TooManyRegions { count: E820_MAX_ENTRIES + 1, max: E820_MAX_ENTRIES })
    );
    assert_eq!(normalize(&[fr(0, 100, Usable)], &[], &o), Err(LayoutError::NoMemory));
    let n = |nid, start, end| NumaAffinity { nid, start, end, hotplug: false };
    assert_eq!(
        normalize(&[fr(0, 1 << 30, Usable)], &[n(64, 0, 1 << 30)], &o),
        Err(LayoutError::NodeOutOfRange { nid: 64 })
    );
    assert!(matches!(
        normalize(&[fr(0, 1 << 30, Usable)], &[n(0, 0, 1 << 29), n(1, 1 << 28, 1 << 30)], &o),
        Err(LayoutError::NumaOverlap { a: 0, b: 1, .. })
    ));
    assert!(matches!(
        normalize(&[fr(0, 1 << 30, Usable)], &[n(0, 0, 1 << 29)], &o),
        Err(LayoutError::NumaCoverage { uncovered_bytes: 0x2000_0000, .. })
    ));
    for e in [LayoutError::NoMemory, LayoutError::NodeOutOfRange { nid: 70 }] {
        assert!(!alloc::format!("{}", e).is_empty());
    }
}

#[test]
fn numa_split_and_small_gaps_dropped_with_note() {
    let n = |nid, start, end| NumaAffinity { nid, start, end, hotplug: false };
    // pc -m 4000M with two nodes of 2000M (qemu-layouts.md).
    let l = normalize(
        &qemu_m4000(),
        &[n(0, 0, 0xa0000), n(0, 0x100000, 0x7d000000), n(1, 0x7d000000, 0xc0000000), n(1, 1 << 32, 0x13a000000)],
        &LayoutOptions::default(),
    )
    .unwrap();
    assert_eq!(
        l.memory,
        vec![
            MemRange { start_pfn: 0, end_pfn: 0x9f, nid: 0 },
            MemRange { start_pfn: 0x100, end_pfn: 0x7d000, nid: 0 },
            MemRange { start_pfn: 0x7d000, end_pfn: 0xbffe0, nid: 1 },
            MemRange { start_pfn: 0x100000, end_pfn: 0x13a000, nid: 1 },
        ]
    );
    // A 64 KiB gap in coverage is dropped and noted, not an error.
    let l = normalize(
        &[fr(0, 1 << 30, Usable)],
        &[n(0, 0, 0x10000000), n(1, 0x10010000, 1 << 30)],
        &LayoutOptions::default(),
    )
    .unwrap();
    assert_eq!(l.uncovered_bytes, 0x10000);
    assert!(l.notes.contains(&LayoutNote::RamWithoutNode { start_pfn: 0x10000, end_pfn: 0x10010 }));
    assert_eq!(l.memory_pages(), (1 << 18) - 16);
}

#[test]
fn from_memory_ranges_sorts_and_rejects_overlap() {
    let m = |s, e, nid| MemRange { start_pfn: s, end_pfn: e, nid };
    let l = Layout::from_memory_ranges(&[m(0x1000, 0x2000, 0), m(1, 0x9e, 1)]).unwrap();
    assert_eq!(l.memory[0], m(1, 0x9e, 1));
    assert!(Layout::from_memory_ranges(&[m(0, 10, 0), m(5, 20, 1)]).is_err());
}

#[test]
fn efi_types_as_linux_efi_stub() {
    assert_eq!(RegionKind::from_efi_type(10), Some(RegionKind::AcpiNvs));
    assert_eq!(RegionKind::from_efi_type(9), Some(RegionKind::AcpiData));
    for t in [0, 5, 6, 11, 12, 13] {
        assert_eq!(RegionKind::from_efi_type(t), Some(RegionKind::Reserved), "type {t}");
    }
    for t in [1, 2, 3, 4, 7] {
        assert_eq!(RegionKind::from_efi_type(t), Some(RegionKind::Usable), "type {t}");
    }
    assert_eq!(RegionKind::from_efi_type(8), Some(RegionKind::Unusable));
    assert_eq!(RegionKind::from_efi_type(14), Some(RegionKind::Pmem));
    assert_eq!(RegionKind::from_efi_type(15), None);
}
