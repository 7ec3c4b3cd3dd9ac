//! ZONE_MOVABLE's start on each node: `kernelcore=`, `movablecore=`, `kernelcore=mirror` and `movable_node`
//! (`find_zone_movable_pfns_for_nodes`).

use super::*;

pub(super) struct MovableResult {
    pub(super) zone_movable_pfn: Vec<u64>,
    pub(super) movable_zone: ZoneType,
    pub(super) mirrored_kernelcore: bool,
}

/// Linux's `find_zone_movable_pfns_for_nodes` (ZONE_MOVABLE: 2a1e274acf0b; kernelcore=mirror: 342332e6a925;
/// percentages: a5c6d6509342). Rule for rule, with Linux's unsigned arithmetic (which never goes below 0 here).
#[allow(clippy::too_many_arguments)]
pub(super) fn find_zone_movable_pfns_for_nodes(
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
