//! `upstream`: the rule Linux settled on (the default).
//!
//! 0740a50b9baa ("mm/page_alloc.c: refactor initialization of struct page for holes in memory layout", v5.12-rc3,
//! Mike Rapoport's v8) plus 122e093c1734 ("mm/page_alloc: fix memory map initialization for descending nodes",
//! v5.14), today `memmap_init` in mm/mm_init.c: walk memblock.memory ranges in ascending address order; for each
//! range, for each populated zone of the range's node, initialize the part of the range the zone spans and then
//! the hole between the end of the previous such part (`hole_pfn`) and the start of this one with the links of
//! *this* zone and node. So a hole inside a zone gets that zone; a hole at a zone or node boundary gets the zone
//! above it; the head before the first range gets the first range's zone. Finally the tail from the end of the
//! last range to its section end gets the highest populated zone of the last range's node ("append the pages in
//! this hole to the highest zone in the last node"). Each hole call prints
//! `On node N, zone Z: K pages in unavailable ranges` when K > 0, after the `Initmem setup` lines. Hole pages
//! are PG_reserved. Node and zone spans are Linux's, so boundary holes and the tail are not spanned.

use super::{zone_at, HolePolicy, Promise};
use crate::consts::{align_up, PAGES_PER_SECTION};
use crate::memmap::{InitCtx, Unavailable};
use crate::usemap::Violation;
use crate::zones::{ZoneType, MAX_NR_ZONES};
use alloc::string::String;

/// See the module documentation.
pub struct Upstream;

/// The unavailable-ranges line: Linux 5.14+ (`Some(nid)`: 122e093c1734) or Mike Rapoport's v5/v8 (`None`).
pub(crate) fn unavailable_line(nid: Option<u32>, zone: ZoneType, pages: u64) -> String {
    match nid {
        Some(nid) => alloc::format!("On node {}, zone {}: {} pages in unavailable ranges", nid, zone.name(), pages),
        None => alloc::format!("  {} zone: {} pages in unavailable ranges", zone.name(), pages),
    }
}

/// `init_unavailable_range` plus its log line.
fn unavailable(cx: &mut InitCtx<'_>, s: u64, e: u64, zone: usize, nid: u32, rule: &'static str) {
    let n = cx.init_unavailable_range(s, e, zone_at(zone), nid, rule);
    if n > 0 {
        let u = Unavailable { nid: Some(nid), zone: Some(zone_at(zone)), pages: n };
        cx.log_unavailable(unavailable_line(Some(nid), zone_at(zone), n), u, false);
    }
}

impl HolePolicy for Upstream {
    fn name(&self) -> &'static str {
        "upstream"
    }
    fn summary(&self) -> &'static str {
        "holes get the zone of the next memory range (the tail: the last node's highest zone), PG_reserved"
    }
    fn history(&self) -> &'static str {
        "Linux 5.12+: 0740a50b9baa (v8 <20210301141640.3209-1-rppt@kernel.org>) + 122e093c1734 (v5.14), mm/mm_init.c memmap_init"
    }
    fn promise(&self) -> Promise {
        Promise {
            all_valid_initialized: true,
            zone_spans_every_valid_pfn: false,
            pageblock_check_clean: false,
            memory_links_exact: true,
        }
    }
    fn memmap_init(&self, cx: &mut InitCtx<'_>) -> Result<(), Violation> {
        let mut hole_pfn = 0u64;
        let (mut zone_id, mut nid, mut end_pfn) = (0usize, 0u32, 0u64);
        for i in 0..cx.memory.len() {
            let r = cx.memory[i];
            nid = r.nid;
            end_pfn = r.end_pfn;
            let Some(node) = cx.zones.node(r.nid) else { continue };
            let zones = node.zones;
            for (j, zone) in zones.iter().enumerate().take(MAX_NR_ZONES) {
                if zone.present_pages == 0 {
                    continue;
                }
                // memmap_init_zone_range
                let (zs, ze) = (zone.zone_start_pfn, zone.zone_end_pfn());
                let (s, e) = (r.start_pfn.clamp(zs, ze), r.end_pfn.clamp(zs, ze));
                if s < e {
                    cx.init_memory_range(s, e, r.nid, zone.zone_type)?;
                    if hole_pfn < s {
                        unavailable(cx, hole_pfn, s, j, r.nid, "hole below a memory range: that range's zone");
                    }
                    hole_pfn = e;
                }
                zone_id = j;
            }
        }
        let end = align_up(end_pfn, PAGES_PER_SECTION);
        if hole_pfn < end {
            unavailable(cx, hole_pfn, end, zone_id, nid, "tail of the last section: last node's highest zone");
        }
        Ok(())
    }
}
