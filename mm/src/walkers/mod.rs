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
mod ctx;
mod dumps;
mod isolation;
mod report;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use compaction::{CompactionFree, CompactionMigrate, FastIsolate, ZoneContiguous};
pub use ctx::*;
pub use dumps::{KPageFlags, PageOwner, PageTypeInfo};
pub use isolation::{IsolateRange, OfflineAnswer, OfflineCheck};
pub use report::*;

use crate::consts::*;
use crate::model::Mm;
use crate::page::{pg, Links, Page, PageType};
use crate::sparse::{migratetype, Sparse};
use crate::usemap::{PageblockChecker, SiteCount, Violation};
use crate::zones::{Zone, ZoneType, Zones};

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
