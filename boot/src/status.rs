//! Exit codes: the kernel's isa-debug-exit values (mirrored from kernel/src/exit.rs) and the runner's statuses.
//!
//! One table, [`KERNEL_EXITS`], maps each value the kernel writes to port 0xf4 to the runner's [`RunStatus`].
//! QEMU exits with `(value << 1) | 1` for a value written to isa-debug-exit.
//!
//! # Invariants
//! - [`KERNEL_EXITS`] lists exactly the values of the kernel's `ExitCode` enum, with the same meaning;
//! - every [`RunStatus`] has a distinct process exit code, 0 only for "all self-tests passed".

use std::fmt;

/// How a run ended, as the runner's process exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// 0: all selected self-tests passed.
    Passed,
    /// 1: at least one self-test failed.
    TestsFailed,
    /// 2: the kernel panicked.
    Panic,
    /// 3: the kernel took a CPU exception.
    CpuException,
    /// 4: the kernel rejected its command line.
    BadCmdline,
    /// 5: the run took longer than the timeout; QEMU was killed.
    Timeout,
    /// 6: QEMU failed to start or exited without a kernel exit code (e.g. a triple fault with `-no-reboot`).
    QemuFailed,
    /// 7: QEMU or OVMF is missing and could not be installed, or the disk image could not be built.
    Setup,
    /// 8: Debian's Linux image (for `linux` and `diff`) could not be downloaded or unpacked.
    LinuxUnavailable,
    /// 9: Linux booted but memlab's guest agent did not finish (`linux` and `diff`).
    AgentFailed,
}

impl RunStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            RunStatus::Passed => 0,
            RunStatus::TestsFailed => 1,
            RunStatus::Panic => 2,
            RunStatus::CpuException => 3,
            RunStatus::BadCmdline => 4,
            RunStatus::Timeout => 5,
            RunStatus::QemuFailed => 6,
            RunStatus::Setup => 7,
            RunStatus::LinuxUnavailable => 8,
            RunStatus::AgentFailed => 9,
        }
    }

    /// Maps QEMU's exit status to a run status.
    pub fn from_qemu_status(status: i32) -> RunStatus {
        KERNEL_EXITS
            .iter()
            .find(|(value, _)| ((*value as i32) << 1 | 1) == status)
            .map_or(RunStatus::QemuFailed, |&(_, s)| s)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunStatus::Passed => "all self-tests passed",
            RunStatus::TestsFailed => "some self-tests failed",
            RunStatus::Panic => "kernel panic",
            RunStatus::CpuException => "CPU exception",
            RunStatus::BadCmdline => "bad kernel command line",
            RunStatus::Timeout => "timeout",
            RunStatus::QemuFailed => "QEMU failed or exited unexpectedly",
            RunStatus::Setup => "set-up problem",
            RunStatus::LinuxUnavailable => "Debian's Linux image unavailable",
            RunStatus::AgentFailed => "the guest agent did not finish",
        })
    }
}

/// The isa-debug-exit I/O base and size QEMU is given.
pub const ISA_DEBUG_EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// The kernel's exit values (kernel/src/exit.rs `ExitCode`) and what they mean for the runner.
pub const KERNEL_EXITS: &[(u32, RunStatus)] = &[
    (0x10, RunStatus::Passed),
    (0x11, RunStatus::TestsFailed),
    (0x12, RunStatus::Panic),
    (0x13, RunStatus::CpuException),
    (0x14, RunStatus::BadCmdline),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_statuses_map_as_documented() {
        assert_eq!(RunStatus::from_qemu_status(33), RunStatus::Passed);
        assert_eq!(RunStatus::from_qemu_status(35), RunStatus::TestsFailed);
        assert_eq!(RunStatus::from_qemu_status(37), RunStatus::Panic);
        assert_eq!(RunStatus::from_qemu_status(39), RunStatus::CpuException);
        assert_eq!(RunStatus::from_qemu_status(41), RunStatus::BadCmdline);
        assert_eq!(RunStatus::from_qemu_status(0), RunStatus::QemuFailed);
        assert_eq!(RunStatus::from_qemu_status(1), RunStatus::QemuFailed);
    }
}
