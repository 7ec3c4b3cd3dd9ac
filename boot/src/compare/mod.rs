//! `memlab compare`: one layout under several hole policies, side by side.
//!
//! ```text
//! memlab compare <boot-log | --profile NAME> [--policies a,b,...] [--json] [--svg FILE] [--firmware bios|uefi]
//!                [--walkers]
//! ```
//! For a boot log the simulator runs once per policy. For a `--profile` the kernel boots once per policy in QEMU
//! (`holes=<policy>` on its command line, `--jobs` QEMU at a time, one per core by default, with a progress line
//! per boot) and each column is made of two parts, and
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
use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::cli::CompareArgs;
use crate::exit::Failure;
use crate::linkmap::{diff_links, zone_name, LinkDiff, LinkMap, PageLinks};
use crate::profiles::{self, Profile};
use crate::qemu::{self, RunConfig};
use crate::setup::Firmware;
use crate::sim::{self, SimOptions, SimResult};
use crate::status::RunStatus;

mod render;
pub use render::{diff_line, render, table_rows, to_json, MAX_DIFF_LINES};

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

/// Reads a boot log file (lossy UTF-8); `-` is stdin.
pub fn read_log(path: &str) -> Result<String, Failure> {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map(|_| b)
    } else {
        std::fs::read(path)
    };
    bytes
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| Failure::no_input(format!("cannot read {}: {}", if path == "-" { "stdin" } else { path }, e)))
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
    Ok(policy_run(sim::simulate(text, &opts)?, walker_page_limit))
}

/// A simulation as one column: its links and, up to `walker_page_limit` pfn_valid pages, its walkers' counts.
pub fn policy_run(mut sim: SimResult, walker_page_limit: u64) -> PolicyRun {
    let policy = sim.mm.policy.name();
    let map = LinkMap::of(&sim.mm);
    let walkers =
        if sim.verification.valid_pages <= walker_page_limit { walker_counts_of_sim(&mut sim) } else { Vec::new() };
    PolicyRun { policy, sim, map, walkers, kernel: None, serial: None }
}

/// Boots `profile` under `policy` in QEMU and replays its serial log.
pub fn run_profile_policy(
    profile: &'static Profile,
    firmware: Firmware,
    policy: &'static str,
) -> Result<PolicyRun, Failure> {
    let mut cfg = RunConfig::new(profile);
    cfg.firmware = firmware;
    cfg.cmdline = format!("holes={}", policy);
    let out = qemu::run(&cfg).map_err(|e| Failure::run(RunStatus::Setup, e.0))?;
    let summary = out.log.summary_json.first().and_then(|s| serde_json::from_str::<Value>(s).ok());
    let kernel = KernelSummary {
        status: out.status,
        log_path: out.log_path.display().to_string(),
        seconds: out.duration.as_secs_f64(),
        summary,
    };
    let opts = SimOptions { policy: policy.to_string(), ..SimOptions::default() };
    let sim = sim::simulate(&out.serial, &opts).map_err(|e| {
        Failure::bad_input(format!(
            "profile {} under {}: the kernel's serial log cannot be replayed ({}; {}, log {})",
            profile.name, policy, e, out.status, kernel.log_path
        ))
    })?;
    let map = LinkMap::of(&sim.mm);
    let walkers = kernel.summary.as_ref().map(walker_counts_of_summary).unwrap_or_default();
    Ok(PolicyRun { policy, sim, map, walkers, kernel: Some(kernel), serial: Some(out.serial) })
}

/// Runs every policy over the source (profiles: at most `jobs` QEMU at a time; a progress line per boot on
/// stderr, and a bar (on stderr) when stdout is a terminal).
pub fn run_all(
    source: &Source,
    policies: &[&'static str],
    walkers: bool,
    jobs: usize,
) -> Result<Vec<PolicyRun>, Failure> {
    match source {
        Source::Log(path) => {
            let text = read_log(path)?;
            policies
                .iter()
                .map(|p| {
                    run_log_policy(&text, p, walkers).map_err(|e| {
                        // The lines the parser could not use are often why there is no usable layout.
                        crate::warnings::Warnings::of(&mm::dmesg::parse(&text), &[]).print("compare");
                        Failure::bad_input(format!("{}: {}", path, e))
                    })
                })
                .collect()
        }
        Source::Profile(profile, fw) => {
            let started = std::time::Instant::now();
            let bar = std::io::stdout().is_terminal().then(|| {
                let b = indicatif::ProgressBar::new(policies.len() as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} boots {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.enable_steady_tick(std::time::Duration::from_millis(200));
                b
            });
            let say = |line: String| match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            };
            let next = AtomicUsize::new(0);
            let done = AtomicUsize::new(0);
            let results: Mutex<Vec<Option<Result<PolicyRun, Failure>>>> =
                Mutex::new((0..policies.len()).map(|_| None).collect());
            std::thread::scope(|s| {
                for _ in 0..jobs.clamp(1, policies.len().max(1)) {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&p) = policies.get(i) else { break };
                        say(format!("memlab: compare: booting {} with holes={}", profile.name, p));
                        let r = run_profile_policy(profile, *fw, p);
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        match &r {
                            Ok(r) => {
                                if let Some(k) = &r.kernel {
                                    say(format!(
                                        "memlab: compare: [{}/{}] holes={}: {} in {:.1} s ({}); {:.0} s elapsed",
                                        n,
                                        policies.len(),
                                        p,
                                        k.status,
                                        k.seconds,
                                        k.log_path,
                                        started.elapsed().as_secs_f64()
                                    ));
                                }
                            }
                            Err(f) => {
                                say(format!("memlab: compare: [{}/{}] holes={}: {}", n, policies.len(), p, f.message))
                            }
                        }
                        if let Some(b) = &bar {
                            b.set_message(format!("(last: {p})"));
                            b.inc(1);
                        }
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    });
                }
            });
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            results
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(Failure::run(RunStatus::Setup, "a boot did not run"))))
                .collect()
        }
    }
}

/// QEMU instances at a time by default: one per core (TCG is CPU-bound).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The source `compare` and `explain` read: a log path or a profile.
pub fn source_of(log: Option<&str>, profile: Option<&str>, firmware: &str) -> Result<Source, Failure> {
    let fw = Firmware::parse(firmware).ok_or_else(|| Failure::usage(format!("unknown firmware \"{firmware}\"")))?;
    match (profile, log) {
        (Some(p), _) => profiles::find(p)
            .map(|p| Source::Profile(p, fw))
            .ok_or_else(|| Failure::usage(format!("unknown profile \"{p}\"; accepted: {}", profiles::names()))),
        (None, Some(f)) => Ok(Source::Log(f.to_string())),
        (None, None) => Err(Failure::usage("missing <BOOT_LOG> or --profile NAME")),
    }
}

/// `memlab compare ...`: returns the exit status.
pub fn main(a: CompareArgs) -> u8 {
    let source = match source_of(a.source.log.as_deref(), a.source.profile.as_deref(), &a.source.firmware) {
        Ok(s) => s,
        Err(f) => return f.report("compare"),
    };
    let policies = if a.policies.is_empty() {
        mm::policy::POLICIES.iter().map(|p| p.name()).collect()
    } else {
        match parse_policies(&a.policies.join(",")) {
            Ok(p) => p,
            Err(e) => return Failure::usage(e).report("compare"),
        }
    };
    let jobs = a.jobs.map_or_else(default_jobs, |j| j as usize);
    let runs = match run_all(&source, &policies, a.walkers, jobs) {
        Ok(r) => r,
        Err(f) => return f.report("compare"),
    };
    // One log, one set of warnings (every policy reads the same lines).
    let warnings = match (&source, runs.first()) {
        (Source::Log(_), Some(r)) => r.sim.warnings.clone(),
        _ => crate::warnings::Warnings::default(),
    };
    warnings.print("compare");
    if a.json {
        let mut v = to_json(&source, &runs);
        v["warnings"] = warnings.json();
        println!("{}", v);
    } else {
        print!("{}", render(&source, &runs));
    }
    if let Some(path) = &a.svg {
        let rows: Vec<crate::svg::Row> = runs.iter().map(crate::svg::Row::of_run).collect();
        let title = format!("memlab compare: {}", source.describe());
        if let Err(e) = crate::svg::write(path, &title, &rows) {
            return Failure::cant_create(e).report("compare");
        }
        eprintln!("memlab: compare: SVG written to {}", path);
    }
    if a.strict {
        if let Err(f) = warnings.strict() {
            return f.report("compare");
        }
    }
    0
}
