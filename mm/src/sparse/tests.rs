//! Unit tests of the section table: early and hot-added validity, pfn <-> page, uniform templates, usemap bits,
//! the physmem limit.

use super::*;

fn sparse() -> Sparse {
    Sparse::new(MAX_PHYSMEM_BITS, Box::new(HeapBacking))
}

#[test]
fn early_sections_valid_for_the_whole_section() {
    let mut s = sparse();
    // -m 4000M: RAM ends 32 MiB into section 39.
    s.memory_present(0, 0x100000, 0x13a000).unwrap();
    assert_eq!(s.present_sections().collect::<Vec<_>>(), (32..40).collect::<Vec<_>>());
    assert!(!s.pfn_valid(0x139fff), "no memmap yet");
    for nr in 32..40 {
        s.init_section_memmap(nr, 0, true).unwrap();
    }
    assert!(s.pfn_valid(0x139fff));
    assert!(s.pfn_valid(0x13ffff), "early section: the tail beyond RAM is valid");
    assert!(!s.pfn_valid(0x140000));
    assert!(!s.pfn_valid(0xfffff));
    assert!(s.pfn_to_page(0x13ffff).unwrap().is_poisoned());
    assert_eq!(s.section(39).unwrap().usage.subsection_map, (1 << 16) - 1);
    assert_eq!(s.roots_allocated(), 1);
    assert_eq!(s.init_section_memmap(39, 0, true), Err(SparseError::AlreadyHasMemmap { section: 39 }));
}

#[test]
fn hot_added_sections_valid_per_subsection() {
    let mut s = sparse();
    s.memory_present(1, 0x140000, 0x140000 + 3 * PAGES_PER_SUBSECTION).unwrap();
    s.init_section_memmap(40, 0, false).unwrap();
    assert!(s.pfn_valid(0x140000));
    assert!(s.pfn_valid(0x140000 + 3 * PAGES_PER_SUBSECTION - 1));
    assert!(!s.pfn_valid(0x140000 + 3 * PAGES_PER_SUBSECTION));
    s.set_subsections(0x140000, 0x140200, false);
    assert!(!s.pfn_valid(0x140000));
    s.remove_section_memmap(40).unwrap();
    assert!(!s.pfn_valid(0x140200));
    assert!(s.section(40).unwrap().present());
}

#[test]
fn pfn_to_page_and_back() {
    let mut s = sparse();
    s.memory_present(0, 0x8000, 0x10000).unwrap();
    s.init_section_memmap(1, 0, true).unwrap();
    for pfn in [0x8000u64, 0x8001, 0xabcd, 0xffff] {
        s.pfn_to_page_mut(pfn).unwrap().init_single(pfn, 1, 0);
        let p = s.pfn_to_page(pfn).unwrap();
        assert_eq!(s.page_to_pfn(p), Some(pfn));
    }
    // A zeroed page claims section 0: classic page_to_pfn cannot find it.
    *s.pfn_to_page_mut(0x9000).unwrap() = Page::ZEROED;
    assert_eq!(s.page_to_pfn(s.pfn_to_page(0x9000).unwrap()), None);
    assert_eq!(s.section_pages_mut(1).unwrap().len(), 32768);
}

#[test]
fn uniform_sections_share_a_template() {
    let mut s = sparse();
    s.memory_present(2, 0x10000, 0x18000).unwrap();
    s.init_section_uniform(2, 0, true).unwrap();
    s.uniform_template_mut(2).unwrap().init_single(0x10000, 2, 2);
    assert!(s.pfn_to_page_mut(0x10001).is_none());
    assert_eq!(s.pfn_to_page(0x17fff).unwrap().links(0x17fff).unwrap().nid, 2);
    assert!(s.pfn_valid(0x17fff));
    s.materialize(2).unwrap();
    let p = s.pfn_to_page_mut(0x10001).unwrap();
    assert_eq!(p.lru(0x10001), Ok((0x10001, 0x10001)));
    assert_eq!(p.links(0x10001).unwrap().zone, 2);
    assert!(!s.section(2).unwrap().uniform());
    assert_eq!(s.page_to_pfn(s.pfn_to_page(0x17fff).unwrap()), Some(0x17fff));
}

#[test]
fn usemap_bits_are_independent() {
    let mut s = sparse();
    s.memory_present(0, 0, PAGES_PER_SECTION).unwrap();
    for pb in 0..PAGEBLOCKS_PER_SECTION {
        s.set_pfnblock_flags_mask(pb * PAGEBLOCK_NR_PAGES, pb % 5, migratetype::MASK);
    }
    for pb in 0..PAGEBLOCKS_PER_SECTION {
        let pfn = pb * PAGEBLOCK_NR_PAGES + 17;
        assert_eq!(s.get_pfnblock_flags_mask(pfn, migratetype::MASK), pb % 5);
    }
    s.set_pfnblock_flags_mask(513, migratetype::SKIP_BIT, migratetype::SKIP_BIT);
    assert_eq!(s.get_pfnblock_flags_mask(512, 0xf), 1 | migratetype::SKIP_BIT);
    assert_eq!(s.get_pfnblock_flags_mask(1024, 0xf), 2);
    assert!(!s.set_pfnblock_flags_mask(1 << 40, 1, 7), "no section there");
}

#[test]
fn beyond_physmem_is_an_error() {
    let mut s = sparse();
    let top = 1u64 << (MAX_PHYSMEM_BITS - PAGE_SHIFT);
    assert!(matches!(s.memory_present(0, top - 1, top + 1), Err(SparseError::BeyondPhysmem { .. })));
    assert!(!s.pfn_valid(top));
}
