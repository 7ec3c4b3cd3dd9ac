//! Onlining and offlining: the zone a range goes to (`zone_for_pfn_range` under each online policy),
//! `online_pages` (span, memmap init, usemap, hand-over to the buddy allocator) and `offline_pages`.

use super::*;

impl Mm {
    /// The zone `policy` puts `[start_pfn, start_pfn + nr_pages)` of node `nid` in. See the module documentation.
    pub fn zone_for_online(&self, nid: u32, start_pfn: u64, nr_pages: u64, policy: OnlinePolicy) -> ZoneType {
        let end = start_pfn + nr_pages;
        let Some(node) = self.zones.nodes.get(nid as usize) else { return ZoneType::Normal };
        let intersects = |z: ZoneType| {
            let zone = node.zone(z);
            zone_intersects(start_pfn, end, zone.zone_start_pfn, zone.zone_end_pfn())
        };
        let kernel = [ZoneType::Dma, ZoneType::Dma32].into_iter().find(|&z| intersects(z)).unwrap_or(ZoneType::Normal);
        match policy {
            OnlinePolicy::Movable => ZoneType::Movable,
            OnlinePolicy::Normal => kernel,
            OnlinePolicy::Auto => {
                // default_zone_for_pfn: the zone the range already lies in, else (no zone, or both) ZONE_MOVABLE
                // with movable_node and the kernel zone without.
                let (in_kernel, in_movable) = (intersects(kernel), intersects(ZoneType::Movable));
                if in_kernel ^ in_movable {
                    if in_movable {
                        ZoneType::Movable
                    } else {
                        kernel
                    }
                } else if self.opts.movable_node {
                    ZoneType::Movable
                } else {
                    kernel
                }
            }
        }
    }

    pub(super) fn span_of(&self, nid: u32, zone: ZoneType) -> ((u64, u64), (u64, u64)) {
        let node = &self.zones.nodes[nid as usize];
        let z = node.zone(zone);
        ((z.zone_start_pfn, z.zone_end_pfn()), (node.node_start_pfn, node.node_end_pfn()))
    }

    pub(super) fn sync_buddy_span(&self, buddy: &mut Buddy, nid: u32, zone: ZoneType) {
        let z = self.zones.nodes[nid as usize].zone(zone);
        buddy.set_zone_span(nid, zone, z.zone_start_pfn, z.zone_end_pfn(), z.present_pages);
    }

    /// `online_pages` into `zone`: see the module documentation.
    pub fn online_pages(
        &mut self,
        buddy: &mut Buddy,
        start_pfn: u64,
        nr_pages: u64,
        zone: ZoneType,
    ) -> Result<SpanChange, HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        let mut pfn = start_pfn;
        let mut nid = None;
        while pfn < end {
            if !self.sparse.pfn_valid(pfn) {
                return Err(HotplugError::NotAdded { pfn });
            }
            if self.sparse.pfn_is_online(pfn) {
                return Err(HotplugError::Online { pfn });
            }
            let n = self.memblock.nid_of(pfn).ok_or(HotplugError::NotAdded { pfn })?;
            if *nid.get_or_insert(n) != n {
                return Err(HotplugError::NotAdded { pfn });
            }
            pfn += PAGES_PER_SUBSECTION;
        }
        let nid = nid.ok_or(HotplugError::Empty)?;
        let (zone_before, node_before) = self.span_of(nid, zone);
        let was_populated = self.zones.nodes[nid as usize].zone(zone).populated();
        // move_pfn_range_to_zone: resize_zone_range + resize_pgdat_range.
        {
            let node = &mut self.zones.nodes[nid as usize];
            let z = &mut node.zones[zone.index()];
            let old_end = z.zone_end_pfn();
            if z.is_empty() || start_pfn < z.zone_start_pfn {
                z.zone_start_pfn = start_pfn;
            }
            z.spanned_pages = end.max(old_end) - z.zone_start_pfn;
            let node_end = node.node_end_pfn();
            if node.node_spanned_pages == 0 || start_pfn < node.node_start_pfn {
                node.node_start_pfn = start_pfn;
            }
            node.node_spanned_pages = end.max(node_end) - node.node_start_pfn;
        }
        // memmap_init_range(MEMINIT_HOTPLUG, MIGRATE_ISOLATE).
        let z = zone as u8;
        for_each_section_part(self, start_pfn, end, |first, pages| {
            for (i, page) in pages.iter_mut().enumerate() {
                page.init_single(first + i as u64, z, nid);
            }
        });
        let vm = self.memmap_on_memory_pages(start_pfn).min(nr_pages);
        let first = start_pfn + vm;
        if vm > 0 {
            // mhp_init_memmap_on_memory: the pages holding the memmap are the zone's, reserved, unmovable.
            for_each_section_part(self, start_pfn, first, |_, pages| {
                for p in pages.iter_mut() {
                    p.set_flag(crate::page::pg::RESERVED);
                }
            });
            self.set_pageblocks(start_pfn, first, migratetype::UNMOVABLE, "mhp_init_memmap_on_memory")?;
        }
        self.set_pageblocks(first, end, migratetype::ISOLATE, "move_pfn_range_to_zone")?;
        {
            let node = &mut self.zones.nodes[nid as usize];
            node.zones[zone.index()].present_pages += nr_pages;
            node.zones[zone.index()].managed_pages += nr_pages - vm;
            node.node_present_pages += nr_pages;
        }
        for nr in pfn_to_section_nr(start_pfn)..=pfn_to_section_nr(end - 1) {
            self.sparse.set_online(nr, true);
        }
        self.set_pageblocks(first, end, migratetype::MOVABLE, "undo_isolate_page_range")?;
        self.sync_buddy_span(buddy, nid, zone);
        buddy.online_range(self, first, end).map_err(HotplugError::Buddy)?;
        if !was_populated {
            buddy.rebuild_zonelists(&self.zones);
        }
        let (zone_after, node_after) = self.span_of(nid, zone);
        Ok(SpanChange { nid, zone, zone_before, zone_after, node_before, node_after })
    }

    /// Checked pageblock migratetype writes over the pageblock starts of `[start, end)`.
    pub(super) fn set_pageblocks(
        &mut self,
        start: u64,
        end: u64,
        mt: u64,
        site: &'static str,
    ) -> Result<(), HotplugError> {
        let mut pb = align_up(start, PAGEBLOCK_NR_PAGES);
        while pb < end {
            self.checker.set_pfnblock_flags_mask(&self.sparse, &self.zones, pb, mt, migratetype::MASK, site)?;
            pb += PAGEBLOCK_NR_PAGES;
        }
        Ok(())
    }

    /// `offline_pages`: see the module documentation.
    pub fn offline_pages(
        &mut self,
        buddy: &mut Buddy,
        start_pfn: u64,
        nr_pages: u64,
    ) -> Result<SpanChange, HotplugError> {
        let end = self.check_range(start_pfn, nr_pages)?;
        let mut first = None;
        let mut pfn = start_pfn;
        while pfn < end {
            if !self.sparse.pfn_is_online(pfn) {
                return Err(HotplugError::NotOnline { pfn });
            }
            let links =
                self.sparse.pfn_to_page(pfn).and_then(|p| p.links(pfn).ok()).ok_or(HotplugError::NotOnline { pfn })?;
            if *first.get_or_insert((links.nid, links.zone)) != (links.nid, links.zone) {
                return Err(HotplugError::NotOneZone { pfn });
            }
            pfn += PAGES_PER_SUBSECTION;
        }
        let (nid, zi) = first.ok_or(HotplugError::Empty)?;
        let zone = ZoneType::from_index(zi as usize).ok_or(HotplugError::NoZone { nid, zone: ZoneType::Normal })?;
        if nid as usize >= self.zones.nodes.len() {
            return Err(HotplugError::BadNode { nid, nr_nodes: self.zones.nodes.len() });
        }
        let (zone_before, node_before) = self.span_of(nid, zone);
        // The pages holding the range's own memmap are not the allocator's: they stay until the remove.
        let first = start_pfn + self.memmap_on_memory_pages(start_pfn).min(nr_pages);
        self.set_pageblocks(first, end, migratetype::ISOLATE, "start_isolate_page_range")?;
        if let Err(e) = buddy.offline_range(self, first, end) {
            self.set_pageblocks(first, end, migratetype::MOVABLE, "undo_isolate_page_range")?;
            return Err(HotplugError::Offline(e));
        }
        for nr in pfn_to_section_nr(start_pfn)..=pfn_to_section_nr(end - 1) {
            self.sparse.set_online(nr, false);
        }
        {
            let node = &mut self.zones.nodes[nid as usize];
            node.zones[zone.index()].present_pages -= nr_pages;
            node.zones[zone.index()].managed_pages -= end - first;
            node.node_present_pages -= nr_pages;
        }
        // remove_pfn_range_from_zone: poison, then shrink_zone_span + update_pgdat_span.
        for_each_section_part(self, start_pfn, end, |_, pages| pages.fill(Page::POISONED));
        self.shrink_zone_span(nid, zone, start_pfn, end);
        self.update_pgdat_span(nid);
        self.sync_buddy_span(buddy, nid, zone);
        if !self.zones.nodes[nid as usize].zone(zone).populated() {
            buddy.rebuild_zonelists(&self.zones);
        }
        let (zone_after, node_after) = self.span_of(nid, zone);
        Ok(SpanChange { nid, zone, zone_before, zone_after, node_before, node_after })
    }
}
