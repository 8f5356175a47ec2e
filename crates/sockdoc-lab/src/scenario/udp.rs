//! UDP scenario builders: bound (UNCONN), connected (ESTAB) and device-bound sockets.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use super::{Expected, Parts};
use crate::enter::in_netns;
use crate::netns::Netns;
use crate::state::{Family, Proto, SockState};
use crate::sys;

fn bound(ns: &Netns, family: Family) -> io::Result<UdpSocket> {
    in_netns(ns, move || UdpSocket::bind((family.loopback(), 0)))
}

fn unconn(local: SocketAddr, family: Family) -> Expected {
    let nobody = SocketAddr::new(family.unspecified(), 0);
    Expected::new(Proto::Udp, SockState::Unconn, local, nobody)
}

pub(super) fn unconn_socket(ns: &Netns, family: Family) -> io::Result<Parts> {
    let u = bound(ns, family)?;
    Ok(Parts {
        expected: vec![unconn(u.local_addr()?, family)],
        gone: vec![],
        fds: vec![u.into()],
    })
}

pub(super) fn connected(ns: &Netns, family: Family) -> io::Result<Parts> {
    let server = bound(ns, family)?;
    let saddr = server.local_addr()?;
    let client = bound(ns, family)?;
    client.connect(saddr)?;
    let caddr = client.local_addr()?;
    Ok(Parts {
        expected: vec![
            unconn(saddr, family),
            Expected::new(Proto::Udp, SockState::Established, caddr, saddr),
        ],
        gone: vec![],
        fds: vec![server.into(), client.into()],
    })
}

pub(super) fn bound_to_device(ns: &Netns, family: Family) -> io::Result<Parts> {
    let local = SocketAddr::new(family.loopback(), 0);
    let u = in_netns(ns, move || sys::udp_bind_to_device(local, "lo"))?;
    let mut expected = unconn(u.local_addr()?, family);
    expected.iface = Some("lo");
    Ok(Parts {
        expected: vec![expected],
        gone: vec![],
        fds: vec![u.into()],
    })
}
