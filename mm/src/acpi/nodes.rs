//! Linux's node numbering: proximity domains to node ids in order of first appearance (`acpi_map_pxm_to_node`).

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Linux's node numbering

/// An enabled, non-empty SRAT memory range with the node Linux gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SratMemory {
    pub range: NumaAffinity,
    /// The proximity domain as Linux reads it (low byte only for SRAT revision <= 1).
    pub pxm: u32,
    pub non_volatile: bool,
}

impl fmt::Display for SratMemory {
    /// The line Linux prints for it (drivers/acpi/numa/srat.c, acpi_numa_memory_affinity_init).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]{}{}",
            self.range.nid,
            self.pxm,
            self.range.start,
            self.range.end.saturating_sub(1),
            if self.range.hotplug { " hotplug" } else { "" },
            if self.non_volatile { " non-volatile" } else { "" }
        )
    }
}

/// The NUMA facts of an SRAT as Linux derives them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SratNuma {
    /// Enabled, non-empty memory ranges in table order, with node ids.
    pub memory: Vec<SratMemory>,
    /// `node_pxm[nid]` is the proximity domain of node `nid`; the number of nodes is its length. Nodes without
    /// memory (processor-only domains, or memory entries of length 0) are included.
    pub node_pxm: Vec<u32>,
    /// Entries of types this module does not model, skipped by their length (in table order).
    pub skipped: Vec<SkippedEntry>,
    /// `(APIC id, node id)` of every enabled processor affinity entry, in table order (x2APIC ids as they are).
    pub cpus: Vec<(u32, u32)>,
}

/// An SRAT entry of a type [`map_nodes`] does not model ([`SratEntry::Unknown`]): it was skipped by its length
/// and contributed no node. Its `Display` is the warning the kernel prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkippedEntry {
    /// Index of the entry in the table.
    pub entry: usize,
    pub entry_type: u8,
    pub length: u8,
}

impl fmt::Display for SkippedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ACPI: SRAT entry #{} has type {} (length {}), which is not modelled; skipped",
            self.entry, self.entry_type, self.length
        )
    }
}

impl SratNuma {
    /// The number of nodes found.
    pub fn nodes(&self) -> usize {
        self.node_pxm.len()
    }

    /// The memory ranges as layout input.
    pub fn ranges(&self) -> Vec<NumaAffinity> {
        self.memory.iter().map(|m| m.range).collect()
    }
}

/// Assigns node ids to proximity domains as Linux does (drivers/acpi/numa/srat.c `acpi_numa_init` and
/// `acpi_map_pxm_to_node`) and returns the enabled memory ranges with their nodes.
///
/// Linux walks the SRAT twice. First the processor entries (local APIC type 0 and x2APIC type 2) in table order,
/// then the memory entries in table order. Disabled entries are skipped (QEMU writes a disabled, zero-length
/// memory entry for a memory-less node). Each enabled entry's proximity domain, seen for the first time, gets the
/// lowest unused node id. For SRAT revision <= 1 only the low byte of a memory entry's proximity domain counts and
/// a local APIC entry's high bytes are ignored. An enabled memory entry of length 0 maps its domain (so the node
/// exists) but adds no range, as `numa_add_memblk` ignores it.
///
/// Not modelled: generic initiator (type 5) and GICC (type 3) entries, which Linux >= 5.10 also maps in the
/// first pass on x86 / arm64; CEDT windows; the `numa=off` and `acpi_numa` options.
pub fn map_nodes(srat: &Srat) -> Result<SratNuma, AcpiError> {
    let mut out = SratNuma::default();
    let map = |pxm: u32, entry: usize, out: &mut SratNuma| -> Result<u32, AcpiError> {
        if pxm >= MAX_PXM_DOMAINS {
            return Err(AcpiError::PxmOutOfRange { entry, pxm });
        }
        if let Some(nid) = out.node_pxm.iter().position(|&p| p == pxm) {
            return Ok(u32::try_from(nid).unwrap_or(u32::MAX));
        }
        if out.node_pxm.len() >= MAX_NUMNODES {
            return Err(AcpiError::TooManyEntries { what: "proximity domains (MAX_NUMNODES)", max: MAX_NUMNODES });
        }
        out.node_pxm.push(pxm);
        Ok(u32::try_from(out.node_pxm.len().saturating_sub(1)).unwrap_or(u32::MAX))
    };
    let rev2 = srat.revision >= 2;
    for (i, e) in srat.entries.iter().enumerate() {
        if let SratEntry::Unknown { entry_type, length } = *e {
            out.skipped.push(SkippedEntry { entry: i, entry_type, length });
        }
    }
    for (i, e) in srat.entries.iter().enumerate() {
        let (pxm, apic_id) = match e {
            SratEntry::LocalApic(a) if a.flags.contains(AffinityFlags::ENABLED) => {
                (if rev2 { a.proximity_domain } else { a.proximity_domain & 0xff }, u32::from(a.apic_id))
            }
            SratEntry::X2Apic(x) if x.flags.contains(AffinityFlags::ENABLED) => (x.proximity_domain, x.x2apic_id),
            _ => continue,
        };
        let nid = map(pxm, i, &mut out)?;
        out.cpus.push((apic_id, nid));
    }
    for (i, e) in srat.entries.iter().enumerate() {
        let SratEntry::Memory(m) = e else { continue };
        if !m.enabled() {
            continue;
        }
        let pxm = if rev2 { m.proximity_domain } else { m.proximity_domain & 0xff };
        let end = m.end().ok_or(AcpiError::MemoryRangeOverflow { entry: i, base: m.base, length: m.length })?;
        let nid = map(pxm, i, &mut out)?;
        if m.length == 0 {
            continue;
        }
        if out.memory.len() >= NR_NODE_MEMBLKS {
            return Err(AcpiError::TooManyEntries {
                what: "memory affinity ranges (NR_NODE_MEMBLKS)",
                max: NR_NODE_MEMBLKS,
            });
        }
        out.memory.push(SratMemory {
            range: NumaAffinity { nid, start: m.base, end, hotplug: m.hot_pluggable() },
            pxm,
            non_volatile: m.non_volatile(),
        });
    }
    Ok(out)
}
