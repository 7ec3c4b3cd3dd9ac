//! What `memlab compare` prints: the table of rows (spans, counts, verifier and walker findings, the links diff)
//! and the same as JSON.

use super::*;

fn span(start: u64, pages: u64) -> String {
    if pages == 0 {
        "empty".into()
    } else {
        format!("[{:#x},{:#x})", start, start + pages)
    }
}

/// The rows of the table: (label, one cell per column).
pub fn table_rows(runs: &[PolicyRun]) -> Vec<(String, Vec<String>)> {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    // Nodes and zones present under any policy, in (nid, zone) order.
    let mut nids: Vec<u32> = runs.iter().flat_map(|r| r.sim.mm.zones.nodes.iter().map(|n| n.nid)).collect();
    nids.sort_unstable();
    nids.dedup();
    for &nid in &nids {
        rows.push((
            format!("node {} span", nid),
            runs.iter()
                .map(|r| r.sim.mm.zones.node(nid).map_or("-".into(), |n| span(n.node_start_pfn, n.node_spanned_pages)))
                .collect(),
        ));
        for z in mm::zones::ZoneType::ALL {
            let any = runs.iter().any(|r| r.sim.mm.zones.zone(nid, z).is_some_and(|z| z.spanned_pages > 0));
            if !any {
                continue;
            }
            rows.push((
                format!("node {} zone {} span", nid, z.name()),
                runs.iter()
                    .map(|r| {
                        r.sim.mm.zones.zone(nid, z).map_or("-".into(), |z| span(z.zone_start_pfn, z.spanned_pages))
                    })
                    .collect(),
            ));
        }
    }
    let mut links: Vec<PageLinks> =
        runs.iter().flat_map(|r| r.map.hole_pages_by_links().into_iter().map(|(l, _)| l)).collect();
    links.sort();
    links.dedup();
    for l in links {
        rows.push((
            match l {
                PageLinks::Poisoned => "hole pages left poisoned".to_string(),
                _ => format!("hole pages linked to {}", l.label()),
            },
            runs.iter()
                .map(|r| r.map.hole_pages_by_links().iter().find(|(x, _)| *x == l).map_or(0, |(_, n)| *n).to_string())
                .collect(),
        ));
    }
    rows.push(("hole pages (total)".into(), runs.iter().map(|r| r.hole_pages().to_string()).collect()));
    rows.push((
        "printed unavailable-ranges lines".into(),
        runs.iter().map(|r| r.sim.our_hole_lines().len().to_string()).collect(),
    ));
    for k in mm::verify::FindingKind::ALL {
        if runs.iter().all(|r| r.verifier_count(k) == 0) {
            continue;
        }
        rows.push((format!("verify: {}", k.as_str()), runs.iter().map(|r| r.verifier_count(k).to_string()).collect()));
    }
    rows.push((
        "pageblock check at memmap init".into(),
        runs.iter().map(|r| r.init_violations().to_string()).collect(),
    ));
    let mut walkers: Vec<String> = Vec::new();
    for r in runs {
        for w in &r.walkers {
            if !walkers.contains(&w.walker) {
                walkers.push(w.walker.clone());
            }
        }
    }
    for w in &walkers {
        rows.push((
            format!("walker {} (findings/VM_BUG)", w),
            runs.iter()
                .map(|r| {
                    r.walkers
                        .iter()
                        .find(|x| &x.walker == w)
                        .map_or("-".into(), |x| format!("{}/{}", x.findings, x.violations))
                })
                .collect(),
        ));
    }
    rows.push((
        "broken promises".into(),
        runs.iter().map(|r| r.sim.verification.broken_promises.len().to_string()).collect(),
    ));
    rows
}

/// Most diff ranges listed in the text output (`--json` lists all).
pub const MAX_DIFF_LINES: usize = 40;

/// The text output.
pub fn render(source: &Source, runs: &[PolicyRun]) -> String {
    let mut out = String::new();
    let names: Vec<&str> = runs.iter().map(|r| r.policy).collect();
    let _ = writeln!(out, "memlab: compare: {}: {}", source.describe(), names.join(", "));
    if let Some(r) = runs.first() {
        let _ = writeln!(out, "memlab: compare: layout from {}", r.sim.source);
    }
    if matches!(source, Source::Profile(..)) {
        let _ = writeln!(
            out,
            "memlab: compare: counts (hole pages total, verify, walkers) from each kernel's @@summary; spans, links and hole pages per link from the simulator's replay of that kernel's serial log"
        );
        for r in runs {
            if let Some(k) = &r.kernel {
                let replay = r.sim.verification.hole_pages;
                let kernel = r.kernel_u64(&["hole_pages"]);
                let agree = match kernel {
                    Some(h) if h == replay => "replay agrees (hole pages)".to_string(),
                    Some(h) => format!("REPLAY DIFFERS: kernel {} hole pages, replay {}", h, replay),
                    None => "no @@summary: counts from the replay".to_string(),
                };
                let _ = writeln!(
                    out,
                    "memlab: compare: {}: {} in {:.1} s, {}; log {}",
                    r.policy, k.status, k.seconds, agree, k.log_path
                );
            }
        }
    }
    if runs.iter().any(|r| r.kernel.is_none() && r.walkers.is_empty()) {
        let _ = writeln!(
            out,
            "memlab: compare: walkers skipped: more than {} pfn_valid pages (--walkers runs them, slowly)",
            WALKER_PAGE_LIMIT
        );
    }
    let rows = table_rows(runs);
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..runs.len()).map(|i| rows.iter().map(|(_, c)| c[i].len()).max().unwrap_or(0).max(names[i].len())).collect();
    let _ = write!(out, "{:<label_w$}", "");
    for (n, w) in names.iter().zip(&widths) {
        let _ = write!(out, "  {:>w$}", n, w = *w);
    }
    out.push('\n');
    for (label, cells) in &rows {
        let _ = write!(out, "{:<label_w$}", label);
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {:>w$}", c, w = *w);
        }
        out.push('\n');
    }
    let maps: Vec<&LinkMap> = runs.iter().map(|r| &r.map).collect();
    let diffs = diff_links(&maps);
    let pages: u64 = diffs.iter().map(|d| d.end - d.start).sum();
    let _ = writeln!(out, "pfn ranges whose links differ: {} ({} pages)", diffs.len(), pages);
    for d in diffs.iter().take(MAX_DIFF_LINES) {
        let _ = writeln!(out, "  {}", diff_line(d, &names));
    }
    if diffs.len() > MAX_DIFF_LINES {
        let _ = writeln!(out, "  ... {} more (--json lists all)", diffs.len() - MAX_DIFF_LINES);
    }
    out
}

/// `[0x13a000, 0x140000) 24576 pages: node 0 Normal: upstream, strict | poisoned: zeroed-no-tail`: policies that
/// agree are grouped.
pub fn diff_line(d: &LinkDiff, names: &[&str]) -> String {
    let mut groups: Vec<(Option<PageLinks>, Vec<&str>)> = Vec::new();
    for (l, n) in d.links.iter().zip(names) {
        match groups.iter_mut().find(|(x, _)| x == l) {
            Some((_, v)) => v.push(n),
            None => groups.push((*l, vec![n])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(l, v)| format!("{}: {}", l.map_or("no struct page".to_string(), |l| l.label()), v.join(", ")))
        .collect();
    format!(
        "[{:#x}, {:#x}) {} page{}: {}",
        d.start,
        d.end,
        d.end - d.start,
        if d.end - d.start == 1 { "" } else { "s" },
        parts.join(" | ")
    )
}

fn links_json(l: Option<PageLinks>) -> Value {
    match l {
        None => Value::Null,
        Some(PageLinks::Poisoned) => json!("poisoned"),
        Some(PageLinks::Linked { nid, zone }) => json!({"nid": nid, "zone": zone_name(zone)}),
    }
}

/// The `--json` object: `{"source", "layout", "policies":[{policy, origin, nodes, zones, hole_pages,
/// hole_pages_by_links, verify, pageblock_init_violations, walkers, broken_promises, kernel}], "link_diffs":
/// [{start_pfn, end_pfn, pages, links:{policy: {nid, zone} | "poisoned" | null}}]}`.
pub fn to_json(source: &Source, runs: &[PolicyRun]) -> Value {
    let maps: Vec<&LinkMap> = runs.iter().map(|r| &r.map).collect();
    let diffs = diff_links(&maps);
    let policies: Vec<Value> = runs
        .iter()
        .map(|r| {
            let mm = &r.sim.mm;
            json!({
                "policy": r.policy,
                "origin": if r.kernel.is_some() { "kernel summary + simulator replay of its serial log" } else { "simulator" },
                "nodes": mm.zones.nodes.iter().map(|n| json!({"nid": n.nid, "start_pfn": n.node_start_pfn, "spanned": n.node_spanned_pages, "present": n.node_present_pages})).collect::<Vec<_>>(),
                "zones": mm.zones.nodes.iter().flat_map(|n| n.zones.iter().filter(|z| z.spanned_pages > 0).map(|z| json!({"nid": z.nid, "zone": z.zone_type.name(), "start_pfn": z.zone_start_pfn, "spanned": z.spanned_pages, "present": z.present_pages}))).collect::<Vec<_>>(),
                "hole_pages": r.hole_pages(),
                "hole_pages_by_links": r.map.hole_pages_by_links().iter().map(|(l, n)| json!({"links": links_json(Some(*l)), "pages": n})).collect::<Vec<_>>(),
                "unavailable_lines": r.sim.our_hole_lines(),
                "verify": mm::verify::FindingKind::ALL.iter().map(|k| (k.as_str().to_string(), json!(r.verifier_count(*k)))).collect::<serde_json::Map<_, _>>(),
                "pageblock_init_violations": r.init_violations(),
                "walkers": r.walkers.iter().map(|w| json!({"walker": w.walker, "findings": w.findings, "violations": w.violations, "violation_pfns": w.violation_pfns})).collect::<Vec<_>>(),
                "broken_promises": r.sim.verification.broken_promises,
                "kernel": r.kernel.as_ref().map(|k| json!({"status": k.status.to_string(), "log": k.log_path, "seconds": k.seconds, "summary_present": k.summary.is_some()})),
            })
        })
        .collect();
    json!({
        "source": source.describe(),
        "layout": runs.first().map(|r| r.sim.source),
        "policies": policies,
        "link_diffs": diffs.iter().map(|d| json!({
            "start_pfn": d.start,
            "end_pfn": d.end,
            "pages": d.end - d.start,
            "links": runs.iter().zip(&d.links).map(|(r, l)| (r.policy.to_string(), links_json(*l))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}
