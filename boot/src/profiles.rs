//! The named QEMU presets: one row each in [`PROFILES`], with the machine arguments and the facts a boot of it
//! must show. Adding a profile is adding a row.
//!
//! Layout facts are from shared/reference/qemu-layouts.md (QEMU 7.2, verified). The common arguments (disk,
//! serial, isa-debug-exit, fw_cfg command line, firmware) are added by [`crate::qemu`], not here.

use std::fmt::Write;

/// One preset.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub description: &'static str,
    /// Machine arguments (memory, CPUs, NUMA), passed to QEMU as they are.
    pub machine: &'static [&'static str],
    /// The number of NUMA nodes the kernel should find (passed as `expect_nodes=`; checked by a self-test).
    pub nodes: u32,
}

const NUMA2: &[&str] = &[
    "-machine",
    "pc",
    "-m",
    "4000M",
    "-smp",
    "2",
    "-object",
    "memory-backend-ram,id=m0,size=2000M",
    "-object",
    "memory-backend-ram,id=m1,size=2000M",
    "-numa",
    "node,nodeid=0,cpus=0,memdev=m0",
    "-numa",
    "node,nodeid=1,cpus=1,memdev=m1",
    // A SLIT: node distances for the buddy allocator's zonelists.
    "-numa",
    "dist,src=0,dst=1,val=21",
];

/// Every preset. `default` is what a bare `cargo run` boots.
pub const PROFILES: &[Profile] = &[
    Profile { name: "default", description: "= numa2", machine: NUMA2, nodes: 2 },
    Profile {
        name: "m4000",
        description: "pc, 4000M: RAM ends 32 MiB into section 39 (tail hole); 1 TiB HyperTransport hole reserved",
        machine: &["-machine", "pc", "-m", "4000M"],
        nodes: 1,
    },
    Profile {
        name: "q35-m4000",
        description: "q35, 4000M: only 2 GiB below 4 GiB, MMCONFIG hole",
        machine: &["-machine", "q35", "-m", "4000M"],
        nodes: 1,
    },
    Profile {
        name: "numa2",
        description: "pc, 4000M, two nodes of 2000M: the node boundary is 80 MiB into section 15",
        machine: NUMA2,
        nodes: 2,
    },
    Profile {
        name: "q35-numa2",
        description: "q35, 4000M, two nodes of 2000M: node 1 is [0x7d000000, 2 GiB) and RAM from 4 GiB",
        machine: &[
            "-machine",
            "q35",
            "-m",
            "4000M",
            "-smp",
            "2",
            "-object",
            "memory-backend-ram,id=m0,size=2000M",
            "-object",
            "memory-backend-ram,id=m1,size=2000M",
            "-numa",
            "node,nodeid=0,cpus=0,memdev=m0",
            "-numa",
            "node,nodeid=1,cpus=1,memdev=m1",
        ],
        nodes: 2,
    },
    Profile {
        name: "memoryless-node",
        description: "pc, 2G, node 1 has a CPU but no memory: QEMU writes a disabled, zero-length SRAT entry",
        machine: &[
            "-machine",
            "pc",
            "-m",
            "2G",
            "-smp",
            "2",
            "-object",
            "memory-backend-ram,id=m0,size=2G",
            "-numa",
            "node,nodeid=0,cpus=0,memdev=m0",
            "-numa",
            "node,nodeid=1,cpus=1",
        ],
        nodes: 2,
    },
    Profile {
        name: "node-in-section",
        description: "pc, 8G, nodes of 4160M and 4032M: a node boundary inside a section (Linux reproducer)",
        machine: &[
            "-machine",
            "pc",
            "-m",
            "8G",
            "-smp",
            "sockets=2,cores=2",
            "-object",
            "memory-backend-ram,id=bmem0,size=4160M",
            "-object",
            "memory-backend-ram,id=bmem1,size=4032M",
            "-numa",
            "node,nodeid=0,cpus=0-1,memdev=bmem0",
            "-numa",
            "node,nodeid=1,cpus=2-3,memdev=bmem1",
        ],
        nodes: 2,
    },
    Profile {
        name: "numa4-64g",
        description: "pc, 64G, four nodes of 16G (guest RAM is allocated lazily by the host)",
        machine: &[
            "-machine",
            "pc",
            "-m",
            "64G",
            "-smp",
            "4",
            "-object",
            "memory-backend-ram,id=m0,size=16G",
            "-object",
            "memory-backend-ram,id=m1,size=16G",
            "-object",
            "memory-backend-ram,id=m2,size=16G",
            "-object",
            "memory-backend-ram,id=m3,size=16G",
            "-numa",
            "node,nodeid=0,cpus=0,memdev=m0",
            "-numa",
            "node,nodeid=1,cpus=1,memdev=m1",
            "-numa",
            "node,nodeid=2,cpus=2,memdev=m2",
            "-numa",
            "node,nodeid=3,cpus=3,memdev=m3",
        ],
        nodes: 4,
    },
    Profile {
        name: "numa8-256g",
        description: "pc, 256G, eight nodes of 32G (4 GiB of memmap written by the guest; too slow for every CI run)",
        machine: &[
            "-machine",
            "pc",
            "-m",
            "256G",
            "-smp",
            "8",
            "-object",
            "memory-backend-ram,id=m0,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m1,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m2,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m3,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m4,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m5,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m6,size=32G,reserve=off",
            "-object",
            "memory-backend-ram,id=m7,size=32G,reserve=off",
            "-numa",
            "node,nodeid=0,cpus=0,memdev=m0",
            "-numa",
            "node,nodeid=1,cpus=1,memdev=m1",
            "-numa",
            "node,nodeid=2,cpus=2,memdev=m2",
            "-numa",
            "node,nodeid=3,cpus=3,memdev=m3",
            "-numa",
            "node,nodeid=4,cpus=4,memdev=m4",
            "-numa",
            "node,nodeid=5,cpus=5,memdev=m5",
            "-numa",
            "node,nodeid=6,cpus=6,memdev=m6",
            "-numa",
            "node,nodeid=7,cpus=7,memdev=m7",
        ],
        nodes: 8,
    },
    Profile {
        name: "hotplug-window",
        description: "pc, 4000M with 2 DIMM slots up to 8G: SRAT hotplug window ending mid-section",
        machine: &["-machine", "pc", "-m", "4000M,slots=2,maxmem=8G"],
        nodes: 1,
    },
    Profile {
        name: "hotplug-demo",
        description: "pc, 4000M with 4 DIMM slots up to 16G; runs the hotplug script add:512M,del,add:1G,del over QMP",
        machine: &["-machine", "pc", "-m", "4000M,slots=4,maxmem=16G"],
        nodes: 1,
    },
    Profile {
        name: "m4097",
        description: "pc, 4097M: 1 MiB past 4 GiB of RAM (2019 kpageflags reproducer)",
        machine: &["-machine", "pc", "-m", "4097M"],
        nodes: 1,
    },
    Profile { name: "tiny", description: "pc, 128M", machine: &["-machine", "pc", "-m", "128M"], nodes: 1 },
    Profile {
        name: "descending",
        description: "pc, 4000M: CPU 0 on the high-memory PXM, so Linux's node 0 lies above node 1 (bugzilla 213073)",
        machine: &[
            "-machine",
            "pc",
            "-m",
            "4000M",
            "-smp",
            "2",
            "-object",
            "memory-backend-ram,id=m0,size=1000M",
            "-object",
            "memory-backend-ram,id=m1,size=3000M",
            "-numa",
            "node,nodeid=0,cpus=1,memdev=m0",
            "-numa",
            "node,nodeid=1,cpus=0,memdev=m1",
        ],
        nodes: 2,
    },
];

/// The profile named `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The names of all profiles, comma-separated (for error messages).
pub fn names() -> String {
    PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Quotes a shell word when needed.
pub fn shell_word(w: &str) -> String {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,./:+@%".contains(c)) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The `memlab profiles` listing: name, description, machine arguments.
pub fn listing() -> String {
    let mut s = String::new();
    for p in PROFILES {
        let args: Vec<String> = p.machine.iter().map(|a| shell_word(a)).collect();
        let _ = writeln!(s, "{:<16} {} (nodes: {})", p.name, p.description, p.nodes);
        let _ = writeln!(s, "{:<16} qemu-system-x86_64 {}", "", args.join(" "));
    }
    s
}

/// `memlab profiles`: prints the table.
pub fn main() -> u8 {
    print!("{}", listing());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unique_and_default_exists() {
        for (i, p) in PROFILES.iter().enumerate() {
            assert!(!PROFILES[..i].iter().any(|q| q.name == p.name), "{} twice", p.name);
        }
        assert!(find("default").is_some());
        assert_eq!(shell_word("a b"), "'a b'");
    }
}
