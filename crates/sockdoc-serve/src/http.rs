//! The HTTP endpoint that `serve` and `reap` share: `/metrics` (OpenMetrics text the caller renders),
//! `/healthz` (`ok`), anything else 404; GET and HEAD only (any other method is a 405 and never runs a
//! scrape). It knows nothing of what the metrics say.
//!
//! Built on hyper 1 (HTTP/1.1 only) over a small tokio runtime on a thread of its own, because no
//! client may stall or bloat a daemon: hyper bounds what it buffers of a request head
//! ([`MAX_HEAD_BYTES`]) and how long a head may take ([`HEAD_TIMEOUT`]), and the runtime keeps any
//! number of slow or idle connections waiting at the cost of a few KiB each, while a scrape is
//! answered beside them. On top of that: every connection has an overall deadline
//! ([`CONNECTION_DEADLINE`]), at most [`MAX_CONNECTIONS`] are open at once (at the cap a newcomer evicts
//! the oldest connection that has not yet sent a whole request head, or gets a 503 when every
//! connection is being answered), request bodies are never read, and every answer closes its
//! connection. The scrape itself is blocking work: it runs on the runtime's blocking pool, one at a
//! time; requests that waited for a running scrape take its result instead of running another. TLS,
//! authentication and content negotiation are meant to go on this same stack (tokio-rustls, a
//! header check in `answer`).

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sockdoc_core::i18n::serve::{text, ServeMsg};
use sockdoc_core::i18n::Lang;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Content type of a `/metrics` answer.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Most bytes of a request line and headers buffered (hyper's smallest allowed buffer); a longer
/// head is answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// How long a client may take to send its whole request line and headers.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may stay open at all, whatever it does (reading the answer included).
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// Connections open at once. Each costs a socket and a few KiB; at the cap a new one evicts the
/// oldest connection still sending its request head.
pub const MAX_CONNECTIONS: usize = 512;

/// The blocking function that renders `/metrics`: the OpenMetrics text, or an error message for a 500.
pub type Render = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// The line to print when `addr` listens on every interface (0.0.0.0 or ::): the endpoint has no TLS
/// and no authentication, so anyone who can reach the port can read it.
pub fn exposure_warning(addr: SocketAddr, lang: Lang) -> Option<String> {
    if !addr.ip().is_unspecified() {
        return None;
    }
    let port = addr.port();
    let local = match addr.ip() {
        IpAddr::V4(_) => format!("127.0.0.1:{port}"),
        IpAddr::V6(_) => format!("[::1]:{port}"),
    };
    Some(text(lang, ServeMsg::Exposed, &[&addr.to_string(), &local]))
}

/// Serves `listener` on a thread of its own until the process exits; `render` is called for each
/// `GET`/`HEAD /metrics` (one at a time). Fails only when the runtime cannot start.
pub fn spawn(listener: StdListener, render: Render) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(2)
        .thread_name("sockdoc-http")
        .build()?;
    let listener = {
        let _in_rt = rt.enter();
        TcpListener::from_std(listener)?
    };
    std::thread::Builder::new()
        .name("sockdoc-http".into())
        .spawn(move || rt.block_on(accept_loop(listener, render)))?;
    Ok(())
}

/// What every connection task shares.
struct Shared {
    http: http1::Builder,
    scraper: Scraper,
    conns: Mutex<Table>,
}

/// The open connections, and which of them have not yet sent a whole request head (evictable).
#[derive(Default)]
struct Table {
    next_id: u64,
    open: usize,
    /// By id (= age order): the connection's eviction signal.
    waiting: std::collections::BTreeMap<u64, Arc<Notify>>,
}

/// A connection's place in the [`Table`], given back on drop.
struct Slot {
    id: u64,
    evict: Arc<Notify>,
    shared: Arc<Shared>,
}

impl Shared {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere cannot leave the table half-updated: every change is one statement.
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection: `None` when all [`MAX_CONNECTIONS`] are being answered.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut t = self.table();
        if t.open >= MAX_CONNECTIONS {
            let (_, oldest) = t.waiting.pop_first()?;
            oldest.notify_one();
        }
        let id = t.next_id;
        t.next_id += 1;
        t.open += 1;
        let evict = Arc::new(Notify::new());
        t.waiting.insert(id, evict.clone());
        Some(Slot {
            id,
            evict,
            shared: self.clone(),
        })
    }

    /// The connection sent a whole request head: it is being answered, no longer evictable.
    fn busy(&self, id: u64) {
        self.table().waiting.remove(&id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.shared.table();
        t.open -= 1;
        t.waiting.remove(&self.id);
    }
}

async fn accept_loop(listener: TcpListener, render: Render) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false);
    let shared = Arc::new(Shared {
        http,
        scraper: Scraper::new(render),
        conns: Mutex::new(Table::default()),
    });
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of fds or memory, or a connection reset before it was accepted: none of these
                // is a reason to stop serving, nor to spin.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        match shared.admit() {
            Some(slot) => {
                tokio::spawn(connection(stream, slot));
            }
            None => refuse(stream),
        }
    }
}

/// Every connection is being answered: say so without waiting for the client, and close.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\ntoo many conns",
    );
}

/// One connection: one request, answered, then closed; cut at the deadline or on eviction.
async fn connection(stream: TcpStream, slot: Slot) {
    let _ = stream.set_nodelay(true);
    let shared = slot.shared.clone();
    let id = slot.id;
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move {
            shared.busy(id);
            Ok::<_, Infallible>(answer(req, &shared.scraper).await)
        }
    });
    let conn = slot
        .shared
        .http
        .serve_connection(TokioIo::new(stream), service);
    // A client that hung up or broke the protocol is not worth a log line: an attacker could fill
    // the log with them.
    tokio::select! {
        _ = conn => {}
        _ = slot.evict.notified() => {}
        _ = tokio::time::sleep(CONNECTION_DEADLINE) => {}
    }
}

/// The response to one request. Only GET and HEAD exist; HEAD answers what GET would, without the body.
async fn answer(req: Request<Incoming>, scraper: &Scraper) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    let mut resp = if req.method() != Method::GET && !head {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else {
        match req.uri().path() {
            "/metrics" => match scraper.scrape().await {
                Ok(text) => {
                    let mut r = Response::new(Full::new(text));
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
                    r
                }
                Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            },
            "/healthz" => plain(StatusCode::OK, "ok\n"),
            _ => plain(StatusCode::NOT_FOUND, "try /metrics\n"),
        }
    };
    let body_len = hyper::body::Body::size_hint(resp.body())
        .exact()
        .unwrap_or(0);
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(body_len));
    if head {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    resp
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A scrape's number and its result.
type Scraped = (u64, Result<Bytes, String>);

/// Runs the blocking `render` one at a time, off the async thread. A request that arrived while a
/// scrape was running takes the result of the next scrape to start, which may be its own or one that
/// began after it arrived: never a result older than the request.
struct Scraper {
    render: Render,
    /// Scrapes started so far; a result is fresh for a request when its number is higher than this
    /// count was when the request arrived.
    started: AtomicU64,
    last: Arc<tokio::sync::Mutex<Option<Scraped>>>,
}

impl Scraper {
    fn new(render: Render) -> Scraper {
        Scraper {
            render,
            started: AtomicU64::new(0),
            last: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    async fn scrape(&self) -> Result<Bytes, String> {
        let arrived = self.started.load(Ordering::SeqCst);
        let mut last = self.last.clone().lock_owned().await;
        if let Some((seq, r)) = last.as_ref() {
            if *seq > arrived {
                return r.clone();
            }
        }
        let seq = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let render = self.render.clone();
        // The lock goes with the work into a task of its own: a client hanging up mid-scrape drops
        // this future, not the lock, so two scrapes never overlap.
        tokio::spawn(async move {
            let r = tokio::task::spawn_blocking(move || render())
                .await
                .unwrap_or_else(|e| Err(format!("the scrape failed: {e}")))
                .map(Bytes::from);
            *last = Some((seq, r.clone()));
            r
        })
        .await
        .unwrap_or_else(|e| Err(format!("the scrape failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn scrapes_never_overlap_and_waiters_share_a_result_no_older_than_them() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let renders = Arc::new(AtomicUsize::new(0));
        let render: Render = {
            let (in_flight, most, renders) = (in_flight.clone(), most.clone(), renders.clone());
            Arc::new(move || {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let n = renders.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::sleep(Duration::from_millis(200));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(format!("scrape {n}"))
            })
        };
        let scraper = Arc::new(Scraper::new(render));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // Ten requests at once: the first runs a scrape; the others arrived after it began, so
            // the next one runs a second scrape and the rest share that one.
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let s = scraper.clone();
                    tokio::spawn(async move { s.scrape().await })
                })
                .collect();
            let mut got = Vec::new();
            for t in tasks {
                got.push(t.await.expect("task").expect("scrape"));
            }
            assert_eq!(most.load(Ordering::SeqCst), 1, "two scrapes overlapped");
            assert_eq!(renders.load(Ordering::SeqCst), 2, "{got:?}");
            assert_eq!(got.iter().filter(|b| **b == "scrape 1").count(), 1);
            assert_eq!(got.iter().filter(|b| **b == "scrape 2").count(), 9);
            // A request after the last scrape ended never gets its result: it runs its own.
            assert_eq!(scraper.scrape().await.expect("scrape"), "scrape 3");
        });
    }

    #[test]
    fn a_wildcard_address_is_warned_about_with_the_loopback_to_use() {
        let at = |a: &str| a.parse().expect("addr");
        let w = exposure_warning(at("0.0.0.0:9717"), Lang::En).expect("warning");
        assert!(
            w.contains("all interfaces") && w.contains("127.0.0.1:9717"),
            "{w}"
        );
        let w = exposure_warning(at("[::]:9718"), Lang::En).expect("warning");
        assert!(w.contains("[::1]:9718"), "{w}");
        let w = exposure_warning(at("0.0.0.0:9717"), Lang::Zh).expect("warning");
        assert!(
            w.contains("所有网络接口") && w.contains("127.0.0.1:9717"),
            "{w}"
        );
        assert_eq!(exposure_warning(at("127.0.0.1:9717"), Lang::En), None);
        assert_eq!(exposure_warning(at("10.0.0.5:9717"), Lang::En), None);
    }
}
