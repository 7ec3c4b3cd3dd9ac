//! The GDT and the TSS: the kernel's code and data segments, and the interrupt stack table (IST) that gives the
//! double-fault handler a stack of its own.
//!
//! Why an IST stack: a kernel stack overflow runs into the guard page the bootloader leaves below the stack
//! (`BootloaderConfig::kernel_stack_size` plus one unmapped page). The page fault that follows cannot push its
//! frame on the same stack, so the CPU raises a double fault; on a separate, known-good stack the handler can
//! still report it instead of the CPU triple-faulting (QEMU would silently reset).
//!
//! Every CPU has its own GDT, TSS and double-fault stack: the boot CPU the statics here ([`init`]), a secondary
//! CPU leaked heap copies ([`init_secondary`]), as Linux gives each CPU its own GDT page and TSS.
//!
//! # Invariants
//! - [`init`] runs once, on the boot CPU, before the IDT is loaded ([`crate::interrupts::init`] relies on
//!   [`DOUBLE_FAULT_IST_INDEX`] being a valid IST slot);
//! - the GDT, TSS and IST stack are `'static` and never change after loading.

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// The IST slot of the double-fault stack.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

const IST_STACK_SIZE: usize = 32 * 1024;

/// The double-fault stack. Only the CPU writes to it (through the IST), never Rust code by reference.
#[repr(align(16))]
#[allow(dead_code)] // read and written by the CPU only
struct IstStack([u8; IST_STACK_SIZE]);
static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

/// The double-fault IST stack as addresses `[start, end)` (for the handler's report).
pub fn double_fault_stack() -> (u64, u64) {
    let start = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK).as_u64();
    (start, start + IST_STACK_SIZE as u64)
}

/// The double-fault stack of the CPU running this (for the handler's report).
pub fn current_double_fault_stack() -> (u64, u64) {
    match crate::percpu::try_current() {
        Some(p) if p.cpu != 0 => p.ist,
        _ => double_fault_stack(),
    }
}

/// A secondary CPU's tables: a TSS whose double-fault IST entry is the top of `ist` (`[start, end)`), and a GDT
/// with the same code and data segments as the boot CPU's, both leaked; loaded like [`init`]'s.
pub fn init_secondary(ist: (u64, u64)) {
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] = VirtAddr::new(ist.1 & !0xf);
    let tss: &'static TaskStateSegment = alloc::boxed::Box::leak(alloc::boxed::Box::new(tss));
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss_sel = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable = alloc::boxed::Box::leak(alloc::boxed::Box::new(gdt));
    load(gdt, &Selectors { code, data, tss: tss_sel });
}

/// Loads the GDT, reloads the segment registers and loads the TSS.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let start = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
        // The stack grows down: the IST entry holds its top.
        tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] = start + IST_STACK_SIZE as u64;
        tss
    });
    let (gdt, sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    load(gdt, sel);
}

fn load(gdt: &'static GlobalDescriptorTable, sel: &Selectors) {
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded: a 64-bit kernel code segment, a kernel
    // data segment and a TSS that is 'static. Reloading SS as well keeps the interrupt return path (iretq
    // reloads SS) from picking up a selector of the bootloader's GDT.
    unsafe {
        CS::set_reg(sel.code);
        SS::set_reg(sel.data);
        DS::set_reg(sel.data);
        ES::set_reg(sel.data);
        load_tss(sel.tss);
    }
}

/// The task register: the selector of this CPU's loaded TSS (0 before `load_tss`).
pub fn task_register() -> u16 {
    let tr: u16;
    // SAFETY: `str` only reads the task register into a general register; no memory or flags change.
    unsafe { core::arch::asm!("str {0:x}", out(reg) tr, options(nomem, nostack, preserves_flags)) };
    tr
}
