//! Per-CPU page lists (`mm::buddy::PcpSet`): random traffic through several CPUs' lists keeps every invariant of
//! the allocator (its own check, and per zone: allocated pages = pages the callers hold + pages on the lists),
//! and once the callers free everything and the lists are drained, the allocator's free-block shape is the one it
//! started with; the same with four threads sharing the allocator, each with its own lists.

mod common;

use proptest::prelude::*;

use mm::buddy::{AllocError, Buddy, PcpSet};
use mm::consts::*;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::sparse::{migratetype, HeapBacking};
use mm::zones::{ZoneType, MAX_NR_ZONES};

fn boot(memory: &[MemRange]) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    let mut opts = MmOptions::new(mm::policy::by_name("upstream").unwrap());
    opts.allow_unplaced_memmap = true;
    opts.deferred_init = false;
    Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap()
}

fn shape(b: &Buddy, mm: &Mm) -> Vec<(u64, u32, u32, ZoneType)> {
    b.free_blocks(mm).iter().map(|f| (f.pfn, f.order, f.nid, f.zone)).collect()
}

/// Per-CPU sets for CPUs on `cpu_nodes`, with low watermarks of a tenth of each zone (the sizes do not matter to
/// the invariants; small `high` values make bulk frees frequent).
fn sets(b: &Buddy, cpu_nodes: &[u32]) -> Vec<PcpSet> {
    let lows: Vec<u64> = b.all_zone_counts().iter().map(|z| z.managed_pages / 64).collect();
    b.pcp_sets(&lows, cpu_nodes)
}

/// Per zone index (`nid * MAX_NR_ZONES + zone`): pages allocated by the allocator against pages held + listed.
fn accounting(b: &Buddy, held: &[u64], sets: &[PcpSet]) -> Result<(), TestCaseError> {
    let mut listed = vec![0u64; held.len()];
    for s in sets {
        for (nid, zone, _, order) in s.blocks() {
            listed[nid as usize * MAX_NR_ZONES + zone.index()] += 1 << order;
        }
    }
    for z in b.all_zone_counts() {
        let ix = z.nid as usize * MAX_NR_ZONES + z.zone.index();
        prop_assert_eq!(z.allocated_pages, held[ix] + listed[ix], "node {} zone {:?}", z.nid, z.zone);
        prop_assert_eq!(z.free_pages + z.allocated_pages, z.managed_pages);
    }
    let on_lists: u64 = sets.iter().map(|s| s.count()).sum();
    prop_assert_eq!(on_lists, listed.iter().sum::<u64>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn pcp_traffic_keeps_every_invariant_and_drains_back(
        memory in common::layout_strategy(6, 6000, 3, 2),
        ops in prop::collection::vec((0u8..8, any::<u16>(), 0u32..4, 0u64..4, 0usize..4, 0usize..3), 1..300),
    ) {
        let mut mm = boot(&memory);
        let b = Buddy::from_boot(&mut mm).unwrap();
        let nodes = mm.zones.nodes.len() as u32;
        let mut sets = sets(&b, &[0, 1 % nodes, 2 % nodes]);
        let initial = shape(&b, &mm);
        let mut held = vec![0u64; MAX_NUMNODES * MAX_NR_ZONES];
        let mut live: Vec<(u64, u32, usize)> = Vec::new();
        for (kind, bits, nid, mt, zone, cpu) in ops {
            // Mostly the orders with lists (0-3 and pageblock order), sometimes one without.
            let order = [0, 0, 0, 1, 2, 3, PAGEBLOCK_ORDER, 5][(bits % 8) as usize];
            {
                let al = b.shared(&mut mm);
                if kind < 5 || live.is_empty() {
                    let zone = ZoneType::from_index(zone).unwrap();
                    match al.alloc_pages_pcp(&mut sets[cpu], order, zone, nid % nodes, mt) {
                        Ok(p) => {
                            prop_assert_eq!(p & ((1 << order) - 1), 0);
                            let (n, z) = al.zone_of(p).unwrap();
                            let ix = n as usize * MAX_NR_ZONES + z.index();
                            held[ix] += 1 << order;
                            live.push((p, order, ix));
                        }
                        Err(AllocError::NoMemory { .. }) => {}
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                } else {
                    let (p, o, ix) = live.swap_remove(bits as usize % live.len());
                    // SAFETY: the block came from this allocator with order `o` and was not freed since.
                    unsafe { al.free_pages_pcp(&mut sets[cpu], p, o) }.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    held[ix] -= 1 << o;
                }
            }
            b.check(&mm).map_err(|e| TestCaseError::fail(e.to_string()))?;
            accounting(&b, &held, &sets)?;
            for s in &sets {
                for (nid, zone, pfn, order) in s.blocks() {
                    prop_assert!(!live.iter().any(|&(p, _, _)| p == pfn), "pfn {:#x} both listed and held", pfn);
                    prop_assert_eq!(pfn & ((1 << order) - 1), 0, "node {} {:?}", nid, zone);
                }
            }
        }
        for (p, o, ix) in live {
            b.free_pages(&mut mm, p, o).map_err(|e| TestCaseError::fail(e.to_string()))?;
            held[ix] -= 1 << o;
        }
        for s in &mut sets {
            b.drain_pcp(&mut mm, s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(s.count(), 0);
        }
        b.check(&mm).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(b.total_free_pages(), b.total_managed_pages());
        prop_assert_eq!(shape(&b, &mm), initial);
    }
}

/// Four threads share the allocator, each with its own lists (two CPUs per node), allocating orders 0-3 from its
/// node and freeing its own blocks through its lists: lists, counters and the free-block shape come back.
#[test]
fn threads_with_their_own_lists_keep_the_allocator_sound() {
    let memory = [
        MemRange { start_pfn: 0x1000, end_pfn: 0x40000, nid: 0 },
        MemRange { start_pfn: 0x40000, end_pfn: 0x80000, nid: 1 },
    ];
    let mut mm = boot(&memory);
    let b = Buddy::from_boot(&mut mm).unwrap();
    let initial = shape(&b, &mm);
    let mut sets = sets(&b, &[0, 0, 1, 1]);
    {
        let al = b.shared(&mut mm);
        std::thread::scope(|s| {
            for (t, set) in sets.iter_mut().enumerate() {
                let al = &al;
                s.spawn(move || {
                    let mut live = Vec::new();
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                    for i in 0..40_000u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x % 3 != 0 || live.is_empty() {
                            let order = (x >> 8).trailing_ones().min(3);
                            let mt = [migratetype::MOVABLE, migratetype::UNMOVABLE][(i % 2) as usize];
                            match al.alloc_pages_pcp(set, order, ZoneType::Normal, (t / 2) as u32, mt) {
                                Ok(p) => live.push((p, order)),
                                Err(AllocError::NoMemory { .. }) => {}
                                Err(e) => panic!("thread {}: {}", t, e),
                            }
                        } else {
                            let (p, o) = live.swap_remove((x >> 20) as usize % live.len());
                            // SAFETY: this thread allocated the block with order `o` and has not freed it.
                            unsafe { al.free_pages_pcp(set, p, o) }.unwrap();
                        }
                    }
                    for (p, o) in live {
                        // SAFETY: as above.
                        unsafe { al.free_pages_pcp(set, p, o) }.unwrap();
                    }
                    al.drain_pcp(set).unwrap();
                });
            }
        });
    }
    b.check(&mm).unwrap();
    assert_eq!(b.total_free_pages(), b.total_managed_pages());
    assert_eq!(shape(&b, &mm), initial);
}
