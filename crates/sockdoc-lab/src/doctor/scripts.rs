//! The Python helper every scenario uses for its small servers and clients (Debian's
//! `/usr/bin/python3`, standard library only). Each run names itself with `prctl(PR_SET_NAME)`, so
//! `/proc/PID/comm` (what sockdoc and `ss -p` report) is the label the scenario chose, and prints
//! `ready ...` once its sockets are in place.
//!
//! `helper.py NAME MODE ARGS...`:
//!
//! * `server HOST PORT BACKLOG KIND [keepalive]`: a listener. KIND `hold` accepts and never reads
//!   nor closes (CLOSE-WAIT leak), `close` accepts and closes on EOF, `echo` echoes lines and
//!   closes first on `quit`, `noaccept` never accepts, `tick` accepts and sends `tick\n` to every
//!   connection each 100 ms. `keepalive` sets SO_KEEPALIVE on accepted sockets.
//! * `idle HOST PORT N [keepalive]`: N connections, held open and silent.
//! * `busy HOST PORT`: one connection sending `ping\n` every 100 ms and reading the echo.
//! * `connclose HOST PORT N`: N times connect and close at once; exits.
//! * `quit HOST PORT N`: N times connect, send `quit`, wait for the server's close; exits.
//! * `http HOST PORT N`: N HTTP/1.1 keep-alive requests, each on a new connection that the client
//!   closes after the response (TIME-WAIT on the client side); exits.
//! * `nbconnect HOST PORT N`: N non-blocking connects, held open (whatever state they reach).
//! * `spam HOST PORT MS`: a non-blocking connect every MS milliseconds, forever, keeping the last 64.
//! * `banner HOST PORT`: connect, read one line (an SSH banner), stay silent.
//! * `ftp HOST PORT idle|busy`: anonymous FTP login, then silence or a NOOP every 100 ms.
//! * `fdhog SOFT TARGET`: RLIMIT_NOFILE soft limit SOFT, a listener on 127.0.0.1, then descriptors
//!   on /dev/null until exactly TARGET are open; prints `ready OPEN`.

pub(crate) const HELPER: &str = r#"
import collections, ctypes, ftplib, os, resource, selectors, socket, sys, time

def setname(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")

def ready(extra=""):
    print(("ready " + str(extra)).strip(), flush=True)

def forever():
    while True:
        time.sleep(3600)

def connect(host, port, keepalive=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if keepalive:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.settimeout(10)
    s.connect((host, port))
    return s

def server(host, port, backlog, kind, keepalive):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port))
    l.listen(backlog)
    if kind == "noaccept":
        ready()
        forever()
    sel = selectors.DefaultSelector()
    sel.register(l, selectors.EVENT_READ, None)
    held, ticking = [], []
    next_tick = time.monotonic()
    ready()
    while True:
        timeout = max(0.0, next_tick - time.monotonic()) if kind == "tick" else None
        for key, _ in sel.select(timeout):
            if key.data is None:
                c, _ = l.accept()
                if keepalive:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if kind == "hold":
                    held.append(c)
                elif kind == "tick":
                    c.setblocking(False)
                    ticking.append(c)
                else:
                    sel.register(c, selectors.EVENT_READ, "conn")
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if not data or (kind == "echo" and data.strip() == b"quit"):
                sel.unregister(c)
                c.close()
            elif kind == "echo":
                c.sendall(data)
        if kind == "tick" and time.monotonic() >= next_tick:
            next_tick = time.monotonic() + 0.1
            for c in ticking:
                try:
                    c.send(b"tick\n")
                except OSError:
                    pass

def main():
    name, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    setname(name)
    if mode == "server":
        server(args[0], int(args[1]), int(args[2]), args[3], "keepalive" in args[4:])
    elif mode == "idle":
        conns = [connect(args[0], int(args[1]), "keepalive" in args[3:]) for _ in range(int(args[2]))]
        ready(" ".join(str(c.getsockname()[1]) for c in conns))
        forever()
    elif mode == "busy":
        s = connect(args[0], int(args[1]))
        ready(s.getsockname()[1])
        while True:
            s.sendall(b"ping\n")
            if not s.recv(100):
                sys.exit("server closed")
            time.sleep(0.1)
    elif mode == "connclose":
        for _ in range(int(args[2])):
            connect(args[0], int(args[1])).close()
        ready()
    elif mode == "quit":
        for _ in range(int(args[2])):
            s = connect(args[0], int(args[1]))
            s.sendall(b"quit\n")
            while s.recv(100):
                pass
            s.close()
        ready()
    elif mode == "http":
        host, port = args[0], int(args[1])
        request = ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode()
        for _ in range(int(args[2])):
            s = connect(host, port)
            s.sendall(request)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit("server closed before the response")
                buf += chunk
            head, body = buf.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit("server closed mid-body")
                body += chunk
            s.close()
        ready()
    elif mode == "nbconnect":
        conns = []
        for _ in range(int(args[2])):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((args[0], int(args[1])))
            conns.append(s)
        ready()
        forever()
    elif mode == "spam":
        keep = collections.deque()
        ready()
        while True:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((args[0], int(args[1])))
            keep.append(s)
            if len(keep) > 64:
                keep.popleft().close()
            time.sleep(int(args[2]) / 1000.0)
    elif mode == "banner":
        s = connect(args[0], int(args[1]))
        line = s.recv(256)
        ready(s.getsockname()[1])
        forever()
    elif mode == "ftp":
        f = ftplib.FTP()
        f.connect(args[0], int(args[1]), timeout=10)
        f.login()
        f.pwd()
        ready(f.sock.getsockname()[1])
        if args[2] == "idle":
            forever()
        while True:
            f.voidcmd("NOOP")
            time.sleep(0.1)
    elif mode == "fdhog":
        soft, target = int(args[0]), int(args[1])
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        l.bind(("127.0.0.1", 0))
        l.listen(8)
        fds = []
        def count():
            return len(os.listdir("/proc/self/fd")) - 1
        while count() < target:
            fds.append(os.open("/dev/null", os.O_RDONLY))
        ready(count())
        forever()
    else:
        sys.exit("unknown mode " + mode)

main()
"#;

/// The interpreter: Debian's, not a pyenv shim (a shim is a shell script, and the PID that
/// `ip netns exec` hands back must be Python's own).
pub(crate) const PYTHON: &str = "/usr/bin/python3";
