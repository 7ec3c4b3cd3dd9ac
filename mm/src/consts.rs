//! x86_64 constants of the Linux memory model that the whole crate shares.
//!
//! Every value here is the one Linux uses on x86_64 with SPARSEMEM_EXTREME, 4 KiB pages and hugetlb
//! (pageblock_order 9). Changing one changes the model; they are not tunables.

/// Bits in a page offset (4 KiB pages).
pub const PAGE_SHIFT: u32 = 12;
/// Bytes in a page.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// arch/x86/include/asm/sparsemem.h: a section is 128 MiB.
pub const SECTION_SIZE_BITS: u32 = 27;
/// Pages in one section (32768).
pub const PAGES_PER_SECTION: u64 = 1 << (SECTION_SIZE_BITS - PAGE_SHIFT);
/// include/linux/mmzone.h: a subsection is 2 MiB.
pub const SUBSECTION_SHIFT: u32 = 21;
/// Pages in one subsection (512).
pub const PAGES_PER_SUBSECTION: u64 = 1 << (SUBSECTION_SHIFT - PAGE_SHIFT);
/// Subsections in a section (64): the subsection map is one u64 per section.
pub const SUBSECTIONS_PER_SECTION: u64 = PAGES_PER_SECTION / PAGES_PER_SUBSECTION;

/// Default MAX_PHYSMEM_BITS with 4-level paging.
pub const MAX_PHYSMEM_BITS: u32 = 46;
/// MAX_PHYSMEM_BITS with 5-level paging (an option of the layout).
pub const MAX_PHYSMEM_BITS_5LEVEL: u32 = 52;

/// CONFIG_NODES_SHIFT 6 (the x86_64 defconfig value; MAXSMP has 10).
pub const NODES_SHIFT: u32 = 6;
/// Node ids are `0..MAX_NUMNODES`.
pub const MAX_NUMNODES: usize = 1 << NODES_SHIFT;

/// pageblock_order with CONFIG_HUGETLB_PAGE on x86_64 (HPAGE_SHIFT - PAGE_SHIFT).
pub const PAGEBLOCK_ORDER: u32 = 9;
/// Pages in a pageblock (512).
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;
/// Pageblocks in a section (64).
pub const PAGEBLOCKS_PER_SECTION: u64 = PAGES_PER_SECTION / PAGEBLOCK_NR_PAGES;
/// NR_PAGEBLOCK_BITS before Zi Yan's 2025 series: 3 migratetype bits + PB_migrate_skip.
pub const NR_PAGEBLOCK_BITS: u32 = 4;

/// MAX_PAGE_ORDER (formerly MAX_ORDER - 1): the largest buddy block is 2^10 pages (4 MiB).
pub const MAX_PAGE_ORDER: u32 = 10;

/// Physical address of a pfn.
#[inline]
pub const fn pfn_phys(pfn: u64) -> u64 {
    pfn << PAGE_SHIFT
}

/// The pfn containing a physical address (PFN_DOWN).
#[inline]
pub const fn pfn_down(addr: u64) -> u64 {
    addr >> PAGE_SHIFT
}

/// The first pfn at or above a physical address (PFN_UP).
#[inline]
pub const fn pfn_up(addr: u64) -> u64 {
    (addr + PAGE_SIZE - 1) >> PAGE_SHIFT
}

/// Section number of a pfn (pfn_to_section_nr).
#[inline]
pub const fn pfn_to_section_nr(pfn: u64) -> u64 {
    pfn >> (SECTION_SIZE_BITS - PAGE_SHIFT)
}

/// First pfn of a section (section_nr_to_pfn).
#[inline]
pub const fn section_nr_to_pfn(nr: u64) -> u64 {
    nr << (SECTION_SIZE_BITS - PAGE_SHIFT)
}

/// Rounds `x` down to a multiple of the power of two `a`.
#[inline]
pub const fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}

/// Rounds `x` up to a multiple of the power of two `a`, saturating at the largest multiple.
#[inline]
pub const fn align_up(x: u64, a: u64) -> u64 {
    match x.checked_add(a - 1) {
        Some(v) => v & !(a - 1),
        None => u64::MAX & !(a - 1),
    }
}

/// pageblock_start_pfn.
#[inline]
pub const fn pageblock_start_pfn(pfn: u64) -> u64 {
    align_down(pfn, PAGEBLOCK_NR_PAGES)
}

/// pageblock_end_pfn (exclusive).
#[inline]
pub const fn pageblock_end_pfn(pfn: u64) -> u64 {
    pageblock_start_pfn(pfn) + PAGEBLOCK_NR_PAGES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_geometry_matches_linux() {
        assert_eq!(PAGES_PER_SECTION, 32768);
        assert_eq!(PAGES_PER_SUBSECTION, 512);
        assert_eq!(SUBSECTIONS_PER_SECTION, 64);
        assert_eq!(PAGEBLOCKS_PER_SECTION, 64);
        assert_eq!(pfn_to_section_nr(0x13a000), 39);
        assert_eq!(section_nr_to_pfn(40), 0x140000);
        assert_eq!(align_up(0x13a000, PAGES_PER_SECTION), 0x140000);
        assert_eq!(align_up(u64::MAX, 8), u64::MAX & !7);
        assert_eq!(pfn_up(0x9fc00), 0xa0);
        assert_eq!(pfn_down(0x9fc00), 0x9f);
    }
}
