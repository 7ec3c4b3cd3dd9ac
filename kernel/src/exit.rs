//! QEMU's isa-debug-exit device: the one place that knows the kernel's exit codes.
//!
//! QEMU is started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`; writing a value `v` to port 0xf4 ends
//! QEMU with status `(v << 1) | 1`. The host runner (`boot::exit`) mirrors this table; the two must agree.
//!
//! # Invariants
//! - every code is distinct and non-zero (0 would exit QEMU with status 1, which QEMU also uses for its own
//!   errors);
//! - [`exit`] never returns: if the device is missing (QEMU started without it), the CPU halts forever and the
//!   runner's timeout reports it.

use x86_64::instructions::port::Port;

/// Why the kernel stops. The value is what is written to the isa-debug-exit port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// All selected self-tests passed (QEMU status 33).
    Pass = 0x10,
    /// At least one self-test failed (QEMU status 35).
    TestsFailed = 0x11,
    /// The kernel panicked (QEMU status 37).
    Panic = 0x12,
    /// A CPU exception was taken (QEMU status 39).
    CpuException = 0x13,
    /// The command line was rejected (QEMU status 41).
    BadCmdline = 0x14,
}

/// The I/O port of the isa-debug-exit device.
pub const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the QEMU run with `code`.
pub fn exit(code: ExitCode) -> ! {
    let mut port: Port<u32> = Port::new(ISA_DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the isa-debug-exit device the runner configures; writing to it has no effect on
    // memory. On a machine without the device the write goes nowhere.
    unsafe { port.write(code as u32) };
    halt_forever()
}

/// Halts the CPU with interrupts off, forever.
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}
