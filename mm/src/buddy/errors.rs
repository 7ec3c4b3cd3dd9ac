//! The allocator's errors: a failed hand-over ([`BuddyError`]), a failed allocation ([`AllocError`]) and a
//! rejected free ([`FreeError`]), each naming the pfn or argument at fault.

use crate::consts::MAX_PAGE_ORDER;
use crate::sparse::{migratetype, SparseError};
use crate::zones::ZoneType;
use core::fmt;

/// A failure of [`Buddy::from_boot`](super::Buddy::from_boot).
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
    /// Pages handed over as deferred (`Buddy::free_deferred`) are still pending: their struct pages were never
    /// written by the workers.
    DeferredPending { pfn: u64 },
    /// Deferred init of a grown range broke the pageblock invariant (`vm_debug=panic`).
    Pageblock(crate::usemap::Violation),
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
            BuddyError::DeferredPending { pfn } => {
                write!(f, "buddy: pfn {:#x} is still deferred; its struct page was never initialized", pfn)
            }
            BuddyError::Pageblock(v) => write!(f, "buddy: deferred_grow_zone: {}", v),
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

/// A failure of [`Buddy::alloc_pages`](super::Buddy::alloc_pages). Nothing changed (but a zone that grew).
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
    /// Growing a zone with deferred pages failed (`Buddy::deferred_grow_zone`).
    Grow(BuddyError),
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
            AllocError::Grow(e) => write!(f, "alloc_pages: growing a zone with deferred pages: {}", e),
        }
    }
}

/// A rejected [`Buddy::free_pages`](super::Buddy::free_pages). Nothing changed.
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
