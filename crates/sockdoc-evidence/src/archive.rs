//! Where evidence lives: single files, directories of mixed pieces (every file read for what it
//! is; files of no known format are left aside and listed in [`Source::ignored`]), sosreport
//! directories and tarballs (`.tar`, `.tar.gz`, `.tar.xz`, told by their magic bytes, streamed
//! entry by entry, never unpacked to disk). In a sosreport only the files that matter are read:
//!
//! | sosreport path | read as |
//! |---|---|
//! | `sos_commands/networking/ss_-peaonmi` (any `ss_*`) | `ss`, host namespace |
//! | `sos_commands/networking/netstat_-W_-neopa` (`-T`, none) | `netstat`, host namespace |
//! | `sos_commands/networking/netstat_-s` | counters |
//! | `sos_commands/networking/namespaces/NS/ip_netns_exec_NS_…` | the same, namespace NS |
//! | `proc/net/{tcp,tcp6,udp,udp6,netstat,snmp,snmp6,sockstat,sockstat6}` | host namespace |
//! | `sos_commands/kernel/sysctl_-a` | sysctls (the conntrack table's fill among them) |
//! | `proc/net/nf_conntrack`, `sos_commands/conntrack/conntrack_-L…`, `conntrack_-S` | the conntrack table, its statistics |
//! | `proc/PID/limits` | that process's limits |
//! | `hostname`, `uname`, `date` | [`Source`] host, kernel, time |
//!
//! When a namespace has sockets from several of these, the richest kind is kept (`ss`, then
//! `netstat`, then `/proc/net`): see `collect`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::collect::Collector;
use crate::text::{read_text, Context};
use crate::words::{Command, Tool};
use crate::{Evidence, EvidenceError, NotEvidence};

/// The label of the namespace a dump describes when it names none.
pub const CURRENT: &str = "current";

/// Read evidence from `paths` (files, directories, sosreport tarballs), combined into one
/// [`Evidence`]. A file given by path that cannot be read at all is an error; inside a directory
/// or archive it is left aside ([`Source::ignored`]). Lines that cannot be read are
/// [`Evidence::unread`], never an error. Memory grows with the sockets kept, not the input.
pub fn read(paths: &[PathBuf]) -> Result<Evidence, EvidenceError> {
    let mut col = Collector::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| io(p, e))?;
        if meta.is_dir() {
            read_dir(p, &mut col)?;
        } else {
            read_file(p, &mut col)?;
        }
    }
    let namespaces = col
        .namespaces
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(|n| n.finish())
        .collect();
    Ok(Evidence {
        source: col.source,
        namespaces,
        unread: col.unread,
    })
}

fn io(p: &Path, e: std::io::Error) -> EvidenceError {
    EvidenceError::Io {
        path: p.to_path_buf(),
        source: e,
    }
}

/// What an archive's first bytes say it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Packed {
    Gzip,
    Xz,
    Tar,
    No,
}

fn packed(head: &[u8]) -> Packed {
    if head.starts_with(&[0x1f, 0x8b]) {
        Packed::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Packed::Xz
    } else if head.get(257..262) == Some(b"ustar") {
        Packed::Tar
    } else {
        Packed::No
    }
}

/// One file: an archive or a text dump.
fn read_file(p: &Path, col: &mut Collector) -> Result<(), EvidenceError> {
    let f = File::open(p).map_err(|e| io(p, e))?;
    let mut r = BufReader::with_capacity(256 * 1024, f);
    let head = r.fill_buf().map_err(|e| io(p, e))?;
    let kind = packed(head);
    if kind != Packed::No {
        return read_tar(p, r, kind, col);
    }
    let ctx = Context {
        label: CURRENT.to_string(),
        pid: limits_pid(p),
        command: None,
    };
    read_text(r, p, ctx, col)
}

/// `…/PID/limits` → PID.
fn limits_pid(p: &Path) -> Option<u32> {
    if p.file_name()? != "limits" {
        return None;
    }
    p.parent()?.file_name()?.to_str()?.parse().ok()
}

/// A directory: a sosreport (it has `sos_commands/`) or mixed pieces (every file, eight levels
/// deep, hidden ones left out). Files that cannot be read are left aside (listed in
/// [`Source::ignored`](crate::Source)); when nothing in it could be read and some file could not
/// be opened, that is the error (the first such file).
fn read_dir(dir: &Path, col: &mut Collector) -> Result<(), EvidenceError> {
    let sos = dir.join("sos_commands").is_dir();
    let mut files = Vec::new();
    std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    walk(dir, 0, &mut files);
    files.sort();
    let before = col.source.files.len();
    let mut unreadable = None;
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_path_buf();
        let res = if sos {
            match sos_role(&rel) {
                Some(role) => File::open(&f)
                    .map_err(|e| io(&f, e))
                    .and_then(|file| take(&f, BufReader::new(file), role, col)),
                None => Ok(()),
            }
        } else {
            read_file(&f, col)
        };
        if let Err(e) = res {
            col.source.ignored.push((f.clone(), e.to_string()));
            if let EvidenceError::Io { .. } = e {
                unreadable.get_or_insert(e);
            }
        }
    }
    if col.source.files.len() == before {
        return Err(unreadable.unwrap_or(EvidenceError::Unknown {
            path: dir.to_path_buf(),
            why: NotEvidence::Directory,
        }));
    }
    Ok(())
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() && depth < 8 => walk(&p, depth + 1, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

/// What a sosreport file is for.
enum Role {
    Text(Context),
    Host,
    Kernel,
    Date,
}

/// The role of a file at `rel` (relative to the sosreport's top) or `None` to leave it aside.
fn sos_role(rel: &Path) -> Option<Role> {
    let parts: Vec<&str> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    let ctx = |label: &str, command: Option<Command>| {
        Some(Role::Text(Context {
            label: label.to_string(),
            command,
            pid: None,
        }))
    };
    match parts.as_slice() {
        ["hostname"] => Some(Role::Host),
        ["uname"] => Some(Role::Kernel),
        ["date"] => Some(Role::Date),
        ["proc", "net", f]
            if matches!(
                *f,
                "tcp"
                    | "tcp6"
                    | "udp"
                    | "udp6"
                    | "netstat"
                    | "snmp"
                    | "snmp6"
                    | "sockstat"
                    | "sockstat6"
            ) =>
        {
            ctx(CURRENT, None)
        }
        ["proc", pid, "limits"] => Some(Role::Text(Context {
            label: CURRENT.to_string(),
            command: None,
            pid: pid.parse().ok(),
        })),
        ["sos_commands", "kernel", "sysctl_-a"] => ctx(CURRENT, None),
        // The conntrack plugin's `conntrack -L -o extended` and `conntrack -S`.
        ["proc", "net", "nf_conntrack"] => ctx(CURRENT, None),
        ["sos_commands", "conntrack", f]
            if f.starts_with("conntrack_-L") || *f == "conntrack_-S" =>
        {
            ctx(CURRENT, None)
        }
        ["sos_commands", "networking", f] => ctx(CURRENT, Some(command_of(f)?)),
        ["sos_commands", "networking", "namespaces", ns, f] => {
            let rest = f.strip_prefix(&format!("ip_netns_exec_{ns}_"))?;
            if rest == "sysctl_-a" {
                return ctx(ns, None);
            }
            ctx(ns, Some(command_of(rest)?))
        }
        _ => None,
    }
}

/// A sosreport command file name (`ss_-peaonmi`, `netstat_-W_-neopa`, `netstat_-s`) as the
/// command it ran; `None` for the ones not read (`netstat_-agn`, `ip_…`).
fn command_of(name: &str) -> Option<Command> {
    let mut words = name.split('_');
    let tool = match words.next()? {
        "ss" => Tool::Ss,
        "netstat" => Tool::Netstat,
        _ => return None,
    };
    let flags: String = words
        .filter_map(|w| w.strip_prefix('-'))
        .collect::<Vec<_>>()
        .concat();
    let tool = match tool {
        Tool::Netstat if flags == "s" => Tool::NetstatS,
        Tool::Netstat if !flags.contains('a') || flags.contains('g') => return None,
        t => t,
    };
    Some(Command {
        tool,
        netns: None,
        flags,
        state: None,
        filtered: false,
        text: name.replace('_', " "),
    })
}

/// Read one sosreport file for its role.
fn take<R: BufRead>(
    path: &Path,
    mut r: R,
    role: Role,
    col: &mut Collector,
) -> Result<(), EvidenceError> {
    let first = |r: &mut R| -> Option<String> {
        let mut s = String::new();
        r.take(4096).read_line(&mut s).ok()?;
        let s = s.trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    match role {
        Role::Host => col.source.host = first(&mut r),
        Role::Kernel => {
            col.source.kernel =
                first(&mut r).and_then(|u| u.split_whitespace().nth(2).map(str::to_string))
        }
        Role::Date => col.source.taken = first(&mut r),
        Role::Text(ctx) => {
            if let Err(e) = read_text(r, path, ctx, col) {
                if let EvidenceError::Io { .. } = e {
                    return Err(e);
                }
                col.source.ignored.push((path.to_path_buf(), e.to_string()));
            }
        }
    }
    Ok(())
}

/// A tarball, streamed: a sosreport's files by their role, else every file read for what it is.
fn read_tar<R: BufRead>(
    p: &Path,
    r: R,
    kind: Packed,
    col: &mut Collector,
) -> Result<(), EvidenceError> {
    let inner: Box<dyn Read> = match kind {
        Packed::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Packed::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(r)),
        _ => Box::new(r),
    };
    let mut ar = tar::Archive::new(inner);
    let entries = ar.entries().map_err(|e| io(p, e))?;
    let mut sos = false;
    for entry in entries {
        let entry = entry.map_err(|e| io(p, e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Ok(path) = entry.path().map(|c| c.into_owned()) else {
            continue;
        };
        let shown = p.join(&path);
        // The sosreport's top directory (`sosreport-host-date/`) is left out of its roles.
        let rel: PathBuf = path.components().skip(1).collect();
        let top = path
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        sos |= top.as_deref().is_some_and(|t| t.starts_with("sosreport"))
            || path.components().any(|c| c.as_os_str() == "sos_commands");
        let r = BufReader::with_capacity(128 * 1024, entry);
        if sos {
            if let Some(role) = sos_role(&rel) {
                take(&shown, r, role, col)?;
            }
        } else {
            let ctx = Context {
                label: CURRENT.to_string(),
                pid: limits_pid(&path),
                command: None,
            };
            if let Err(e) = read_text(r, &shown, ctx, col) {
                col.source.ignored.push((shown, e.to_string()));
            }
        }
    }
    if col.source.files.is_empty() {
        return Err(EvidenceError::Unknown {
            path: p.to_path_buf(),
            why: NotEvidence::Archive,
        });
    }
    Ok(())
}
