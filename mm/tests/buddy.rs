//! The buddy allocator on whole boots: the QEMU `-m 4000M` layout under every policy (hand-over equals
//! managed_pages, exhaustion by stealing allocations, the pageblock checker's counts at `move_freepages_block`),
//! Andrea Arcangeli's reserved holes inside DMA32, and a proptest of random alloc/free sequences on random
//! layouts with `check()` after every step.

mod common;

use proptest::prelude::*;

use mm::buddy::{AllocError, Buddy, BuddyStats};
use mm::consts::*;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy::{self, POLICIES};
use mm::sparse::{migratetype, HeapBacking};
use mm::usemap::SiteCount;
use mm::zones::ZoneType;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

fn boot(memory: &[MemRange], name: &str, compressed: bool) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    let mut opts = MmOptions::new(policy::by_name(name).unwrap());
    opts.compressed = compressed;
    opts.allow_unplaced_memmap = true;
    Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap()
}

fn m4000() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

/// -m 4000M with the two "Unknown E820 type" ranges of Andrea Arcangeli's v5.9 report
/// (<20201121194506.13464-1-aarcange@redhat.com>) taken out of RAM: 0x39639000-0x39814fff, 0x7a17b000-0x7a216fff.
fn andrea() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0x39639, 0), m(0x39815, 0x7a17b, 0), m(0x7a217, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

fn site(mm: &Mm, name: &str) -> SiteCount {
    mm.checker.sites.iter().copied().find(|s| s.site == name).unwrap_or(SiteCount { site: "", calls: 0, violations: 0 })
}

fn shape(b: &Buddy, mm: &Mm) -> Vec<(u64, u32, u32, ZoneType)> {
    b.free_blocks(mm).iter().map(|f| (f.pfn, f.order, f.nid, f.zone)).collect()
}

/// What one exhaustion run saw.
struct Run {
    stats: BuddyStats,
    mfb: SiteCount,
    violation_pfns: Vec<u64>,
    tolerated: u64,
}

/// Boots, hands over (asserting managed_pages), allocates every page at order 0 as UNMOVABLE (so every
/// MOVABLE pageblock is stolen, down to the small blocks next to holes and zone ends), frees everything and
/// checks that the initial free-block shape came back.
fn exhaust(memory: &[MemRange], name: &str) -> Run {
    let mut mm = boot(memory, name, false);
    let b = Buddy::from_boot(&mut mm).unwrap();
    for z in b.all_zone_counts() {
        let model = mm.zones.zone(z.nid, z.zone).unwrap();
        assert_eq!(z.managed_pages, model.managed_pages, "{} node {} zone {}", name, z.nid, z.zone);
    }
    b.check(&mm).unwrap_or_else(|e| panic!("{}: {}", name, e));
    let initial = shape(&b, &mm);
    let before = mm.checker.total_violations;
    // MOVABLE first: once the MOVABLE lists are empty it steals the UNMOVABLE pageblocks, which are those whose
    // first pfn is not memory (memmap_init_range never marked them MOVABLE): the pageblocks that start in holes.
    // Then UNMOVABLE steals back everything MOVABLE, down to the small blocks next to holes and zone ends.
    for mt in [migratetype::MOVABLE, migratetype::UNMOVABLE] {
        let mut live = Vec::new();
        loop {
            match b.alloc_pages(&mut mm, 0, ZoneType::Movable, 0, mt) {
                Ok(p) => live.push(p),
                Err(AllocError::NoMemory { .. }) => break,
                Err(e) => panic!("{}: {}", name, e),
            }
        }
        assert_eq!(live.len() as u64, b.total_managed_pages(), "{}", name);
        b.check(&mm).unwrap_or_else(|e| panic!("{}: {}", name, e));
        for p in live.into_iter().rev() {
            b.free_pages(&mut mm, p, 0).unwrap();
        }
        b.check(&mm).unwrap_or_else(|e| panic!("{}: {}", name, e));
        assert_eq!(shape(&b, &mm), initial, "{}", name);
    }
    let mfb = site(&mm, "move_freepages_block");
    let violation_pfns = mm.checker.first.iter().filter(|v| v.site == "move_freepages_block").map(|v| v.pfn).collect();
    assert!(mm.checker.total_violations - before >= mfb.violations);
    Run { stats: b.stats(), mfb, violation_pfns, tolerated: mm.checker.tolerated }
}

#[test]
fn m4000_every_policy_hands_over_managed_pages_and_strict_steals_cleanly() {
    for p in POLICIES {
        let r = exhaust(&m4000(), p.name());
        println!(
            "m4000 {:<16} move_freepages_block: {} calls, {} violations; clamped {}, skipped {} ({} pfns), \
             claimed {}, moved {} pages, {} fallbacks",
            p.name(),
            r.mfb.calls,
            r.mfb.violations,
            r.stats.mfb_clamped,
            r.stats.mfb_skipped,
            r.stats.mfb_skipped_pfns,
            r.stats.mfb_claimed,
            r.stats.pages_moved,
            r.stats.fallbacks
        );
        assert!(r.stats.move_freepages_block > 0, "{}: the small blocks next to holes were stolen", p.name());
        if p.name() == "strict" {
            assert_eq!(r.mfb.violations, 0);
        }
    }
}

#[test]
fn andrea_holes_trip_the_pageblock_check_only_under_zeroed() {
    for name in ["zeroed", "reserved-relaxed", "upstream", "strict"] {
        let r = exhaust(&andrea(), name);
        println!(
            "andrea {:<16} move_freepages_block: {} calls, {} violations at {:x?}, {} tolerated; clamped {}, skipped {}",
            name,
            r.mfb.calls,
            r.mfb.violations,
            r.violation_pfns,
            r.tolerated,
            r.stats.mfb_clamped,
            r.stats.mfb_skipped
        );
        match name {
            // The pageblocks at 0x39800 and 0x7a200 start in a hole (zeroed: node 0, zone DMA links) inside
            // DMA32's span: stealing them writes their usemap through a page whose zone does not span it.
            "zeroed" => assert_eq!(r.violation_pfns, vec![0x39800, 0x7a200, 0x39800, 0x7a200]),
            _ => assert_eq!(r.mfb.violations, 0, "{}", name),
        }
    }
}

fn layout_strategy() -> impl Strategy<Value = Vec<MemRange>> {
    common::layout_strategy(7, 5000, 3, 2)
}

/// One step: (kind, random bits, nid, migratetype, highest zone).
fn ops_strategy() -> impl Strategy<Value = Vec<(u8, u16, u32, u64, usize)>> {
    prop::collection::vec((0u8..10, any::<u16>(), 0u32..4, 0u64..4, 0usize..4), 1..120)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn random_alloc_free_keeps_every_invariant(
        memory in layout_strategy(),
        ops in ops_strategy(),
        policy_ix in 0usize..4,
        compressed in any::<bool>(),
    ) {
        let name = ["upstream", "strict", "zeroed", "span-extend"][policy_ix];
        let mut mm = boot(&memory, name, compressed);
        let b = Buddy::from_boot(&mut mm).unwrap();
        // span-extend may relink memory pages to another node (its memory_links_exact is false): the pages go
        // where their links say, as in Linux, and managed_pages follows them.
        if mm.policy.promise().memory_links_exact {
            for z in b.all_zone_counts() {
                prop_assert_eq!(z.managed_pages, mm.zones.zone(z.nid, z.zone).unwrap().managed_pages);
            }
        }
        prop_assert_eq!(b.total_managed_pages(), mm.zones.nodes.iter().flat_map(|n| n.zones.iter()).map(|z| z.managed_pages).sum::<u64>());
        b.check(&mm).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let initial = shape(&b, &mm);
        let mut live: Vec<(u64, u32)> = Vec::new();
        for (kind, bits, nid, mt, zone) in ops {
            // Order k with probability about 2^-(k+1).
            let order = (bits.trailing_ones()).min(MAX_PAGE_ORDER);
            match kind {
                0..=4 => {
                    let zone = ZoneType::from_index(zone).unwrap();
                    let nid = nid % mm.zones.nodes.len() as u32;
                    match b.alloc_pages(&mut mm, order, zone, nid, mt) {
                        Ok(p) => {
                            prop_assert_eq!(p & ((1 << order) - 1), 0);
                            live.push((p, order));
                        }
                        Err(AllocError::NoMemory { .. }) => {}
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                }
                5..=7 if !live.is_empty() => {
                    let (p, o) = live.swap_remove(bits as usize % live.len());
                    b.free_pages(&mut mm, p, o).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                8 if !live.is_empty() => {
                    // Bad frees: a wrong order, a tail, a double free. Each is refused and changes nothing.
                    let (p, o) = live[bits as usize % live.len()];
                    let before = shape(&b, &mm);
                    prop_assert!(b.free_pages(&mut mm, p, (o + 1) % (MAX_PAGE_ORDER + 1)).is_err());
                    if o > 0 {
                        prop_assert!(b.free_pages(&mut mm, p + 1, 0).is_err());
                    }
                    if let Some(f) = before.first() {
                        prop_assert!(b.free_pages(&mut mm, f.0, f.1).is_err());
                    }
                    prop_assert_eq!(shape(&b, &mm), before);
                }
                _ => {
                    // A random pfn at a random order: an error unless it names a live allocation.
                    let pfn = (bits as u64) << 4;
                    if !live.contains(&(pfn, order)) {
                        prop_assert!(b.free_pages(&mut mm, pfn, order).is_err());
                    }
                }
            }
            b.check(&mm).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        for (p, o) in live {
            b.free_pages(&mut mm, p, o).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        b.check(&mm).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(shape(&b, &mm), initial);
    }
}

#[test]
fn zoneinfo_and_buddyinfo_lines() {
    let mut mm = boot(&m4000(), "upstream", false);
    let b = Buddy::from_boot(&mut mm).unwrap();
    // buddyinfo: one line per populated zone with 11 order columns; the sum of 2^order * count is the free count.
    let buddyinfo = mm::procfs::buddyinfo_lines(&b);
    let normal = buddyinfo.iter().find(|l| l.starts_with("Node 0, zone   Normal ")).unwrap();
    let counts: Vec<u64> = normal.split_whitespace().skip(4).map(|n| n.parse().unwrap()).collect();
    assert_eq!(counts.len(), 11);
    let free: u64 = counts.iter().enumerate().map(|(o, n)| n << o).sum();
    let zc = b.zone_counts(0, ZoneType::Normal).unwrap();
    assert_eq!(free, zc.free_pages);
    let (kb, lines) = mm::procfs::zoneinfo_lines(&mm, &b);
    assert!(lines.contains(&format!("  pages free     {}", zc.free_pages)));
    assert!(lines.contains(&"        spanned  237568".to_string()));
    assert!(lines.contains(&"  start_pfn:           1048576".to_string()));
    // Linux 6.1 with THP: khugepaged's 512 * 3 populated lowmem zones * 11 pages = 67584 KiB.
    assert_eq!(kb, 67_584);
    let all = b.all_zone_counts();
    let lowmem: u64 = all.iter().map(|c| c.managed_pages).sum();
    let share = (kb / 4) * zc.managed_pages / lowmem;
    let step = (share / 4).max(zc.managed_pages / 1000);
    let block = lines.iter().position(|l| l == "Node 0, zone   Normal").unwrap();
    assert_eq!(lines[block + 3], format!("        min      {}", share));
    assert_eq!(lines[block + 5], format!("        high     {}", share + 2 * step));
    // DMA32's protection against Normal: Normal's managed pages / 256; against the empty Movable and Device
    // zones the same sum (6.1 adds every upper zone).
    let dma32 = lines.iter().position(|l| l == "Node 0, zone    DMA32").unwrap();
    let p = zc.managed_pages / 256;
    assert_eq!(lines[dma32 + 10], format!("        protection: (0, 0, {p}, {p})"));
    // The empty Movable zone ends at its protection line; no Device zone without zone_device.
    let movable = lines.iter().position(|l| l == "Node 0, zone  Movable").unwrap();
    assert_eq!(lines.len(), movable + 11);
}

/// The allocator shared by four threads (two per node, each allocating from its own node and freeing its own
/// blocks in a scrambled order) through `Allocator`: every operation locks only the zones it touches; at the end
/// the lists are sound and the initial free-block shape is back.
#[test]
fn allocator_shared_by_threads_keeps_the_lists_sound() {
    let memory = [m(0x1000, 0x40000, 0), m(0x40000, 0x80000, 1)];
    let mut mm = boot(&memory, "upstream", false);
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    {
        let al = b.shared(&mut mm);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let al = &al;
                s.spawn(move || {
                    let mut live = Vec::new();
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                    for i in 0..20_000u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x % 3 != 0 || live.is_empty() {
                            let order = (x >> 8).trailing_ones().min(4);
                            let mt = [migratetype::MOVABLE, migratetype::UNMOVABLE][(i % 2) as usize];
                            match al.alloc_pages(order, ZoneType::Normal, (t % 2) as u32, mt) {
                                Ok(p) => live.push((p, order)),
                                Err(AllocError::NoMemory { .. }) => {}
                                Err(e) => panic!("thread {}: {}", t, e),
                            }
                        } else {
                            let (p, o) = live.swap_remove((x >> 20) as usize % live.len());
                            al.free_pages(p, o).unwrap();
                        }
                    }
                    for (p, o) in live {
                        al.free_pages(p, o).unwrap();
                    }
                });
            }
        });
    }
    b.check(&mm).unwrap();
    assert_eq!(b.total_free_pages(), b.total_managed_pages());
    assert_eq!(shape(&b, &mm), initial);
}
