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

mod normalize;
mod x86;

pub use normalize::*;
pub use x86::*;

#[cfg(test)]
mod tests;
