//! Adding and removing memory: the range checks (whole memory blocks, `check_hotplug_memory_range`),
//! `add_memory` / `arch_add_memory` (sections, subsections, the memmap, memmap_on_memory) and `remove_memory`.

use super::*;

impl Mm {
    pub(super) fn check_range(&self, start_pfn: u64, nr_pages: u64) -> Result<u64, HotplugError> {
        if nr_pages == 0 {
            return Err(HotplugError::Empty);
        }
        if !start_pfn.is_multiple_of(PAGES_PER_SUBSECTION) || !nr_pages.is_multiple_of(PAGES_PER_SUBSECTION) {
            return Err(HotplugError::Unaligned { start_pfn, nr_pages });
        }
        let end = start_pfn.checked_add(nr_pages).ok_or(HotplugError::BeyondPhysmem { pfn: u64::MAX })?;
        if end > section_nr_to_pfn(self.sparse.nr_mem_sections()) {
            return Err(HotplugError::BeyondPhysmem { pfn: end - 1 });
        }
        Ok(end)
    }

    /// `check_hotplug_memory_range`: hot-added memory comes in whole memory blocks (the size x86_64 probed at
    /// boot, [`crate::procfs::memory_block_size`]).
    pub(super) fn check_block_aligned(&self, start_pfn: u64, nr_pages: u64) -> Result<(), HotplugError> {
        let block_pages = crate::procfs::memory_block_size(self.boot_max_pfn) >> PAGE_SHIFT;
        if !start_pfn.is_multiple_of(block_pages) || !nr_pages.is_multiple_of(block_pages) {
            return Err(HotplugError::BlockUnaligned { start_pfn, nr_pages, block_pages });
        }
        Ok(())
    }

    /// The sections of `[start_pfn, start_pfn + nr_pages)` that have no memmap yet: the caller allocates one
    /// `sparse::MEMMAP_BYTES_PER_SECTION` block for each, in this order, and passes the addresses to [`Mm::add_memory`].
    pub fn hotplug_memmap_needed(&self, start_pfn: u64, nr_pages: u64) -> Vec<u64> {
        let end = start_pfn.saturating_add(nr_pages);
        if nr_pages == 0 {
            return Vec::new();
        }
        (pfn_to_section_nr(start_pfn)..=pfn_to_section_nr(end - 1))
            .filter(|&nr| !self.sparse.section(nr).is_some_and(|ms| ms.valid()))
            .collect()
    }

    /// `add_memory` (`add_memory_resource`): whole memory blocks only, then [`Mm::arch_add_memory`].
    /// `memmap_phys[i]` is the memmap of the i-th section of [`Mm::hotplug_memmap_needed`].
    pub fn add_memory(
        &mut self,
        nid: u32,
        start_pfn: u64,
        nr_pages: u64,
        memmap_phys: &[u64],
    ) -> Result<(), HotplugError> {
        self.check_range(start_pfn, nr_pages)?;
        self.check_block_aligned(start_pfn, nr_pages)?;
        self.arch_add_memory(nid, start_pfn, nr_pages, memmap_phys)
    }

    /// `arch_add_memory`: subsection granularity (2 MiB), as ZONE_DEVICE's `memremap_pages` adds memory; see the
    /// module documentation.
    pub fn arch_add_memory(
        &mut self,
        nid: u32,
        start_pfn: u64,
        nr_pages: u64,
        memmap_phys: &[u64],
    ) -> Result<(), HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        let nr_nodes = self.zones.nodes.len();
        if nid as usize >= nr_nodes {
            return Err(HotplugError::BadNode { nid, nr_nodes });
        }
        if let Some(m) = self.memblock.memory.iter().find(|m| m.start_pfn < end && start_pfn < m.end_pfn) {
            return Err(HotplugError::Overlaps { pfn: m.start_pfn.max(start_pfn) });
        }
        let mut pfn = start_pfn;
        while pfn < end {
            if let Some(ms) = self.sparse.section(pfn_to_section_nr(pfn)) {
                if ms.present() && (ms.early() || ms.usage.subsection_map & (1 << subsection_index(pfn)) != 0) {
                    return Err(HotplugError::Overlaps { pfn });
                }
            }
            pfn += PAGES_PER_SUBSECTION;
        }
        let needed = self.hotplug_memmap_needed(start_pfn, nr_pages);
        if needed.len() != memmap_phys.len() {
            return Err(HotplugError::MemmapCount { needed: needed.len(), given: memmap_phys.len() });
        }
        self.sparse.memory_present(nid, start_pfn, end).map_err(HotplugError::Sparse)?;
        for (&nr, &phys) in needed.iter().zip(memmap_phys) {
            if let Err(e) = self.sparse.init_section_memmap(nr, phys, false) {
                // Undo what this call did, so a refused add changes nothing.
                for &done in needed.iter().take_while(|&&d| d != nr) {
                    let _ = self.sparse.remove_section_memmap(done);
                }
                let mut p = start_pfn;
                while p < end {
                    let sec_end = section_nr_to_pfn(pfn_to_section_nr(p) + 1).min(end);
                    self.sparse.set_subsections(p, sec_end, false);
                    p = sec_end;
                }
                for &n in &needed {
                    let _ = self.sparse.remove_section(n);
                }
                return Err(HotplugError::Sparse(e));
            }
            // Hot-added memory is offline until onlined (the memmap stays poisoned).
            self.sparse.set_online(nr, false);
        }
        self.memblock.add_node(start_pfn, end, nid);
        Ok(())
    }

    /// `add_memory` with the memmap on the added memory itself: see the module documentation. The range must be
    /// whole sections. Returns the pages its memmap takes (512 per section).
    pub fn add_memory_memmap_on_memory(
        &mut self,
        nid: u32,
        start_pfn: u64,
        nr_pages: u64,
    ) -> Result<u64, HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        self.check_block_aligned(start_pfn, nr_pages)?;
        if !start_pfn.is_multiple_of(PAGES_PER_SECTION) || !nr_pages.is_multiple_of(PAGES_PER_SECTION) {
            return Err(HotplugError::Unaligned { start_pfn, nr_pages });
        }
        let per_section = crate::sparse::MEMMAP_BYTES_PER_SECTION / PAGE_SIZE;
        let needed = self.hotplug_memmap_needed(start_pfn, nr_pages);
        let vmemmap_pages = needed.len() as u64 * per_section;
        let phys: Vec<u64> = (0..needed.len() as u64).map(|i| (start_pfn + i * per_section) << PAGE_SHIFT).collect();
        self.add_memory(nid, start_pfn, nr_pages, &phys)?;
        if vmemmap_pages > 0 {
            self.memblock.reserve(start_pfn, start_pfn + vmemmap_pages, ReserveReason::Memmap);
            self.memmap_on_memory.push((start_pfn, vmemmap_pages));
        }
        debug_assert!(start_pfn + vmemmap_pages < end);
        Ok(vmemmap_pages)
    }

    /// Pages of `[start_pfn, ..)` that hold its own memmap (0 unless it was added with memmap on memory).
    pub fn memmap_on_memory_pages(&self, start_pfn: u64) -> u64 {
        self.memmap_on_memory.iter().find(|r| r.0 == start_pfn).map_or(0, |r| r.1)
    }

    /// `remove_memory`: see the module documentation. Returns the physical addresses of the memmaps freed.
    pub fn remove_memory(&mut self, start_pfn: u64, nr_pages: u64) -> Result<Vec<u64>, HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        let mut pfn = start_pfn;
        while pfn < end {
            let ms = self.sparse.section(pfn_to_section_nr(pfn)).ok_or(HotplugError::NotAdded { pfn })?;
            if !ms.present() || ms.early() || ms.usage.subsection_map & (1 << subsection_index(pfn)) == 0 {
                return Err(HotplugError::NotAdded { pfn });
            }
            if ms.online() {
                return Err(HotplugError::Online { pfn });
            }
            pfn += PAGES_PER_SUBSECTION;
        }
        let vm = self.memmap_on_memory_pages(start_pfn);
        let self_hosted = |phys: u64| (start_pfn..start_pfn + vm).contains(&(phys >> PAGE_SHIFT));
        let mut freed = Vec::new();
        let mut pfn = start_pfn;
        while pfn < end {
            let nr = pfn_to_section_nr(pfn);
            let sec_end = section_nr_to_pfn(nr + 1).min(end);
            self.sparse.set_subsections(pfn, sec_end, false);
            if self.sparse.section(nr).is_some_and(|ms| ms.usage.subsection_map == 0) {
                let phys = self.sparse.section(nr).map_or(0, |ms| ms.memmap_phys);
                self.sparse.remove_section_memmap(nr).map_err(HotplugError::Sparse)?;
                self.sparse.remove_section(nr).map_err(HotplugError::Sparse)?;
                if !self_hosted(phys) {
                    freed.push(phys);
                }
            }
            pfn = sec_end;
        }
        if vm > 0 {
            self.memblock.unreserve(start_pfn, start_pfn + vm);
            self.memmap_on_memory.retain(|r| r.0 != start_pfn);
        }
        self.memblock.remove(start_pfn, end);
        Ok(freed)
    }
}
