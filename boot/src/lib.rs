//! # boot: memlab's host runner
//!
//! Builds the kernel's BIOS/UEFI disk images, runs QEMU with named profiles, streams and parses the kernel's
//! serial console. The `memlab` binary (src/main.rs) is a small dispatcher over the subcommand modules; the
//! integration tests (tests/) use this library directly:
//! - [`profiles::PROFILES`]: the QEMU presets;
//! - [`qemu::run`] with a [`qemu::RunConfig`]: build the image, run QEMU, capture and parse the serial console;
//! - [`serial_log::parse`]: the serial console as structured results;
//! - [`status::RunStatus`]: how a run ended (the runner's exit codes);
//! - [`compare`], [`explain`], [`svg`] over [`linkmap::LinkMap`]: policies side by side, one pfn, a picture;
//! - [`linux`]: Debian's Linux on the same QEMU command line, with memlab's guest agent (the oracle).

pub mod cli;
pub mod compare;
pub mod diff;
pub mod exit;
pub mod explain;
pub mod hotplug;
pub mod linkmap;
pub mod linux;
pub mod profiles;
pub mod qemu;
pub mod run;
pub mod serial_log;
pub mod setup;
pub mod sim;
pub mod status;
pub mod svg;
pub mod warnings;

pub use profiles::{Profile, PROFILES};
pub use qemu::{run as run_qemu, RunConfig, RunOutcome};
pub use serial_log::SerialLog;
pub use setup::{Firmware, SetupError};
pub use status::RunStatus;
