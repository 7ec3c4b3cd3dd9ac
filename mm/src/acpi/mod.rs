//! ACPI tables the memory model needs: RSDP -> RSDT/XSDT -> SRAT (and the MADT's CPUs), parsed from bytes, plus
//! Linux's node numbering.
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

bitflags::bitflags! {
    /// The flags word of an SRAT affinity structure (ACPI 6.5, 5.2.16). Bits the model does not interpret are kept
    /// (`from_bits_retain`), so a table round-trips byte for byte.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct AffinityFlags: u32 {
        /// Bit 0 of every affinity structure: the entry is enabled.
        const ENABLED = 1 << 0;
        /// Memory affinity bit 1: the range is hot-pluggable.
        const HOT_PLUGGABLE = 1 << 1;
        /// Memory affinity bit 2: the range is non-volatile.
        const NON_VOLATILE = 1 << 2;
        const _ = !0;
    }
}

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
/// Signature of the MADT (Multiple APIC Description Table: the CPUs and interrupt controllers).
pub const MADT: [u8; 4] = *b"APIC";
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
    /// Bytes at the end of a table of entries (SRAT, MADT) too few for an entry header (type and length).
    PartialEntryHeader { table: Table, offset: usize, table_len: usize },
    /// An entry with length 0 (walking by length would never advance).
    ZeroLengthEntry { table: Table, offset: usize, entry_type: u8 },
    /// An entry that runs past the end of the table.
    EntryPastEnd { table: Table, offset: usize, entry_type: u8, length: u8, table_len: usize },
    /// An entry of a known type whose length does not fit its structure.
    BadEntryLength { table: Table, offset: usize, entry_type: u8, length: u8, expected: u8 },
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
            AcpiError::PartialEntryHeader { table, offset, table_len } => {
                write!(
                    f,
                    "ACPI: {} entry header at offset {:#x} runs past the table end ({:#x})",
                    table, offset, table_len
                )
            }
            AcpiError::ZeroLengthEntry { table, offset, entry_type } => {
                write!(f, "ACPI: {} entry type {} at offset {:#x} has length 0", table, entry_type, offset)
            }
            AcpiError::EntryPastEnd { table, offset, entry_type, length, table_len } => write!(
                f,
                "ACPI: {} entry type {} at offset {:#x} with length {} runs past the table end ({:#x})",
                table, entry_type, offset, length, table_len
            ),
            AcpiError::BadEntryLength { table, offset, entry_type, length, expected } => write!(
                f,
                "ACPI: {} entry type {} at offset {:#x} has length {}, expected {}",
                table, entry_type, offset, length, expected
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

mod madt;
mod nodes;
mod rsdp;
mod slit;
mod srat;

pub use madt::*;
pub use nodes::*;
pub use rsdp::*;
pub use slit::*;
pub use srat::*;

#[cfg(test)]
mod tests;
