//! `span-extend`: Mike Rapoport's v5, the patch under discussion in the seed mail.
//!
//! "mm: refactor initialization of struct page for holes in memory layout" v5
//! (<20210208110820.6269-1-rppt@kernel.org>), as read from the posted diff:
//! - `get_pfn_range_for_nid()` rounds the span of every node with memory out to section boundaries
//!   (`round_down(start, PAGES_PER_SECTION)`, `round_up(end, PAGES_PER_SECTION)`), only under SPARSEMEM;
//! - `free_area_init()` starts the lowest zone at pfn 0 instead of `find_min_pfn_with_active_regions()`, so on
//!   x86 ZONE_DMA of node 0 spans pfn 0;
//! - zone spans are the rounded node spans clamped to the architectural zone limits, as before;
//! - `init_unavailable_mem()` is gone: `memmap_init_zone(zone)` walks the node's memory ranges clamped to the zone,
//!   and initializes each hole between them (from the zone start, up to the zone end) with this zone and node
//!   (`__init_single_page` + PG_reserved), per node in node order, per zone in zone order, printing
//!   `  <zone> zone: N pages in unavailable ranges`.
//!
//! The holes of a node are the gaps between *its own* memory ranges, so where two nodes share a section their
//! rounded spans overlap and the node initialized later overwrites the other's pages in the shared section,
//! memory included: the verifier reports those pages. That is the cost David Hildenbrand and Michal Hocko weighed
//! in the seed thread; v6 dropped the span changes and v8 (0740a50b9baa) merged without them.

use alloc::vec::Vec;

use super::{memmap_init_zone, HolePolicy, Promise};
use crate::consts::PAGES_PER_SECTION;
use crate::layout::MemRange;
use crate::memmap::InitCtx;
use crate::usemap::Violation;
use crate::zones::{ZoneType, Zones};

/// See the module documentation.
pub struct SpanExtend;

impl HolePolicy for SpanExtend {
    // Before 9f9b02e5b346 (v5.12) `pfn_to_online_page` looked at the section only.
    fn online_page_checks_subsection(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "span-extend"
    }
    fn summary(&self) -> &'static str {
        "node spans rounded out to sections, DMA from pfn 0; holes get the zone spanning them (per node, in order)"
    }
    fn history(&self) -> &'static str {
        "Mike Rapoport v5 <20210208110820.6269-1-rppt@kernel.org> (v2 <20201209214304.6812-1-rppt@kernel.org>, v3 d3921cb8be29 reverted 377bf660d07a)"
    }
    fn node_span_align(&self) -> u64 {
        PAGES_PER_SECTION
    }
    fn adjust_zones(&self, zones: &mut Zones, _memory: &[MemRange]) {
        // free_area_init(): start_pfn = 0 instead of find_min_pfn_with_active_regions().
        zones.arch_zone_lowest_possible_pfn[ZoneType::Dma.index()] = 0;
        let dma_end = zones.arch_zone_highest_possible_pfn[ZoneType::Dma.index()];
        for node in zones.nodes.iter_mut() {
            if node.node_spanned_pages == 0 || node.node_start_pfn >= dma_end {
                continue;
            }
            let z = &mut node.zones[ZoneType::Dma.index()];
            let end = if z.spanned_pages > 0 {
                z.zone_end_pfn()
            } else {
                dma_end.min(node.node_start_pfn + node.node_spanned_pages)
            };
            z.zone_start_pfn = node.node_start_pfn;
            z.spanned_pages = end - node.node_start_pfn;
        }
    }
    fn promise(&self) -> Promise {
        Promise {
            all_valid_initialized: true,
            zone_spans_every_valid_pfn: false,
            pageblock_check_clean: false,
            memory_links_exact: false,
        }
    }
    fn memmap_init(&self, cx: &mut InitCtx<'_>) -> Result<(), Violation> {
        for node in cx.zones.nodes.clone() {
            let ranges: Vec<MemRange> = cx.node_ranges(node.nid).collect();
            for zone in node.zones.iter().filter(|z| z.spanned_pages > 0) {
                let mut hole_pfn = zone.zone_start_pfn;
                let rules = ("hole in the zone's rounded span", "hole up to the end of the zone's rounded span");
                memmap_init_zone(cx, zone, &ranges, &mut hole_pfn, zone.zone_end_pfn(), true, rules)?;
            }
        }
        Ok(())
    }
}
