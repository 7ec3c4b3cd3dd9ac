//! The RSDP and the root tables (RSDT/XSDT): finding a table by signature, with the header checks.

use super::*;

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
