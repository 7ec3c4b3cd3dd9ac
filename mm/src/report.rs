//! The report: Linux-format log lines, the verifier's findings in words, and the one-line JSON summary that the
//! kernel prints after `@@summary ` and the simulator prints with `--json`.
//!
//! The JSON is written by hand (the crate is `no_std` and the object is small and flat); [`json_str`] escapes
//! strings. Schema (all keys always present):
//! `{"policy", "nodes":[{nid,start_pfn,spanned,present}], "zones":[{nid,zone,start_pfn,spanned,present,managed}],
//! "unavailable":[{nid,zone,pages}], "sections":{present,with_memmap,materialized,uniform}, "memmap_bytes",
//! "valid_pages", "hole_pages", "violations":{count,by_kind:{..},first:[{pfn,nid,zone,reason}]},
//! "pageblock":{mode,calls,violations,tolerated,sites:[{site,calls,violations}]}, "broken_promises":[..],
//! "accounting":[..]}`; `nid`/`zone` are `null` where Linux's line names none.
//!
//! # Invariants
//! - the summary is one line (no raw newline can appear: strings are escaped);
//! - the lines are exactly what Linux prints, without timestamps, in print order.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::model::Mm;
use crate::verify::{FindingKind, Verification};
use crate::zones::ZoneType;

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt_u32(v: Option<u32>) -> String {
    v.map_or_else(|| String::from("null"), |v| format!("{}", v))
}

fn opt_zone(z: Option<ZoneType>) -> String {
    z.map_or_else(|| String::from("null"), |z| json_str(z.name()))
}

/// The verifier's findings as log lines (`memlab: verify: ...`).
pub fn verify_lines(mm: &Mm, ver: &Verification) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!(
        "memlab: verify: policy {}: {} pfn_valid pages ({} holes), {} findings",
        mm.policy.name(),
        ver.valid_pages,
        ver.hole_pages,
        ver.total()
    ));
    for k in FindingKind::ALL {
        let n = ver.count(k);
        if n == 0 {
            continue;
        }
        let mut line = format!("memlab: verify: {} pages: {}", n, k.as_str());
        if let Some(f) = ver.first.iter().find(|f| f.kind == k) {
            match f.links {
                Some(l) => {
                    let z = ZoneType::from_index(l.zone as usize).map_or("?", |z| z.name());
                    let _ = write!(line, " (first pfn {:#x}: node {} zone {})", f.pfn, l.nid, z);
                }
                None => {
                    let _ = write!(line, " (first pfn {:#x})", f.pfn);
                }
            }
        }
        out.push(line);
    }
    for (nid, z) in &ver.hole_only_zones {
        out.push(format!("memlab: verify: node {} zone {} spans only holes", nid, z.name()));
    }
    for a in &ver.accounting {
        out.push(format!("memlab: verify: accounting: {}", a));
    }
    for e in &mm.memblock.events {
        let crate::memblock::MemblockEvent::NodeFallback { wanted, got, pages, reason } = *e;
        out.push(format!(
            "memlab: memblock: {} pages of {} for node {} allocated on node {}",
            pages, reason, wanted, got
        ));
    }
    if !mm.unplaced_memmap.is_empty() {
        out.push(format!(
            "memlab: the memmap of {} section(s) does not fit in memory (Linux would fail to boot); kept outside",
            mm.unplaced_memmap.len()
        ));
    }
    let c = &mm.checker;
    let sites: Vec<String> = c.sites.iter().map(|s| format!("{} {}/{}", s.site, s.violations, s.calls)).collect();
    out.push(format!(
        "memlab: pageblock check ({}): {} violations in {} calls{}{}",
        c.mode.name(),
        c.total_violations,
        c.sites.iter().map(|s| s.calls).sum::<u64>(),
        if c.tolerated > 0 { format!(", {} tolerated (PG_reserved)", c.tolerated) } else { String::new() },
        if sites.is_empty() { String::new() } else { format!(" [{}]", sites.join(", ")) }
    ));
    for v in c.first.iter().take(4) {
        out.push(format!("memlab: {}", v));
    }
    if ver.broken_promises.is_empty() {
        out.push(format!("memlab: verify: policy {} keeps its promises", mm.policy.name()));
    } else {
        for p in &ver.broken_promises {
            out.push(format!("memlab: verify: policy {} BREAKS its promise: {}", mm.policy.name(), p));
        }
    }
    out
}

/// The JSON summary object on one line. See the module documentation for the schema.
pub fn summary_json(mm: &Mm, ver: &Verification) -> String {
    let mut s = String::with_capacity(2048);
    let _ = write!(s, "{{\"policy\":{}", json_str(mm.policy.name()));
    s.push_str(",\"nodes\":[");
    for (i, n) in mm.zones.nodes.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"nid\":{},\"start_pfn\":{},\"spanned\":{},\"present\":{}}}",
            if i > 0 { "," } else { "" },
            n.nid,
            n.node_start_pfn,
            n.node_spanned_pages,
            n.node_present_pages
        );
    }
    s.push_str("],\"zones\":[");
    let mut first = true;
    for n in &mm.zones.nodes {
        for z in n.zones.iter().filter(|z| z.spanned_pages > 0 || z.present_pages > 0) {
            let _ = write!(
                s,
                "{}{{\"nid\":{},\"zone\":{},\"start_pfn\":{},\"spanned\":{},\"present\":{},\"managed\":{}}}",
                if first { "" } else { "," },
                z.nid,
                json_str(z.zone_type.name()),
                z.zone_start_pfn,
                z.spanned_pages,
                z.present_pages,
                z.managed_pages
            );
            first = false;
        }
    }
    s.push_str("],\"unavailable\":[");
    for (i, u) in mm.unavailable.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"nid\":{},\"zone\":{},\"pages\":{}}}",
            if i > 0 { "," } else { "" },
            opt_u32(u.nid),
            opt_zone(u.zone),
            u.pages
        );
    }
    let present = mm.sparse.present_sections().count();
    let with_memmap = mm.sparse.valid_sections().count();
    let _ = write!(
        s,
        "],\"sections\":{{\"present\":{},\"with_memmap\":{},\"materialized\":{},\"uniform\":{}}},\"memmap_bytes\":{},\"valid_pages\":{},\"hole_pages\":{}",
        present,
        with_memmap,
        mm.materialized_sections,
        mm.uniform_sections,
        mm.memmap_bytes(),
        ver.valid_pages,
        ver.hole_pages
    );
    let _ = write!(s, ",\"violations\":{{\"count\":{},\"by_kind\":{{", ver.total());
    for (i, k) in FindingKind::ALL.iter().enumerate() {
        let _ = write!(s, "{}{}:{}", if i > 0 { "," } else { "" }, json_str(k.as_str()), ver.count(*k));
    }
    s.push_str("},\"first\":[");
    for (i, f) in ver.first.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"pfn\":{},\"nid\":{},\"zone\":{},\"reason\":{}}}",
            if i > 0 { "," } else { "" },
            f.pfn,
            opt_u32(f.links.map(|l| l.nid)),
            opt_zone(f.links.and_then(|l| ZoneType::from_index(l.zone as usize))),
            json_str(f.kind.as_str())
        );
    }
    let c = &mm.checker;
    let _ = write!(
        s,
        "]}},\"pageblock\":{{\"mode\":{},\"calls\":{},\"violations\":{},\"tolerated\":{},\"sites\":[",
        json_str(c.mode.name()),
        c.sites.iter().map(|x| x.calls).sum::<u64>(),
        c.total_violations,
        c.tolerated
    );
    for (i, site) in c.sites.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"site\":{},\"calls\":{},\"violations\":{}}}",
            if i > 0 { "," } else { "" },
            json_str(site.site),
            site.calls,
            site.violations
        );
    }
    s.push_str("]},\"broken_promises\":[");
    for (i, p) in ver.broken_promises.iter().enumerate() {
        let _ = write!(s, "{}{}", if i > 0 { "," } else { "" }, json_str(p));
    }
    s.push_str("],\"accounting\":[");
    for (i, p) in ver.accounting.iter().enumerate() {
        let _ = write!(s, "{}{}", if i > 0 { "," } else { "" }, json_str(p));
    }
    s.push_str("]}");
    s
}

/// Bytes of `struct mem_section_usage` per section: the subsection bitmap (64 bits) and 4 bits per pageblock, as in
/// Linux 6.1, the kernel memlab models. Since v6.8 it also holds an `rcu_head` (5ec8e8ea8b77, "mm/sparsemem: fix
/// race in accessing memory_section->usage"): 56 bytes.
pub const USEMAP_BYTES_PER_SECTION: u64 = 8 + crate::consts::PAGEBLOCKS_PER_SECTION * 4 / 8;
/// Bytes of `struct mem_section` (Linux x86_64: section_mem_map and the usage pointer).
pub const MEM_SECTION_BYTES: u64 = 16;

/// What the memory model costs one node (issue 6): the memmap of its sections with memory (a section without
/// memory has none), their usemaps and `mem_section` entries, against the node's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeOverhead {
    pub nid: u32,
    pub ram_bytes: u64,
    pub sections: u64,
    pub memmap_bytes: u64,
    pub usemap_bytes: u64,
    pub section_bytes: u64,
}

impl NodeOverhead {
    /// (memmap + usemap + mem_section bytes) per 100,000 bytes of RAM (per cent with three decimals).
    pub fn permille_x100(&self) -> u64 {
        (self.memmap_bytes + self.usemap_bytes + self.section_bytes) * 100_000 / self.ram_bytes.max(1)
    }
}

/// The overhead of every node, and the bytes of the section roots (shared by all nodes: the root pointer array
/// and one 4 KiB page of `mem_section`s per allocated root, SPARSEMEM_EXTREME).
pub fn overhead(mm: &Mm) -> (Vec<NodeOverhead>, u64) {
    let mut out: Vec<NodeOverhead> = mm
        .zones
        .nodes
        .iter()
        .map(|n| NodeOverhead {
            nid: n.nid,
            ram_bytes: n.node_present_pages * crate::consts::PAGE_SIZE,
            sections: 0,
            memmap_bytes: 0,
            usemap_bytes: 0,
            section_bytes: 0,
        })
        .collect();
    for nr in mm.sparse.valid_sections() {
        let Some(ms) = mm.sparse.section(nr) else { continue };
        if let Some(o) = out.iter_mut().find(|o| o.nid == ms.nid) {
            o.sections += 1;
            o.memmap_bytes += crate::sparse::MEMMAP_BYTES_PER_SECTION;
            o.usemap_bytes += USEMAP_BYTES_PER_SECTION;
            o.section_bytes += MEM_SECTION_BYTES;
        }
    }
    let nr_roots = mm.sparse.nr_mem_sections().div_ceil(crate::sparse::SECTIONS_PER_ROOT);
    let roots = nr_roots * 8 + mm.sparse.roots_allocated() as u64 * crate::consts::PAGE_SIZE;
    (out, roots)
}

/// [`overhead`] as JSON: `{"nodes":[{nid,ram_bytes,sections,memmap_bytes,usemap_bytes,section_bytes,percent}],
/// "section_root_bytes", "total_percent"}` (percent as a decimal string with three places).
pub fn overhead_json(mm: &Mm) -> String {
    let (nodes, roots) = overhead(mm);
    let pct = |x: u64| format!("{}.{:03}", x / 1000, x % 1000);
    let mut s = String::from("{\"nodes\":[");
    for (i, o) in nodes.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"nid\":{},\"ram_bytes\":{},\"sections\":{},\"memmap_bytes\":{},\"usemap_bytes\":{},\"section_bytes\":{},\"percent\":\"{}\"}}",
            if i > 0 { "," } else { "" },
            o.nid,
            o.ram_bytes,
            o.sections,
            o.memmap_bytes,
            o.usemap_bytes,
            o.section_bytes,
            pct(o.permille_x100())
        );
    }
    let ram: u64 = nodes.iter().map(|o| o.ram_bytes).sum();
    let cost: u64 = nodes.iter().map(|o| o.memmap_bytes + o.usemap_bytes + o.section_bytes).sum::<u64>() + roots;
    let _ =
        write!(s, "],\"section_root_bytes\":{},\"total_percent\":\"{}\"}}", roots, pct(cost * 100_000 / ram.max(1)));
    s
}

/// The overhead as log lines.
pub fn overhead_lines(mm: &Mm) -> Vec<String> {
    let (nodes, roots) = overhead(mm);
    let mut out: Vec<String> = nodes
        .iter()
        .filter(|o| o.sections > 0 || o.ram_bytes > 0)
        .map(|o| {
            let x = o.permille_x100();
            format!(
                "memlab: overhead: node {}: {} sections, memmap {} KiB, usemap {} B, mem_section {} B = {}.{:03}% of {} MiB RAM",
                o.nid,
                o.sections,
                o.memmap_bytes >> 10,
                o.usemap_bytes,
                o.section_bytes,
                x / 1000,
                x % 1000,
                o.ram_bytes >> 20
            )
        })
        .collect();
    out.push(format!("memlab: overhead: section roots {} B", roots));
    out.push(format!(
        "memlab: overhead: mem_section_usage {} B per section as in Linux 6.1 (56 B since v6.8, 5ec8e8ea8b77)",
        USEMAP_BYTES_PER_SECTION
    ));
    out
}

#[cfg(test)]
mod overhead_tests {
    use super::*;
    use crate::layout::{Layout, MemRange};
    use crate::model::MmOptions;
    use crate::sparse::HeapBacking;
    use alloc::boxed::Box;

    #[test]
    fn sections_without_memory_cost_no_memmap() {
        // -m 4000M: sections 0-23 and 32-39 have memory; 24-31 (the PCI hole) none.
        let mem = [
            MemRange { start_pfn: 1, end_pfn: 0x9f, nid: 0 },
            MemRange { start_pfn: 0x100, end_pfn: 0xbffe0, nid: 0 },
            MemRange { start_pfn: 0x100000, end_pfn: 0x13a000, nid: 0 },
        ];
        let layout = Layout::from_memory_ranges(&mem).unwrap();
        let mm = Mm::boot(&layout, MmOptions::new(crate::policy::by_name("upstream").unwrap()), Box::new(HeapBacking))
            .unwrap();
        let (nodes, roots) = overhead(&mm);
        assert_eq!(nodes[0].sections, 32);
        assert_eq!(nodes[0].memmap_bytes, 32 << 21);
        assert_eq!(nodes[0].usemap_bytes, 32 * 40);
        assert_eq!(roots, 2048 * 8 + 4096);
        // 64 MiB of memmap for 4000 MiB - 386 KiB of RAM: about 1.6%.
        assert_eq!(nodes[0].permille_x100() / 100, 16);
        assert!(overhead_json(&mm).contains("\"memmap_bytes\":67108864"));
    }
}
