//! Host set-up: finds `qemu-system-x86_64` and the OVMF firmware, and installs them when missing.
//!
//! When a tool is missing and the runner is root with `apt-get`, it runs `apt-get install -y qemu-system-x86
//! ovmf` (saying so in one line; output goes to a log file under target/; `apt-get update` first if the install
//! fails). Otherwise it returns a [`SetupError`] whose one-line message names the exact command.
//!
//! # Invariants
//! - never prompts and never hangs on input (stdin is null, `DEBIAN_FRONTEND=noninteractive`);
//! - the install runs at most once per process (tests call [`host_tools`] from many threads).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The exact install command printed and run.
pub const INSTALL_COMMAND: &str = "apt-get install -y qemu-system-x86 ovmf";

/// Which firmware boots the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }

    pub fn parse(s: &str) -> Option<Firmware> {
        match s {
            "bios" => Some(Firmware::Bios),
            "uefi" => Some(Firmware::Uefi),
            _ => None,
        }
    }
}

/// The host programs a run needs.
#[derive(Clone, Debug)]
pub struct HostTools {
    pub qemu: PathBuf,
    /// OVMF code and variable-store images (pflash), when found.
    pub ovmf: Option<(PathBuf, PathBuf)>,
}

/// A set-up problem, as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const OVMF_CANDIDATES: &[(&str, &str)] = &[
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ("/usr/share/edk2-ovmf/x64/OVMF_CODE.fd", "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd"),
];

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn find_ovmf() -> Option<(PathBuf, PathBuf)> {
    OVMF_CANDIDATES.iter().map(|(c, v)| (PathBuf::from(c), PathBuf::from(v))).find(|(c, v)| c.is_file() && v.is_file())
}

fn find_tools() -> (Option<PathBuf>, Option<(PathBuf, PathBuf)>) {
    (find_in_path("qemu-system-x86_64"), find_ovmf())
}

fn is_root() -> bool {
    // /proc/self/status has "Uid:\t<real>\t<effective>\t...".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn apt_get(args: &[&str], log: &Path) -> bool {
    let Ok(out) = std::fs::OpenOptions::new().create(true).append(true).open(log) else { return false };
    let Ok(err) = out.try_clone() else { return false };
    Command::new("apt-get")
        .args(["-o", "DPkg::Lock::Timeout=300", "-o", "Dpkg::Use-Pty=0"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

static INSTALL: Mutex<Option<Result<(), SetupError>>> = Mutex::new(None);

/// Installs QEMU and OVMF with apt-get (once per process).
fn install(what: &str, log_dir: &Path) -> Result<(), SetupError> {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = done.as_ref() {
        return r.clone();
    }
    let result = if is_root() && find_in_path("apt-get").is_some() {
        let _ = std::fs::create_dir_all(log_dir);
        let log = log_dir.join("apt-get.log");
        eprintln!("memlab: {what} missing; installing: {INSTALL_COMMAND} (output in {})", log.display());
        let args = ["install", "-y", "qemu-system-x86", "ovmf"];
        if apt_get(&args, &log) || (apt_get(&["update"], &log) && apt_get(&args, &log)) {
            Ok(())
        } else {
            Err(SetupError(format!(
                "memlab: `{INSTALL_COMMAND}` failed (see {}); install QEMU and OVMF, then retry",
                log.display()
            )))
        }
    } else {
        Err(SetupError(format!("memlab: {what} missing; install it (as root) with: {INSTALL_COMMAND}")))
    };
    *done = Some(result.clone());
    result
}

/// Finds QEMU (and OVMF when `firmware` is UEFI), installing them when missing and possible.
pub fn host_tools(firmware: Firmware, log_dir: &Path) -> Result<HostTools, SetupError> {
    let (qemu, ovmf) = find_tools();
    let missing = match (&qemu, &ovmf, firmware) {
        (None, None, Firmware::Uefi) => Some("qemu-system-x86_64 and OVMF are"),
        (None, _, _) => Some("qemu-system-x86_64 is"),
        (Some(_), None, Firmware::Uefi) => Some("the OVMF firmware (UEFI) is"),
        _ => None,
    };
    if let Some(what) = missing {
        install(what, log_dir)?;
        let (qemu, ovmf) = find_tools();
        return match (qemu, ovmf, firmware) {
            (Some(qemu), ovmf, Firmware::Bios) => Ok(HostTools { qemu, ovmf }),
            (Some(qemu), Some(ovmf), Firmware::Uefi) => Ok(HostTools { qemu, ovmf: Some(ovmf) }),
            _ => Err(SetupError(format!(
                "memlab: {what} still missing after `{INSTALL_COMMAND}`; install QEMU and OVMF, then retry"
            ))),
        };
    }
    Ok(HostTools { qemu: qemu.expect("checked above"), ovmf })
}
