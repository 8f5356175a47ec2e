//! Tests of the filter language: parsing, errors, evaluation, pushdown, and property tests.
//! This file holds the shared helpers: a socket builder, a fake process table, parse shorthands.

mod eval_tests;
mod parse_tests;
mod prop_tests;
mod pushdown_tests;
mod service_tests;

use std::collections::HashMap;
use std::net::SocketAddr;

use sockdoc_diag::{Proto, Socket, State, TcpInfo, Timer, TimerKind};

use super::{Filter, FilterError};
use crate::Owners;

/// Parse one text (as if it were a single argv word).
pub fn parse(text: &str) -> Filter {
    match Filter::parse(&[text.to_string()]) {
        Ok(f) => f,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

/// Parse one text, keeping the error.
pub fn try_parse(text: &str) -> Result<Filter, FilterError> {
    Filter::parse(&[text.to_string()])
}

/// Parse separate argv words.
pub fn parse_words(words: &[&str]) -> Result<Filter, FilterError> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    Filter::parse(&words)
}

/// The error for a text that must not parse.
pub fn parse_err(text: &str) -> FilterError {
    match Filter::parse(&[text.to_string()]) {
        Ok(f) => panic!("{text:?} should not parse, got {f}"),
        Err(e) => e,
    }
}

/// The canonical text of a parsed filter.
pub fn canon(text: &str) -> String {
    parse(text).to_string()
}

/// Builds a [`Socket`]: `sock("10.0.0.1:22", "10.0.0.2:40000")` is an established TCP connection.
pub struct SockBuilder(Socket);

pub fn sock(local: &str, remote: &str) -> SockBuilder {
    let l: SocketAddr = local.parse().expect("local address");
    let r: SocketAddr = remote.parse().expect("remote address");
    SockBuilder(Socket {
        cookie: 1,
        ..Socket::tcp(State::Established, l, r)
    })
}

impl SockBuilder {
    pub fn udp(mut self) -> Self {
        self.0.proto = Proto::Udp;
        self
    }
    pub fn state(mut self, state: State) -> Self {
        self.0.state = state;
        self
    }
    pub fn inode(mut self, inode: u32) -> Self {
        self.0.inode = inode;
        self
    }
    pub fn uid(mut self, uid: u32) -> Self {
        self.0.uid = uid;
        self
    }
    pub fn cgroup(mut self, id: u64) -> Self {
        self.0.cgroup_id = id;
        self
    }
    pub fn dev(mut self, ifindex: u32) -> Self {
        self.0.ifindex = ifindex;
        self
    }
    pub fn queues(mut self, recv_q: u32, send_q: u32) -> Self {
        self.0.recv_q = recv_q;
        self.0.send_q = send_q;
        self
    }
    pub fn timer(mut self, kind: TimerKind, count: u8) -> Self {
        self.0.timer = Timer {
            kind,
            expires_ms: 1000,
            count,
        };
        self
    }
    pub fn tcp_info(mut self, info: TcpInfo) -> Self {
        self.0.tcp = Some(info);
        self
    }
    /// tcp_info saying the last activity was `ms` ago.
    pub fn idle(self, ms: u32) -> Self {
        self.tcp_info(TcpInfo {
            last_data_sent_ms: ms,
            last_data_recv_ms: ms,
            last_ack_recv_ms: ms,
            ..TcpInfo::default()
        })
    }
    pub fn build(self) -> Socket {
        self.0
    }
}

/// A process table: inode → owners.
#[derive(Default)]
pub struct FakeOwners(pub HashMap<u32, Vec<(u32, String)>>);

impl FakeOwners {
    pub fn with(mut self, inode: u32, pid: u32, name: &str) -> Self {
        self.0
            .entry(inode)
            .or_default()
            .push((pid, name.to_string()));
        self
    }
}

impl Owners for FakeOwners {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        self.0
            .get(&inode)
            .is_some_and(|v| v.iter().any(|(pid, name)| f(*pid, name)))
    }
}
