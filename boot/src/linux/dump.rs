//! Parses the dumps both kernels print: `@@dump EVENT`, then sections `@@begin NAME` ... `@@end NAME` holding
//! /proc/zoneinfo, /proc/pagetypeinfo, /proc/buddyinfo, `sysctl` (`min_free_kbytes=N`), `memory_blocks` and
//! `kpageflags` runs. Linux's come from the guest agent (boot/agent), memlab's from its kernel
//! (kernel/src/model.rs); the formats are the same, so one parser reads both.
//!
//! # Invariants
//! - parsing never fails: a line that does not parse is counted in [`Dump::unparsed`], never dropped silently;
//! - a section cut short (the run died) is kept with what it holds.

use std::collections::BTreeMap;

/// One zone's block of /proc/zoneinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneInfo {
    pub nid: u32,
    pub zone: String,
    pub free: Option<u64>,
    pub min: Option<u64>,
    pub low: Option<u64>,
    pub high: Option<u64>,
    pub spanned: Option<u64>,
    pub present: Option<u64>,
    pub managed: Option<u64>,
    pub protection: Vec<u64>,
    pub start_pfn: Option<u64>,
    /// `(cpu, count, high, batch)` of the `pagesets` block.
    pub pagesets: Vec<(u32, u64, u64, u64)>,
}

/// One memory block of /sys/devices/system/memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemBlock {
    pub id: u64,
    /// The node symlinks of the block, sorted (`-` printed for none).
    pub nodes: Vec<u32>,
    pub state: String,
    pub valid_zones: String,
}

/// A /proc/kpageflags class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KpfClass {
    NoPage,
    Reserved,
    Buddy,
    Other,
}

impl KpfClass {
    pub fn name(self) -> &'static str {
        match self {
            KpfClass::NoPage => "NOPAGE",
            KpfClass::Reserved => "RESERVED",
            KpfClass::Buddy => "BUDDY",
            KpfClass::Other => "OTHER",
        }
    }
    pub fn parse(s: &str) -> Option<KpfClass> {
        [KpfClass::NoPage, KpfClass::Reserved, KpfClass::Buddy, KpfClass::Other].into_iter().find(|c| c.name() == s)
    }
}

/// Everything of one `@@dump EVENT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    pub event: String,
    pub zones: Vec<ZoneInfo>,
    /// Linux only: /proc/zoneinfo after the agent made Linux recompute watermarks and reserves from the current
    /// managed counts (see boot/agent).
    pub zones_recomputed: Vec<ZoneInfo>,
    /// `(nid, zone) -> [Unmovable, Movable, Reclaimable, HighAtomic, Isolate]` from "Number of blocks type".
    pub pageblocks: BTreeMap<(u32, String), Vec<u64>>,
    /// `(nid, zone) -> free blocks per order` from /proc/buddyinfo.
    pub buddyinfo: BTreeMap<(u32, String), Vec<u64>>,
    pub min_free_kbytes: Option<u64>,
    pub block_size: Option<u64>,
    pub blocks: Vec<MemBlock>,
    /// `(start pfn, pages, class)` runs, ascending.
    pub kpageflags: Vec<(u64, u64, KpfClass)>,
    /// Lines inside a section that did not parse.
    pub unparsed: Vec<String>,
}

impl Dump {
    /// The class of every pfn in `[start, end)` as runs clipped to the range; pfns no run covers are absent.
    pub fn classes_in(&self, start: u64, end: u64) -> Vec<(u64, u64, KpfClass)> {
        let i = self.kpageflags.partition_point(|r| r.0 + r.1 <= start);
        self.kpageflags[i..]
            .iter()
            .take_while(|r| r.0 < end)
            .map(|&(s, n, c)| (s.max(start), s.saturating_add(n).min(end).saturating_sub(s.max(start)), c))
            .filter(|r| r.1 > 0)
            .collect()
    }

    pub fn zone(&self, nid: u32, zone: &str) -> Option<&ZoneInfo> {
        self.zones.iter().find(|z| z.nid == nid && z.zone == zone)
    }
}

fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `Node 0, zone      DMA` -> (0, "DMA").
fn node_zone(l: &str) -> Option<(u32, String, &str)> {
    let rest = l.trim_start().strip_prefix("Node")?;
    let (nid, rest) = rest.split_once(',')?;
    let rest = rest.trim_start().strip_prefix("zone")?.trim_start();
    let (zone, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some((nid.trim().parse().ok()?, zone.to_string(), tail))
}

fn parse_zoneinfo(lines: &[&str], zones: &mut Vec<ZoneInfo>) {
    let mut cpu: Option<u32> = None;
    for l in lines {
        if let Some((nid, zone, tail)) = node_zone(l) {
            if tail.trim().is_empty() {
                zones.push(ZoneInfo { nid, zone, ..Default::default() });
                cpu = None;
                continue;
            }
        }
        let Some(z) = zones.last_mut() else { continue };
        let t = l.trim();
        let mut words = t.split_whitespace();
        let (Some(k), v) = (words.next(), words.next()) else { continue };
        let v = v.and_then(num);
        match k {
            "pages" if t.starts_with("pages free") => z.free = t.split_whitespace().nth(2).and_then(num),
            "min" => z.min = v,
            "low" => z.low = v,
            "high" => z.high = v,
            "high:" => {
                if let (Some(c), Some(p)) = (cpu, z.pagesets.last_mut()) {
                    if p.0 == c {
                        p.2 = v.unwrap_or(0);
                    }
                }
            }
            "spanned" => z.spanned = v,
            "present" => z.present = v,
            "managed" => z.managed = v,
            "start_pfn:" => z.start_pfn = v,
            "protection:" => {
                let inner = t.trim_start_matches("protection:").trim().trim_start_matches('(').trim_end_matches(')');
                z.protection = inner.split(',').filter_map(num).collect();
            }
            "cpu:" => {
                cpu = v.map(|c| c as u32);
                if let Some(c) = cpu {
                    z.pagesets.push((c, 0, 0, 0));
                }
            }
            "count:" | "batch:" => {
                if let (Some(c), Some(p)) = (cpu, z.pagesets.last_mut()) {
                    if p.0 == c {
                        if k == "count:" {
                            p.1 = v.unwrap_or(0);
                        } else {
                            p.3 = v.unwrap_or(0);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn parse_pagetypeinfo(lines: &[&str], d: &mut Dump) {
    let mut in_blocks = false;
    for l in lines {
        if l.starts_with("Number of blocks type") {
            in_blocks = true;
            continue;
        }
        if !in_blocks {
            continue;
        }
        if let Some((nid, zone, tail)) = node_zone(l) {
            let counts: Option<Vec<u64>> = tail.split_whitespace().map(num).collect();
            match counts {
                Some(c) => {
                    d.pageblocks.insert((nid, zone), c);
                }
                None => d.unparsed.push(l.to_string()),
            }
        }
    }
}

fn parse_buddyinfo(lines: &[&str], d: &mut Dump) {
    for l in lines {
        match node_zone(l)
            .and_then(|(n, z, tail)| Some((n, z, tail.split_whitespace().map(num).collect::<Option<Vec<_>>>()?)))
        {
            Some((n, z, c)) => {
                d.buddyinfo.insert((n, z), c);
            }
            None if l.trim().is_empty() => {}
            None => d.unparsed.push(l.to_string()),
        }
    }
}

fn parse_blocks(lines: &[&str], d: &mut Dump) {
    for l in lines {
        if let Some(v) = l.strip_prefix("block_size_bytes=") {
            d.block_size = num(v);
            continue;
        }
        let mut w = l.split_whitespace();
        let id = w.next().and_then(|m| m.strip_prefix("memory")).and_then(num);
        let kv: BTreeMap<&str, &str> = w.filter_map(|x| x.split_once('=')).collect();
        match (id, kv.get("node"), kv.get("state"), kv.get("valid_zones")) {
            (Some(id), Some(n), Some(s), Some(z)) => d.blocks.push(MemBlock {
                id,
                nodes: n.split(',').filter_map(|x| x.parse().ok()).collect(),
                state: s.to_string(),
                valid_zones: z.to_string(),
            }),
            _ => d.unparsed.push(l.to_string()),
        }
    }
}

fn parse_kpageflags(lines: &[&str], d: &mut Dump) {
    for l in lines {
        let mut w = l.split_whitespace();
        match (w.next().and_then(num), w.next().and_then(num), w.next().and_then(KpfClass::parse)) {
            (Some(s), Some(n), Some(c)) => d.kpageflags.push((s, n, c)),
            _ => d.unparsed.push(l.to_string()),
        }
    }
}

fn parse_sysctl(lines: &[&str], d: &mut Dump) {
    for l in lines {
        match l.split_once('=') {
            Some(("min_free_kbytes", v)) => d.min_free_kbytes = num(v),
            Some(_) => {}
            None => d.unparsed.push(l.to_string()),
        }
    }
}

/// Every dump in a serial log, in order. Sections outside a `@@dump` line go into a dump named `-`.
pub fn parse(serial: &str) -> Vec<Dump> {
    let mut dumps: Vec<Dump> = Vec::new();
    let mut section: Option<(String, Vec<&str>)> = None;
    let finish = |dumps: &mut Vec<Dump>, name: &str, lines: &[&str]| {
        if dumps.is_empty() {
            dumps.push(Dump { event: "-".into(), ..Default::default() });
        }
        let d = dumps.last_mut().expect("one dump at least");
        match name {
            "zoneinfo" => parse_zoneinfo(lines, &mut d.zones),
            "zoneinfo_recomputed" => parse_zoneinfo(lines, &mut d.zones_recomputed),
            "pagetypeinfo" => parse_pagetypeinfo(lines, d),
            "buddyinfo" => parse_buddyinfo(lines, d),
            "memory_blocks" => parse_blocks(lines, d),
            "kpageflags" => parse_kpageflags(lines, d),
            "sysctl" => parse_sysctl(lines, d),
            _ => {}
        }
    };
    for l in serial.lines() {
        let l = l.trim_end_matches('\r');
        if let Some(ev) = l.strip_prefix("@@dump ") {
            if let Some((name, lines)) = section.take() {
                finish(&mut dumps, &name, &lines);
            }
            dumps.push(Dump { event: ev.trim().to_string(), ..Default::default() });
            continue;
        }
        if let Some(name) = l.strip_prefix("@@begin ") {
            if let Some((n, lines)) = section.take() {
                finish(&mut dumps, &n, &lines);
            }
            section = Some((name.trim().to_string(), Vec::new()));
            continue;
        }
        if l.starts_with("@@end ") {
            if let Some((n, lines)) = section.take() {
                finish(&mut dumps, &n, &lines);
            }
            continue;
        }
        if let Some((_, lines)) = section.as_mut() {
            lines.push(l);
        }
    }
    if let Some((n, lines)) = section.take() {
        finish(&mut dumps, &n, &lines);
    }
    // `classes_in` searches the runs: keep them ascending whatever the log held.
    for d in &mut dumps {
        d.kpageflags.sort_by_key(|r| r.0);
    }
    dumps
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
@@dump boot
@@begin zoneinfo
Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 108
  pages free     3712
        boost    0
        min      66
        low      82
        high     98
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 2989, 3794, 3794, 3794)
      nr_free_pages 3712
  pagesets
    cpu: 0
              count: 0
              high:  82
              batch: 1
  vm stats threshold: 2
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone  Movable
  pages free     0
        min      32
        spanned  0
        present  0
        managed  0
        protection: (0, 0, 0, 0, 0)
@@end zoneinfo
@@begin pagetypeinfo
Page block order: 9

Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate 
Node 0, zone      DMA            1            7            0            0            0 
Node 0, zone    DMA32            2         1526            0            0            0 
@@end pagetypeinfo
@@begin buddyinfo
Node 0, zone      DMA      0      0      0      0      0      0      0      1      0      1      3 
@@end buddyinfo
@@begin sysctl
min_free_kbytes=67584
@@end sysctl
@@begin memory_blocks
block_size_bytes=0x8000000
memory0 node=0 state=online valid_zones=none phys_index=0x0
memory39 node=0 state=online valid_zones=Normal phys_index=0x27
memoryX broken
@@end memory_blocks
@@begin kpageflags
0x0 1 RESERVED
0x1 158 OTHER
0x9f 97 RESERVED
@@end kpageflags
";

    #[test]
    fn parses_every_section() {
        let d = parse(SAMPLE);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert_eq!(d.event, "boot");
        let z = d.zone(0, "DMA").unwrap();
        assert_eq!((z.free, z.min, z.low, z.high), (Some(3712), Some(66), Some(82), Some(98)));
        assert_eq!((z.spanned, z.present, z.managed, z.start_pfn), (Some(4095), Some(3998), Some(3840), Some(1)));
        assert_eq!(z.protection, vec![0, 2989, 3794, 3794, 3794]);
        assert_eq!(z.pagesets, vec![(0, 0, 82, 1)]);
        assert_eq!(d.zone(0, "Movable").unwrap().min, Some(32));
        assert_eq!(d.pageblocks[&(0, "DMA32".to_string())], vec![2, 1526, 0, 0, 0]);
        assert_eq!(d.buddyinfo[&(0, "DMA".to_string())].len(), 11);
        assert_eq!(d.min_free_kbytes, Some(67584));
        assert_eq!(d.block_size, Some(0x8000000));
        assert_eq!(d.blocks.len(), 2);
        assert_eq!(d.blocks[1].valid_zones, "Normal");
        assert_eq!(d.unparsed, vec!["memoryX broken".to_string()]);
        assert_eq!(d.kpageflags.len(), 3);
        assert_eq!(d.classes_in(0x9e, 0xa0), vec![(0x9e, 1, KpfClass::Other), (0x9f, 1, KpfClass::Reserved)]);
    }

    #[test]
    fn runs_out_of_order_are_sorted_and_never_panic() {
        let d = parse(
            "@@dump boot\n@@begin kpageflags\n0x40000 8 BUDDY\n0x0 0x40000 OTHER\n0x8000 16 NOPAGE\n@@end kpageflags\n",
        );
        let d = &d[0];
        assert_eq!(d.kpageflags[0].0, 0);
        // Overlapping runs (a broken log) still give clipped, non-empty answers.
        let c = d.classes_in(0x40000, 0x40008);
        assert_eq!(c, vec![(0x40000, 8, KpfClass::Buddy)]);
        assert!(!d.classes_in(0x8000, 0x8010).is_empty());
    }
}
