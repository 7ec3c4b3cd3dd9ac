//! The kernel command line: Linux-like `key=value` words from the fw_cfg file `opt/memlab/cmdline`.
//!
//! The key table, the options and the parser are `mm::cmdline::options` (strict, host-tested, and run by the
//! host runner on `--cmdline` before it boots anything); this module owns where the line comes from and how
//! `loglevel=` maps onto the `log` crate. A rejected line is one `cmdline: ...` line and the BAD_CMDLINE exit
//! code. Nothing is silently ignored.

use log::LevelFilter;
pub use mm::cmdline::options::{parse, LogLevel, Options};

/// The fw_cfg file holding the command line.
pub const FW_CFG_FILE: &str = "opt/memlab/cmdline";
/// The longest command line accepted (Linux x86: COMMAND_LINE_SIZE).
pub const MAX_LEN: usize = mm::cmdline::COMMAND_LINE_SIZE;

/// `loglevel=` as the `log` crate's filter.
pub fn level_filter(l: LogLevel) -> LevelFilter {
    match l {
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warn => LevelFilter::Warn,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Trace => LevelFilter::Trace,
    }
}
