//! The boot log lines of the zone code (Zone ranges, Movable zone start, Early memory node ranges, Initmem
//! setup, the v5.10 per-node sizes). Each function writes whole lines ending in '\n', without timestamps.

use super::*;

/// `free_area_init`: "Zone ranges:" and one line per zone except ZONE_MOVABLE (`"  %-8s "` then
/// `"[mem %#018Lx-%#018Lx]"` with an inclusive end, or `"empty"`). With `zone_device` (CONFIG_ZONE_DEVICE, as in
/// distribution kernels) Linux also prints `"  Device   empty"`.
pub fn print_zone_ranges<W: fmt::Write>(w: &mut W, zones: &Zones, zone_device: bool) -> fmt::Result {
    writeln!(w, "Zone ranges:")?;
    for z in [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal] {
        let (low, high) =
            (zones.arch_zone_lowest_possible_pfn[z.index()], zones.arch_zone_highest_possible_pfn[z.index()]);
        write!(w, "  {:<8} ", z.name())?;
        if low == high {
            writeln!(w, "empty")?;
        } else {
            writeln!(w, "[mem {:#018x}-{:#018x}]", low << PAGE_SHIFT, (high << PAGE_SHIFT) - 1)?;
        }
    }
    if zone_device {
        writeln!(w, "  {:<8} empty", "Device")?;
    }
    Ok(())
}

/// `free_area_init`: "Movable zone start for each node" and `"  Node %d: %#018Lx"` per node with ZONE_MOVABLE.
pub fn print_movable_zone_start<W: fmt::Write>(w: &mut W, zones: &Zones) -> fmt::Result {
    writeln!(w, "Movable zone start for each node")?;
    for (nid, &pfn) in zones.zone_movable_pfn.iter().enumerate() {
        if pfn != 0 {
            writeln!(w, "  Node {}: {:#018x}", nid, pfn << PAGE_SHIFT)?;
        }
    }
    Ok(())
}

/// `free_area_init`: "Early memory node ranges" and `"  node %3d: [mem %#018Lx-%#018Lx]"` per memblock.memory
/// region. Pass the regions as memblock holds them (Linux keeps regions with different flags apart).
pub fn print_early_memory_node_ranges<W: fmt::Write>(w: &mut W, memory: &[MemRange]) -> fmt::Result {
    writeln!(w, "Early memory node ranges")?;
    for r in memory {
        writeln!(
            w,
            "  node {:>3}: [mem {:#018x}-{:#018x}]",
            r.nid,
            r.start_pfn << PAGE_SHIFT,
            (r.end_pfn << PAGE_SHIFT).wrapping_sub(1)
        )?;
    }
    Ok(())
}

/// How `Initmem setup node` reads for a node without memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemorylessLine {
    /// `"Initmem setup node %d as memoryless"`: Linux since Michal Hocko's "mm: make free_area_init_node aware
    /// of memory less nodes" (January 2022).
    #[default]
    AsMemoryless,
    /// `"Initmem setup node %d [mem 0x0000000000000000-0x0000000000000000]"`: Linux before it (v5.10 printed
    /// this for an online memory-less node, from `free_area_init_memoryless_node`).
    ZeroRange,
}

/// `free_area_init_node`: `"Initmem setup node %d [mem %#018Lx-%#018Lx]"` for a node with memory (its
/// `get_pfn_range_for_nid` range, inclusive end); for a node without memory the line `style` says.
/// Nothing for a nid beyond the nodes.
pub fn print_initmem_setup_node<W: fmt::Write>(
    w: &mut W,
    zones: &Zones,
    nid: u32,
    style: MemorylessLine,
) -> fmt::Result {
    let Some(&(start, end)) = zones.node_pfn_range.get(nid as usize) else { return Ok(()) };
    if start != end || style == MemorylessLine::ZeroRange {
        let last = if end != 0 { (end << PAGE_SHIFT) - 1 } else { 0 };
        writeln!(w, "Initmem setup node {} [mem {:#018x}-{:#018x}]", nid, start << PAGE_SHIFT, last)
    } else {
        writeln!(w, "Initmem setup node {} as memoryless", nid)
    }
}

/// [`print_initmem_setup_node`] for every node in nid order (`for_each_node`), memory-less nodes as current
/// Linux prints them.
pub fn print_initmem_setup<W: fmt::Write>(w: &mut W, zones: &Zones) -> fmt::Result {
    for nid in 0..zones.nodes.len() {
        print_initmem_setup_node(w, zones, nid as u32, MemorylessLine::AsMemoryless)?;
    }
    Ok(())
}

/// v5.10 `calc_memmap_size`: pages of struct pages a zone is charged for. With SPARSEMEM and many holes
/// (spanned beyond present + present/16) only the present pages are charged.
pub const fn calc_memmap_size(spanned_pages: u64, present_pages: u64) -> u64 {
    let pages =
        if spanned_pages > present_pages.saturating_add(present_pages >> 4) { present_pages } else { spanned_pages };
    // PAGE_ALIGN(pages * sizeof(struct page)) >> PAGE_SHIFT
    align_up(pages.saturating_mul(STRUCT_PAGE_SIZE), PAGE_SIZE) >> PAGE_SHIFT
}

/// v5.10 `zone_batchsize` for a zone with `managed_pages` (the per-cpu list batch, "LIFO batch").
pub const fn zone_batchsize_v5_10(managed_pages: u64) -> u64 {
    // About a thousandth of the zone, at most 1 MiB, divided by 4, at least 1, clamped to 2^n - 1.
    let mut batch = managed_pages / 1024;
    if batch.saturating_mul(PAGE_SIZE) > 1024 * 1024 {
        batch = 1024 * 1024 / PAGE_SIZE;
    }
    batch /= 4;
    if batch < 1 {
        batch = 1;
    }
    let x = batch + batch / 2;
    (1u64 << (63 - x.leading_zeros())) - 1
}

/// The per-node lines of v5.10 (`calculate_node_totalpages` and `free_area_init_core`, KERN_DEBUG):
/// `"On node %d totalpages: %lu"`, then per zone `"  %s zone: %lu pages used for memmap"` (if non-zero),
/// `"  DMA zone: %lu pages reserved"` (zone 0, if it has more free pages than `dma_reserve`, the pages x86's
/// `memblock_find_dma_reserve` counts as reserved below 16 MiB) and, for populated zones,
/// `"  %s zone: %lu pages, LIFO batch:%u"` with the present pages. Linux dropped these lines in later releases.
pub fn print_node_sizes_v5_10<W: fmt::Write>(w: &mut W, zones: &Zones, nid: u32, dma_reserve: u64) -> fmt::Result {
    let Some(node) = zones.node(nid) else { return Ok(()) };
    writeln!(w, "On node {} totalpages: {}", nid, node.node_present_pages)?;
    for zone in node.zones.iter() {
        let name = zone.zone_type.name();
        let mut freesize = zone.present_pages;
        let memmap_pages = calc_memmap_size(zone.spanned_pages, zone.present_pages);
        if freesize >= memmap_pages {
            freesize -= memmap_pages;
            if memmap_pages != 0 {
                writeln!(w, "  {} zone: {} pages used for memmap", name, memmap_pages)?;
            }
        } else {
            writeln!(w, "  {} zone: {} pages exceeds freesize {}", name, memmap_pages, freesize)?;
        }
        if zone.zone_type == ZoneType::Dma && freesize > dma_reserve {
            freesize -= dma_reserve;
            writeln!(w, "  {} zone: {} pages reserved", name, dma_reserve)?;
        }
        if zone.populated() {
            writeln!(
                w,
                "  {} zone: {} pages, LIFO batch:{}",
                name,
                zone.present_pages,
                zone_batchsize_v5_10(freesize)
            )?;
        }
    }
    Ok(())
}
