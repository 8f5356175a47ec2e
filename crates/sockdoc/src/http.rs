//! The tiny HTTP/1.1 endpoint that `serve` and `reap` share: one request per connection, `/metrics`
//! (OpenMetrics text from the caller), `/healthz` (`ok`), anything else 404, then close. It knows
//! nothing of what the metrics say nor how connections are accepted.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Content type of a `/metrics` answer.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers one request on `conn`: reads the request line, calls `metrics` for `GET /metrics` (a
/// query string is ignored; its error becomes a 500 with the message), and writes the response with
/// `Connection: close`.
pub fn answer(
    mut conn: TcpStream,
    metrics: impl FnOnce() -> Result<String, String>,
) -> io::Result<()> {
    // A socket accepted from a non-blocking listener may be non-blocking itself.
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match path {
        "/metrics" => match metrics() {
            Ok(text) => ("200 OK", OPENMETRICS, text),
            Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
        },
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
        _ => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}
