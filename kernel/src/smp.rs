//! Secondary CPUs: their bring-up (INIT, startup, startup, as Linux's `do_boot_cpu`), and work handed to every
//! online CPU at once ([`run_on_all`]).
//!
//! Bring-up ([`bring_up`]), one CPU at a time, as Linux 6.1's `smp_init` does it: announce the CPU (`x86:
//! Booting SMP configuration:` / `.... node  #N, CPUs:  #c`), give it a per-CPU area ([`crate::percpu`]), a
//! 64 KiB kernel stack in its own virtual slot with an unmapped guard below it, a double-fault IST stack, point
//! the trampoline ([`crate::trampoline`]) at them, send INIT, wait 10 ms, send a startup IPI (and a second one
//! 200 us later if the CPU has not answered), then wait up to [`ANSWER_MS`] for it to reach its Rust entry. A CPU
//! that does not answer is named (`smpboot: do_boot_cpu failed(-1) to wakeup CPU#N` and memlab's line with its
//! APIC id) and the others go on; if it turns up later it halts. At the end: `smp: Brought up N nodes, M CPUs`.
//!
//! Work: an online secondary CPU waits in `hlt` with interrupts enabled; [`run_on_all`] publishes a job, wakes
//! every secondary CPU with a fixed IPI ([`WAKE_VECTOR`]), runs the job on the boot CPU too and returns once every
//! CPU finished it. Jobs run with interrupts disabled. After each job a secondary CPU flushes its TLB, so page
//! tables changed while it idles (hotplug, the vmemmap) never leave it a stale translation: page-table changes
//! happen only on the boot CPU, outside jobs (asserted by [`assert_no_job`]).
//!
//! # Invariants
//! - only the boot CPU calls [`bring_up`] and [`run_on_all`]; one job at a time;
//! - [`run_on_all`] does not return before every online CPU has finished the job (so the job may borrow from the
//!   caller's stack).

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use mm::smp::{Announcer, CpuSlot};

use crate::percpu::{self, state, PerCpu};
use crate::phys::PhysMem;
use crate::time::rdtsc;
use crate::{apic, print, println};

/// The wake-up IPI's vector.
pub const WAKE_VECTOR: u8 = 0xf0;
/// How long a CPU has to reach its Rust entry after its startup IPIs (Linux waits 10 s; a QEMU vCPU thread
/// answers in well under a millisecond of host time).
pub const ANSWER_MS: u64 = 2000;
/// A secondary CPU's kernel stack.
const STACK_BYTES: u64 = 64 * 1024;
/// Each CPU's virtual slot: the stack at its top, the rest (at least one page) unmapped, a guard against overflow.
const STACK_SLOT: u64 = 2 * STACK_BYTES;
/// A secondary CPU's double-fault stack.
const IST_BYTES: usize = 32 * 1024;

type Job = dyn Fn(&'static PerCpu) + Sync;

static JOB: spin::Mutex<Option<&'static Job>> = spin::Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);
static PENDING: AtomicUsize = AtomicUsize::new(0);
static DISPATCH: spin::Mutex<()> = spin::Mutex::new(());

/// What the bring-up did.
#[derive(Clone, Debug, Default)]
pub struct BringUp {
    /// CPUs online, the boot CPU included.
    pub online: u32,
    /// CPUs that did not answer: (CPU number, APIC id).
    pub failed: Vec<(u32, u32)>,
    /// Nodes online (`num_online_nodes`).
    pub nodes: u32,
    /// TSC cycles of the whole bring-up.
    pub cycles: u64,
    /// The trampoline page, if one was installed.
    pub trampoline: Option<u64>,
}

impl BringUp {
    /// `"smp":{...}` for the summary line.
    pub fn json(&self) -> String {
        let failed: Vec<String> =
            self.failed.iter().map(|(c, a)| alloc::format!("{{\"cpu\":{},\"apic_id\":{}}}", c, a)).collect();
        alloc::format!(
            "{{\"online\":{},\"nodes\":{},\"failed\":[{}],\"cycles\":{}}}",
            self.online,
            self.nodes,
            failed.join(","),
            self.cycles
        )
    }
}

fn delay_us(khz: u64, us: u64) {
    let until = rdtsc() + khz * us / 1000;
    while rdtsc() < until {
        core::hint::spin_loop();
    }
}

/// The virtual base of the CPU stack slots: a free level-4 entry of the upper half (Linux's cpu_entry_area
/// entry, 0xfffffe0000000000, when free), away from the vmemmap's.
fn stack_region(phys: &PhysMem) -> Option<u64> {
    let vmemmap = crate::model::VMEMMAP_BASE.get().copied();
    (256u64..=508).rev().map(|i| 0xffff_0000_0000_0000 | (i << 39)).find(|&b| {
        let clear_of_vmemmap = vmemmap.map_or(true, |v| b + (1 << 39) <= v || b >= v + crate::model::VMEMMAP_SIZE);
        clear_of_vmemmap && crate::paging::p4_free(phys.offset(), b, 1 << 39)
    })
}

/// CPU `cpu`'s kernel stack `[start, end)`: heap memory mapped at the top of the CPU's slot.
fn map_stack(phys: &PhysMem, base: u64, cpu: u32) -> Result<(u64, u64), String> {
    let layout = core::alloc::Layout::from_size_align(STACK_BYTES as usize, 4096).map_err(|_| "stack layout")?;
    // SAFETY: the layout has a non-zero size; the memory is leaked: from here on only the CPU's stack mapping
    // uses it.
    let mem = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if mem.is_null() {
        return Err(String::from("no heap memory for a CPU stack"));
    }
    let pa = (mem as u64).checked_sub(phys.offset()).ok_or("a heap address below the physical mapping")?;
    let top = base + (u64::from(cpu) + 1) * STACK_SLOT;
    let start = top - STACK_BYTES;
    crate::paging::map_at(phys.offset(), start, pa, STACK_BYTES, &mut || crate::paging::heap_frame(phys.offset()))
        .map_err(|e| alloc::format!("mapping CPU {}'s stack: {}", cpu, e))?;
    Ok((start, top))
}

/// Starts the secondary CPUs of `cpus` (CPU 0 is the boot CPU, already running) with the trampoline in the
/// reserved pages at `trampoline` (physical; `None`: no sub-1 MiB memory, the boot CPU alone). `possible_cpus`
/// and `possible_nodes` set the announcement's widths; `memory_nodes` are the nodes with memory (online nodes are
/// those and the nodes of `cpus`). `nostart`: the APIC id that gets no startup IPI (fault injection).
pub fn bring_up(
    phys: &PhysMem,
    trampoline: Option<u64>,
    cpus: &[CpuSlot],
    possible_cpus: u32,
    possible_nodes: u32,
    memory_nodes: &[u32],
    nostart: Option<u32>,
) -> BringUp {
    let t0 = rdtsc();
    let mut nodes: Vec<u32> = memory_nodes.iter().copied().chain(cpus.iter().map(|c| c.node)).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut out = BringUp { online: 1, nodes: nodes.len() as u32, ..BringUp::default() };
    println!("smp: Bringing up secondary CPUs ...");
    let secondaries = cpus.get(1..).unwrap_or(&[]);
    let ready = match (secondaries.is_empty(), trampoline) {
        (true, _) => None,
        (false, None) => {
            println!("memlab: smp: no sub-1M memory for the trampoline; the boot CPU runs alone");
            None
        }
        (false, Some(page)) => match crate::trampoline::install(phys, page, ap_entry) {
            Ok(t) => match stack_region(phys) {
                Some(base) => Some((t, base)),
                None => {
                    println!("memlab: smp: no free level-4 entry for CPU stacks; the boot CPU runs alone");
                    None
                }
            },
            Err(e) => {
                println!("memlab: smp: {}; the boot CPU runs alone", e);
                None
            }
        },
    };
    if let Some((tramp, base)) = ready {
        out.trampoline = Some(tramp.page);
        let (khz, _) = crate::time::tsc_khz_or_calibrate();
        let mut announce = Announcer::new(possible_cpus, possible_nodes);
        for slot in secondaries {
            print!("{}", announce.announce(slot.cpu, slot.node));
            let started = start_cpu(phys, &tramp, base, slot, khz, nostart == Some(slot.apic_id));
            match started {
                Ok(()) => out.online += 1,
                Err(why) => {
                    print!("{}", announce.close());
                    println!("smpboot: do_boot_cpu failed(-1) to wakeup CPU#{}", slot.cpu);
                    println!(
                        "memlab: smp: CPU#{} (APIC id {}, node {}) {}; going on without it",
                        slot.cpu, slot.apic_id, slot.node, why
                    );
                    out.failed.push((slot.cpu, slot.apic_id));
                }
            }
        }
        print!("{}", announce.close());
    }
    println!("{}", mm::smp::brought_up_line(out.nodes, out.online));
    // One line per CPU: the topology `memlab diff` sizes Linux's per-CPU lists with.
    let online: Vec<u32> = percpu::online().iter().map(|c| c.cpu).collect();
    for slot in cpus {
        let online = online.contains(&slot.cpu);
        println!(
            "memlab: smp: CPU#{}: APIC id {}, node {}, {}",
            slot.cpu,
            slot.apic_id,
            slot.node,
            if online { "online" } else { "offline" }
        );
    }
    out.cycles = rdtsc() - t0;
    out
}

/// Starts one CPU and waits for it; `Err` says why it is not online.
fn start_cpu(
    phys: &PhysMem,
    tramp: &crate::trampoline::Trampoline,
    base: u64,
    slot: &CpuSlot,
    khz: u64,
    no_startup: bool,
) -> Result<(), String> {
    let stack = map_stack(phys, base, slot.cpu)?;
    let ist = alloc::vec![0u8; IST_BYTES].leak();
    let ist = (ist.as_ptr() as u64, ist.as_ptr() as u64 + IST_BYTES as u64);
    let p = percpu::new_cpu(slot.cpu, slot.apic_id, slot.node, ist, stack);
    tramp.prepare(stack.1, p as *const PerCpu as u64);
    apic::send_init(slot.apic_id);
    delay_us(khz, 10_000);
    let answered = |p: &PerCpu| p.state.load(Ordering::Acquire) != state::WAITING;
    if !no_startup {
        apic::send_startup(slot.apic_id, tramp.vector());
        delay_us(khz, 200);
        if !answered(p) {
            apic::send_startup(slot.apic_id, tramp.vector());
        }
    }
    let deadline = rdtsc() + khz * ANSWER_MS;
    while !answered(p) && rdtsc() < deadline {
        core::hint::spin_loop();
    }
    // Whoever moves the state first wins: the CPU (online) or this timeout (abandoned).
    match p.state.compare_exchange(state::WAITING, state::ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Err(alloc::format!("did not answer in {} ms", ANSWER_MS)),
        Err(_) => Ok(()),
    }
}

/// A secondary CPU's Rust entry (from the trampoline, on its own stack, interrupts disabled).
extern "C" fn ap_entry(arg: u64) -> ! {
    // SAFETY: `arg` is the address of the `'static` `PerCpu` the boot CPU made for this CPU (`start_cpu`).
    let p: &'static PerCpu = unsafe { &*(arg as *const PerCpu) };
    percpu::install(p);
    crate::gdt::init_secondary(p.ist);
    crate::interrupts::load();
    apic::enable();
    if p.state.compare_exchange(state::WAITING, state::ONLINE, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // Too late: the boot CPU went on without this CPU.
        crate::exit::halt_forever();
    }
    idle(p)
}

/// Waits for jobs (`hlt` between them) and runs each once.
fn idle(p: &'static PerCpu) -> ! {
    let mut seen = GENERATION.load(Ordering::Acquire);
    loop {
        x86_64::instructions::interrupts::disable();
        let g = GENERATION.load(Ordering::Acquire);
        if g != seen {
            seen = g;
            let job = *JOB.lock();
            if let Some(job) = job {
                job(p);
            }
            x86_64::instructions::tlb::flush_all();
            PENDING.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        // `sti; hlt`: a wake-up IPI arriving after the check above still ends the `hlt`.
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// Runs `job` on every online CPU at once (the boot CPU included, each with its own `PerCpu`) and returns when
/// all have finished.
pub fn run_on_all<'a>(job: &'a (dyn Fn(&'static PerCpu) + Sync + 'a)) {
    let me = percpu::current();
    assert_eq!(me.cpu, 0, "only the boot CPU hands out work");
    let _one = DISPATCH.lock();
    let others: Vec<&PerCpu> = percpu::online().into_iter().filter(|c| c.cpu != 0).collect();
    if others.is_empty() {
        job(me);
        return;
    }
    // SAFETY: only the lifetime is erased. This function does not return before every CPU that may call the job
    // has finished it (PENDING back at 0), and it empties the slot before returning, so no CPU uses the
    // reference after the borrow ends.
    let job_static: &'static Job =
        unsafe { core::mem::transmute::<&'a (dyn Fn(&'static PerCpu) + Sync + 'a), &'static Job>(job) };
    *JOB.lock() = Some(job_static);
    PENDING.store(others.len(), Ordering::Release);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    for c in &others {
        apic::send_fixed(c.apic_id.load(Ordering::Relaxed), WAKE_VECTOR);
    }
    job(me);
    while PENDING.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
    *JOB.lock() = None;
}

/// Panics if a job runs on the secondary CPUs: a page-table change now would need a TLB shootdown.
pub fn assert_no_job() {
    assert_eq!(PENDING.load(Ordering::Acquire), 0, "page tables changed while secondary CPUs run a job");
}
