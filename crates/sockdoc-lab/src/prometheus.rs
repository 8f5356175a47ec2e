//! A real Prometheus (Debian's `/usr/bin/prometheus`) for a test: its own configuration and storage
//! in a temp directory, listening on a free loopback port, killed by PID and removed on drop; PromQL
//! through its HTTP API.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::doctor::Workdir;
use crate::serve::Killed;
use crate::wait::poll;

/// The Prometheus server the tests run.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Its rule and metrics checker.
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Fails the test when `tool` is missing, saying how to install it.
pub fn need(tool: &str) {
    assert!(
        Path::new(tool).is_file(),
        "{tool} is missing: apt-get install prometheus (scripts/test.sh installs it)"
    );
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// GET over HTTP/1.0 (no chunked replies): (status line, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    ))
}

/// Percent-encoding of a query string value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running Prometheus with its own config and storage in a temp directory, killed (by PID) and
/// removed on drop.
pub struct Prometheus {
    _proc: Killed,
    pub addr: String,
    dir: Workdir,
}

impl Prometheus {
    /// Prometheus scraping every 3 s with these `scrape_configs` entries (YAML, each starting
    /// `  - job_name: ...`) and these rule files; `setup` first writes what they refer to (certificates,
    /// passwords) into its directory, which it is given.
    pub fn start(
        scrape_configs: &str,
        rule_files: &[&Path],
        setup: impl FnOnce(&Workdir),
    ) -> Prometheus {
        need(PROMETHEUS);
        let dir = Workdir::new("prometheus").expect("temp dir");
        setup(&dir);
        let mut cfg = "global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\n  evaluation_interval: 1s\nrule_files:\n".to_string();
        for r in rule_files {
            cfg.push_str(&format!("  - {}\n", r.display()));
        }
        cfg.push_str("scrape_configs:\n");
        cfg.push_str(scrape_configs);
        let cfg_path = dir.write("prometheus.yml", &cfg).expect("config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            _proc: Killed(child),
            addr,
            dir,
        };
        poll(Duration::from_secs(30), "prometheus to be ready", || {
            Ok(match http_get(&p.addr, "/-/ready") {
                Ok((status, _)) if status.contains(" 200") => Ok(()),
                Ok((status, body)) => Err(format!("{status} {body}")),
                Err(e) => Err(format!("{e}; log: {}", p.log())),
            })
        })
        .expect("prometheus ready");
        p
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/<what>?query=...`: the `data` of a successful reply.
    pub fn api(&self, what: &str, query: &str) -> Result<Value, String> {
        let path = format!("/api/v1/{what}?query={}", urlencode(query));
        let (status, body) = http_get(&self.addr, &path).map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{query}: {status} {body}"));
        }
        Ok(v["data"].clone())
    }

    /// An instant query: label set (without __name__) → value.
    pub fn query(&self, q: &str) -> Result<BTreeMap<BTreeMap<String, String>, f64>, String> {
        let data = self.api("query", q)?;
        let mut out = BTreeMap::new();
        for r in data["result"].as_array().into_iter().flatten() {
            let labels: BTreeMap<String, String> = r["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let value = r["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no value in {r}"))?;
            out.insert(labels, value);
        }
        Ok(out)
    }

    /// The one value `q` returns.
    pub fn scalar(&self, q: &str) -> Result<f64, String> {
        let r = self.query(q)?;
        match r.values().collect::<Vec<_>>()[..] {
            [v] => Ok(*v),
            _ => Err(format!("{q} returned {} series: {r:?}", r.len())),
        }
    }

    /// Polls until `q` returns exactly `want`.
    pub fn wait_for(&self, q: &str, want: f64) {
        poll(Duration::from_secs(40), q, || {
            Ok(match self.scalar(q) {
                Ok(v) if v == want => Ok(()),
                Ok(v) => Err(format!("{v}, want {want}")),
                Err(e) => Err(e),
            })
        })
        .unwrap_or_else(|e| {
            panic!(
                "{e}\ntargets: {}\nprometheus log:\n{}",
                self.targets(),
                self.log()
            )
        });
    }

    /// Scrape health of each target, for failure messages.
    pub fn targets(&self) -> String {
        match http_get(&self.addr, "/api/v1/targets") {
            Ok((_, body)) => serde_json::from_str::<Value>(&body)
                .map(|v| {
                    v["data"]["activeTargets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            format!(
                                "{} {} {} ({}s)",
                                t["scrapeUrl"],
                                t["health"],
                                t["lastError"],
                                t["lastScrapeDuration"]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or(body),
            Err(e) => e.to_string(),
        }
    }
}
