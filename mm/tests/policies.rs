//! The whole pipeline on the host: layouts from the shared references through every policy, with the lines Linux
//! printed, the verifier's findings, and compressed mode against full materialization.

use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy::{self, POLICIES};
use mm::sparse::HeapBacking;
use mm::verify::{verify, FindingKind};

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

fn boot(memory: &[MemRange], policy: &str, compressed: bool) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    let mut opts = MmOptions::new(policy::by_name(policy).unwrap());
    opts.compressed = compressed;
    Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap()
}

fn unavailable_lines(mm: &Mm) -> Vec<&str> {
    mm.lines.iter().map(|s| s.as_str()).filter(|l| l.contains("unavailable ranges")).collect()
}

/// QEMU `-m 4000M` (pc) after Linux's e820 quirks: page 0 reserved, 0xa0000-0xfffff removed.
fn m4000() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

/// The Dell T5500 sample's `Early memory node ranges`.
fn t5500() -> Vec<MemRange> {
    vec![m(1, 0x9e, 0), m(0x100, 0xcfdf9, 0), m(0x100000, 0xa30000, 0)]
}

/// The QEMU 4-node sample's `Early memory node ranges`.
fn qemu_4node() -> Vec<MemRange> {
    vec![
        m(1, 0x9f, 0),
        m(0x100, 0xbffdf, 0),
        m(0x100000, 0x140000, 0),
        m(0x140000, 0x240000, 1),
        m(0x240000, 0x340000, 2),
        m(0x340000, 0x440000, 3),
    ]
}

/// Descending nodes (qemu-layouts.md): node 1 holds the low memory, node 0 the high; boundary inside section 7.
fn descending() -> Vec<MemRange> {
    vec![m(1, 0x9f, 1), m(0x100, 0x3e800, 1), m(0x3e800, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

#[test]
fn t5500_upstream_prints_linux_lines() {
    let mm = boot(&t5500(), "upstream", false);
    assert_eq!(
        unavailable_lines(&mm),
        vec![
            "On node 0, zone DMA: 1 pages in unavailable ranges",
            "On node 0, zone DMA: 98 pages in unavailable ranges",
            "On node 0, zone Normal: 519 pages in unavailable ranges",
        ]
    );
    // Printed after the Initmem setup line, as Linux does.
    let initmem = mm.lines.iter().position(|l| l.starts_with("Initmem setup node 0")).unwrap();
    let first = mm.lines.iter().position(|l| l.contains("unavailable")).unwrap();
    assert!(initmem < first);
}

#[test]
fn qemu_4node_zeroed_prints_131() {
    for p in ["zeroed", "zeroed-no-tail", "reserved-relaxed"] {
        let mm = boot(&qemu_4node(), p, false);
        assert_eq!(unavailable_lines(&mm), vec!["Zeroed struct page in unavailable ranges: 131 pages"], "{}", p);
        let zeroed = mm.lines.iter().position(|l| l.starts_with("Zeroed")).unwrap();
        let initmem = mm.lines.iter().position(|l| l.starts_with("Initmem setup node 0")).unwrap();
        assert_eq!(zeroed + 1, initmem, "printed right before Initmem setup");
    }
}

#[test]
fn m4000_under_every_policy() {
    let up = boot(&m4000(), "upstream", false);
    assert_eq!(
        unavailable_lines(&up),
        vec![
            "On node 0, zone DMA: 1 pages in unavailable ranges",
            "On node 0, zone DMA: 97 pages in unavailable ranges",
            "On node 0, zone Normal: 32 pages in unavailable ranges",
            "On node 0, zone Normal: 24576 pages in unavailable ranges",
        ]
    );
    let v = verify(&up);
    // The tail (24576), the 32 pages below 4 GiB linked to Normal, and pfn 0 (DMA starts at pfn 1).
    assert_eq!(v.count(FindingKind::ZoneDoesNotSpan), 24576 + 32 + 1);
    assert_eq!(v.count(FindingKind::Poisoned), 0);
    assert!(v.broken_promises.is_empty(), "{:?}", v.broken_promises);

    let nt = boot(&m4000(), "zeroed-no-tail", false);
    let v = verify(&nt);
    assert_eq!(v.count(FindingKind::Poisoned), 24576, "the tail of section 39 stays poisoned");
    assert_eq!(unavailable_lines(&nt), vec!["Zeroed struct page in unavailable ranges: 130 pages"]);

    let z = boot(&m4000(), "zeroed", false);
    assert_eq!(unavailable_lines(&z), vec!["Zeroed struct page in unavailable ranges: 24706 pages"]);
    let v = verify(&z);
    assert_eq!(v.count(FindingKind::Poisoned), 0);
    // Zeroed holes claim DMA: pfn 0 and 0x9f-0xff are in DMA's span except pfn 0; the rest are not.
    assert_eq!(v.count(FindingKind::ZoneDoesNotSpan), 1 + 32 + 24576);
    assert!(z.checker.total_violations == 0, "no pageblock-aligned hole page gets a migratetype at boot");

    let s = boot(&m4000(), "strict", false);
    let v = verify(&s);
    assert_eq!(v.total(), 0, "{:?}", v.first);
    assert!(v.broken_promises.is_empty(), "{:?}", v.broken_promises);
    let normal = s.zones.zone(0, mm::zones::ZoneType::Normal).unwrap();
    assert_eq!(normal.zone_start_pfn + normal.spanned_pages, 0x140000, "Normal grew over the tail only");
    let dma = s.zones.zone(0, mm::zones::ZoneType::Dma).unwrap();
    assert_eq!(dma.zone_start_pfn, 0, "DMA grew down to pfn 0");

    let se = boot(&m4000(), "span-extend", false);
    let v = verify(&se);
    assert_eq!(v.count(FindingKind::ZoneDoesNotSpan), 0, "{:?}", v.first);
    assert_eq!(
        unavailable_lines(&se),
        vec![
            "  DMA zone: 98 pages in unavailable ranges",
            "  DMA32 zone: 32 pages in unavailable ranges",
            "  Normal zone: 24576 pages in unavailable ranges",
        ]
    );
}

#[test]
fn descending_nodes_upstream_keeps_memory_links() {
    let mm = boot(&descending(), "upstream", false);
    let v = verify(&mm);
    assert_eq!(v.count(FindingKind::MemoryWrongLinks), 0);
    assert_eq!(v.count(FindingKind::Poisoned), 0);
    // The tail goes to node 0 (the node of the highest range).
    assert_eq!(unavailable_lines(&mm).last().unwrap(), &"On node 0, zone Normal: 24576 pages in unavailable ranges");
    let s = boot(&descending(), "strict", false);
    assert_eq!(verify(&s).total(), 0);
}

#[test]
fn compressed_equals_full_on_small_layouts() {
    for layout in [m4000(), t5500(), qemu_4node(), descending()] {
        for p in POLICIES {
            let full = boot(&layout, p.name(), false);
            let comp = boot(&layout, p.name(), true);
            assert!(comp.uniform_sections > 0, "compression actually happens");
            assert_eq!(full.lines, comp.lines, "{}", p.name());
            for nr in full.sparse.valid_sections() {
                let s = mm::consts::section_nr_to_pfn(nr);
                for pfn in s..s + mm::consts::PAGES_PER_SECTION {
                    let (a, b) = (full.sparse.pfn_to_page(pfn).unwrap(), comp.sparse.pfn_to_page(pfn).unwrap());
                    assert_eq!(
                        (a.flags, a.refcount, a.mapcount, a.links(pfn).ok()),
                        (b.flags, b.refcount, b.mapcount, b.links(pfn).ok()),
                        "{} pfn {:#x}",
                        p.name(),
                        pfn
                    );
                }
            }
            let (vf, vc) = (verify(&full), verify(&comp));
            assert_eq!(vf.counts, vc.counts, "{}", p.name());
            assert_eq!(full.unavailable, comp.unavailable);
        }
    }
}

#[test]
fn descending_nodes_under_5_12_overwrite_the_other_node() {
    // 0740a50b9baa before 122e093c1734: node 1's section-tail init runs over node 0's first pages in section 7.
    let mm = boot(&descending(), "upstream-5.12", false);
    let v = verify(&mm);
    // Node 1's last zone (DMA32) ends at 0x3e800; its tail to the section end 0x40000 is node 0's memory.
    assert_eq!(v.count(FindingKind::MemoryWrongLinks), 0x40000 - 0x3e800, "{:?}", v.first);
    let first = v.first.iter().find(|f| f.kind == FindingKind::MemoryWrongLinks).unwrap();
    assert_eq!(first.pfn, 0x3e800);
    assert_eq!(first.links.unwrap().nid, 1, "node 0's page carries node 1's links");
    assert!(!v.broken_promises.is_empty() || !mm.policy.promise().memory_links_exact);
    // The same layout in ascending node order, and upstream on the descending one, are clean.
    assert_eq!(verify(&boot(&descending(), "upstream", false)).count(FindingKind::MemoryWrongLinks), 0);
    assert_eq!(verify(&boot(&m4000(), "upstream-5.12", false)).count(FindingKind::MemoryWrongLinks), 0);
}
