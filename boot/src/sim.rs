//! `memlab sim`: run the mm crate on the host, fed by a Linux boot log (or the kernel's own serial log).
//!
//! The input is taken as Linux saw it, in this order of preference: the `Early memory node ranges` block (exactly
//! the ranges Linux's memmap init walked), else the firmware map (`BIOS-e820:`/`Xen:`/`efi:` lines, or the
//! `user-defined` map) with the SRAT lines and Linux's early x86 adjustments (page 0 reserved, the BIOS area
//! removed; `--no-e820-quirks` turns them off), else nothing: that is an error naming what was looked for.
//! `kernelcore=`/`movablecore=` come from the log's `Command line:` unless given as flags.
//!
//! Output: the Linux-format lines, then the verifier's findings, then, when the log holds Linux's own hole lines,
//! whether ours are the same (`--json` prints only the summary object). Large machines run in compressed mode
//! (see `mm::model`); `--full` materializes every section. `--svg FILE` draws the address space ([`crate::svg`]).
//!
//! Without `--policy` the log's era chooses the policy ([`simulate_era`]); the first line says which and why.
//! Every line read and not used, or adjusted, is a warning on stderr ([`crate::warnings`]).
//!
//! # Invariants
//! - bad input is one line on stderr and the status of [`crate::exit`] (64 usage, 65 no memory map or
//!   `--strict` with warnings, 66 unreadable log), never a panic; a simulation that finds violations still
//!   exits 0 (finding them is its job), unless `--check`.

use std::fmt::Write as _;
use std::time::Instant;

use mm::cmdline::parse_bytes_strict;
use mm::dmesg::{self, BootLog};
use mm::layout::{self, Layout, LayoutOptions};
use mm::model::{Mm, MmOptions};
use mm::policy::{self, HolePolicy};
use mm::sparse::HeapBacking;
use mm::usemap::VmDebug;
use mm::verify::{verify, Verification};
use mm::zones::CoreSpec;

use crate::cli::SimArgs;
use crate::exit::Failure;
use crate::warnings::Warnings;

/// Exit status when `--check` finds that our lines differ from Linux's or a promise is broken.
pub const SIM_CHECK_FAILED: u8 = 1;

/// Options of one simulation.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub policy: String,
    pub json: bool,
    pub movablecore: Option<CoreSpec>,
    pub kernelcore: Option<CoreSpec>,
    pub vm_debug: VmDebug,
    pub e820_quirks: bool,
    pub full: bool,
    pub poison: bool,
    pub check: bool,
    pub stats: bool,
    /// Write a picture of the address space here (see [`crate::svg`]).
    pub svg: Option<String>,
    /// Deferred struct page init with this many threads (`--threads`); `None`: eager init.
    pub threads: Option<usize>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            policy: policy::DEFAULT_POLICY.to_string(),
            json: false,
            movablecore: None,
            kernelcore: None,
            vm_debug: VmDebug::Warn,
            e820_quirks: true,
            full: false,
            poison: true,
            check: false,
            stats: false,
            svg: None,
            threads: None,
        }
    }
}

/// The result of a simulation.
pub struct SimResult {
    pub mm: Mm,
    pub verification: Verification,
    pub log: BootLog,
    /// Where the layout came from, in words.
    pub source: &'static str,
    /// Lines printed before the model's (the e820 adjustments, when applied).
    pub pre_lines: Vec<String>,
    pub elapsed_ms: u128,
    /// What the run did not use of its input, or adjusted ([`crate::warnings`]).
    pub warnings: Warnings,
    /// Why this policy: "as given", or the log's era ([`mm::policy::era`]).
    pub policy_reason: String,
    /// `--threads`: the `node N deferred pages initialised in Xms` lines.
    pub deferred_lines: Vec<String>,
}

/// See [`SimResult::log_facts`].
fn initmem_agrees(log: &BootLog, ours: &BootLog) -> bool {
    let split = |b: &BootLog| {
        let (mut mem, mut less): (Vec<(u32, (u64, u64))>, Vec<u32>) = (Vec::new(), Vec::new());
        for i in &b.initmem_setup {
            match i.range.filter(|&r| r != (0, 0)) {
                Some(r) => mem.push((i.nid, r)),
                None => less.push(i.nid),
            }
        }
        mem.sort_unstable();
        less.sort_unstable();
        (mem, less)
    };
    let ((lm, ll), (om, ol)) = (split(log), split(ours));
    lm == om && ol.iter().all(|n| ll.contains(n))
}

impl SimResult {
    /// The picture's row of this simulation (or replay): memblock reservations and the firmware map's non-RAM
    /// regions.
    pub fn svg_row(&self, label: &str) -> crate::svg::Row {
        let mut reserved: Vec<(u64, u64, String)> =
            self.mm.memblock.reserved.iter().map(|x| (x.start_pfn, x.end_pfn, x.reason.to_string())).collect();
        for f in self.log.firmware_map() {
            if f.kind != mm::layout::RegionKind::Usable && f.end > f.start {
                let shift = mm::consts::PAGE_SHIFT;
                let (s, e) = (f.start >> shift, (f.end + (1 << shift) - 1) >> shift);
                reserved.push((s, e, format!("firmware {:?}", f.kind)));
            }
        }
        reserved.sort_by_key(|r| r.0);
        crate::svg::Row {
            label: label.to_string(),
            map: crate::linkmap::LinkMap::of(&self.mm),
            reserved,
            violation_pfns: Vec::new(),
        }
    }

    /// Linux's hole lines from the log, in order, formatted as we print ours.
    pub fn linux_hole_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if let Some(n) = self.log.zeroed_unavailable {
            v.push(format!("Zeroed struct page in unavailable ranges: {} pages", n));
        }
        if let Some(n) = self.log.reserved_unavailable {
            v.push(format!("Reserved but unavailable: {} pages", n));
        }
        for (zone, pages) in &self.log.zone_unavailable {
            v.push(format!("  {} zone: {} pages in unavailable ranges", zone.name(), pages));
        }
        for (nid, zone, pages) in &self.log.unavailable {
            v.push(format!("On node {}, zone {}: {} pages in unavailable ranges", nid, zone.name(), pages));
        }
        v
    }

    /// The log's other lines that Linux computed and the model prints too (Zone ranges, Movable zone start,
    /// Early memory node ranges, Initmem setup), compared with ours: `(what, Some(agrees))`, `None` when the log
    /// has none. Ours are read back with the same parser, so the comparison is of facts, not of spacing.
    pub fn log_facts(&self) -> Vec<(&'static str, Option<bool>)> {
        let ours = dmesg::parse(&self.mm.lines.join("\n"));
        let (l, o) = (&self.log, &ours);
        let zr = |b: &BootLog| b.zone_ranges.map(|z| z.ranges);
        vec![
            ("Zone ranges", l.zone_ranges.is_some().then(|| zr(l) == zr(o))),
            (
                "Movable zone start",
                (!l.movable_zone_start.is_empty()).then(|| l.movable_zone_start == o.movable_zone_start),
            ),
            (
                "Early memory node ranges",
                (!l.early_node_ranges.is_empty()).then(|| l.early_node_ranges == o.early_node_ranges),
            ),
            // Node by node: a memory-less node is `[mem 0x0-0x0]` before 6.0 and `as memoryless` since (the same
            // fact), and older kernels printed memory-less nodes later, in CPU order. The log may name memory-less
            // nodes the model has no evidence of (their CPUs' SRAT lines are not in the log): ours must be among
            // its.
            ("Initmem setup", (!l.initmem_setup.is_empty()).then(|| initmem_agrees(l, o))),
        ]
    }

    /// What the log holds that this run read and did not use, in words (the layout comes from one source).
    pub fn unused_facts(&self) -> Option<String> {
        let l = &self.log;
        let map = l.e820.len() + l.e820_user.len() + l.efi.len();
        let mut parts = Vec::new();
        if self.source == "Early memory node ranges" {
            if map > 0 {
                parts.push(format!("{} firmware-map line(s)", map));
            }
            if !l.srat.is_empty() {
                parts.push(format!("{} SRAT line(s)", l.srat.len()));
            }
        }
        if !l.e820_adjustments.is_empty() {
            parts.push(format!("{} e820 update/remove line(s)", l.e820_adjustments.len()));
        }
        (!parts.is_empty()).then(|| {
            format!("memlab: sim: read and not used: {} (the layout comes from {})", parts.join(", "), self.source)
        })
    }

    /// Our hole lines, in order.
    pub fn our_hole_lines(&self) -> Vec<String> {
        self.mm.lines.iter().filter(|l| l.contains("unavailable ranges")).cloned().collect()
    }
}

/// Parses a `kernelcore=`/`movablecore=` value: bytes (memparse), `N%`, or `mirror`.
pub fn parse_core(s: &str) -> Result<CoreSpec, String> {
    if s == "mirror" {
        return Ok(CoreSpec::Mirror);
    }
    if let Some(p) = s.strip_suffix('%') {
        return p
            .parse::<u32>()
            .ok()
            .filter(|&p| p <= 100)
            .map(CoreSpec::Percent)
            .ok_or_else(|| format!("bad percentage \"{}\" (0-100%)", s));
    }
    parse_bytes_strict(s)
        .map(|b| CoreSpec::Pages(b >> mm::consts::PAGE_SHIFT))
        .map_err(|e| format!("bad size \"{}\": {}", s, e))
}

/// Builds the layout Linux saw from a parsed log.
pub fn layout_from_log(log: &BootLog, quirks: bool) -> Result<(Layout, &'static str, Vec<String>), String> {
    if !log.early_node_ranges.is_empty() {
        let l = Layout::from_memory_ranges(&log.early_node_ranges)
            .map_err(|e| format!("Early memory node ranges: {}", e))?;
        return Ok((l, "Early memory node ranges", Vec::new()));
    }
    let map = log.firmware_map();
    if map.is_empty() {
        return Err("no memory map in the log: looked for an 'Early memory node ranges' block, 'BIOS-e820:', 'Xen:', 'efi:' or user-defined e820 lines".into());
    }
    let mut pre = Vec::new();
    let mut regions = map.to_vec();
    // mem= / memmap= from the log's command line, unless Linux's own user-defined map is in the log.
    if log.e820_user.is_empty() {
        if let Some(cl) = &log.command_line {
            let mut limit = None;
            let mut entries = Vec::new();
            for w in cl.split_whitespace() {
                if let Some(v) = w.strip_prefix("mem=") {
                    limit = Some(parse_bytes_strict(v).map_err(|e| format!("log's command line {}: {}", w, e))?);
                } else if let Some(v) = w.strip_prefix("memmap=") {
                    entries
                        .extend(mm::cmdline::parse_memmap(v).map_err(|e| format!("log's command line {}: {}", w, e))?);
                }
            }
            if limit.is_some() || !entries.is_empty() {
                let (r, lines) = layout::apply_user_map(&regions, limit, &entries);
                regions = r;
                pre.extend(lines);
            }
        }
    }
    if quirks {
        let (r, lines) = layout::x86_e820_quirks(&regions);
        regions = r;
        pre.extend(lines);
    }
    let numa = log.srat_affinity();
    let l =
        layout::normalize(&regions, &numa, &LayoutOptions::default()).map_err(|e| format!("firmware map: {}", e))?;
    Ok((l, if numa.is_empty() { "firmware map" } else { "firmware map + SRAT" }, pre))
}

/// Runs a simulation over a log's text.
pub fn simulate(text: &str, opts: &SimOptions) -> Result<SimResult, String> {
    let started = Instant::now();
    let policy: &'static dyn HolePolicy = policy::by_name(&opts.policy)
        .ok_or_else(|| format!("unknown policy \"{}\"; accepted: {}", opts.policy, policy::names().join(", ")))?;
    let log = dmesg::parse(text);
    let (layout, source, pre_lines) = layout_from_log(&log, opts.e820_quirks)?;
    let mut mo = MmOptions::new(policy);
    mo.vm_debug = opts.vm_debug;
    mo.poison = opts.poison;
    mo.compressed = !opts.full;
    mo.allow_unplaced_memmap = true;
    mo.zone_device = log.zone_ranges.as_ref().is_some_and(|z| z.device_line);
    let from_cmdline = |key: &str| -> Result<Option<CoreSpec>, String> {
        let Some(cl) = &log.command_line else { return Ok(None) };
        match cl.split_whitespace().rev().find_map(|w| w.strip_prefix(key)) {
            Some(v) => parse_core(v).map(Some).map_err(|e| format!("log's command line {}{}: {}", key, v, e)),
            None => Ok(None),
        }
    };
    mo.kernelcore = match opts.kernelcore {
        Some(k) => Some(k),
        None => from_cmdline("kernelcore=")?,
    };
    mo.movablecore = match opts.movablecore {
        Some(k) => Some(k),
        None => from_cmdline("movablecore=")?,
    };
    mo.deferred_init = opts.threads.is_some();
    let mut mm = Mm::boot(&layout, mo, Box::new(HeapBacking)).map_err(|e| e.to_string())?;
    let deferred_lines = match opts.threads {
        Some(t) => deferred_init_threads(&mut mm, t)?,
        None => Vec::new(),
    };
    let verification = verify(&mm);
    let warnings = Warnings::of(&log, &layout.notes);
    Ok(SimResult {
        mm,
        verification,
        log,
        source,
        pre_lines,
        elapsed_ms: started.elapsed().as_millis(),
        warnings,
        policy_reason: "as given".into(),
        deferred_lines,
    })
}

/// Runs the deferred struct page init of `mm` on `threads` std threads, node by node (each node's chunks shared
/// by all threads, as padata shares a node's job among the node's CPUs); returns Linux's lines
/// `node N deferred pages initialised in Xms`.
pub fn deferred_init_threads(mm: &mut Mm, threads: usize) -> Result<Vec<String>, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut lines = Vec::new();
    let d = mm.deferred_init();
    for nid in d.nodes() {
        let t = Instant::now();
        let chunks = d.node_chunks(nid, threads as u64);
        let next = AtomicUsize::new(0);
        let failed = std::sync::Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(a, b)) = chunks.get(i) else { break };
                    if let Err(v) = d.run_chunk(nid, a, b) {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                        break;
                    }
                });
            }
        });
        if let Some(v) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(format!("deferred init: {v}"));
        }
        lines.push(format!("node {} deferred pages initialised in {}ms", nid, t.elapsed().as_millis()));
    }
    let (n, total) = (d.written(), d.pending_pages());
    drop(d);
    mm.deferred_done(n, total);
    Ok(lines)
}

/// [`simulate`] under the policy of the log's era ([`mm::policy::era::choose`]): the one candidate, or, when the
/// log's hole lines name a family, the first candidate whose hole lines equal the log's (else the first).
pub fn simulate_era(text: &str, opts: &SimOptions) -> Result<SimResult, String> {
    let choice = mm::policy::era::choose(&dmesg::parse(text));
    let run = |p: &str| simulate(text, &SimOptions { policy: p.to_string(), ..opts.clone() });
    if let [only] = choice.candidates[..] {
        let mut r = run(only)?;
        r.policy_reason = format!("chosen by the log: {}", choice.reason);
        return Ok(r);
    }
    let mut runs = Vec::new();
    for p in &choice.candidates {
        runs.push(run(p)?);
    }
    let agree: Vec<&'static str> =
        runs.iter().filter(|r| r.our_hole_lines() == r.linux_hole_lines()).map(|r| r.mm.policy.name()).collect();
    let all = choice.candidates.join(" and ");
    let (pick, why) = match agree[..] {
        [] => (0, format!("neither of {all} reproduces its numbers; {} is the first", choice.candidates[0])),
        [one] => (
            runs.iter().position(|r| r.mm.policy.name() == one).unwrap_or(0),
            format!("of {all}, only {one} reproduces its numbers"),
        ),
        [first, ..] => (
            runs.iter().position(|r| r.mm.policy.name() == first).unwrap_or(0),
            format!("{} reproduce its numbers; {first}, the earliest era, is taken", agree.join(" and ")),
        ),
    };
    let mut r = runs.swap_remove(pick);
    r.policy_reason = format!("chosen by the log: {}; {}", choice.reason, why);
    Ok(r)
}

/// The text `memlab sim` prints (without `--json`).
pub fn render(r: &SimResult, opts: &SimOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memlab: sim: policy {} ({}), {}; layout from {}",
        r.mm.policy.name(),
        r.mm.policy.summary(),
        r.policy_reason,
        r.source
    );
    for l in r.pre_lines.iter().chain(r.mm.lines.iter()).chain(r.deferred_lines.iter()) {
        let _ = writeln!(out, "{}", l);
    }
    for l in mm::report::verify_lines(&r.mm, &r.verification) {
        let _ = writeln!(out, "{}", l);
    }
    for (what, agrees) in r.log_facts() {
        match agrees {
            Some(true) => {
                let _ = writeln!(out, "memlab: sim: the log's {} match ours", what);
            }
            Some(false) => {
                let _ = writeln!(
                    out,
                    "memlab: sim: the log's {} differ from ours (both printed above: Linux's in the log)",
                    what
                );
            }
            None => {}
        }
    }
    if let Some(l) = r.unused_facts() {
        let _ = writeln!(out, "{}", l);
    }
    let linux = r.linux_hole_lines();
    if !linux.is_empty() {
        let ours = r.our_hole_lines();
        if ours == linux {
            let _ = writeln!(out, "memlab: sim: the log's {} hole line(s) match ours exactly", linux.len());
        } else {
            let _ =
                writeln!(out, "memlab: sim: the log's hole lines differ from ours (policy {}):", r.mm.policy.name());
            for l in &linux {
                let _ = writeln!(out, "  linux: {}", l);
            }
            for l in &ours {
                let _ = writeln!(out, "  ours:  {}", l);
            }
        }
    }
    if opts.stats {
        let _ = writeln!(
            out,
            "memlab: sim: {} ms, {} sections ({} materialized, {} uniform), memmap {} MiB modelled, {} KiB resident",
            r.elapsed_ms,
            r.mm.sparse.valid_sections().count(),
            r.mm.materialized_sections,
            r.mm.uniform_sections,
            r.mm.memmap_bytes() >> 20,
            r.mm.memmap_bytes_resident() >> 10
        );
    }
    out
}

impl SimOptions {
    /// The options `memlab sim` was given.
    pub fn of(a: &SimArgs) -> SimOptions {
        SimOptions {
            policy: a.policy.clone().unwrap_or_else(|| policy::DEFAULT_POLICY.to_string()),
            json: a.json,
            movablecore: a.movablecore,
            kernelcore: a.kernelcore,
            vm_debug: VmDebug::from_name(&a.vm_debug).unwrap_or(VmDebug::Warn),
            e820_quirks: !a.no_e820_quirks,
            full: a.full,
            poison: !a.no_poison,
            check: a.check,
            stats: a.stats,
            svg: a.svg.clone(),
            threads: a.threads.map(|t| t as usize),
        }
    }
}

/// `memlab sim ...`: returns the exit status.
pub fn main(a: SimArgs) -> u8 {
    let opts = SimOptions::of(&a);
    let text = match crate::compare::read_log(&a.log) {
        Ok(t) => t,
        Err(f) => return f.report("sim"),
    };
    let r = match if a.policy.is_some() { simulate(&text, &opts) } else { simulate_era(&text, &opts) } {
        Ok(r) => r,
        Err(e) => {
            // The lines the parser could not use are often why there is no usable layout: name them first.
            Warnings::of(&dmesg::parse(&text), &[]).print("sim");
            return Failure::bad_input(format!("{}: {}", a.log, e)).report("sim");
        }
    };
    r.warnings.print("sim");
    if opts.json {
        let mut v: serde_json::Value = match serde_json::from_str(&mm::report::summary_json(&r.mm, &r.verification)) {
            Ok(v) => v,
            Err(e) => return Failure::bad_input(format!("the summary is not JSON: {e}")).report("sim"),
        };
        v["warnings"] = r.warnings.json();
        v["log_facts"] = r
            .log_facts()
            .into_iter()
            .map(|(w, a)| (w.to_string(), a.map_or("absent", |a| if a { "match" } else { "differ" }).into()))
            .collect::<serde_json::Map<_, _>>()
            .into();
        v["policy_reason"] = r.policy_reason.clone().into();
        println!("{}", v);
    } else {
        print!("{}", render(&r, &opts));
    }
    if let Some(path) = &opts.svg {
        let row = r.svg_row(r.mm.policy.name());
        let title = format!("memlab sim {} (policy {})", a.log, r.mm.policy.name());
        if let Err(e) = crate::svg::write(path, &title, &[row]) {
            return Failure::cant_create(e).report("sim");
        }
        eprintln!("memlab: sim: SVG written to {}", path);
    }
    if a.strict {
        if let Err(f) = r.warnings.strict() {
            return f.report("sim");
        }
    }
    let linux = r.linux_hole_lines();
    if opts.check && ((!linux.is_empty() && linux != r.our_hole_lines()) || !r.verification.broken_promises.is_empty())
    {
        return SIM_CHECK_FAILED;
    }
    0
}
