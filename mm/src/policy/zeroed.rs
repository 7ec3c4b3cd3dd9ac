//! `zeroed`: Linux 5.6-5.11.
//!
//! `init_unavailable_mem()` zeroes the struct pages of every hole between memblock.memory ranges and, since
//! e822969cab48 ("drivers/base/memory.c: initialize the memmap of unavailable ranges", v5.6), also the tail from
//! `max_pfn` to the end of its section, and marks them PG_reserved: node 0, zone 0 (DMA), section 0. It prints
//! `Zeroed struct page in unavailable ranges: N pages` before the `Initmem setup node` lines, counting only pages
//! whose pageblock has a memmap (the pageblock-granular `pfn_valid` skip). Memory pages are initialized per node
//! and zone by `memmap_init` iterating memblock ranges (73a6e474cb37, v5.8), so a hole inside DMA32 carries DMA
//! links: the page Andrea Arcangeli's VM_BUG_ON tripped over (<20201121194506.13464-1-aarcange@redhat.com>).

use super::{init_memory_by_zone, zero_holes_until, HolePolicy, Promise};
use crate::consts::{align_up, PAGES_PER_SECTION};
use crate::memmap::InitCtx;
use crate::usemap::Violation;

/// See the module documentation.
pub struct Zeroed;

/// Shared with `reserved-relaxed`.
pub(crate) fn zeroed_init(cx: &mut InitCtx<'_>) -> Result<(), Violation> {
    zero_holes_until(cx, align_up(cx.max_pfn, PAGES_PER_SECTION), "hole between memory ranges: zeroed");
    init_memory_by_zone(cx)
}

impl HolePolicy for Zeroed {
    // Before 9f9b02e5b346 (v5.12) `pfn_to_online_page` looked at the section only.
    fn online_page_checks_subsection(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "zeroed"
    }
    fn summary(&self) -> &'static str {
        "holes and the tail of the last section zeroed + PG_reserved: node 0, zone 0 (DMA)"
    }
    fn history(&self) -> &'static str {
        "Linux 5.6-5.11: init_unavailable_mem (e822969cab48, 4b094b7851bf); memmap_init over memblock 73a6e474cb37"
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
        zeroed_init(cx)
    }
}
