//! ACPI tables the memory model needs: RSDP -> RSDT/XSDT -> SRAT, parsed from bytes, plus Linux's node numbering.
//!
//! # The picture
//! Firmware leaves an RSDP (Root System Description Pointer) in memory. It points at a root table: the RSDT
//! (32-bit table addresses, ACPI 1.0, RSDP revision 0: SeaBIOS) or the XSDT (64-bit addresses, RSDP revision 2:
//! OVMF). Each entry of the root table is the physical address of a table that starts with the 36-byte system
//! description header (signature, length, revision, checksum, OEM ids). The SRAT (System Resource Affinity Table)
//! says which proximity domain (PXM) each CPU and each memory range belongs to. Linux turns proximity domains
//! into node ids in order of first appearance ([`map_nodes`]).
//!
//! This module owns the byte-level parsing only. It never touches memory: the caller supplies a [`PhysReader`]
//! that maps a physical range to a byte slice (the kernel through its physical-memory offset, the host through a
//! [`MemoryImage`] or a captured table). [`parse_srat`] parses one whole SRAT given as bytes.
//!
//! # Invariants
//! - Every byte is read through a bounds-checked accessor; no input can make a function here panic, loop forever
//!   or overflow. Every rejection is an [`AcpiError`] variant that names the table and the offset or address.
//! - A table we use (root table, SRAT) is accepted only if: its signature is the expected one, its length field is
//!   at least the 36-byte header, all `length` bytes are mapped, and they sum to 0 (mod 256). Tables we only look
//!   at while searching the root table must have a mapped header; their checksums are not checked because their
//!   contents are not used (Linux, too, only warns about a bad checksum).
//! - SRAT entries are walked by their own length byte: a zero length, a length that runs past the end of the table,
//!   a length smaller than the structure of a known type, or a partial entry header at the end is an error.
//!   Entries of types this module does not know are kept as [`SratEntry::Unknown`] and skipped by their length;
//!   [`map_nodes`] lists them in [`SratNuma::skipped`], whose `Display` is the warning the kernel prints.
//! - Parsed entries hold the raw fields as the table stores them; Linux's interpretation (SRAT revision 1 tables
//!   carry only 8-bit proximity domains, disabled entries are ignored) is applied in [`map_nodes`].
//!
//! # Why not the `acpi` crate
//! acpi 6.1.1 (and 7.0.0-pre1) declares the SRAT `EntryHeader.length` as `u16` while the specification says `u8`,
//! so every field after it is read one byte off; `MemoryAffinity::length()` returns `base_address_high`. It also
//! needs nightly features. Parsing the four structures needed here by hand, with explicit bounds and checksum
//! checks, is about as long as working around it and gives exact, named errors.

use alloc::vec::Vec;
use core::fmt;

use crate::consts::MAX_NUMNODES;
use crate::layout::{NumaAffinity, NR_NODE_MEMBLKS};

/// Bytes in the common header of every system description table.
pub const SDT_HEADER_LEN: usize = 36;
/// Bytes of the SRAT before its first entry: the header plus `table_revision` (u32) and 8 reserved bytes.
pub const SRAT_ENTRIES_OFFSET: usize = SDT_HEADER_LEN + 12;
/// Bytes of an ACPI 1.0 RSDP (what the first checksum covers).
pub const RSDP_V1_LEN: usize = 20;
/// Bytes of an ACPI 2.0+ RSDP (the minimum of its length field).
pub const RSDP_V2_LEN: usize = 36;
/// Linux's MAX_PXM_DOMAINS (include/acpi/acpi_numa.h): proximity domains `0..256` can map to a node.
pub const MAX_PXM_DOMAINS: u32 = 256;
/// Entries one SRAT may hold here (CPU and memory entries together). More is [`AcpiError::TooManyEntries`].
pub const MAX_SRAT_ENTRIES: usize = 16384;

/// Size of a processor local APIC affinity structure (SRAT type 0).
pub const LOCAL_APIC_AFFINITY_LEN: u8 = 16;
/// Size of a memory affinity structure (SRAT type 1).
pub const MEMORY_AFFINITY_LEN: u8 = 40;
/// Size of a processor local x2APIC affinity structure (SRAT type 2).
pub const X2APIC_AFFINITY_LEN: u8 = 24;

/// Flag bit 0 of every affinity structure: the entry is enabled.
pub const AFFINITY_ENABLED: u32 = 1 << 0;
/// Memory affinity flag bit 1: the range is hot-pluggable.
pub const MEMORY_HOT_PLUGGABLE: u32 = 1 << 1;
/// Memory affinity flag bit 2: the range is non-volatile.
pub const MEMORY_NON_VOLATILE: u32 = 1 << 2;

/// Maps physical memory for the parser.
pub trait PhysReader {
    /// The `len` bytes at physical address `phys`, or `None` when the range is not (entirely) mapped.
    ///
    /// Returning fewer than `len` bytes is allowed and reported as [`AcpiError::Truncated`]; extra bytes are
    /// ignored.
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]>;
}

/// A contiguous piece of physical memory held as bytes: `bytes[0]` is at physical address `base`.
#[derive(Clone, Copy, Debug)]
pub struct MemoryImage<'a> {
    pub base: u64,
    pub bytes: &'a [u8],
}

impl PhysReader for MemoryImage<'_> {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
        let off = usize::try_from(phys.checked_sub(self.base)?).ok()?;
        self.bytes.get(off..off.checked_add(len)?)
    }
}

/// Several images: the first that holds the whole range answers.
impl PhysReader for [MemoryImage<'_>] {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
        self.iter().find_map(|m| m.read(phys, len))
    }
}

/// Which structure an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// The Root System Description Pointer.
    Rsdp,
    /// A system description table by its 4-byte signature.
    Sdt([u8; 4]),
}

/// Signature of the RSDT.
pub const RSDT: [u8; 4] = *b"RSDT";
/// Signature of the XSDT.
pub const XSDT: [u8; 4] = *b"XSDT";
/// Signature of the SRAT.
pub const SRAT: [u8; 4] = *b"SRAT";
/// Signature of the SLIT (System Locality Information Table: node distances).
pub const SLIT: [u8; 4] = *b"SLIT";
/// Signature of an RSDP.
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";

/// Writes bytes as text, printable ASCII as is and everything else as `\xNN`.
fn write_sig(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "\\x{:02x}", b)?;
        }
    }
    Ok(())
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Table::Rsdp => f.write_str("RSDP"),
            Table::Sdt(sig) => write_sig(f, sig),
        }
    }
}

/// Where a table was found: ` at 0x...` or nothing for a table handed over as bytes.
struct At(Option<u64>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, " at {:#x}", a),
            None => Ok(()),
        }
    }
}

/// A malformed or unreachable ACPI structure. Every variant names the table and where the problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// The 8 bytes at the RSDP address are not "RSD PTR ".
    BadRsdpSignature { addr: u64, found: [u8; 8] },
    /// An RSDP revision this parser does not know (0 and >= 2 are known; 1 was never defined by ACPI).
    UnsupportedRevision { table: Table, revision: u8 },
    /// A structure's bytes do not sum to 0. `sum` is what they sum to.
    BadChecksum { table: Table, addr: Option<u64>, sum: u8 },
    /// Fewer bytes are available than the structure needs.
    Truncated { table: Table, addr: Option<u64>, needed: usize, available: usize },
    /// The length field is smaller than the structure's fixed part.
    LengthTooSmall { table: Table, addr: Option<u64>, length: u32, min: usize },
    /// The header is mapped, but the length field reaches beyond mapped memory.
    LengthBeyondMapping { table: Table, addr: u64, length: u32 },
    /// A pointer to a structure leads outside mapped memory.
    Unmapped { table: Table, addr: u64, len: usize },
    /// A root table pointer leads to a table with another signature.
    BadSignature { expected: Table, found: [u8; 4], addr: Option<u64> },
    /// The root table's entry area is not a whole number of entries.
    RootTableLength { table: Table, length: u32, entry_size: usize },
    /// RSDP revision >= 2 with both the XSDT and the RSDT address 0.
    NoRootTable { revision: u8 },
    /// Bytes at the end of the SRAT too few for an entry header (type and length).
    PartialEntryHeader { offset: usize, table_len: usize },
    /// An SRAT entry with length 0 (walking by length would never advance).
    ZeroLengthEntry { offset: usize, entry_type: u8 },
    /// An SRAT entry that runs past the end of the table.
    EntryPastEnd { offset: usize, entry_type: u8, length: u8, table_len: usize },
    /// An SRAT entry of a known type whose length does not fit its structure.
    BadEntryLength { offset: usize, entry_type: u8, length: u8, expected: u8 },
    /// More items than a fixed limit (named in `what`).
    TooManyEntries { what: &'static str, max: usize },
    /// An enabled entry with a proximity domain Linux cannot map to a node (>= MAX_PXM_DOMAINS).
    PxmOutOfRange { entry: usize, pxm: u32 },
    /// A memory affinity entry whose base + length overflows 64 bits.
    MemoryRangeOverflow { entry: usize, base: u64, length: u64 },
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AcpiError::BadRsdpSignature { addr, ref found } => {
                write!(f, "ACPI: no RSDP at {:#x}: signature \"", addr)?;
                write_sig(f, found)?;
                f.write_str("\" is not \"RSD PTR \"")
            }
            AcpiError::UnsupportedRevision { table, revision } => {
                write!(f, "ACPI: {} revision {} is not supported (known: 0, 2 and later)", table, revision)
            }
            AcpiError::BadChecksum { table, addr, sum } => {
                write!(f, "ACPI: bad checksum in {}{}: bytes sum to {:#04x}, expected 0", table, At(addr), sum)
            }
            AcpiError::Truncated { table, addr, needed, available } => {
                write!(f, "ACPI: {}{} is truncated: {} bytes needed, {} available", table, At(addr), needed, available)
            }
            AcpiError::LengthTooSmall { table, addr, length, min } => write!(
                f,
                "ACPI: {}{} has length field {}, smaller than its {}-byte header",
                table,
                At(addr),
                length,
                min
            ),
            AcpiError::LengthBeyondMapping { table, addr, length } => {
                write!(f, "ACPI: {} at {:#x} has length field {} reaching beyond mapped memory", table, addr, length)
            }
            AcpiError::Unmapped { table, addr, len } => {
                write!(f, "ACPI: pointer to {} at {:#x} ({} bytes) is outside mapped memory", table, addr, len)
            }
            AcpiError::BadSignature { expected, ref found, addr } => {
                write!(f, "ACPI: expected {}{}, found signature \"", expected, At(addr))?;
                write_sig(f, found)?;
                f.write_str("\"")
            }
            AcpiError::RootTableLength { table, length, entry_size } => write!(
                f,
                "ACPI: {} length {} leaves a partial entry ({} header bytes + a multiple of {} expected)",
                table, length, SDT_HEADER_LEN, entry_size
            ),
            AcpiError::NoRootTable { revision } => {
                write!(f, "ACPI: RSDP revision {} has neither an XSDT nor an RSDT address", revision)
            }
            AcpiError::PartialEntryHeader { offset, table_len } => {
                write!(f, "ACPI: SRAT entry header at offset {:#x} runs past the table end ({:#x})", offset, table_len)
            }
            AcpiError::ZeroLengthEntry { offset, entry_type } => {
                write!(f, "ACPI: SRAT entry type {} at offset {:#x} has length 0", entry_type, offset)
            }
            AcpiError::EntryPastEnd { offset, entry_type, length, table_len } => write!(
                f,
                "ACPI: SRAT entry type {} at offset {:#x} with length {} runs past the table end ({:#x})",
                entry_type, offset, length, table_len
            ),
            AcpiError::BadEntryLength { offset, entry_type, length, expected } => write!(
                f,
                "ACPI: SRAT entry type {} at offset {:#x} has length {}, expected {}",
                entry_type, offset, length, expected
            ),
            AcpiError::TooManyEntries { what, max } => write!(f, "ACPI: more than {} {}", max, what),
            AcpiError::PxmOutOfRange { entry, pxm } => write!(
                f,
                "ACPI: SRAT entry #{} has proximity domain {} (Linux maps only 0..{} to nodes)",
                entry, pxm, MAX_PXM_DOMAINS
            ),
            AcpiError::MemoryRangeOverflow { entry, base, length } => write!(
                f,
                "ACPI: SRAT memory entry #{}: base {:#x} + length {:#x} overflows 64 bits",
                entry, base, length
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Byte accessors: every read is bounds-checked and returns None out of range.

fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    array::<4>(b, off).map(u32::from_le_bytes)
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    array::<8>(b, off).map(u64::from_le_bytes)
}

/// The 8-bit sum of all bytes (a valid ACPI structure sums to 0).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

// ---------------------------------------------------------------------------------------------------------------
// RSDP and root tables

/// The fields of an RSDP this module uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 (ACPI 1.0) or >= 2.
    pub revision: u8,
    pub oem_id: [u8; 6],
    pub rsdt_address: u32,
    /// The XSDT address (revision >= 2 only; may be 0).
    pub xsdt_address: Option<u64>,
}

impl Rsdp {
    /// The root table Linux uses: the XSDT for revision >= 2 when its address is not 0, else the RSDT.
    /// Returns the address and the signature expected there.
    pub fn root_table(&self) -> Result<(u64, [u8; 4]), AcpiError> {
        match self.xsdt_address {
            Some(x) if x != 0 => Ok((x, XSDT)),
            Some(_) if self.rsdt_address == 0 => Err(AcpiError::NoRootTable { revision: self.revision }),
            _ => Ok((u64::from(self.rsdt_address), RSDT)),
        }
    }
}

fn read_at<R: PhysReader + ?Sized>(reader: &R, table: Table, addr: u64, len: usize) -> Result<&[u8], AcpiError> {
    let bytes = reader.read(addr, len).ok_or(AcpiError::Unmapped { table, addr, len })?;
    bytes.get(..len).ok_or(AcpiError::Truncated { table, addr: Some(addr), needed: len, available: bytes.len() })
}

/// Reads and validates the RSDP at `addr`: signature, checksum of the first 20 bytes, and for revision >= 2 the
/// length field and the extended checksum over `length` bytes.
pub fn read_rsdp<R: PhysReader + ?Sized>(reader: &R, addr: u64) -> Result<Rsdp, AcpiError> {
    let t = Table::Rsdp;
    let v1 = read_at(reader, t, addr, RSDP_V1_LEN)?;
    let sig = array::<8>(v1, 0).ok_or(AcpiError::Truncated { table: t, addr: Some(addr), needed: 8, available: 0 })?;
    if sig != RSDP_SIGNATURE {
        return Err(AcpiError::BadRsdpSignature { addr, found: sig });
    }
    let sum = checksum(v1);
    if sum != 0 {
        return Err(AcpiError::BadChecksum { table: t, addr: Some(addr), sum });
    }
    let trunc = |needed| AcpiError::Truncated { table: t, addr: Some(addr), needed, available: v1.len() };
    let oem_id = array::<6>(v1, 9).ok_or(trunc(15))?;
    let revision = v1.get(15).copied().ok_or(trunc(16))?;
    let rsdt_address = le32(v1, 16).ok_or(trunc(20))?;
    match revision {
        0 => Ok(Rsdp { revision, oem_id, rsdt_address, xsdt_address: None }),
        1 => Err(AcpiError::UnsupportedRevision { table: t, revision }),
        _ => {
            let v2 = read_at(reader, t, addr, RSDP_V2_LEN)?;
            let length = le32(v2, 20).ok_or(trunc(24))?;
            let len = to_usize(length);
            if len < RSDP_V2_LEN {
                return Err(AcpiError::LengthTooSmall { table: t, addr: Some(addr), length, min: RSDP_V2_LEN });
            }
            let full = reader.read(addr, len).ok_or(AcpiError::LengthBeyondMapping { table: t, addr, length })?;
            let full = full.get(..len).ok_or(AcpiError::Truncated {
                table: t,
                addr: Some(addr),
                needed: len,
                available: full.len(),
            })?;
            let sum = checksum(full);
            if sum != 0 {
                return Err(AcpiError::BadChecksum { table: t, addr: Some(addr), sum });
            }
            let xsdt = le64(full, 24).ok_or(trunc(32))?;
            Ok(Rsdp { revision, oem_id, rsdt_address, xsdt_address: Some(xsdt) })
        }
    }
}

/// Validates a whole system description table held in `bytes` (which may extend past the table): signature
/// `expected` (if given), length field >= 36 and within `bytes`, checksum. Returns exactly the table's bytes.
pub fn validate_sdt(bytes: &[u8], expected: Option<[u8; 4]>, addr: Option<u64>) -> Result<&[u8], AcpiError> {
    let sig = array::<4>(bytes, 0).ok_or(AcpiError::Truncated {
        table: Table::Sdt(expected.unwrap_or(*b"????")),
        addr,
        needed: SDT_HEADER_LEN,
        available: bytes.len(),
    })?;
    let table = Table::Sdt(sig);
    if let Some(e) = expected {
        if sig != e {
            return Err(AcpiError::BadSignature { expected: Table::Sdt(e), found: sig, addr });
        }
    }
    let length =
        le32(bytes, 4).ok_or(AcpiError::Truncated { table, addr, needed: SDT_HEADER_LEN, available: bytes.len() })?;
    let len = to_usize(length);
    if len < SDT_HEADER_LEN {
        return Err(AcpiError::LengthTooSmall { table, addr, length, min: SDT_HEADER_LEN });
    }
    let t = bytes.get(..len).ok_or(AcpiError::Truncated { table, addr, needed: len, available: bytes.len() })?;
    let sum = checksum(t);
    if sum != 0 {
        return Err(AcpiError::BadChecksum { table, addr, sum });
    }
    Ok(t)
}

/// Reads the table at `addr` through `reader` and validates it as [`validate_sdt`] does.
pub fn read_sdt<R: PhysReader + ?Sized>(reader: &R, addr: u64, expected: [u8; 4]) -> Result<&[u8], AcpiError> {
    let table = Table::Sdt(expected);
    let header = read_at(reader, table, addr, SDT_HEADER_LEN)?;
    let sig = array::<4>(header, 0).unwrap_or(*b"????");
    if sig != expected {
        return Err(AcpiError::BadSignature { expected: table, found: sig, addr: Some(addr) });
    }
    let length = le32(header, 4).unwrap_or(0);
    let len = to_usize(length);
    if len < SDT_HEADER_LEN {
        return Err(AcpiError::LengthTooSmall { table, addr: Some(addr), length, min: SDT_HEADER_LEN });
    }
    let full = reader.read(addr, len).ok_or(AcpiError::LengthBeyondMapping { table, addr, length })?;
    validate_sdt(full, Some(expected), Some(addr))
}

/// Finds the first table with signature `sig` through the RSDP at `rsdp_addr` and returns its validated bytes
/// and address, or `None` when the root table lists no such table. Null root-table entries are skipped (as
/// ACPICA does); every other entry must point at a mapped header.
pub fn find_table<R: PhysReader + ?Sized>(
    reader: &R,
    rsdp_addr: u64,
    sig: [u8; 4],
) -> Result<Option<(u64, &[u8])>, AcpiError> {
    let rsdp = read_rsdp(reader, rsdp_addr)?;
    let (root_addr, root_sig) = rsdp.root_table()?;
    let root = read_sdt(reader, root_addr, root_sig)?;
    let entry_size = if root_sig == XSDT { 8 } else { 4 };
    let entries = root.get(SDT_HEADER_LEN..).unwrap_or(&[]);
    if entries.len() % entry_size != 0 {
        return Err(AcpiError::RootTableLength {
            table: Table::Sdt(root_sig),
            length: u32::try_from(root.len()).unwrap_or(u32::MAX),
            entry_size,
        });
    }
    for chunk in entries.chunks_exact(entry_size) {
        let addr = if entry_size == 8 { le64(chunk, 0) } else { le32(chunk, 0).map(u64::from) }.unwrap_or(0);
        if addr == 0 {
            continue;
        }
        let header = read_at(reader, Table::Sdt(*b"????"), addr, SDT_HEADER_LEN)?;
        if array::<4>(header, 0) == Some(sig) {
            return Ok(Some((addr, read_sdt(reader, addr, sig)?)));
        }
    }
    Ok(None)
}

/// Finds and parses the SRAT through the RSDP at `rsdp_addr`. `Ok(None)`: the root table lists no SRAT (QEMU
/// without `-numa` or `maxmem=`).
pub fn find_srat<R: PhysReader + ?Sized>(reader: &R, rsdp_addr: u64) -> Result<Option<Srat>, AcpiError> {
    match find_table(reader, rsdp_addr, SRAT)? {
        Some((addr, bytes)) => parse_srat_at(bytes, Some(addr)).map(Some),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// SRAT

/// SRAT type 0: processor local APIC/SAPIC affinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApicAffinity {
    /// `proximity_domain_lo | proximity_domain_hi << 8` as stored (the high bytes count from SRAT revision 2).
    pub proximity_domain: u32,
    pub apic_id: u8,
    pub flags: u32,
}

/// SRAT type 1: memory affinity, bytes `[base, base + length)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAffinity {
    /// As stored (SRAT revision 1 tables use only the low byte).
    pub proximity_domain: u32,
    pub base: u64,
    pub length: u64,
    pub flags: u32,
}

impl MemoryAffinity {
    pub fn enabled(&self) -> bool {
        self.flags & AFFINITY_ENABLED != 0
    }
    pub fn hot_pluggable(&self) -> bool {
        self.flags & MEMORY_HOT_PLUGGABLE != 0
    }
    pub fn non_volatile(&self) -> bool {
        self.flags & MEMORY_NON_VOLATILE != 0
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
    pub flags: u32,
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
            SratEntry::LocalApic(a) => a.flags & AFFINITY_ENABLED != 0,
            SratEntry::Memory(m) => m.enabled(),
            SratEntry::X2Apic(x) => x.flags & AFFINITY_ENABLED != 0,
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

fn parse_srat_at(bytes: &[u8], addr: Option<u64>) -> Result<Srat, AcpiError> {
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
    let mut offset = SRAT_ENTRIES_OFFSET;
    // Loop invariant: `offset` is the start of the next entry, SRAT_ENTRIES_OFFSET <= offset <= t.len(), and it
    // grows by at least 1 (an entry's non-zero length) per iteration, so the loop ends.
    while offset < t.len() {
        let (Some(&entry_type), Some(&length)) = (t.get(offset), t.get(offset.saturating_add(1))) else {
            return Err(AcpiError::PartialEntryHeader { offset, table_len: t.len() });
        };
        if length == 0 {
            return Err(AcpiError::ZeroLengthEntry { offset, entry_type });
        }
        let end = offset.saturating_add(usize::from(length));
        let Some(e) = t.get(offset..end) else {
            return Err(AcpiError::EntryPastEnd { offset, entry_type, length, table_len: t.len() });
        };
        if entries.len() >= MAX_SRAT_ENTRIES {
            return Err(AcpiError::TooManyEntries { what: "SRAT entries (MAX_SRAT_ENTRIES)", max: MAX_SRAT_ENTRIES });
        }
        entries.push(parse_entry(e, offset)?);
        offset = end;
    }
    Ok(Srat { revision, oem_id, oem_table_id, entries })
}

/// Parses one entry; `e` holds exactly the entry's `length` bytes (>= 2).
fn parse_entry(e: &[u8], offset: usize) -> Result<SratEntry, AcpiError> {
    let entry_type = e.first().copied().unwrap_or(0);
    let length = e.get(1).copied().unwrap_or(0);
    let bad = |expected| AcpiError::BadEntryLength { offset, entry_type, length, expected };
    match entry_type {
        0 => {
            // Linux (arch/x86/mm/srat.c) requires exactly the structure size for this type.
            if length != LOCAL_APIC_AFFINITY_LEN {
                return Err(bad(LOCAL_APIC_AFFINITY_LEN));
            }
            let lo = e.get(2).copied().ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?;
            let apic_id = e.get(3).copied().ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?;
            let flags = le32(e, 4).ok_or(bad(LOCAL_APIC_AFFINITY_LEN))?;
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
            let flags = f32(28)?;
            Ok(SratEntry::Memory(MemoryAffinity { proximity_domain, base, length: len, flags }))
        }
        2 => {
            if length < X2APIC_AFFINITY_LEN {
                return Err(bad(X2APIC_AFFINITY_LEN));
            }
            let f32 = |off| le32(e, off).ok_or(bad(X2APIC_AFFINITY_LEN));
            Ok(SratEntry::X2Apic(X2ApicAffinity { proximity_domain: f32(4)?, x2apic_id: f32(8)?, flags: f32(12)? }))
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
                    b.extend_from_slice(&a.flags.to_le_bytes());
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
                    b.extend_from_slice(&m.flags.to_le_bytes());
                    b.extend_from_slice(&[0; 8]);
                }
                SratEntry::X2Apic(x) => {
                    b.extend_from_slice(&[2, X2APIC_AFFINITY_LEN, 0, 0]);
                    b.extend_from_slice(&x.proximity_domain.to_le_bytes());
                    b.extend_from_slice(&x.x2apic_id.to_le_bytes());
                    b.extend_from_slice(&x.flags.to_le_bytes());
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
        let pxm = match e {
            SratEntry::LocalApic(a) if a.flags & AFFINITY_ENABLED != 0 => {
                if rev2 {
                    a.proximity_domain
                } else {
                    a.proximity_domain & 0xff
                }
            }
            SratEntry::X2Apic(x) if x.flags & AFFINITY_ENABLED != 0 => x.proximity_domain,
            _ => continue,
        };
        map(pxm, i, &mut out)?;
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

/// A parsed SLIT: `localities` x `localities` relative distances, indexed by proximity domain (10 = local).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slit {
    pub localities: usize,
    pub entries: Vec<u8>,
}

impl Slit {
    /// The distance from proximity domain `a` to `b`.
    pub fn distance(&self, a: usize, b: usize) -> Option<u8> {
        if a >= self.localities || b >= self.localities {
            return None;
        }
        self.entries.get(a * self.localities + b).copied()
    }

    /// The node distance matrix (row-major, `nodes` x `nodes`) for Linux's node numbering (`node_pxm[node]` is the
    /// node's proximity domain), as `acpi_numa_slit_init` fills `numa_distance`; `None` where a node's domain is
    /// beyond the table.
    pub fn node_distances(&self, node_pxm: &[u32]) -> Option<Vec<u8>> {
        let n = node_pxm.len();
        let mut out = Vec::with_capacity(n * n);
        for &a in node_pxm {
            for &b in node_pxm {
                out.push(self.distance(a as usize, b as usize)?);
            }
        }
        Some(out)
    }
}

/// Parses a whole SLIT (header included): the 64-bit locality count at offset 36, then the matrix. At most
/// MAX_PXM_DOMAINS (256) localities; the matrix must fit the table's length.
pub fn parse_slit(table: &[u8]) -> Result<Slit, AcpiError> {
    let t = validate_sdt(table, Some(SLIT), None)?;
    let tab = Table::Sdt(SLIT);
    let count = array::<8>(t, SDT_HEADER_LEN).map(u64::from_le_bytes).ok_or(AcpiError::Truncated {
        table: tab,
        addr: None,
        needed: SDT_HEADER_LEN + 8,
        available: t.len(),
    })?;
    if count > 256 {
        return Err(AcpiError::TooManyEntries { what: "SLIT localities (MAX_PXM_DOMAINS)", max: 256 });
    }
    let n = count as usize;
    let needed = SDT_HEADER_LEN + 8 + n * n;
    let entries = t
        .get(SDT_HEADER_LEN + 8..needed)
        .ok_or(AcpiError::Truncated { table: tab, addr: None, needed, available: t.len() })?
        .to_vec();
    Ok(Slit { localities: n, entries })
}

/// Finds and parses the SLIT, if the firmware has one.
pub fn find_slit<R: PhysReader + ?Sized>(reader: &R, rsdp_addr: u64) -> Result<Option<Slit>, AcpiError> {
    match find_table(reader, rsdp_addr, SLIT)? {
        Some((_, bytes)) => parse_slit(bytes).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    // ---- builders -------------------------------------------------------------------------------------------

    fn lapic(apic_id: u8, pxm: u32) -> SratEntry {
        SratEntry::LocalApic(LocalApicAffinity { proximity_domain: pxm, apic_id, flags: AFFINITY_ENABLED })
    }
    fn x2apic(id: u32, pxm: u32) -> SratEntry {
        SratEntry::X2Apic(X2ApicAffinity { proximity_domain: pxm, x2apic_id: id, flags: AFFINITY_ENABLED })
    }
    fn mem(pxm: u32, base: u64, end: u64, flags: u32) -> SratEntry {
        SratEntry::Memory(MemoryAffinity { proximity_domain: pxm, base, length: end - base, flags })
    }
    const EN: u32 = AFFINITY_ENABLED;
    const HP: u32 = AFFINITY_ENABLED | MEMORY_HOT_PLUGGABLE;

    fn srat(revision: u8, entries: Vec<SratEntry>) -> Srat {
        Srat { revision, oem_id: *b"BOCHS ", oem_table_id: *b"BXPC    ", entries }
    }

    /// A generic SDT with a correct checksum.
    fn sdt(sig: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&sig);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(b"BOCHS BXPC    ");
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(body);
        finish_sdt(&mut b);
        b
    }

    fn rsdt(addrs: &[u32]) -> Vec<u8> {
        sdt(RSDT, &addrs.iter().flat_map(|a| a.to_le_bytes()).collect::<Vec<_>>())
    }
    fn xsdt(addrs: &[u64]) -> Vec<u8> {
        sdt(XSDT, &addrs.iter().flat_map(|a| a.to_le_bytes()).collect::<Vec<_>>())
    }

    fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&RSDP_SIGNATURE);
        b.push(0);
        b.extend_from_slice(b"BOCHS ");
        b.push(revision);
        b.extend_from_slice(&rsdt.to_le_bytes());
        let s = checksum(&b);
        b[8] = 0u8.wrapping_sub(s);
        if revision >= 2 {
            b.extend_from_slice(&36u32.to_le_bytes());
            b.extend_from_slice(&xsdt.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
            let s = checksum(&b);
            b[32] = 0u8.wrapping_sub(s);
        }
        b
    }

    /// A 128 KiB physical memory image at 0xe0000 with tables placed at given addresses.
    struct Image {
        bytes: Vec<u8>,
    }
    const BASE: u64 = 0xe0000;
    impl Image {
        fn new() -> Self {
            Image { bytes: vec![0; 0x20000] }
        }
        fn put(&mut self, addr: u64, data: &[u8]) -> &mut Self {
            let off = (addr - BASE) as usize;
            self.bytes[off..off + data.len()].copy_from_slice(data);
            self
        }
        fn reader(&self) -> MemoryImage<'_> {
            MemoryImage { base: BASE, bytes: &self.bytes }
        }
    }

    const RSDP_AT: u64 = 0xf5a00;
    const RSDT_AT: u64 = 0xe1000;
    const XSDT_AT: u64 = 0xe2000;
    const SRAT_AT: u64 = 0xe3000;
    const APIC_AT: u64 = 0xe4000;

    /// A SeaBIOS-like image: RSDP rev 0 -> RSDT -> [APIC, SRAT].
    fn seabios(srat_bytes: &[u8]) -> Image {
        let mut img = Image::new();
        img.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0))
            .put(RSDT_AT, &rsdt(&[APIC_AT as u32, SRAT_AT as u32]))
            .put(APIC_AT, &sdt(*b"APIC", &[0; 8]))
            .put(SRAT_AT, srat_bytes);
        img
    }

    // ---- QEMU layouts (shared/reference/qemu-layouts.md) -------------------------------------------------------

    fn numa2() -> Srat {
        srat(
            1,
            vec![
                lapic(0, 0),
                lapic(1, 1),
                mem(0, 0, 0xa0000, EN),
                mem(0, 0x100000, 0x7d000000, EN),
                mem(1, 0x7d000000, 0xc0000000, EN),
                mem(1, 0x100000000, 0x13a000000, EN),
            ],
        )
    }

    #[test]
    fn numa2_through_rsdt() {
        let img = seabios(&numa2().to_bytes());
        let s = find_srat(&img.reader(), RSDP_AT).unwrap().unwrap();
        assert_eq!(s, numa2());
        let n = map_nodes(&s).unwrap();
        assert_eq!(n.nodes(), 2);
        assert_eq!(n.node_pxm, vec![0, 1]);
        let r = n.ranges();
        assert_eq!(r.len(), 4);
        assert_eq!(r[1], NumaAffinity { nid: 0, start: 0x100000, end: 0x7d000000, hotplug: false });
        assert_eq!(r[3], NumaAffinity { nid: 1, start: 1 << 32, end: 0x13a000000, hotplug: false });
        assert_eq!(n.memory[0].to_string(), "ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]");
        assert_eq!(n.memory[3].to_string(), "ACPI: SRAT: Node 1 PXM 1 [mem 0x100000000-0x139ffffff]");
    }

    #[test]
    fn hotplug_window() {
        let s = srat(
            1,
            vec![
                lapic(0, 0),
                mem(0, 0, 0xa0000, EN),
                mem(0, 0x100000, 0xc0000000, EN),
                mem(0, 1 << 32, 0x13a000000, EN),
                mem(0, 0x140000000, 0x2c6000000, HP),
            ],
        );
        let n = map_nodes(&parse_srat(&s.to_bytes()).unwrap()).unwrap();
        assert_eq!(n.nodes(), 1);
        assert_eq!(n.memory[3].range, NumaAffinity { nid: 0, start: 0x140000000, end: 0x2c6000000, hotplug: true });
        assert_eq!(n.memory[3].to_string(), "ACPI: SRAT: Node 0 PXM 0 [mem 0x140000000-0x2c5ffffff] hotplug");
        let nv = srat(1, vec![mem(0, 0, 0x1000, EN | MEMORY_NON_VOLATILE)]);
        assert!(map_nodes(&nv).unwrap().memory[0].to_string().ends_with("] non-volatile"));
    }

    #[test]
    fn descending_layout_pxm1_becomes_node0() {
        let s = srat(
            1,
            vec![
                lapic(0, 1),
                lapic(1, 0),
                mem(0, 0, 0xa0000, EN),
                mem(0, 0x100000, 0x3e800000, EN),
                mem(1, 0x3e800000, 0xc0000000, EN),
                mem(1, 1 << 32, 0x13a000000, EN),
            ],
        );
        let n = map_nodes(&s).unwrap();
        assert_eq!(n.node_pxm, vec![1, 0]);
        let nids: Vec<u32> = n.memory.iter().map(|m| m.range.nid).collect();
        assert_eq!(nids, vec![1, 1, 0, 0]);
        assert_eq!(n.memory[0].to_string(), "ACPI: SRAT: Node 1 PXM 0 [mem 0x00000000-0x0009ffff]");
    }

    #[test]
    fn memoryless_node_disabled_entry_skipped() {
        // -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1 (no memory).
        let s = srat(
            1,
            vec![lapic(0, 0), lapic(1, 1), mem(0, 0, 0xa0000, EN), mem(0, 0x100000, 0x8000000, EN), mem(1, 0, 0, 0)],
        );
        let n = map_nodes(&parse_srat(&s.to_bytes()).unwrap()).unwrap();
        assert_eq!(n.nodes(), 2);
        assert_eq!(n.memory.len(), 2);
        // Only memory, no processor entry, disabled: the domain never becomes a node.
        let s = srat(1, vec![lapic(0, 0), mem(0, 0, 0x8000000, EN), mem(5, 0, 0, 0)]);
        assert_eq!(map_nodes(&s).unwrap().nodes(), 1);
        // Enabled, zero length: the node exists, the range does not.
        let s = srat(1, vec![mem(0, 0, 0x8000000, EN), mem(5, 0, 0, EN)]);
        let n = map_nodes(&s).unwrap();
        assert_eq!((n.nodes(), n.memory.len()), (2, 1));
        // Disabled processor entries are skipped too.
        let mut a = lapic(0, 7);
        if let SratEntry::LocalApic(x) = &mut a {
            x.flags = 0;
        }
        let s = srat(1, vec![a, mem(3, 0, 0x1000, EN)]);
        assert_eq!(map_nodes(&s).unwrap().node_pxm, vec![3]);
    }

    #[test]
    fn processor_entries_number_first_and_x2apic_counts() {
        let s = srat(3, vec![mem(4, 0, 0x1000, EN), x2apic(0, 9), lapic(1, 4), mem(9, 0x1000, 0x2000, EN)]);
        let n = map_nodes(&s).unwrap();
        assert_eq!(n.node_pxm, vec![9, 4]);
        assert_eq!(n.memory[0].range.nid, 1);
        assert_eq!(n.memory[1].range.nid, 0);
    }

    #[test]
    fn revision1_uses_low_pxm_byte() {
        let s = srat(1, vec![lapic(0, 0x0102), mem(0x0302, 0, 0x1000, EN)]);
        let n = map_nodes(&parse_srat(&s.to_bytes()).unwrap()).unwrap();
        assert_eq!(n.node_pxm, vec![2]);
        assert_eq!(n.memory[0].pxm, 2);
        let s = srat(2, vec![lapic(0, 0x0102)]);
        assert_eq!(map_nodes(&s), Err(AcpiError::PxmOutOfRange { entry: 0, pxm: 0x102 }));
    }

    #[test]
    fn limits_are_named() {
        let many: Vec<SratEntry> = (0..=MAX_NUMNODES as u32).map(|p| lapic(p as u8, p)).collect();
        let e = map_nodes(&srat(2, many)).unwrap_err();
        assert_eq!(e, AcpiError::TooManyEntries { what: "proximity domains (MAX_NUMNODES)", max: 64 });
        assert_eq!(e.to_string(), "ACPI: more than 64 proximity domains (MAX_NUMNODES)");
        let many: Vec<SratEntry> =
            (0..=NR_NODE_MEMBLKS as u64).map(|i| mem(0, i << 20, (i << 20) + 4096, EN)).collect();
        assert!(matches!(map_nodes(&srat(2, many)), Err(AcpiError::TooManyEntries { max: 128, .. })));
        let s = srat(2, vec![mem(0, u64::MAX - 5, u64::MAX, EN)]);
        let mut s2 = s.clone();
        if let SratEntry::Memory(m) = &mut s2.entries[0] {
            m.length = 10;
        }
        assert!(map_nodes(&s).is_ok());
        assert!(matches!(map_nodes(&s2), Err(AcpiError::MemoryRangeOverflow { entry: 0, .. })));
        // A table with more entries than MAX_SRAT_ENTRIES.
        let big = srat(2, vec![SratEntry::Unknown { entry_type: 9, length: 2 }; MAX_SRAT_ENTRIES + 1]);
        assert!(matches!(parse_srat(&big.to_bytes()), Err(AcpiError::TooManyEntries { max: MAX_SRAT_ENTRIES, .. })));
    }

    // ---- root tables -------------------------------------------------------------------------------------------

    #[test]
    fn rsdp_rev2_uses_xsdt_and_falls_back_to_rsdt() {
        let srat_bytes = numa2().to_bytes();
        let mut img = Image::new();
        // The RSDT lists no SRAT: finding it proves the XSDT was used.
        img.put(RSDP_AT, &rsdp(2, RSDT_AT as u32, XSDT_AT))
            .put(RSDT_AT, &rsdt(&[APIC_AT as u32]))
            .put(XSDT_AT, &xsdt(&[APIC_AT, 0, SRAT_AT]))
            .put(APIC_AT, &sdt(*b"APIC", &[]))
            .put(SRAT_AT, &srat_bytes);
        let r = read_rsdp(&img.reader(), RSDP_AT).unwrap();
        assert_eq!(r.revision, 2);
        assert_eq!(r.root_table().unwrap(), (XSDT_AT, XSDT));
        assert_eq!(find_srat(&img.reader(), RSDP_AT).unwrap(), Some(numa2()));
        // XSDT address 0: the RSDT is used, and it has no SRAT.
        img.put(RSDP_AT, &rsdp(2, RSDT_AT as u32, 0));
        assert_eq!(find_srat(&img.reader(), RSDP_AT).unwrap(), None);
        img.put(RSDT_AT, &rsdt(&[APIC_AT as u32, SRAT_AT as u32]));
        assert_eq!(find_srat(&img.reader(), RSDP_AT).unwrap(), Some(numa2()));
        img.put(RSDP_AT, &rsdp(2, 0, 0));
        assert_eq!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::NoRootTable { revision: 2 }));
        img.put(RSDP_AT, &rsdp(1, RSDT_AT as u32, 0));
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert_eq!(e, AcpiError::UnsupportedRevision { table: Table::Rsdp, revision: 1 });
        assert_eq!(e.to_string(), "ACPI: RSDP revision 1 is not supported (known: 0, 2 and later)");
    }

    #[test]
    fn rsdp_errors() {
        let mut img = seabios(&numa2().to_bytes());
        let e = find_srat(&img.reader(), RSDP_AT + 16).unwrap_err();
        assert!(matches!(e, AcpiError::BadRsdpSignature { .. }));
        assert!(e.to_string().starts_with("ACPI: no RSDP at 0xf5a10: signature \""));
        let mut bad = rsdp(0, RSDT_AT as u32, 0);
        bad[8] = bad[8].wrapping_add(1);
        img.put(RSDP_AT, &bad);
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert_eq!(e, AcpiError::BadChecksum { table: Table::Rsdp, addr: Some(RSDP_AT), sum: 1 });
        assert_eq!(e.to_string(), "ACPI: bad checksum in RSDP at 0xf5a00: bytes sum to 0x01, expected 0");
        // Revision 2 with a broken extended checksum (the first 20 bytes are fine).
        let mut bad = rsdp(2, RSDT_AT as u32, XSDT_AT);
        bad[33] = 1;
        img.put(RSDP_AT, &bad);
        assert!(matches!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::BadChecksum { table: Table::Rsdp, .. })));
        // Revision 2 with a length field below 36.
        let mut bad = rsdp(2, RSDT_AT as u32, XSDT_AT);
        bad[20] = 20;
        img.put(RSDP_AT, &bad);
        assert!(matches!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::LengthTooSmall { length: 20, .. })));
        // Revision 2 with a length field far beyond the mapping.
        bad[20..24].copy_from_slice(&0x10_0000u32.to_le_bytes());
        img.put(RSDP_AT, &bad);
        assert!(matches!(
            find_srat(&img.reader(), RSDP_AT),
            Err(AcpiError::LengthBeyondMapping { table: Table::Rsdp, length: 0x10_0000, .. })
        ));
        // The RSDP address itself unmapped.
        let e = find_srat(&img.reader(), 0x1000).unwrap_err();
        assert_eq!(e, AcpiError::Unmapped { table: Table::Rsdp, addr: 0x1000, len: 20 });
        assert_eq!(e.to_string(), "ACPI: pointer to RSDP at 0x1000 (20 bytes) is outside mapped memory");
        let e = find_srat(&img.reader(), u64::MAX - 3).unwrap_err();
        assert!(matches!(e, AcpiError::Unmapped { .. }));
    }

    #[test]
    fn root_table_errors() {
        let srat_bytes = numa2().to_bytes();
        // RSDT pointer outside mapped memory.
        let mut img = seabios(&srat_bytes);
        img.put(RSDP_AT, &rsdp(0, 0x4000_0000, 0));
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert_eq!(e, AcpiError::Unmapped { table: Table::Sdt(RSDT), addr: 0x4000_0000, len: 36 });
        // An RSDT entry outside mapped memory.
        let mut img = seabios(&srat_bytes);
        img.put(RSDT_AT, &rsdt(&[0xdead_0000, SRAT_AT as u32]));
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert!(matches!(e, AcpiError::Unmapped { addr: 0xdead_0000, .. }));
        // The RSDT pointer leads to something else.
        let mut img = seabios(&srat_bytes);
        img.put(RSDP_AT, &rsdp(0, APIC_AT as u32, 0));
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert_eq!(e.to_string(), "ACPI: expected RSDT at 0xe4000, found signature \"APIC\"");
        // RSDT with a bad checksum.
        let mut img = seabios(&srat_bytes);
        let mut r = rsdt(&[SRAT_AT as u32]);
        r[20] ^= 0x40;
        img.put(RSDT_AT, &r);
        assert!(matches!(
            find_srat(&img.reader(), RSDP_AT),
            Err(AcpiError::BadChecksum { table: Table::Sdt(RSDT), sum: 0x40, .. })
        ));
        // RSDT with a partial entry.
        let mut img = seabios(&srat_bytes);
        let mut r = sdt(RSDT, &[0, 0x30, 0x0e, 0, 0, 0]);
        finish_sdt(&mut r);
        img.put(RSDT_AT, &r);
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert_eq!(e, AcpiError::RootTableLength { table: Table::Sdt(RSDT), length: 42, entry_size: 4 });
        // RSDT with a lying length: smaller than a header, larger than the mapping.
        let mut img = seabios(&srat_bytes);
        let mut r = rsdt(&[SRAT_AT as u32]);
        r[4..8].copy_from_slice(&10u32.to_le_bytes());
        img.put(RSDT_AT, &r);
        assert!(matches!(find_srat(&img.reader(), RSDP_AT), Err(AcpiError::LengthTooSmall { length: 10, .. })));
        r[4..8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        img.put(RSDT_AT, &r);
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert_eq!(e, AcpiError::LengthBeyondMapping { table: Table::Sdt(RSDT), addr: RSDT_AT, length: 0x8000_0000 });
        assert_eq!(e.to_string(), "ACPI: RSDT at 0xe1000 has length field 2147483648 reaching beyond mapped memory");
        // No SRAT at all (QEMU without -numa).
        let mut img = seabios(&srat_bytes);
        img.put(RSDT_AT, &rsdt(&[APIC_AT as u32]));
        assert_eq!(find_srat(&img.reader(), RSDP_AT), Ok(None));
    }

    #[test]
    fn srat_reached_through_root_but_broken() {
        let mut bytes = numa2().to_bytes();
        bytes[60] ^= 1;
        let img = seabios(&bytes);
        let e = find_srat(&img.reader(), RSDP_AT).unwrap_err();
        assert!(matches!(e, AcpiError::BadChecksum { table: Table::Sdt(SRAT), addr: Some(SRAT_AT), .. }));
        assert!(e.to_string().starts_with("ACPI: bad checksum in SRAT at 0xe3000: bytes sum to "));
        // The SRAT running off the end of the mapping.
        let bytes = numa2().to_bytes();
        let mut img = Image::new();
        let at = BASE + 0x20000 - 100;
        img.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0)).put(RSDT_AT, &rsdt(&[at as u32])).put(at, &bytes[..100]);
        assert!(matches!(
            find_srat(&img.reader(), RSDP_AT),
            Err(AcpiError::LengthBeyondMapping { table: Table::Sdt(SRAT), .. })
        ));
    }

    // ---- malformed SRAT bytes ----------------------------------------------------------------------------------

    #[test]
    fn malformed_srat_tables() {
        let good = numa2().to_bytes();
        // Truncated: the slice is shorter than the length field says.
        let e = parse_srat(&good[..100]).unwrap_err();
        assert_eq!(e, AcpiError::Truncated { table: Table::Sdt(SRAT), addr: None, needed: good.len(), available: 100 });
        assert_eq!(e.to_string(), "ACPI: SRAT is truncated: 240 bytes needed, 100 available");
        assert!(matches!(parse_srat(&good[..3]), Err(AcpiError::Truncated { needed: 36, .. })));
        assert!(matches!(parse_srat(&[]), Err(AcpiError::Truncated { .. })));
        // Wrong signature.
        let e = parse_srat(&sdt(*b"SLIT", &[0; 12])).unwrap_err();
        assert_eq!(e.to_string(), "ACPI: expected SRAT, found signature \"SLIT\"");
        // Length lies: smaller than the header; smaller than the SRAT's fixed part.
        let mut b = good.clone();
        b[4..8].copy_from_slice(&20u32.to_le_bytes());
        assert!(matches!(parse_srat(&b), Err(AcpiError::LengthTooSmall { length: 20, min: 36, .. })));
        let e = parse_srat(&sdt(SRAT, &[0; 4])).unwrap_err();
        assert_eq!(e.to_string(), "ACPI: SRAT has length field 40, smaller than its 48-byte header");
        // Bad checksum.
        let mut b = good.clone();
        b[9] = b[9].wrapping_add(3);
        assert_eq!(parse_srat(&b), Err(AcpiError::BadChecksum { table: Table::Sdt(SRAT), addr: None, sum: 3 }));
        // Trailing bytes after the length are ignored.
        let mut b = good.clone();
        b.extend_from_slice(&[0xff; 7]);
        assert_eq!(parse_srat(&b).unwrap(), numa2());
    }

    fn srat_with_raw_entries(raw: &[u8]) -> Vec<u8> {
        sdt(SRAT, &[&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], raw].concat())
    }

    #[test]
    fn malformed_entries() {
        let e = parse_srat(&srat_with_raw_entries(&[1, 0, 0, 0])).unwrap_err();
        assert_eq!(e, AcpiError::ZeroLengthEntry { offset: 48, entry_type: 1 });
        assert_eq!(e.to_string(), "ACPI: SRAT entry type 1 at offset 0x30 has length 0");
        let e = parse_srat(&srat_with_raw_entries(&[1, 40, 0, 0])).unwrap_err();
        assert_eq!(e, AcpiError::EntryPastEnd { offset: 48, entry_type: 1, length: 40, table_len: 52 });
        assert_eq!(
            e.to_string(),
            "ACPI: SRAT entry type 1 at offset 0x30 with length 40 runs past the table end (0x34)"
        );
        let e = parse_srat(&srat_with_raw_entries(&[9, 2, 7])).unwrap_err();
        assert_eq!(e, AcpiError::PartialEntryHeader { offset: 50, table_len: 51 });
        let mut raw = [0u8; 16];
        raw[0] = 0;
        raw[1] = 12;
        let e = parse_srat(&srat_with_raw_entries(&raw[..12])).unwrap_err();
        assert_eq!(e, AcpiError::BadEntryLength { offset: 48, entry_type: 0, length: 12, expected: 16 });
        assert_eq!(e.to_string(), "ACPI: SRAT entry type 0 at offset 0x30 has length 12, expected 16");
        let mut raw = vec![0u8; 32];
        raw[0] = 1;
        raw[1] = 32;
        assert!(matches!(
            parse_srat(&srat_with_raw_entries(&raw)),
            Err(AcpiError::BadEntryLength { expected: 40, .. })
        ));
        raw[0] = 2;
        raw[1] = 20;
        assert!(matches!(
            parse_srat(&srat_with_raw_entries(&raw[..20])),
            Err(AcpiError::BadEntryLength { expected: 24, .. })
        ));
        // Longer-than-needed memory and x2APIC entries are accepted (later revisions may grow them).
        let mut raw = vec![0u8; 48];
        raw[0] = 1;
        raw[1] = 48;
        raw[28] = 1;
        let s = parse_srat(&srat_with_raw_entries(&raw)).unwrap();
        assert!(s.entries[0].enabled());
    }

    #[test]
    fn unknown_entries_are_kept_and_skipped() {
        // GICC (type 3, 18 bytes), generic initiator (type 5, 32 bytes) between known ones.
        let s = srat(
            3,
            vec![
                lapic(0, 0),
                SratEntry::Unknown { entry_type: 3, length: 18 },
                SratEntry::Unknown { entry_type: 5, length: 32 },
                mem(0, 0, 0x8000000, EN),
            ],
        );
        let p = parse_srat(&s.to_bytes()).unwrap();
        assert_eq!(p, s);
        assert!(!p.entries[1].enabled());
        assert_eq!(map_nodes(&p).unwrap().nodes(), 1);
    }

    #[test]
    fn error_texts_have_no_empty_parts() {
        let all = [
            AcpiError::BadRsdpSignature { addr: 1, found: [0, b'R', b'"', 0xff, 1, 2, 3, 4] },
            AcpiError::TooManyEntries { what: "x", max: 1 },
            AcpiError::PxmOutOfRange { entry: 3, pxm: 300 },
            AcpiError::MemoryRangeOverflow { entry: 1, base: 2, length: 3 },
            AcpiError::NoRootTable { revision: 2 },
        ];
        for e in all {
            let s = format!("{}", e);
            assert!(s.starts_with("ACPI: ") && s.len() > 16, "{}", s);
        }
        assert_eq!(
            AcpiError::BadRsdpSignature { addr: 1, found: *b"RSD PTR\x00" }.to_string(),
            "ACPI: no RSDP at 0x1: signature \"RSD PTR\\x00\" is not \"RSD PTR \""
        );
    }

    #[test]
    fn reader_short_answers_are_truncations() {
        struct Short<'a>(&'a [u8]);
        impl PhysReader for Short<'_> {
            fn read(&self, _phys: u64, _len: usize) -> Option<&[u8]> {
                Some(self.0)
            }
        }
        let e = find_srat(&Short(&[0; 10]), 0).unwrap_err();
        assert_eq!(e, AcpiError::Truncated { table: Table::Rsdp, addr: Some(0), needed: 20, available: 10 });
        let imgs = [MemoryImage { base: 0x1000, bytes: &[1; 16] }, MemoryImage { base: 0x2000, bytes: &[2; 16] }];
        assert_eq!(imgs[..].read(0x2004, 4), Some(&[2u8; 4][..]));
        assert_eq!(imgs[..].read(0x100c, 8), None);
    }

    // ---- properties --------------------------------------------------------------------------------------------

    fn arb_entry() -> impl Strategy<Value = SratEntry> {
        prop_oneof![
            (any::<u32>(), any::<u8>(), any::<u32>()).prop_map(|(proximity_domain, apic_id, flags)| {
                SratEntry::LocalApic(LocalApicAffinity { proximity_domain, apic_id, flags })
            }),
            (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
                |(proximity_domain, base, length, flags)| {
                    SratEntry::Memory(MemoryAffinity { proximity_domain, base, length, flags })
                }
            ),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(proximity_domain, x2apic_id, flags)| {
                SratEntry::X2Apic(X2ApicAffinity { proximity_domain, x2apic_id, flags })
            }),
            (3u8.., 2u8..).prop_map(|(entry_type, length)| SratEntry::Unknown { entry_type, length }),
        ]
    }

    fn arb_srat() -> impl Strategy<Value = Srat> {
        (any::<u8>(), any::<[u8; 6]>(), any::<[u8; 8]>(), proptest::collection::vec(arb_entry(), 0..40))
            .prop_map(|(revision, oem_id, oem_table_id, entries)| Srat { revision, oem_id, oem_table_id, entries })
    }

    proptest! {
        #[test]
        fn prop_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_srat(&bytes);
            // The same bytes with a valid checksum and length, so the entry walker is reached.
            let mut b = bytes.clone();
            if b.len() >= 10 {
                b[..4].copy_from_slice(&SRAT);
                finish_sdt(&mut b);
                if let Ok(s) = parse_srat(&b) {
                    let _ = map_nodes(&s);
                }
            }
        }

        #[test]
        fn prop_random_image_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), at in 0u64..600) {
            let img = MemoryImage { base: 0, bytes: &bytes };
            let _ = find_srat(&img, at);
            // Plant a valid RSDP whose pointers lead into the random bytes.
            let mut b = bytes.clone();
            let p = rsdp(2, (at % 512) as u32, at.wrapping_mul(7) % 512);
            if b.len() >= p.len() {
                b[..p.len()].copy_from_slice(&p);
                let _ = find_srat(&MemoryImage { base: 0, bytes: &b }, 0);
            }
        }

        #[test]
        fn prop_srat_round_trips(s in arb_srat()) {
            let bytes = s.to_bytes();
            prop_assert_eq!(parse_srat(&bytes), Ok(s.clone()));
            let _ = map_nodes(&s);
        }

        #[test]
        fn prop_find_srat_round_trips(s in arb_srat(), rev2 in any::<bool>()) {
            let bytes = s.to_bytes();
            let mut img = vec![0u8; 0x3000 + bytes.len()];
            let r = if rev2 { rsdp(2, 0x1000, 0x2000) } else { rsdp(0, 0x1000, 0) };
            img[..r.len()].copy_from_slice(&r);
            let rt = rsdt(&[0x3000]);
            img[0x1000..0x1000 + rt.len()].copy_from_slice(&rt);
            let xt = xsdt(&[0x3000]);
            img[0x2000..0x2000 + xt.len()].copy_from_slice(&xt);
            img[0x3000..].copy_from_slice(&bytes);
            prop_assert_eq!(find_srat(&MemoryImage { base: 0, bytes: &img }, 0), Ok(Some(s)));
        }

        #[test]
        fn prop_numbering_is_first_appearance(pxms in proptest::collection::vec(0u32..8, 1..20), cpus in proptest::collection::vec(0u32..8, 0..6)) {
            let mut entries: Vec<SratEntry> = pxms.iter().enumerate()
                .map(|(i, &p)| mem(p, (i as u64) << 30, ((i as u64) << 30) + 4096, EN)).collect();
            entries.extend(cpus.iter().enumerate().map(|(i, &p)| lapic(i as u8, p)));
            let n = map_nodes(&srat(2, entries)).unwrap();
            // Reference: processors first, then memory, first appearance.
            let mut order: Vec<u32> = Vec::new();
            for p in cpus.iter().chain(pxms.iter()) {
                if !order.contains(p) { order.push(*p); }
            }
            prop_assert_eq!(&n.node_pxm, &order);
            for m in &n.memory {
                prop_assert_eq!(n.node_pxm[m.range.nid as usize], m.pxm);
            }
        }
    }

    #[test]
    fn slit_parses_and_maps_to_nodes() {
        // QEMU's SLIT for two nodes with -numa dist,src=0,dst=1,val=21: [10 21; 21 10].
        let mut t = alloc::vec![0u8; SDT_HEADER_LEN];
        t.extend_from_slice(&2u64.to_le_bytes());
        t.extend_from_slice(&[10, 21, 21, 10]);
        t[0..4].copy_from_slice(b"SLIT");
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        t[8] = 1;
        let sum = t.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        t[9] = 0u8.wrapping_sub(sum);
        let slit = parse_slit(&t).unwrap();
        assert_eq!(slit.distance(0, 1), Some(21));
        assert_eq!(slit.distance(2, 0), None);
        // Linux's numbering may swap PXMs: node 0 = PXM 1.
        assert_eq!(slit.node_distances(&[1, 0]), Some(alloc::vec![10, 21, 21, 10]));
        assert_eq!(slit.node_distances(&[0, 5]), None);
        // A count that does not fit the table, and a bad checksum.
        let mut bad = t.clone();
        bad[SDT_HEADER_LEN] = 3;
        bad[9] = bad[9].wrapping_sub(1);
        assert!(matches!(parse_slit(&bad), Err(AcpiError::Truncated { .. })));
        let mut bad = t.clone();
        bad[SDT_HEADER_LEN + 8] = 11;
        assert!(matches!(parse_slit(&bad), Err(AcpiError::BadChecksum { .. })));
    }
}
