//! The `log` facade over the serial console, filtered by the `loglevel=` command-line option.
//!
//! Diagnostics (`log::warn!`, `log::info!`, ...) go through here as `<level>: <message>` lines. The lines the
//! host parses (memory map, SRAT, self-test results, exceptions, panics) do not: they are printed with
//! [`println!`](crate::println) whatever the level, so `loglevel=error` never hides a result.
//!
//! # Invariants
//! - the level can only be changed through [`set_level`]; before the command line is read it is `info`.

use log::{LevelFilter, Log, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            crate::println!("{}: {}", level, record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at level `info`.
pub fn init() {
    // set_logger fails only when called twice; the kernel calls this once.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Sets the maximum level printed.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}
