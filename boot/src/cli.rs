//! The `memlab` command line (clap, derive): every command, its flags with their help, `help <command>`,
//! `--version`, and shell completions. Each command's module receives its typed arguments and returns an exit
//! status from the one table of [`crate::exit`].
//!
//! Bare `memlab` is `memlab run --profile default` (what `cargo run` does); `memlab --profile m4000` is
//! `memlab run --profile m4000`.
//!
//! # Invariants
//! - a usage error (unknown flag, bad value, missing argument) is clap's message prefixed `memlab: ` and status
//!   64 ([`crate::exit::USAGE`]), before anything is built or booted; `--help` and `--version` exit 0;
//! - the `run` and `diff` command lines are checked by `mm::cmdline::options::parse` on the host before any
//!   build or boot (status 4, as when the kernel rejects one).

use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use crate::exit::{self, Failure};
use crate::hotplug::{self, Step};
use crate::profiles;
use crate::qemu::RunConfig;
use crate::setup::Firmware;
use crate::status::RunStatus;

/// `memlab --version`: the crate version and `git describe` of the tree it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MEMLAB_GIT_DESCRIBE"), ")");

const ABOUT: &str = "memlab: a bare-metal x86_64 kernel and host tools for the Linux SPARSEMEM memory map \
(sections, struct pages, zones, hole initialization, the pageblock invariant)";

/// The whole command line.
#[derive(Parser, Debug)]
#[command(
    name = "memlab",
    version = VERSION,
    about = ABOUT,
    after_help = exit::TABLE,
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "COMMAND",
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a command: `run` with these flags.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Boot a QEMU profile, stream the serial console, run the kernel's self-tests (the default command).
    Run(RunArgs),
    /// List the QEMU profiles and their machine arguments.
    Profiles,
    /// Simulate memmap init from a Linux boot log on the host and compare Linux's own hole lines with ours.
    Sim(SimArgs),
    /// One layout under several hole policies, side by side (a boot log, or a profile booted once per policy).
    Compare(CompareArgs),
    /// Everything the model knows about one pfn: section, links, flags, the rule that initialized it.
    Explain(ExplainArgs),
    /// Boot Debian's Linux 6.1 on a profile with memlab's guest agent and print what it saw.
    Linux(LinuxArgs),
    /// Boot Linux and memlab on the same profile and compare them field by field.
    Diff(DiffArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What every QEMU boot takes (`run`, `linux`, `diff`).
#[derive(Args, Debug, Clone)]
pub struct BootArgs {
    /// The QEMU profile: machine, memory, CPUs, NUMA nodes (`memlab profiles` lists them).
    #[arg(long, value_name = "NAME", default_value = "default", value_parser = profile_names())]
    pub profile: String,
    /// The firmware: SeaBIOS (bios) or OVMF (uefi).
    #[arg(long, value_name = "FIRMWARE", default_value = "bios", value_parser = ["bios", "uefi"])]
    pub firmware: String,
    /// Kernel command-line words, `"key=value ..."` (`holes=`, `vm_debug=`, `kernelcore=`, `stress=`, ...).
    /// For run and diff they are checked on the host before anything is built (status 4 when rejected).
    #[arg(long, value_name = "WORDS", default_value = "")]
    pub cmdline: String,
    /// Kill QEMU after this many seconds (default 300; no limit with --gdb unless given).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Drive memory hotplug over QMP while the guest serves it: add:SIZE[@NODE],del,... (the hotplug-demo
    /// profile runs its own script by default).
    #[arg(long, value_name = "SCRIPT")]
    pub hotplug: Option<String>,
    /// Extra QEMU arguments, after `--` (they may change the layout: `expect_nodes=` is then not passed).
    #[arg(last = true, value_name = "QEMU_ARGS", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
}

/// `memlab run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub boot: BootArgs,
    /// QEMU waits for gdb on localhost:1234 (prints the gdb command to attach).
    #[arg(long)]
    pub gdb: bool,
    /// Print the kernel's early boot log lines as they come (the e820 and NUMA lines).
    #[arg(long)]
    pub boot_log: bool,
    /// Draw the booted layout (the serial log replayed in the simulator) to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<String>,
}

/// `memlab sim`.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// The boot log: dmesg, a serial console, a syslog excerpt, a mail quote, memlab's serial log; `-` is stdin.
    #[arg(value_name = "BOOT_LOG")]
    pub log: String,
    /// The hole policy. Default: the one of the log's era, from its `Linux version` line, else from the form of
    /// its own hole lines (the first output line says which and why).
    #[arg(long, value_name = "NAME", value_parser = policy_names())]
    pub policy: Option<String>,
    /// Print the summary as JSON (with the input warnings under "warnings").
    #[arg(long)]
    pub json: bool,
    /// ZONE_MOVABLE size: bytes (memparse: 512M, 2G) or N%; default: the log's command line.
    #[arg(long, value_name = "SIZE|N%", value_parser = crate::sim::parse_core)]
    pub movablecore: Option<mm::zones::CoreSpec>,
    /// Memory for the non-movable zones: bytes, N% or mirror; default: the log's command line.
    #[arg(long, value_name = "SIZE|N%|mirror", value_parser = crate::sim::parse_core)]
    pub kernelcore: Option<mm::zones::CoreSpec>,
    /// How the pageblock invariant is checked: panic (refuse the write and count it), warn, off.
    #[arg(long, value_name = "MODE", default_value = "warn", value_parser = ["panic", "warn", "off"])]
    pub vm_debug: String,
    /// Keep the raw firmware map (no page-0 reservation, no BIOS-area removal as Linux does on x86).
    #[arg(long)]
    pub no_e820_quirks: bool,
    /// Materialize every section (default: sections whose pages are all alike share one template page, so a
    /// 1 TiB log runs in seconds).
    #[arg(long)]
    pub full: bool,
    /// Zero new memmaps instead of filling them with the poison pattern.
    #[arg(long)]
    pub no_poison: bool,
    /// Exit 1 when the log's own hole lines differ from ours or a policy promise is broken.
    #[arg(long)]
    pub check: bool,
    /// Print timing and size figures (sections, materialized sections, memmap modelled and resident).
    #[arg(long)]
    pub stats: bool,
    /// Any input warning (a line read and not used, or adjusted) is an error: status 65.
    #[arg(long)]
    pub strict: bool,
    /// Defer each node's highest zone's struct pages as Linux 6.1 does, then initialize them with N threads
    /// (padata chunks) and print `node N deferred pages initialised in Xms`; the memmap ends up as without.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
    /// Draw the address space to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<String>,
}

/// Where `compare` and `explain` take their layout from: a boot log, or a profile booted in QEMU (compare: once
/// per policy; explain: once, under its policy) whose serial log is replayed.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// The boot log (`-` is stdin); or give --profile.
    #[arg(value_name = "BOOT_LOG", required_unless_present = "profile", conflicts_with = "profile")]
    pub log: Option<String>,
    /// Boot this QEMU profile instead of reading a log, and replay its serial log.
    #[arg(long, value_name = "NAME", value_parser = profile_names())]
    pub profile: Option<String>,
    /// The firmware of the profile's boots.
    #[arg(long, value_name = "FIRMWARE", default_value = "bios", value_parser = ["bios", "uefi"])]
    pub firmware: String,
}

/// `memlab compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The policies, comma-separated (default: every registered policy).
    #[arg(long, alias = "policy", value_name = "A,B,...", value_delimiter = ',', value_parser = policy_names())]
    pub policies: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw every policy's address space to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<String>,
    /// Run the walkers on large logs too (by default above 2^23 pages they are skipped).
    #[arg(long)]
    pub walkers: bool,
    /// QEMU boots at a time for --profile (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,
    /// Any input warning is an error: status 65.
    #[arg(long)]
    pub strict: bool,
}

/// `memlab explain`.
#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {
    /// The pfn: 0x-prefixed hex, or decimal (bare digits are decimal: 4096 is 0x1000).
    #[arg(value_name = "PFN", value_parser = crate::explain::parse_pfn)]
    pub pfn: u64,
    #[command(flatten)]
    pub source: SourceArgs,
    /// The hole policy. Default for a log: the one of its era, as `sim` chooses; for a profile: upstream.
    #[arg(long, value_name = "NAME", value_parser = policy_names())]
    pub policy: Option<String>,
    /// Any input warning is an error: status 65.
    #[arg(long)]
    pub strict: bool,
}

/// `memlab linux`.
#[derive(Args, Debug, Clone)]
pub struct LinuxArgs {
    #[command(flatten)]
    pub boot: BootArgs,
}

/// `memlab diff`.
#[derive(Args, Debug, Clone)]
pub struct DiffArgs {
    #[command(flatten)]
    pub boot: BootArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn profile_names() -> PossibleValuesParser {
    PossibleValuesParser::new(profiles::PROFILES.iter().map(|p| p.name))
}

fn policy_names() -> PossibleValuesParser {
    PossibleValuesParser::new(mm::policy::POLICIES.iter().map(|p| p.name()))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "accepted: seconds > 0".to_string())
}

impl BootArgs {
    /// The run configuration and the hotplug steps (the profile's own script unless --hotplug is given).
    pub fn config(&self) -> Result<(RunConfig, Option<Vec<Step>>), Failure> {
        let profile = profiles::find(&self.profile).ok_or_else(|| Failure::usage("unknown profile"))?;
        let mut cfg = RunConfig::new(profile);
        cfg.firmware = Firmware::parse(&self.firmware).ok_or_else(|| Failure::usage("unknown firmware"))?;
        cfg.cmdline = self.cmdline.clone();
        cfg.timeout = self.timeout.or(cfg.timeout);
        cfg.extra_qemu_args = self.qemu_args.clone();
        if let Some(conflict) = memory_conflict(profile, &self.qemu_args) {
            return Err(Failure::usage(conflict));
        }
        let script = self.hotplug.clone().or_else(|| hotplug::profile_script(profile.name).map(String::from));
        let steps = script.map(|s| hotplug::parse_script(&s)).transpose().map_err(Failure::usage)?;
        Ok((cfg, steps))
    }

    /// Checks the kernel command line the run will pass (with `expect_nodes=`) as the kernel will.
    pub fn check_kernel_cmdline(cfg: &RunConfig) -> Result<(), Failure> {
        mm::cmdline::options::parse(cfg.kernel_cmdline().as_bytes())
            .map(|_| ())
            .map_err(|e| Failure::run(RunStatus::BadCmdline, format!("{e} (nothing was booted)")))
    }
}

/// `-m SIZE` among the extra QEMU arguments of a profile whose NUMA nodes are backed by their own memory
/// objects: QEMU refuses it (the nodes' sizes must add up to -m), so say which profiles take `-m`.
pub fn memory_conflict(profile: &profiles::Profile, extra: &[String]) -> Option<String> {
    let m = extra.iter().position(|a| a == "-m").map(|i| extra.get(i + 1).map_or("", String::as_str))?;
    if !profile.machine.iter().any(|a| *a == "-numa") {
        return None;
    }
    let given = profile.machine.iter().position(|a| *a == "-m").and_then(|i| profile.machine.get(i + 1));
    let no_numa: Vec<&str> =
        profiles::PROFILES.iter().filter(|p| !p.machine.contains(&"-numa")).map(|p| p.name).collect();
    Some(format!(
        "-m {m} conflicts with profile {}: its NUMA nodes are backed by memory objects that add up to -m {} and QEMU \
         refuses any other size; take a profile without NUMA ({}) for -m, or leave -m out",
        profile.name,
        given.unwrap_or(&"?"),
        no_numa.join(", ")
    ))
}

/// Parses the process arguments; a usage error or `--help`/`--version` is printed here and its status returned.
pub fn parse() -> Result<Cli, u8> {
    match Cli::try_parse() {
        Ok(c) => Ok(c),
        Err(e) => Err(report_clap(e)),
    }
}

/// Prints a clap error (`memlab: ` + its message) or the help/version it carries; returns the exit status.
pub fn report_clap(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            let text = e.render().to_string();
            eprint!("memlab: {}", text.strip_prefix("error: ").unwrap_or(&text));
            exit::USAGE
        }
    }
}

/// `memlab completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "memlab", &mut std::io::stdout());
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("memlab").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_flags_and_bare_run() {
        let c = parse(&[
            "run",
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
        ])
        .unwrap();
        let Some(Command::Run(r)) = c.command else { panic!("run") };
        let (cfg, steps) = r.boot.config().unwrap();
        assert_eq!((cfg.profile.name, cfg.firmware), ("m4000", Firmware::Uefi));
        assert_eq!(cfg.timeout, Some(Duration::from_secs(5)));
        assert_eq!(cfg.extra_qemu_args, ["-smp", "2"]);
        assert_eq!(cfg.kernel_cmdline(), "loglevel=debug", "extra QEMU args: no expect_nodes");
        assert!(steps.is_none());
        let c = parse(&["--profile", "tiny", "--gdb"]).unwrap();
        assert!(c.command.is_none() && c.run.gdb && c.run.boot.profile == "tiny");
        let c = parse(&[]).unwrap();
        assert_eq!(c.run.boot.config().unwrap().0.kernel_cmdline(), "expect_nodes=2");
        let (cfg, steps) =
            parse(&["run", "--profile", "hotplug-demo"]).unwrap().run_or_command_boot().config().unwrap();
        assert!(steps.is_some_and(|s| !s.is_empty()), "{}", cfg.profile.name);
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["run", "--profile", "nope"][..],
            &["run", "--timeout", "x"],
            &["run", "--timeout"],
            &["frobnicate"],
            &["run", "--gdb=1"],
            &["sim"],
            &["sim", "a.log", "--policy", "nope"],
            &["compare"],
            &["compare", "a.log", "--profile", "m4000"],
            &["compare", "--profile", "m4000", "--jobs", "0"],
            &["explain", "zz", "a.log"],
            &["explain", "0x10"],
            &["profiles", "extra"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let e = parse(&["run", "--profile", "nope"]).unwrap_err().render().to_string();
        assert!(e.contains("possible values: default, m4000"), "{e}");
    }

    #[test]
    fn help_for_every_command_describes_every_flag() {
        let mut cmd = Cli::command();
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            for a in sub.get_arguments() {
                if a.get_id() == "help" || a.get_id() == "version" {
                    continue;
                }
                assert!(a.get_help().is_some() || a.get_long_help().is_some(), "{} {}", sub.get_name(), a.get_id());
                if let Some(l) = a.get_long() {
                    assert!(help.contains(&format!("--{l}")), "{}: --{l} missing from its help", sub.get_name());
                }
            }
        }
        assert!(Cli::command().render_long_help().to_string().contains("Exit status"));
    }

    #[test]
    fn pfns_hex_or_decimal() {
        let Ok(Cli { command: Some(Command::Explain(e)), .. }) = parse(&["explain", "4096", "x.log"]) else { panic!() };
        assert_eq!(e.pfn, 0x1000);
        let Ok(Cli { command: Some(Command::Explain(e)), .. }) = parse(&["explain", "0x13a000", "-"]) else { panic!() };
        assert_eq!((e.pfn, e.source.log.as_deref()), (0x13a000, Some("-")));
    }

    #[test]
    fn memory_size_on_a_numa_profile_is_named() {
        let numa2 = profiles::find("numa2").unwrap();
        let e = memory_conflict(numa2, &["-m".into(), "64M".into()]).unwrap();
        assert!(e.starts_with("-m 64M conflicts with profile numa2") && e.contains("tiny"), "{e}");
        assert_eq!(memory_conflict(profiles::find("tiny").unwrap(), &["-m".into(), "64M".into()]), None);
        assert_eq!(memory_conflict(numa2, &["-smp".into(), "2".into()]), None);
    }

    #[test]
    fn bad_kernel_command_line_found_on_the_host() {
        let (cfg, _) = parse(&["run", "--cmdline", "loglevel=loud"]).unwrap().run_or_command_boot().config().unwrap();
        let f = BootArgs::check_kernel_cmdline(&cfg).unwrap_err();
        assert_eq!(f.status, 4);
        assert!(f.message.starts_with("cmdline: ") && f.message.contains("loud"), "{}", f.message);
        let (cfg, _) = parse(&["run", "--cmdline", "holes=zeroed"]).unwrap().run_or_command_boot().config().unwrap();
        assert_eq!(BootArgs::check_kernel_cmdline(&cfg), Ok(()));
    }

    impl Cli {
        fn run_or_command_boot(self) -> BootArgs {
            match self.command {
                Some(Command::Run(r)) => r.boot,
                _ => self.run.boot,
            }
        }
    }
}
