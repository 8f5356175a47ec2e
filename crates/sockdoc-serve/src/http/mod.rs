//! The HTTP endpoint that `serve` and `reap` share: `/metrics` (the caller's metrics, in the format
//! the client's `Accept` asks for: [`crate::exposition`]), `/healthz` (`ok`), anything else 404; GET
//! and HEAD only (any other method is a 405 and never runs a scrape). It knows nothing of what the
//! metrics say.
//!
//! Built on hyper 1 (HTTP/1.1 only) over a small tokio runtime on a thread of its own, because no
//! client may stall or bloat a daemon: hyper bounds what it buffers of a request head
//! ([`MAX_HEAD_BYTES`]) and how long a head may take ([`HEAD_TIMEOUT`]), and the runtime keeps any
//! number of slow or idle connections waiting at the cost of a few KiB each, while a scrape is
//! answered beside them. On top of that: every connection has an overall deadline
//! ([`CONNECTION_DEADLINE`]; the TLS handshake included), at most [`MAX_CONNECTIONS`] are open at once
//! (at the cap a newcomer evicts the oldest connection that has not yet sent a whole request head, or
//! gets a 503 when every connection is being answered), request bodies are never read, and every
//! answer closes its connection. The scrape itself is blocking work ([`scraper`]): one at a time;
//! requests that waited for a running scrape take its result instead of running another.
//!
//! With a web configuration ([`crate::web`], node_exporter's `--web.config.file`): TLS through
//! tokio-rustls (a client speaking plain HTTP to it gets a 400 saying so, as Go's servers answer),
//! basic authentication on every path (a 401 with `WWW-Authenticate: Basic` otherwise), and the
//! configured response headers. [`Endpoint::set_web`] swaps the configuration for the connections
//! that come next (SIGHUP).

mod scraper;

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ACCEPT, ALLOW, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sockdoc_core::i18n::serve::{text, ServeMsg};
use sockdoc_core::i18n::Lang;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::exposition::{self, Format};
use crate::web::WebConfig;
use scraper::Scraper;

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

/// The web configuration the next connections get (`None`: plain HTTP, no authentication).
type WebSlot = Arc<RwLock<Option<Arc<WebConfig>>>>;

/// The running endpoint, for its caller.
#[derive(Clone)]
pub struct Endpoint {
    web: WebSlot,
}

impl Endpoint {
    /// Serve the connections that come next with `web` (those open finish with the old one).
    pub fn set_web(&self, web: Option<WebConfig>) {
        *self.web.write().unwrap_or_else(|p| p.into_inner()) = web.map(Arc::new);
    }
}

/// `http` or `https`: the scheme of the endpoint's URL.
pub fn scheme(web: Option<&WebConfig>) -> &'static str {
    if web.is_some_and(WebConfig::tls) {
        "https"
    } else {
        "http"
    }
}

/// The line to print when `addr` listens on every interface (0.0.0.0 or ::) and the endpoint is not
/// both encrypted and authenticated ([`WebConfig::secured`]): anyone who can reach the port can read
/// it, or the passwords cross the network in clear.
pub fn exposure_warning(addr: SocketAddr, lang: Lang, web: Option<&WebConfig>) -> Option<String> {
    if !addr.ip().is_unspecified() || web.is_some_and(WebConfig::secured) {
        return None;
    }
    let port = addr.port();
    let local = match addr.ip() {
        IpAddr::V4(_) => format!("127.0.0.1:{port}"),
        IpAddr::V6(_) => format!("[::1]:{port}"),
    };
    let m = match web {
        Some(w) if w.tls() => ServeMsg::ExposedNoAuth,
        Some(w) if w.basic_auth() => ServeMsg::ExposedNoTls,
        _ => ServeMsg::Exposed,
    };
    Some(text(lang, m, &[&addr.to_string(), &local]))
}

/// Serves `listener` on a thread of its own until the process exits, with TLS and authentication
/// when `web` says so; `render` is called for each `GET`/`HEAD /metrics` (one at a time). Fails only
/// when the runtime cannot start.
pub fn spawn(
    listener: StdListener,
    render: Render,
    web: Option<WebConfig>,
) -> io::Result<Endpoint> {
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
    let endpoint = Endpoint {
        web: Arc::new(RwLock::new(web.map(Arc::new))),
    };
    let slot = endpoint.web.clone();
    std::thread::Builder::new()
        .name("sockdoc-http".into())
        .spawn(move || rt.block_on(accept_loop(listener, render, slot)))?;
    Ok(endpoint)
}

/// What every connection task shares.
struct Shared {
    http: http1::Builder,
    scraper: Scraper,
    conns: Mutex<Table>,
    web: WebSlot,
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
    /// The web configuration for a new connection.
    fn web(&self) -> Option<Arc<WebConfig>> {
        self.web.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

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

async fn accept_loop(listener: TcpListener, render: Render, web: WebSlot) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false);
    let shared = Arc::new(Shared {
        http,
        scraper: Scraper::new(render),
        conns: Mutex::new(Table::default()),
        web,
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
    let web = slot.shared.web();
    // A client that hung up or broke the protocol is not worth a log line: an attacker could fill
    // the log with them.
    tokio::select! {
        _ = handshake_and_serve(stream, &slot, web) => {}
        _ = slot.evict.notified() => {}
        _ = tokio::time::sleep(CONNECTION_DEADLINE) => {}
    }
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Plain HTTP, or TLS when the configuration has it (a client speaking plain HTTP to the TLS port is
/// told so and closed).
async fn handshake_and_serve(stream: TcpStream, slot: &Slot, web: Option<Arc<WebConfig>>) {
    let Some(acceptor) = web.as_ref().and_then(|w| w.acceptor()) else {
        return serve_io(TokioIo::new(stream), slot, web).await;
    };
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == TLS_HANDSHAKE => {}
        Ok(1) => return plain_to_tls(stream).await,
        _ => return,
    }
    if let Ok(tls) = acceptor.accept(stream).await {
        serve_io(TokioIo::new(tls), slot, web).await;
    }
}

/// A plain HTTP request on the TLS port: read what it sent (so closing does not reset the answer
/// away), answer 400 as Go's servers do, close.
async fn plain_to_tls(mut stream: TcpStream) {
    // The request head, up to its blank line or MAX_HEAD_BYTES (the connection's deadline bounds
    // how long this may take).
    let mut head = vec![0u8; MAX_HEAD_BYTES];
    let mut got = 0;
    while got < head.len() && !head[..got].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut head[got..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let body = "Client sent an HTTP request to an HTTPS server.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// hyper on one connection (plain or TLS).
async fn serve_io<I>(io: I, slot: &Slot, web: Option<Arc<WebConfig>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let shared = slot.shared.clone();
    let id = slot.id;
    let service = service_fn(move |req| {
        let (shared, web) = (shared.clone(), web.clone());
        async move {
            shared.busy(id);
            Ok::<_, Infallible>(answer(req, &shared.scraper, web.as_deref()).await)
        }
    });
    let _ = slot.shared.http.serve_connection(io, service).await;
}

/// The response to one request. Basic authentication first when configured (every path); then only
/// GET and HEAD exist; HEAD answers what GET would, without the body.
async fn answer(
    req: Request<Incoming>,
    scraper: &Scraper,
    web: Option<&WebConfig>,
) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    let authorized = match web.and_then(WebConfig::users) {
        None => true,
        Some(users) => {
            let header = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
            users.check(header).await
        }
    };
    let mut resp = if !authorized {
        let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sockdoc\", charset=\"UTF-8\""),
        );
        r
    } else if req.method() != Method::GET && !head {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else {
        match req.uri().path() {
            "/metrics" => metrics(&req, scraper).await,
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
    for (name, value) in web.map(WebConfig::headers).unwrap_or_default() {
        h.insert(name.clone(), value.clone());
    }
    if head {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    resp
}

/// `/metrics`: the scrape, in the format the request's `Accept` asks for.
async fn metrics(req: &Request<Incoming>, scraper: &Scraper) -> Response<Full<Bytes>> {
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = exposition::negotiate(accept);
    match scraper.scrape().await {
        Ok(om) => {
            let body = match format {
                Format::OpenMetrics => om,
                Format::Text004 => Bytes::from(exposition::to_text_004(
                    std::str::from_utf8(&om).unwrap_or_default(),
                )),
            };
            let mut r = Response::new(Full::new(body));
            let h = r.headers_mut();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            h.insert(VARY, HeaderValue::from_static("Accept"));
            r
        }
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_address_is_warned_about_with_the_loopback_to_use() {
        let at = |a: &str| a.parse().expect("addr");
        let w = exposure_warning(at("0.0.0.0:9717"), Lang::En, None).expect("warning");
        assert!(
            w.contains("all interfaces") && w.contains("127.0.0.1:9717"),
            "{w}"
        );
        let w = exposure_warning(at("[::]:9718"), Lang::En, None).expect("warning");
        assert!(w.contains("[::1]:9718"), "{w}");
        let w = exposure_warning(at("0.0.0.0:9717"), Lang::Zh, None).expect("warning");
        assert!(
            w.contains("所有网络接口") && w.contains("127.0.0.1:9717"),
            "{w}"
        );
        assert_eq!(exposure_warning(at("127.0.0.1:9717"), Lang::En, None), None);
        assert_eq!(exposure_warning(at("10.0.0.5:9717"), Lang::En, None), None);
    }
}
