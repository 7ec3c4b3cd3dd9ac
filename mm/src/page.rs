//! `struct page`: the 64-byte descriptor of one page frame, its flags word and its page type.
//!
//! The layout follows Linux's struct page on x86_64 (flags, lru list links, mapping, index, private, _mapcount,
//! _refcount, memcg_data: 8 words). The flags word packs the page flags at the bottom and, from the top, the
//! SECTION, NODE and ZONE fields as include/linux/page-flags-layout.h does for classic SPARSEMEM
//! (`| SECTION:19 | NODE:6 | ZONE:2 | ... | FLAGS |`); the vmemmap memory model (issue 6) leaves SECTION at 0.
//!
//! List links hold pfns instead of pointers: `next == prev == own pfn` is Linux's `INIT_LIST_HEAD(&page->lru)`
//! (a list head pointing at itself), and a value with [`LIST_HEAD_BIT`] names a list head outside the memmap
//! (a buddy free list). This keeps the struct pages free of raw pointers so that the same bytes mean the same
//! thing in the kernel and on the host, and so that a poisoned link can never be followed.
//!
//! # Invariants
//! - `size_of::<Page>() == 64` (asserted at compile time);
//! - a page whose flags word is [`PAGE_POISON_PATTERN`] has never been initialized: its links, node and zone
//!   must not be read (the accessors return [`PageError::Poisoned`] instead);
//! - `_mapcount` doubles as the page type (Linux's `page_type`): `-1` is "no type"; a type is set by clearing
//!   its bit below [`PAGE_TYPE_BASE`].

use core::fmt;

use crate::consts::{pfn_to_section_nr, MAX_PHYSMEM_BITS, NODES_SHIFT, SECTION_SIZE_BITS};

/// Bytes of one struct page.
pub const PAGE_STRUCT_SIZE: u64 = 64;

/// Linux's page_init_poison pattern (`PAGE_POISON_PATTERN`, -1l): every byte 0xff.
pub const PAGE_POISON_PATTERN: u64 = u64::MAX;

/// Page flag bit numbers (include/linux/page-flags.h, as of Linux 5.10).
pub mod pg {
    pub const LOCKED: u32 = 0;
    pub const REFERENCED: u32 = 1;
    pub const UPTODATE: u32 = 2;
    pub const DIRTY: u32 = 3;
    pub const LRU: u32 = 4;
    pub const ACTIVE: u32 = 5;
    pub const SLAB: u32 = 9;
    pub const RESERVED: u32 = 12;
    pub const PRIVATE: u32 = 13;
    pub const HEAD: u32 = 16;
    /// Number of flag bits in use (the FLAGS field width, __NR_PAGEFLAGS rounded up).
    pub const NR_PAGEFLAGS: u32 = 24;
}

/// ZONES_WIDTH: 2 bits (DMA, DMA32, NORMAL, MOVABLE).
pub const ZONES_WIDTH: u32 = 2;
/// NODES_WIDTH.
pub const NODES_WIDTH: u32 = NODES_SHIFT;
/// SECTIONS_WIDTH for classic SPARSEMEM: MAX_PHYSMEM_BITS - SECTION_SIZE_BITS.
pub const SECTIONS_WIDTH: u32 = MAX_PHYSMEM_BITS - SECTION_SIZE_BITS;
/// SECTIONS_PGOFF: the section field sits at the top of the flags word.
pub const SECTIONS_PGOFF: u32 = 64 - SECTIONS_WIDTH;
/// NODES_PGOFF.
pub const NODES_PGOFF: u32 = SECTIONS_PGOFF - NODES_WIDTH;
/// ZONES_PGOFF.
pub const ZONES_PGOFF: u32 = NODES_PGOFF - ZONES_WIDTH;

const _: () = assert!(ZONES_PGOFF >= pg::NR_PAGEFLAGS, "page-flags layout overflows into the flag bits");

/// `page_zone_id`: the NODE | ZONE bits of the flags word, which are contiguous, so the id is
/// `nid << ZONES_WIDTH | zone`.
pub const ZONEID_MASK: u64 = (1 << (NODES_WIDTH + ZONES_WIDTH)) - 1;
const _: () = assert!(NODES_PGOFF == ZONES_PGOFF + ZONES_WIDTH, "the node and zone fields must be contiguous");

/// `page_zone_id` of a flags word (see [`ZONEID_MASK`]).
#[inline(always)]
pub const fn zone_id_of_flags(flags: u64) -> usize {
    ((flags >> ZONES_PGOFF) & ZONEID_MASK) as usize
}

/// `page_type` base: types are set by clearing a bit below it (include/linux/page-flags.h).
pub const PAGE_TYPE_BASE: u32 = 0xf000_0000;
bitflags::bitflags! {
    /// Page types: bits of `_mapcount` below [`PAGE_TYPE_BASE`], *cleared* to set the type
    /// (include/linux/page-flags.h `PG_buddy`, `PG_offline`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PageType: u32 {
        /// PG_buddy: the page heads a free buddy block; `private` holds its order.
        const BUDDY = 0x0000_0080;
        /// PG_offline: the page is logically offline (memory hotplug, balloon).
        const OFFLINE = 0x0000_0100;
    }
}
const _: () = assert!(PageType::all().bits() & PAGE_TYPE_BASE == 0, "page types sit below PAGE_TYPE_BASE");

bitflags::bitflags! {
    /// The page-flag bits of the flags word, as a set. The word packs them (its low [`pg::NR_PAGEFLAGS`] bits) with
    /// the zone, node and section fields, so `Page::flags` stays a u64 and [`pg`] keeps Linux's bit numbers
    /// (`enum pageflags`) for `set_flag` / `clear_flag`; [`Page::page_flags`] is the set view.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PageFlags: u64 {
        const LOCKED = 1 << pg::LOCKED;
        const REFERENCED = 1 << pg::REFERENCED;
        const UPTODATE = 1 << pg::UPTODATE;
        const DIRTY = 1 << pg::DIRTY;
        const LRU = 1 << pg::LRU;
        const ACTIVE = 1 << pg::ACTIVE;
        const SLAB = 1 << pg::SLAB;
        const RESERVED = 1 << pg::RESERVED;
        const PRIVATE = 1 << pg::PRIVATE;
        const HEAD = 1 << pg::HEAD;
    }
}
const _: () = assert!(PageFlags::all().bits() >> pg::NR_PAGEFLAGS == 0, "page flags overflow their field");

/// Marks a list link that names a list head outside the memmap instead of a pfn.
pub const LIST_HEAD_BIT: u64 = 1 << 63;

/// The struct page. See the module documentation.
#[repr(C, align(64))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Flags word: page flags at the bottom, ZONE, NODE and SECTION at the top.
    pub flags: u64,
    /// `lru.next` as a pfn (or a list head with [`LIST_HEAD_BIT`]).
    pub lru_next: u64,
    /// `lru.prev` as a pfn (or a list head with [`LIST_HEAD_BIT`]).
    pub lru_prev: u64,
    /// `mapping` (unused by the model; kept for the layout).
    pub mapping: u64,
    /// `index`.
    pub index: u64,
    /// `private`: the buddy order of a free block's head page.
    pub private: u64,
    /// `_mapcount`, which doubles as `page_type`.
    pub mapcount: i32,
    /// `_refcount`.
    pub refcount: i32,
    /// `memcg_data` (unused; kept for the layout).
    pub memcg_data: u64,
}

impl Page {
    /// The 64 bytes of the struct page as they lie in memory (x86-64: little-endian, `repr(C)` field order).
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        for (i, w) in
            [self.flags, self.lru_next, self.lru_prev, self.mapping, self.index, self.private].iter().enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b[48..52].copy_from_slice(&self.mapcount.to_le_bytes());
        b[52..56].copy_from_slice(&self.refcount.to_le_bytes());
        b[56..64].copy_from_slice(&self.memcg_data.to_le_bytes());
        b
    }
}

const _: () = assert!(core::mem::size_of::<Page>() == PAGE_STRUCT_SIZE as usize);
const _: () = assert!(core::mem::align_of::<Page>() == 64);

/// A page that may not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    /// The struct page of `pfn` still holds the poison pattern: nothing ever initialized it.
    Poisoned { pfn: u64 },
    /// `pfn` has no struct page (`pfn_valid` is false).
    Invalid { pfn: u64 },
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Poisoned { pfn } => {
                write!(f, "page:pfn {:#x} is uninitialized and poisoned (PF_POISONED_CHECK)", pfn)
            }
            PageError::Invalid { pfn } => write!(f, "pfn {:#x} has no struct page (!pfn_valid)", pfn),
        }
    }
}

/// The node and zone links of an initialized page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Links {
    pub nid: u32,
    pub zone: u8,
}

impl Page {
    /// A page filled with the poison pattern (every byte 0xff), as `page_init_poison` leaves it.
    pub const POISONED: Page = Page {
        flags: PAGE_POISON_PATTERN,
        lru_next: u64::MAX,
        lru_prev: u64::MAX,
        mapping: u64::MAX,
        index: u64::MAX,
        private: u64::MAX,
        mapcount: -1,
        refcount: -1,
        memcg_data: u64::MAX,
    };

    /// An all-zero page (`mm_zero_struct_page`).
    pub const ZEROED: Page = Page {
        flags: 0,
        lru_next: 0,
        lru_prev: 0,
        mapping: 0,
        index: 0,
        private: 0,
        mapcount: 0,
        refcount: 0,
        memcg_data: 0,
    };

    /// Linux's `__init_single_page`: zero the page, set the links, refcount 1, mapcount -1 (no page type),
    /// lru pointing at itself.
    #[inline]
    pub fn init_single(&mut self, pfn: u64, zone: u8, nid: u32) {
        *self = Self::initialized(pfn, Self::link_bits(pfn, zone, nid));
    }

    /// The page `__init_single_page` makes of `pfn`, given its link bits ([`Page::link_bits`]).
    #[inline(always)]
    pub const fn initialized(pfn: u64, link_bits: u64) -> Page {
        Page {
            flags: link_bits,
            lru_next: pfn,
            lru_prev: pfn,
            mapping: 0,
            index: 0,
            private: 0,
            mapcount: -1,
            refcount: 1,
            memcg_data: 0,
        }
    }

    /// [`Page::initialized`] with `__free_pages_core`'s per-page work done (refcount 0; PG_reserved is already
    /// clear): a free page written by memmap init when the hand-over is fused into it.
    #[inline(always)]
    pub const fn initialized_free(pfn: u64, link_bits: u64) -> Page {
        Page { refcount: 0, ..Page::initialized(pfn, link_bits) }
    }

    /// The SECTION | NODE | ZONE bits of the flags word (`set_page_links`).
    #[inline]
    pub const fn link_bits(pfn: u64, zone: u8, nid: u32) -> u64 {
        let section = pfn_to_section_nr(pfn) & ((1 << SECTIONS_WIDTH) - 1);
        (section << SECTIONS_PGOFF)
            | (((nid as u64) & ((1 << NODES_WIDTH) - 1)) << NODES_PGOFF)
            | (((zone as u64) & ((1 << ZONES_WIDTH) - 1)) << ZONES_PGOFF)
    }

    /// Whether the page still holds the poison pattern (`PagePoisoned`).
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.flags == PAGE_POISON_PATTERN
    }

    /// The node and zone links, or an error naming `pfn` if the page is poisoned.
    #[inline]
    pub fn links(&self, pfn: u64) -> Result<Links, PageError> {
        if self.is_poisoned() {
            return Err(PageError::Poisoned { pfn });
        }
        Ok(Links {
            nid: ((self.flags >> NODES_PGOFF) & ((1 << NODES_WIDTH) - 1)) as u32,
            zone: ((self.flags >> ZONES_PGOFF) & ((1 << ZONES_WIDTH) - 1)) as u8,
        })
    }

    /// The section number stored in the flags word (classic SPARSEMEM's `page_to_section`).
    #[inline]
    pub fn section(&self) -> u64 {
        self.flags >> SECTIONS_PGOFF
    }

    /// Tests a page flag.
    #[inline]
    pub fn test_flag(&self, bit: u32) -> bool {
        self.flags & (1 << bit) != 0
    }

    /// Sets a page flag (`__SetPageX`).
    #[inline]
    pub fn set_flag(&mut self, bit: u32) {
        self.flags |= 1 << bit;
    }

    /// Clears a page flag (`__ClearPageX`).
    #[inline]
    pub fn clear_flag(&mut self, bit: u32) {
        self.flags &= !(1 << bit);
    }

    /// `PageReserved` (false for a poisoned page, whose flags are meaningless).
    #[inline]
    pub fn is_reserved(&self) -> bool {
        !self.is_poisoned() && self.test_flag(pg::RESERVED)
    }

    /// Whether `_mapcount` carries the page type `ty` (`PageBuddy`, `PageOffline`).
    #[inline]
    pub fn has_type(&self, ty: PageType) -> bool {
        (self.mapcount as u32 & (PAGE_TYPE_BASE | ty.bits())) == PAGE_TYPE_BASE
    }

    /// Sets a page type (`__SetPageBuddy`): only on a page without a type.
    #[inline]
    pub fn set_type(&mut self, ty: PageType) {
        self.mapcount = (self.mapcount as u32 & !ty.bits()) as i32;
    }

    /// Clears a page type.
    #[inline]
    pub fn clear_type(&mut self, ty: PageType) {
        self.mapcount = (self.mapcount as u32 | ty.bits()) as i32;
    }

    /// The page-flag bits of the flags word, as a set (the zone, node and section fields left out).
    #[inline]
    pub fn page_flags(&self) -> PageFlags {
        PageFlags::from_bits_truncate(self.flags)
    }

    /// The lru links `(next, prev)`, or an error naming `pfn` if the page is poisoned.
    #[inline]
    pub fn lru(&self, pfn: u64) -> Result<(u64, u64), PageError> {
        if self.is_poisoned() {
            return Err(PageError::Poisoned { pfn });
        }
        Ok((self.lru_next, self.lru_prev))
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_poisoned() {
            return f.write_str("Page(poisoned)");
        }
        write!(
            f,
            "Page(flags={:#018x} nid={} zone={} refcount={} mapcount={} lru=({:#x},{:#x}) private={:#x})",
            self.flags & ((1 << pg::NR_PAGEFLAGS) - 1),
            (self.flags >> NODES_PGOFF) & ((1 << NODES_WIDTH) - 1),
            (self.flags >> ZONES_PGOFF) & ((1 << ZONES_WIDTH) - 1),
            self.refcount,
            self.mapcount,
            self.lru_next,
            self.lru_prev,
            self.private
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_links_roundtrip() {
        assert_eq!(core::mem::size_of::<Page>(), 64);
        let mut p = Page::POISONED;
        assert!(p.is_poisoned());
        assert_eq!(p.links(0x1234), Err(PageError::Poisoned { pfn: 0x1234 }));
        assert_eq!(p.lru(7), Err(PageError::Poisoned { pfn: 7 }));
        p.init_single(0x13a000, 2, 37);
        assert_eq!(p.links(0x13a000), Ok(Links { nid: 37, zone: 2 }));
        assert_eq!(p.section(), 39);
        assert_eq!(p.refcount, 1);
        assert_eq!(p.lru(0x13a000), Ok((0x13a000, 0x13a000)));
        assert!(!p.is_reserved());
        p.set_flag(pg::RESERVED);
        assert!(p.is_reserved());
        assert_eq!(p.links(0), Ok(Links { nid: 37, zone: 2 }), "flag bits must not disturb the links");
    }

    #[test]
    fn page_type_bits() {
        let mut p = Page::ZEROED;
        p.init_single(5, 1, 0);
        assert!(!p.has_type(PageType::BUDDY));
        p.set_type(PageType::BUDDY);
        assert!(p.has_type(PageType::BUDDY));
        assert!(!p.has_type(PageType::OFFLINE));
        p.clear_type(PageType::BUDDY);
        assert_eq!(p.mapcount, -1);
        // A zeroed page (mapcount 0) has no type: the base bits are clear.
        assert!(!Page::ZEROED.has_type(PageType::BUDDY));
    }

    #[test]
    fn max_node_and_section_fit() {
        let mut p = Page::ZEROED;
        let max_pfn = (1u64 << (MAX_PHYSMEM_BITS - 12)) - 1;
        p.init_single(max_pfn, 3, 63);
        assert_eq!(p.links(max_pfn), Ok(Links { nid: 63, zone: 3 }));
        assert_eq!(p.section(), (1 << SECTIONS_WIDTH) - 1);
        assert!(!p.is_poisoned());
    }
}
