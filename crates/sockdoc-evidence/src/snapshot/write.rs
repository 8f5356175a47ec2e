//! Writing a snapshot: the census of each namespace encoded ([`encode`]) and put on disk without
//! ever leaving half a file ([`write_atomic`]).

use sockdoc_proc::conntrack_table::TableCounts;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;
use sockdoc_core::doctor::KernelState;
use sockdoc_core::service::Services;
use sockdoc_core::session::Sample;
use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

use super::header::{
    known_out, Header, KernelHeader, NsHeader, OwnersHeader, ProcessHeader, FORMAT,
};
use super::record::{write_owner_columns, write_socket_columns, OWNER_RECORD, SOCKET_RECORD};
use super::{MAGIC, VERSION};
use crate::Known;

/// zstd level: 3 (its default) measured the best size for the time on real censuses; see
/// docs/snapshot.md.
const LEVEL: i32 = 3;

/// Who took the snapshot, where and when (the caller reads the host; this crate never does).
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub host: Option<String>,
    pub kernel: Option<String>,
    /// RFC 3339 UTC, as the census started.
    pub taken: String,
    /// How long the census took.
    pub census: Duration,
}

/// One namespace's census, as the session gave it.
pub struct NsSnapshot<'a> {
    pub ns: &'a Netns,
    pub sockets: &'a [Socket],
    pub owners: Option<&'a SocketOwners>,
    pub services: Option<&'a Services>,
    pub kernel: Option<&'a KernelState>,
    pub notes: &'a [String],
    pub known: Known,
    /// The conntrack table counted, when conntrack is active (cut to [`CONNTRACK_TOP`] keys per
    /// breakdown in the file).
    pub conntrack_table: Option<&'a TableCounts>,
    /// Each socket's first-seen time (ms since the epoch, 0 unknown; the order of `sockets`):
    /// the recorder's, so that a replayed minute knows the ages of connections gone since.
    pub first_seen: Option<&'a [u64]>,
}

/// Keys kept per breakdown of the conntrack table.
pub const CONNTRACK_TOP: usize = 50;

impl<'a> NsSnapshot<'a> {
    /// A sample of a live census with everything the doctor judges (timers, tcp_info, services,
    /// the kernel state; owners when read), as its snapshot part.
    pub fn of(s: &'a Sample) -> NsSnapshot<'a> {
        NsSnapshot {
            ns: &s.ns,
            sockets: &s.sockets,
            owners: s.owner_map(),
            services: s.services.as_ref(),
            kernel: s.kernel.as_ref(),
            notes: &s.notes,
            known: known_of(s),
            conntrack_table: None,
            first_seen: None,
        }
    }
}

/// What the live census of `s` could tell (it asked for timers and tcp_info).
pub fn known_of(s: &Sample) -> Known {
    let counter_rates = s
        .kernel
        .as_ref()
        .is_some_and(|k| !k.interval.is_zero() && !k.counters_after.is_empty());
    Known {
        timers: true,
        tcp_info: true,
        owners: s.owners.is_some(),
        inodes: true,
        queues: true,
        backlogs: true,
        uids: true,
        cgroups: s.services.is_some(),
        counter_rates,
        sysctls: s.kernel.is_some(),
        all_states: true,
        states: true,
    }
}

/// An encoded snapshot and what it cost.
pub struct Encoded {
    /// Bytes of the whole file.
    pub size: usize,
    /// Bytes before compression.
    pub raw: usize,
    pub sockets: usize,
    /// Building the header.
    pub encode: Duration,
    /// Building the columns and compressing everything (streamed together).
    pub compress: Duration,
}

/// The owner entries (inode, pid, fd) of `n`'s own sockets. A walk of /proc reads every process
/// of the host: the holders of other namespaces' sockets are not this namespace's evidence.
fn own_entries(n: &NsSnapshot<'_>) -> Option<Vec<(u32, u32, u32)>> {
    let o = n.owners?;
    let inodes: FxHashSet<u32> = n.sockets.iter().map(|s| s.inode).collect();
    Some(o.entries().filter(|e| inodes.contains(&e.0)).collect())
}

fn ns_header(n: &NsSnapshot<'_>, entries: Option<&[(u32, u32, u32)]>) -> NsHeader {
    NsHeader {
        label: n.ns.label(),
        inode: n.ns.inode,
        names: n.ns.names.clone(),
        current: n.ns.current,
        sockets: n.sockets.len() as u64,
        owner_entries: entries.map_or(0, |e| e.len() as u64),
        known: known_out(n.known),
        notes: n.notes.to_vec(),
        owners: n.owners.map(|o| {
            let pids: FxHashSet<u32> = entries.unwrap_or_default().iter().map(|e| e.1).collect();
            let mut processes: Vec<ProcessHeader> = o
                .processes()
                .filter(|(pid, _)| pids.contains(pid))
                .map(|(pid, info)| ProcessHeader {
                    pid,
                    info: info.clone(),
                })
                .collect();
            processes.sort_by_key(|p| p.pid);
            OwnersHeader {
                stats: o.stats,
                processes,
            }
        }),
        services: n.services.map(|s| {
            let mut list: Vec<_> = s.iter().cloned().collect();
            list.sort_by_key(|s| s.cgroup_id);
            list
        }),
        kernel: n.kernel.map(KernelHeader::of),
        conntrack_table: n.conntrack_table.map(|t| t.trimmed(CONNTRACK_TOP)),
    }
}

/// The snapshot of `namespaces` taken by `id`, as the bytes of a file.
pub fn encode(id: &Identity, namespaces: &[NsSnapshot<'_>]) -> io::Result<(Vec<u8>, Encoded)> {
    let mut bytes = Vec::new();
    let enc = encode_to(id, namespaces, &mut bytes)?;
    Ok((bytes, enc))
}

/// The snapshot of `namespaces` taken by `id`, written to `out` as it is compressed: nothing but
/// one column and the compressor's window is held besides the census.
pub fn encode_to(
    id: &Identity,
    namespaces: &[NsSnapshot<'_>],
    out: &mut dyn Write,
) -> io::Result<Encoded> {
    let started = Instant::now();
    let own: Vec<Option<Vec<(u32, u32, u32)>>> = namespaces.iter().map(own_entries).collect();
    let header = Header {
        format: FORMAT.to_string(),
        version: VERSION,
        sockdoc: env!("CARGO_PKG_VERSION").to_string(),
        host: id.host.clone(),
        kernel: id.kernel.clone(),
        taken: Some(id.taken.clone()),
        census_ms: u64::try_from(id.census.as_millis()).unwrap_or(u64::MAX),
        socket_record: SOCKET_RECORD as u64,
        owner_record: OWNER_RECORD as u64,
        namespaces: namespaces
            .iter()
            .zip(&own)
            .map(|(n, e)| ns_header(n, e.as_deref()))
            .collect(),
    };
    let json = serde_json::to_vec(&header).map_err(io::Error::other)?;
    let len =
        u32::try_from(json.len()).map_err(|_| io::Error::other("snapshot header over 4 GiB"))?;
    let encode = started.elapsed();
    // The columns go straight into the compressor, one at a time: no second copy of the sockets.
    let started = Instant::now();
    let sockets: usize = namespaces.iter().map(|n| n.sockets.len()).sum();
    let mut raw = 4 + json.len();
    let mut counted = Counted { out, n: 0 };
    counted.write_all(&MAGIC)?;
    counted.write_all(&VERSION.to_le_bytes())?;
    let mut z = zstd::stream::Encoder::new(&mut counted, LEVEL)?;
    z.include_checksum(true)?;
    z.write_all(&len.to_le_bytes())?;
    z.write_all(&json)?;
    for (n, entries) in namespaces.iter().zip(&own) {
        write_socket_columns(n.sockets, n.first_seen, &mut z)?;
        raw += n.sockets.len() * SOCKET_RECORD;
        if let Some(e) = entries {
            write_owner_columns(e, &mut z)?;
            raw += e.len() * OWNER_RECORD;
        }
    }
    z.finish()?;
    counted.flush()?;
    Ok(Encoded {
        size: counted.n,
        raw,
        sockets,
        encode,
        compress: started.elapsed(),
    })
}

/// `path` with `.tmp` added to its name: where a snapshot is written before it is renamed.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// A writer that counts the bytes it passes on.
struct Counted<'a> {
    out: &'a mut dyn Write,
    n: usize,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.n += n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Write `path` with `write` so that it either holds all it wrote or does not exist: to `path.tmp`
/// in the same directory, synced, renamed over `path`, and the directory synced. On failure the
/// temporary file is removed and the error returned.
pub fn write_atomic<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(&tmp)?);
        let done = write(&mut f)?;
        let f = f.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        Ok(done)
    })();
    let done = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The rename is durable once the directory is; a directory that cannot be opened for it
    // (no read permission) still holds the whole file.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(done)
}
