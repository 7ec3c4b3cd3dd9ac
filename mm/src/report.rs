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

/// `/proc/buddyinfo` and `/proc/zoneinfo` without the vm statistics, one zone per block, from the buddy
/// allocator's counters: `Node 0, zone   Normal      1      2 ...` (free blocks per order), then per zone its pages
/// free, boost, the min/low/high/promo watermarks and the `protection:` reserves ([`crate::watermarks`]), spanned,
/// present, managed, cma, nr_free_pages and start_pfn, as Linux prints them. The protection tuple has one entry per
/// zone type Linux has, ZONE_DEVICE included when the model has it (it manages no page, so its entries repeat the
/// ones before, as on a Linux with CONFIG_ZONE_DEVICE).
pub fn zoneinfo_lines(mm: &Mm, buddy: &crate::buddy::Buddy) -> Vec<String> {
    let mut out = Vec::new();
    let counts = buddy.all_zone_counts();
    // buddyinfo lists populated zones only.
    for c in counts.iter().filter(|c| c.present_pages > 0) {
        let mut line = format!("Node {}, zone {:>8} ", c.nid, c.zone.name());
        for n in c.nr_free.iter() {
            let _ = write!(line, "{:>7}", n);
        }
        out.push(line);
    }
    let managed: Vec<crate::watermarks::ZoneManaged> = counts
        .iter()
        .map(|c| crate::watermarks::ZoneManaged { nid: c.nid, zone: c.zone, managed_pages: c.managed_pages })
        .collect();
    let (min_free_kbytes, marks) = crate::watermarks::setup(&managed);
    out.push(format!("vm.min_free_kbytes = {}", min_free_kbytes));
    for (c, w) in counts.iter().zip(marks.iter()) {
        let Some(z) = mm.zones.zone(c.nid, c.zone) else { continue };
        let mut protection: Vec<u64> = w.protection.to_vec();
        if mm.opts.zone_device {
            protection.push(*protection.last().unwrap_or(&0));
        }
        out.push(format!("Node {}, zone {:>8}", c.nid, c.zone.name()));
        out.push(format!("  pages free     {}", c.free_pages));
        out.push(String::from("        boost    0"));
        out.push(format!("        min      {}", w.min));
        out.push(format!("        low      {}", w.low));
        out.push(format!("        high     {}", w.high));
        out.push(format!("        promo    {}", w.promo));
        out.push(format!("        spanned  {}", z.spanned_pages));
        out.push(format!("        present  {}", z.present_pages));
        out.push(format!("        managed  {}", c.managed_pages));
        out.push(String::from("        cma      0"));
        out.push(format!(
            "        protection: ({})",
            protection.iter().map(|p| format!("{}", p)).collect::<Vec<_>>().join(", ")
        ));
        out.push(format!("      nr_free_pages {}", c.free_pages));
        out.push(format!("  start_pfn:           {}", z.zone_start_pfn));
    }
    out
}
