//! The ACPI parsers: SRAT and SLIT as bytes, and RSDP -> RSDT/XSDT -> SRAT/SLIT through a memory image.
//!
//! The first input byte is a mode, the rest the table. Each input is tried raw, with its signature and checksum
//! fixed up (so the fuzzer reaches the entries without solving checksums), and placed behind a constructed RSDP
//! and root table. Properties: nothing panics; errors display as one non-empty line; `map_nodes` gives node ids
//! < MAX_NUMNODES and memory ranges on existing nodes; a SLIT is `localities^2` entries; `find_srat` through a
//! valid RSDP and root table gives exactly what `parse_srat` gives for the same table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm::acpi::{
    checksum, find_slit, find_srat, finish_sdt, map_nodes, parse_slit, parse_srat, AcpiError, MemoryImage, Slit, Srat,
    RSDP_SIGNATURE, RSDP_V1_LEN, RSDP_V2_LEN, RSDT, SLIT, SRAT, XSDT,
};
use mm::consts::MAX_NUMNODES;

const BASE: u64 = 0xe0000;
const ROOT_OFF: usize = 0x40;
const TABLE_OFF: usize = 0x100;

fn check_err(e: &AcpiError) {
    let msg = e.to_string();
    assert!(!msg.is_empty() && !msg.contains('\n'), "{:?}: {:?}", e, msg);
}

fn check_srat(r: &Result<Srat, AcpiError>, slit: Option<&Slit>) {
    let srat = match r {
        Ok(s) => s,
        Err(e) => return check_err(e),
    };
    match map_nodes(srat) {
        Ok(numa) => {
            assert!(numa.nodes() <= MAX_NUMNODES, "{} nodes", numa.nodes());
            for m in &numa.memory {
                assert!((m.range.nid as usize) < numa.nodes(), "{:?} with {} nodes", m, numa.nodes());
                assert!(m.range.start < m.range.end, "{:?}", m);
            }
            if let Some(slit) = slit {
                if let Some(d) = slit.node_distances(&numa.node_pxm) {
                    assert_eq!(d.len(), numa.nodes() * numa.nodes());
                }
            }
        }
        Err(e) => check_err(&e),
    }
}

fn check_slit(r: &Result<Slit, AcpiError>) {
    match r {
        Ok(s) => {
            assert_eq!(s.entries.len(), s.localities * s.localities);
            if s.localities > 0 {
                assert!(s.distance(s.localities - 1, s.localities - 1).is_some());
            }
            assert!(s.distance(s.localities, 0).is_none());
        }
        Err(e) => check_err(e),
    }
}

/// `body` with signature `sig`; `finish`: length = the whole buffer, else the length field kept and only the
/// checksum over the bytes it covers fixed.
fn fixed(body: &[u8], sig: [u8; 4], finish: bool) -> Vec<u8> {
    let mut t = body.to_vec();
    if t.len() < 10 {
        return t;
    }
    t[..4].copy_from_slice(&sig);
    if finish {
        finish_sdt(&mut t);
    } else {
        let len = (u32::from_le_bytes([t[4], t[5], t[6], t[7]]) as usize).min(t.len());
        t[9] = 0;
        let sum = checksum(&t[..len]);
        t[9] = 0u8.wrapping_sub(sum);
    }
    t
}

/// RSDP (revision 0 + RSDT, or 2 + XSDT) at BASE, the root table at BASE + ROOT_OFF, `table` at BASE + TABLE_OFF.
fn firmware(table: &[u8], xsdt: bool, null_entry: bool) -> Vec<u8> {
    let mut img = vec![0u8; TABLE_OFF];
    img[..8].copy_from_slice(&RSDP_SIGNATURE);
    img[9..15].copy_from_slice(b"MEMLAB");
    let root_addr = BASE + ROOT_OFF as u64;
    let table_addr = BASE + TABLE_OFF as u64;
    let mut root = vec![0u8; 36];
    if xsdt {
        img[15] = 2;
        img[20..24].copy_from_slice(&(RSDP_V2_LEN as u32).to_le_bytes());
        img[24..32].copy_from_slice(&root_addr.to_le_bytes());
        root[..4].copy_from_slice(&XSDT);
        if null_entry {
            root.extend_from_slice(&0u64.to_le_bytes());
        }
        root.extend_from_slice(&table_addr.to_le_bytes());
    } else {
        img[16..20].copy_from_slice(&(root_addr as u32).to_le_bytes());
        root[..4].copy_from_slice(&RSDT);
        if null_entry {
            root.extend_from_slice(&0u32.to_le_bytes());
        }
        root.extend_from_slice(&(table_addr as u32).to_le_bytes());
    }
    let sum = checksum(&img[..RSDP_V1_LEN]);
    img[8] = 0u8.wrapping_sub(sum);
    if xsdt {
        let sum = checksum(&img[..RSDP_V2_LEN]);
        img[32] = 0u8.wrapping_sub(sum);
    }
    finish_sdt(&mut root);
    img[ROOT_OFF..ROOT_OFF + root.len()].copy_from_slice(&root);
    img.extend_from_slice(table);
    img
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };

    // 1. Raw bytes.
    let slit = parse_slit(body);
    check_slit(&slit);
    check_srat(&parse_srat(body), slit.as_ref().ok());

    // 2. Signature and checksum fixed.
    let finish = mode & 1 != 0;
    let slit_t = fixed(body, SLIT, finish);
    let slit = parse_slit(&slit_t);
    check_slit(&slit);
    let srat_t = fixed(body, SRAT, finish);
    let parsed = parse_srat(&srat_t);
    check_srat(&parsed, slit.as_ref().ok());

    // 3. Behind a valid RSDP and root table: the same answer as parse_srat.
    let img = firmware(&srat_t, mode & 2 != 0, mode & 4 != 0);
    let reader = MemoryImage { base: BASE, bytes: &img };
    let found = find_srat(&reader, BASE);
    match (&found, &parsed) {
        (Ok(Some(a)), Ok(b)) => assert_eq!(a, b),
        (Ok(None), _) => assert!(srat_t.len() >= 4 && srat_t[..4] != SRAT, "SRAT not found: {:?}", parsed),
        (Ok(Some(a)), Err(e)) => panic!("find_srat found {:?} where parse_srat says {}", a, e),
        (Err(e), Ok(_)) => panic!("find_srat failed ({}) where parse_srat succeeds", e),
        (Err(e), Err(_)) => check_err(e),
    }
    if let Err(e) = find_slit(&reader, BASE) {
        check_err(&e);
    }

    // 4. The raw bytes as memory, the RSDP at an offset the mode picks, split in two images.
    let split = body.len() / 2;
    let images = [MemoryImage { base: BASE, bytes: &body[..split] }, MemoryImage { base: BASE - 0x1000, bytes: body }];
    let rsdp = BASE + u64::from(mode >> 3) * 4;
    for r in [find_srat(&images[..], rsdp).map(|_| ()), find_slit(&images[..], rsdp).map(|_| ())] {
        if let Err(e) = r {
            check_err(&e);
        }
    }
    if let Err(e) = find_srat(&images[1], BASE - 0x1000) {
        check_err(&e);
    }
});
