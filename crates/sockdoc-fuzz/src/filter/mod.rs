//! The filter language as a fuzz target. Inputs: well-formed filters built from the grammar (so the
//! deeper stages run), those with a few characters changed, random sequences of the language's words
//! and symbols (every word of `--help` included), random unicode and bytes, and very long or deeply
//! nested inputs, split into shell words at random.
//!
//! Properties: no panic; an error prints as one line of bounded length whatever the input's size; a
//! filter that parses prints as text that parses back to the same text and the same decisions; its
//! kernel part (state mask, protocols, families, compiled bytecode run as the kernel runs it) accepts
//! every socket the filter accepts.

mod gen;

use rand::RngExt;
use sockdoc_core::filter::{help_text, keywords, Filter};
use sockdoc_core::service::{NameBook, Service};
use sockdoc_core::Owners;
use sockdoc_diag::bytecode::{run, Subject};
use sockdoc_diag::{parse_replies, Family, Proto, Socket};
use sockdoc_proc::runtimes::{PodName, Runtime};

use crate::runner::{Rng, Stats, Target};

// The vocabulary and the input generators.
use gen::*;

/// The longest error message accepted, in bytes, whatever the input: errors quote the offending word
/// shortened, never whole.
const MAX_ERROR_LEN: usize = 600;

pub struct FilterTarget {
    /// The language's keywords and [`MORE_WORDS`].
    words: Vec<&'static str>,
    vocab: Vec<String>,
    samples: Vec<Socket>,
}

/// Owners for evaluation: a few names, one with a space, by inode; and services for cgroup ids 1
/// to 3 (a unit, a Podman container, a Kubernetes pod; 0 has no cgroup).
struct FakeOwners;

impl Owners for FakeOwners {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        const NAMES: &[&str] = &["nginx", "Web Content", "sshd", "a*b", "vsftpd"];
        if inode == 0 {
            return false;
        }
        let name = NAMES[inode as usize % NAMES.len()];
        f(inode % 1000, name) || (inode.is_multiple_of(3) && f(inode % 1000 + 1, "worker"))
    }

    fn service(&self, id: u64) -> Option<&Service> {
        static SERVICES: std::sync::OnceLock<Vec<Service>> = std::sync::OnceLock::new();
        let all = SERVICES.get_or_init(|| {
            SERVICE_PATHS
                .iter()
                .zip(1u64..)
                .map(|(p, id)| Service::at_path(id, p, &Book))
                .collect()
        });
        all.iter().find(|s| s.cgroup_id == id)
    }
}

/// The node's names: every container is `web-1`, every pod `shop/cart-7`.
struct Book;

impl NameBook for Book {
    fn container(&self, _: Runtime, _: &str) -> Option<String> {
        Some("web-1".into())
    }
    fn pod(&self, _: &str) -> Option<PodName> {
        Some(PodName {
            namespace: "shop".into(),
            name: "cart-7".into(),
        })
    }
}

impl Target for FilterTarget {
    const NAME: &'static str = "filter";
    const STATS: &'static [&'static str] =
        &["parsed", "rejected", "with-bytecode", "matched", "empty"];
    type Input = Vec<String>;

    fn new() -> Self {
        let words: Vec<&'static str> = keywords().chain(MORE_WORDS.iter().copied()).collect();
        let mut vocab: Vec<String> = words
            .iter()
            .chain(SYMBOLS)
            .chain(STATES)
            .chain(PORTS)
            .chain(ADDRS)
            .chain(DURATIONS)
            .chain(NUMBERS)
            .chain(NAMES)
            .map(|s| s.to_string())
            .collect();
        // Every word of the filter reference.
        vocab.extend(help_text().split_whitespace().map(str::to_string));
        vocab.sort();
        vocab.dedup();
        let mut samples = Vec::new();
        for (dump, proto) in [
            (
                &include_bytes!("../../../sockdoc-diag/tests/data/tcp4.bin")[..],
                Proto::Tcp,
            ),
            (
                &include_bytes!("../../../sockdoc-diag/tests/data/tcp6.bin")[..],
                Proto::Tcp,
            ),
            (
                &include_bytes!("../../../sockdoc-diag/tests/data/udp4.bin")[..],
                Proto::Udp,
            ),
        ] {
            // The fixtures parse (the diag tests prove it); an error leaves fewer samples.
            let _ = parse_replies(dump, proto, &mut |s| samples.push(*s));
        }
        FilterTarget {
            words,
            vocab,
            samples,
        }
    }

    fn generate(&mut self, rng: &mut Rng) -> Vec<String> {
        let text = match rng.random_range(0..100) {
            0..=34 => {
                let d = rng.random_range(0..5);
                expr(rng, d)
            }
            35..=49 => {
                let d = rng.random_range(0..4);
                let e = expr(rng, d);
                mutate_text(rng, &e)
            }
            50..=84 => {
                let n = if rng.random_bool(0.9) {
                    rng.random_range(0..12)
                } else {
                    rng.random_range(0..300)
                };
                let mut words = Vec::with_capacity(n);
                for _ in 0..n {
                    words.push(match rng.random_range(0..10) {
                        0..=6 => self.vocab[rng.random_range(0..self.vocab.len())].clone(),
                        7 => {
                            let k = pick(rng, &self.words);
                            argument(rng, k)
                        }
                        8 => pick(rng, SYMBOLS).to_string(),
                        _ => random_word(rng),
                    });
                }
                let sep = if rng.random_bool(0.9) { " " } else { "" };
                words.join(sep)
            }
            85..=91 => random_word(rng) + &random_word(rng),
            92..=96 => {
                let bytes: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => huge(rng),
        };
        split(rng, text)
    }

    fn check(&mut self, words: &Vec<String>, stats: &mut Stats) -> Result<(), String> {
        let filter = match Filter::parse(words) {
            Err(e) => {
                stats.bump(1);
                let msg = e.to_string();
                if msg.len() > MAX_ERROR_LEN {
                    return Err(format!(
                        "error message of {} bytes: {}...",
                        msg.len(),
                        msg.chars().take(120).collect::<String>()
                    ));
                }
                if msg.contains('\n') {
                    return Err(format!("error message of several lines: {msg:?}"));
                }
                return Ok(());
            }
            Ok(f) => f,
        };
        stats.bump(0);
        if filter.is_empty() {
            stats.bump(4);
        }
        let _ = (filter.needs_processes(), filter.needs_tcp_info());
        let mask = filter.state_mask();
        let (tcp, udp) = filter.protocols();
        let (v4, v6) = filter.families();
        let program = filter.kernel_filter().and_then(|bc| {
            let _ = bc.encoded_len();
            bc.compile()
        });
        if program.is_some() {
            stats.bump(2);
        }
        // Printed and parsed back: the same text and the same decisions.
        let text = filter.to_string();
        let again = Filter::parse(std::slice::from_ref(&text))
            .map_err(|e| format!("canonical text {text:?} does not parse: {e}"))?;
        if again.to_string() != text {
            return Err(format!(
                "canonical text {text:?} prints back as {:?}",
                again.to_string()
            ));
        }
        // Besides the samples, a few random sockets from a generator seeded by the input (reproducible
        // from the input).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for w in words {
            for b in w.bytes().take(256) {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        let mut rng = <Rng as rand::SeedableRng>::seed_from_u64(h);
        let random: Vec<Socket> = (0..4).map(|_| random_socket(&mut rng)).collect();
        for s in self.samples.iter().chain(&random) {
            check_socket(
                &filter,
                &again,
                s,
                mask,
                (tcp, udp),
                (v4, v6),
                &program,
                &FakeOwners,
                stats,
            )?;
        }
        Ok(())
    }

    fn to_bytes(words: &Vec<String>) -> Vec<u8> {
        // One word per line, as `xargs -d '\n'` would pass them back.
        words.join("\n").into_bytes()
    }

    fn describe(words: &Vec<String>) -> String {
        let d = format!("{words:?}");
        if d.len() > 300 {
            let cut: String = d.chars().take(300).collect();
            format!("{cut}... ({} bytes)", d.len())
        } else {
            d
        }
    }
}

/// The filter's decision on `s` against its kernel part and its reprinted self.
#[allow(clippy::too_many_arguments)]
fn check_socket(
    filter: &Filter,
    again: &Filter,
    s: &Socket,
    mask: u32,
    (tcp, udp): (bool, bool),
    (v4, v6): (bool, bool),
    program: &Option<Vec<u8>>,
    owners: &dyn Owners,
    stats: &mut Stats,
) -> Result<(), String> {
    let m = filter.matches(s, owners);
    if again.matches(s, owners) != m {
        return Err(format!(
            "the reprinted filter {again} decides {} {} -> {} differently",
            s.state.key(),
            s.local_addr(),
            s.remote_addr()
        ));
    }
    if !m {
        return Ok(());
    }
    stats.bump(3);
    let where_ = || {
        format!(
            "{} {} -> {}",
            s.state.key(),
            s.local_addr(),
            s.remote_addr()
        )
    };
    if mask & s.state.mask_bit() == 0 {
        return Err(format!(
            "state mask {mask:#x} drops a matching {}",
            where_()
        ));
    }
    let proto_ok = match s.proto {
        Proto::Tcp => tcp,
        Proto::Udp => udp,
    };
    let family_ok = match s.family {
        Family::V4 => v4,
        Family::V6 => v6,
    };
    if !proto_ok || !family_ok {
        return Err(format!(
            "protocol/family pushdown drops a matching {}",
            where_()
        ));
    }
    if let Some(prog) = program {
        let verdict = run(prog, &Subject::from(s));
        if verdict != Some(true) {
            return Err(format!(
                "kernel bytecode says {verdict:?} for a matching {}",
                where_()
            ));
        }
    }
    Ok(())
}
