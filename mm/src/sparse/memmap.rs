//! The memmap of each section: attaching one (`sparse_init_one_section`, poisoned or left for single-pass init),
//! the compressed mode's uniform template and its materialization, and removal (raw memory: `unsafe` here).

use super::*;

impl Sparse {
    /// Gives a present section a memmap of its own at physical address `memmap_phys` (`sparse_init_one_section`),
    /// poisoned if [`Sparse::poison`] is set (zeroed otherwise: the host must not read uninitialized memory).
    pub fn init_section_memmap(&mut self, nr: u64, memmap_phys: u64, early: bool) -> Result<(), SparseError> {
        let pages = self.map_section_memmap(nr, memmap_phys)?;
        let fill = self.fill_page();
        for i in 0..PAGES_PER_SECTION as usize {
            // SAFETY: the backing returned PAGES_PER_SECTION * 64 bytes, 64-byte aligned, owned by us.
            unsafe { pages.add(i).write(fill) };
        }
        self.attach(nr, pages as u64, memmap_phys, early, 0);
        Ok(())
    }

    /// As [`Sparse::init_section_memmap`], but the pages are left unwritten: memmap init writes the pages it
    /// initializes, then [`Sparse::fill_unwritten`] poisons (or zeroes) the others, so that no struct page is
    /// written twice (Linux poisons the whole memmap first, `page_init_poison`, and writes it again in
    /// `memmap_init_range`; the end state is the same).
    ///
    /// Until `fill_unwritten` runs, the section's pages may only be written, and read after being written: the
    /// only code that runs in between is `Mm::boot`'s memmap init ([`crate::memmap::InitCtx`], whose primitives
    /// write before they read).
    pub(crate) fn attach_unfilled(&mut self, nr: u64, memmap_phys: u64, early: bool) -> Result<(), SparseError> {
        let pages = self.map_section_memmap(nr, memmap_phys)?;
        self.attach(nr, pages as u64, memmap_phys, early, 0);
        self.unfilled.push(nr);
        Ok(())
    }

    /// Fills every page of the sections attached by [`Sparse::attach_unfilled`] that lies outside `written` (pfn
    /// ranges, any order, may overlap) and outside `left` with the poison pattern (or zeroes), and forgets those
    /// sections.
    ///
    /// `left`: whole MAX_ORDER blocks of deferred struct pages, which stay unwritten until the deferred workers
    /// write them (`Mm::deferred_init`, `Buddy::deferred_grow_zone`). Nothing reads them before: `Buddy::check`
    /// and the memmap digest skip pending pfns, the walkers and the verifier run after the workers, and a buddy
    /// merge reads only pages of the freed block's own MAX_ORDER block, which is wholly deferred or has had its
    /// deferred pages filled here.
    pub(crate) fn fill_unwritten(&mut self, written: &mut Vec<(u64, u64)>, left: &[(u64, u64)]) {
        written.extend_from_slice(left);
        written.sort_unstable();
        // Merge into disjoint ranges, ascending.
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(written.len());
        for &(a, b) in written.iter().filter(|r| r.0 < r.1) {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let fill = self.fill_page();
        for nr in core::mem::take(&mut self.unfilled) {
            let Some(base) = self.flat.get(nr as usize).copied().filter(|&b| b != 0) else { continue };
            let pages = base as *mut Page;
            let (start, end) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1));
            let mut i = merged.partition_point(|r| r.1 <= start);
            let mut pfn = start;
            // Loop invariant: [start, pfn) is written or filled; merged[i] is the first range ending above `pfn`.
            while pfn < end {
                let (a, b) = merged.get(i).copied().unwrap_or((end, end));
                for p in pfn..a.clamp(pfn, end) {
                    // SAFETY: `p` lies in section `nr`, whose memmap of PAGES_PER_SECTION pages starts at `base`
                    // (flat table entry of an attached, non-uniform section) and is owned by us.
                    unsafe { pages.add((p - start) as usize).write(fill) };
                }
                pfn = b.max(pfn);
                i += 1;
            }
        }
    }

    fn fill_page(&self) -> Page {
        if self.poison {
            Page::POISONED
        } else {
            Page::ZEROED
        }
    }

    /// Checks that section `nr` may get a memmap and maps one from the backing.
    fn map_section_memmap(&mut self, nr: u64, memmap_phys: u64) -> Result<*mut Page, SparseError> {
        let ms = self.section(nr).ok_or(SparseError::NotPresent { section: nr })?;
        if !ms.present() {
            return Err(SparseError::NotPresent { section: nr });
        }
        if ms.valid() {
            return Err(SparseError::AlreadyHasMemmap { section: nr });
        }
        let bytes = MEMMAP_BYTES_PER_SECTION as usize;
        let ptr = self
            .backing
            .map_section(nr, memmap_phys, bytes)
            .ok_or(SparseError::NoMemmapMemory { section: nr, bytes: bytes as u64 })?;
        assert!(ptr.as_ptr() as usize % 64 == 0, "MemmapBacking returned memory that is not 64-byte aligned");
        Ok(ptr.as_ptr() as *mut Page)
    }

    /// Gives a present section one template page (compressed mode): all its pfns read that page.
    pub fn init_section_uniform(&mut self, nr: u64, memmap_phys: u64, early: bool) -> Result<(), SparseError> {
        let ms = self.section(nr).ok_or(SparseError::NotPresent { section: nr })?;
        if !ms.present() {
            return Err(SparseError::NotPresent { section: nr });
        }
        if ms.valid() {
            return Err(SparseError::AlreadyHasMemmap { section: nr });
        }
        let ptr = self.backing.map(0, 64).ok_or(SparseError::NoMemmapMemory { section: nr, bytes: 64 })?;
        let fill = if self.poison { Page::POISONED } else { Page::ZEROED };
        // SAFETY: the backing returned 64 bytes, 64-byte aligned, owned by us.
        unsafe { (ptr.as_ptr() as *mut Page).write(fill) };
        self.attach(nr, ptr.as_ptr() as u64, memmap_phys, early, SECTION_UNIFORM);
        Ok(())
    }

    /// Turns a uniform section into one with a real memmap whose every page is the template (with its lru
    /// pointing at itself where the template's did), so that single pages can be changed. No-op otherwise.
    pub fn materialize(&mut self, nr: u64) -> Result<(), SparseError> {
        let Some(ms) = self.section(nr) else { return Err(SparseError::NotPresent { section: nr }) };
        if !ms.valid() || !ms.uniform() {
            return Ok(());
        }
        let (template_ptr, _) = self.memmap_memory(nr, ms);
        let (early, phys) = (ms.early(), ms.memmap_phys);
        // SAFETY: a uniform section's memmap memory is one initialized template page owned by us.
        let template = unsafe { *(template_ptr.as_ptr() as *const Page) };
        let bytes = MEMMAP_BYTES_PER_SECTION as usize;
        let ptr = self
            .backing
            .map_section(nr, phys, bytes)
            .ok_or(SparseError::NoMemmapMemory { section: nr, bytes: bytes as u64 })?;
        assert!(ptr.as_ptr() as usize % 64 == 0, "MemmapBacking returned memory that is not 64-byte aligned");
        let start = section_nr_to_pfn(nr);
        let self_linked = !template.is_poisoned() && template.lru_next == start && template.lru_prev == start;
        let pages = ptr.as_ptr() as *mut Page;
        for i in 0..PAGES_PER_SECTION {
            let mut p = template;
            if self_linked {
                p.lru_next = start + i;
                p.lru_prev = start + i;
            }
            // SAFETY: `bytes` = PAGES_PER_SECTION * 64 bytes, 64-byte aligned, owned by us; i < PAGES_PER_SECTION.
            unsafe { pages.add(i as usize).write(p) };
        }
        let ms = self.section_mut(nr).expect("checked above");
        ms.section_mem_map &= SECTION_MARKED_PRESENT | SECTION_IS_ONLINE | SECTION_IS_EARLY;
        self.set_flat(nr, 0);
        // SAFETY: the template came from `map(_, 64)` of this backing; the section no longer refers to it.
        unsafe { self.backing.unmap(template_ptr, 64) };
        self.attach(nr, pages as u64, phys, early, 0);
        Ok(())
    }

    fn attach(&mut self, nr: u64, addr: u64, memmap_phys: u64, early: bool, extra: u64) {
        let start = section_nr_to_pfn(nr);
        let ms = self.section_mut(nr).expect("section exists: checked by the caller");
        let coded =
            if extra & SECTION_UNIFORM != 0 { addr } else { addr.wrapping_sub(start.wrapping_mul(PAGE_STRUCT_SIZE)) };
        let mut flags = ms.flags().bits() | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE | extra;
        if early {
            flags |= SECTION_IS_EARLY;
        }
        ms.section_mem_map = coded | flags;
        ms.memmap_phys = memmap_phys;
        self.set_flat(nr, if extra & SECTION_UNIFORM != 0 { 0 } else { addr as usize });
    }

    fn set_flat(&mut self, nr: u64, base: usize) {
        let i = nr as usize;
        if i >= self.flat.len() {
            if base == 0 {
                return;
            }
            self.flat.resize(i + 1, 0);
        }
        self.flat[i] = base;
    }

    /// Takes a section's memmap away and gives the memory back (hot-remove); the section stays present.
    pub fn remove_section_memmap(&mut self, nr: u64) -> Result<(), SparseError> {
        let ms = self.section(nr).ok_or(SparseError::NotPresent { section: nr })?;
        if !ms.valid() {
            return Err(SparseError::NotPresent { section: nr });
        }
        let (ptr, bytes) = self.memmap_memory(nr, ms);
        let ms = self.section_mut(nr).expect("checked above");
        ms.section_mem_map &= SECTION_MARKED_PRESENT;
        ms.memmap_phys = 0;
        self.set_flat(nr, 0);
        self.unfilled.retain(|&u| u != nr);
        // SAFETY: (ptr, bytes) is what `map` returned for this section; the section no longer refers to it.
        unsafe { self.backing.unmap(ptr, bytes) };
        Ok(())
    }

    /// `sparse_remove_section` after the memmap is gone: the section is no longer present, its subsection map and
    /// pageblock flags are cleared (a later hot-add starts from a clean section). Refused while it has a memmap.
    pub fn remove_section(&mut self, nr: u64) -> Result<(), SparseError> {
        let ms = self.section_mut(nr).ok_or(SparseError::NotPresent { section: nr })?;
        if ms.valid() {
            return Err(SparseError::AlreadyHasMemmap { section: nr });
        }
        *ms = MemSection::default();
        Ok(())
    }

    fn memmap_memory(&self, nr: u64, ms: &MemSection) -> (NonNull<u8>, usize) {
        if ms.uniform() {
            (NonNull::new(ms.coded_map() as *mut u8).expect("non-null"), 64)
        } else {
            let addr = ms.coded_map().wrapping_add(section_nr_to_pfn(nr).wrapping_mul(PAGE_STRUCT_SIZE));
            (NonNull::new(addr as *mut u8).expect("non-null"), MEMMAP_BYTES_PER_SECTION as usize)
        }
    }
}
