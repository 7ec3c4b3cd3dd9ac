//! The IDT: a handler for every CPU exception, each of which prints one report line and ends the run.
//!
//! Report format (parsed by the host runner):
//! `EXCEPTION: <name> (vector N) error_code=0x.. rip=0x.. cr2=0x..` where `error_code` appears only for the
//! exceptions for which the CPU pushes one and `cr2` only for page faults. Then the kernel exits QEMU with
//! [`ExitCode::CpuException`]. A handler that returns would only re-run the faulting instruction: none returns.
//!
//! One interrupt is taken, by secondary CPUs only: the wake-up IPI ([`crate::smp::WAKE_VECTOR`]) that ends their
//! `hlt` when the boot CPU hands out work; its handler only signals the end of interrupt. The boot CPU runs with
//! interrupts disabled throughout. All CPUs share this one IDT, as Linux's CPUs share `idt_table`.
//!
//! # Invariants
//! - the double-fault handler runs on the IST stack set up by [`crate::gdt`], and says so (one line with its
//!   stack pointer and the IST stack's bounds, before the report);
//! - handlers print with [`crate::serial::emergency_println`] because the faulting code may hold the serial lock.

use core::fmt::Write;

use spin::Once;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

use crate::exit::{exit, ExitCode};
use crate::gdt::DOUBLE_FAULT_IST_INDEX;

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT. Call after [`crate::gdt::init`].
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.divide_error.set_handler_fn(divide_error);
        idt.debug.set_handler_fn(debug);
        idt.non_maskable_interrupt.set_handler_fn(non_maskable_interrupt);
        idt.breakpoint.set_handler_fn(breakpoint);
        idt.overflow.set_handler_fn(overflow);
        idt.bound_range_exceeded.set_handler_fn(bound_range_exceeded);
        idt.invalid_opcode.set_handler_fn(invalid_opcode);
        idt.device_not_available.set_handler_fn(device_not_available);
        // SAFETY: DOUBLE_FAULT_IST_INDEX is a valid IST slot of the loaded TSS, whose stack is used by no one
        // else (gdt::init runs first).
        unsafe {
            idt.double_fault.set_handler_fn(double_fault).set_stack_index(DOUBLE_FAULT_IST_INDEX);
        }
        idt.invalid_tss.set_handler_fn(invalid_tss);
        idt.segment_not_present.set_handler_fn(segment_not_present);
        idt.stack_segment_fault.set_handler_fn(stack_segment_fault);
        idt.general_protection_fault.set_handler_fn(general_protection_fault);
        idt.page_fault.set_handler_fn(page_fault);
        idt.x87_floating_point.set_handler_fn(x87_floating_point);
        idt.alignment_check.set_handler_fn(alignment_check);
        idt.machine_check.set_handler_fn(machine_check);
        idt.simd_floating_point.set_handler_fn(simd_floating_point);
        idt.virtualization.set_handler_fn(virtualization);
        idt.cp_protection_exception.set_handler_fn(cp_protection_exception);
        idt.hv_injection_exception.set_handler_fn(hv_injection_exception);
        idt.vmm_communication_exception.set_handler_fn(vmm_communication_exception);
        idt.security_exception.set_handler_fn(security_exception);
        idt[crate::smp::WAKE_VECTOR].set_handler_fn(wake_up);
        idt[crate::apic::SPURIOUS_VECTOR].set_handler_fn(spurious);
        idt
    });
    idt.load();
}

/// Loads the IDT [`init`] built (a secondary CPU's step).
pub fn load() {
    IDT.get().expect("interrupts::init ran on the boot CPU").load();
}

/// The wake-up IPI: the interrupted `hlt` returns; the idle loop looks for work.
extern "x86-interrupt" fn wake_up(_frame: InterruptStackFrame) {
    crate::apic::eoi();
}

/// A spurious APIC interrupt: no end of interrupt is signalled for it.
extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {}

/// Prints the report line and exits. `error_code` and `cr2` are printed only when given.
fn report(name: &str, vector: u8, frame: &InterruptStackFrame, error_code: Option<u64>, cr2: Option<u64>) -> ! {
    let mut line: heapless_line::Line = heapless_line::Line::new();
    let _ = write!(line, "EXCEPTION: {} (vector {})", name, vector);
    if let Some(code) = error_code {
        let _ = write!(line, " error_code={:#x}", code);
    }
    let _ = write!(line, " rip={:#x}", frame.instruction_pointer.as_u64());
    if let Some(cr2) = cr2 {
        let _ = write!(line, " cr2={:#x}", cr2);
    }
    crate::serial::emergency_println(format_args!("{}", line.as_str()));
    exit(ExitCode::CpuException)
}

/// A fixed-size line buffer: the exception path must not allocate (the fault may be in the allocator).
mod heapless_line {
    pub struct Line {
        buf: [u8; 192],
        len: usize,
    }
    impl Line {
        pub const fn new() -> Self {
            Line { buf: [0; 192], len: 0 }
        }
        pub fn as_str(&self) -> &str {
            // Only whole &str pieces are ever appended, and truncation happens at a char boundary (ASCII).
            core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<non-UTF-8>")
        }
    }
    impl core::fmt::Write for Line {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }
}

macro_rules! handler {
    ($fn:ident, $name:literal, $vector:literal) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame) {
            report($name, $vector, &frame, None, None)
        }
    };
    ($fn:ident, $name:literal, $vector:literal, error_code) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame, error_code: u64) {
            report($name, $vector, &frame, Some(error_code), None)
        }
    };
}

handler!(divide_error, "divide error", 0);
handler!(debug, "debug", 1);
handler!(non_maskable_interrupt, "non-maskable interrupt", 2);
handler!(breakpoint, "breakpoint", 3);
handler!(overflow, "overflow", 4);
handler!(bound_range_exceeded, "bound range exceeded", 5);
handler!(invalid_opcode, "invalid opcode", 6);
handler!(device_not_available, "device not available", 7);
handler!(invalid_tss, "invalid TSS", 10, error_code);
handler!(segment_not_present, "segment not present", 11, error_code);
handler!(stack_segment_fault, "stack-segment fault", 12, error_code);
handler!(general_protection_fault, "general protection fault", 13, error_code);
handler!(x87_floating_point, "x87 floating-point exception", 16);
handler!(alignment_check, "alignment check", 17, error_code);
handler!(simd_floating_point, "SIMD floating-point exception", 19);
handler!(virtualization, "virtualization exception", 20);
handler!(cp_protection_exception, "control protection exception", 21, error_code);
handler!(hv_injection_exception, "hypervisor injection exception", 28);
handler!(vmm_communication_exception, "VMM communication exception", 29, error_code);
handler!(security_exception, "security exception", 30, error_code);

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, error_code: u64) -> ! {
    // Where this handler runs: a local's address is the current stack, which must be the IST stack.
    let marker = 0u8;
    let rsp = core::hint::black_box(&raw const marker) as u64;
    let (lo, hi) = crate::gdt::current_double_fault_stack();
    crate::serial::emergency_println(format_args!(
        "memlab: double fault: handler rsp {:#x} {} the IST stack [{:#x}, {:#x}); interrupted rsp {:#x}",
        rsp,
        if lo <= rsp && rsp < hi { "on" } else { "NOT on" },
        lo,
        hi,
        frame.stack_pointer.as_u64()
    ));
    report("double fault", 8, &frame, Some(error_code), None)
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    report("machine check", 18, &frame, None, None)
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, error_code: PageFaultErrorCode) {
    let cr2 = Cr2::read_raw();
    report("page fault", 14, &frame, Some(error_code.bits()), Some(cr2))
}
