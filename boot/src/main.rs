//! `memlab`: the host program. [`boot::cli`] parses the command line (clap); each command is one match arm
//! calling its module's `main(args) -> u8` (the process exit status, see `boot::exit`). Bare `memlab` (what
//! `cargo run` does) is `memlab run --profile default`.
use std::process::ExitCode;

use boot::cli::{self, Command};
use boot::{compare, diff, explain, linux, profiles, run, sim};

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(status) => return ExitCode::from(status),
    };
    let status = match cli.command {
        None => run::main(cli.run),
        Some(Command::Run(a)) => run::main(a),
        Some(Command::Profiles) => profiles::main(),
        Some(Command::Sim(a)) => sim::main(a),
        Some(Command::Compare(a)) => compare::main(a),
        Some(Command::Explain(a)) => explain::main(a),
        Some(Command::Linux(a)) => linux::main(a),
        Some(Command::Diff(a)) => diff::main(a),
        Some(Command::Completions { shell }) => cli::completions(shell),
    };
    ExitCode::from(status)
}
