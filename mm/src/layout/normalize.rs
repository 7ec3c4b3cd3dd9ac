//! Normalization: overlaps resolved by precedence, NUMA ranges checked and merged, memory and reservations
//! derived from the firmware map (the rules are in the module documentation of `layout`).

use super::*;

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
    Ok(Layout {
        regions,
        memory,
        reserved: merge_reservations(reserved),
        numa,
        uncovered_bytes,
        notes,
        possible_nodes: 0,
    })
}

/// Splits the regions at every boundary and gives each elementary interval the kind of highest precedence.
///
/// Quadratic in the number of regions, which is bounded by [`E820_MAX_ENTRIES`]; simple over clever.
pub(super) fn resolve_overlaps(input: &[FirmwareRegion], notes: &mut Vec<LayoutNote>) -> Vec<FirmwareRegion> {
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

pub(super) fn normalize_numa(numa: &[NumaAffinity], opts: &LayoutOptions) -> Result<Vec<NumaAffinity>, LayoutError> {
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

pub(super) fn merge_memory(v: Vec<MemRange>) -> Vec<MemRange> {
    let mut out: Vec<MemRange> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if last.end_pfn == r.start_pfn && last.nid == r.nid => last.end_pfn = r.end_pfn,
            _ => out.push(r),
        }
    }
    out
}

pub(super) fn merge_reservations(mut v: Vec<Reservation>) -> Vec<Reservation> {
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
