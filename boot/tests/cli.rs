//! The `memlab` program's exit statuses and messages (runs the built binary).

use std::process::Command;

fn memlab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memlab")).args(args).output().expect("memlab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn profiles_lists_every_profile_with_its_command_line() {
    let (code, out, _) = memlab(&["profiles"]);
    assert_eq!(code, 0);
    for p in boot::PROFILES {
        assert!(out.lines().any(|l| l.starts_with(p.name)), "{} missing:\n{out}", p.name);
    }
    assert!(out.contains("qemu-system-x86_64 -machine pc -m 4000M,slots=2,maxmem=8G"), "{out}");
}

#[test]
fn usage_errors_are_one_line_and_status_64_without_backtrace() {
    for args in [&["run", "--profile", "nope"][..], &["run", "--timeout", "x"], &["frobnicate"], &["run", "--gdb=1"]] {
        let (code, out, err) = memlab(args);
        assert_eq!(code, 64, "{args:?}: {out}{err}");
        assert!(err.starts_with("memlab"), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
    let (_, _, err) = memlab(&["run", "--profile", "nope"]);
    assert!(err.contains("accepted: default, m4000"), "{err}");
}

#[test]
fn bad_kernel_command_line_exits_4() {
    let (code, out, err) = memlab(&["run", "--profile", "tiny", "--cmdline", "loglevel=loud", "--timeout", "90"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with("cmdline: ") && l.contains("loud")), "{out}");
    assert!(err.contains("bad kernel command line") && err.contains("serial log saved to"), "{err}");
}

#[test]
fn missing_qemu_without_apt_get_prints_the_command_and_exits_7() {
    // An empty PATH: no qemu-system-x86_64 and no apt-get to install it with.
    let dir = std::env::temp_dir().join(format!("memlab-empty-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_memlab"))
        .args(["run", "--profile", "tiny"])
        .env("PATH", &dir)
        .output()
        .expect("memlab runs");
    let _ = std::fs::remove_dir(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.contains("qemu-system-x86_64") && last.ends_with("apt-get install -y qemu-system-x86 ovmf"), "{err}");
}
