//! Per-CPU page lists: Linux 6.1's `struct per_cpu_pages` (mm/page_alloc.c), one per CPU and zone, in a
//! [`PcpSet`] per CPU that its CPU owns (`&mut`; Linux guards each with `pcp->lock`, 4b23a68f9536).
//!
//! - lists (`pcp_list`): one per migratetype of the pcp types (UNMOVABLE, MOVABLE, RECLAIMABLE) and order up to
//!   PAGE_ALLOC_COSTLY_ORDER, and one for pageblock order (`NR_PCP_LISTS`, `order_to_pindex`); an allocation of
//!   another order, or of HIGHATOMIC, and a free into a HIGHATOMIC or ISOLATE pageblock, bypass them;
//! - allocation (`rmqueue_pcplist`): from the head of the list of the order and migratetype; an empty list is
//!   refilled with `batch` blocks (`max(batch >> order, 2)` above order 0) taken under one zone lock
//!   (`rmqueue_bulk`, stealing like any `__rmqueue`);
//! - free (`free_unref_page_commit`): to the head of the list of the order and the pageblock's migratetype; once
//!   the CPU holds `high` pages (0 while freeing high orders without allocating: `free_high`) `nr_pcp_free`
//!   pages go back under one zone lock (`free_pcppages_bulk`: lists in round robin from the one just freed to,
//!   oldest blocks first); `free_factor` doubles that while frees come without allocations;
//! - `batch` and `high` as `zone_batchsize` and `zone_highsize` compute them (the zone's low watermark split over
//!   the CPUs of its node, all online CPUs for a node without any), `vm stats threshold` as
//!   `calculate_normal_threshold`: /proc/zoneinfo's `pagesets` block ([`crate::procfs`]).
//!
//! One difference from Linux, named: a block on a per-CPU list keeps the state an allocated block has (refcount
//! 1, its order): the list owner never writes a struct page outside its zone's lock, which is what lets several
//! CPUs share the allocator soundly ([`crate::zonelock`]). The allocator counts those pages as allocated, as Linux
//! counts them out of NR_FREE_PAGES; [`PcpSet::pages`] tells them apart.
//!
//! # Invariants
//! - a block on a list is a live allocation of the list's order in the set's zone, recorded with the
//!   migratetype of its list; `count` is the pages on the zone's lists;
//! - only bulk operations lock a zone, and they lock one zone at a time.

use ::alloc::vec::Vec;

use super::free::PREFETCH_ORDERS;
use super::free_area::ZoneCx;
use super::pcp_list::PcpList;
use super::{AllocError, Allocator, Buddy, FreeError};
use crate::consts::*;
use crate::model::Mm;
use crate::page::PageType;
use crate::sparse::migratetype;
use crate::zones::ZoneType;

/// Orders above this are "costly" (`PAGE_ALLOC_COSTLY_ORDER`).
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// UNMOVABLE, MOVABLE, RECLAIMABLE: the migratetypes with per-CPU lists (`MIGRATE_PCPTYPES`).
pub const MIGRATE_PCPTYPES: usize = 3;
/// Lists per CPU and zone (`NR_PCP_LISTS`, CONFIG_TRANSPARENT_HUGEPAGE).
pub const NR_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1) + 1;

/// `pcp_allowed_order`: orders that go through the per-CPU lists.
pub const fn pcp_allowed_order(order: u32) -> bool {
    order <= PAGE_ALLOC_COSTLY_ORDER || order == PAGEBLOCK_ORDER
}

/// `order_to_pindex`.
const fn order_to_pindex(mt: u64, order: u32) -> usize {
    if order > PAGE_ALLOC_COSTLY_ORDER {
        NR_PCP_LISTS - 1
    } else {
        MIGRATE_PCPTYPES * order as usize + mt as usize
    }
}

/// `pindex_to_order`.
const fn pindex_to_order(pindex: usize) -> u32 {
    if pindex == NR_PCP_LISTS - 1 {
        PAGEBLOCK_ORDER
    } else {
        (pindex / MIGRATE_PCPTYPES) as u32
    }
}

/// `zone_batchsize`, with `zone_set_pageset_high_and_batch`'s floor of 1: about 0.1% of the zone or 1 MiB,
/// whichever is smaller, quartered and clamped to `2^n - 1`.
pub fn zone_batchsize(managed_pages: u64) -> u64 {
    let mut batch = (managed_pages >> 10).min((1 << 20) / PAGE_SIZE) / 4;
    if batch < 1 {
        batch = 1;
    }
    let x = batch + batch / 2;
    let pow = 1u64 << (63 - x.leading_zeros());
    (pow - 1).max(1)
}

/// `zone_highsize` without `percpu_pagelist_high_fraction`: the zone's low watermark split over the online CPUs
/// of its node (`node_cpus`; all `online_cpus` for a node without any), at least `batch * 4`.
pub fn zone_highsize(low_wmark: u64, batch: u64, node_cpus: u32, online_cpus: u32) -> u64 {
    let split = if node_cpus > 0 { node_cpus } else { online_cpus.max(1) };
    (low_wmark / u64::from(split)).max(batch << 2)
}

/// `calculate_normal_threshold`: /proc/zoneinfo's `vm stats threshold`.
pub fn vm_stat_threshold(managed_pages: u64, online_cpus: u32) -> u64 {
    let fls = |x: u64| 64 - u64::from(x.leading_zeros());
    let mem = managed_pages >> (27 - PAGE_SHIFT);
    (2 * fls(u64::from(online_cpus)) * (1 + fls(mem))).min(125)
}

/// One CPU's lists of one zone.
#[derive(Clone, Debug)]
pub struct PerCpuPages {
    /// Pages on the lists.
    pub count: u64,
    pub high: u64,
    pub batch: u64,
    free_factor: u32,
    /// Indexed by `order_to_pindex`.
    lists: [PcpList; NR_PCP_LISTS],
}

/// How many blocks ahead `free_pcppages_bulk` prefetches.
const BULK_PREFETCH_AHEAD: u64 = 8;

impl PerCpuPages {
    fn new(high: u64, batch: u64) -> Self {
        PerCpuPages { count: 0, high, batch, free_factor: 0, lists: core::array::from_fn(|_| PcpList::new()) }
    }
}

/// One CPU's per-CPU pages of every zone of one allocator (indexed like the allocator's zones).
#[derive(Clone, Debug)]
pub struct PcpSet {
    pub cpu: u32,
    zones: Vec<(u32, ZoneType, PerCpuPages)>,
}

impl PcpSet {
    /// Pages on the lists, all zones.
    pub fn count(&self) -> u64 {
        self.zones.iter().map(|z| z.2.count).sum()
    }

    /// Node `nid`'s zone `zone`: its lists' counters.
    pub fn zone(&self, nid: u32, zone: ZoneType) -> Option<&PerCpuPages> {
        self.zones.iter().find(|z| z.0 == nid && z.1 == zone).map(|z| &z.2)
    }

    /// Every block on the lists: (node, zone, pfn, order).
    pub fn blocks(&self) -> Vec<(u32, ZoneType, u64, u32)> {
        let mut out = Vec::new();
        for (nid, zone, p) in &self.zones {
            for (pindex, l) in p.lists.iter().enumerate() {
                out.extend(l.iter().map(|(pfn, _)| (*nid, *zone, pfn, pindex_to_order(pindex))));
            }
        }
        out
    }
}

impl Buddy {
    /// Empty per-CPU sets for CPUs `0..cpu_nodes.len()` (CPU `i` on node `cpu_nodes[i]`), `high` and `batch` of
    /// every zone as `zone_pcp_update` sets them once those CPUs are online; `low_wmarks` holds each zone's low
    /// watermark in the allocator's zone order ([`Buddy::zone_order`]).
    pub fn pcp_sets(&self, low_wmarks: &[u64], cpu_nodes: &[u32]) -> Vec<PcpSet> {
        (0..cpu_nodes.len() as u32)
            .map(|cpu| {
                let zones = self.zones.iter().map(|z| (z.nid, z.zone_type, PerCpuPages::new(0, 0))).collect();
                let mut set = PcpSet { cpu, zones };
                self.pcp_update(low_wmarks, cpu_nodes, &mut set);
                set
            })
            .collect()
    }

    /// `zone_pcp_update`: `high` and `batch` of every zone of `set` recomputed (after memory was onlined or
    /// offlined, or the watermarks changed), the lists kept. `low_wmarks` and `cpu_nodes` as for
    /// [`Buddy::pcp_sets`].
    pub fn pcp_update(&self, low_wmarks: &[u64], cpu_nodes: &[u32], set: &mut PcpSet) {
        let online = cpu_nodes.len() as u32;
        for (zi, (z, (nid, _, p))) in self.zones.iter().zip(set.zones.iter_mut()).enumerate() {
            let node_cpus = cpu_nodes.iter().filter(|&&n| n == *nid).count() as u32;
            p.batch = zone_batchsize(z.managed_pages);
            p.high = zone_highsize(low_wmarks.get(zi).copied().unwrap_or(0), p.batch, node_cpus, online);
        }
    }

    /// The allocator's zones in its order: (node, zone).
    pub fn zone_order(&self) -> Vec<(u32, ZoneType)> {
        self.zones.iter().map(|z| (z.nid, z.zone_type)).collect()
    }

    /// [`Allocator::drain_pcp`] with the `Mm` borrowed for this call.
    pub fn drain_pcp(&self, mm: &mut Mm, pcp: &mut PcpSet) -> Result<u64, FreeError> {
        self.shared(mm).drain_pcp(pcp)
    }
}

impl Allocator<'_> {
    /// `alloc_pages` through this CPU's lists `pcp` (see the module documentation): orders and migratetypes
    /// without lists take [`Allocator::alloc_pages`].
    pub fn alloc_pages_pcp(
        &self,
        pcp: &mut PcpSet,
        order: u32,
        highest_zone: ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, AllocError> {
        if !pcp_allowed_order(order) || mt >= MIGRATE_PCPTYPES as u64 {
            return self.alloc_pages(order, highest_zone, preferred_nid, mt);
        }
        let b = self.buddy;
        let Some(zonelist) = b.zonelists.get(preferred_nid as usize) else {
            return Err(AllocError::BadNode { nid: preferred_nid });
        };
        if self.sparse.id() != b.sparse_id {
            return Err(AllocError::OtherMm);
        }
        let pindex = order_to_pindex(mt, order);
        for &zi in zonelist {
            let zi = zi as usize;
            if b.zones[zi].zone_type > highest_zone {
                continue;
            }
            let Some((_, _, p)) = pcp.zones.get_mut(zi) else { continue };
            if p.lists[pindex].is_empty() {
                let batch = if p.batch > 1 { (p.batch >> order).max(2) } else { p.batch };
                self.rmqueue_bulk(zi, p, pindex, order, mt, batch)?;
            }
            if let Some((pfn, _)) = p.lists[pindex].pop_front() {
                p.count -= 1 << order;
                p.free_factor >>= 1;
                return Ok(pfn);
            }
        }
        Err(AllocError::NoMemory { order, highest_zone, nid: preferred_nid })
    }

    /// `rmqueue_bulk`: up to `count` blocks of `order` for `mt` under one lock of zone `zi`, to the list's tail.
    fn rmqueue_bulk(
        &self,
        zi: usize,
        p: &mut PerCpuPages,
        pindex: usize,
        order: u32,
        mt: u64,
        count: u64,
    ) -> Result<(), AllocError> {
        let mut lz = self.lock_zone(zi);
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        let list = &mut p.lists[pindex];
        list.reserve(count as usize);
        let got = cx
            .rmqueue_run(order, mt, count, |pfn| list.push_back(pfn, mt))
            .map_err(|pfn| AllocError::Corrupted { pfn })?;
        cx.area.allocated_pages += got << order;
        p.count += got << order;
        Ok(())
    }

    /// `free_unref_page` through this CPU's lists `pcp`: what the lock-free checks of a free allow
    /// ([`FreeError`]: order, alignment, struct page, zone), then the head of the list of the block's order and
    /// its pageblock's migratetype, and a bulk free once `high` is reached. Orders without lists, and blocks in
    /// HIGHATOMIC or ISOLATE pageblocks, take [`Allocator::free_pages`]. Whether the block is a live allocation
    /// of that order is checked when it leaves the list for the free lists (under the zone lock).
    ///
    /// # Safety
    /// The caller owns the block: it came from this allocator with this order and was not freed since. (Linux's
    /// `free_unref_page` trusts its caller the same way; [`Allocator::free_pages`] checks every call.)
    pub unsafe fn free_pages_pcp(&self, pcp: &mut PcpSet, pfn: u64, order: u32) -> Result<(), FreeError> {
        if !pcp_allowed_order(order) {
            return self.free_pages(pfn, order);
        }
        let zi = self.free_zone(pfn, order)?;
        let mt = self.sparse.get_pfnblock_flags_mask(pfn, migratetype::MASK);
        if mt >= MIGRATE_PCPTYPES as u64 {
            return self.free_pages(pfn, order);
        }
        let Some((_, _, p)) = pcp.zones.get_mut(zi) else { return self.free_pages(pfn, order) };
        let pindex = order_to_pindex(mt, order);
        p.lists[pindex].push_front(pfn, mt);
        p.count += 1 << order;
        let free_high = p.free_factor > 0 && order > 0 && order <= PAGE_ALLOC_COSTLY_ORDER;
        let high = if free_high { 0 } else { p.high };
        if p.count >= high {
            let n = nr_pcp_free(p, high, free_high);
            self.free_pcppages_bulk(zi, p, n, pindex)?;
        }
        Ok(())
    }

    /// `free_pcppages_bulk`: at least `count` pages (whole blocks) from the lists of zone `zi` back to its free
    /// lists under one lock, lists in round robin from `pindex`, oldest blocks first. Each block is checked as
    /// [`Allocator::free_pages`] checks it; a bad one is dropped from the list with its error (the rest stay).
    fn free_pcppages_bulk(&self, zi: usize, p: &mut PerCpuPages, count: u64, pindex: usize) -> Result<(), FreeError> {
        let mut count = count.min(p.count) as i64;
        let mut pindex = pindex + NR_PCP_LISTS - 1;
        let mut lz = self.lock_zone(zi);
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        while count > 0 {
            loop {
                pindex = (pindex + 1) % NR_PCP_LISTS;
                if !p.lists[pindex].is_empty() {
                    break;
                }
            }
            let order = pindex_to_order(pindex);
            while count > 0 {
                // The blocks go back oldest first: load what their merges will touch a few blocks ahead (each
                // free otherwise stalls on cache misses under the lock): the block's struct page and its buddies;
                // then, half as far ahead, once that buddy is in cache and free, the two list neighbours its
                // unlink writes.
                let list = &p.lists[pindex];
                if let Some(ahead) = list.from_back(BULK_PREFETCH_AHEAD) {
                    self.sparse.prefetch_page(ahead);
                    self.sparse.prefetch_buddies(ahead, order, (order + PREFETCH_ORDERS).min(MAX_PAGE_ORDER));
                }
                if let Some(ahead) = list.from_back(BULK_PREFETCH_AHEAD / 2) {
                    if let Some(b) = cx.pages.get(ahead ^ (1 << order)) {
                        if b.has_type(PageType::BUDDY) && b.private == u64::from(order) {
                            self.sparse.prefetch_page(b.lru_next);
                            self.sparse.prefetch_page(b.lru_prev);
                        }
                    }
                }
                let Some((pfn, mt)) = p.lists[pindex].pop_back() else { break };
                count -= 1 << order;
                p.count -= 1 << order;
                // The pageblock may have been isolated while the block sat on the list.
                let now = cx.pageblock_mt(pfn);
                let mt = if now == migratetype::ISOLATE { now } else { mt };
                cx.free_checked(pfn, order, mt)?;
            }
        }
        Ok(())
    }

    /// `drain_pages`: every block on `pcp`'s lists back to the free lists (CPU gone, memory offline). Returns the
    /// pages drained.
    pub fn drain_pcp(&self, pcp: &mut PcpSet) -> Result<u64, FreeError> {
        let mut n = 0;
        for zi in 0..pcp.zones.len() {
            let p = &mut pcp.zones[zi].2;
            if p.count > 0 {
                n += p.count;
                let c = p.count;
                self.free_pcppages_bulk(zi, p, c, 0)?;
            }
        }
        Ok(n)
    }
}

/// `nr_pcp_free`: how many pages a bulk free takes: all with `free_high`, else `batch` doubled per free in a row
/// (`free_factor`), at least `batch`, at most `high - batch`.
fn nr_pcp_free(p: &mut PerCpuPages, high: u64, free_high: bool) -> u64 {
    if free_high {
        return p.count;
    }
    let batch = p.batch;
    if high < batch {
        return 1;
    }
    let (min_nr_free, max_nr_free) = (batch, high - batch);
    let scaled = batch << p.free_factor.min(32);
    if scaled < max_nr_free {
        p.free_factor += 1;
    }
    scaled.clamp(min_nr_free, max_nr_free.max(min_nr_free))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_high_and_threshold_are_linuxs() {
        // Debian's 6.1 on numa2 (two nodes, one CPU each): /proc/zoneinfo.
        assert_eq!(zone_batchsize(3840), 1);
        assert_eq!(zone_batchsize(488285), 63);
        assert_eq!(zone_batchsize(258016), 63);
        assert_eq!(zone_batchsize(229062), 63);
        assert_eq!(zone_highsize(110, 1, 1, 2), 110);
        assert_eq!(zone_highsize(14015, 63, 1, 2), 14015);
        assert_eq!(zone_highsize(7431, 63, 1, 2), 7431);
        assert_eq!(vm_stat_threshold(3840, 2), 4);
        assert_eq!(vm_stat_threshold(488285, 2), 20);
        assert_eq!(vm_stat_threshold(258016, 2), 16);
        // Smaller zones: batch 1 floor, high at least batch * 4; a node without CPUs splits over all.
        assert_eq!(zone_batchsize(0), 1);
        assert_eq!(zone_batchsize(16384), 3);
        assert_eq!(zone_highsize(3, 7, 0, 4), 28);
        assert_eq!(zone_highsize(4000, 7, 0, 4), 1000);
        assert_eq!(vm_stat_threshold(1 << 40, 64), 125);
    }

    #[test]
    fn pindex_round_trips() {
        for order in [0u32, 1, 2, 3, PAGEBLOCK_ORDER] {
            for mt in 0..MIGRATE_PCPTYPES as u64 {
                let i = order_to_pindex(mt, order);
                assert!(i < NR_PCP_LISTS);
                assert_eq!(pindex_to_order(i), order);
            }
        }
        assert!(!pcp_allowed_order(4) && !pcp_allowed_order(10) && pcp_allowed_order(9));
    }

    #[test]
    fn nr_pcp_free_doubles_between_batch_and_high_minus_batch() {
        let mut p = PerCpuPages::new(1000, 63);
        p.count = 1000;
        assert_eq!(nr_pcp_free(&mut p, 1000, false), 63);
        assert_eq!(nr_pcp_free(&mut p, 1000, false), 126);
        assert_eq!(nr_pcp_free(&mut p, 1000, false), 252);
        assert_eq!(nr_pcp_free(&mut p, 1000, false), 504);
        assert_eq!(nr_pcp_free(&mut p, 1000, false), 937);
        assert_eq!(nr_pcp_free(&mut p, 1000, true), 1000);
        let mut small = PerCpuPages::new(4, 7);
        assert_eq!(nr_pcp_free(&mut small, 4, false), 1);
    }
}
