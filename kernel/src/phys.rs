//! Read-only access to physical memory through the bootloader's physical-memory mapping.
//!
//! The bootloader (BootloaderConfig `mappings.physical_memory = Some(Mapping::Dynamic)`) maps physical
//! addresses `[0, max(highest memory-map end, 4 GiB))` at `physical_memory_offset` with 2 MiB pages
//! (bootloader-x86_64-common `set_up_mappings`). [`PhysMem`] hands out byte slices of that mapping for firmware
//! tables, after checking two things for every page of the range: it lies below the mapped limit, and the
//! active page tables really map it (so a miscomputed limit can never lead to a page fault).
//!
//! # Invariants
//! - a slice is only returned for a range that is entirely mapped (checked page by page in the page tables);
//! - slices are only handed out for memory the kernel never writes: firmware tables (ACPI) that lie in reserved
//!   or ACPI regions, never in the heap, which is carved from usable RAM.

use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{PageTable, PageTableFlags};
use x86_64::VirtAddr;

/// The physical-memory window.
#[derive(Clone, Copy, Debug)]
pub struct PhysMem {
    offset: u64,
    limit: u64,
}

impl PhysMem {
    /// `offset`: BootInfo.physical_memory_offset; `limit`: the end of the mapped physical range.
    pub fn new(offset: u64, limit: u64) -> Self {
        PhysMem { offset, limit }
    }

    /// BootInfo.physical_memory_offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The end of the physical range the bootloader mapped (hot-added memory lies above it).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The virtual address of physical address `phys` (no check).
    pub fn virt(&self, phys: u64) -> u64 {
        self.offset + phys
    }

    /// Whether the whole physical range `[phys, phys + len)` is mapped.
    pub fn is_mapped(&self, phys: u64, len: u64) -> bool {
        let Some(end) = phys.checked_add(len) else { return false };
        if end > self.limit {
            return false;
        }
        // One walk per mapped page (the bootloader maps physical memory with 2 MiB pages): a 2 MiB memmap range
        // is one walk, not 512.
        let mut page = phys & !0xfff;
        while page < end {
            let Some(size) = self.mapped_page_size(self.offset + page) else { return false };
            page = (page | (size - 1)) + 1;
        }
        true
    }

    /// Whether virtual address `virt` is mapped in the active page tables.
    pub fn virt_mapped(&self, virt: u64) -> bool {
        self.translates(virt)
    }

    /// Reads the unmapped virtual address `virt` to raise a page fault (the `__pagefault_demo` self-test); the
    /// page-fault handler ends the run, so this returns only when `virt` turns out to be mapped (without reading).
    pub fn fault_on_unmapped(&self, virt: u64) {
        if self.translates(virt) {
            return;
        }
        // SAFETY: `virt` is not mapped in the active page tables (checked just above), so the CPU raises a page
        // fault before any memory is accessed, and the page-fault handler never returns.
        unsafe { core::ptr::read_volatile(virt as *const u64) };
    }

    /// Walks the active page tables for `virt` (read-only, through this same mapping).
    fn translates(&self, virt: u64) -> bool {
        self.mapped_page_size(virt).is_some()
    }

    /// The size of the page that maps `virt` (4 KiB, 2 MiB or 1 GiB), `None` when it is not mapped.
    fn mapped_page_size(&self, virt: u64) -> Option<u64> {
        let v = VirtAddr::new_truncate(virt);
        let (l4_frame, _) = Cr3::read();
        let mut table_phys = l4_frame.start_address().as_u64();
        let indices = [v.p4_index(), v.p3_index(), v.p2_index(), v.p1_index()];
        for (level, index) in indices.iter().enumerate() {
            if table_phys.checked_add(4096).is_none_or(|e| e > self.limit) {
                return None;
            }
            // SAFETY: page tables live in RAM below `limit`, which the bootloader maps at `offset` (the tables
            // `crate::paging` adds for hot-added memory are buddy pages below `limit` too); they are only read
            // here, and change only inside `crate::paging`, which never runs during this walk.
            let table = unsafe { &*((self.offset + table_phys) as *const PageTable) };
            let entry = &table[*index];
            let flags = entry.flags();
            if !flags.contains(PageTableFlags::PRESENT) {
                return None;
            }
            // Levels 3 and 2 (index 1, 2) may map huge pages; level 1 (index 3) always maps a page.
            if level == 3 || (level > 0 && flags.contains(PageTableFlags::HUGE_PAGE)) {
                return Some(1u64 << (12 + 9 * (3 - level as u32)));
            }
            table_phys = entry.addr().as_u64();
        }
        None
    }

    /// The bytes `[phys, phys + len)`, or `None` when any of them is not mapped.
    pub fn bytes(&self, phys: u64, len: usize) -> Option<&'static [u8]> {
        if !self.is_mapped(phys, len as u64) {
            return None;
        }
        // SAFETY: the range is mapped (checked just above) and, per the module invariants, only used for
        // firmware tables that nothing writes while the kernel runs, so a shared 'static slice is sound.
        Some(unsafe { core::slice::from_raw_parts((self.offset + phys) as *const u8, len) })
    }
}

impl mm::acpi::PhysReader for PhysMem {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
        self.bytes(phys, len)
    }
}
