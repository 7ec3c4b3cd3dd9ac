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

mod render;
pub use render::{diff_line, render, table_rows, to_json, MAX_DIFF_LINES};

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
