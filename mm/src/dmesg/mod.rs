//! Linux boot logs as people paste them: the facts the simulator needs, and the lines it must reproduce.
//!
//! # The picture
//! The simulator's input is a boot log: `dmesg` output, a serial console capture, a syslog excerpt, a mail quote.
//! [`parse`] reads it line by line and collects, in a [`BootLog`]:
//! - the firmware map: `BIOS-e820:` and `Xen:` lines ([`BootLog::e820`]), the `user:` / `modified:` lines of a
//!   user-defined map ([`BootLog::e820_user`], printed after `memmap=` / `mem=`), `efi: memNN:` lines
//!   ([`BootLog::efi`], converted as Linux's `do_add_efi_memmap` does), and the `e820: update` / `e820: remove`
//!   adjustments ([`BootLog::e820_adjustments`]); [`BootLog::firmware_map`] picks the best of them;
//! - NUMA: `ACPI: SRAT: Node N PXM P [mem ...]` lines (and the older `SRAT: Node N PXM P start-end` form);
//! - what Linux's memmap init saw: the `Zone ranges:`, `Movable zone start for each node` and `Early memory node
//!   ranges` blocks (also the older `Early memory PFN ranges` / `0x... -> 0x...` forms);
//! - the lines the simulator must reproduce: `On node N, zone Z: K pages in unavailable ranges` (5.14 on and
//!   backports), `  DMA zone: K pages in unavailable ranges` (5.12-5.13), `Zeroed struct page in unavailable
//!   ranges: N pages` (4.20-5.11), `Reserved but unavailable: N pages` (4.17-4.19), `Initmem setup node N ...`;
//! - the kernel release (`Linux version X.Y...`), which names the era of the hole policy;
//! - the command line (`Command line:`, else `Kernel command line:`).
//!
//! Each line is first reduced to its message: a trailing `\r` and leading mail quote markers (`>`) go, then any
//! leading `<N>` printk level, bracketed prefixes (`[    0.000000]`, `[    T0]`, `[Tue Mar  2 10:33:11 2021]`) and a
//! syslog prefix ending in `kernel: ` are stripped, in any order. Block items are recognized by their content, so
//! their indentation does not matter.
//!
//! # Invariants
//! - [`parse`] never fails and never panics; every line that starts like a known line but does not parse becomes
//!   a [`Warning`] with its line number and the reason. Nothing that matched a known prefix is dropped silently.
//!   Warnings beyond [`MAX_WARNINGS`] are counted in [`BootLog::warnings_dropped`], not stored.
//! - Ranges are stored with exclusive ends; an inclusive end of `u64::MAX` or an end before the start is a
//!   warning, not a wraparound. A range beyond 2^MAX_PHYSMEM_BITS is clipped there (or dropped when it starts
//!   there), with a warning. Page-granular facts (zone ranges, node ranges, movable starts) that are not page
//!   aligned are warnings.
//! - A log holding two boots (a second `Linux version`, `BIOS-provided physical RAM map:` or `Zone ranges:` after
//!   the first boot's `Zone ranges:`) yields the last boot, with a warning naming the line where it starts and the
//!   lines left out; the warnings of the earlier boot are kept.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::consts::{MAX_PHYSMEM_BITS, PAGE_SHIFT, PAGE_SIZE};
use crate::layout::{FirmwareRegion, MemRange, NumaAffinity, RegionKind};
use crate::zones::{ZoneType, MAX_NR_ZONES};

/// Warnings stored at most; more are only counted.
pub const MAX_WARNINGS: usize = 1000;
/// Bytes of a line kept in a warning.
pub const WARNING_TEXT_MAX: usize = 160;

/// An `e820: update` or `e820: remove` line: a change Linux made to the firmware map after printing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820Adjustment {
    /// `e820: update [mem a-b] from ==> to`: bytes `[start, end)` of kind `from` become `to`.
    Update { start: u64, end: u64, from: RegionKind, to: RegionKind },
    /// `e820: remove [mem a-b] kind`: bytes `[start, end)` of `kind` (of any kind for `None`) are removed.
    Remove { start: u64, end: u64, kind: Option<RegionKind> },
}

/// An `SRAT: Node N PXM P [mem ...]` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SratLine {
    pub nid: u32,
    pub pxm: u32,
    /// Bytes `[start, end)`.
    pub start: u64,
    pub end: u64,
    pub hotplug: bool,
    pub non_volatile: bool,
}

/// The `Zone ranges:` block: pfn ranges `[start_pfn, end_pfn)` by zone index (`None`: printed `empty`, or not
/// printed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneRanges {
    pub ranges: [Option<(u64, u64)>; MAX_NR_ZONES],
    /// A `Device` line was printed (CONFIG_ZONE_DEVICE).
    pub device_line: bool,
}

impl ZoneRanges {
    /// The range of a zone.
    pub fn get(&self, z: ZoneType) -> Option<(u64, u64)> {
        self.ranges.get(z.index()).copied().flatten()
    }
}

/// An `Initmem setup node N ...` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitmemSetup {
    pub nid: u32,
    /// Bytes `[start, end)`; `None` for `as memoryless`. The pre-2022 memory-less form `[mem 0x0-0x0]` is
    /// `Some((0, 0))`.
    pub range: Option<(u64, u64)>,
}

/// The `Linux version X.Y...` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxVersion {
    pub major: u32,
    pub minor: u32,
    /// The release as printed (`5.10.0-8-amd64`), cut to [`WARNING_TEXT_MAX`] bytes.
    pub release: String,
}

/// A line that started like a known line and did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number in the input.
    pub line: usize,
    pub reason: String,
    /// The line (its message part), cut to [`WARNING_TEXT_MAX`] bytes.
    pub text: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {:?}", self.line, self.reason, self.text)
    }
}

/// Everything [`parse`] found. All fields may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootLog {
    /// `BIOS-e820:` / `Xen:` map lines in order (exclusive ends).
    pub e820: Vec<FirmwareRegion>,
    /// `user:` / `modified:` map lines (the map after `mem=` / `memmap=`).
    pub e820_user: Vec<FirmwareRegion>,
    /// `efi: memNN:` lines converted to e820 kinds.
    pub efi: Vec<FirmwareRegion>,
    /// `e820: update` / `e820: remove` lines in order.
    pub e820_adjustments: Vec<E820Adjustment>,
    pub srat: Vec<SratLine>,
    /// `None` when the log has no `Zone ranges:` block.
    pub zone_ranges: Option<ZoneRanges>,
    /// `(nid, pfn)` from the `Movable zone start for each node` block.
    pub movable_zone_start: Vec<(u32, u64)>,
    /// The `Early memory node ranges` block.
    pub early_node_ranges: Vec<MemRange>,
    /// `(nid, zone, pages)` from `On node N, zone Z: K pages in unavailable ranges`, in order.
    pub unavailable: Vec<(u32, ZoneType, u64)>,
    /// `Zeroed struct page in unavailable ranges: N pages` (Linux 4.20-5.11).
    pub zeroed_unavailable: Option<u64>,
    /// `(zone, pages)` from the 5.12-5.13 form `  DMA zone: N pages in unavailable ranges`, in order.
    pub zone_unavailable: Vec<(ZoneType, u64)>,
    /// `Reserved but unavailable: N pages` (Linux 4.17-4.19, `zero_resv_unavail`).
    pub reserved_unavailable: Option<u64>,
    /// `(major, minor)` and the release string from the `Linux version` line that starts the boot read.
    pub linux_version: Option<LinuxVersion>,
    pub initmem_setup: Vec<InitmemSetup>,
    pub command_line: Option<String>,
    pub warnings: Vec<Warning>,
    /// Warnings beyond [`MAX_WARNINGS`].
    pub warnings_dropped: usize,
    /// Lines read.
    pub lines: usize,
}

impl BootLog {
    /// The firmware map the simulator should start from: the user-defined map if Linux printed one, else the
    /// `BIOS-e820:` / `Xen:` map, else the EFI map.
    pub fn firmware_map(&self) -> &[FirmwareRegion] {
        if !self.e820_user.is_empty() {
            &self.e820_user
        } else if !self.e820.is_empty() {
            &self.e820
        } else {
            &self.efi
        }
    }

    /// The SRAT lines as layout input.
    pub fn srat_affinity(&self) -> Vec<NumaAffinity> {
        self.srat.iter().map(|s| NumaAffinity { nid: s.nid, start: s.start, end: s.end, hotplug: s.hotplug }).collect()
    }

    /// `[start, end)` (in units of `1 << shift` bytes) as the memory model can hold it: below 2^MAX_PHYSMEM_BITS.
    /// A range that ends above is clipped, one that starts above is dropped, each with a warning (Linux clips
    /// such ranges too: `mminit_validate_memmodel_limits`).
    fn physmem(&mut self, line: usize, text: &str, start: u64, end: u64, shift: u32) -> Option<(u64, u64)> {
        let limit = (1u64 << MAX_PHYSMEM_BITS) >> shift;
        if end <= limit {
            return Some((start, end));
        }
        let bits = MAX_PHYSMEM_BITS;
        if start >= limit {
            self.warn(line, format!("starts beyond MAX_PHYSMEM_BITS {bits} ({:#x}); dropped", 1u64 << bits), text);
            None
        } else {
            self.warn(line, format!("ends beyond MAX_PHYSMEM_BITS {bits}; clipped at {:#x}", 1u64 << bits), text);
            Some((start, limit))
        }
    }

    fn warn(&mut self, line: usize, reason: String, text: &str) {
        if self.warnings.len() >= MAX_WARNINGS {
            self.warnings_dropped = self.warnings_dropped.saturating_add(1);
            return;
        }
        self.warnings.push(Warning { line, reason, text: cut(text, WARNING_TEXT_MAX).to_string() });
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut n = text.len().min(max);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    &text[..n]
}

/// Parses a boot log given as bytes (invalid UTF-8 is replaced, not rejected).
pub fn parse_bytes(bytes: &[u8]) -> BootLog {
    let text: Cow<'_, str> = String::from_utf8_lossy(bytes);
    parse(&text)
}

/// Parses a boot log. See the module documentation.
pub fn parse(text: &str) -> BootLog {
    let mut p = Parser { log: BootLog::default(), block: Block::None, linux_version_seen: false };
    for (i, raw) in text.lines().enumerate() {
        let line = i.saturating_add(1);
        p.line(line, message(raw));
        p.log.lines = line;
    }
    p.log
}

mod fields;
mod message;
mod parser;

use fields::*;
pub use message::message;
use parser::*;

#[cfg(test)]
mod tests;
