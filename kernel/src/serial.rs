//! The serial console on COM1 (I/O port 0x3f8): every line the kernel prints goes through here.
//!
//! The host runner reads COM1 through QEMU's `-serial stdio` and parses it line by line, so all output is plain
//! ASCII lines. [`print!`]/[`println!`] write under a spin lock, so lines of one writer are never interleaved
//! with another's.
//!
//! # Invariants
//! - before [`init`] succeeds, output is dropped (there is nothing else to write to);
//! - [`emergency_println`] is for the panic and exception paths only: it breaks the lock, because the code that
//!   faulted may hold it; those paths end the run right after printing.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550Tty};

/// The I/O base of COM1.
const COM1: u16 = 0x3f8;

static SERIAL: Mutex<Option<Uart16550Tty<PioBackend>>> = Mutex::new(None);

/// Whether the last character written ended a line (so the emergency path can start on a fresh line).
static AT_LINE_START: AtomicBool = AtomicBool::new(true);

/// Writes through to the UART and tracks [`AT_LINE_START`].
struct Tracking<'a>(&'a mut Uart16550Tty<PioBackend>);

impl Write for Tracking<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(&last) = s.as_bytes().last() {
            AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
        }
        self.0.write_str(s)
    }
}

/// Initializes COM1. Returns false when the UART is missing or fails its loopback test.
pub fn init() -> bool {
    // SAFETY: 0x3f8..0x400 is COM1 on the PC platform (QEMU pc and q35); nothing else in the kernel touches
    // these ports, and this is called once, before any other output.
    let tty = unsafe { Uart16550Tty::new_port(COM1, Config::default()) };
    match tty {
        Ok(tty) => {
            *SERIAL.lock() = Some(tty);
            true
        }
        Err(_) => false,
    }
}

/// Whether [`init`] succeeded.
pub fn is_ready() -> bool {
    SERIAL.lock().is_some()
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(tty) = SERIAL.lock().as_mut() {
            let _ = Tracking(tty).write_fmt(args);
        }
    });
}

/// Prints one line on the panic or exception path, breaking the serial lock first.
pub fn emergency_println(args: fmt::Arguments) {
    // SAFETY: only called on paths that end the run right after printing (panic, CPU exception), with
    // interrupts off on a single CPU: if the interrupted code held the lock, it never runs again, so nothing
    // observes the broken lock.
    unsafe { SERIAL.force_unlock() };
    if let Some(tty) = SERIAL.lock().as_mut() {
        // The report is a line of its own even if it interrupts one ("test x ... " of the test that faulted).
        if !AT_LINE_START.load(Ordering::Relaxed) {
            let _ = tty.write_str("\n");
        }
        let _ = Tracking(tty).write_fmt(args);
        let _ = Tracking(tty).write_str("\n");
    }
}

/// Prints to COM1.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::serial::_print(format_args!($($arg)*)));
}

/// Prints one line to COM1.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::print!("{}\n", format_args!($($arg)*)));
}
