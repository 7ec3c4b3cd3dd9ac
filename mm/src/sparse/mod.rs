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
//! Files: `memmap` (attaching, materializing and removing a section's memmap), `lookup` (section state, `pfn_valid`,
//! `pfn_to_page`), `pageblock` (the usemap words), `backing` (where memmap memory comes from), `migratetype`.
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

mod backing;
mod disjoint;
mod lookup;
mod memmap;
pub mod migratetype;
mod pageblock;
#[cfg(test)]
mod tests;

pub use backing::{HeapBacking, MemmapBacking};
pub use disjoint::{DisjointSections, SectionPages};

bitflags::bitflags! {
    /// The flags in the low bits of a section's `section_mem_map` (include/linux/mmzone.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SectionFlags: u64 {
        /// SECTION_MARKED_PRESENT: memory was seen in the section (memory_present / hot-add).
        const MARKED_PRESENT = 1 << 0;
        /// SECTION_HAS_MEM_MAP: the section has a memmap.
        const HAS_MEM_MAP = 1 << 1;
        /// SECTION_IS_ONLINE: the section's memory is online.
        const IS_ONLINE = 1 << 2;
        /// SECTION_IS_EARLY: the section was present at boot (pfn_valid for all of it).
        const IS_EARLY = 1 << 3;
        /// Ours: the section's pages are all alike and share one template page (compressed mode only).
        const UNIFORM = 1 << 5;
    }
}

// `section_mem_map` packs these flags with the encoded memmap pointer in one word, as Linux does, so the word
// stays a u64 and the flags are also named as u64 constants for the code that builds and decodes it.
/// SECTION_MARKED_PRESENT.
pub const SECTION_MARKED_PRESENT: u64 = SectionFlags::MARKED_PRESENT.bits();
/// SECTION_HAS_MEM_MAP.
pub const SECTION_HAS_MEM_MAP: u64 = SectionFlags::HAS_MEM_MAP.bits();
/// SECTION_IS_ONLINE.
pub const SECTION_IS_ONLINE: u64 = SectionFlags::IS_ONLINE.bits();
/// SECTION_IS_EARLY.
pub const SECTION_IS_EARLY: u64 = SectionFlags::IS_EARLY.bits();
/// SECTION_UNIFORM (ours).
pub const SECTION_UNIFORM: u64 = SectionFlags::UNIFORM.bits();
/// The flag bits of `section_mem_map` (SECTION_MAP_LAST_BIT is 6 here, so memmaps are 64-byte aligned).
pub const SECTION_MAP_MASK: u64 = (1 << 6) - 1;
const _: () = assert!(SectionFlags::all().bits() & !SECTION_MAP_MASK == 0, "section flags overflow into the pointer");

/// Sections per root page: `PAGE_SIZE / sizeof(struct mem_section)` with Linux's 16-byte mem_section.
pub const SECTIONS_PER_ROOT: u64 = 256;

/// Bytes of memmap per section.
pub const MEMMAP_BYTES_PER_SECTION: u64 = PAGES_PER_SECTION * PAGE_STRUCT_SIZE;

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
    /// The SECTION_* flags.
    pub fn flags(&self) -> SectionFlags {
        SectionFlags::from_bits_truncate(self.section_mem_map & SECTION_MAP_MASK)
    }
    pub fn present(&self) -> bool {
        self.flags().contains(SectionFlags::MARKED_PRESENT)
    }
    /// `valid_section`: the section has a memmap.
    pub fn valid(&self) -> bool {
        self.flags().contains(SectionFlags::HAS_MEM_MAP)
    }
    pub fn early(&self) -> bool {
        self.flags().contains(SectionFlags::IS_EARLY)
    }
    pub fn online(&self) -> bool {
        self.flags().contains(SectionFlags::IS_ONLINE)
    }
    pub fn uniform(&self) -> bool {
        self.flags().contains(SectionFlags::UNIFORM)
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
