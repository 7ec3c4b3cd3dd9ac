//! Unit tests of the buddy allocator on small layouts: the hand-over's blocks, split and merge, zone and hole
//! boundaries, bad frees, fallback stealing, `move_freepages_block` at a zone boundary, exhaustion, zonelists.

use super::*;
use crate::layout::{Layout, MemRange};
use crate::model::MmOptions;
use crate::policy;
use crate::sparse::migratetype::{self, MOVABLE, RECLAIMABLE, UNMOVABLE};
use crate::sparse::HeapBacking;
use ::alloc::boxed::Box;
use ::alloc::vec;
use ::alloc::vec::Vec;

fn boot(memory: &[MemRange], policy: &str) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    Mm::boot(&layout, MmOptions::new(policy::by_name(policy).unwrap()), Box::new(HeapBacking)).unwrap()
}

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

/// Node 0: DMA [1, 0x1000) with a hole at [0x9f, 0x100), DMA32 [0x1000, 0x1700); node 1: DMA32
/// [0x1700, 0x4000). Section 0's memmap is reserved on node 0 at [0x1400, 0x1600), so the zone boundary
/// between the two DMA32 zones at 0x1700 splits the max-order block [0x1400, 0x1800) and two free order-8
/// blocks, 0x1600 (node 0) and 0x1700 (node 1), are buddies of each other.
fn layout_a() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0x1700, 0), m(0x1700, 0x4000, 1)]
}

fn shape(b: &Buddy, mm: &Mm) -> Vec<(u64, u32, u32, ZoneType)> {
    b.free_blocks(mm).iter().map(|f| (f.pfn, f.order, f.nid, f.zone)).collect()
}

#[test]
fn handover_frees_largest_aligned_blocks_within_zones_and_holes() {
    let mut mm = boot(&layout_a(), "upstream");
    assert_eq!(mm.memblock.reserved_reason(0x1400), Some(crate::layout::ReserveReason::Memmap));
    let b = Buddy::from_boot(&mut mm).unwrap();
    b.check(&mm).unwrap();
    let s = shape(&b, &mm);
    let (dma, dma32) = (ZoneType::Dma, ZoneType::Dma32);
    let mut expect = vec![];
    // [1, 0x9f): every block stops at the hole at 0x9f.
    for (pfn, o) in [(1, 0), (2, 1), (4, 2), (8, 3), (0x10, 4), (0x20, 5), (0x40, 6), (0x80, 4), (0x90, 3)] {
        expect.push((pfn, o, 0, dma));
    }
    for (pfn, o) in [(0x98, 2), (0x9c, 1), (0x9e, 0), (0x100, 8), (0x200, 9), (0x400, 10), (0x800, 10)] {
        expect.push((pfn, o, 0, dma));
    }
    expect.push((0xc00, 10, 0, dma));
    expect.push((0x1000, 10, 0, dma32));
    expect.push((0x1600, 8, 0, dma32));
    expect.push((0x1700, 8, 1, dma32));
    for pfn in (0x1800..0x4000).step_by(0x400) {
        expect.push((pfn, 10, 1, dma32));
    }
    assert_eq!(s, expect);
    for z in b.all_zone_counts() {
        let model = mm.zones.zone(z.nid, z.zone).unwrap();
        assert_eq!(z.managed_pages, model.managed_pages, "{:?}", z);
        assert_eq!(z.free_pages, z.managed_pages);
    }
    assert_eq!(b.zone_counts(0, dma).unwrap().managed_pages, 0x9e + 0xf00);
    assert_eq!(b.zone_counts(0, dma32).unwrap().managed_pages, 0x500);
    assert_eq!(b.zone_counts(1, dma32).unwrap().managed_pages, 0x2900);
}

#[test]
fn split_and_merge_restore_a_max_order_block() {
    let mut mm = boot(&[m(0x100000, 0x108000, 0)], "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    // The memmap takes the top 512 pages: 31 max-order blocks and one of order 9 at 0x107c00.
    let c = b.zone_counts(0, ZoneType::Normal).unwrap();
    assert_eq!((c.nr_free[10], c.nr_free[9]), (31, 1));
    // __rmqueue_smallest splits the smallest block that fits: the order-9 one (expand: one of each order).
    let pfn = b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, MOVABLE).unwrap();
    assert_eq!(pfn, 0x107c00);
    b.check(&mm).unwrap();
    let c = b.zone_counts(0, ZoneType::Normal).unwrap();
    assert_eq!(c.nr_free[10], 31);
    assert_eq!(c.nr_free[9], 0);
    assert!(c.nr_free[..9].iter().all(|&n| n == 1), "{:?}", c.nr_free);
    assert_eq!(c.allocated_pages, 1);
    let p2 = b.alloc_pages(&mut mm, 3, ZoneType::Normal, 0, MOVABLE).unwrap();
    assert_eq!(p2 & 7, 0);
    b.check(&mm).unwrap();
    b.free_pages(&mut mm, pfn, 0).unwrap();
    b.check(&mm).unwrap();
    b.free_pages(&mut mm, p2, 3).unwrap();
    b.check(&mm).unwrap();
    assert_eq!(shape(&b, &mm), initial);
}

#[test]
fn no_merge_across_a_zone_boundary_or_a_hole() {
    let mut mm = boot(&layout_a(), "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    // Take the two order-8 buddies on both sides of the node 0 / node 1 boundary, then give them back.
    let n0 = b.alloc_pages(&mut mm, 8, ZoneType::Dma32, 0, MOVABLE).unwrap();
    let n1 = b.alloc_pages(&mut mm, 8, ZoneType::Dma32, 1, MOVABLE).unwrap();
    assert_eq!((n0, n1), (0x1600, 0x1700));
    b.free_pages(&mut mm, n1, 8).unwrap();
    b.free_pages(&mut mm, n0, 8).unwrap();
    b.check(&mm).unwrap();
    assert_eq!(shape(&b, &mm), initial, "0x1600 and 0x1700 are buddies in different zones");
    // The order-0 block at 0x9e has its buddy 0x9f in the hole.
    let dma = b.alloc_pages(&mut mm, 0, ZoneType::Dma, 0, UNMOVABLE).unwrap();
    assert_eq!(dma, 1, "pageblock 0 starts in a hole (pfn 0): UNMOVABLE, and its smallest block is pfn 1");
    b.free_pages(&mut mm, dma, 0).unwrap();
    b.check(&mm).unwrap();
    assert_eq!(shape(&b, &mm), initial);
}

#[test]
fn bad_frees_are_named_errors_and_change_nothing() {
    let mut mm = boot(&layout_a(), "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    let p = b.alloc_pages(&mut mm, 2, ZoneType::Dma32, 1, MOVABLE).unwrap();
    let before = shape(&b, &mm);
    let free_head = before.iter().find(|f| f.1 == 10).unwrap().0;
    let cases = [
        (p, 11, FreeError::BadOrder { order: 11 }),
        (p + 1, 1, FreeError::Unaligned { pfn: p + 1, order: 1 }),
        (p, 1, FreeError::WrongOrder { pfn: p, allocated: 2, given: 1 }),
        (p, 3, FreeError::WrongOrder { pfn: p, allocated: 2, given: 3 }),
        (p + 1, 0, FreeError::NotAllocated { pfn: p + 1 }),
        (free_head, 10, FreeError::DoubleFree { pfn: free_head, free_order: 10 }),
        (free_head + 4, 0, FreeError::NotAllocated { pfn: free_head + 4 }),
        (0x1400, 0, FreeError::Reserved { pfn: 0x1400 }),
        (0x9f, 0, FreeError::Reserved { pfn: 0x9f }),
        (0x8000, 0, FreeError::NoStructPage { pfn: 0x8000 }),
        (!1023, 10, FreeError::NoStructPage { pfn: !1023 }),
    ];
    for (pfn, order, want) in cases {
        let got = b.free_pages(&mut mm, pfn, order).unwrap_err();
        if order == 3 {
            assert!(matches!(got, FreeError::Unaligned { .. } | FreeError::WrongOrder { .. }), "{}", got);
        } else {
            assert_eq!(got, want, "free({:#x}, {})", pfn, order);
        }
        assert!(!got.to_string().is_empty());
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), before);
    }
    b.free_pages(&mut mm, p, 2).unwrap();
    // p merged back into the order-8 block it was split from.
    assert_eq!(b.free_pages(&mut mm, p, 2), Err(FreeError::DoubleFree { pfn: p, free_order: 8 }));
    b.check(&mm).unwrap();
    assert_eq!(b.alloc_pages(&mut mm, 11, ZoneType::Normal, 0, MOVABLE), Err(AllocError::BadOrder { order: 11 }));
    assert_eq!(b.alloc_pages(&mut mm, 0, ZoneType::Normal, 2, MOVABLE), Err(AllocError::BadNode { nid: 2 }));
    assert_eq!(
        b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, migratetype::ISOLATE),
        Err(AllocError::BadMigratetype { migratetype: migratetype::ISOLATE })
    );
}

fn mfb_calls(mm: &Mm) -> u64 {
    mm.checker.sites.iter().find(|s| s.site == "move_freepages_block").map_or(0, |s| s.calls)
}

#[test]
fn fallback_steals_whole_large_blocks() {
    let mut mm = boot(&[m(0x100000, 0x108000, 0)], "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    // Every pageblock is MOVABLE: an UNMOVABLE request steals the largest MOVABLE block (order 10) and
    // changes both its pageblocks (change_pageblock_range); the split remainders are UNMOVABLE.
    let u = b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, UNMOVABLE).unwrap();
    assert_eq!(u & 1023, 0);
    assert_eq!(mm.sparse.get_pfnblock_flags_mask(u, migratetype::MASK), UNMOVABLE);
    assert_eq!(mm.sparse.get_pfnblock_flags_mask(u + 512, migratetype::MASK), UNMOVABLE);
    assert_eq!((b.stats().pageblocks_changed, b.stats().fallbacks, mfb_calls(&mm)), (2, 1, 0));
    let u2 = b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, UNMOVABLE).unwrap();
    assert_eq!((u2, b.stats().fallbacks), (u + 1, 1), "the remainder serves UNMOVABLE without a fallback");
    b.check(&mm).unwrap();
    b.free_pages(&mut mm, u, 0).unwrap();
    b.free_pages(&mut mm, u2, 0).unwrap();
    b.check(&mm).unwrap();
    assert_eq!(shape(&b, &mm), initial);
}

#[test]
fn fallback_claims_a_half_free_pageblock_through_move_freepages_block() {
    let mut mm = boot(&[m(0x100000, 0x108000, 0)], "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    let normal = ZoneType::Normal;
    // Fill the zone with MOVABLE order-9 blocks, free one and take its first half back: the only free block
    // is an order-8 MOVABLE half of one pageblock.
    let mut blocks = vec![];
    while let Ok(p) = b.alloc_pages(&mut mm, 9, normal, 0, MOVABLE) {
        blocks.push(p);
    }
    assert_eq!(b.stats().fallbacks, 0);
    let victim = blocks.pop().unwrap();
    b.free_pages(&mut mm, victim, 9).unwrap();
    let half = b.alloc_pages(&mut mm, 8, normal, 0, MOVABLE).unwrap();
    assert_eq!(half, victim);
    b.check(&mm).unwrap();
    // RECLAIMABLE may steal (can_steal_fallback) and half the pageblock is free: claim it.
    let r = b.alloc_pages(&mut mm, 0, normal, 0, RECLAIMABLE).unwrap();
    assert_eq!(r, victim + 256);
    assert_eq!(mm.sparse.get_pfnblock_flags_mask(victim, migratetype::MASK), RECLAIMABLE);
    assert_eq!((b.stats().mfb_claimed, b.stats().pages_moved, mfb_calls(&mm)), (1, 256, 1));
    assert_eq!(mm.checker.total_violations, 0);
    b.check(&mm).unwrap();
    // UNMOVABLE falls back to RECLAIMABLE first: its largest block is order 7 and only 255 pages of the
    // pageblock are free, so it takes that block alone and the pageblock stays RECLAIMABLE.
    let u = b.alloc_pages(&mut mm, 0, normal, 0, UNMOVABLE).unwrap();
    assert_eq!(u, victim + 384);
    assert_eq!(mm.sparse.get_pfnblock_flags_mask(victim, migratetype::MASK), RECLAIMABLE, "not claimed");
    assert_eq!((b.stats().mfb_claimed, b.stats().move_freepages_block, b.stats().fallbacks), (1, 2, 2));
    let free_of = |b: &Buddy, mm: &Mm, mt| -> u64 {
        b.free_blocks(mm).iter().filter(|f| f.migratetype == mt).map(|f| 1u64 << f.order).sum()
    };
    assert_eq!(free_of(&b, &mm, UNMOVABLE), 0, "the rest of the order-7 block stays with its fallback type");
    assert_eq!(free_of(&b, &mm, RECLAIMABLE), 254);
    b.check(&mm).unwrap();
    for (p, o) in [(u, 0), (r, 0), (half, 8)] {
        b.free_pages(&mut mm, p, o).unwrap();
    }
    for p in blocks {
        b.free_pages(&mut mm, p, 9).unwrap();
    }
    b.check(&mm).unwrap();
    assert_eq!(shape(&b, &mm), initial);
}

#[test]
fn move_freepages_block_skips_or_clamps_a_pageblock_shared_by_two_zones() {
    // Node 0's ZONE_NORMAL ends at 0x108100 and node 1's starts there: pageblock 0x108000 is split between
    // them. Node 0's last free block (order 8 at 0x108000) lies in a pageblock whose end is outside its
    // zone (skipped, single block taken); node 1's first (order 8 at 0x108100) in one whose start is
    // outside its zone (clamped to 0x108100, claimed, the usemap written there: no violation).
    let mut mm = boot(&[m(0x100000, 0x108100, 0), m(0x108100, 0x110000, 1)], "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    assert!(initial.contains(&(0x108000, 8, 0, ZoneType::Normal)));
    assert!(initial.contains(&(0x108100, 8, 1, ZoneType::Normal)));
    let mut live = vec![];
    for nid in [0, 1] {
        let zone_pages = b.zone_counts(nid, ZoneType::Normal).unwrap().managed_pages;
        for _ in 0..zone_pages {
            live.push(b.alloc_pages(&mut mm, 0, ZoneType::Normal, nid, UNMOVABLE).unwrap());
        }
        assert_eq!(b.zone_counts(nid, ZoneType::Normal).unwrap().free_pages, 0);
    }
    // Each of node 0's last 256 pages came through a fallback that could not claim the pageblock (its
    // remainder stays MOVABLE, so the next UNMOVABLE request falls back again, as in Linux).
    assert_eq!((b.stats().mfb_skipped, b.stats().mfb_clamped), (256, 1), "{:?}", b.stats());
    assert_eq!(b.stats().mfb_skipped_pfns, 256 * 0x100 + 0x100);
    assert_eq!(mm.sparse.get_pfnblock_flags_mask(0x108000, migratetype::MASK), UNMOVABLE);
    assert_eq!(mfb_calls(&mm), 1);
    assert_eq!(mm.checker.total_violations, 0);
    b.check(&mm).unwrap();
    for p in live {
        b.free_pages(&mut mm, p, 0).unwrap();
    }
    b.check(&mm).unwrap();
    assert_eq!(shape(&b, &mm), initial);
}

#[test]
fn exhaustion_then_free_all_restores_the_initial_shape() {
    for policy in ["upstream", "zeroed", "strict"] {
        let mut mm = boot(&layout_a(), policy);
        let b = Buddy::from_boot(&mut mm).unwrap();
        let initial = shape(&b, &mm);
        let mut live = vec![];
        let mut i = 0u64;
        loop {
            let mt = [MOVABLE, UNMOVABLE, RECLAIMABLE][(i % 3) as usize];
            let nid = (i % 2) as u32;
            match b.alloc_pages(&mut mm, 0, ZoneType::Movable, nid, mt) {
                Ok(p) => live.push(p),
                Err(AllocError::NoMemory { .. }) => break,
                Err(e) => panic!("{}", e),
            }
            i += 1;
        }
        assert_eq!(b.total_free_pages(), 0);
        assert_eq!(live.len() as u64, b.total_managed_pages());
        b.check(&mm).unwrap();
        // Free in a scrambled order.
        let n = live.len();
        for k in 0..n {
            let j = (k * 7919) % n;
            live.swap(k, j);
        }
        for p in live {
            b.free_pages(&mut mm, p, 0).unwrap();
        }
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial, "{}", policy);
    }
}

#[test]
fn zonelists_follow_distance_then_zone_order() {
    let mem = [m(0x1000, 0x8000, 0), m(0x100000, 0x108000, 0), m(0x108000, 0x110000, 1), m(0x110000, 0x118000, 2)];
    let mut mm = boot(&mem, "upstream");
    let b = Buddy::from_boot(&mut mm).unwrap();
    use ZoneType::*;
    assert_eq!(b.zonelist(0), vec![(0, Normal), (0, Dma32), (1, Normal), (2, Normal)]);
    assert_eq!(b.zonelist(2), vec![(2, Normal), (0, Normal), (0, Dma32), (1, Normal)]);
    // A SLIT that puts node 2 next to node 0 and node 1 far away.
    let slit = [10, 40, 15, 40, 10, 40, 15, 40, 10];
    let mut mm = boot(&mem, "upstream");
    let b = Buddy::from_boot_with(&mut mm, Some(&slit)).unwrap();
    assert_eq!(b.zonelist(0), vec![(0, Normal), (0, Dma32), (2, Normal), (1, Normal)]);
    assert_eq!(b.node_distance(0, 2), Some(15));
    assert_eq!(
        Buddy::from_boot_with(&mut boot(&mem, "upstream"), Some(&slit[..4])).unwrap_err(),
        BuddyError::BadDistanceMatrix { nodes: 3, len: 4 }
    );
    // Node-local first; a DMA32 limit skips Normal; an exhausted node falls back by distance.
    let p = b.alloc_pages(&mut mm, 0, Normal, 1, MOVABLE).unwrap();
    assert!((0x108000..0x110000).contains(&p));
    let p = b.alloc_pages(&mut mm, 0, Dma32, 2, MOVABLE).unwrap();
    assert!(p < 0x8000, "only node 0 has DMA32");
    while b.alloc_pages(&mut mm, 10, Normal, 0, MOVABLE).is_ok_and(|p| (0x100000..0x108000).contains(&p)) {}
    let p = b.alloc_pages(&mut mm, 10, Normal, 0, MOVABLE).unwrap();
    assert!(p < 0x8000 || (0x110000..0x118000).contains(&p), "{:#x}: DMA32 of node 0, then node 2", p);
    b.check(&mm).unwrap();
}

/// Every list of every zone in list order, with the counters: the whole free-area state.
fn lists_in_order(b: &Buddy, mm: &Mm) -> Vec<(usize, usize, Vec<u64>, u64, u64, [u64; NR_ORDERS])> {
    use super::free_area::{head_index, ORDER_SLOTS};
    let mut out = Vec::new();
    for zi in 0..b.zones.len() {
        let a = b.areas[zi].lock();
        for idx in 0..NR_MIGRATETYPES * ORDER_SLOTS {
            let code = crate::page::LIST_HEAD_BIT | idx as u64;
            let (mut cur, mut list) = (a.heads[idx].next, Vec::new());
            while cur != code && list.len() < 1 << 20 {
                list.push(cur);
                cur = mm.sparse.pfn_to_page(cur).unwrap().lru_next;
            }
            let nonempty = a.nonempty[idx / ORDER_SLOTS] >> (idx % ORDER_SLOTS) & 1;
            assert_eq!(nonempty == 1, !list.is_empty(), "zone {} list {}", zi, idx);
            debug_assert_eq!(idx, head_index(idx % ORDER_SLOTS, idx / ORDER_SLOTS));
            out.push((zi, idx, list, a.free_pages, a.allocated_pages, a.nr_free));
        }
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// `rmqueue_run` (what `rmqueue_bulk` runs) leaves every struct page, every list in list order and every
    /// counter exactly as the same number of `__rmqueue` calls does, and hands out the same blocks in the same
    /// order: after random traffic of every order and pcp migratetype (fragmented lists, stolen pageblocks).
    #[test]
    fn rmqueue_run_equals_rmqueue_calls(
        traffic in proptest::collection::vec((0u32..=10, 0u64..3, proptest::bool::ANY), 0..400),
        order in 0u32..=9,
        mt in 0u64..3,
        count in 1u64..700,
    ) {
        let run = |bulk: bool| {
            let mut mm = boot(&[m(0x100000, 0x110000, 0)], "upstream");
            let b = Buddy::from_boot(&mut mm).unwrap();
            let mut live = Vec::new();
            for &(o, t, free) in &traffic {
                if free && !live.is_empty() {
                    let (p, o) = live.swap_remove(live.len() / 2);
                    b.free_pages(&mut mm, p, o).unwrap();
                } else if let Ok(p) = b.alloc_pages(&mut mm, o, ZoneType::Normal, 0, t) {
                    live.push((p, o));
                }
            }
            let zi = b.zonelists[0][0] as usize;
            let mut got = Vec::new();
            {
                let al = b.shared(&mut mm);
                let mut lz = al.lock_zone(zi);
                let mut cx = super::free_area::ZoneCx::new(&al, zi, &mut lz.area, &mut lz.pages);
                if bulk {
                    let n = cx.rmqueue_run(order, mt, count, |p| got.push(p)).unwrap();
                    assert_eq!(n, got.len() as u64);
                } else {
                    for _ in 0..count {
                        match cx.rmqueue(order, mt).unwrap() {
                            Some(p) => got.push(p),
                            None => break,
                        }
                    }
                }
                cx.area.allocated_pages += (got.len() as u64) << order;
            }
            b.check(&mm).unwrap();
            (got, crate::verify::memmap_digest(&mm), lists_in_order(&b, &mm), b.stats())
        };
        let (calls, bulk) = (run(false), run(true));
        proptest::prop_assert_eq!(&calls.0, &bulk.0, "blocks handed out");
        proptest::prop_assert_eq!(calls.1, bulk.1, "memmap digest");
        proptest::prop_assert!(calls.2 == bulk.2, "free lists and counters");
        proptest::prop_assert_eq!(calls.3, bulk.3, "stats");
    }
}
