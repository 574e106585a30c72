#!/usr/bin/python3
"""lcnet.py - stdlib-only relays of the local cloud (copied from the shared demo; no socat/nc needed).

  stdio HOST PORT [--delay-ms N]     ssh ProxyCommand: stdin/stdout <-> tcp HOST:PORT
  fwd LISTEN TARGET [--delay-ms N]   relay; LISTEN/TARGET are tcp:HOST:PORT or unix:/path
  aptproxy LISTEN --allow H1,H2      minimal HTTP forward proxy (GET/HEAD) for HOSTs:80 only
  waitbanner HOST PORT [--timeout S] poll until the port answers with a banner line; print seconds

--delay-ms adds a fixed one-way delay to every chunk in BOTH directions
(round trip +2N ms): a user-space stand-in for `tc netem`.
"""
import http.client, http.server, os, queue, socket, socketserver, sys, threading, time
import urllib.parse


def parse_addr(spec):
    kind, _, rest = spec.partition(':')
    if kind == 'unix':
        return socket.AF_UNIX, rest
    if kind == 'tcp':
        host, _, port = rest.rpartition(':')
        return socket.AF_INET, (host, int(port))
    sys.exit('bad address %r (want tcp:HOST:PORT or unix:/path)' % spec)


def connect(spec):
    fam, addr = parse_addr(spec)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.connect(addr)
    return s


def pump(read, write, on_eof, delay):
    """Copy chunks read() -> write(); call on_eof() at EOF. Optional fixed delay."""
    if not delay:
        def run():
            try:
                while True:
                    b = read()
                    if not b:
                        break
                    write(b)
            except OSError:
                pass
            on_eof()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return [t]
    q = queue.Queue()

    def reader():
        try:
            while True:
                b = read()
                q.put((time.monotonic() + delay, b))
                if not b:
                    return
        except OSError:
            q.put((time.monotonic() + delay, b''))

    def writer():
        try:
            while True:
                due, b = q.get()
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
                if not b:
                    break
                write(b)
        except OSError:
            pass
        on_eof()
    ts = [threading.Thread(target=reader, daemon=True), threading.Thread(target=writer, daemon=True)]
    for t in ts:
        t.start()
    return ts


def shut_wr(s):
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def splice(a, b, delay):
    ts = pump(lambda: a.recv(65536), b.sendall, lambda: shut_wr(b), delay)
    ts += pump(lambda: b.recv(65536), a.sendall, lambda: shut_wr(a), delay)
    for t in ts:
        t.join()
    a.close()
    b.close()


def cmd_stdio(host, port, delay):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(None)
    done = threading.Event()

    def out_write(b):
        while b:
            b = b[os.write(1, b):]
    pump(lambda: os.read(0, 65536), s.sendall, lambda: shut_wr(s), delay)
    pump(lambda: s.recv(65536), out_write, done.set, delay)
    done.wait()


def listen(spec):
    fam, addr = parse_addr(spec)
    s = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_UNIX:
        if os.path.exists(addr):
            os.unlink(addr)
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(64)
    return s


def cmd_fwd(lspec, tspec, delay):
    ls = listen(lspec)
    print('fwd %s -> %s delay=%sms' % (lspec, tspec, delay * 1000), file=sys.stderr, flush=True)
    while True:
        c, _ = ls.accept()

        def handle(c=c):
            try:
                t = connect(tspec)
            except OSError as e:
                print('fwd: connect %s: %s' % (tspec, e), file=sys.stderr, flush=True)
                c.close()
                return
            splice(c, t, delay)
        threading.Thread(target=handle, daemon=True).start()


HOP = {'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te',
       'trailers', 'transfer-encoding', 'upgrade'}


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    allow = set()

    def log_message(self, fmt, *args):
        print('aptproxy: ' + fmt % args, file=sys.stderr, flush=True)

    def address_string(self):
        return 'client'

    def do_GET(self):
        self.relay()

    def do_HEAD(self):
        self.relay()

    def relay(self):
        u = urllib.parse.urlsplit(self.path)
        if u.scheme != 'http' or u.hostname not in self.allow or (u.port or 80) != 80:
            self.log_message('DENY %s %s', self.command, self.path)
            self.send_error(403, 'localcloud apt proxy: only http://%s' % ','.join(sorted(self.allow)))
            return
        path = (u.path or '/') + ('?' + u.query if u.query else '')
        self.log_message('%s %s', self.command, self.path)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conns = self.__dict__.setdefault('conns', {})
        for attempt in (0, 1):
            conn = conns.get(u.hostname)
            if conn is None:
                conn = conns[u.hostname] = http.client.HTTPConnection(u.hostname, 80, timeout=120)
            try:
                conn.request(self.command, path, headers=hdrs)
                r = conn.getresponse()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                del conns[u.hostname]
                if attempt:
                    self.send_error(502, 'upstream error')
                    return
        self.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != 'content-length':
                self.send_header(k, v)
        length = r.getheader('Content-Length')
        if self.command == 'HEAD' or r.status in (204, 304) or r.status < 200:
            if length is not None:
                self.send_header('Content-Length', length)
            self.end_headers()
            r.read()
            return
        if length is None:
            body = r.read()
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header('Content-Length', length)
        self.end_headers()
        while True:
            b = r.read(65536)
            if not b:
                break
            self.wfile.write(b)


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPHTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def cmd_aptproxy(lspec, allow):
    ProxyHandler.allow = set(allow.split(','))
    fam, addr = parse_addr(lspec)
    if fam == socket.AF_UNIX:
        if os.path.exists(addr):
            os.unlink(addr)
        srv = UnixHTTPServer(addr, ProxyHandler)
    else:
        srv = TCPHTTPServer(addr, ProxyHandler)
    print('aptproxy on %s allow=%s' % (lspec, allow), file=sys.stderr, flush=True)
    srv.serve_forever()


def cmd_waitbanner(host, port, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            s = socket.create_connection((host, int(port)), timeout=0.3)
            s.settimeout(2)
            if s.recv(64):
                print('%.2f' % (time.monotonic() - t0))
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit('timeout waiting for %s:%s' % (host, port))


def main(argv):
    delay = 0.0
    if '--delay-ms' in argv:
        i = argv.index('--delay-ms')
        delay = float(argv[i + 1]) / 1000
        del argv[i:i + 2]
    if len(argv) >= 3 and argv[0] == 'stdio':
        return cmd_stdio(argv[1], argv[2], delay)
    if len(argv) >= 3 and argv[0] == 'fwd':
        return cmd_fwd(argv[1], argv[2], delay)
    if len(argv) >= 4 and argv[0] == 'aptproxy' and argv[2] == '--allow':
        return cmd_aptproxy(argv[1], argv[3])
    if len(argv) >= 3 and argv[0] == 'waitbanner':
        t = float(argv[4]) if len(argv) >= 5 and argv[3] == '--timeout' else 120
        return cmd_waitbanner(argv[1], argv[2], t)
    sys.exit(__doc__)


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        pass
