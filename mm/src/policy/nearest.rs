//! `nearest` (the example policy of the README's "write your own policy"): a hole page gets the links of the
//! nearest memory page (the lower one on a tie). Spans are Linux's, so holes at zone and node boundaries stay
//! unspanned: this policy exists to show how a policy is written and compared, not to fix the invariant.
//!
//! The rule, for each run of valid holes `[a, b)`: pages below the midpoint `a + (b - a) / 2` take the zone and
//! node of the memory page `a - 1`, the rest those of the memory page `b` (the head of the address space and the
//! tail of the last section have memory on one side only and take it).

use super::strict::valid_holes;
use super::{HolePolicy, Promise};
use crate::memmap::InitCtx;
use crate::usemap::Violation;
use crate::zones::ZoneType;

/// See the module documentation.
pub struct Nearest;

impl HolePolicy for Nearest {
    fn name(&self) -> &'static str {
        "nearest"
    }
    fn summary(&self) -> &'static str {
        "example: a hole page gets the links of the nearest memory page"
    }
    fn history(&self) -> &'static str {
        "ours: the README's example policy"
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
        super::init_memory_by_zone(cx)?;
        for (a, b) in valid_holes(cx.memory) {
            let links = |pfn: u64| -> Option<(u32, ZoneType)> {
                let r = cx.memory.iter().find(|r| r.start_pfn <= pfn && pfn < r.end_pfn)?;
                cx.zones.zone_for_pfn(r.nid, pfn).map(|z| (r.nid, z))
            };
            let below = a.checked_sub(1).and_then(links);
            let above = links(b);
            let mid = match (below, above) {
                (Some(_), Some(_)) => a + (b - a) / 2,
                (Some(_), None) => b,
                _ => a,
            };
            if let Some((nid, z)) = below {
                cx.init_unavailable_range(a, mid, z, nid, "nearest memory page is below");
            }
            if let Some((nid, z)) = above {
                cx.init_unavailable_range(mid, b, z, nid, "nearest memory page is above");
            }
        }
        Ok(())
    }
}
