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
//! - the lines the simulator must reproduce: `On node N, zone Z: K pages in unavailable ranges`, `Zeroed struct
//!   page in unavailable ranges: N pages`, `Initmem setup node N ...`;
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
//!   warning, not a wraparound. Page-granular facts (zone ranges, node ranges, movable starts) that are not page
//!   aligned are warnings.
//! - A log holding two boots (a second `Linux version`, `BIOS-provided physical RAM map:` or `Zone ranges:` after
//!   the first boot's `Zone ranges:`) is read up to the second boot only, with a warning.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::consts::{PAGE_SHIFT, PAGE_SIZE};
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
    /// `Zeroed struct page in unavailable ranges: N pages`.
    pub zeroed_unavailable: Option<u64>,
    pub initmem_setup: Vec<InitmemSetup>,
    pub command_line: Option<String>,
    pub warnings: Vec<Warning>,
    /// Warnings beyond [`MAX_WARNINGS`].
    pub warnings_dropped: usize,
    /// Lines read (up to a second boot).
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

    fn warn(&mut self, line: usize, reason: String, text: &str) {
        if self.warnings.len() >= MAX_WARNINGS {
            self.warnings_dropped = self.warnings_dropped.saturating_add(1);
            return;
        }
        let mut cut = text.len().min(WARNING_TEXT_MAX);
        while !text.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        self.warnings.push(Warning { line, reason, text: text.get(..cut).unwrap_or("").to_string() });
    }
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
        if !p.line(line, message(raw)) {
            break;
        }
        p.log.lines = line;
    }
    p.log
}

// ---------------------------------------------------------------------------------------------------------------
// Message extraction

/// The message of a log line: see the module documentation for what is stripped.
fn message(raw: &str) -> &str {
    let mut s = raw.trim_end_matches(['\r', '\n']).trim_start();
    while let Some(rest) = s.strip_prefix('>') {
        s = rest.trim_start();
    }
    // Each pass strips one prefix; at most a handful apply, the bound only guarantees termination.
    for _ in 0..8 {
        let before = s.len();
        if let Some(rest) = s.strip_prefix('<') {
            if let Some((level, after)) = rest.split_once('>') {
                if !level.is_empty() && level.bytes().all(|c| c.is_ascii_digit()) {
                    s = after.trim_start();
                }
            }
        }
        if let Some(rest) = s.strip_prefix('[') {
            if let Some((_, after)) = rest.split_once(']') {
                s = after.trim_start();
            }
        }
        if let Some(pos) = s.find("kernel: ") {
            let head = s.get(..pos).unwrap_or("");
            if pos < 100 && !head.contains('[') && !head.contains(':') || head_is_syslog(head) {
                s = s.get(pos.saturating_add(8)..).unwrap_or("").trim_start();
            }
        }
        if s.len() == before {
            break;
        }
    }
    s.trim_end()
}

/// A syslog / journal head such as `Mar  2 10:33:11 host ` or `2021-03-02T10:33:11.123+01:00 host `: short, no
/// brackets, and a time `hh:mm:ss` in it.
fn head_is_syslog(head: &str) -> bool {
    let b = head.as_bytes();
    let time_at = |i: usize| {
        let d = |k: usize| b.get(i.saturating_add(k)).is_some_and(|c| c.is_ascii_digit());
        let colon = |k: usize| b.get(i.saturating_add(k)) == Some(&b':');
        d(0) && d(1) && colon(2) && d(3) && d(4) && colon(5) && d(6) && d(7)
    };
    head.len() < 100 && !head.contains('[') && (0..b.len()).any(time_at)
}

// ---------------------------------------------------------------------------------------------------------------
// Small parsers. Each returns Err(reason) for a warning.

type R<T> = Result<T, String>;

fn hex(s: &str) -> R<u64> {
    let d = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a hex number", s));
    }
    u64::from_str_radix(d, 16).map_err(|_| format!("{:?} does not fit in 64 bits", s))
}

fn dec(s: &str) -> R<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{:?} is not a decimal number", s));
    }
    s.parse::<u64>().map_err(|_| format!("{:?} does not fit in 64 bits", s))
}

fn dec32(s: &str) -> R<u32> {
    let v = dec(s)?;
    u32::try_from(v).map_err(|_| format!("{} does not fit in 32 bits", v))
}

/// Inclusive `a-b` (hex) to `[a, b + 1)`.
fn inclusive(a: &str, b: &str) -> R<(u64, u64)> {
    let (start, last) = (hex(a.trim())?, hex(b.trim())?);
    if last < start {
        return Err(format!("range ends ({:#x}) before it starts ({:#x})", last, start));
    }
    let end = last.checked_add(1).ok_or_else(|| "range end overflows 64 bits".to_string())?;
    Ok((start, end))
}

/// Exclusive `a-b` / `a - b` (hex) to `[a, b)`.
fn exclusive(a: &str, b: &str) -> R<(u64, u64)> {
    let (start, end) = (hex(a.trim())?, hex(b.trim())?);
    if end < start {
        return Err(format!("range ends ({:#x}) before it starts ({:#x})", end, start));
    }
    Ok((start, end))
}

/// `[mem 0xa-0xb]rest` -> `([a, b + 1), rest)`.
fn mem_range(s: &str) -> R<(u64, u64, &str)> {
    let s = s.trim_start().strip_prefix("[mem ").ok_or_else(|| "expected \"[mem \"".to_string())?;
    let (inner, rest) = s.split_once(']').ok_or_else(|| "missing \"]\"".to_string())?;
    let (a, b) = inner.split_once('-').ok_or_else(|| "missing \"-\" in the range".to_string())?;
    let (start, end) = inclusive(a, b)?;
    Ok((start, end, rest))
}

/// A byte range to a pfn range; both ends must be page aligned.
fn pfns(start: u64, end: u64) -> R<(u64, u64)> {
    if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) {
        return Err(format!("range [{:#x}, {:#x}) is not page aligned", start, end));
    }
    Ok((start >> PAGE_SHIFT, end >> PAGE_SHIFT))
}

/// Linux's e820 type names (`e820_print_type`), also in the older `(name)` form.
fn e820_kind(name: &str) -> R<RegionKind> {
    let n = name.trim();
    let n = n.strip_prefix('(').and_then(|x| x.strip_suffix(')')).unwrap_or(n);
    Ok(match n {
        "usable" => RegionKind::Usable,
        "reserved" => RegionKind::Reserved,
        "ACPI data" => RegionKind::AcpiData,
        "ACPI NVS" => RegionKind::AcpiNvs,
        "unusable" => RegionKind::Unusable,
        "soft reserved" => RegionKind::SoftReserved,
        // The /proc/iomem name of a type Linux does not know; the number is not in the text.
        "Unknown E820 type" => RegionKind::E820Type(0),
        _ => {
            let num = n
                .strip_prefix("persistent (type ")
                .and_then(|x| x.strip_suffix(')'))
                .or_else(|| n.strip_prefix("type "))
                .ok_or_else(|| format!("unknown e820 type {:?}", n))?;
            RegionKind::from_e820_type(dec32(num)?)
        }
    })
}

/// A map line after its prefix: `[mem 0xa-0xb] type` or the old `a - b (type)` with an exclusive end.
fn map_line(rest: &str) -> R<FirmwareRegion> {
    let rest = rest.trim();
    if rest.starts_with("[mem ") {
        let (start, end, t) = mem_range(rest)?;
        return Ok(FirmwareRegion::new(start, end, e820_kind(t)?));
    }
    let (a, tail) = rest.split_once(" - ").ok_or_else(|| "expected \"[mem a-b]\" or \"a - b\"".to_string())?;
    let (b, t) = tail.trim_start().split_once(' ').ok_or_else(|| "missing the type".to_string())?;
    let (start, end) = exclusive(a, b)?;
    Ok(FirmwareRegion::new(start, end, e820_kind(t)?))
}

/// EFI memory types as Linux names them (efi_md_typeattr_format; long forms of v4.x included).
fn efi_type_by_name(name: &str) -> Option<u32> {
    const NAMES: &[(&str, u32)] = &[
        ("Reserved", 0),
        ("Loader Code", 1),
        ("Loader Data", 2),
        ("Boot Code", 3),
        ("Boot Data", 4),
        ("Runtime Code", 5),
        ("Runtime Data", 6),
        ("Conventional", 7),
        ("Unusable", 8),
        ("ACPI Reclaim", 9),
        ("ACPI Mem NVS", 10),
        ("ACPI Memory NVS", 10),
        ("MMIO Port", 12),
        ("MMIO", 11),
        ("Memory Mapped I/O", 11),
        ("PAL Code", 13),
        ("Persistent", 14),
        ("Unaccepted", 15),
    ];
    NAMES.iter().find(|(n, _)| name.starts_with(n)).map(|&(_, t)| t)
}

/// arch/x86/platform/efi/efi.c `do_add_efi_memmap`: the e820 kind of an EFI descriptor.
fn efi_kind(efi_type: u32, wb: bool, sp: bool) -> RegionKind {
    match efi_type {
        1..=4 | 7 if sp => RegionKind::SoftReserved,
        1..=4 | 7 if wb => RegionKind::Usable,
        9 => RegionKind::AcpiData,
        10 => RegionKind::AcpiNvs,
        8 => RegionKind::Unusable,
        14 => RegionKind::Pmem,
        _ => RegionKind::Reserved,
    }
}

/// `efi: memNN: ...` after `memNN: `: `[Name|...|WB|...] range=[a-b] (..MB)` (inclusive) or
/// `type=T, attrs=0xA, range=[a-b) (..MB)` (exclusive).
fn efi_line(rest: &str) -> R<FirmwareRegion> {
    let rest = rest.trim();
    let (kind_part, range_part) = rest.split_once("range=[").ok_or_else(|| "missing \"range=[\"".to_string())?;
    let (a, tail) = range_part.split_once('-').ok_or_else(|| "missing \"-\" in the range".to_string())?;
    let (b, inclusive_end) = match (tail.split_once(']'), tail.split_once(')')) {
        (Some((b, _)), None) => (b, true),
        (None, Some((b, _))) => (b, false),
        (Some((b1, _)), Some((b2, _))) => {
            if b1.len() < b2.len() {
                (b1, true)
            } else {
                (b2, false)
            }
        }
        (None, None) => return Err("missing the end of the range".to_string()),
    };
    let (start, end) = if inclusive_end { inclusive(a, b)? } else { exclusive(a, b)? };
    let kind_part = kind_part.trim();
    let kind = if let Some(attrs) = kind_part.strip_prefix('[') {
        let attrs = attrs.strip_suffix(']').ok_or_else(|| "missing \"]\" after the attributes".to_string())?;
        let mut fields = attrs.split('|');
        let name = fields.next().unwrap_or("").trim();
        let t = efi_type_by_name(name).ok_or_else(|| format!("unknown EFI memory type {:?}", name))?;
        let (mut wb, mut sp) = (false, false);
        for f in fields {
            match f.trim() {
                "WB" => wb = true,
                "SP" => sp = true,
                _ => {}
            }
        }
        efi_kind(t, wb, sp)
    } else {
        let t = kind_part
            .strip_prefix("type=")
            .and_then(|x| x.split_once(','))
            .ok_or_else(|| "expected \"[attributes]\" or \"type=T, attrs=0xA,\"".to_string())?;
        let efi_type = dec32(t.0.trim())?;
        let attrs =
            t.1.trim()
                .strip_prefix("attrs=")
                .and_then(|x| x.strip_suffix(','))
                .ok_or_else(|| "missing \"attrs=\"".to_string())?;
        let attrs = hex(attrs.trim())?;
        // EFI_MEMORY_WB 0x8, EFI_MEMORY_SP 0x40000.
        efi_kind(efi_type, attrs & 0x8 != 0, attrs & 0x4_0000 != 0)
    };
    Ok(FirmwareRegion::new(start, end, kind))
}

fn zone_by_name(name: &str) -> R<ZoneType> {
    ZoneType::ALL
        .iter()
        .copied()
        .find(|z| z.name() == name)
        .ok_or_else(|| format!("zone {:?} is not one of DMA, DMA32, Normal, Movable (x86_64)", name))
}

/// `Node N PXM P [mem a-b]( hotplug)?( non-volatile)?` or the old `Node N PXM P a-b` (exclusive, bare hex).
fn srat_line(rest: &str) -> R<SratLine> {
    let rest = rest.trim_start().strip_prefix("Node ").ok_or_else(|| "expected \"Node \"".to_string())?;
    let (nid, rest) = rest.trim_start().split_once(' ').ok_or_else(|| "missing \"PXM\"".to_string())?;
    let rest = rest.trim_start().strip_prefix("PXM ").ok_or_else(|| "missing \"PXM\"".to_string())?;
    let (pxm, rest) = rest.trim_start().split_once(' ').ok_or_else(|| "missing the range".to_string())?;
    let (nid, pxm) = (dec32(nid)?, dec32(pxm)?);
    let (start, end, flags) = if rest.trim_start().starts_with("[mem ") {
        mem_range(rest)?
    } else {
        let rest = rest.trim_start();
        let (range, flags) = rest.split_once(' ').unwrap_or((rest, ""));
        let (a, b) = range.split_once('-').ok_or_else(|| "missing \"-\" in the range".to_string())?;
        let (s, e) = exclusive(a, b)?;
        (s, e, flags)
    };
    let (mut hotplug, mut non_volatile) = (false, false);
    for f in flags.split_whitespace() {
        match f {
            "hotplug" => hotplug = true,
            "non-volatile" => non_volatile = true,
            _ => return Err(format!("unknown flag {:?} after the range", f)),
        }
    }
    Ok(SratLine { nid, pxm, start, end, hotplug, non_volatile })
}

fn unavailable_line(rest: &str) -> R<(u32, ZoneType, u64)> {
    // After "On node ": "N, zone Z: K pages in unavailable ranges".
    let (nid, rest) = rest.split_once(", zone ").ok_or_else(|| "missing \", zone \"".to_string())?;
    let (zone, rest) = rest.split_once(": ").ok_or_else(|| "missing \": \" after the zone".to_string())?;
    let pages = rest
        .strip_suffix(" pages in unavailable ranges")
        .ok_or_else(|| "missing \" pages in unavailable ranges\"".to_string())?;
    Ok((dec32(nid.trim())?, zone_by_name(zone.trim())?, dec(pages.trim())?))
}

fn initmem_line(rest: &str) -> R<InitmemSetup> {
    // After "Initmem setup node ".
    let (nid, rest) = rest.split_once(' ').ok_or_else(|| "missing the range".to_string())?;
    let nid = dec32(nid)?;
    let rest = rest.trim();
    if rest == "as memoryless" {
        return Ok(InitmemSetup { nid, range: None });
    }
    if rest.starts_with("[mem ") {
        let inner = rest.strip_prefix("[mem ").and_then(|x| x.strip_suffix(']')).unwrap_or("");
        if let Some((a, b)) = inner.split_once('-') {
            if hex(a)? == 0 && hex(b)? == 0 {
                return Ok(InitmemSetup { nid, range: Some((0, 0)) });
            }
        }
        let (start, end, tail) = mem_range(rest)?;
        if !tail.trim().is_empty() {
            return Err(format!("unexpected {:?} after the range", tail.trim()));
        }
        return Ok(InitmemSetup { nid, range: Some((start, end)) });
    }
    let (a, b) =
        rest.split_once('-').ok_or_else(|| "expected \"[mem a-b]\", \"a-b\" or \"as memoryless\"".to_string())?;
    Ok(InitmemSetup { nid, range: Some(exclusive(a, b)?) })
}

fn adjustment_line(update: bool, rest: &str) -> R<E820Adjustment> {
    let (start, end, tail) = mem_range(rest)?;
    let tail = tail.trim();
    if update {
        let (from, to) = tail.split_once("==>").ok_or_else(|| "missing \"==>\"".to_string())?;
        Ok(E820Adjustment::Update { start, end, from: e820_kind(from)?, to: e820_kind(to)? })
    } else {
        let kind = if tail.is_empty() { None } else { Some(e820_kind(tail)?) };
        Ok(E820Adjustment::Remove { start, end, kind })
    }
}

/// Whether the text after a map prefix looks like a range (new or old form), so that other lines with the same
/// prefix (`Xen: using vcpuop timer interface`) are not warned about.
fn looks_like_range(rest: &str) -> bool {
    let r = rest.trim_start();
    r.starts_with("[mem") || r.bytes().next().is_some_and(|c| c.is_ascii_hexdigit()) && r.contains(" - ")
}

// ---------------------------------------------------------------------------------------------------------------
// The line machine

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    ZoneRanges,
    MovableZoneStart,
    EarlyNodeRanges,
}

struct Parser {
    log: BootLog,
    block: Block,
    linux_version_seen: bool,
}

impl Parser {
    /// Handles one line; false when a second boot starts (stop reading).
    fn line(&mut self, n: usize, msg: &str) -> bool {
        if msg.is_empty() {
            self.block = Block::None;
            return true;
        }
        // A second boot in the same file.
        let boot_start = msg.starts_with("Linux version ") && self.linux_version_seen
            || (msg == "BIOS-provided physical RAM map:" || msg == "Zone ranges:") && self.log.zone_ranges.is_some();
        if boot_start {
            self.log.warn(n, "a second boot starts here; only the first boot is read".to_string(), msg);
            return false;
        }
        if msg.starts_with("Linux version ") {
            self.linux_version_seen = true;
        }
        let header = matches!(
            msg,
            "Zone ranges:"
                | "Movable zone start for each node"
                | "Early memory node ranges"
                | "Early memory PFN ranges"
        );
        if self.block != Block::None && !header && self.block_item(n, msg) {
            return true;
        }
        self.block = Block::None;
        self.top_level(n, msg);
        true
    }

    /// Handles a line inside a block; false when the line is not an item of the block (the block ends).
    fn block_item(&mut self, n: usize, msg: &str) -> bool {
        match self.block {
            Block::None => false,
            Block::ZoneRanges => {
                let (name, rest) = msg.split_once(char::is_whitespace).unwrap_or((msg, ""));
                if !matches!(name, "DMA" | "DMA32" | "Normal" | "Movable" | "HighMem" | "Device") {
                    return false;
                }
                let r = zone_range_item(name, rest.trim());
                match r {
                    Ok(item) => self.zone_range(n, msg, item),
                    Err(e) => self.log.warn(n, e, msg),
                }
                true
            }
            Block::MovableZoneStart => {
                let Some(rest) = msg.strip_prefix("Node ") else { return false };
                let r = rest
                    .split_once(':')
                    .ok_or_else(|| "missing \":\"".to_string())
                    .and_then(|(nid, addr)| Ok((dec32(nid.trim())?, hex(addr.trim())?)))
                    .and_then(|(nid, addr)| {
                        if !addr.is_multiple_of(PAGE_SIZE) {
                            Err(format!("{:#x} is not page aligned", addr))
                        } else {
                            Ok((nid, addr >> PAGE_SHIFT))
                        }
                    });
                match r {
                    Ok(v) => self.log.movable_zone_start.push(v),
                    Err(e) => self.log.warn(n, e, msg),
                }
                true
            }
            Block::EarlyNodeRanges => {
                let r = if let Some(rest) = msg.strip_prefix("node ") {
                    rest.split_once(':').ok_or_else(|| "missing \":\"".to_string()).and_then(|(nid, range)| {
                        let nid = dec32(nid.trim())?;
                        let (start, end, tail) = mem_range(range)?;
                        if !tail.trim().is_empty() {
                            return Err(format!("unexpected {:?} after the range", tail.trim()));
                        }
                        let (start_pfn, end_pfn) = pfns(start, end)?;
                        Ok(MemRange { start_pfn, end_pfn, nid })
                    })
                } else if msg.bytes().next().is_some_and(|c| c.is_ascii_digit()) && msg.contains("->") {
                    // Before v3.x: "%3d: 0x%08lx -> 0x%08lx" with pfns and an exclusive end.
                    msg.split_once(':').ok_or_else(|| "missing \":\"".to_string()).and_then(|(nid, range)| {
                        let nid = dec32(nid.trim())?;
                        let (a, b) = range.split_once("->").ok_or_else(|| "missing \"->\"".to_string())?;
                        let (start_pfn, end_pfn) = exclusive(a, b)?;
                        Ok(MemRange { start_pfn, end_pfn, nid })
                    })
                } else {
                    return false;
                };
                match r {
                    Ok(v) => self.log.early_node_ranges.push(v),
                    Err(e) => self.log.warn(n, e, msg),
                }
                true
            }
        }
    }

    fn zone_range(&mut self, n: usize, msg: &str, item: (&str, Option<(u64, u64)>)) {
        let (name, range) = item;
        let Some(zr) = self.log.zone_ranges.as_mut() else { return };
        if name == "Device" {
            zr.device_line = true;
            if range.is_some() {
                self.log.warn(n, "ZONE_DEVICE with a range is not modelled".to_string(), msg);
            }
            return;
        }
        if name == "HighMem" {
            self.log.warn(n, "ZONE_HIGHMEM (32-bit) is not modelled".to_string(), msg);
            return;
        }
        let Ok(z) = zone_by_name(name) else { return };
        match zr.ranges.get_mut(z.index()) {
            Some(slot @ None) => *slot = range,
            Some(Some(_)) => self.log.warn(n, format!("zone {} printed twice; the first line is kept", name), msg),
            None => {}
        }
    }

    fn top_level(&mut self, n: usize, msg: &str) {
        let log = &mut self.log;
        let ms = msg.strip_prefix("ACPI: ").unwrap_or(msg);
        if let Some(rest) = msg.strip_prefix("BIOS-e820:") {
            match map_line(rest) {
                Ok(r) => log.e820.push(r),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Xen:").filter(|r| looks_like_range(r)) {
            match map_line(rest) {
                Ok(r) => log.e820.push(r),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) =
            msg.strip_prefix("user:").or_else(|| msg.strip_prefix("modified:")).filter(|r| looks_like_range(r))
        {
            match map_line(rest) {
                Ok(r) => log.e820_user.push(r),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("efi: mem").and_then(|r| {
            let (num, tail) = r.split_once(": ")?;
            (!num.is_empty() && num.bytes().all(|c| c.is_ascii_digit())).then_some(tail)
        }) {
            match efi_line(rest) {
                Ok(r) => log.efi.push(r),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("e820: update ") {
            match adjustment_line(true, rest) {
                Ok(a) => log.e820_adjustments.push(a),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("e820: remove ") {
            match adjustment_line(false, rest) {
                Ok(a) => log.e820_adjustments.push(a),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = ms.strip_prefix("SRAT: ").filter(|r| r.starts_with("Node ")) {
            match srat_line(rest) {
                Ok(s) => log.srat.push(s),
                Err(e) => log.warn(n, e, msg),
            }
        } else if msg == "Zone ranges:" {
            log.zone_ranges = Some(ZoneRanges::default());
            self.block = Block::ZoneRanges;
        } else if msg == "Movable zone start for each node" {
            self.block = Block::MovableZoneStart;
        } else if msg == "Early memory node ranges" || msg == "Early memory PFN ranges" {
            self.block = Block::EarlyNodeRanges;
        } else if let Some(rest) = msg.strip_prefix("On node ").filter(|r| r.contains(" unavailable ranges")) {
            match unavailable_line(rest) {
                Ok(u) => log.unavailable.push(u),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Zeroed struct page in unavailable ranges:") {
            match rest.trim().strip_suffix(" pages").ok_or_else(|| "missing \" pages\"".to_string()).and_then(dec) {
                Ok(v) if log.zeroed_unavailable.is_none() => log.zeroed_unavailable = Some(v),
                Ok(_) => log.warn(n, "printed twice; the first line is kept".to_string(), msg),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Initmem setup node ") {
            match initmem_line(rest) {
                Ok(i) => log.initmem_setup.push(i),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Command line:") {
            if log.command_line.is_none() {
                log.command_line = Some(rest.trim().to_string());
            }
        } else if let Some(rest) = msg.strip_prefix("Kernel command line:") {
            if log.command_line.is_none() {
                log.command_line = Some(rest.trim().to_string());
            }
        }
    }
}

/// A `Zone ranges:` item after the zone name: `[mem a-b]`, `empty`, or the old pfn form `0xa -> 0xb`.
fn zone_range_item<'n>(name: &'n str, rest: &str) -> R<(&'n str, Option<(u64, u64)>)> {
    if rest == "empty" {
        return Ok((name, None));
    }
    if rest.starts_with("[mem ") {
        let (start, end, tail) = mem_range(rest)?;
        if !tail.trim().is_empty() {
            return Err(format!("unexpected {:?} after the range", tail.trim()));
        }
        return Ok((name, Some(pfns(start, end)?)));
    }
    let (a, b) = rest.split_once("->").ok_or_else(|| "expected \"[mem a-b]\", \"empty\" or \"a -> b\"".to_string())?;
    Ok((name, Some(exclusive(a, b)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;
    use RegionKind::*;

    const T5500: &str = include_str!("../tests/samples/dell-t5500-numa-off-linux-5.10.txt");
    const QEMU4: &str = include_str!("../tests/samples/qemu-i440fx-16g-4node.txt");

    fn fr(start: u64, end: u64, kind: RegionKind) -> FirmwareRegion {
        FirmwareRegion::new(start, end, kind)
    }
    fn mr(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
        MemRange { start_pfn, end_pfn, nid }
    }

    #[test]
    fn t5500_sample() {
        let l = parse(T5500);
        assert_eq!(l.warnings, vec![]);
        assert_eq!(
            l.e820,
            vec![
                fr(0, 0x9ec00, Usable),
                fr(0xf0000, 0x100000, Reserved),
                fr(0x100000, 0xcfdf9c00, Usable),
                fr(0xcfdf9c00, 0xcfe4bc00, AcpiNvs),
                fr(0xcfe4bc00, 0xcfe4dc00, AcpiData),
                fr(0xcfe4dc00, 0xd0000000, Reserved),
                fr(0xf8000000, 0xfd000000, Reserved),
                fr(0xfe000000, 0xfed00400, Reserved),
                fr(0xfee00000, 0xfef00000, Reserved),
                fr(0xffb00000, 0x100000000, Reserved),
                fr(0x100000000, 0xa30000000, Usable),
            ]
        );
        assert_eq!(
            l.e820_adjustments,
            vec![
                E820Adjustment::Update { start: 0, end: 0x1000, from: Usable, to: Reserved },
                E820Adjustment::Remove { start: 0xa0000, end: 0x100000, kind: Some(Usable) },
            ]
        );
        assert_eq!(l.srat, vec![]);
        let z = l.zone_ranges.unwrap();
        assert_eq!(z.get(ZoneType::Dma), Some((1, 0x1000)));
        assert_eq!(z.get(ZoneType::Dma32), Some((0x1000, 0x100000)));
        assert_eq!(z.get(ZoneType::Normal), Some((0x100000, 0xa30000)));
        assert_eq!(z.get(ZoneType::Movable), None);
        assert!(z.device_line);
        assert_eq!(l.movable_zone_start, vec![]);
        assert_eq!(l.early_node_ranges, vec![mr(1, 0x9e, 0), mr(0x100, 0xcfdf9, 0), mr(0x100000, 0xa30000, 0)]);
        assert_eq!(l.unavailable, vec![(0, ZoneType::Dma, 1), (0, ZoneType::Dma, 98), (0, ZoneType::Normal, 519)]);
        assert_eq!(l.zeroed_unavailable, None);
        assert_eq!(l.initmem_setup, vec![InitmemSetup { nid: 0, range: Some((0x1000, 0xa30000000)) }]);
        assert_eq!(l.command_line, None);
        assert_eq!(l.firmware_map(), &l.e820[..]);
    }

    #[test]
    fn qemu_4node_sample() {
        let l = parse(QEMU4);
        assert_eq!(l.warnings, vec![]);
        assert_eq!(l.e820.len(), 8);
        assert_eq!(l.e820[3], fr(0x100000, 0xbffdf000, Usable));
        assert_eq!(l.e820[7], fr(0x100000000, 0x440000000, Usable));
        assert_eq!(l.e820_adjustments, vec![]);
        let srat: Vec<(u32, u32, u64, u64, bool)> =
            l.srat.iter().map(|s| (s.nid, s.pxm, s.start, s.end, s.hotplug)).collect();
        assert_eq!(
            srat,
            vec![
                (0, 0, 0, 0xa0000, false),
                (0, 0, 0x100000, 0xc0000000, false),
                (0, 0, 0x100000000, 0x140000000, false),
                (1, 1, 0x140000000, 0x240000000, false),
                (2, 2, 0x240000000, 0x340000000, false),
                (3, 3, 0x340000000, 0x440000000, false),
            ]
        );
        assert_eq!(l.srat_affinity()[3], NumaAffinity { nid: 1, start: 0x140000000, end: 0x240000000, hotplug: false });
        let z = l.zone_ranges.unwrap();
        assert_eq!(z.get(ZoneType::Normal), Some((0x100000, 0x440000)));
        assert!(!z.device_line);
        assert_eq!(l.early_node_ranges.len(), 6);
        assert_eq!(
            l.early_node_ranges,
            vec![
                mr(1, 0x9f, 0),
                mr(0x100, 0xbffdf, 0),
                mr(0x100000, 0x140000, 0),
                mr(0x140000, 0x240000, 1),
                mr(0x240000, 0x340000, 2),
                mr(0x340000, 0x440000, 3),
            ]
        );
        let nodes: Vec<u32> = l.early_node_ranges.iter().map(|r| r.nid).collect();
        assert_eq!(nodes.iter().max(), Some(&3));
        assert_eq!(l.zeroed_unavailable, Some(131));
        assert_eq!(l.unavailable, vec![]);
        assert_eq!(l.initmem_setup.len(), 4);
        assert_eq!(l.initmem_setup[3], InitmemSetup { nid: 3, range: Some((0x340000000, 0x440000000)) });
    }

    #[test]
    fn prefixes_are_stripped() {
        let want = fr(0, 0x9fc00, Usable);
        for line in [
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "[    0.000000][    T0] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\r",
            "<6>[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "Mar  2 10:33:11 host kernel: [    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "Mar  2 10:33:11 host kernel: BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "2021-03-02T10:33:11.123456+01:00 host kernel: BIOS-e820: [mem 0x0-0x9fbff] usable",
            "kernel: BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "[Tue Mar  2 10:33:11 2021] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "> > [    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "[    0.000000] host kernel: BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "\t BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]   usable  ",
        ] {
            let l = parse(line);
            assert_eq!(l.e820, vec![want], "{}", line);
            assert_eq!(l.warnings, vec![], "{}", line);
        }
    }

    #[test]
    fn synthetic_log_crlf_garbage_and_blocks() {
        let log = "garbage \u{1F600} line\r\n\
                   Command line: BOOT_IMAGE=/vmlinuz movablecore=1G memmap=64M$0x10000000\r\n\
                   BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\r\n\
                   BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable\r\n\
                   BIOS-e820: 0000000100000000 - 0000000140000000 (usable)\r\n\
                   BIOS-e820: [mem 0x0000000140000000-0x000000014fffffff] persistent (type 12)\r\n\
                   BIOS-e820: [mem 0x0000000150000000-0x000000015fffffff] type 20\r\n\
                   BIOS-e820: [mem 0x0000000160000000-0x000000016fffffff] soft reserved\r\n\
                   BIOS-e820: [mem 0x0000000170000000-0x000000017fffffff] unusable\r\n\
                   e820: remove [mem 0x10000000-0x13ffffff] \r\n\
                   e820: update [mem 0x10000000-0x13ffffff] usable ==> reserved\r\n\
                   e820: reserve RAM buffer [mem 0x0009fc00-0x0009ffff]\r\n\
                   e820: user-defined physical RAM map:\r\n\
                   user: [mem 0x0000000000000000-0x000000000009fbff] usable\r\n\
                   user: [mem 0x0000000010000000-0x0000000013ffffff] reserved\r\n\
                   Kernel command line: ignored because Command line came first\r\n\
                   ACPI: SRAT: Node 1 PXM 0 [mem 0x140000000-0x2c5ffffff] hotplug\r\n\
                   SRAT: Node 0 PXM 1 0-a0000\r\n\
                   ACPI: SRAT: Node 0 PXM 1 [mem 0x100000000-0x13fffffff] hotplug non-volatile\r\n\
                   SRAT: PXM 0 -> APIC 0x00 -> Node 0\r\n\
                   Zone ranges:\r\n\
                   \x20 DMA      [mem 0x0000000000001000-0x0000000000ffffff]\r\n\
                   \x20 DMA32    empty\r\n\
                   \x20 Normal   [mem 0x0000000100000000-0x000000043fffffff]\r\n\
                   Movable zone start for each node\r\n\
                   \x20 Node 0: 0x0000000100000000\r\n\
                   \x20 Node 1: 0x0000000240000000\r\n\
                   Early memory node ranges\r\n\
                   \x20 node   0: [mem 0x0000000000001000-0x000000000009efff]\r\n\
                   \x20 node  12: [mem 0x0000000000100000-0x00000000bffdffff]\r\n\
                   Initmem setup node 0 [mem 0x0000000000001000-0x000000013fffffff]\r\n\
                   Initmem setup node 1 as memoryless\r\n\
                   Initmem setup node 2 [mem 0x0000000000000000-0x0000000000000000]\r\n\
                   On node 0 totalpages: 10485142\r\n\
                   On node 0, zone DMA32: 24576 pages in unavailable ranges\r\n\
                   On node 3, zone Movable: 1 pages in unavailable ranges\r\n\
                   Xen: using vcpuop timer interface\r\n\
                   efi: EFI v2.70 by EDK II\r\n";
        let l = parse(log);
        assert_eq!(l.warnings, vec![]);
        assert_eq!(l.command_line.as_deref(), Some("BOOT_IMAGE=/vmlinuz movablecore=1G memmap=64M$0x10000000"));
        assert_eq!(
            l.e820,
            vec![
                fr(0, 0x9fc00, Usable),
                fr(0x100000, 0xbffe0000, Usable),
                fr(0x100000000, 0x140000000, Usable),
                fr(0x140000000, 0x150000000, Pram),
                fr(0x150000000, 0x160000000, E820Type(20)),
                fr(0x160000000, 0x170000000, SoftReserved),
                fr(0x170000000, 0x180000000, Unusable),
            ]
        );
        assert_eq!(
            l.e820_adjustments,
            vec![
                E820Adjustment::Remove { start: 0x10000000, end: 0x14000000, kind: None },
                E820Adjustment::Update { start: 0x10000000, end: 0x14000000, from: Usable, to: Reserved },
            ]
        );
        assert_eq!(l.e820_user, vec![fr(0, 0x9fc00, Usable), fr(0x10000000, 0x14000000, Reserved)]);
        assert_eq!(l.firmware_map(), &l.e820_user[..]);
        assert_eq!(
            l.srat,
            vec![
                SratLine { nid: 1, pxm: 0, start: 0x140000000, end: 0x2c6000000, hotplug: true, non_volatile: false },
                SratLine { nid: 0, pxm: 1, start: 0, end: 0xa0000, hotplug: false, non_volatile: false },
                SratLine { nid: 0, pxm: 1, start: 1 << 32, end: 0x140000000, hotplug: true, non_volatile: true },
            ]
        );
        let z = l.zone_ranges.unwrap();
        assert_eq!(z.ranges, [Some((1, 0x1000)), None, Some((0x100000, 0x440000)), None]);
        assert_eq!(l.movable_zone_start, vec![(0, 0x100000), (1, 0x240000)]);
        assert_eq!(l.early_node_ranges, vec![mr(1, 0x9f, 0), mr(0x100, 0xbffe0, 12)]);
        assert_eq!(
            l.initmem_setup,
            vec![
                InitmemSetup { nid: 0, range: Some((0x1000, 0x140000000)) },
                InitmemSetup { nid: 1, range: None },
                InitmemSetup { nid: 2, range: Some((0, 0)) },
            ]
        );
        assert_eq!(l.unavailable, vec![(0, ZoneType::Dma32, 24576), (3, ZoneType::Movable, 1)]);
        assert_eq!(l.lines, 38);
    }

    #[test]
    fn old_formats() {
        let log = "Early memory PFN ranges\n\
                   \x20   0: 0x00000010 -> 0x0000009f\n\
                   \x20   1: 0x00000100 -> 0x000bffdf\n\
                   Zone ranges:\n\
                   \x20 DMA      0x00000010 -> 0x00001000\n\
                   Initmem setup node 0 0000000000000000-0000000140000000\n\
                   modified: 0000000000000000 - 000000000009fc00 (usable)\n\
                   Xen: 0000000000100000 - 0000000040000000 (usable)\n";
        let l = parse(log);
        assert_eq!(l.warnings, vec![]);
        assert_eq!(l.early_node_ranges, vec![mr(0x10, 0x9f, 0), mr(0x100, 0xbffdf, 1)]);
        assert_eq!(l.zone_ranges.unwrap().get(ZoneType::Dma), Some((0x10, 0x1000)));
        assert_eq!(l.initmem_setup, vec![InitmemSetup { nid: 0, range: Some((0, 0x140000000)) }]);
        assert_eq!(l.e820_user, vec![fr(0, 0x9fc00, Usable)]);
        assert_eq!(l.e820, vec![fr(0x100000, 0x40000000, Usable)]);
    }

    #[test]
    fn efi_lines() {
        let log = "efi: mem00: [Conventional|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000000000-0x000000000009ffff] (0MB)\n\
                   efi: mem01: [Boot Data   |   |  |  |  |  |  |  |  |  |   |  |  |  |UC] range=[0x0000000000100000-0x00000000001fffff] (1MB)\n\
                   efi: mem02: [ACPI Reclaim|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000200000-0x0000000000200fff] (0MB)\n\
                   efi: mem03: [Runtime Data|RUN|  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000201000-0x0000000000201fff] (0MB)\n\
                   efi: mem04: [Conventional Memory|   |  |  |  |  |  |  |  |SP|   |WB|WT|WC|UC] range=[0x0000000100000000-0x00000001ffffffff] (4096MB)\n\
                   efi: mem105: type=7, attrs=0xf, range=[0x0000000000300000-0x0000000000400000) (1MB)\n\
                   efi: mem106: type=10, attrs=0xf, range=[0x0000000000400000-0x0000000000401000) (0MB)\n\
                   efi: Remove mem107: MMIO range=[0xe0000000-0xefffffff] (256MB) from e820 map\n";
        let l = parse(log);
        assert_eq!(l.warnings, vec![]);
        assert_eq!(
            l.efi,
            vec![
                fr(0, 0xa0000, Usable),
                fr(0x100000, 0x200000, Reserved),
                fr(0x200000, 0x201000, AcpiData),
                fr(0x201000, 0x202000, Reserved),
                fr(0x100000000, 0x200000000, SoftReserved),
                fr(0x300000, 0x400000, Usable),
                fr(0x400000, 0x401000, AcpiNvs),
            ]
        );
        assert_eq!(l.firmware_map(), &l.efi[..]);
    }

    #[test]
    fn malformed_known_lines_are_warned() {
        let log = "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] purple\n\
                   BIOS-e820: [mem 0x00000000000a0000-0x000000000009ffff] usable\n\
                   BIOS-e820: [mem 0x0000000000000000-0xffffffffffffffff] usable\n\
                   BIOS-e820: [mem 0x0000000000000000-0x1ffffffffffffffff] usable\n\
                   BIOS-e820: [mem 0xZZ-0x1] usable\n\
                   BIOS-e820: nothing here\n\
                   ACPI: SRAT: Node x PXM 0 [mem 0x0-0xfff]\n\
                   ACPI: SRAT: Node 0 PXM 0 [mem 0x0-0xfff] sideways\n\
                   On node 0, zone HighMem: 5 pages in unavailable ranges\n\
                   On node 0, zone DMA: many pages in unavailable ranges\n\
                   Zeroed struct page in unavailable ranges: -1 pages\n\
                   Initmem setup node 0 [mem 0x1000-\n\
                   e820: update [mem 0x0-0xfff] usable -> reserved\n\
                   e820: remove [mem 0x0-0xfff] sideways\n\
                   efi: mem00: [Mystery|WB] range=[0x0-0xfff] (0MB)\n\
                   Zone ranges:\n\
                   \x20 DMA      [mem 0x0000000000001000-0x0000000000ffff00]\n\
                   \x20 DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n\
                   \x20 DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n\
                   \x20 HighMem  empty\n\
                   \x20 Device   [mem 0x0000000001000000-0x00000000ffffffff]\n\
                   Movable zone start for each node\n\
                   \x20 Node 0: 0x0000000100000800\n\
                   \x20 Node 1 0x0000000100000000\n\
                   Early memory node ranges\n\
                   \x20 node   0: [mem 0x0000000000001000-0x000000000009e000]\n\
                   \x20 node   0: [mem 0x0000000000001000-0x000000000009efff] extra\n\
                   \x20 node 99999999999: [mem 0x0000000000001000-0x000000000009efff]\n";
        let l = parse(log);
        let got: Vec<(usize, &str)> = l.warnings.iter().map(|w| (w.line, w.reason.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, "unknown e820 type \"purple\""),
                (2, "range ends (0x9ffff) before it starts (0xa0000)"),
                (3, "range end overflows 64 bits"),
                (4, "\"0x1ffffffffffffffff\" does not fit in 64 bits"),
                (5, "\"0xZZ\" is not a hex number"),
                (6, "expected \"[mem a-b]\" or \"a - b\""),
                (7, "\"x\" is not a decimal number"),
                (8, "unknown flag \"sideways\" after the range"),
                (9, "zone \"HighMem\" is not one of DMA, DMA32, Normal, Movable (x86_64)"),
                (10, "\"many\" is not a decimal number"),
                (11, "\"-1\" is not a decimal number"),
                (12, "missing \"]\""),
                (13, "missing \"==>\""),
                (14, "unknown e820 type \"sideways\""),
                (15, "unknown EFI memory type \"Mystery\""),
                (17, "range [0x1000, 0xffff01) is not page aligned"),
                (19, "zone DMA32 printed twice; the first line is kept"),
                (20, "ZONE_HIGHMEM (32-bit) is not modelled"),
                (21, "ZONE_DEVICE with a range is not modelled"),
                (23, "0x100000800 is not page aligned"),
                (24, "missing \":\""),
                (26, "range [0x1000, 0x9e001) is not page aligned"),
                (27, "unexpected \"extra\" after the range"),
                (28, "99999999999 does not fit in 32 bits"),
            ]
        );
        assert_eq!(
            l.warnings[0].to_string(),
            "line 1: unknown e820 type \"purple\": \"BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] purple\""
        );
        assert_eq!(l.e820, vec![]);
        assert_eq!(l.zone_ranges.unwrap().get(ZoneType::Dma32), Some((0x1000, 0x100000)));
    }

    #[test]
    fn second_boot_stops_reading() {
        let two = [T5500, QEMU4].concat();
        let l = parse(&two);
        assert_eq!(l.early_node_ranges.len(), 3);
        assert_eq!(l.warnings.len(), 1);
        assert_eq!(l.warnings[0].reason, "a second boot starts here; only the first boot is read");
        assert_eq!(l.warnings[0].text, "BIOS-provided physical RAM map:");
        let l = parse("Linux version 5.10\nBIOS-e820: [mem 0x0-0xfff] usable\nLinux version 5.11\nBIOS-e820: [mem 0x0-0x1fff] usable\n");
        assert_eq!(l.e820, vec![fr(0, 0x1000, Usable)]);
        assert_eq!(l.lines, 2);
    }

    #[test]
    fn warnings_are_capped_and_counted() {
        let bad = "BIOS-e820: junk\n".repeat(MAX_WARNINGS + 5);
        let l = parse(&bad);
        assert_eq!(l.warnings.len(), MAX_WARNINGS);
        assert_eq!(l.warnings_dropped, 5);
        let long = format!("BIOS-e820: {}", "\u{e9}".repeat(200));
        let l = parse(&long);
        assert!(l.warnings[0].text.len() <= WARNING_TEXT_MAX);
        assert_eq!(parse_bytes(b"BIOS-e820: [mem 0x0-0xfff] usable\xff\n").warnings.len(), 1);
        assert_eq!(parse_bytes(b"\xff\xfe BIOS-e820: [mem 0x0-0xfff] usable\n").warnings.len(), 0);
    }

    // ---- properties --------------------------------------------------------------------------------------------

    fn kind_name(k: RegionKind) -> String {
        k.to_string()
    }

    fn arb_kind() -> impl Strategy<Value = RegionKind> {
        prop_oneof![
            Just(Usable),
            Just(Reserved),
            Just(AcpiData),
            Just(AcpiNvs),
            Just(Unusable),
            Just(Pmem),
            Just(Pram),
            Just(SoftReserved),
            (13u32..1000).prop_map(E820Type),
        ]
    }

    fn arb_log() -> impl Strategy<Value = BootLog> {
        let region = || (0u64..1 << 40, 1u64..1 << 36, arb_kind()).prop_map(|(s, l, k)| fr(s, s + l, k));
        let srat = (0u32..64, 0u32..300, 0u64..1 << 40, 1u64..1 << 36, any::<bool>(), any::<bool>()).prop_map(
            |(nid, pxm, s, l, hotplug, non_volatile)| SratLine {
                nid,
                pxm,
                start: s,
                end: s + l,
                hotplug,
                non_volatile,
            },
        );
        let pfn_range = (0u64..1 << 28, 1u64..1 << 24);
        let zones =
            proptest::option::of((proptest::array::uniform4(proptest::option::of(pfn_range.clone())), any::<bool>()));
        (
            proptest::collection::vec(region(), 0..10),
            proptest::collection::vec(region(), 0..3),
            proptest::collection::vec(srat, 0..8),
            zones,
            proptest::collection::vec((0u32..64, 0u64..1 << 28), 0..4),
            proptest::collection::vec((pfn_range, 0u32..64).prop_map(|((s, l), nid)| mr(s, s + l, nid)), 0..8),
            proptest::collection::vec((0u32..64, 0usize..4, 0u64..1 << 30), 0..5),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec((0u32..64, proptest::option::of((0u64..1 << 40, 1u64..1 << 36))), 0..4),
            proptest::option::of("[a-z0-9=_ $.-]{0,40}"),
        )
            .prop_map(|(e820, user, srat, zones, movable, early, unavail, zeroed, initmem, cmd)| BootLog {
                e820,
                e820_user: user,
                srat,
                zone_ranges: zones
                    .map(|(r, device_line)| ZoneRanges { ranges: r.map(|o| o.map(|(s, l)| (s, s + l))), device_line }),
                movable_zone_start: movable,
                early_node_ranges: early,
                unavailable: unavail
                    .into_iter()
                    .map(|(n, z, p)| (n, ZoneType::from_index(z).unwrap_or(ZoneType::Dma), p))
                    .collect(),
                zeroed_unavailable: zeroed,
                initmem_setup: initmem
                    .into_iter()
                    .map(|(nid, r)| InitmemSetup { nid, range: r.map(|(s, l)| (s, s + l)) })
                    .collect(),
                command_line: cmd.map(|c| c.trim().to_string()),
                ..BootLog::default()
            })
    }

    /// Writes a log as Linux prints it (the test's own, independent renderer).
    fn render(l: &BootLog) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(c) = &l.command_line {
            v.push(format!("Command line: {}", c));
        }
        v.push("BIOS-provided physical RAM map:".to_string());
        for r in &l.e820 {
            v.push(format!("BIOS-e820: [mem {:#018x}-{:#018x}] {}", r.start, r.end - 1, kind_name(r.kind)));
        }
        if !l.e820_user.is_empty() {
            v.push("e820: user-defined physical RAM map:".to_string());
        }
        for r in &l.e820_user {
            v.push(format!("user: [mem {:#018x}-{:#018x}] {}", r.start, r.end - 1, kind_name(r.kind)));
        }
        for s in &l.srat {
            v.push(format!(
                "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]{}{}",
                s.nid,
                s.pxm,
                s.start,
                s.end - 1,
                if s.hotplug { " hotplug" } else { "" },
                if s.non_volatile { " non-volatile" } else { "" }
            ));
        }
        if let Some(z) = &l.zone_ranges {
            v.push("Zone ranges:".to_string());
            for t in [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable] {
                match z.get(t) {
                    Some((s, e)) => {
                        v.push(format!("  {:<8} [mem {:#018x}-{:#018x}]", t.name(), s << 12, (e << 12) - 1))
                    }
                    None => v.push(format!("  {:<8} empty", t.name())),
                }
            }
            if z.device_line {
                v.push("  Device   empty".to_string());
            }
        }
        v.push("Movable zone start for each node".to_string());
        for (nid, pfn) in &l.movable_zone_start {
            v.push(format!("  Node {}: {:#018x}", nid, pfn << 12));
        }
        v.push("Early memory node ranges".to_string());
        for r in &l.early_node_ranges {
            v.push(format!("  node {:>3}: [mem {:#018x}-{:#018x}]", r.nid, r.start_pfn << 12, (r.end_pfn << 12) - 1));
        }
        for (nid, z, p) in &l.unavailable {
            v.push(format!("On node {}, zone {}: {} pages in unavailable ranges", nid, z.name(), p));
        }
        if let Some(z) = l.zeroed_unavailable {
            v.push(format!("Zeroed struct page in unavailable ranges: {} pages", z));
        }
        for i in &l.initmem_setup {
            match i.range {
                Some((s, e)) => v.push(format!("Initmem setup node {} [mem {:#018x}-{:#018x}]", i.nid, s, e - 1)),
                None => v.push(format!("Initmem setup node {} as memoryless", i.nid)),
            }
        }
        v
    }

    proptest! {
        #[test]
        fn prop_random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let l = parse_bytes(&b);
            prop_assert!(l.warnings.len() <= MAX_WARNINGS);
        }

        #[test]
        fn prop_random_known_prefixed_lines_never_panic(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(&[
                        "BIOS-e820: ", "Xen: [mem ", "user: ", "efi: mem01: ", "e820: update ", "e820: remove ",
                        "ACPI: SRAT: Node ", "SRAT: Node ", "Zone ranges:\n  DMA ", "Movable zone start for each node\n  Node ",
                        "Early memory node ranges\n  node ", "Early memory PFN ranges\n 0: ", "On node ",
                        "Zeroed struct page in unavailable ranges: ", "Initmem setup node ", "[    0.0] ", "<6>", "kernel: ",
                    ][..]),
                    "[ -~\u{e9}\u{1F600}]{0,60}",
                ),
                0..20,
            )
        ) {
            let text: String = lines.iter().map(|(p, s)| format!("{}{}\n", p, s)).collect();
            let _ = parse(&text);
        }

        #[test]
        fn prop_rendered_logs_round_trip(l in arb_log(), style in 0usize..4, crlf in any::<bool>()) {
            let mut text = String::new();
            for (i, line) in render(&l).iter().enumerate() {
                match style {
                    0 => {}
                    1 => text.push_str(&format!("[{:5}.{:06}] ", i / 1000, i % 1000)),
                    2 => text.push_str("Mar  2 10:33:11 host kernel: "),
                    _ => text.push_str(&format!("<6>[    0.{:06}][    T0] ", i)),
                }
                text.push_str(line);
                text.push_str(if crlf { "\r\n" } else { "\n" });
            }
            let got = parse(&text);
            prop_assert_eq!(&got.warnings, &vec![]);
            let mut want = l.clone();
            want.lines = got.lines;
            prop_assert_eq!(got, want);
        }
    }
}
