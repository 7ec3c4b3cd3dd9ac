//! Shared helpers of the host integration tests (tests/tests/*.rs): QEMU runs through the `boot` library,
//! limited to [`MAX_PARALLEL_QEMU`] at a time whatever `--test-threads` says, with the disk images built once.
//!
//! # Invariants
//! - every run goes through [`boot_run`], which holds a slot of the semaphore for the whole QEMU run;
//! - a set-up problem (QEMU missing and not installable) fails the test with the runner's one-line message.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use boot::{profiles, Firmware, RunConfig, RunOutcome};

/// QEMU instances at the same time: TCG is CPU-bound, and these machines have 2 cores.
pub const MAX_PARALLEL_QEMU: usize = 2;
/// The timeout of one test run (a boot takes 2-8 s; parallel runs on 2 cores take longer).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

struct Semaphore {
    free: Mutex<usize>,
    cv: Condvar,
}

static SLOTS: Semaphore = Semaphore { free: Mutex::new(MAX_PARALLEL_QEMU), cv: Condvar::new() };

struct Slot(usize);

impl Slot {
    fn take() -> Slot {
        Slot::take_n(1)
    }

    /// `n` slots at once (a `diff` runs two QEMU): taken together, so two takers cannot deadlock.
    fn take_n(n: usize) -> Slot {
        let mut free = SLOTS.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free < n {
            free = SLOTS.cv.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= n;
        Slot(n)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.free.lock().unwrap_or_else(|e| e.into_inner()) += self.0;
        SLOTS.cv.notify_all();
    }
}

/// Builds both disk images once per test binary (and checks the host tools once).
fn prepare() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let r = READY.get_or_init(|| {
        let logs = boot::qemu::target_dir().join("memlab").join("logs");
        boot::setup::host_tools(Firmware::Uefi, &logs).map_err(|e| e.0)?;
        for fw in [Firmware::Bios, Firmware::Uefi] {
            boot::qemu::build_image(fw, false).map_err(|e| e.0)?;
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// A run configuration: `profile` under `firmware` with kernel command line `cmdline`.
pub fn config(profile: &str, firmware: Firmware, cmdline: &str) -> RunConfig {
    let p = profiles::find(profile).unwrap_or_else(|| panic!("no profile {profile}"));
    let mut c = RunConfig::new(p);
    c.firmware = firmware;
    c.cmdline = cmdline.to_string();
    c.timeout = Some(RUN_TIMEOUT);
    c
}

/// Runs QEMU (at most [`MAX_PARALLEL_QEMU`] at a time).
pub fn boot_run(cfg: &RunConfig) -> RunOutcome {
    prepare();
    let _slot = Slot::take();
    match boot::qemu::run(cfg) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// Debian's Linux image, or why it cannot be had (the oracle tests then skip, saying so; CI installs it).
pub fn linux_image() -> Result<boot::linux::fetch::LinuxImage, String> {
    static IMAGE: OnceLock<Result<boot::linux::fetch::LinuxImage, String>> = OnceLock::new();
    IMAGE.get_or_init(|| boot::linux::fetch::ensure().map_err(|e| e.0)).clone()
}

/// Boots Linux alone on `cfg` (one slot).
pub fn linux_run(cfg: &RunConfig) -> boot::linux::LinuxOutcome {
    prepare();
    let _slot = Slot::take();
    match boot::linux::boot(cfg) {
        Ok(o) => o,
        Err((status, e)) => panic!("{e} (status {})", status.code()),
    }
}

/// Boots Linux and memlab at once on `cfg` (two slots) for `memlab diff`.
pub fn diff_run(cfg: &RunConfig) -> (boot::linux::LinuxOutcome, RunOutcome) {
    diff_run_hotplug(cfg, None)
}

/// [`diff_run`] driving a hotplug script in both guests.
pub fn diff_run_hotplug(cfg: &RunConfig, script: Option<&str>) -> (boot::linux::LinuxOutcome, RunOutcome) {
    prepare();
    let steps = script.map(|s| boot::hotplug::parse_script(s).unwrap_or_else(|e| panic!("{e}")));
    let _slot = Slot::take_n(2);
    match boot::diff::boot_both_hotplug(cfg, steps.as_deref()) {
        Ok(o) => o,
        Err((status, e)) => panic!("{e} (status {})", status.code()),
    }
}

/// Runs QEMU driving a hotplug script (counted against [`MAX_PARALLEL_QEMU`] like any run).
pub fn hotplug_run(cfg: &RunConfig, script: &str) -> (RunOutcome, boot::hotplug::Driven) {
    prepare();
    let steps = boot::hotplug::parse_script(script).unwrap_or_else(|e| panic!("{e}"));
    let _slot = Slot::take();
    match boot::hotplug::run(cfg, &steps) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// A readable account of a run for assertion messages.
pub fn describe(o: &RunOutcome) -> String {
    format!(
        "status {:?} (QEMU {:?}) in {:.1} s, log {}\n--- serial ---\n{}--- QEMU stderr ---\n{}",
        o.status,
        o.qemu_status,
        o.duration.as_secs_f64(),
        o.log_path.display(),
        o.serial,
        o.qemu_stderr
    )
}

/// The cross-check of two substrates: the simulator, replaying the kernel's printed map (its `Early memory node
/// ranges`) under the kernel's policy, must print the same unavailable-ranges lines and find the same counts
/// of every verifier finding as the kernel did in guest RAM, with deferred struct page init as the kernel ran it
/// (on unless its command line says `deferred_init=off`: a policy whose hole init writes memory pages leaves them
/// to the deferred workers). Returns the number of findings compared.
pub fn cross_check(o: &RunOutcome) -> u64 {
    let Some(json) = o.log.summary_json.first() else { panic!("no @@summary line to cross-check: {}", describe(o)) };
    let field = |key: &str| -> Option<&str> {
        let i = json.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = &json[i..];
        let end = rest.find([',', '}'])?;
        Some(rest[..end].trim_matches('"'))
    };
    let policy = field("policy").unwrap_or_else(|| panic!("no policy in the summary: {}", describe(o)));
    let cmdline = mm::dmesg::parse(&o.serial).command_line.unwrap_or_default();
    let threads = mm::cmdline::options::deferred_init_on(&cmdline).then_some(1);
    let opts = boot::sim::SimOptions { policy: policy.to_string(), threads, ..boot::sim::SimOptions::default() };
    let r = boot::sim::simulate(&o.serial, &opts).unwrap_or_else(|e| panic!("the simulator rejects the log: {e}"));
    let kernel_lines: Vec<String> =
        o.serial.lines().map(str::trim_end).filter(|l| l.contains("in unavailable ranges")).map(String::from).collect();
    assert_eq!(r.our_hole_lines(), kernel_lines, "simulator vs kernel hole lines: {}", describe(o));
    let mut compared = 0;
    for k in mm::verify::FindingKind::ALL {
        let kernel: u64 = field(k.as_str()).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            panic!("no count for '{}' in the summary: {}", k.as_str(), describe(o));
        });
        if k == mm::verify::FindingKind::ReservedWithoutReason {
            // The replay has no reservations (a boot log does not list them): nothing to compare.
            continue;
        }
        assert_eq!(r.verification.count(k), kernel, "simulator vs kernel: '{}': {}", k.as_str(), describe(o));
        compared += kernel;
    }
    compared
}
