//! The physical layout: firmware regions and NUMA affinity in, a normalized map of RAM with node ids out.
//!
//! Input is what firmware or a boot log says: a list of [`FirmwareRegion`]s (e820 types, including raw type
//! numbers, and the bootloader's "used by the bootloader" kind) and optional [`NumaAffinity`] ranges (the SRAT
//! memory-affinity entries). [`normalize`] turns them into a [`Layout`]:
//!
//! 1. every region is checked: `start <= end`, `end` within MAX_PHYSMEM_BITS; zero-length regions are dropped
//!    with a note, an exact duplicate of an earlier region is noted; at most [`E820_MAX_ENTRIES`] regions (Linux's table size: 128 + 3 * MAX_NUMNODES), more is
//!    the named error [`LayoutError::TooManyRegions`], never a silent truncation;
//! 2. overlaps are resolved by a precedence that is documented on [`RegionKind::precedence`]: any non-RAM kind
//!    wins over RAM, bootloader-reserved RAM wins over usable RAM, and between two non-RAM kinds the higher e820
//!    type number wins (as Linux's `e820__update_table` does);
//! 3. adjacent regions of the same kind are merged;
//! 4. RAM (usable and bootloader-reserved) is trimmed inward to whole pages (Linux: `PFN_UP(start)`,
//!    `PFN_DOWN(end)` in `for_each_mem_pfn_range`); RAM that holds no whole page disappears, with a note;
//! 5. NUMA ranges are checked (node id < MAX_NUMNODES, no overlap between different nodes), then RAM is split at
//!    node boundaries and every piece gets its node (RAM holding pfn 0 is kept, with a note: Linux on x86
//!    reserves that page in [`x86_e820_quirks`]). RAM that no NUMA range covers is dropped, with a note and
//!    its byte count in [`Layout::uncovered_bytes`], if it is less than 1 MiB in all; 1 MiB or more is the error
//!    [`LayoutError::NumaCoverage`] (Linux: `memblock_validate_numa_coverage(SZ_1M)`; the kernel then falls back
//!    to one node). Without NUMA ranges all RAM is node 0.
//!
//! # Invariants of a [`Layout`]
//! - `regions` is sorted, non-overlapping, without empty regions, adjacent regions differ in kind;
//! - `memory` is sorted by pfn, non-overlapping, non-empty ranges, each with a node id < MAX_NUMNODES, adjacent
//!   ranges of the same node merged; it covers exactly the whole pages of the RAM regions minus dropped pieces;
//! - `reserved` lists the bootloader-reserved RAM (whole pages inside `memory`), each with its reason.

use alloc::vec::Vec;
use core::fmt;

use crate::consts::{pfn_down, pfn_up, MAX_NUMNODES, MAX_PHYSMEM_BITS, MAX_PHYSMEM_BITS_5LEVEL, PAGE_SHIFT};

/// Linux's E820_MAX_ENTRIES on x86_64 with NODES_SHIFT 6: `128 + 3 * MAX_NUMNODES`.
pub const E820_MAX_ENTRIES: usize = 128 + 3 * MAX_NUMNODES;
/// Linux's NR_NODE_MEMBLKS: `MAX_NUMNODES * 2` memory-affinity ranges.
pub const NR_NODE_MEMBLKS: usize = MAX_NUMNODES * 2;
/// RAM without a node is tolerated below this many bytes (Linux: `memblock_validate_numa_coverage(SZ_1M)`).
pub const NUMA_COVERAGE_SLACK: u64 = 1 << 20;

/// What a firmware region is. The e820 kinds carry Linux's numbering; unknown numbers are kept raw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionKind {
    /// E820_TYPE_RAM (1): usable RAM.
    Usable,
    /// RAM the bootloader (or the kernel image, page tables, boot info) occupies: memory, but reserved.
    BootloaderReserved,
    /// E820_TYPE_RESERVED (2).
    Reserved,
    /// E820_TYPE_ACPI (3): ACPI data (reclaimable).
    AcpiData,
    /// E820_TYPE_NVS (4).
    AcpiNvs,
    /// E820_TYPE_UNUSABLE (5).
    Unusable,
    /// E820_TYPE_PMEM (7): persistent memory.
    Pmem,
    /// E820_TYPE_PRAM (12): legacy persistent memory.
    Pram,
    /// E820_TYPE_SOFT_RESERVED (0xefffffff).
    SoftReserved,
    /// Any other e820 type number (Linux prints `type N` and names the resource "Unknown E820 type").
    E820Type(u32),
    /// A UEFI memory type the bootloader did not translate (kept for reports; not RAM).
    UefiType(u32),
}

impl RegionKind {
    /// Maps a raw e820 type number to a kind.
    pub fn from_e820_type(t: u32) -> RegionKind {
        match t {
            1 => RegionKind::Usable,
            2 => RegionKind::Reserved,
            3 => RegionKind::AcpiData,
            4 => RegionKind::AcpiNvs,
            5 => RegionKind::Unusable,
            7 => RegionKind::Pmem,
            12 => RegionKind::Pram,
            0xefff_ffff => RegionKind::SoftReserved,
            n => RegionKind::E820Type(n),
        }
    }

    /// The e820 kind Linux's EFI stub gives a UEFI memory type (`setup_e820`, drivers/firmware/efi/libstub/
    /// x86-stub.c): reserved, runtime services, MMIO, MMIO port space and PAL code are reserved; unusable is
    /// unusable; ACPI reclaim is ACPI data; loader, boot services and conventional memory are RAM; ACPI NVS is
    /// NVS; persistent is PMEM. `None` for a type the stub leaves out of the e820 table.
    pub fn from_efi_type(t: u32) -> Option<RegionKind> {
        Some(match t {
            0 | 5 | 6 | 11 | 12 | 13 => RegionKind::Reserved,
            8 => RegionKind::Unusable,
            9 => RegionKind::AcpiData,
            1..=4 | 7 => RegionKind::Usable,
            10 => RegionKind::AcpiNvs,
            14 => RegionKind::Pmem,
            _ => return None,
        })
    }

    /// The e820 type number this kind is printed as (bootloader-reserved RAM is RAM: 1).
    pub fn e820_type(self) -> Option<u32> {
        Some(match self {
            RegionKind::Usable | RegionKind::BootloaderReserved => 1,
            RegionKind::Reserved => 2,
            RegionKind::AcpiData => 3,
            RegionKind::AcpiNvs => 4,
            RegionKind::Unusable => 5,
            RegionKind::Pmem => 7,
            RegionKind::Pram => 12,
            RegionKind::SoftReserved => 0xefff_ffff,
            RegionKind::E820Type(n) => n,
            RegionKind::UefiType(_) => return None,
        })
    }

    /// Whether the region is RAM that memblock.memory holds (usable or bootloader-reserved).
    pub fn is_ram(self) -> bool {
        matches!(self, RegionKind::Usable | RegionKind::BootloaderReserved)
    }

    /// Overlap precedence: the kind with the larger value wins where regions overlap.
    ///
    /// Usable RAM is lowest, bootloader-reserved RAM next (it is RAM, but in use), then every non-RAM kind ordered
    /// by its e820 type number, as Linux's `e820__update_table` keeps the highest type of overlapping entries.
    /// UEFI types without an e820 number rank above all e820 types (they are never RAM here).
    pub fn precedence(self) -> u64 {
        match self {
            RegionKind::Usable => 0,
            RegionKind::BootloaderReserved => 1,
            RegionKind::UefiType(n) => (1 << 33) + n as u64,
            k => (1 << 32) + k.e820_type().unwrap_or(0) as u64,
        }
    }
}

impl fmt::Display for RegionKind {
    /// Linux's `e820_print_type` names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Usable | RegionKind::BootloaderReserved => f.write_str("usable"),
            RegionKind::Reserved => f.write_str("reserved"),
            RegionKind::AcpiData => f.write_str("ACPI data"),
            RegionKind::AcpiNvs => f.write_str("ACPI NVS"),
            RegionKind::Unusable => f.write_str("unusable"),
            RegionKind::Pmem => f.write_str("persistent (type 7)"),
            RegionKind::Pram => f.write_str("persistent (type 12)"),
            RegionKind::SoftReserved => f.write_str("soft reserved"),
            RegionKind::E820Type(n) => write!(f, "type {}", n),
            RegionKind::UefiType(n) => write!(f, "UEFI type {}", n),
        }
    }
}

/// One firmware region: physical byte range `[start, end)` and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareRegion {
    pub start: u64,
    pub end: u64,
    pub kind: RegionKind,
}

impl FirmwareRegion {
    pub const fn new(start: u64, end: u64, kind: RegionKind) -> Self {
        FirmwareRegion { start, end, kind }
    }
}

/// An SRAT memory-affinity range with the node id it maps to: bytes `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumaAffinity {
    pub nid: u32,
    pub start: u64,
    pub end: u64,
    /// Hot-pluggable: a window where memory may appear later (not RAM now unless the e820 map says so).
    pub hotplug: bool,
}

/// A range of RAM pages `[start_pfn, end_pfn)` on node `nid` (a memblock.memory region).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub nid: u32,
}

impl MemRange {
    pub fn pages(&self) -> u64 {
        self.end_pfn - self.start_pfn
    }
}

/// Why a RAM range is reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveReason {
    /// Used by the bootloader, the kernel image, its page tables or the boot info.
    Bootloader,
    /// Reserved by a `memmap=nn$ss` option.
    MemmapOption,
    /// The memmap (struct pages) of a section.
    Memmap,
    /// A pageblock usemap or a section root.
    SparseMetadata,
    /// Another early allocation, named.
    Other(&'static str),
}

impl fmt::Display for ReserveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveReason::Bootloader => f.write_str("bootloader"),
            ReserveReason::MemmapOption => f.write_str("memmap="),
            ReserveReason::Memmap => f.write_str("memmap"),
            ReserveReason::SparseMetadata => f.write_str("sparse metadata"),
            ReserveReason::Other(s) => f.write_str(s),
        }
    }
}

/// A reserved range of RAM pages `[start_pfn, end_pfn)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub reason: ReserveReason,
}

/// Something normalization changed or dropped, kept so nothing disappears silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutNote {
    /// A region with `start == end` was dropped.
    DroppedEmpty { index: usize },
    /// Two regions overlapped; the overlap `[start, end)` went to `winner` instead of `loser`.
    Overlap { start: u64, end: u64, winner: RegionKind, loser: RegionKind },
    /// RAM `[start, end)` was trimmed to whole pages `[start_pfn, end_pfn)` (empty if no whole page).
    TrimmedRam { start: u64, end: u64, start_pfn: u64, end_pfn: u64 },
    /// RAM pages `[start_pfn, end_pfn)` lie in no NUMA range and were dropped.
    RamWithoutNode { start_pfn: u64, end_pfn: u64 },
    /// Region #`index` repeats region #`first` exactly (same range, same kind); it adds nothing.
    Duplicate { index: usize, first: usize },
    /// RAM holds pfn 0. Linux on x86 reserves that page (`trim_bios_range`, [`x86_e820_quirks`]); normalization
    /// keeps it as memory, as the firmware said.
    RamAtPfnZero { end_pfn: u64 },
}

impl fmt::Display for LayoutNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutNote::DroppedEmpty { index } => {
                write!(f, "region #{} is empty and was dropped", index)
            }
            LayoutNote::Overlap { start, end, winner, loser } => {
                write!(f, "[mem {:#018x}-{:#018x}] is both {} and {}; {} wins", start, end - 1, winner, loser, winner)
            }
            LayoutNote::TrimmedRam { start, end, start_pfn, end_pfn } => {
                if start_pfn < end_pfn {
                    write!(
                        f,
                        "RAM [mem {:#018x}-{:#018x}] trimmed to whole pages [mem {:#018x}-{:#018x}]",
                        start,
                        end - 1,
                        start_pfn << PAGE_SHIFT,
                        (end_pfn << PAGE_SHIFT) - 1
                    )
                } else {
                    write!(f, "RAM [mem {:#018x}-{:#018x}] holds no whole page and was dropped", start, end - 1)
                }
            }
            LayoutNote::RamWithoutNode { start_pfn, end_pfn } => write!(
                f,
                "RAM [mem {:#018x}-{:#018x}] is in no NUMA node and was dropped",
                start_pfn << PAGE_SHIFT,
                (end_pfn << PAGE_SHIFT) - 1
            ),
            LayoutNote::Duplicate { index, first } => {
                write!(f, "region #{} repeats region #{} exactly and adds nothing", index, first)
            }
            LayoutNote::RamAtPfnZero { end_pfn } => write!(
                f,
                "RAM [mem 0x0000000000000000-{:#018x}] holds pfn 0, which Linux on x86 reserves (trim_bios_range)",
                (end_pfn << PAGE_SHIFT) - 1
            ),
        }
    }
}

/// A bad input to [`normalize`]. Every variant says what is wrong and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// More firmware regions than the table holds.
    TooManyRegions { count: usize, max: usize },
    /// More NUMA ranges than the table holds.
    TooManyNumaRanges { count: usize, max: usize },
    /// A region ends before it starts.
    Inverted { index: usize, start: u64, end: u64 },
    /// A region reaches beyond MAX_PHYSMEM_BITS.
    BeyondPhysmem { index: usize, end: u64, bits: u32 },
    /// A NUMA range names a node id >= MAX_NUMNODES.
    NodeOutOfRange { nid: u32 },
    /// A NUMA range ends before it starts.
    NumaInverted { nid: u32, start: u64, end: u64 },
    /// A NUMA range reaches beyond MAX_PHYSMEM_BITS.
    NumaBeyondPhysmem { nid: u32, end: u64, bits: u32 },
    /// Two NUMA ranges of different nodes overlap.
    NumaOverlap { a: u32, b: u32, start: u64, end: u64 },
    /// 1 MiB or more of RAM lies in no NUMA range.
    NumaCoverage { uncovered_bytes: u64, ram_bytes: u64 },
    /// The layout holds no RAM page at all.
    NoMemory,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::TooManyRegions { count, max } => {
                write!(f, "{} firmware regions, but the table holds {} (E820_MAX_ENTRIES)", count, max)
            }
            LayoutError::TooManyNumaRanges { count, max } => {
                write!(f, "{} NUMA memory ranges, but the table holds {} (NR_NODE_MEMBLKS)", count, max)
            }
            LayoutError::Inverted { index, start, end } => {
                write!(f, "firmware region #{} ends ({:#x}) before it starts ({:#x})", index, end, start)
            }
            LayoutError::BeyondPhysmem { index, end, bits } => write!(
                f,
                "firmware region #{} ends at {:#x}, beyond MAX_PHYSMEM_BITS {} ({:#x})",
                index,
                end,
                bits,
                1u128 << bits
            ),
            LayoutError::NodeOutOfRange { nid } => {
                write!(f, "NUMA node id {} out of range (MAX_NUMNODES is {})", nid, MAX_NUMNODES)
            }
            LayoutError::NumaInverted { nid, start, end } => {
                write!(f, "NUMA range of node {} ends ({:#x}) before it starts ({:#x})", nid, end, start)
            }
            LayoutError::NumaBeyondPhysmem { nid, end, bits } => {
                write!(f, "NUMA range of node {} ends at {:#x}, beyond MAX_PHYSMEM_BITS {}", nid, end, bits)
            }
            LayoutError::NumaOverlap { a, b, start, end } => {
                write!(f, "NUMA ranges of node {} and node {} overlap at [mem {:#018x}-{:#018x}]", a, b, start, end - 1)
            }
            LayoutError::NumaCoverage { uncovered_bytes, ram_bytes } => {
                write!(f, "NUMA: no nodes coverage for {}MB of {}MB RAM", uncovered_bytes >> 20, ram_bytes >> 20)
            }
            LayoutError::NoMemory => f.write_str("the layout holds no whole page of RAM"),
        }
    }
}

/// Options of normalization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutOptions {
    /// MAX_PHYSMEM_BITS: 46 (4-level paging) or 52 (5-level).
    pub max_physmem_bits: u32,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        LayoutOptions { max_physmem_bits: MAX_PHYSMEM_BITS }
    }
}

impl LayoutOptions {
    /// Options with 5-level paging (MAX_PHYSMEM_BITS 52).
    pub fn five_level() -> Self {
        LayoutOptions { max_physmem_bits: MAX_PHYSMEM_BITS_5LEVEL }
    }
}

/// The normalized layout. See the module documentation for its invariants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The firmware map after overlap resolution and merging (byte granular, as firmware said it).
    pub regions: Vec<FirmwareRegion>,
    /// memblock.memory: whole RAM pages with their node ids.
    pub memory: Vec<MemRange>,
    /// Reserved RAM with reasons (from bootloader-reserved regions).
    pub reserved: Vec<Reservation>,
    /// The normalized NUMA ranges (sorted, same-node overlaps merged), hotpluggable windows included.
    pub numa: Vec<NumaAffinity>,
    /// Bytes of RAM dropped because no NUMA range covers them.
    pub uncovered_bytes: u64,
    /// What normalization changed or dropped.
    pub notes: Vec<LayoutNote>,
    /// Nodes known from elsewhere than memory: the SRAT's processor entries (`acpi::SratNuma::nodes`). A node
    /// with CPUs and no memory still exists in Linux (`Initmem setup node N as memoryless`, empty zones).
    pub possible_nodes: usize,
}

impl Layout {
    /// A layout straight from memblock-like ranges (as a boot log's `Early memory node ranges` lines give them):
    /// no firmware regions, the ranges taken as they are after sorting and validation.
    pub fn from_memory_ranges(ranges: &[MemRange]) -> Result<Layout, LayoutError> {
        let mut memory: Vec<MemRange> = Vec::with_capacity(ranges.len());
        for r in ranges {
            if r.nid as usize >= MAX_NUMNODES {
                return Err(LayoutError::NodeOutOfRange { nid: r.nid });
            }
            if r.end_pfn < r.start_pfn {
                return Err(LayoutError::NumaInverted {
                    nid: r.nid,
                    start: r.start_pfn << PAGE_SHIFT,
                    end: r.end_pfn << PAGE_SHIFT,
                });
            }
            if r.end_pfn > r.start_pfn {
                memory.push(*r);
            }
        }
        memory.sort_by_key(|r| (r.start_pfn, r.end_pfn));
        for w in memory.windows(2) {
            if w[1].start_pfn < w[0].end_pfn {
                return Err(LayoutError::NumaOverlap {
                    a: w[0].nid,
                    b: w[1].nid,
                    start: w[1].start_pfn << PAGE_SHIFT,
                    end: w[0].end_pfn.min(w[1].end_pfn) << PAGE_SHIFT,
                });
            }
        }
        let memory = merge_memory(memory);
        if memory.is_empty() {
            return Err(LayoutError::NoMemory);
        }
        Ok(Layout { memory, ..Layout::default() })
    }

    /// Total RAM pages.
    pub fn memory_pages(&self) -> u64 {
        self.memory.iter().map(MemRange::pages).sum()
    }

    /// The highest node id with memory, plus one (0 for no memory).
    pub fn nr_node_ids(&self) -> usize {
        let from_mem = self.memory.iter().map(|r| r.nid as usize + 1).max().unwrap_or(0);
        let from_numa = self.numa.iter().map(|r| r.nid as usize + 1).max().unwrap_or(0);
        from_mem.max(from_numa).max(self.possible_nodes)
    }
}

/// Normalizes firmware regions and NUMA ranges. See the module documentation for the rules.
pub fn normalize(
    regions: &[FirmwareRegion],
    numa: &[NumaAffinity],
    opts: &LayoutOptions,
) -> Result<Layout, LayoutError> {
    if regions.len() > E820_MAX_ENTRIES {
        return Err(LayoutError::TooManyRegions { count: regions.len(), max: E820_MAX_ENTRIES });
    }
    if numa.len() > NR_NODE_MEMBLKS {
        return Err(LayoutError::TooManyNumaRanges { count: numa.len(), max: NR_NODE_MEMBLKS });
    }
    let limit: u128 = 1u128 << opts.max_physmem_bits;
    let mut notes = Vec::new();
    let mut input: Vec<FirmwareRegion> = Vec::with_capacity(regions.len());
    for (index, r) in regions.iter().enumerate() {
        if r.end < r.start {
            return Err(LayoutError::Inverted { index, start: r.start, end: r.end });
        }
        if r.end as u128 > limit {
            return Err(LayoutError::BeyondPhysmem { index, end: r.end, bits: opts.max_physmem_bits });
        }
        if r.start == r.end {
            notes.push(LayoutNote::DroppedEmpty { index });
            continue;
        }
        // Quadratic, bounded by E820_MAX_ENTRIES; a duplicate still goes through overlap resolution (a no-op).
        if let Some(first) = regions.get(..index).and_then(|before| before.iter().position(|b| b == r)) {
            notes.push(LayoutNote::Duplicate { index, first });
        }
        input.push(*r);
    }
    let regions = resolve_overlaps(&input, &mut notes);

    // RAM trimmed inward to whole pages.
    let mut ram: Vec<(u64, u64, RegionKind)> = Vec::new();
    for r in regions.iter().filter(|r| r.kind.is_ram()) {
        let (s, e) = (pfn_up(r.start), pfn_down(r.end));
        if s << PAGE_SHIFT != r.start || e << PAGE_SHIFT != r.end {
            notes.push(LayoutNote::TrimmedRam { start: r.start, end: r.end, start_pfn: s, end_pfn: e.max(s) });
        }
        if s < e {
            if s == 0 {
                notes.push(LayoutNote::RamAtPfnZero { end_pfn: e });
            }
            ram.push((s, e, r.kind));
        }
    }

    let numa = normalize_numa(numa, opts)?;
    let mut memory = Vec::new();
    let mut reserved = Vec::new();
    let mut uncovered_pages = 0u64;
    for &(s, e, kind) in &ram {
        if kind == RegionKind::BootloaderReserved {
            reserved.push(Reservation { start_pfn: s, end_pfn: e, reason: ReserveReason::Bootloader });
        }
        if numa.is_empty() {
            memory.push(MemRange { start_pfn: s, end_pfn: e, nid: 0 });
            continue;
        }
        // Loop invariant: [s, cur) has been assigned to nodes or recorded as uncovered.
        let mut cur = s;
        for n in numa.iter() {
            let (ns, ne) = (pfn_up(n.start), pfn_down(n.end));
            if ne <= cur || ns >= e {
                continue;
            }
            if ns > cur {
                uncovered_pages += ns - cur;
                notes.push(LayoutNote::RamWithoutNode { start_pfn: cur, end_pfn: ns });
                cur = ns;
            }
            let piece_end = ne.min(e);
            memory.push(MemRange { start_pfn: cur, end_pfn: piece_end, nid: n.nid });
            cur = piece_end;
            if cur == e {
                break;
            }
        }
        if cur < e {
            uncovered_pages += e - cur;
            notes.push(LayoutNote::RamWithoutNode { start_pfn: cur, end_pfn: e });
        }
    }
    let ram_pages: u64 = ram.iter().map(|&(s, e, _)| e - s).sum();
    let uncovered_bytes = uncovered_pages << PAGE_SHIFT;
    if uncovered_bytes >= NUMA_COVERAGE_SLACK {
        return Err(LayoutError::NumaCoverage { uncovered_bytes, ram_bytes: ram_pages << PAGE_SHIFT });
    }
    let memory = merge_memory(memory);
    if memory.is_empty() {
        return Err(LayoutError::NoMemory);
    }
    Ok(Layout { regions, memory, reserved: merge_reservations(reserved), numa, uncovered_bytes, notes, possible_nodes: 0 })
}

/// Linux's early x86 adjustments of the firmware map (arch/x86/kernel/setup.c `trim_bios_range`): the first
/// page becomes reserved (`e820__update_range(0, PAGE_SIZE, E820_TYPE_RAM, E820_TYPE_RESERVED)`), and RAM in the
/// legacy BIOS area 0xa0000-0xfffff is taken out (`e820__range_remove(BIOS_BEGIN, BIOS_END - BIOS_BEGIN,
/// E820_TYPE_RAM, 1)`). Returns the adjusted regions and the two lines Linux prints, in its format.
pub fn x86_e820_quirks(regions: &[FirmwareRegion]) -> (Vec<FirmwareRegion>, [alloc::string::String; 2]) {
    const BIOS_BEGIN: u64 = 0xa0000;
    const BIOS_END: u64 = 0x100000;
    let mut out: Vec<FirmwareRegion> = Vec::with_capacity(regions.len() + 2);
    for r in regions {
        if !r.kind.is_ram() {
            out.push(*r);
            continue;
        }
        // Page 0: RAM ==> reserved.
        if r.start < crate::consts::PAGE_SIZE && r.end > r.start {
            let cut = r.end.min(crate::consts::PAGE_SIZE);
            out.push(FirmwareRegion::new(r.start, cut, RegionKind::Reserved));
            push_outside(&mut out, FirmwareRegion::new(cut, r.end, r.kind), BIOS_BEGIN, BIOS_END);
        } else {
            push_outside(&mut out, *r, BIOS_BEGIN, BIOS_END);
        }
    }
    let lines = [
        alloc::format!("e820: update [mem {:#010x}-{:#010x}] usable ==> reserved", 0, crate::consts::PAGE_SIZE - 1),
        alloc::format!("e820: remove [mem {:#010x}-{:#010x}] usable", BIOS_BEGIN, BIOS_END - 1),
    ];
    (out, lines)
}

/// Linux's `mem=` and `memmap=` options applied to a firmware map (arch/x86/kernel/e820.c `parse_memopt`,
/// `parse_memmap_one`): `mem=nn` removes RAM from `nn` up; `memmap=nn$ss` / `nn#ss` / `nn@ss` / `nn!ss` add a
/// reserved / ACPI data / RAM / PRAM range; `memmap=exactmap` forgets the firmware map; `memmap=nn%ss-a+b`
/// changes type `a` to `b`. Overlaps are resolved later by [`normalize`] with the same precedence Linux's
/// `e820__update_table` uses. Returns the new regions and the lines Linux prints for them.
pub fn apply_user_map(
    regions: &[FirmwareRegion],
    mem_limit: Option<u64>,
    memmap: &[crate::cmdline::MemmapEntry],
) -> (Vec<FirmwareRegion>, Vec<alloc::string::String>) {
    use crate::cmdline::{MemmapEntry, MemmapKind};
    let mut out: Vec<FirmwareRegion> = regions.to_vec();
    let mut lines = Vec::new();
    let remove_ram_from = |out: &mut Vec<FirmwareRegion>, lines: &mut Vec<alloc::string::String>, limit: u64| {
        lines.push(alloc::format!("e820: remove [mem {:#010x}-{:#010x}] usable", limit, u64::MAX - 1));
        let mut kept = Vec::with_capacity(out.len());
        for r in out.drain(..) {
            if r.kind.is_ram() && r.end > limit {
                if r.start < limit {
                    kept.push(FirmwareRegion::new(r.start, limit, r.kind));
                }
            } else {
                kept.push(r);
            }
        }
        *out = kept;
    };
    if let Some(limit) = mem_limit {
        remove_ram_from(&mut out, &mut lines, limit);
    }
    for e in memmap {
        match *e {
            MemmapEntry::Exactmap => out.clear(),
            MemmapEntry::Limit { size } => remove_ram_from(&mut out, &mut lines, size),
            MemmapEntry::Add { kind, size, start } => {
                let k = match kind {
                    MemmapKind::Ram => RegionKind::Usable,
                    MemmapKind::Acpi => RegionKind::AcpiData,
                    MemmapKind::Reserved => RegionKind::Reserved,
                    MemmapKind::Pram => RegionKind::Pram,
                };
                out.push(FirmwareRegion::new(start, start.saturating_add(size), k));
            }
            MemmapEntry::Update { size, start, from, to } => {
                let end = start.saturating_add(size);
                let mut kept = Vec::with_capacity(out.len() + 2);
                for r in out.drain(..) {
                    let matches = from.is_none_or(|t| r.kind.e820_type() == Some(t));
                    if !matches || r.end <= start || r.start >= end {
                        kept.push(r);
                        continue;
                    }
                    push_outside(&mut kept, r, start, end);
                }
                out = kept;
                if let Some(t) = to {
                    out.push(FirmwareRegion::new(start, end, RegionKind::from_e820_type(t)));
                }
            }
        }
    }
    if mem_limit.is_some() || !memmap.is_empty() {
        lines.push(alloc::string::String::from("user-defined physical RAM map:"));
        let mut sorted = out.clone();
        sorted.sort_by_key(|r| (r.start, r.end));
        for r in sorted.iter().filter(|r| r.start < r.end) {
            lines.push(alloc::format!("user: [mem {:#018x}-{:#018x}] {}", r.start, r.end - 1, r.kind));
        }
    }
    (out, lines)
}

/// Pushes the parts of `r` outside `[a, b)` (nothing if empty).
fn push_outside(out: &mut Vec<FirmwareRegion>, r: FirmwareRegion, a: u64, b: u64) {
    if r.start >= r.end {
        return;
    }
    if r.start < a {
        out.push(FirmwareRegion::new(r.start, r.end.min(a), r.kind));
    }
    if r.end > b {
        out.push(FirmwareRegion::new(r.start.max(b), r.end, r.kind));
    }
}

/// Splits the regions at every boundary and gives each elementary interval the kind of highest precedence.
///
/// Quadratic in the number of regions, which is bounded by [`E820_MAX_ENTRIES`]; simple over clever.
fn resolve_overlaps(input: &[FirmwareRegion], notes: &mut Vec<LayoutNote>) -> Vec<FirmwareRegion> {
    let mut points: Vec<u64> = Vec::with_capacity(input.len() * 2);
    for r in input {
        points.push(r.start);
        points.push(r.end);
    }
    points.sort_unstable();
    points.dedup();
    let mut out: Vec<FirmwareRegion> = Vec::new();
    for w in points.windows(2) {
        let (s, e) = (w[0], w[1]);
        let mut best: Option<RegionKind> = None;
        for r in input.iter().filter(|r| r.start <= s && e <= r.end) {
            match best {
                None => best = Some(r.kind),
                Some(b) if b == r.kind => {}
                Some(b) => {
                    let (winner, loser) = if r.kind.precedence() > b.precedence() { (r.kind, b) } else { (b, r.kind) };
                    match notes.last_mut() {
                        Some(LayoutNote::Overlap { end, winner: w2, loser: l2, .. })
                            if *end == s && *w2 == winner && *l2 == loser =>
                        {
                            *end = e
                        }
                        _ => notes.push(LayoutNote::Overlap { start: s, end: e, winner, loser }),
                    }
                    best = Some(winner);
                }
            }
        }
        let Some(kind) = best else { continue };
        match out.last_mut() {
            Some(last) if last.end == s && last.kind == kind => last.end = e,
            _ => out.push(FirmwareRegion { start: s, end: e, kind }),
        }
    }
    out
}

fn normalize_numa(numa: &[NumaAffinity], opts: &LayoutOptions) -> Result<Vec<NumaAffinity>, LayoutError> {
    let limit: u128 = 1u128 << opts.max_physmem_bits;
    let mut v: Vec<NumaAffinity> = Vec::with_capacity(numa.len());
    for n in numa {
        if n.nid as usize >= MAX_NUMNODES {
            return Err(LayoutError::NodeOutOfRange { nid: n.nid });
        }
        if n.end < n.start {
            return Err(LayoutError::NumaInverted { nid: n.nid, start: n.start, end: n.end });
        }
        if n.end as u128 > limit {
            return Err(LayoutError::NumaBeyondPhysmem { nid: n.nid, end: n.end, bits: opts.max_physmem_bits });
        }
        if n.start < n.end {
            v.push(*n);
        }
    }
    v.sort_by_key(|n| (n.start, n.end));
    let mut out: Vec<NumaAffinity> = Vec::with_capacity(v.len());
    for n in v {
        match out.last_mut() {
            Some(last) if n.start < last.end && last.nid != n.nid => {
                return Err(LayoutError::NumaOverlap {
                    a: last.nid,
                    b: n.nid,
                    start: n.start,
                    end: last.end.min(n.end),
                });
            }
            Some(last) if n.start <= last.end && last.nid == n.nid && last.hotplug == n.hotplug => {
                last.end = last.end.max(n.end)
            }
            Some(last) if n.start < last.end => {
                // Same node, different hotplug flags, overlapping: the overlap stays with the first range.
                let mut rest = n;
                rest.start = last.end;
                if rest.start < rest.end {
                    out.push(rest);
                }
            }
            _ => out.push(n),
        }
    }
    Ok(out)
}

fn merge_memory(v: Vec<MemRange>) -> Vec<MemRange> {
    let mut out: Vec<MemRange> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if last.end_pfn == r.start_pfn && last.nid == r.nid => last.end_pfn = r.end_pfn,
            _ => out.push(r),
        }
    }
    out
}

fn merge_reservations(mut v: Vec<Reservation>) -> Vec<Reservation> {
    v.sort_by_key(|r| r.start_pfn);
    let mut out: Vec<Reservation> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if last.end_pfn >= r.start_pfn && last.reason == r.reason => {
                last.end_pfn = last.end_pfn.max(r.end_pfn)
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegionKind::*;

    fn fr(start: u64, end: u64, kind: RegionKind) -> FirmwareRegion {
        FirmwareRegion::new(start, end, kind)
    }

    /// The map QEMU 7.2 `-m 4000M` (pc, BIOS) hands over (shared/reference/qemu-layouts.md).
    pub(crate) fn qemu_m4000() -> Vec<FirmwareRegion> {
        vec![
            fr(0, 0x9fc00, Usable),
            fr(0x9fc00, 0xa0000, Reserved),
            fr(0xf0000, 0x100000, Reserved),
            fr(0x100000, 0x1000000, Usable),
            fr(0x1000000, 0x1140000, BootloaderReserved),
            fr(0x1140000, 0x1571000, BootloaderReserved),
            fr(0x1571000, 0xbffe0000, Usable),
            fr(0xbffe0000, 0xc0000000, Reserved),
            fr(0xfffc0000, 0x100000000, Reserved),
            fr(0x100000000, 0x13a000000, Usable),
            fr(0xfd00000000, 0x10000000000, Reserved),
        ]
    }

    #[test]
    fn qemu_m4000_normalizes_to_linux_memblock() {
        let l = normalize(&qemu_m4000(), &[], &LayoutOptions::default()).unwrap();
        assert_eq!(
            l.memory,
            vec![
                MemRange { start_pfn: 0, end_pfn: 0x9f, nid: 0 },
                MemRange { start_pfn: 0x100, end_pfn: 0xbffe0, nid: 0 },
                MemRange { start_pfn: 0x100000, end_pfn: 0x13a000, nid: 0 },
            ]
        );
        assert_eq!(
            l.reserved,
            vec![Reservation { start_pfn: 0x1000, end_pfn: 0x1571, reason: ReserveReason::Bootloader }]
        );
        // The two bootloader regions merged into one region, as did nothing else.
        assert_eq!(l.regions.len(), 10);
        assert!(l.notes.iter().any(|n| matches!(n, LayoutNote::TrimmedRam { end_pfn: 0x9f, .. })));
    }

    #[test]
    fn x86_quirks_reserve_page_0_and_remove_the_bios_area() {
        let (regions, lines) = x86_e820_quirks(&qemu_m4000());
        assert_eq!(lines[0], "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved");
        assert_eq!(lines[1], "e820: remove [mem 0x000a0000-0x000fffff] usable");
        let l = normalize(&regions, &[], &LayoutOptions::default()).unwrap();
        assert_eq!(l.memory[0], MemRange { start_pfn: 1, end_pfn: 0x9f, nid: 0 });
        assert_eq!(l.memory[1].start_pfn, 0x100);
        // RAM reported across the BIOS area is split around it.
        let (r, _) = x86_e820_quirks(&[fr(0, 0x200000, Usable)]);
        assert_eq!(r, vec![fr(0, 0x1000, Reserved), fr(0x1000, 0xa0000, Usable), fr(0x100000, 0x200000, Usable)]);
    }

    #[test]
    fn mem_and_memmap_options_change_the_map() {
        use crate::cmdline::{MemmapEntry, MemmapKind};
        // mem=4000M on a bigger map: RAM ends mid-section; memmap=64M$0x20000000 carves a reserved hole.
        let (r, lines) = apply_user_map(
            &[fr(0, 0x9fc00, Usable), fr(0x100000, 0x200000000, Usable)],
            Some(4000 << 20),
            &[MemmapEntry::Add { kind: MemmapKind::Reserved, size: 64 << 20, start: 0x20000000 }],
        );
        assert_eq!(lines[0], "e820: remove [mem 0xfa000000-0xfffffffffffffffe] usable");
        assert_eq!(lines[1], "user-defined physical RAM map:");
        let l = normalize(&r, &[], &LayoutOptions::default()).unwrap();
        assert_eq!(
            l.memory,
            vec![
                MemRange { start_pfn: 0, end_pfn: 0x9f, nid: 0 },
                MemRange { start_pfn: 0x100, end_pfn: 0x20000, nid: 0 },
                MemRange { start_pfn: 0x24000, end_pfn: 0xfa000, nid: 0 },
            ]
        );
        let (r, _) = apply_user_map(
            &r,
            None,
            &[MemmapEntry::Exactmap, MemmapEntry::Add { kind: MemmapKind::Ram, size: 1 << 30, start: 1 << 32 }],
        );
        assert_eq!(r, vec![fr(1 << 32, (1 << 32) + (1 << 30), Usable)]);
        let (r, _) = apply_user_map(
            &[fr(0, 1 << 30, Usable)],
            None,
            &[MemmapEntry::Update { size: 1 << 20, start: 1 << 20, from: Some(1), to: Some(2) }],
        );
        assert_eq!(r, vec![fr(0, 1 << 20, Usable), fr(2 << 20, 1 << 30, Usable), fr(1 << 20, 2 << 20, Reserved)]);
    }

    #[test]
    fn overlaps_resolved_by_precedence_and_noted() {
        let l = normalize(
            &[fr(0, 0x10000, Usable), fr(0x8000, 0x20000, Reserved), fr(0x1f000, 0x30000, AcpiNvs)],
            &[],
            &LayoutOptions::default(),
        )
        .unwrap();
        assert_eq!(
            l.regions,
            vec![fr(0, 0x8000, Usable), fr(0x8000, 0x1f000, Reserved), fr(0x1f000, 0x30000, AcpiNvs)]
        );
        assert_eq!(l.notes.len(), 3);
        assert_eq!(l.notes[2], LayoutNote::RamAtPfnZero { end_pfn: 8 });
        assert!(matches!(
            l.notes[0],
            LayoutNote::Overlap { start: 0x8000, end: 0x10000, winner: Reserved, loser: Usable }
        ));
        assert_eq!(l.memory, vec![MemRange { start_pfn: 0, end_pfn: 8, nid: 0 }]);
    }

    #[test]
    fn unsorted_duplicates_and_empty_regions() {
        let l = normalize(
            &[
                fr(0x100000, 0x200000, Usable),
                fr(0, 0x1000, Usable),
                fr(0x100000, 0x200000, Usable),
                fr(5, 5, Reserved),
            ],
            &[],
            &LayoutOptions::default(),
        )
        .unwrap();
        assert_eq!(l.memory.len(), 2);
        assert_eq!(
            l.notes,
            vec![
                LayoutNote::Duplicate { index: 2, first: 0 },
                LayoutNote::DroppedEmpty { index: 3 },
                LayoutNote::RamAtPfnZero { end_pfn: 1 }
            ]
        );
    }

    #[test]
    fn errors_are_named() {
        let o = LayoutOptions::default();
        assert_eq!(
            normalize(&[fr(10, 5, Usable)], &[], &o),
            Err(LayoutError::Inverted { index: 0, start: 10, end: 5 })
        );
        assert!(matches!(normalize(&[fr(0, 1 << 47, Usable)], &[], &o), Err(LayoutError::BeyondPhysmem { .. })));
        assert!(normalize(&[fr(0, 1 << 47, Usable)], &[], &LayoutOptions::five_level()).is_ok());
        let many: Vec<_> = (0..E820_MAX_ENTRIES as u64 + 1).map(|i| fr(i << 20, (i << 20) + 4096, Usable)).collect();
        assert_eq!(
            normalize(&many, &[], &o),
            Err(LayoutError::TooManyRegions { count: E820_MAX_ENTRIES + 1, max: E820_MAX_ENTRIES })
        );
        assert_eq!(normalize(&[fr(0, 100, Usable)], &[], &o), Err(LayoutError::NoMemory));
        let n = |nid, start, end| NumaAffinity { nid, start, end, hotplug: false };
        assert_eq!(
            normalize(&[fr(0, 1 << 30, Usable)], &[n(64, 0, 1 << 30)], &o),
            Err(LayoutError::NodeOutOfRange { nid: 64 })
        );
        assert!(matches!(
            normalize(&[fr(0, 1 << 30, Usable)], &[n(0, 0, 1 << 29), n(1, 1 << 28, 1 << 30)], &o),
            Err(LayoutError::NumaOverlap { a: 0, b: 1, .. })
        ));
        assert!(matches!(
            normalize(&[fr(0, 1 << 30, Usable)], &[n(0, 0, 1 << 29)], &o),
            Err(LayoutError::NumaCoverage { uncovered_bytes: 0x2000_0000, .. })
        ));
        for e in [LayoutError::NoMemory, LayoutError::NodeOutOfRange { nid: 70 }] {
            assert!(!alloc::format!("{}", e).is_empty());
        }
    }

    #[test]
    fn numa_split_and_small_gaps_dropped_with_note() {
        let n = |nid, start, end| NumaAffinity { nid, start, end, hotplug: false };
        // pc -m 4000M with two nodes of 2000M (qemu-layouts.md).
        let l = normalize(
            &qemu_m4000(),
            &[n(0, 0, 0xa0000), n(0, 0x100000, 0x7d000000), n(1, 0x7d000000, 0xc0000000), n(1, 1 << 32, 0x13a000000)],
            &LayoutOptions::default(),
        )
        .unwrap();
        assert_eq!(
            l.memory,
            vec![
                MemRange { start_pfn: 0, end_pfn: 0x9f, nid: 0 },
                MemRange { start_pfn: 0x100, end_pfn: 0x7d000, nid: 0 },
                MemRange { start_pfn: 0x7d000, end_pfn: 0xbffe0, nid: 1 },
                MemRange { start_pfn: 0x100000, end_pfn: 0x13a000, nid: 1 },
            ]
        );
        // A 64 KiB gap in coverage is dropped and noted, not an error.
        let l = normalize(
            &[fr(0, 1 << 30, Usable)],
            &[n(0, 0, 0x10000000), n(1, 0x10010000, 1 << 30)],
            &LayoutOptions::default(),
        )
        .unwrap();
        assert_eq!(l.uncovered_bytes, 0x10000);
        assert!(l.notes.contains(&LayoutNote::RamWithoutNode { start_pfn: 0x10000, end_pfn: 0x10010 }));
        assert_eq!(l.memory_pages(), (1 << 18) - 16);
    }

    #[test]
    fn from_memory_ranges_sorts_and_rejects_overlap() {
        let m = |s, e, nid| MemRange { start_pfn: s, end_pfn: e, nid };
        let l = Layout::from_memory_ranges(&[m(0x1000, 0x2000, 0), m(1, 0x9e, 1)]).unwrap();
        assert_eq!(l.memory[0], m(1, 0x9e, 1));
        assert!(Layout::from_memory_ranges(&[m(0, 10, 0), m(5, 20, 1)]).is_err());
    }

    #[test]
    fn efi_types_as_linux_efi_stub() {
        assert_eq!(RegionKind::from_efi_type(10), Some(RegionKind::AcpiNvs));
        assert_eq!(RegionKind::from_efi_type(9), Some(RegionKind::AcpiData));
        for t in [0, 5, 6, 11, 12, 13] {
            assert_eq!(RegionKind::from_efi_type(t), Some(RegionKind::Reserved), "type {t}");
        }
        for t in [1, 2, 3, 4, 7] {
            assert_eq!(RegionKind::from_efi_type(t), Some(RegionKind::Usable), "type {t}");
        }
        assert_eq!(RegionKind::from_efi_type(8), Some(RegionKind::Unusable));
        assert_eq!(RegionKind::from_efi_type(14), Some(RegionKind::Pmem));
        assert_eq!(RegionKind::from_efi_type(15), None);
    }
}
