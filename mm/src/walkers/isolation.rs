//! Page isolation (mm/page_isolation.c, as `alloc_contig_range` drives it) and the memory-offline zone check
//! (mm/memory_hotplug.c `test_pages_in_a_zone`).

use alloc::vec::Vec;

use super::*;
use crate::zones::MAX_ORDER_NR_PAGES;

/// `isolate-range`: `alloc_contig_range` over a zone's span (or a pfn range), one MAX_ORDER-aligned chunk at a
/// time, isolation phase only.
///
/// Per chunk `[s, s + MAX_ORDER_NR_PAGES)` (`pfn_max_align_down`/`pfn_max_align_up` of the range),
/// `start_isolate_page_range` (v5.10): for every pageblock, `__first_valid_page` (the first online pfn of the
/// block, possibly a hole page) and `set_migratetype_isolate(page)`: `zone = page_zone(page)`, -EBUSY if the
/// block is already isolated or `has_unmovable_pages(zone, page)` finds a PG_reserved page ("Both, bootmem
/// allocations and memory holes are marked PG_reserved and are unmovable") or an allocated page outside
/// ZONE_MOVABLE, else `set_pageblock_migratetype(page, MIGRATE_ISOLATE)` through the checked
/// `set_pfnblock_flags_mask`. On -EBUSY the blocks isolated so far are undone through `pfn_to_online_page(block
/// start)`; on success the chunk is undone at once with `undo_isolate_page_range` (nothing is migrated or
/// allocated), through the first valid page again. Free pages are not moved between free lists
/// (`move_freepages_block` belongs to the buddy allocator).
///
/// Departure: `unset_migratetype_isolate` writes the `migratetype` argument (MIGRATE_MOVABLE) back; the walker
/// writes back each block's previous migratetype, so that it leaves the usemap as it found it. At boot the two
/// agree: every block that can be isolated starts in memory and is MIGRATE_MOVABLE.
///
/// PG_reserved protects this walker from hole links: a hole page at a block start is unmovable, so the block is
/// refused before its migratetype is written (Michal Hocko's "If those pages are reserved then nobody will touch
/// them"); its `page_zone()` is still read.
pub struct IsolateRange;

/// One isolated pageblock: its start, the page the write went through, the previous migratetype.
type Isolated = (u64, u64, u64);

impl IsolateRange {
    /// `set_migratetype_isolate(page)`: the previous migratetype, or the unmovable pfn (-EBUSY).
    fn set_migratetype_isolate(cx: &mut WalkCtx<'_>, pfn: u64) -> Result<u64, u64> {
        let page = cx.read(pfn).ok_or(pfn)?;
        // A page whose links cannot be followed would crash Linux here: the walker refuses the block.
        let zone = cx.page_zone(pfn, page, site::SET_MIGRATETYPE_ISOLATE).ok_or(pfn)?;
        if cx.migratetype(pfn) == migratetype::ISOLATE {
            return Err(pfn);
        }
        if let Some(unmovable) = Self::has_unmovable_pages(cx, zone, pfn) {
            return Err(unmovable);
        }
        let prev = cx.migratetype(pfn);
        if !cx.set_pageblock_flags(pfn, migratetype::ISOLATE, migratetype::MASK, site::SET_MIGRATETYPE_ISOLATE) {
            return Err(pfn);
        }
        Ok(prev)
    }

    /// `has_unmovable_pages(zone, page)` from `page` to the end of its pageblock (v5.10).
    fn has_unmovable_pages(cx: &mut WalkCtx<'_>, zone: ZoneId, start: u64) -> Option<u64> {
        const SITE: &str = "has_unmovable_pages";
        let end = pageblock_end_pfn(start);
        let mut pfn = start;
        while pfn < end {
            let Some(page) = cx.read(pfn) else {
                pfn += 1;
                continue;
            };
            match cx.state(pfn, page, SITE) {
                PageState::Poisoned | PageState::Reserved => return Some(pfn),
                _ if zone.1 == ZoneType::Movable => {}
                PageState::FreeHead { order } => {
                    pfn += 1 << order;
                    continue;
                }
                PageState::FreeTail => {}
                PageState::InUse => return Some(pfn),
            }
            pfn += 1;
        }
        None
    }

    /// `__first_valid_page(pfn, pageblock_nr_pages)`.
    fn first_valid_page(cx: &WalkCtx<'_>, block: u64) -> Option<u64> {
        (block..block + PAGEBLOCK_NR_PAGES).find(|&p| cx.pfn_online(p))
    }

    /// `unset_migratetype_isolate(page, migratetype)` writing `prev` back.
    fn unset(cx: &mut WalkCtx<'_>, pfn: u64, prev: u64) {
        let Some(page) = cx.read(pfn) else { return };
        cx.page_zone(pfn, page, site::UNSET_MIGRATETYPE_ISOLATE);
        if cx.migratetype(pfn) != migratetype::ISOLATE {
            return;
        }
        // Undo runs even after a vm_debug=panic stop: the walker leaves the usemap as it found it.
        let stopped = cx.report.stopped.take();
        cx.set_pageblock_flags(pfn, prev, migratetype::MASK, site::UNSET_MIGRATETYPE_ISOLATE);
        if stopped.is_some() {
            cx.report.stopped = stopped;
        }
    }

    /// The isolation phase of `alloc_contig_range(start, end)` on an aligned chunk.
    fn chunk(cx: &mut WalkCtx<'_>, res: &mut TargetResult, start: u64, end: u64) {
        let mut isolated: Vec<Isolated> = Vec::new();
        let mut busy = None;
        let mut block = start;
        while block < end && !cx.stopped() {
            cx.visit_block();
            if let Some(fv) = Self::first_valid_page(cx, block) {
                match Self::set_migratetype_isolate(cx, fv) {
                    Ok(prev) => isolated.push((block, fv, prev)),
                    Err(unmovable) => {
                        busy = Some(unmovable);
                        break;
                    }
                }
            }
            block += PAGEBLOCK_NR_PAGES;
        }
        if isolated.is_empty() && busy.is_none() {
            return;
        }
        res.add("ranges tried", 1);
        res.add("pageblocks isolated", isolated.len() as u64);
        match busy {
            Some(_) => {
                res.add("ranges busy (-EBUSY)", 1);
                // start_isolate_page_range's undo: pfn_to_online_page(pfn) of each block before the failure.
                for &(b, _, prev) in &isolated {
                    if cx.pfn_online(b) {
                        Self::unset(cx, b, prev);
                    }
                }
            }
            None => {
                res.add("ranges isolated", 1);
                // undo_isolate_page_range: __first_valid_page of each block.
                for &(_, fv, prev) in &isolated {
                    Self::unset(cx, fv, prev);
                }
            }
        }
    }
}

impl Walker for IsolateRange {
    fn name(&self) -> &'static str {
        "isolate-range"
    }
    fn summary(&self) -> &'static str {
        "alloc_contig_range isolation per 4 MiB chunk: MIGRATE_ISOLATE on every pageblock unless has_unmovable_pages"
    }
    fn linux(&self) -> &'static str {
        concat!(
            "mm/page_isolation.c start_isolate_page_range, set_migratetype_isolate, has_unmovable_pages, ",
            "undo_isolate_page_range (v5.10); mm/page_alloc.c alloc_contig_range"
        )
    }
    fn leaves(&self) -> &'static str {
        "nothing: every isolated pageblock gets its previous migratetype back"
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        let (s, e) = match target {
            Target::Zone { nid, zone } => {
                let z = cx.zone_of((nid, zone)).ok_or(WalkError::NoSuchZone { nid, zone })?;
                (z.zone_start_pfn, z.zone_end_pfn())
            }
            Target::Range { start_pfn, end_pfn } => (start_pfn, end_pfn),
        };
        let mut res = TargetResult::new(target);
        let align = MAX_ORDER_NR_PAGES.max(PAGEBLOCK_NR_PAGES);
        let (mut chunk, end) = (align_down(s, align), align_up(e, align));
        while chunk < end && !cx.stopped() {
            if !cx.sparse.section(pfn_to_section_nr(chunk)).is_some_and(|ms| ms.valid()) {
                chunk = section_nr_to_pfn(pfn_to_section_nr(chunk) + 1);
                continue;
            }
            Self::chunk(cx, &mut res, chunk, chunk + align);
            chunk += align;
        }
        Ok(res)
    }
}

/// Linux's answer for one memory block (`test_pages_in_a_zone`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineAnswer {
    /// All sampled pages are in this zone.
    Zone(ZoneId),
    /// NULL: a sampled pfn lies outside the span of the zone found so far.
    OutsideSpan { pfn: u64 },
    /// NULL: a sampled page is in another zone.
    OtherZone { pfn: u64 },
    /// NULL in the model: a sampled page's links cannot be followed (Linux would read garbage or BUG).
    Unreadable { pfn: u64 },
    /// NULL: no present section in the range.
    Empty,
}

impl fmt::Display for OfflineAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfflineAnswer::Zone((nid, z)) => write!(f, "node {} zone {}", nid, z.name()),
            OfflineAnswer::OutsideSpan { pfn } => write!(f, "NULL: pfn {:#x} outside the zone's span", pfn),
            OfflineAnswer::OtherZone { pfn } => write!(f, "NULL: pfn {:#x} in another zone", pfn),
            OfflineAnswer::Unreadable { pfn } => write!(f, "NULL: pfn {:#x} unreadable", pfn),
            OfflineAnswer::Empty => f.write_str("NULL: no present section"),
        }
    }
}

/// `offline-check`: `test_pages_in_a_zone` on every memory block (one 128 MiB section each) with memory.
///
/// The version returning the zone (v4.11 until the function went away in 2021, when `offline_pages` started
/// to take the zone from its caller; Mike Rapoport's pfn_valid_within removal just before did not change it on
/// x86, where pfn_valid_within is always true): for each present section of `[start, end)`, every MAX_ORDER_NR_PAGES-th pfn is sampled;
/// NULL if the pfn is outside the span of the zone found so far, or its `page_zone()` differs from it. The
/// answer feeds `offline_pages` ("multizone range") and the `valid_zones` sysfs file ("none"). A NULL for a
/// block whose memory all lies in one zone is the cost of a hole page with foreign links or a zone span that
/// stops short of the block (the tail of the last section): kept in the stats, not a finding.
pub struct OfflineCheck;

impl OfflineCheck {
    /// `test_pages_in_a_zone(start, end)`.
    pub fn test_pages_in_a_zone(cx: &mut WalkCtx<'_>, start: u64, end: u64) -> OfflineAnswer {
        const SITE: &str = "test_pages_in_a_zone";
        let mut zone: Option<ZoneId> = None;
        let mut pfn = start;
        let mut sec_end = align_up(start + 1, PAGES_PER_SECTION);
        while pfn < end {
            if !cx.sparse.section(pfn_to_section_nr(pfn)).is_some_and(|ms| ms.present()) {
                pfn = sec_end;
                sec_end += PAGES_PER_SECTION;
                continue;
            }
            while pfn < sec_end && pfn < end {
                if let Some(z) = zone {
                    if cx.zone_of(z).is_none_or(|zz| !zz.zone_spans_pfn(pfn)) {
                        return OfflineAnswer::OutsideSpan { pfn };
                    }
                }
                let Some(page) = cx.read(pfn) else { return OfflineAnswer::Unreadable { pfn } };
                let Some(pz) = cx.page_zone(pfn, page, SITE) else { return OfflineAnswer::Unreadable { pfn } };
                if zone.is_some_and(|z| z != pz) {
                    return OfflineAnswer::OtherZone { pfn };
                }
                zone = Some(pz);
                pfn += MAX_ORDER_NR_PAGES;
            }
            pfn = sec_end;
            sec_end += PAGES_PER_SECTION;
        }
        zone.map_or(OfflineAnswer::Empty, OfflineAnswer::Zone)
    }
}

impl Walker for OfflineCheck {
    fn name(&self) -> &'static str {
        "offline-check"
    }
    fn summary(&self) -> &'static str {
        "test_pages_in_a_zone on every memory block: the zone offline_pages and valid_zones would use, or NULL"
    }
    fn linux(&self) -> &'static str {
        "mm/memory_hotplug.c test_pages_in_a_zone (v4.11-2021), drivers/base/memory.c valid_zones_show"
    }
    fn targets(&self, _zones: &Zones, sparse: &Sparse) -> Vec<Target> {
        let mut present = sparse.present_sections();
        match (present.next(), sparse.present_sections().last()) {
            (Some(a), Some(b)) => {
                alloc::vec![Target::Range { start_pfn: section_nr_to_pfn(a), end_pfn: section_nr_to_pfn(b + 1) }]
            }
            _ => Vec::new(),
        }
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        let (s, e) = match target {
            Target::Zone { nid, zone } => {
                let z = cx.zone_of((nid, zone)).ok_or(WalkError::NoSuchZone { nid, zone })?;
                (z.zone_start_pfn, z.zone_end_pfn())
            }
            Target::Range { start_pfn, end_pfn } => (start_pfn, end_pfn),
        };
        let mut res = TargetResult::new(target);
        let mut nr = pfn_to_section_nr(s);
        while section_nr_to_pfn(nr) < e && !cx.stopped() {
            let (bs, be) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1));
            nr += 1;
            if !cx.sparse.section(nr - 1).is_some_and(|ms| ms.present()) {
                continue;
            }
            res.add("memory blocks", 1);
            match Self::test_pages_in_a_zone(cx, bs, be) {
                OfflineAnswer::Zone(_) => res.add("blocks in one zone", 1),
                OfflineAnswer::OutsideSpan { .. } => res.add("NULL: outside the zone span", 1),
                OfflineAnswer::OtherZone { .. } => res.add("NULL: page in another zone", 1),
                OfflineAnswer::Unreadable { .. } => res.add("NULL: unreadable page", 1),
                OfflineAnswer::Empty => res.add("NULL: empty", 1),
            }
        }
        Ok(res)
    }
}
