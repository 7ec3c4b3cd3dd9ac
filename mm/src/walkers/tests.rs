//! Unit tests of the walkers on small hand-made layouts.

use alloc::boxed::Box;
use alloc::vec;

use super::*;
use crate::layout::{Layout, MemRange};
use crate::model::MmOptions;
use crate::policy;
use crate::sparse::HeapBacking;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

fn boot(memory: &[MemRange], policy: &str) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    Mm::boot(&layout, MmOptions::new(policy::by_name(policy).unwrap()), Box::new(HeapBacking)).unwrap()
}

#[test]
fn registry_names_are_unique_and_stable() {
    let names = names();
    assert_eq!(
        names,
        vec![
            "compaction-migrate",
            "compaction-free",
            "fast-isolate-prefix",
            "fast-isolate",
            "zone-contiguous",
            "isolate-range",
            "offline-check",
            "kpageflags",
            "pagetypeinfo",
            "page-owner"
        ]
    );
    for n in names {
        assert_eq!(by_name(n).unwrap().name(), n);
    }
}

#[test]
fn strict_single_node_is_clean() {
    let mut mm = boot(&[m(1, 0x9f, 0), m(0x100, 0x9000, 0)], "strict");
    for r in run_all_walkers(&mut mm) {
        assert_eq!(r.total(), 0, "{}", r);
        assert_eq!(r.violations(), 0, "{}", r);
    }
}

/// Every pageblock's 4 bits, for the sections that have a memmap.
fn usemap(mm: &Mm) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for nr in mm.sparse.valid_sections() {
        let s = section_nr_to_pfn(nr);
        for b in 0..PAGEBLOCKS_PER_SECTION {
            let pfn = s + b * PAGEBLOCK_NR_PAGES;
            out.push((pfn, mm.sparse.get_pfnblock_flags_mask(pfn, 0xf)));
        }
    }
    out
}

#[test]
fn pageblock_shared_by_two_nodes_trips_the_prefix_walker_only() {
    // Node 0 ends and node 1 starts in the middle of pageblock 0x8000: no hole at all, so the memmap is clean
    // under strict, and yet fast_isolate_around before 6e2b7044c199 scans node 0's free pages while compacting
    // node 1 (the scan is [pageblock_start_pfn(pfn), ...) with no zone clamp): the second bullet of the fix,
    // and the 2022 panic on "systems with multiple zones in a single pageblock".
    let mut mm = boot(&[m(0x100, 0x8100, 0), m(0x8100, 0x10000, 1)], "strict");
    let reports = run_all_walkers(&mut mm);
    for r in &reports {
        assert_eq!(r.memmap_findings(), 0, "{}", r);
        assert_eq!(r.violations(), 0, "{}", r);
    }
    let prefix = reports.iter().find(|r| r.walker == "fast-isolate-prefix").unwrap();
    assert_eq!(prefix.count(FindingKind::ForeignFreePage), 0x100, "node 0's pages 0x8000..0x8100");
    let f = prefix.first_of(FindingKind::ForeignFreePage).unwrap();
    assert_eq!((f.pfn, f.links.unwrap().nid), (0x8000, 0));
    let fixed = reports.iter().find(|r| r.walker == "fast-isolate").unwrap();
    assert_eq!(fixed.total(), 0, "{}", fixed);
}

#[test]
fn vm_debug_panic_stops_the_walker_at_the_vm_bug_on_and_restores_the_usemap() {
    let memory = [m(1, 0x9f, 0), m(0x100, 0x9000, 0)];
    let layout = Layout::from_memory_ranges(&memory).unwrap();
    let mut opts = MmOptions::new(policy::by_name("zeroed").unwrap());
    opts.vm_debug = crate::usemap::VmDebug::Panic;
    let mut mm = Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap();
    let before = usemap(&mm);
    let r = run_walker(&mut mm, by_name("fast-isolate-prefix").unwrap());
    // ZONE_DMA starts at pfn 1, mid-pageblock, and is contiguous: min_pfn 0 reaches set_pageblock_skip(pfn 0),
    // whose zeroed page claims node 0 / DMA, which does not span it.
    let v = r.stopped.expect("the VM_BUG_ON stops the walker");
    assert_eq!(v.pfn, 0);
    assert_eq!(r.count(FindingKind::PageblockCheck), 1);
    assert!(r.skip_left_set.is_empty());
    assert_eq!(usemap(&mm), before, "every skip bit set before the stop was cleared again");
    assert_eq!(mm.checker.total_violations, 1);
}

#[test]
fn walkers_compose_and_leave_only_the_skip_bits_linux_cannot_clear() {
    // Andrea Arcangeli's layout: a reserved range 0x39639000-0x39814fff carved out of DMA32 (QEMU -m 4000M).
    let memory = [m(1, 0x9f, 0), m(0x100, 0x39639, 0), m(0x39815, 0xbffe0, 0), m(0x100000, 0x13a000, 0)];
    for p in ["zeroed", "upstream", "strict"] {
        let layout = Layout::from_memory_ranges(&memory).unwrap();
        let mut opts = MmOptions::new(policy::by_name(p).unwrap());
        opts.compressed = true;
        let mut mm = Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap();
        let before = usemap(&mm);
        let first = run_all_walkers(&mut mm);
        let left: Vec<u64> = first.iter().flat_map(|r| r.skip_left_set.iter().copied()).collect();
        let after = usemap(&mm);
        let changed: Vec<u64> = before.iter().zip(&after).filter(|(a, b)| a != b).map(|((pfn, _), _)| *pfn).collect();
        assert_eq!(changed, left, "{}", p);
        if p == "zeroed" {
            // The skip bit set through the zeroed hole page at 0x39800 (node 0, DMA): __reset_isolation_pfn
            // finds page_zone(page) != DMA32 and leaves it, as Linux does.
            assert_eq!(left, vec![0x39800]);
        } else {
            assert!(left.is_empty(), "{}: {:?}", p, left);
        }
        // A second run finds the same (the left skip bit only matters to blocks no zone's walker uses).
        let second = run_all_walkers(&mut mm);
        for (a, b) in first.iter().zip(&second) {
            assert_eq!((a.counts, &a.targets), (b.counts, &b.targets), "{} {}", p, a.walker);
        }
    }
}

#[test]
fn buddy_pages_are_read_from_the_struct_pages() {
    let mut mm = boot(&[m(0x1000, 0x3000, 0)], "strict");
    assert_eq!(FreeModel::detect(&mm.sparse), FreeModel::AfterBoot);
    assert!(!mm.sparse.pfn_to_page(0x2000).unwrap().is_reserved());
    // One free block of order 10 at 0x2000; every other page allocated (refcount 1).
    for pfn in 0x2000..0x2400 {
        let p = mm.sparse.pfn_to_page_mut(pfn).unwrap();
        p.refcount = 0;
        if pfn == 0x2000 {
            p.set_type(PageType::BUDDY);
            p.private = 10;
        }
    }
    assert_eq!(FreeModel::detect(&mm.sparse), FreeModel::Buddy);
    let r = run_walker(&mut mm, by_name("isolate-range").unwrap());
    assert_eq!(r.stat("ranges isolated"), 1, "{:?}", r.targets);
    assert_eq!(r.stat("pageblocks isolated"), 2);
    assert_eq!(r.total(), 0);
    let k = run_walker(&mut mm, by_name("kpageflags").unwrap());
    assert_eq!(k.stat("KPF_BUDDY"), 1);
    let o = run_walker(&mut mm, by_name("page-owner").unwrap());
    // init_pages_in_zone skips the free block by its order: none of its pages is looked at one by one.
    assert_eq!(o.stat("free"), 0);
    let spanned: u64 = mm.zones.nodes[0].zones.iter().filter(|z| z.populated()).map(|z| z.spanned_pages).sum();
    assert_eq!(o.stat("early allocated") + o.stat("reserved"), spanned - 0x400);
    let free = run_walker(&mut mm, by_name("compaction-free").unwrap());
    // suitable_migration_target: a free page of pageblock order or more is no migration target.
    assert_eq!(free.stat("free pages found"), 0);
    assert!(free.stat("blocks not suitable targets") >= 1);
}

#[test]
fn garbage_pages_are_findings_not_panics() {
    let mut mm = boot(&[m(0x100, 0x9000, 0)], "strict");
    *mm.sparse.pfn_to_page_mut(0x2001).unwrap() = Page::POISONED;
    mm.sparse.pfn_to_page_mut(0x2000).unwrap().flags = Page::link_bits(0x2000, 2, 45);
    let p = mm.sparse.pfn_to_page_mut(0x2002).unwrap();
    p.set_type(PageType::BUDDY);
    p.private = u64::MAX;
    mm.sparse.pfn_to_page_mut(0x2200).unwrap().flags = u64::MAX - 1;
    mm.sparse.pfn_to_page_mut(0x21ff).unwrap().flags = 0;
    let reports = run_all_walkers(&mut mm);
    let owner = reports.iter().find(|r| r.walker == "page-owner").unwrap();
    assert_eq!(owner.count(FindingKind::BadLinks), 2, "nid 45 and nid 63 do not exist: {:?}", owner.first);
    assert_eq!(owner.count(FindingKind::Poisoned), 1);
    let kpf = reports.iter().find(|r| r.walker == "kpageflags").unwrap();
    assert_eq!(kpf.count(FindingKind::Poisoned), 1);
    for r in &reports {
        assert!(!r.lines().is_empty());
        for f in &r.first {
            assert!(!alloc::format!("{}", f).is_empty());
        }
    }
}

#[test]
fn display_of_every_kind_and_reason() {
    for k in FindingKind::ALL {
        assert!(alloc::format!("{}", k).len() > 10);
        assert!(!k.name().is_empty());
    }
    let l = Some(Links { nid: 0, zone: 1 });
    for r in [
        NotContiguous::NoMemmap,
        NotContiguous::Offline,
        NotContiguous::StartInOtherZone(l),
        NotContiguous::EndInOtherZone(None),
    ] {
        assert!(!alloc::format!("{}", BlockFailure { pfn: 0x200, reason: r }).is_empty());
    }
    assert_eq!(alloc::format!("{}", Target::Zone { nid: 1, zone: ZoneType::Normal }), "node 1 zone Normal");
    assert_eq!(
        alloc::format!("{}", WalkError::NeedsZone { walker: "pagetypeinfo" }),
        "walker pagetypeinfo walks zones, not pfn ranges"
    );
}

#[test]
fn zone_walkers_refuse_ranges_and_range_walkers_take_zones() {
    let mut mm = boot(&[m(1, 0x9f, 0), m(0x100, 0x9000, 0)], "upstream");
    let range = Target::Range { start_pfn: 0, end_pfn: 0x8000 };
    assert_eq!(
        run_walker_on(&mut mm, by_name("pagetypeinfo").unwrap(), range).unwrap_err(),
        WalkError::NeedsZone { walker: "pagetypeinfo" }
    );
    let dma = Target::Zone { nid: 0, zone: ZoneType::Dma };
    let r = run_walker_on(&mut mm, by_name("offline-check").unwrap(), dma).unwrap();
    assert_eq!(r.stat("memory blocks"), 1);
    let r = run_walker_on(&mut mm, by_name("kpageflags").unwrap(), range).unwrap();
    assert_eq!(r.stat("KPF_RESERVED") + r.stat("other"), 0x8000);
    assert_eq!(
        run_walker_on(&mut mm, by_name("zone-contiguous").unwrap(), Target::Zone { nid: 3, zone: ZoneType::Dma })
            .unwrap_err(),
        WalkError::NoSuchZone { nid: 3, zone: ZoneType::Dma }
    );
}
