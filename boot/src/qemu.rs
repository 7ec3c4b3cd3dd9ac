//! Builds the disk images and runs QEMU, streaming and capturing the serial console.
//!
//! Images are built at run time with `bootloader::DiskImageBuilder` (~30 ms) into `target/memlab/images/`,
//! named by a hash of the kernel binary and the boot config, built into a temporary file and renamed, so any
//! number of runs (threads or processes) can share one image. QEMU opens it with `snapshot=on`: guest writes go
//! to a temporary overlay and the image is never write-locked.
//!
//! # Invariants
//! - a run never outlives its timeout by more than ~100 ms: QEMU is killed and reaped;
//! - every line of the serial console is in the saved log, whatever the outcome.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bootloader::{BootConfig, DiskImageBuilder};

use crate::profiles::Profile;
use crate::serial_log::{self, SerialLog};
use crate::setup::{self, Firmware, SetupError};
use crate::status::{RunStatus, ISA_DEBUG_EXIT_DEVICE};

/// The kernel binary cargo built for this `boot` (an artifact dependency), with symbols: give it to gdb.
pub const KERNEL_PATH: &str = env!("MEMLAB_KERNEL_PATH");
/// The same kernel without debug info: what the disk images carry (faster to load; see boot/build.rs).
pub const KERNEL_IMAGE_PATH: &str = env!("MEMLAB_KERNEL_IMAGE_PATH");
/// The fw_cfg file the kernel reads its command line from.
pub const CMDLINE_FW_CFG: &str = "opt/memlab/cmdline";
/// The default timeout of a run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The cargo target directory this program was built in (found by build.rs), for images and logs.
pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("MEMLAB_TARGET_DIR"))
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub profile: &'static Profile,
    pub firmware: Firmware,
    /// Kernel command-line words (the runner adds `expect_nodes=` from the profile unless extra QEMU args are
    /// given or the words already set it).
    pub cmdline: String,
    /// `None`: no timeout (used with `gdb`).
    pub timeout: Option<Duration>,
    /// Start QEMU with `-s -S` (gdb stub on :1234, CPU stopped).
    pub gdb: bool,
    /// Keep the bootloader's own serial logging on.
    pub boot_log: bool,
    /// Extra QEMU arguments, appended last.
    pub extra_qemu_args: Vec<String>,
    /// Copy the serial console to stdout as it arrives.
    pub echo: bool,
    /// Called with every serial line as it arrives (the hotplug driver listens for the kernel's prompts).
    pub line_hook: Option<LineHook>,
}

/// A callback on serial lines.
#[derive(Clone)]
pub struct LineHook(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for LineHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineHook")
    }
}

impl RunConfig {
    /// A quiet run of `profile` with defaults (BIOS, empty command line, default timeout).
    pub fn new(profile: &'static Profile) -> Self {
        RunConfig {
            profile,
            firmware: Firmware::Bios,
            cmdline: String::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            gdb: false,
            boot_log: false,
            extra_qemu_args: Vec::new(),
            echo: false,
            line_hook: None,
        }
    }

    /// The command line the kernel gets.
    pub fn kernel_cmdline(&self) -> String {
        let mut words: Vec<String> = self.cmdline.split_whitespace().map(String::from).collect();
        if self.extra_qemu_args.is_empty() && !words.iter().any(|w| w.starts_with("expect_nodes=")) {
            words.insert(0, format!("expect_nodes={}", self.profile.nodes));
        }
        words.join(" ")
    }
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// QEMU's exit status (None when killed by the timeout or by a signal).
    pub qemu_status: Option<i32>,
    /// The serial console, `\r` removed.
    pub serial: String,
    /// The parsed serial console.
    pub log: SerialLog,
    /// Where the serial console was saved.
    pub log_path: PathBuf,
    /// QEMU's standard error (its own error messages).
    pub qemu_stderr: String,
    /// The full QEMU command line.
    pub qemu_command: Vec<String>,
    pub duration: Duration,
}

fn kernel_hash(boot_log: bool) -> Result<u64, SetupError> {
    let bytes = std::fs::read(KERNEL_IMAGE_PATH)
        .map_err(|e| SetupError(format!("memlab: cannot read the kernel binary {KERNEL_IMAGE_PATH}: {e}")))?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    boot_log.hash(&mut h);
    Ok(h.finish())
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A suffix unique to this process and call (log files, sockets).
pub fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{}-{}", std::process::id(), nanos % 1_000_000_000, UNIQUE.fetch_add(1, Ordering::Relaxed))
}

/// Builds (or reuses) the disk image for `firmware`; returns its path.
pub fn build_image(firmware: Firmware, boot_log: bool) -> Result<PathBuf, SetupError> {
    let dir = target_dir().join("memlab").join("images");
    std::fs::create_dir_all(&dir).map_err(|e| SetupError(format!("memlab: cannot create {}: {e}", dir.display())))?;
    let hash = kernel_hash(boot_log)?;
    let path = dir.join(format!("kernel-{hash:016x}-{}.img", firmware.name()));
    if path.is_file() {
        return Ok(path);
    }
    let mut builder = DiskImageBuilder::new(PathBuf::from(KERNEL_IMAGE_PATH));
    let mut config = BootConfig::default();
    config.serial_logging = boot_log;
    config.frame_buffer_logging = false;
    builder.set_boot_config(&config);
    let tmp = dir.join(format!(".tmp-{}-{}.img", unique_suffix(), firmware.name()));
    let built = match firmware {
        Firmware::Bios => builder.create_bios_image(&tmp),
        Firmware::Uefi => builder.create_uefi_image(&tmp),
    };
    if let Err(e) = built {
        let _ = std::fs::remove_file(&tmp);
        return Err(SetupError(format!("memlab: building the {} image failed: {e:#}", firmware.name())));
    }
    std::fs::rename(&tmp, &path)
        .map_err(|e| SetupError(format!("memlab: cannot move the image to {}: {e}", path.display())))?;
    remove_stale_images(&dir, &path);
    Ok(path)
}

/// Removes images of older kernels (and leftover temporary files) not touched for an hour: a run in progress
/// uses its image for at most its timeout, and a rebuilt kernel gets a new image name.
fn remove_stale_images(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".img") && (name.starts_with("kernel-") || name.starts_with(".tmp-"));
        let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if ours && p != keep && old.is_some_and(|age| age > Duration::from_secs(3600)) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Escapes a value for a QEMU `key=value,...` option (commas are doubled).
pub fn qemu_opt_value(v: &str) -> String {
    v.replace(',', ",,")
}

/// The UEFI firmware's pflash drives (none for BIOS: SeaBIOS is QEMU's default).
pub fn firmware_args(firmware: Firmware, tools: &setup::HostTools) -> Vec<String> {
    let mut c = Vec::new();
    if firmware == Firmware::Uefi {
        if let Some((code, vars)) = &tools.ovmf {
            c.push("-drive".into());
            c.push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                qemu_opt_value(&code.display().to_string())
            ));
            c.push("-drive".into());
            c.push(format!(
                "if=pflash,format=raw,unit=1,snapshot=on,file={}",
                qemu_opt_value(&vars.display().to_string())
            ));
        }
    }
    c
}

/// The serial console on stdio, no display, no monitor, no network card (so OVMF does not try a PXE boot first:
/// seconds under TCG), and no reboot: a reset ends QEMU.
pub const CONSOLE_ARGS: &[&str] =
    &["-serial", "stdio", "-display", "none", "-monitor", "none", "-nic", "none", "-no-reboot"];

/// Multi-threaded TCG: one host thread per vCPU, so a guest's CPUs really run in parallel (QEMU's default for an
/// x86 guest on an x86 host, stated so that a QEMU built with another default behaves the same).
pub const ACCEL_ARGS: &[&str] = &["-accel", "tcg,thread=multi"];

/// Removes terminal escape sequences (SeaBIOS clears the screen with `ESC c` and `ESC [2J`): `ESC [` ... final
/// byte, and `ESC` + one character.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(_) | None => {}
        }
    }
    out
}

/// The QEMU command line (program first).
pub fn qemu_command(cfg: &RunConfig, tools: &setup::HostTools, image: &Path) -> Vec<String> {
    let mut c: Vec<String> = vec![tools.qemu.display().to_string()];
    c.extend(cfg.profile.machine.iter().map(|s| s.to_string()));
    c.extend(firmware_args(cfg.firmware, tools));
    c.extend(ACCEL_ARGS.iter().map(|s| s.to_string()));
    c.push("-drive".into());
    c.push(format!("format=raw,snapshot=on,file={}", qemu_opt_value(&image.display().to_string())));
    c.extend(CONSOLE_ARGS.iter().map(|s| s.to_string()));
    c.push("-device".into());
    c.push(ISA_DEBUG_EXIT_DEVICE.into());
    let cmdline = cfg.kernel_cmdline();
    if !cmdline.is_empty() {
        c.push("-fw_cfg".into());
        c.push(format!("name={CMDLINE_FW_CFG},string={}", qemu_opt_value(&cmdline)));
    }
    if cfg.gdb {
        c.push("-s".into());
        c.push("-S".into());
    }
    c.extend(cfg.extra_qemu_args.iter().cloned());
    c
}

/// Builds the image, runs QEMU and waits for the end of the run.
///
/// `Err` only for set-up problems (tools missing and not installable, image build failed, log not writable);
/// every outcome of the run itself, including QEMU failing to start, is a [`RunOutcome`].
pub fn run(cfg: &RunConfig) -> Result<RunOutcome, SetupError> {
    let logs = target_dir().join("memlab").join("logs");
    let tools = setup::host_tools(cfg.firmware, &logs)?;
    let image = build_image(cfg.firmware, cfg.boot_log)?;
    std::fs::create_dir_all(&logs).map_err(|e| SetupError(format!("memlab: cannot create {}: {e}", logs.display())))?;
    let log_path = logs.join(format!("{}-{}-{}.log", cfg.profile.name, cfg.firmware.name(), unique_suffix()));
    let log_file = std::fs::File::create(&log_path)
        .map_err(|e| SetupError(format!("memlab: cannot create {}: {e}", log_path.display())))?;
    let command = qemu_command(cfg, &tools, &image);
    let streamed = stream(&command, cfg, log_file, None);
    let status = if streamed.timed_out {
        RunStatus::Timeout
    } else {
        streamed.qemu_status.map_or(RunStatus::QemuFailed, RunStatus::from_qemu_status)
    };
    let log = serial_log::parse(&streamed.serial);
    Ok(RunOutcome {
        status,
        qemu_status: streamed.qemu_status,
        serial: streamed.serial,
        log,
        log_path,
        qemu_stderr: streamed.qemu_stderr,
        qemu_command: command,
        duration: streamed.duration,
    })
}

/// What [`stream`] saw of one QEMU process.
#[derive(Clone, Debug)]
pub struct Streamed {
    /// QEMU's exit status (None when killed by the timeout, by a signal, or when it could not start).
    pub qemu_status: Option<i32>,
    pub timed_out: bool,
    /// The serial console, `\r` removed.
    pub serial: String,
    /// QEMU's standard error, or why it could not start.
    pub qemu_stderr: String,
    pub duration: Duration,
}

/// Runs `command` (QEMU with `-serial stdio`), copies every serial line to `log_file` (and to stdout with
/// `cfg.echo`, and to `cfg.line_hook`), and waits for its end or `cfg.timeout`. With `input`, QEMU's standard
/// input (the guest's serial console) receives every string sent on it, as it is sent.
pub fn stream(
    command: &[String],
    cfg: &RunConfig,
    mut log_file: std::fs::File,
    input: Option<mpsc::Receiver<String>>,
) -> Streamed {
    let start = Instant::now();
    let child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Streamed {
                qemu_status: None,
                timed_out: false,
                serial: String::new(),
                qemu_stderr: format!("cannot start {}: {e}", command[0]),
                duration: start.elapsed(),
            }
        }
    };
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Ends when the sender is dropped or QEMU closes its input.
        std::thread::spawn(move || {
            for s in input {
                if stdin.write_all(s.as_bytes()).and_then(|_| stdin.flush()).is_err() {
                    break;
                }
            }
        });
    }
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        // Lines are split on '\n'; a partial last line is delivered at EOF. Non-UTF-8 bytes are replaced.
        while let Ok(n) = r.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let line = strip_ansi(&String::from_utf8_lossy(&buf).replace('\r', ""));
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut serial = String::new();
    let mut take = |line: String, serial: &mut String| {
        if cfg.echo {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        let _ = log_file.write_all(line.as_bytes());
        if let Some(h) = &cfg.line_hook {
            (h.0)(&line);
        }
        serial.push_str(&line);
    };
    let mut timed_out = false;
    let exit = loop {
        while let Ok(line) = rx.try_recv() {
            take(line, &mut serial);
        }
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if cfg.timeout.is_some_and(|t| start.elapsed() >= t) {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => take(line, &mut serial),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        take(line, &mut serial);
    }
    if !serial.is_empty() && !serial.ends_with('\n') {
        take("\n".into(), &mut serial);
    }
    let qemu_stderr = err_reader.join().unwrap_or_default();
    let qemu_status = exit.and_then(|s| s.code());
    Streamed { qemu_status, timed_out, serial, qemu_stderr, duration: start.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_seabios_escapes() {
        assert_eq!(strip_ansi("\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16)"), "SeaBIOS (version 1.16)");
        assert_eq!(strip_ansi("plain [mem 0x0-0x1]"), "plain [mem 0x0-0x1]");
        assert_eq!(strip_ansi("cut \x1b["), "cut ");
    }
}
