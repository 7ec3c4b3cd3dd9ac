//! QEMU's ACPI memory hotplug controller, driven through its I/O ports (no AML interpreter needed).
//!
//! Interface (QEMU docs/specs/acpi_mem_hotplug.rst; the block is 0x18 ports at `ACPI_MEMORY_HOTPLUG_BASE`, 0xa00,
//! on both pc (PIIX4 PM) and q35 (ICH9 LPC); the base is checked at boot, see [`probe`]):
//! - write `base + 0x0` (u32): select a DIMM slot; every other register then refers to that slot;
//! - read `base + 0x0/0x4` (u32 lo/hi): the DIMM's physical address; `+0x8/+0xc`: its size in bytes;
//!   `+0x10`: its proximity domain; `+0x14` (u8): status, bit 0 enabled (a DIMM is plugged), bit 1 insert event
//!   pending, bit 2 remove event pending (the host asked to unplug it);
//! - write `base + 0x4` (u32): _OST event code, `+0x8`: _OST status code;
//! - write `base + 0x14` (u8): bit 1 clears the insert event, bit 2 clears the remove event, bit 3 ejects the
//!   DIMM (QEMU completes `device_del` then);
//! - the spec says a slot beyond the last reads as all ones; QEMU's implementation (hw/acpi/memory_hotplug.c,
//!   `acpi_memory_hotplug_read`) returns 0 for a selector beyond its slot count, so a slot past the end reads as an
//!   empty slot, and the slot count cannot be read from the ports (it is the DSDT's `MDNR`). Without `slots=` the
//!   ports are not decoded at all and read as all ones: that is how "no controller" is seen.
//!
//! Events also raise GPE.3 (an SCI); this kernel polls the status registers instead, so it needs no interrupt
//! routing. The guest RAM of a hot-added DIMM is not in the bootloader's physical-memory mapping (it maps up to
//! the end of the boot-time map); [`crate::phys`] owns mapping it.
//!
//! # Invariants
//! - every register access is preceded by a slot select (the controller keeps one selector for all slots);
//! - nothing but this module touches ports 0xa00-0xa17; the kernel is single-threaded with interrupts off, so a
//!   select and the accesses after it are never interleaved with another;
//! - [`probe`] reports the controller absent (rather than inventing slots) when slot 0 reads as all ones or the
//!   registers read back inconsistent values.

use alloc::vec::Vec;

use x86_64::instructions::port::Port;

/// `ACPI_MEMORY_HOTPLUG_BASE` in QEMU (hw/acpi/piix4.c and hw/acpi/ich9.c both use it).
pub const BASE: u16 = 0x0a00;
/// The largest slot count probed (QEMU's `ACPI_MAX_RAM_SLOTS` is 256).
pub const MAX_SLOTS: u32 = 256;

const REG_ADDR_LO: u16 = 0x0;
const REG_ADDR_HI: u16 = 0x4;
const REG_SIZE_LO: u16 = 0x8;
const REG_SIZE_HI: u16 = 0xc;
const REG_PXM: u16 = 0x10;
const REG_STATUS: u16 = 0x14;
/// Write-side names of the same offsets.
const REG_SELECT: u16 = 0x0;
const REG_OST_EVENT: u16 = 0x4;
const REG_OST_STATUS: u16 = 0x8;
const REG_CONTROL: u16 = 0x14;

bitflags::bitflags! {
    /// A slot's status register (`+0x14`, read). Unknown bits are kept, so the probe can refuse a controller that
    /// sets them on an empty slot.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Status: u8 {
        /// A DIMM is plugged in the slot.
        const ENABLED = 1 << 0;
        /// An insert event is pending.
        const INSERT = 1 << 1;
        /// A remove event is pending.
        const REMOVE = 1 << 2;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// The control register (`+0x14`, write): one command per write.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Control: u8 {
        const CLEAR_INSERT = 1 << 1;
        const CLEAR_REMOVE = 1 << 2;
        const EJECT = 1 << 3;
    }
}

/// ACPI _OST event codes and status (ACPI 6.x, table "_OST Source Event Codes"): what the guest reports back.
pub const OST_EVENT_INSERT: u32 = 0x01;
pub const OST_EVENT_EJECT: u32 = 0x03;
pub const OST_SUCCESS: u32 = 0x00;
pub const OST_FAILURE: u32 = 0x01;

/// One slot as the controller reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub slot: u32,
    pub addr: u64,
    pub size: u64,
    pub pxm: u32,
    pub status: Status,
}

impl Slot {
    pub fn enabled(&self) -> bool {
        self.status.contains(Status::ENABLED)
    }
}

fn read32(off: u16) -> u32 {
    let mut p: Port<u32> = Port::new(BASE + off);
    // SAFETY: ports 0xa00-0xa17 are QEMU's memory hotplug registers (module documentation); reading them has no
    // side effect beyond returning the selected slot's state, and touches no guest memory.
    unsafe { p.read() }
}

fn read8(off: u16) -> u8 {
    let mut p: Port<u8> = Port::new(BASE + off);
    // SAFETY: as in `read32`.
    unsafe { p.read() }
}

fn write32(off: u16, v: u32) {
    let mut p: Port<u32> = Port::new(BASE + off);
    // SAFETY: writes to the selector and _OST registers only change which slot is selected or what QEMU records
    // of the guest's answer; no guest memory is touched (module documentation).
    unsafe { p.write(v) }
}

fn write8(off: u16, v: u8) {
    let mut p: Port<u8> = Port::new(BASE + off);
    // SAFETY: the control register clears event bits or ejects the selected DIMM; the caller ejects only a DIMM
    // whose memory the kernel no longer uses (see `eject`).
    unsafe { p.write(v) }
}

/// Reads slot `slot`; `None` beyond the last slot (all ones).
pub fn read_slot(slot: u32) -> Option<Slot> {
    write32(REG_SELECT, slot);
    let lo = read32(REG_ADDR_LO);
    let hi = read32(REG_ADDR_HI);
    let slo = read32(REG_SIZE_LO);
    let shi = read32(REG_SIZE_HI);
    let pxm = read32(REG_PXM);
    let status = read8(REG_STATUS);
    if lo == u32::MAX && hi == u32::MAX && slo == u32::MAX && shi == u32::MAX && status == 0xff {
        return None;
    }
    Some(Slot {
        slot,
        addr: (hi as u64) << 32 | lo as u64,
        size: (shi as u64) << 32 | slo as u64,
        pxm,
        status: Status::from_bits_retain(status),
    })
}

/// The controller's slots up to [`MAX_SLOTS`] (empty ones included: see the module documentation on the slot
/// count), or `None` when there is no controller (no `slots=`/`maxmem=`, or not QEMU): slot 0 must read as a slot
/// (not all ones), and an empty slot must report address, size and status 0.
pub fn probe() -> Option<Vec<Slot>> {
    let mut slots = Vec::new();
    for s in 0..MAX_SLOTS {
        match read_slot(s) {
            Some(slot) => {
                if !slot.enabled() && (slot.addr != 0 || slot.size != 0 || !(slot.status - Status::ENABLED).is_empty())
                {
                    // An empty slot with data: not the controller we know.
                    return None;
                }
                slots.push(slot);
            }
            None => break,
        }
    }
    (!slots.is_empty()).then_some(slots)
}

/// Clears slot `slot`'s insert event and reports the insert's outcome to QEMU (_OST).
pub fn ack_insert(slot: u32, ok: bool) {
    write32(REG_SELECT, slot);
    write8(REG_CONTROL, Control::CLEAR_INSERT.bits());
    write32(REG_OST_EVENT, OST_EVENT_INSERT);
    write32(REG_OST_STATUS, if ok { OST_SUCCESS } else { OST_FAILURE });
}

/// Clears slot `slot`'s remove event without ejecting (the removal failed; `reason` went to the console).
pub fn refuse_remove(slot: u32) {
    write32(REG_SELECT, slot);
    write8(REG_CONTROL, Control::CLEAR_REMOVE.bits());
    write32(REG_OST_EVENT, OST_EVENT_EJECT);
    write32(REG_OST_STATUS, OST_FAILURE);
}

/// Ejects slot `slot`'s DIMM: QEMU unplugs it and `device_del` completes.
///
/// The caller must have taken every page of the DIMM out of use (offlined and removed); the guest must not touch
/// that memory afterwards, as it is gone.
pub fn eject(slot: u32) {
    write32(REG_SELECT, slot);
    write8(REG_CONTROL, Control::CLEAR_REMOVE.bits());
    write8(REG_CONTROL, Control::EJECT.bits());
}

/// The first slot with a pending insert (`Status::INSERT`) or remove (`Status::REMOVE`) event.
pub fn pending(event: Status) -> Option<Slot> {
    (0..MAX_SLOTS).map_while(read_slot).find(|s| s.status.intersects(event))
}
