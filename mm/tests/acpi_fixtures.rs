//! The `mm::acpi` SRAT and MADT parsers on tables captured from QEMU 7.2 (`acpi_dump=1`; regenerate with
//! `cargo test -p memlab-tests --test capture_fixtures -- --ignored`), checked against the facts of
//! shared/reference/qemu-layouts.md, and on malformed variants of them.

use mm::acpi::{map_nodes, parse_srat, AcpiError, SratEntry, SratNuma};

const NUMA2: &[u8] = include_bytes!("fixtures/srat-pc-numa2.bin");
const HOTPLUG: &[u8] = include_bytes!("fixtures/srat-pc-hotplug-window.bin");
const DESCENDING: &[u8] = include_bytes!("fixtures/srat-descending.bin");
const Q35_NUMA2_UEFI: &[u8] = include_bytes!("fixtures/srat-q35-numa2-uefi.bin");
const NODE_IN_SECTION: &[u8] = include_bytes!("fixtures/srat-pc-node-in-section.bin");
const NUMA4_64G: &[u8] = include_bytes!("fixtures/srat-pc-numa4-64g.bin");
const MEMORYLESS: &[u8] = include_bytes!("fixtures/srat-pc-memoryless-node.bin");

const ALL: &[&[u8]] = &[NUMA2, HOTPLUG, DESCENDING, Q35_NUMA2_UEFI, NODE_IN_SECTION, NUMA4_64G, MEMORYLESS];

const G: u64 = 1 << 30;

/// A fixture by file name (the MADTs are read at run time: they are looked up by name in a table of cases).
fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn numa(bytes: &[u8]) -> SratNuma {
    map_nodes(&parse_srat(bytes).expect("fixture parses")).expect("fixture maps")
}

/// (node, start, end, hotplug) of every enabled memory range, in table order.
fn ranges(bytes: &[u8]) -> Vec<(u32, u64, u64, bool)> {
    numa(bytes).memory.iter().map(|m| (m.range.nid, m.range.start, m.range.end, m.range.hotplug)).collect()
}

/// (apic id, proximity domain) of the local APIC entries.
fn lapics(bytes: &[u8]) -> Vec<(u8, u32)> {
    parse_srat(bytes)
        .unwrap()
        .entries
        .iter()
        .filter_map(|e| match e {
            SratEntry::LocalApic(a) => Some((a.apic_id, a.proximity_domain)),
            _ => None,
        })
        .collect()
}

#[test]
fn pc_numa2_node_boundary_80_mib_into_section_15() {
    assert_eq!(lapics(NUMA2), vec![(0, 0), (1, 1)]);
    assert_eq!(
        ranges(NUMA2),
        vec![
            (0, 0, 0xa0000, false),
            (0, 0x100000, 0x7d000000, false),
            (1, 0x7d000000, 0xc0000000, false),
            (1, 4 * G, 0x13a000000, false),
        ]
    );
    let n = numa(NUMA2);
    assert_eq!(n.node_pxm, vec![0, 1]);
    // 0x7d000000 = section 15 (128 MiB each) + 80 MiB.
    assert_eq!(0x7d000000u64 - 15 * (128 << 20), 80 << 20);
    assert_eq!(n.memory[1].to_string(), "ACPI: SRAT: Node 0 PXM 0 [mem 0x00100000-0x7cffffff]", "Linux's line format");
}

#[test]
fn pc_hotplug_window_is_one_node_with_a_hotplug_range() {
    assert_eq!(
        ranges(HOTPLUG),
        vec![
            (0, 0, 0xa0000, false),
            (0, 0x100000, 0xc0000000, false),
            (0, 4 * G, 0x13a000000, false),
            (0, 0x140000000, 0x2c6000000, true),
        ]
    );
    assert_eq!(numa(HOTPLUG).nodes(), 1);
    assert!(numa(HOTPLUG).memory[3].to_string().ends_with("[mem 0x140000000-0x2c5ffffff] hotplug"));
}

#[test]
fn descending_nodes_follow_linux_numbering() {
    // QEMU lists processor entries by CPU: CPU 0 is in PXM 1, so PXM 1 becomes node 0 (the high memory).
    assert_eq!(lapics(DESCENDING), vec![(0, 1), (1, 0)]);
    let n = numa(DESCENDING);
    assert_eq!(n.node_pxm, vec![1, 0]);
    assert_eq!(
        ranges(DESCENDING),
        vec![
            (1, 0, 0xa0000, false),
            (1, 0x100000, 0x3e800000, false),
            (0, 0x3e800000, 0xc0000000, false),
            (0, 4 * G, 0x13a000000, false),
        ]
    );
}

#[test]
fn q35_numa2_under_uefi() {
    let r = ranges(Q35_NUMA2_UEFI);
    assert!(r.contains(&(1, 0x7d000000, 0x80000000, false)), "{r:x?}");
    assert!(r.contains(&(1, 4 * G, 0x17a000000, false)), "{r:x?}");
    assert!(r.iter().any(|&(n, _, e, _)| n == 0 && e == 0x7d000000), "{r:x?}");
    assert_eq!(numa(Q35_NUMA2_UEFI).nodes(), 2);
}

#[test]
fn node_in_section_boundary() {
    let r = ranges(NODE_IN_SECTION);
    // 4160M on node 0: 3 GiB below 4 GiB, the remaining 1088 MiB above; node 1 starts at 0x144000000, which is
    // 64 MiB into section 40.
    assert!(r.contains(&(0, 4 * G, 0x144000000, false)), "{r:x?}");
    assert!(r.contains(&(1, 0x144000000, 0x240000000, false)), "{r:x?}");
    assert_eq!(0x144000000u64 % (128 << 20), 64 << 20);
}

#[test]
fn numa4_64g_nodes_are_16g_each() {
    let r = ranges(NUMA4_64G);
    assert_eq!(numa(NUMA4_64G).nodes(), 4);
    for (nid, start) in [(1u32, 0x440000000u64), (2, 0x840000000), (3, 0xc40000000)] {
        assert!(r.contains(&(nid, start, start + 16 * G, false)), "{r:x?}");
    }
}

#[test]
fn memoryless_node_entry_is_disabled_and_skipped() {
    let srat = parse_srat(MEMORYLESS).unwrap();
    assert!(
        srat.entries.iter().any(|e| matches!(e, SratEntry::Memory(m) if !m.enabled() && m.length == 0)),
        "QEMU writes a disabled zero-length entry for the memory-less node: {:x?}",
        srat.entries
    );
    let n = numa(MEMORYLESS);
    assert_eq!(n.nodes(), 2, "the CPU-only domain still becomes a node");
    assert!(n.memory.iter().all(|m| m.range.nid == 0 && m.range.end > m.range.start));
}

// Malformed variants of real tables: every one is a named error, none panics.

fn fix_checksum(b: &mut [u8]) {
    b[9] = 0;
    let sum = b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    b[9] = 0u8.wrapping_sub(sum);
}

#[test]
fn bad_checksum_is_named() {
    let mut b = NUMA2.to_vec();
    b[60] ^= 0x01;
    assert!(matches!(parse_srat(&b), Err(AcpiError::BadChecksum { .. })));
}

#[test]
fn truncated_and_lying_lengths_are_named() {
    for cut in [0, 10, 35, 36, 47, NUMA2.len() - 1] {
        assert!(parse_srat(&NUMA2[..cut]).is_err(), "cut at {cut}");
    }
    // The length field claims more bytes than there are.
    let mut b = NUMA2.to_vec();
    b[4..8].copy_from_slice(&(NUMA2.len() as u32 + 16).to_le_bytes());
    fix_checksum(&mut b);
    assert!(matches!(parse_srat(&b), Err(AcpiError::Truncated { .. })), "{:?}", parse_srat(&b));
    // An entry whose length runs past the end of the table.
    let mut b = NUMA2.to_vec();
    let last = NUMA2.len() - 40;
    assert_eq!(b[last], 1, "the last entry is a memory affinity entry");
    b[last + 1] = 41;
    fix_checksum(&mut b);
    assert!(matches!(parse_srat(&b), Err(AcpiError::EntryPastEnd { .. })), "{:?}", parse_srat(&b));
    // An entry of length 0.
    let mut b = NUMA2.to_vec();
    b[48 + 1] = 0;
    fix_checksum(&mut b);
    assert!(matches!(parse_srat(&b), Err(AcpiError::ZeroLengthEntry { offset: 48, .. })), "{:?}", parse_srat(&b));
    // A local APIC entry with the wrong length.
    let mut b = NUMA2.to_vec();
    assert_eq!(b[48], 0, "the first entry is a local APIC entry");
    b[48 + 1] = 8;
    fix_checksum(&mut b);
    assert!(parse_srat(&b).is_err());
}

#[test]
fn unknown_entry_types_are_kept_and_skipped() {
    // Turn the first local APIC entry (16 bytes) into an unknown type 0x7f of the same length.
    let mut b = NUMA2.to_vec();
    b[48] = 0x7f;
    fix_checksum(&mut b);
    let srat = parse_srat(&b).unwrap();
    assert_eq!(srat.entries[0], SratEntry::Unknown { entry_type: 0x7f, length: 16 });
    // CPU 0's entry is gone: PXM 1 is seen first now, so it becomes node 0.
    assert_eq!(map_nodes(&srat).unwrap().node_pxm, vec![1, 0]);
}

#[test]
fn every_prefix_and_every_byte_flip_is_an_error_or_ok_never_a_panic() {
    for t in ALL {
        for cut in 0..t.len() {
            let _ = parse_srat(&t[..cut]).map(|s| map_nodes(&s));
        }
        for i in 0..t.len() {
            let mut b = t.to_vec();
            b[i] ^= 0xff;
            fix_checksum(&mut b);
            let _ = parse_srat(&b).map(|s| map_nodes(&s));
        }
    }
}

/// The MADTs of real QEMU boots (`capture_madt_fixtures`): the CPUs each profile's `-smp` gives, Linux's count of
/// hotplug CPUs for `-smp 4,maxcpus=8`, and every CPU the same machine's SRAT places on a node is in its MADT.
#[test]
fn madt_fixtures_list_the_cpus_qemu_was_given() {
    use mm::acpi::{map_nodes, parse_madt};
    let cases: &[(&str, usize, usize, Option<&str>)] = &[
        ("madt-pc-numa2.bin", 2, 0, Some("srat-pc-numa2.bin")),
        ("madt-q35-numa2-uefi.bin", 2, 0, Some("srat-q35-numa2-uefi.bin")),
        ("madt-pc-numa4-64g.bin", 4, 0, Some("srat-pc-numa4-64g.bin")),
        ("madt-pc-node-in-section.bin", 4, 0, Some("srat-pc-node-in-section.bin")),
        ("madt-pc-smp4-maxcpus8.bin", 8, 4, None),
    ];
    for &(file, possible, hotplug, srat) in cases {
        let m = parse_madt(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let cpus = m.cpus();
        assert_eq!(cpus.len(), possible, "{file}: {cpus:?}");
        assert_eq!(cpus.iter().filter(|c| !c.enabled).count(), hotplug, "{file}");
        assert_eq!(m.local_apic_addr, 0xfee0_0000, "{file}");
        let ids: Vec<u32> = cpus.iter().map(|c| c.apic_id).collect();
        assert!(ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id)), "{file}: unique APIC ids {ids:?}");
        if let Some(srat) = srat {
            let numa = map_nodes(&mm::acpi::parse_srat(&fixture(srat)).unwrap()).unwrap();
            assert_eq!(numa.cpus.len(), possible - hotplug, "{srat}");
            for (apic, nid) in &numa.cpus {
                assert!(ids.contains(apic), "{srat}: CPU {apic} of node {nid} is not in {file}");
            }
        }
    }
}

/// Every way a captured MADT can be cut or bent is a named error, never a panic.
#[test]
fn madt_fixture_truncations_and_bad_lengths_are_errors() {
    let b = fixture("madt-pc-numa2.bin");
    for cut in 0..b.len() {
        let mut t = b[..cut].to_vec();
        if t.len() >= 8 {
            t[4..8].copy_from_slice(&(cut as u32).to_le_bytes());
            mm::acpi::finish_sdt(&mut t);
        }
        let _ = mm::acpi::parse_madt(&t);
    }
    let mut t = b.clone();
    t[mm::acpi::MADT_ENTRIES_OFFSET + 1] = 200;
    mm::acpi::finish_sdt(&mut t);
    assert!(matches!(mm::acpi::parse_madt(&t), Err(mm::acpi::AcpiError::EntryPastEnd { .. })));
}
