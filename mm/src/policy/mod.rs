//! Hole-initialization policies: how the struct pages of pfns that have a memmap but no memory get their links.
//!
//! A policy is one file implementing [`HolePolicy`], registered in [`POLICIES`], selected by name
//! (`holes=<name>` in the kernel, `--policy` in the simulator). A policy drives the whole memmap init through an
//! [`InitCtx`] (memory pages and holes, in the order it chooses, since the order is part of what Linux changed),
//! may adjust the zone and node spans before init ([`HolePolicy::adjust_zones`]), and states what it promises
//! ([`Promise`]), which the verifier checks.
//!
//! | name | Linux | holes get |
//! |---|---|---|
//! | `zeroed-no-tail` | 4.17-5.5 `zero_resv_unavail` | node 0 / zone 0, PG_reserved; tail of the last section poisoned |
//! | `zeroed` | 5.6-5.11 `init_unavailable_mem` | node 0 / zone 0, PG_reserved, up to the section end |
//! | `reserved-relaxed` | Michal Hocko's proposal | as `zeroed`; the pageblock check tolerates PG_reserved |
//! | `span-extend` | Mike Rapoport's v5 | node spans rounded to sections; the links of the zone spanning them |
//! | `upstream-5.12` | 0740a50b9baa (5.12-5.13) | per node and zone, static hole_pfn: descending nodes overwrite memory |
//! | `upstream` | 0740a50b9baa + 122e093c1734 | the zone of the next memory range; the tail: last node's top zone |
//! | `strict` | ours | a zone that spans them (stretched just enough) |
//! | `nearest` | example | the zone of the nearest memory page (the README's "write your own policy") |
//!
//! # Invariants
//! - names are unique and stable (they are command-line values);
//! - every policy initializes every memory page exactly as `memmap_init_range` does; they differ only in holes,
//!   spans and the check.

pub mod era;
mod nearest;
mod reserved_relaxed;
mod span_extend;
mod strict;
mod upstream;
mod upstream_512;
mod zeroed;
mod zeroed_no_tail;

use alloc::vec::Vec;

pub use nearest::Nearest;
pub use reserved_relaxed::ReservedRelaxed;
pub use span_extend::SpanExtend;
pub use strict::Strict;
pub use upstream::Upstream;
pub use upstream_512::Upstream512;
pub use zeroed::Zeroed;
pub use zeroed_no_tail::ZeroedNoTail;

use crate::layout::MemRange;
use crate::memmap::InitCtx;
use crate::usemap::Violation;
use crate::zones::{ZoneType, Zones};

/// What a policy guarantees after memmap init; the verifier reports a broken promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Promise {
    /// Every pfn_valid page is initialized (none left poisoned).
    pub all_valid_initialized: bool,
    /// Every pfn_valid page's zone spans it (the seed mail's invariant).
    pub zone_spans_every_valid_pfn: bool,
    /// The pageblock check (`set_pfnblock_flags_mask`) never fails during init or walks.
    pub pageblock_check_clean: bool,
    /// Every memory page keeps the links `memmap_init_range` gave it (no hole init overwrites memory).
    pub memory_links_exact: bool,
}

/// A hole-initialization policy. See the module documentation.
pub trait HolePolicy: Sync {
    /// The name on the command line.
    fn name(&self) -> &'static str;
    /// One line: what the policy does.
    fn summary(&self) -> &'static str;
    /// Where it comes from (kernel versions, commit ids, lore message ids).
    fn history(&self) -> &'static str;
    /// Node span alignment in pages passed to zone computation (1: Linux; a section: span-extend).
    fn node_span_align(&self) -> u64 {
        1
    }
    /// Adjusts zone and node spans after Linux's computation and before memmap init.
    fn adjust_zones(&self, _zones: &mut Zones, _memory: &[MemRange]) {}
    /// Whether the pageblock check tolerates PG_reserved pages.
    fn tolerates_reserved(&self) -> bool {
        false
    }
    /// Whether `pfn_to_online_page` of the policy's kernel also needs the pfn's subsection bit in an early section
    /// (9f9b02e5b346, v5.12): then the tail of the last section beyond the end of RAM has no online page for
    /// kpageflags, pagetypeinfo, the compaction scanners or `shrink_zone_span`. The policies of kernels before
    /// 5.12 say no.
    fn online_page_checks_subsection(&self) -> bool {
        true
    }
    /// What the verifier may hold the policy to.
    fn promise(&self) -> Promise;
    /// Initializes the memmap: every memory page and the holes, in the policy's order.
    fn memmap_init(&self, cx: &mut InitCtx<'_>) -> Result<(), Violation>;
}

/// Every policy, in the order reports list them.
pub static POLICIES: &[&dyn HolePolicy] =
    &[&ZeroedNoTail, &Zeroed, &ReservedRelaxed, &SpanExtend, &Upstream512, &Upstream, &Strict, &Nearest];

/// The default policy: what Linux does today.
pub const DEFAULT_POLICY: &str = "upstream";

/// A policy by name.
pub fn by_name(name: &str) -> Option<&'static dyn HolePolicy> {
    POLICIES.iter().copied().find(|p| p.name() == name)
}

/// The names, comma separated, for error messages.
pub fn names() -> Vec<&'static str> {
    POLICIES.iter().map(|p| p.name()).collect()
}

/// Memory init of Linux 5.8-5.11 (`free_area_init_core` -> `memmap_init(size, nid, zone, zone_start_pfn)`):
/// for each node, for each zone with a span, every memory range of the node clamped to the zone span.
pub(crate) fn init_memory_by_zone(cx: &mut InitCtx<'_>) -> Result<(), Violation> {
    for node in cx.zones.nodes.clone().iter() {
        for zone in node.zones.iter().filter(|z| z.spanned_pages > 0) {
            let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
            let ranges: Vec<MemRange> = cx.node_ranges(node.nid).collect();
            for r in ranges {
                let (s, e) = (r.start_pfn.clamp(zs, ze), r.end_pfn.clamp(zs, ze));
                if s < e {
                    cx.init_memory_range(s, e, node.nid, zone.zone_type)?;
                }
            }
        }
    }
    Ok(())
}

/// Linux 4.17-5.11: zero the struct pages of the holes between memblock.memory ranges from pfn 0 up to `end`
/// and print `Zeroed struct page in unavailable ranges: N pages` before the `Initmem setup` lines.
pub(crate) fn zero_holes_until(cx: &mut InitCtx<'_>, end: u64, rule: &'static str) -> u64 {
    let mut next = 0u64;
    let mut count = 0;
    for i in 0..cx.memory.len() {
        let r = cx.memory[i];
        if next < r.start_pfn {
            count += cx.zero_unavailable_range(next, r.start_pfn, rule);
        }
        next = r.end_pfn;
    }
    if next < end {
        count += cx.zero_unavailable_range(next, end, "tail of the last section");
    }
    if count > 0 {
        cx.log_unavailable(
            alloc::format!("Zeroed struct page in unavailable ranges: {} pages", count),
            crate::memmap::Unavailable { nid: None, zone: None, pages: count },
            true,
        );
    }
    count
}

/// The zone type named by an index that a policy computed (for readability at call sites).
pub(crate) fn zone_at(i: usize) -> ZoneType {
    ZoneType::from_index(i).unwrap_or(ZoneType::Dma)
}

/// `memmap_init_zone(zone)` as Mike Rapoport's v5 (`span-extend`) and v8 (`upstream-5.12`) wrote it: the node's
/// memory ranges clamped to the zone are initialized, each hole before one of them (from `hole_pfn`) gets this
/// zone and node, and the hole after the last one runs to `hole_end`; then the per-zone line
/// `  <zone> zone: N pages in unavailable ranges`. The callers differ in where `hole_pfn` starts (the zone start
/// in v5, a static shared by all calls in v8), where the last hole ends (the zone end in v5, its section end in
/// v8) and whether a range that misses the zone moves `hole_pfn` (v8) or is skipped (v5).
pub(crate) fn memmap_init_zone(
    cx: &mut InitCtx<'_>,
    zone: &crate::zones::Zone,
    ranges: &[MemRange],
    hole_pfn: &mut u64,
    hole_end: u64,
    skip_ranges_outside: bool,
    rules: (&'static str, &'static str),
) -> Result<(), Violation> {
    let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
    let mut pages = 0;
    for r in ranges {
        let (s, e) = (r.start_pfn.clamp(zs, ze), r.end_pfn.clamp(zs, ze));
        if s >= e && skip_ranges_outside {
            continue;
        }
        if e > s {
            cx.init_memory_range(s, e, zone.nid, zone.zone_type)?;
        }
        if *hole_pfn < s {
            pages += cx.init_unavailable_range(*hole_pfn, s, zone.zone_type, zone.nid, rules.0);
        }
        *hole_pfn = e;
    }
    if *hole_pfn < hole_end {
        pages += cx.init_unavailable_range(*hole_pfn, hole_end, zone.zone_type, zone.nid, rules.1);
    }
    if pages > 0 {
        let u = crate::memmap::Unavailable { nid: None, zone: Some(zone.zone_type), pages };
        cx.log_unavailable(upstream::unavailable_line(None, zone.zone_type, pages), u, false);
    }
    Ok(())
}
