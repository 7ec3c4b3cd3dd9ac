//! Where memmap memory comes from: the [`MemmapBacking`] trait (the direct map in the kernel) and the host's
//! [`HeapBacking`].

use core::ptr::NonNull;

/// Where memmap memory comes from.
pub trait MemmapBacking {
    /// Memory for `bytes` bytes of memmap placed at physical address `phys` (already reserved in memblock by
    /// the caller; the host ignores it), aligned to 64 bytes. The content is unspecified; the caller fills it.
    fn map(&mut self, phys: u64, bytes: usize) -> Option<NonNull<u8>>;

    /// Memory for the memmap of section `nr` placed at `phys`: where a backing puts it may depend on the
    /// section (the kernel's vmemmap maps it at `vmemmap + section_nr_to_pfn(nr) * 64`, so that `pfn_to_page`
    /// is one addition). Defaults to [`MemmapBacking::map`].
    fn map_section(&mut self, nr: u64, phys: u64, bytes: usize) -> Option<NonNull<u8>> {
        let _ = nr;
        self.map(phys, bytes)
    }

    /// Gives back memory obtained from [`MemmapBacking::map`].
    ///
    /// # Safety
    /// `ptr` and `bytes` must come from one earlier call of `map` of this backing, and no reference into that
    /// memory may be used afterwards.
    unsafe fn unmap(&mut self, ptr: NonNull<u8>, bytes: usize);
}

/// Memmap memory from the global allocator (the host simulator and tests).
#[derive(Debug, Default)]
pub struct HeapBacking;

impl MemmapBacking for HeapBacking {
    fn map(&mut self, _phys: u64, bytes: usize) -> Option<NonNull<u8>> {
        let layout = core::alloc::Layout::from_size_align(bytes.max(1), 64).ok()?;
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { alloc::alloc::alloc(layout) })
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, bytes: usize) {
        let layout = core::alloc::Layout::from_size_align(bytes.max(1), 64).expect("layout was valid in map");
        // SAFETY: the caller guarantees `ptr` came from `map` with the same size, hence this same layout.
        unsafe { alloc::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}
