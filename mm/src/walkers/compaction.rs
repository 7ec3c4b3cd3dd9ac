//! The compaction walkers (mm/compaction.c) and `set_zone_contiguous`.
//!
//! Compaction runs over one zone with two scanners: the migrate scanner from the zone start up, the free scanner
//! from the zone end down. Both step a pageblock at a time and guard every block with `pageblock_pfn_to_page`,
//! which trusts the block blindly if `zone->contiguous` and otherwise checks its first and last page; both mark
//! blocks they found nothing in with `set_pageblock_skip`. The fast free-page search `fast_isolate_freepages`
//! (5a811889de10, v5.1) takes its candidates from the free lists instead and, before Vlastimil Babka's
//! 6e2b7044c199 ("mm, compaction: make fast_isolate_freepages() stay within zone", v5.12-rc1), handed a
//! pageblock's first page to `set_pageblock_skip` without any check: Andrea Arcangeli's VM_BUG_ON
//! (<20201121194506.13464-1-aarcange@redhat.com>).
//!
//! The model runs each scanner as one full pass over the zone with an unbounded demand (the migrate scanner
//! isolates nothing: the model has no LRU pages, so every block it scans is marked skip; the free scanner never
//! has enough). For the fast search, which picks one candidate per call by free-list order and scan limits, the
//! walker visits every candidate any call could pick instead (see [`FastIsolate`]).

use alloc::vec::Vec;

use super::*;

/// `compaction-migrate`: the compaction migrate scanner.
///
/// `isolate_migratepages` from `zone_start_pfn` while `block_end_pfn <= cc->free_pfn` (the free scanner starts
/// at `pageblock_start_pfn(zone_end_pfn - 1)`, `reset_cached_positions`): each block through
/// `pageblock_pfn_to_page`, skipped if its skip bit is set, then `isolate_migratepages_block`, which reads every
/// page (PageBuddy blocks skipped by order) and, having isolated nothing, calls `set_pageblock_skip(valid_page)`
/// on the block's first page (pageblock-aligned, or the zone start, which current Linux also accepts as
/// `valid_page`). The guard makes this walker safe against wrong links at both ends of a block; it reads
/// interior hole pages' flags but never their links.
pub struct CompactionMigrate;

impl Walker for CompactionMigrate {
    fn name(&self) -> &'static str {
        "compaction-migrate"
    }
    fn summary(&self) -> &'static str {
        "compaction migrate scanner: pageblock_pfn_to_page guard, set_pageblock_skip on blocks with nothing to isolate"
    }
    fn linux(&self) -> &'static str {
        "mm/compaction.c isolate_migratepages, isolate_migratepages_block, pageblock_pfn_to_page, set_pageblock_skip"
    }
    fn leaves(&self) -> &'static str {
        "PB_migrate_skip cleared again as __reset_isolation_suitable would; none left set in practice"
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        let zone = cx.target_zone(target, self.name())?;
        let z = (zone.nid, zone.zone_type);
        let mut res = TargetResult::new(target);
        let (contiguous, _) = cx.set_zone_contiguous(z, false);
        res.contiguous = Some(contiguous);
        let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
        let free_pfn = pageblock_start_pfn(ze.saturating_sub(1));
        let mut low_pfn = zs;
        let mut block_start = pageblock_start_pfn(low_pfn).max(zs);
        let mut block_end = pageblock_end_pfn(low_pfn);
        // Loop invariant: every pageblock below block_start has been scanned or refused.
        while block_end <= free_pfn && !cx.stopped() {
            cx.visit_block();
            match cx.pageblock_pfn_to_page(block_start, block_end, z, "__pageblock_pfn_to_page") {
                None => res.add("blocks refused by pageblock_pfn_to_page", 1),
                Some(p) if low_pfn.is_multiple_of(PAGEBLOCK_NR_PAGES) && cx.skip(p) => {
                    res.add("blocks skipped (skip bit)", 1)
                }
                Some(_) => {
                    isolate_migratepages_block(cx, z, zs, low_pfn, block_end);
                    res.add("blocks scanned", 1);
                }
            }
            low_pfn = block_end;
            block_start = block_end;
            block_end += PAGEBLOCK_NR_PAGES;
        }
        cx.reset_isolation_suitable(z);
        Ok(res)
    }
}

/// `isolate_migratepages_block(cc, low_pfn, end_pfn, ISOLATE_UNEVICTABLE)` with no LRU pages to isolate.
fn isolate_migratepages_block(cx: &mut WalkCtx<'_>, z: ZoneId, zone_start: u64, low: u64, end: u64) {
    const SITE: &str = "isolate_migratepages_block";
    let mut valid_page = None;
    let mut pfn = low;
    while pfn < end {
        let Some(page) = cx.read(pfn) else {
            pfn += 1;
            continue;
        };
        if valid_page.is_none() && (pfn.is_multiple_of(PAGEBLOCK_NR_PAGES) || pfn == zone_start) {
            if cx.skip(pfn) {
                return;
            }
            valid_page = Some(pfn);
        }
        if let PageState::FreeHead { order } = cx.state(pfn, page, SITE) {
            pfn += 1 << order;
            continue;
        }
        // Not on the LRU and not __PageMovable: isolate_fail.
        pfn += 1;
    }
    if let Some(v) = valid_page {
        cx.set_pageblock_skip(z, v, site::ISOLATE_MIGRATEPAGES_BLOCK);
    }
}

/// `compaction-free`: the compaction free scanner's linear search.
///
/// `isolate_freepages` without its fast path: from `pageblock_start_pfn(zone_end_pfn - 1)` down to the block
/// after the migrate scanner's (`pageblock_end_pfn(zone_start_pfn)`), each block through `pageblock_pfn_to_page`,
/// `suitable_migration_target` (no free page of pageblock order at its start, MIGRATE_MOVABLE) and
/// `isolation_suitable` (skip bit clear), then `isolate_freepages_block` over the whole block and, the block
/// having been scanned to its end, `update_pageblock_skip` -> `set_pageblock_skip(page)`.
pub struct CompactionFree;

impl Walker for CompactionFree {
    fn name(&self) -> &'static str {
        "compaction-free"
    }
    fn summary(&self) -> &'static str {
        "compaction free scanner (linear): pageblock_pfn_to_page guard, update_pageblock_skip on every scanned block"
    }
    fn linux(&self) -> &'static str {
        "mm/compaction.c isolate_freepages, suitable_migration_target, isolate_freepages_block, update_pageblock_skip"
    }
    fn leaves(&self) -> &'static str {
        "PB_migrate_skip cleared again as __reset_isolation_suitable would; none left set in practice"
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        const SITE: &str = "isolate_freepages_block";
        let zone = cx.target_zone(target, self.name())?;
        let z = (zone.nid, zone.zone_type);
        let mut res = TargetResult::new(target);
        let (contiguous, _) = cx.set_zone_contiguous(z, false);
        res.contiguous = Some(contiguous);
        let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
        let low_pfn = pageblock_end_pfn(zs);
        let mut block_start = pageblock_start_pfn(ze.saturating_sub(1));
        let mut block_end = (block_start + PAGEBLOCK_NR_PAGES).min(ze);
        // Loop invariant: every pageblock in [block_end, zone_end) has been scanned or refused.
        while block_start >= low_pfn && !cx.stopped() {
            cx.visit_block();
            if let Some(p) = cx.pageblock_pfn_to_page(block_start, block_end, z, "__pageblock_pfn_to_page") {
                let suitable = match cx.read(p).map(|page| cx.state(p, page, "suitable_migration_target")) {
                    Some(PageState::FreeHead { order }) if order >= PAGEBLOCK_ORDER => false,
                    Some(PageState::Poisoned) | None => false,
                    Some(_) => cx.migratetype(p) == migratetype::MOVABLE,
                };
                if !suitable {
                    res.add("blocks not suitable targets", 1);
                } else if cx.skip(p) {
                    res.add("blocks skipped (skip bit)", 1);
                } else {
                    let n = cx.isolate_freepages_block(z, block_start, block_end, SITE);
                    res.add("free pages found", n);
                    res.add("blocks scanned", 1);
                    cx.set_pageblock_skip(z, p, site::UPDATE_PAGEBLOCK_SKIP);
                }
            } else {
                res.add("blocks refused by pageblock_pfn_to_page", 1);
            }
            if block_start < PAGEBLOCK_NR_PAGES {
                break;
            }
            block_end = block_start;
            block_start -= PAGEBLOCK_NR_PAGES;
        }
        cx.reset_isolation_suitable(z);
        Ok(res)
    }
}

/// `fast-isolate-prefix` (`prefix: true`) and `fast-isolate`: `fast_isolate_freepages` + `fast_isolate_around`.
///
/// A call of `fast_isolate_freepages` scans the MIGRATE_MOVABLE free lists (orders below `cc->order`, here
/// pageblock order: a THP allocation; see [`free_blocks`] for why every pageblock's free pages count) for a
/// page in the top quarter of the scan space and ends in
/// `fast_isolate_around(pfn)`, which scans that page's pageblock and calls `set_pageblock_skip`. Which candidate
/// one call picks depends on list order, scan limits and the scanners' positions; the walker visits every
/// candidate that some call can pick, through each of the three ways the function picks one:
/// 1. a free page was found: `fast_isolate_around(pfn of the page)`;
/// 2. none found at the start of a scan (`scan_start`): the `highest` candidate's pageblock,
///    `fast_isolate_around(highest)`, where `highest = pageblock_start_pfn(pfn)` before 6e2b7044c199 and only
///    if nonzero (`if (highest)`), and `max(pageblock_start_pfn(pfn), zone_start_pfn)` after;
/// 3. none found and no `highest`, in direct compaction: `min_pfn`, any pageblock start from the zone's first
///    block on, through `pfn_valid(min_pfn)` and `pageblock_pfn_to_page(min_pfn, pageblock_end_pfn(min_pfn), zone)`
///    (clamped to the zone end after the fix).
///
/// Before the fix `fast_isolate_around` took `pfn_to_page(pfn)` as is, scanned `[pageblock_start_pfn(pfn),
/// min(pageblock_end_pfn(pfn), zone_end_pfn) - 1)` around the page and called `set_pageblock_skip` on it: a
/// pageblock whose first page is a hole with foreign links (way 2) or a zone starting mid-pageblock in a
/// contiguous zone (way 3, e.g. pfn 0 below ZONE_DMA starting at pfn 1) reaches the VM_BUG_ON. After it (and
/// after the 2022 follow-up "mm, compaction: fix fast_isolate_around() to stay within boundaries" by NARIBAYASHI
/// Akira, which scans the clamped block as a whole), the block is clamped to the zone and guarded by
/// `pageblock_pfn_to_page`, and the skip bit goes through the guarded page.
pub struct FastIsolate {
    /// Model v5.9/v5.10, before 6e2b7044c199.
    pub prefix: bool,
}

impl FastIsolate {
    fn site(&self) -> &'static str {
        if self.prefix {
            site::FAST_ISOLATE_AROUND_PREFIX
        } else {
            site::FAST_ISOLATE_AROUND
        }
    }

    /// `fast_isolate_around(cc, pfn[, nr_isolated])`.
    fn around(&self, cx: &mut WalkCtx<'_>, z: ZoneId, zone: &Zone, pfn: u64, nr_isolated: u64) {
        const SITE: &str = "isolate_freepages_block";
        let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
        if self.prefix {
            if cx.read(pfn).is_none() {
                return;
            }
            let start = pageblock_start_pfn(pfn);
            let end = pageblock_end_pfn(pfn).min(ze).saturating_sub(1);
            if start != pfn {
                cx.isolate_freepages_block(z, start, pfn, SITE);
            }
            let after = pfn + nr_isolated;
            if after < end {
                cx.isolate_freepages_block(z, after, end, SITE);
            }
            // cc->nr_freepages < cc->nr_migratepages: the demand is unbounded.
            cx.set_pageblock_skip(z, pfn, self.site());
        } else {
            let start = pageblock_start_pfn(pfn).max(zs);
            let end = pageblock_end_pfn(pfn).min(ze);
            if start >= end {
                return;
            }
            let Some(page) = cx.pageblock_pfn_to_page(start, end, z, "__pageblock_pfn_to_page") else { return };
            cx.isolate_freepages_block(z, start, end, SITE);
            cx.set_pageblock_skip(z, page, self.site());
        }
    }
}

/// The pageblocks holding free pages of the zone below pageblock order, each with its highest free page and that
/// page's order, ascending. Reading the free lists is not a pfn walk: quiet.
///
/// `fast_isolate_freepages` reads only the MIGRATE_MOVABLE lists, and a pageblock that starts in a hole never got
/// MIGRATE_MOVABLE from `memmap_init_range` (only pageblock-aligned pfns inside memory do), so at boot its free
/// pages sit on the MIGRATE_UNMOVABLE list. But a movable allocation falling back to it
/// (`steal_suitable_fallback` -> `set_pageblock_migratetype`, through the stolen page, in the zone) turns it
/// MIGRATE_MOVABLE at run time, and then its free pages are candidates: that is how Andrea Arcangeli's block
/// at pfn 0x39800 got there. The walker takes the free pages of every pageblock, whatever its migratetype now.
fn free_blocks(cx: &mut WalkCtx<'_>, z: ZoneId, zone: &Zone) -> Vec<(u64, u64, u32)> {
    let mut out: Vec<(u64, u64, u32)> = Vec::new();
    cx.quiet += 1;
    let (mut pfn, end) = (zone.zone_start_pfn, zone.zone_end_pfn());
    while pfn < end {
        if !cx.pfn_valid(pfn) {
            pfn = cx.skip_invalid(pfn);
            continue;
        }
        let Some(page) = cx.read(pfn) else {
            pfn += 1;
            continue;
        };
        if let PageState::FreeHead { order } = cx.state(pfn, page, "free_list") {
            if order < PAGEBLOCK_ORDER && cx.page_zone(pfn, page, "free_list") == Some(z) {
                let b = pageblock_start_pfn(pfn);
                match out.last_mut() {
                    Some(last) if last.0 == b => *last = (b, pfn, order),
                    _ => out.push((b, pfn, order)),
                }
            }
            pfn += 1 << order;
            continue;
        }
        pfn += 1;
    }
    cx.quiet -= 1;
    out
}

impl Walker for FastIsolate {
    fn name(&self) -> &'static str {
        if self.prefix {
            "fast-isolate-prefix"
        } else {
            "fast-isolate"
        }
    }
    fn summary(&self) -> &'static str {
        if self.prefix {
            "fast_isolate_freepages before 6e2b7044c199 (v5.9/v5.10): set_pageblock_skip on unchecked pageblock starts"
        } else {
            "fast_isolate_freepages after 6e2b7044c199: blocks clamped to the zone and guarded by pageblock_pfn_to_page"
        }
    }
    fn linux(&self) -> &'static str {
        if self.prefix {
            concat!(
                "mm/compaction.c fast_isolate_freepages, fast_isolate_around as in v5.10 (5a811889de10); ",
                "Andrea Arcangeli <20201121194506.13464-1-aarcange@redhat.com>"
            )
        } else {
            concat!(
                "mm/compaction.c fast_isolate_freepages, fast_isolate_around after 6e2b7044c199 ",
                "(Vlastimil Babka, v5.12-rc1) and the 2022 boundary fix"
            )
        }
    }
    fn leaves(&self) -> &'static str {
        concat!(
            "PB_migrate_skip cleared as __reset_isolation_suitable would; before the fix, a skip bit set through ",
            "a hole page of another zone stays set (skip_left_set), as in Linux"
        )
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        let zone = cx.target_zone(target, self.name())?;
        let z = (zone.nid, zone.zone_type);
        let mut res = TargetResult::new(target);
        let (contiguous, _) = cx.set_zone_contiguous(z, false);
        res.contiguous = Some(contiguous);
        let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
        let blocks = free_blocks(cx, z, &zone);
        res.add("pageblocks with free pages", blocks.len() as u64);
        // Ways 1 and 2, highest pageblocks first as the reverse free-list walk tends to meet them.
        for &(b, top, order) in blocks.iter().rev() {
            if cx.stopped() {
                break;
            }
            cx.visit_block();
            self.around(cx, z, &zone, top, 1 << order);
            let highest = if self.prefix { b } else { b.max(zs) };
            if self.prefix && highest == 0 {
                continue;
            }
            self.around(cx, z, &zone, highest, 0);
        }
        // Way 3: min_pfn.
        let mut min_pfn = pageblock_start_pfn(zs);
        while min_pfn < ze && !cx.stopped() {
            if cx.pfn_valid(min_pfn) {
                cx.visit_block();
                let end = if self.prefix { pageblock_end_pfn(min_pfn) } else { pageblock_end_pfn(min_pfn).min(ze) };
                if let Some(p) = cx.pageblock_pfn_to_page(min_pfn, end, z, "__pageblock_pfn_to_page") {
                    self.around(cx, z, &zone, p, 0);
                    res.add("min_pfn blocks", 1);
                }
                min_pfn += PAGEBLOCK_NR_PAGES;
            } else {
                min_pfn = align_up(cx.skip_invalid(min_pfn), PAGEBLOCK_NR_PAGES);
            }
        }
        cx.reset_isolation_suitable(z);
        Ok(res)
    }
}

/// `zone-contiguous`: `set_zone_contiguous` for every populated zone.
///
/// A zone is contiguous if every pageblock of its span, clamped to the span, passes `__pageblock_pfn_to_page`:
/// first and last pfn valid, the first online and `page_zone(first) == zone`, and the last in the same node and
/// zone as the first (`page_zone_id`). Linux computes it at the end of boot (`page_alloc_init_late`) and after
/// memory hotplug; compaction then trusts every pageblock of a contiguous zone without looking. A pageblock
/// without a memmap (a missing section: the 3-4 GiB PCI hole inside DMA32) makes a zone non-contiguous under
/// every policy; a hole page whose links name another zone at either end of a pageblock makes it
/// non-contiguous under the policies that link holes so.
pub struct ZoneContiguous;

impl Walker for ZoneContiguous {
    fn name(&self) -> &'static str {
        "zone-contiguous"
    }
    fn summary(&self) -> &'static str {
        "set_zone_contiguous: every pageblock's first and last page in the zone, or the first pageblock that is not"
    }
    fn linux(&self) -> &'static str {
        "mm/page_alloc.c (mm/mm_init.c since v6.4) set_zone_contiguous, __pageblock_pfn_to_page"
    }
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError> {
        let zone = cx.target_zone(target, self.name())?;
        let mut res = TargetResult::new(target);
        let (contiguous, fail) = cx.set_zone_contiguous((zone.nid, zone.zone_type), true);
        res.contiguous = Some(contiguous);
        res.first_failure = fail;
        Ok(res)
    }
}
