//! The ACPI parser's tests: builders of tables, fixtures from QEMU, malformed variants, property tests.
use super::*;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use proptest::prelude::*;

// ---- builders -------------------------------------------------------------------------------------------

fn lapic(apic_id: u8, pxm: u32) -> SratEntry {
    SratEntry::LocalApic(LocalApicAffinity { proximity_domain: pxm, apic_id, flags: AffinityFlags::ENABLED })
}
fn x2apic(id: u32, pxm: u32) -> SratEntry {
    SratEntry::X2Apic(X2ApicAffinity { proximity_domain: pxm, x2apic_id: id, flags: AffinityFlags::ENABLED })
}
fn mem(pxm: u32, base: u64, end: u64, flags: AffinityFlags) -> SratEntry {
    SratEntry::Memory(MemoryAffinity { proximity_domain: pxm, base, length: end - base, flags })
}
const EN: AffinityFlags = AffinityFlags::ENABLED;
const HP: AffinityFlags = AffinityFlags::ENABLED.union(AffinityFlags::HOT_PLUGGABLE);

fn srat(revision: u8, entries: Vec<SratEntry>) -> Srat {
    Srat { revision, oem_id: *b"BOCHS ", oem_table_id: *b"BXPC    ", entries }
}

/// A generic SDT with a correct checksum.
fn sdt(sig: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&sig);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(b"BOCHS BXPC    ");
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(body);
    finish_sdt(&mut b);
    b
}

fn rsdt(addrs: &[u32]) -> Vec<u8> {
    sdt(RSDT, &addrs.iter().flat_map(|a| a.to_le_bytes()).collect::<Vec<_>>())
}
fn xsdt(addrs: &[u64]) -> Vec<u8> {
    sdt(XSDT, &addrs.iter().flat_map(|a| a.to_le_bytes()).collect::<Vec<_>>())
}

fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&RSDP_SIGNATURE);
    b.push(0);
    b.extend_from_slice(b"BOCHS ");
    b.push(revision);
    b.extend_from_slice(&rsdt.to_le_bytes());
    let s = checksum(&b);
    b[8] = 0u8.wrapping_sub(s);
    if revision >= 2 {
        b.extend_from_slice(&36u32.to_le_bytes());
        b.extend_from_slice(&xsdt.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        let s = checksum(&b);
        b[32] = 0u8.wrapping_sub(s);
    }
    b
}

/// A 128 KiB physical memory image at 0xe0000 with tables placed at given addresses.
struct Image {
    bytes: Vec<u8>,
}
const BASE: u64 = 0xe0000;
impl Image {
    fn new() -> Self {
        Image { bytes: vec![0; 0x20000] }
    }
    fn put(&mut self, addr: u64, data: &[u8]) -> &mut Self {
        let off = (addr - BASE) as usize;
        self.bytes[off..off + data.len()].copy_from_slice(data);
        self
    }
    fn reader(&self) -> MemoryImage<'_> {
        MemoryImage { base: BASE, bytes: &self.bytes }
    }
}

const RSDP_AT: u64 = 0xf5a00;
const RSDT_AT: u64 = 0xe1000;
const XSDT_AT: u64 = 0xe2000;
const SRAT_AT: u64 = 0xe3000;
const APIC_AT: u64 = 0xe4000;

/// A SeaBIOS-like image: RSDP rev 0 -> RSDT -> [APIC, SRAT].
fn seabios(srat_bytes: &[u8]) -> Image {
    let mut img = Image::new();
    img.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0))
        .put(RSDT_AT, &rsdt(&[APIC_AT as u32, SRAT_AT as u32]))
        .put(APIC_AT, &sdt(*b"APIC", &[0; 8]))
        .put(SRAT_AT, srat_bytes);
    img
}

// ---- QEMU layouts (shared/reference/qemu-layouts.md) -------------------------------------------------------

fn numa2() -> Srat {
    srat(
        1,
        vec![
            lapic(0, 0),
            lapic(1, 1),
            mem(0, 0, 0xa0000, EN),
            mem(0, 0x100000, 0x7d000000, EN),
            mem(1, 0x7d000000, 0xc0000000, EN),
            mem(1, 0x100000000, 0x13a000000, EN),
        ],
    )
}

#[test]
fn numa2_through_rsdt() {
    let img = seabios(&numa2().to_bytes());
    let s = find_srat(&img.reader(), RSDP_AT).unwrap().unwrap();
    assert_eq!(s, numa2());
    let n = map_nodes(&s).unwrap();
    assert_eq!(n.nodes(), 2);
    assert_eq!(n.node_pxm, vec![0, 1]);
    let r = n.ranges();
    assert_eq!(r.len(), 4);
    assert_eq!(r[1], NumaAffinity { nid: 0, start: 0x100000, end: 0x7d000000, hotplug: false });
    assert_eq!(r[3], NumaAffinity { nid: 1, start: 1 << 32, end: 0x13a000000, hotplug: false });
    assert_eq!(n.memory[0].to_string(), "ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]");
    assert_eq!(n.memory[3].to_string(), "ACPI: SRAT: Node 1 PXM 1 [mem 0x100000000-0x139ffffff]");
}

#[test]
fn hotplug_window() {
    let s = srat(
        1,
        vec![
            lapic(0, 0),
            mem(0, 0, 0xa0000, EN),
            mem(0, 0x100000, 0xc0000000, EN),
            mem(0, 1 << 32, 0x13a000000, EN),
            mem(0, 0x140000000, 0x2c6000000, HP),
        ],
    );
    let n = map_nodes(&parse_srat(&s.to_bytes()).unwrap()).unwrap();
    assert_eq!(n.nodes(), 1);
    assert_eq!(n.memory[3].range, NumaAffinity { nid: 0, start: 0x140000000, end: 0x2c6000000, hotplug: true });
    assert_eq!(n.memory[3].to_string(), "ACPI: SRAT: Node 0 PXM 0 [mem 0x140000000-0x2c5ffffff] hotplug");
    let nv = srat(1, vec![mem(0, 0, 0x1000, EN | AffinityFlags::NON_VOLATILE)]);
    assert!(map_nodes(&nv).unwrap().memory[0].to_string().ends_with("] non-volatile"));
}

#[test]
fn descending_layout_pxm1_becomes_node0() {
    let s = srat(
        1,
        vec![
            lapic(0, 1),
            lapic(1, 0),
            mem(0, 0, 0xa0000, EN),
            mem(0, 0x100000, 0x3e800000, EN),
            mem(1, 0x3e800000, 0xc0000000, EN),
            mem(1, 1 << 32, 0x13a000000, EN),
        ],
    );
    let n = map_nodes(&s).unwrap();
    assert_eq!(n.node_pxm, vec![1, 0]);
    let nids: Vec<u32> = n.memory.iter().map(|m| m.range.nid).collect();
    assert_eq!(nids, vec![1, 1, 0, 0]);
    assert_eq!(n.memory[0].to_string(), "ACPI: SRAT: Node 1 PXM 0 [mem 0x00000000-0x0009ffff]");
}

#[test]
fn memoryless_node_disabled_entry_skipped() {
    // -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1 (no memory).
    let s = srat(
        1,
        vec![
            lapic(0, 0),
            lapic(1, 1),
            mem(0, 0, 0xa0000, EN),
            mem(0, 0x100000, 0x8000000, EN),
            mem(1, 0, 0, AffinityFlags::empty()),
        ],
    );
    let n = map_nodes(&parse_srat(&s.to_bytes()).unwrap()).unwrap();
    assert_eq!(n.nodes(), 2);
    assert_eq!(n.memory.len(), 2);
    // Only memory, no processor entry, disabled: the domain never becomes a node.
    let s = srat(1, vec![lapic(0, 0), mem(0, 0, 0x8000000, EN), mem(5, 0, 0, AffinityFlags::empty())]);
    assert_eq!(map_nodes(&s).unwrap().nodes(), 1);
    // Enabled, zero length: the node exists, the range does not.
    let s = srat(1, vec![mem(0, 0, 0x8000000, EN), mem(5, 0, 0, EN)]);
    let n = map_nodes(&s).unwrap();
    assert_eq!((n.nodes(), n.memory.len()), (2, 1));
    // Disabled processor entries are skipped too.
    let mut a = lapic(0, 7);
    if let SratEntry::LocalApic(x) = &mut a {
        x.flags = AffinityFlags::empty();
    }
    let s = srat(1, vec![a, mem(3, 0, 0x1000, EN)]);
    assert_eq!(map_nodes(&s).unwrap().node_pxm, vec![3]);
}

#[test]
fn processor_entries_number_first_and_x2apic_counts() {
    let s = srat(3, vec![mem(4, 0, 0x1000, EN), x2apic(0, 9), lapic(1, 4), mem(9, 0x1000, 0x2000, EN)]);
    let n = map_nodes(&s).unwrap();
    assert_eq!(n.node_pxm, vec![9, 4]);
    assert_eq!(n.memory[0].range.nid, 1);
    assert_eq!(n.memory[1].range.nid, 0);
}

#[test]
fn revision1_uses_low_pxm_byte() {
    let s = srat(1, vec![lapic(0, 0x0102), mem(0x0302, 0, 0x1000, EN)]);
    let n = map_nodes(&parse_srat(&s.to_bytes()).unwrap()).unwrap();
    assert_eq!(n.node_pxm, vec![2]);
    assert_eq!(n.memory[0].pxm, 2);
    let s = srat(2, vec![lapic(0, 0x0102)]);
    assert_eq!(map_nodes(&s), Err(AcpiError::PxmOutOfRange { entry: 0, pxm: 0x102 }));
}

#[test]
fn limits_are_named() {
    let many: Vec<SratEntry> = (0..=MAX_NUMNODES as u32).map(|p| lapic(p as u8, p)).collect();
    let e = map_nodes(&srat(2, many)).unwrap_err();
    assert_eq!(e, AcpiError::TooManyEntries { what: "proximity domains (MAX_NUMNODES)", max: 64 });
    assert_eq!(e.to_string(), "ACPI: more than 64 proximity domains (MAX_NUMNODES)");
    let many: Vec<SratEntry> = (0..=NR_NODE_MEMBLKS as u64).map(|i| mem(0, i << 20, (i << 20) + 4096, EN)).collect();
    assert!(matches!(map_nodes(&srat(2, many)), Err(AcpiError::TooManyEntries { max: 128, .. })));
    let s = srat(2, vec![mem(0, u64::MAX - 5, u64::MAX, EN)]);
    let mut s2 = s.clone();
    if let SratEntry::Memory(m) = &mut s2.entries[0] {
        m.length = 10;
    }
    assert!(map_nodes(&s).is_ok());
    assert!(matches!(map_nodes(&s2), Err(AcpiError::MemoryRangeOverflow { entry: 0, .. })));
    // A table with more entries than MAX_SRAT_ENTRIES.
    let big = srat(2, vec![SratEntry::Unknown { entry_type: 9, length: 2 }; MAX_SRAT_ENTRIES + 1]);
    assert!(matches!(parse_srat(&big.to_bytes()), Err(AcpiError::TooManyEntries { max: MAX_SRAT_ENTRIES, .. })));
}

// ---- root tables -------------------------------------------------------------------------------------------

#[test]
fn rsdp_rev2_uses_xsdt_and_falls_back_to_rsdt() {
    let srat_bytes = numa2().to_bytes();
    let mut img = Image::new();
    // The RSDT lists no SRAT: finding it proves the XSDT was used.
    img.put(RSDP_AT, &rsdp(2, RSDT_AT as u32, XSDT_AT))
        .put(RSDT_AT, &rsdt(&[APIC_AT as u32]))
        .put(XSDT_AT, &xsdt(&[APIC_AT, 0, SRAT_AT]))
        .put(APIC_AT, &sdt(*b"APIC", &[]))
        .put(SRAT_AT, &srat_bytes);
    let r = read_rsdp(&img.reader(), RSDP_AT).unwrap();
    assert_eq!(r.revision, 2);
    assert_eq!(r.root_table().unwrap(), (XSDT_AT, XSDT));
    assert_eq!(find_srat(&img.reader(), RSDP_AT).unwrap(), Some(numa2()));
    // XSDT address 0: the RSDT is used, and it has no SRAT.
    img.put(RSDP_AT, &rsdp(2, RSDT_AT as u32, 0));
    assert_eq!(find_srat(&img.reader(), RSDP_AT).unwrap(), None);
    img.put(RSDT_AT, &rsdt(&[APIC_AT as u32, SRAT_AT as u32]));
    assert_eq!(find_srat(&img.reader(), RSDP_AT).unwrap(), Some(numa2()));
    img.put(RSDP_AT, &rsdp(2, 0, 0));
    assert_eq!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::NoRootTable { revision: 2 }));
    img.put(RSDP_AT, &rsdp(1, RSDT_AT as u32, 0));
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert_eq!(e, AcpiError::UnsupportedRevision { table: Table::Rsdp, revision: 1 });
    assert_eq!(e.to_string(), "ACPI: RSDP revision 1 is not supported (known: 0, 2 and later)");
}

#[test]
fn rsdp_errors() {
    let mut img = seabios(&numa2().to_bytes());
    let e = find_srat(&img.reader(), RSDP_AT + 16).unwrap_err();
    assert!(matches!(e, AcpiError::BadRsdpSignature { .. }));
    assert!(e.to_string().starts_with("ACPI: no RSDP at 0xf5a10: signature \""));
    let mut bad = rsdp(0, RSDT_AT as u32, 0);
    bad[8] = bad[8].wrapping_add(1);
    img.put(RSDP_AT, &bad);
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert_eq!(e, AcpiError::BadChecksum { table: Table::Rsdp, addr: Some(RSDP_AT), sum: 1 });
    assert_eq!(e.to_string(), "ACPI: bad checksum in RSDP at 0xf5a00: bytes sum to 0x01, expected 0");
    // Revision 2 with a broken extended checksum (the first 20 bytes are fine).
    let mut bad = rsdp(2, RSDT_AT as u32, XSDT_AT);
    bad[33] = 1;
    img.put(RSDP_AT, &bad);
    assert!(matches!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::BadChecksum { table: Table::Rsdp, .. })));
    // Revision 2 with a length field below 36.
    let mut bad = rsdp(2, RSDT_AT as u32, XSDT_AT);
    bad[20] = 20;
    img.put(RSDP_AT, &bad);
    assert!(matches!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::LengthTooSmall { length: 20, .. })));
    // Revision 2 with a length field far beyond the mapping.
    bad[20..24].copy_from_slice(&0x10_0000u32.to_le_bytes());
    img.put(RSDP_AT, &bad);
    assert!(matches!(
        find_srat(&img.reader(), RSDP_AT),
        Err(AcpiError::LengthBeyondMapping { table: Table::Rsdp, length: 0x10_0000, .. })
    ));
    // The RSDP address itself unmapped.
    let e = find_srat(&img.reader(), 0x1000).unwrap_err();
    assert_eq!(e, AcpiError::Unmapped { table: Table::Rsdp, addr: 0x1000, len: 20 });
    assert_eq!(e.to_string(), "ACPI: pointer to RSDP at 0x1000 (20 bytes) is outside mapped memory");
    let e = find_srat(&img.reader(), u64::MAX - 3).unwrap_err();
    assert!(matches!(e, AcpiError::Unmapped { .. }));
}

#[test]
fn root_table_errors() {
    let srat_bytes = numa2().to_bytes();
    // RSDT pointer outside mapped memory.
    let mut img = seabios(&srat_bytes);
    img.put(RSDP_AT, &rsdp(0, 0x4000_0000, 0));
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert_eq!(e, AcpiError::Unmapped { table: Table::Sdt(RSDT), addr: 0x4000_0000, len: 36 });
    // An RSDT entry outside mapped memory.
    let mut img = seabios(&srat_bytes);
    img.put(RSDT_AT, &rsdt(&[0xdead_0000, SRAT_AT as u32]));
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert!(matches!(e, AcpiError::Unmapped { addr: 0xdead_0000, .. }));
    // The RSDT pointer leads to something else.
    let mut img = seabios(&srat_bytes);
    img.put(RSDP_AT, &rsdp(0, APIC_AT as u32, 0));
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert_eq!(e.to_string(), "ACPI: expected RSDT at 0xe4000, found signature \"APIC\"");
    // RSDT with a bad checksum.
    let mut img = seabios(&srat_bytes);
    let mut r = rsdt(&[SRAT_AT as u32]);
    r[20] ^= 0x40;
    img.put(RSDT_AT, &r);
    assert!(matches!(
        find_srat(&img.reader(), RSDP_AT),
        Err(AcpiError::BadChecksum { table: Table::Sdt(RSDT), sum: 0x40, .. })
    ));
    // RSDT with a partial entry.
    let mut img = seabios(&srat_bytes);
    let mut r = sdt(RSDT, &[0, 0x30, 0x0e, 0, 0, 0]);
    finish_sdt(&mut r);
    img.put(RSDT_AT, &r);
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert_eq!(e, AcpiError::RootTableLength { table: Table::Sdt(RSDT), length: 42, entry_size: 4 });
    // RSDT with a lying length: smaller than a header, larger than the mapping.
    let mut img = seabios(&srat_bytes);
    let mut r = rsdt(&[SRAT_AT as u32]);
    r[4..8].copy_from_slice(&10u32.to_le_bytes());
    img.put(RSDT_AT, &r);
    assert!(matches!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::LengthTooSmall { length: 10, .. })));
    r[4..8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    img.put(RSDT_AT, &r);
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert_eq!(e, AcpiError::LengthBeyondMapping { table: Table::Sdt(RSDT), addr: RSDT_AT, length: 0x8000_0000 });
    assert_eq!(e.to_string(), "ACPI: RSDT at 0xe1000 has length field 2147483648 reaching beyond mapped memory");
    // No SRAT at all (QEMU without -numa).
    let mut img = seabios(&srat_bytes);
    img.put(RSDT_AT, &rsdt(&[APIC_AT as u32]));
    assert_eq!(find_srat(&img.reader(), RSDP_AT), Ok(None));
}

#[test]
fn srat_reached_through_root_but_broken() {
    let mut bytes = numa2().to_bytes();
    bytes[60] ^= 1;
    let img = seabios(&bytes);
    let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
    assert!(matches!(e, AcpiError::BadChecksum { table: Table::Sdt(SRAT), addr: Some(SRAT_AT), .. }));
    assert!(e.to_string().starts_with("ACPI: bad checksum in SRAT at 0xe3000: bytes sum to "));
    // The SRAT running off the end of the mapping.
    let bytes = numa2().to_bytes();
    let mut img = Image::new();
    let at = BASE + 0x20000 - 100;
    img.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0)).put(RSDT_AT, &rsdt(&[at as u32])).put(at, &bytes[..100]);
    assert!(matches!(
        find_srat(&img.reader(), RSDP_AT),
        Err(AcpiError::LengthBeyondMapping { table: Table::Sdt(SRAT), .. })
    ));
}

// ---- malformed SRAT bytes ----------------------------------------------------------------------------------

#[test]
fn malformed_srat_tables() {
    let good = numa2().to_bytes();
    // Truncated: the slice is shorter than the length field says.
    let e = parse_srat(&good[..100]).unwrap_err();
    assert_eq!(e, AcpiError::Truncated { table: Table::Sdt(SRAT), addr: None, needed: good.len(), available: 100 });
    assert_eq!(e.to_string(), "ACPI: SRAT is truncated: 240 bytes needed, 100 available");
    assert!(matches!(parse_srat(&good[..3]), Err(AcpiError::Truncated { needed: 36, .. })));
    assert!(matches!(parse_srat(&[]), Err(AcpiError::Truncated { .. })));
    // Wrong signature.
    let e = parse_srat(&sdt(*b"SLIT", &[0; 12])).unwrap_err();
    assert_eq!(e.to_string(), "ACPI: expected SRAT, found signature \"SLIT\"");
    // Length lies: smaller than the header; smaller than the SRAT's fixed part.
    let mut b = good.clone();
    b[4..8].copy_from_slice(&20u32.to_le_bytes());
    assert!(matches!(parse_srat(&b), Err(AcpiError::LengthTooSmall { length: 20, min: 36, .. })));
    let e = parse_srat(&sdt(SRAT, &[0; 4])).unwrap_err();
    assert_eq!(e.to_string(), "ACPI: SRAT has length field 40, smaller than its 48-byte header");
    // Bad checksum.
    let mut b = good.clone();
    b[9] = b[9].wrapping_add(3);
    assert_eq!(parse_srat(&b), Err(AcpiError::BadChecksum { table: Table::Sdt(SRAT), addr: None, sum: 3 }));
    // Trailing bytes after the length are ignored.
    let mut b = good.clone();
    b.extend_from_slice(&[0xff; 7]);
    assert_eq!(parse_srat(&b).unwrap(), numa2());
}

fn srat_with_raw_entries(raw: &[u8]) -> Vec<u8> {
    sdt(SRAT, &[&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], raw].concat())
}

#[test]
fn malformed_entries() {
    let e = parse_srat(&srat_with_raw_entries(&[1, 0, 0, 0])).unwrap_err();
    assert_eq!(e, AcpiError::ZeroLengthEntry { table: Table::Sdt(SRAT), offset: 48, entry_type: 1 });
    assert_eq!(e.to_string(), "ACPI: SRAT entry type 1 at offset 0x30 has length 0");
    let e = parse_srat(&srat_with_raw_entries(&[1, 40, 0, 0])).unwrap_err();
    assert_eq!(
        e,
        AcpiError::EntryPastEnd { table: Table::Sdt(SRAT), offset: 48, entry_type: 1, length: 40, table_len: 52 }
    );
    assert_eq!(e.to_string(), "ACPI: SRAT entry type 1 at offset 0x30 with length 40 runs past the table end (0x34)");
    let e = parse_srat(&srat_with_raw_entries(&[9, 2, 7])).unwrap_err();
    assert_eq!(e, AcpiError::PartialEntryHeader { table: Table::Sdt(SRAT), offset: 50, table_len: 51 });
    let mut raw = [0u8; 16];
    raw[0] = 0;
    raw[1] = 12;
    let e = parse_srat(&srat_with_raw_entries(&raw[..12])).unwrap_err();
    assert_eq!(
        e,
        AcpiError::BadEntryLength { table: Table::Sdt(SRAT), offset: 48, entry_type: 0, length: 12, expected: 16 }
    );
    assert_eq!(e.to_string(), "ACPI: SRAT entry type 0 at offset 0x30 has length 12, expected 16");
    let mut raw = vec![0u8; 32];
    raw[0] = 1;
    raw[1] = 32;
    assert!(matches!(parse_srat(&srat_with_raw_entries(&raw)), Err(AcpiError::BadEntryLength { expected: 40, .. })));
    raw[0] = 2;
    raw[1] = 20;
    assert!(matches!(
        parse_srat(&srat_with_raw_entries(&raw[..20])),
        Err(AcpiError::BadEntryLength { expected: 24, .. })
    ));
    // Longer-than-needed memory and x2APIC entries are accepted (later revisions may grow them).
    let mut raw = vec![0u8; 48];
    raw[0] = 1;
    raw[1] = 48;
    raw[28] = 1;
    let s = parse_srat(&srat_with_raw_entries(&raw)).unwrap();
    assert!(s.entries[0].enabled());
}

#[test]
fn unknown_entries_are_kept_and_skipped() {
    // GICC (type 3, 18 bytes), generic initiator (type 5, 32 bytes) between known ones.
    let s = srat(
        3,
        vec![
            lapic(0, 0),
            SratEntry::Unknown { entry_type: 3, length: 18 },
            SratEntry::Unknown { entry_type: 5, length: 32 },
            mem(0, 0, 0x8000000, EN),
        ],
    );
    let p = parse_srat(&s.to_bytes()).unwrap();
    assert_eq!(p, s);
    assert!(!p.entries[1].enabled());
    assert_eq!(map_nodes(&p).unwrap().nodes(), 1);
}

#[test]
fn error_texts_have_no_empty_parts() {
    let all = [
        AcpiError::BadRsdpSignature { addr: 1, found: [0, b'R', b'"', 0xff, 1, 2, 3, 4] },
        AcpiError::TooManyEntries { what: "x", max: 1 },
        AcpiError::PxmOutOfRange { entry: 3, pxm: 300 },
        AcpiError::MemoryRangeOverflow { entry: 1, base: 2, length: 3 },
        AcpiError::NoRootTable { revision: 2 },
    ];
    for e in all {
        let s = format!("{}", e);
        assert!(s.starts_with("ACPI: ") && s.len() > 16, "{}", s);
    }
    assert_eq!(
        AcpiError::BadRsdpSignature { addr: 1, found: *b"RSD PTR\x00" }.to_string(),
        "ACPI: no RSDP at 0x1: signature \"RSD PTR\\x00\" is not \"RSD PTR \""
    );
}

#[test]
fn reader_short_answers_are_truncations() {
    struct Short<'a>(&'a [u8]);
    impl PhysReader for Short<'_> {
        fn read(&self, _phys: u64, _len: usize) -> Option<&[u8]> {
            Some(self.0)
        }
    }
    let e = find_srat(&Short(&[0; 10]), 0).unwrap_err();
    assert_eq!(e, AcpiError::Truncated { table: Table::Rsdp, addr: Some(0), needed: 20, available: 10 });
    let imgs = [MemoryImage { base: 0x1000, bytes: &[1; 16] }, MemoryImage { base: 0x2000, bytes: &[2; 16] }];
    assert_eq!(imgs[..].read(0x2004, 4), Some(&[2u8; 4][..]));
    assert_eq!(imgs[..].read(0x100c, 8), None);
}

// ---- properties --------------------------------------------------------------------------------------------

fn arb_entry() -> impl Strategy<Value = SratEntry> {
    prop_oneof![
        (any::<u32>(), any::<u8>(), any::<u32>()).prop_map(|(proximity_domain, apic_id, flags)| {
            SratEntry::LocalApic(LocalApicAffinity {
                proximity_domain,
                apic_id,
                flags: AffinityFlags::from_bits_retain(flags),
            })
        }),
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(proximity_domain, base, length, flags)| {
            SratEntry::Memory(MemoryAffinity {
                proximity_domain,
                base,
                length,
                flags: AffinityFlags::from_bits_retain(flags),
            })
        }),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(proximity_domain, x2apic_id, flags)| {
            SratEntry::X2Apic(X2ApicAffinity {
                proximity_domain,
                x2apic_id,
                flags: AffinityFlags::from_bits_retain(flags),
            })
        }),
        (3u8.., 2u8..).prop_map(|(entry_type, length)| SratEntry::Unknown { entry_type, length }),
    ]
}

fn arb_srat() -> impl Strategy<Value = Srat> {
    (any::<u8>(), any::<[u8; 6]>(), any::<[u8; 8]>(), proptest::collection::vec(arb_entry(), 0..40))
        .prop_map(|(revision, oem_id, oem_table_id, entries)| Srat { revision, oem_id, oem_table_id, entries })
}

proptest! {
    #[test]
    fn prop_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_srat(&bytes);
        // The same bytes with a valid checksum and length, so the entry walker is reached.
        let mut b = bytes.clone();
        if b.len() >= 10 {
            b[..4].copy_from_slice(&SRAT);
            finish_sdt(&mut b);
            if let Ok(s) = parse_srat(&b) {
                let _ = map_nodes(&s);
            }
        }
    }

    #[test]
    fn prop_random_image_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), at in 0u64..600) {
        let img = MemoryImage { base: 0, bytes: &bytes };
        let _ = find_srat(&img, at);
        // Plant a valid RSDP whose pointers lead into the random bytes.
        let mut b = bytes.clone();
        let p = rsdp(2, (at % 512) as u32, at.wrapping_mul(7) % 512);
        if b.len() >= p.len() {
            b[..p.len()].copy_from_slice(&p);
            let _ = find_srat(&MemoryImage { base: 0, bytes: &b }, 0);
        }
    }

    #[test]
    fn prop_srat_round_trips(s in arb_srat()) {
        let bytes = s.to_bytes();
        prop_assert_eq!(parse_srat(&bytes), Ok(s.clone()));
        let _ = map_nodes(&s);
    }

    #[test]
    fn prop_find_srat_round_trips(s in arb_srat(), rev2 in any::<bool>()) {
        let bytes = s.to_bytes();
        let mut img = vec![0u8; 0x3000 + bytes.len()];
        let r = if rev2 { rsdp(2, 0x1000, 0x2000) } else { rsdp(0, 0x1000, 0) };
        img[..r.len()].copy_from_slice(&r);
        let rt = rsdt(&[0x3000]);
        img[0x1000..0x1000 + rt.len()].copy_from_slice(&rt);
        let xt = xsdt(&[0x3000]);
        img[0x2000..0x2000 + xt.len()].copy_from_slice(&xt);
        img[0x3000..].copy_from_slice(&bytes);
        prop_assert_eq!(find_srat(&MemoryImage { base: 0, bytes: &img }, 0), Ok(Some(s)));
    }

    #[test]
    fn prop_numbering_is_first_appearance(pxms in proptest::collection::vec(0u32..8, 1..20), cpus in proptest::collection::vec(0u32..8, 0..6)) {
        let mut entries: Vec<SratEntry> = pxms.iter().enumerate()
            .map(|(i, &p)| mem(p, (i as u64) << 30, ((i as u64) << 30) + 4096, EN)).collect();
        entries.extend(cpus.iter().enumerate().map(|(i, &p)| lapic(i as u8, p)));
        let n = map_nodes(&srat(2, entries)).unwrap();
        // Reference: processors first, then memory, first appearance.
        let mut order: Vec<u32> = Vec::new();
        for p in cpus.iter().chain(pxms.iter()) {
            if !order.contains(p) { order.push(*p); }
        }
        prop_assert_eq!(&n.node_pxm, &order);
        for m in &n.memory {
            prop_assert_eq!(n.node_pxm[m.range.nid as usize], m.pxm);
        }
    }
}

#[test]
fn slit_parses_and_maps_to_nodes() {
    // QEMU's SLIT for two nodes with -numa dist,src=0,dst=1,val=21: [10 21; 21 10].
    let mut t = alloc::vec![0u8; SDT_HEADER_LEN];
    t.extend_from_slice(&2u64.to_le_bytes());
    t.extend_from_slice(&[10, 21, 21, 10]);
    t[0..4].copy_from_slice(b"SLIT");
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    t[8] = 1;
    let sum = t.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    t[9] = 0u8.wrapping_sub(sum);
    let slit = parse_slit(&t).unwrap();
    assert_eq!(slit.distance(0, 1), Some(21));
    assert_eq!(slit.distance(2, 0), None);
    // Linux's numbering may swap PXMs: node 0 = PXM 1.
    assert_eq!(slit.node_distances(&[1, 0]), Some(alloc::vec![10, 21, 21, 10]));
    assert_eq!(slit.node_distances(&[0, 5]), None);
    // A count that does not fit the table, and a bad checksum.
    let mut bad = t.clone();
    bad[SDT_HEADER_LEN] = 3;
    bad[9] = bad[9].wrapping_sub(1);
    assert!(matches!(parse_slit(&bad), Err(AcpiError::Truncated { .. })));
    let mut bad = t.clone();
    bad[SDT_HEADER_LEN + 8] = 11;
    assert!(matches!(parse_slit(&bad), Err(AcpiError::BadChecksum { .. })));
}
