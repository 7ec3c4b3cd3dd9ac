//! The dumps: /proc/kpageflags (fs/proc/page.c), /proc/pagetypeinfo (mm/vmstat.c) and page_owner's early-page
//! scan (mm/page_owner.c).

use alloc::vec::Vec;

use super::*;
use crate::zones::MAX_ORDER_NR_PAGES;

/// `kpageflags`: `kpageflags_read` over every pfn up to `round_up(max_pfn, PAGES_PER_SECTION)`.
///
/// For each pfn `pfn_to_online_page`, then `stable_page_flags(page)` (KPF_NOPAGE without a page). The end is
/// `get_max_dump_pfn()`, rounded up to the section since David Hildenbrand's "fs/proc/page.c: allow inspection
/// of last section and fix end detection" (v5.6, the series of e822969cab48): the memmap of the last early
/// section is online to its end, so its tail beyond `max_pfn` is dumped too. Under `zeroed-no-tail` that tail is
/// uninitialized: every read is a PF_POISONED_CHECK BUG with CONFIG_DEBUG_VM_PGFLAGS, garbage flags without it.
/// The walker never follows links.
pub struct KPageFlags;

impl Walker for KPageFlags {
    fn name(&self) -> &'static str {
        "kpageflags"
    }
    fn summary(&self) -> &'static str {
        "/proc/kpageflags: pfn_to_online_page + stable_page_flags for every pfn up to the end of max_pfn's section"
    }
    fn linux(&self) -> &'static str {
        "fs/proc/page.c kpageflags_read, get_max_dump_pfn, stable_page_flags; PF_POISONED_CHECK"
    }
    fn targets(&self, zones: &Zones, _sparse: &Sparse) -> Vec<Target> {
        alloc::vec![Target::Range { start_pfn: 0, end_pfn: align_up(zones.max_pfn, PAGES_PER_SECTION) }]
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        const SITE: &str = "stable_page_flags";
        let (s, e) = match target {
            Target::Zone { nid, zone } => {
                let z = cx.zone_of((nid, zone)).ok_or(WalkError::NoSuchZone { nid, zone })?;
                (z.zone_start_pfn, z.zone_end_pfn())
            }
            Target::Range { start_pfn, end_pfn } => (start_pfn, end_pfn),
        };
        let mut res = TargetResult::new(target);
        let mut pfn = s;
        while pfn < e {
            let nr = pfn_to_section_nr(pfn);
            if !cx.sparse.section(nr).is_some_and(|ms| ms.valid()) {
                let next = section_nr_to_pfn(nr + 1).min(e);
                res.add("KPF_NOPAGE", next - pfn);
                pfn = next;
                continue;
            }
            if !cx.pfn_online(pfn) {
                res.add("KPF_NOPAGE", 1);
                pfn += 1;
                continue;
            }
            let Some(page) = cx.read(pfn) else {
                res.add("KPF_NOPAGE", 1);
                pfn += 1;
                continue;
            };
            match cx.state(pfn, page, SITE) {
                PageState::Poisoned => res.add("poisoned", 1),
                PageState::Reserved => res.add("KPF_RESERVED", 1),
                _ if page.has_type(crate::page::PageType::BUDDY) => res.add("KPF_BUDDY", 1),
                _ => res.add("other", 1),
            }
            pfn += 1;
        }
        Ok(res)
    }
}

/// `pagetypeinfo`: the "Number of blocks type" table of /proc/pagetypeinfo.
///
/// `pagetypeinfo_showblockcount_print` per populated zone: from `zone_start_pfn` (not aligned: a zone starting
/// at pfn 1 samples pfn 1, 0x201, ...) in pageblock steps to the zone end, `pfn_to_online_page`, skipped if
/// `page_zone(page) != zone`, else the block's migratetype is counted. A pageblock whose sampled page is a hole
/// linked elsewhere is counted in no zone.
pub struct PageTypeInfo;

/// The migratetype column names, by migratetype.
const MIGRATETYPE_NAMES: [&str; 5] = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"];

impl Walker for PageTypeInfo {
    fn name(&self) -> &'static str {
        "pagetypeinfo"
    }
    fn summary(&self) -> &'static str {
        "/proc/pagetypeinfo block counts: pageblocks per migratetype in each zone, blocks of other zones skipped"
    }
    fn linux(&self) -> &'static str {
        "mm/vmstat.c pagetypeinfo_showblockcount_print"
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        const SITE: &str = "pagetypeinfo_showblockcount_print";
        let zone = cx.target_zone(target, self.name())?;
        let z = (zone.nid, zone.zone_type);
        let mut res = TargetResult::new(target);
        for name in MIGRATETYPE_NAMES {
            res.add(name, 0);
        }
        let (mut pfn, end) = (zone.zone_start_pfn, zone.zone_end_pfn());
        while pfn < end {
            if !cx.pfn_online(pfn) {
                pfn += PAGEBLOCK_NR_PAGES;
                continue;
            }
            cx.visit_block();
            let Some(page) = cx.read(pfn) else {
                pfn += PAGEBLOCK_NR_PAGES;
                continue;
            };
            if cx.page_zone(pfn, page, SITE) != Some(z) {
                res.add("blocks of other zones", 1);
                pfn += PAGEBLOCK_NR_PAGES;
                continue;
            }
            if let Some(name) = MIGRATETYPE_NAMES.get(cx.migratetype(pfn) as usize) {
                res.add(name, 1);
            }
            pfn += PAGEBLOCK_NR_PAGES;
        }
        Ok(res)
    }
}

/// `page-owner`: page_owner's `init_pages_in_zone`, which looks at every struct page of a zone's span.
///
/// Per populated zone (v5.10 mm/page_owner.c): from `zone_start_pfn`, `pfn_valid` at the start of each step
/// (an invalid pfn skips to the next MAX_ORDER_NR_PAGES boundary), then every pfn to the pageblock end:
/// skipped if `page_zone(page) != zone`, skipped by order if PageBuddy, skipped if PG_reserved, else an early
/// allocated page gets an owner. It calls `page_zone()` on every valid pfn of the span, so it meets every hole
/// inside a zone: the hole pages a policy linked to a zone that does not span them are skipped here (and their
/// zone's own walkers never see them).
pub struct PageOwner;

impl Walker for PageOwner {
    fn name(&self) -> &'static str {
        "page-owner"
    }
    fn summary(&self) -> &'static str {
        "page_owner init_pages_in_zone: page_zone() of every valid pfn of each zone span"
    }
    fn linux(&self) -> &'static str {
        "mm/page_owner.c init_pages_in_zone (v4.14-v6.x)"
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        const SITE: &str = "init_pages_in_zone";
        let zone = cx.target_zone(target, self.name())?;
        let z = (zone.nid, zone.zone_type);
        let mut res = TargetResult::new(target);
        let (mut pfn, end) = (zone.zone_start_pfn, zone.zone_end_pfn());
        while pfn < end {
            if !cx.pfn_valid(pfn) {
                pfn = align_up(pfn + 1, MAX_ORDER_NR_PAGES);
                continue;
            }
            cx.visit_block();
            let block_end = align_up(pfn + 1, PAGEBLOCK_NR_PAGES).min(end);
            while pfn < block_end {
                let Some(page) = cx.read(pfn) else {
                    pfn += 1;
                    continue;
                };
                if cx.page_zone(pfn, page, SITE) != Some(z) {
                    res.add("pages of other zones", 1);
                    pfn += 1;
                    continue;
                }
                match cx.state(pfn, page, SITE) {
                    PageState::FreeHead { order } if page.has_type(crate::page::PageType::BUDDY) => {
                        pfn += 1 << order;
                        continue;
                    }
                    PageState::Reserved => res.add("reserved", 1),
                    PageState::Poisoned => {}
                    PageState::FreeHead { .. } | PageState::FreeTail => res.add("free", 1),
                    PageState::InUse => res.add("early allocated", 1),
                }
                pfn += 1;
            }
        }
        Ok(res)
    }
}
