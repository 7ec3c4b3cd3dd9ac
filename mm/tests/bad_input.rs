//! The bad-input catalogue: one test per kind of bad input, fed to the real entry point (layout normalization,
//! the ACPI parsers, the command-line parser, the boot-log parser), asserting the exact named error or note and
//! its `Display` message. The README's "Bad input" table lists every test here by name, and
//! [`readme_lists_every_catalogue_test`] checks that the two agree, so neither can rot.
//!
//! Nothing here may panic: bad input is a named error (the input is refused) or a named note (the input is
//! repaired in a documented way and the repair is recorded).

use mm::acpi::{
    find_srat, finish_sdt, map_nodes, parse_srat, read_rsdp, AcpiError, AffinityFlags, LocalApicAffinity,
    MemoryAffinity, MemoryImage, SkippedEntry, Srat, SratEntry, Table, RSDP_SIGNATURE, RSDT, SRAT, XSDT,
};
use mm::cmdline::{
    check_conflicts, parse, parse_raw, CmdlineError, Conflict, KeySpec, NumberError, ValueError, ValueKind,
};
use mm::layout::{
    normalize, x86_e820_quirks, FirmwareRegion, Layout, LayoutError, LayoutNote, LayoutOptions, MemRange, NumaAffinity,
    RegionKind::*, E820_MAX_ENTRIES, NR_NODE_MEMBLKS,
};

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

fn fr(start: u64, end: u64, kind: mm::layout::RegionKind) -> FirmwareRegion {
    FirmwareRegion::new(start, end, kind)
}

fn node(nid: u32, start: u64, end: u64) -> NumaAffinity {
    NumaAffinity { nid, start, end, hotplug: false }
}

fn norm(regions: &[FirmwareRegion], numa: &[NumaAffinity]) -> Result<Layout, LayoutError> {
    normalize(regions, numa, &LayoutOptions::default())
}

/// Asserts the error and its message.
fn assert_err<E: PartialEq + std::fmt::Debug + std::fmt::Display, T: std::fmt::Debug>(
    got: Result<T, E>,
    want: E,
    msg: &str,
) {
    let e = got.expect_err("bad input must be refused");
    assert_eq!(e, want);
    assert_eq!(e.to_string(), msg);
}

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

// ---- ACPI --------------------------------------------------------------------------------------------------------

/// An RSDP of `revision` (0: 20 bytes; 2: 36 bytes) pointing at `rsdt` and `xsdt`, checksums correct.
fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&RSDP_SIGNATURE);
    b.push(0);
    b.extend_from_slice(b"MEMLAB");
    b.push(revision);
    b.extend_from_slice(&rsdt.to_le_bytes());
    if revision >= 2 {
        b.extend_from_slice(&36u32.to_le_bytes());
        b.extend_from_slice(&xsdt.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
    }
    b[8] = 0u8.wrapping_sub(mm::acpi::checksum(&b[..20]));
    if revision >= 2 {
        b[32] = 0u8.wrapping_sub(mm::acpi::checksum(&b));
    }
    b
}

/// A root table (RSDT: 4-byte entries, XSDT: 8-byte entries), checksum correct.
fn root(sig: [u8; 4], entries: &[u64]) -> Vec<u8> {
    let mut b = vec![0u8; 36];
    b[..4].copy_from_slice(&sig);
    for &e in entries {
        if sig == XSDT {
            b.extend_from_slice(&e.to_le_bytes());
        } else {
            b.extend_from_slice(&(e as u32).to_le_bytes());
        }
    }
    finish_sdt(&mut b);
    b
}

fn mem_entry(pxm: u32, base: u64, length: u64) -> SratEntry {
    SratEntry::Memory(MemoryAffinity { proximity_domain: pxm, base, length, flags: AffinityFlags::ENABLED })
}

/// A well-formed two-node SRAT (revision 2).
fn srat_bytes() -> Vec<u8> {
    Srat {
        revision: 2,
        oem_id: *b"MEMLAB",
        oem_table_id: *b"BADINPUT",
        entries: vec![
            SratEntry::LocalApic(LocalApicAffinity { proximity_domain: 0, apic_id: 0, flags: AffinityFlags::ENABLED }),
            mem_entry(0, 0, G),
            mem_entry(1, G, 2 * G),
        ],
    }
    .to_bytes()
}

/// Re-computes the checksum of a table edited in place.
fn fix(mut b: Vec<u8>) -> Vec<u8> {
    b[9] = 0;
    b[9] = 0u8.wrapping_sub(mm::acpi::checksum(&b));
    b
}

/// An image: RSDP at 0, root table at 0x100, the SRAT at 0x400.
fn image(rsdp_bytes: &[u8], root_bytes: &[u8], srat: &[u8]) -> Vec<u8> {
    let mut img = vec![0u8; 0x400 + srat.len()];
    img[..rsdp_bytes.len()].copy_from_slice(rsdp_bytes);
    img[0x100..0x100 + root_bytes.len()].copy_from_slice(root_bytes);
    img[0x400..].copy_from_slice(srat);
    img
}

fn find(img: &[u8]) -> Result<Option<Srat>, AcpiError> {
    find_srat(&MemoryImage { base: 0, bytes: img }, 0)
}

#[test]
fn acpi_good_image_parses() {
    // The baseline every ACPI case below breaks in one place.
    let img = image(&rsdp(2, 0, 0x100), &root(XSDT, &[0x400]), &srat_bytes());
    let n = map_nodes(&find(&img).unwrap().unwrap()).unwrap();
    assert_eq!(n.nodes(), 2);
}

#[test]
fn rsdp_bad_signature() {
    let mut r = rsdp(0, 0x100, 0);
    r[..8].copy_from_slice(b"RSD PTX ");
    assert_err(
        read_rsdp(&MemoryImage { base: 0, bytes: &r }, 0),
        AcpiError::BadRsdpSignature { addr: 0, found: *b"RSD PTX " },
        "ACPI: no RSDP at 0x0: signature \"RSD PTX \" is not \"RSD PTR \"",
    );
}

#[test]
fn rsdp_bad_checksum() {
    let mut r = rsdp(0, 0x100, 0);
    r[8] = r[8].wrapping_add(1);
    assert_err(
        read_rsdp(&MemoryImage { base: 0, bytes: &r }, 0),
        AcpiError::BadChecksum { table: Table::Rsdp, addr: Some(0), sum: 1 },
        "ACPI: bad checksum in RSDP at 0x0: bytes sum to 0x01, expected 0",
    );
}

#[test]
fn rsdp_bad_extended_checksum() {
    let mut r = rsdp(2, 0, 0x100);
    r[32] = r[32].wrapping_add(2);
    assert_err(
        read_rsdp(&MemoryImage { base: 0, bytes: &r }, 0),
        AcpiError::BadChecksum { table: Table::Rsdp, addr: Some(0), sum: 2 },
        "ACPI: bad checksum in RSDP at 0x0: bytes sum to 0x02, expected 0",
    );
}

#[test]
fn rsdp_unsupported_revision() {
    let r = rsdp(1, 0x100, 0);
    assert_err(
        read_rsdp(&MemoryImage { base: 0, bytes: &r }, 0),
        AcpiError::UnsupportedRevision { table: Table::Rsdp, revision: 1 },
        "ACPI: RSDP revision 1 is not supported (known: 0, 2 and later)",
    );
}

#[test]
fn rsdp_without_root_table() {
    let img = image(&rsdp(2, 0, 0), &root(XSDT, &[0x400]), &srat_bytes());
    assert_err(
        find(&img),
        AcpiError::NoRootTable { revision: 2 },
        "ACPI: RSDP revision 2 has neither an XSDT nor an RSDT address",
    );
}

#[test]
fn rsdp_length_lies() {
    // Revision 2 with a length field of 0x1000: the image ends long before.
    let mut r = rsdp(2, 0, 0x100);
    r[20..24].copy_from_slice(&0x1000u32.to_le_bytes());
    r[8] = 0;
    r[8] = 0u8.wrapping_sub(mm::acpi::checksum(&r[..20]));
    assert_err(
        read_rsdp(&MemoryImage { base: 0, bytes: &r }, 0),
        AcpiError::LengthBeyondMapping { table: Table::Rsdp, addr: 0, length: 0x1000 },
        "ACPI: RSDP at 0x0 has length field 4096 reaching beyond mapped memory",
    );
}

#[test]
fn xsdt_bad_checksum() {
    let mut x = root(XSDT, &[0x400]);
    x[9] = x[9].wrapping_add(3);
    let img = image(&rsdp(2, 0, 0x100), &x, &srat_bytes());
    assert_err(
        find(&img),
        AcpiError::BadChecksum { table: Table::Sdt(XSDT), addr: Some(0x100), sum: 3 },
        "ACPI: bad checksum in XSDT at 0x100: bytes sum to 0x03, expected 0",
    );
}

#[test]
fn root_table_pointer_outside_mapped_memory() {
    let img = image(&rsdp(0, 0x10_0000, 0), &root(RSDT, &[0x400]), &srat_bytes());
    assert_err(
        find(&img),
        AcpiError::Unmapped { table: Table::Sdt(RSDT), addr: 0x10_0000, len: 36 },
        "ACPI: pointer to RSDT at 0x100000 (36 bytes) is outside mapped memory",
    );
}

#[test]
fn root_table_entry_outside_mapped_memory() {
    let img = image(&rsdp(2, 0, 0x100), &root(XSDT, &[0xdead_0000]), &srat_bytes());
    assert_err(
        find(&img),
        AcpiError::Unmapped { table: Table::Sdt(*b"????"), addr: 0xdead_0000, len: 36 },
        "ACPI: pointer to ???? at 0xdead0000 (36 bytes) is outside mapped memory",
    );
}

#[test]
fn root_table_with_a_partial_entry() {
    let mut x = root(XSDT, &[0x400]);
    x.extend_from_slice(&[0; 4]);
    finish_sdt(&mut x);
    let img = image(&rsdp(2, 0, 0x100), &x, &srat_bytes());
    assert_err(
        find(&img),
        AcpiError::RootTableLength { table: Table::Sdt(XSDT), length: 48, entry_size: 8 },
        "ACPI: XSDT length 48 leaves a partial entry (36 header bytes + a multiple of 8 expected)",
    );
}

#[test]
fn root_pointer_to_the_wrong_table() {
    // The RSDP's XSDT address points at the SRAT.
    let img = image(&rsdp(2, 0, 0x400), &root(XSDT, &[0x400]), &srat_bytes());
    assert_err(
        find(&img),
        AcpiError::BadSignature { expected: Table::Sdt(XSDT), found: SRAT, addr: Some(0x400) },
        "ACPI: expected XSDT at 0x400, found signature \"SRAT\"",
    );
}

#[test]
fn srat_bad_checksum() {
    let mut s = srat_bytes();
    s[9] = s[9].wrapping_add(0x10);
    assert_err(
        parse_srat(&s),
        AcpiError::BadChecksum { table: Table::Sdt(SRAT), addr: None, sum: 0x10 },
        "ACPI: bad checksum in SRAT: bytes sum to 0x10, expected 0",
    );
    // Found through the tables, the message says where.
    let img = image(&rsdp(2, 0, 0x100), &root(XSDT, &[0x400]), &s);
    assert_err(
        find(&img),
        AcpiError::BadChecksum { table: Table::Sdt(SRAT), addr: Some(0x400), sum: 0x10 },
        "ACPI: bad checksum in SRAT at 0x400: bytes sum to 0x10, expected 0",
    );
}

#[test]
fn srat_truncated() {
    let s = srat_bytes();
    let len = s.len();
    assert_eq!(len, 48 + 16 + 2 * 40);
    assert_err(
        parse_srat(&s[..100]),
        AcpiError::Truncated { table: Table::Sdt(SRAT), addr: None, needed: len, available: 100 },
        "ACPI: SRAT is truncated: 144 bytes needed, 100 available",
    );
}

#[test]
fn srat_length_field_below_the_header() {
    let mut s = srat_bytes();
    s[4..8].copy_from_slice(&20u32.to_le_bytes());
    assert_err(
        parse_srat(&fix(s)),
        AcpiError::LengthTooSmall { table: Table::Sdt(SRAT), addr: None, length: 20, min: 36 },
        "ACPI: SRAT has length field 20, smaller than its 36-byte header",
    );
}

#[test]
fn srat_length_field_lies_beyond_mapped_memory() {
    let mut s = srat_bytes();
    s[4..8].copy_from_slice(&0x10000u32.to_le_bytes());
    let img = image(&rsdp(2, 0, 0x100), &root(XSDT, &[0x400]), &fix(s));
    assert_err(
        find(&img),
        AcpiError::LengthBeyondMapping { table: Table::Sdt(SRAT), addr: 0x400, length: 0x10000 },
        "ACPI: SRAT at 0x400 has length field 65536 reaching beyond mapped memory",
    );
}

#[test]
fn srat_entry_with_length_zero() {
    let mut s = srat_bytes();
    s[49] = 0; // the local APIC entry at offset 48
    assert_err(
        parse_srat(&fix(s)),
        AcpiError::ZeroLengthEntry { table: Table::Sdt(SRAT), offset: 48, entry_type: 0 },
        "ACPI: SRAT entry type 0 at offset 0x30 has length 0",
    );
}

#[test]
fn srat_entry_past_the_table_end() {
    let mut s = srat_bytes();
    s[48 + 16 + 40 + 1] = 80; // the last memory entry claims 80 bytes, 40 remain
    assert_err(
        parse_srat(&fix(s)),
        AcpiError::EntryPastEnd { table: Table::Sdt(SRAT), offset: 104, entry_type: 1, length: 80, table_len: 144 },
        "ACPI: SRAT entry type 1 at offset 0x68 with length 80 runs past the table end (0x90)",
    );
}

#[test]
fn srat_entry_length_wrong_for_its_type() {
    let mut s = srat_bytes();
    // The local APIC entry says 24 bytes (its structure is 16): the next entry header moves, the table end too.
    s[49] = 24;
    assert_err(
        parse_srat(&fix(s)),
        AcpiError::BadEntryLength { table: Table::Sdt(SRAT), offset: 48, entry_type: 0, length: 24, expected: 16 },
        "ACPI: SRAT entry type 0 at offset 0x30 has length 24, expected 16",
    );
}

#[test]
fn srat_partial_entry_header() {
    let mut s = srat_bytes();
    s.push(1); // one byte of a next entry
    finish_sdt(&mut s);
    assert_err(
        parse_srat(&s),
        AcpiError::PartialEntryHeader { table: Table::Sdt(SRAT), offset: 144, table_len: 145 },
        "ACPI: SRAT entry header at offset 0x90 runs past the table end (0x91)",
    );
}

#[test]
fn madt_entry_too_short_for_its_type() {
    let madt = mm::acpi::Madt {
        revision: 3,
        local_apic_addr: 0xfee0_0000,
        flags: 1,
        entries: vec![mm::acpi::MadtEntry::Other { entry_type: 0, length: 6 }],
    };
    assert_err(
        mm::acpi::parse_madt(&madt.to_bytes()),
        AcpiError::BadEntryLength {
            table: Table::Sdt(mm::acpi::MADT),
            offset: 44,
            entry_type: 0,
            length: 6,
            expected: 8,
        },
        "ACPI: APIC entry type 0 at offset 0x2c has length 6, expected 8",
    );
}

#[test]
fn srat_unknown_entry_type() {
    let srat = Srat {
        revision: 2,
        oem_id: *b"MEMLAB",
        oem_table_id: *b"BADINPUT",
        entries: vec![SratEntry::Unknown { entry_type: 0x7f, length: 16 }, mem_entry(0, 0, G)],
    };
    let parsed = parse_srat(&srat.to_bytes()).unwrap();
    assert_eq!(parsed.entries[0], SratEntry::Unknown { entry_type: 0x7f, length: 16 });
    let n = map_nodes(&parsed).unwrap();
    let skipped = SkippedEntry { entry: 0, entry_type: 0x7f, length: 16 };
    assert_eq!(n.skipped, vec![skipped]);
    assert_eq!(skipped.to_string(), "ACPI: SRAT entry #0 has type 127 (length 16), which is not modelled; skipped");
    assert_eq!(n.nodes(), 1);
}

#[test]
fn srat_proximity_domain_out_of_range() {
    let srat = Srat { revision: 2, oem_id: [0; 6], oem_table_id: [0; 8], entries: vec![mem_entry(300, 0, G)] };
    assert_err(
        map_nodes(&srat),
        AcpiError::PxmOutOfRange { entry: 0, pxm: 300 },
        "ACPI: SRAT entry #0 has proximity domain 300 (Linux maps only 0..256 to nodes)",
    );
}

#[test]
fn srat_memory_range_overflows() {
    let srat =
        Srat { revision: 2, oem_id: [0; 6], oem_table_id: [0; 8], entries: vec![mem_entry(0, u64::MAX - 10, G)] };
    assert_err(
        map_nodes(&srat),
        AcpiError::MemoryRangeOverflow { entry: 0, base: u64::MAX - 10, length: G },
        "ACPI: SRAT memory entry #0: base 0xfffffffffffffff5 + length 0x40000000 overflows 64 bits",
    );
}

#[test]
fn srat_more_memory_ranges_than_the_table() {
    let entries: Vec<SratEntry> = (0..NR_NODE_MEMBLKS as u64 + 1).map(|i| mem_entry(0, i * G, G)).collect();
    let srat = Srat { revision: 2, oem_id: [0; 6], oem_table_id: [0; 8], entries };
    assert_err(
        map_nodes(&srat),
        AcpiError::TooManyEntries { what: "memory affinity ranges (NR_NODE_MEMBLKS)", max: 128 },
        "ACPI: more than 128 memory affinity ranges (NR_NODE_MEMBLKS)",
    );
}

#[test]
fn srat_more_nodes_than_max_numnodes() {
    let entries: Vec<SratEntry> = (0..65u64).map(|i| mem_entry(i as u32, i * G, G)).collect();
    let srat = Srat { revision: 2, oem_id: [0; 6], oem_table_id: [0; 8], entries };
    assert_err(
        map_nodes(&srat),
        AcpiError::TooManyEntries { what: "proximity domains (MAX_NUMNODES)", max: 64 },
        "ACPI: more than 64 proximity domains (MAX_NUMNODES)",
    );
}

// ---- command line --------------------------------------------------------------------------------------------

/// The kernel's table (kernel/src/cmdline.rs `KEYS`), specs only, and its conflict rules (`CONFLICTS`).
const KEYS: &[KeySpec] = &[
    KeySpec::new("loglevel", ValueKind::Choice(&["error", "warn", "info", "debug", "trace"]), "diagnostics"),
    KeySpec::new("selftest", ValueKind::Text, "run the self-tests whose name contains this"),
    KeySpec::new("holes", ValueKind::Text, "the hole-initialization policy"),
    KeySpec::new("vm_debug", ValueKind::Choice(&["panic", "warn", "off"]), "the pageblock invariant check"),
    KeySpec::new("kernelcore", ValueKind::Text, "memory for non-movable zones"),
    KeySpec::new("movablecore", ValueKind::Text, "memory for ZONE_MOVABLE"),
    KeySpec::new("mem", ValueKind::Number, "remove RAM above this address"),
    KeySpec::repeating("memmap", ValueKind::MemmapSpec, "add or change a firmware-map range"),
    KeySpec::new("stress", ValueKind::Integer, "seconds of random buddy allocation traffic"),
];

const CONFLICTS: &[Conflict] = &[Conflict {
    key: "kernelcore",
    value: Some("mirror"),
    with: "movablecore",
    why: "with kernelcore=mirror Linux ignores movablecore= (find_zone_movable_pfns_for_nodes)",
}];

const KEY_LIST: &str = "loglevel, selftest, holes, vm_debug, kernelcore, movablecore, mem, memmap, stress";
const SIZE: &str =
    "a size: decimal, 0x hex or 0-prefixed octal, with an optional K, M, G, T, P or E suffix (512M, 0x1000)";

/// The kernel's parse: the words, then the conflict rules.
fn cmdline(line: &str) -> Result<(), CmdlineError> {
    let words = parse(line, KEYS)?;
    check_conflicts(&words, CONFLICTS)
}

#[test]
fn cmdline_unknown_key() {
    assert_err(
        cmdline("mem=1G frobnicate=1"),
        CmdlineError::UnknownKey { key: "frobnicate".into(), word: "frobnicate=1".into(), accepted: KEY_LIST.into() },
        &format!("cmdline: unknown key \"frobnicate\" in \"frobnicate=1\"; accepted keys: {}", KEY_LIST),
    );
}

#[test]
fn cmdline_bad_number() {
    assert_err(
        cmdline("mem=12X"),
        CmdlineError::BadValue {
            key: "mem",
            value: "12X".into(),
            reason: ValueError::Number(NumberError::Trailing { rest: "X".into() }),
            accepted: SIZE.into(),
        },
        &format!("cmdline: bad value \"12X\" for mem (trailing \"X\" after the number); accepted: {}", SIZE),
    );
    assert_err(
        cmdline("stress=two"),
        CmdlineError::BadValue {
            key: "stress",
            value: "two".into(),
            reason: ValueError::Number(NumberError::NoDigits),
            accepted: "an integer: decimal, 0x hex or 0-prefixed octal".into(),
        },
        "cmdline: bad value \"two\" for stress (no number); accepted: an integer: decimal, 0x hex or 0-prefixed octal",
    );
}

#[test]
fn cmdline_number_overflows() {
    assert_err(
        cmdline("mem=16E"),
        CmdlineError::BadValue {
            key: "mem",
            value: "16E".into(),
            reason: ValueError::Number(NumberError::Overflow),
            accepted: SIZE.into(),
        },
        &format!("cmdline: bad value \"16E\" for mem (the number does not fit in 64 bits); accepted: {}", SIZE),
    );
}

#[test]
fn cmdline_value_not_a_choice() {
    assert_err(
        cmdline("vm_debug=loud"),
        CmdlineError::BadValue {
            key: "vm_debug",
            value: "loud".into(),
            reason: ValueError::NotAChoice,
            accepted: "panic, warn, off".into(),
        },
        "cmdline: bad value \"loud\" for vm_debug; accepted: panic, warn, off",
    );
}

#[test]
fn cmdline_memmap_range_overflows() {
    let e = cmdline("memmap=16M$0xffffffffffffff00").unwrap_err();
    assert!(matches!(
        e,
        CmdlineError::BadValue {
            key: "memmap",
            reason: ValueError::MemmapOverflow { size: 0x1000000, start: 0xffffffffffffff00 },
            ..
        }
    ));
    assert!(e
        .to_string()
        .starts_with("cmdline: bad value \"16M$0xffffffffffffff00\" for memmap (range start 0xffffffffffffff00 + size 0x1000000 overflows 64 bits); accepted: exactmap, "));
}

#[test]
fn cmdline_repeated_key() {
    assert_err(
        cmdline("mem=1G loglevel=info mem=2G"),
        CmdlineError::Repeated { key: "mem", first: "mem=1G".into(), second: "mem=2G".into() },
        "cmdline: mem given twice (\"mem=1G\", then \"mem=2G\"); it may appear only once",
    );
}

#[test]
fn cmdline_conflicting_keys() {
    let why = "with kernelcore=mirror Linux ignores movablecore= (find_zone_movable_pfns_for_nodes)";
    assert_err(
        cmdline("kernelcore=mirror movablecore=10%"),
        CmdlineError::Conflict { first: "kernelcore=mirror".into(), second: "movablecore=10%".into(), why },
        &format!("cmdline: \"kernelcore=mirror\" conflicts with \"movablecore=10%\": {}; give only one of them", why),
    );
    // Either order; and kernelcore with a size does not conflict.
    assert_err(
        cmdline("movablecore=1G kernelcore=mirror"),
        CmdlineError::Conflict { first: "movablecore=1G".into(), second: "kernelcore=mirror".into(), why },
        &format!("cmdline: \"movablecore=1G\" conflicts with \"kernelcore=mirror\": {}; give only one of them", why),
    );
    assert_eq!(cmdline("kernelcore=1G movablecore=10%"), Ok(()));
}

#[test]
fn cmdline_missing_value() {
    assert_err(
        cmdline("mem"),
        CmdlineError::MissingValue { key: "mem", word: "mem".into(), accepted: SIZE.into() },
        &format!("cmdline: mem needs a value (\"mem\" given); accepted: mem={}", SIZE),
    );
}

#[test]
fn cmdline_unterminated_quote() {
    assert_err(
        cmdline("selftest=\"buddy mem=1G"),
        CmdlineError::UnterminatedQuote { word: "selftest=\"buddy mem=1G".into() },
        "cmdline: unterminated quote in \"selftest=\\\"buddy mem=1G\"; close it with \"",
    );
}

#[test]
fn cmdline_too_long() {
    let line = format!("selftest={}", "x".repeat(2100));
    assert_err(
        cmdline(&line),
        CmdlineError::TooLong { len: 2109, max: 2048 },
        "cmdline: 2109 bytes long; at most 2048 (COMMAND_LINE_SIZE) are accepted",
    );
}

#[test]
fn cmdline_not_utf8() {
    assert_err(
        parse_raw(b"mem=1G \xff", KEYS).map(|_| ()),
        CmdlineError::NotUtf8 { offset: 7 },
        "cmdline: not UTF-8 text (invalid byte at offset 7)",
    );
}

// ---- boot logs -------------------------------------------------------------------------------------------------

#[test]
fn boot_log_map_line_that_does_not_parse() {
    let log = mm::dmesg::parse("BIOS-e820: [mem 0x0000000000100000-0x00000000000fffff] usable\n");
    assert!(log.e820.is_empty());
    assert_eq!(log.warnings.len(), 1);
    let w = &log.warnings[0];
    assert_eq!(w.line, 1);
    assert_eq!(
        w.to_string(),
        format!("line 1: {}: \"BIOS-e820: [mem 0x0000000000100000-0x00000000000fffff] usable\"", w.reason)
    );
    assert_eq!(w.reason, BOOT_LOG_INVERTED);
}

/// The reason the boot-log parser gives for an inverted range.
const BOOT_LOG_INVERTED: &str = "range ends (0xfffff) before it starts (0x100000)";

#[test]
fn boot_log_range_ending_at_2_pow_64() {
    let log = mm::dmesg::parse("BIOS-e820: [mem 0x0000000100000000-0xffffffffffffffff] usable\n");
    assert!(log.e820.is_empty());
    assert_eq!(
        log.warnings[0].to_string(),
        "line 1: range end overflows 64 bits: \"BIOS-e820: [mem 0x0000000100000000-0xffffffffffffffff] usable\""
    );
}

#[test]
fn boot_log_range_beyond_max_physmem_bits() {
    let log = mm::dmesg::parse(
        "BIOS-e820: [mem 0x0000000100000000-0x00008fffffffffff] usable\n\
         BIOS-e820: [mem 0x0000500000000000-0x00005000ffffffff] usable\n",
    );
    assert_eq!(log.e820.len(), 1);
    assert_eq!((log.e820[0].start, log.e820[0].end), (0x1_0000_0000, 1 << 46));
    assert_eq!(
        log.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        [
            "line 1: ends beyond MAX_PHYSMEM_BITS 46; clipped at 0x400000000000: \"BIOS-e820: [mem 0x0000000100000000-0x00008fffffffffff] usable\"",
            "line 2: starts beyond MAX_PHYSMEM_BITS 46 (0x400000000000); dropped: \"BIOS-e820: [mem 0x0000500000000000-0x00005000ffffffff] usable\"",
        ]
    );
}

#[test]
fn boot_log_with_a_second_boot() {
    let text = "Linux version 6.1.0\nBIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
                Linux version 6.1.0\nBIOS-e820: [mem 0x0000000000000000-0x00000000bfffffff] usable\n";
    let log = mm::dmesg::parse(text);
    assert_eq!(log.e820.len(), 1, "only the last boot is read");
    assert_eq!(log.e820[0].end, 0xc000_0000, "the last boot's map");
    assert_eq!(log.warnings.len(), 1);
    assert_eq!(
        log.warnings[0].to_string(),
        "line 3: a second boot starts here; lines 1-2 (the earlier boot) are ignored: \"Linux version 6.1.0\""
    );
}

// ---- the README lists this catalogue ---------------------------------------------------------------------------

/// The names of the `#[test]` functions of this file, in order.
fn catalogue_tests() -> Vec<String> {
    let src = include_str!("bad_input.rs");
    let mut out = Vec::new();
    let mut lines = src.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "#[test]" {
            let f = lines.next().unwrap_or("");
            let name = f.trim().trim_start_matches("fn ").split('(').next().unwrap_or("").to_string();
            out.push(name);
        }
    }
    out
}

#[test]
fn readme_lists_every_catalogue_test() {
    let readme = include_str!("../../docs/robustness.md");
    let section = readme.split("\n## Bad input\n").nth(1).expect("docs/robustness.md has a \"## Bad input\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    // The last column of every table row is the test name in backquotes.
    let listed: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| input"))
        .filter_map(|l| l.trim_end_matches('|').rsplit('|').next())
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect();
    let tests: Vec<String> =
        catalogue_tests().into_iter().filter(|t| t != "readme_lists_every_catalogue_test").collect();
    assert!(tests.len() >= 40, "{tests:?}");
    let missing: Vec<&String> = tests.iter().filter(|t| !listed.contains(t)).collect();
    let stale: Vec<&String> = listed.iter().filter(|t| !tests.contains(t)).collect();
    assert!(missing.is_empty(), "tests not in the README's Bad input table: {missing:?}");
    assert!(stale.is_empty(), "README rows naming no test of mm/tests/bad_input.rs: {stale:?}");
}
