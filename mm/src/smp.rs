//! The CPUs the kernel brings up, the low pages their real-mode start needs, and Linux's lines about both: pure
//! functions the kernel runs and the host tests.
//!
//! - [`reserve_real_mode`]: where the AP trampoline goes, as Linux 6.1's `reserve_real_mode`
//!   (arch/x86/realmode/init.c) allocates it: top-down from memblock below 1 MiB, whole pages, never a reserved
//!   page. A startup IPI can only start a CPU at a page below 1 MiB (its vector is the page number).
//! - [`number_cpus`]: Linux's CPU numbers (the boot CPU is CPU 0, `generic_processor_info`; the others in MADT
//!   order) and each CPU's node from the SRAT's processor affinity (`numa_cpu_node`; node 0 without one, or with
//!   `numa=off`), at most `maxcpus=` of them.
//! - [`Announcer`]: the lines `smp_init` and `announce_cpu` (arch/x86/kernel/smpboot.c, 6.1) print while CPUs
//!   come up, and [`brought_up_line`].
//!
//! # Invariants
//! - the trampoline range lies in memblock.memory, below 1 MiB, and overlaps no reservation;
//! - CPU 0 is the boot CPU; CPU numbers are dense; every CPU's node is a node id the caller gave.

use alloc::string::String;
use alloc::vec::Vec;

use crate::acpi::MadtCpu;
use crate::layout::Layout;

/// The first pfn a startup IPI cannot reach (1 MiB).
pub const REAL_MODE_LIMIT_PFN: u64 = 0x100;

/// `reserve_real_mode`: the first pfn of the highest run of `pages` pfns below 1 MiB that are RAM in
/// `layout.memory` and in no `layout.reserved` range (pfn 0 is never used: Linux reserves it first). `None` when
/// no such run exists (Linux: `No sub-1M memory is available for the trampoline`).
pub fn reserve_real_mode(layout: &Layout, pages: u64) -> Option<u64> {
    if pages == 0 {
        return None;
    }
    let reserved = |pfn: u64| layout.reserved.iter().any(|r| r.start_pfn <= pfn && pfn < r.end_pfn);
    let ram = |pfn: u64| layout.memory.iter().any(|m| m.start_pfn <= pfn && pfn < m.end_pfn);
    // Top-down, as memblock allocates by default: the run ending highest below the limit.
    let mut run = 0;
    for pfn in (1..REAL_MODE_LIMIT_PFN).rev() {
        if ram(pfn) && !reserved(pfn) {
            run += 1;
            if run == pages {
                return Some(pfn);
            }
        } else {
            run = 0;
        }
    }
    None
}

/// One CPU the kernel brings up (or tries to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSlot {
    /// Linux's CPU number (0: the boot CPU).
    pub cpu: u32,
    pub apic_id: u32,
    /// The NUMA node (Linux's numbering).
    pub node: u32,
}

/// The CPUs to bring up: the boot CPU (APIC id `boot_apic`) as CPU 0, then the other `present` CPUs in table
/// order, `boot_cpus` in all (`maxcpus=`; at least the boot CPU). `cpu_nodes` holds the SRAT's `(APIC id, node)`
/// pairs (empty: every CPU on node 0). A boot CPU missing from `present` (no MADT, a malformed one) is CPU 0
/// alone with the others as listed.
pub fn number_cpus(present: &[MadtCpu], boot_apic: u32, boot_cpus: u32, cpu_nodes: &[(u32, u32)]) -> Vec<CpuSlot> {
    let node = |apic: u32| cpu_nodes.iter().find(|&&(a, _)| a == apic).map_or(0, |&(_, n)| n);
    let mut out = alloc::vec![CpuSlot { cpu: 0, apic_id: boot_apic, node: node(boot_apic) }];
    for c in present.iter().filter(|c| c.enabled && c.apic_id != boot_apic) {
        if out.len() as u32 >= boot_cpus.max(1) {
            break;
        }
        out.push(CpuSlot { cpu: out.len() as u32, apic_id: c.apic_id, node: node(c.apic_id) });
    }
    out
}

/// Decimal digits of `n` (`num_digits`).
fn num_digits(n: u32) -> usize {
    let mut d = 1;
    let mut v = n / 10;
    while v > 0 {
        d += 1;
        v /= 10;
    }
    d
}

/// Linux's `announce_cpu`, one CPU at a time: `x86: Booting SMP configuration:` before CPU 1, then `.... node
/// #N, CPUs:` lines continued with ` #cpu` for each CPU of that node, widths from the possible CPUs and nodes.
#[derive(Clone, Debug)]
pub struct Announcer {
    width: usize,
    node_width: usize,
    current: Option<u32>,
    open: bool,
}

impl Announcer {
    /// For `possible_cpus` possible CPUs and `possible_nodes` possible nodes.
    pub fn new(possible_cpus: u32, possible_nodes: u32) -> Self {
        Announcer {
            width: num_digits(possible_cpus) + 1,
            node_width: num_digits(possible_nodes) + 1,
            current: None,
            open: false,
        }
    }

    /// The text to print (with `print!`, no newline added) before CPU `cpu` of node `node` is started.
    pub fn announce(&mut self, cpu: u32, node: u32) -> String {
        let mut s = String::new();
        if cpu == 1 {
            s.push_str("x86: Booting SMP configuration:\n");
        }
        if self.current != Some(node) {
            if self.open {
                s.push('\n');
            }
            self.current = Some(node);
            let pad = self.node_width.saturating_sub(num_digits(node)).max(1);
            s.push_str(&alloc::format!(".... node {:>pad$}#{}, CPUs:  ", "", node, pad = pad));
        }
        if cpu == 1 {
            s.push_str(&alloc::format!("{:>w$}", "", w = self.width + 1));
        }
        let pad = self.width.saturating_sub(num_digits(cpu)).max(1);
        s.push_str(&alloc::format!("{:>pad$}#{}", "", cpu, pad = pad));
        self.open = true;
        s
    }

    /// Ends the open line before a line of another kind (an error) or at the end: `"\n"` or nothing. The next
    /// [`announce`](Self::announce) starts a new `.... node` line.
    pub fn close(&mut self) -> &'static str {
        let was = self.open;
        self.open = false;
        self.current = None;
        if was {
            "\n"
        } else {
            ""
        }
    }
}

/// `smp: Brought up N node(s), M CPU(s)` (kernel/smp.c `smp_init`).
pub fn brought_up_line(nodes: u32, cpus: u32) -> String {
    alloc::format!(
        "smp: Brought up {} node{}, {} CPU{}",
        nodes,
        if nodes > 1 { "s" } else { "" },
        cpus,
        if cpus > 1 { "s" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{MemRange, Reservation, ReserveReason};

    fn cpu(apic_id: u32, enabled: bool) -> MadtCpu {
        MadtCpu { apic_id, processor_uid: apic_id, enabled, x2apic: false }
    }

    fn layout(memory: &[(u64, u64)], reserved: &[(u64, u64)]) -> Layout {
        Layout {
            memory: memory.iter().map(|&(s, e)| MemRange { start_pfn: s, end_pfn: e, nid: 0 }).collect(),
            reserved: reserved
                .iter()
                .map(|&(s, e)| Reservation { start_pfn: s, end_pfn: e, reason: ReserveReason::Other("x") })
                .collect(),
            ..Layout::default()
        }
    }

    #[test]
    fn trampoline_goes_top_down_below_1m() {
        // SeaBIOS: RAM pfns 1..0x9f (0x9f000-0x9fbff is not a whole page), then from 1 MiB.
        let l = layout(&[(1, 0x9f), (0x100, 0x40000)], &[]);
        assert_eq!(reserve_real_mode(&l, 4), Some(0x9b));
        assert_eq!(reserve_real_mode(&l, 0x9e), Some(1));
        assert_eq!(reserve_real_mode(&l, 0x9f), None);
        // A reservation splits the run: the highest run of 4 below it.
        let l = layout(&[(1, 0xa0)], &[(0x9d, 0x9e)]);
        assert_eq!(reserve_real_mode(&l, 2), Some(0x9e));
        assert_eq!(reserve_real_mode(&l, 3), Some(0x9a));
        // Pfn 0 is never taken; no RAM below 1 MiB is no trampoline.
        assert_eq!(reserve_real_mode(&layout(&[(0, 4)], &[]), 4), None);
        assert_eq!(reserve_real_mode(&layout(&[(0x100, 0x200)], &[]), 1), None);
        assert_eq!(reserve_real_mode(&layout(&[(1, 0x9f)], &[]), 0), None);
    }

    #[test]
    fn cpus_are_numbered_boot_cpu_first_with_their_nodes() {
        let present = [cpu(0, true), cpu(1, true), cpu(2, false), cpu(3, true)];
        let nodes = [(0, 1), (1, 0), (3, 1)];
        let v = number_cpus(&present, 1, 8, &nodes);
        assert_eq!(
            v,
            [
                CpuSlot { cpu: 0, apic_id: 1, node: 0 },
                CpuSlot { cpu: 1, apic_id: 0, node: 1 },
                CpuSlot { cpu: 2, apic_id: 3, node: 1 },
            ]
        );
        // maxcpus=2: the boot CPU and one more; maxcpus=0 (boot_cpus 0): the boot CPU alone.
        assert_eq!(number_cpus(&present, 0, 2, &[]).len(), 2);
        assert_eq!(number_cpus(&present, 0, 0, &[]), [CpuSlot { cpu: 0, apic_id: 0, node: 0 }]);
        // No MADT: the boot CPU alone.
        assert_eq!(number_cpus(&[], 5, 4, &[(5, 2)]), [CpuSlot { cpu: 0, apic_id: 5, node: 2 }]);
    }

    #[test]
    fn announce_lines_are_linuxs() {
        // Debian's 6.1 on q35, two nodes, -smp 2 (shared/reference boot log).
        let mut a = Announcer::new(2, 2);
        let s = alloc::format!("{}{}", a.announce(1, 1), a.close());
        assert_eq!(s, "x86: Booting SMP configuration:\n.... node  #1, CPUs:      #1\n");
        // Two CPUs per node, four CPUs (node-in-section).
        let mut a = Announcer::new(4, 2);
        let s = alloc::format!("{}{}{}{}", a.announce(1, 0), a.announce(2, 1), a.announce(3, 1), a.close());
        assert_eq!(s, "x86: Booting SMP configuration:\n.... node  #0, CPUs:      #1\n.... node  #1, CPUs:   #2 #3\n");
        // Widths grow with the possible counts: 16 CPUs, 10 nodes.
        let mut a = Announcer::new(16, 10);
        assert_eq!(a.announce(1, 0), "x86: Booting SMP configuration:\n.... node   #0, CPUs:        #1");
        assert_eq!(a.announce(12, 0), " #12");
        assert_eq!(a.announce(13, 9), "\n.... node   #9, CPUs:   #13");
        // Nothing announced: nothing to close.
        assert_eq!(Announcer::new(1, 1).close(), "");
    }

    #[test]
    fn brought_up_line_plurals() {
        assert_eq!(brought_up_line(1, 1), "smp: Brought up 1 node, 1 CPU");
        assert_eq!(brought_up_line(2, 2), "smp: Brought up 2 nodes, 2 CPUs");
        assert_eq!(brought_up_line(1, 4), "smp: Brought up 1 node, 4 CPUs");
    }
}
