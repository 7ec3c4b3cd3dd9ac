//! Buddy-allocator tests on the booted allocator: the hand-over's accounting, drain and refill, random stress,
//! node-local allocation and zonelists.

use alloc::vec::Vec;

use crate::selftest::TestResult;
use crate::{check, check_eq};

/// Every free page went to the buddy allocator: free = managed = present - reserved, and the lists are sound.
pub(super) fn buddy_handover_accounting() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let managed: u64 = m.mm.zones.nodes.iter().flat_map(|n| n.zones.iter()).map(|z| z.managed_pages).sum();
    check_eq!(m.buddy.total_managed_pages(), managed);
    // The heap may have grown with buddy blocks since the hand-over (they are allocated, not lost).
    let grown = crate::heap::stats().grown_regions as u64 * (1 << crate::heap::GROW_ORDER);
    check_eq!(m.buddy.total_free_pages() + grown, managed);
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("{}", e))?;
    check!(m.handover_cycles > 0);
    Ok(())
}

/// A bitmap of allocated pfns (the test's own record, so nothing is lost whatever the allocator says).
struct PfnSet(Vec<u64>);

impl PfnSet {
    fn new(max_pfn: u64) -> Self {
        PfnSet(alloc::vec![0; (max_pfn as usize).div_ceil(64)])
    }
    /// Inserts; false if already present.
    fn insert(&mut self, pfn: u64) -> bool {
        let (w, b) = ((pfn / 64) as usize, pfn % 64);
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }
    fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter_mut().enumerate().flat_map(|(w, word)| {
            let bits = core::mem::take(word);
            (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| w as u64 * 64 + b)
        })
    }
}

/// Allocate every free page at order 0, then free them all: counts and the free-block shape return exactly.
/// Guests with more than 1.5M free pages drain only the zones at or below DMA32 (TCG time), said in the result.
pub(super) fn buddy_drain_and_refill() -> TestResult {
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    let before_free = m.buddy.total_free_pages();
    let before_shape = m.buddy.free_blocks(&m.mm);
    let highest = if before_free > 1_500_000 { mm::zones::ZoneType::Dma32 } else { mm::zones::ZoneType::Movable };
    let max_pfn = m.mm.memblock.memory.last().map_or(0, |r| r.end_pfn);
    let mut set = PfnSet::new(max_pfn);
    let mut n = 0u64;
    loop {
        match m.buddy.alloc_pages(&mut m.mm, 0, highest, 0, mm::sparse::migratetype::MOVABLE) {
            Ok(pfn) => {
                check!(pfn < max_pfn && set.insert(pfn), "pfn {:#x} handed out twice or out of range", pfn);
                n += 1;
            }
            Err(mm::buddy::AllocError::NoMemory { .. }) => break,
            Err(e) => return Err(alloc::format!("{}", e)),
        }
    }
    if highest == mm::zones::ZoneType::Movable {
        check_eq!(n, before_free);
        check_eq!(m.buddy.total_free_pages(), 0);
    }
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("after draining: {}", e))?;
    for pfn in set.drain() {
        m.buddy.free_pages(&mut m.mm, pfn, 0).map_err(|e| alloc::format!("{}", e))?;
    }
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("after refilling: {}", e))?;
    check_eq!(m.buddy.total_free_pages(), before_free);
    // The blocks (pfn, order, node, zone) return exactly; their migratetype may not: draining steals pageblocks
    // from other migratetypes through move_freepages_block, as Linux does, and a stolen block stays stolen.
    let shape = |v: &[mm::buddy::FreeBlock]| -> Vec<(u64, u32, u32, mm::zones::ZoneType)> {
        v.iter().map(|b| (b.pfn, b.order, b.nid, b.zone)).collect()
    };
    let after_shape = m.buddy.free_blocks(&m.mm);
    check_eq!(after_shape.len(), before_shape.len());
    check!(shape(&after_shape) == shape(&before_shape), "the free blocks differ after refilling");
    Ok(())
}

/// Random allocations and frees of every order over all nodes and migratetypes, with exact accounting.
pub(super) fn buddy_random_stress() -> TestResult {
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    let before = m.buddy.total_free_pages();
    let nodes = m.mm.zones.nodes.len() as u32;
    let mut held: Vec<(u64, u32)> = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..20_000u32 {
        let r = next();
        if r % 2 == 0 || held.is_empty() {
            let order = (r >> 8).trailing_zeros().min(mm::consts::MAX_PAGE_ORDER);
            let nid = ((r >> 20) % nodes as u64) as u32;
            let mt = (r >> 30) % 3;
            match m.buddy.alloc_pages(&mut m.mm, order, mm::zones::ZoneType::Movable, nid, mt) {
                Ok(pfn) => held.push((pfn, order)),
                Err(mm::buddy::AllocError::NoMemory { .. }) => {}
                Err(e) => return Err(alloc::format!("round {}: {}", round, e)),
            }
        } else {
            let i = (r >> 8) as usize % held.len();
            let (pfn, order) = held.swap_remove(i);
            m.buddy.free_pages(&mut m.mm, pfn, order).map_err(|e| alloc::format!("round {}: {}", round, e))?;
        }
        if round % 5000 == 0 {
            let allocated: u64 = held.iter().map(|&(_, o)| 1u64 << o).sum();
            check_eq!(m.buddy.total_free_pages() + allocated, before);
        }
    }
    for (pfn, order) in held {
        m.buddy.free_pages(&mut m.mm, pfn, order).map_err(|e| alloc::format!("{}", e))?;
    }
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("{}", e))?;
    check_eq!(m.buddy.total_free_pages(), before);
    Ok(())
}

/// An allocation for a node with free memory lands on that node.
pub(super) fn buddy_node_local() -> TestResult {
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    for nid in 0..m.mm.zones.nodes.len() as u32 {
        if m.mm.zones.nodes[nid as usize].node_present_pages == 0 {
            continue;
        }
        let pfn = m
            .buddy
            .alloc_pages(&mut m.mm, 0, mm::zones::ZoneType::Movable, nid, mm::sparse::migratetype::UNMOVABLE)
            .map_err(|e| alloc::format!("node {}: {}", nid, e))?;
        let got = m.mm.memblock.nid_of(pfn);
        m.buddy.free_pages(&mut m.mm, pfn, 0).map_err(|e| alloc::format!("{}", e))?;
        check_eq!(got, Some(nid));
    }
    Ok(())
}

/// The zonelists follow the node distances (the SLIT if QEMU gave one, else local first): for every node, its
/// own zones come first and the other nodes follow in ascending distance.
pub(super) fn buddy_zonelists_follow_distances() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let n = m.mm.zones.nodes.len();
    if let Some(d) = &m.distances {
        check_eq!(d.len(), n * n);
        for a in 0..n as u32 {
            for b in 0..n as u32 {
                check_eq!(m.buddy.node_distance(a, b), Some(d[(a as usize) * n + b as usize]));
            }
        }
    }
    for nid in 0..n as u32 {
        let list = m.buddy.zonelist(nid);
        let order: Vec<u32> = list.iter().map(|&(node, _)| node).collect();
        if let Some(&first) = order.first() {
            if m.mm.zones.nodes[nid as usize].node_present_pages > 0 {
                check_eq!(first, nid);
            }
        }
        let dist: Vec<u8> = order.iter().map(|&b| m.buddy.node_distance(nid, b).unwrap_or(255)).collect();
        check!(dist.windows(2).all(|w| w[0] <= w[1]), "node {} zonelist not by distance: {:?}", nid, dist);
    }
    Ok(())
}
