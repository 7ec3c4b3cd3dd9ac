//! Kernel page-table changes: the direct map for hot-added memory (physical ranges at
//! `physical_memory_offset + phys` with 2 MiB pages, Linux's `arch_add_memory` -> `init_memory_mapping`;
//! `arch_remove_memory` -> unmapping), and the vmemmap (each section's memmap at `VMEMMAP + pfn * 64`, 2 MiB
//! pages where both addresses allow it, 4 KiB pages elsewhere: `vmemmap_populate_hugepages` /
//! `vmemmap_populate_basepages`).
//!
//! The bootloader maps physical memory up to the end of the boot-time memory map (at least 4 GiB); a DIMM QEMU
//! plugs later lies above that, so the kernel maps it before touching it (its struct pages live in boot memory,
//! but a test writes the DIMM's pages). Page-table pages come from the caller (the buddy allocator) and are kept
//! after an unmap, as Linux keeps its direct-map page tables.
//!
//! With several CPUs running, every change takes [`PT_LOCK`]: one writer of the page tables at a time.
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

/// Serializes every change of the page tables (hotplug, the vmemmap, CPU stacks, the trampoline's identity page).
static PT_LOCK: spin::Mutex<()> = spin::Mutex::new(());

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
    map_at(offset, offset + start, start, end - start, frame).map(|_| ())
}

/// Maps `len` bytes of physical memory at `phys` to virtual `virt` (both 4 KiB aligned), writable: with 2 MiB
/// pages where virtual and physical addresses are both 2 MiB aligned and 2 MiB remain, 4 KiB pages elsewhere.
/// Page-table frames come from `frame`. Returns the number of 2 MiB and 4 KiB pages mapped.
pub fn map_at(
    offset: u64,
    virt: u64,
    phys: u64,
    len: u64,
    frame: &mut dyn FnMut() -> Option<u64>,
) -> Result<(u64, u64), MapError> {
    if virt % 4096 != 0 || phys % 4096 != 0 || len % 4096 != 0 || len == 0 {
        return Err(MapError::Unaligned { start: phys, end: phys.wrapping_add(len) });
    }
    let _lock = PT_LOCK.lock();
    // SAFETY: `offset` is the physical-memory offset (callers pass `PhysMem`'s), and PT_LOCK is held, so nothing
    // else changes the page tables during this call.
    let mut pt = unsafe { active(offset) };
    let mut frames = Frames(frame);
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    let (mut huge, mut small) = (0, 0);
    let mut off = 0;
    while off < len {
        let (va, pa) = (virt + off, phys + off);
        if va % HUGE == 0 && pa % HUGE == 0 && len - off >= HUGE {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(va));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(pa));
            // SAFETY: the physical range is memory the caller owns (a DIMM, or a memmap memblock reserved) and
            // the virtual page is unused (an existing mapping is an error, never replaced), so the new mapping
            // aliases no memory Rust code holds references to through this address.
            check(unsafe { pt.map_to(page, frame, flags, &mut frames) }.map(|f| f.flush()), pa)?;
            huge += 1;
            off += HUGE;
        } else {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va));
            let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(pa));
            // SAFETY: as above, for one 4 KiB page.
            check(unsafe { pt.map_to(page, frame, flags, &mut frames) }.map(|f| f.flush()), pa)?;
            small += 1;
            off += 4096;
        }
    }
    Ok((huge, small))
}

fn check<S: x86_64::structures::paging::PageSize>(r: Result<(), MapToError<S>>, pa: u64) -> Result<(), MapError> {
    match r {
        Ok(()) => Ok(()),
        Err(MapToError::PageAlreadyMapped(_)) | Err(MapToError::ParentEntryHugePage) => {
            Err(MapError::AlreadyMapped { phys: pa })
        }
        Err(MapToError::FrameAllocationFailed) => Err(MapError::NoFrame),
    }
}

/// Unmaps `[virt, virt + len)` mapped by [`map_at`] (2 MiB and 4 KiB pages alike).
pub fn unmap_at(offset: u64, virt: u64, len: u64) -> Result<(), MapError> {
    // Secondary CPUs flush their TLBs when a job ends; an unmap while they run one would need a shootdown.
    crate::smp::assert_no_job();
    let _lock = PT_LOCK.lock();
    // SAFETY: as in `map_at`.
    let mut pt = unsafe { active(offset) };
    let mut off = 0;
    while off < len {
        let va = virt + off;
        if va % HUGE == 0 && len - off >= HUGE {
            match pt.unmap(Page::<Size2MiB>::containing_address(VirtAddr::new(va))) {
                Ok((_, f)) => {
                    f.flush();
                    off += HUGE;
                    continue;
                }
                Err(UnmapError::ParentEntryHugePage) | Err(UnmapError::PageNotMapped) => {}
                Err(_) => return Err(MapError::Other { phys: va }),
            }
        }
        match pt.unmap(Page::<Size4KiB>::containing_address(VirtAddr::new(va))) {
            Ok((_, f)) => f.flush(),
            Err(_) => return Err(MapError::NotMapped { phys: va }),
        }
        off += 4096;
    }
    Ok(())
}

/// Whether the level-4 entries covering `[virt, virt + len)` are all unused (a region free for the vmemmap).
pub fn p4_free(offset: u64, virt: u64, len: u64) -> bool {
    let (l4, _) = Cr3::read();
    // SAFETY: the level-4 table is mapped at `offset + phys` (the physical-memory mapping) and only read here.
    let p4 = unsafe { &*((offset + l4.start_address().as_u64()) as *const PageTable) };
    let first = VirtAddr::new(virt).p4_index();
    let last = VirtAddr::new(virt + len - 1).p4_index();
    (u16::from(first)..=u16::from(last)).all(|i| p4[i as usize].is_unused())
}

/// Unmaps `[start, end)` mapped by [`map`].
pub fn unmap(offset: u64, start: u64, end: u64) -> Result<(), MapError> {
    if start % HUGE != 0 || end % HUGE != 0 || start >= end {
        return Err(MapError::Unaligned { start, end });
    }
    crate::smp::assert_no_job();
    let _lock = PT_LOCK.lock();
    // SAFETY: as in `map_at`.
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

#[repr(C, align(4096))]
struct PageTableFrame([u8; 4096]);

/// A zeroed, 4 KiB aligned heap page for a page table, as a physical address; leaked (page tables stay). The heap
/// lies in the physical-memory mapping, so the frame's physical address is its virtual one minus `offset`.
pub fn heap_frame(offset: u64) -> Option<u64> {
    let f: &'static mut PageTableFrame = alloc::boxed::Box::leak(alloc::boxed::Box::new(PageTableFrame([0; 4096])));
    let va = f as *mut PageTableFrame as u64;
    va.checked_sub(offset)
}

/// The physical address `virt` translates to in the active page tables (4 KiB, 2 MiB or 1 GiB pages).
pub fn translate(offset: u64, virt: u64) -> Option<u64> {
    use x86_64::structures::paging::Translate;
    let _lock = PT_LOCK.lock();
    // SAFETY: as in `map_at`; the tables are only read.
    let pt = unsafe { active(offset) };
    pt.translate_addr(VirtAddr::new(virt)).map(|p| p.as_u64())
}

/// Maps the 4 KiB page at physical `phys` at the same virtual address (the trampoline's page: a CPU switching to
/// the kernel's CR3 while it runs there). Already mapped to itself is fine; mapped elsewhere is an error.
pub fn identity_map_page(offset: u64, phys: u64) -> Result<(), MapError> {
    match translate(offset, phys) {
        Some(p) if p == phys => Ok(()),
        Some(_) => Err(MapError::AlreadyMapped { phys }),
        None => map_at(offset, phys, phys, 4096, &mut || heap_frame(offset)).map(|_| ()),
    }
}
