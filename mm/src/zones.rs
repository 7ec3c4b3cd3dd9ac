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

/// Attributes of memblock.memory beyond the node id, for [`compute_zones_with`]. The default is none.
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
struct Region {
    start: u64,
    end: u64,
    nid: u32,
    hotplug: bool,
    mirror: bool,
}

/// Computes nodes and zones from memblock.memory without hotplug or mirror flags. See the module documentation.
pub fn compute_zones(memory: &[MemRange], nr_nodes: usize, opts: &ZoneOptions) -> Result<Zones, ZoneError> {
    compute_zones_with(memory, nr_nodes, opts, &MemblockFlags::default())
}

/// Computes nodes and zones from memblock.memory and its flags. See the module documentation.
pub fn compute_zones_with(
    memory: &[MemRange],
    nr_nodes: usize,
    opts: &ZoneOptions,
    flags: &MemblockFlags<'_>,
) -> Result<Zones, ZoneError> {
    validate(memory, nr_nodes, opts, flags)?;
    let memory_end = memory.last().map(|r| r.end_pfn).unwrap_or(0);
    let max_pfn = flags.max_pfn.unwrap_or(memory_end);
    let align = opts.node_span_align;

    // get_pfn_range_for_nid(): the lowest start and highest end of the node's ranges, (0, 0) without memory.
    // With span rounding (v5), start rounded down and end rounded up.
    let mut node_pfn_range = vec![(0u64, 0u64); nr_nodes];
    let mut has_memory = vec![false; nr_nodes];
    for r in memory {
        let n = r.nid as usize;
        let range = &mut node_pfn_range[n];
        if has_memory[n] {
            *range = (range.0.min(r.start_pfn), range.1.max(r.end_pfn));
        } else {
            *range = (r.start_pfn, r.end_pfn);
            has_memory[n] = true;
        }
    }
    if align > 1 {
        for range in node_pfn_range.iter_mut().filter(|r| r.0 != r.1) {
            *range = (align_down(range.0, align), align_up(range.1, align));
        }
    }

    // zone_sizes_init() (arch/x86/mm/init.c) then free_area_init(): zone limits. The first zone starts at the
    // first memory pfn (find_min_pfn_with_active_regions / PHYS_PFN(memblock_start_of_DRAM())).
    let first_pfn = memory.first().map(|r| r.start_pfn).unwrap_or(0);
    let (first_pfn, zone_max) =
        if align > 1 { (align_down(first_pfn, align), align_up(max_pfn, align)) } else { (first_pfn, max_pfn) };
    let max_zone_pfn = [MAX_DMA_PFN.min(zone_max), MAX_DMA32_PFN.min(zone_max), zone_max, 0];
    let mut lowest = [0u64; MAX_NR_ZONES];
    let mut highest = [0u64; MAX_NR_ZONES];
    let mut start = first_pfn;
    for z in [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal] {
        let end = max_zone_pfn[z.index()].max(start);
        lowest[z.index()] = start;
        highest[z.index()] = end;
        start = end;
    }

    let regions = memblock_regions(memory, flags);
    let mut notes = Vec::new();
    let movable = find_zone_movable_pfns_for_nodes(
        memory,
        &regions,
        &has_memory,
        &node_pfn_range,
        &lowest,
        &highest,
        opts,
        &mut notes,
    );

    let ctx = SpanContext {
        lowest: &lowest,
        highest: &highest,
        zone_movable_pfn: &movable.zone_movable_pfn,
        movable_zone: movable.movable_zone,
        mirrored_kernelcore: movable.mirrored_kernelcore,
        regions: &regions,
    };
    let nodes = (0..nr_nodes)
        .map(|nid| calculate_node_totalpages(&ctx, nid as u32, node_pfn_range[nid]))
        .collect::<Vec<Node>>();

    let mirror = if movable.mirrored_kernelcore {
        regions.iter().filter(|r| r.mirror).map(|r| PfnRange { start_pfn: r.start, end_pfn: r.end }).collect()
    } else {
        Vec::new()
    };
    Ok(Zones {
        nodes,
        arch_zone_lowest_possible_pfn: lowest,
        arch_zone_highest_possible_pfn: highest,
        zone_movable_pfn: movable.zone_movable_pfn,
        max_pfn,
        notes,
        movable_zone: movable.movable_zone,
        node_pfn_range,
        mirrored_kernelcore: movable.mirrored_kernelcore,
        mirror,
    })
}

fn validate(
    memory: &[MemRange],
    nr_nodes: usize,
    opts: &ZoneOptions,
    flags: &MemblockFlags<'_>,
) -> Result<(), ZoneError> {
    if nr_nodes == 0 || nr_nodes > MAX_NUMNODES {
        return Err(ZoneError::BadNodeCount { nr_nodes });
    }
    if memory.is_empty() {
        return Err(ZoneError::NoMemory);
    }
    let mut prev_end = 0u64;
    for (index, r) in memory.iter().enumerate() {
        if r.start_pfn >= r.end_pfn {
            return Err(ZoneError::EmptyRange { index, start_pfn: r.start_pfn, end_pfn: r.end_pfn });
        }
        if r.end_pfn > PFN_LIMIT {
            return Err(ZoneError::BeyondPhysmem { end_pfn: r.end_pfn });
        }
        if index > 0 && r.start_pfn < prev_end {
            return Err(ZoneError::Unsorted { index });
        }
        if r.nid as usize >= nr_nodes {
            return Err(ZoneError::NodeOutOfRange { index, nid: r.nid, nr_nodes });
        }
        prev_end = r.end_pfn;
    }
    for r in flags.hotpluggable.iter().chain(flags.mirror.iter()) {
        if r.start_pfn > r.end_pfn || r.end_pfn > PFN_LIMIT {
            return Err(ZoneError::BadFlagRange { start_pfn: r.start_pfn, end_pfn: r.end_pfn });
        }
    }
    if let Some(max_pfn) = flags.max_pfn {
        if max_pfn < prev_end {
            return Err(ZoneError::MaxPfnBelowMemory { max_pfn, memory_end_pfn: prev_end });
        }
        if max_pfn > PFN_LIMIT {
            return Err(ZoneError::BeyondPhysmem { end_pfn: max_pfn });
        }
    }
    for (option, spec) in [("kernelcore", opts.kernelcore), ("movablecore", opts.movablecore)] {
        if let Some(CoreSpec::Percent(percent)) = spec {
            if percent > 100 {
                return Err(ZoneError::BadPercent { option, percent });
            }
        }
    }
    let align = opts.node_span_align;
    if !align.is_power_of_two() || align > PFN_LIMIT {
        return Err(ZoneError::BadSpanAlign { align });
    }
    Ok(())
}

/// Splits memblock.memory where the hotplug or mirror flag changes, as memblock keeps regions with different
/// flags apart (`memblock_setclr_flag` isolates the range it marks).
fn memblock_regions(memory: &[MemRange], flags: &MemblockFlags<'_>) -> Vec<Region> {
    let in_any = |set: &[PfnRange], s: u64, e: u64| set.iter().any(|f| f.start_pfn <= s && e <= f.end_pfn);
    let mut out: Vec<Region> = Vec::with_capacity(memory.len());
    let mut cuts: Vec<u64> = Vec::new();
    for r in memory {
        cuts.clear();
        cuts.push(r.start_pfn);
        cuts.push(r.end_pfn);
        for f in flags.hotpluggable.iter().chain(flags.mirror.iter()) {
            for p in [f.start_pfn, f.end_pfn] {
                if r.start_pfn < p && p < r.end_pfn {
                    cuts.push(p);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (s, e) = (w[0], w[1]);
            let region = Region {
                start: s,
                end: e,
                nid: r.nid,
                hotplug: in_any(flags.hotpluggable, s, e),
                mirror: in_any(flags.mirror, s, e),
            };
            match out.last_mut() {
                Some(last)
                    if last.end == s
                        && last.nid == region.nid
                        && last.hotplug == region.hotplug
                        && last.mirror == region.mirror =>
                {
                    last.end = e
                }
                _ => out.push(region),
            }
        }
    }
    out
}

struct MovableResult {
    zone_movable_pfn: Vec<u64>,
    movable_zone: ZoneType,
    mirrored_kernelcore: bool,
}

/// Linux's `find_zone_movable_pfns_for_nodes` (ZONE_MOVABLE: 2a1e274acf0b; kernelcore=mirror: 342332e6a925;
/// percentages: a5c6d6509342). Rule for rule, with Linux's unsigned arithmetic (which never goes below 0 here).
#[allow(clippy::too_many_arguments)]
fn find_zone_movable_pfns_for_nodes(
    memory: &[MemRange],
    regions: &[Region],
    has_memory: &[bool],
    node_pfn_range: &[(u64, u64)],
    lowest: &[u64; MAX_NR_ZONES],
    highest: &[u64; MAX_NR_ZONES],
    opts: &ZoneOptions,
    notes: &mut Vec<ZoneNote>,
) -> MovableResult {
    let nr_nodes = has_memory.len();
    let mut zmp = vec![0u64; nr_nodes];
    // early_calculate_totalpages(): all memory pages; nodes with pages are N_MEMORY.
    let totalpages: u64 = memory.iter().map(|r| r.end_pfn - r.start_pfn).sum();
    let mut usable_nodes = has_memory.iter().filter(|&&m| m).count() as u64;

    // find_usable_zone_for_movable(): the highest non-empty zone below ZONE_MOVABLE. Some zone is non-empty
    // because memory is (DMA starts at the first memory pfn, Normal ends at max_pfn beyond it).
    let movable_zone = [ZoneType::Normal, ZoneType::Dma32, ZoneType::Dma]
        .into_iter()
        .find(|z| highest[z.index()] > lowest[z.index()])
        .unwrap_or(ZoneType::Normal);
    let mirrored = matches!(opts.kernelcore, Some(CoreSpec::Mirror));
    let result = |zmp: Vec<u64>, mirrored_kernelcore: bool| MovableResult {
        zone_movable_pfn: zmp,
        movable_zone,
        mirrored_kernelcore,
    };

    'out2: {
        if opts.movable_node {
            // movable_node: each node's ZONE_MOVABLE starts at its lowest hotpluggable region.
            if opts.kernelcore.is_some() || opts.movablecore.is_some() {
                notes.push(ZoneNote::CoreOptionsIgnoredForMovableNode);
            }
            for r in regions.iter().filter(|r| r.hotplug) {
                let n = r.nid as usize;
                zmp[n] = if zmp[n] != 0 { zmp[n].min(r.start) } else { r.start };
            }
            break 'out2;
        }

        if mirrored {
            // kernelcore=mirror: the lowest non-mirrored region at or above 4 GiB starts ZONE_MOVABLE.
            if opts.movablecore.is_some() {
                notes.push(ZoneNote::MovablecoreIgnoredForMirror);
            }
            if opts.mirror_requires_mirrored_memory && !regions.iter().any(|r| r.mirror) {
                // memblock_has_mirror() is false: `goto out`, no rounding, no ZONE_MOVABLE.
                notes.push(ZoneNote::NoMirrorMemory);
                return result(zmp, false);
            }
            let mut below_4g_not_mirrored = false;
            for r in regions.iter().filter(|r| !r.mirror) {
                if r.start < PFN_4G {
                    below_4g_not_mirrored = true;
                    continue;
                }
                let n = r.nid as usize;
                zmp[n] = if zmp[n] != 0 { zmp[n].min(r.start) } else { r.start };
            }
            if below_4g_not_mirrored {
                notes.push(ZoneNote::UnmirroredKernelMemory);
            }
            break 'out2;
        }

        // kernelcore=nn% / movablecore=nn%: a share of all pages, computed as Linux does:
        // totalpages * 100 * percent / 10000.
        let percent_of = |p: u32| totalpages.saturating_mul(100).saturating_mul(p as u64) / 10000;
        let mut required_kernelcore = match opts.kernelcore {
            Some(CoreSpec::Pages(p)) => p,
            Some(CoreSpec::Percent(p)) if p != 0 => percent_of(p),
            _ => 0,
        };
        let mut required_movablecore = match opts.movablecore {
            Some(CoreSpec::Pages(p)) => p,
            Some(CoreSpec::Percent(p)) if p != 0 => percent_of(p),
            Some(CoreSpec::Mirror) => {
                notes.push(ZoneNote::MovablecoreMirrorIsZero);
                0
            }
            _ => 0,
        };

        // movablecore= becomes the kernelcore that leaves that much movable (rounded up to MAX_ORDER_NR_PAGES
        // so that ZONE_MOVABLE is at least as large as asked); a larger kernelcore= wins.
        if required_movablecore != 0 {
            required_movablecore = align_up(required_movablecore, MAX_ORDER_NR_PAGES).min(totalpages);
            let corepages = totalpages - required_movablecore;
            required_kernelcore = required_kernelcore.max(corepages);
            if required_kernelcore == 0 {
                notes.push(ZoneNote::MovablecoreCoversAllMemory { totalpages });
            }
        }

        // No kernelcore, or kernelcore of all memory: no ZONE_MOVABLE (`goto out`, no rounding).
        if required_kernelcore == 0 {
            return result(zmp, false);
        }
        if required_kernelcore >= totalpages {
            notes.push(ZoneNote::KernelcoreCoversAllMemory { required_kernelcore, totalpages });
            return result(zmp, false);
        }

        // The lowest pfn ZONE_MOVABLE can start at: memory below it is kernelcore whatever we do.
        let usable_startpfn = lowest[movable_zone.index()];

        // Spread kernelcore evenly over the nodes with memory; a node that cannot take its share leaves the rest
        // to another pass over the others (`goto restart` with one node less).
        // Loop invariant: zmp[nid] is the pfn up to which node nid's memory is kernelcore so far.
        loop {
            let mut kernelcore_node = required_kernelcore / usable_nodes;
            for nid in (0..nr_nodes).filter(|&n| has_memory[n]) {
                // The share shrinks once less is left than a full share.
                if required_kernelcore < kernelcore_node {
                    kernelcore_node = required_kernelcore / usable_nodes;
                }
                let mut kernelcore_remaining = kernelcore_node;
                for r in memory.iter().filter(|r| r.nid as usize == nid) {
                    let mut start_pfn = r.start_pfn.max(zmp[nid]);
                    let end_pfn = r.end_pfn;
                    if start_pfn >= end_pfn {
                        continue;
                    }
                    // Memory below usable_startpfn can only be kernelcore: account for it.
                    if start_pfn < usable_startpfn {
                        let kernel_pages = end_pfn.min(usable_startpfn) - start_pfn;
                        kernelcore_remaining -= kernel_pages.min(kernelcore_remaining);
                        required_kernelcore -= kernel_pages.min(required_kernelcore);
                        if end_pfn <= usable_startpfn {
                            // Fully accounted: push zmp past it so a later pass does not count it again.
                            zmp[nid] = end_pfn;
                            continue;
                        }
                        start_pfn = usable_startpfn;
                    }
                    let size_pages = (end_pfn - start_pfn).min(kernelcore_remaining);
                    zmp[nid] = start_pfn + size_pages;
                    required_kernelcore -= required_kernelcore.min(size_pages);
                    kernelcore_remaining -= size_pages;
                    if kernelcore_remaining == 0 {
                        break;
                    }
                }
            }
            usable_nodes -= 1;
            if !(usable_nodes != 0 && required_kernelcore > usable_nodes) {
                break;
            }
        }
    }

    // out2: every node's ZONE_MOVABLE start is rounded up to MAX_ORDER_NR_PAGES; a start at or beyond the
    // node's end means no ZONE_MOVABLE on that node (Alistair Popple's fix of 2a1e274acf0b,
    // <20220215025831.2113067-1-apopple@nvidia.com>; before it such a node printed a "Node N:" line and got
    // bogus present pages in ZONE_MOVABLE, which we do not reproduce).
    for nid in (0..nr_nodes).filter(|&n| has_memory[n]) {
        let rounded = align_up(zmp[nid], MAX_ORDER_NR_PAGES);
        let end_pfn = node_pfn_range[nid].1;
        if rounded >= end_pfn {
            if zmp[nid] != 0 {
                notes.push(ZoneNote::MovableStartBeyondNode { nid: nid as u32, pfn: rounded });
            }
            zmp[nid] = 0;
        } else {
            zmp[nid] = rounded;
        }
    }
    result(zmp, mirrored)
}

/// What zone spans depend on, besides the node.
struct SpanContext<'a> {
    lowest: &'a [u64; MAX_NR_ZONES],
    highest: &'a [u64; MAX_NR_ZONES],
    zone_movable_pfn: &'a [u64],
    movable_zone: ZoneType,
    mirrored_kernelcore: bool,
    regions: &'a [Region],
}

/// Linux's `zone_spanned_pages_in_node` with `adjust_zone_range_for_zone_movable`: returns the zone's
/// `(start, end)` as Linux leaves them (possibly outside the node when the zone is empty) and the spanned pages.
fn zone_spanned_pages_in_node(ctx: &SpanContext<'_>, nid: u32, z: ZoneType, node: (u64, u64)) -> (u64, u64, u64) {
    let (node_start, node_end) = node;
    let (low, high) = (ctx.lowest[z.index()], ctx.highest[z.index()]);
    let mut zone_start = node_start.clamp(low, high.max(low));
    let mut zone_end = node_end.clamp(low, high.max(low));

    // adjust_zone_range_for_zone_movable(): ZONE_MOVABLE takes [zone_movable_pfn, node end) out of the top of
    // the node; the zone it starts in ends there, zones wholly above it become empty. Under kernelcore=mirror
    // the other zones keep their spans (ZONE_MOVABLE overlaps ZONE_NORMAL).
    let zmp = ctx.zone_movable_pfn[nid as usize];
    if zmp != 0 {
        if z == ZoneType::Movable {
            zone_start = zmp;
            zone_end = node_end.min(ctx.highest[ctx.movable_zone.index()]);
        } else if !ctx.mirrored_kernelcore && zone_start < zmp && zone_end > zmp {
            zone_end = zmp;
        } else if zone_start >= zmp {
            zone_start = zone_end;
        }
    }

    // The node has no pages in the zone's range.
    if zone_end < node_start || zone_start > node_end {
        return (zone_start, zone_end, 0);
    }
    zone_end = zone_end.min(node_end);
    zone_start = zone_start.max(node_start);
    (zone_start, zone_end, zone_end.saturating_sub(zone_start))
}

/// Memory pages of node `nid` in `[start, end)`: `spanned - zone_absent_pages_in_node()`. Under
/// kernelcore=mirror (with ZONE_MOVABLE on the node), mirrored pages are absent from ZONE_MOVABLE and
/// non-mirrored pages absent from ZONE_NORMAL. Linux walks every node's regions for that adjustment, which
/// double-counts other nodes' memory interleaved in the span (already absent for this node); we walk this
/// node's regions only, which is the same on every layout where Linux's count does not underflow.
fn zone_present_pages_in_node(ctx: &SpanContext<'_>, nid: u32, z: ZoneType, start: u64, end: u64) -> u64 {
    if start >= end {
        return 0;
    }
    let mirror_adjust = ctx.mirrored_kernelcore && ctx.zone_movable_pfn[nid as usize] != 0;
    let mut present = 0u64;
    for r in ctx.regions.iter().filter(|r| r.nid == nid) {
        let (s, e) = (r.start.clamp(start, end), r.end.clamp(start, end));
        let pages = e - s;
        let absent = mirror_adjust && ((z == ZoneType::Movable && r.mirror) || (z == ZoneType::Normal && !r.mirror));
        if !absent {
            present += pages;
        }
    }
    present
}

/// Linux's `calculate_node_totalpages` (and `reset_memoryless_node_totalpages` for a node without memory).
fn calculate_node_totalpages(ctx: &SpanContext<'_>, nid: u32, range: (u64, u64)) -> Node {
    let mut node = Node {
        nid,
        node_start_pfn: range.0,
        node_spanned_pages: 0,
        node_present_pages: 0,
        zones: ZoneType::ALL.map(|z| Zone::empty(nid, z)),
    };
    if range.0 == range.1 {
        return node;
    }
    for z in ZoneType::ALL {
        let (start, end, spanned) = zone_spanned_pages_in_node(ctx, nid, z, range);
        let present = if spanned == 0 { 0 } else { zone_present_pages_in_node(ctx, nid, z, start, end) };
        node.zones[z.index()] = Zone {
            nid,
            zone_type: z,
            zone_start_pfn: if spanned != 0 { start } else { 0 },
            spanned_pages: spanned,
            present_pages: present,
            managed_pages: present,
        };
        node.node_spanned_pages += spanned;
        node.node_present_pages += present;
    }
    node
}

// ---------------------------------------------------------------------------------------------------------------
// The boot log lines. Each function writes whole lines ending in '\n', without printk timestamps.
// ---------------------------------------------------------------------------------------------------------------

/// `free_area_init`: "Zone ranges:" and one line per zone except ZONE_MOVABLE (`"  %-8s "` then
/// `"[mem %#018Lx-%#018Lx]"` with an inclusive end, or `"empty"`). With `zone_device` (CONFIG_ZONE_DEVICE, as in
/// distribution kernels) Linux also prints `"  Device   empty"`.
pub fn print_zone_ranges<W: fmt::Write>(w: &mut W, zones: &Zones, zone_device: bool) -> fmt::Result {
    writeln!(w, "Zone ranges:")?;
    for z in [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal] {
        let (low, high) =
            (zones.arch_zone_lowest_possible_pfn[z.index()], zones.arch_zone_highest_possible_pfn[z.index()]);
        write!(w, "  {:<8} ", z.name())?;
        if low == high {
            writeln!(w, "empty")?;
        } else {
            writeln!(w, "[mem {:#018x}-{:#018x}]", low << PAGE_SHIFT, (high << PAGE_SHIFT) - 1)?;
        }
    }
    if zone_device {
        writeln!(w, "  {:<8} empty", "Device")?;
    }
    Ok(())
}

/// `free_area_init`: "Movable zone start for each node" and `"  Node %d: %#018Lx"` per node with ZONE_MOVABLE.
pub fn print_movable_zone_start<W: fmt::Write>(w: &mut W, zones: &Zones) -> fmt::Result {
    writeln!(w, "Movable zone start for each node")?;
    for (nid, &pfn) in zones.zone_movable_pfn.iter().enumerate() {
        if pfn != 0 {
            writeln!(w, "  Node {}: {:#018x}", nid, pfn << PAGE_SHIFT)?;
        }
    }
    Ok(())
}

/// `free_area_init`: "Early memory node ranges" and `"  node %3d: [mem %#018Lx-%#018Lx]"` per memblock.memory
/// region. Pass the regions as memblock holds them (Linux keeps regions with different flags apart).
pub fn print_early_memory_node_ranges<W: fmt::Write>(w: &mut W, memory: &[MemRange]) -> fmt::Result {
    writeln!(w, "Early memory node ranges")?;
    for r in memory {
        writeln!(
            w,
            "  node {:>3}: [mem {:#018x}-{:#018x}]",
            r.nid,
            r.start_pfn << PAGE_SHIFT,
            (r.end_pfn << PAGE_SHIFT).wrapping_sub(1)
        )?;
    }
    Ok(())
}

/// How `Initmem setup node` reads for a node without memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemorylessLine {
    /// `"Initmem setup node %d as memoryless"`: Linux since Michal Hocko's "mm: make free_area_init_node aware
    /// of memory less nodes" (January 2022).
    #[default]
    AsMemoryless,
    /// `"Initmem setup node %d [mem 0x0000000000000000-0x0000000000000000]"`: Linux before it (v5.10 printed
    /// this for an online memory-less node, from `free_area_init_memoryless_node`).
    ZeroRange,
}

/// `free_area_init_node`: `"Initmem setup node %d [mem %#018Lx-%#018Lx]"` for a node with memory (its
/// `get_pfn_range_for_nid` range, inclusive end); for a node without memory the line `style` says.
/// Nothing for a nid beyond the nodes.
pub fn print_initmem_setup_node<W: fmt::Write>(
    w: &mut W,
    zones: &Zones,
    nid: u32,
    style: MemorylessLine,
) -> fmt::Result {
    let Some(&(start, end)) = zones.node_pfn_range.get(nid as usize) else { return Ok(()) };
    if start != end || style == MemorylessLine::ZeroRange {
        let last = if end != 0 { (end << PAGE_SHIFT) - 1 } else { 0 };
        writeln!(w, "Initmem setup node {} [mem {:#018x}-{:#018x}]", nid, start << PAGE_SHIFT, last)
    } else {
        writeln!(w, "Initmem setup node {} as memoryless", nid)
    }
}

/// [`print_initmem_setup_node`] for every node in nid order (`for_each_node`), memory-less nodes as current
/// Linux prints them.
pub fn print_initmem_setup<W: fmt::Write>(w: &mut W, zones: &Zones) -> fmt::Result {
    for nid in 0..zones.nodes.len() {
        print_initmem_setup_node(w, zones, nid as u32, MemorylessLine::AsMemoryless)?;
    }
    Ok(())
}

/// v5.10 `calc_memmap_size`: pages of struct pages a zone is charged for. With SPARSEMEM and many holes
/// (spanned beyond present + present/16) only the present pages are charged.
pub const fn calc_memmap_size(spanned_pages: u64, present_pages: u64) -> u64 {
    let pages =
        if spanned_pages > present_pages.saturating_add(present_pages >> 4) { present_pages } else { spanned_pages };
    // PAGE_ALIGN(pages * sizeof(struct page)) >> PAGE_SHIFT
    align_up(pages.saturating_mul(STRUCT_PAGE_SIZE), PAGE_SIZE) >> PAGE_SHIFT
}

/// v5.10 `zone_batchsize` for a zone with `managed_pages` (the per-cpu list batch, "LIFO batch").
pub const fn zone_batchsize_v5_10(managed_pages: u64) -> u64 {
    // About a thousandth of the zone, at most 1 MiB, divided by 4, at least 1, clamped to 2^n - 1.
    let mut batch = managed_pages / 1024;
    if batch.saturating_mul(PAGE_SIZE) > 1024 * 1024 {
        batch = 1024 * 1024 / PAGE_SIZE;
    }
    batch /= 4;
    if batch < 1 {
        batch = 1;
    }
    let x = batch + batch / 2;
    (1u64 << (63 - x.leading_zeros())) - 1
}

/// The per-node lines of v5.10 (`calculate_node_totalpages` and `free_area_init_core`, KERN_DEBUG):
/// `"On node %d totalpages: %lu"`, then per zone `"  %s zone: %lu pages used for memmap"` (if non-zero),
/// `"  DMA zone: %lu pages reserved"` (zone 0, if it has more free pages than `dma_reserve`, the pages x86's
/// `memblock_find_dma_reserve` counts as reserved below 16 MiB) and, for populated zones,
/// `"  %s zone: %lu pages, LIFO batch:%u"` with the present pages. Linux dropped these lines in later releases.
pub fn print_node_sizes_v5_10<W: fmt::Write>(w: &mut W, zones: &Zones, nid: u32, dma_reserve: u64) -> fmt::Result {
    let Some(node) = zones.node(nid) else { return Ok(()) };
    writeln!(w, "On node {} totalpages: {}", nid, node.node_present_pages)?;
    for zone in node.zones.iter() {
        let name = zone.zone_type.name();
        let mut freesize = zone.present_pages;
        let memmap_pages = calc_memmap_size(zone.spanned_pages, zone.present_pages);
        if freesize >= memmap_pages {
            freesize -= memmap_pages;
            if memmap_pages != 0 {
                writeln!(w, "  {} zone: {} pages used for memmap", name, memmap_pages)?;
            }
        } else {
            writeln!(w, "  {} zone: {} pages exceeds freesize {}", name, memmap_pages, freesize)?;
        }
        if zone.zone_type == ZoneType::Dma && freesize > dma_reserve {
            freesize -= dma_reserve;
            writeln!(w, "  {} zone: {} pages reserved", name, dma_reserve)?;
        }
        if zone.populated() {
            writeln!(
                w,
                "  {} zone: {} pages, LIFO batch:{}",
                name,
                zone.present_pages,
                zone_batchsize_v5_10(freesize)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::PAGES_PER_SECTION;
    use alloc::string::String;
    use proptest::prelude::*;
    use ZoneType::*;

    fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
        MemRange { start_pfn, end_pfn, nid }
    }

    /// `count` lines of a sample boot log, timestamps stripped, from the first line starting with `first`.
    fn sample_lines(log: &str, first: &str, count: usize) -> String {
        let lines: Vec<&str> = log
            .lines()
            .filter_map(|l| l.strip_prefix('[').and_then(|l| l.split_once("] ")).map(|(_, rest)| rest))
            .collect();
        let at = lines.iter().position(|l| l.starts_with(first)).expect("line in sample");
        let mut out = String::new();
        for l in &lines[at..at + count] {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    const T5500: &str = include_str!("../tests/samples/dell-t5500-numa-off-linux-5.10.txt");
    const QEMU_4NODE: &str = include_str!("../tests/samples/qemu-i440fx-16g-4node.txt");

    /// memblock.memory of the T5500 as its "Early memory node ranges" print it.
    fn t5500() -> Vec<MemRange> {
        vec![m(0x1, 0x9e, 0), m(0x100, 0xcfdf9, 0), m(0x100000, 0xa30000, 0)]
    }

    /// memblock.memory of the QEMU 4-node sample.
    fn qemu_4node() -> Vec<MemRange> {
        vec![
            m(0x1, 0x9f, 0),
            m(0x100, 0xbffdf, 0),
            m(0x100000, 0x140000, 0),
            m(0x140000, 0x240000, 1),
            m(0x240000, 0x340000, 2),
            m(0x340000, 0x440000, 3),
        ]
    }

    fn span(z: &Zone) -> (u64, u64, u64) {
        (z.zone_start_pfn, z.spanned_pages, z.present_pages)
    }

    fn compute(memory: &[MemRange], nr_nodes: usize, opts: ZoneOptions) -> Zones {
        compute_zones(memory, nr_nodes, &opts).unwrap()
    }

    #[test]
    fn t5500_zones_match_linux() {
        let z = compute(&t5500(), 1, ZoneOptions::default());
        assert_eq!(z.max_pfn, 0xa30000);
        assert_eq!(z.arch_zone_lowest_possible_pfn, [1, 0x1000, 0x100000, 0]);
        assert_eq!(z.arch_zone_highest_possible_pfn, [0x1000, 0x100000, 0xa30000, 0]);
        let n = &z.nodes[0];
        // Linux prints present_pages in "DMA zone: 3997 pages": 0x9d + 0xf00 pages below 16 MiB.
        assert_eq!(span(n.zone(Dma)), (1, 0xfff, 3997));
        assert_eq!(span(n.zone(Dma32)), (0x1000, 0xff000, 847353));
        assert_eq!(span(n.zone(Normal)), (0x100000, 0x930000, 9633792));
        assert_eq!(span(n.zone(Movable)), (0, 0, 0));
        // "On node 0 totalpages: 10485142"
        assert_eq!(n.node_present_pages, 10485142);
        assert_eq!((n.node_start_pfn, n.node_end_pfn()), (1, 0xa30000));
        assert_eq!(n.zone(Dma).managed_pages, 3997);
        assert_eq!(z.movable_zone, Normal);
        assert!(z.notes.is_empty());
    }

    #[test]
    fn t5500_lines_equal_the_sample() {
        let z = compute(&t5500(), 1, ZoneOptions::default());
        let mut out = String::new();
        print_zone_ranges(&mut out, &z, true).unwrap();
        print_movable_zone_start(&mut out, &z).unwrap();
        print_early_memory_node_ranges(&mut out, &t5500()).unwrap();
        print_initmem_setup(&mut out, &z).unwrap();
        // x86 memblock_find_dma_reserve() found 21 reserved pages below 16 MiB on that machine.
        print_node_sizes_v5_10(&mut out, &z, 0, 21).unwrap();
        assert_eq!(out, sample_lines(T5500, "Zone ranges:", 19));
    }

    #[test]
    fn qemu_4node_zones_and_lines_match_linux() {
        let mem = qemu_4node();
        let z = compute(&mem, 4, ZoneOptions::default());
        let n0 = &z.nodes[0];
        assert_eq!(span(n0.zone(Dma)), (1, 0xfff, 0x9e + 0xf00));
        assert_eq!(span(n0.zone(Dma32)), (0x1000, 0xff000, 0xbffdf - 0x1000));
        assert_eq!(span(n0.zone(Normal)), (0x100000, 0x40000, 0x40000));
        for nid in 1..4u32 {
            let n = &z.nodes[nid as usize];
            let start = 0x40000 + 0x100000 * nid as u64;
            assert_eq!(span(n.zone(Dma)), (0, 0, 0));
            assert_eq!(span(n.zone(Dma32)), (0, 0, 0));
            assert_eq!(span(n.zone(Normal)), (start, 0x100000, 0x100000));
            assert_eq!((n.node_start_pfn, n.node_spanned_pages), (start, 0x100000));
        }
        // Linux: "Memory: 14289792K/16776692K available": 16776692K is the sum of present pages.
        assert_eq!(z.total_present_pages() * 4, 16776692);

        let mut out = String::new();
        print_zone_ranges(&mut out, &z, false).unwrap();
        print_movable_zone_start(&mut out, &z).unwrap();
        print_early_memory_node_ranges(&mut out, &mem).unwrap();
        assert_eq!(out, sample_lines(QEMU_4NODE, "Zone ranges:", 12));
        // (the "Zeroed struct page" line of memmap init comes between these in v5.2)
        let mut out = String::new();
        print_initmem_setup(&mut out, &z).unwrap();
        assert_eq!(out, sample_lines(QEMU_4NODE, "Initmem setup node 0", 4));
    }

    #[test]
    fn qemu_m4000_one_node() {
        // -m 4000M: RAM [0x1000, 0x9fc00) [0x100000, 0xbffe0000) [4G, 0x13a000000), pfn 0 reserved by x86.
        let z = compute(&[m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)], 1, ZoneOptions::default());
        let n = &z.nodes[0];
        assert_eq!(span(n.zone(Dma)), (1, 0xfff, 0x9e + 0xf00));
        assert_eq!(span(n.zone(Dma32)), (0x1000, 0xff000, 0xbefe0));
        assert_eq!(span(n.zone(Normal)), (0x100000, 0x3a000, 0x3a000));
        assert_eq!(n.node_end_pfn(), 0x13a000);
        // The Normal zone ends in the middle of section 39; the tail [0x13a000, 0x140000) is in no zone.
        assert_eq!(z.zone_for_pfn(0, 0x139fff), Some(Normal));
        assert_eq!(z.zone_for_pfn(0, 0x13a000), None);
        assert_eq!(z.zone_for_pfn(0, 0xc0000), Some(Dma32)); // a hole inside DMA32 is spanned by it
        assert_eq!(z.zone_for_pfn(0, 0), None); // pfn 0 is below ZONE_DMA
    }

    #[test]
    fn descending_nodes() {
        // Bug 213073's T5500: node 1 from 0x1000 to 0x1423ffffff, node 0 above it.
        let mem = [m(1, 0x9e, 1), m(0x100, 0xcfdf9, 1), m(0x100000, 0x1424000, 1), m(0x1424000, 0x2424000, 0)];
        let z = compute(&mem, 2, ZoneOptions::default());
        let (n0, n1) = (&z.nodes[0], &z.nodes[1]);
        assert_eq!(span(n1.zone(Dma)), (1, 0xfff, 3997));
        assert_eq!(span(n1.zone(Dma32)), (0x1000, 0xff000, 847353));
        assert_eq!(span(n1.zone(Normal)), (0x100000, 0x1324000, 0x1324000));
        assert_eq!(span(n0.zone(Dma)), (0, 0, 0));
        assert_eq!(span(n0.zone(Normal)), (0x1424000, 0x1000000, 0x1000000));
        assert_eq!((n0.node_start_pfn, n0.node_end_pfn()), (0x1424000, 0x2424000));
        let mut out = String::new();
        print_initmem_setup(&mut out, &z).unwrap();
        assert_eq!(
            out,
            "Initmem setup node 0 [mem 0x0000001424000000-0x0000002423ffffff]\n\
             Initmem setup node 1 [mem 0x0000000000001000-0x0000001423ffffff]\n"
        );
    }

    #[test]
    fn memoryless_and_interleaved_nodes() {
        // Node 1 has no memory; node 3 is beyond the last node with memory; nodes 0 and 2 interleave.
        let mem = [m(0x100, 0x80000, 0), m(0x80000, 0x100000, 2), m(0x100000, 0x180000, 0), m(0x180000, 0x200000, 2)];
        let z = compute(&mem, 4, ZoneOptions::default());
        for nid in [1usize, 3] {
            let n = &z.nodes[nid];
            assert_eq!((n.node_start_pfn, n.node_spanned_pages, n.node_present_pages), (0, 0, 0));
            assert!(n.zones.iter().all(|z| z.is_empty() && !z.populated()));
        }
        let (n0, n2) = (&z.nodes[0], &z.nodes[2]);
        // Node 0 spans [0x100, 0x180000): DMA32 [0x1000, 0x100000) holds half node 2's memory as absent pages.
        assert_eq!(span(n0.zone(Dma32)), (0x1000, 0xff000, 0x7f000));
        assert_eq!(span(n0.zone(Normal)), (0x100000, 0x80000, 0x80000));
        assert_eq!(span(n2.zone(Dma32)), (0x80000, 0x80000, 0x80000));
        assert_eq!(span(n2.zone(Normal)), (0x100000, 0x100000, 0x80000));
        // Node 2's pfn 0x120000 (node 0's memory) is spanned by both nodes' Normal zones.
        assert_eq!(z.zone_for_pfn(2, 0x120000), Some(Normal));
        let mut out = String::new();
        print_initmem_setup(&mut out, &z).unwrap();
        assert_eq!(
            out,
            "Initmem setup node 0 [mem 0x0000000000100000-0x000000017fffffff]\n\
             Initmem setup node 1 as memoryless\n\
             Initmem setup node 2 [mem 0x0000000080000000-0x00000001ffffffff]\n\
             Initmem setup node 3 as memoryless\n"
        );
        let mut out = String::new();
        print_initmem_setup_node(&mut out, &z, 1, MemorylessLine::ZeroRange).unwrap();
        print_initmem_setup_node(&mut out, &z, 4, MemorylessLine::ZeroRange).unwrap();
        assert_eq!(out, "Initmem setup node 1 [mem 0x0000000000000000-0x0000000000000000]\n");
    }

    #[test]
    fn small_machine_has_empty_zones() {
        // 512 MiB, all below 4 GiB: Normal is empty and ZONE_MOVABLE would come out of DMA32.
        let z = compute(&[m(1, 0x9f, 0), m(0x100, 0x20000, 0)], 1, ZoneOptions::default());
        assert_eq!(z.arch_zone_lowest_possible_pfn, [1, 0x1000, 0x20000, 0]);
        assert_eq!(z.arch_zone_highest_possible_pfn, [0x1000, 0x20000, 0x20000, 0]);
        assert_eq!(z.movable_zone, Dma32);
        let mut out = String::new();
        print_zone_ranges(&mut out, &z, false).unwrap();
        assert_eq!(
            out,
            "Zone ranges:\n  DMA      [mem 0x0000000000001000-0x0000000000ffffff]\n\
             \x20 DMA32    [mem 0x0000000001000000-0x000000001fffffff]\n  Normal   empty\n"
        );
        // Memory starting above 4 GiB: DMA and DMA32 are empty (lowest == highest == first pfn).
        let z = compute(&[m(0x100000, 0x200000, 0)], 1, ZoneOptions::default());
        assert_eq!(z.arch_zone_lowest_possible_pfn, [0x100000, 0x100000, 0x100000, 0]);
        assert_eq!(z.arch_zone_highest_possible_pfn, [0x100000, 0x100000, 0x200000, 0]);
    }

    #[test]
    fn kernelcore_pages_on_one_node() {
        // -m 4000M with kernelcore=1G (262144 pages). totalpages = 158 + 786144 + 237568 = 1023870.
        // movable_zone = Normal, usable_startpfn = 0x100000, one node, kernelcore_node = 262144.
        // Range [1, 0x9f): below usable_startpfn: 158 kernel pages, remaining 261986, zmp = 0x9f.
        // Range [0x100, 0xbffe0): 786144 kernel pages exhaust remaining (0), zmp = 0xbffe0.
        // Range [0x100000, 0x13a000): size_pages = min(0x3a000, 0) = 0, zmp = 0x100000, break.
        // out2: round_up(0x100000, 1024) = 0x100000 < 0x13a000: all of ZONE_NORMAL becomes ZONE_MOVABLE,
        // because memory below 4 GiB already counts as kernelcore.
        let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)];
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(0x40000)), ..ZoneOptions::default() };
        let z = compute(&mem, 1, opts);
        assert_eq!(z.zone_movable_pfn, vec![0x100000]);
        let n = &z.nodes[0];
        assert_eq!(span(n.zone(Normal)), (0, 0, 0));
        assert_eq!(span(n.zone(Movable)), (0x100000, 0x3a000, 0x3a000));
        assert_eq!(n.node_spanned_pages, 0x13a000 - 1);
        assert_eq!(z.zone_for_pfn(0, 0x120000), Some(Movable));
        let mut out = String::new();
        print_movable_zone_start(&mut out, &z).unwrap();
        assert_eq!(out, "Movable zone start for each node\n  Node 0: 0x0000000100000000\n");
    }

    #[test]
    fn kernelcore_examples_from_real_logs() {
        // Wei Yang on linux-mm (June 2017, v4.11): QEMU 8G, two nodes of 4G, kernelcore=1G printed
        // "Node 0: 0x0000000100000000" and "Node 1: 0x0000000140000000". Node 0's 3 GiB below 4 GiB already
        // exceed its share (131072 pages) and the whole request, so node 1's share becomes 0 / 2 = 0.
        let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x140000, 0), m(0x140000, 0x240000, 1)];
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(0x40000)), ..ZoneOptions::default() };
        let z = compute(&mem, 2, opts);
        let mut out = String::new();
        print_movable_zone_start(&mut out, &z).unwrap();
        assert_eq!(
            out,
            "Movable zone start for each node\n  Node 0: 0x0000000100000000\n  Node 1: 0x0000000140000000\n"
        );

        // Chao Fan on linux-mm (2018): one node, kernelcore=50%, "Node 0: 0x000000011b000000".
        // totalpages = 158 + 786135 + 1005568 = 1791861; kernelcore = 1791861 * 100 * 50 / 10000 = 895930;
        // 786293 pages below 4 GiB leave 109637 = 0x1ac45: zmp = 0x11ac45, rounded up to 0x11b000.
        let mem = [m(1, 0x9f, 0), m(0x100, 0xbffd7, 0), m(0x100000, 0x1f5800, 0)];
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Percent(50)), ..ZoneOptions::default() };
        let z = compute(&mem, 1, opts);
        let mut out = String::new();
        print_zone_ranges(&mut out, &z, true).unwrap();
        print_movable_zone_start(&mut out, &z).unwrap();
        print_early_memory_node_ranges(&mut out, &mem).unwrap();
        print_initmem_setup(&mut out, &z).unwrap();
        assert_eq!(
            out,
            "Zone ranges:\n\
             \x20 DMA      [mem 0x0000000000001000-0x0000000000ffffff]\n\
             \x20 DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n\
             \x20 Normal   [mem 0x0000000100000000-0x00000001f57fffff]\n\
             \x20 Device   empty\n\
             Movable zone start for each node\n\
             \x20 Node 0: 0x000000011b000000\n\
             Early memory node ranges\n\
             \x20 node   0: [mem 0x0000000000001000-0x000000000009efff]\n\
             \x20 node   0: [mem 0x0000000000100000-0x00000000bffd6fff]\n\
             \x20 node   0: [mem 0x0000000100000000-0x00000001f57fffff]\n\
             Initmem setup node 0 [mem 0x0000000000001000-0x00000001f57fffff]\n"
        );
    }

    #[test]
    fn kernelcore_spread_over_four_nodes() {
        // QEMU 4-node sample, kernelcore=4G (1048576 pages). totalpages = 1048445 + 3 * 1048576 = 4194173.
        // usable_startpfn = 0x100000, 4 nodes: kernelcore_node = 262144.
        // Node 0: its 158 + 786143 pages below 4 GiB exhaust its share and count fully against required
        //   (1048576 - 158 - 786143 = 262275); [0x100000, 0x140000) then gets size 0: zmp[0] = 0x100000.
        // Node 1: required 262275 >= 262144: share 262144 = 0x40000: zmp[1] = 0x180000, required 131.
        // Node 2: required 131 < 262144: share = 131 / 4 = 32: zmp[2] = 0x240020, required 99.
        // Node 3: 99 < 32? no: share stays 32: zmp[3] = 0x340020, required 67.
        // usable_nodes 3, 67 > 3: restart with share 67 / 3 = 22:
        //   node 0: all ranges end at or below zmp[0] except [0x100000, ..): zmp[0] = 0x100016, required 45;
        //   node 1: zmp[1] = 0x180016, required 23; node 2: 23 < 22? no: zmp[2] = 0x240036, required 1;
        //   node 3: 1 < 22: share 1 / 3 = 0: zmp[3] stays 0x340020 (size 0).
        // usable_nodes 2, 1 > 2? no: done. out2 rounds up to 1024 pages.
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(0x100000)), ..ZoneOptions::default() };
        let z = compute(&qemu_4node(), 4, opts);
        assert_eq!(z.zone_movable_pfn, vec![0x100400, 0x180400, 0x240400, 0x340400]);
        let n0 = &z.nodes[0];
        assert_eq!(span(n0.zone(Normal)), (0x100000, 0x400, 0x400));
        assert_eq!(span(n0.zone(Movable)), (0x100400, 0x3fc00, 0x3fc00));
        assert_eq!(span(z.nodes[1].zone(Normal)), (0x140000, 0x40400, 0x40400));
        assert_eq!(span(z.nodes[1].zone(Movable)), (0x180400, 0xbfc00, 0xbfc00));
        assert_eq!(span(z.nodes[3].zone(Normal)), (0x340000, 0x400, 0x400));
        assert_eq!(span(z.nodes[3].zone(Movable)), (0x340400, 0xffc00, 0xffc00));
        let mut out = String::new();
        print_movable_zone_start(&mut out, &z).unwrap();
        assert_eq!(
            out,
            "Movable zone start for each node\n  Node 0: 0x0000000100400000\n  Node 1: 0x0000000180400000\n\
             \x20 Node 2: 0x0000000240400000\n  Node 3: 0x0000000340400000\n"
        );
    }

    #[test]
    fn movablecore_percent_over_four_nodes() {
        // movablecore=50%: required_movablecore = 4194173 * 100 * 50 / 10000 = 2097086, rounded up to 1024:
        // 2097152; kernelcore = 4194173 - 2097152 = 2097021; share = 2097021 / 4 = 524255.
        // Node 0: low memory 158 + 786143: required 1310720, zmp[0] = 0x100000 (size 0 above 4 GiB).
        // Node 1: 524255 pages: zmp[1] = 0x140000 + 0x7ffdf = 0x1bffdf, required 786465.
        // Node 2: zmp[2] = 0x2bffdf, required 262210.
        // Node 3: 262210 < 524255: share = 262210 / 4 = 65552: zmp[3] = 0x350010, required 196658.
        // Restart, 3 nodes: share 196658 / 3 = 65552:
        //   node 0: zmp[0] = 0x100000 + 0x10010 = 0x110010, required 131106;
        //   node 1: from 0x1bffdf: zmp[1] = 0x1cffef, required 65554; node 2: zmp[2] = 0x2cffef, required 2;
        //   node 3: 2 < 65552: share 0: zmp[3] stays 0x350010.
        // 2 nodes, 2 > 2? no: done. Rounded up: 0x110400, 0x1d0000, 0x2d0000, 0x350400.
        let opts = ZoneOptions { movablecore: Some(CoreSpec::Percent(50)), ..ZoneOptions::default() };
        let z = compute(&qemu_4node(), 4, opts);
        assert_eq!(z.zone_movable_pfn, vec![0x110400, 0x1d0000, 0x2d0000, 0x350400]);
        let movable: u64 = z.nodes.iter().map(|n| n.zone(Movable).present_pages).sum();
        // 0x2fc00 + 2 * 0x70000 + 0xefc00: a little less than asked, as in Linux.
        assert_eq!(movable, 2095104);
        assert_eq!(z.total_present_pages(), 4194173);
    }

    #[test]
    fn kernelcore_percent_and_both_options() {
        // kernelcore=25% of 4194173 pages = 1048543; the same walk as kernelcore=4G but 33 pages less:
        // node 0: required 262242, zmp 0x100000; node 1: zmp 0x180000, required 98; node 2: share 98/4 = 24:
        // 0x240018, required 74; node 3: 0x340018, required 50; restart share 50/3 = 16: node 0 0x100010 (34),
        // node 1 0x180010 (18), node 2 0x240028 (2); node 3 share 0. Rounded: same starts as kernelcore=4G.
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Percent(25)), ..ZoneOptions::default() };
        let z = compute(&qemu_4node(), 4, opts);
        assert_eq!(z.zone_movable_pfn, vec![0x100400, 0x180400, 0x240400, 0x340400]);
        // kernelcore=4G with movablecore=75%: movablecore's kernelcore is 4194173 - 3145728 = 1048445 pages,
        // below 1048576, so kernelcore= wins and the result is kernelcore=4G's.
        let opts = ZoneOptions {
            kernelcore: Some(CoreSpec::Pages(0x100000)),
            movablecore: Some(CoreSpec::Percent(75)),
            ..ZoneOptions::default()
        };
        assert_eq!(compute(&qemu_4node(), 4, opts).zone_movable_pfn, vec![0x100400, 0x180400, 0x240400, 0x340400]);
        // Percent 0 is "not given", as in Linux.
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Percent(0)), ..ZoneOptions::default() };
        assert_eq!(compute(&qemu_4node(), 4, opts).zone_movable_pfn, vec![0; 4]);
    }

    #[test]
    fn nodes_entirely_movable() {
        // kernelcore=4 pages on the 4-node sample: node 0's low memory satisfies it (required 0), zmp[0] =
        // 0x100000; nodes 1-3 get a share of 0 / 4 = 0 and size 0 at their first pfn: wholly ZONE_MOVABLE.
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(4)), ..ZoneOptions::default() };
        let z = compute(&qemu_4node(), 4, opts);
        assert_eq!(z.zone_movable_pfn, vec![0x100000, 0x140000, 0x240000, 0x340000]);
        for n in &z.nodes[1..] {
            assert_eq!(span(n.zone(Normal)), (0, 0, 0));
            assert_eq!(n.zone(Movable).present_pages, 0x100000);
            assert_eq!(n.node_present_pages, 0x100000);
        }
        // movable_node with node 3 hot-pluggable.
        let hot = [PfnRange { start_pfn: 0x340000, end_pfn: 0x440000 }];
        let opts = ZoneOptions { movable_node: true, kernelcore: Some(CoreSpec::Pages(4)), ..ZoneOptions::default() };
        let z =
            compute_zones_with(&qemu_4node(), 4, &opts, &MemblockFlags { hotpluggable: &hot, ..Default::default() })
                .unwrap();
        assert_eq!(z.zone_movable_pfn, vec![0, 0, 0, 0x340000]);
        assert_eq!(z.notes, vec![ZoneNote::CoreOptionsIgnoredForMovableNode]);
        assert_eq!(span(z.nodes[3].zone(Normal)), (0, 0, 0));
        assert_eq!(span(z.nodes[3].zone(Movable)), (0x340000, 0x100000, 0x100000));
        assert_eq!(span(z.nodes[2].zone(Normal)), (0x240000, 0x100000, 0x100000));
        // A hot-pluggable range in the middle of node 2, not MAX_ORDER aligned: rounded up.
        let hot = [PfnRange { start_pfn: 0x2a0001, end_pfn: 0x2c0000 }];
        let opts = ZoneOptions { movable_node: true, ..ZoneOptions::default() };
        let z =
            compute_zones_with(&qemu_4node(), 4, &opts, &MemblockFlags { hotpluggable: &hot, ..Default::default() })
                .unwrap();
        assert_eq!(z.zone_movable_pfn, vec![0, 0, 0x2a0400, 0]);
        assert_eq!(span(z.nodes[2].zone(Normal)), (0x240000, 0x60400, 0x60400));
        assert_eq!(span(z.nodes[2].zone(Movable)), (0x2a0400, 0x9fc00, 0x9fc00));
    }

    #[test]
    fn no_movable_zone_when_core_covers_everything() {
        let total = 4194173;
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(total)), ..ZoneOptions::default() };
        let z = compute(&qemu_4node(), 4, opts);
        assert_eq!(z.zone_movable_pfn, vec![0; 4]);
        assert_eq!(
            z.notes,
            vec![ZoneNote::KernelcoreCoversAllMemory { required_kernelcore: total, totalpages: total }]
        );
        // movablecore=100%: kernelcore becomes 0, which Linux reads as "not given": no ZONE_MOVABLE at all.
        let opts = ZoneOptions { movablecore: Some(CoreSpec::Percent(100)), ..ZoneOptions::default() };
        let z = compute(&qemu_4node(), 4, opts);
        assert_eq!(z.zone_movable_pfn, vec![0; 4]);
        assert_eq!(z.notes, vec![ZoneNote::MovablecoreCoversAllMemory { totalpages: total }]);
        assert!(z.nodes.iter().all(|n| n.zone(Movable).is_empty()));
    }

    #[test]
    fn kernelcore_mirror() {
        // 8 GiB on one node, the first 5 GiB mirrored: ZONE_MOVABLE starts at the first non-mirrored pfn
        // above 4 GiB and overlaps ZONE_NORMAL, which keeps only the mirrored pages as present.
        let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x240000, 0)];
        let mirror = [PfnRange { start_pfn: 0, end_pfn: 0x140000 }];
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Mirror), ..ZoneOptions::default() };
        let flags = MemblockFlags { mirror: &mirror, ..Default::default() };
        let z = compute_zones_with(&mem, 1, &opts, &flags).unwrap();
        assert!(z.mirrored_kernelcore);
        assert_eq!(z.zone_movable_pfn, vec![0x140000]);
        let n = &z.nodes[0];
        assert_eq!(span(n.zone(Normal)), (0x100000, 0x140000, 0x40000));
        assert_eq!(span(n.zone(Movable)), (0x140000, 0x100000, 0x100000));
        assert_eq!(z.total_present_pages(), mem.iter().map(|r| r.pages()).sum::<u64>());
        assert_eq!(z.zone_for_pfn(0, 0x120000), Some(Normal));
        assert_eq!(z.zone_for_pfn(0, 0x200000), Some(Movable));
        assert!(z.notes.is_empty());
        // Non-mirrored memory below 4 GiB: Linux warns.
        let mirror = [PfnRange { start_pfn: 0x100000, end_pfn: 0x140000 }];
        let flags = MemblockFlags { mirror: &mirror, ..Default::default() };
        let z = compute_zones_with(&mem, 1, &opts, &flags).unwrap();
        assert_eq!(z.notes, vec![ZoneNote::UnmirroredKernelMemory]);
        assert_eq!(alloc::format!("{}", z.notes[0]), "This configuration results in unmirrored kernel memory.");
        assert!(z.notes[0].linux_logs());
        // No mirror memory at all, Linux 6.1: every region from 4 GiB is movable, Normal empties, and the memory
        // below 4 GiB is unmirrored kernel memory.
        let z = compute(&mem, 1, opts);
        assert_eq!(z.notes, vec![ZoneNote::UnmirroredKernelMemory]);
        assert_eq!(z.zone_movable_pfn, vec![0x100000]);
        assert!(z.nodes[0].zone(Normal).is_empty());
        assert_eq!(span(z.nodes[0].zone(Movable)), (0x100000, 0x140000, 0x140000));
        // Later kernels ignore kernelcore=mirror then, with a warning.
        let later = ZoneOptions { mirror_requires_mirrored_memory: true, ..opts };
        let z = compute(&mem, 1, later);
        assert_eq!(z.notes, vec![ZoneNote::NoMirrorMemory]);
        assert_eq!(z.zone_movable_pfn, vec![0]);
        assert!(!z.mirrored_kernelcore);
    }

    #[test]
    fn span_extend_rounds_node_spans_to_sections() {
        let opts = ZoneOptions { node_span_align: PAGES_PER_SECTION, ..ZoneOptions::default() };
        let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)];
        let z = compute(&mem, 1, opts);
        assert_eq!(z.node_pfn_range, vec![(0, 0x140000)]);
        assert_eq!(z.arch_zone_lowest_possible_pfn, [0, 0x1000, 0x100000, 0]);
        assert_eq!(z.arch_zone_highest_possible_pfn, [0x1000, 0x100000, 0x140000, 0]);
        let n = &z.nodes[0];
        assert_eq!(span(n.zone(Dma)), (0, 0x1000, 0x9e + 0xf00));
        assert_eq!(span(n.zone(Normal)), (0x100000, 0x40000, 0x3a000));
        assert_eq!(z.max_pfn, 0x13a000);
        // A node boundary inside a section: both nodes span the shared section.
        let mem = [m(0x100, 0x104000, 0), m(0x104000, 0x200000, 1)];
        let z = compute(&mem, 2, opts);
        assert_eq!(z.node_pfn_range, vec![(0, 0x108000), (0x100000, 0x200000)]);
        assert_eq!(z.zone_for_pfn(1, 0x104000), Some(Normal));
        assert_eq!(z.nodes[1].zone(Normal).zone_start_pfn, 0x100000);
    }

    #[test]
    fn errors_are_named_and_displayed() {
        let o = ZoneOptions::default();
        assert_eq!(compute_zones(&[], 1, &o), Err(ZoneError::NoMemory));
        assert_eq!(compute_zones(&[m(0, 1, 0)], 0, &o), Err(ZoneError::BadNodeCount { nr_nodes: 0 }));
        assert_eq!(compute_zones(&[m(0, 1, 0)], 65, &o), Err(ZoneError::BadNodeCount { nr_nodes: 65 }));
        assert_eq!(
            compute_zones(&[m(0, 1, 2)], 2, &o),
            Err(ZoneError::NodeOutOfRange { index: 0, nid: 2, nr_nodes: 2 })
        );
        assert_eq!(
            compute_zones(&[m(5, 5, 0)], 1, &o),
            Err(ZoneError::EmptyRange { index: 0, start_pfn: 5, end_pfn: 5 })
        );
        assert_eq!(compute_zones(&[m(0, 10, 0), m(5, 20, 0)], 1, &o), Err(ZoneError::Unsorted { index: 1 }));
        assert!(matches!(compute_zones(&[m(0, 1 << 41, 0)], 1, &o), Err(ZoneError::BeyondPhysmem { .. })));
        let bad = ZoneOptions { movablecore: Some(CoreSpec::Percent(101)), ..o };
        assert_eq!(
            compute_zones(&[m(0, 10, 0)], 1, &bad),
            Err(ZoneError::BadPercent { option: "movablecore", percent: 101 })
        );
        for align in [0, 3] {
            let bad = ZoneOptions { node_span_align: align, ..o };
            assert_eq!(compute_zones(&[m(0, 10, 0)], 1, &bad), Err(ZoneError::BadSpanAlign { align }));
        }
        let flags = MemblockFlags { max_pfn: Some(5), ..Default::default() };
        assert!(matches!(compute_zones_with(&[m(0, 10, 0)], 1, &o, &flags), Err(ZoneError::MaxPfnBelowMemory { .. })));
        let e = ZoneError::BadPercent { option: "kernelcore", percent: 150 };
        assert_eq!(alloc::format!("{}", e), "kernelcore=150%: a percentage must be at most 100");
    }

    #[test]
    fn zone_type_names_and_indices() {
        for (i, z) in ZoneType::ALL.iter().enumerate() {
            assert_eq!(ZoneType::from_index(i), Some(*z));
            assert_eq!(z.index(), i);
        }
        assert_eq!(ZoneType::from_index(4), None);
        assert_eq!(ZoneType::ALL.map(ZoneType::name), ["DMA", "DMA32", "Normal", "Movable"]);
        assert_eq!(calc_memmap_size(0xfff, 3997), 64);
        assert_eq!(zone_batchsize_v5_10(3912), 0);
        assert_eq!(zone_batchsize_v5_10(834113), 63);
    }

    /// Random memblock.memory: up to 64 ranges over up to 8 nodes in any order, with holes and adjacency.
    fn arb_layout() -> impl Strategy<Value = (Vec<MemRange>, usize)> {
        (1usize..=8, 0u64..0x2000, prop::collection::vec((0u64..0x60000, 1u64..0x80000, 0u32..8), 1..64)).prop_map(
            |(nr_nodes, first, pieces)| {
                let mut pfn = first;
                let mut mem = Vec::new();
                for (gap, len, nid) in pieces {
                    pfn += gap;
                    mem.push(m(pfn, pfn + len, nid % nr_nodes as u32));
                    pfn += len;
                }
                (mem, nr_nodes)
            },
        )
    }

    fn arb_core() -> impl Strategy<Value = Option<CoreSpec>> {
        prop_oneof![
            Just(None),
            (0u64..0x400000).prop_map(|p| Some(CoreSpec::Pages(p))),
            (0u32..=100).prop_map(|p| Some(CoreSpec::Percent(p))),
        ]
    }

    proptest! {
        #[test]
        fn zones_partition_every_nodes_memory(
            (mem, nr_nodes) in arb_layout(),
            kernelcore in arb_core(),
            movablecore in arb_core(),
            movable_node in any::<bool>(),
            extend in any::<bool>(),
            hot in prop::collection::vec((0u64..0x3000000, 1u64..0x200000), 0..4),
        ) {
            let opts = ZoneOptions {
                kernelcore,
                movablecore,
                movable_node,
                node_span_align: if extend { PAGES_PER_SECTION } else { 1 },
                ..ZoneOptions::default()
            };
            let hot: Vec<PfnRange> = hot.iter().map(|&(s, l)| PfnRange { start_pfn: s, end_pfn: s + l }).collect();
            let flags = MemblockFlags { hotpluggable: &hot, ..Default::default() };
            let z = compute_zones_with(&mem, nr_nodes, &opts, &flags).unwrap();
            prop_assert_eq!(z.nodes.len(), nr_nodes);
            for n in &z.nodes {
                let mut spanned = 0;
                let mut present = 0;
                for zone in &n.zones {
                    prop_assert!(zone.spanned_pages >= zone.present_pages);
                    prop_assert_eq!(zone.managed_pages, zone.present_pages);
                    if zone.is_empty() {
                        prop_assert_eq!(zone.zone_start_pfn, 0);
                    }
                    spanned += zone.spanned_pages;
                    present += zone.present_pages;
                }
                prop_assert_eq!(n.node_spanned_pages, spanned);
                prop_assert_eq!(n.node_present_pages, present);
                // Non-empty zones of a node do not overlap.
                for a in n.zones.iter().filter(|z| !z.is_empty()) {
                    for b in n.zones.iter().filter(|z| !z.is_empty() && z.zone_type > a.zone_type) {
                        prop_assert!(a.zone_end_pfn() <= b.zone_start_pfn || b.zone_end_pfn() <= a.zone_start_pfn,
                            "node {} zones {:?} and {:?} overlap", n.nid, a, b);
                    }
                }
            }
            // Sampled memory pfns lie in exactly one zone span of their node, and memmap_init's zone is it.
            for r in &mem {
                for pfn in [r.start_pfn, r.start_pfn + (r.end_pfn - r.start_pfn) / 2, r.end_pfn - 1] {
                    let node = &z.nodes[r.nid as usize];
                    let spanning: Vec<ZoneType> =
                        node.zones.iter().filter(|z| z.zone_spans_pfn(pfn)).map(|z| z.zone_type).collect();
                    prop_assert_eq!(spanning.len(), 1, "pfn {:#x} of node {}: {:?}", pfn, r.nid, spanning);
                    prop_assert_eq!(z.zone_for_pfn(r.nid, pfn), Some(spanning[0]));
                    prop_assert!(node.spans_pfn(pfn));
                }
            }
            let total: u64 = mem.iter().map(|r| r.pages()).sum();
            prop_assert_eq!(z.total_present_pages(), total);
            // The printers never fail or panic.
            let mut out = String::new();
            print_zone_ranges(&mut out, &z, true).unwrap();
            print_movable_zone_start(&mut out, &z).unwrap();
            print_early_memory_node_ranges(&mut out, &mem).unwrap();
            print_initmem_setup(&mut out, &z).unwrap();
            for nid in 0..nr_nodes as u32 {
                print_node_sizes_v5_10(&mut out, &z, nid, 0).unwrap();
            }
        }

        #[test]
        fn kernelcore_mirror_never_panics_and_never_overcounts(
            (mem, nr_nodes) in arb_layout(),
            mirror in prop::collection::vec((0u64..0x3000000, 1u64..0x400000), 0..6),
            movablecore in arb_core(),
        ) {
            let opts = ZoneOptions { kernelcore: Some(CoreSpec::Mirror), movablecore, ..ZoneOptions::default() };
            let mirror: Vec<PfnRange> =
                mirror.iter().map(|&(s, l)| PfnRange { start_pfn: s, end_pfn: s + l }).collect();
            let z = compute_zones_with(&mem, nr_nodes, &opts, &MemblockFlags { mirror: &mirror, ..Default::default() })
                .unwrap();
            for n in &z.nodes {
                for zone in &n.zones {
                    prop_assert!(zone.spanned_pages >= zone.present_pages);
                }
            }
            let total: u64 = mem.iter().map(|r| r.pages()).sum();
            prop_assert!(z.total_present_pages() <= total);
            for r in &mem {
                for pfn in [r.start_pfn, r.end_pfn - 1] {
                    if let Some(t) = z.zone_for_pfn(r.nid, pfn) {
                        prop_assert!(z.zone(r.nid, t).unwrap().zone_spans_pfn(pfn));
                    }
                }
            }
        }
    }
}
