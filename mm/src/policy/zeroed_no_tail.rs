//! `zeroed-no-tail`: Linux 4.17-5.5.
//!
//! `zero_resv_unavail()` (a4a3ede2132a "mm: zero reserved and unavailable struct pages", v4.17) zeroes the struct
//! pages of the holes between memblock.memory ranges from pfn 0 up to `max_pfn` and marks them PG_reserved: their
//! flags word is all zero but for PG_reserved, so they claim node 0, zone 0 (DMA) and section 0. Holes whose
//! pageblock has no memmap are skipped a pageblock at a time. The struct pages between `max_pfn` and the end of
//! the last section are pfn_valid (early section) but nobody initializes them: they keep the poison pattern
//! (garbage without CONFIG_DEBUG_VM), the case e822969cab48 fixed in v5.6.

use super::{init_memory_by_zone, zero_holes_until, HolePolicy, Promise};
use crate::memmap::InitCtx;
use crate::usemap::Violation;

/// See the module documentation.
pub struct ZeroedNoTail;

impl HolePolicy for ZeroedNoTail {
    // Before 9f9b02e5b346 (v5.12) `pfn_to_online_page` looked at the section only.
    fn online_page_checks_subsection(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "zeroed-no-tail"
    }
    fn summary(&self) -> &'static str {
        "holes below max_pfn zeroed + PG_reserved (node 0, zone 0); the tail of the last section left uninitialized"
    }
    fn history(&self) -> &'static str {
        "Linux 4.17-5.5: zero_resv_unavail (a4a3ede2132a); tail fixed by e822969cab48 in 5.6"
    }
    fn promise(&self) -> Promise {
        Promise {
            all_valid_initialized: false,
            zone_spans_every_valid_pfn: false,
            pageblock_check_clean: false,
            memory_links_exact: true,
        }
    }
    fn memmap_init(&self, cx: &mut InitCtx<'_>) -> Result<(), Violation> {
        zero_holes_until(cx, cx.max_pfn, "hole between memory ranges: zeroed");
        init_memory_by_zone(cx)
    }
}
