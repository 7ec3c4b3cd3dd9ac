//! The initramfs `memlab linux` boots: a `newc` cpio archive (the format Linux's initramfs unpacker reads,
//! Documentation/driver-api/early-userspace/buffer-format.rst), written here because no host `cpio` is installed.
//!
//! # Invariants
//! - every header is 110 ASCII bytes (`070701` and 13 eight-digit hex fields); name (with its NUL) and data are
//!   each padded to a multiple of 4 bytes; the archive ends with the `TRAILER!!!` entry;
//! - entries are written in the order given: a directory before the files in it.

/// One archive member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    Dir {
        name: &'a str,
    },
    File {
        name: &'a str,
        mode: u32,
        data: &'a [u8],
    },
    /// A character device node (`/dev/console` is 5:1): init's standard input and output.
    CharDev {
        name: &'a str,
        major: u32,
        minor: u32,
    },
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn member(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: fixed, so the archive is a pure function of its entries
        data.len() as u32,
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// The archive of `entries`. A file larger than 4 GiB cannot be stored in newc; none of ours is.
pub fn newc(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let ino = i as u32 + 1;
        match *e {
            Entry::Dir { name } => member(&mut out, ino, name, S_IFDIR | 0o755, 2, (0, 0), &[]),
            Entry::File { name, mode, data } => member(&mut out, ino, name, S_IFREG | (mode & 0o7777), 1, (0, 0), data),
            Entry::CharDev { name, major, minor } => {
                member(&mut out, ino, name, S_IFCHR | 0o600, 1, (major, minor), &[])
            }
        }
    }
    member(&mut out, 0, "TRAILER!!!", 0, 1, (0, 0), &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(h: &[u8], i: usize) -> u32 {
        u32::from_str_radix(std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap()
    }

    #[test]
    fn layout_is_newc() {
        let a = newc(&[
            Entry::Dir { name: "dev" },
            Entry::CharDev { name: "dev/console", major: 5, minor: 1 },
            Entry::File { name: "init", mode: 0o755, data: b"hello" },
        ]);
        assert_eq!(a.len() % 4, 0);
        // First header: "dev" directory, namesize 4 -> header + name = 114, padded to 116.
        assert_eq!(&a[..6], b"070701");
        assert_eq!(field(&a, 1), S_IFDIR | 0o755);
        assert_eq!(field(&a, 11), 4);
        assert_eq!(&a[110..114], b"dev\0");
        let second = 116;
        assert_eq!(&a[second..second + 6], b"070701");
        assert_eq!(field(&a[second..], 1), S_IFCHR | 0o600);
        assert_eq!((field(&a[second..], 9), field(&a[second..], 10)), (5, 1));
        // The file's data follows its padded name and is padded itself.
        let pos = a.windows(5).position(|w| w == b"init\0").unwrap();
        let header = pos - 110;
        assert_eq!(field(&a[header..], 6), 5);
        let data_at = (pos + 5).div_ceil(4) * 4;
        assert_eq!(&a[data_at..data_at + 5], b"hello");
        assert!(a.windows(11).any(|w| w == b"TRAILER!!!\0"));
    }
}
