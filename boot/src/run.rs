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
//! Exit status: see [`crate::status::RunStatus`] (0 all self-tests passed ... 7 set-up problem); 64 for a usage
//! error. The last line names the status and the saved serial log.

use std::time::Duration;

use crate::hotplug;
use crate::profiles;
use crate::qemu::{self, RunConfig, DEFAULT_TIMEOUT, KERNEL_PATH};
use crate::setup::Firmware;
use crate::status::RunStatus;
use crate::USAGE_ERROR;

pub const USAGE: &str = "usage: memlab run [--profile NAME] [--firmware bios|uefi] [--cmdline \"k=v ...\"] \
[--timeout SECS] [--gdb] [--boot-log] [--svg FILE] [--hotplug add:SIZE[@NODE],del,...] [-- extra qemu args]";

/// Takes `--svg FILE` / `--svg=FILE` out of `run`'s arguments (before `--`).
pub fn take_svg(args: &[String]) -> Result<(Option<String>, Vec<String>), String> {
    take_value(args, "--svg")
}

/// Takes `FLAG VALUE` / `FLAG=VALUE` out of `run`'s arguments (before `--`).
pub fn take_value(args: &[String], flag: &str) -> Result<(Option<String>, Vec<String>), String> {
    let mut svg = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            rest.extend_from_slice(&args[i..]);
            break;
        }
        if a == flag {
            svg = Some(args.get(i + 1).cloned().ok_or_else(|| format!("{flag} needs a value"))?);
            i += 2;
            continue;
        }
        if let Some(v) = a.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
            svg = Some(v.to_string());
        } else {
            rest.push(a.clone());
        }
        i += 1;
    }
    Ok((svg, rest))
}

/// Parses `run`'s arguments.
pub fn parse_args(args: &[String]) -> Result<RunConfig, String> {
    let mut cfg = RunConfig::new(profiles::find("default").expect("the default profile exists"));
    cfg.echo = true;
    let mut timeout_given = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            cfg.extra_qemu_args = args[i + 1..].to_vec();
            break;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        let takes_value = matches!(flag, "--profile" | "--firmware" | "--cmdline" | "--timeout");
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))?)
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            None
        };
        match (flag, value) {
            ("--profile", Some(v)) => {
                cfg.profile = profiles::find(&v)
                    .ok_or_else(|| format!("unknown profile \"{v}\"; accepted: {}", profiles::names()))?
            }
            ("--firmware", Some(v)) => {
                cfg.firmware =
                    Firmware::parse(&v).ok_or_else(|| format!("unknown firmware \"{v}\"; accepted: bios, uefi"))?
            }
            ("--cmdline", Some(v)) => cfg.cmdline = v,
            ("--timeout", Some(v)) => {
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e9)
                    .ok_or_else(|| format!("bad --timeout \"{v}\"; accepted: seconds > 0"))?;
                cfg.timeout = Some(Duration::from_secs_f64(secs));
                timeout_given = true;
            }
            ("--gdb", None) => cfg.gdb = true,
            ("--boot-log", None) => cfg.boot_log = true,
            _ => return Err(format!("unknown argument \"{arg}\"")),
        }
        i += 1;
    }
    if cfg.gdb && !timeout_given {
        cfg.timeout = None;
    }
    Ok(cfg)
}

/// Runs `memlab run`; returns the process exit status.
pub fn main(args: &[String]) -> u8 {
    if args.iter().take_while(|a| *a != "--").any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let parsed = take_svg(args).and_then(|(svg, rest)| {
        let (script, rest) = take_value(&rest, "--hotplug")?;
        let cfg = parse_args(&rest)?;
        let script = script.or_else(|| hotplug::profile_script(cfg.profile.name).map(String::from));
        let steps = script.map(|s| hotplug::parse_script(&s)).transpose()?;
        Ok((svg, cfg, steps))
    });
    let (svg, cfg, steps) = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("memlab run: {e}\n{USAGE}");
            return USAGE_ERROR;
        }
    };
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
        if let Err(e) = write_svg(&path, &cfg, &out) {
            eprintln!("memlab run: {e}");
            return USAGE_ERROR;
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
fn write_svg(path: &str, cfg: &RunConfig, out: &qemu::RunOutcome) -> Result<(), String> {
    let policy = out
        .log
        .summary_json
        .first()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.get("policy").and_then(|p| p.as_str()).map(String::from))
        .or_else(|| cfg.cmdline.split_whitespace().find_map(|w| w.strip_prefix("holes=")).map(String::from))
        .unwrap_or_else(|| mm::policy::DEFAULT_POLICY.to_string());
    let policy = crate::compare::parse_policies(&policy)?[0];
    let r = crate::compare::run_log_policy(&out.serial, policy, true)
        .map_err(|e| format!("cannot draw the run: its serial log does not replay: {e}"))?;
    let mut r = r;
    r.serial = Some(out.serial.clone());
    let row = crate::svg::Row::of_run(&r);
    let title = format!("memlab run --profile {} ({}), policy {}", cfg.profile.name, cfg.firmware.name(), policy);
    crate::svg::write(path, &title, &[row])
}

/// Where the kernel is loaded (kernel/src/main.rs `KERNEL_BASE`), for gdb's symbol offset.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let c = parse_args(&args(&[
            "--profile",
            "m4000",
            "--firmware=uefi",
            "--cmdline",
            "loglevel=debug",
            "--timeout",
            "5",
            "--",
            "-smp",
            "2",
        ]))
        .unwrap();
        assert_eq!(c.profile.name, "m4000");
        assert_eq!(c.firmware, Firmware::Uefi);
        assert_eq!(c.timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.extra_qemu_args, args(&["-smp", "2"]));
        // Extra QEMU args may change the layout: no expect_nodes then.
        assert_eq!(c.kernel_cmdline(), "loglevel=debug");
        let c = parse_args(&args(&["--gdb"])).unwrap();
        assert_eq!(c.timeout, None);
        assert_eq!(c.kernel_cmdline(), "expect_nodes=2");
        assert!(parse_args(&args(&["--profile", "nope"])).unwrap_err().contains("accepted: default"));
        assert!(parse_args(&args(&["--timeout"])).is_err());
        assert!(parse_args(&args(&["--gdb=1"])).is_err());
        assert!(parse_args(&args(&["--frobnicate"])).is_err());
    }
}
