//! What Linux 6.1's /proc and /sys memory files show for the model, in the dump format memlab's guest agent
//! prints for a real Linux (boot/agent): `@@dump EVENT`, then `@@begin NAME` ... `@@end NAME` sections
//! `zoneinfo`, `pagetypeinfo`, `buddyinfo`, `sysctl`, `memory_blocks` and `kpageflags`. `memlab diff` parses both
//! with one parser and compares them field by field.
//!
//! Rules (facts from Linux 6.1, our code):
//! - /proc/zoneinfo (mm/vmstat.c `zoneinfo_show_print`): every zone of every node, ZONE_DEVICE included on a
//!   CONFIG_ZONE_DEVICE kernel; an unpopulated zone ends after its `protection:` line; 6.1 prints no `promo`.
//! - /proc/pagetypeinfo's block counts (`pagetypeinfo_showblockcount_print`): per populated zone, from
//!   `zone_start_pfn` in pageblock steps, `pfn_to_online_page`, skipped if `page_zone(page) != zone`.
//! - memory blocks (drivers/base/memory.c, node.c): one per `memory_block_size_bytes()` holding a present
//!   section; x86_64's `probe_memory_block_size` (arch/x86/mm/init_64.c) under a hypervisor: 128 MiB below
//!   64 GiB of `max_pfn`, else the largest power of two up to 2 GiB that divides the end of memory. A boot block
//!   is linked to every node `register_mem_block_under_node_early` finds in it (`early_pfn_to_nid`, a hole
//!   counting as the first online node, within the node's span); `valid_zones` of an online boot block is the one
//!   populated zone of its node that intersects it (`early_node_zone_for_memory_block`), else `none`, and `none`
//!   once a second node is linked (`memory_block_add_nid`).
//! - /proc/kpageflags (fs/proc/page.c): KPF_NOPAGE unless `pfn_to_online_page`, which since 9f9b02e5b346 (v5.12)
//!   also needs the pfn's subsection bit in an early section (so the tail of the last section has no page);
//!   KPF_RESERVED for PG_reserved; KPF_BUDDY for every page of a free buddy block (`is_free_buddy_page`); else
//!   OTHER. memlab adds POISONED for an uninitialized struct page (Linux would read garbage there).
//!
//! # Invariants
//! - read-only: nothing here writes a struct page, the usemap or a counter;
//! - the kpageflags runs cover every pfn of every memory block exactly once, ascending.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::buddy::Buddy;
use crate::consts::{pfn_to_section_nr, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION, PAGE_SHIFT};
use crate::model::Mm;
use crate::page::PageType;
use crate::sparse::{migratetype, subsection_index};
use crate::watermarks::{self, ZoneManaged};
use crate::zones::{ZoneType, MAX_NR_ZONES};

/// `MIN_MEMORY_BLOCK_SIZE`: one section.
pub const MIN_MEMORY_BLOCK_SIZE: u64 = PAGES_PER_SECTION << PAGE_SHIFT;
/// x86_64's `MAX_BLOCK_SIZE`.
pub const MAX_BLOCK_SIZE: u64 = 2 << 30;
/// x86_64's `MEM_SIZE_FOR_LARGE_BLOCK`.
pub const MEM_SIZE_FOR_LARGE_BLOCK: u64 = 64 << 30;

/// A /proc/kpageflags class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kpf {
    NoPage,
    Reserved,
    Buddy,
    Other,
    /// memlab only: an uninitialized (poisoned) struct page.
    Poisoned,
}

impl Kpf {
    pub fn name(self) -> &'static str {
        match self {
            Kpf::NoPage => "NOPAGE",
            Kpf::Reserved => "RESERVED",
            Kpf::Buddy => "BUDDY",
            Kpf::Other => "OTHER",
            Kpf::Poisoned => "POISONED",
        }
    }
}

/// One memory block of /sys/devices/system/memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryBlock {
    pub id: u64,
    /// The nodes it is linked to, ascending.
    pub nodes: Vec<u32>,
    /// `valid_zones` of the online block: `None` prints `none`.
    pub zone: Option<ZoneType>,
}

/// x86_64 `probe_memory_block_size` in a guest (X86_FEATURE_HYPERVISOR), for memory ending at `max_pfn`.
pub fn memory_block_size(max_pfn: u64) -> u64 {
    let end = max_pfn << PAGE_SHIFT;
    if end < MEM_SIZE_FOR_LARGE_BLOCK {
        return MIN_MEMORY_BLOCK_SIZE;
    }
    let mut bz = MAX_BLOCK_SIZE;
    while bz > MIN_MEMORY_BLOCK_SIZE && end % bz != 0 {
        bz >>= 1;
    }
    bz
}

/// The memory blocks and the block size.
pub fn memory_blocks(mm: &Mm) -> (u64, Vec<MemoryBlock>) {
    let bs = memory_block_size(mm.zones.max_pfn);
    let sections_per_block = bs / MIN_MEMORY_BLOCK_SIZE;
    let mut ids: Vec<u64> = mm.sparse.present_sections().map(|nr| nr / sections_per_block).collect();
    ids.dedup();
    let pages = sections_per_block * PAGES_PER_SECTION;
    let blocks = ids
        .into_iter()
        .map(|id| {
            let (start, end) = (id * pages, (id + 1) * pages);
            let mut nodes = Vec::new();
            let mut zone = None;
            for node in &mm.zones.nodes {
                let (ns, ne) = (node.node_start_pfn, node.node_end_pfn());
                if node.node_spanned_pages == 0 || ne <= start || ns >= end {
                    continue;
                }
                // Any pfn of a present section in the block whose `early_pfn_to_nid` is this node: one of the
                // node's memory ranges (always in present sections), or a hole (the first online node's).
                let has_memory =
                    mm.memblock.memory.iter().any(|r| r.nid == node.nid && r.start_pfn < end && r.end_pfn > start);
                let hole_is_ours = node.nid == 0 && has_hole(mm, start, end);
                if !(has_memory || hole_is_ours) {
                    continue;
                }
                if nodes.is_empty() {
                    let mut found = None;
                    for z in node.zones.iter().filter(|z| z.populated()) {
                        if z.zone_start_pfn < end && z.zone_end_pfn() > start {
                            found = if found.is_none() { Some(Some(z.zone_type)) } else { Some(None) };
                            if found == Some(None) {
                                break;
                            }
                        }
                    }
                    zone = found.flatten();
                } else {
                    zone = None;
                }
                nodes.push(node.nid);
            }
            MemoryBlock { id, nodes, zone }
        })
        .collect();
    (bs, blocks)
}

/// Whether a present section of `[start, end)` holds a pfn outside every memory range.
fn has_hole(mm: &Mm, start: u64, end: u64) -> bool {
    let mut pfn = start;
    while pfn < end {
        let nr = pfn_to_section_nr(pfn);
        let sec_end = (nr + 1) * PAGES_PER_SECTION;
        if mm.sparse.section(nr).is_some_and(|ms| ms.present()) {
            // Covered wholly by memory ranges?
            let mut p = pfn;
            while p < sec_end {
                match mm.memblock.memory.iter().find(|r| r.start_pfn <= p && p < r.end_pfn) {
                    Some(r) => p = r.end_pfn,
                    None => return true,
                }
            }
        }
        pfn = sec_end;
    }
    false
}

/// `pfn_to_online_page` as in Linux 6.1: an online section with a memmap, and the pfn's subsection bit (these
/// files show what Linux 6.1 would, whatever era the hole policy models).
pub fn pfn_to_online_page(mm: &Mm, pfn: u64) -> bool {
    mm.sparse.pfn_is_online(pfn)
        && mm
            .sparse
            .section(pfn_to_section_nr(pfn))
            .is_some_and(|ms| ms.usage.subsection_map & (1 << subsection_index(pfn)) != 0)
}

/// The kpageflags classes of every pfn of every memory block, as `(start, pages, class)` runs.
pub fn kpageflags_runs(mm: &Mm) -> Vec<(u64, u64, Kpf)> {
    let (bs, blocks) = memory_blocks(mm);
    let pages = bs >> PAGE_SHIFT;
    let mut runs: Vec<(u64, u64, Kpf)> = Vec::new();
    let push = |runs: &mut Vec<(u64, u64, Kpf)>, pfn: u64, n: u64, c: Kpf| match runs.last_mut() {
        Some(last) if last.2 == c && last.0 + last.1 == pfn => last.1 += n,
        _ => runs.push((pfn, n, c)),
    };
    for b in &blocks {
        let (start, end) = (b.id * pages, (b.id + 1) * pages);
        let mut pfn = start;
        let mut buddy_end = 0;
        while pfn < end {
            let nr = pfn_to_section_nr(pfn);
            if !mm.sparse.section(nr).is_some_and(|ms| ms.valid() && ms.online()) {
                let next = ((nr + 1) * PAGES_PER_SECTION).min(end);
                push(&mut runs, pfn, next - pfn, Kpf::NoPage);
                pfn = next;
                continue;
            }
            let class = match mm.sparse.pfn_to_page(pfn) {
                _ if !pfn_to_online_page(mm, pfn) => Kpf::NoPage,
                None => Kpf::NoPage,
                Some(p) if p.is_poisoned() => Kpf::Poisoned,
                Some(p) if p.is_reserved() => Kpf::Reserved,
                Some(p) if p.has_type(PageType::BUDDY) => {
                    buddy_end = pfn + (1u64 << p.private.min(63));
                    Kpf::Buddy
                }
                Some(_) if pfn < buddy_end => Kpf::Buddy,
                Some(_) => Kpf::Other,
            };
            push(&mut runs, pfn, 1, class);
            pfn += 1;
        }
    }
    runs
}

/// The "Number of blocks type" counts `[Unmovable, Movable, Reclaimable, HighAtomic, Isolate]` of each populated
/// zone.
pub fn pageblock_counts(mm: &Mm) -> Vec<(u32, ZoneType, [u64; 5])> {
    let mut out = Vec::new();
    for node in &mm.zones.nodes {
        for z in node.zones.iter().filter(|z| z.populated()) {
            let mut counts = [0u64; 5];
            let mut pfn = z.zone_start_pfn;
            while pfn < z.zone_end_pfn() {
                if pfn_to_online_page(mm, pfn) {
                    let same_zone = mm
                        .sparse
                        .pfn_to_page(pfn)
                        .and_then(|p| p.links(pfn).ok())
                        .is_some_and(|l| l.nid == z.nid && l.zone as usize == z.zone_type.index());
                    let mt = mm.sparse.get_pfnblock_flags_mask(pfn, migratetype::MASK) as usize;
                    if same_zone && mt < counts.len() {
                        counts[mt] += 1;
                    }
                }
                pfn += PAGEBLOCK_NR_PAGES;
            }
            out.push((z.nid, z.zone_type, counts));
        }
    }
    out
}

/// The zones' page counts as the watermark code takes them, from the buddy allocator's counters.
pub fn zone_managed(mm: &Mm, buddy: &Buddy) -> Vec<ZoneManaged> {
    let counts = buddy.all_zone_counts();
    let mut out = Vec::new();
    for node in &mm.zones.nodes {
        for z in &node.zones {
            let c = counts.iter().find(|c| c.nid == z.nid && c.zone == z.zone_type);
            out.push(ZoneManaged {
                nid: z.nid,
                zone: z.zone_type,
                managed_pages: c.map_or(0, |c| c.managed_pages),
                present_pages: z.present_pages,
            });
        }
    }
    out
}

/// Every zone's low watermark, in the allocator's zone order (what `Buddy::pcp_sets` takes).
pub fn low_watermarks(mm: &Mm, buddy: &Buddy) -> Vec<u64> {
    let managed = zone_managed(mm, buddy);
    let (_, marks) = watermarks::setup(&managed);
    buddy
        .zone_order()
        .iter()
        .map(|&(nid, zone)| {
            managed.iter().zip(marks.iter()).find(|(m, _)| m.nid == nid && m.zone == zone).map_or(0, |(_, w)| w.low)
        })
        .collect()
}

/// /proc/zoneinfo without the vm statistics (see the module documentation), and `min_free_kbytes`.
pub fn zoneinfo_lines(mm: &Mm, buddy: &Buddy) -> (u64, Vec<String>) {
    zoneinfo_lines_pcp(mm, buddy, &[])
}

/// [`zoneinfo_lines`] with the `pagesets` block of every populated zone from the online CPUs' lists `pcp` (one
/// set per online CPU, in CPU order): `cpu: N`, `count`, `high`, `batch`, then `vm stats threshold` (6.1's
/// `zoneinfo_show_print`).
pub fn zoneinfo_lines_pcp(mm: &Mm, buddy: &Buddy, pcp: &[&crate::buddy::PcpSet]) -> (u64, Vec<String>) {
    let counts = buddy.all_zone_counts();
    let managed = zone_managed(mm, buddy);
    let (kbytes, marks) = watermarks::setup(&managed);
    let mut out = Vec::new();
    for (zm, w) in managed.iter().zip(marks.iter()) {
        let Some(z) = mm.zones.zone(zm.nid, zm.zone) else { continue };
        let free = counts.iter().find(|c| c.nid == zm.nid && c.zone == zm.zone).map_or(0, |c| c.free_pages);
        let mut protection: Vec<u64> = w.protection.to_vec();
        if mm.opts.zone_device {
            protection.push(*protection.last().unwrap_or(&0));
        }
        zone_block(
            &mut out,
            zm.nid,
            zm.zone.name(),
            free,
            (w.min, w.low, w.high),
            z.spanned_pages,
            z.present_pages,
            zm.managed_pages,
            &protection,
        );
        if z.populated() {
            out.push(format!("      nr_free_pages {}", free));
            if !pcp.is_empty() {
                out.push(String::from("  pagesets"));
                let threshold = crate::buddy::vm_stat_threshold(zm.managed_pages, pcp.len() as u32);
                for set in pcp {
                    let Some(p) = set.zone(zm.nid, zm.zone) else { continue };
                    out.push(format!("    cpu: {}", set.cpu));
                    out.push(format!("              count: {}", p.count));
                    out.push(format!("              high:  {}", p.high));
                    out.push(format!("              batch: {}", p.batch));
                    out.push(format!("  vm stats threshold: {}", threshold));
                }
            }
            out.push(format!("  start_pfn:           {}", z.zone_start_pfn));
        }
        if mm.opts.zone_device && zm.zone == ZoneType::Movable {
            zone_block(&mut out, zm.nid, "Device", 0, (0, 0, 0), 0, 0, 0, &[0; MAX_NR_ZONES + 1]);
        }
    }
    (kbytes, out)
}

#[allow(clippy::too_many_arguments)]
fn zone_block(
    out: &mut Vec<String>,
    nid: u32,
    name: &str,
    free: u64,
    (min, low, high): (u64, u64, u64),
    spanned: u64,
    present: u64,
    managed: u64,
    protection: &[u64],
) {
    out.push(format!("Node {}, zone {:>8}", nid, name));
    out.push(format!("  pages free     {}", free));
    out.push(String::from("        boost    0"));
    out.push(format!("        min      {}", min));
    out.push(format!("        low      {}", low));
    out.push(format!("        high     {}", high));
    out.push(format!("        spanned  {}", spanned));
    out.push(format!("        present  {}", present));
    out.push(format!("        managed  {}", managed));
    out.push(String::from("        cma      0"));
    out.push(format!(
        "        protection: ({})",
        protection.iter().map(|p| format!("{}", p)).collect::<Vec<_>>().join(", ")
    ));
}

/// /proc/buddyinfo: one line per populated zone, free blocks per order.
pub fn buddyinfo_lines(buddy: &Buddy) -> Vec<String> {
    let mut out = Vec::new();
    for c in buddy.all_zone_counts().iter().filter(|c| c.present_pages > 0) {
        let mut line = format!("Node {}, zone {:>8} ", c.nid, c.zone.name());
        for n in c.nr_free.iter() {
            let _ = write!(line, "{:>7}", n);
        }
        out.push(line);
    }
    out
}

/// The whole dump (see the module documentation), one line per element.
pub fn dump_lines(mm: &Mm, buddy: &Buddy, event: &str) -> Vec<String> {
    dump_lines_pcp(mm, buddy, event, &[])
}

/// [`dump_lines`] with the online CPUs' per-CPU lists (zoneinfo's `pagesets` blocks).
pub fn dump_lines_pcp(mm: &Mm, buddy: &Buddy, event: &str, pcp: &[&crate::buddy::PcpSet]) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!("@@dump {}", event));
    let (kbytes, zoneinfo) = zoneinfo_lines_pcp(mm, buddy, pcp);
    out.push(String::from("@@begin zoneinfo"));
    out.extend(zoneinfo);
    out.push(String::from("@@end zoneinfo"));
    out.push(String::from("@@begin pagetypeinfo"));
    out.push(String::from("Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate "));
    for (nid, zone, c) in pageblock_counts(mm) {
        let mut line = format!("Node {}, zone {:>8} ", nid, zone.name());
        for n in c {
            let _ = write!(line, "{:>12} ", n);
        }
        out.push(line);
    }
    out.push(String::from("@@end pagetypeinfo"));
    out.push(String::from("@@begin buddyinfo"));
    out.extend(buddyinfo_lines(buddy));
    out.push(String::from("@@end buddyinfo"));
    out.push(String::from("@@begin sysctl"));
    out.push(format!("min_free_kbytes={}", kbytes));
    out.push(format!("watermark_scale_factor={}", watermarks::WATERMARK_SCALE_FACTOR));
    out.push(String::from("@@end sysctl"));
    let (bs, blocks) = memory_blocks(mm);
    out.push(String::from("@@begin memory_blocks"));
    out.push(format!("block_size_bytes={:#x}", bs));
    for b in &blocks {
        let nodes = if b.nodes.is_empty() {
            String::from("-")
        } else {
            b.nodes.iter().map(|n| format!("{}", n)).collect::<Vec<_>>().join(",")
        };
        out.push(format!(
            "memory{} node={} state=online valid_zones={} phys_index={:#x}",
            b.id,
            nodes,
            b.zone.map_or("none", |z| z.name()),
            // Linux's phys_index is the block id (`memory_block_id` of the first section).
            b.id
        ));
    }
    out.push(String::from("@@end memory_blocks"));
    out.push(String::from("@@begin kpageflags"));
    for (s, n, c) in kpageflags_runs(mm) {
        out.push(format!("{:#x} {} {}", s, n, c.name()));
    }
    out.push(String::from("@@end kpageflags"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_as_x86_64_in_a_guest() {
        // Below 64 GiB: one section.
        assert_eq!(memory_block_size(0x13a000), 128 << 20);
        // 64 GiB of RAM on pc: 3 GiB below 4 GiB, the rest from 4 GiB, memory ends at 65 GiB: 1 GiB blocks.
        assert_eq!(memory_block_size((65u64 << 30) >> 12), 1 << 30);
        assert_eq!(memory_block_size((256u64 << 30) >> 12), 2 << 30);
        // Ending 128 MiB past a GiB boundary above 64 GiB: back to one section.
        assert_eq!(memory_block_size(((64u64 << 30) + (128 << 20)) >> 12), 128 << 20);
    }
}
