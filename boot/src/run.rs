//! `memlab run`: boot one profile in QEMU, stream the serial console, exit with the run's status.
//!
//! ```text
//! memlab run [--profile NAME] [--firmware bios|uefi] [--cmdline "k=v ..."] [--timeout SECS] [--gdb]
//!            [--boot-log] [--svg FILE] [--hotplug SCRIPT] [-- extra qemu args]
//! ```
//! `--hotplug SCRIPT` (and the `hotplug-demo` profile by itself) drives QEMU memory hotplug over QMP while the
//! kernel serves the events: see [`crate::hotplug`].
//! `--svg FILE` draws the booted layout: the kernel's serial log replayed in the simulator under the kernel's
//! policy (the replay equals the kernel, see `memlab_tests::cross_check`), with the kernel's reservations.
//! Exit status: see [`crate::exit`] (0 all self-tests passed ... 7 set-up problem; 4 also when the command line
//! is rejected on the host, before anything is built; 64 for a usage error). The last line names the status and
//! the saved serial log.

use crate::cli::{BootArgs, RunArgs};
use crate::exit::Failure;
use crate::hotplug;
use crate::qemu::{self, RunConfig, DEFAULT_TIMEOUT, KERNEL_PATH};
use crate::status::RunStatus;

/// Runs `memlab run`; returns the process exit status.
pub fn main(a: RunArgs) -> u8 {
    let (mut cfg, steps) = match a.boot.config() {
        Ok(c) => c,
        Err(f) => return f.report("run"),
    };
    cfg.echo = true;
    cfg.gdb = a.gdb;
    cfg.boot_log = a.boot_log;
    if a.gdb && a.boot.timeout.is_none() {
        cfg.timeout = None;
    }
    if let Err(f) = BootArgs::check_kernel_cmdline(&cfg) {
        return f.report("run");
    }
    let svg = a.svg;
    eprintln!(
        "memlab: profile {} ({}), firmware {}, kernel command line \"{}\"",
        cfg.profile.name,
        cfg.profile.description,
        cfg.firmware.name(),
        cfg.kernel_cmdline()
    );
    if cfg.gdb {
        eprintln!(
            "memlab: QEMU waits for gdb on localhost:1234; attach with: gdb -ex 'symbol-file -o {:#x} {}' -ex 'target remote :1234' -ex 'hbreak kernel::kernel_main' -ex continue",
            KERNEL_BASE, KERNEL_PATH
        );
    }
    let run = match &steps {
        None => qemu::run(&cfg).map(|o| (o, None)),
        Some(steps) => {
            eprintln!("memlab: hotplug script: {} steps driven over QMP", steps.len());
            hotplug::run(&cfg, steps).map(|(o, d)| (o, Some(d)))
        }
    };
    let (out, driven) = match run {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return RunStatus::Setup.code();
        }
    };
    if let Some(d) = &driven {
        let n = d.transcript.iter().filter(|l| l.starts_with("-> ")).count();
        match &d.result {
            Ok(()) => eprintln!("memlab: hotplug: every step driven ({} QMP commands)", n),
            Err(e) => eprintln!("memlab: hotplug: driving failed: {e}"),
        }
    }
    let secs = out.duration.as_secs_f64();
    match out.status {
        RunStatus::Timeout => eprintln!(
            "memlab: timeout: QEMU killed after {:.1} s (--timeout {:.0}) (status {})",
            secs,
            cfg.timeout.unwrap_or(DEFAULT_TIMEOUT).as_secs_f64(),
            out.status.code()
        ),
        RunStatus::QemuFailed => {
            let stderr = out.qemu_stderr.trim();
            eprintln!(
                "memlab: QEMU exited with {} without a kernel exit code{}{} (status {})",
                out.qemu_status.map_or("a signal".to_string(), |s| format!("status {s}")),
                if stderr.is_empty() { "" } else { ": " },
                stderr.lines().last().unwrap_or(""),
                out.status.code()
            );
            eprintln!("memlab: QEMU command: {}", out.qemu_command.join(" "));
        }
        s => eprintln!("memlab: {} in {:.1} s (status {})", s, secs, s.code()),
    }
    eprintln!("memlab: serial log saved to {}", out.log_path.display());
    if let Some(path) = svg {
        if let Err(f) = write_svg(&path, &cfg, &out) {
            return f.report("run");
        }
        eprintln!("memlab: SVG written to {path}");
    }
    if driven.is_some_and(|d| d.result.is_err()) && out.status == RunStatus::Passed {
        return RunStatus::TestsFailed.code();
    }
    out.status.code()
}

/// Replays a run's serial log under the kernel's policy (from its `@@summary`, else the command line's
/// `holes=`, else the default) and draws it with the kernel's reservations.
fn write_svg(path: &str, cfg: &RunConfig, out: &qemu::RunOutcome) -> Result<(), Failure> {
    let policy = out
        .log
        .summary_json
        .first()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.get("policy").and_then(|p| p.as_str()).map(String::from))
        .or_else(|| cfg.cmdline.split_whitespace().find_map(|w| w.strip_prefix("holes=")).map(String::from))
        .unwrap_or_else(|| mm::policy::DEFAULT_POLICY.to_string());
    let policy = crate::compare::parse_policies(&policy).map_err(Failure::bad_input)?[0];
    let r = crate::compare::run_log_policy(&out.serial, policy, true)
        .map_err(|e| Failure::bad_input(format!("cannot draw the run: its serial log does not replay: {e}")))?;
    let mut r = r;
    r.serial = Some(out.serial.clone());
    let row = crate::svg::Row::of_run(&r);
    let title = format!("memlab run --profile {} ({}), policy {}", cfg.profile.name, cfg.firmware.name(), policy);
    crate::svg::write(path, &title, &[row]).map_err(Failure::cant_create)
}

/// Where the kernel is loaded (kernel/src/main.rs `KERNEL_BASE`), for gdb's symbol offset.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
