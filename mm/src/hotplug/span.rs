//! Zone and node spans after offlining: `shrink_zone_span` (find the new first and last pfn of the zone) and
//! `update_pgdat_span`.

use super::*;

impl Mm {
    /// Whether the online pfn `pfn`'s struct page names `(nid, zone)`: the test of `find_{smallest,biggest}_section_pfn`.
    pub(super) fn pfn_in_zone(&self, pfn: u64, nid: u32, zone: ZoneType) -> bool {
        self.sparse.pfn_is_online(pfn)
            && self
                .sparse
                .pfn_to_page(pfn)
                .and_then(|p| p.links(pfn).ok())
                .is_some_and(|l| l.nid == nid && l.zone as usize == zone.index())
    }

    /// `shrink_zone_span`.
    pub(super) fn shrink_zone_span(&mut self, nid: u32, zone: ZoneType, start: u64, end: u64) {
        let z = *self.zones.nodes[nid as usize].zone(zone);
        let (zs, ze) = (z.zone_start_pfn, z.zone_end_pfn());
        let new = if zs == start {
            // find_smallest_section_pfn over [end, zone_end), subsection by subsection.
            let mut pfn = end;
            let mut found = None;
            while pfn < ze {
                if self.pfn_in_zone(pfn, nid, zone) {
                    found = Some(pfn);
                    break;
                }
                pfn += PAGES_PER_SUBSECTION;
            }
            Some(found.map_or((0, 0), |p| (p, ze)))
        } else if ze == end {
            // find_biggest_section_pfn over [zone_start, start), from start - 1 down.
            let mut found = None;
            let mut pfn = start - 1;
            while pfn >= zs {
                if self.pfn_in_zone(pfn, nid, zone) {
                    found = Some(pfn);
                    break;
                }
                if pfn < zs + PAGES_PER_SUBSECTION {
                    break;
                }
                pfn -= PAGES_PER_SUBSECTION;
            }
            Some(found.map_or((0, 0), |p| (zs, p + 1)))
        } else {
            None
        };
        if let Some((s, e)) = new {
            let z = &mut self.zones.nodes[nid as usize].zones[zone.index()];
            z.zone_start_pfn = s;
            z.spanned_pages = e - s;
        }
    }

    /// `update_pgdat_span`: the node spans its non-empty zones.
    pub(super) fn update_pgdat_span(&mut self, nid: u32) {
        let node = &mut self.zones.nodes[nid as usize];
        let (mut s, mut e) = (0u64, 0u64);
        for z in node.zones.iter().filter(|z| z.spanned_pages != 0) {
            if e == 0 {
                (s, e) = (z.zone_start_pfn, z.zone_end_pfn());
                continue;
            }
            e = e.max(z.zone_end_pfn());
            s = s.min(z.zone_start_pfn);
        }
        node.node_start_pfn = s;
        node.node_spanned_pages = e - s;
    }
}
