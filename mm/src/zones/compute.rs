//! Nodes and zones from memblock.memory: validation, the regions split by flags, the zone spans and present
//! pages of each node (`free_area_init`, `calculate_node_totalpages`).

use super::*;

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

pub(super) fn validate(
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
pub(super) fn memblock_regions(memory: &[MemRange], flags: &MemblockFlags<'_>) -> Vec<Region> {
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

/// What zone spans depend on, besides the node.
pub(super) struct SpanContext<'a> {
    pub(super) lowest: &'a [u64; MAX_NR_ZONES],
    pub(super) highest: &'a [u64; MAX_NR_ZONES],
    pub(super) zone_movable_pfn: &'a [u64],
    pub(super) movable_zone: ZoneType,
    pub(super) mirrored_kernelcore: bool,
    pub(super) regions: &'a [Region],
}

/// Linux's `zone_spanned_pages_in_node` with `adjust_zone_range_for_zone_movable`: returns the zone's
/// `(start, end)` as Linux leaves them (possibly outside the node when the zone is empty) and the spanned pages.
pub(super) fn zone_spanned_pages_in_node(
    ctx: &SpanContext<'_>,
    nid: u32,
    z: ZoneType,
    node: (u64, u64),
) -> (u64, u64, u64) {
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
pub(super) fn zone_present_pages_in_node(ctx: &SpanContext<'_>, nid: u32, z: ZoneType, start: u64, end: u64) -> u64 {
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
pub(super) fn calculate_node_totalpages(ctx: &SpanContext<'_>, nid: u32, range: (u64, u64)) -> Node {
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
