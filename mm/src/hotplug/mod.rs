//! Memory hotplug in the model: add (sections with subsection granularity, memmap poisoned until online),
//! online (the range moved into a zone, spans grown, pages initialized and handed to the buddy allocator),
//! offline (isolated, taken out of the buddy allocator, re-poisoned, spans shrunk) and remove (subsections and
//! sections gone, memmap given back). The rules are Linux's mm/memory_hotplug.c and mm/sparse.c (v6.x), function
//! names cited where each lives; the pfn walkers then run over the grown spans, which is where the seed mail's
//! "the node/zone gets resized such that PFN walkers might stumble over it" shows.
//!
//! - **add** (`add_memory_resource` -> `arch_add_memory` -> `__add_pages` -> `sparse_add_section`): the range
//!   must be whole memory blocks (`check_hotplug_memory_range`; [`Mm::arch_add_memory`], ZONE_DEVICE's way in,
//!   takes subsection-aligned (2 MiB) ranges), on an existing node, below MAX_PHYSMEM_BITS and free of present memory;
//!   each section without a memmap gets one at the physical address the caller allocated (on the DIMM's node,
//!   or on the new memory itself for memmap-on-memory), poisoned (`page_init_poison`), not online; the subsection
//!   bits make `pfn_valid` true per subsection; memblock.memory gets the range (`memblock_add_node`, as with
//!   CONFIG_ARCH_KEEP_MEMBLOCK);
//! - **memmap on memory** ([`Mm::add_memory_memmap_on_memory`], Linux's `memory_hotplug.memmap_on_memory`,
//!   `MHP_MEMMAP_ON_MEMORY`): the range's own first pages hold its memmap (one 2 MiB block per section); they are
//!   reserved in memblock (`memmap`), initialized with the range's zone and PG_reserved at online, in pageblocks
//!   marked MIGRATE_UNMOVABLE (`mhp_init_memmap_on_memory`), counted present but not managed, never handed to
//!   the buddy allocator, and not freed at remove (they go with the DIMM);
//! - **zone choice** ([`OnlinePolicy`]): `movable` is ZONE_MOVABLE; `normal` is `default_kernel_zone_for_pfn` (the
//!   first zone below Normal the range intersects, else Normal); `auto` is Linux's default `contig-zones`
//!   (`default_zone_for_pfn`): the kernel zone or ZONE_MOVABLE if the range intersects exactly one of them,
//!   else the kernel zone;
//! - **online** (`online_pages`): `move_pfn_range_to_zone` grows the zone (`resize_zone_range`) and node
//!   (`resize_pgdat_range`) spans and runs `memmap_init_range(MEMINIT_HOTPLUG, MIGRATE_ISOLATE)` over the range
//!   (checked pageblock writes, call site `move_pfn_range_to_zone`); present counts grow; the sections go online;
//!   the pageblocks become MIGRATE_MOVABLE (`undo_isolate_page_range`, done here before the hand-over rather than
//!   after: nothing can allocate in between, and the free blocks then land on the MOVABLE lists directly) and
//!   the pages are handed over (`online_pages_range`);
//! - **offline** (`offline_pages`): the range must be online and in one zone (`test_pages_in_a_zone`); its
//!   pageblocks are isolated (`start_isolate_page_range`, checked writes); every page must be free
//!   (`test_pages_isolated`: with no page migration here, an allocated page makes the offline fail, and the
//!   isolation is undone); the free blocks leave the buddy allocator (`__offline_isolated_pages`); present and
//!   managed drop; the sections go offline; the struct pages are poisoned again and the spans shrink
//!   (`remove_pfn_range_from_zone` -> `shrink_zone_span` / `update_pgdat_span`, which look for the new zone edge
//!   among online subsections whose *struct page* names the zone: so a boot-time hole initialized with the zone's
//!   links keeps the zone spanning it, and one zeroed by a 5.x policy does not);
//! - **remove** (`__remove_pages` -> `sparse_remove_section`): the range must be offline; its subsection bits are
//!   cleared; a section left with none loses its memmap (whose physical address is returned to the caller to
//!   free) and its presence; memblock.memory loses the range.
//!
//! Files: `add` (add and remove memory), `online` (the zone chosen, online and offline), `span` (spans after
//! offlining); this file keeps the options, the errors and the helpers they share.
//!
//! # Invariants
//! - every step checks its preconditions first and changes nothing when they fail (a named [`HotplugError`]);
//! - after every step the verifier's accounting holds (free + allocated + reserved = present per zone) and the
//!   buddy allocator's own check passes; spans only cover pfns whose sections are present or were at boot.

use alloc::vec::Vec;
use core::fmt;

use crate::buddy::{Buddy, BuddyError, OfflineError};
use crate::consts::*;
use crate::layout::ReserveReason;
use crate::model::Mm;
use crate::page::Page;
use crate::sparse::{migratetype, subsection_index, SparseError};
use crate::usemap::Violation;
use crate::zones::ZoneType;

mod add;
mod online;
mod span;

/// `online_policy=`: which zone onlined memory goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlinePolicy {
    Movable,
    Normal,
    Auto,
}

impl OnlinePolicy {
    pub const ALL: [OnlinePolicy; 3] = [OnlinePolicy::Movable, OnlinePolicy::Normal, OnlinePolicy::Auto];

    pub const fn name(self) -> &'static str {
        match self {
            OnlinePolicy::Movable => "movable",
            OnlinePolicy::Normal => "normal",
            OnlinePolicy::Auto => "auto",
        }
    }

    pub fn by_name(s: &str) -> Option<OnlinePolicy> {
        OnlinePolicy::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Why a hotplug step was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// Zero pages.
    Empty,
    /// Start or size not a multiple of 2 MiB (PAGES_PER_SUBSECTION).
    Unaligned {
        start_pfn: u64,
        nr_pages: u64,
    },
    /// Start or size not a multiple of the memory block size: Linux's `add_memory_resource` refuses it
    /// (`check_hotplug_memory_range`: "Block size [%#lx] unaligned hotplug range").
    BlockUnaligned {
        start_pfn: u64,
        nr_pages: u64,
        block_pages: u64,
    },
    /// The node does not exist.
    BadNode {
        nid: u32,
        nr_nodes: usize,
    },
    /// The range ends beyond MAX_PHYSMEM_BITS.
    BeyondPhysmem {
        pfn: u64,
    },
    /// The range overlaps present memory (a subsection already added, or boot memory).
    Overlaps {
        pfn: u64,
    },
    /// The caller gave memmap addresses for a different number of sections than need one.
    MemmapCount {
        needed: usize,
        given: usize,
    },
    /// A pfn of the range was never added.
    NotAdded {
        pfn: u64,
    },
    /// Online: a pfn of the range is online already. Remove: a pfn is still online.
    Online {
        pfn: u64,
    },
    /// Offline: a pfn of the range is not online.
    NotOnline {
        pfn: u64,
    },
    /// Offline: the range spans more than one zone (`test_pages_in_a_zone`).
    NotOneZone {
        pfn: u64,
    },
    /// The zone does not exist on the node.
    NoZone {
        nid: u32,
        zone: ZoneType,
    },
    /// `vm_debug=panic` and a pageblock write hit the invariant.
    Violation {
        pfn: u64,
        site: &'static str,
    },
    Sparse(SparseError),
    Buddy(BuddyError),
    /// Offline: a page is busy or a free block straddles the range.
    Offline(OfflineError),
}

impl fmt::Display for HotplugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HotplugError::Empty => write!(f, "hotplug: empty range"),
            HotplugError::Unaligned { start_pfn, nr_pages } => write!(
                f,
                "hotplug: range pfn {:#x} + {:#x} pages is not aligned to a subsection ({} pages)",
                start_pfn, nr_pages, PAGES_PER_SUBSECTION
            ),
            HotplugError::BlockUnaligned { start_pfn, nr_pages, block_pages } => write!(
                f,
                "hotplug: Block size [{:#x}] unaligned hotplug range: start {:#x}, size {:#x}",
                block_pages << PAGE_SHIFT,
                start_pfn << PAGE_SHIFT,
                nr_pages << PAGE_SHIFT
            ),
            HotplugError::BadNode { nid, nr_nodes } => {
                write!(f, "hotplug: node {} does not exist ({} nodes)", nid, nr_nodes)
            }
            HotplugError::BeyondPhysmem { pfn } => write!(f, "hotplug: pfn {:#x} is beyond MAX_PHYSMEM_BITS", pfn),
            HotplugError::Overlaps { pfn } => write!(f, "hotplug: pfn {:#x} is present memory already", pfn),
            HotplugError::MemmapCount { needed, given } => {
                write!(f, "hotplug: {} sections need a memmap, {} memmap addresses given", needed, given)
            }
            HotplugError::NotAdded { pfn } => write!(f, "hotplug: pfn {:#x} was not added", pfn),
            HotplugError::Online { pfn } => write!(f, "hotplug: pfn {:#x} is online", pfn),
            HotplugError::NotOnline { pfn } => write!(f, "hotplug: pfn {:#x} is not online", pfn),
            HotplugError::NotOneZone { pfn } => {
                write!(f, "hotplug: pfn {:#x} is in another zone than the range start", pfn)
            }
            HotplugError::NoZone { nid, zone } => write!(f, "hotplug: node {} has no zone {}", nid, zone.name()),
            HotplugError::Violation { pfn, site } => {
                write!(f, "hotplug: pageblock invariant violated at pfn {:#x} in {}", pfn, site)
            }
            HotplugError::Sparse(e) => write!(f, "hotplug: {}", e),
            HotplugError::Buddy(e) => write!(f, "hotplug: {}", e),
            HotplugError::Offline(e) => write!(f, "hotplug: offline: {}", e),
        }
    }
}

impl From<Violation> for HotplugError {
    fn from(v: Violation) -> Self {
        HotplugError::Violation { pfn: v.pfn, site: v.site }
    }
}

/// What an online or offline did to the spans: `(start, end)` before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanChange {
    pub nid: u32,
    pub zone: ZoneType,
    pub zone_before: (u64, u64),
    pub zone_after: (u64, u64),
    pub node_before: (u64, u64),
    pub node_after: (u64, u64),
}

impl fmt::Display for SpanChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} zone {}: zone span {:#x}-{:#x} -> {:#x}-{:#x}, node span {:#x}-{:#x} -> {:#x}-{:#x}",
            self.nid,
            self.zone.name(),
            self.zone_before.0,
            self.zone_before.1,
            self.zone_after.0,
            self.zone_after.1,
            self.node_before.0,
            self.node_before.1,
            self.node_after.0,
            self.node_after.1
        )
    }
}

/// Calls `f` with the struct pages of `[start, end)`, one section's part at a time (sections without a memmap are
/// skipped), and the first pfn of each part.
fn for_each_section_part(mm: &mut Mm, start: u64, end: u64, mut f: impl FnMut(u64, &mut [Page])) {
    let mut pfn = start;
    while pfn < end {
        let nr = pfn_to_section_nr(pfn);
        let sec_start = section_nr_to_pfn(nr);
        let chunk_end = (sec_start + PAGES_PER_SECTION).min(end);
        if let Some(pages) = mm.sparse.section_pages_mut(nr) {
            f(pfn, &mut pages[(pfn - sec_start) as usize..(chunk_end - sec_start) as usize]);
        }
        pfn = chunk_end;
    }
}

/// `zone_intersects`.
fn zone_intersects(start: u64, end: u64, zs: u64, ze: u64) -> bool {
    zs < ze && start < ze && zs < end
}
