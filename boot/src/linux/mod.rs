//! `memlab linux`: boots Debian's Linux 6.1 on a profile's QEMU command line, with memlab's guest agent as
//! `/init`, streams the serial console and parses what Linux printed and what the agent dumped.
//!
//! ```text
//! memlab linux [--profile NAME] [--firmware bios|uefi] [--cmdline "k=v ..."] [--timeout SECS]
//!              [--hotplug add:SIZE[@NODE],del,...] [-- qemu args]
//! ```
//! `--hotplug` (and the hotplug-demo profile by itself) drives memory hotplug over QMP while the agent onlines
//! and offlines the blocks ([`hotplug`]).
//! The QEMU command line is `run`'s for the profile (machine arguments, firmware, console, extra arguments) with
//! `-kernel vmlinuz -initrd initramfs -append "console=ttyS0 panic=-1 <cmdline>"` instead of memlab's disk.
//! The image comes from [`fetch`]; the initramfs ([`initramfs`]) holds only the agent (boot/agent, a static
//! x86_64-unknown-linux-musl binary built by cargo as an artifact dependency) and /dev/console.
//!
//! Exit status ([`RunStatus`]): 0 Linux booted and the agent finished; 2 Linux panicked; 5 timeout; 6 QEMU
//! failed (its own error line is printed); 7 QEMU/OVMF missing; 8 Debian's image cannot be had; 9 Linux booted
//! but the agent did not finish; 64 usage.
//!
//! # Invariants
//! - nothing is written outside `target/memlab/` (image, initramfs, serial logs);
//! - a run never hangs: the agent powers off, the runner's timeout stays.

pub mod cpio;
pub mod dump;
pub mod fetch;
pub mod hotplug;

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::LinuxArgs;
use crate::qemu::{self, target_dir, unique_suffix, RunConfig};
use crate::setup::{self, SetupError};
use crate::status::RunStatus;

/// The guest agent binary (boot/build.rs).
pub const AGENT_PATH: &str = env!("MEMLAB_AGENT_PATH");

/// What a Linux boot gave.
#[derive(Clone, Debug)]
pub struct LinuxOutcome {
    pub status: RunStatus,
    /// The serial console, escapes and `\r` removed.
    pub serial: String,
    /// Linux's own boot lines, parsed as `memlab sim` parses a boot log.
    pub boot: mm::dmesg::BootLog,
    /// The agent's dumps, in order (`boot` first).
    pub dumps: Vec<dump::Dump>,
    /// The agent's final `@@linux` object.
    pub agent: Option<serde_json::Value>,
    /// Linux's `Kernel panic - not syncing:` line, if any.
    pub panic: Option<String>,
    pub log_path: PathBuf,
    pub qemu_stderr: String,
    pub qemu_command: Vec<String>,
    pub duration: Duration,
    pub image: fetch::LinuxImage,
}

/// Builds (or reuses) the initramfs: `/init` = the agent, `/dev/console`, `/proc`, `/sys`.
pub fn initramfs() -> Result<PathBuf, SetupError> {
    use std::hash::{Hash, Hasher};
    let agent = std::fs::read(AGENT_PATH)
        .map_err(|e| SetupError(format!("memlab: cannot read the guest agent {AGENT_PATH}: {e}")))?;
    let archive = cpio::newc(&[
        cpio::Entry::Dir { name: "dev" },
        cpio::Entry::CharDev { name: "dev/console", major: 5, minor: 1 },
        cpio::Entry::Dir { name: "proc" },
        cpio::Entry::Dir { name: "sys" },
        cpio::Entry::File { name: "init", mode: 0o755, data: &agent },
    ]);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    archive.hash(&mut h);
    let dir = target_dir().join("memlab").join("linux");
    std::fs::create_dir_all(&dir).map_err(|e| SetupError(format!("memlab: cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("initramfs-{:016x}.cpio", h.finish()));
    if !path.is_file() {
        let tmp = dir.join(format!(".tmp-{}.cpio", unique_suffix()));
        std::fs::write(&tmp, &archive)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| SetupError(format!("memlab: cannot write {}: {e}", path.display())))?;
    }
    Ok(path)
}

/// The kernel command line Linux gets.
pub fn linux_cmdline(cfg: &RunConfig) -> String {
    let mut s = String::from("console=ttyS0 panic=-1");
    for w in cfg.cmdline.split_whitespace() {
        s.push(' ');
        s.push_str(w);
    }
    s
}

/// The QEMU command line (program first).
pub fn qemu_command(
    cfg: &RunConfig,
    tools: &setup::HostTools,
    image: &fetch::LinuxImage,
    initrd: &std::path::Path,
) -> Vec<String> {
    let mut c: Vec<String> = vec![tools.qemu.display().to_string()];
    c.extend(cfg.profile.machine.iter().map(|s| s.to_string()));
    c.extend(qemu::firmware_args(cfg.firmware, tools));
    c.extend(qemu::ACCEL_ARGS.iter().map(|s| s.to_string()));
    c.extend(qemu::CONSOLE_ARGS.iter().map(|s| s.to_string()));
    c.push("-kernel".into());
    c.push(image.vmlinuz.display().to_string());
    c.push("-initrd".into());
    c.push(initrd.display().to_string());
    c.push("-append".into());
    c.push(linux_cmdline(cfg));
    c.extend(cfg.extra_qemu_args.iter().cloned());
    c
}

/// How a Linux run ended, from what it printed.
pub fn status_of(
    timed_out: bool,
    qemu_status: Option<i32>,
    serial: &str,
    agent: Option<&serde_json::Value>,
) -> RunStatus {
    if timed_out {
        return RunStatus::Timeout;
    }
    if agent.is_some_and(|a| a.get("ok").and_then(|o| o.as_bool()) == Some(true)) {
        return RunStatus::Passed;
    }
    if serial.contains("Kernel panic - not syncing") {
        return RunStatus::Panic;
    }
    if !serial.contains("Linux version") || qemu_status.is_some_and(|s| s != 0) {
        return RunStatus::QemuFailed;
    }
    RunStatus::AgentFailed
}

/// Boots Linux on `cfg`'s profile. `Err` for set-up problems, with the status to exit with.
pub fn boot(cfg: &RunConfig) -> Result<LinuxOutcome, (RunStatus, String)> {
    boot_with(cfg, None)
}

/// [`boot`], with `input` sent to the guest's console (the agent's commands, see [`hotplug`]).
pub fn boot_with(
    cfg: &RunConfig,
    input: Option<std::sync::mpsc::Receiver<String>>,
) -> Result<LinuxOutcome, (RunStatus, String)> {
    let logs = target_dir().join("memlab").join("logs");
    let tools = setup::host_tools(cfg.firmware, &logs).map_err(|e| (RunStatus::Setup, e.0))?;
    let image = fetch::ensure().map_err(|e| (RunStatus::LinuxUnavailable, e.0))?;
    let initrd = initramfs().map_err(|e| (RunStatus::Setup, e.0))?;
    std::fs::create_dir_all(&logs)
        .map_err(|e| (RunStatus::Setup, format!("memlab: cannot create {}: {e}", logs.display())))?;
    let log_path = logs.join(format!("linux-{}-{}-{}.log", cfg.profile.name, cfg.firmware.name(), unique_suffix()));
    let log_file = std::fs::File::create(&log_path)
        .map_err(|e| (RunStatus::Setup, format!("memlab: cannot create {}: {e}", log_path.display())))?;
    let command = qemu_command(cfg, &tools, &image, &initrd);
    let s = qemu::stream(&command, cfg, log_file, input);
    Ok(outcome(s, command, log_path, image))
}

fn outcome(s: qemu::Streamed, command: Vec<String>, log_path: PathBuf, image: fetch::LinuxImage) -> LinuxOutcome {
    let agent = s
        .serial
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("@@linux "))
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
    let status = status_of(s.timed_out, s.qemu_status, &s.serial, agent.as_ref());
    let panic = s.serial.lines().find(|l| l.contains("Kernel panic - not syncing")).map(|l| l.trim().to_string());
    LinuxOutcome {
        status,
        boot: mm::dmesg::parse(&s.serial),
        dumps: dump::parse(&s.serial),
        agent,
        panic,
        serial: s.serial,
        log_path,
        qemu_stderr: s.qemu_stderr,
        qemu_command: command,
        duration: s.duration,
        image,
    }
}

/// One line saying how a Linux run ended (for `linux` and `diff`).
pub fn describe(out: &LinuxOutcome, timeout: Option<Duration>) -> String {
    let secs = out.duration.as_secs_f64();
    match out.status {
        RunStatus::Passed => format!(
            "memlab: linux: {} booted and the agent finished in {:.1} s ({} dump(s)) (status 0)",
            out.image.release,
            secs,
            out.dumps.len()
        ),
        RunStatus::Timeout => format!(
            "memlab: linux: timeout: QEMU killed after {:.1} s (--timeout {:.0}) (status {})",
            secs,
            timeout.unwrap_or(qemu::DEFAULT_TIMEOUT).as_secs_f64(),
            out.status.code()
        ),
        RunStatus::Panic => {
            format!("memlab: linux: {} (status {})", out.panic.as_deref().unwrap_or("Kernel panic"), out.status.code())
        }
        RunStatus::QemuFailed => format!(
            "memlab: linux: QEMU ended without booting Linux: {} (status {})",
            out.qemu_stderr.trim().lines().last().unwrap_or("no error line"),
            out.status.code()
        ),
        s => format!(
            "memlab: linux: Linux booted but the agent did not finish{} (status {})",
            out.agent.as_ref().and_then(|a| a.get("errors")).map(|e| format!(": {e}")).unwrap_or_default(),
            s.code()
        ),
    }
}

/// Runs `memlab linux`; returns the process exit status.
pub fn main(a: LinuxArgs) -> u8 {
    let (mut cfg, steps) = match a.boot.config() {
        Ok(c) => c,
        Err(f) => return f.report("linux"),
    };
    cfg.echo = true;
    eprintln!(
        "memlab: linux on profile {} ({}), firmware {}, command line \"{}\"",
        cfg.profile.name,
        cfg.profile.description,
        cfg.firmware.name(),
        linux_cmdline(&cfg)
    );
    let run = match &steps {
        None => boot(&cfg).map(|o| (o, None)),
        Some(st) => {
            eprintln!("memlab: hotplug script: {} steps driven over QMP, blocks onlined by the agent", st.len());
            hotplug::boot(&cfg, st).map(|(o, d)| (o, Some(d)))
        }
    };
    match run {
        Ok((out, driven)) => {
            if let Some(Err(e)) = driven.as_ref().map(|d| &d.result) {
                eprintln!("memlab: linux: hotplug: driving failed: {e}");
            }
            eprintln!("{}", describe(&out, cfg.timeout));
            if out.status == RunStatus::QemuFailed {
                eprintln!("memlab: QEMU command: {}", out.qemu_command.join(" "));
            }
            eprintln!("memlab: serial log saved to {}", out.log_path.display());
            if driven.is_some_and(|d| d.result.is_err()) && out.status == RunStatus::Passed {
                return RunStatus::AgentFailed.code();
            }
            out.status.code()
        }
        Err((status, msg)) => {
            eprintln!("{msg}");
            status.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let ok: serde_json::Value = serde_json::from_str("{\"ok\":true}").unwrap();
        let bad: serde_json::Value = serde_json::from_str("{\"ok\":false}").unwrap();
        assert_eq!(status_of(true, None, "", None), RunStatus::Timeout);
        assert_eq!(status_of(false, Some(0), "Linux version 6.1", Some(&ok)), RunStatus::Passed);
        assert_eq!(status_of(false, Some(0), "Linux version 6.1", Some(&bad)), RunStatus::AgentFailed);
        assert_eq!(
            status_of(false, Some(0), "Linux version 6.1\nKernel panic - not syncing: VFS", None),
            RunStatus::Panic
        );
        assert_eq!(status_of(false, Some(1), "", None), RunStatus::QemuFailed);
        assert_eq!(status_of(false, Some(0), "Linux version 6.1\n", None), RunStatus::AgentFailed);
    }
}
