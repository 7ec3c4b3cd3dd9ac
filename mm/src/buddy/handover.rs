//! The boot-time hand-over (`memblock_free_all`): building the allocator from a booted [`Mm`], the free ranges
//! of memblock, `__free_pages_core`'s per-page work and `__free_pages_memory`'s max-order chunks.

use super::alloc::build_zonelists;
use super::free_area::{FreeArea, ZoneCx, ZoneLock};
use super::{Allocator, Buddy, BuddyError, ZoneInfo, LOCAL_DISTANCE, REMOTE_DISTANCE};
use crate::consts::*;
use crate::model::Mm;
use crate::page::{pg, zone_id_of_flags, ZONES_WIDTH};
use crate::sparse::Sparse;
use crate::zones::MAX_NR_ZONES;
use ::alloc::vec::Vec;
use spin::Mutex;

impl Buddy {
    /// `memblock_free_all` with the default distances (local first, then ascending node id).
    pub fn from_boot(mm: &mut Mm) -> Result<Buddy, BuddyError> {
        Self::from_boot_with(mm, None)
    }

    /// `memblock_free_all` with an optional SLIT-like, row-major `nodes * nodes` distance matrix. See the
    /// module documentation. Sections of a compressed boot that hold memory get a real memmap first. Pages whose
    /// struct page init is still deferred (`Mm::deferred`) are left out, as Linux's `deferred_init_pages` leaves
    /// them out of `memblock_free_all`; they come later through [`Buddy::free_deferred`] or
    /// [`Buddy::deferred_grow_zone`].
    pub fn from_boot_with(mm: &mut Mm, distance: Option<&[u8]>) -> Result<Buddy, BuddyError> {
        let nr_nodes = mm.zones.nodes.len();
        let distance = match distance {
            Some(d) if d.len() != nr_nodes * nr_nodes => {
                return Err(BuddyError::BadDistanceMatrix { nodes: nr_nodes, len: d.len() })
            }
            Some(d) => d.to_vec(),
            None => (0..nr_nodes * nr_nodes)
                .map(|i| if i / nr_nodes.max(1) == i % nr_nodes.max(1) { LOCAL_DISTANCE } else { REMOTE_DISTANCE })
                .collect(),
        };
        let mut zones = Vec::with_capacity(nr_nodes * MAX_NR_ZONES);
        for node in &mm.zones.nodes {
            for z in &node.zones {
                zones.push(ZoneInfo {
                    nid: node.nid,
                    zone_type: z.zone_type,
                    start_pfn: z.zone_start_pfn,
                    end_pfn: z.zone_end_pfn(),
                    present_pages: z.present_pages,
                    managed_pages: 0,
                });
            }
        }
        let areas = (0..zones.len()).map(|_| ZoneLock(Mutex::new(FreeArea::new()))).collect();
        let zonelists = build_zonelists(&mm.zones, &distance);
        let mut buddy = Buddy { zones, areas, zonelists, distance, nr_nodes, sparse_id: mm.sparse.id() };

        // A compressed boot shares one template page per uniform section: give those that hold memory a memmap.
        let uniform: Vec<u64> =
            mm.sparse.valid_sections().filter(|&nr| mm.sparse.section(nr).is_some_and(|ms| ms.uniform())).collect();
        for nr in uniform {
            mm.sparse.materialize(nr)?;
        }

        // for_each_free_mem_range: memblock.memory minus memblock.reserved, ascending.
        let mut ranges = Vec::new();
        let reserved = &mm.memblock.reserved;
        for r in &mm.memblock.memory {
            let mut i = reserved.partition_point(|x| x.end_pfn <= r.start_pfn);
            let mut a = r.start_pfn;
            // Loop invariant: [r.start_pfn, a) is collected or reserved; reserved[i] is the first reservation
            // that ends above `a`.
            while a < r.end_pfn {
                let (res_start, res_end) = reserved.get(i).map_or((u64::MAX, u64::MAX), |x| (x.start_pfn, x.end_pfn));
                if res_start <= a {
                    a = res_end;
                    i += 1;
                    continue;
                }
                let b = res_start.min(r.end_pfn);
                ranges.push((a, b));
                a = b;
            }
        }
        let pending: Vec<(u64, u64)> = mm.deferred.iter().map(|r| (r.start_pfn, r.end_pfn)).collect();
        let mut eager = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            crate::deferred::split_by(&pending, a, b, |s, e| eager.push((s, e)), |_, _| {});
        }
        buddy.hand_over(mm, &eager)?;
        buddy.sparse_id = mm.sparse.id();
        Ok(buddy)
    }

    /// Hands the free ranges over (boot, and onlined memory): first, with exclusive access, __free_pages_core's
    /// per-page work and the runs of one zone; then `__free_pages_memory` per run through the locked path that
    /// every free takes.
    pub(super) fn hand_over(&mut self, mm: &mut Mm, ranges: &[(u64, u64)]) -> Result<(), BuddyError> {
        let mut runs = Vec::new();
        for &(a, b) in ranges {
            let first = runs.len();
            // Pages memmap init wrote in the hand-over's state (`Mm::handed`) need no visit: their run is known.
            let mut x = a;
            let mut i = mm.handed.partition_point(|h| h.end_pfn <= x);
            while x < b {
                match mm.handed.get(i) {
                    Some(h) if h.start_pfn <= x => {
                        let e = h.end_pfn.min(b);
                        runs.push((h.zone_id, x, e));
                        (x, i) = (e, i + 1);
                    }
                    Some(h) if h.start_pfn < b => {
                        prepare_range(&mut mm.sparse, x, h.start_pfn, &mut runs)?;
                        x = h.start_pfn;
                    }
                    _ => {
                        prepare_range(&mut mm.sparse, x, b, &mut runs)?;
                        x = b;
                    }
                }
            }
            // One run per stretch of one zone within the range, however it was found.
            let mut range_runs = runs.split_off(first);
            range_runs.dedup_by(|run, prev| {
                let joins = run.0 == prev.0 && run.1 == prev.2;
                if joins {
                    prev.2 = run.2;
                }
                joins
            });
            runs.append(&mut range_runs);
        }
        if !mm.handed.is_empty() {
            mm.handed = crate::memmap::subtract_written(core::mem::take(&mut mm.handed), ranges.to_vec());
        }
        for &(zi, start, end) in &runs {
            let Some(z) = self.zones.get(zi) else {
                return Err(BuddyError::NoZone { pfn: start, nid: (zi >> ZONES_WIDTH) as u32 });
            };
            if start < z.start_pfn || end > z.end_pfn {
                // Linux: VM_BUG_ON_PAGE(bad_range(zone, page)) in __free_one_page.
                let pfn = if start < z.start_pfn { start } else { z.end_pfn.max(start) };
                return Err(BuddyError::OutsideLinkedZone { pfn, nid: z.nid, zone: z.zone_type });
            }
        }
        let al = Allocator::new(self, mm);
        for &(zi, start, end) in &runs {
            al.free_run(zi, start, end)?;
        }
        for &(zi, start, end) in &runs {
            self.zones[zi].managed_pages += end - start;
        }
        Ok(())
    }
}

impl Allocator<'_> {
    /// `__free_pages_memory` over `[start, end)` of zone `zi` (refcounts already 0): the largest aligned chunks,
    /// at most max order, to the tail of their lists.
    pub(super) fn free_run(&self, zi: usize, start: u64, end: u64) -> Result<(), BuddyError> {
        let mut lz = self.lock_zone(zi);
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        let mut s = start;
        while s < end {
            let mut order = if s == 0 { MAX_PAGE_ORDER } else { MAX_PAGE_ORDER.min(s.trailing_zeros()) };
            while s + (1u64 << order) > end {
                order -= 1;
            }
            let mt = cx.pageblock_mt(s);
            cx.free_one_page(s, order, mt, true).map_err(|pfn| BuddyError::NoStructPage { pfn })?;
            s += 1 << order;
        }
        Ok(())
    }
}

/// One free range: `__free_pages_core`'s per-page work (PG_reserved cleared, refcount 0) in one pass that also
/// splits the range into runs of pages of one zone, as `page_zone(page)` names it (so a chunk never crosses a
/// zone boundary, and a policy that relinked memory pages, `span-extend`, shows in the counts as it would in
/// Linux). Appends `(zone id, start, end)` runs.
pub(super) fn prepare_range(
    sparse: &mut Sparse,
    a: u64,
    b: u64,
    runs: &mut Vec<(usize, u64, u64)>,
) -> Result<(), BuddyError> {
    let (mut run_start, mut run_zone) = (a, usize::MAX);
    let mut pfn = a;
    // Loop invariant: the pages of [run_start, pfn) are linked to zone `run_zone` and have refcount 0; the runs
    // of [a, run_start) were appended.
    while pfn < b {
        let nr = pfn_to_section_nr(pfn);
        let sec_start = section_nr_to_pfn(nr);
        let chunk_end = (sec_start + PAGES_PER_SECTION).min(b);
        let pages = sparse.section_pages_mut(nr).ok_or(BuddyError::NoStructPage { pfn })?;
        let mut change = None;
        for (i, p) in pages[(pfn - sec_start) as usize..(chunk_end - sec_start) as usize].iter_mut().enumerate() {
            let zi = zone_id_of_flags(p.flags);
            if zi != run_zone {
                if p.is_poisoned() {
                    return Err(BuddyError::Poisoned { pfn: pfn + i as u64 });
                }
                change = Some((pfn + i as u64, zi));
                break;
            }
            // __ClearPageReserved + set_page_count(0): a memory page that a policy's hole init marked
            // reserved (span-extend) is not reserved in memblock and is handed over, as in Linux.
            p.clear_flag(pg::RESERVED);
            p.refcount = 0;
        }
        match change {
            Some((q, zi)) => {
                if q > run_start {
                    runs.push((run_zone, run_start, q));
                }
                (run_start, run_zone, pfn) = (q, zi, q);
            }
            None => pfn = chunk_end,
        }
    }
    if b > run_start {
        runs.push((run_zone, run_start, b));
    }
    Ok(())
}
