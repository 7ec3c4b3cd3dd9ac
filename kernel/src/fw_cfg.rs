//! QEMU's fw_cfg device through its legacy I/O ports: how the host passes files (the command line) to the kernel.
//!
//! Protocol (QEMU docs/specs/fw_cfg.rst): write a 16-bit item selector to port 0x510, then read the item's bytes
//! one at a time from port 0x511. Item 0 holds the signature "QEMU"; item 0x19 is the file directory: a big-endian
//! u32 count, then per file a 64-byte entry (u32 BE size, u16 BE selector, u16 reserved, 56-byte NUL-padded name).
//! File contents are not NUL-terminated. QEMU adds a file with `-fw_cfg name=opt/memlab/cmdline,string=...`.
//!
//! # Invariants
//! - selecting an item resets its read offset, so every read starts with a select;
//! - nothing is read unless the signature is present (on a machine without fw_cfg the ports float to 0xff);
//! - a file larger than the caller's limit is not read (named error, never a silent truncation).

use alloc::vec::Vec;

use x86_64::instructions::port::Port;

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;
const SIGNATURE_ITEM: u16 = 0x0000;
const FILE_DIR_ITEM: u16 = 0x0019;
const NAME_LEN: usize = 56;

/// Why a file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwCfgError {
    /// The file exists but is larger than the caller accepts.
    TooLarge { size: u32, max: usize },
}

/// Selects `item` and reads `buf.len()` bytes from its start.
fn read_item(item: u16, buf: &mut [u8]) {
    let mut selector: Port<u16> = Port::new(SELECTOR_PORT);
    let mut data: Port<u8> = Port::new(DATA_PORT);
    // SAFETY: 0x510/0x511 are QEMU's fw_cfg selector and data ports on pc and q35; they only read firmware
    // configuration and do not touch guest memory (DMA is a separate interface, not used here). The kernel is
    // single-threaded with interrupts off, so no one else selects an item between these accesses.
    unsafe {
        selector.write(item);
        for b in buf.iter_mut() {
            *b = data.read();
        }
    }
}

/// Whether the fw_cfg device is present.
pub fn present() -> bool {
    let mut sig = [0u8; 4];
    read_item(SIGNATURE_ITEM, &mut sig);
    &sig == b"QEMU"
}

/// Reads the fw_cfg file `name` (e.g. `opt/memlab/cmdline`). `Ok(None)`: no fw_cfg device or no such file.
pub fn read_file(name: &str, max: usize) -> Result<Option<Vec<u8>>, FwCfgError> {
    if !present() {
        return Ok(None);
    }
    // The directory is one item: its count, then the entries. Read the count, then re-read the whole item
    // entry by entry (each select restarts at offset 0, so read count + entries in one pass).
    let mut count = [0u8; 4];
    read_item(FILE_DIR_ITEM, &mut count);
    let count = u32::from_be_bytes(count);
    let mut selector: Port<u16> = Port::new(SELECTOR_PORT);
    let mut data: Port<u8> = Port::new(DATA_PORT);
    let mut found = None;
    // SAFETY: as in `read_item`; the directory item is read sequentially after one select.
    unsafe {
        selector.write(FILE_DIR_ITEM);
        for _ in 0..4 {
            data.read();
        }
        for _ in 0..count {
            let mut entry = [0u8; 64];
            for b in entry.iter_mut() {
                *b = data.read();
            }
            let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let select = u16::from_be_bytes([entry[4], entry[5]]);
            let raw = &entry[8..8 + NAME_LEN];
            let len = raw.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            if found.is_none() && &raw[..len] == name.as_bytes() {
                found = Some((size, select));
            }
        }
    }
    let Some((size, select)) = found else { return Ok(None) };
    if size as usize > max {
        return Err(FwCfgError::TooLarge { size, max });
    }
    let mut buf = alloc::vec![0u8; size as usize];
    read_item(select, &mut buf);
    Ok(Some(buf))
}
