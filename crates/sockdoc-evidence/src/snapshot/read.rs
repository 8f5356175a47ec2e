//! Reading a snapshot back into [`Evidence`]: streamed through the zstd decoder, each part read
//! as far as the header says and no further, every defect one [`Problem`].

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use sockdoc_core::service::Services;
use sockdoc_proc::SocketOwners;

use super::header::{known_in, Header, NsHeader, FORMAT};
use super::record::{decode_first_seen, decode_owners, decode_sockets, OWNER_RECORD, SOCKET_BASE};
use super::{Problem, MAGIC, VERSION};
use crate::{Evidence, EvidenceError, NsEvidence, Source, SourceFile};

/// The header may not claim more than this (a damaged length would otherwise be believed).
const MAX_HEADER: u64 = 1 << 30;

/// Read the snapshot at `path`.
pub fn read(path: &Path) -> Result<Evidence, EvidenceError> {
    let io = |source| EvidenceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Err(EvidenceError::Empty {
            path: path.to_path_buf(),
        });
    }
    read_from(path, BufReader::new(file))
}

/// Read a snapshot from `input`; `path` names it in the evidence and in errors.
pub fn read_from(path: &Path, mut input: impl Read) -> Result<Evidence, EvidenceError> {
    let fail = |problem| EvidenceError::Snapshot {
        path: path.to_path_buf(),
        problem,
    };
    let mut pre = [0u8; 12];
    let got = fill(&mut input, &mut pre).map_err(|e| io_error(path, e))?;
    if got == 0 {
        return Err(EvidenceError::Empty {
            path: path.to_path_buf(),
        });
    }
    if got < MAGIC.len() || pre[..MAGIC.len()] != MAGIC {
        return Err(fail(Problem::NotSnapshot));
    }
    if got < pre.len() {
        return Err(fail(Problem::Truncated));
    }
    let version = u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]);
    if version > VERSION {
        return Err(fail(Problem::Newer(version)));
    }
    if version == 0 {
        return Err(fail(Problem::Corrupt("format version 0".into())));
    }
    let z = zstd::stream::Decoder::new(input).map_err(|e| io_error(path, e))?;
    decode(path, z).map_err(fail)
}

/// An I/O error of the file itself (not of what it holds).
fn io_error(path: &Path, source: io::Error) -> EvidenceError {
    EvidenceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read into `buf` until it is full or the input ends; how many bytes came.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What a failed read of the compressed stream means.
fn stream_problem(e: io::Error) -> Problem {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Problem::Truncated
    } else {
        Problem::Corrupt(e.to_string())
    }
}

/// Exactly `len` bytes of `z` (grown as they come, so a damaged length costs no memory).
fn part(z: &mut impl Read, len: u64) -> Result<Vec<u8>, Problem> {
    let mut v = Vec::new();
    z.take(len).read_to_end(&mut v).map_err(stream_problem)?;
    if (v.len() as u64) < len {
        return Err(Problem::Truncated);
    }
    Ok(v)
}

fn decode(path: &Path, mut z: impl Read) -> Result<Evidence, Problem> {
    let len = u32::from_le_bytes(
        part(&mut z, 4)?
            .try_into()
            .map_err(|_| Problem::Truncated)?,
    );
    if u64::from(len) > MAX_HEADER {
        return Err(Problem::Corrupt(format!("a header of {len} bytes")));
    }
    let header: Header = serde_json::from_slice(&part(&mut z, u64::from(len))?)
        .map_err(|e| Problem::Corrupt(format!("header: {e}")))?;
    if header.format != FORMAT {
        return Err(Problem::Corrupt(format!("format '{}'", header.format)));
    }
    if header.socket_record < SOCKET_BASE as u64 || header.owner_record < OWNER_RECORD as u64 {
        return Err(Problem::Corrupt(format!(
            "records of {} and {} bytes",
            header.socket_record, header.owner_record
        )));
    }
    let mut namespaces = Vec::with_capacity(header.namespaces.len());
    let mut total = 0u64;
    for ns in header.namespaces {
        let n = namespace(&mut z, ns, header.socket_record, header.owner_record)?;
        total += n.sockets.len() as u64;
        namespaces.push(n);
    }
    // The rest of the stream (parts a later version appended) is read through, so the frame's
    // checksum is checked.
    io::copy(&mut z, &mut io::sink()).map_err(stream_problem)?;
    Ok(Evidence {
        source: Source {
            files: vec![SourceFile {
                path: PathBuf::from(path),
                format: format!("sockdoc snapshot v{}", header.version),
                taken: total,
                skipped: 0,
            }],
            ignored: Vec::new(),
            host: header.host,
            kernel: header.kernel,
            taken: header.taken,
        },
        namespaces,
        unread: Default::default(),
    })
}

/// One namespace: its sockets and owner entries from the stream, the rest from its header.
fn namespace(
    z: &mut impl Read,
    ns: NsHeader,
    socket_record: u64,
    owner_record: u64,
) -> Result<NsEvidence, Problem> {
    let size = |count: u64, width: u64| {
        count
            .checked_mul(width)
            .filter(|n| usize::try_from(*n).is_ok())
            .ok_or_else(|| Problem::Corrupt(format!("{count} records of {width} bytes")))
    };
    let count = usize::try_from(ns.sockets).unwrap_or(usize::MAX);
    let cols = part(z, size(ns.sockets, socket_record)?)?;
    let sockets = decode_sockets(&cols, count).map_err(Problem::Corrupt)?;
    let width = usize::try_from(socket_record).unwrap_or(usize::MAX);
    let first_seen = decode_first_seen(&cols, count, width);
    drop(cols);
    let owners = match ns.owners {
        Some(o) => {
            let count = usize::try_from(ns.owner_entries).unwrap_or(usize::MAX);
            let cols = part(z, size(ns.owner_entries, owner_record)?)?;
            let entries = decode_owners(&cols, count);
            let procs = o.processes.into_iter().map(|p| (p.pid, p.info));
            Some(SocketOwners::from_entries(entries, procs, o.stats))
        }
        None => None,
    };
    Ok(NsEvidence {
        label: ns.label,
        sockets,
        owners,
        services: ns
            .services
            .map(|list| Services::from_services(list, Vec::new())),
        kernel: ns.kernel.map(|k| k.state()),
        known: known_in(&ns.known),
        // The snapshot keeps the real cgroup ids and names them in `services`.
        cgroup_paths: Vec::new(),
        nofile: Vec::new(),
        conntrack_table: ns.conntrack_table,
        provenance: Default::default(),
        first_seen,
    })
}
