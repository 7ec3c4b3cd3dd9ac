//! What a walk finds and reports: finding kinds, targets, per-target results, the report and its lines.

use super::*;

/// Findings kept with details, per kind.
pub const FIRST_PER_KIND: usize = 8;

/// Call sites of the pageblock writes, one per Linux caller of `set_pfnblock_flags_mask`.
pub mod site {
    /// `isolate_migratepages_block` -> `set_pageblock_skip(valid_page)`.
    pub const ISOLATE_MIGRATEPAGES_BLOCK: &str = "isolate_migratepages_block";
    /// `isolate_freepages` -> `update_pageblock_skip` -> `set_pageblock_skip`.
    pub const UPDATE_PAGEBLOCK_SKIP: &str = "update_pageblock_skip";
    /// `fast_isolate_freepages` -> `fast_isolate_around` -> `set_pageblock_skip`, as in v5.9/v5.10: Andrea
    /// Arcangeli's trace.
    pub const FAST_ISOLATE_AROUND_PREFIX: &str = "fast_isolate_around (pre-6e2b7044c199)";
    /// The same path after 6e2b7044c199.
    pub const FAST_ISOLATE_AROUND: &str = "fast_isolate_around";
    /// `__reset_isolation_pfn` -> `clear_pageblock_skip`.
    pub const RESET_ISOLATION_PFN: &str = "__reset_isolation_pfn";
    /// `set_migratetype_isolate` -> `set_pageblock_migratetype(page, MIGRATE_ISOLATE)`.
    pub const SET_MIGRATETYPE_ISOLATE: &str = "set_migratetype_isolate";
    /// `unset_migratetype_isolate` -> `set_pageblock_migratetype(page, migratetype)`.
    pub const UNSET_MIGRATETYPE_ISOLATE: &str = "unset_migratetype_isolate";
}

/// What a walker tripped over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// `VM_BUG_ON_PAGE(!zone_spans_pfn(page_zone(page), pfn))` in `set_pfnblock_flags_mask` at the walker's call
    /// site (counted by the pageblock checker; tolerated PG_reserved pages under `reserved-relaxed` are not).
    PageblockCheck = 0,
    /// The walker read a struct page that still holds the poison pattern (PF_POISONED_CHECK).
    Poisoned,
    /// `page_zone()` names a node or zone that does not exist (`NODE_DATA(nid)` would be garbage).
    BadLinks,
    /// The walker read the links of a page whose zone does not span its pfn (the seed mail's invariant).
    ZoneDoesNotSpan,
    /// The walker took (or would take) a free page of another zone: a pageblock shared by two zones that the
    /// walker did not check. A walker bug, not a memmap one (6e2b7044c199, and its 2022 follow-up).
    ForeignFreePage,
}

impl FindingKind {
    pub const COUNT: usize = 5;
    pub const ALL: [FindingKind; Self::COUNT] = [
        FindingKind::PageblockCheck,
        FindingKind::Poisoned,
        FindingKind::BadLinks,
        FindingKind::ZoneDoesNotSpan,
        FindingKind::ForeignFreePage,
    ];

    /// A stable short name (for JSON and tables).
    pub const fn name(self) -> &'static str {
        match self {
            FindingKind::PageblockCheck => "pageblock-check",
            FindingKind::Poisoned => "poisoned",
            FindingKind::BadLinks => "bad-links",
            FindingKind::ZoneDoesNotSpan => "zone-does-not-span",
            FindingKind::ForeignFreePage => "foreign-free-page",
        }
    }

    /// Whether the finding is about the memmap (decided by the hole policy) rather than about the walker.
    pub const fn is_memmap(self) -> bool {
        !matches!(self, FindingKind::ForeignFreePage)
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FindingKind::PageblockCheck => {
                "VM_BUG_ON_PAGE(!zone_spans_pfn(page_zone(page), pfn)) in set_pfnblock_flags_mask"
            }
            FindingKind::Poisoned => "read an uninitialized, poisoned struct page (PF_POISONED_CHECK)",
            FindingKind::BadLinks => "page_zone() names a node or zone that does not exist",
            FindingKind::ZoneDoesNotSpan => "page_zone(page) does not span the pfn",
            FindingKind::ForeignFreePage => "took a free page of another zone (pageblock shared by two zones)",
        })
    }
}

/// One finding with its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkFinding {
    pub pfn: u64,
    /// The page's links, if it had readable ones.
    pub links: Option<Links>,
    pub kind: FindingKind,
    /// The Linux function where it happened.
    pub site: &'static str,
    /// The page is PG_reserved.
    pub reserved: bool,
}

impl fmt::Display for WalkFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn {:#x}", self.pfn)?;
        if let Some(l) = self.links {
            write!(f, " node {} zone {}", l.nid, ZoneType::from_index(l.zone as usize).map_or("?", |z| z.name()))?;
        }
        if self.reserved {
            f.write_str(" reserved")?;
        }
        write!(f, ": {} in {}", self.kind, self.site)
    }
}

/// What a walker runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One zone of one node (its span).
    Zone { nid: u32, zone: ZoneType },
    /// A pfn range `[start_pfn, end_pfn)`.
    Range { start_pfn: u64, end_pfn: u64 },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Zone { nid, zone } => write!(f, "node {} zone {}", nid, zone.name()),
            Target::Range { start_pfn, end_pfn } => write!(f, "pfns [{:#x}, {:#x})", start_pfn, end_pfn),
        }
    }
}

/// Why `__pageblock_pfn_to_page` refused a pageblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotContiguous {
    /// The first or the last pfn has no struct page (`!pfn_valid`).
    NoMemmap,
    /// The first pfn is not online (`!pfn_to_online_page`).
    Offline,
    /// `page_zone(start_page) != zone` (links `None`: unreadable).
    StartInOtherZone(Option<Links>),
    /// `page_zone_id(start_page) != page_zone_id(end_page)` (links of the end page, `None`: unreadable).
    EndInOtherZone(Option<Links>),
}

impl fmt::Display for NotContiguous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let links = |f: &mut fmt::Formatter<'_>, l: &Option<Links>| match l {
            Some(l) => {
                write!(f, "node {} zone {}", l.nid, ZoneType::from_index(l.zone as usize).map_or("?", |z| z.name()))
            }
            None => f.write_str("an unreadable page"),
        };
        match self {
            NotContiguous::NoMemmap => f.write_str("no struct page (!pfn_valid)"),
            NotContiguous::Offline => f.write_str("first page offline"),
            NotContiguous::StartInOtherZone(l) => {
                f.write_str("first page in ")?;
                links(f, l)
            }
            NotContiguous::EndInOtherZone(l) => {
                f.write_str("last page in ")?;
                links(f, l)
            }
        }
    }
}

/// The first pageblock that made a zone non-contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockFailure {
    /// The first pfn of the pageblock (clamped to the zone start).
    pub pfn: u64,
    pub reason: NotContiguous,
}

impl fmt::Display for BlockFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pageblock at pfn {:#x}: {}", self.pfn, self.reason)
    }
}

/// What a walker found for one target: Linux's answers, not findings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetResult {
    pub target: Target,
    /// `zone->contiguous` as `set_zone_contiguous` computes it (walkers that use it; `None` otherwise).
    pub contiguous: Option<bool>,
    /// Why the zone is not contiguous (the first pageblock `set_zone_contiguous` stopped at).
    pub first_failure: Option<BlockFailure>,
    /// Named counters of the walker (per-migratetype counts, blocks isolated, memory blocks in one zone, ...).
    pub stats: Vec<(&'static str, u64)>,
}

impl TargetResult {
    pub(super) fn new(target: Target) -> Self {
        TargetResult { target, contiguous: None, first_failure: None, stats: Vec::new() }
    }

    /// Adds `n` to the counter `name`.
    pub fn add(&mut self, name: &'static str, n: u64) {
        match self.stats.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v += n,
            None => self.stats.push((name, n)),
        }
    }

    /// The counter `name` (0 if never touched).
    pub fn stat(&self, name: &str) -> u64 {
        self.stats.iter().find(|(k, _)| *k == name).map_or(0, |(_, v)| *v)
    }
}

/// The result of one walker over its targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkReport {
    pub walker: &'static str,
    pub policy: &'static str,
    pub targets: Vec<TargetResult>,
    /// Struct pages the walker read.
    pub pfns_visited: u64,
    /// Pageblocks the walker considered.
    pub pageblocks_visited: u64,
    /// Distinct pfns per [`FindingKind`] (index = kind as usize).
    pub counts: [u64; FindingKind::COUNT],
    /// The first [`FIRST_PER_KIND`] findings of each kind, in the order found.
    pub first: Vec<WalkFinding>,
    /// The pageblock checker at this walker's call sites: calls and violations during this walk.
    pub sites: Vec<SiteCount>,
    /// Violations the checker tolerated (PG_reserved pages under `reserved-relaxed`) during this walk.
    pub tolerated: u64,
    /// `vm_debug=panic`: the violation that stopped the walker (the kernel would have died here).
    pub stopped: Option<Violation>,
    /// Pageblocks whose PB_migrate_skip bit the walker set and `__reset_isolation_suitable` cannot clear.
    pub skip_left_set: Vec<u64>,
}

impl WalkReport {
    pub fn count(&self, k: FindingKind) -> u64 {
        self.counts[k as usize]
    }
    /// All findings.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Findings about the memmap ([`FindingKind::is_memmap`]).
    pub fn memmap_findings(&self) -> u64 {
        FindingKind::ALL.iter().filter(|k| k.is_memmap()).map(|&k| self.count(k)).sum()
    }
    /// Pageblock check violations at this walker's call sites.
    pub fn violations(&self) -> u64 {
        self.sites.iter().map(|s| s.violations).sum()
    }
    /// The result for a target.
    pub fn target(&self, t: Target) -> Option<&TargetResult> {
        self.targets.iter().find(|r| r.target == t)
    }
    /// The result for zone `zone` of node `nid`.
    pub fn zone(&self, nid: u32, zone: ZoneType) -> Option<&TargetResult> {
        self.target(Target::Zone { nid, zone })
    }
    /// The counter `name` summed over all targets.
    pub fn stat(&self, name: &str) -> u64 {
        self.targets.iter().map(|t| t.stat(name)).sum()
    }
    /// The first finding of a kind.
    pub fn first_of(&self, k: FindingKind) -> Option<&WalkFinding> {
        self.first.iter().find(|f| f.kind == k)
    }

    /// The report as log lines (`memlab: walk: ...`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.push(format!("memlab: walk: {}", self));
        for t in &self.targets {
            let mut line = format!("memlab: walk: {}: {}", self.walker, t.target);
            if let Some(c) = t.contiguous {
                line.push_str(if c { ": contiguous" } else { ": not contiguous" });
            }
            if let Some(fail) = &t.first_failure {
                line.push_str(&format!(" ({})", fail));
            }
            for (k, v) in &t.stats {
                line.push_str(&format!(" {}={}", k, v));
            }
            out.push(line);
        }
        for f in &self.first {
            out.push(format!("memlab: walk: {}: {}", self.walker, f));
        }
        if !self.skip_left_set.is_empty() {
            out.push(format!(
                "memlab: walk: {}: PB_migrate_skip left set on {} pageblocks (first at pfn {:#x})",
                self.walker,
                self.skip_left_set.len(),
                self.skip_left_set[0]
            ));
        }
        out
    }
}

impl fmt::Display for WalkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (policy {}): {} targets, {} pfns, {} pageblocks, {} findings",
            self.walker,
            self.policy,
            self.targets.len(),
            self.pfns_visited,
            self.pageblocks_visited,
            self.total()
        )?;
        for k in FindingKind::ALL {
            if self.count(k) > 0 {
                write!(f, ", {} {}", k.name(), self.count(k))?;
            }
        }
        for s in &self.sites {
            write!(f, "; {}: {} calls, {} violations", s.site, s.calls, s.violations)?;
        }
        if self.tolerated > 0 {
            write!(f, "; {} tolerated (reserved)", self.tolerated)?;
        }
        if let Some(v) = &self.stopped {
            write!(f, "; stopped: {}", v)?;
        }
        Ok(())
    }
}

/// A walker that cannot run over a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The walker walks zones and was given a pfn range.
    NeedsZone { walker: &'static str },
    /// The zone does not exist (no such node).
    NoSuchZone { nid: u32, zone: ZoneType },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::NeedsZone { walker } => write!(f, "walker {} walks zones, not pfn ranges", walker),
            WalkError::NoSuchZone { nid, zone } => write!(f, "node {} zone {} does not exist", nid, zone.name()),
        }
    }
}
