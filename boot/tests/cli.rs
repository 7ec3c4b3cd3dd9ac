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
fn usage_errors_are_status_64_without_backtrace() {
    for args in [&["run", "--profile", "nope"][..], &["run", "--timeout", "x"], &["frobnicate"], &["run", "--gdb=1"]] {
        let (code, out, err) = memlab(args);
        assert_eq!(code, 64, "{args:?}: {out}{err}");
        assert!(err.starts_with("memlab: "), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
    let (_, _, err) = memlab(&["run", "--profile", "nope"]);
    assert!(err.contains("possible values: default, m4000"), "{err}");
    let (code, _, err) = memlab(&["run", "--profile", "numa2", "--", "-m", "64M"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.starts_with("memlab run: -m 64M conflicts with profile numa2") && err.contains("tiny"), "{err}");
}

#[test]
fn help_version_and_completions() {
    let (code, out, _) = memlab(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("memlab {} (", env!("CARGO_PKG_VERSION"))), "{out}");
    let (code, out, _) = memlab(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit status") && out.contains("65  bad input"), "{out}");
    for cmd in ["run", "profiles", "sim", "compare", "explain", "linux", "diff", "completions"] {
        let (code, out, _) = memlab(&["help", cmd]);
        assert_eq!(code, 0, "help {cmd}");
        assert!(out.contains(&format!("Usage: memlab {cmd}")), "help {cmd}:\n{out}");
        let (code, out2, _) = memlab(&[cmd, "--help"]);
        assert_eq!((code, &out2), (0, &out), "{cmd} --help");
    }
    let (_, out, _) = memlab(&["help", "sim"]);
    for flag in ["--check", "--full", "--stats", "--strict", "--policy", "--json"] {
        assert!(out.contains(flag), "sim help lacks {flag}:\n{out}");
    }
    let (_, out, _) = memlab(&["help", "explain"]);
    assert!(out.contains("bare digits are decimal"), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, _) = memlab(&["completions", shell]);
        assert_eq!(code, 0);
        assert!(out.contains("memlab") && out.contains("compare") && out.len() > 1000, "{shell}");
    }
}

#[test]
fn sim_reads_stdin_and_reports_every_dropped_line() {
    let log = "Linux version 5.10.0\n\
               BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
               BIOS-e820: [mem 0x00000000cfdf9bff-0x0000000000100000] usable\n\
               BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n";
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_memlab"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("memlab runs");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(log.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["sim", "-"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("memlab: sim: policy zeroed (")
            && out.contains("chosen by the log: Linux 5.10.0 (era 5.6-5.11)"),
        "{out}"
    );
    assert!(
        err.contains("memlab: sim: warning: line 3: range ends (0x100000) before it starts (0xcfdf9bff): \"BIOS-e820: [mem 0x00000000cfdf9bff-0x0000000000100000] usable\""),
        "{err}"
    );
    assert!(
        err.contains("memlab: sim: warning: layout: RAM [mem 0x0000000000001000-0x000000000009fbff] trimmed"),
        "{err}"
    );
    let (code, out, _) = run(&["sim", "-", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["warnings"]["count"], 2, "{v}");
    assert_eq!(v["warnings"]["items"][0]["line"], 3);
    let (code, _, err) = run(&["sim", "-", "--strict"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.lines().last().unwrap().starts_with("memlab sim: --strict: 2 input warning(s)"), "{err}");
}

#[test]
fn bad_kernel_command_line_exits_4_before_anything_boots() {
    let (code, out, err) = memlab(&["run", "--profile", "tiny", "--cmdline", "loglevel=loud", "--timeout", "90"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.starts_with("memlab run: cmdline: ") && err.contains("loud") && err.contains("nothing was booted"),
        "{err}"
    );
    assert!(!err.contains("serial log saved"), "{err}");
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
