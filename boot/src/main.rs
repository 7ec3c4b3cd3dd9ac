//! `memlab`: the host program. A small dispatcher: each subcommand is one match arm calling its module's
//! `main(&[String]) -> u8` (the process exit status). Bare `memlab` (what `cargo run` does) is
//! `memlab run --profile default`.
use std::process::ExitCode;

use boot::{compare, diff, explain, linux, profiles, run, sim, USAGE_ERROR};

const USAGE: &str =
    "usage: memlab [run [OPTIONS] | profiles | sim <boot-log> [OPTIONS] | compare ... | explain ... | help]
  run        boot a QEMU profile and run the kernel's self-tests (default: run --profile default); --svg FILE
  profiles   list the QEMU profiles and their command lines
  sim        simulate memmap init from a Linux boot log (memlab sim --help); --svg FILE
  compare    one layout under several policies: memlab compare <boot-log | --profile NAME> [--policies a,b]
             [--json] [--svg FILE]
  explain    one pfn: memlab explain <pfn> <boot-log | --profile NAME> [--policy NAME]
  linux      boot Debian's Linux 6.1 on a profile with memlab's guest agent: memlab linux [--profile NAME]
             [--firmware bios|uefi] [--cmdline \"k=v ...\"] [--timeout SECS] [-- qemu args]
  diff       boot Linux and memlab on the same profile and compare them field by field: memlab diff
             [--profile NAME] [--firmware bios|uefi] [--cmdline \"k=v ...\"] [--json] [-- qemu args]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        None => ("run", &[][..]),
        // `memlab --profile m4000` is `memlab run --profile m4000`.
        Some((c, _)) if c.starts_with("--") && c != "--help" => ("run", &args[..]),
        Some((c, rest)) => (c.as_str(), rest),
    };
    let status = match command {
        "run" => run::main(rest),
        "profiles" => profiles::main(rest),
        "sim" => sim::main(rest),
        "compare" => compare::main(rest),
        "explain" => explain::main(rest),
        "linux" => linux::main(rest),
        "diff" => diff::main(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            0
        }
        other => {
            eprintln!("memlab: unknown command \"{other}\"\n{USAGE}");
            USAGE_ERROR
        }
    };
    ExitCode::from(status)
}
