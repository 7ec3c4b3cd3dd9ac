//! Bad ACPI tables (RSDP, root tables, SRAT, MADT), fed to the parsers.

use super::*;

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
