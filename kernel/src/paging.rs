//! The direct map for hot-added memory: maps and unmaps physical ranges at `physical_memory_offset + phys` with
//! 2 MiB pages (Linux's `arch_add_memory` -> `init_memory_mapping`; `arch_remove_memory` -> unmapping).
//!
//! The bootloader maps physical memory up to the end of the boot-time memory map (at least 4 GiB); a DIMM QEMU
//! plugs later lies above that, so the kernel maps it before touching it (its struct pages live in boot memory,
//! but a test writes the DIMM's pages). Page-table pages come from the caller (the buddy allocator) and are kept
//! after an unmap, as Linux keeps its direct-map page tables.
//!
//! # Invariants
//! - only ranges that are 2 MiB aligned and outside everything the kernel uses are mapped or unmapped here (the
//!   caller passes the range of a DIMM it owns); an existing mapping is never replaced;
//! - every change is flushed from the TLB before the call returns.

use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::{MapToError, UnmapError};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

const HUGE: u64 = 2 << 20;

/// Why a range could not be mapped or unmapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    Unaligned {
        start: u64,
        end: u64,
    },
    /// A page of the range is mapped already (or, for unmap, not mapped by us).
    AlreadyMapped {
        phys: u64,
    },
    NotMapped {
        phys: u64,
    },
    /// The frame source ran dry while creating page tables.
    NoFrame,
    Other {
        phys: u64,
    },
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            MapError::Unaligned { start, end } => write!(f, "[{:#x}, {:#x}) is not 2 MiB aligned", start, end),
            MapError::AlreadyMapped { phys } => write!(f, "{:#x} is mapped already", phys),
            MapError::NotMapped { phys } => write!(f, "{:#x} is not mapped with a 2 MiB page", phys),
            MapError::NoFrame => write!(f, "no frame for a page table"),
            MapError::Other { phys } => write!(f, "cannot change the mapping of {:#x}", phys),
        }
    }
}

/// Page-table frames from a closure returning a zeroable 4 KiB frame's physical address.
struct Frames<'a>(&'a mut dyn FnMut() -> Option<u64>);

// SAFETY: the closure hands out frames the caller owns exclusively (buddy allocations), each once.
unsafe impl FrameAllocator<Size4KiB> for Frames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        (self.0)().map(|pa| PhysFrame::containing_address(PhysAddr::new(pa)))
    }
}

/// The active page tables through the physical-memory mapping.
///
/// # Safety
/// `offset` must be the bootloader's `physical_memory_offset`, at which all of the page tables' physical memory
/// is mapped; the caller must hold the only reference to the page tables for the returned value's lifetime.
unsafe fn active(offset: u64) -> OffsetPageTable<'static> {
    let (l4, _) = Cr3::read();
    let p4 = (offset + l4.start_address().as_u64()) as *mut PageTable;
    // SAFETY: per this function's contract, the level-4 table is mapped at `offset + phys` and no other reference
    // to it is alive.
    unsafe { OffsetPageTable::new(&mut *p4, VirtAddr::new(offset)) }
}

/// Maps `[start, end)` (2 MiB aligned) at `offset + phys`, writable, with page-table frames from `frame`.
pub fn map(offset: u64, start: u64, end: u64, frame: &mut dyn FnMut() -> Option<u64>) -> Result<(), MapError> {
    if start % HUGE != 0 || end % HUGE != 0 || start >= end {
        return Err(MapError::Unaligned { start, end });
    }
    // SAFETY: `offset` is the physical-memory offset (callers pass `PhysMem`'s), and the kernel is single-threaded
    // with interrupts off, so nothing else holds the page tables during this call.
    let mut pt = unsafe { active(offset) };
    let mut frames = Frames(frame);
    let mut pa = start;
    while pa < end {
        let page = Page::<Size2MiB>::containing_address(VirtAddr::new(offset + pa));
        let phys = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(pa));
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        // SAFETY: the physical range is a DIMM the caller owns and nothing maps yet (an existing mapping is an
        // error, never replaced), so the new mapping aliases no memory Rust code holds references to.
        match unsafe { pt.map_to(page, phys, flags, &mut frames) } {
            Ok(flush) => flush.flush(),
            Err(MapToError::PageAlreadyMapped(_)) | Err(MapToError::ParentEntryHugePage) => {
                return Err(MapError::AlreadyMapped { phys: pa })
            }
            Err(MapToError::FrameAllocationFailed) => return Err(MapError::NoFrame),
        }
        pa += HUGE;
    }
    Ok(())
}

/// Unmaps `[start, end)` mapped by [`map`].
pub fn unmap(offset: u64, start: u64, end: u64) -> Result<(), MapError> {
    if start % HUGE != 0 || end % HUGE != 0 || start >= end {
        return Err(MapError::Unaligned { start, end });
    }
    // SAFETY: as in `map`.
    let mut pt = unsafe { active(offset) };
    let mut pa = start;
    while pa < end {
        let page = Page::<Size2MiB>::containing_address(VirtAddr::new(offset + pa));
        match pt.unmap(page) {
            Ok((_, flush)) => flush.flush(),
            Err(UnmapError::PageNotMapped) | Err(UnmapError::ParentEntryHugePage) => {
                return Err(MapError::NotMapped { phys: pa })
            }
            Err(_) => return Err(MapError::Other { phys: pa }),
        }
        pa += HUGE;
    }
    Ok(())
}

/// Writes `value` to the first and last u64 of the 4 KiB page at `phys` (mapped by [`map`]) and reads both back.
pub fn write_check(offset: u64, phys: u64, value: u64) -> bool {
    let first = (offset + phys) as *mut u64;
    // SAFETY: the caller maps `phys` with [`map`] and owns the page (it allocated it from the buddy allocator and
    // nothing else refers to it); the page is 4 KiB, so both words lie inside it, aligned.
    unsafe {
        let last = first.add(511);
        first.write_volatile(value);
        last.write_volatile(!value);
        first.read_volatile() == value && last.read_volatile() == !value
    }
}
