//! PFN walkers that trip over holes: faithful models of the Linux functions that walk struct pages by pfn and
//! rely on `page_zone(page)` being the zone that spans the pfn.
//!
//! ```text
//!   zone span [zone_start_pfn, zone_end_pfn)          pfn range [start, end)
//!        │  compaction-migrate  compaction-free            │  kpageflags  offline-check
//!        │  fast-isolate(-prefix)  zone-contiguous         │  isolate-range (also per zone)
//!        │  pagetypeinfo  page-owner                       │
//!        ▼                                                 ▼
//!   WalkCtx: pfn_valid / pfn_to_online_page / pfn_to_page through `Sparse`, page_zone() through the page's
//!            links, pageblock bits only through the checked `PageblockChecker::set_pfnblock_flags_mask`
//!        ▼
//!   WalkReport: pfns and pageblocks visited, findings per kind (first few with pfn, node, zone, site),
//!               the pageblock checker's calls and violations at this walker's call sites, per-target results
//! ```
//! Each walker is one Linux function (or the few functions of one path), read from the Linux source and written
//! anew here; the doc of each names the functions and commits it models. The walkers are registered in
//! [`WALKERS`] under stable names (the `compare` command's column names).
//!
//! # What counts as a finding
//! A finding is a moment where a Linux walker depends on the memmap and the memmap lets it down. Four kinds are
//! about the memmap itself (the hole policy decides them): the pageblock check in `set_pfnblock_flags_mask`
//! fired at the walker's call site ([`FindingKind::PageblockCheck`], Andrea Arcangeli's VM_BUG_ON), the walker
//! read a poisoned struct page ([`FindingKind::Poisoned`], what PF_POISONED_CHECK reports), the links name no
//! node or zone ([`FindingKind::BadLinks`]), or the zone `page_zone(page)` names does not span the pfn
//! ([`FindingKind::ZoneDoesNotSpan`], the seed mail's invariant, checked at every link read of the walker). One
//! kind is a bug of the walker, independent of holes: it took a free page of another zone
//! ([`FindingKind::ForeignFreePage`]), which happens when two zones share a pageblock and the walker does not
//! check (fast_isolate_around before 6e2b7044c199 and, for interleaved nodes, every scanner). What Linux returns
//! (contiguous or not, which zone a memory block is in, pageblock counts) is not a finding: it is the walker's
//! result, kept in [`TargetResult`].
//!
//! # Free pages
//! The walkers do not depend on the buddy allocator's API. They read its state from the pages: a page with
//! `PageBuddy` heads a free block whose order is in `private`. If no page anywhere is `PageBuddy` (the model right
//! after memmap init), the walkers see the memory as Linux sees it right after `memblock_free_all`: every
//! initialized page without PG_reserved is free, at order 0 ([`FreeModel::AfterBoot`]). Walkers never take pages
//! off free lists: they report what they would isolate.
//!
//! # Invariants
//! - no walker panics on any page content (poisoned, zeroed, nonexistent node ids, bogus orders): every page read
//!   goes through [`WalkCtx`], which turns bad content into findings;
//! - pageblock bits are written only through `PageblockChecker::set_pfnblock_flags_mask`, with a call site name
//!   per Linux caller; in `vm_debug=panic` the first violation stops the walker ([`WalkReport::stopped`]), as the
//!   VM_BUG_ON would have, and the walker still undoes its changes;
//! - walkers restore what they change, so they can run in any order: `isolate-range` undoes its isolation
//!   (restoring each pageblock's previous migratetype), and the compaction walkers clear the PB_migrate_skip
//!   bits they set the way `__reset_isolation_suitable` does, through a page of the zone; a skip bit Linux
//!   could not clear that way (its block's page belongs to another zone) stays set and is listed in
//!   [`WalkReport::skip_left_set`]. The other walkers only read.

mod compaction;
mod dumps;
mod isolation;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use compaction::{CompactionFree, CompactionMigrate, FastIsolate, ZoneContiguous};
pub use dumps::{KPageFlags, PageOwner, PageTypeInfo};
pub use isolation::{IsolateRange, OfflineAnswer, OfflineCheck};

use crate::consts::*;
use crate::model::Mm;
use crate::page::{pg, Links, Page, PG_BUDDY};
use crate::sparse::{migratetype, Sparse};
use crate::usemap::{PageblockChecker, SiteCount, Violation};
use crate::zones::{Zone, ZoneType, Zones};

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
    fn new(target: Target) -> Self {
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

/// A pfn walker. See the module documentation.
pub trait Walker: Sync {
    /// The stable name (a `compare` column).
    fn name(&self) -> &'static str;
    /// One line: what it walks and what it does.
    fn summary(&self) -> &'static str;
    /// The Linux functions and commits it models.
    fn linux(&self) -> &'static str;
    /// What it leaves behind in the pageblock bits.
    fn leaves(&self) -> &'static str {
        "nothing: it only reads"
    }
    /// What [`run_walker`] walks: by default every populated zone of every node.
    fn targets(&self, zones: &Zones, _sparse: &Sparse) -> Vec<Target> {
        populated_zones(zones)
    }
    /// Walks one target.
    fn walk(&self, cx: &mut WalkCtx<'_>, target: Target) -> Result<TargetResult, WalkError>;
}

/// Every walker, in the order reports list them.
pub static WALKERS: &[&dyn Walker] = &[
    &CompactionMigrate,
    &CompactionFree,
    &FastIsolate { prefix: true },
    &FastIsolate { prefix: false },
    &ZoneContiguous,
    &IsolateRange,
    &OfflineCheck,
    &KPageFlags,
    &PageTypeInfo,
    &PageOwner,
];

/// A walker by name.
pub fn by_name(name: &str) -> Option<&'static dyn Walker> {
    WALKERS.iter().copied().find(|w| w.name() == name)
}

/// The names, in registry order.
pub fn names() -> Vec<&'static str> {
    WALKERS.iter().map(|w| w.name()).collect()
}

/// Every populated zone (`populated_zone`: present pages) of every node, as targets.
pub fn populated_zones(zones: &Zones) -> Vec<Target> {
    let mut out = Vec::new();
    for node in &zones.nodes {
        for z in node.zones.iter().filter(|z| z.populated()) {
            out.push(Target::Zone { nid: node.nid, zone: z.zone_type });
        }
    }
    out
}

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
                    if !p.is_poisoned() && p.has_type(PG_BUDDY) {
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
    checker: &'a mut PageblockChecker,
    pub free_model: FreeModel,
    report: WalkReport,
    seen: BTreeSet<(FindingKind, u64)>,
    quiet: u32,
    contiguous: BTreeMap<ZoneId, (bool, Option<BlockFailure>)>,
    /// Pageblocks whose skip bit this walk set (from clear), per zone, for the reset.
    skip_set: BTreeMap<ZoneId, BTreeSet<u64>>,
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

    fn target_zone(&self, target: Target, walker: &'static str) -> Result<Zone, WalkError> {
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
        if page.has_type(PG_BUDDY) {
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

    fn finish(self, before: &[SiteCount]) -> WalkReport {
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

/// Runs `walker` over one target. The pageblock checker of `mm` counts its calls.
pub fn run_walker_on(mm: &mut Mm, walker: &dyn Walker, target: Target) -> Result<WalkReport, WalkError> {
    let free = FreeModel::detect(&mm.sparse);
    run(mm, walker, &[target], free)
}

/// Runs `walker` over its natural targets ([`Walker::targets`]).
pub fn run_walker(mm: &mut Mm, walker: &dyn Walker) -> WalkReport {
    let free = FreeModel::detect(&mm.sparse);
    let targets = walker.targets(&mm.zones, &mm.sparse);
    run(mm, walker, &targets, free).expect("a walker's own targets suit it")
}

/// Runs every walker of [`WALKERS`] over every populated zone of every node (or its natural pfn range), one after
/// the other, and returns their reports in registry order.
pub fn run_all_walkers(mm: &mut Mm) -> Vec<WalkReport> {
    let free = FreeModel::detect(&mm.sparse);
    WALKERS
        .iter()
        .map(|w| {
            let targets = w.targets(&mm.zones, &mm.sparse);
            run(mm, *w, &targets, free).expect("a walker's own targets suit it")
        })
        .collect()
}

fn run(mm: &mut Mm, walker: &dyn Walker, targets: &[Target], free: FreeModel) -> Result<WalkReport, WalkError> {
    let before = mm.checker.sites.clone();
    let policy = mm.policy.name();
    let mut cx = WalkCtx::new(&mm.sparse, &mm.zones, &mut mm.checker, free, walker.name(), policy);
    for &t in targets {
        let r = walker.walk(&mut cx, t)?;
        cx.report.targets.push(r);
    }
    Ok(cx.finish(&before))
}

#[cfg(test)]
mod tests;
