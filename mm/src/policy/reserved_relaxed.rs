//! `reserved-relaxed`: Michal Hocko's proposal in the seed thread (Feb 2021).
//!
//! Keep `zeroed`'s struct pages (holes are PG_reserved with node 0 / zone 0 links) and make the pageblock check
//! "less offensive in presence of reserved pages": `set_pfnblock_flags_mask` tolerates a PG_reserved page whose
//! zone does not span the pfn ("Touching a reserved page which doesn't belong to you is a bug"). Links stay
//! wrong; only the VM_BUG_ON is quiet. Lore: the seed mail, and <20210212101516.GS4567@dhcp22.suse.cz> upthread.

use super::zeroed::zeroed_init;
use super::{HolePolicy, Promise};
use crate::memmap::InitCtx;
use crate::usemap::Violation;

/// See the module documentation.
pub struct ReservedRelaxed;

impl HolePolicy for ReservedRelaxed {
    // Before 9f9b02e5b346 (v5.12) `pfn_to_online_page` looked at the section only.
    fn online_page_checks_subsection(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "reserved-relaxed"
    }
    fn summary(&self) -> &'static str {
        "as zeroed, and the pageblock check tolerates PG_reserved pages"
    }
    fn history(&self) -> &'static str {
        "Michal Hocko, Feb 2021, in reply to Mike Rapoport's v5 <20210208110820.6269-1-rppt@kernel.org>"
    }
    fn tolerates_reserved(&self) -> bool {
        true
    }
    fn promise(&self) -> Promise {
        Promise {
            all_valid_initialized: true,
            zone_spans_every_valid_pfn: false,
            pageblock_check_clean: true,
            memory_links_exact: true,
        }
    }
    fn memmap_init(&self, cx: &mut InitCtx<'_>) -> Result<(), Violation> {
        zeroed_init(cx)
    }
}
