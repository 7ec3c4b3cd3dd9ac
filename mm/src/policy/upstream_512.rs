//! `upstream-5.12`: Linux 5.12-5.13, the rule as first merged (0740a50b9baa, Mike Rapoport's v8
//! <20210225224351.7356-1-rppt@kernel.org>), before the descending-nodes fix 122e093c1734.
//!
//! `memmap_init_zone(zone)` runs per node (in node id order) and per zone, with a `static hole_pfn` shared by
//! all calls: it walks the node's memory ranges clamped to the zone, initializes the memory, and the hole between
//! `hole_pfn` and the range with this zone and node; then it initializes `[hole_pfn, round_up(zone_end_pfn,
//! PAGES_PER_SECTION))` ("if zone boundary falls in the middle of a section, this hole will be re-initialized
//! during the call to this function for the higher zone"). Each zone prints
//! `  <zone> zone: N pages in unavailable ranges`.
//!
//! With nodes in ascending address order the result equals `upstream`. With a node *below* a lower-numbered node
//! (the Dell T5500 of kernel bugzilla 213073), the node initialized first starts with `hole_pfn = 0` and its hole
//! covers the other node's memory, and the lower node's section-tail init runs over the first pages of the
//! higher node, which were already initialized: those memory pages end up with the wrong node (the verifier's
//! "memory page with wrong links"), the crash 122e093c1734 fixed by walking memblock ranges in address order.

use super::{memmap_init_zone, HolePolicy, Promise};
use crate::consts::{align_up, PAGES_PER_SECTION};
use crate::layout::MemRange;
use crate::memmap::InitCtx;
use crate::usemap::Violation;
use alloc::vec::Vec;

/// See the module documentation.
pub struct Upstream512;

impl HolePolicy for Upstream512 {
    fn name(&self) -> &'static str {
        "upstream-5.12"
    }
    fn summary(&self) -> &'static str {
        "Linux 5.12-5.13: per node and zone with a static hole_pfn; section tails re-initialized (descending-node bug)"
    }
    fn history(&self) -> &'static str {
        "0740a50b9baa (v5.12-rc3, v8 <20210225224351.7356-1-rppt@kernel.org>); fixed by 122e093c1734 (v5.14, bugzilla 213073)"
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
        let mut hole_pfn = 0u64;
        for node in cx.zones.nodes.clone() {
            let ranges: Vec<MemRange> = cx.node_ranges(node.nid).collect();
            for zone in node.zones.iter().filter(|z| z.spanned_pages > 0) {
                let end = align_up(zone.zone_end_pfn(), PAGES_PER_SECTION);
                let rules =
                    ("hole below a range of this node and zone (static hole_pfn)", "zone end to its section end");
                memmap_init_zone(cx, zone, &ranges, &mut hole_pfn, end, false, rules)?;
            }
        }
        Ok(())
    }
}
