//! Exports to the `boot` crate:
//! - `MEMLAB_KERNEL_PATH`: the kernel binary (built by cargo as an artifact dependency), with symbols, for gdb;
//! - `MEMLAB_KERNEL_IMAGE_PATH`: a copy stripped of debug info, which goes into the disk images. The BIOS stages
//!   of the bootloader read the kernel through real-mode disk calls, which are slow under TCG: the 3 MB debug
//!   kernel takes ~5 s to load, the stripped one a fraction of that. Made with the toolchain's llvm-objcopy
//!   (component llvm-tools-preview); without it, the unstripped kernel is used;
//! - `MEMLAB_AGENT_PATH`: the guest agent of `memlab linux` (x86_64-unknown-linux-musl), stripped of symbols
//!   when llvm-objcopy is there (a smaller initramfs unpacks faster under TCG);
//! - `MEMLAB_TARGET_DIR`: the cargo target directory (for disk images and serial logs at run time);
//! - `MEMLAB_GIT_DESCRIBE`: `git describe --tags --always` of the tree (for `memlab --version`), `unknown` without
//!   git.
use std::path::{Path, PathBuf};
use std::process::Command;

fn llvm_objcopy() -> Option<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).args(["--print", "sysroot"]).output().ok()?;
    let sysroot = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let host = std::env::var("HOST").ok()?;
    let p = sysroot.join("lib").join("rustlib").join(host).join("bin").join("llvm-objcopy");
    p.is_file().then_some(p)
}

fn main() {
    let kernel = std::env::var("CARGO_BIN_FILE_KERNEL_kernel").expect("cargo sets this for the kernel artifact");
    println!("cargo:rustc-env=MEMLAB_KERNEL_PATH={kernel}");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let stripped = out.join("kernel-stripped");
    let ok = llvm_objcopy().is_some_and(|objcopy| {
        Command::new(objcopy).arg("--strip-debug").arg(&kernel).arg(&stripped).status().is_ok_and(|s| s.success())
    });
    if !ok {
        println!("cargo:warning=llvm-objcopy (rustup component llvm-tools-preview) not found: the disk images carry the unstripped kernel and BIOS boots are slower");
    }
    let image_kernel = if ok { stripped.display().to_string() } else { kernel.clone() };
    println!("cargo:rustc-env=MEMLAB_KERNEL_IMAGE_PATH={image_kernel}");
    let agent = std::env::var("CARGO_BIN_FILE_MEMLAB_AGENT_memlab-agent").expect("cargo sets this for the agent");
    let agent_stripped = out.join("memlab-agent-stripped");
    let ok = llvm_objcopy().is_some_and(|objcopy| {
        Command::new(objcopy).arg("--strip-all").arg(&agent).arg(&agent_stripped).status().is_ok_and(|s| s.success())
    });
    let agent_image = if ok { agent_stripped.display().to_string() } else { agent.clone() };
    println!("cargo:rustc-env=MEMLAB_AGENT_PATH={agent_image}");
    println!("cargo:rerun-if-changed={agent}");
    // The target directory is the nearest ancestor of OUT_DIR that holds cargo's CACHEDIR.TAG; the layout of
    // target/ below it changes between cargo versions, so nothing else is assumed.
    let target = out
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    println!("cargo:rustc-env=MEMLAB_TARGET_DIR={}", target.display());
    println!("cargo:rerun-if-env-changed=CARGO_BIN_FILE_KERNEL_kernel");
    println!("cargo:rerun-if-changed={kernel}");
    let describe = Command::new("git")
        .args(["describe", "--tags", "--always"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MEMLAB_GIT_DESCRIBE={describe}");
    let git = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".git");
    for f in ["HEAD", "refs"] {
        if git.join(f).exists() {
            println!("cargo:rerun-if-changed={}", git.join(f).display());
        }
    }
}
