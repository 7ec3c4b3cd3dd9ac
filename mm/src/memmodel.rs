//! Memory models: how a pfn finds its struct page (`pfn_to_page`) and whether it has one (`pfn_valid`).
//!
//! ```text
//!  Classic SPARSEMEM   pfn ─► roots[nr / 256] ─► mem_section[nr % 256] ─► section_mem_map + pfn * 64
//!  Sparse (cached)     pfn ─► flat[nr] (first struct page of the section, 0 if none) + (pfn % 32768) * 64
//!  Vmemmap             pfn ─► vmemmap + (pfn - base) * 64       (one virtually contiguous array)
//! ```
//! `Sparse` keeps the flat per-section table next to its section roots (`Sparse::page_ptr`), which is what the
//! buddy allocator and the walkers use. Linux's `CONFIG_SPARSEMEM_VMEMMAP` maps the memmap of every present
//! section at `vmemmap + pfn` in one virtual array, so `pfn_to_page` is an addition; on the host that is modelled
//! by [`Vmemmap`], a flat slice indexed by pfn. The kernel's `memmodel=vmemmap` maps each section's memmap at
//! `VMEMMAP_START + pfn * 64` through `MemmapBacking::map_section`; it can implement [`MemModel`] over that array
//! (a base pointer) and keep the rest of `mm` unchanged.
//! `pfn_valid` stays section-based in all three, as in Linux: a section must have a memmap, and be early or have
//! the pfn's subsection.
//!
//! # Invariants
//! - the three models agree on every pfn: same validity, and struct pages with the same content (the benchmark
//!   and the unit test below check it).

use alloc::vec::Vec;

use crate::consts::*;
use crate::page::Page;
use crate::sparse::Sparse;

/// A way to find struct pages. See the module documentation.
pub trait MemModel {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// `pfn_to_page` for a pfn whose section has a memmap.
    fn pfn_to_page(&self, pfn: u64) -> Option<&Page>;
    /// `pfn_valid`.
    fn pfn_valid(&self, pfn: u64) -> bool;
}

/// Classic SPARSEMEM through the section roots, without the lookup cache.
pub struct Classic<'a>(pub &'a Sparse);

impl MemModel for Classic<'_> {
    fn name(&self) -> &'static str {
        "classic"
    }
    #[inline]
    fn pfn_to_page(&self, pfn: u64) -> Option<&Page> {
        self.0.pfn_to_page_classic(pfn)
    }
    #[inline]
    fn pfn_valid(&self, pfn: u64) -> bool {
        self.0.pfn_valid(pfn)
    }
}

impl MemModel for Sparse {
    fn name(&self) -> &'static str {
        "sparse-cached"
    }
    #[inline]
    fn pfn_to_page(&self, pfn: u64) -> Option<&Page> {
        Sparse::pfn_to_page(self, pfn)
    }
    #[inline]
    fn pfn_valid(&self, pfn: u64) -> bool {
        Sparse::pfn_valid(self, pfn)
    }
}

/// The vmemmap model on the host: the struct pages of `[base_pfn, base_pfn + pages.len())` in one array, and
/// one validity bit per section (what `pfn_valid` reads of `mem_section` under SPARSEMEM_VMEMMAP, here for early
/// sections, which are valid as a whole).
pub struct Vmemmap<'a> {
    pub base_pfn: u64,
    pub pages: &'a [Page],
    valid_sections: Vec<u64>,
    first_section: u64,
}

impl<'a> Vmemmap<'a> {
    /// A vmemmap over `pages` (the struct pages of `base_pfn..`, which must be section aligned), valid where
    /// `sparse` says so at section granularity.
    pub fn new(sparse: &Sparse, base_pfn: u64, pages: &'a [Page]) -> Vmemmap<'a> {
        assert_eq!(base_pfn % PAGES_PER_SECTION, 0, "vmemmap base must be section aligned");
        let first_section = pfn_to_section_nr(base_pfn);
        let n = (pages.len() as u64).div_ceil(PAGES_PER_SECTION);
        let mut valid_sections = alloc::vec![0u64; n.div_ceil(64) as usize];
        for i in 0..n {
            if sparse.pfn_valid(base_pfn + i * PAGES_PER_SECTION) {
                valid_sections[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        Vmemmap { base_pfn, pages, valid_sections, first_section }
    }
}

impl MemModel for Vmemmap<'_> {
    fn name(&self) -> &'static str {
        "vmemmap"
    }
    #[inline]
    fn pfn_to_page(&self, pfn: u64) -> Option<&Page> {
        self.pages.get(pfn.wrapping_sub(self.base_pfn) as usize)
    }
    #[inline]
    fn pfn_valid(&self, pfn: u64) -> bool {
        let i = pfn_to_section_nr(pfn).wrapping_sub(self.first_section);
        self.valid_sections.get((i / 64) as usize).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::HeapBacking;
    use alloc::boxed::Box;

    #[test]
    fn three_models_agree() {
        let mut s = Sparse::new(MAX_PHYSMEM_BITS, Box::new(HeapBacking));
        s.memory_present(0, 0x8000, 0x18000).unwrap();
        s.memory_present(0, 0x28000, 0x30000).unwrap();
        for nr in [1, 2, 5] {
            s.init_section_memmap(nr, 0, true).unwrap();
        }
        for pfn in (0x8000..0x30000).step_by(0x111) {
            if let Some(p) = s.pfn_to_page_mut(pfn) {
                p.init_single(pfn, 1, 0);
            }
        }
        let copy: Vec<Page> = (0x8000..0x30000u64).map(|p| s.pfn_to_page(p).copied().unwrap_or(Page::ZEROED)).collect();
        let v = Vmemmap::new(&s, 0x8000, &copy);
        let c = Classic(&s);
        for pfn in (0..0x40000).step_by(0x3f) {
            assert_eq!(c.pfn_valid(pfn), MemModel::pfn_valid(&s, pfn), "{:#x}", pfn);
            assert_eq!(c.pfn_valid(pfn), v.pfn_valid(pfn), "{:#x}", pfn);
            if c.pfn_valid(pfn) {
                let a = c.pfn_to_page(pfn).unwrap();
                assert_eq!(a, MemModel::pfn_to_page(&s, pfn).unwrap());
                assert_eq!(a, v.pfn_to_page(pfn).unwrap());
            }
        }
    }
}
