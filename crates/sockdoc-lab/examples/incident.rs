//! Rebuild the incident of the notes for a demonstration: vsftpd behind an FTP proxy that never sets
//! SO_KEEPALIVE, an sshd beside it, a client that logs in through the proxy and then vanishes (its link
//! cut, its process killed). Prints the server namespace's name, then waits for Enter and removes
//! everything. Needs root, vsftpd, openssh-server and socat.
//!
//! `cargo run -p sockdoc-lab --example incident`, then in another shell:
//! `sudo sockdoc --netns <name> --idle 5s`.

use std::io::BufRead;
use std::time::Duration;

use sockdoc_lab::doctor::GhostIncident;

fn main() -> std::io::Result<()> {
    let incident = GhostIncident::build()?;
    incident.wait_idle(Duration::from_secs(1))?;
    println!(
        "server namespace: {}  (the ghost: {} -> :21)",
        incident.server.name(),
        incident.laptop_addr()
    );
    println!("press Enter to tear it down");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
}
