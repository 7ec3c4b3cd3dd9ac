//! `memlab explain <pfn> <boot-log | --profile NAME> [--policy NAME]`: everything the model knows about one pfn.
//!
//! The section and subsection (present, memmap, online, early, compressed), the node and zone whose spans hold
//! the pfn (and the zone Linux's `memmap_init_range` would give it if it were memory), whether it is memory (and
//! which memblock range) or a hole, the reservations and firmware regions covering it, its struct page (flags
//! word, PG_reserved, refcount, links, whether `zone_spans_pfn(page_zone(page), pfn)` holds), its pageblock's
//! migratetype, and the rule that decided its links: `memmap_init_range` for memory, the policy's recorded
//! [`mm::memmap::HoleRange::rule`] for a hole (the last write wins, as in the model), or none (still poisoned).
//!
//! For a `--profile` the kernel boots once under the policy and its serial log is replayed in the simulator (the
//! replay equals the kernel: `memlab_tests::cross_check`); the kernel's own `memlab: reserved` lines are added.
//!
//! # Invariants
//! - a pfn is read as `0x` hex or decimal; one beyond the model's `NR_MEM_SECTIONS` or malformed is a usage error
//!   (one line on stderr, status 64), never a panic; a pfn without a struct page is explained, not an error.
//! - without `--policy`, a log is explained under its era's policy, as `sim` chooses it, and the first line says so.

use std::fmt::Write as _;

use mm::consts::{pfn_to_section_nr, section_nr_to_pfn, PAGEBLOCK_NR_PAGES, PAGE_SHIFT};
use mm::page::PageFlags;
use mm::sparse::migratetype;
use mm::zones::ZoneType;

use crate::cli::ExplainArgs;
use crate::compare::{self, PolicyRun, Source};
use crate::exit::Failure;

/// Parses a pfn: `0x` hex or decimal.
pub fn parse_pfn(s: &str) -> Result<u64, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse::<u64>(),
    };
    let pfn = v.map_err(|_| format!("bad pfn \"{}\" (0x hex or decimal)", s))?;
    let max = 1u64 << (mm::consts::MAX_PHYSMEM_BITS - PAGE_SHIFT);
    if pfn >= max {
        return Err(format!("pfn {:#x} is beyond the physical address space (pfns below {:#x})", pfn, max));
    }
    Ok(pfn)
}

fn flag_names(flags: u64) -> String {
    let v: Vec<String> =
        PageFlags::from_bits_truncate(flags).iter_names().map(|(n, _)| n.to_ascii_lowercase()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join("|")
    }
}

/// The explanation of `pfn` in one policy's model, as lines.
pub fn explain(r: &PolicyRun, pfn: u64) -> String {
    let mm = &r.sim.mm;
    let mut out = String::new();
    let nr = pfn_to_section_nr(pfn);
    let sub = mm::sparse::subsection_index(pfn);
    let _ = writeln!(out, "pfn {:#x} (physical {:#x}), policy {}", pfn, pfn << PAGE_SHIFT, r.policy);
    let _ = writeln!(out, "  policy:     {}", mm.policy.summary());
    match mm.sparse.section(nr) {
        Some(ms) if ms.present() || ms.valid() => {
            let _ = writeln!(
                out,
                "  section:    {} [{:#x}, {:#x}), node {}: present {}, memmap {}, online {}, early {}{}",
                nr,
                section_nr_to_pfn(nr),
                section_nr_to_pfn(nr + 1),
                ms.nid,
                ms.present(),
                ms.valid(),
                ms.online(),
                ms.early(),
                if ms.uniform() { ", compressed (one template page for 32768 alike pages)" } else { "" }
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  section:    {} [{:#x}, {:#x}): not present, no memmap",
                nr,
                section_nr_to_pfn(nr),
                section_nr_to_pfn(nr + 1)
            );
        }
    }
    let _ = writeln!(out, "  subsection: {} of the section (2 MiB), pfn_valid {}", sub, mm.sparse.pfn_valid(pfn));
    let spans: Vec<String> = mm
        .zones
        .nodes
        .iter()
        .flat_map(|n| n.zones.iter())
        .filter(|z| z.spanned_pages > 0 && z.zone_spans_pfn(pfn))
        .map(|z| {
            format!("node {} zone {} [{:#x}, {:#x})", z.nid, z.zone_type.name(), z.zone_start_pfn, z.zone_end_pfn())
        })
        .collect();
    let nodes: Vec<String> = mm
        .zones
        .nodes
        .iter()
        .filter(|n| n.spans_pfn(pfn))
        .map(|n| format!("node {} [{:#x}, {:#x})", n.nid, n.node_start_pfn, n.node_end_pfn()))
        .collect();
    let _ =
        writeln!(out, "  node span:  {}", if nodes.is_empty() { "no node spans it".into() } else { nodes.join(", ") });
    let _ =
        writeln!(out, "  zone span:  {}", if spans.is_empty() { "no zone spans it".into() } else { spans.join(", ") });
    let mem = mm.memblock.memory.iter().find(|m| m.start_pfn <= pfn && pfn < m.end_pfn);
    match mem {
        Some(m) => {
            let z = mm.zones.zone_for_pfn(m.nid, pfn).map_or("none", |z| z.name());
            let _ = writeln!(
                out,
                "  memory:     yes, memblock range [{:#x}, {:#x}) of node {}; memmap_init_range gives node {} zone {}",
                m.start_pfn, m.end_pfn, m.nid, m.nid, z
            );
        }
        None => {
            let below = mm.memblock.memory.iter().rev().find(|m| m.end_pfn <= pfn);
            let above = mm.memblock.memory.iter().find(|m| m.start_pfn > pfn);
            let _ = writeln!(
                out,
                "  memory:     no, a hole between {} and {}",
                below.map_or("the start".into(), |m| format!("memory ending at {:#x} (node {})", m.end_pfn, m.nid)),
                above.map_or("the end".into(), |m| format!("memory starting at {:#x} (node {})", m.start_pfn, m.nid))
            );
        }
    }
    let mut reserved: Vec<String> = mm
        .memblock
        .reserved
        .iter()
        .filter(|x| x.start_pfn <= pfn && pfn < x.end_pfn)
        .map(|x| format!("memblock [{:#x}, {:#x}) {}", x.start_pfn, x.end_pfn, x.reason))
        .collect();
    for f in r.sim.log.firmware_map() {
        if f.start >> PAGE_SHIFT <= pfn && pfn < (f.end + 4095) >> PAGE_SHIFT {
            reserved.push(format!("firmware map [mem {:#x}-{:#x}] {:?}", f.start, f.end.saturating_sub(1), f.kind));
        }
    }
    if let Some(serial) = &r.serial {
        for x in crate::serial_log::parse(serial).reserved {
            if x.start >> PAGE_SHIFT <= pfn && pfn < (x.end + 4095) >> PAGE_SHIFT {
                reserved.push(format!("kernel: reserved [mem {:#x}-{:#x}] {}", x.start, x.end - 1, x.what));
            }
        }
    }
    if !reserved.is_empty() {
        let _ = writeln!(out, "  ranges:     {}", reserved.join("; "));
    }
    if !mm.sparse.pfn_valid(pfn) {
        let _ = writeln!(out, "  page:       none (!pfn_valid): no struct page, walkers skip it");
        let _ = writeln!(out, "  rule:       none: no policy writes a pfn without a memmap");
        return out;
    }
    let Some(page) = mm.sparse.pfn_to_page(pfn) else {
        let _ = writeln!(out, "  page:       none (no memmap)");
        return out;
    };
    match page.links(pfn) {
        Err(_) => {
            let _ = writeln!(
                out,
                "  page:       POISONED (flags {:#018x}): never initialized; reading its links is a bug",
                page.flags
            );
        }
        Ok(l) => {
            let zt = ZoneType::from_index(l.zone as usize);
            let zone = zt.and_then(|z| mm.zones.zone(l.nid, z));
            let spans = zone.is_some_and(|z| z.zone_spans_pfn(pfn));
            let node_spans = mm.zones.node(l.nid).is_some_and(|n| n.spans_pfn(pfn));
            let _ = writeln!(
                out,
                "  page:       flags {:#018x} [{}], refcount {}, section field {}",
                page.flags,
                flag_names(page.flags),
                page.refcount,
                page.section()
            );
            let _ = writeln!(
                out,
                "  links:      node {} zone {}: zone_spans_pfn {}, node spans pfn {}{}",
                l.nid,
                zt.map_or("?", |z| z.name()),
                spans,
                node_spans,
                if spans && node_spans { "" } else { "  <- the invariant does NOT hold" }
            );
        }
    }
    let pb = pfn & !(PAGEBLOCK_NR_PAGES - 1);
    if mm.sparse.pfn_valid(pb) {
        let mt = mm.sparse.get_pfnblock_flags_mask(pfn, migratetype::MASK);
        let _ = writeln!(
            out,
            "  pageblock:  [{:#x}, {:#x}) migratetype {}",
            pb,
            pb + PAGEBLOCK_NR_PAGES,
            migratetype::name(mt)
        );
    }
    let rule = if mem.is_some() {
        "memory: memmap_init_range (its memblock node, the zone whose span holds it)".to_string()
    } else if let Some(h) = mm.holes.iter().rev().find(|h| h.start_pfn <= pfn && pfn < h.end_pfn) {
        format!(
            "hole range [{:#x}, {:#x}) of policy {}: {} -> {}",
            h.start_pfn,
            h.end_pfn,
            r.policy,
            h.rule,
            match (h.nid, h.zone) {
                (Some(n), Some(z)) => format!("node {} zone {}", n, z.name()),
                _ => "zeroed struct page (node 0, zone 0 by accident)".into(),
            }
        )
    } else {
        format!("none: policy {} did not initialize this hole", r.policy)
    };
    let _ = writeln!(out, "  rule:       {}", rule);
    out
}

/// `memlab explain ...`: returns the exit status.
pub fn main(a: ExplainArgs) -> u8 {
    let source = match compare::source_of(a.source.log.as_deref(), a.source.profile.as_deref(), &a.source.firmware) {
        Ok(s) => s,
        Err(f) => return f.report("explain"),
    };
    let given = match a.policy.as_deref().map(compare::parse_policies).transpose() {
        Ok(p) => p.map(|p| p[0]),
        Err(e) => return Failure::usage(e).report("explain"),
    };
    let run = match &source {
        Source::Log(path) => compare::read_log(path).and_then(|t| {
            let bad = |e: String| {
                // The lines the parser could not use are often why there is no usable layout.
                crate::warnings::Warnings::of(&mm::dmesg::parse(&t), &[]).print("explain");
                Failure::bad_input(format!("{path}: {e}"))
            };
            // One simulation: under the given policy, or under the one the log's era chooses.
            let opts = crate::sim::SimOptions::default();
            let sim = match given {
                Some(p) => crate::sim::simulate(&t, &crate::sim::SimOptions { policy: p.to_string(), ..opts }),
                None => crate::sim::simulate_era(&t, &opts),
            }
            .map_err(bad)?;
            let run = compare::policy_run(sim, compare::WALKER_PAGE_LIMIT);
            run.sim.warnings.print("explain");
            if a.strict {
                run.sim.warnings.strict()?;
            }
            println!("memlab: explain: policy {}, {}", run.policy, run.sim.policy_reason);
            Ok(run)
        }),
        Source::Profile(p, fw) => compare::run_profile_policy(p, *fw, given.unwrap_or(mm::policy::DEFAULT_POLICY)),
    };
    match run {
        Ok(r) => {
            if let Source::Profile(..) = source {
                if let Some(k) = &r.kernel {
                    println!(
                        "memlab: explain: {} booted in {:.1} s ({}); page state from the replay of its serial log {}",
                        source.describe(),
                        k.seconds,
                        k.status,
                        k.log_path
                    );
                }
            }
            print!("{}", explain(&r, a.pfn));
            0
        }
        Err(f) => f.report("explain"),
    }
}
