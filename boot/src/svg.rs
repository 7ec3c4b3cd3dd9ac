//! `--svg FILE`: a picture of the physical address space, one row per model (one for `sim`/`run`, one per policy
//! for `compare`, so differences line up column by column).
//!
//! ```text
//!  policy   | sec 0 | sec 1 | ⋯ ×22 | sec 24..31 absent | sec 32 | ⋯ ×6 | sec 39 ...
//!           [cell: segments colored by node (hue) and zone (lightness); holes hatched; span violations red;
//!            reserved ranges as an orange bar at the bottom; walker VM_BUG_ON pfns as red triangles on top]
//!  0      128M   ...   3G    4G ...             address labels at every group start
//!  legend
//! ```
//! Each 128 MiB section is a cell, drawn from the [`LinkMap`] runs that cross it. Consecutive sections that look
//! the same in *every* row (same segments, same reserved marks) form a group; a group of more than two sections is
//! drawn as its first cell and a narrow break mark labelled `×N`, and sections without a memmap are one narrow
//! gap per group. So a 1 TiB, 8-node machine (8192 sections, mostly uniform) and a 128 MiB one both fit on a
//! screen: the width grows with the number of *changes* in the layout, not with its size.
//!
//! The SVG is written by hand: it is a few hundred rectangles and labels of one fixed shape, and a crate would add
//! a dependency (and its review) to get the same `format!` calls. Every text and attribute value goes through
//! [`escape`].
//!
//! # Invariants
//! - the output is well-formed XML (one root `svg` element, every element closed, text escaped) and contains the
//!   `<title>`, the legend (`id="legend"`), the `hatch` pattern and one `class="row"` group per row;
//! - a segment, reserved mark or violation mark is at least 1 px wide, so a one-page hole stays visible.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use mm::consts::{pfn_to_section_nr, section_nr_to_pfn, PAGES_PER_SECTION, PAGE_SHIFT};

use crate::linkmap::{zone_name, LinkMap, PageLinks};

/// One row of the picture.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub label: String,
    pub map: LinkMap,
    /// Reserved pfn ranges `[start, end)` with what reserved them.
    pub reserved: Vec<(u64, u64, String)>,
    /// pfns where a walker hit the VM_BUG_ON.
    pub violation_pfns: Vec<u64>,
}

/// A model the picture can draw. Implemented where the model's type lives (`compare::PolicyRun`; a simulation
/// gives its row with `sim::SimResult::svg_row`), so this module depends on nothing above it.
pub trait Drawable {
    /// The model's row.
    fn svg_row(&self) -> Row;
}

impl Row {
    /// The row of anything [`Drawable`] (a `compare` column, a `run` replay).
    pub fn of_run(r: &impl Drawable) -> Row {
        r.svg_row()
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A physical address in binary units: `0`, `640K`, `128M`, `3G`, `1T`, or hex when not a whole unit.
pub fn addr_label(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{}", bytes >> shift, unit);
        }
    }
    format!("{:#x}", bytes)
}

fn hsl_to_hex(h: f64, s: f64, l: f64) -> String {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let q = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", q(r), q(g), q(b))
}

/// The fill of a page's links: hue by node, lightness by zone (DMA darkest).
pub fn color(l: PageLinks) -> String {
    match l {
        PageLinks::Poisoned => "#000000".into(),
        PageLinks::Linked { nid, zone } => {
            const HUES: [f64; 8] = [212.0, 135.0, 275.0, 28.0, 178.0, 330.0, 58.0, 0.0];
            let h = HUES[nid as usize % HUES.len()];
            let l = [0.32, 0.46, 0.62, 0.78].get(zone as usize).copied().unwrap_or(0.9);
            hsl_to_hex(h, 0.62, l)
        }
    }
}

const CELL_W: f64 = 26.0;
const BREAK_W: f64 = 18.0;
const GAP_W: f64 = 16.0;
const ROW_H: f64 = 34.0;
const ROW_GAP: f64 = 10.0;
const LEFT: f64 = 150.0;
const TOP: f64 = 56.0;

/// What a section looks like in one row: segments (relative start, end, links, hole, bad), reserved marks and
/// violation marks (relative to the section start).
type Look = (Vec<(u64, u64, PageLinks, bool, bool)>, Vec<(u64, u64)>, Vec<u64>);

fn look(row: &Row, nr: u64) -> Look {
    let (s, e) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1));
    let segs = row
        .map
        .overlapping(s, e)
        .iter()
        .map(|r| (r.start.max(s) - s, r.end.min(e) - s, r.links, !r.memory, r.bad))
        .collect();
    let res = row
        .reserved
        .iter()
        .filter(|(a, b, _)| *a < e && *b > s)
        .map(|(a, b, _)| ((*a).max(s) - s, (*b).min(e) - s))
        .collect();
    let viol = row.violation_pfns.iter().filter(|p| **p >= s && **p < e).map(|p| p - s).collect();
    (segs, res, viol)
}

/// A drawn unit: `count` consecutive sections from `first` that look alike in every row.
struct Group {
    first: u64,
    count: u64,
    looks: Vec<Look>,
}

impl Group {
    fn absent(&self) -> bool {
        self.looks.iter().all(|l| l.0.is_empty())
    }
    fn width(&self) -> f64 {
        if self.absent() {
            GAP_W
        } else if self.count > 2 {
            CELL_W + BREAK_W
        } else {
            CELL_W * self.count as f64
        }
    }
}

fn groups(rows: &[Row]) -> Vec<Group> {
    let mut end_pfn = 0u64;
    for r in rows {
        end_pfn = end_pfn.max(r.map.runs.last().map_or(0, |x| x.end));
        end_pfn = end_pfn.max(r.reserved.iter().map(|x| x.1).max().unwrap_or(0));
    }
    let nr_end = pfn_to_section_nr(end_pfn.saturating_sub(1)) + 1;
    // Only sections where something starts or ends can differ from their predecessor; between those, every
    // section looks like the previous one, so we visit the boundaries only (cheap on 1 TiB sparse maps).
    let mut marks: BTreeSet<u64> = BTreeSet::new();
    marks.insert(0);
    for r in rows {
        for x in &r.map.runs {
            for p in [x.start, x.end] {
                marks.insert(pfn_to_section_nr(p));
                marks.insert(pfn_to_section_nr(p) + 1);
            }
        }
        for x in &r.reserved {
            for p in [x.0, x.1] {
                marks.insert(pfn_to_section_nr(p));
                marks.insert(pfn_to_section_nr(p) + 1);
            }
        }
        for p in &r.violation_pfns {
            marks.insert(pfn_to_section_nr(*p));
            marks.insert(pfn_to_section_nr(*p) + 1);
        }
    }
    let marks: Vec<u64> = marks.into_iter().filter(|&m| m < nr_end).collect();
    let mut out: Vec<Group> = Vec::new();
    for (i, &m) in marks.iter().enumerate() {
        let next = marks.get(i + 1).copied().unwrap_or(nr_end);
        // Loop invariant: sections [m, next) look like section m. A section that is not a mark has no run,
        // reservation or violation boundary in it or in its predecessor, so it is covered by the same runs as its
        // predecessor, at the same relative offsets.
        let looks: Vec<Look> = rows.iter().map(|r| look(r, m)).collect();
        match out.last_mut() {
            Some(g) if g.first + g.count == m && g.looks == looks => g.count += next - m,
            _ => out.push(Group { first: m, count: next - m, looks }),
        }
    }
    out
}

/// Renders the picture.
pub fn render(title: &str, rows: &[Row]) -> String {
    let groups = groups(rows);
    let width_cells: f64 = groups.iter().map(Group::width).sum();
    let width = LEFT + width_cells + 40.0;
    let rows_h = rows.len() as f64 * (ROW_H + ROW_GAP);
    let labels_y = TOP + rows_h + 4.0;
    let legend_y = labels_y + 64.0;
    // Legend entries: every links value any row shows.
    let mut used: BTreeSet<PageLinks> = BTreeSet::new();
    for r in rows {
        for x in &r.map.runs {
            used.insert(x.links);
        }
    }
    let legend_per_line = ((width - 20.0) / 150.0).max(1.0) as usize;
    let legend_items = used.len() + 6;
    let height = legend_y + 24.0 + legend_items.div_ceil(legend_per_line) as f64 * 20.0 + 10.0;
    // The title is the widest text: about 8 px per character at 14 px bold.
    let width = width.max(LEFT + 600.0).max(20.0 + 8.2 * title.chars().count() as f64);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">
<title>{t}</title>
<defs>
<pattern id="hatch" patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)"><rect width="4" height="4" fill="none"/><line x1="0" y1="0" x2="0" y2="4" stroke="#000000" stroke-opacity="0.55" stroke-width="1.6"/></pattern>
</defs>
<rect x="0" y="0" width="{w:.0}" height="{h:.0}" fill="#ffffff"/>
<text x="10" y="20" font-size="14" font-weight="bold">{t}</text>
<text x="10" y="38" fill="#444444">one cell per 128 MiB section; ×N: N alike sections drawn once; narrow dashed gaps: sections without a memmap</text>"##,
        w = width,
        h = height,
        t = escape(title)
    );
    for (ri, row) in rows.iter().enumerate() {
        let y = TOP + ri as f64 * (ROW_H + ROW_GAP);
        let _ = writeln!(s, r##"<g class="row" id="row-{}">"##, ri);
        let _ = writeln!(
            s,
            r##"<text x="{:.0}" y="{:.1}" text-anchor="end" font-weight="bold">{}</text>"##,
            LEFT - 8.0,
            y + ROW_H / 2.0 + 4.0,
            escape(&row.label)
        );
        let mut x = LEFT;
        for g in &groups {
            let (segs, res, viol) = &g.looks[ri];
            let sec_bytes = |n: u64| addr_label(n * (PAGES_PER_SECTION << PAGE_SHIFT));
            if g.absent() {
                let _ = writeln!(
                    s,
                    r##"<rect class="absent" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#f2f2f2" stroke="#aaaaaa" stroke-dasharray="2,2"><title>sections {}-{} ({}): no memmap</title></rect>"##,
                    x + 2.0,
                    y + 6.0,
                    GAP_W - 4.0,
                    ROW_H - 12.0,
                    g.first,
                    g.first + g.count - 1,
                    sec_bytes(g.count)
                );
                for (a, b) in res {
                    let _ = writeln!(
                        s,
                        r##"<rect class="reserved" x="{:.1}" y="{:.1}" width="{:.1}" height="4" fill="#ff8c00"/>"##,
                        x + 2.0 + (*a as f64 / PAGES_PER_SECTION as f64) * (GAP_W - 4.0),
                        y + ROW_H - 4.0,
                        (((*b - *a) as f64 / PAGES_PER_SECTION as f64) * (GAP_W - 4.0)).max(1.0)
                    );
                }
                x += GAP_W;
                continue;
            }
            let sections = if g.count > 2 { 1 } else { g.count };
            for k in 0..sections {
                let cx = x + k as f64 * CELL_W;
                let nr = g.first + k;
                let _ = writeln!(
                    s,
                    r##"<rect class="section" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#f2f2f2" stroke="#333333" stroke-width="0.6"><title>section {} [{:#x}, {:#x})</title></rect>"##,
                    cx,
                    y,
                    CELL_W,
                    ROW_H,
                    nr,
                    section_nr_to_pfn(nr),
                    section_nr_to_pfn(nr + 1)
                );
                for (a, b, links, hole, bad) in segs {
                    let sx = cx + (*a as f64 / PAGES_PER_SECTION as f64) * CELL_W;
                    let sw = (((*b - *a) as f64 / PAGES_PER_SECTION as f64) * CELL_W).max(1.0);
                    let what = format!(
                        "pfn [{:#x}, {:#x}): {} {}{}",
                        section_nr_to_pfn(nr) + a,
                        section_nr_to_pfn(nr) + b,
                        if *hole { "hole" } else { "memory" },
                        links.label(),
                        if *bad { ", zone or node does not span it" } else { "" }
                    );
                    let _ = writeln!(
                        s,
                        r##"<rect class="{}" x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{}"><title>{}</title></rect>"##,
                        if *hole { "hole" } else { "memory" },
                        sx,
                        y + 1.0,
                        sw,
                        ROW_H - 2.0,
                        color(*links),
                        escape(&what)
                    );
                    if *hole {
                        let _ = writeln!(
                            s,
                            r##"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="url(#hatch)"/>"##,
                            sx,
                            y + 1.0,
                            sw,
                            ROW_H - 2.0
                        );
                    }
                    if *bad {
                        let _ = writeln!(
                            s,
                            r##"<rect class="violation" x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="#e00000" fill-opacity="0.75" stroke="#e00000" stroke-width="0.8"/>"##,
                            sx,
                            y + ROW_H * 0.3,
                            sw.max(2.0),
                            ROW_H * 0.4
                        );
                    }
                }
                for (a, b) in res {
                    let _ = writeln!(
                        s,
                        r##"<rect class="reserved" x="{:.2}" y="{:.1}" width="{:.2}" height="4" fill="#ff8c00"/>"##,
                        cx + (*a as f64 / PAGES_PER_SECTION as f64) * CELL_W,
                        y + ROW_H - 4.0,
                        (((*b - *a) as f64 / PAGES_PER_SECTION as f64) * CELL_W).max(1.0)
                    );
                }
                for p in viol {
                    let px = cx + (*p as f64 / PAGES_PER_SECTION as f64) * CELL_W;
                    let _ = writeln!(
                        s,
                        r##"<path class="vmbug" d="M {:.2} {:.1} l -4 -6 l 8 0 z" fill="#e00000"><title>VM_BUG_ON at pfn {:#x}</title></path>"##,
                        px,
                        y,
                        section_nr_to_pfn(nr) + p
                    );
                }
            }
            if g.count > 2 {
                let bx = x + CELL_W;
                let _ = writeln!(
                    s,
                    r##"<g class="compressed"><path d="M {:.1} {:.1} l 4 {:.1} l -4 {:.1} M {:.1} {:.1} l 4 {:.1} l -4 {:.1}" fill="none" stroke="#555555"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">×{}</text><title>{} more sections like section {} ({})</title></g>"##,
                    bx + 4.0,
                    y + 4.0,
                    (ROW_H - 8.0) / 2.0,
                    (ROW_H - 8.0) / 2.0,
                    bx + 10.0,
                    y + 4.0,
                    (ROW_H - 8.0) / 2.0,
                    (ROW_H - 8.0) / 2.0,
                    bx + BREAK_W / 2.0,
                    y - 2.0,
                    g.count - 1,
                    g.count - 1,
                    g.first,
                    sec_bytes(g.count - 1)
                );
            }
            x += g.width();
        }
        let _ = writeln!(s, "</g>");
    }
    // Address labels at group starts (and the end), rotated so that narrow groups do not collide.
    let _ = writeln!(s, r##"<g class="addresses" fill="#333333" font-size="9">"##);
    let mut x = LEFT;
    let mut last_end = 0;
    for g in &groups {
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999999" stroke-width="0.5"/><text transform="translate({:.1},{:.1}) rotate(55)">{}</text>"##,
            x,
            labels_y - 4.0,
            x,
            labels_y + 2.0,
            x,
            labels_y + 6.0,
            escape(&addr_label(section_nr_to_pfn(g.first) << PAGE_SHIFT))
        );
        x += g.width();
        last_end = g.first + g.count;
    }
    let _ = writeln!(
        s,
        r##"<text transform="translate({:.1},{:.1}) rotate(55)">{}</text>"##,
        x,
        labels_y + 6.0,
        escape(&addr_label(section_nr_to_pfn(last_end) << PAGE_SHIFT))
    );
    let _ = writeln!(s, "</g>");
    // Legend.
    let _ = writeln!(s, r##"<g id="legend" font-size="10">"##);
    let _ = writeln!(s, r##"<text x="10" y="{:.1}" font-weight="bold">legend</text>"##, legend_y);
    let mut items: Vec<(String, String)> = used
        .iter()
        .map(|l| {
            let label = match l {
                PageLinks::Poisoned => "poisoned (uninitialized)".to_string(),
                PageLinks::Linked { nid, zone } => format!("node {} zone {}", nid, zone_name(*zone)),
            };
            (format!(r##"fill="{}""##, color(*l)), label)
        })
        .collect();
    items.push((r##"fill="url(#hatch)" stroke="#333333" stroke-width="0.5""##.into(), "hole (no memory)".into()));
    items.push((r##"fill="#e00000""##.into(), "zone/node does not span pfn".into()));
    items.push((r##"fill="#ff8c00""##.into(), "reserved range".into()));
    items.push((r##"fill="#f2f2f2" stroke="#aaaaaa" stroke-dasharray="2,2""##.into(), "no memmap".into()));
    items.push((r##"fill="none" stroke="#555555""##.into(), "×N: alike sections".into()));
    items.push((r##"fill="#e00000" class="vmbug-legend""##.into(), "▼ walker VM_BUG_ON".into()));
    for (i, (style, label)) in items.iter().enumerate() {
        let lx = 10.0 + (i % legend_per_line) as f64 * 150.0;
        let ly = legend_y + 12.0 + (i / legend_per_line) as f64 * 20.0;
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="14" height="12" {}/><text x="{:.1}" y="{:.1}">{}</text>"##,
            lx,
            ly,
            style,
            lx + 18.0,
            ly + 10.0,
            escape(label)
        );
    }
    let _ = writeln!(s, "</g>\n</svg>");
    s
}

/// Renders and writes the picture; the error is one line.
pub fn write(path: &str, title: &str, rows: &[Row]) -> Result<(), String> {
    std::fs::write(path, render(title, rows)).map_err(|e| format!("cannot write {}: {}", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_labels() {
        assert_eq!(escape(r##"a<b>&"c"'"##), "a&lt;b&gt;&amp;&quot;c&quot;&apos;");
        assert_eq!(addr_label(0), "0");
        assert_eq!(addr_label(128 << 20), "128M");
        assert_eq!(addr_label(1 << 40), "1T");
        assert_eq!(addr_label(0x9fc00), "639K");
        assert_eq!(addr_label(0x1234), "0x1234");
        assert_eq!(hsl_to_hex(0.0, 1.0, 0.5), "#ff0000");
    }
}
