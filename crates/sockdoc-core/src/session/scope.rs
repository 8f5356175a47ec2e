//! Which network namespaces a census looks at, and the one place a thread enters one.
//!
//! Netlink sockets opened, and `/proc/thread-self/net` and `/proc/sys/net` read, by a thread belong to
//! that thread's namespace. sockdoc never moves the caller's thread: work for another namespace runs on a
//! thread of its own that entered it through [`enter`] (by [`within`], or by a long-lived worker).

use sockdoc_proc::{Netns, NetnsError};

/// What the user asked to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// The caller's own namespace.
    Current,
    /// A namespace named under /run/netns (`ip netns add NAME`).
    Named(String),
    /// The namespace of a process.
    Pid(u32),
    /// Every namespace in use on the host.
    All,
}

/// The namespaces of a census, in output order, pinned by open descriptors.
#[derive(Clone, Debug)]
pub struct Scope {
    pub namespaces: Vec<Netns>,
    /// Every namespace of the host: one that vanishes during the census is skipped, not an error.
    pub all: bool,
}

impl Scope {
    /// Resolve what the user asked for.
    pub fn resolve(which: &Which) -> Result<Scope, NetnsError> {
        let namespaces = match which {
            Which::Current => vec![Netns::current().map_err(|err| NetnsError::Open {
                path: "/proc/thread-self/ns/net".into(),
                err,
            })?],
            Which::Named(name) => vec![Netns::named(name)?],
            Which::Pid(pid) => vec![Netns::of_pid(*pid)?],
            Which::All => Netns::all(),
        };
        Ok(Scope {
            namespaces,
            all: matches!(which, Which::All),
        })
    }

    /// One namespace (a daemon's, a treatment's).
    pub fn one(ns: Netns) -> Scope {
        Scope {
            namespaces: vec![ns],
            all: false,
        }
    }
}

/// Move the calling thread into `ns` (nothing to do for the caller's own). The only place sockdoc
/// enters a namespace: threads made for the purpose call it first thing.
pub fn enter(ns: &Netns) -> Result<(), NetnsError> {
    if ns.current {
        return Ok(());
    }
    ns.enter()
}

/// Run `f` on a thread inside `ns` and return its result; the caller's thread stays where it is.
pub fn within<T, E>(ns: &Netns, f: impl FnOnce() -> Result<T, E> + Send) -> Result<T, E>
where
    T: Send,
    E: From<NetnsError> + Send,
{
    if ns.current {
        return f();
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(ns)?;
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}
