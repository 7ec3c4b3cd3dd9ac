//! Memory hotplug in the Linux guest: the same script as `memlab run --hotplug` (`add:SIZE[@NODE]`, `del`),
//! driven over QMP, with the guest agent onlining and offlining the memory blocks.
//!
//! The agent runs with `memlab.agent=wait` and reads commands from the console. For step K:
//! - `add`: QMP `object-add` + `device_add pc-dimm`; then `ONLINE stepK` to the agent, which waits for the new
//!   offline blocks, writes ONLINE (`online`, `online_movable` or `online_kernel`) to their `state` and dumps;
//! - `del`: `offline stepK-offline` to the agent (the hot-added blocks go offline, as Linux requires before an
//!   eject), then QMP `device_del` and QEMU's `DEVICE_DELETED` (the guest ejected the DIMM), then `dump stepK`.
//!
//! So the dump named `stepK` shows the state after step K, as memlab's kernel's dump `stepK` does.
//!
//! # Invariants
//! - a command is sent only after the agent's `@@agent ready`; the driver gives up after
//!   [`crate::hotplug::STEP_TIMEOUT`] per step and the run's own timeout still ends QEMU;
//! - the agent always gets `end` (or end of input), so it powers off.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use crate::hotplug::{finish_driver, qmp_harness, wait_line, Driven, Qmp, Step, STEP_TIMEOUT};
use crate::qemu::RunConfig;
use crate::status::RunStatus;

use super::LinuxOutcome;

/// The agent's word for onlining, from memlab's `online_policy=` (auto = Linux's `online`: the default zone).
pub fn online_word(cmdline: &str) -> &'static str {
    match cmdline.split_whitespace().find_map(|w| w.strip_prefix("online_policy=")) {
        Some("movable") => "online_movable",
        Some("normal") => "online_kernel",
        _ => "online",
    }
}

const READY: &str = "@@agent ready";

fn drive(
    steps: &[Step],
    online: &str,
    rx: mpsc::Receiver<String>,
    input: mpsc::Sender<String>,
    sock: std::path::PathBuf,
    transcript: Arc<Mutex<Vec<String>>>,
) -> Result<(), String> {
    let send = |s: String| input.send(s).map_err(|_| "the guest's console is closed".to_string());
    wait_line(&rx, READY, Instant::now() + STEP_TIMEOUT * 2)?;
    let mut qmp = Qmp::connect(&sock, Instant::now() + STEP_TIMEOUT, transcript)?;
    let mut plugged: Vec<String> = Vec::new();
    let result = (|| {
        for (k, step) in steps.iter().enumerate() {
            let deadline = Instant::now() + STEP_TIMEOUT;
            let label = format!("step{}", k + 1);
            match step {
                Step::Add { bytes, node } => {
                    let (id, mem) = (format!("dimm{}", k + 1), format!("mem{}", k + 1));
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
                    send(format!("{online} {label}\n"))?;
                    wait_line(&rx, READY, deadline)?;
                    plugged.push(id);
                }
                Step::Del => {
                    let id = plugged.pop().ok_or("del with no DIMM plugged")?;
                    send(format!("offline {label}-offline\n"))?;
                    wait_line(&rx, READY, deadline)?;
                    qmp.execute("device_del", serde_json::json!({ "id": id }), deadline)?;
                    qmp.wait_event("DEVICE_DELETED", &id, deadline)?;
                    send(format!("dump {label}\n"))?;
                    wait_line(&rx, READY, deadline)?;
                }
            }
        }
        Ok(())
    })();
    let _ = send("end\n".into());
    result
}

/// Boots Linux on `cfg` with a QMP socket and drives `steps` (see the module documentation).
pub fn boot(cfg: &RunConfig, steps: &[Step]) -> Result<(LinuxOutcome, Driven), (RunStatus, String)> {
    let mut cfg = cfg.clone();
    let online = online_word(&cfg.cmdline);
    cfg.cmdline = format!("{} memlab.agent=wait", cfg.cmdline).trim().to_string();
    let (sock, rx) = qmp_harness(&mut cfg, "linux-");
    let (in_tx, in_rx) = mpsc::channel::<String>();
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let (t2, s2, steps2) = (transcript.clone(), sock.clone(), steps.to_vec());
    let driver = std::thread::spawn(move || drive(&steps2, online, rx, in_tx, s2, t2));
    let out = super::boot_with(&cfg, Some(in_rx));
    drop(cfg);
    let driven = finish_driver(driver, &sock, &transcript);
    Ok((out?, driven))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_words_follow_memlab_policies() {
        assert_eq!(online_word(""), "online");
        assert_eq!(online_word("holes=zeroed online_policy=movable"), "online_movable");
        assert_eq!(online_word("online_policy=normal"), "online_kernel");
        assert_eq!(online_word("online_policy=auto"), "online");
    }
}
