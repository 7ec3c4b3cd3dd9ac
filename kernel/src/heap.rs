//! The kernel heap: a linked_list_allocator heap over usable frames taken from the firmware memory map.
//!
//! [`init`] picks the lowest usable region above 1 MiB that holds [`HEAP_SIZE`] bytes (or, on a small machine,
//! the largest usable region, up to half of it), and hands it to the allocator through the physical-memory
//! mapping. The range is returned so it is printed and recorded as a reservation, like the bootloader's own.
//!
//! # Invariants
//! - the heap range is page-aligned usable RAM that nothing else uses (the bootloader reports the frames it uses
//!   as `Bootloader`, never as `Usable`);
//! - [`init`] runs at most once; allocation before it fails (and panics with a clear message).

use linked_list_allocator::LockedHeap;

use crate::phys::PhysMem;

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// The heap size wanted.
pub const HEAP_SIZE: u64 = 16 << 20;
/// The smallest heap the kernel accepts.
pub const MIN_HEAP_SIZE: u64 = 1 << 20;

/// Chooses the heap's physical range `[start, end)` among usable regions `[start, end)`.
pub fn choose(usable: impl Iterator<Item = (u64, u64)> + Clone) -> Option<(u64, u64)> {
    let page_up = |a: u64| (a + 0xfff) & !0xfff;
    let page_down = |a: u64| a & !0xfff;
    let trimmed = usable.map(move |(s, e)| (page_up(s.max(1 << 20)), page_down(e))).filter(|(s, e)| s < e);
    if let Some((s, _)) = trimmed.clone().filter(|(s, e)| e - s >= HEAP_SIZE).min_by_key(|r| r.0) {
        return Some((s, s + HEAP_SIZE));
    }
    let (s, e) = trimmed.max_by_key(|(s, e)| e - s)?;
    let size = page_down((e - s) / 2);
    (size >= MIN_HEAP_SIZE).then_some((s, s + size))
}

/// Hands `[start, end)` (physical) to the allocator.
///
/// # Safety
/// `[start, end)` must be usable RAM that nothing else uses for the rest of the run, entirely mapped by `phys`,
/// and this must be called at most once.
pub unsafe fn init(phys: &PhysMem, start: u64, end: u64) {
    // SAFETY: per the caller's contract the range is unused, mapped RAM, handed over once.
    unsafe { ALLOCATOR.lock().init(phys.virt(start) as *mut u8, (end - start) as usize) };
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let heap = ALLOCATOR.lock();
    (heap.used(), heap.free())
}
