//! The struct pages of a booted model as merged pfn runs: what `compare` diffs and `--svg` draws.
//!
//! A [`LinkMap`] lists every `pfn_valid` pfn exactly once, in ascending runs `[start, end)` of pages that are
//! alike: the same links (or all poisoned), all memory or all holes, and all spanned by their zone and node or
//! all not. It is built section by section: a uniform section (compressed mode, see `mm::model`) is one run from
//! its template page, so a 1 TiB machine costs a few thousand steps; a materialized section is read page by page
//! (32768 pages). Runs never cross a `!pfn_valid` pfn, so the gaps between runs are exactly the pfns without a
//! struct page.
//!
//! # Invariants
//! - runs are sorted, disjoint, non-empty, and two adjacent runs that touch differ in some field (maximal);
//! - `bad` is exactly the verifier's span check: poisoned, links naming no zone, or a zone or node that does not
//!   span the pfn (for a uniform section both ends are checked, as `mm::verify` does: spans are intervals).

use mm::consts::section_nr_to_pfn;
use mm::model::Mm;
use mm::page::{pg, Links, Page};
use mm::zones::{ZoneType, Zones};

/// The links of a page as `compare` shows them: poisoned, or a node and zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageLinks {
    /// Never initialized: the poison pattern (its links must not be read).
    Poisoned,
    /// `page_to_nid` / `page_zonenum`.
    Linked { nid: u32, zone: u8 },
}

impl PageLinks {
    fn of(page: &Page, pfn: u64) -> PageLinks {
        match page.links(pfn) {
            Ok(Links { nid, zone }) => PageLinks::Linked { nid, zone },
            Err(_) => PageLinks::Poisoned,
        }
    }

    /// `node 0 Normal`, or `poisoned`.
    pub fn label(self) -> String {
        match self {
            PageLinks::Poisoned => "poisoned".to_string(),
            PageLinks::Linked { nid, zone } => format!("node {} {}", nid, zone_name(zone)),
        }
    }
}

/// Linux's zone name of a zone index (`?N` for an index no zone has).
pub fn zone_name(zone: u8) -> String {
    ZoneType::from_index(zone as usize).map_or_else(|| format!("?{}", zone), |z| z.name().to_string())
}

/// A run of alike `pfn_valid` pages. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub start: u64,
    pub end: u64,
    pub links: PageLinks,
    /// The pages are memory (in memblock.memory), not holes.
    pub memory: bool,
    /// PG_reserved.
    pub reserved: bool,
    /// The page fails the verifier's span check (see the module documentation).
    pub bad: bool,
}

impl Run {
    pub fn pages(&self) -> u64 {
        self.end - self.start
    }
}

/// The runs of one model. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct LinkMap {
    pub runs: Vec<Run>,
}

fn is_bad(zones: &Zones, links: PageLinks, pfn: u64) -> bool {
    match links {
        PageLinks::Poisoned => true,
        PageLinks::Linked { nid, zone } => {
            let z = ZoneType::from_index(zone as usize).and_then(|z| zones.zone(nid, z));
            match z {
                None => true,
                Some(z) => !z.zone_spans_pfn(pfn) || zones.node(nid).is_none_or(|n| !n.spans_pfn(pfn)),
            }
        }
    }
}

impl LinkMap {
    /// Reads the model. See the module documentation.
    pub fn of(mm: &Mm) -> LinkMap {
        let mut map = LinkMap::default();
        let memory = &mm.memblock.memory;
        let mut mi = 0usize;
        // The memory range holding `pfn`, for ascending pfns (a cursor over memblock.memory).
        let mut is_memory = |pfn: u64| -> bool {
            while mi < memory.len() && memory[mi].end_pfn <= pfn {
                mi += 1;
            }
            memory.get(mi).is_some_and(|r| r.start_pfn <= pfn)
        };
        let sections: Vec<u64> = mm.sparse.valid_sections().collect();
        for nr in sections {
            let (s, e) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1));
            let Some(ms) = mm.sparse.section(nr) else { continue };
            if ms.uniform() {
                let Some(page) = mm.sparse.pfn_to_page(s) else { continue };
                let links = PageLinks::of(page, s);
                let bad = is_bad(&mm.zones, links, s) || is_bad(&mm.zones, links, e - 1);
                let memory = is_memory(s);
                map.push(Run { start: s, end: e, links, memory, reserved: page.test_flag(pg::RESERVED), bad });
                continue;
            }
            for pfn in s..e {
                if !mm.sparse.pfn_valid(pfn) {
                    continue;
                }
                let Some(page) = mm.sparse.pfn_to_page(pfn) else { continue };
                let links = PageLinks::of(page, pfn);
                let run = Run {
                    start: pfn,
                    end: pfn + 1,
                    links,
                    memory: is_memory(pfn),
                    reserved: !page.is_poisoned() && page.test_flag(pg::RESERVED),
                    bad: is_bad(&mm.zones, links, pfn),
                };
                map.push(run);
            }
        }
        map
    }

    fn push(&mut self, r: Run) {
        if let Some(last) = self.runs.last_mut() {
            if last.end == r.start
                && last.links == r.links
                && last.memory == r.memory
                && last.reserved == r.reserved
                && last.bad == r.bad
            {
                last.end = r.end;
                return;
            }
        }
        self.runs.push(r);
    }

    /// The run holding `pfn`.
    pub fn at(&self, pfn: u64) -> Option<&Run> {
        let i = self.runs.partition_point(|r| r.end <= pfn);
        self.runs.get(i).filter(|r| r.start <= pfn)
    }

    /// The runs overlapping `[start, end)`.
    pub fn overlapping(&self, start: u64, end: u64) -> &[Run] {
        let i = self.runs.partition_point(|r| r.end <= start);
        let j = self.runs.partition_point(|r| r.start < end);
        &self.runs[i..j.max(i)]
    }

    /// Hole pages (valid, not memory) per links, sorted by links.
    pub fn hole_pages_by_links(&self) -> Vec<(PageLinks, u64)> {
        let mut v: Vec<(PageLinks, u64)> = Vec::new();
        for r in self.runs.iter().filter(|r| !r.memory) {
            match v.iter_mut().find(|(l, _)| *l == r.links) {
                Some((_, n)) => *n += r.pages(),
                None => v.push((r.links, r.pages())),
            }
        }
        v.sort();
        v
    }

    /// All hole pages.
    pub fn hole_pages(&self) -> u64 {
        self.runs.iter().filter(|r| !r.memory).map(Run::pages).sum()
    }

    /// Pages failing the span check.
    pub fn bad_pages(&self) -> u64 {
        self.runs.iter().filter(|r| r.bad).map(Run::pages).sum()
    }
}

/// A pfn range whose links differ between models, with the links under each (`None`: no struct page there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkDiff {
    pub start: u64,
    pub end: u64,
    pub links: Vec<Option<PageLinks>>,
}

/// The pfn ranges where the maps' links are not all equal, merged where the per-map links repeat. Runs over the
/// maps' run boundaries only (never per pfn), so it costs O(total runs x maps).
pub fn diff_links(maps: &[&LinkMap]) -> Vec<LinkDiff> {
    let mut bounds: Vec<u64> = maps.iter().flat_map(|m| m.runs.iter().flat_map(|r| [r.start, r.end])).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut idx = vec![0usize; maps.len()];
    let mut out: Vec<LinkDiff> = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let links: Vec<Option<PageLinks>> = maps
            .iter()
            .zip(idx.iter_mut())
            .map(|(m, i)| {
                while *i < m.runs.len() && m.runs[*i].end <= a {
                    *i += 1;
                }
                m.runs.get(*i).filter(|r| r.start <= a).map(|r| r.links)
            })
            .collect();
        if links.iter().all(|l| *l == links[0]) {
            continue;
        }
        match out.last_mut() {
            Some(d) if d.end == a && d.links == links => d.end = b,
            _ => out.push(LinkDiff { start: a, end: b, links }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u64, end: u64, nid: u32, zone: u8) -> Run {
        Run { start, end, links: PageLinks::Linked { nid, zone }, memory: true, reserved: false, bad: false }
    }

    #[test]
    fn diff_merges_and_skips_equal_ranges() {
        let a = LinkMap { runs: vec![run(0, 10, 0, 0), run(10, 20, 0, 1), run(30, 40, 0, 2)] };
        let b = LinkMap { runs: vec![run(0, 5, 0, 0), run(5, 20, 0, 1), run(30, 35, 0, 2), run(35, 40, 1, 2)] };
        let d = diff_links(&[&a, &b]);
        let z = |nid, zone| Some(PageLinks::Linked { nid, zone });
        assert_eq!(
            d,
            vec![
                LinkDiff { start: 5, end: 10, links: vec![z(0, 0), z(0, 1)] },
                LinkDiff { start: 35, end: 40, links: vec![z(0, 2), z(1, 2)] },
            ]
        );
        // A range valid in one map only is a difference too.
        let c = LinkMap { runs: vec![run(0, 20, 0, 0)] };
        let d = diff_links(&[&c, &LinkMap { runs: vec![run(0, 10, 0, 0)] }]);
        assert_eq!(d, vec![LinkDiff { start: 10, end: 20, links: vec![z(0, 0), None] }]);
    }
}
