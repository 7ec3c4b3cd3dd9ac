//! The SRAT: its entries (local APIC, memory, x2APIC affinity, unknown types) parsed by their own length.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// SRAT

/// SRAT type 0: processor local APIC/SAPIC affinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApicAffinity {
    /// `proximity_domain_lo | proximity_domain_hi << 8` as stored (the high bytes count from SRAT revision 2).
    pub proximity_domain: u32,
    pub apic_id: u8,
    pub flags: AffinityFlags,
}

/// SRAT type 1: memory affinity, bytes `[base, base + length)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAffinity {
    /// As stored (SRAT revision 1 tables use only the low byte).
    pub proximity_domain: u32,
    pub base: u64,
    pub length: u64,
    pub flags: AffinityFlags,
}

impl MemoryAffinity {
    pub fn enabled(&self) -> bool {
        self.flags.contains(AffinityFlags::ENABLED)
    }
    pub fn hot_pluggable(&self) -> bool {
        self.flags.contains(AffinityFlags::HOT_PLUGGABLE)
    }
    pub fn non_volatile(&self) -> bool {
        self.flags.contains(AffinityFlags::NON_VOLATILE)
    }
    /// `base + length`, or `None` when it overflows.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.length)
    }
}

/// SRAT type 2: processor local x2APIC affinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X2ApicAffinity {
    pub proximity_domain: u32,
    pub x2apic_id: u32,
    pub flags: AffinityFlags,
}

/// One SRAT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SratEntry {
    LocalApic(LocalApicAffinity),
    Memory(MemoryAffinity),
    X2Apic(X2ApicAffinity),
    /// Any other type (GICC 3, GIC ITS 4, generic initiator 5, generic port 6, RINTC 7, ...), skipped by length.
    Unknown {
        entry_type: u8,
        length: u8,
    },
}

impl SratEntry {
    /// Bit 0 of the flags of a known entry.
    pub fn enabled(&self) -> bool {
        match self {
            SratEntry::LocalApic(a) => a.flags.contains(AffinityFlags::ENABLED),
            SratEntry::Memory(m) => m.enabled(),
            SratEntry::X2Apic(x) => x.flags.contains(AffinityFlags::ENABLED),
            SratEntry::Unknown { .. } => false,
        }
    }
}

/// A parsed SRAT: the header fields of interest and the entries in table order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srat {
    /// The SDT header revision (QEMU writes 1; Linux reads high proximity-domain bytes only from revision 2).
    pub revision: u8,
    pub oem_id: [u8; 6],
    pub oem_table_id: [u8; 8],
    pub entries: Vec<SratEntry>,
}

/// Parses a whole SRAT (header included). Bytes after the table's length field are ignored.
pub fn parse_srat(table: &[u8]) -> Result<Srat, AcpiError> {
    parse_srat_at(table, None)
}

pub(super) fn parse_srat_at(bytes: &[u8], addr: Option<u64>) -> Result<Srat, AcpiError> {
    let t = validate_sdt(bytes, Some(SRAT), addr)?;
    let table = Table::Sdt(SRAT);
    if t.len() < SRAT_ENTRIES_OFFSET {
        return Err(AcpiError::LengthTooSmall {
            table,
            addr,
            length: u32::try_from(t.len()).unwrap_or(u32::MAX),
            min: SRAT_ENTRIES_OFFSET,
        });
    }
    let trunc = |needed| AcpiError::Truncated { table, addr, needed, available: t.len() };
    let revision = t.get(8).copied().ok_or(trunc(9))?;
    let oem_id = array::<6>(t, 10).ok_or(trunc(16))?;
    let oem_table_id = array::<8>(t, 16).ok_or(trunc(24))?;
    let mut entries = Vec::new();
    walk_entries(t, SRAT_ENTRIES_OFFSET, table, MAX_SRAT_ENTRIES, "SRAT entries (MAX_SRAT_ENTRIES)", |offset, e| {
        entries.push(parse_entry(e, offset)?);
        Ok(())
    })?;
    Ok(Srat { revision, oem_id, oem_table_id, entries })
}

/// Walks the entries of a table of `(type, length, ...)` structures from byte `start`, by their own length byte,
/// calling `f(offset, bytes)` on each in order (its error stops the walk). A partial header, a zero length or an
/// entry running past the end is an error, and so are more than `max` entries (`what` names the limit).
pub(super) fn walk_entries<'t>(
    t: &'t [u8],
    start: usize,
    table: Table,
    max: usize,
    what: &'static str,
    mut f: impl FnMut(usize, &'t [u8]) -> Result<(), AcpiError>,
) -> Result<(), AcpiError> {
    let mut offset = start;
    let mut n = 0usize;
    // Loop invariant: `offset` is the start of the next entry, start <= offset <= t.len(), and it grows by at
    // least 1 (an entry's non-zero length) per iteration, so the loop ends.
    while offset < t.len() {
        let (Some(&entry_type), Some(&length)) = (t.get(offset), t.get(offset.saturating_add(1))) else {
            return Err(AcpiError::PartialEntryHeader { table, offset, table_len: t.len() });
        };
        if length == 0 {
            return Err(AcpiError::ZeroLengthEntry { table, offset, entry_type });
        }
        let end = offset.saturating_add(usize::from(length));
        let Some(e) = t.get(offset..end) else {
            return Err(AcpiError::EntryPastEnd { table, offset, entry_type, length, table_len: t.len() });
        };
        if n >= max {
            return Err(AcpiError::TooManyEntries { what, max });
        }
        f(offset, e)?;
        n += 1;
        offset = end;
    }
    Ok(())
}

/// Parses one entry; `e` holds exactly the entry's `length` bytes (>= 2).
fn parse_entry(e: &[u8], offset: usize) -> Result<SratEntry, AcpiError> {
    let entry_type = e.first().copied().unwrap_or(0);
    let length = e.get(1).copied().unwrap_or(0);
    let bad = |expected| AcpiError::BadEntryLength { table: Table::Sdt(SRAT), offset, entry_type, length, expected };
    match entry_type {
        0 => {
            // Linux (arch/x86/mm/srat.c) requires exactly the structure size for this type.
            if length != LOCAL_APIC_AFFINITY_LEN {
                return Err(bad(LOCAL_APIC_AFFINITY_LEN));
            }
            let lo = e.get(2).copied().ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?;
            let apic_id = e.get(3).copied().ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?;
            let flags = AffinityFlags::from_bits_retain(le32(e, 4).ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?);
            let hi = array::<3>(e, 9).ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?;
            let [h0, h1, h2] = hi;
            let proximity_domain = u32::from_le_bytes([lo, h0, h1, h2]);
            Ok(SratEntry::LocalApic(LocalApicAffinity { proximity_domain, apic_id, flags }))
        }
        1 => {
            if length < MEMORY_AFFINITY_LEN {
                return Err(bad(MEMORY_AFFINITY_LEN));
            }
            let f32 = |off| le32(e, off).ok_or(bad(MEMORY_AFFINITY_LEN));
            let proximity_domain = f32(2)?;
            let base = u64::from(f32(8)?) | u64::from(f32(12)?) << 32;
            let len = u64::from(f32(16)?) | u64::from(f32(20)?) << 32;
            let flags = AffinityFlags::from_bits_retain(f32(28)?);
            Ok(SratEntry::Memory(MemoryAffinity { proximity_domain, base, length: len, flags }))
        }
        2 => {
            if length < X2APIC_AFFINITY_LEN {
                return Err(bad(X2APIC_AFFINITY_LEN));
            }
            let f32 = |off| le32(e, off).ok_or(bad(X2APIC_AFFINITY_LEN));
            Ok(SratEntry::X2Apic(X2ApicAffinity {
                proximity_domain: f32(4)?,
                x2apic_id: f32(8)?,
                flags: AffinityFlags::from_bits_retain(f32(12)?),
            }))
        }
        _ => Ok(SratEntry::Unknown { entry_type, length }),
    }
}

impl Srat {
    /// The table as bytes with a correct checksum (for tests, fuzz seeds and `-acpitable` files).
    /// Unknown entries are written as their type and length followed by zeros; an unknown entry with a length
    /// below 2 is written with length 2.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&SRAT);
        b.extend_from_slice(&[0; 4]); // length, patched below
        b.push(self.revision);
        b.push(0); // checksum, patched below
        b.extend_from_slice(&self.oem_id);
        b.extend_from_slice(&self.oem_table_id);
        b.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
        b.extend_from_slice(b"MMLB"); // creator id
        b.extend_from_slice(&1u32.to_le_bytes()); // creator revision
        b.extend_from_slice(&1u32.to_le_bytes()); // table_revision (reserved, 1)
        b.extend_from_slice(&[0; 8]);
        for e in &self.entries {
            match *e {
                SratEntry::LocalApic(a) => {
                    let [p0, p1, p2, p3] = a.proximity_domain.to_le_bytes();
                    b.extend_from_slice(&[0, LOCAL_APIC_AFFINITY_LEN, p0, a.apic_id]);
                    b.extend_from_slice(&a.flags.bits().to_le_bytes());
                    b.extend_from_slice(&[0, p1, p2, p3]);
                    b.extend_from_slice(&[0; 4]); // clock domain
                }
                SratEntry::Memory(m) => {
                    b.extend_from_slice(&[1, MEMORY_AFFINITY_LEN]);
                    b.extend_from_slice(&m.proximity_domain.to_le_bytes());
                    b.extend_from_slice(&[0; 2]);
                    b.extend_from_slice(&m.base.to_le_bytes());
                    b.extend_from_slice(&m.length.to_le_bytes());
                    b.extend_from_slice(&[0; 4]);
                    b.extend_from_slice(&m.flags.bits().to_le_bytes());
                    b.extend_from_slice(&[0; 8]);
                }
                SratEntry::X2Apic(x) => {
                    b.extend_from_slice(&[2, X2APIC_AFFINITY_LEN, 0, 0]);
                    b.extend_from_slice(&x.proximity_domain.to_le_bytes());
                    b.extend_from_slice(&x.x2apic_id.to_le_bytes());
                    b.extend_from_slice(&x.flags.bits().to_le_bytes());
                    b.extend_from_slice(&[0; 8]);
                }
                SratEntry::Unknown { entry_type, length } => {
                    let length = length.max(2);
                    b.extend_from_slice(&[entry_type, length]);
                    b.resize(b.len().saturating_add(usize::from(length).saturating_sub(2)), 0);
                }
            }
        }
        finish_sdt(&mut b);
        b
    }
}

/// Writes the length field (bytes 4..8) and the checksum (byte 9) of a table under construction.
/// Tables longer than 4 GiB are not representable; their length field saturates.
pub fn finish_sdt(b: &mut [u8]) {
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes();
    if let Some(l) = b.get_mut(4..8) {
        l.copy_from_slice(&len);
    }
    if let Some(c) = b.get_mut(9) {
        *c = 0;
    }
    let sum = checksum(b);
    if let Some(c) = b.get_mut(9) {
        *c = 0u8.wrapping_sub(sum);
    }
}
