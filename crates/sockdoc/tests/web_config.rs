//! The exporter as Prometheus users expect it: a plain GET (curl) gets the Prometheus text 0.0.4,
//! which `promtool check metrics` passes, and only a client asking for OpenMetrics gets it; and
//! node_exporter's `--web.config.file` on `serve` and `reap --metrics`: a real Prometheus scrapes
//! over TLS with basic auth and a client certificate (certificates made by openssl, a real bcrypt
//! hash), a wrong password gets 401 with `WWW-Authenticate: Basic`, plain HTTP to the TLS port is
//! refused, SIGHUP reads the file again, and a bad file is one line and exit 64 or 66.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sockdoc_lab::doctor::Workdir;
use sockdoc_lab::prometheus::{need, Prometheus, PROMTOOL};
use sockdoc_lab::reap::Reaper;
use sockdoc_lab::serve::{self as lab_serve, Killed};
use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_sockdoc");
const USER: &str = "prometheus";
const PASSWORD: &str = "s3cret pass";
/// bcrypt's cost in these tests: real hashes, cheap enough for a debug build.
const COST: u32 = 6;

/// A namespace with a listener, one connection to it and one TIME-WAIT socket.
fn busy_ns() -> Netns {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let script = format!(
        "import socket, time\nl = socket.socket(); l.bind(('127.0.0.1', {port})); l.listen(8)\n\
         c = socket.create_connection(('127.0.0.1', {port})); s, _ = l.accept()\n\
         t = socket.create_connection(('127.0.0.1', {port})); u, _ = l.accept(); t.close(); u.close()\n\
         time.sleep(60)\n"
    );
    ns.spawn(&["python3", "-c", &script]).expect("holder");
    poll(Duration::from_secs(10), "a TIME-WAIT socket", || {
        let t = ns.exec(&["ss", "-tanH", "state", "time-wait"])?;
        Ok(if t.lines().count() >= 1 {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("time-wait");
    ns
}

/// GET `path` with extra request headers over plain HTTP: (head, body).
fn get_with(addr: &str, path: &str, headers: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: lab\r\n{headers}\r\n");
    s.write_all(request.as_bytes()).expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

/// `promtool check metrics` on `body`: (passed, what it said).
fn promtool_check(body: &str) -> (bool, String) {
    need(PROMTOOL);
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

#[test]
fn a_plain_scrape_passes_promtool_and_only_who_asks_gets_openmetrics() {
    let ns = busy_ns();
    let (_serve, addr) = lab_serve::start(BIN, &ns, &["--doctor-every", "0s"]);
    for accept in [
        "",
        "Accept: */*\r\n",
        "Accept: text/plain;version=0.0.4\r\n",
    ] {
        let (head, body) = get_with(&addr, "/metrics", accept);
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{accept:?}: {head}"
        );
        let (ok, said) = promtool_check(&body);
        assert!(ok, "promtool check metrics: {said}\n{body}");
        for want in [
            r#"sockdoc_sockets{proto="tcp",family="ipv4",state="time_wait"} "#,
            r#"sockdoc_unit_sockets{unit="no_cgroup",proto="tcp",state="time_wait"} "#,
            "# TYPE sockdoc_kernel_tcpext_listenoverflows_total counter",
            "sockdoc_kernel_tcpext_listenoverflows_total ",
            "sockdoc_kernel_udp_rcvbuferrors_total ",
            "# TYPE sockdoc_scrapes_total counter",
            &format!(
                "sockdoc_build_info{{version=\"{}\",",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(
                body.lines().any(|l| l.starts_with(want)),
                "{want} in\n{body}"
            );
        }
        for gone in [
            "time-wait",
            "name=\"TcpExt",
            "sockdoc_kernel_total",
            "# EOF",
        ] {
            assert!(!body.contains(gone), "{gone} in\n{body}");
        }
    }
    // Prometheus' own Accept header, and a bare OpenMetrics one.
    for accept in [
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "application/openmetrics-text",
    ] {
        let (head, body) = get_with(&addr, "/metrics", &format!("Accept: {accept}\r\n"));
        assert!(
            head.contains("content-type: application/openmetrics-text; version=1.0.0"),
            "{head}"
        );
        assert_eq!(body.lines().last(), Some("# EOF"), "{body}");
        assert!(body.contains("# TYPE sockdoc_scrapes counter\n"), "{body}");
        assert!(body.contains("\nsockdoc_scrapes_total "), "{body}");
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and a web config
/// naming them (relative paths) with one bcrypt user; `client_certs` adds
/// RequireAndVerifyClientCert.
struct Certs {
    dir: Workdir,
}

impl Certs {
    fn make(client_certs: bool) -> Certs {
        let dir = Workdir::new("webcfg").expect("temp dir");
        let ssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl (apt-get install openssl)");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        ssl(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=sockdoc test CA",
            ],
        ]
        .concat());
        for (name, usage) in [("tls", "serverAuth"), ("client", "clientAuth")] {
            let ext = dir
                .write(
                    &format!("{name}.ext"),
                    &format!(
                        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"
                    ),
                )
                .expect("ext");
            let (key, csr, crt) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
            );
            ssl(&[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN={name}"),
                ],
            ]
            .concat());
            ssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext.to_string_lossy(),
            ]);
        }
        let c = Certs { dir };
        c.write_config(PASSWORD, client_certs);
        c
    }

    fn write_config(&self, password: &str, client_certs: bool) {
        let hash = bcrypt::hash(password, COST).expect("bcrypt");
        let client = if client_certs {
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
        } else {
            ""
        };
        let yml = format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n{client}basic_auth_users:\n  {USER}: {hash}\n"
        );
        self.dir.write("web.yml", &yml).expect("web.yml");
    }

    fn config(&self) -> PathBuf {
        self.dir.join("web.yml")
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// `curl` over TLS to `url` trusting the CA, with `extra` arguments: (exit code, head + body).
    fn curl(&self, url: &str, extra: &[&str]) -> (i32, String) {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-i",
                "--max-time",
                "30",
                "--cacert",
                &self.path("ca.crt"),
            ])
            .args(extra)
            .arg(url)
            .output()
            .expect("curl (apt-get install curl)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// curl with the client certificate and `user:password`.
    fn curl_as(&self, url: &str, credentials: &str) -> (i32, String) {
        let (cert, key) = (self.path("client.crt"), self.path("client.key"));
        self.curl(url, &["--cert", &cert, "--key", &key, "-u", credentials])
    }
}

/// `sockdoc serve` with the web config; its guard and `host:port`.
fn secured_serve(ns: &Netns, certs: &Certs) -> (Killed, String) {
    let config = certs.config();
    lab_serve::start(BIN, ns, &["--web.config.file", &config.to_string_lossy()])
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth_and_a_client_certificate() {
    let ns = busy_ns();
    let certs = Certs::make(true);
    let (_serve, addr) = secured_serve(&ns, &certs);
    let job = format!(
        "  - job_name: sockdoc-tls\n    scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n    basic_auth:\n      username: {USER}\n      password: \"{PASSWORD}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n",
        certs.path("ca.crt"),
        certs.path("client.crt"),
        certs.path("client.key"),
    );
    let prom = Prometheus::start(&job, &[], |_| {});
    prom.wait_for(r#"up{job="sockdoc-tls"}"#, 1.0);
    prom.wait_for(r#"count(sockdoc_build_info{job="sockdoc-tls"})"#, 1.0);
    prom.wait_for(
        r#"sockdoc_sockets{job="sockdoc-tls",proto="tcp",family="ipv4",state="listen"}"#,
        1.0,
    );
}

#[test]
fn wrong_credentials_get_401_and_plain_http_or_no_client_certificate_is_refused() {
    let ns = busy_ns();
    let certs = Certs::make(true);
    let (_serve, addr) = secured_serve(&ns, &certs);
    let url = format!("https://{addr}/metrics");
    let right = format!("{USER}:{PASSWORD}");
    let (code, text) = certs.curl_as(&url, &right);
    assert!(
        code == 0 && text.starts_with("HTTP/1.1 200"),
        "{code}: {text}"
    );
    assert!(text.contains("sockdoc_build_info{"), "{text}");
    for wrong in [format!("{USER}:nope"), format!("nobody:{PASSWORD}")] {
        let (code, text) = certs.curl_as(&url, &wrong);
        assert!(
            code == 0 && text.starts_with("HTTP/1.1 401"),
            "{code}: {text}"
        );
        let lower = text.to_ascii_lowercase();
        assert!(lower.contains("www-authenticate: basic"), "{text}");
        assert!(!text.contains("sockdoc_"), "{text}");
    }
    // No credentials at all, on every path.
    let (cert, key) = (certs.path("client.crt"), certs.path("client.key"));
    let (code, text) = certs.curl(
        &format!("https://{addr}/healthz"),
        &["--cert", &cert, "--key", &key],
    );
    assert!(
        code == 0 && text.starts_with("HTTP/1.1 401"),
        "{code}: {text}"
    );
    // Without a client certificate the handshake fails: no HTTP answer at all.
    let (code, text) = certs.curl(&url, &["-u", &right]);
    assert!(code != 0 && !text.contains("HTTP/1.1"), "{code}: {text}");
    // Plain HTTP to the TLS port: a 400 that says why, never metrics.
    let (head, body) = get_with(&addr, "/metrics", "");
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");
}

const QUIET_REAP: &str =
    "interval = \"1s\"\ndry_run = true\n[[rule]]\nname = \"none\"\nlocal_port = 9\nidle_timeout = \"1h\"\n";

#[test]
fn reap_serves_its_metrics_with_the_same_web_config() {
    let ns = Netns::new().expect("namespace");
    let certs = Certs::make(true);
    let config = certs.config();
    let extra = [
        "--metrics",
        "127.0.0.1:0",
        "--web.config.file",
        &config.to_string_lossy(),
    ];
    let r = Reaper::start(BIN, &ns, QUIET_REAP, &extra, &[]).expect("start sockdoc reap");
    let addr = r.metrics.clone().expect("metrics address");
    assert!(
        r.stderr()
            .contains(&format!("metrics on https://{addr}/metrics")),
        "{}",
        r.stderr()
    );
    let url = format!("https://{addr}/metrics");
    let (code, text) = certs.curl_as(&url, &format!("{USER}:{PASSWORD}"));
    assert!(
        code == 0 && text.starts_with("HTTP/1.1 200"),
        "{code}: {text}"
    );
    assert!(
        text.contains("content-type: text/plain; version=0.0.4"),
        "{text}"
    );
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let (ok, said) = promtool_check(body);
    assert!(ok, "promtool check metrics: {said}\n{body}");
    assert!(body.contains("sockdoc_reap_build_info{version="), "{body}");
    let (code, text) = certs.curl_as(&url, &format!("{USER}:wrong"));
    assert!(
        code == 0 && text.starts_with("HTTP/1.1 401"),
        "{code}: {text}"
    );
}

/// serve on every interface of a lab namespace with `config`: its stderr lines once SIGTERM ended it.
fn lines_on_all_interfaces(config: &Path) -> Vec<String> {
    let ns = Netns::new().expect("namespace");
    let config = config.to_string_lossy();
    let mut serve = lab_serve::spawn(BIN, &ns, "0.0.0.0:0", &["--web.config.file", &config]);
    let log = lab_serve::log_lines(&mut serve.0);
    let first = log
        .recv_timeout(Duration::from_secs(30))
        .expect("the serving line");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(serve.0.id() as libc::pid_t, libc::SIGTERM) };
    // Every line it wrote before it ended: the channel closes with its stderr.
    std::iter::once(first).chain(log.iter()).collect()
}

#[test]
fn every_interface_is_warned_about_unless_tls_and_authentication_are_both_on() {
    let certs = Certs::make(false);
    let lines = lines_on_all_interfaces(&certs.config());
    assert!(
        lines[0].starts_with("serving https://0.0.0.0:"),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("warning")), "{lines:?}");
    // TLS without any authentication: warned about.
    certs
        .dir
        .write(
            "tls-only.yml",
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n",
        )
        .expect("tls-only");
    let lines = lines_on_all_interfaces(&certs.dir.join("tls-only.yml"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("warning") && l.contains("without authentication")),
        "{lines:?}"
    );
}

/// `sockdoc --netns NS serve` with the web config: its guard, where it listens, its log lines.
fn serve_with_log(ns: &Netns, config: &Path) -> (Killed, String, mpsc::Receiver<String>) {
    let config = config.to_string_lossy();
    let mut serve = lab_serve::spawn(BIN, ns, "127.0.0.1:0", &["--web.config.file", &config]);
    let log = lab_serve::log_lines(&mut serve.0);
    let first = log
        .recv_timeout(Duration::from_secs(30))
        .expect("the serving line");
    (serve, lab_serve::addr_in(&first), log)
}

/// Waits for a log line containing `what`.
fn wait_log(rx: &mpsc::Receiver<String>, what: &str) -> String {
    poll(Duration::from_secs(20), what, || {
        Ok(match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) if l.contains(what) => Ok(l),
            Ok(l) => Err(l),
            Err(e) => Err(e.to_string()),
        })
    })
    .expect("log line")
}

#[test]
fn sighup_reads_the_web_config_again_and_keeps_the_old_one_when_the_new_is_bad() {
    let ns = Netns::new().expect("namespace");
    let certs = Certs::make(false);
    let (serve, addr, log) = serve_with_log(&ns, &certs.config());
    let url = format!("https://{addr}/healthz");
    let status = |credentials: &str| {
        let (code, text) = certs.curl(&url, &["-u", credentials]);
        assert_eq!(code, 0, "{text}");
        text.lines().next().unwrap_or_default().to_string()
    };
    let hup = || {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(serve.0.id() as libc::pid_t, libc::SIGHUP) };
    };
    assert!(status(&format!("{USER}:{PASSWORD}")).contains(" 200"));
    certs.write_config("n3w", false);
    hup();
    wait_log(&log, "reloaded the web configuration");
    assert!(status(&format!("{USER}:n3w")).contains(" 200"));
    assert!(status(&format!("{USER}:{PASSWORD}")).contains(" 401"));
    // A broken file: refused in one line, the last good one kept.
    certs
        .dir
        .write("web.yml", "tls_server_config: [")
        .expect("broken");
    hup();
    let line = wait_log(&log, "kept the previous web configuration");
    assert!(line.contains("web.yml"), "{line}");
    assert!(status(&format!("{USER}:n3w")).contains(" 200"));
}

/// `sockdoc ARGS`: (exit code, stderr).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().expect("run sockdoc");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_web_config_is_one_line_and_exit_64_or_66() {
    let dir = Workdir::new("badweb").expect("temp dir");
    let hash = bcrypt::hash(PASSWORD, COST).expect("bcrypt");
    let reap = dir.write("reap.toml", QUIET_REAP).expect("reap.toml");
    let cases: Vec<(&str, String, i32, &str)> = vec![
        ("missing.yml", String::new(), 66, "missing.yml"),
        ("bad-yaml.yml", "tls_server_config: [".into(), 64, "not a web configuration file"),
        ("unknown.yml", "basic_auth_user:\n  a: b\n".into(), 64, "basic_auth_user"),
        ("ciphers.yml", "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n".into(), 64, "cipher_suites is not supported"),
        ("plain.yml", format!("basic_auth_users:\n  {USER}: {PASSWORD}\n"), 64, "not a bcrypt hash"),
        ("no-cert.yml", format!("tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\nbasic_auth_users:\n  {USER}: {hash}\n"), 66, "nowhere.crt"),
        ("auth-type.yml", "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n".into(), 64, "RequireAndVerifyClientCert"),
        ("old-tls.yml", "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n".into(), 64, "TLS12, TLS13"),
    ];
    for (name, text, code, says) in cases {
        let path = if text.is_empty() {
            dir.join(name)
        } else {
            dir.write(name, &text).expect("write")
        };
        let path = path.to_string_lossy().into_owned();
        let reap = reap.to_string_lossy();
        for args in [
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--web.config.file",
                &path,
            ],
            vec![
                "reap",
                "--check",
                "--config",
                &reap,
                "--web.config.file",
                &path,
            ],
        ] {
            let (got, err) = run(&args);
            assert_eq!(got, Some(code), "{name} {args:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
            assert!(
                err.contains(says) && !err.contains("panicked"),
                "{name}: {err}"
            );
        }
    }
    let (got, err) = run(&[
        "--lang",
        "zh",
        "serve",
        "--web.config.file",
        &dir.join("plain.yml").to_string_lossy(),
    ]);
    assert_eq!(got, Some(64), "{err}");
    assert!(err.contains("不是 bcrypt 哈希"), "{err}");
}
