//! The line machine: which block a line belongs to, and what it adds to the [`BootLog`].

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// The line machine

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    None,
    ZoneRanges,
    MovableZoneStart,
    EarlyNodeRanges,
}

pub(super) struct Parser {
    pub(super) log: BootLog,
    pub(super) block: Block,
    pub(super) linux_version_seen: bool,
}

impl Parser {
    /// Handles one line (a second boot starts the log over).
    pub(super) fn line(&mut self, n: usize, msg: &str) {
        if msg.is_empty() {
            self.block = Block::None;
            return;
        }
        // A second boot in the same file.
        let boot_start = msg.starts_with("Linux version ") && self.linux_version_seen
            || (msg == "BIOS-provided physical RAM map:" || msg == "Zone ranges:") && self.log.zone_ranges.is_some();
        if boot_start {
            // The last boot wins: start over, keeping the warnings (they name lines that were read).
            let warnings = core::mem::take(&mut self.log.warnings);
            let dropped = self.log.warnings_dropped;
            self.log = BootLog { warnings, warnings_dropped: dropped, lines: self.log.lines, ..BootLog::default() };
            self.block = Block::None;
            self.linux_version_seen = false;
            let reason = format!("a second boot starts here; lines 1-{} (the earlier boot) are ignored", n - 1);
            self.log.warn(n, reason, msg);
        }
        if let Some(rest) = msg.strip_prefix("Linux version ") {
            self.linux_version_seen = true;
            match linux_version(rest) {
                Ok(v) => self.log.linux_version = Some(v),
                Err(e) => self.log.warn(n, e, msg),
            }
        }
        let header = matches!(
            msg,
            "Zone ranges:"
                | "Movable zone start for each node"
                | "Early memory node ranges"
                | "Early memory PFN ranges"
        );
        if self.block != Block::None && !header && self.block_item(n, msg) {
            return;
        }
        self.block = Block::None;
        self.top_level(n, msg);
    }

    /// Handles a line inside a block; false when the line is not an item of the block (the block ends).
    fn block_item(&mut self, n: usize, msg: &str) -> bool {
        match self.block {
            Block::None => false,
            Block::ZoneRanges => {
                let (name, rest) = msg.split_once(char::is_whitespace).unwrap_or((msg, ""));
                if !matches!(name, "DMA" | "DMA32" | "Normal" | "Movable" | "HighMem" | "Device") {
                    return false;
                }
                let r = zone_range_item(name, rest.trim());
                match r {
                    Ok(item) => self.zone_range(n, msg, item),
                    Err(e) => self.log.warn(n, e, msg),
                }
                true
            }
            Block::MovableZoneStart => {
                let Some(rest) = msg.strip_prefix("Node ") else { return false };
                let r = rest
                    .split_once(':')
                    .ok_or_else(|| "missing \":\"".to_string())
                    .and_then(|(nid, addr)| Ok((dec32(nid.trim())?, hex(addr.trim())?)))
                    .and_then(|(nid, addr)| {
                        if !addr.is_multiple_of(PAGE_SIZE) {
                            Err(format!("{:#x} is not page aligned", addr))
                        } else {
                            Ok((nid, addr >> PAGE_SHIFT))
                        }
                    });
                match r {
                    Ok(v) => self.log.movable_zone_start.push(v),
                    Err(e) => self.log.warn(n, e, msg),
                }
                true
            }
            Block::EarlyNodeRanges => {
                let r = if let Some(rest) = msg.strip_prefix("node ") {
                    rest.split_once(':').ok_or_else(|| "missing \":\"".to_string()).and_then(|(nid, range)| {
                        let nid = dec32(nid.trim())?;
                        let (start, end, tail) = mem_range(range)?;
                        if !tail.trim().is_empty() {
                            return Err(format!("unexpected {:?} after the range", tail.trim()));
                        }
                        let (start_pfn, end_pfn) = pfns(start, end)?;
                        Ok(MemRange { start_pfn, end_pfn, nid })
                    })
                } else if msg.bytes().next().is_some_and(|c| c.is_ascii_digit()) && msg.contains("->") {
                    // Before v3.x: "%3d: 0x%08lx -> 0x%08lx" with pfns and an exclusive end.
                    msg.split_once(':').ok_or_else(|| "missing \":\"".to_string()).and_then(|(nid, range)| {
                        let nid = dec32(nid.trim())?;
                        let (a, b) = range.split_once("->").ok_or_else(|| "missing \"->\"".to_string())?;
                        let (start_pfn, end_pfn) = exclusive(a, b)?;
                        Ok(MemRange { start_pfn, end_pfn, nid })
                    })
                } else {
                    return false;
                };
                match r {
                    Ok(v) => {
                        if let Some((start_pfn, end_pfn)) = self.log.physmem(n, msg, v.start_pfn, v.end_pfn, PAGE_SHIFT)
                        {
                            self.log.early_node_ranges.push(MemRange { start_pfn, end_pfn, ..v });
                        }
                    }
                    Err(e) => self.log.warn(n, e, msg),
                }
                true
            }
        }
    }

    fn zone_range(&mut self, n: usize, msg: &str, item: (&str, Option<(u64, u64)>)) {
        let (name, range) = item;
        let Some(zr) = self.log.zone_ranges.as_mut() else { return };
        if name == "Device" {
            zr.device_line = true;
            if range.is_some() {
                self.log.warn(n, "ZONE_DEVICE with a range is not modelled".to_string(), msg);
            }
            return;
        }
        if name == "HighMem" {
            self.log.warn(n, "ZONE_HIGHMEM (32-bit) is not modelled".to_string(), msg);
            return;
        }
        let Ok(z) = zone_by_name(name) else { return };
        match zr.ranges.get_mut(z.index()) {
            Some(slot @ None) => *slot = range,
            Some(Some(_)) => self.log.warn(n, format!("zone {} printed twice; the first line is kept", name), msg),
            None => {}
        }
    }

    fn top_level(&mut self, n: usize, msg: &str) {
        let log = &mut self.log;
        let ms = msg.strip_prefix("ACPI: ").unwrap_or(msg);
        if let Some(rest) = msg.strip_prefix("BIOS-e820:") {
            match map_line(rest) {
                Ok(r) => {
                    if let Some((start, end)) = log.physmem(n, msg, r.start, r.end, 0) {
                        log.e820.push(FirmwareRegion { start, end, ..r });
                    }
                }
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Xen:").filter(|r| looks_like_range(r)) {
            match map_line(rest) {
                Ok(r) => {
                    if let Some((start, end)) = log.physmem(n, msg, r.start, r.end, 0) {
                        log.e820.push(FirmwareRegion { start, end, ..r });
                    }
                }
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) =
            msg.strip_prefix("user:").or_else(|| msg.strip_prefix("modified:")).filter(|r| looks_like_range(r))
        {
            match map_line(rest) {
                Ok(r) => {
                    if let Some((start, end)) = log.physmem(n, msg, r.start, r.end, 0) {
                        log.e820_user.push(FirmwareRegion { start, end, ..r });
                    }
                }
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("efi: mem").and_then(|r| {
            let (num, tail) = r.split_once(": ")?;
            (!num.is_empty() && num.bytes().all(|c| c.is_ascii_digit())).then_some(tail)
        }) {
            match efi_line(rest) {
                Ok(r) => {
                    if let Some((start, end)) = log.physmem(n, msg, r.start, r.end, 0) {
                        log.efi.push(FirmwareRegion { start, end, ..r });
                    }
                }
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("e820: update ") {
            match adjustment_line(true, rest) {
                Ok(a) => log.e820_adjustments.push(a),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("e820: remove ") {
            match adjustment_line(false, rest) {
                Ok(a) => log.e820_adjustments.push(a),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = ms.strip_prefix("SRAT: ").filter(|r| r.starts_with("Node ")) {
            match srat_line(rest) {
                Ok(s) => {
                    if let Some((start, end)) = log.physmem(n, msg, s.start, s.end, 0) {
                        log.srat.push(SratLine { start, end, ..s });
                    }
                }
                Err(e) => log.warn(n, e, msg),
            }
        } else if msg == "Zone ranges:" {
            log.zone_ranges = Some(ZoneRanges::default());
            self.block = Block::ZoneRanges;
        } else if msg == "Movable zone start for each node" {
            self.block = Block::MovableZoneStart;
        } else if msg == "Early memory node ranges" || msg == "Early memory PFN ranges" {
            self.block = Block::EarlyNodeRanges;
        } else if let Some(rest) = msg.strip_prefix("On node ").filter(|r| r.contains(" unavailable ranges")) {
            match unavailable_line(rest) {
                Ok(u) => log.unavailable.push(u),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Zeroed struct page in unavailable ranges:") {
            pages_once(log, |l| &mut l.zeroed_unavailable, n, msg, rest);
        } else if let Some(rest) = zone_unavailable_prefix(msg) {
            match zone_unavailable_line(rest) {
                Ok(u) => log.zone_unavailable.push(u),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Reserved but unavailable:") {
            pages_once(log, |l| &mut l.reserved_unavailable, n, msg, rest);
        } else if let Some(rest) = msg.strip_prefix("Initmem setup node ") {
            match initmem_line(rest) {
                Ok(i) => log.initmem_setup.push(i),
                Err(e) => log.warn(n, e, msg),
            }
        } else if let Some(rest) = msg.strip_prefix("Command line:") {
            if log.command_line.is_none() {
                log.command_line = Some(rest.trim().to_string());
            }
        } else if let Some(rest) = msg.strip_prefix("Kernel command line:") {
            if log.command_line.is_none() {
                log.command_line = Some(rest.trim().to_string());
            }
        }
    }
}

/// A `<text>: N pages` line Linux prints once per boot: the first is kept in `slot`, a repeat is a warning.
fn pages_once(log: &mut BootLog, slot: fn(&mut BootLog) -> &mut Option<u64>, n: usize, msg: &str, rest: &str) {
    match rest.trim().strip_suffix(" pages").ok_or_else(|| "missing \" pages\"".to_string()).and_then(dec) {
        Ok(v) if slot(log).is_none() => *slot(log) = Some(v),
        Ok(_) => log.warn(n, "printed twice; the first line is kept".to_string(), msg),
        Err(e) => log.warn(n, e, msg),
    }
}

/// A `Zone ranges:` item after the zone name: `[mem a-b]`, `empty`, or the old pfn form `0xa -> 0xb`.
pub(super) fn zone_range_item<'n>(name: &'n str, rest: &str) -> R<(&'n str, Option<(u64, u64)>)> {
    if rest == "empty" {
        return Ok((name, None));
    }
    if rest.starts_with("[mem ") {
        let (start, end, tail) = mem_range(rest)?;
        if !tail.trim().is_empty() {
            return Err(format!("unexpected {:?} after the range", tail.trim()));
        }
        return Ok((name, Some(pfns(start, end)?)));
    }
    let (a, b) = rest.split_once("->").ok_or_else(|| "expected \"[mem a-b]\", \"empty\" or \"a -> b\"".to_string())?;
    Ok((name, Some(exclusive(a, b)?)))
}
