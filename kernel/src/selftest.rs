//! The in-kernel self-test runner.
//!
//! Every test is one row of [`crate::tests::TESTS`]: a name and a `fn() -> TestResult`. A test fails by
//! returning `Err(reason)`, usually through [`check!`]/[`check_eq!`], which return early with the failed
//! condition and its location; the runner prints the outcome and goes on with the next test:
//! ```text
//! test heap_alloc_free ... ok
//! test firmware_map_sorted ... FAILED: regions[3].end <= regions[4].start at kernel/src/tests.rs:40
//! 7 passed, 1 failed
//! ```
//! `selftest=<filter>` runs the tests whose name contains the filter. Demo tests (names starting with `__`)
//! show the failure paths (an assertion failure, a page fault, a hang, a stack overflow) and run only when the
//! filter names them exactly.
//!
//! # Invariants
//! - exactly one summary line `N passed, N failed` ends a run, then the kernel exits with PASS (no failure) or
//!   TESTS_FAILED;
//! - a filter that selects no test is a bad command line (nothing is silently skipped).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::exit::{exit, ExitCode};
use crate::println;

/// What a test returns: `Err(reason)` fails it.
pub type TestResult = Result<(), String>;

/// One registered test.
pub struct SelfTest {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

impl SelfTest {
    /// Demo tests run only when selected by their exact name.
    pub fn is_demo(&self) -> bool {
        self.name.starts_with("__")
    }

    /// Whether `filter` selects this test.
    pub fn selected_by(&self, filter: Option<&str>) -> bool {
        match filter {
            _ if self.is_demo() => filter == Some(self.name),
            None => true,
            Some(f) => self.name.contains(f),
        }
    }
}

/// Fails the test with the condition's text and location unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(alloc::format!("{} at {}:{}", stringify!($cond), file!(), line!()));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(alloc::format!("{} at {}:{}", format_args!($($arg)+), file!(), line!()));
        }
    };
}

/// Fails the test unless `left == right`, printing both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err(alloc::format!(
                        "{} == {} (left: {:?}, right: {:?}) at {}:{}",
                        stringify!($left),
                        stringify!($right),
                        l,
                        r,
                        file!(),
                        line!()
                    ));
                }
            }
        }
    };
}

/// Runs the selected tests and exits QEMU.
pub fn run(tests: &[SelfTest], filter: Option<&str>) -> ! {
    let selected: Vec<&SelfTest> = tests.iter().filter(|t| t.selected_by(filter)).collect();
    if selected.is_empty() {
        let names: Vec<&str> = tests.iter().map(|t| t.name).collect();
        println!(
            "cmdline: no self-test matches word \"selftest={}\"; accepted: a substring of {} (demo tests by exact name)",
            filter.unwrap_or(""),
            names.join(", ")
        );
        exit(ExitCode::BadCmdline);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for t in selected {
        crate::print!("test {} ... ", t.name);
        match (t.run)() {
            Ok(()) => {
                passed += 1;
                println!("ok");
            }
            Err(reason) => {
                failed += 1;
                // One line per outcome: a multi-line reason is folded.
                let reason: String = reason.replace('\n', " | ");
                println!("FAILED: {}", reason);
            }
        }
    }
    println!("{}", format!("{} passed, {} failed", passed, failed));
    exit(if failed == 0 { ExitCode::Pass } else { ExitCode::TestsFailed })
}
