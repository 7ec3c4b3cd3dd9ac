//! Nodes and zones: the per-node DMA / DMA32 / Normal / Movable split, exactly as Linux computes it on x86_64.
//!
//! This module owns the step between memblock and sparse in the data flow: given memblock.memory (sorted
//! [`MemRange`]s with node ids) and the zone options of the command line (`kernelcore=`, `movablecore=`,
//! `movable_node`), [`compute_zones`] computes what Linux's `free_area_init` (mm/mm_init.c since 9420f89db2dd,
//! mm/page_alloc.c before) leaves in every `pglist_data` and `struct zone`:
//!
//! 1. the architecture's zone limits (`zone_sizes_init`, arch/x86/mm/init.c): DMA below `MAX_DMA_PFN` (16 MiB),
//!    DMA32 below `MAX_DMA32_PFN` (4 GiB), Normal up to `max_pfn` (x86_64 has `max_low_pfn == max_pfn`);
//! 2. `arch_zone_lowest_possible_pfn` / `arch_zone_highest_possible_pfn`: the first zone starts at the first
//!    memory pfn, each zone starts where the previous one ended, an empty zone has lowest == highest;
//! 3. the start of ZONE_MOVABLE per node (`find_zone_movable_pfns_for_nodes`), from `movable_node` (hotpluggable
//!    memory), `kernelcore=mirror` (non-mirrored memory above 4 GiB), or `kernelcore=` / `movablecore=` in pages
//!    or percent, spread over the nodes as Linux spreads it, rounded up to MAX_ORDER_NR_PAGES;
//! 4. per node the span (`get_pfn_range_for_nid`), per zone the span (the node span clamped to the zone limits,
//!    then `adjust_zone_range_for_zone_movable`), present pages (the node's memory inside the span) and absent
//!    pages (`zone_absent_pages_in_node`), and the node totals (`calculate_node_totalpages`).
//!
//! [`compute_zones_with`] also takes memblock's flags ([`MemblockFlags`]: hot-pluggable and mirrored ranges, an
//! e820 `max_pfn` above the end of memblock); [`Zones::zone_for_pfn`] says which zone `memmap_init` links a memory
//! pfn to. Surprising outcomes (an option ignored, no ZONE_MOVABLE after all) are recorded as [`ZoneNote`]s.
//!
//! It also prints the lines Linux prints about them (`Zone ranges:`, `Movable zone start for each node`,
//! `Early memory node ranges`, `Initmem setup node N ...`, and the v5.10 per-zone size lines), byte for byte.
//!
//! The one knob that is not Linux's default is [`ZoneOptions::node_span_align`]: with `PAGES_PER_SECTION`, node
//! spans are rounded out to section boundaries as Mike Rapoport's v5 (<20210208110820.6269-1-rppt@kernel.org>)
//! did in `get_pfn_range_for_nid`; the zone limits are rounded the same way (the first zone starts at the rounded
//! first pfn, the last zone ends at the rounded `max_pfn`) so that the rounded node spans stay inside the zones.
//! With 1 (the default) everything is Linux's.
//!
//! # Invariants of [`Zones`]
//! - `nodes[nid].nid == nid` for every `nid < nr_nodes`; a node without memory has all spans and counts 0;
//! - for every zone `present_pages <= spanned_pages`, `managed_pages == present_pages` (reservations are
//!   subtracted later, by memblock), and an empty zone has `zone_start_pfn == 0` (as Linux stores it);
//! - `node_spanned_pages` / `node_present_pages` are the sums over the node's zones (`calculate_node_totalpages`);
//! - without `kernelcore=mirror`, the non-empty zones of a node do not overlap and every memory pfn of the node
//!   lies in exactly one of them; the sum of all `present_pages` is the number of memory pages;
//! - with `kernelcore=mirror` (and mirrored memory present) ZONE_MOVABLE overlaps ZONE_NORMAL, as in Linux:
//!   mirrored pages count as present in Normal, the others in Movable.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::consts::{
    align_down, align_up, MAX_NUMNODES, MAX_PAGE_ORDER, MAX_PHYSMEM_BITS_5LEVEL, PAGE_SHIFT, PAGE_SIZE,
};
use crate::layout::MemRange;

/// ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE (no ZONE_HIGHMEM on x86_64; ZONE_DEVICE is not modelled).
pub const MAX_NR_ZONES: usize = 4;
/// arch/x86/include/asm/dma.h: `MAX_DMA_PFN`, 16 MiB.
pub const MAX_DMA_PFN: u64 = 0x1000;
/// arch/x86/include/asm/dma.h: `MAX_DMA32_PFN`, 4 GiB.
pub const MAX_DMA32_PFN: u64 = 0x10_0000;
/// `MAX_ORDER_NR_PAGES`: ZONE_MOVABLE starts are rounded up to it (1024 pages since MAX_PAGE_ORDER 10).
pub const MAX_ORDER_NR_PAGES: u64 = 1 << MAX_PAGE_ORDER;
/// `PHYS_PFN(SZ_4G)`: `kernelcore=mirror` never makes memory below it movable.
const PFN_4G: u64 = 0x10_0000;
/// The highest pfn any input may reach: 2^52 bytes (5-level paging), so `pfn << PAGE_SHIFT` never overflows.
const PFN_LIMIT: u64 = 1 << (MAX_PHYSMEM_BITS_5LEVEL - PAGE_SHIFT);
/// `sizeof(struct page)`.
const STRUCT_PAGE_SIZE: u64 = 64;

/// A zone index (`enum zone_type`), in Linux's order.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneType {
    Dma = 0,
    Dma32 = 1,
    Normal = 2,
    Movable = 3,
}

impl ZoneType {
    /// All zone types in index order.
    pub const ALL: [ZoneType; MAX_NR_ZONES] = [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];

    /// Linux's `zone_names[]`.
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::Movable => "Movable",
        }
    }

    /// The zone index (`zone_idx`).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The zone type of an index, `None` for `index >= MAX_NR_ZONES`.
    pub const fn from_index(index: usize) -> Option<ZoneType> {
        match index {
            0 => Some(ZoneType::Dma),
            1 => Some(ZoneType::Dma32),
            2 => Some(ZoneType::Normal),
            3 => Some(ZoneType::Movable),
            _ => None,
        }
    }
}

impl fmt::Display for ZoneType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One zone of one node (the sizing fields of `struct zone`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone {
    pub nid: u32,
    pub zone_type: ZoneType,
    /// First pfn of the span; 0 for an empty zone.
    pub zone_start_pfn: u64,
    /// Pages in the span, holes included.
    pub spanned_pages: u64,
    /// Memory pages in the span (`spanned - absent`).
    pub present_pages: u64,
    /// Pages the buddy allocator will manage: `present_pages` until reservations are subtracted.
    pub managed_pages: u64,
}

impl Zone {
    /// An empty zone.
    pub const fn empty(nid: u32, zone_type: ZoneType) -> Zone {
        Zone { nid, zone_type, zone_start_pfn: 0, spanned_pages: 0, present_pages: 0, managed_pages: 0 }
    }

    /// `zone_end_pfn`: one past the last spanned pfn.
    pub const fn zone_end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }

    /// `zone_spans_pfn`: `zone_start_pfn <= pfn < zone_end_pfn`.
    pub const fn zone_spans_pfn(&self, pfn: u64) -> bool {
        self.zone_start_pfn <= pfn && pfn < self.zone_end_pfn()
    }

    /// `zone_is_empty`: spans nothing.
    pub const fn is_empty(&self) -> bool {
        self.spanned_pages == 0
    }

    /// `populated_zone`: has present pages.
    pub const fn populated(&self) -> bool {
        self.present_pages > 0
    }

    /// Pages in holes inside the span.
    pub const fn absent_pages(&self) -> u64 {
        self.spanned_pages - self.present_pages
    }
}

/// One node (the sizing fields of `pglist_data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub nid: u32,
    pub node_start_pfn: u64,
    /// Sum of the zones' spanned pages (Linux's `node_spanned_pages`).
    pub node_spanned_pages: u64,
    /// Sum of the zones' present pages.
    pub node_present_pages: u64,
    /// Indexed by [`ZoneType::index`].
    pub zones: [Zone; MAX_NR_ZONES],
}

impl Node {
    /// `pgdat_end_pfn`: `node_start_pfn + node_spanned_pages`.
    pub const fn node_end_pfn(&self) -> u64 {
        self.node_start_pfn + self.node_spanned_pages
    }

    /// Whether `node_start_pfn <= pfn < node_end_pfn`.
    pub const fn spans_pfn(&self, pfn: u64) -> bool {
        self.node_start_pfn <= pfn && pfn < self.node_end_pfn()
    }

    /// The zone of a type.
    pub const fn zone(&self, z: ZoneType) -> &Zone {
        &self.zones[z as usize]
    }
}

/// The value of `kernelcore=` or `movablecore=` (Linux's `cmdline_parse_core`; bytes are passed as pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreSpec {
    /// A size in pages (`kernelcore=512M` is `Pages(131072)`). 0 means "not given".
    Pages(u64),
    /// `nn%` of all memory pages, 0..=100. 0 means "not given", as in Linux.
    Percent(u32),
    /// `kernelcore=mirror`: mirrored memory is for the kernel, the rest above 4 GiB is movable.
    /// Only meaningful for `kernelcore=`; Linux parses `movablecore=mirror` as 0.
    Mirror,
}

/// Options that shape the zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneOptions {
    /// `kernelcore=`.
    pub kernelcore: Option<CoreSpec>,
    /// `movablecore=`.
    pub movablecore: Option<CoreSpec>,
    /// `movable_node`: hotpluggable memory ([`MemblockFlags::hotpluggable`]) becomes ZONE_MOVABLE; when set,
    /// `kernelcore=` and `movablecore=` are ignored.
    pub movable_node: bool,
    /// Node spans are rounded out to this power of two in pages: 1 is Linux; `PAGES_PER_SECTION` is the
    /// `span-extend` policy (Mike Rapoport's v5). See the module documentation.
    pub node_span_align: u64,
    /// `kernelcore=mirror` is ignored when memblock has no mirrored memory (`memblock_has_mirror()`, a check
    /// later kernels make: "The system has no mirror memory, ignore kernelcore=mirror."). Off by default: Linux
    /// 6.1 has no such check, so without mirrored memory every region at or above 4 GiB becomes ZONE_MOVABLE
    /// (seen on Debian's 6.1 guest with `-m 4000M kernelcore=mirror`: `Movable zone start ... 0x100000`).
    pub mirror_requires_mirrored_memory: bool,
}

impl Default for ZoneOptions {
    fn default() -> Self {
        ZoneOptions {
            kernelcore: None,
            movablecore: None,
            movable_node: false,
            node_span_align: 1,
            mirror_requires_mirrored_memory: false,
        }
    }
}

/// A range of pfns `[start_pfn, end_pfn)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfnRange {
    pub start_pfn: u64,
    pub end_pfn: u64,
}

/// Attributes of memblock.memory beyond the node id, for [`compute_zones_with`]. The default is none. Linux keeps
/// MEMBLOCK_HOTPLUG / MEMBLOCK_MIRROR as flag bits on each region; here the zone code only asks which pfns carry
/// each attribute, so they are kept as range lists per attribute rather than as a flag set per region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemblockFlags<'a> {
    /// MEMBLOCK_HOTPLUG: memory the SRAT marks hot-pluggable (used with `movable_node`).
    pub hotpluggable: &'a [PfnRange],
    /// MEMBLOCK_MIRROR: mirrored ("more reliable") memory (used with `kernelcore=mirror`).
    pub mirror: &'a [PfnRange],
    /// Linux's `max_pfn` (`e820__end_of_ram_pfn`) when it is above the end of memblock.memory (RAM dropped
    /// from memblock still counts there). `None`: the end of the last memory range.
    pub max_pfn: Option<u64>,
}

/// Something [`compute_zones`] decided that a reader may not expect. Where Linux prints a line for it,
/// [`ZoneNote::linux_logs`] is true and the Display text is Linux's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneNote {
    /// `movable_node` is set: `kernelcore=` / `movablecore=` were ignored (silently, in Linux).
    CoreOptionsIgnoredForMovableNode,
    /// `kernelcore=mirror` is set: `movablecore=` was ignored (silently, in Linux).
    MovablecoreIgnoredForMirror,
    /// `movablecore=mirror` means nothing to Linux (it parses as 0) and was ignored.
    MovablecoreMirrorIsZero,
    /// Linux: "The system has no mirror memory, ignore kernelcore=mirror."
    NoMirrorMemory,
    /// Linux: "This configuration results in unmirrored kernel memory."
    UnmirroredKernelMemory,
    /// `kernelcore=` asks for all memory or more: no ZONE_MOVABLE.
    KernelcoreCoversAllMemory { required_kernelcore: u64, totalpages: u64 },
    /// `movablecore=` asks for all memory (after rounding up to MAX_ORDER_NR_PAGES): Linux then computes a
    /// kernelcore of 0, which means "not given", and creates no ZONE_MOVABLE at all.
    MovablecoreCoversAllMemory { totalpages: u64 },
    /// The ZONE_MOVABLE start of a node, rounded up to MAX_ORDER_NR_PAGES, was at or beyond the node's end, so
    /// the node has no ZONE_MOVABLE.
    MovableStartBeyondNode { nid: u32, pfn: u64 },
}

impl ZoneNote {
    /// Whether Linux prints this (as the Display text) in the boot log.
    pub const fn linux_logs(&self) -> bool {
        matches!(self, ZoneNote::NoMirrorMemory | ZoneNote::UnmirroredKernelMemory)
    }
}

impl fmt::Display for ZoneNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ZoneNote::CoreOptionsIgnoredForMovableNode => {
                f.write_str("movable_node is set: kernelcore= and movablecore= are ignored")
            }
            ZoneNote::MovablecoreIgnoredForMirror => f.write_str("kernelcore=mirror is set: movablecore= is ignored"),
            ZoneNote::MovablecoreMirrorIsZero => f.write_str("movablecore=mirror is not an option; ignored"),
            ZoneNote::NoMirrorMemory => f.write_str("The system has no mirror memory, ignore kernelcore=mirror."),
            ZoneNote::UnmirroredKernelMemory => f.write_str("This configuration results in unmirrored kernel memory."),
            ZoneNote::KernelcoreCoversAllMemory { required_kernelcore, totalpages } => write!(
                f,
                "kernelcore of {} pages covers all {} memory pages: no ZONE_MOVABLE",
                required_kernelcore, totalpages
            ),
            ZoneNote::MovablecoreCoversAllMemory { totalpages } => write!(
                f,
                "movablecore covers all {} memory pages: kernelcore becomes 0 and there is no ZONE_MOVABLE",
                totalpages
            ),
            ZoneNote::MovableStartBeyondNode { nid, pfn } => {
                write!(f, "node {}: ZONE_MOVABLE would start at pfn {:#x}, at or beyond the node's end: none", nid, pfn)
            }
        }
    }
}

/// A bad input to [`compute_zones`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneError {
    /// No memory ranges.
    NoMemory,
    /// `nr_nodes` is 0 or above MAX_NUMNODES.
    BadNodeCount { nr_nodes: usize },
    /// A memory range names a node id `>= nr_nodes`.
    NodeOutOfRange { index: usize, nid: u32, nr_nodes: usize },
    /// A memory range is empty or inverted.
    EmptyRange { index: usize, start_pfn: u64, end_pfn: u64 },
    /// A memory range starts below the end of the previous one (memblock.memory is sorted and disjoint).
    Unsorted { index: usize },
    /// A pfn beyond 2^52 bytes.
    BeyondPhysmem { end_pfn: u64 },
    /// A hotpluggable or mirror range is inverted or beyond 2^52 bytes.
    BadFlagRange { start_pfn: u64, end_pfn: u64 },
    /// A percentage above 100 (Linux WARNs and goes on; we refuse).
    BadPercent { option: &'static str, percent: u32 },
    /// `node_span_align` is not a power of two (or is beyond 2^52 bytes).
    BadSpanAlign { align: u64 },
    /// `max_pfn` given below the end of memory.
    MaxPfnBelowMemory { max_pfn: u64, memory_end_pfn: u64 },
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ZoneError::NoMemory => f.write_str("no memory ranges"),
            ZoneError::BadNodeCount { nr_nodes } => {
                write!(f, "nr_nodes {} is not in 1..={}", nr_nodes, MAX_NUMNODES)
            }
            ZoneError::NodeOutOfRange { index, nid, nr_nodes } => {
                write!(f, "memory range #{} is on node {}, but there are only {} nodes", index, nid, nr_nodes)
            }
            ZoneError::EmptyRange { index, start_pfn, end_pfn } => {
                write!(f, "memory range #{} [pfn {:#x}-{:#x}) is empty or inverted", index, start_pfn, end_pfn)
            }
            ZoneError::Unsorted { index } => {
                write!(f, "memory range #{} overlaps or precedes the previous range", index)
            }
            ZoneError::BeyondPhysmem { end_pfn } => {
                write!(f, "pfn {:#x} is beyond 2^{} bytes", end_pfn, MAX_PHYSMEM_BITS_5LEVEL)
            }
            ZoneError::BadFlagRange { start_pfn, end_pfn } => {
                write!(f, "memblock flag range [pfn {:#x}-{:#x}) is inverted or too high", start_pfn, end_pfn)
            }
            ZoneError::BadPercent { option, percent } => {
                write!(f, "{}={}%: a percentage must be at most 100", option, percent)
            }
            ZoneError::BadSpanAlign { align } => {
                write!(f, "node span alignment {:#x} is not a power of two up to 2^40 pages", align)
            }
            ZoneError::MaxPfnBelowMemory { max_pfn, memory_end_pfn } => {
                write!(f, "max_pfn {:#x} is below the end of memory {:#x}", max_pfn, memory_end_pfn)
            }
        }
    }
}

/// All nodes and zones, and the global values Linux computes with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zones {
    /// Index = nid, `0..nr_nodes`; memory-less nodes included.
    pub nodes: Vec<Node>,
    pub arch_zone_lowest_possible_pfn: [u64; MAX_NR_ZONES],
    pub arch_zone_highest_possible_pfn: [u64; MAX_NR_ZONES],
    /// Per node the first pfn of ZONE_MOVABLE; 0 = none.
    pub zone_movable_pfn: Vec<u64>,
    /// One past the last memory pfn (`max_pfn`; [`MemblockFlags::max_pfn`] if given).
    pub max_pfn: u64,
    pub notes: Vec<ZoneNote>,
    /// `movable_zone`: the zone ZONE_MOVABLE takes its pages from (the highest non-empty zone below it).
    pub movable_zone: ZoneType,
    /// Per node `get_pfn_range_for_nid`: `(start, end)`, `(0, 0)` for a memory-less node. This is what
    /// `Initmem setup node` prints; `node_end_pfn()` differs from it only under `kernelcore=mirror`.
    pub node_pfn_range: Vec<(u64, u64)>,
    /// `kernelcore=mirror` took effect (mirror memory exists): ZONE_MOVABLE overlaps ZONE_NORMAL.
    pub mirrored_kernelcore: bool,
    /// The mirrored memory (only kept when `mirrored_kernelcore`), for [`Zones::zone_for_pfn`].
    pub mirror: Vec<PfnRange>,
}

impl Zones {
    /// `nr_node_ids`.
    pub fn nr_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The node `nid`.
    pub fn node(&self, nid: u32) -> Option<&Node> {
        self.nodes.get(nid as usize)
    }

    /// The zone `z` of node `nid`.
    pub fn zone(&self, nid: u32, z: ZoneType) -> Option<&Zone> {
        self.nodes.get(nid as usize).map(|n| &n.zones[z.index()])
    }

    /// The zone `z` of node `nid`, to change its counts (e.g. `managed_pages`).
    pub fn zone_mut(&mut self, nid: u32, z: ZoneType) -> Option<&mut Zone> {
        self.nodes.get_mut(nid as usize).map(|n| &mut n.zones[z.index()])
    }

    /// The zone of a memory pfn of node `nid`, as `memmap_init` assigns it: it walks the populated zones of
    /// the node in index order and initializes the part of each memory range that the zone spans, so the last
    /// populated zone whose span contains `pfn` wins; under `kernelcore=mirror` ZONE_MOVABLE skips mirrored
    /// memory (`overlap_memmap_init`). `None` if no populated zone of the node spans `pfn`.
    pub fn zone_for_pfn(&self, nid: u32, pfn: u64) -> Option<ZoneType> {
        let node = self.nodes.get(nid as usize)?;
        let mirrored = self.mirrored_kernelcore && self.mirror.iter().any(|r| r.start_pfn <= pfn && pfn < r.end_pfn);
        let mut found = None;
        for zone in node.zones.iter() {
            if !zone.populated() || !zone.zone_spans_pfn(pfn) {
                continue;
            }
            if zone.zone_type == ZoneType::Movable && mirrored {
                continue;
            }
            found = Some(zone.zone_type);
        }
        found
    }

    /// Sum of all zones' present pages.
    pub fn total_present_pages(&self) -> u64 {
        self.nodes.iter().map(|n| n.node_present_pages).sum()
    }
}

/// A memblock.memory region as Linux keeps it: split where its flags change.
#[derive(Clone, Copy, Debug)]
pub(super) struct Region {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) nid: u32,
    pub(super) hotplug: bool,
    pub(super) mirror: bool,
}

mod compute;
mod movable;
mod report;

pub use compute::*;
use movable::*;
pub use report::*;

#[cfg(test)]
mod tests;
