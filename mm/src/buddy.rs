//! The buddy page allocator: per-zone free areas with migratetypes, lists threaded through the struct pages,
//! the boot-time hand-over of every free page (`memblock_free_all`), `alloc_pages` with a NUMA zonelist and
//! migratetype fallback stealing, and `free_pages` with buddy merging.
//!
//! ```text
//!  Buddy.zones[nid * 4 + zone]            (flat: one FreeZone per node and zone type, zone span kept)
//!     free_area[order 0..=10][migratetype 0..5]  = Buddy.heads[(zone * 11 + order) * 5 + mt]
//!
//!   head (LIST_HEAD_BIT | index)
//!     next ──► page A.lru_next ──► page B.lru_next ──► head        (pfns, not pointers)
//!     prev ◄── page A.lru_prev ◄── page B.lru_prev ◄── head
//!   page A: PageBuddy (page type PG_BUDDY), private = order, refcount 0, the head of 2^order free pages
//!   tail pages of a free block: no page type, refcount 0
//!   allocated block: head refcount 1 and private = order (our record, see below), tails refcount 0
//! ```
//!
//! This module owns the allocator state (`Buddy`); the struct pages and the usemap stay in [`Sparse`], the zone
//! spans in [`Zones`], the pageblock checker in the [`Mm`] the allocator was built from. Every method takes that
//! same `Mm`. Each zone's free area, counters and stats sit behind that zone's own `spin::Mutex`, and a struct page
//! is written only under the lock of the zone it is linked to ([`crate::zonelock`], which holds the `unsafe`):
//! [`Buddy::shared`] gives an [`Allocator`] that several CPUs use at once; `alloc_pages` locks the zones of its
//! zonelist one at a time, `free_pages` the page's zone only. The rules are Linux's mm/page_alloc.c (function names cited where each rule lives):
//! - **hand-over** (`memblock_free_all` → `__free_pages_memory` → `memblock_free_pages` → `__free_pages_core`):
//!   every memory page not reserved in memblock is freed into `page_zone(page)` (the zone its links name, which
//!   must span it), in max-order aligned chunks that never cross a zone boundary or a hole, with PG_reserved
//!   cleared and refcount 0 on every page (one pass over the struct pages, as Linux) and `managed_pages`
//!   counting what was handed over; chunks go to the tail of their lists (FPI_TO_TAIL, 7fef431be9c9) and merge
//!   through `__free_one_page`. Under `span-extend`, whose hole init may relink memory pages to another node,
//!   those pages go where their links say, as they would in Linux.
//!   Each chunk takes its pageblock's migratetype from the usemap (MOVABLE after memmap init; a pageblock whose
//!   first pfn is not memory keeps 0, UNMOVABLE, as in Linux).
//! - **allocation** (`get_page_from_freelist` over the zonelist, `__rmqueue`): the preferred node's zones from
//!   the highest allowed one down, then the other nodes by distance (ZONELIST_FALLBACK, `build_zonelists`);
//!   `__rmqueue_smallest` + `expand`; when the migratetype's lists are empty, `__rmqueue_fallback` with Linux's
//!   `fallbacks[]` table and `can_steal_fallback` (whole pageblock from order >= pageblock_order / 2, always for
//!   UNMOVABLE and RECLAIMABLE), claiming a pageblock when at least half of it is free (`steal_suitable_fallback`
//!   / `try_to_claim_block`). There are no watermarks, no lowmem_reserve, no per-cpu lists, no CMA and no
//!   highatomic reserves: a zone serves while it has a block of the order.
//! - **stealing a pageblock** (`move_freepages_block`): the block's free pages move to the new migratetype's
//!   lists and the pageblock migratetype is written through the *checked* `set_pfnblock_flags_mask` (call site
//!   `"move_freepages_block"`), at the first pfn of the range it may touch: so the `zone_spans_pfn` invariant is
//!   exercised by allocation traffic, and under `zeroed` a hole page at a pageblock start inside a zone's span is
//!   caught exactly as Andrea Arcangeli's kernel caught pfn 0x39800. The range stays inside the zone (Vlastimil
//!   Babka's 6e2b7044c199 and `pageblock_pfn_to_page`): a pageblock whose end lies outside the zone is skipped,
//!   one whose start lies outside is clamped to the zone start (Linux 4.x-6.9 clamp to the stolen page; the
//!   zone start covers the same pages and the free ones before it), and both are counted in [`BuddyStats`].
//!   Large blocks (>= pageblock_order) change every pageblock they cover (`change_pageblock_range`).
//! - **free** (`__free_one_page`): merge with the buddy `pfn ^ (1 << order)` while it is PageBuddy with the same
//!   order and the same zone id (`page_is_buddy`): never across a zone boundary, never with a hole (hole pages
//!   never carry PG_buddy); above pageblock_order a HIGHATOMIC or ISOLATE pageblock merges only with its own
//!   type; the result goes to the tail when its higher-order buddy is free (`buddy_merge_likely`).
//!
//! Departures, all for checkability: an allocated block's head keeps its order in `private` (Linux clears it;
//! compound pages keep theirs in the first tail), so that `free_pages` can reject a wrong order; a bad call
//! (double free, a pfn never allocated, a tail page, a wrong order, a reserved page, an out-of-range pfn) returns
//! a named error and changes nothing, where Linux would corrupt its lists or hit `bad_page`. The lists do not
//! follow the 6.10 "freelist hygiene" rule (list type == pageblock type): like Linux before 6.10, a free block's
//! list may differ from its pageblock's migratetype after a partial steal. Free pages on ISOLATE lists count as
//! free. A VM_BUG_ON of the pageblock check in `vm_debug=panic` mode is recorded in the `Mm`'s checker and the
//! step that needed the write (the claim, the merge) is not done; nothing panics.
//!
//! # Invariants (checked by [`Buddy::check`])
//! - for every zone: the pages on its lists == its free counter; `nr_free[order]` == blocks on the lists of that
//!   order; a list is non-empty iff its bit in `nonempty` is set;
//! - every free block is aligned to its order, inside its zone's span, all its pages are memory, not reserved
//!   and linked to the zone; its head is PageBuddy with `private == order`, its tails have no type, refcount 0;
//! - every other managed page is in exactly one allocated block; allocated + free + reserved == present and
//!   allocated + free == managed for every zone (under `span-extend`, which may relink memory pages to another
//!   node, present is compared in total only).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::consts::*;
use crate::model::Mm;
use crate::page::{pg, Page, LIST_HEAD_BIT, NODES_PGOFF, NODES_WIDTH, PG_BUDDY, ZONES_PGOFF, ZONES_WIDTH};
use crate::sparse::{migratetype, Sparse, SparseError};
pub use crate::zonelock::Allocator;
use crate::zonelock::{zone_id_of_flags, ZonePages};
use crate::zones::{ZoneType, Zones, MAX_NR_ZONES};
use spin::Mutex;

mod hotplug;
pub use hotplug::OfflineError;

/// Orders 0..=MAX_PAGE_ORDER (NR_PAGE_ORDERS).
pub const NR_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
/// Migratetypes with free lists: UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC, ISOLATE.
pub const NR_MIGRATETYPES: usize = 5;
/// Node distance of a node to itself and to others when no distance matrix is given (LOCAL/REMOTE_DISTANCE).
pub const LOCAL_DISTANCE: u8 = 10;
pub const REMOTE_DISTANCE: u8 = 20;

/// `page_zone_id`: the NODE | ZONE bits of the flags word, which are contiguous, so the id is `nid * 4 + zone`.
const ZONEID_BITS: u32 = NODES_WIDTH + ZONES_WIDTH;
pub(crate) const ZONEID_MASK: u64 = (1 << ZONEID_BITS) - 1;
const _: () = assert!(NODES_PGOFF == ZONES_PGOFF + ZONES_WIDTH && (1 << ZONES_WIDTH) == MAX_NR_ZONES);

/// Linux's `fallbacks[]` (mm/page_alloc.c): where an allocation of a migratetype steals from.
const FALLBACKS: [[u64; 2]; 3] = [
    [migratetype::RECLAIMABLE, migratetype::MOVABLE],   // UNMOVABLE
    [migratetype::RECLAIMABLE, migratetype::UNMOVABLE], // MOVABLE
    [migratetype::UNMOVABLE, migratetype::MOVABLE],     // RECLAIMABLE
];

#[inline]
fn page_zone_id(page: &Page) -> usize {
    zone_id_of_flags(page.flags)
}

/// `_mapcount` of a free block's head: no type but PG_buddy.
const BUDDY_MAPCOUNT: i32 = !PG_BUDDY as i32;

/// Orders of one migratetype take 16 slots of a zone's heads, so a head index splits into its migratetype and its
/// order with a shift: `(mt << 4) | order`.
const ORDER_SLOTS: usize = 16;
const _: () = assert!(NR_ORDERS <= ORDER_SLOTS);

#[inline(always)]
const fn head_index(order: usize, mt: usize) -> usize {
    (mt * ORDER_SLOTS) | order
}

/// `migratetype_is_mergeable`: the three types that may merge with each other above pageblock_order.
#[inline]
fn mergeable(mt: u64) -> bool {
    mt <= migratetype::RECLAIMABLE
}

/// A failure of [`Buddy::from_boot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuddyError {
    /// The distance matrix is not `nodes * nodes` entries.
    BadDistanceMatrix { nodes: usize, len: usize },
    /// Materializing a compressed section failed.
    Sparse(SparseError),
    /// A memory page to hand over has no struct page.
    NoStructPage { pfn: u64 },
    /// A memory page to hand over was never initialized.
    Poisoned { pfn: u64 },
    /// A memory page is linked to a node the zones do not have.
    NoZone { pfn: u64, nid: u32 },
    /// A memory page is linked to a zone that does not span it (Linux's `bad_range`).
    OutsideLinkedZone { pfn: u64, nid: u32, zone: ZoneType },
}

impl fmt::Display for BuddyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BuddyError::BadDistanceMatrix { nodes, len } => {
                write!(f, "buddy: distance matrix has {} entries, {} nodes need {}", len, nodes, nodes * nodes)
            }
            BuddyError::Sparse(e) => write!(f, "buddy: {}", e),
            BuddyError::NoStructPage { pfn } => write!(f, "buddy: memory pfn {:#x} has no struct page", pfn),
            BuddyError::Poisoned { pfn } => write!(f, "buddy: memory pfn {:#x} is uninitialized (poisoned)", pfn),
            BuddyError::NoZone { pfn, nid } => {
                write!(f, "buddy: memory pfn {:#x} is linked to node {}, which does not exist", pfn, nid)
            }
            BuddyError::OutsideLinkedZone { pfn, nid, zone } => write!(
                f,
                "buddy: memory pfn {:#x} is linked to node {} zone {}, which does not span it",
                pfn,
                nid,
                zone.name()
            ),
        }
    }
}

impl From<SparseError> for BuddyError {
    fn from(e: SparseError) -> Self {
        BuddyError::Sparse(e)
    }
}

/// A failure of [`Buddy::alloc_pages`]. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// `order > MAX_PAGE_ORDER`.
    BadOrder { order: u32 },
    /// Not UNMOVABLE, MOVABLE, RECLAIMABLE or HIGHATOMIC (nothing allocates from ISOLATE).
    BadMigratetype { migratetype: u64 },
    /// The preferred node does not exist.
    BadNode { nid: u32 },
    /// No zone of the zonelist has a free block of the order.
    NoMemory { order: u32, highest_zone: ZoneType, nid: u32 },
    /// A list link names a pfn without a struct page: the memmap was changed behind the allocator's back.
    Corrupted { pfn: u64 },
    /// The `Mm` is not the one the allocator was built from.
    OtherMm,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::BadOrder { order } => {
                write!(f, "alloc_pages: order {} exceeds MAX_PAGE_ORDER {}", order, MAX_PAGE_ORDER)
            }
            AllocError::BadMigratetype { migratetype: mt } => {
                write!(f, "alloc_pages: cannot allocate migratetype {} ({})", mt, migratetype::name(mt))
            }
            AllocError::BadNode { nid } => write!(f, "alloc_pages: node {} does not exist", nid),
            AllocError::NoMemory { order, highest_zone, nid } => write!(
                f,
                "alloc_pages: no free block of order {} in zones up to {} from node {}",
                order,
                highest_zone.name(),
                nid
            ),
            AllocError::Corrupted { pfn } => {
                write!(f, "alloc_pages: free list names pfn {:#x} without struct page", pfn)
            }
            AllocError::OtherMm => write!(f, "alloc_pages: the memory model is not the allocator's"),
        }
    }
}

/// A rejected [`Buddy::free_pages`]. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// `order > MAX_PAGE_ORDER`.
    BadOrder { order: u32 },
    /// The pfn is not aligned to the order.
    Unaligned { pfn: u64, order: u32 },
    /// The pfn has no struct page.
    NoStructPage { pfn: u64 },
    /// The struct page was never initialized.
    Poisoned { pfn: u64 },
    /// The page is PG_reserved: never handed to the allocator.
    Reserved { pfn: u64 },
    /// The page heads a free block already (PageBuddy).
    DoubleFree { pfn: u64, free_order: u32 },
    /// The page is not the head of an allocated block (free tail, allocated tail, never allocated).
    NotAllocated { pfn: u64 },
    /// The block was allocated with another order.
    WrongOrder { pfn: u64, allocated: u32, given: u32 },
    /// The page's links name no zone of the allocator.
    NotManaged { pfn: u64 },
    /// A list link names a pfn without a struct page: the memmap was changed behind the allocator's back.
    Corrupted { pfn: u64 },
    /// The `Mm` is not the one the allocator was built from.
    OtherMm,
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreeError::BadOrder { order } => {
                write!(f, "free_pages: order {} exceeds MAX_PAGE_ORDER {}", order, MAX_PAGE_ORDER)
            }
            FreeError::Unaligned { pfn, order } => {
                write!(f, "free_pages: pfn {:#x} is not aligned to order {}", pfn, order)
            }
            FreeError::NoStructPage { pfn } => write!(f, "free_pages: pfn {:#x} has no struct page", pfn),
            FreeError::Poisoned { pfn } => write!(f, "free_pages: pfn {:#x} is uninitialized (poisoned)", pfn),
            FreeError::Reserved { pfn } => write!(f, "free_pages: pfn {:#x} is PG_reserved", pfn),
            FreeError::DoubleFree { pfn, free_order } => {
                write!(f, "free_pages: double free of pfn {:#x} (already free at order {})", pfn, free_order)
            }
            FreeError::NotAllocated { pfn } => {
                write!(f, "free_pages: pfn {:#x} is not the head of an allocated block", pfn)
            }
            FreeError::WrongOrder { pfn, allocated, given } => write!(
                f,
                "free_pages: pfn {:#x} was allocated with order {}, freed with order {}",
                pfn, allocated, given
            ),
            FreeError::NotManaged { pfn } => write!(f, "free_pages: pfn {:#x} belongs to no managed zone", pfn),
            FreeError::Corrupted { pfn } => write!(f, "free_pages: free list names pfn {:#x} without struct page", pfn),
            FreeError::OtherMm => write!(f, "free_pages: the memory model is not the allocator's"),
        }
    }
}

/// What [`Buddy::check`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// A list link names a pfn without a struct page, a prev link disagrees, or the list does not close.
    ListBroken,
    /// A listed page is not PageBuddy with `private == order`, or is linked to another zone.
    BadFreeHead,
    /// A free block is not aligned to its order.
    Misaligned,
    /// A free block reaches outside its zone's span.
    OutsideZone,
    /// A free block holds a hole page, a reserved page or a page of another zone.
    NotFreeMemory,
    /// A free tail page has a page type or a non-zero refcount.
    BadFreeTail,
    /// Two free blocks overlap.
    Overlap,
    /// `nr_free[order]` differs from the blocks on the lists (`expected` = counted).
    NrFree,
    /// The free counter differs from the pages on the lists (`expected` = counted).
    FreePages,
    /// A list's `nonempty` bit is wrong.
    NonemptyBit,
    /// A managed page is neither free, reserved, nor in a well-formed allocated block.
    BadAllocatedBlock,
    /// A memory page is linked to a zone the allocator does not have.
    NoZone,
    /// The allocated counter differs from the allocated pages found (`expected` = found).
    Allocated,
    /// allocated + free + reserved (`found`) != present (`expected`).
    Present,
    /// allocated + free (`found`) != managed (`expected`).
    Managed,
}

/// A failed [`Buddy::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckError {
    pub kind: CheckKind,
    /// The zone (node, type) concerned.
    pub zone: (u32, ZoneType),
    /// The pfn concerned (0 for counters).
    pub pfn: u64,
    pub order: u32,
    pub expected: u64,
    pub found: u64,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buddy check: {:?} in node {} zone {} at pfn {:#x} order {} (expected {}, found {})",
            self.kind,
            self.zone.0,
            self.zone.1.name(),
            self.pfn,
            self.order,
            self.expected,
            self.found
        )
    }
}

/// Counts of the allocator's slow paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuddyStats {
    /// Allocations served by `__rmqueue_fallback`.
    pub fallbacks: u64,
    /// `move_freepages_block` range preparations (`prep_move_freepages_block`).
    pub move_freepages_block: u64,
    /// ... whose pageblock start lay outside the zone and was clamped to the zone start.
    pub mfb_clamped: u64,
    /// ... whose pageblock end lay outside the zone: nothing moved.
    pub mfb_skipped: u64,
    /// Pfns of those pageblocks that lie outside the zone (left alone).
    pub mfb_skipped_pfns: u64,
    /// Pageblocks claimed through `move_freepages_block` (usemap written).
    pub mfb_claimed: u64,
    /// Free pages moved to another migratetype's lists.
    pub pages_moved: u64,
    /// Free pages of another zone met inside a pageblock's range (interleaved nodes) and left alone.
    pub foreign_pages: u64,
    /// Pageblocks changed by `change_pageblock_range`.
    pub pageblocks_changed: u64,
    /// Pageblock migratetypes matched on a merge above pageblock_order (`__free_one_page`).
    pub merge_type_changes: u64,
    /// Checked usemap writes refused in `vm_debug=panic` mode (the step was not done).
    pub vm_bugs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ListHead {
    next: u64,
    prev: u64,
}

/// What never changes about a zone once the hand-over is done.
#[derive(Clone, Debug)]
struct ZoneInfo {
    nid: u32,
    zone_type: ZoneType,
    start_pfn: u64,
    end_pfn: u64,
    present_pages: u64,
    managed_pages: u64,
}

/// One zone's `free_area`, counters and slow-path stats: what the zone's lock protects.
#[derive(Clone, Debug)]
pub(crate) struct FreeArea {
    /// The list heads, indexed by [`head_index`].
    heads: [ListHead; NR_MIGRATETYPES * ORDER_SLOTS],
    /// Per migratetype: bit `order` set iff that list is non-empty.
    nonempty: [u16; NR_MIGRATETYPES],
    free_pages: u64,
    allocated_pages: u64,
    /// Free blocks per order, all migratetypes.
    nr_free: [u64; NR_ORDERS],
    stats: BuddyStats,
}

impl FreeArea {
    fn new() -> FreeArea {
        let mut heads = [ListHead { next: 0, prev: 0 }; NR_MIGRATETYPES * ORDER_SLOTS];
        for (i, h) in heads.iter_mut().enumerate() {
            let code = LIST_HEAD_BIT | i as u64;
            *h = ListHead { next: code, prev: code };
        }
        FreeArea {
            heads,
            nonempty: [0; NR_MIGRATETYPES],
            free_pages: 0,
            allocated_pages: 0,
            nr_free: [0; NR_ORDERS],
            stats: BuddyStats::default(),
        }
    }
}

/// A zone's lock on its own cache line, so that CPUs working in different zones do not share one.
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct ZoneLock(pub(crate) Mutex<FreeArea>);

impl core::ops::Deref for ZoneLock {
    type Target = Mutex<FreeArea>;
    fn deref(&self) -> &Mutex<FreeArea> {
        &self.0
    }
}

/// One free block, for tests and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FreeBlock {
    pub pfn: u64,
    pub order: u32,
    pub nid: u32,
    pub zone: ZoneType,
    /// The list it is on.
    pub migratetype: u64,
}

/// Per-zone counters, for tests and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneCounts {
    pub nid: u32,
    pub zone: ZoneType,
    pub present_pages: u64,
    pub managed_pages: u64,
    pub free_pages: u64,
    pub allocated_pages: u64,
    pub nr_free: [u64; NR_ORDERS],
}

/// The allocator. See the module documentation; [`Allocator`] shares it between CPUs.
#[derive(Debug)]
pub struct Buddy {
    zones: Vec<ZoneInfo>,
    /// Per zone (same index): its free area behind its lock.
    pub(crate) areas: Vec<ZoneLock>,
    /// Per node: zone indices, node-major (nearest node first), highest zone first within a node.
    zonelists: Vec<Vec<u16>>,
    /// Row-major node distances.
    distance: Vec<u8>,
    nr_nodes: usize,
    /// The `Sparse` the allocator manages (see [`Sparse::id`]).
    sparse_id: u64,
}

/// One locked zone at work: its free area, its struct pages, and what it reads of the `Mm`.
struct ZoneCx<'a, 'g, 'm> {
    area: &'a mut FreeArea,
    pages: &'a mut ZonePages<'g>,
    /// The zone's index (its span is read on the slow path only).
    zi: usize,
    al: &'a Allocator<'m>,
}

impl<'m> Allocator<'m> {
    /// `alloc_pages`: a block of `2^order` pages from the first zone of `preferred_nid`'s zonelist, at or below
    /// `highest_zone`, that has one (stealing from another migratetype if needed). Returns its first pfn.
    /// Locks one zone at a time, in zonelist order.
    pub fn alloc_pages(
        &self,
        order: u32,
        highest_zone: ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, AllocError> {
        if order > MAX_PAGE_ORDER {
            return Err(AllocError::BadOrder { order });
        }
        if mt > migratetype::HIGHATOMIC {
            return Err(AllocError::BadMigratetype { migratetype: mt });
        }
        let b = self.buddy;
        let Some(zonelist) = b.zonelists.get(preferred_nid as usize) else {
            return Err(AllocError::BadNode { nid: preferred_nid });
        };
        if self.sparse.id() != b.sparse_id {
            return Err(AllocError::OtherMm);
        }
        for &zi in zonelist {
            let zi = zi as usize;
            if b.zones[zi].zone_type > highest_zone {
                continue;
            }
            let mut lz = self.lock_zone(zi);
            let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
            // The page comes back with post_alloc_hook done (refcount 1, order kept: see the module documentation).
            if let Some(pfn) = cx.rmqueue(order, mt).map_err(|pfn| AllocError::Corrupted { pfn })? {
                cx.area.allocated_pages += 1 << order;
                return Ok(pfn);
            }
        }
        Err(AllocError::NoMemory { order, highest_zone, nid: preferred_nid })
    }

    /// `free_pages`: gives back a block from [`Allocator::alloc_pages`]. A call that does not name a live
    /// allocation with its order is rejected with a named error and changes nothing. Locks the page's zone.
    pub fn free_pages(&self, pfn: u64, order: u32) -> Result<(), FreeError> {
        if order > MAX_PAGE_ORDER {
            return Err(FreeError::BadOrder { order });
        }
        if pfn & ((1 << order) - 1) != 0 {
            return Err(FreeError::Unaligned { pfn, order });
        }
        if self.sparse.id() != self.buddy.sparse_id {
            return Err(FreeError::OtherMm);
        }
        if self.sparse.page_ptr(pfn).is_none() {
            return Err(FreeError::NoStructPage { pfn });
        }
        // The flags word (never written while the allocator is shared) names the zone whose lock covers the page.
        let Some(zi) = ZonePages::zone_id_unlocked(self.sparse, pfn) else { return Err(FreeError::Poisoned { pfn }) };
        if zi >= self.buddy.zones.len() {
            return Err(FreeError::NotManaged { pfn });
        }
        // The buddy and the next one up are read under the lock (__free_one_page, buddy_merge_likely): start
        // loading them now.
        self.sparse.prefetch_buddies(pfn, order, (order + PREFETCH_ORDERS).min(MAX_PAGE_ORDER));
        let mut lz = self.lock_zone(zi);
        let page = lz.pages.link_mut(pfn).map_err(|pfn| FreeError::NoStructPage { pfn })?;
        if page.has_type(PG_BUDDY) {
            return Err(FreeError::DoubleFree { pfn, free_order: page.private as u32 });
        }
        if page.is_reserved() {
            return Err(FreeError::Reserved { pfn });
        }
        if page.refcount != 1 {
            return Err(FreeError::NotAllocated { pfn });
        }
        if page.private != order as u64 {
            return Err(FreeError::WrongOrder { pfn, allocated: page.private as u32, given: order });
        }
        // free_pages_prepare + put_page_testzero.
        page.refcount = 0;
        page.private = 0;
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        let mt = cx.pageblock_mt(pfn);
        cx.area.allocated_pages -= 1 << order;
        cx.free_one_page(pfn, order, mt, false).map_err(|pfn| FreeError::Corrupted { pfn })
    }
}

impl<'a, 'g, 'm> ZoneCx<'a, 'g, 'm> {
    #[inline(always)]
    fn new(al: &'a Allocator<'m>, zi: usize, area: &'a mut FreeArea, pages: &'a mut ZonePages<'g>) -> Self {
        ZoneCx { area, pages, zi, al }
    }

    #[inline(always)]
    fn pageblock_mt(&self, pfn: u64) -> u64 {
        self.al.sparse.get_pfnblock_flags_mask(pfn, migratetype::MASK)
    }

    /// The checked `set_pageblock_migratetype`; false if `vm_debug=panic` refused it. Takes the checker's lock
    /// (a leaf lock) under this zone's lock.
    fn set_pageblock_mt(&mut self, pfn: u64, mt: u64, site: &'static str) -> bool {
        let mut checker = self.al.checker.lock();
        checker.set_pfnblock_flags_mask(self.al.sparse, self.al.zones, pfn, mt, migratetype::MASK, site).is_ok()
    }

    // ---- lists ----------------------------------------------------------------------------------------------

    /// `__add_to_free_list` + `set_buddy_order` + `account_freepages`.
    #[inline(always)]
    fn add_free(&mut self, pfn: u64, order: u32, mt: u64, tail: bool) -> Result<(), u64> {
        let idx = head_index(order as usize, mt as usize);
        let code = LIST_HEAD_BIT | idx as u64;
        let h = self.area.heads[idx];
        let (next, prev) = if tail { (code, h.prev) } else { (h.next, code) };
        {
            let p = self.pages.link_mut(pfn)?;
            // A page that joins the lists has no type (a free tail, a merged buddy, a freed head): `_mapcount` is
            // -1, so `__SetPageBuddy` is a plain store (no load of a cold struct page before the stores).
            debug_assert_eq!(p.mapcount, -1, "pfn {:#x} joins the free lists with a page type", pfn);
            p.lru_next = next;
            p.lru_prev = prev;
            p.private = order as u64;
            p.mapcount = BUDDY_MAPCOUNT;
        }
        if tail {
            if prev == code {
                self.area.heads[idx].next = pfn;
            } else {
                self.pages.link_mut(prev)?.lru_next = pfn;
            }
            self.area.heads[idx].prev = pfn;
        } else {
            if next == code {
                self.area.heads[idx].prev = pfn;
            } else {
                self.pages.link_mut(next)?.lru_prev = pfn;
            }
            self.area.heads[idx].next = pfn;
        }
        self.area.nonempty[mt as usize] |= 1 << order;
        self.area.nr_free[order as usize] += 1;
        self.area.free_pages += 1 << order;
        Ok(())
    }

    /// `__del_page_from_free_list`: unlink, clear PageBuddy and the order, account.
    #[inline]
    fn del_free(&mut self, pfn: u64, order: u32) -> Result<(), u64> {
        self.del_free_as(pfn, order, None)
    }

    /// [`ZoneCx::del_free`], and with `Some(o)` also `post_alloc_hook` for an allocation of order `o` starting at
    /// `pfn` (refcount 1, order kept in `private`) while the page is at hand.
    #[inline(always)]
    fn del_free_as(&mut self, pfn: u64, order: u32, alloc: Option<u32>) -> Result<(), u64> {
        let (next, prev) = {
            let p = self.pages.link_mut(pfn)?;
            let links = (p.lru_next, p.lru_prev);
            p.lru_next = pfn;
            p.lru_prev = pfn;
            p.clear_type(PG_BUDDY);
            match alloc {
                Some(o) => {
                    p.private = o as u64;
                    p.refcount = 1;
                }
                None => p.private = 0,
            }
            links
        };
        self.unlink(next, prev)?;
        self.area.nr_free[order as usize] -= 1;
        self.area.free_pages -= 1 << order;
        Ok(())
    }

    /// Joins `prev` and `next` (pfns or list heads); clears the list's bit when it became empty.
    #[inline(always)]
    fn unlink(&mut self, next: u64, prev: u64) -> Result<(), u64> {
        if next & LIST_HEAD_BIT != 0 {
            let i = head_of(next)?;
            self.area.heads[i].prev = prev;
        } else {
            self.pages.link_mut(next)?.lru_prev = prev;
        }
        if prev & LIST_HEAD_BIT != 0 {
            let i = head_of(prev)?;
            self.area.heads[i].next = next;
            if next == prev {
                self.area.nonempty[i / ORDER_SLOTS] &= !(1 << (i % ORDER_SLOTS));
            }
        } else {
            self.pages.link_mut(prev)?.lru_next = next;
        }
        Ok(())
    }

    /// `move_to_free_list`.
    fn move_free(&mut self, pfn: u64, order: u32, mt: u64) -> Result<(), u64> {
        self.del_free(pfn, order)?;
        self.add_free(pfn, order, mt, false)
    }

    // ---- allocation -----------------------------------------------------------------------------------------

    /// `__rmqueue`.
    #[inline]
    fn rmqueue(&mut self, order: u32, mt: u64) -> Result<Option<u64>, u64> {
        if let Some(pfn) = self.rmqueue_smallest(order, mt)? {
            return Ok(Some(pfn));
        }
        if mt > migratetype::RECLAIMABLE {
            return Ok(None);
        }
        let r = self.rmqueue_fallback(order, mt)?;
        if r.is_some() {
            self.area.stats.fallbacks += 1;
        }
        Ok(r)
    }

    /// `__rmqueue_smallest` + `expand`.
    #[inline(always)]
    fn rmqueue_smallest(&mut self, order: u32, mt: u64) -> Result<Option<u64>, u64> {
        let bits = self.area.nonempty[mt as usize] >> order;
        if bits == 0 {
            return Ok(None);
        }
        let current = order + bits.trailing_zeros();
        let pfn = self.area.heads[head_index(current as usize, mt as usize)].next;
        self.del_free_as(pfn, current, Some(order))?;
        self.expand(pfn, order, current, mt)?;
        Ok(Some(pfn))
    }

    /// `expand`: the upper halves of a split block go back to the lists of `mt`.
    #[inline(always)]
    fn expand(&mut self, pfn: u64, low: u32, mut high: u32, mt: u64) -> Result<(), u64> {
        while high > low {
            high -= 1;
            self.add_free(pfn + (1 << high), high, mt, false)?;
        }
        Ok(())
    }

    /// `find_suitable_fallback` (only_stealable = false): the first fallback type with a block of `order`,
    /// and `can_steal_fallback`.
    fn find_suitable_fallback(&self, order: u32, start_mt: u64) -> Option<(u64, bool)> {
        if self.area.nr_free[order as usize] == 0 {
            return None;
        }
        FALLBACKS[start_mt as usize]
            .iter()
            .copied()
            .find(|&f| self.area.nonempty[f as usize] & (1 << order) != 0)
            .map(|f| (f, can_steal_fallback(order, start_mt)))
    }

    /// `__rmqueue_fallback`: the largest block of a fallback type, or the smallest when a MOVABLE request may
    /// not steal the whole block; then `steal_suitable_fallback`.
    fn rmqueue_fallback(&mut self, order: u32, start_mt: u64) -> Result<Option<u64>, u64> {
        let mut found = None;
        for current in (order..=MAX_PAGE_ORDER).rev() {
            let Some((fmt_, can_steal)) = self.find_suitable_fallback(current, start_mt) else { continue };
            if !can_steal && start_mt == migratetype::MOVABLE && current > order {
                // find_smallest: a block we cannot claim is better split from the smallest.
                found = (order..=MAX_PAGE_ORDER)
                    .find_map(|o| self.find_suitable_fallback(o, start_mt).map(|(f, s)| (o, f, s)));
            } else {
                found = Some((current, fmt_, can_steal));
            }
            break;
        }
        let Some((current, fallback_mt, can_steal)) = found else { return Ok(None) };
        let pfn = self.area.heads[head_index(current as usize, fallback_mt as usize)].next;
        self.steal_suitable_fallback(pfn, current, order, start_mt, fallback_mt, can_steal).map(Some)
    }

    /// `steal_suitable_fallback` / `try_to_claim_block`: take the whole range for blocks >= pageblock_order;
    /// claim the pageblock when allowed and at least half of it is free; else take just this block, its
    /// remainder staying with the fallback type.
    fn steal_suitable_fallback(
        &mut self,
        pfn: u64,
        current: u32,
        order: u32,
        start_mt: u64,
        fallback_mt: u64,
        can_steal: bool,
    ) -> Result<u64, u64> {
        let block_mt = self.pageblock_mt(pfn);
        if block_mt != migratetype::HIGHATOMIC {
            if current >= PAGEBLOCK_ORDER {
                // change_pageblock_range: usemap first, so a refused write changes no list.
                let mut ok = true;
                for pb in 0..(1u64 << (current - PAGEBLOCK_ORDER)) {
                    if self.set_pageblock_mt(pfn + pb * PAGEBLOCK_NR_PAGES, start_mt, "change_pageblock_range") {
                        self.area.stats.pageblocks_changed += 1;
                    } else {
                        self.area.stats.vm_bugs += 1;
                        ok = false;
                    }
                }
                if ok {
                    self.del_free_as(pfn, current, Some(order))?;
                    self.expand(pfn, order, current, start_mt)?;
                    return Ok(pfn);
                }
            } else if can_steal {
                if let Some(prep) = self.prep_move_freepages_block(pfn)? {
                    // Claim the pageblock when at least half of it is free (Linux also counts allocated pages
                    // of a compatible mobility, which the model does not know).
                    if prep.free_pages >= 1 << (PAGEBLOCK_ORDER - 1) && self.move_freepages_block(prep, start_mt)? {
                        // Our block moved to start_mt's lists with the rest of the pageblock.
                        if let Some(p) = self.rmqueue_smallest(order, start_mt)? {
                            return Ok(p);
                        }
                    }
                }
            }
        }
        // single_page (page_del_and_expand): this block alone; its remainder stays with the fallback type.
        self.del_free_as(pfn, current, Some(order))?;
        self.expand(pfn, order, current, fallback_mt)?;
        Ok(pfn)
    }

    /// `prep_move_freepages_block`: the range of the pageblock of `pfn` that lies in the zone, and its free pages.
    fn prep_move_freepages_block(&mut self, pfn: u64) -> Result<Option<Prep>, u64> {
        self.area.stats.move_freepages_block += 1;
        let z = &self.al.buddy.zones[self.zi];
        let (zs, ze) = (z.start_pfn, z.end_pfn);
        let mut start = pageblock_start_pfn(pfn);
        let end = pageblock_end_pfn(pfn); // exclusive
        if end > ze {
            // Linux: `if (!zone_spans_pfn(zone, end_pfn)) return 0`: moving part of it would leave the zone.
            self.area.stats.mfb_skipped += 1;
            self.area.stats.mfb_skipped_pfns += end - ze;
            return Ok(None);
        }
        if start < zs {
            // Linux 4.x-6.9: `if (!zone_spans_pfn(zone, start_pfn)) start_pfn = pfn`; we clamp to the zone start.
            self.area.stats.mfb_clamped += 1;
            self.area.stats.mfb_skipped_pfns += zs - start;
            start = zs;
        }
        let mut free = 0;
        let mut p = start;
        // Loop invariant: `p` is a pfn of [start, end) not inside a free block already counted. A page of another
        // zone (interleaved nodes) is not looked at beyond its flags: its zone's lock is not held.
        while p < end {
            match self.pages.get(p) {
                Some(page) if page.has_type(PG_BUDDY) => {
                    let n = 1u64 << page.private.min(MAX_PAGE_ORDER as u64);
                    free += n;
                    p += n;
                }
                Some(_) => p += 1,
                None if self.al.sparse.page_ptr(p).is_none() => return Err(p),
                None => p += 1,
            }
        }
        Ok(Some(Prep { start, end, free_pages: free }))
    }

    /// `move_freepages_block`: every free block of the zone in `[prep.start, prep.end)` moves to `mt`'s lists and
    /// the pageblock takes `mt` through the checked `set_pfnblock_flags_mask` at `prep.start` (call site
    /// "move_freepages_block"). False if `vm_debug=panic` refused the write (nothing moved).
    fn move_freepages_block(&mut self, prep: Prep, mt: u64) -> Result<bool, u64> {
        if !self.set_pageblock_mt(prep.start, mt, "move_freepages_block") {
            self.area.stats.vm_bugs += 1;
            return Ok(false);
        }
        self.area.stats.mfb_claimed += 1;
        let mut p = prep.start;
        while p < prep.end {
            let Some(page) = self.pages.get(p) else {
                if self.al.sparse.page_ptr(p).is_none() {
                    return Err(p);
                }
                // A page of another zone: its lock is not ours, so it is counted and left alone.
                self.area.stats.foreign_pages += 1;
                p += 1;
                continue;
            };
            if !page.has_type(PG_BUDDY) {
                p += 1;
                continue;
            }
            let order = page.private.min(MAX_PAGE_ORDER as u64) as u32;
            self.move_free(p, order, mt)?;
            self.area.stats.pages_moved += 1 << order;
            p += 1 << order;
        }
        Ok(true)
    }

    // ---- free -----------------------------------------------------------------------------------------------

    /// `__free_one_page`. See the module documentation.
    fn free_one_page(&mut self, mut pfn: u64, mut order: u32, mt: u64, to_tail: bool) -> Result<(), u64> {
        let mut buddy_pfn = pfn;
        // Loop invariant: [pfn, pfn + 2^order) is free and off the lists; `order` < MAX_PAGE_ORDER in the body.
        while order < MAX_PAGE_ORDER {
            buddy_pfn = pfn ^ (1 << order);
            // page_is_buddy (a page of another zone is never ours to look at), and below pageblock_order the
            // buddy is taken off its list while it is at hand.
            let taken = match self.pages.get_mut(buddy_pfn) {
                Ok(b) if b.has_type(PG_BUDDY) && b.private == order as u64 => {
                    if order < PAGEBLOCK_ORDER {
                        let links = (b.lru_next, b.lru_prev);
                        b.lru_next = buddy_pfn;
                        b.lru_prev = buddy_pfn;
                        b.private = 0;
                        b.clear_type(PG_BUDDY);
                        Some(links)
                    } else {
                        None
                    }
                }
                _ => break,
            };
            match taken {
                Some((next, prev)) => {
                    self.unlink(next, prev)?;
                    self.area.nr_free[order as usize] -= 1;
                    self.area.free_pages -= 1 << order;
                }
                None => {
                    let buddy_mt = self.pageblock_mt(buddy_pfn);
                    if buddy_mt != mt {
                        if !mergeable(mt) || !mergeable(buddy_mt) {
                            break;
                        }
                        // Match the buddy's pageblock type so later splits land on the right lists.
                        if !self.set_pageblock_mt(buddy_pfn, mt, "__free_one_page") {
                            self.area.stats.vm_bugs += 1;
                            break;
                        }
                        self.area.stats.merge_type_changes += 1;
                    }
                    self.del_free(buddy_pfn, order)?;
                }
            }
            pfn &= buddy_pfn;
            order += 1;
        }
        let tail = to_tail || (order < MAX_PAGE_ORDER - 1 && self.buddy_merge_likely(pfn, buddy_pfn, order));
        self.add_free(pfn, order, mt, tail)
    }

    /// `page_is_buddy`: free, of this order, in this zone (a hole page or a page without memmap never is).
    #[inline(always)]
    fn page_is_buddy(&self, buddy_pfn: u64, order: u32) -> bool {
        self.pages.get(buddy_pfn).is_some_and(|b| b.has_type(PG_BUDDY) && b.private == order as u64)
    }

    /// `buddy_merge_likely`: the block's higher-order buddy is free, so it will likely merge once its own
    /// buddy comes back: put it at the tail so it is not handed out first.
    #[inline(always)]
    fn buddy_merge_likely(&self, pfn: u64, buddy_pfn: u64, order: u32) -> bool {
        let higher = buddy_pfn & pfn;
        self.page_is_buddy(higher ^ (1 << (order + 1)), order + 1)
    }
}

/// How many orders of buddies `free_pages` prefetches before it takes the lock: a random free merges about once
/// on average, and every struct page read after the lock that misses the cache stalls the call.
const PREFETCH_ORDERS: u32 = 4;

/// A list head's index from its code.
#[inline(always)]
fn head_of(code: u64) -> Result<usize, u64> {
    let i = (code & !LIST_HEAD_BIT) as usize;
    if i < NR_MIGRATETYPES * ORDER_SLOTS {
        Ok(i)
    } else {
        Err(code)
    }
}

impl Buddy {
    /// `memblock_free_all` with the default distances (local first, then ascending node id).
    pub fn from_boot(mm: &mut Mm) -> Result<Buddy, BuddyError> {
        Self::from_boot_with(mm, None)
    }

    /// `memblock_free_all` with an optional SLIT-like, row-major `nodes * nodes` distance matrix. See the
    /// module documentation. Sections of a compressed boot that hold memory get a real memmap first.
    pub fn from_boot_with(mm: &mut Mm, distance: Option<&[u8]>) -> Result<Buddy, BuddyError> {
        let nr_nodes = mm.zones.nodes.len();
        let distance = match distance {
            Some(d) if d.len() != nr_nodes * nr_nodes => {
                return Err(BuddyError::BadDistanceMatrix { nodes: nr_nodes, len: d.len() })
            }
            Some(d) => d.to_vec(),
            None => (0..nr_nodes * nr_nodes)
                .map(|i| if i / nr_nodes.max(1) == i % nr_nodes.max(1) { LOCAL_DISTANCE } else { REMOTE_DISTANCE })
                .collect(),
        };
        let mut zones = Vec::with_capacity(nr_nodes * MAX_NR_ZONES);
        for node in &mm.zones.nodes {
            for z in &node.zones {
                zones.push(ZoneInfo {
                    nid: node.nid,
                    zone_type: z.zone_type,
                    start_pfn: z.zone_start_pfn,
                    end_pfn: z.zone_end_pfn(),
                    present_pages: z.present_pages,
                    managed_pages: 0,
                });
            }
        }
        let areas = (0..zones.len()).map(|_| ZoneLock(Mutex::new(FreeArea::new()))).collect();
        let zonelists = build_zonelists(&mm.zones, &distance);
        let mut buddy = Buddy { zones, areas, zonelists, distance, nr_nodes, sparse_id: mm.sparse.id() };

        // A compressed boot shares one template page per uniform section: give those that hold memory a memmap.
        let uniform: Vec<u64> =
            mm.sparse.valid_sections().filter(|&nr| mm.sparse.section(nr).is_some_and(|ms| ms.uniform())).collect();
        for nr in uniform {
            mm.sparse.materialize(nr)?;
        }

        // for_each_free_mem_range: memblock.memory minus memblock.reserved, ascending.
        let mut ranges = Vec::new();
        let reserved = &mm.memblock.reserved;
        for r in &mm.memblock.memory {
            let mut i = reserved.partition_point(|x| x.end_pfn <= r.start_pfn);
            let mut a = r.start_pfn;
            // Loop invariant: [r.start_pfn, a) is collected or reserved; reserved[i] is the first reservation
            // that ends above `a`.
            while a < r.end_pfn {
                let (res_start, res_end) = reserved.get(i).map_or((u64::MAX, u64::MAX), |x| (x.start_pfn, x.end_pfn));
                if res_start <= a {
                    a = res_end;
                    i += 1;
                    continue;
                }
                let b = res_start.min(r.end_pfn);
                ranges.push((a, b));
                a = b;
            }
        }
        buddy.hand_over(mm, &ranges)?;
        buddy.sparse_id = mm.sparse.id();
        Ok(buddy)
    }

    /// Hands the free ranges over (boot, and onlined memory): first, with exclusive access, __free_pages_core's
    /// per-page work and the runs of one zone; then `__free_pages_memory` per run through the locked path that
    /// every free takes.
    fn hand_over(&mut self, mm: &mut Mm, ranges: &[(u64, u64)]) -> Result<(), BuddyError> {
        let mut runs = Vec::new();
        for &(a, b) in ranges {
            prepare_range(&mut mm.sparse, a, b, &mut runs)?;
        }
        for &(zi, start, end) in &runs {
            let Some(z) = self.zones.get(zi) else {
                return Err(BuddyError::NoZone { pfn: start, nid: (zi >> ZONES_WIDTH) as u32 });
            };
            if start < z.start_pfn || end > z.end_pfn {
                // Linux: VM_BUG_ON_PAGE(bad_range(zone, page)) in __free_one_page.
                let pfn = if start < z.start_pfn { start } else { z.end_pfn.max(start) };
                return Err(BuddyError::OutsideLinkedZone { pfn, nid: z.nid, zone: z.zone_type });
            }
        }
        let al = Allocator::new(self, mm);
        for &(zi, start, end) in &runs {
            al.free_run(zi, start, end)?;
        }
        for &(zi, start, end) in &runs {
            self.zones[zi].managed_pages += end - start;
        }
        Ok(())
    }

    /// An [`Allocator`] over this allocator and its `Mm` (which it borrows mutably).
    #[inline(always)]
    pub fn shared<'m>(&'m self, mm: &'m mut Mm) -> Allocator<'m> {
        Allocator::new(self, mm)
    }

    /// [`Allocator::alloc_pages`] with the `Mm` borrowed for this one call.
    #[inline]
    pub fn alloc_pages(
        &self,
        mm: &mut Mm,
        order: u32,
        highest_zone: ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, AllocError> {
        Allocator::alloc_exclusive(self, mm, order, highest_zone, preferred_nid, mt)
    }

    /// [`Allocator::free_pages`] with the `Mm` borrowed for this one call.
    #[inline]
    pub fn free_pages(&self, mm: &mut Mm, pfn: u64, order: u32) -> Result<(), FreeError> {
        Allocator::free_exclusive(self, mm, pfn, order)
    }

    /// The slow-path counts, summed over the zones.
    pub fn stats(&self) -> BuddyStats {
        let mut s = BuddyStats::default();
        for a in &self.areas {
            let z = a.lock().stats;
            s.fallbacks += z.fallbacks;
            s.move_freepages_block += z.move_freepages_block;
            s.mfb_clamped += z.mfb_clamped;
            s.mfb_skipped += z.mfb_skipped;
            s.mfb_skipped_pfns += z.mfb_skipped_pfns;
            s.mfb_claimed += z.mfb_claimed;
            s.pages_moved += z.pages_moved;
            s.foreign_pages += z.foreign_pages;
            s.pageblocks_changed += z.pageblocks_changed;
            s.merge_type_changes += z.merge_type_changes;
            s.vm_bugs += z.vm_bugs;
        }
        s
    }
}

impl Allocator<'_> {
    /// `__free_pages_memory` over `[start, end)` of zone `zi` (refcounts already 0): the largest aligned chunks,
    /// at most max order, to the tail of their lists.
    fn free_run(&self, zi: usize, start: u64, end: u64) -> Result<(), BuddyError> {
        let mut lz = self.lock_zone(zi);
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        let mut s = start;
        while s < end {
            let mut order = if s == 0 { MAX_PAGE_ORDER } else { MAX_PAGE_ORDER.min(s.trailing_zeros()) };
            while s + (1u64 << order) > end {
                order -= 1;
            }
            let mt = cx.pageblock_mt(s);
            cx.free_one_page(s, order, mt, true).map_err(|pfn| BuddyError::NoStructPage { pfn })?;
            s += 1 << order;
        }
        Ok(())
    }
}

/// One free range: `__free_pages_core`'s per-page work (PG_reserved cleared, refcount 0) in one pass that also
/// splits the range into runs of pages of one zone, as `page_zone(page)` names it (so a chunk never crosses a
/// zone boundary, and a policy that relinked memory pages, `span-extend`, shows in the counts as it would in
/// Linux). Appends `(zone id, start, end)` runs.
fn prepare_range(sparse: &mut Sparse, a: u64, b: u64, runs: &mut Vec<(usize, u64, u64)>) -> Result<(), BuddyError> {
    let (mut run_start, mut run_zone) = (a, usize::MAX);
    let mut pfn = a;
    // Loop invariant: the pages of [run_start, pfn) are linked to zone `run_zone` and have refcount 0; the runs
    // of [a, run_start) were appended.
    while pfn < b {
        let nr = pfn_to_section_nr(pfn);
        let sec_start = section_nr_to_pfn(nr);
        let chunk_end = (sec_start + PAGES_PER_SECTION).min(b);
        let pages = sparse.section_pages_mut(nr).ok_or(BuddyError::NoStructPage { pfn })?;
        let mut change = None;
        for (i, p) in pages[(pfn - sec_start) as usize..(chunk_end - sec_start) as usize].iter_mut().enumerate() {
            let zi = page_zone_id(p);
            if zi != run_zone {
                if p.is_poisoned() {
                    return Err(BuddyError::Poisoned { pfn: pfn + i as u64 });
                }
                change = Some((pfn + i as u64, zi));
                break;
            }
            // __ClearPageReserved + set_page_count(0): a memory page that a policy's hole init marked
            // reserved (span-extend) is not reserved in memblock and is handed over, as in Linux.
            p.clear_flag(pg::RESERVED);
            p.refcount = 0;
        }
        match change {
            Some((q, zi)) => {
                if q > run_start {
                    runs.push((run_zone, run_start, q));
                }
                (run_start, run_zone, pfn) = (q, zi, q);
            }
            None => pfn = chunk_end,
        }
    }
    if b > run_start {
        runs.push((run_zone, run_start, b));
    }
    Ok(())
}

impl Buddy {
    // ---- views and checks -----------------------------------------------------------------------------------

    /// The counters of zone `zone` of node `nid`.
    pub fn zone_counts(&self, nid: u32, zone: ZoneType) -> Option<ZoneCounts> {
        let zi = nid as usize * MAX_NR_ZONES + zone.index();
        let z = self.zones.get(zi)?;
        let a = self.areas[zi].lock();
        Some(ZoneCounts {
            nid: z.nid,
            zone: z.zone_type,
            present_pages: z.present_pages,
            managed_pages: z.managed_pages,
            free_pages: a.free_pages,
            allocated_pages: a.allocated_pages,
            nr_free: a.nr_free,
        })
    }

    /// The counters of every zone, node-major.
    pub fn all_zone_counts(&self) -> Vec<ZoneCounts> {
        self.zones.iter().filter_map(|z| self.zone_counts(z.nid, z.zone_type)).collect()
    }

    /// Free pages of all zones.
    pub fn total_free_pages(&self) -> u64 {
        self.areas.iter().map(|a| a.lock().free_pages).sum()
    }

    /// Pages handed over at boot, all zones.
    pub fn total_managed_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.managed_pages).sum()
    }

    /// The zonelist of node `nid` as (node, zone) pairs, in allocation order.
    pub fn zonelist(&self, nid: u32) -> Vec<(u32, ZoneType)> {
        self.zonelists.get(nid as usize).map_or(Vec::new(), |zl| {
            zl.iter().map(|&zi| (self.zones[zi as usize].nid, self.zones[zi as usize].zone_type)).collect()
        })
    }

    /// The distance between two nodes.
    pub fn node_distance(&self, a: u32, b: u32) -> Option<u8> {
        let (a, b) = (a as usize, b as usize);
        (a < self.nr_nodes && b < self.nr_nodes).then(|| self.distance[a * self.nr_nodes + b])
    }

    /// Every free block, sorted by pfn (walks the lists; for tests and reports).
    pub fn free_blocks(&self, mm: &Mm) -> Vec<FreeBlock> {
        let mut out = Vec::new();
        for (zi, z) in self.zones.iter().enumerate() {
            let area = self.areas[zi].lock();
            for order in 0..NR_ORDERS {
                for mt in 0..NR_MIGRATETYPES {
                    let code = LIST_HEAD_BIT | head_index(order, mt) as u64;
                    let mut cur = area.heads[head_index(order, mt)].next;
                    let mut steps = 0u64;
                    while cur != code && steps <= z.managed_pages {
                        out.push(FreeBlock {
                            pfn: cur,
                            order: order as u32,
                            nid: z.nid,
                            zone: z.zone_type,
                            migratetype: mt as u64,
                        });
                        match mm.sparse.pfn_to_page(cur) {
                            Some(p) => cur = p.lru_next,
                            None => break,
                        }
                        steps += 1;
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Checks every invariant of the module documentation against the memmap and memblock of `mm`.
    /// O(free blocks + memory pages).
    pub fn check(&self, mm: &Mm) -> Result<(), CheckError> {
        // Every zone at once, in zone-id order (the documented exception to one lock at a time).
        let areas: Vec<_> = self.areas.iter().map(|a| a.lock()).collect();
        let mut blocks: Vec<(u64, u32, usize)> = Vec::new();
        for (zi, z) in self.zones.iter().enumerate() {
            let zone = (z.nid, z.zone_type);
            let err = |kind, pfn, order, expected, found| CheckError { kind, zone, pfn, order, expected, found };
            let mut free = 0;
            for order in 0..NR_ORDERS {
                let mut count = 0;
                for mt in 0..NR_MIGRATETYPES {
                    let idx = head_index(order, mt);
                    let code = LIST_HEAD_BIT | idx as u64;
                    let (mut prev, mut cur) = (code, areas[zi].heads[idx].next);
                    let o = order as u32;
                    let bit = areas[zi].nonempty[mt] & (1 << order) != 0;
                    if bit != (cur != code) {
                        return Err(err(CheckKind::NonemptyBit, 0, o, (cur != code) as u64, bit as u64));
                    }
                    while cur != code {
                        if count > z.managed_pages || cur & LIST_HEAD_BIT != 0 {
                            return Err(err(CheckKind::ListBroken, cur, o, 0, 0));
                        }
                        let Some(p) = mm.sparse.pfn_to_page(cur) else {
                            return Err(err(CheckKind::ListBroken, cur, o, 0, 0));
                        };
                        if p.lru_prev != prev {
                            return Err(err(CheckKind::ListBroken, cur, o, prev, p.lru_prev));
                        }
                        if p.is_poisoned()
                            || !p.has_type(PG_BUDDY)
                            || p.private != order as u64
                            || page_zone_id(p) != zi
                        {
                            return Err(err(CheckKind::BadFreeHead, cur, o, order as u64, p.private));
                        }
                        if cur & ((1 << order) - 1) != 0 {
                            return Err(err(CheckKind::Misaligned, cur, o, 0, 0));
                        }
                        if cur < z.start_pfn || cur + (1 << order) > z.end_pfn {
                            return Err(err(CheckKind::OutsideZone, cur, o, z.start_pfn, z.end_pfn));
                        }
                        blocks.push((cur, o, zi));
                        count += 1;
                        free += 1u64 << order;
                        prev = cur;
                        cur = p.lru_next;
                    }
                    if areas[zi].heads[idx].prev != prev {
                        return Err(err(CheckKind::ListBroken, prev, o, prev, areas[zi].heads[idx].prev));
                    }
                }
                if count != areas[zi].nr_free[order] {
                    return Err(err(CheckKind::NrFree, 0, order as u32, count, areas[zi].nr_free[order]));
                }
            }
            if free != areas[zi].free_pages {
                return Err(err(CheckKind::FreePages, 0, 0, free, areas[zi].free_pages));
            }
        }
        blocks.sort_unstable();
        for w in blocks.windows(2) {
            if w[0].0 + (1 << w[0].1) > w[1].0 {
                let z = &self.zones[w[1].2];
                return Err(CheckError {
                    kind: CheckKind::Overlap,
                    zone: (z.nid, z.zone_type),
                    pfn: w[1].0,
                    order: w[1].1,
                    expected: w[0].0,
                    found: w[0].1 as u64,
                });
            }
        }

        // Every memory page: free (in a listed block), reserved, or in a well-formed allocated block.
        let n = self.zones.len();
        let (mut free_seen, mut alloc_seen, mut reserved_seen) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
        let mut next_block = 0;
        // Contiguous memory, whatever the node: blocks may span two adjacent ranges of different nodes when a
        // policy linked both to one zone (span-extend), and merge there as they would in Linux.
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for r in &mm.memblock.memory {
            match spans.last_mut() {
                Some(last) if last.1 == r.start_pfn => last.1 = r.end_pfn,
                _ => spans.push((r.start_pfn, r.end_pfn)),
            }
        }
        for r in spans.iter().map(|&(start_pfn, end_pfn)| crate::zones::PfnRange { start_pfn, end_pfn }) {
            let mut pfn = r.start_pfn;
            while pfn < r.end_pfn {
                if !mm.sparse.pfn_is_online(pfn) && mm.sparse.pfn_valid(pfn) {
                    // Hot-added memory that is not online (or was offlined): not the allocator's; its memmap is
                    // poisoned on purpose. Skip to the next section.
                    pfn = section_nr_to_pfn(pfn_to_section_nr(pfn) + 1).min(r.end_pfn);
                    continue;
                }
                let Some(p) = mm.sparse.pfn_to_page(pfn) else {
                    return Err(self.cerr(CheckKind::NoZone, 0, pfn, 0, 0, 0));
                };
                let zi = page_zone_id(p);
                if p.is_poisoned() || zi >= n {
                    return Err(self.cerr(CheckKind::NoZone, 0, pfn, 0, 0, zi as u64));
                }
                if next_block < blocks.len() && blocks[next_block].0 < pfn {
                    // A block that starts in a hole or in the middle of another block.
                    let (b, o, bz) = blocks[next_block];
                    return Err(self.cerr(CheckKind::NotFreeMemory, bz, b, o, 0, 0));
                }
                if next_block < blocks.len() && blocks[next_block].0 == pfn {
                    let (b, o, bz) = blocks[next_block];
                    let end = b + (1 << o);
                    if end > r.end_pfn {
                        return Err(self.cerr(CheckKind::NotFreeMemory, bz, b, o, r.end_pfn, end));
                    }
                    for t in b..end {
                        let Some(tp) = mm.sparse.pfn_to_page(t) else {
                            return Err(self.cerr(CheckKind::NotFreeMemory, bz, t, o, 0, 0));
                        };
                        if tp.is_reserved() || page_zone_id(tp) != bz || tp.is_poisoned() {
                            return Err(self.cerr(CheckKind::NotFreeMemory, bz, t, o, 0, 0));
                        }
                        if t != b && (tp.has_type(PG_BUDDY) || tp.refcount != 0) {
                            return Err(self.cerr(CheckKind::BadFreeTail, bz, t, o, 0, tp.refcount as u64));
                        }
                        if t == b && tp.refcount != 0 {
                            return Err(self.cerr(CheckKind::BadFreeHead, bz, t, o, 0, tp.refcount as u64));
                        }
                    }
                    free_seen[bz] += 1 << o;
                    next_block += 1;
                    pfn = end;
                    continue;
                }
                if p.is_reserved() {
                    reserved_seen[zi] += 1;
                    pfn += 1;
                    continue;
                }
                // An allocated block: head refcount 1 with its order, tails refcount 0, all memory of this zone.
                let o = p.private;
                if p.refcount != 1 || p.has_type(PG_BUDDY) || o > MAX_PAGE_ORDER as u64 || pfn & ((1 << o) - 1) != 0 {
                    return Err(self.cerr(CheckKind::BadAllocatedBlock, zi, pfn, 0, 1, p.refcount as u64));
                }
                let end = pfn + (1 << o);
                if end > r.end_pfn {
                    return Err(self.cerr(CheckKind::BadAllocatedBlock, zi, pfn, o as u32, r.end_pfn, end));
                }
                for t in pfn + 1..end {
                    let ok = mm.sparse.pfn_to_page(t).is_some_and(|tp| {
                        !tp.is_poisoned()
                            && tp.refcount == 0
                            && !tp.has_type(PG_BUDDY)
                            && !tp.is_reserved()
                            && page_zone_id(tp) == zi
                    });
                    if !ok {
                        return Err(self.cerr(CheckKind::BadAllocatedBlock, zi, t, o as u32, 0, 0));
                    }
                }
                alloc_seen[zi] += 1 << o;
                pfn = end;
            }
        }
        if next_block < blocks.len() {
            let (b, o, bz) = blocks[next_block];
            return Err(self.cerr(CheckKind::NotFreeMemory, bz, b, o, 0, 0));
        }
        // A policy that relinks memory pages (span-extend) moves pages between zones: then only the totals of
        // allocated + free + reserved and present can be compared.
        let exact = mm.policy.promise().memory_links_exact;
        let seen: u64 = (0..n).map(|zi| alloc_seen[zi] + free_seen[zi] + reserved_seen[zi]).sum();
        let present: u64 = self.zones.iter().map(|z| z.present_pages).sum();
        if seen != present {
            return Err(self.cerr(CheckKind::Present, usize::MAX, 0, 0, present, seen));
        }
        for (zi, z) in self.zones.iter().enumerate() {
            let (allocated, free) = (areas[zi].allocated_pages, areas[zi].free_pages);
            if alloc_seen[zi] != allocated {
                return Err(self.cerr(CheckKind::Allocated, zi, 0, 0, alloc_seen[zi], allocated));
            }
            if free_seen[zi] != free {
                return Err(self.cerr(CheckKind::FreePages, zi, 0, 0, free_seen[zi], free));
            }
            let total = alloc_seen[zi] + free_seen[zi] + reserved_seen[zi];
            if exact && total != z.present_pages {
                return Err(self.cerr(CheckKind::Present, zi, 0, 0, z.present_pages, total));
            }
            if allocated + free != z.managed_pages {
                return Err(self.cerr(CheckKind::Managed, zi, 0, 0, z.managed_pages, allocated + free));
            }
        }
        Ok(())
    }

    fn cerr(&self, kind: CheckKind, zi: usize, pfn: u64, order: u32, expected: u64, found: u64) -> CheckError {
        let zone = self.zones.get(zi).map_or((u32::MAX, ZoneType::Dma), |z| (z.nid, z.zone_type));
        CheckError { kind, zone, pfn, order, expected, found }
    }
}

/// The part of a pageblock `move_freepages_block` may touch.
#[derive(Clone, Copy, Debug)]
struct Prep {
    start: u64,
    end: u64,
    free_pages: u64,
}

/// `can_steal_fallback`.
#[inline]
fn can_steal_fallback(order: u32, start_mt: u64) -> bool {
    order >= PAGEBLOCK_ORDER
        || order >= PAGEBLOCK_ORDER / 2
        || start_mt == migratetype::RECLAIMABLE
        || start_mt == migratetype::UNMOVABLE
}

/// `build_zonelists` (ZONELIST_FALLBACK, node order): for each node, the nodes by distance (ties by node id;
/// Linux also spreads ties by node load and penalizes nodes with CPUs), each node's populated zones from the
/// highest down (`build_zonerefs_node`).
fn build_zonelists(zones: &Zones, distance: &[u8]) -> Vec<Vec<u16>> {
    let n = zones.nodes.len();
    (0..n)
        .map(|local| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&m| (m != local, distance[local * n + m], m));
            let mut zl = Vec::new();
            for m in order {
                for z in zones.nodes[m].zones.iter().rev() {
                    if z.populated() {
                        zl.push((m * MAX_NR_ZONES + z.zone_type.index()) as u16);
                    }
                }
            }
            zl
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, MemRange};
    use crate::model::MmOptions;
    use crate::policy;
    use crate::sparse::HeapBacking;
    use alloc::boxed::Box;
    use migratetype::{MOVABLE, RECLAIMABLE, UNMOVABLE};

    fn boot(memory: &[MemRange], policy: &str) -> Mm {
        let layout = Layout::from_memory_ranges(memory).unwrap();
        Mm::boot(&layout, MmOptions::new(policy::by_name(policy).unwrap()), Box::new(HeapBacking)).unwrap()
    }

    fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
        MemRange { start_pfn, end_pfn, nid }
    }

    /// Node 0: DMA [1, 0x1000) with a hole at [0x9f, 0x100), DMA32 [0x1000, 0x1700); node 1: DMA32
    /// [0x1700, 0x4000). Section 0's memmap is reserved on node 0 at [0x1400, 0x1600), so the zone boundary
    /// between the two DMA32 zones at 0x1700 splits the max-order block [0x1400, 0x1800) and two free order-8
    /// blocks, 0x1600 (node 0) and 0x1700 (node 1), are buddies of each other.
    fn layout_a() -> Vec<MemRange> {
        vec![m(1, 0x9f, 0), m(0x100, 0x1700, 0), m(0x1700, 0x4000, 1)]
    }

    fn shape(b: &Buddy, mm: &Mm) -> Vec<(u64, u32, u32, ZoneType)> {
        b.free_blocks(mm).iter().map(|f| (f.pfn, f.order, f.nid, f.zone)).collect()
    }

    #[test]
    fn handover_frees_largest_aligned_blocks_within_zones_and_holes() {
        let mut mm = boot(&layout_a(), "upstream");
        assert_eq!(mm.memblock.reserved_reason(0x1400), Some(crate::layout::ReserveReason::Memmap));
        let b = Buddy::from_boot(&mut mm).unwrap();
        b.check(&mm).unwrap();
        let s = shape(&b, &mm);
        let (dma, dma32) = (ZoneType::Dma, ZoneType::Dma32);
        let mut expect = vec![];
        // [1, 0x9f): every block stops at the hole at 0x9f.
        for (pfn, o) in [(1, 0), (2, 1), (4, 2), (8, 3), (0x10, 4), (0x20, 5), (0x40, 6), (0x80, 4), (0x90, 3)] {
            expect.push((pfn, o, 0, dma));
        }
        for (pfn, o) in [(0x98, 2), (0x9c, 1), (0x9e, 0), (0x100, 8), (0x200, 9), (0x400, 10), (0x800, 10)] {
            expect.push((pfn, o, 0, dma));
        }
        expect.push((0xc00, 10, 0, dma));
        expect.push((0x1000, 10, 0, dma32));
        expect.push((0x1600, 8, 0, dma32));
        expect.push((0x1700, 8, 1, dma32));
        for pfn in (0x1800..0x4000).step_by(0x400) {
            expect.push((pfn, 10, 1, dma32));
        }
        assert_eq!(s, expect);
        for z in b.all_zone_counts() {
            let model = mm.zones.zone(z.nid, z.zone).unwrap();
            assert_eq!(z.managed_pages, model.managed_pages, "{:?}", z);
            assert_eq!(z.free_pages, z.managed_pages);
        }
        assert_eq!(b.zone_counts(0, dma).unwrap().managed_pages, 0x9e + 0xf00);
        assert_eq!(b.zone_counts(0, dma32).unwrap().managed_pages, 0x500);
        assert_eq!(b.zone_counts(1, dma32).unwrap().managed_pages, 0x2900);
    }

    #[test]
    fn split_and_merge_restore_a_max_order_block() {
        let mut mm = boot(&[m(0x100000, 0x108000, 0)], "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        let initial = shape(&b, &mm);
        // The memmap takes the top 512 pages: 31 max-order blocks and one of order 9 at 0x107c00.
        let c = b.zone_counts(0, ZoneType::Normal).unwrap();
        assert_eq!((c.nr_free[10], c.nr_free[9]), (31, 1));
        // __rmqueue_smallest splits the smallest block that fits: the order-9 one (expand: one of each order).
        let pfn = b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, MOVABLE).unwrap();
        assert_eq!(pfn, 0x107c00);
        b.check(&mm).unwrap();
        let c = b.zone_counts(0, ZoneType::Normal).unwrap();
        assert_eq!(c.nr_free[10], 31);
        assert_eq!(c.nr_free[9], 0);
        assert!(c.nr_free[..9].iter().all(|&n| n == 1), "{:?}", c.nr_free);
        assert_eq!(c.allocated_pages, 1);
        let p2 = b.alloc_pages(&mut mm, 3, ZoneType::Normal, 0, MOVABLE).unwrap();
        assert_eq!(p2 & 7, 0);
        b.check(&mm).unwrap();
        b.free_pages(&mut mm, pfn, 0).unwrap();
        b.check(&mm).unwrap();
        b.free_pages(&mut mm, p2, 3).unwrap();
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial);
    }

    #[test]
    fn no_merge_across_a_zone_boundary_or_a_hole() {
        let mut mm = boot(&layout_a(), "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        let initial = shape(&b, &mm);
        // Take the two order-8 buddies on both sides of the node 0 / node 1 boundary, then give them back.
        let n0 = b.alloc_pages(&mut mm, 8, ZoneType::Dma32, 0, MOVABLE).unwrap();
        let n1 = b.alloc_pages(&mut mm, 8, ZoneType::Dma32, 1, MOVABLE).unwrap();
        assert_eq!((n0, n1), (0x1600, 0x1700));
        b.free_pages(&mut mm, n1, 8).unwrap();
        b.free_pages(&mut mm, n0, 8).unwrap();
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial, "0x1600 and 0x1700 are buddies in different zones");
        // The order-0 block at 0x9e has its buddy 0x9f in the hole.
        let dma = b.alloc_pages(&mut mm, 0, ZoneType::Dma, 0, UNMOVABLE).unwrap();
        assert_eq!(dma, 1, "pageblock 0 starts in a hole (pfn 0): UNMOVABLE, and its smallest block is pfn 1");
        b.free_pages(&mut mm, dma, 0).unwrap();
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial);
    }

    #[test]
    fn bad_frees_are_named_errors_and_change_nothing() {
        let mut mm = boot(&layout_a(), "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        let p = b.alloc_pages(&mut mm, 2, ZoneType::Dma32, 1, MOVABLE).unwrap();
        let before = shape(&b, &mm);
        let free_head = before.iter().find(|f| f.1 == 10).unwrap().0;
        let cases = [
            (p, 11, FreeError::BadOrder { order: 11 }),
            (p + 1, 1, FreeError::Unaligned { pfn: p + 1, order: 1 }),
            (p, 1, FreeError::WrongOrder { pfn: p, allocated: 2, given: 1 }),
            (p, 3, FreeError::WrongOrder { pfn: p, allocated: 2, given: 3 }),
            (p + 1, 0, FreeError::NotAllocated { pfn: p + 1 }),
            (free_head, 10, FreeError::DoubleFree { pfn: free_head, free_order: 10 }),
            (free_head + 4, 0, FreeError::NotAllocated { pfn: free_head + 4 }),
            (0x1400, 0, FreeError::Reserved { pfn: 0x1400 }),
            (0x9f, 0, FreeError::Reserved { pfn: 0x9f }),
            (0x8000, 0, FreeError::NoStructPage { pfn: 0x8000 }),
            (!1023, 10, FreeError::NoStructPage { pfn: !1023 }),
        ];
        for (pfn, order, want) in cases {
            let got = b.free_pages(&mut mm, pfn, order).unwrap_err();
            if order == 3 {
                assert!(matches!(got, FreeError::Unaligned { .. } | FreeError::WrongOrder { .. }), "{}", got);
            } else {
                assert_eq!(got, want, "free({:#x}, {})", pfn, order);
            }
            assert!(!got.to_string().is_empty());
            b.check(&mm).unwrap();
            assert_eq!(shape(&b, &mm), before);
        }
        b.free_pages(&mut mm, p, 2).unwrap();
        // p merged back into the order-8 block it was split from.
        assert_eq!(b.free_pages(&mut mm, p, 2), Err(FreeError::DoubleFree { pfn: p, free_order: 8 }));
        b.check(&mm).unwrap();
        assert_eq!(b.alloc_pages(&mut mm, 11, ZoneType::Normal, 0, MOVABLE), Err(AllocError::BadOrder { order: 11 }));
        assert_eq!(b.alloc_pages(&mut mm, 0, ZoneType::Normal, 2, MOVABLE), Err(AllocError::BadNode { nid: 2 }));
        assert_eq!(
            b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, migratetype::ISOLATE),
            Err(AllocError::BadMigratetype { migratetype: migratetype::ISOLATE })
        );
    }

    fn mfb_calls(mm: &Mm) -> u64 {
        mm.checker.sites.iter().find(|s| s.site == "move_freepages_block").map_or(0, |s| s.calls)
    }

    #[test]
    fn fallback_steals_whole_large_blocks() {
        let mut mm = boot(&[m(0x100000, 0x108000, 0)], "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        let initial = shape(&b, &mm);
        // Every pageblock is MOVABLE: an UNMOVABLE request steals the largest MOVABLE block (order 10) and
        // changes both its pageblocks (change_pageblock_range); the split remainders are UNMOVABLE.
        let u = b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, UNMOVABLE).unwrap();
        assert_eq!(u & 1023, 0);
        assert_eq!(mm.sparse.get_pfnblock_flags_mask(u, migratetype::MASK), UNMOVABLE);
        assert_eq!(mm.sparse.get_pfnblock_flags_mask(u + 512, migratetype::MASK), UNMOVABLE);
        assert_eq!((b.stats().pageblocks_changed, b.stats().fallbacks, mfb_calls(&mm)), (2, 1, 0));
        let u2 = b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, UNMOVABLE).unwrap();
        assert_eq!((u2, b.stats().fallbacks), (u + 1, 1), "the remainder serves UNMOVABLE without a fallback");
        b.check(&mm).unwrap();
        b.free_pages(&mut mm, u, 0).unwrap();
        b.free_pages(&mut mm, u2, 0).unwrap();
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial);
    }

    #[test]
    fn fallback_claims_a_half_free_pageblock_through_move_freepages_block() {
        let mut mm = boot(&[m(0x100000, 0x108000, 0)], "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        let initial = shape(&b, &mm);
        let normal = ZoneType::Normal;
        // Fill the zone with MOVABLE order-9 blocks, free one and take its first half back: the only free block
        // is an order-8 MOVABLE half of one pageblock.
        let mut blocks = vec![];
        while let Ok(p) = b.alloc_pages(&mut mm, 9, normal, 0, MOVABLE) {
            blocks.push(p);
        }
        assert_eq!(b.stats().fallbacks, 0);
        let victim = blocks.pop().unwrap();
        b.free_pages(&mut mm, victim, 9).unwrap();
        let half = b.alloc_pages(&mut mm, 8, normal, 0, MOVABLE).unwrap();
        assert_eq!(half, victim);
        b.check(&mm).unwrap();
        // RECLAIMABLE may steal (can_steal_fallback) and half the pageblock is free: claim it.
        let r = b.alloc_pages(&mut mm, 0, normal, 0, RECLAIMABLE).unwrap();
        assert_eq!(r, victim + 256);
        assert_eq!(mm.sparse.get_pfnblock_flags_mask(victim, migratetype::MASK), RECLAIMABLE);
        assert_eq!((b.stats().mfb_claimed, b.stats().pages_moved, mfb_calls(&mm)), (1, 256, 1));
        assert_eq!(mm.checker.total_violations, 0);
        b.check(&mm).unwrap();
        // UNMOVABLE falls back to RECLAIMABLE first: its largest block is order 7 and only 255 pages of the
        // pageblock are free, so it takes that block alone and the pageblock stays RECLAIMABLE.
        let u = b.alloc_pages(&mut mm, 0, normal, 0, UNMOVABLE).unwrap();
        assert_eq!(u, victim + 384);
        assert_eq!(mm.sparse.get_pfnblock_flags_mask(victim, migratetype::MASK), RECLAIMABLE, "not claimed");
        assert_eq!((b.stats().mfb_claimed, b.stats().move_freepages_block, b.stats().fallbacks), (1, 2, 2));
        let free_of = |b: &Buddy, mm: &Mm, mt| -> u64 {
            b.free_blocks(mm).iter().filter(|f| f.migratetype == mt).map(|f| 1u64 << f.order).sum()
        };
        assert_eq!(free_of(&b, &mm, UNMOVABLE), 0, "the rest of the order-7 block stays with its fallback type");
        assert_eq!(free_of(&b, &mm, RECLAIMABLE), 254);
        b.check(&mm).unwrap();
        for (p, o) in [(u, 0), (r, 0), (half, 8)] {
            b.free_pages(&mut mm, p, o).unwrap();
        }
        for p in blocks {
            b.free_pages(&mut mm, p, 9).unwrap();
        }
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial);
    }

    #[test]
    fn move_freepages_block_skips_or_clamps_a_pageblock_shared_by_two_zones() {
        // Node 0's ZONE_NORMAL ends at 0x108100 and node 1's starts there: pageblock 0x108000 is split between
        // them. Node 0's last free block (order 8 at 0x108000) lies in a pageblock whose end is outside its
        // zone (skipped, single block taken); node 1's first (order 8 at 0x108100) in one whose start is
        // outside its zone (clamped to 0x108100, claimed, the usemap written there: no violation).
        let mut mm = boot(&[m(0x100000, 0x108100, 0), m(0x108100, 0x110000, 1)], "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        let initial = shape(&b, &mm);
        assert!(initial.contains(&(0x108000, 8, 0, ZoneType::Normal)));
        assert!(initial.contains(&(0x108100, 8, 1, ZoneType::Normal)));
        let mut live = vec![];
        for nid in [0, 1] {
            let zone_pages = b.zone_counts(nid, ZoneType::Normal).unwrap().managed_pages;
            for _ in 0..zone_pages {
                live.push(b.alloc_pages(&mut mm, 0, ZoneType::Normal, nid, UNMOVABLE).unwrap());
            }
            assert_eq!(b.zone_counts(nid, ZoneType::Normal).unwrap().free_pages, 0);
        }
        // Each of node 0's last 256 pages came through a fallback that could not claim the pageblock (its
        // remainder stays MOVABLE, so the next UNMOVABLE request falls back again, as in Linux).
        assert_eq!((b.stats().mfb_skipped, b.stats().mfb_clamped), (256, 1), "{:?}", b.stats());
        assert_eq!(b.stats().mfb_skipped_pfns, 256 * 0x100 + 0x100);
        assert_eq!(mm.sparse.get_pfnblock_flags_mask(0x108000, migratetype::MASK), UNMOVABLE);
        assert_eq!(mfb_calls(&mm), 1);
        assert_eq!(mm.checker.total_violations, 0);
        b.check(&mm).unwrap();
        for p in live {
            b.free_pages(&mut mm, p, 0).unwrap();
        }
        b.check(&mm).unwrap();
        assert_eq!(shape(&b, &mm), initial);
    }

    #[test]
    fn exhaustion_then_free_all_restores_the_initial_shape() {
        for policy in ["upstream", "zeroed", "strict"] {
            let mut mm = boot(&layout_a(), policy);
            let b = Buddy::from_boot(&mut mm).unwrap();
            let initial = shape(&b, &mm);
            let mut live = vec![];
            let mut i = 0u64;
            loop {
                let mt = [MOVABLE, UNMOVABLE, RECLAIMABLE][(i % 3) as usize];
                let nid = (i % 2) as u32;
                match b.alloc_pages(&mut mm, 0, ZoneType::Movable, nid, mt) {
                    Ok(p) => live.push(p),
                    Err(AllocError::NoMemory { .. }) => break,
                    Err(e) => panic!("{}", e),
                }
                i += 1;
            }
            assert_eq!(b.total_free_pages(), 0);
            assert_eq!(live.len() as u64, b.total_managed_pages());
            b.check(&mm).unwrap();
            // Free in a scrambled order.
            let n = live.len();
            for k in 0..n {
                let j = (k * 7919) % n;
                live.swap(k, j);
            }
            for p in live {
                b.free_pages(&mut mm, p, 0).unwrap();
            }
            b.check(&mm).unwrap();
            assert_eq!(shape(&b, &mm), initial, "{}", policy);
        }
    }

    #[test]
    fn zonelists_follow_distance_then_zone_order() {
        let mem = [m(0x1000, 0x8000, 0), m(0x100000, 0x108000, 0), m(0x108000, 0x110000, 1), m(0x110000, 0x118000, 2)];
        let mut mm = boot(&mem, "upstream");
        let b = Buddy::from_boot(&mut mm).unwrap();
        use ZoneType::*;
        assert_eq!(b.zonelist(0), vec![(0, Normal), (0, Dma32), (1, Normal), (2, Normal)]);
        assert_eq!(b.zonelist(2), vec![(2, Normal), (0, Normal), (0, Dma32), (1, Normal)]);
        // A SLIT that puts node 2 next to node 0 and node 1 far away.
        let slit = [10, 40, 15, 40, 10, 40, 15, 40, 10];
        let mut mm = boot(&mem, "upstream");
        let b = Buddy::from_boot_with(&mut mm, Some(&slit)).unwrap();
        assert_eq!(b.zonelist(0), vec![(0, Normal), (0, Dma32), (2, Normal), (1, Normal)]);
        assert_eq!(b.node_distance(0, 2), Some(15));
        assert_eq!(
            Buddy::from_boot_with(&mut boot(&mem, "upstream"), Some(&slit[..4])).unwrap_err(),
            BuddyError::BadDistanceMatrix { nodes: 3, len: 4 }
        );
        // Node-local first; a DMA32 limit skips Normal; an exhausted node falls back by distance.
        let p = b.alloc_pages(&mut mm, 0, Normal, 1, MOVABLE).unwrap();
        assert!((0x108000..0x110000).contains(&p));
        let p = b.alloc_pages(&mut mm, 0, Dma32, 2, MOVABLE).unwrap();
        assert!(p < 0x8000, "only node 0 has DMA32");
        while b.alloc_pages(&mut mm, 10, Normal, 0, MOVABLE).is_ok_and(|p| (0x100000..0x108000).contains(&p)) {}
        let p = b.alloc_pages(&mut mm, 10, Normal, 0, MOVABLE).unwrap();
        assert!(p < 0x8000 || (0x110000..0x118000).contains(&p), "{:#x}: DMA32 of node 0, then node 2", p);
        b.check(&mm).unwrap();
    }
}
