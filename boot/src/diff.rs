//! `memlab diff`: boots Debian's Linux 6.1 ([`crate::linux`]) and memlab's kernel on the same QEMU command line
//! at once and compares what they print, field by field.
//!
//! ```text
//! memlab diff [--profile NAME] [--firmware bios|uefi] [--cmdline "k=v ..."] [--timeout SECS] [--json]
//!             [--hotplug add:SIZE[@NODE],del,...] [-- qemu args]
//! ```
//! With `--hotplug` (and on the hotplug-demo profile by itself) both guests run the script (memlab's kernel
//! serves it, Linux's agent onlines the blocks as memlab's `online_policy=` says, see [`linux::hotplug`]), and
//! the dumps after every step are compared too (fields prefixed `stepK: `).
//! Fields: the firmware map (adjacent entries of one kind merged: the bootloader splits usable entries), the
//! `e820:` adjustments, SRAT nodes, Zone ranges, Movable zone start, Early memory node ranges, Initmem setup,
//! every hole line; per node and zone start_pfn, spanned, present, managed, min/low/high and protection;
//! min_free_kbytes; pageblocks per zone; kpageflags classes over every hole; memory blocks and valid_zones.
//!
//! Where the two kernels legitimately differ, the field is *explained*: managed pages (each kernel reserves its
//! own image and data) and the split of pageblocks between migratetypes (it follows each kernel's own
//! allocations). For those, Linux's own numbers go through memlab's formulas: [`mm::watermarks`] run on the
//! managed and present counts Linux printed must give Linux's min/low/high/protection exactly (Linux
//! recomputes them from the same counts, see boot/agent), and the pageblock totals must agree.
//!
//! The last line is `diff: N fields agree, M differ, K explained`; the exit status is 0 only when M = 0
//! (else 1; a run that did not finish exits with its own status).
//!
//! # Invariants
//! - every compared field is one [`Row`] with one [`Verdict`]: nothing is compared without being counted;
//! - a field present on one side only differs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use mm::dmesg::BootLog;
use mm::layout::{FirmwareRegion, RegionKind};
use mm::watermarks::{self, ZoneManaged};
use mm::zones::ZoneType;

use crate::cli::{BootArgs, DiffArgs};
use crate::linux::{self, dump::Dump};
use crate::qemu::{self, RunConfig};
use crate::status::RunStatus;

/// Why the deferred nodes are not compared: memlab defers only when asked.
const WHY_DEFERRED_OFF: &str = "memlab's command line says deferred_init=off";

/// How one field compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Agree,
    Differ,
    /// The values differ for a stated reason, and the check that can be made (if any) passed.
    Explained(String),
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub field: String,
    pub linux: String,
    pub memlab: String,
    pub verdict: Verdict,
}

/// The whole comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub rows: Vec<Row>,
    /// Put before every field name (`stepK: ` for the dumps after hotplug steps).
    prefix: String,
}

impl Diff {
    fn cmp(&mut self, field: impl Into<String>, linux: String, memlab: String) {
        let verdict = if linux == memlab { Verdict::Agree } else { Verdict::Differ };
        let field = format!("{}{}", self.prefix, field.into());
        self.rows.push(Row { field, linux, memlab, verdict });
    }

    fn explained(&mut self, field: impl Into<String>, linux: String, memlab: String, why: &str) {
        let verdict = if linux == memlab { Verdict::Agree } else { Verdict::Explained(why.to_string()) };
        let field = format!("{}{}", self.prefix, field.into());
        self.rows.push(Row { field, linux, memlab, verdict });
    }

    /// `(agree, differ, explained)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |f: fn(&Verdict) -> bool| self.rows.iter().filter(|r| f(&r.verdict)).count();
        (n(|v| *v == Verdict::Agree), n(|v| *v == Verdict::Differ), n(|v| matches!(v, Verdict::Explained(_))))
    }

    pub fn differing(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.verdict == Verdict::Differ).collect()
    }

    pub fn summary(&self) -> String {
        let (a, d, e) = self.counts();
        format!("diff: {a} fields agree, {d} differ, {e} explained")
    }

    /// The table, one row per line, then the summary line.
    pub fn table(&self) -> String {
        let w = |f: fn(&Row) -> usize| self.rows.iter().map(f).max().unwrap_or(0);
        let (wf, wl, wm) = (w(|r| r.field.len()).max(5), w(|r| r.linux.len()).max(5), w(|r| r.memlab.len()).max(6));
        let mut s = String::new();
        let _ = writeln!(s, "{:<wf$} | {:<wl$} | {:<wm$} | verdict", "field", "Linux", "memlab");
        let _ = writeln!(s, "{}", "-".repeat(wf + wl + wm + 18));
        for r in &self.rows {
            let v = match &r.verdict {
                Verdict::Agree => "agree".to_string(),
                Verdict::Differ => "DIFFER".to_string(),
                Verdict::Explained(why) => format!("explained: {why}"),
            };
            let _ = writeln!(s, "{:<wf$} | {:<wl$} | {:<wm$} | {v}", r.field, r.linux, r.memlab);
        }
        let _ = writeln!(s, "{}", self.summary());
        s
    }

    pub fn json(&self) -> serde_json::Value {
        let (a, d, e) = self.counts();
        serde_json::json!({
            "rows": self.rows.iter().map(|r| {
                let (verdict, why) = match &r.verdict {
                    Verdict::Agree => ("agree", None),
                    Verdict::Differ => ("differ", None),
                    Verdict::Explained(w) => ("explained", Some(w.clone())),
                };
                serde_json::json!({"field": r.field, "linux": r.linux, "memlab": r.memlab, "verdict": verdict, "why": why})
            }).collect::<Vec<_>>(),
            "agree": a, "differ": d, "explained": e,
        })
    }
}

fn range(r: Option<(u64, u64)>) -> String {
    r.map_or("empty".to_string(), |(s, e)| format!("[{s:#x}, {e:#x})"))
}

/// The firmware map with adjacent entries of one kind merged (the bootloader splits usable entries where it
/// placed itself; Linux's map from SeaBIOS/OVMF is not split).
pub fn merged_map(map: &[FirmwareRegion]) -> Vec<(u64, u64, RegionKind)> {
    let mut v: Vec<(u64, u64, RegionKind)> = map.iter().map(|r| (r.start, r.end, r.kind)).collect();
    v.sort_by_key(|r| r.0);
    let mut out: Vec<(u64, u64, RegionKind)> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(l) if l.1 == r.0 && l.2 == r.2 => l.1 = r.1,
            _ => out.push(r),
        }
    }
    out
}

fn boot_lines(d: &mut Diff, l: &BootLog, m: &BootLog) {
    let map =
        |b: &BootLog| merged_map(&b.e820).iter().map(|(s, e, k)| format!("[{s:#x}, {e:#x}) {k:?}")).collect::<Vec<_>>();
    let (lm, mm_) = (map(l), map(m));
    for i in 0..lm.len().max(mm_.len()) {
        d.cmp(format!("e820[{i}]"), lm.get(i).cloned().unwrap_or_default(), mm_.get(i).cloned().unwrap_or_default());
    }
    // The adjustments memlab models (x86's early quirks) must be Linux's, in order. Linux's others are its own
    // bookkeeping after the map (setup_data no-op updates, EFI reservations): they change no memblock memory
    // range, which is checked by requiring the early memory node ranges to agree.
    let adj = |a: &mm::dmesg::E820Adjustment| match *a {
        mm::dmesg::E820Adjustment::Update { start, end, from, to } => {
            format!("update [{start:#x}, {end:#x}) {from:?} ==> {to:?}")
        }
        mm::dmesg::E820Adjustment::Remove { start, end, kind } => format!("remove [{start:#x}, {end:#x}) {kind:?}"),
    };
    let (la, ma): (Vec<String>, Vec<String>) =
        (l.e820_adjustments.iter().map(adj).collect(), m.e820_adjustments.iter().map(adj).collect());
    let mut next = 0;
    for a in &ma {
        let found = la[next..].iter().position(|x| x == a).map(|p| next + p);
        let linux = found.map_or("absent".to_string(), |p| la[p].clone());
        if let Some(p) = found {
            next = p + 1;
        }
        d.cmp("e820 adjustment", linux, a.clone());
    }
    let ranges_agree = l.early_node_ranges == m.early_node_ranges;
    for a in la.iter().filter(|a| !ma.contains(a)) {
        let field = "e820 adjustment (Linux only)";
        if ranges_agree {
            d.explained(field, a.clone(), "absent".into(), WHY_LINUX_BOOKKEEPING);
        } else {
            d.cmp(field, a.clone(), "absent".into());
        }
    }
    let srat = |b: &BootLog| {
        b.srat
            .iter()
            .map(|s| {
                format!(
                    "node {} pxm {} [{:#x}, {:#x}){}",
                    s.nid,
                    s.pxm,
                    s.start,
                    s.end,
                    if s.hotplug { " hotplug" } else { "" }
                )
            })
            .collect::<Vec<_>>()
    };
    let (ls, ms) = (srat(l), srat(m));
    for i in 0..ls.len().max(ms.len()) {
        d.cmp(format!("SRAT[{i}]"), ls.get(i).cloned().unwrap_or_default(), ms.get(i).cloned().unwrap_or_default());
    }
    for z in ZoneType::ALL.iter().filter(|z| **z != ZoneType::Movable) {
        let get = |b: &BootLog| b.zone_ranges.map_or("no Zone ranges".to_string(), |r| range(r.get(*z)));
        d.cmp(format!("Zone ranges {}", z.name()), get(l), get(m));
    }
    let dev = |b: &BootLog| b.zone_ranges.is_some_and(|r| r.device_line).to_string();
    d.cmp("Zone ranges Device line", dev(l), dev(m));
    let mzs = |b: &BootLog| {
        b.movable_zone_start.iter().map(|(n, p)| format!("node {n}: {p:#x}")).collect::<Vec<_>>().join(", ")
    };
    d.cmp("Movable zone start", mzs(l), mzs(m));
    let ranges = |b: &BootLog| {
        b.early_node_ranges
            .iter()
            .map(|r| format!("node {}: [{:#x}, {:#x})", r.nid, r.start_pfn, r.end_pfn))
            .collect::<Vec<_>>()
    };
    let (lr, mr) = (ranges(l), ranges(m));
    for i in 0..lr.len().max(mr.len()) {
        d.cmp(
            format!("Early memory node range {i}"),
            lr.get(i).cloned().unwrap_or_default(),
            mr.get(i).cloned().unwrap_or_default(),
        );
    }
    let initmem = |b: &BootLog| {
        b.initmem_setup
            .iter()
            .map(|i| match i.range {
                Some((s, e)) => format!("node {} [{s:#x}, {e:#x})", i.nid),
                None => format!("node {} as memoryless", i.nid),
            })
            .collect::<Vec<_>>()
    };
    let (li, mi) = (initmem(l), initmem(m));
    for i in 0..li.len().max(mi.len()) {
        d.cmp(
            format!("Initmem setup {i}"),
            li.get(i).cloned().unwrap_or_default(),
            mi.get(i).cloned().unwrap_or_default(),
        );
    }
    let holes =
        |b: &BootLog| b.unavailable.iter().map(|(n, z, p)| format!("node {n} {}: {p}", z.name())).collect::<Vec<_>>();
    let (lh, mh) = (holes(l), holes(m));
    for i in 0..lh.len().max(mh.len()) {
        d.cmp(format!("hole line {i}"), lh.get(i).cloned().unwrap_or_default(), mh.get(i).cloned().unwrap_or_default());
    }
}

const WHY_MANAGED: &str = "each kernel reserves its own image, data and allocations";
const WHY_LINUX_BOOKKEEPING: &str =
    "Linux's own update after the map (setup_data, EFI reservations); the early memory node ranges agree";
const WHY_BOOT_TIME: &str = "Linux computed it at boot from the managed counts of that moment (square root or 5% cap)";
const WHY_MIGRATETYPES: &str = "the split follows each kernel's own allocations; the total agrees";

fn zone_type(name: &str) -> Option<ZoneType> {
    ZoneType::ALL.into_iter().find(|z| z.name() == name)
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn zones(d: &mut Diff, l: &Dump, m: &Dump, cpu_nodes: &[u32]) {
    let keys: BTreeSet<(u32, String)> = l.zones.iter().chain(m.zones.iter()).map(|z| (z.nid, z.zone.clone())).collect();
    for (nid, zone) in &keys {
        let (lz, mz) = (l.zone(*nid, zone), m.zone(*nid, zone));
        let f = |name: &str| format!("node {nid} {zone} {name}");
        let get = |z: Option<&linux::dump::ZoneInfo>, g: fn(&linux::dump::ZoneInfo) -> Option<u64>| {
            z.map_or("absent".to_string(), |z| opt(g(z)))
        };
        let populated = lz.and_then(|z| z.present).unwrap_or(0) > 0;
        if populated || mz.and_then(|z| z.present).unwrap_or(0) > 0 {
            d.cmp(f("start_pfn"), get(lz, |z| z.start_pfn), get(mz, |z| z.start_pfn));
        }
        d.cmp(f("spanned"), get(lz, |z| z.spanned), get(mz, |z| z.spanned));
        d.cmp(f("present"), get(lz, |z| z.present), get(mz, |z| z.present));
        d.explained(f("managed"), get(lz, |z| z.managed), get(mz, |z| z.managed), WHY_MANAGED);
    }
    // Linux's recomputed watermarks against memlab's formulas on Linux's counts.
    let lzs = if l.zones_recomputed.is_empty() { &l.zones } else { &l.zones_recomputed };
    let input: Vec<(usize, ZoneManaged)> = lzs
        .iter()
        .enumerate()
        .filter_map(|(i, z)| {
            Some((
                i,
                ZoneManaged {
                    nid: z.nid,
                    zone: zone_type(&z.zone)?,
                    managed_pages: z.managed?,
                    present_pages: z.present?,
                },
            ))
        })
        .collect();
    let managed: Vec<ZoneManaged> = input.iter().map(|(_, z)| *z).collect();
    let (computed_kb, _) = watermarks::setup(&managed);
    // Exact when khugepaged's uncapped recommendation decides (it depends only on the populated zones); the
    // square root, and the 5% cap, use the managed counts of boot time, which later frees change.
    let uncapped = watermarks::thp_applies(&managed, watermarks::Rules::LINUX_6_1)
        && computed_kb == watermarks::thp_uncapped_pages(&managed) * 4;
    let field = "min_free_kbytes (memlab's rule on Linux's counts)";
    if uncapped {
        d.cmp(field, opt(l.min_free_kbytes), computed_kb.to_string());
    } else {
        d.explained(field, opt(l.min_free_kbytes), computed_kb.to_string(), WHY_BOOT_TIME);
    }
    let (_, marks) = watermarks::setup_with(&managed, watermarks::Rules::LINUX_6_1, l.min_free_kbytes);
    for ((i, _), w) in input.iter().zip(marks.iter()) {
        let z = &lzs[*i];
        let f = |name: &str| format!("node {} {} {name} (memlab's rule on Linux's counts)", z.nid, z.zone);
        d.cmp(
            f("min/low/high"),
            format!("{}/{}/{}", opt(z.min), opt(z.low), opt(z.high)),
            format!("{}/{}/{}", w.min, w.low, w.high),
        );
        let mut p: Vec<u64> = w.protection.to_vec();
        // The Device zone (index 4) manages nothing: its entry repeats Movable's under 6.1.
        while p.len() < z.protection.len() {
            p.push(*p.last().unwrap_or(&0));
        }
        d.cmp(f("protection"), format!("{:?}", z.protection), format!("{p:?}"));
        // Per-CPU lists: zone_batchsize and zone_highsize on Linux's counts, with the CPUs per node both kernels
        // booted with (memlab's `CPU#N: ... node M, online` lines); each CPU's count is its own allocations'.
        if !z.pagesets.is_empty() && !cpu_nodes.is_empty() {
            let mut linux: Vec<String> = z.pagesets.iter().map(|&(_, _, h, b)| format!("{h}/{b}")).collect();
            linux.dedup();
            let batch = mm::buddy::zone_batchsize(z.managed.unwrap_or(0));
            let node_cpus = cpu_nodes.iter().filter(|&&n| n == z.nid).count() as u32;
            let high = mm::buddy::zone_highsize(z.low.unwrap_or(0), batch, node_cpus, cpu_nodes.len() as u32);
            d.cmp(f("pagesets high/batch"), linux.join(" "), format!("{high}/{batch}"));
        }
    }
    // memlab's own printed watermarks follow from its own counts by the same code; its min_free_kbytes is
    // compared as a rule above, and here as printed.
    d.explained("min_free_kbytes as printed", opt(l.min_free_kbytes), opt(m.min_free_kbytes), WHY_MANAGED);
}

fn pageblocks(d: &mut Diff, l: &Dump, m: &Dump) {
    let keys: BTreeSet<&(u32, String)> = l.pageblocks.keys().chain(m.pageblocks.keys()).collect();
    for k in keys {
        let (lb, mb) = (l.pageblocks.get(k), m.pageblocks.get(k));
        let total = |b: Option<&Vec<u64>>| b.map_or("absent".to_string(), |b| b.iter().sum::<u64>().to_string());
        d.cmp(format!("node {} {} pageblocks", k.0, k.1), total(lb), total(mb));
        let split = |b: Option<&Vec<u64>>| b.map_or("absent".to_string(), |b| format!("{b:?}"));
        d.explained(format!("node {} {} pageblocks per migratetype", k.0, k.1), split(lb), split(mb), WHY_MIGRATETYPES);
    }
}

/// The holes: pfns of Linux's memory blocks outside its early memory node ranges.
pub fn holes(blocks: &[(u64, u64)], memory: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(s, e) in blocks {
        let mut pfn = s;
        for &(ms, me) in memory.iter().filter(|(ms, me)| *me > s && *ms < e) {
            if ms > pfn {
                out.push((pfn, ms.min(e)));
            }
            pfn = pfn.max(me);
        }
        if pfn < e {
            out.push((pfn, e));
        }
    }
    out
}

fn classes(dump: &Dump, s: u64, e: u64) -> String {
    let runs = dump.classes_in(s, e);
    let covered: u64 = runs.iter().map(|r| r.1).sum();
    let mut out: Vec<String> = runs.iter().map(|(s, n, c)| format!("{s:#x}+{n} {}", c.name())).collect();
    if covered < e - s {
        out.push(format!("{} pfns not dumped", e - s - covered));
    }
    out.join(", ")
}

fn kpageflags(d: &mut Diff, l: &Dump, m: &Dump, lb: &BootLog) {
    let Some(bs) = l.block_size else { return };
    let pages = bs >> 12;
    let mut blocks: Vec<(u64, u64)> = Vec::new();
    for b in &l.blocks {
        let (s, e) = (b.id * pages, (b.id + 1) * pages);
        match blocks.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => blocks.push((s, e)),
        }
    }
    let mut memory: Vec<(u64, u64)> = lb.early_node_ranges.iter().map(|r| (r.start_pfn, r.end_pfn)).collect();
    memory.sort_unstable();
    for (s, e) in holes(&blocks, &memory) {
        d.cmp(format!("kpageflags hole [{s:#x}, {e:#x})"), classes(l, s, e), classes(m, s, e));
    }
}

fn memory_blocks(d: &mut Diff, l: &Dump, m: &Dump) {
    d.cmp("memory block size", opt(l.block_size).to_string(), opt(m.block_size));
    let show = |b: &linux::dump::MemBlock| format!("{} node {:?} {}", b.state, b.nodes, b.valid_zones);
    let ids: BTreeSet<u64> = l.blocks.iter().chain(m.blocks.iter()).map(|b| b.id).collect();
    let (mut agree, mut first) = (0usize, None);
    for id in ids {
        let (lb, mb) = (l.blocks.iter().find(|b| b.id == id), m.blocks.iter().find(|b| b.id == id));
        let (ls, ms) = (lb.map_or("absent".to_string(), show), mb.map_or("absent".to_string(), show));
        if ls == ms {
            agree += 1;
            first.get_or_insert((id, ls));
        } else {
            d.cmp(format!("memory{id}"), ls, ms);
        }
    }
    if let Some((id, s)) = first {
        // The agreeing blocks as one row each would drown the table: one row stands for them.
        d.rows.push(Row {
            field: format!("{}memory blocks agreeing ({agree}, first memory{id})", d.prefix),
            linux: s.clone(),
            memlab: s,
            verdict: Verdict::Agree,
        });
    }
}

/// The CPUs each node brought up, from `announce_cpu`'s `.... node  #N, CPUs:  #a #b` lines: `node N: CPUs a b`
/// per node line, `; ` between them (`none` without secondary CPUs). Linux's continuation (` #b`) can land on a
/// line of its own when another message comes between (a CPU's `calibrate_delay_direct` lines): such lines, made
/// only of `#N` words, belong to the node line before them.
fn booting(serial: &str) -> String {
    let mut v: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for l in serial.lines() {
        // Without the `[    0.569613] ` timestamp.
        let text = match l.trim_start().strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((_, rest)) => rest,
            None => l,
        };
        if text.contains("x86: Booting SMP configuration:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if text.contains("smp: Brought up ") {
            break;
        }
        let cpus = |t: &str| -> Vec<String> {
            t.split_whitespace()
                .filter(|w| w.starts_with('#'))
                .map(|w| w.trim_start_matches('#').trim_end_matches(',').to_string())
                .collect()
        };
        if let Some(i) = text.find(".... node ") {
            let nums = cpus(&text[i + ".... node ".len()..]);
            if let Some((node, rest)) = nums.split_first() {
                v.push((node.clone(), rest.to_vec()));
            }
        } else if !text.trim().is_empty() && text.split_whitespace().all(|w| w.starts_with('#')) {
            if let Some(last) = v.last_mut() {
                last.1.extend(cpus(text));
            }
        }
    }
    if v.is_empty() {
        "none".to_string()
    } else {
        v.iter().map(|(n, c)| format!("node {}: CPUs {}", n, c.join(" "))).collect::<Vec<_>>().join("; ")
    }
}

/// The node of each online CPU, from memlab's `memlab: smp: CPU#N: APIC id A, node M, online` lines.
fn cpu_nodes(memlab_serial: &str) -> Vec<u32> {
    memlab_serial
        .lines()
        .filter_map(|l| l.strip_prefix("memlab: smp: CPU#"))
        .filter(|l| l.trim_end().ends_with(", online"))
        .filter_map(|l| l.split(", node ").nth(1)?.split(',').next()?.parse().ok())
        .collect()
}

/// Compares one Linux boot with one memlab boot (their serial logs).
pub fn compare(linux_serial: &str, memlab_serial: &str) -> Diff {
    let (lb, mb) = (mm::dmesg::parse(linux_serial), mm::dmesg::parse(memlab_serial));
    let mut d = Diff::default();
    boot_lines(&mut d, &lb, &mb);
    let (ld, md) = (linux::dump::parse(linux_serial), linux::dump::parse(memlab_serial));
    let boot = |v: &[Dump]| v.iter().find(|d| d.event == "boot").cloned();
    let (Some(l), Some(m)) = (boot(&ld), boot(&md)) else {
        d.cmp(
            "dump",
            if ld.is_empty() { "missing" } else { "present" }.into(),
            if md.is_empty() { "missing" } else { "present" }.into(),
        );
        return d;
    };
    // The agent prints the e820 debug lines outside its dumps: they are in the boot log, parsed above.
    // The CPUs of the MADT, as each kernel counted them.
    let allowing = |s: &str| {
        s.lines()
            .find_map(|l| l.find("smpboot: Allowing ").map(|i| l[i..].trim_end().to_string()))
            .unwrap_or_else(|| "missing".into())
    };
    d.cmp("smpboot: Allowing", allowing(linux_serial), allowing(memlab_serial));
    d.cmp("x86: Booting SMP configuration", booting(linux_serial), booting(memlab_serial));
    let brought = |s: &str| {
        s.lines()
            .find_map(|l| l.find("smp: Brought up ").map(|i| l[i..].trim_end().to_string()))
            .unwrap_or_else(|| "missing".into())
    };
    d.cmp("smp: Brought up", brought(linux_serial), brought(memlab_serial));
    // The nodes whose struct pages were deferred (Linux prints the line only for those): memlab's
    // deferred_init is on unless its command line says `deferred_init=off`.
    let deferred = |s: &str| {
        // Linux's per-node threads print in any order, and the line may be both on the console and in kmsg.
        let mut v: Vec<u32> = s
            .lines()
            .filter_map(|l| l.find("node ").map(|i| &l[i..]))
            .filter(|l| l.contains(" deferred pages initialised in "))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect();
        v.sort_unstable();
        v.dedup();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
        }
    };
    if mm::cmdline::options::deferred_init_on(mb.command_line.as_deref().unwrap_or("")) {
        d.cmp("nodes with deferred struct pages", deferred(linux_serial), deferred(memlab_serial));
    } else {
        d.explained("nodes with deferred struct pages", deferred(linux_serial), "off".into(), WHY_DEFERRED_OFF);
    }
    let cpus = cpu_nodes(memlab_serial);
    zones(&mut d, &l, &m, &cpus);
    pageblocks(&mut d, &l, &m);
    kpageflags(&mut d, &l, &m, &lb);
    memory_blocks(&mut d, &l, &m);
    // After each hotplug step (`stepK`, both kernels name their dumps so): zones, watermarks, pageblocks, blocks.
    for md_ in md.iter().filter(|x| x.event.starts_with("step")) {
        d.prefix = format!("{}: ", md_.event);
        match ld.iter().find(|x| x.event == md_.event) {
            Some(ld_) => {
                zones(&mut d, ld_, md_, &cpus);
                pageblocks(&mut d, ld_, md_);
                memory_blocks(&mut d, ld_, md_);
            }
            None => d.cmp("dump", "missing".into(), "present".into()),
        }
    }
    d.prefix.clear();
    d
}

/// Boots both kernels at once (quiet); returns Linux's outcome and memlab's.
pub fn boot_both(cfg: &RunConfig) -> Result<(linux::LinuxOutcome, qemu::RunOutcome), (RunStatus, String)> {
    boot_both_hotplug(cfg, None)
}

/// [`boot_both`], driving the hotplug `steps` in both guests when given. A step that could not be driven in
/// either guest is an error (status 1: the comparison would not be of the same states).
pub fn boot_both_hotplug(
    cfg: &RunConfig,
    steps: Option<&[crate::hotplug::Step]>,
) -> Result<(linux::LinuxOutcome, qemu::RunOutcome), (RunStatus, String)> {
    let mut quiet = cfg.clone();
    quiet.echo = false;
    let (l, m) = std::thread::scope(|s| {
        let lq = quiet.clone();
        let lh = s.spawn(move || match steps {
            None => linux::boot(&lq).map(|o| (o, None)),
            Some(st) => linux::hotplug::boot(&lq, st).map(|(o, d)| (o, Some(d))),
        });
        let m = match steps {
            None => qemu::run(&quiet).map(|o| (o, None)),
            Some(st) => crate::hotplug::run(&quiet, st).map(|(o, d)| (o, Some(d))),
        };
        (lh.join().unwrap_or_else(|_| Err((RunStatus::Setup, "the Linux boot thread panicked".into()))), m)
    });
    let (l, ld) = l?;
    let (m, md) = m.map_err(|e| (RunStatus::Setup, e.0))?;
    for (who, d) in [("Linux", ld), ("memlab", md)] {
        if let Some(Err(e)) = d.map(|d| d.result) {
            return Err((
                RunStatus::TestsFailed,
                format!("memlab: diff: driving the hotplug steps in {who} failed: {e}"),
            ));
        }
    }
    Ok((l, m))
}

/// Runs `memlab diff`; returns the process exit status.
pub fn main(a: DiffArgs) -> u8 {
    let (cfg, steps) = match a.boot.config() {
        Ok(c) => c,
        Err(f) => return f.report("diff"),
    };
    if let Err(f) = BootArgs::check_kernel_cmdline(&cfg) {
        return f.report("diff");
    }
    let json = a.json;
    eprintln!(
        "memlab: diff on profile {} ({}), firmware {}, command line \"{}\": Linux and memlab booting at once",
        cfg.profile.name,
        cfg.profile.description,
        cfg.firmware.name(),
        cfg.cmdline
    );
    if let Some(st) = &steps {
        eprintln!("memlab: hotplug script: {} steps driven over QMP in both guests", st.len());
    }
    let (l, m) = match boot_both_hotplug(&cfg, steps.as_deref()) {
        Ok(x) => x,
        Err((status, msg)) => {
            eprintln!("{msg}");
            return status.code();
        }
    };
    eprintln!("{}", linux::describe(&l, cfg.timeout));
    eprintln!("memlab: memlab: {} in {:.1} s (status {})", m.status, m.duration.as_secs_f64(), m.status.code());
    eprintln!("memlab: serial logs: {} and {}", l.log_path.display(), m.log_path.display());
    if l.status != RunStatus::Passed {
        return l.status.code();
    }
    if m.status != RunStatus::Passed {
        return m.status.code();
    }
    let d = compare(&l.serial, &m.serial);
    if json {
        println!("{}", d.json());
    } else {
        print!("{}", d.table());
    }
    u8::from(d.counts().1 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_the_gaps_in_blocks() {
        let blocks = [(0, 0x18000), (0x100000, 0x140000)];
        let memory = [(1, 0x9f), (0x100, 0xbffe0), (0x100000, 0x13a000)];
        assert_eq!(holes(&blocks, &memory), vec![(0, 1), (0x9f, 0x100), (0x13a000, 0x140000)]);
    }

    #[test]
    fn merged_map_joins_split_entries() {
        let r = |start, end, kind| FirmwareRegion { start, end, kind };
        let m = merged_map(&[
            r(0x100000, 0x1000000, RegionKind::Usable),
            r(0x1000000, 0x2000000, RegionKind::Usable),
            r(0x2000000, 0x3000000, RegionKind::Reserved),
        ]);
        assert_eq!(m, vec![(0x100000, 0x2000000, RegionKind::Usable), (0x2000000, 0x3000000, RegionKind::Reserved)]);
    }

    #[test]
    fn booting_reads_announce_lines_with_or_without_timestamps() {
        let linux = "[    1.569579] x86: Booting SMP configuration:\n[    1.569751] .... node  #0, CPUs:      #1\n\
                     [    1.672468] .... node  #1, CPUs:   #2 #3\n";
        let memlab = "x86: Booting SMP configuration:\n.... node  #0, CPUs:      #1\n.... node  #1, CPUs:   #2 #3\n";
        assert_eq!(booting(linux), "node 0: CPUs 1; node 1: CPUs 2 3");
        assert_eq!(booting(linux), booting(memlab));
        assert_eq!(booting("smp: Brought up 1 node, 1 CPU\n"), "none");
        // A continuation split off by other messages (Debian's 6.1 on node-in-section).
        let split = "[    0.569141] x86: Booting SMP configuration:\n[    0.569613] .... node  #0, CPUs:      #1\n\
                     [    0.000000] calibrate_delay_direct() dropping max bogoMips estimate 2 = 42085889\n[    0.691701] \n\
                     [    0.693935] .... node  #1, CPUs:   #2\n[    0.786868]  #3\n\
                     [    0.912216] smp: Brought up 2 nodes, 4 CPUs\n";
        assert_eq!(booting(split), "node 0: CPUs 1; node 1: CPUs 2 3");
        let memlab = "memlab: smp: CPU#0: APIC id 0, node 1, online\nmemlab: smp: CPU#1: APIC id 1, node 0, online\n\
                      memlab: smp: CPU#2: APIC id 2, node 0, offline\n";
        assert_eq!(cpu_nodes(memlab), vec![1, 0]);
    }
}
