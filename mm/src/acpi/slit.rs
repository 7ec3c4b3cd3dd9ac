//! The SLIT: node distances by proximity domain, for the zonelists.

use super::*;

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
