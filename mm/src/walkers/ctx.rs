//! The walking context every walker gets: the memmap, the zones, the checker, and the report being built.

use super::*;

/// How the walkers tell a free page. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeModel {
    /// The buddy allocator holds the free pages: `PageBuddy` heads with their order in `private`, refcount 0.
    Buddy,
    /// No page is `PageBuddy`: the state right after `memblock_free_all`, every initialized page without
    /// PG_reserved is free at order 0.
    AfterBoot,
}

impl FreeModel {
    /// [`FreeModel::Buddy`] if any struct page is `PageBuddy`, else [`FreeModel::AfterBoot`].
    pub fn detect(sparse: &Sparse) -> FreeModel {
        for nr in sparse.valid_sections() {
            let ms = sparse.section(nr).expect("valid section exists");
            let s = section_nr_to_pfn(nr);
            let n = if ms.uniform() { 1 } else { PAGES_PER_SECTION };
            for pfn in s..s + n {
                if let Some(p) = sparse.pfn_to_page(pfn) {
                    if !p.is_poisoned() && p.has_type(PageType::BUDDY) {
                        return FreeModel::Buddy;
                    }
                }
            }
        }
        FreeModel::AfterBoot
    }
}

/// What a walker sees in a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    Poisoned,
    Reserved,
    /// The head of a free block of `1 << order` pages (order clamped to MAX_PAGE_ORDER, as Linux's scanners do).
    FreeHead {
        order: u32,
    },
    /// Inside a free block (refcount 0, not the head).
    FreeTail,
    /// Allocated.
    InUse,
}

/// A zone as a comparable identity (Linux compares `struct zone` pointers).
pub type ZoneId = (u32, ZoneType);

/// The walking context: the memmap, the zones, the checker and the report under construction.
pub struct WalkCtx<'a> {
    pub sparse: &'a Sparse,
    pub zones: &'a Zones,
    pub(super) checker: &'a mut PageblockChecker,
    pub free_model: FreeModel,
    pub(super) report: WalkReport,
    pub(super) seen: BTreeSet<(FindingKind, u64)>,
    pub(super) quiet: u32,
    pub(super) contiguous: BTreeMap<ZoneId, (bool, Option<BlockFailure>)>,
    /// Pageblocks whose skip bit this walk set (from clear), per zone, for the reset.
    pub(super) skip_set: BTreeMap<ZoneId, BTreeSet<u64>>,
}

impl<'a> WalkCtx<'a> {
    /// A context for one walker run.
    pub fn new(
        sparse: &'a Sparse,
        zones: &'a Zones,
        checker: &'a mut PageblockChecker,
        free_model: FreeModel,
        walker: &'static str,
        policy: &'static str,
    ) -> Self {
        WalkCtx {
            sparse,
            zones,
            checker,
            free_model,
            report: WalkReport {
                walker,
                policy,
                targets: Vec::new(),
                pfns_visited: 0,
                pageblocks_visited: 0,
                counts: [0; FindingKind::COUNT],
                first: Vec::new(),
                sites: Vec::new(),
                tolerated: 0,
                stopped: None,
                skip_left_set: Vec::new(),
            },
            seen: BTreeSet::new(),
            quiet: 0,
            contiguous: BTreeMap::new(),
            skip_set: BTreeMap::new(),
        }
    }

    /// Whether a `vm_debug=panic` violation stopped the walker.
    pub fn stopped(&self) -> bool {
        self.report.stopped.is_some()
    }

    /// Counts a pageblock as visited.
    pub fn visit_block(&mut self) {
        if self.quiet == 0 {
            self.report.pageblocks_visited += 1;
        }
    }

    /// The zone of a target, copied.
    pub fn zone_of(&self, id: ZoneId) -> Option<Zone> {
        self.zones.zone(id.0, id.1).copied()
    }

    pub(super) fn target_zone(&self, target: Target, walker: &'static str) -> Result<Zone, WalkError> {
        match target {
            Target::Zone { nid, zone } => self.zone_of((nid, zone)).ok_or(WalkError::NoSuchZone { nid, zone }),
            Target::Range { .. } => Err(WalkError::NeedsZone { walker }),
        }
    }

    /// Records a finding (once per kind and pfn; nothing while quiet).
    pub fn record(&mut self, kind: FindingKind, pfn: u64, page: Option<&Page>, site: &'static str) {
        if self.quiet > 0 || !self.seen.insert((kind, pfn)) {
            return;
        }
        self.report.counts[kind as usize] += 1;
        let shown = self.report.first.iter().filter(|f| f.kind == kind).count();
        if shown < FIRST_PER_KIND {
            let links = page.and_then(|p| p.links(pfn).ok());
            let reserved = page.is_some_and(|p| p.is_reserved());
            self.report.first.push(WalkFinding { pfn, links, kind, site, reserved });
        }
    }

    /// `pfn_to_page` for a pfn whose section has a memmap (`None` otherwise); counts the read.
    pub fn read(&mut self, pfn: u64) -> Option<&'a Page> {
        let page = self.sparse.pfn_to_page(pfn)?;
        if self.quiet == 0 {
            self.report.pfns_visited += 1;
        }
        Some(page)
    }

    /// `pfn_valid`.
    pub fn pfn_valid(&self, pfn: u64) -> bool {
        self.sparse.pfn_valid(pfn)
    }

    /// `pfn_to_online_page` as a test.
    pub fn pfn_online(&self, pfn: u64) -> bool {
        self.sparse.pfn_is_online(pfn)
    }

    /// The first pfn at or after `pfn` that could be valid, skipping a section without memmap at once (or the rest
    /// of an invalid subsection). For loops that step over invalid pfns.
    pub fn skip_invalid(&self, pfn: u64) -> u64 {
        let nr = pfn_to_section_nr(pfn);
        if self.sparse.section(nr).is_none_or(|ms| !ms.valid()) {
            section_nr_to_pfn(nr + 1)
        } else {
            align_up(pfn + 1, PAGES_PER_SUBSECTION)
        }
    }

    /// What the page is, recording a poisoned read at `site`.
    pub fn state(&mut self, pfn: u64, page: &Page, site: &'static str) -> PageState {
        if page.is_poisoned() {
            self.record(FindingKind::Poisoned, pfn, Some(page), site);
            return PageState::Poisoned;
        }
        if page.test_flag(pg::RESERVED) {
            return PageState::Reserved;
        }
        if page.has_type(PageType::BUDDY) {
            let order = if page.private <= MAX_PAGE_ORDER as u64 { page.private as u32 } else { 0 };
            return PageState::FreeHead { order };
        }
        match self.free_model {
            FreeModel::AfterBoot => PageState::FreeHead { order: 0 },
            FreeModel::Buddy if page.refcount == 0 => PageState::FreeTail,
            FreeModel::Buddy => PageState::InUse,
        }
    }

    /// `page_zone(page)`: the zone the links name, recording a poisoned page, links that name no zone, and a zone
    /// that does not span the pfn. `None` if the links cannot be followed (Linux would read garbage).
    pub fn page_zone(&mut self, pfn: u64, page: &Page, site: &'static str) -> Option<ZoneId> {
        let links = match page.links(pfn) {
            Ok(l) => l,
            Err(_) => {
                self.record(FindingKind::Poisoned, pfn, Some(page), site);
                return None;
            }
        };
        let zt = ZoneType::from_index(links.zone as usize)?;
        let Some(zone) = self.zones.zone(links.nid, zt) else {
            self.record(FindingKind::BadLinks, pfn, Some(page), site);
            return None;
        };
        if !zone.zone_spans_pfn(pfn) {
            self.record(FindingKind::ZoneDoesNotSpan, pfn, Some(page), site);
        }
        Some((links.nid, zt))
    }

    /// `get_pageblock_migratetype`.
    pub fn migratetype(&self, pfn: u64) -> u64 {
        self.sparse.get_pfnblock_flags_mask(pfn, migratetype::MASK)
    }

    /// `get_pageblock_skip`.
    pub fn skip(&self, pfn: u64) -> bool {
        self.sparse.get_pfnblock_flags_mask(pfn, migratetype::SKIP_BIT) != 0
    }

    /// The checked `set_pfnblock_flags_mask` at `site`; false if `vm_debug=panic` stopped the walker here.
    pub fn set_pageblock_flags(&mut self, pfn: u64, flags: u64, mask: u64, site: &'static str) -> bool {
        if self.stopped() {
            return false;
        }
        let (before, tolerated) = (self.checker.total_violations, self.checker.tolerated);
        let r = self.checker.set_pfnblock_flags_mask(self.sparse, self.zones, pfn, flags, mask, site);
        self.report.tolerated += self.checker.tolerated - tolerated;
        let page = self.sparse.pfn_to_page(pfn);
        match r {
            Err(v) => {
                self.record(FindingKind::PageblockCheck, pfn, page, site);
                self.report.stopped = Some(v);
                false
            }
            Ok(()) => {
                if self.checker.total_violations > before {
                    self.record(FindingKind::PageblockCheck, pfn, page, site);
                }
                true
            }
        }
    }

    /// `set_pageblock_skip(page)` for the page at `pfn`, on behalf of a compaction walker of zone `z`; the skip
    /// bit is remembered for [`WalkCtx::reset_isolation_suitable`] if it was clear.
    pub fn set_pageblock_skip(&mut self, z: ZoneId, pfn: u64, site: &'static str) {
        let was_set = self.skip(pfn);
        if self.set_pageblock_flags(pfn, migratetype::SKIP_BIT, migratetype::SKIP_BIT, site) && !was_set {
            self.skip_set.entry(z).or_default().insert(pageblock_start_pfn(pfn));
        }
    }

    /// `__reset_isolation_suitable` for the skip bits this walk set in zone `z`: each is cleared through the page
    /// `__reset_isolation_pfn` uses (the block's first pfn, clamped to the zone start) if that page is online and
    /// `page_zone(page) == zone`; otherwise Linux cannot clear it and it is listed in `skip_left_set`.
    /// Simplification: Linux also wants a free or LRU page in the block before clearing; the reset here clears
    /// every block it can, so that walkers compose.
    pub fn reset_isolation_suitable(&mut self, z: ZoneId) {
        let Some(blocks) = self.skip_set.remove(&z) else { return };
        let Some(zone) = self.zone_of(z) else { return };
        let was_stopped = self.report.stopped.take();
        self.quiet += 1;
        for b in blocks {
            let pfn = b.max(zone.zone_start_pfn);
            let ok = self.pfn_online(pfn)
                && self.read(pfn).and_then(|p| self.page_zone(pfn, p, site::RESET_ISOLATION_PFN)) == Some(z);
            if !(ok && self.set_pageblock_flags(pfn, 0, migratetype::SKIP_BIT, site::RESET_ISOLATION_PFN)) {
                self.report.skip_left_set.push(b);
            }
        }
        self.quiet -= 1;
        if was_stopped.is_some() {
            self.report.stopped = was_stopped;
        }
    }

    /// `__pageblock_pfn_to_page(start, end, zone)` as in v5.10 mm/page_alloc.c: the block's first and last pfn
    /// must be valid, the first online and in `zone`, the last in the same node and zone as the first. Reading the
    /// two pages records what they trip over at `site`.
    pub fn __pageblock_pfn_to_page(
        &mut self,
        start: u64,
        end: u64,
        z: ZoneId,
        site: &'static str,
    ) -> Result<u64, NotContiguous> {
        let last = end.saturating_sub(1).max(start);
        if !self.pfn_valid(start) || !self.pfn_valid(last) {
            return Err(NotContiguous::NoMemmap);
        }
        if !self.pfn_online(start) {
            return Err(NotContiguous::Offline);
        }
        let sp = self.read(start).ok_or(NotContiguous::NoMemmap)?;
        match self.page_zone(start, sp, site) {
            Some(id) if id == z => {}
            _ => return Err(NotContiguous::StartInOtherZone(sp.links(start).ok())),
        }
        let ep = self.read(last).ok_or(NotContiguous::NoMemmap)?;
        // page_zone_id compares the node and zone bits without following them; reading them still trips over a
        // poisoned page or a zone that does not span the pfn, which we record.
        if self.page_zone(last, ep, site) != Some(z) {
            return Err(NotContiguous::EndInOtherZone(ep.links(last).ok()));
        }
        Ok(start)
    }

    /// `set_zone_contiguous(zone)`: whether every pageblock of the span passes `__pageblock_pfn_to_page`, and the
    /// first that does not. Computed once per walk and zone; quiet unless `record` (the zone-contiguous walker).
    pub fn set_zone_contiguous(&mut self, z: ZoneId, record: bool) -> (bool, Option<BlockFailure>) {
        if !record {
            if let Some(&c) = self.contiguous.get(&z) {
                return c;
            }
        }
        let Some(zone) = self.zone_of(z) else { return (false, None) };
        if !record {
            self.quiet += 1;
        }
        let end = zone.zone_end_pfn();
        let mut block_start = zone.zone_start_pfn;
        let mut block_end = pageblock_end_pfn(block_start);
        let mut result = (true, None);
        // Loop invariant: every pageblock of [zone_start_pfn, block_start) passed.
        while block_start < end {
            block_end = block_end.min(end);
            self.visit_block();
            if let Err(reason) = self.__pageblock_pfn_to_page(block_start, block_end, z, "set_zone_contiguous") {
                result = (false, Some(BlockFailure { pfn: block_start, reason }));
                break;
            }
            block_start = block_end;
            block_end += PAGEBLOCK_NR_PAGES;
        }
        if !record {
            self.quiet -= 1;
        }
        self.contiguous.insert(z, result);
        result
    }

    /// `pageblock_pfn_to_page(start, end, zone)`: `pfn_to_page(start)` without a check if `zone->contiguous`,
    /// else `__pageblock_pfn_to_page`. Returns the pfn of the page.
    pub fn pageblock_pfn_to_page(&mut self, start: u64, end: u64, z: ZoneId, site: &'static str) -> Option<u64> {
        if self.set_zone_contiguous(z, false).0 {
            return Some(start);
        }
        self.__pageblock_pfn_to_page(start, end, z, site).ok()
    }

    /// `isolate_freepages_block(cc, &start, end, freelist, 1, false)` without taking pages: reads every page of
    /// `[start, end)`, and for each free block head checks `page_zone(page) == cc->zone` as `__isolate_free_page`
    /// would use it. Returns the free pages it would isolate.
    pub fn isolate_freepages_block(&mut self, z: ZoneId, start: u64, end: u64, site: &'static str) -> u64 {
        let mut isolated = 0;
        let mut pfn = start;
        while pfn < end {
            let Some(page) = self.read(pfn) else {
                pfn += 1;
                continue;
            };
            if let PageState::FreeHead { order } = self.state(pfn, page, site) {
                if self.page_zone(pfn, page, site) != Some(z) {
                    self.record(FindingKind::ForeignFreePage, pfn, Some(page), site);
                }
                isolated += 1 << order;
                pfn += 1 << order;
                continue;
            }
            pfn += 1;
        }
        isolated
    }

    pub(super) fn finish(self, before: &[SiteCount]) -> WalkReport {
        let mut report = self.report;
        for s in &self.checker.sites {
            let (c0, v0) = before.iter().find(|b| b.site == s.site).map_or((0, 0), |b| (b.calls, b.violations));
            if s.calls > c0 {
                report.sites.push(SiteCount { site: s.site, calls: s.calls - c0, violations: s.violations - v0 });
            }
        }
        report
    }
}
