//! The firmware map as x86 Linux adjusts it before memblock: the early quirks (`trim_bios_range`) and the
//! user-defined map of `mem=` / `memmap=`.

use super::*;

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
pub(super) fn push_outside(out: &mut Vec<FirmwareRegion>, r: FirmwareRegion, a: u64, b: u64) {
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
