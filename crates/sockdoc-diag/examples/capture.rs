//! Capture the raw reply bytes of one sock_diag dump to a file, for parser fixtures:
//! `cargo run -p sockdoc-diag --example capture -- tcp4|tcp6|udp4|udp6 [info] OUT.bin`

use sockdoc_diag::{DiagSocket, DumpRequest, Family, Proto};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(out)) = (args.first(), args.last()) else {
        return Err("usage: capture tcp4|tcp6|udp4|udp6 [info] OUT.bin".into());
    };
    let (proto, family) = match kind.as_str() {
        "tcp4" => (Proto::Tcp, Family::V4),
        "tcp6" => (Proto::Tcp, Family::V6),
        "udp4" => (Proto::Udp, Family::V4),
        "udp6" => (Proto::Udp, Family::V6),
        _ => return Err(format!("unknown dump kind {kind}").into()),
    };
    let mut req = DumpRequest::all(proto, family);
    req.tcp_info = args.iter().any(|a| a == "info");
    let chunks = DiagSocket::open()?.dump_raw(&req)?;
    std::fs::write(out, chunks.concat())?;
    eprintln!(
        "{} datagrams, {} bytes",
        chunks.len(),
        chunks.iter().map(Vec::len).sum::<usize>()
    );
    Ok(())
}
