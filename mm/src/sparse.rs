//! SPARSEMEM: 128 MiB sections with 2 MiB subsections, the section root, the memmap of each section and the
//! pageblock usemap.
//!
//! ```text
//!  roots[NR_SECTION_ROOTS] ──► [MemSection; 256] (allocated on demand, one per 32 GiB: SPARSEMEM_EXTREME)
//!                                  │ section_mem_map = (memmap - section_start_pfn * 64) | flags
//!                                  │ usage: subsection_map (64 bits) + pageblock flags (64 x 4 bits)
//!                                  ▼
//!                    memmap: 32768 struct pages (2 MiB) from the section's node
//! ```
//! `pfn_to_page` is one addition of `pfn * 64` to the decoded `section_mem_map`. `pfn_valid` follows Linux
//! (include/linux/mmzone.h): the section must have a memmap, and either be an early section (valid for all
//! 128 MiB, including a tail beyond the end of RAM) or have the pfn's subsection bit set (hot-added sections).
//!
//! This is the one module that owns raw memmap memory, so it holds the crate's `unsafe`. The memory comes from a
//! [`MemmapBacking`] (the direct map in the kernel, the heap on the host). In *compressed* mode (the simulator
//! of very large machines) a section whose 32768 pages are all alike gets a single template page instead of a
//! memmap ([`SECTION_UNIFORM`]); `pfn_to_page` returns the template for every pfn of such a section, and a
//! mutable page cannot be had from it. The kernel never uses compressed mode.
//!
//! # Invariants
//! - a section with [`SECTION_HAS_MEM_MAP`] has a decoded memmap pointer to `PAGES_PER_SECTION` initialized-or-
//!   poisoned `Page`s obtained from the backing (or, with [`SECTION_UNIFORM`], to one template page);
//! - the memmap memory of a section is owned by this `Sparse` alone and given back to the backing on removal/drop;
//! - usemap words are only changed with compare-and-swap ([`Sparse::set_pfnblock_flags_mask`]).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::consts::*;
use crate::page::{Page, PAGE_STRUCT_SIZE};

/// SECTION_MARKED_PRESENT: memory was seen in the section (memory_present / hot-add).
pub const SECTION_MARKED_PRESENT: u64 = 1 << 0;
/// SECTION_HAS_MEM_MAP: the section has a memmap.
pub const SECTION_HAS_MEM_MAP: u64 = 1 << 1;
/// SECTION_IS_ONLINE: the section's memory is online.
pub const SECTION_IS_ONLINE: u64 = 1 << 2;
/// SECTION_IS_EARLY: the section was present at boot (pfn_valid for all of it).
pub const SECTION_IS_EARLY: u64 = 1 << 3;
/// Ours: the section's pages are all alike and share one template page (compressed mode only).
pub const SECTION_UNIFORM: u64 = 1 << 5;
/// The flag bits of `section_mem_map` (SECTION_MAP_LAST_BIT is 6 here, so memmaps are 64-byte aligned).
pub const SECTION_MAP_MASK: u64 = (1 << 6) - 1;

/// Sections per root page: `PAGE_SIZE / sizeof(struct mem_section)` with Linux's 16-byte mem_section.
pub const SECTIONS_PER_ROOT: u64 = 256;

/// Bytes of memmap per section.
pub const MEMMAP_BYTES_PER_SECTION: u64 = PAGES_PER_SECTION * PAGE_STRUCT_SIZE;

/// Migratetypes (include/linux/mmzone.h).
pub mod migratetype {
    pub const UNMOVABLE: u64 = 0;
    pub const MOVABLE: u64 = 1;
    pub const RECLAIMABLE: u64 = 2;
    pub const HIGHATOMIC: u64 = 3;
    pub const ISOLATE: u64 = 4;
    /// MIGRATETYPE_MASK: the three low bits of a pageblock's flags.
    pub const MASK: u64 = 0b111;
    /// PB_migrate_skip: bit 3 of a pageblock's flags (compaction's skip hint).
    pub const SKIP_BIT: u64 = 1 << 3;

    pub fn name(mt: u64) -> &'static str {
        match mt {
            UNMOVABLE => "Unmovable",
            MOVABLE => "Movable",
            RECLAIMABLE => "Reclaimable",
            HIGHATOMIC => "HighAtomic",
            ISOLATE => "Isolate",
            _ => "?",
        }
    }
}

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

/// A failure of a sparse operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseError {
    /// The pfn lies beyond MAX_PHYSMEM_BITS.
    BeyondPhysmem { pfn: u64 },
    /// The backing could not provide memmap memory for a section.
    NoMemmapMemory { section: u64, bytes: u64 },
    /// The section is not present.
    NotPresent { section: u64 },
    /// The section already has a memmap.
    AlreadyHasMemmap { section: u64 },
}

impl fmt::Display for SparseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SparseError::BeyondPhysmem { pfn } => write!(f, "pfn {:#x} lies beyond MAX_PHYSMEM_BITS", pfn),
            SparseError::NoMemmapMemory { section, bytes } => {
                write!(f, "no memory for the {} bytes of memmap of section {}", bytes, section)
            }
            SparseError::NotPresent { section } => write!(f, "section {} is not present", section),
            SparseError::AlreadyHasMemmap { section } => write!(f, "section {} already has a memmap", section),
        }
    }
}

/// `struct mem_section_usage`: the subsection map and the pageblock flags of one section.
#[derive(Default)]
pub struct SectionUsage {
    /// One bit per 2 MiB subsection that holds (or held at boot) memory.
    pub subsection_map: u64,
    /// NR_PAGEBLOCK_BITS (4) per pageblock, 64 pageblocks.
    pageblock_flags: [AtomicU64; 4],
}

/// `struct mem_section`.
#[derive(Default)]
pub struct MemSection {
    /// Encoded memmap pointer minus the section's first pfn, with SECTION_* flags in the low bits.
    section_mem_map: u64,
    /// The node the section's memory (and memmap) belongs to.
    pub nid: u32,
    /// Physical address of the memmap (for the node-locality check), 0 if none.
    pub memmap_phys: u64,
    pub usage: SectionUsage,
}

impl MemSection {
    /// The SECTION_* flag bits.
    pub fn flags(&self) -> u64 {
        self.section_mem_map & SECTION_MAP_MASK
    }
    pub fn present(&self) -> bool {
        self.flags() & SECTION_MARKED_PRESENT != 0
    }
    /// `valid_section`: the section has a memmap.
    pub fn valid(&self) -> bool {
        self.flags() & SECTION_HAS_MEM_MAP != 0
    }
    pub fn early(&self) -> bool {
        self.flags() & SECTION_IS_EARLY != 0
    }
    pub fn online(&self) -> bool {
        self.flags() & SECTION_IS_ONLINE != 0
    }
    pub fn uniform(&self) -> bool {
        self.flags() & SECTION_UNIFORM != 0
    }
    fn coded_map(&self) -> u64 {
        self.section_mem_map & !SECTION_MAP_MASK
    }
}

type Root = [MemSection; SECTIONS_PER_ROOT as usize];

/// The section table and everything hanging off it. See the module documentation.
pub struct Sparse {
    roots: Vec<Option<Box<Root>>>,
    nr_mem_sections: u64,
    backing: Box<dyn MemmapBacking + Send>,
    /// Fill new memmaps with the poison pattern (on by default).
    pub poison: bool,
    /// `pfn_to_online_page` also needs the subsection bit in an early section (Linux >= 5.12, 9f9b02e5b346; on by
    /// default; the policy decides, see `HolePolicy::online_page_checks_subsection`).
    pub online_checks_subsection: bool,
    /// The section-root lookup cache: per section number, the address of the first struct page of its full
    /// (non-uniform) memmap, 0 for any other section; as long as the highest such section. `pfn_to_page` is one
    /// load from here plus an addition (see [`crate::memmodel`]).
    flat: Vec<usize>,
    /// A number no other `Sparse` of this process has (see [`Sparse::id`]).
    id: u64,
    /// Sections attached by [`Sparse::attach_unfilled`] whose pages not written by memmap init still have to be
    /// filled by [`Sparse::fill_unwritten`] (single-pass init: no page is written twice).
    unfilled: Vec<u64>,
}

// SAFETY: `Sparse` owns its memmap memory exclusively (no other handle to it exists), and the backing is `Send`,
// so moving the whole structure to another thread moves sole ownership with it.
unsafe impl Send for Sparse {}

impl fmt::Debug for Sparse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sparse({} present sections)", self.present_sections().count())
    }
}

impl Sparse {
    /// An empty section table for `max_physmem_bits` with memmap memory from `backing`.
    pub fn new(max_physmem_bits: u32, backing: Box<dyn MemmapBacking + Send>) -> Sparse {
        let nr_mem_sections = 1u64 << (max_physmem_bits - SECTION_SIZE_BITS);
        let nr_roots = nr_mem_sections.div_ceil(SECTIONS_PER_ROOT);
        let mut roots = Vec::new();
        roots.resize_with(nr_roots as usize, || None);
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Sparse {
            roots,
            nr_mem_sections,
            backing,
            poison: true,
            online_checks_subsection: true,
            flat: Vec::new(),
            id,
            unfilled: Vec::new(),
        }
    }

    /// A number that identifies this `Sparse` among all of the process (the buddy allocator checks that it is
    /// given the memory model it was built from).
    #[inline(always)]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// NR_MEM_SECTIONS.
    pub fn nr_mem_sections(&self) -> u64 {
        self.nr_mem_sections
    }

    /// `__nr_to_section`: the section, if its root exists.
    #[inline]
    pub fn section(&self, nr: u64) -> Option<&MemSection> {
        if nr >= self.nr_mem_sections {
            return None;
        }
        let root = self.roots[(nr / SECTIONS_PER_ROOT) as usize].as_deref()?;
        Some(&root[(nr % SECTIONS_PER_ROOT) as usize])
    }

    fn section_mut(&mut self, nr: u64) -> Option<&mut MemSection> {
        if nr >= self.nr_mem_sections {
            return None;
        }
        let root = self.roots[(nr / SECTIONS_PER_ROOT) as usize].as_deref_mut()?;
        Some(&mut root[(nr % SECTIONS_PER_ROOT) as usize])
    }

    /// `sparse_index_init`: the section, allocating its root on demand.
    fn section_alloc(&mut self, nr: u64) -> Result<&mut MemSection, SparseError> {
        if nr >= self.nr_mem_sections {
            return Err(SparseError::BeyondPhysmem { pfn: section_nr_to_pfn(nr) });
        }
        let slot = &mut self.roots[(nr / SECTIONS_PER_ROOT) as usize];
        let root = slot.get_or_insert_with(|| Box::new(core::array::from_fn(|_| MemSection::default())));
        Ok(&mut root[(nr % SECTIONS_PER_ROOT) as usize])
    }

    /// `memory_present`: marks the sections of `[start_pfn, end_pfn)` present on node `nid` and sets the
    /// subsection bits of the range (`subsection_map_init`).
    pub fn memory_present(&mut self, nid: u32, start_pfn: u64, end_pfn: u64) -> Result<(), SparseError> {
        if end_pfn > section_nr_to_pfn(self.nr_mem_sections) {
            return Err(SparseError::BeyondPhysmem { pfn: end_pfn - 1 });
        }
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let nr = pfn_to_section_nr(pfn);
            let sec_end = section_nr_to_pfn(nr + 1).min(end_pfn);
            let ms = self.section_alloc(nr)?;
            if !ms.present() {
                ms.nid = nid;
                ms.section_mem_map |= SECTION_MARKED_PRESENT;
            }
            ms.usage.subsection_map |= subsection_mask(pfn, sec_end);
            pfn = sec_end;
        }
        Ok(())
    }

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
    /// ranges, any order, may overlap) with the poison pattern (or zeroes), and forgets those sections.
    pub(crate) fn fill_unwritten(&mut self, written: &mut [(u64, u64)]) {
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
        let mut flags = ms.flags() | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE | extra;
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

    /// `get_pfnblock_flags_mask`: the pageblock flags of `pfn` under `mask` (0 if the section has none).
    #[inline]
    pub fn get_pfnblock_flags_mask(&self, pfn: u64, mask: u64) -> u64 {
        let Some(ms) = self.section(pfn_to_section_nr(pfn)) else { return 0 };
        let (word, shift) = pfnblock_bitidx(pfn);
        (ms.usage.pageblock_flags[word].load(Ordering::Relaxed) >> shift) & mask
    }

    /// `set_pfnblock_flags_mask` without the zone check (see `crate::usemap` for the checked entry point):
    /// a compare-and-swap loop, as Linux does, so concurrent writers of other pageblocks in the word never lose
    /// updates. Returns false if the section does not exist.
    #[inline]
    pub fn set_pfnblock_flags_mask(&self, pfn: u64, flags: u64, mask: u64) -> bool {
        let Some(ms) = self.section(pfn_to_section_nr(pfn)) else { return false };
        let (word, shift) = pfnblock_bitidx(pfn);
        let (mask, flags) = (mask << shift, (flags << shift) & (mask << shift));
        let w = &ms.usage.pageblock_flags[word];
        let mut old = w.load(Ordering::Relaxed);
        loop {
            match w.compare_exchange_weak(old, (old & !mask) | flags, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(cur) => old = cur,
            }
        }
    }
}

impl Drop for Sparse {
    fn drop(&mut self) {
        let valid: Vec<u64> = self.valid_sections().collect();
        for nr in valid {
            let _ = self.remove_section_memmap(nr);
        }
    }
}

/// Index of the subsection of `pfn` within its section.
#[inline]
pub const fn subsection_index(pfn: u64) -> u64 {
    (pfn & (PAGES_PER_SECTION - 1)) / PAGES_PER_SUBSECTION
}

/// The subsection bits covering `[start_pfn, end_pfn)`, which must lie in one section and be non-empty.
fn subsection_mask(start_pfn: u64, end_pfn: u64) -> u64 {
    let first = subsection_index(start_pfn);
    let last = subsection_index(end_pfn - 1);
    let n = last - first + 1;
    (if n == 64 { u64::MAX } else { (1u64 << n) - 1 }) << first
}

/// `pfn_to_bitidx` split into (word, shift) of the 4 usemap words.
#[inline]
const fn pfnblock_bitidx(pfn: u64) -> (usize, u32) {
    let bitidx = ((pfn & (PAGES_PER_SECTION - 1)) >> PAGEBLOCK_ORDER) * NR_PAGEBLOCK_BITS as u64;
    ((bitidx / 64) as usize, (bitidx % 64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse() -> Sparse {
        Sparse::new(MAX_PHYSMEM_BITS, Box::new(HeapBacking))
    }

    #[test]
    fn early_sections_valid_for_the_whole_section() {
        let mut s = sparse();
        // -m 4000M: RAM ends 32 MiB into section 39.
        s.memory_present(0, 0x100000, 0x13a000).unwrap();
        assert_eq!(s.present_sections().collect::<Vec<_>>(), (32..40).collect::<Vec<_>>());
        assert!(!s.pfn_valid(0x139fff), "no memmap yet");
        for nr in 32..40 {
            s.init_section_memmap(nr, 0, true).unwrap();
        }
        assert!(s.pfn_valid(0x139fff));
        assert!(s.pfn_valid(0x13ffff), "early section: the tail beyond RAM is valid");
        assert!(!s.pfn_valid(0x140000));
        assert!(!s.pfn_valid(0xfffff));
        assert!(s.pfn_to_page(0x13ffff).unwrap().is_poisoned());
        assert_eq!(s.section(39).unwrap().usage.subsection_map, (1 << 16) - 1);
        assert_eq!(s.roots_allocated(), 1);
        assert_eq!(s.init_section_memmap(39, 0, true), Err(SparseError::AlreadyHasMemmap { section: 39 }));
    }

    #[test]
    fn hot_added_sections_valid_per_subsection() {
        let mut s = sparse();
        s.memory_present(1, 0x140000, 0x140000 + 3 * PAGES_PER_SUBSECTION).unwrap();
        s.init_section_memmap(40, 0, false).unwrap();
        assert!(s.pfn_valid(0x140000));
        assert!(s.pfn_valid(0x140000 + 3 * PAGES_PER_SUBSECTION - 1));
        assert!(!s.pfn_valid(0x140000 + 3 * PAGES_PER_SUBSECTION));
        s.set_subsections(0x140000, 0x140200, false);
        assert!(!s.pfn_valid(0x140000));
        s.remove_section_memmap(40).unwrap();
        assert!(!s.pfn_valid(0x140200));
        assert!(s.section(40).unwrap().present());
    }

    #[test]
    fn pfn_to_page_and_back() {
        let mut s = sparse();
        s.memory_present(0, 0x8000, 0x10000).unwrap();
        s.init_section_memmap(1, 0, true).unwrap();
        for pfn in [0x8000u64, 0x8001, 0xabcd, 0xffff] {
            s.pfn_to_page_mut(pfn).unwrap().init_single(pfn, 1, 0);
            let p = s.pfn_to_page(pfn).unwrap();
            assert_eq!(s.page_to_pfn(p), Some(pfn));
        }
        // A zeroed page claims section 0: classic page_to_pfn cannot find it.
        *s.pfn_to_page_mut(0x9000).unwrap() = Page::ZEROED;
        assert_eq!(s.page_to_pfn(s.pfn_to_page(0x9000).unwrap()), None);
        assert_eq!(s.section_pages_mut(1).unwrap().len(), 32768);
    }

    #[test]
    fn uniform_sections_share_a_template() {
        let mut s = sparse();
        s.memory_present(2, 0x10000, 0x18000).unwrap();
        s.init_section_uniform(2, 0, true).unwrap();
        s.uniform_template_mut(2).unwrap().init_single(0x10000, 2, 2);
        assert!(s.pfn_to_page_mut(0x10001).is_none());
        assert_eq!(s.pfn_to_page(0x17fff).unwrap().links(0x17fff).unwrap().nid, 2);
        assert!(s.pfn_valid(0x17fff));
        s.materialize(2).unwrap();
        let p = s.pfn_to_page_mut(0x10001).unwrap();
        assert_eq!(p.lru(0x10001), Ok((0x10001, 0x10001)));
        assert_eq!(p.links(0x10001).unwrap().zone, 2);
        assert!(!s.section(2).unwrap().uniform());
        assert_eq!(s.page_to_pfn(s.pfn_to_page(0x17fff).unwrap()), Some(0x17fff));
    }

    #[test]
    fn usemap_bits_are_independent() {
        let mut s = sparse();
        s.memory_present(0, 0, PAGES_PER_SECTION).unwrap();
        for pb in 0..PAGEBLOCKS_PER_SECTION {
            s.set_pfnblock_flags_mask(pb * PAGEBLOCK_NR_PAGES, pb % 5, migratetype::MASK);
        }
        for pb in 0..PAGEBLOCKS_PER_SECTION {
            let pfn = pb * PAGEBLOCK_NR_PAGES + 17;
            assert_eq!(s.get_pfnblock_flags_mask(pfn, migratetype::MASK), pb % 5);
        }
        s.set_pfnblock_flags_mask(513, migratetype::SKIP_BIT, migratetype::SKIP_BIT);
        assert_eq!(s.get_pfnblock_flags_mask(512, 0xf), 1 | migratetype::SKIP_BIT);
        assert_eq!(s.get_pfnblock_flags_mask(1024, 0xf), 2);
        assert!(!s.set_pfnblock_flags_mask(1 << 40, 1, 7), "no section there");
    }

    #[test]
    fn beyond_physmem_is_an_error() {
        let mut s = sparse();
        let top = 1u64 << (MAX_PHYSMEM_BITS - PAGE_SHIFT);
        assert!(matches!(s.memory_present(0, top - 1, top + 1), Err(SparseError::BeyondPhysmem { .. })));
        assert!(!s.pfn_valid(top));
    }
}
