//! `strict` (ours): every pfn_valid page is linked to a zone whose span contains it, and no span is stretched
//! further than needed.
//!
//! # The rule
//! 1. Spans start as Linux computes them. A *valid hole* is a pfn that has a memmap (it lies in an early section
//!    with memory, so `pfn_valid` is true) but no memory.
//! 2. Every maximal run of valid holes that no zone of any node spans (the head below the first memory pfn, holes
//!    between zones or nodes, the tail of the last section) is given to one zone, whose span (and its node's span)
//!    grows just enough to cover the run: the zone of the nearest memory *below* the run, or, for the head of
//!    the address space, the zone of the first memory above it. A zone never grows past its architectural limit
//!    (DMA below 16 MiB, DMA32 below 4 GiB); the part of a run beyond it goes to the next zone type of the same
//!    node. Only then can a zone cover nothing but holes (a machine whose memory ends below 16 MiB); the verifier
//!    reports such a zone.
//! 3. Memory pages are initialized as Linux does. Every valid hole then gets the links of a zone spanning it:
//!    the zone of the nearest memory below, if that zone spans it, else the zone of the nearest memory above, if
//!    that spans it, else the first zone (lowest node, lowest zone) that spans it. Hole pages are PG_reserved.
//!
//! # Why
//! The seed mail's invariant ("any initialized/online pfn belongs to exactly one node/zone and that node/zone
//! spans that PFN") is what pfn walkers need: compaction, isolation and hot(un)plug all walk zone spans, check
//! `zone_spans_pfn` or compare `page_zone()` with the zone they walk. Rounding every node span to sections
//! (Mike Rapoport's v5) achieves it but makes spans of neighbouring nodes overlap inside a shared section and
//! grows spans over whole empty sections. Growing only over valid holes, and only from the memory next to them,
//! keeps spans minimal: a span grows exactly by pages that would otherwise violate the invariant.

use alloc::vec::Vec;

use super::{HolePolicy, Promise};
use crate::consts::*;
use crate::layout::MemRange;
use crate::memmap::InitCtx;
use crate::usemap::Violation;
use crate::zones::{ZoneType, Zones, MAX_DMA32_PFN, MAX_DMA_PFN};

/// See the module documentation.
pub struct Strict;

/// The architectural upper limit of a zone type (exclusive).
fn zone_limit(z: ZoneType) -> u64 {
    match z {
        ZoneType::Dma => MAX_DMA_PFN,
        ZoneType::Dma32 => MAX_DMA32_PFN,
        _ => u64::MAX,
    }
}

/// Runs of valid holes: pfns of sections that hold memory, minus memory, as sorted `[start, end)` pairs.
pub(crate) fn valid_holes(memory: &[MemRange]) -> Vec<(u64, u64)> {
    let mut sections: Vec<(u64, u64)> = Vec::new();
    for r in memory {
        let s = align_down(r.start_pfn, PAGES_PER_SECTION);
        let e = align_up(r.end_pfn, PAGES_PER_SECTION);
        match sections.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => sections.push((s, e)),
        }
    }
    let mut holes = Vec::new();
    let mut i = 0;
    for (s, e) in sections {
        let mut cur = s;
        while i < memory.len() && memory[i].start_pfn < e {
            if memory[i].start_pfn > cur {
                holes.push((cur, memory[i].start_pfn));
            }
            cur = cur.max(memory[i].end_pfn);
            i += 1;
        }
        if cur < e {
            holes.push((cur, e));
        }
    }
    holes
}

/// The (nid, zone) of the memory range ending nearest below `pfn`, or starting nearest above it.
fn memory_zone(zones: &Zones, memory: &[MemRange], pfn: u64, below: bool) -> Option<(u32, ZoneType)> {
    let i = memory.partition_point(|r| r.end_pfn <= pfn);
    let (r, p) = if below {
        let r = memory[..i].last()?;
        (r, r.end_pfn - 1)
    } else {
        let r = memory.get(i)?;
        (r, r.start_pfn)
    };
    zones.zone_for_pfn(r.nid, p).map(|z| (r.nid, z))
}

fn spanned_by_any(zones: &Zones, pfn: u64) -> bool {
    zones.nodes.iter().any(|n| n.zones.iter().any(|z| z.spanned_pages > 0 && z.zone_spans_pfn(pfn)))
}

/// Grows zone `(nid, zt)` to cover `[s, e)` and its node to cover the zone.
fn grow(zones: &mut Zones, nid: u32, zt: ZoneType, s: u64, e: u64) {
    if let Some(z) = zones.zone_mut(nid, zt) {
        let (zs, ze) = if z.spanned_pages == 0 { (s, e) } else { (z.zone_start_pfn.min(s), z.zone_end_pfn().max(e)) };
        z.zone_start_pfn = zs;
        z.spanned_pages = ze - zs;
    }
    if let Some(node) = zones.nodes.get_mut(nid as usize) {
        let (mut ns, mut ne) = (node.node_start_pfn, node.node_start_pfn + node.node_spanned_pages);
        if node.node_spanned_pages == 0 {
            (ns, ne) = (s, e);
        }
        node.node_start_pfn = ns.min(s);
        node.node_spanned_pages = ne.max(e) - node.node_start_pfn;
    }
}

impl HolePolicy for Strict {
    fn name(&self) -> &'static str {
        "strict"
    }
    fn summary(&self) -> &'static str {
        "every valid hole linked to a zone that spans it; spans grown only over valid holes next to their memory"
    }
    fn history(&self) -> &'static str {
        "ours: the invariant of the seed mail (David Hildenbrand, 2021-02-15) with minimal span growth"
    }
    fn promise(&self) -> Promise {
        Promise {
            all_valid_initialized: true,
            zone_spans_every_valid_pfn: true,
            pageblock_check_clean: true,
            memory_links_exact: true,
        }
    }

    fn adjust_zones(&self, zones: &mut Zones, memory: &[MemRange]) {
        for (hs, he) in valid_holes(memory) {
            // Loop invariant: [hs, p) is spanned by some zone.
            let mut p = hs;
            while p < he {
                if spanned_by_any(zones, p) {
                    p += 1;
                    // Skip to the end of the spanning zone quickly.
                    let next = zones
                        .nodes
                        .iter()
                        .flat_map(|n| n.zones.iter())
                        .filter(|z| z.spanned_pages > 0 && z.zone_spans_pfn(p - 1))
                        .map(|z| z.zone_end_pfn())
                        .max()
                        .unwrap_or(p);
                    p = next.min(he).max(p);
                    continue;
                }
                // [p, run_end): not spanned; run_end is where some zone starts, or the hole ends.
                let run_end = zones
                    .nodes
                    .iter()
                    .flat_map(|n| n.zones.iter())
                    .filter(|z| z.spanned_pages > 0 && z.zone_start_pfn > p)
                    .map(|z| z.zone_start_pfn)
                    .min()
                    .unwrap_or(he)
                    .min(he);
                let owner = memory_zone(zones, memory, p, true).or_else(|| memory_zone(zones, memory, run_end, false));
                let Some((nid, mut zt)) = owner else { break };
                let mut s = p;
                // Never past a zone's architectural limit: continue in the next zone type.
                while s < run_end {
                    let e = run_end.min(zone_limit(zt));
                    if e > s {
                        grow(zones, nid, zt, s, e);
                        s = e;
                    }
                    match ZoneType::from_index(zt.index() + 1) {
                        Some(next) if next != ZoneType::Movable || zt == ZoneType::Normal => zt = next,
                        _ => break,
                    }
                    if zt == ZoneType::Movable {
                        zt = ZoneType::Normal;
                        if s < run_end {
                            grow(zones, nid, zt, s, run_end);
                        }
                        break;
                    }
                }
                p = run_end;
            }
        }
    }

    fn memmap_init(&self, cx: &mut InitCtx<'_>) -> Result<(), Violation> {
        super::init_memory_by_zone(cx)?;
        for (hs, he) in valid_holes(cx.memory) {
            let mut p = hs;
            while p < he {
                let below = memory_zone(cx.zones, cx.memory, p, true);
                let above = memory_zone(cx.zones, cx.memory, he, false);
                let spans = |o: Option<(u32, ZoneType)>| {
                    o.filter(|&(n, z)| cx.zones.zone(n, z).is_some_and(|z| z.zone_spans_pfn(p)))
                };
                let chosen = spans(below)
                    .map(|o| (o, "valid hole: zone of the memory below, which spans it"))
                    .or_else(|| spans(above).map(|o| (o, "valid hole: zone of the memory above, which spans it")))
                    .or_else(|| {
                        cx.zones
                            .nodes
                            .iter()
                            .flat_map(|n| n.zones.iter())
                            .find(|z| z.spanned_pages > 0 && z.zone_spans_pfn(p))
                            .map(|z| ((z.nid, z.zone_type), "valid hole: first zone that spans it"))
                    });
                let Some(((nid, zt), rule)) = chosen else {
                    // Not reachable after adjust_zones; leave the pfn to the verifier rather than guess.
                    p += 1;
                    continue;
                };
                let end = cx.zones.zone(nid, zt).map_or(he, |z| z.zone_end_pfn()).min(he);
                cx.init_unavailable_range(p, end, zt, nid, rule);
                p = end;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_holes_of_m4000() {
        let m = |s, e| MemRange { start_pfn: s, end_pfn: e, nid: 0 };
        let holes = valid_holes(&[m(1, 0x9f), m(0x100, 0xbffe0), m(0x100000, 0x13a000)]);
        assert_eq!(holes, alloc::vec![(0, 1), (0x9f, 0x100), (0xbffe0, 0xc0000), (0x13a000, 0x140000)]);
    }
}
