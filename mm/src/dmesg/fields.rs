//! The small parsers of one line each (ranges, e820 and EFI kinds, SRAT, hole and Initmem lines); each returns
//! `Err(reason)` for a warning.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Small parsers. Each returns Err(reason) for a warning.

pub(super) type R<T> = Result<T, String>;

pub(super) fn hex(s: &str) -> R<u64> {
    let d = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a hex number", s));
    }
    u64::from_str_radix(d, 16).map_err(|_| format!("{:?} does not fit in 64 bits", s))
}

pub(super) fn dec(s: &str) -> R<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{:?} is not a decimal number", s));
    }
    s.parse::<u64>().map_err(|_| format!("{:?} does not fit in 64 bits", s))
}

pub(super) fn dec32(s: &str) -> R<u32> {
    let v = dec(s)?;
    u32::try_from(v).map_err(|_| format!("{} does not fit in 32 bits", v))
}

/// Inclusive `a-b` (hex) to `[a, b + 1)`.
pub(super) fn inclusive(a: &str, b: &str) -> R<(u64, u64)> {
    let (start, last) = (hex(a.trim())?, hex(b.trim())?);
    if last < start {
        return Err(format!("range ends ({:#x}) before it starts ({:#x})", last, start));
    }
    let end = last.checked_add(1).ok_or_else(|| "range end overflows 64 bits".to_string())?;
    Ok((start, end))
}

/// Exclusive `a-b` / `a - b` (hex) to `[a, b)`.
pub(super) fn exclusive(a: &str, b: &str) -> R<(u64, u64)> {
    let (start, end) = (hex(a.trim())?, hex(b.trim())?);
    if end < start {
        return Err(format!("range ends ({:#x}) before it starts ({:#x})", end, start));
    }
    Ok((start, end))
}

/// `[mem 0xa-0xb]rest` -> `([a, b + 1), rest)`.
pub(super) fn mem_range(s: &str) -> R<(u64, u64, &str)> {
    let s = s.trim_start().strip_prefix("[mem ").ok_or_else(|| "expected \"[mem \"".to_string())?;
    let (inner, rest) = s.split_once(']').ok_or_else(|| "missing \"]\"".to_string())?;
    let (a, b) = inner.split_once('-').ok_or_else(|| "missing \"-\" in the range".to_string())?;
    let (start, end) = inclusive(a, b)?;
    Ok((start, end, rest))
}

/// A byte range to a pfn range; both ends must be page aligned.
pub(super) fn pfns(start: u64, end: u64) -> R<(u64, u64)> {
    if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) {
        return Err(format!("range [{:#x}, {:#x}) is not page aligned", start, end));
    }
    Ok((start >> PAGE_SHIFT, end >> PAGE_SHIFT))
}

/// Linux's e820 type names (`e820_print_type`), also in the older `(name)` form.
pub(super) fn e820_kind(name: &str) -> R<RegionKind> {
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
pub(super) fn map_line(rest: &str) -> R<FirmwareRegion> {
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
pub(super) fn efi_type_by_name(name: &str) -> Option<u32> {
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
pub(super) fn efi_kind(efi_type: u32, wb: bool, sp: bool) -> RegionKind {
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
pub(super) fn efi_line(rest: &str) -> R<FirmwareRegion> {
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

pub(super) fn zone_by_name(name: &str) -> R<ZoneType> {
    ZoneType::ALL
        .iter()
        .copied()
        .find(|z| z.name() == name)
        .ok_or_else(|| format!("zone {:?} is not one of DMA, DMA32, Normal, Movable (x86_64)", name))
}

/// `Node N PXM P [mem a-b]( hotplug)?( non-volatile)?` or the old `Node N PXM P a-b` (exclusive, bare hex).
pub(super) fn srat_line(rest: &str) -> R<SratLine> {
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

pub(super) fn unavailable_line(rest: &str) -> R<(u32, ZoneType, u64)> {
    // After "On node ": "N, zone Z: K pages in unavailable ranges".
    let (nid, rest) = rest.split_once(", zone ").ok_or_else(|| "missing \", zone \"".to_string())?;
    let (zone, rest) = rest.split_once(": ").ok_or_else(|| "missing \": \" after the zone".to_string())?;
    let pages = rest
        .strip_suffix(" pages in unavailable ranges")
        .ok_or_else(|| "missing \" pages in unavailable ranges\"".to_string())?;
    Ok((dec32(nid.trim())?, zone_by_name(zone.trim())?, dec(pages.trim())?))
}

/// The 5.12-5.13 hole line `<zone> zone: N pages in unavailable ranges` (its indentation is gone): the text after
/// the zone name, if `msg` is one (`DMA zone: 64 pages used for memmap` is not).
pub(super) fn zone_unavailable_prefix(msg: &str) -> Option<&str> {
    let (zone, _) = msg.split_once(" zone: ")?;
    (matches!(zone, "DMA" | "DMA32" | "Normal" | "Movable" | "HighMem" | "Device")
        && msg.ends_with(" unavailable ranges"))
    .then_some(msg)
}

/// `<zone> zone: N pages in unavailable ranges` -> (zone, N).
pub(super) fn zone_unavailable_line(msg: &str) -> R<(ZoneType, u64)> {
    let (zone, rest) = msg.split_once(" zone: ").ok_or_else(|| "missing \" zone: \"".to_string())?;
    let pages = rest
        .strip_suffix(" pages in unavailable ranges")
        .ok_or_else(|| "missing \" pages in unavailable ranges\"".to_string())?;
    Ok((zone_by_name(zone.trim())?, dec(pages.trim())?))
}

/// After `Linux version `: the release, whose first two numbers are the version.
pub(super) fn linux_version(rest: &str) -> R<LinuxVersion> {
    let release = rest.split_whitespace().next().unwrap_or("");
    let mut nums = release.split(|c: char| !c.is_ascii_digit());
    let major = nums.next().filter(|s| !s.is_empty()).ok_or_else(|| "no version number".to_string())?;
    let minor = nums.next().filter(|s| !s.is_empty()).ok_or_else(|| "no minor version number".to_string())?;
    Ok(LinuxVersion { major: dec32(major)?, minor: dec32(minor)?, release: cut(release, WARNING_TEXT_MAX).to_string() })
}

pub(super) fn initmem_line(rest: &str) -> R<InitmemSetup> {
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

pub(super) fn adjustment_line(update: bool, rest: &str) -> R<E820Adjustment> {
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
pub(super) fn looks_like_range(rest: &str) -> bool {
    let r = rest.trim_start();
    r.starts_with("[mem") || r.bytes().next().is_some_and(|c| c.is_ascii_hexdigit()) && r.contains(" - ")
}
