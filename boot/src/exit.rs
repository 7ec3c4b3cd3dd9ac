//! One exit-status table for every `memlab` command, and the failure type the host commands return.
//!
//! 0-9 are the run statuses of a boot ([`RunStatus`]: the kernel's own outcome, QEMU, the set-up); 64 and up are
//! BSD's sysexits for the host program itself. Every command uses the same numbers for the same thing: a usage
//! error is 64 whether `run`, `sim` or `compare` found it; a log with no memory map is 65; an unreadable file 66.
//!
//! # Invariants
//! - [`TABLE`] lists every status any command returns (the test `exit_table_is_complete` checks the codes);
//! - a [`Failure`] is printed as one line `memlab <command>: <message>` and never as a panic.

use crate::status::RunStatus;

/// A command-line usage error: unknown flag, bad flag value, missing or extra argument (EX_USAGE).
pub const USAGE: u8 = 64;
/// Input that cannot be used: a boot log with no memory map, a layout that cannot be normalized,
/// a warning under `--strict` (EX_DATAERR).
pub const BAD_INPUT: u8 = 65;
/// An input file that cannot be read (EX_NOINPUT).
pub const NO_INPUT: u8 = 66;
/// An output file that cannot be written, such as `--svg FILE` (EX_CANTCREAT).
pub const CANT_CREATE: u8 = 73;

/// The table printed by `memlab --help` and documented in docs/cli.md.
pub const TABLE: &str = "\
Exit status (every command):
  0   success: all self-tests passed (run), the simulation ran (sim), every field agrees (diff)
  1   self-tests failed (run); --check found our hole lines differ (sim); fields differ (diff)
  2   the kernel panicked (run, linux)
  3   the kernel took a CPU exception
  4   bad kernel command line (found on the host before booting, or by the kernel)
  5   timeout: QEMU was killed
  6   QEMU failed to start or exited without a kernel exit code
  7   set-up: QEMU/OVMF missing and not installable, or the disk image could not be built
  8   Debian's Linux image could not be downloaded or unpacked (linux, diff)
  9   Linux booted but memlab's guest agent did not finish (linux, diff)
  64  usage error: unknown flag, bad flag value, missing or extra argument
  65  bad input: a log or layout that cannot be used, a warning under --strict
  66  an input file cannot be read
  73  an output file cannot be written (--svg)";

/// Every status [`TABLE`] documents.
pub const ALL: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, USAGE, BAD_INPUT, NO_INPUT, CANT_CREATE];

/// Why a host command stopped: the exit status and the one line to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { status: USAGE, message: message.into() }
    }
    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure { status: BAD_INPUT, message: message.into() }
    }
    pub fn no_input(message: impl Into<String>) -> Failure {
        Failure { status: NO_INPUT, message: message.into() }
    }
    pub fn cant_create(message: impl Into<String>) -> Failure {
        Failure { status: CANT_CREATE, message: message.into() }
    }
    pub fn run(status: RunStatus, message: impl Into<String>) -> Failure {
        Failure { status: status.code(), message: message.into() }
    }

    /// Prints the failure as `memlab <command>: <message>` on stderr and returns its status.
    pub fn report(&self, command: &str) -> u8 {
        eprintln!("memlab {}: {}", command, self.message);
        self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_table_is_complete() {
        for code in ALL {
            assert!(TABLE.lines().any(|l| l.trim_start().starts_with(&format!("{code} "))), "{code} missing");
        }
        for s in [
            RunStatus::Passed,
            RunStatus::TestsFailed,
            RunStatus::Panic,
            RunStatus::CpuException,
            RunStatus::BadCmdline,
            RunStatus::Timeout,
            RunStatus::QemuFailed,
            RunStatus::Setup,
            RunStatus::LinuxUnavailable,
            RunStatus::AgentFailed,
        ] {
            assert!(ALL.contains(&s.code()), "{s:?}");
        }
        assert_eq!(TABLE.lines().filter(|l| l.starts_with("  ")).count(), ALL.len());
    }

    #[test]
    fn the_cli_chapter_prints_this_table() {
        let doc = include_str!("../../docs/cli.md");
        let body: String = TABLE.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert!(doc.contains(&body), "docs/cli.md must hold boot::exit::TABLE verbatim");
    }
}
