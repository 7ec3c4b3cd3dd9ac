//! Driving QEMU memory hotplug from the host: a script of DIMM adds and removes sent over QMP while the kernel
//! serves them (`hotplug=N` on its command line, see kernel/src/hotplug.rs).
//!
//! A script is comma-separated steps: `add:SIZE[@NODE]` plugs a new pc-dimm of SIZE (K/M/G suffix) backed by a
//! fresh `memory-backend-ram`, on NUMA node NODE if given; `del` unplugs the most recently added DIMM still
//! plugged. The driver waits for the kernel's `memlab: hotplug: ready` line, then for each step sends the QMP
//! commands and waits for the kernel's `memlab: hotplug: event K of N done`; for a `del` it also waits for QMP's
//! `DEVICE_DELETED`, which QEMU sends only once the guest ejected the DIMM. Every QMP exchange goes into the
//! transcript that [`run`] returns.
//!
//! # Invariants
//! - a step is sent only after the kernel finished the previous one (no overlapping events);
//! - the driver never blocks the run: it lives on its own thread, gives up after [`STEP_TIMEOUT`] per step, and
//!   QEMU's own timeout still ends the run.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::qemu::{self, LineHook, RunConfig, RunOutcome};
use crate::setup::SetupError;

/// How long one step may take (TCG, a 1 GiB DIMM: the kernel writes every page).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Add { bytes: u64, node: Option<u32> },
    Del,
}

/// Parses a script (see the module documentation).
pub fn parse_script(s: &str) -> Result<Vec<Step>, String> {
    const ACCEPTED: &str = "comma-separated add:SIZE[@NODE] (SIZE with K/M/G, a multiple of 2M) and del";
    let mut steps = Vec::new();
    let mut plugged = 0usize;
    for word in s.split(',').map(str::trim) {
        if word == "del" {
            if plugged == 0 {
                return Err(format!("hotplug step \"del\" with no DIMM plugged; accepted: {ACCEPTED}"));
            }
            plugged -= 1;
            steps.push(Step::Del);
            continue;
        }
        let Some(spec) = word.strip_prefix("add:") else {
            return Err(format!("bad hotplug step \"{word}\"; accepted: {ACCEPTED}"));
        };
        let (size, node) = match spec.split_once('@') {
            Some((s, n)) => {
                (s, Some(n.parse::<u32>().map_err(|_| format!("bad node in \"{word}\"; accepted: {ACCEPTED}"))?))
            }
            None => (spec, None),
        };
        let bytes = mm::cmdline::parse_bytes_strict(size)
            .ok()
            .filter(|b| *b > 0 && b % (2 << 20) == 0)
            .ok_or_else(|| format!("bad size in \"{word}\"; accepted: {ACCEPTED}"))?;
        plugged += 1;
        steps.push(Step::Add { bytes, node });
    }
    if steps.is_empty() {
        return Err(format!("empty hotplug script; accepted: {ACCEPTED}"));
    }
    Ok(steps)
}

/// The script a profile runs by itself (`hotplug-demo`).
pub fn profile_script(profile: &str) -> Option<&'static str> {
    match profile {
        "hotplug-demo" => Some("add:512M,del,add:1G,del"),
        _ => None,
    }
}

/// A QMP connection (line-delimited JSON over a Unix socket).
pub(crate) struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    transcript: Arc<Mutex<Vec<String>>>,
    /// Events seen while waiting for replies.
    events: Vec<serde_json::Value>,
}

impl Qmp {
    pub(crate) fn connect(
        path: &PathBuf,
        deadline: Instant,
        transcript: Arc<Mutex<Vec<String>>>,
    ) -> Result<Qmp, String> {
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => return Err(format!("QMP socket {}: {e}", path.display())),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(1))).map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut q = Qmp { reader: BufReader::new(stream), writer, transcript, events: Vec::new() };
        let greeting = q.read_line(deadline)?;
        q.log(format!("<- {greeting}"));
        q.execute("qmp_capabilities", serde_json::json!({}), deadline)?;
        Ok(q)
    }

    fn log(&self, line: String) {
        self.transcript.lock().expect("transcript lock").push(line);
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String, String> {
        let mut line = String::new();
        loop {
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err("QMP connection closed".into()),
                Ok(_) => return Ok(line.trim().to_string()),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return Err("QMP: no reply (timeout)".into());
                    }
                }
                Err(e) => return Err(format!("QMP: {e}")),
            }
        }
    }

    /// Sends a command and waits for its reply; events that arrive meanwhile are kept.
    pub(crate) fn execute(&mut self, cmd: &str, args: serde_json::Value, deadline: Instant) -> Result<(), String> {
        let msg = serde_json::json!({ "execute": cmd, "arguments": args }).to_string();
        self.log(format!("-> {msg}"));
        self.writer.write_all(format!("{msg}\n").as_bytes()).map_err(|e| format!("QMP: {e}"))?;
        loop {
            let line = self.read_line(deadline)?;
            self.log(format!("<- {line}"));
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("QMP: {e}: {line}"))?;
            if let Some(err) = v.get("error") {
                return Err(format!("QMP {cmd}: {err}"));
            }
            if v.get("return").is_some() {
                return Ok(());
            }
            self.events.push(v);
        }
    }

    /// Waits for an event named `name` whose data matches `device`.
    pub(crate) fn wait_event(&mut self, name: &str, device: &str, deadline: Instant) -> Result<(), String> {
        let matches = |v: &serde_json::Value| {
            v.get("event").and_then(|e| e.as_str()) == Some(name)
                && v.pointer("/data/device").and_then(|d| d.as_str()) == Some(device)
        };
        if let Some(i) = self.events.iter().position(matches) {
            self.events.remove(i);
            return Ok(());
        }
        loop {
            let line = match self.read_line(deadline) {
                Ok(l) => l,
                Err(e) => return Err(format!("waiting for {name} of {device}: {e}")),
            };
            self.log(format!("<- {line}"));
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("QMP: {e}: {line}"))?;
            if matches(&v) {
                return Ok(());
            }
        }
    }
}

/// Waits until the kernel printed a line containing `pat`.
pub(crate) fn wait_line(rx: &mpsc::Receiver<String>, pat: &str, deadline: Instant) -> Result<(), String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(l) if l.contains(pat) => return Ok(()),
            Ok(l) if l.contains("FAILED") || l.starts_with("PANIC") => {
                return Err(format!("the kernel failed while waiting for \"{pat}\": {}", l.trim()))
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(format!("no \"{pat}\" from the kernel (timeout)")),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(format!("the run ended before \"{pat}\"")),
        }
    }
}

fn drive(
    steps: &[Step],
    rx: mpsc::Receiver<String>,
    sock: PathBuf,
    transcript: Arc<Mutex<Vec<String>>>,
) -> Result<(), String> {
    wait_line(&rx, "memlab: hotplug: ready", Instant::now() + STEP_TIMEOUT * 2)?;
    let mut qmp = Qmp::connect(&sock, Instant::now() + STEP_TIMEOUT, transcript)?;
    let mut plugged: Vec<String> = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        let deadline = Instant::now() + STEP_TIMEOUT;
        match step {
            Step::Add { bytes, node } => {
                let id = format!("dimm{}", k + 1);
                let mem = format!("mem{}", k + 1);
                qmp.execute(
                    "object-add",
                    serde_json::json!({"qom-type": "memory-backend-ram", "id": mem, "size": bytes}),
                    deadline,
                )?;
                let mut dev = serde_json::json!({"driver": "pc-dimm", "id": id, "memdev": mem});
                if let Some(n) = node {
                    dev["node"] = serde_json::json!(n);
                }
                qmp.execute("device_add", dev, deadline)?;
                wait_line(&rx, &format!("memlab: hotplug: event {} of {} done", k + 1, steps.len()), deadline)?;
                plugged.push(id);
            }
            Step::Del => {
                let id = plugged.pop().ok_or("del with no DIMM plugged")?;
                qmp.execute("device_del", serde_json::json!({ "id": id }), deadline)?;
                wait_line(&rx, &format!("memlab: hotplug: event {} of {} done", k + 1, steps.len()), deadline)?;
                qmp.wait_event("DEVICE_DELETED", &id, deadline)?;
            }
        }
    }
    Ok(())
}

/// What a hotplug run did on the host side.
#[derive(Clone, Debug)]
pub struct Driven {
    /// `Err` when a step could not be driven (the kernel's own verdict is in the run's outcome).
    pub result: Result<(), String>,
    /// Every QMP line sent (`-> `) and received (`<- `).
    pub transcript: Vec<String>,
}

/// Prepares `cfg` for a run driven over QMP: a fresh socket path (removed first) passed with `-qmp`, and a line
/// hook that sends every serial line to the returned receiver.
pub(crate) fn qmp_harness(cfg: &mut RunConfig, tag: &str) -> (PathBuf, mpsc::Receiver<String>) {
    let sock = qemu::target_dir().join("memlab").join(format!(
        "qmp-{tag}{}-{}.sock",
        std::process::id(),
        qemu::unique_suffix()
    ));
    let _ = std::fs::create_dir_all(sock.parent().expect("has a parent"));
    let _ = std::fs::remove_file(&sock);
    cfg.extra_qemu_args.push("-qmp".into());
    cfg.extra_qemu_args.push(format!("unix:{},server=on,wait=off", sock.display()));
    let (tx, rx) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    cfg.line_hook = Some(LineHook(Arc::new(move |l: &str| {
        let _ = tx.lock().expect("hook lock").send(l.to_string());
    })));
    (sock, rx)
}

/// Waits for the driver once the run is over (the caller dropped the config, so the hook's sender is gone and a
/// waiting driver wakes up), removes the socket, and returns what was driven.
pub(crate) fn finish_driver(
    driver: std::thread::JoinHandle<Result<(), String>>,
    sock: &std::path::Path,
    transcript: &Mutex<Vec<String>>,
) -> Driven {
    let result = driver.join().unwrap_or_else(|_| Err("the hotplug driver panicked".into()));
    let _ = std::fs::remove_file(sock);
    let transcript = transcript.lock().expect("transcript lock").clone();
    Driven { result, transcript }
}

/// Runs `cfg` with `hotplug=N` added to the kernel command line and a QMP socket, driving `steps`.
pub fn run(cfg: &RunConfig, steps: &[Step]) -> Result<(RunOutcome, Driven), SetupError> {
    let mut cfg = cfg.clone();
    if !cfg.cmdline.split_whitespace().any(|w| w.starts_with("hotplug=")) {
        cfg.cmdline = format!("{} hotplug={}", cfg.cmdline, steps.len()).trim().to_string();
    }
    let (sock, rx) = qmp_harness(&mut cfg, "");
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let (t2, s2, steps2) = (transcript.clone(), sock.clone(), steps.to_vec());
    let driver = std::thread::spawn(move || drive(&steps2, rx, s2, t2));
    let out = qemu::run(&cfg);
    drop(cfg);
    let driven = finish_driver(driver, &sock, &transcript);
    Ok((out?, driven))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        assert_eq!(
            parse_script("add:512M,del,add:1G@1").unwrap(),
            vec![Step::Add { bytes: 512 << 20, node: None }, Step::Del, Step::Add { bytes: 1 << 30, node: Some(1) }]
        );
        assert!(parse_script("del").unwrap_err().contains("no DIMM plugged"));
        assert!(parse_script("add:3K").unwrap_err().contains("bad size"));
        assert!(parse_script("add:1G@x").unwrap_err().contains("bad node"));
        assert!(parse_script("plug:1G").unwrap_err().contains("bad hotplug step"));
        assert!(profile_script("hotplug-demo").is_some_and(|s| parse_script(s).is_ok()));
    }
}
