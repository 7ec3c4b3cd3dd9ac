//! Which policy a boot log's era calls for, and why: the `Linux version X.Y` line names an era, and the form of
//! Linux's own hole lines names a family of policies. Used by the host commands when no policy is given.
//!
//! | Linux | hole line | policy |
//! |---|---|---|
//! | 4.17-4.19 | `Reserved but unavailable: N pages` | none modelled; nearest `zeroed-no-tail` |
//! | 4.20-5.5 | `Zeroed struct page in unavailable ranges: N pages` | `zeroed-no-tail` |
//! | 5.6-5.11 | the same line | `zeroed` (e822969cab48 added the tail of the last section) |
//! | 5.12-5.13 | `  DMA zone: N pages in unavailable ranges` | `upstream-5.12` (0740a50b9baa) |
//! | 5.14 on, and backports | `On node N, zone Z: N pages in unavailable ranges` | `upstream` (122e093c1734) |
//!
//! # Invariants
//! - every candidate is a registered policy name; there is always at least one;
//! - the hole lines outrank the version when they disagree (a distribution backport prints the later form under
//!   an older version), and the reason says so;
//! - where the lines name a family of several policies and no version picks one, every member is a candidate,
//!   in era order: the caller keeps the first whose numbers agree with the log's, and says so.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::dmesg::BootLog;

/// The policies a log calls for, best first, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EraChoice {
    pub candidates: Vec<&'static str>,
    pub reason: String,
}

/// The policy of a Linux version, and the era's name.
pub fn policy_of_version(major: u32, minor: u32) -> (&'static str, &'static str) {
    match (major, minor) {
        v if v < (4, 20) => ("zeroed-no-tail", "before 4.20, no modelled era: the nearest"),
        v if v < (5, 6) => ("zeroed-no-tail", "4.20-5.5"),
        v if v < (5, 12) => ("zeroed", "5.6-5.11"),
        v if v < (5, 14) => ("upstream-5.12", "5.12-5.13"),
        _ => ("upstream", "5.14 on"),
    }
}

/// The family the log's own hole lines name, and the form in words; `None` without hole lines.
fn family_of_lines(log: &BootLog) -> Option<(Vec<&'static str>, &'static str)> {
    if !log.unavailable.is_empty() {
        Some((vec!["upstream"], "`On node N, zone Z: K pages in unavailable ranges` (5.14 on)"))
    } else if !log.zone_unavailable.is_empty() {
        Some((vec!["upstream-5.12"], "`  DMA zone: K pages in unavailable ranges` (5.12-5.13)"))
    } else if log.zeroed_unavailable.is_some() {
        Some((vec!["zeroed-no-tail", "zeroed"], "`Zeroed struct page in unavailable ranges` (4.20-5.11)"))
    } else if log.reserved_unavailable.is_some() {
        Some((vec!["zeroed-no-tail"], "`Reserved but unavailable` (4.17-4.19)"))
    } else {
        None
    }
}

/// See the module documentation.
pub fn choose(log: &BootLog) -> EraChoice {
    let version = log.linux_version.as_ref().map(|v| (v.major, v.minor, v.release.as_str()));
    let family = family_of_lines(log);
    match (version, family) {
        (Some((ma, mi, rel)), Some((fam, form))) => {
            let (p, era) = policy_of_version(ma, mi);
            if fam.contains(&p) {
                EraChoice {
                    candidates: vec![p],
                    reason: format!("Linux {rel} (era {era}), and its hole lines are the {form} form"),
                }
            } else {
                EraChoice {
                    candidates: fam.clone(),
                    reason: format!(
                        "Linux {rel} (era {era}) would be {p}, but its hole lines are the {form} form (a backport?): \
                         the lines decide"
                    ),
                }
            }
        }
        (Some((ma, mi, rel)), None) => {
            let (p, era) = policy_of_version(ma, mi);
            EraChoice { candidates: vec![p], reason: format!("Linux {rel} (era {era}); the log has no hole lines") }
        }
        (None, Some((fam, form))) => {
            EraChoice { candidates: fam, reason: format!("no Linux version line; its hole lines are the {form} form") }
        }
        (None, None) => EraChoice {
            candidates: vec![super::DEFAULT_POLICY],
            reason: "no Linux version line and no hole lines: the default".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dmesg::parse;

    #[test]
    fn versions_pick_their_era() {
        assert_eq!(policy_of_version(4, 19).0, "zeroed-no-tail");
        assert_eq!(policy_of_version(4, 20).0, "zeroed-no-tail");
        assert_eq!(policy_of_version(5, 5).0, "zeroed-no-tail");
        assert_eq!(policy_of_version(5, 6).0, "zeroed");
        assert_eq!(policy_of_version(5, 11).0, "zeroed");
        assert_eq!(policy_of_version(5, 12).0, "upstream-5.12");
        assert_eq!(policy_of_version(5, 13).0, "upstream-5.12");
        assert_eq!(policy_of_version(5, 14).0, "upstream");
        assert_eq!(policy_of_version(6, 1).0, "upstream");
        for (ma, mi) in [(3, 10), (4, 20), (5, 6), (5, 12), (6, 12)] {
            assert!(crate::policy::by_name(policy_of_version(ma, mi).0).is_some());
        }
    }

    #[test]
    fn lines_outrank_the_version_and_families_list_every_member() {
        let backport = parse("Linux version 5.11.0-37-generic\nOn node 0, zone DMA: 1 pages in unavailable ranges\n");
        let c = choose(&backport);
        assert_eq!(c.candidates, ["upstream"]);
        assert!(c.reason.contains("would be zeroed") && c.reason.contains("the lines decide"), "{}", c.reason);
        let agree = parse("Linux version 5.10.0-8-amd64\nZeroed struct page in unavailable ranges: 98 pages\n");
        assert_eq!(choose(&agree).candidates, ["zeroed"]);
        let family = parse("Zeroed struct page in unavailable ranges: 98 pages\n");
        assert_eq!(choose(&family).candidates, ["zeroed-no-tail", "zeroed"]);
        assert_eq!(choose(&parse("  DMA zone: 3 pages in unavailable ranges\n")).candidates, ["upstream-5.12"]);
        assert_eq!(choose(&parse("Linux version 5.12.1\n")).candidates, ["upstream-5.12"]);
        let none = choose(&parse("nothing here\n"));
        assert_eq!(none.candidates, [crate::policy::DEFAULT_POLICY]);
        assert!(none.reason.contains("default"));
    }
}
