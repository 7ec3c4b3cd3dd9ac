//! The MADT (signature "APIC"): the CPUs the firmware describes, as Linux's `acpi_parse_madt_lapic_entries`
//! reads them (arch/x86/kernel/acpi/boot.c): processor local APIC entries (type 0) and local x2APIC entries
//! (type 9). Other entries (I/O APICs, interrupt overrides, NMI sources) are skipped by their length.
//!
//! A CPU is started when its entry is enabled. A disabled entry is a hotplug CPU (Linux counts it in
//! `disabled_cpus`, "Allowing N CPUs, K hotplug CPUs") unless the MADT is of revision 5 or later and the entry is
//! not *online capable* (`acpi_is_processor_usable`, aa06e20f1be6, v5.17); an xAPIC entry with APIC id 0xff is
//! invalid and ignored (`acpi_parse_lapic`). Entry framing (a zero length, an entry past the end) is checked as for the SRAT.

use alloc::vec::Vec;

use super::srat::walk_entries;
use super::{array, le32, validate_sdt, AcpiError, Table, MADT, SDT_HEADER_LEN};

/// Bytes of the MADT before its first entry: the header, the local APIC address (u32) and the flags (u32).
pub const MADT_ENTRIES_OFFSET: usize = SDT_HEADER_LEN + 8;
/// Entries one MADT may hold here.
pub const MAX_MADT_ENTRIES: usize = 16384;
/// Size of a processor local APIC structure (MADT type 0).
pub const MADT_LAPIC_LEN: u8 = 8;
/// Size of a processor local x2APIC structure (MADT type 9).
pub const MADT_X2APIC_LEN: u8 = 16;

bitflags::bitflags! {
    /// The flags of a MADT processor entry (ACPI 6.5, table 5.23).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct LapicFlags: u32 {
        /// The processor is ready for use.
        const ENABLED = 1 << 0;
        /// A disabled processor that may be brought online later (MADT revision >= 5).
        const ONLINE_CAPABLE = 1 << 1;
        const _ = !0;
    }
}

/// One MADT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadtEntry {
    /// Type 0: processor local APIC.
    LocalApic { processor_uid: u8, apic_id: u8, flags: LapicFlags },
    /// Type 9: processor local x2APIC.
    X2Apic { x2apic_id: u32, flags: LapicFlags, processor_uid: u32 },
    /// Any other type, skipped by its length.
    Other { entry_type: u8, length: u8 },
}

/// A parsed MADT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Madt {
    pub revision: u8,
    /// The physical address of every CPU's local APIC (xAPIC mode).
    pub local_apic_addr: u32,
    /// Bit 0: PCAT_COMPAT (the machine also has 8259 PICs).
    pub flags: u32,
    pub entries: Vec<MadtEntry>,
}

/// One CPU the MADT describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MadtCpu {
    pub apic_id: u32,
    pub processor_uid: u32,
    /// Enabled at boot (else online capable: a hotplug CPU).
    pub enabled: bool,
    /// The x2APIC entry type.
    pub x2apic: bool,
}

impl Madt {
    /// The usable CPUs in table order: enabled ones, and disabled ones (hotplug CPUs, not enabled) unless the
    /// table is of revision 5 or later and they are not online capable; invalid xAPIC ids (0xff) are left out.
    pub fn cpus(&self) -> Vec<MadtCpu> {
        let usable = |f: LapicFlags| {
            f.contains(LapicFlags::ENABLED) || self.revision < 5 || f.contains(LapicFlags::ONLINE_CAPABLE)
        };
        self.entries
            .iter()
            .filter_map(|e| match *e {
                MadtEntry::LocalApic { processor_uid, apic_id, flags } if apic_id != 0xff && usable(flags) => {
                    Some(MadtCpu {
                        apic_id: u32::from(apic_id),
                        processor_uid: u32::from(processor_uid),
                        enabled: flags.contains(LapicFlags::ENABLED),
                        x2apic: false,
                    })
                }
                MadtEntry::X2Apic { x2apic_id, flags, processor_uid } if usable(flags) => Some(MadtCpu {
                    apic_id: x2apic_id,
                    processor_uid,
                    enabled: flags.contains(LapicFlags::ENABLED),
                    x2apic: true,
                }),
                _ => None,
            })
            .collect()
    }

    /// The table as bytes with a correct checksum (for tests and fuzz seeds); `Other` entries are written as
    /// their type and length followed by zeros (length at least 2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MADT);
        b.extend_from_slice(&[0; 4]);
        b.push(self.revision);
        b.push(0);
        b.extend_from_slice(b"MEMLAB");
        b.extend_from_slice(b"MEMLABMA");
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(&self.local_apic_addr.to_le_bytes());
        b.extend_from_slice(&self.flags.to_le_bytes());
        for e in &self.entries {
            match *e {
                MadtEntry::LocalApic { processor_uid, apic_id, flags } => {
                    b.extend_from_slice(&[0, MADT_LAPIC_LEN, processor_uid, apic_id]);
                    b.extend_from_slice(&flags.bits().to_le_bytes());
                }
                MadtEntry::X2Apic { x2apic_id, flags, processor_uid } => {
                    b.extend_from_slice(&[9, MADT_X2APIC_LEN, 0, 0]);
                    b.extend_from_slice(&x2apic_id.to_le_bytes());
                    b.extend_from_slice(&flags.bits().to_le_bytes());
                    b.extend_from_slice(&processor_uid.to_le_bytes());
                }
                MadtEntry::Other { entry_type, length } => {
                    let length = length.max(2);
                    b.extend_from_slice(&[entry_type, length]);
                    b.extend(core::iter::repeat_n(0, usize::from(length) - 2));
                }
            }
        }
        super::finish_sdt(&mut b);
        b
    }
}

/// What x86 Linux makes of the MADT's CPUs and the `nr_cpus=` / `maxcpus=` options (arch/x86/kernel/smpboot.c
/// `prefill_possible_map`, apic.c `generic_processor_info`, 6.1; CONFIG_HOTPLUG_CPU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpConfig {
    /// Enabled CPUs registered, in table order (at most `nr_cpu_ids`).
    pub present: Vec<MadtCpu>,
    /// Linux's warnings, in order: an enabled CPU beyond `nr_cpu_ids` (`APIC: NR_CPUS/possible_cpus limit of N
    /// reached. Processor I/0xID ignored.`), and `N Processors exceeds NR_CPUS limit of M`.
    pub warnings: Vec<alloc::string::String>,
    /// `disabled_cpus`: disabled entries and ignored CPUs.
    pub disabled: u32,
    /// Possible CPUs (`Allowing N CPUs`).
    pub possible: u32,
    /// CPUs brought up at boot (`maxcpus=`, at most the present ones, at least the boot CPU).
    pub boot_cpus: u32,
}

impl SmpConfig {
    /// Linux's line: `smpboot: Allowing N CPUs, K hotplug CPUs`.
    pub fn allowing_line(&self) -> alloc::string::String {
        let hotplug = self.possible.saturating_sub(self.present.len() as u32);
        alloc::format!("smpboot: Allowing {} CPUs, {} hotplug CPUs", self.possible, hotplug)
    }
}

/// The CPUs Linux would register and allow from `cpus` (as [`Madt::cpus`] lists them) under `nr_cpus=` and
/// `maxcpus=`: enabled CPUs register until `nr_cpu_ids` are, the rest are ignored with a warning and counted as
/// disabled; possible = registered + disabled (only the registered with `maxcpus=0`), clamped to `nr_cpu_ids`
/// with a warning.
pub fn smp_config(cpus: &[MadtCpu], nr_cpus: Option<u32>, maxcpus: Option<u32>) -> SmpConfig {
    let nr_cpu_ids = nr_cpus.unwrap_or(u32::MAX).max(1);
    let (mut present, mut warnings, mut disabled) = (Vec::new(), Vec::new(), 0u32);
    for c in cpus {
        if !c.enabled {
            disabled += 1;
        } else if (present.len() as u32) < nr_cpu_ids {
            present.push(*c);
        } else {
            warnings.push(alloc::format!(
                "APIC: NR_CPUS/possible_cpus limit of {} reached. Processor {}/{:#x} ignored.",
                nr_cpu_ids,
                nr_cpu_ids + disabled,
                c.apic_id
            ));
            disabled += 1;
        }
    }
    let n = present.len() as u32;
    let mut possible = if maxcpus == Some(0) { n } else { n + disabled };
    if possible > nr_cpu_ids {
        warnings.push(alloc::format!("{} Processors exceeds NR_CPUS limit of {}", possible, nr_cpu_ids));
        possible = nr_cpu_ids;
    }
    let boot_cpus = maxcpus.map_or(n, |m| m.max(1).min(n));
    SmpConfig { present, warnings, disabled, possible, boot_cpus }
}

/// Parses a whole MADT (header included). Bytes after the table's length field are ignored.
pub fn parse_madt(bytes: &[u8]) -> Result<Madt, AcpiError> {
    parse_madt_at(bytes, None)
}

pub(super) fn parse_madt_at(bytes: &[u8], addr: Option<u64>) -> Result<Madt, AcpiError> {
    let t = validate_sdt(bytes, Some(MADT), addr)?;
    let table = Table::Sdt(MADT);
    let length = u32::try_from(t.len()).unwrap_or(u32::MAX);
    let too_small = AcpiError::LengthTooSmall { table, addr, length, min: MADT_ENTRIES_OFFSET };
    let revision = t.get(8).copied().ok_or(too_small)?;
    let local_apic_addr = le32(t, SDT_HEADER_LEN).ok_or(too_small)?;
    let flags = le32(t, SDT_HEADER_LEN + 4).ok_or(too_small)?;
    let mut entries = Vec::new();
    walk_entries(t, MADT_ENTRIES_OFFSET, table, MAX_MADT_ENTRIES, "MADT entries", |offset, e| {
        let entry_type = e.first().copied().unwrap_or(0);
        let length = e.get(1).copied().unwrap_or(0);
        let bad = |expected| AcpiError::BadEntryLength { table, offset, entry_type, length, expected };
        entries.push(match entry_type {
            0 => {
                // Linux's BAD_MADT_ENTRY: shorter than the structure is an error.
                let [uid, id] = array::<2>(e, 2).ok_or(bad(MADT_LAPIC_LEN))?;
                let flags = le32(e, 4).ok_or(bad(MADT_LAPIC_LEN))?;
                MadtEntry::LocalApic { processor_uid: uid, apic_id: id, flags: LapicFlags::from_bits_retain(flags) }
            }
            9 => {
                let f = |off| le32(e, off).ok_or(bad(MADT_X2APIC_LEN));
                MadtEntry::X2Apic {
                    x2apic_id: f(4)?,
                    flags: LapicFlags::from_bits_retain(f(8)?),
                    processor_uid: f(12)?,
                }
            }
            _ => MadtEntry::Other { entry_type, length },
        });
        Ok(())
    })?;
    Ok(Madt { revision, local_apic_addr, flags, entries })
}

/// Finds and parses the MADT through the RSDP at `rsdp_addr`; `Ok(None)` when the root table lists none.
pub fn find_madt<R: super::PhysReader + ?Sized>(reader: &R, rsdp_addr: u64) -> Result<Option<Madt>, AcpiError> {
    match super::find_table(reader, rsdp_addr, MADT)? {
        Some((addr, bytes)) => parse_madt_at(bytes, Some(addr)).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn madt(revision: u8, entries: Vec<MadtEntry>) -> Madt {
        Madt { revision, local_apic_addr: 0xfee0_0000, flags: 1, entries }
    }
    fn lapic(id: u8, flags: LapicFlags) -> MadtEntry {
        MadtEntry::LocalApic { processor_uid: id, apic_id: id, flags }
    }

    #[test]
    fn cpus_as_linux_counts_them() {
        let m = madt(
            5,
            vec![
                lapic(0, LapicFlags::ENABLED),
                MadtEntry::Other { entry_type: 1, length: 12 },
                lapic(1, LapicFlags::ENABLED),
                lapic(2, LapicFlags::ONLINE_CAPABLE),
                lapic(3, LapicFlags::empty()),
                lapic(0xff, LapicFlags::ENABLED),
                MadtEntry::X2Apic { x2apic_id: 300, flags: LapicFlags::ENABLED, processor_uid: 300 },
            ],
        );
        let back = parse_madt(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        let cpus = back.cpus();
        assert_eq!(
            cpus.iter().map(|c| (c.apic_id, c.enabled)).collect::<Vec<_>>(),
            [(0, true), (1, true), (2, false), (300, true)]
        );
        assert!(cpus[3].x2apic);
        // Before revision 5 every disabled entry is a hotplug CPU.
        let old = madt(3, vec![lapic(0, LapicFlags::ENABLED), lapic(3, LapicFlags::empty())]);
        assert_eq!(old.cpus().iter().map(|c| (c.apic_id, c.enabled)).collect::<Vec<_>>(), [(0, true), (3, false)]);
    }

    #[test]
    fn nr_cpus_and_maxcpus_as_linux_reads_them() {
        let cpu = |apic_id, enabled| MadtCpu { apic_id, processor_uid: apic_id, enabled, x2apic: false };
        let four_of_eight: Vec<MadtCpu> = (0..8).map(|i| cpu(i, i < 4)).collect();
        let c = smp_config(&four_of_eight, None, None);
        assert_eq!((c.present.len(), c.possible, c.boot_cpus), (4, 8, 4));
        assert_eq!(c.allowing_line(), "smpboot: Allowing 8 CPUs, 4 hotplug CPUs");
        let c = smp_config(&four_of_eight, Some(2), None);
        assert_eq!((c.present.len(), c.disabled, c.possible), (2, 6, 2));
        assert_eq!(c.allowing_line(), "smpboot: Allowing 2 CPUs, 0 hotplug CPUs");
        assert_eq!(
            c.warnings,
            [
                "APIC: NR_CPUS/possible_cpus limit of 2 reached. Processor 2/0x2 ignored.",
                "APIC: NR_CPUS/possible_cpus limit of 2 reached. Processor 3/0x3 ignored.",
                "8 Processors exceeds NR_CPUS limit of 2",
            ]
        );
        let c = smp_config(&four_of_eight, None, Some(1));
        assert_eq!((c.possible, c.boot_cpus), (8, 1));
        let c = smp_config(&four_of_eight, None, Some(0));
        assert_eq!((c.possible, c.boot_cpus), (4, 1));
        assert_eq!(smp_config(&[], None, None).allowing_line(), "smpboot: Allowing 0 CPUs, 0 hotplug CPUs");
    }

    #[test]
    fn framing_errors_name_the_madt() {
        let mut b = madt(3, vec![lapic(0, LapicFlags::ENABLED)]).to_bytes();
        b[MADT_ENTRIES_OFFSET + 1] = 0;
        super::super::finish_sdt(&mut b);
        let e = parse_madt(&b).unwrap_err();
        assert_eq!(
            e,
            AcpiError::ZeroLengthEntry { table: Table::Sdt(MADT), offset: MADT_ENTRIES_OFFSET, entry_type: 0 }
        );
        assert_eq!(e.to_string(), "ACPI: APIC entry type 0 at offset 0x2c has length 0");
        // A local APIC entry of 4 bytes: framed correctly, too short for its structure.
        let b = madt(3, vec![MadtEntry::Other { entry_type: 0, length: 4 }]).to_bytes();
        assert!(matches!(parse_madt(&b), Err(AcpiError::BadEntryLength { expected: MADT_LAPIC_LEN, .. })));
        let b = madt(3, vec![]).to_bytes();
        assert!(matches!(parse_madt(&b[..40]), Err(_)));
    }
}
