//! Memory hotplug in the model: add (sections with subsection granularity, memmap poisoned until online),
//! online (the range moved into a zone, spans grown, pages initialized and handed to the buddy allocator),
//! offline (isolated, taken out of the buddy allocator, re-poisoned, spans shrunk) and remove (subsections and
//! sections gone, memmap given back). The rules are Linux's mm/memory_hotplug.c and mm/sparse.c (v6.x), function
//! names cited where each lives; the pfn walkers then run over the grown spans, which is where the seed mail's
//! "the node/zone gets resized such that PFN walkers might stumble over it" shows.
//!
//! - **add** (`add_memory_resource` -> `arch_add_memory` -> `__add_pages` -> `sparse_add_section`): the range
//!   must be whole memory blocks (`check_hotplug_memory_range`; [`Mm::arch_add_memory`], ZONE_DEVICE's way in,
//!   takes subsection-aligned (2 MiB) ranges), on an existing node, below MAX_PHYSMEM_BITS and free of present memory;
//!   each section without a memmap gets one at the physical address the caller allocated (on the DIMM's node,
//!   or on the new memory itself for memmap-on-memory), poisoned (`page_init_poison`), not online; the subsection
//!   bits make `pfn_valid` true per subsection; memblock.memory gets the range (`memblock_add_node`, as with
//!   CONFIG_ARCH_KEEP_MEMBLOCK);
//! - **memmap on memory** ([`Mm::add_memory_memmap_on_memory`], Linux's `memory_hotplug.memmap_on_memory`,
//!   `MHP_MEMMAP_ON_MEMORY`): the range's own first pages hold its memmap (one 2 MiB block per section); they are
//!   reserved in memblock (`memmap`), initialized with the range's zone and PG_reserved at online, in pageblocks
//!   marked MIGRATE_UNMOVABLE (`mhp_init_memmap_on_memory`), counted present but not managed, never handed to
//!   the buddy allocator, and not freed at remove (they go with the DIMM);
//! - **zone choice** ([`OnlinePolicy`]): `movable` is ZONE_MOVABLE; `normal` is `default_kernel_zone_for_pfn` (the
//!   first zone below Normal the range intersects, else Normal); `auto` is Linux's default `contig-zones`
//!   (`default_zone_for_pfn`): the kernel zone or ZONE_MOVABLE if the range intersects exactly one of them,
//!   else the kernel zone;
//! - **online** (`online_pages`): `move_pfn_range_to_zone` grows the zone (`resize_zone_range`) and node
//!   (`resize_pgdat_range`) spans and runs `memmap_init_range(MEMINIT_HOTPLUG, MIGRATE_ISOLATE)` over the range
//!   (checked pageblock writes, call site `move_pfn_range_to_zone`); present counts grow; the sections go online;
//!   the pageblocks become MIGRATE_MOVABLE (`undo_isolate_page_range`, done here before the hand-over rather than
//!   after: nothing can allocate in between, and the free blocks then land on the MOVABLE lists directly) and
//!   the pages are handed over (`online_pages_range`);
//! - **offline** (`offline_pages`): the range must be online and in one zone (`test_pages_in_a_zone`); its
//!   pageblocks are isolated (`start_isolate_page_range`, checked writes); every page must be free
//!   (`test_pages_isolated`: with no page migration here, an allocated page makes the offline fail, and the
//!   isolation is undone); the free blocks leave the buddy allocator (`__offline_isolated_pages`); present and
//!   managed drop; the sections go offline; the struct pages are poisoned again and the spans shrink
//!   (`remove_pfn_range_from_zone` -> `shrink_zone_span` / `update_pgdat_span`, which look for the new zone edge
//!   among online subsections whose *struct page* names the zone: so a boot-time hole initialized with the zone's
//!   links keeps the zone spanning it, and one zeroed by a 5.x policy does not);
//! - **remove** (`__remove_pages` -> `sparse_remove_section`): the range must be offline; its subsection bits are
//!   cleared; a section left with none loses its memmap (whose physical address is returned to the caller to
//!   free) and its presence; memblock.memory loses the range.
//!
//! # Invariants
//! - every step checks its preconditions first and changes nothing when they fail (a named [`HotplugError`]);
//! - after every step the verifier's accounting holds (free + allocated + reserved = present per zone) and the
//!   buddy allocator's own check passes; spans only cover pfns whose sections are present or were at boot.

use alloc::vec::Vec;
use core::fmt;

use crate::buddy::{Buddy, BuddyError, OfflineError};
use crate::consts::*;
use crate::layout::ReserveReason;
use crate::model::Mm;
use crate::page::Page;
use crate::sparse::{migratetype, subsection_index, SparseError};
use crate::usemap::Violation;
use crate::zones::ZoneType;

/// `online_policy=`: which zone onlined memory goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlinePolicy {
    Movable,
    Normal,
    Auto,
}

impl OnlinePolicy {
    pub const ALL: [OnlinePolicy; 3] = [OnlinePolicy::Movable, OnlinePolicy::Normal, OnlinePolicy::Auto];

    pub const fn name(self) -> &'static str {
        match self {
            OnlinePolicy::Movable => "movable",
            OnlinePolicy::Normal => "normal",
            OnlinePolicy::Auto => "auto",
        }
    }

    pub fn by_name(s: &str) -> Option<OnlinePolicy> {
        OnlinePolicy::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Why a hotplug step was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// Zero pages.
    Empty,
    /// Start or size not a multiple of 2 MiB (PAGES_PER_SUBSECTION).
    Unaligned {
        start_pfn: u64,
        nr_pages: u64,
    },
    /// Start or size not a multiple of the memory block size: Linux's `add_memory_resource` refuses it
    /// (`check_hotplug_memory_range`: "Block size [%#lx] unaligned hotplug range").
    BlockUnaligned {
        start_pfn: u64,
        nr_pages: u64,
        block_pages: u64,
    },
    /// The node does not exist.
    BadNode {
        nid: u32,
        nr_nodes: usize,
    },
    /// The range ends beyond MAX_PHYSMEM_BITS.
    BeyondPhysmem {
        pfn: u64,
    },
    /// The range overlaps present memory (a subsection already added, or boot memory).
    Overlaps {
        pfn: u64,
    },
    /// The caller gave memmap addresses for a different number of sections than need one.
    MemmapCount {
        needed: usize,
        given: usize,
    },
    /// A pfn of the range was never added.
    NotAdded {
        pfn: u64,
    },
    /// Online: a pfn of the range is online already. Remove: a pfn is still online.
    Online {
        pfn: u64,
    },
    /// Offline: a pfn of the range is not online.
    NotOnline {
        pfn: u64,
    },
    /// Offline: the range spans more than one zone (`test_pages_in_a_zone`).
    NotOneZone {
        pfn: u64,
    },
    /// The zone does not exist on the node.
    NoZone {
        nid: u32,
        zone: ZoneType,
    },
    /// `vm_debug=panic` and a pageblock write hit the invariant.
    Violation {
        pfn: u64,
        site: &'static str,
    },
    Sparse(SparseError),
    Buddy(BuddyError),
    /// Offline: a page is busy or a free block straddles the range.
    Offline(OfflineError),
}

impl fmt::Display for HotplugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HotplugError::Empty => write!(f, "hotplug: empty range"),
            HotplugError::Unaligned { start_pfn, nr_pages } => write!(
                f,
                "hotplug: range pfn {:#x} + {:#x} pages is not aligned to a subsection ({} pages)",
                start_pfn, nr_pages, PAGES_PER_SUBSECTION
            ),
            HotplugError::BlockUnaligned { start_pfn, nr_pages, block_pages } => write!(
                f,
                "hotplug: Block size [{:#x}] unaligned hotplug range: start {:#x}, size {:#x}",
                block_pages << PAGE_SHIFT,
                start_pfn << PAGE_SHIFT,
                nr_pages << PAGE_SHIFT
            ),
            HotplugError::BadNode { nid, nr_nodes } => {
                write!(f, "hotplug: node {} does not exist ({} nodes)", nid, nr_nodes)
            }
            HotplugError::BeyondPhysmem { pfn } => write!(f, "hotplug: pfn {:#x} is beyond MAX_PHYSMEM_BITS", pfn),
            HotplugError::Overlaps { pfn } => write!(f, "hotplug: pfn {:#x} is present memory already", pfn),
            HotplugError::MemmapCount { needed, given } => {
                write!(f, "hotplug: {} sections need a memmap, {} memmap addresses given", needed, given)
            }
            HotplugError::NotAdded { pfn } => write!(f, "hotplug: pfn {:#x} was not added", pfn),
            HotplugError::Online { pfn } => write!(f, "hotplug: pfn {:#x} is online", pfn),
            HotplugError::NotOnline { pfn } => write!(f, "hotplug: pfn {:#x} is not online", pfn),
            HotplugError::NotOneZone { pfn } => {
                write!(f, "hotplug: pfn {:#x} is in another zone than the range start", pfn)
            }
            HotplugError::NoZone { nid, zone } => write!(f, "hotplug: node {} has no zone {}", nid, zone.name()),
            HotplugError::Violation { pfn, site } => {
                write!(f, "hotplug: pageblock invariant violated at pfn {:#x} in {}", pfn, site)
            }
            HotplugError::Sparse(e) => write!(f, "hotplug: {}", e),
            HotplugError::Buddy(e) => write!(f, "hotplug: {}", e),
            HotplugError::Offline(e) => write!(f, "hotplug: offline: {}", e),
        }
    }
}

impl From<Violation> for HotplugError {
    fn from(v: Violation) -> Self {
        HotplugError::Violation { pfn: v.pfn, site: v.site }
    }
}

/// What an online or offline did to the spans: `(start, end)` before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanChange {
    pub nid: u32,
    pub zone: ZoneType,
    pub zone_before: (u64, u64),
    pub zone_after: (u64, u64),
    pub node_before: (u64, u64),
    pub node_after: (u64, u64),
}

impl fmt::Display for SpanChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} zone {}: zone span {:#x}-{:#x} -> {:#x}-{:#x}, node span {:#x}-{:#x} -> {:#x}-{:#x}",
            self.nid,
            self.zone.name(),
            self.zone_before.0,
            self.zone_before.1,
            self.zone_after.0,
            self.zone_after.1,
            self.node_before.0,
            self.node_before.1,
            self.node_after.0,
            self.node_after.1
        )
    }
}

/// Calls `f` with the struct pages of `[start, end)`, one section's part at a time (sections without a memmap are
/// skipped), and the first pfn of each part.
fn for_each_section_part(mm: &mut Mm, start: u64, end: u64, mut f: impl FnMut(u64, &mut [Page])) {
    let mut pfn = start;
    while pfn < end {
        let nr = pfn_to_section_nr(pfn);
        let sec_start = section_nr_to_pfn(nr);
        let chunk_end = (sec_start + PAGES_PER_SECTION).min(end);
        if let Some(pages) = mm.sparse.section_pages_mut(nr) {
            f(pfn, &mut pages[(pfn - sec_start) as usize..(chunk_end - sec_start) as usize]);
        }
        pfn = chunk_end;
    }
}

/// `zone_intersects`.
fn zone_intersects(start: u64, end: u64, zs: u64, ze: u64) -> bool {
    zs < ze && start < ze && zs < end
}

impl Mm {
    fn check_range(&self, start_pfn: u64, nr_pages: u64) -> Result<u64, HotplugError> {
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
    fn check_block_aligned(&self, start_pfn: u64, nr_pages: u64) -> Result<(), HotplugError> {
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

    /// The zone `policy` puts `[start_pfn, start_pfn + nr_pages)` of node `nid` in. See the module documentation.
    pub fn zone_for_online(&self, nid: u32, start_pfn: u64, nr_pages: u64, policy: OnlinePolicy) -> ZoneType {
        let end = start_pfn + nr_pages;
        let Some(node) = self.zones.nodes.get(nid as usize) else { return ZoneType::Normal };
        let intersects = |z: ZoneType| {
            let zone = node.zone(z);
            zone_intersects(start_pfn, end, zone.zone_start_pfn, zone.zone_end_pfn())
        };
        let kernel = [ZoneType::Dma, ZoneType::Dma32].into_iter().find(|&z| intersects(z)).unwrap_or(ZoneType::Normal);
        match policy {
            OnlinePolicy::Movable => ZoneType::Movable,
            OnlinePolicy::Normal => kernel,
            OnlinePolicy::Auto => {
                // default_zone_for_pfn: the zone the range already lies in, else (no zone, or both) ZONE_MOVABLE
                // with movable_node and the kernel zone without.
                let (in_kernel, in_movable) = (intersects(kernel), intersects(ZoneType::Movable));
                if in_kernel ^ in_movable {
                    if in_movable {
                        ZoneType::Movable
                    } else {
                        kernel
                    }
                } else if self.opts.movable_node {
                    ZoneType::Movable
                } else {
                    kernel
                }
            }
        }
    }

    fn span_of(&self, nid: u32, zone: ZoneType) -> ((u64, u64), (u64, u64)) {
        let node = &self.zones.nodes[nid as usize];
        let z = node.zone(zone);
        ((z.zone_start_pfn, z.zone_end_pfn()), (node.node_start_pfn, node.node_end_pfn()))
    }

    fn sync_buddy_span(&self, buddy: &mut Buddy, nid: u32, zone: ZoneType) {
        let z = self.zones.nodes[nid as usize].zone(zone);
        buddy.set_zone_span(nid, zone, z.zone_start_pfn, z.zone_end_pfn(), z.present_pages);
    }

    /// `online_pages` into `zone`: see the module documentation.
    pub fn online_pages(
        &mut self,
        buddy: &mut Buddy,
        start_pfn: u64,
        nr_pages: u64,
        zone: ZoneType,
    ) -> Result<SpanChange, HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        let mut pfn = start_pfn;
        let mut nid = None;
        while pfn < end {
            if !self.sparse.pfn_valid(pfn) {
                return Err(HotplugError::NotAdded { pfn });
            }
            if self.sparse.pfn_is_online(pfn) {
                return Err(HotplugError::Online { pfn });
            }
            let n = self.memblock.nid_of(pfn).ok_or(HotplugError::NotAdded { pfn })?;
            if *nid.get_or_insert(n) != n {
                return Err(HotplugError::NotAdded { pfn });
            }
            pfn += PAGES_PER_SUBSECTION;
        }
        let nid = nid.ok_or(HotplugError::Empty)?;
        let (zone_before, node_before) = self.span_of(nid, zone);
        let was_populated = self.zones.nodes[nid as usize].zone(zone).populated();
        // move_pfn_range_to_zone: resize_zone_range + resize_pgdat_range.
        {
            let node = &mut self.zones.nodes[nid as usize];
            let z = &mut node.zones[zone.index()];
            let old_end = z.zone_end_pfn();
            if z.is_empty() || start_pfn < z.zone_start_pfn {
                z.zone_start_pfn = start_pfn;
            }
            z.spanned_pages = end.max(old_end) - z.zone_start_pfn;
            let node_end = node.node_end_pfn();
            if node.node_spanned_pages == 0 || start_pfn < node.node_start_pfn {
                node.node_start_pfn = start_pfn;
            }
            node.node_spanned_pages = end.max(node_end) - node.node_start_pfn;
        }
        // memmap_init_range(MEMINIT_HOTPLUG, MIGRATE_ISOLATE).
        let z = zone as u8;
        for_each_section_part(self, start_pfn, end, |first, pages| {
            for (i, page) in pages.iter_mut().enumerate() {
                page.init_single(first + i as u64, z, nid);
            }
        });
        let vm = self.memmap_on_memory_pages(start_pfn).min(nr_pages);
        let first = start_pfn + vm;
        if vm > 0 {
            // mhp_init_memmap_on_memory: the pages holding the memmap are the zone's, reserved, unmovable.
            for_each_section_part(self, start_pfn, first, |_, pages| {
                for p in pages.iter_mut() {
                    p.set_flag(crate::page::pg::RESERVED);
                }
            });
            self.set_pageblocks(start_pfn, first, migratetype::UNMOVABLE, "mhp_init_memmap_on_memory")?;
        }
        self.set_pageblocks(first, end, migratetype::ISOLATE, "move_pfn_range_to_zone")?;
        {
            let node = &mut self.zones.nodes[nid as usize];
            node.zones[zone.index()].present_pages += nr_pages;
            node.zones[zone.index()].managed_pages += nr_pages - vm;
            node.node_present_pages += nr_pages;
        }
        for nr in pfn_to_section_nr(start_pfn)..=pfn_to_section_nr(end - 1) {
            self.sparse.set_online(nr, true);
        }
        self.set_pageblocks(first, end, migratetype::MOVABLE, "undo_isolate_page_range")?;
        self.sync_buddy_span(buddy, nid, zone);
        buddy.online_range(self, first, end).map_err(HotplugError::Buddy)?;
        if !was_populated {
            buddy.rebuild_zonelists(&self.zones);
        }
        let (zone_after, node_after) = self.span_of(nid, zone);
        Ok(SpanChange { nid, zone, zone_before, zone_after, node_before, node_after })
    }

    /// Checked pageblock migratetype writes over the pageblock starts of `[start, end)`.
    fn set_pageblocks(&mut self, start: u64, end: u64, mt: u64, site: &'static str) -> Result<(), HotplugError> {
        let mut pb = align_up(start, PAGEBLOCK_NR_PAGES);
        while pb < end {
            self.checker.set_pfnblock_flags_mask(&self.sparse, &self.zones, pb, mt, migratetype::MASK, site)?;
            pb += PAGEBLOCK_NR_PAGES;
        }
        Ok(())
    }

    /// `offline_pages`: see the module documentation.
    pub fn offline_pages(
        &mut self,
        buddy: &mut Buddy,
        start_pfn: u64,
        nr_pages: u64,
    ) -> Result<SpanChange, HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        let mut first = None;
        let mut pfn = start_pfn;
        while pfn < end {
            if !self.sparse.pfn_is_online(pfn) {
                return Err(HotplugError::NotOnline { pfn });
            }
            let links =
                self.sparse.pfn_to_page(pfn).and_then(|p| p.links(pfn).ok()).ok_or(HotplugError::NotOnline { pfn })?;
            if *first.get_or_insert((links.nid, links.zone)) != (links.nid, links.zone) {
                return Err(HotplugError::NotOneZone { pfn });
            }
            pfn += PAGES_PER_SUBSECTION;
        }
        let (nid, zi) = first.ok_or(HotplugError::Empty)?;
        let zone = ZoneType::from_index(zi as usize).ok_or(HotplugError::NoZone { nid, zone: ZoneType::Normal })?;
        if nid as usize >= self.zones.nodes.len() {
            return Err(HotplugError::BadNode { nid, nr_nodes: self.zones.nodes.len() });
        }
        let (zone_before, node_before) = self.span_of(nid, zone);
        // The pages holding the range's own memmap are not the allocator's: they stay until the remove.
        let first = start_pfn + self.memmap_on_memory_pages(start_pfn).min(nr_pages);
        self.set_pageblocks(first, end, migratetype::ISOLATE, "start_isolate_page_range")?;
        if let Err(e) = buddy.offline_range(self, first, end) {
            self.set_pageblocks(first, end, migratetype::MOVABLE, "undo_isolate_page_range")?;
            return Err(HotplugError::Offline(e));
        }
        for nr in pfn_to_section_nr(start_pfn)..=pfn_to_section_nr(end - 1) {
            self.sparse.set_online(nr, false);
        }
        {
            let node = &mut self.zones.nodes[nid as usize];
            node.zones[zone.index()].present_pages -= nr_pages;
            node.zones[zone.index()].managed_pages -= end - first;
            node.node_present_pages -= nr_pages;
        }
        // remove_pfn_range_from_zone: poison, then shrink_zone_span + update_pgdat_span.
        for_each_section_part(self, start_pfn, end, |_, pages| pages.fill(Page::POISONED));
        self.shrink_zone_span(nid, zone, start_pfn, end);
        self.update_pgdat_span(nid);
        self.sync_buddy_span(buddy, nid, zone);
        if !self.zones.nodes[nid as usize].zone(zone).populated() {
            buddy.rebuild_zonelists(&self.zones);
        }
        let (zone_after, node_after) = self.span_of(nid, zone);
        Ok(SpanChange { nid, zone, zone_before, zone_after, node_before, node_after })
    }

    /// Whether the online pfn `pfn`'s struct page names `(nid, zone)`: the test of `find_{smallest,biggest}_section_pfn`.
    fn pfn_in_zone(&self, pfn: u64, nid: u32, zone: ZoneType) -> bool {
        self.sparse.pfn_is_online(pfn)
            && self
                .sparse
                .pfn_to_page(pfn)
                .and_then(|p| p.links(pfn).ok())
                .is_some_and(|l| l.nid == nid && l.zone as usize == zone.index())
    }

    /// `shrink_zone_span`.
    fn shrink_zone_span(&mut self, nid: u32, zone: ZoneType, start: u64, end: u64) {
        let z = *self.zones.nodes[nid as usize].zone(zone);
        let (zs, ze) = (z.zone_start_pfn, z.zone_end_pfn());
        let new = if zs == start {
            // find_smallest_section_pfn over [end, zone_end), subsection by subsection.
            let mut pfn = end;
            let mut found = None;
            while pfn < ze {
                if self.pfn_in_zone(pfn, nid, zone) {
                    found = Some(pfn);
                    break;
                }
                pfn += PAGES_PER_SUBSECTION;
            }
            Some(found.map_or((0, 0), |p| (p, ze)))
        } else if ze == end {
            // find_biggest_section_pfn over [zone_start, start), from start - 1 down.
            let mut found = None;
            let mut pfn = start - 1;
            while pfn >= zs {
                if self.pfn_in_zone(pfn, nid, zone) {
                    found = Some(pfn);
                    break;
                }
                if pfn < zs + PAGES_PER_SUBSECTION {
                    break;
                }
                pfn -= PAGES_PER_SUBSECTION;
            }
            Some(found.map_or((0, 0), |p| (zs, p + 1)))
        } else {
            None
        };
        if let Some((s, e)) = new {
            let z = &mut self.zones.nodes[nid as usize].zones[zone.index()];
            z.zone_start_pfn = s;
            z.spanned_pages = e - s;
        }
    }

    /// `update_pgdat_span`: the node spans its non-empty zones.
    fn update_pgdat_span(&mut self, nid: u32) {
        let node = &mut self.zones.nodes[nid as usize];
        let (mut s, mut e) = (0u64, 0u64);
        for z in node.zones.iter().filter(|z| z.spanned_pages != 0) {
            if e == 0 {
                (s, e) = (z.zone_start_pfn, z.zone_end_pfn());
                continue;
            }
            e = e.max(z.zone_end_pfn());
            s = s.min(z.zone_start_pfn);
        }
        node.node_start_pfn = s;
        node.node_spanned_pages = e - s;
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
