//! The kernel heap: linked_list_allocator heaps over an initial range of usable frames taken from the firmware
//! memory map, grown with whole blocks of pages from the buddy allocator once the memory model runs.
//!
//! [`init_from_memory_map`] picks the lowest usable region above 1 MiB that holds [`HEAP_SIZE`] bytes (or, on a
//! small machine, the largest usable region, up to half of it), and hands it to the allocator through the
//! physical-memory mapping. The range is returned so it is printed and reserved in memblock as `kernel heap`.
//!
//! Growth: when no region can serve an allocation, or after an allocation leaves less than [`LOW_WATER`] bytes
//! free, the heap asks its grow source (registered by the model with [`set_grow_source`]: an order-10 buddy
//! allocation, `GFP_KERNEL`-like: zone Normal or below, node 0, unmovable) for a block and adds it as one more
//! region. linked_list_allocator's `extend` only grows a heap at its top, and buddy blocks are not contiguous with
//! it, so each grown block is its own `Heap` (the crate has no multi-region heap; this module adds the small
//! region table). [`trim`] gives wholly free grown regions back to the buddy allocator.
//!
//! # Invariants
//! - the initial range is page-aligned usable RAM that nothing else uses (the bootloader reports the frames it
//!   uses as `Bootloader`, never as `Usable`), and is initialized at most once;
//! - a grown region is a block the buddy allocator handed out (refcount 1, counted as allocated) and mapped in the
//!   physical-memory window; it is given back only when none of its bytes is allocated;
//! - growth never nests (an allocation made by the grow source itself cannot grow the heap), and never blocks: the
//!   grow source takes the model's lock with `try_lock`, so an allocation made while the model is locked is served
//!   from the regions there are, or fails (the allocation error handler reports it);
//! - regions are disjoint, so a pointer is freed into the one region whose range holds it.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use linked_list_allocator::Heap;
use spin::{Mutex, Once};

use crate::phys::PhysMem;

/// The heap size wanted at boot.
pub const HEAP_SIZE: u64 = 16 << 20;
/// The smallest heap the kernel accepts.
pub const MIN_HEAP_SIZE: u64 = 1 << 20;
/// Buddy order of one grown region: 4 MiB, `MAX_PAGE_ORDER`.
pub const GROW_ORDER: u32 = 10;
/// Bytes of one grown region.
pub const GROW_BYTES: u64 = 4096 << GROW_ORDER;
/// The heap grows ahead of need when fewer bytes than this are free after an allocation.
pub const LOW_WATER: usize = 2 << 20;
/// Regions the heap can hold: the initial one and up to 63 grown ones (252 MiB).
pub const MAX_REGIONS: usize = 64;

/// Where grown regions come from: `grow()` returns the physical address of a [`GROW_BYTES`] block (`None`: no
/// block now), `release(phys)` gives one back (`false`: not now; the region stays in the heap).
#[derive(Clone, Copy)]
pub struct GrowSource {
    pub grow: fn() -> Option<u64>,
    pub release: fn(u64) -> bool,
}

struct Region {
    heap: Heap,
    /// Physical start; the region's virtual range is `[heap.bottom(), heap.top())`.
    phys: u64,
    grown: bool,
}

struct Regions {
    r: [Option<Region>; MAX_REGIONS],
}

// SAFETY: the regions' memory is owned by the heap alone (see the module invariants); the raw pointers inside
// `Heap` are only used under the `Mutex` of `GrowingHeap`.
unsafe impl Send for Regions {}

impl Regions {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        for reg in self.r.iter_mut().flatten() {
            if let Ok(p) = reg.heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
        }
        null_mut()
    }

    fn free_bytes(&self) -> usize {
        self.r.iter().flatten().map(|r| r.heap.free()).sum()
    }
}

/// The global allocator: the region table behind one lock, plus the grow source.
pub struct GrowingHeap {
    regions: Mutex<Regions>,
    growing: AtomicBool,
    grown: AtomicU64,
    released: AtomicU64,
    failed_grows: AtomicU64,
}

#[global_allocator]
static ALLOCATOR: GrowingHeap = GrowingHeap {
    regions: Mutex::new(Regions { r: [const { None }; MAX_REGIONS] }),
    growing: AtomicBool::new(false),
    grown: AtomicU64::new(0),
    released: AtomicU64::new(0),
    failed_grows: AtomicU64::new(0),
};

static GROW_SOURCE: Once<GrowSource> = Once::new();
static PHYS: Once<PhysMem> = Once::new();

impl GrowingHeap {
    /// Adds one region from the grow source. `false` when growth is running already, there is no source, no
    /// block, or no free slot.
    fn grow(&self) -> bool {
        let (Some(src), Some(phys)) = (GROW_SOURCE.get(), PHYS.get()) else { return false };
        if self.growing.swap(true, Ordering::Acquire) {
            return false;
        }
        let mut ok = false;
        if self.regions.lock().r.iter().any(|r| r.is_none()) {
            if let Some(pa) = (src.grow)() {
                if pa % 4096 == 0 && phys.is_mapped(pa, GROW_BYTES) {
                    let mut regs = self.regions.lock();
                    if let Some(slot) = regs.r.iter_mut().find(|r| r.is_none()) {
                        let mut heap = Heap::empty();
                        // SAFETY: the buddy allocator handed this block out to the heap alone (refcount 1, it is
                        // counted as allocated), it is page-aligned and mapped (checked above), and a region is
                        // added to the table once, in a free slot.
                        unsafe { heap.init(phys.virt(pa) as *mut u8, GROW_BYTES as usize) };
                        *slot = Some(Region { heap, phys: pa, grown: true });
                        self.grown.fetch_add(1, Ordering::Relaxed);
                        ok = true;
                    }
                }
                if !ok {
                    (src.release)(pa);
                }
            }
        }
        if !ok {
            self.failed_grows.fetch_add(1, Ordering::Relaxed);
        }
        self.growing.store(false, Ordering::Release);
        ok
    }
}

// SAFETY: `alloc` returns memory of a region served by linked_list_allocator for `layout`, or null; `dealloc`
// returns a block to the one region whose virtual range holds it, with the layout it was allocated with (the
// GlobalAlloc contract).
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (mut p, free) = {
            let mut regs = self.regions.lock();
            let p = regs.alloc(layout);
            (p, regs.free_bytes())
        };
        // The lock is dropped before growing: the grow source allocates (the buddy allocator may), and those
        // allocations must find the lock free.
        if p.is_null() {
            if layout.size().saturating_add(layout.align()) + 64 <= GROW_BYTES as usize && self.grow() {
                p = self.regions.lock().alloc(layout);
            }
        } else if free < LOW_WATER {
            self.grow();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut regs = self.regions.lock();
        let a = ptr as usize;
        for reg in regs.r.iter_mut().flatten() {
            if (reg.heap.bottom() as usize) <= a && a < reg.heap.top() as usize {
                // SAFETY: `ptr` was returned by this region's `allocate_first_fit` for `layout` (regions are
                // disjoint, and the caller upholds GlobalAlloc's contract).
                unsafe { reg.heap.deallocate(NonNull::new_unchecked(ptr), layout) };
                return;
            }
        }
        // Not ours: a bug in the caller. Leaking is the safe answer; say it.
        log::error!("heap: dealloc of {:p} outside every heap region", ptr);
    }
}

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
    PHYS.call_once(|| *phys);
    let range = *HEAP.call_once(|| {
        let mut heap = Heap::empty();
        // SAFETY: `[start, end)` is page-aligned RAM the bootloader reports as Usable (it reports the frames it
        // uses as Bootloader, and the kernel takes no other frames), it is mapped (checked above), and `call_once`
        // hands it to the allocator exactly once.
        unsafe { heap.init(phys.virt(start) as *mut u8, (end - start) as usize) };
        ALLOCATOR.regions.lock().r[0] = Some(Region { heap, phys: start, grown: false });
        (start, end)
    });
    Some(range)
}

/// Grows the heap until at least `bytes` are free (for work that will allocate while holding the model's lock,
/// when growing is impossible). `false` if the grow source cannot provide that much now.
pub fn ensure_free(bytes: usize) -> bool {
    while ALLOCATOR.regions.lock().free_bytes() < bytes {
        if !ALLOCATOR.grow() {
            return false;
        }
    }
    true
}

/// Registers where grown regions come from (once; the model does it after the buddy hand-over).
pub fn set_grow_source(src: GrowSource) {
    GROW_SOURCE.call_once(|| src);
}

/// Gives every wholly free grown region back to its source. Returns how many went back.
pub fn trim() -> usize {
    let Some(src) = GROW_SOURCE.get() else { return 0 };
    let mut n = 0;
    loop {
        // Take a free grown region out of the table under the lock, release it without the lock (the source may
        // allocate), and put it back if the source cannot take it now.
        let taken = {
            let mut regs = ALLOCATOR.regions.lock();
            let slot = regs.r.iter_mut().find(|r| r.as_ref().is_some_and(|r| r.grown && r.heap.used() == 0));
            slot.and_then(|s| s.take())
        };
        let Some(region) = taken else { break };
        if (src.release)(region.phys) {
            ALLOCATOR.released.fetch_add(1, Ordering::Relaxed);
            n += 1;
        } else {
            let mut regs = ALLOCATOR.regions.lock();
            if let Some(slot) = regs.r.iter_mut().find(|r| r.is_none()) {
                *slot = Some(region);
            }
            break;
        }
    }
    n
}

/// What the heap holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapStats {
    pub used: usize,
    pub free: usize,
    /// Regions now in the table (the initial one included) and grown regions among them.
    pub regions: usize,
    pub grown_regions: usize,
    /// Regions grown and released since boot; grow attempts that got no block.
    pub grown_total: u64,
    pub released_total: u64,
    pub failed_grows: u64,
}

/// The heap's counters.
pub fn stats() -> HeapStats {
    let regs = ALLOCATOR.regions.lock();
    let live = regs.r.iter().flatten();
    HeapStats {
        used: live.clone().map(|r| r.heap.used()).sum(),
        free: live.clone().map(|r| r.heap.free()).sum(),
        regions: live.clone().count(),
        grown_regions: live.filter(|r| r.grown).count(),
        grown_total: ALLOCATOR.grown.load(Ordering::Relaxed),
        released_total: ALLOCATOR.released.load(Ordering::Relaxed),
        failed_grows: ALLOCATOR.failed_grows.load(Ordering::Relaxed),
    }
}

/// Physical ranges of the grown regions now in the heap.
pub fn grown_ranges() -> alloc::vec::Vec<(u64, u64)> {
    // Copied out under the lock into a fixed array: the Vec is allocated after the lock is dropped.
    let (v, n) = {
        let regs = ALLOCATOR.regions.lock();
        let mut v = [0u64; MAX_REGIONS];
        let mut n = 0;
        for r in regs.r.iter().flatten().filter(|r| r.grown) {
            v[n] = r.phys;
            n += 1;
        }
        (v, n)
    };
    v[..n].iter().map(|&p| (p, p + GROW_BYTES)).collect()
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let s = stats();
    (s.used, s.free)
}
