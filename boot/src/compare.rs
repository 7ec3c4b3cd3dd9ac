//! `memlab compare`: one layout under several hole policies, side by side.
//!
//! ```text
//! memlab compare <boot-log | --profile NAME> [--policies a,b,...] [--json] [--svg FILE] [--firmware bios|uefi]
//!                [--walkers]
//! ```
//! For a boot log the simulator runs once per policy. For a `--profile` the kernel boots once per policy in QEMU
//! (`holes=<policy>` on its command line, at most two QEMU at a time) and each column is made of two parts, and
//! the output says which is which: the counts the kernel printed in its own `@@summary` line (hole pages, verifier
//! findings, every walker's findings and VM_BUG_ONs), and the per-pfn links, which come from replaying that
//! kernel's serial log in the simulator (`memlab sim` on the same lines; `memlab_tests::cross_check` proves the
//! replay equal to the kernel on every QEMU boot of the test suite, and this command re-checks the hole total).
//!
//! The links diff never materializes a large machine: each model becomes a [`LinkMap`] (one run per uniform
//! section, per-pfn only inside materialized sections), and [`diff_links`] walks run boundaries.
//!
//! # Invariants
//! - one column per policy, in the order given (default: [`mm::policy::POLICIES`] order, so a new policy shows up
//!   without touching this file);
//! - bad input (unknown policy or profile, unreadable log, no memory map) is one line on stderr and exit status
//!   2, never a panic; a boot that does not reach its summary is reported in its column, not hidden.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::linkmap::{diff_links, zone_name, LinkDiff, LinkMap, PageLinks};
use crate::profiles::{self, Profile};
use crate::qemu::{self, RunConfig};
use crate::setup::Firmware;
use crate::sim::{self, SimOptions, SimResult};
use crate::status::RunStatus;

/// Exit status for bad input.
pub const USAGE_ERROR: u8 = 2;

pub const USAGE: &str = "usage: memlab compare <boot-log | --profile NAME> [--policies a,b,...] [--json] [--svg FILE] \
[--firmware bios|uefi] [--walkers]";

/// Where the layout comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A Linux boot log (or a saved serial log), run in the simulator.
    Log(String),
    /// A QEMU profile, booted once per policy.
    Profile(&'static Profile, Firmware),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Log(p) => format!("{} (simulator)", p),
            Source::Profile(p, fw) => format!("profile {} ({}), {} (kernel in QEMU)", p.name, p.description, fw.name()),
        }
    }
}

/// One walker's counts in one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkerCount {
    pub walker: String,
    pub findings: u64,
    /// VM_BUG_ONs: pageblock check violations at the walker's call sites.
    pub violations: u64,
    /// The pfns of the first VM_BUG_ONs.
    pub violation_pfns: Vec<u64>,
}

/// What the kernel printed in its `@@summary` line (profile runs only).
#[derive(Clone, Debug)]
pub struct KernelSummary {
    pub status: RunStatus,
    pub log_path: String,
    pub seconds: f64,
    /// The summary object, when the kernel got that far.
    pub summary: Option<Value>,
}

/// One policy's column.
pub struct PolicyRun {
    pub policy: &'static str,
    /// The model: simulated from the log, or replayed from the kernel's serial log.
    pub sim: SimResult,
    pub map: LinkMap,
    pub walkers: Vec<WalkerCount>,
    /// Where the counts came from (profile runs).
    pub kernel: Option<KernelSummary>,
    /// The serial log of the kernel (profile runs), for `explain`'s reserved ranges and the SVG.
    pub serial: Option<String>,
}

/// A `compare` column in the picture: the model, the kernel's reservations (profiles) and the walkers'
/// VM_BUG_ONs.
impl crate::svg::Drawable for PolicyRun {
    fn svg_row(&self) -> crate::svg::Row {
        let mut row = self.sim.svg_row(self.policy);
        row.map = self.map.clone();
        if let Some(serial) = &self.serial {
            for x in crate::serial_log::parse(serial).reserved {
                row.reserved.push((
                    x.start >> mm::consts::PAGE_SHIFT,
                    (x.end + 4095) >> mm::consts::PAGE_SHIFT,
                    x.what,
                ));
            }
            row.reserved.sort_by_key(|r| r.0);
        }
        let pfns: std::collections::BTreeSet<u64> =
            self.walkers.iter().flat_map(|w| w.violation_pfns.iter().copied()).collect();
        row.violation_pfns = pfns.into_iter().collect();
        row
    }
}

impl PolicyRun {
    /// Hole pages: the kernel's count when there is one, else the simulator's.
    pub fn hole_pages(&self) -> u64 {
        self.kernel_u64(&["hole_pages"]).unwrap_or(self.sim.verification.hole_pages)
    }

    /// A number from the kernel's summary, by path.
    pub fn kernel_u64(&self, path: &[&str]) -> Option<u64> {
        let mut v = self.kernel.as_ref()?.summary.as_ref()?;
        for k in path {
            v = v.get(*k)?;
        }
        v.as_u64()
    }

    /// A verifier count (by `mm::verify::FindingKind::as_str`): the kernel's, else the simulator's.
    pub fn verifier_count(&self, k: mm::verify::FindingKind) -> u64 {
        self.kernel_u64(&["violations", "by_kind", k.as_str()]).unwrap_or(self.sim.verification.count(k))
    }

    /// Pageblock check violations during memmap init (the kernel's total includes its walkers).
    pub fn init_violations(&self) -> u64 {
        self.sim.mm.checker.sites.iter().filter(|s| s.site == "memmap_init_range").map(|s| s.violations).sum()
    }
}

/// Parses the policy list (`a,b,c`), checking every name.
pub fn parse_policies(s: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let p = mm::policy::by_name(name)
            .ok_or_else(|| format!("unknown policy \"{}\"; accepted: {}", name, mm::policy::names().join(", ")))?;
        if !out.contains(&p.name()) {
            out.push(p.name());
        }
    }
    if out.is_empty() {
        return Err("--policies needs at least one policy name".into());
    }
    Ok(out)
}

/// Reads a boot log file (lossy UTF-8).
pub fn read_log(path: &str) -> Result<String, String> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("cannot read {}: {}", path, e))
}

fn walker_counts_of_sim(r: &mut SimResult) -> Vec<WalkerCount> {
    mm::walkers::run_all_walkers(&mut r.mm)
        .iter()
        .map(|w| WalkerCount {
            walker: w.walker.to_string(),
            findings: w.total(),
            violations: w.violations(),
            violation_pfns: w
                .first
                .iter()
                .filter(|f| f.kind == mm::walkers::FindingKind::PageblockCheck)
                .map(|f| f.pfn)
                .collect(),
        })
        .collect()
}

fn walker_counts_of_summary(v: &Value) -> Vec<WalkerCount> {
    let Some(ws) = v.get("walkers").and_then(Value::as_array) else { return Vec::new() };
    ws.iter()
        .map(|w| WalkerCount {
            walker: w.get("walker").and_then(Value::as_str).unwrap_or("?").to_string(),
            findings: w.get("findings").and_then(Value::as_u64).unwrap_or(0),
            violations: w.get("violations").and_then(Value::as_u64).unwrap_or(0),
            violation_pfns: w
                .get("violation_pfns")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// Above this many `pfn_valid` pages the simulator skips the walkers unless asked (`--walkers`): they read every
/// pfn of every zone, page by page (a 1 TiB log costs ~40 s per policy in a debug build; 16 GiB ~0.4 s).
pub const WALKER_PAGE_LIMIT: u64 = 1 << 23;

/// Simulates a log's text under one policy, with the walkers when the machine is at most
/// [`WALKER_PAGE_LIMIT`] pages or `walkers` is set.
pub fn run_log_policy(text: &str, policy: &'static str, walkers: bool) -> Result<PolicyRun, String> {
    run_log_policy_limited(text, policy, if walkers { u64::MAX } else { WALKER_PAGE_LIMIT })
}

/// [`run_log_policy`] with the walkers run only up to `walker_page_limit` pfn_valid pages.
pub fn run_log_policy_limited(text: &str, policy: &'static str, walker_page_limit: u64) -> Result<PolicyRun, String> {
    let opts = SimOptions { policy: policy.to_string(), ..SimOptions::default() };
    let mut sim = sim::simulate(text, &opts)?;
    let map = LinkMap::of(&sim.mm);
    let walkers =
        if sim.verification.valid_pages <= walker_page_limit { walker_counts_of_sim(&mut sim) } else { Vec::new() };
    Ok(PolicyRun { policy, sim, map, walkers, kernel: None, serial: None })
}

/// Boots `profile` under `policy` in QEMU and replays its serial log.
pub fn run_profile_policy(
    profile: &'static Profile,
    firmware: Firmware,
    policy: &'static str,
) -> Result<PolicyRun, String> {
    let mut cfg = RunConfig::new(profile);
    cfg.firmware = firmware;
    cfg.cmdline = format!("holes={}", policy);
    let out = qemu::run(&cfg).map_err(|e| e.0)?;
    let summary = out.log.summary_json.first().and_then(|s| serde_json::from_str::<Value>(s).ok());
    let kernel = KernelSummary {
        status: out.status,
        log_path: out.log_path.display().to_string(),
        seconds: out.duration.as_secs_f64(),
        summary,
    };
    let opts = SimOptions { policy: policy.to_string(), ..SimOptions::default() };
    let sim = sim::simulate(&out.serial, &opts).map_err(|e| {
        format!(
            "profile {} under {}: the kernel's serial log cannot be replayed ({}; {}, log {})",
            profile.name, policy, e, out.status, kernel.log_path
        )
    })?;
    let map = LinkMap::of(&sim.mm);
    let walkers = kernel.summary.as_ref().map(walker_counts_of_summary).unwrap_or_default();
    Ok(PolicyRun { policy, sim, map, walkers, kernel: Some(kernel), serial: Some(out.serial) })
}

/// Runs every policy over the source (profiles: at most two QEMU at a time). Progress goes to stderr.
pub fn run_all(source: &Source, policies: &[&'static str], walkers: bool) -> Result<Vec<PolicyRun>, String> {
    match source {
        Source::Log(path) => {
            let text = read_log(path)?;
            policies.iter().map(|p| run_log_policy(&text, p, walkers).map_err(|e| format!("{}: {}", path, e))).collect()
        }
        Source::Profile(profile, fw) => {
            let next = AtomicUsize::new(0);
            let results: Mutex<Vec<Option<Result<PolicyRun, String>>>> =
                Mutex::new((0..policies.len()).map(|_| None).collect());
            std::thread::scope(|s| {
                for _ in 0..MAX_PARALLEL_BOOTS.min(policies.len()) {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&p) = policies.get(i) else { break };
                        eprintln!("memlab: compare: booting {} with holes={}", profile.name, p);
                        let r = run_profile_policy(profile, *fw, p);
                        if let Ok(r) = &r {
                            if let Some(k) = &r.kernel {
                                eprintln!(
                                    "memlab: compare: holes={}: {} in {:.1} s ({})",
                                    p, k.status, k.seconds, k.log_path
                                );
                            }
                        }
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    });
                }
            });
            results
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err("a boot did not run".into())))
                .collect()
        }
    }
}

/// QEMU instances at a time (TCG is CPU-bound; these machines have 2 cores).
pub const MAX_PARALLEL_BOOTS: usize = 2;

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

/// Parsed arguments.
#[derive(Clone, Debug)]
pub struct CompareArgs {
    pub source: Source,
    pub policies: Vec<&'static str>,
    pub json: bool,
    pub svg: Option<String>,
    /// Run the walkers in the simulator whatever the machine's size.
    pub walkers: bool,
}

/// Parses `--profile NAME` / `--firmware` / a log path: the shared part of `compare` and `explain`.
pub fn parse_source(profile: Option<String>, firmware: Option<String>, file: Option<String>) -> Result<Source, String> {
    let fw = match firmware {
        Some(f) => Firmware::parse(&f).ok_or_else(|| format!("unknown firmware \"{}\"; accepted: bios, uefi", f))?,
        None => Firmware::Bios,
    };
    match (profile, file) {
        (Some(_), Some(f)) => Err(format!("give a boot log or --profile, not both (got \"{}\" too)", f)),
        (Some(p), None) => profiles::find(&p)
            .map(|p| Source::Profile(p, fw))
            .ok_or_else(|| format!("unknown profile \"{}\"; accepted: {}", p, profiles::names())),
        (None, Some(f)) => Ok(Source::Log(f)),
        (None, None) => Err("missing <boot-log> or --profile NAME".into()),
    }
}

/// Walks command-line words: `f(flag, value)` for each `--flag` / `--flag=value` / `--flag value` (`value` fetches
/// the flag's value, inline or the next word) and `f(word, None)`-style positionals through `positional`. Shared by
/// `compare` and `explain`, whose options overlap.
pub fn scan_args(
    args: &[String],
    mut flag: impl FnMut(&str, &mut dyn FnMut(&str) -> Result<String, String>) -> Result<(), String>,
    mut positional: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if !k.starts_with("--") {
            positional(a)?;
            continue;
        }
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().cloned().ok_or_else(|| format!("{} needs a value", name)),
            }
        };
        flag(k, &mut value).map_err(|e| if e.is_empty() { format!("unknown option \"{}\"", a) } else { e })?;
    }
    Ok(())
}

/// Parses `compare`'s arguments.
pub fn parse_args(args: &[String]) -> Result<CompareArgs, String> {
    let (mut profile, mut firmware, mut file, mut policies, mut json, mut svg) = (None, None, None, None, false, None);
    let mut walkers = false;
    scan_args(
        args,
        |k, value| {
            match k {
                "--profile" => profile = Some(value("--profile")?),
                "--firmware" => firmware = Some(value("--firmware")?),
                "--policies" | "--policy" => policies = Some(parse_policies(&value("--policies")?)?),
                "--svg" => svg = Some(value("--svg")?),
                "--json" => json = true,
                "--walkers" => walkers = true,
                _ => return Err(String::new()),
            }
            Ok(())
        },
        |a| {
            if file.is_some() {
                return Err(format!("unexpected argument \"{}\"", a));
            }
            file = Some(a.to_string());
            Ok(())
        },
    )?;
    let source = parse_source(profile, firmware, file)?;
    let policies = policies.unwrap_or_else(|| mm::policy::POLICIES.iter().map(|p| p.name()).collect());
    Ok(CompareArgs { source, policies, json, svg, walkers })
}

/// `memlab compare ...`: returns the exit status.
pub fn main(args: &[String]) -> u8 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", USAGE);
        return 0;
    }
    let a = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("memlab compare: {}\n{}", e, USAGE);
            return USAGE_ERROR;
        }
    };
    if let Source::Log(p) = &a.source {
        // Fail early and clearly on an unreadable file, before any work.
        if let Err(e) = std::fs::metadata(p) {
            eprintln!("memlab compare: cannot read {}: {}", p, e);
            return USAGE_ERROR;
        }
    }
    let runs = match run_all(&a.source, &a.policies, a.walkers) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("memlab compare: {}", e);
            return USAGE_ERROR;
        }
    };
    if a.json {
        println!("{}", to_json(&a.source, &runs));
    } else {
        print!("{}", render(&a.source, &runs));
    }
    if let Some(path) = &a.svg {
        let rows: Vec<crate::svg::Row> = runs.iter().map(crate::svg::Row::of_run).collect();
        let title = format!("memlab compare: {}", a.source.describe());
        if let Err(e) = crate::svg::write(path, &title, &rows) {
            eprintln!("memlab compare: {}", e);
            return USAGE_ERROR;
        }
        eprintln!("memlab: compare: SVG written to {}", path);
    }
    0
}
