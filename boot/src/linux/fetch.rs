//! Getting Debian's Linux kernel image: resolve `linux-image-amd64` to the image package it depends on, download
//! it with `apt-get download` and unpack its `/boot` (vmlinuz and config) under `target/memlab/linux/<package>/`,
//! never into the host's /boot. No root is needed when apt's package lists are present; as root the runner runs
//! `apt-get update` once when `linux-image-amd64` is unknown.
//!
//! # Invariants
//! - an unpacked image is complete or absent: it is unpacked into a temporary folder and renamed into place;
//! - at most one download per process at a time ([`ensure`] holds a lock); a failure is one line naming the
//!   exact command to run, and the caller exits with [`crate::status::RunStatus::LinuxUnavailable`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::qemu::{target_dir, unique_suffix};

/// The meta package whose dependency names the current image (Debian's ABI number moves; never hard-code it).
pub const META_PACKAGE: &str = "linux-image-amd64";
/// What a user runs to make the packages available.
pub const FIX_COMMAND: &str = "apt-get update (as root), then: memlab linux";

/// An unpacked kernel image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxImage {
    /// The Debian package, e.g. `linux-image-6.1.0-57-amd64`.
    pub package: String,
    /// The kernel release, e.g. `6.1.0-57-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
    pub config: PathBuf,
}

/// Why the image could not be had, as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The image package named by `apt-cache depends linux-image-amd64` output (`  Depends: linux-image-...`).
pub fn image_package_from_depends(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let dep = l.trim().strip_prefix("Depends:")?.trim();
        let name = dep.trim_start_matches('<').trim_end_matches('>');
        (name.starts_with("linux-image-") && name != META_PACKAGE).then(|| name.to_string())
    })
}

fn run_logged(cmd: &mut Command, log: &Path) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).env("DEBIAN_FRONTEND", "noninteractive").output().map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        use std::io::Write;
        let _ = writeln!(f, "$ {:?}\n{text}", cmd);
    }
    if out.status.success() {
        Ok(text)
    } else {
        Err(text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("failed").to_string())
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn resolve(log: &Path) -> Result<String, String> {
    let depends = |log: &Path| run_logged(Command::new("apt-cache").args(["depends", META_PACKAGE]), log);
    if let Some(p) = depends(log).ok().and_then(|t| image_package_from_depends(&t)) {
        return Ok(p);
    }
    if is_root() {
        eprintln!("memlab: linux: {META_PACKAGE} unknown to apt; running apt-get update");
        run_logged(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=300", "-qq", "update"]), log)?;
        if let Some(p) = depends(log).ok().and_then(|t| image_package_from_depends(&t)) {
            return Ok(p);
        }
    }
    Err(format!("apt-cache does not know {META_PACKAGE}"))
}

/// The unpacked image in `dir`, if complete.
fn unpacked(dir: &Path, package: &str) -> Option<LinuxImage> {
    let release = package.strip_prefix("linux-image-")?.trim_end_matches("-unsigned").to_string();
    let vmlinuz = dir.join("boot").join(format!("vmlinuz-{release}"));
    let config = dir.join("boot").join(format!("config-{release}"));
    (vmlinuz.is_file() && config.is_file()).then(|| LinuxImage {
        package: package.to_string(),
        release,
        vmlinuz,
        config,
    })
}

/// The newest image already unpacked under `root` (used when apt cannot be asked).
fn newest_unpacked(root: &Path) -> Option<LinuxImage> {
    let mut found: Vec<LinuxImage> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| unpacked(&e.path(), &e.file_name().to_string_lossy()))
        .collect();
    found.sort_by(|a, b| a.package.cmp(&b.package));
    found.pop()
}

static LOCK: Mutex<()> = Mutex::new(());

/// The kernel image, downloaded and unpacked when not already there.
pub fn ensure() -> Result<LinuxImage, Unavailable> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = target_dir().join("memlab").join("linux");
    std::fs::create_dir_all(&root)
        .map_err(|e| Unavailable(format!("memlab: cannot create {}: {e}", root.display())))?;
    let log = root.join("apt.log");
    let package = match resolve(&log) {
        Ok(p) => p,
        Err(e) => {
            if let Some(img) = newest_unpacked(&root) {
                eprintln!("memlab: linux: {e}; using the unpacked {}", img.package);
                return Ok(img);
            }
            return Err(Unavailable(format!(
                "memlab: linux: Debian's kernel image cannot be had ({e}; see {}); run: {FIX_COMMAND}",
                log.display()
            )));
        }
    };
    let dir = root.join(&package);
    if let Some(img) = unpacked(&dir, &package) {
        return Ok(img);
    }
    eprintln!("memlab: linux: downloading {package} (apt-get download) and unpacking its /boot into {}", dir.display());
    let tmp = root.join(format!(".tmp-{}", unique_suffix()));
    let result = download_and_unpack(&package, &tmp, &log).and_then(|()| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), dir.display()))
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result.map_err(|e| {
        Unavailable(format!("memlab: linux: getting {package} failed: {e} (see {}); run: {FIX_COMMAND}", log.display()))
    })?;
    unpacked(&dir, &package).ok_or_else(|| {
        Unavailable(format!("memlab: linux: {package} holds no /boot/vmlinuz; the package cannot be used"))
    })
}

fn download_and_unpack(package: &str, tmp: &Path, log: &Path) -> Result<(), String> {
    std::fs::create_dir_all(tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    run_logged(Command::new("apt-get").current_dir(tmp).args(["-qq", "download", package]), log)
        .map_err(|e| format!("apt-get download {package}: {e}"))?;
    let deb = std::fs::read_dir(tmp)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb"))?;
    // dpkg-deb --fsys-tarfile | tar -x of ./boot only (the modules are not needed: the agent loads none).
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("dpkg-deb: {e}"))?;
    let stdout = dpkg.stdout.take().ok_or("dpkg-deb: no output")?;
    let tar = Command::new("tar")
        .current_dir(tmp)
        .args(["-x", "--wildcards", "./boot/vmlinuz-*", "./boot/config-*"])
        .stdin(stdout)
        .output()
        .map_err(|e| format!("tar: {e}"))?;
    let dpkg_out = dpkg.wait_with_output().map_err(|e| format!("dpkg-deb: {e}"))?;
    if !dpkg_out.status.success() || !tar.status.success() {
        return Err(format!(
            "unpacking {} failed: {}{}",
            deb.display(),
            String::from_utf8_lossy(&dpkg_out.stderr).trim(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    let _ = std::fs::remove_file(&deb);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_the_dependency() {
        let t = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(image_package_from_depends(t).as_deref(), Some("linux-image-6.1.0-57-amd64"));
        assert_eq!(image_package_from_depends("linux-image-amd64\n"), None);
        assert_eq!(
            image_package_from_depends("x\n  Depends: <linux-image-6.1.0-9-amd64-unsigned>\n").as_deref(),
            Some("linux-image-6.1.0-9-amd64-unsigned")
        );
    }

    #[test]
    fn unpacked_needs_both_files() {
        let dir = std::env::temp_dir().join(format!("memlab-fetch-{}", unique_suffix()));
        let pkg = "linux-image-6.1.0-1-amd64";
        std::fs::create_dir_all(dir.join(pkg).join("boot")).unwrap();
        assert!(unpacked(&dir.join(pkg), pkg).is_none());
        std::fs::write(dir.join(pkg).join("boot/vmlinuz-6.1.0-1-amd64"), b"x").unwrap();
        assert!(unpacked(&dir.join(pkg), pkg).is_none());
        std::fs::write(dir.join(pkg).join("boot/config-6.1.0-1-amd64"), b"x").unwrap();
        let img = unpacked(&dir.join(pkg), pkg).unwrap();
        assert_eq!(img.release, "6.1.0-1-amd64");
        assert_eq!(newest_unpacked(&dir).unwrap().package, pkg);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
