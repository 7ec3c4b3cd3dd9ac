//! The secondary CPUs: every CPU the boot planned is online or named as failed, each runs on its own stack (the
//! guard page below it unmapped), GDT, TSS and per-CPU area, and jobs reach every online CPU at once.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::selftest::TestResult;
use crate::{check, check_eq, facts::get as facts};

/// What one CPU saw while running a job.
#[derive(Clone, Copy, Debug)]
struct Seen {
    cpu: u32,
    apic_id: u32,
    rsp: u64,
    gdt_base: u64,
    tr: u16,
}

pub(super) fn smp_cpus_online() -> TestResult {
    let f = facts();
    let online = crate::percpu::online();
    check_eq!(online.len() as u32, f.smp.online);
    check_eq!(f.smp.online as usize + f.smp.failed.len(), f.plan.len());
    for c in &online {
        let slot = f.plan.iter().find(|s| s.cpu == c.cpu).ok_or("an online CPU the plan does not name")?;
        check_eq!(c.apic_id.load(Ordering::Relaxed), slot.apic_id);
        check_eq!(c.node.load(Ordering::Relaxed), slot.node);
    }
    let seen = spin::Mutex::new(Vec::new());
    crate::smp::run_on_all(&|me| {
        let marker = 0u8;
        let rsp = core::hint::black_box(&raw const marker) as u64;
        let gdt = x86_64::instructions::tables::sgdt();
        let tr = crate::gdt::task_register();
        seen.lock().push(Seen { cpu: me.cpu, apic_id: crate::apic::id(), rsp, gdt_base: gdt.base.as_u64(), tr });
    });
    let mut seen = seen.into_inner();
    seen.sort_by_key(|s| s.cpu);
    check_eq!(seen.len(), online.len());
    let offset = f.phys.offset();
    for (s, c) in seen.iter().zip(&online) {
        check_eq!(s.cpu, c.cpu);
        check_eq!(s.apic_id, c.apic_id.load(Ordering::Relaxed));
        check!(s.tr != 0, "CPU {} has no TSS loaded", s.cpu);
        if s.cpu != 0 {
            let (lo, hi) = c.stack;
            check!(
                lo <= s.rsp && s.rsp < hi,
                "CPU {} runs on {:#x}, not its stack [{:#x}, {:#x})",
                s.cpu,
                s.rsp,
                lo,
                hi
            );
            check!(
                crate::paging::translate(offset, lo - 4096).is_none(),
                "CPU {}'s guard page below {:#x} is mapped",
                s.cpu,
                lo
            );
        }
    }
    let mut bases: Vec<u64> = seen.iter().map(|s| s.gdt_base).collect();
    bases.sort_unstable();
    bases.dedup();
    check_eq!(bases.len(), seen.len());
    Ok(())
}

/// Every CPU adds to one atomic counter and to one lock-protected plain counter, interleaved: both totals exact.
pub(super) fn smp_shared_counters() -> TestResult {
    const ADDS: u64 = 200_000;
    let atomic = AtomicU64::new(0);
    let locked = spin::Mutex::new(0u64);
    let cpus = crate::percpu::online().len() as u64;
    crate::smp::run_on_all(&|_| {
        for i in 0..ADDS {
            atomic.fetch_add(1, Ordering::Relaxed);
            if i % 4 == 0 {
                *locked.lock() += 1;
            }
        }
    });
    check_eq!(atomic.load(Ordering::Relaxed), cpus * ADDS);
    check_eq!(locked.into_inner(), cpus * ADDS / 4);
    Ok(())
}
