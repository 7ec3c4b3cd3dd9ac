//! Section state and pfn lookups: online and subsection bits, `pfn_valid`, `pfn_to_online_page`'s test,
//! `pfn_to_page` (the lookup cache and the classic two-level walk), `page_to_pfn`, and section iterators.

use super::*;

impl Sparse {
    /// Marks a section online or offline.
    pub fn set_online(&mut self, nr: u64, online: bool) {
        if let Some(ms) = self.section_mut(nr) {
            if online {
                ms.section_mem_map |= SECTION_IS_ONLINE;
            } else {
                ms.section_mem_map &= !SECTION_IS_ONLINE;
            }
        }
    }

    /// Sets or clears subsection bits of `[start_pfn, end_pfn)` (within one section).
    pub fn set_subsections(&mut self, start_pfn: u64, end_pfn: u64, on: bool) {
        if start_pfn >= end_pfn {
            return;
        }
        if let Some(ms) = self.section_mut(pfn_to_section_nr(start_pfn)) {
            let m = subsection_mask(start_pfn, end_pfn);
            if on {
                ms.usage.subsection_map |= m;
            } else {
                ms.usage.subsection_map &= !m;
            }
        }
    }

    /// Linux's `pfn_valid` for SPARSEMEM: the pfn has a struct page that may be looked at.
    #[inline]
    pub fn pfn_valid(&self, pfn: u64) -> bool {
        let Some(ms) = self.section(pfn_to_section_nr(pfn)) else { return false };
        if !ms.valid() {
            return false;
        }
        ms.early() || ms.usage.subsection_map & (1 << subsection_index(pfn)) != 0
    }

    /// `pfn_to_online_page`: valid and in an online section.
    pub fn pfn_is_online(&self, pfn: u64) -> bool {
        self.pfn_valid(pfn)
            && self.section(pfn_to_section_nr(pfn)).is_some_and(|ms| {
                // Memory pfns (the hand-over's case) always have their subsection bit: tested first.
                ms.online()
                    && (ms.usage.subsection_map & (1 << subsection_index(pfn)) != 0
                        || !self.online_checks_subsection
                        || !ms.early())
            })
    }

    /// The address of the struct page of `pfn` if its section has a full (non-uniform) memmap: one load from the
    /// section-root lookup cache and an addition.
    #[inline(always)]
    pub fn page_ptr(&self, pfn: u64) -> Option<NonNull<Page>> {
        let base = *self.flat.get((pfn >> (SECTION_SIZE_BITS - PAGE_SHIFT)) as usize)?;
        // `base` is 0 for a section without a full memmap; otherwise the address of its first struct page.
        let addr = base.wrapping_add(((pfn & (PAGES_PER_SECTION - 1)) * PAGE_STRUCT_SIZE) as usize);
        if base == 0 {
            None
        } else {
            NonNull::new(addr as *mut Page)
        }
    }

    /// Starts loading the struct pages of the buddies of the block `[pfn, pfn + 2^order)` at orders `order..up_to`
    /// (`(pfn >> k << k) ^ (1 << k)`): what `__free_one_page` reads when it merges, and `buddy_merge_likely` after.
    /// One lookup: the buddies lie in the section of `pfn` (a section is aligned to more than MAX_PAGE_ORDER).
    #[inline(always)]
    pub fn prefetch_buddies(&self, pfn: u64, order: u32, up_to: u32) {
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.page_ptr(pfn) {
            let mut k = order;
            while k < up_to {
                let buddy = ((pfn >> k) << k) ^ (1 << k);
                let addr =
                    (p.as_ptr() as usize).wrapping_add(buddy.wrapping_sub(pfn).wrapping_mul(PAGE_STRUCT_SIZE) as usize);
                // SAFETY: a prefetch is a hint: it neither reads nor writes memory architecturally and never
                // faults, whatever the address.
                unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8) }
                k += 1;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (pfn, order, up_to);
    }

    /// Starts loading the struct page of `pfn` (a list neighbour a merge is about to unlink).
    #[inline(always)]
    pub fn prefetch_page(&self, pfn: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.page_ptr(pfn) {
            // SAFETY: a prefetch is a hint: it neither reads nor writes memory architecturally and never faults.
            unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.as_ptr().cast()) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = pfn;
    }

    /// Classic SPARSEMEM `pfn_to_page` through the section root (`__pfn_to_section` + `__section_mem_map_addr`),
    /// without the lookup cache: what [`Sparse::pfn_to_page`] costs without it (benchmark 4).
    #[inline]
    pub fn pfn_to_page_classic(&self, pfn: u64) -> Option<&Page> {
        let ms = self.section(pfn_to_section_nr(pfn))?;
        if !ms.valid() {
            return None;
        }
        let addr =
            if ms.uniform() { ms.coded_map() } else { ms.coded_map().wrapping_add(pfn.wrapping_mul(PAGE_STRUCT_SIZE)) };
        // SAFETY: the section has a memmap (SECTION_HAS_MEM_MAP), so the decoded pointer plus pfn * 64 lies inside
        // the PAGES_PER_SECTION pages `map` gave us for this section (or is the template page); they were
        // initialized (poisoned or zeroed) when attached, and `&self` forbids concurrent mutation.
        Some(unsafe { &*(addr as *const Page) })
    }

    /// `pfn_to_page`: the struct page of a pfn whose section has a memmap (the template for a uniform section).
    /// Callers that need Linux's exact semantics check [`Sparse::pfn_valid`] first.
    #[inline]
    pub fn pfn_to_page(&self, pfn: u64) -> Option<&Page> {
        match self.page_ptr(pfn) {
            // SAFETY: `page_ptr` points into the full memmap of an attached section, owned by us and
            // initialized; `&self` forbids mutation through this `Sparse` while the reference lives.
            Some(p) => Some(unsafe { p.as_ref() }),
            None => self.pfn_to_page_classic(pfn),
        }
    }

    /// Mutable `pfn_to_page`; `None` for a uniform section (use [`Sparse::uniform_template_mut`]).
    #[inline]
    pub fn pfn_to_page_mut(&mut self, pfn: u64) -> Option<&mut Page> {
        // SAFETY: as in `pfn_to_page`; `&mut self` makes this the only reference into the memmap.
        self.page_ptr(pfn).map(|mut p| unsafe { p.as_mut() })
    }

    /// The template page of a uniform section.
    pub fn uniform_template_mut(&mut self, nr: u64) -> Option<&mut Page> {
        let ms = self.section(nr)?;
        if !ms.valid() || !ms.uniform() {
            return None;
        }
        // SAFETY: a uniform section's decoded pointer is its 64-byte template page, owned by us; `&mut self`.
        Some(unsafe { &mut *(ms.coded_map() as *mut Page) })
    }

    /// Writes the pages of `[start_pfn, end_pfn)`, which must lie in one section, with `page(pfn)`; false (and
    /// nothing written) if that section has no full memmap. Each page is written once, whole, without being read,
    /// so this is also how memmap init writes the pages of a section attached by [`Sparse::attach_unfilled`].
    #[inline]
    pub(crate) fn write_pages(&mut self, start_pfn: u64, end_pfn: u64, mut page: impl FnMut(u64) -> Page) -> bool {
        if start_pfn >= end_pfn {
            return true;
        }
        let nr = pfn_to_section_nr(start_pfn);
        assert!(pfn_to_section_nr(end_pfn - 1) == nr, "write_pages: range crosses a section boundary");
        let Some(first) = self.page_ptr(start_pfn) else { return false };
        let first = first.as_ptr();
        for (i, pfn) in (start_pfn..end_pfn).enumerate() {
            // SAFETY: the pfns of [start_pfn, end_pfn) lie in section `nr`, whose full memmap of PAGES_PER_SECTION
            // pages is owned by us; `first` is the page of `start_pfn`, so `first + i` is the page of `pfn`.
            // `&mut self` excludes every other reference; `write` does not read the (maybe unwritten) old value.
            unsafe { first.add(i).write(page(pfn)) };
        }
        true
    }

    /// The pages of section `nr` as one mutable slice (`None` for a uniform section or one without memmap).
    pub fn section_pages_mut(&mut self, nr: u64) -> Option<&mut [Page]> {
        let ms = self.section(nr)?;
        if !ms.valid() || ms.uniform() {
            return None;
        }
        let addr = ms.coded_map().wrapping_add(section_nr_to_pfn(nr).wrapping_mul(PAGE_STRUCT_SIZE));
        // SAFETY: the memmap of a valid non-uniform section is PAGES_PER_SECTION initialized pages owned by us.
        Some(unsafe { core::slice::from_raw_parts_mut(addr as *mut Page, PAGES_PER_SECTION as usize) })
    }

    /// Classic SPARSEMEM `page_to_pfn`: the section number comes from the page's flags word, so a page whose
    /// flags were zeroed (not initialized by `__init_single_page`) yields a wrong pfn, exactly as in Linux.
    /// `None` if that section has no (non-uniform) memmap or the page does not lie in it.
    pub fn page_to_pfn(&self, page: &Page) -> Option<u64> {
        let nr = page.section();
        let ms = self.section(nr)?;
        if !ms.valid() || ms.uniform() {
            return None;
        }
        let offset = (page as *const Page as u64).wrapping_sub(ms.coded_map());
        let pfn = offset / PAGE_STRUCT_SIZE;
        (pfn_to_section_nr(pfn) == nr).then_some(pfn)
    }

    /// Numbers of present sections, ascending.
    pub fn present_sections(&self) -> impl Iterator<Item = u64> + '_ {
        self.roots.iter().enumerate().filter_map(|(r, root)| root.as_deref().map(|root| (r, root))).flat_map(
            |(r, root)| {
                root.iter()
                    .enumerate()
                    .filter(|(_, ms)| ms.present())
                    .map(move |(i, _)| r as u64 * SECTIONS_PER_ROOT + i as u64)
            },
        )
    }

    /// Numbers of the sections that have a memmap, ascending.
    pub fn valid_sections(&self) -> impl Iterator<Item = u64> + '_ {
        self.present_sections().filter(|&nr| self.section(nr).is_some_and(|ms| ms.valid()))
    }

    /// Number of root pages allocated.
    pub fn roots_allocated(&self) -> usize {
        self.roots.iter().filter(|r| r.is_some()).count()
    }
}
