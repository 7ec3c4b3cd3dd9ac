//! The kernel heap: a linked_list_allocator heap over usable frames taken from the firmware memory map.
//!
//! [`init`] picks the lowest usable region above 1 MiB that holds [`HEAP_SIZE`] bytes (or, on a small machine,
//! the largest usable region, up to half of it), and hands it to the allocator through the physical-memory
//! mapping. The range is returned so it is printed and recorded as a reservation, like the bootloader's own.
//!
//! # Invariants
//! - the heap range is page-aligned usable RAM that nothing else uses (the bootloader reports the frames it uses
//!   as `Bootloader`, never as `Usable`);
//! - the allocator is initialized at most once ([`init_from_memory_map`]); allocation before it fails.

use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use linked_list_allocator::LockedHeap;
use spin::Once;

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

static HEAP: Once<(u64, u64)> = Once::new();

/// Chooses the heap among the `Usable` regions of the bootloader's memory map and hands it to the allocator.
/// Returns its physical range; `None` when no region is large enough or the range is not mapped. Only the first
/// call initializes; later calls return the same range.
pub fn init_from_memory_map(phys: &PhysMem, regions: &MemoryRegions) -> Option<(u64, u64)> {
    if let Some(&range) = HEAP.get() {
        return Some(range);
    }
    let usable = regions.iter().filter(|r| r.kind == MemoryRegionKind::Usable).map(|r| (r.start, r.end));
    let (start, end) = choose(usable)?;
    if !phys.is_mapped(start, end - start) {
        return None;
    }
    let range = *HEAP.call_once(|| {
        // SAFETY: `[start, end)` is page-aligned RAM the bootloader reports as Usable (it reports the frames it
        // uses as Bootloader, and the kernel takes no other frames), it is mapped (checked above), and `call_once`
        // hands it to the allocator exactly once.
        unsafe { ALLOCATOR.lock().init(phys.virt(start) as *mut u8, (end - start) as usize) };
        (start, end)
    });
    Some(range)
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let heap = ALLOCATOR.lock();
    (heap.used(), heap.free())
}
