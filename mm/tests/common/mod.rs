//! Shared helpers of mm's integration tests: the random-layout strategy.

use mm::consts::{align_up, PAGES_PER_SECTION};
use mm::layout::MemRange;
use proptest::prelude::*;

/// Random memblock layouts: up to `max_ranges - 1` ranges of up to `max_len - 1` pages on nodes below
/// `max_nodes`, each after a gap of one of four kinds: none (adjacent), small (< 3000 pages), whole sections (1 to
/// `max_gap_sections`), or up to just below the next 4 GiB boundary (so ranges straddle zone boundaries). Node ids
/// are random, so nodes come in any address order, interleave, and some ids have no memory.
pub fn layout_strategy(
    max_ranges: usize,
    max_len: u64,
    max_nodes: u32,
    max_gap_sections: u64,
) -> impl Strategy<Value = Vec<MemRange>> {
    (0u64..0x1800, prop::collection::vec((0u8..4, 1u64..3000, 1u64..max_len, 0u32..max_nodes), 1..max_ranges)).prop_map(
        move |(start, parts)| {
            let mut out: Vec<MemRange> = Vec::new();
            let mut pfn = start.max(1);
            for (kind, gap, len, nid) in parts {
                pfn += match kind {
                    0 => 0,
                    1 => gap,
                    2 => (gap % max_gap_sections + 1) * PAGES_PER_SECTION,
                    _ => {
                        let target = align_up(pfn + 1, 0x100000);
                        target.saturating_sub(gap).max(pfn) - pfn
                    }
                };
                out.push(MemRange { start_pfn: pfn, end_pfn: pfn + len, nid });
                pfn += len;
            }
            out
        },
    )
}
