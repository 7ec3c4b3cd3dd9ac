//! Bad firmware maps and NUMA ranges, fed to layout normalization.

use super::*;

// ---- firmware map ----------------------------------------------------------------------------------------------

#[test]
fn overlapping_regions_of_different_kinds() {
    let l = norm(&[fr(M, 2 * M, Usable), fr(M + M / 2, 3 * M, Reserved)], &[]).unwrap();
    let note = LayoutNote::Overlap { start: M + M / 2, end: 2 * M, winner: Reserved, loser: Usable };
    assert_eq!(l.notes, vec![note]);
    assert_eq!(
        note.to_string(),
        "[mem 0x0000000000180000-0x00000000001fffff] is both reserved and usable; reserved wins"
    );
    assert_eq!(l.memory, vec![MemRange { start_pfn: 0x100, end_pfn: 0x180, nid: 0 }]);
}

#[test]
fn duplicate_regions() {
    let l = norm(&[fr(M, 2 * M, Usable), fr(4 * M, 5 * M, Reserved), fr(M, 2 * M, Usable)], &[]).unwrap();
    let note = LayoutNote::Duplicate { index: 2, first: 0 };
    assert_eq!(l.notes, vec![note]);
    assert_eq!(note.to_string(), "region #2 repeats region #0 exactly and adds nothing");
    assert_eq!(l.memory_pages(), 256);
}

#[test]
fn zero_length_region() {
    let l = norm(&[fr(M, 2 * M, Usable), fr(3 * M, 3 * M, Usable)], &[]).unwrap();
    let note = LayoutNote::DroppedEmpty { index: 1 };
    assert_eq!(l.notes, vec![note]);
    assert_eq!(note.to_string(), "region #1 is empty and was dropped");
}

#[test]
fn inverted_region() {
    assert_err(
        norm(&[fr(M, 2 * M, Usable), fr(0x2000, 0x1000, Usable)], &[]),
        LayoutError::Inverted { index: 1, start: 0x2000, end: 0x1000 },
        "firmware region #1 ends (0x1000) before it starts (0x2000)",
    );
}

#[test]
fn unaligned_ram_region() {
    let l = norm(&[fr(0x100800, 0x200400, Usable)], &[]).unwrap();
    let note = LayoutNote::TrimmedRam { start: 0x100800, end: 0x200400, start_pfn: 0x101, end_pfn: 0x200 };
    assert_eq!(l.notes, vec![note]);
    assert_eq!(
        note.to_string(),
        "RAM [mem 0x0000000000100800-0x00000000002003ff] trimmed to whole pages [mem 0x0000000000101000-0x00000000001fffff]"
    );
    assert_eq!(l.memory, vec![MemRange { start_pfn: 0x101, end_pfn: 0x200, nid: 0 }]);
}

#[test]
fn ram_without_a_whole_page() {
    let l = norm(&[fr(M, 2 * M, Usable), fr(0x300800, 0x300c00, Usable)], &[]).unwrap();
    let note = LayoutNote::TrimmedRam { start: 0x300800, end: 0x300c00, start_pfn: 0x301, end_pfn: 0x301 };
    assert_eq!(l.notes, vec![note]);
    assert_eq!(note.to_string(), "RAM [mem 0x0000000000300800-0x0000000000300bff] holds no whole page and was dropped");
}

#[test]
fn no_ram_at_all() {
    assert_err(
        norm(&[fr(0x800, 0xc00, Usable), fr(M, 2 * M, Reserved)], &[]),
        LayoutError::NoMemory,
        "the layout holds no whole page of RAM",
    );
}

#[test]
fn ram_at_pfn_0() {
    let regions = [fr(0, 0x9fc00, Usable), fr(M, 2 * M, Usable)];
    let l = norm(&regions, &[]).unwrap();
    let note = LayoutNote::RamAtPfnZero { end_pfn: 0x9f };
    assert!(l.notes.contains(&note), "{:?}", l.notes);
    assert_eq!(
        note.to_string(),
        "RAM [mem 0x0000000000000000-0x000000000009efff] holds pfn 0, which Linux on x86 reserves (trim_bios_range)"
    );
    // With Linux's x86 adjustments (the kernel's default, e820_quirks=on) page 0 becomes reserved, as Linux says.
    let (fixed, lines) = x86_e820_quirks(&regions);
    assert_eq!(lines[0], "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved");
    let l = norm(&fixed, &[]).unwrap();
    assert_eq!(l.memory[0].start_pfn, 1);
    assert!(!l.notes.iter().any(|n| matches!(n, LayoutNote::RamAtPfnZero { .. })));
}

#[test]
fn region_beyond_max_physmem_bits() {
    assert_err(
        norm(&[fr(M, 2 * M, Usable), fr(1 << 45, 1 << 47, Reserved)], &[]),
        LayoutError::BeyondPhysmem { index: 1, end: 1 << 47, bits: 46 },
        "firmware region #1 ends at 0x800000000000, beyond MAX_PHYSMEM_BITS 46 (0x400000000000)",
    );
}

#[test]
fn more_regions_than_the_e820_table() {
    let many: Vec<FirmwareRegion> =
        (0..E820_MAX_ENTRIES as u64 + 1).map(|i| fr(i * 2 * M, i * 2 * M + M, Usable)).collect();
    assert_eq!(E820_MAX_ENTRIES, 320);
    assert_err(
        norm(&many, &[]),
        LayoutError::TooManyRegions { count: 321, max: 320 },
        "321 firmware regions, but the table holds 320 (E820_MAX_ENTRIES)",
    );
}

// ---- NUMA ranges -----------------------------------------------------------------------------------------------

#[test]
fn more_numa_ranges_than_the_table() {
    let many: Vec<NumaAffinity> = (0..NR_NODE_MEMBLKS as u64 + 1).map(|i| node(0, i * M, (i + 1) * M)).collect();
    assert_eq!(NR_NODE_MEMBLKS, 128);
    assert_err(
        norm(&[fr(0, G, Usable)], &many),
        LayoutError::TooManyNumaRanges { count: 129, max: 128 },
        "129 NUMA memory ranges, but the table holds 128 (NR_NODE_MEMBLKS)",
    );
}

#[test]
fn numa_ranges_of_different_nodes_overlap() {
    assert_err(
        norm(&[fr(0, G, Usable)], &[node(0, 0, G / 2 + M), node(1, G / 2, G)]),
        LayoutError::NumaOverlap { a: 0, b: 1, start: G / 2, end: G / 2 + M },
        "NUMA ranges of node 0 and node 1 overlap at [mem 0x0000000020000000-0x00000000200fffff]",
    );
}

#[test]
fn ram_without_node_under_1_mib() {
    let l = norm(&[fr(0x100000, G, Usable)], &[node(0, 0, G / 2), node(1, G / 2 + 0x10000, G)]).unwrap();
    let note = LayoutNote::RamWithoutNode { start_pfn: 0x20000, end_pfn: 0x20010 };
    assert_eq!(l.notes, vec![note]);
    assert_eq!(l.uncovered_bytes, 0x10000);
    assert_eq!(note.to_string(), "RAM [mem 0x0000000020000000-0x000000002000ffff] is in no NUMA node and was dropped");
}

#[test]
fn ram_without_node_1_mib_or_more() {
    assert_err(
        norm(&[fr(0, G, Usable)], &[node(0, 0, G / 2)]),
        LayoutError::NumaCoverage { uncovered_bytes: G / 2, ram_bytes: G },
        "NUMA: no nodes coverage for 512MB of 1024MB RAM",
    );
}

#[test]
fn numa_node_id_out_of_range() {
    assert_err(
        norm(&[fr(0, G, Usable)], &[node(64, 0, G)]),
        LayoutError::NodeOutOfRange { nid: 64 },
        "NUMA node id 64 out of range (MAX_NUMNODES is 64)",
    );
}

#[test]
fn numa_range_inverted() {
    assert_err(
        norm(&[fr(0, G, Usable)], &[node(0, G, 0)]),
        LayoutError::NumaInverted { nid: 0, start: G, end: 0 },
        "NUMA range of node 0 ends (0x0) before it starts (0x40000000)",
    );
}

#[test]
fn numa_range_beyond_max_physmem_bits() {
    assert_err(
        norm(&[fr(0, G, Usable)], &[node(0, 0, G), node(1, G, 1 << 47)]),
        LayoutError::NumaBeyondPhysmem { nid: 1, end: 1 << 47, bits: 46 },
        "NUMA range of node 1 ends at 0x800000000000, beyond MAX_PHYSMEM_BITS 46",
    );
}

#[test]
fn early_node_ranges_overlap() {
    // A boot log's `Early memory node ranges` go through Layout::from_memory_ranges.
    let m = |start_pfn, end_pfn, nid| MemRange { start_pfn, end_pfn, nid };
    assert_err(
        Layout::from_memory_ranges(&[m(0x100, 0x1000, 0), m(0x800, 0x2000, 1)]),
        LayoutError::NumaOverlap { a: 0, b: 1, start: 0x800000, end: 0x1000000 },
        "NUMA ranges of node 0 and node 1 overlap at [mem 0x0000000000800000-0x0000000000ffffff]",
    );
}
