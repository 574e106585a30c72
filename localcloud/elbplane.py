#!/usr/bin/python3
"""elbplane.py - the in-namespace side of the local cloud's classic load balancers (stdlib only).

  elbplane.py DIR --parent PID:STARTTIME

Runs inside the cloud's network namespace (started with nsenter by localcloud/elb.ts):
- reads DIR/config.json (rewritten atomically by the TypeScript side; polled every 50 ms):
    {"generation": N, "loadBalancers": [{"name", "healthCheck": {...}, "listeners": [{"socket",
     "loadBalancerPort", "instancePort", "protocol"}], "instances": [{"instanceId", "address",
     "ec2State"?}]}]}
- health-checks every registered instance with its load balancer's HealthCheck and writes the
  verdicts, and the generation it has applied, to DIR/health.json (atomically, on every change);
- listens on each listener's unix socket (the host side relays 127.0.0.1:<port> to it) and forwards
  each connection to the next InService instance, round robin; none InService: HTTP 503 for
  HTTP/HTTPS listeners, a closed connection for TCP/SSL ones.
Exits when the parent (the process that owns the plane) is gone or DIR is removed, removing its
sockets, so a killed harness leaves nothing behind.

Health semantics follow AWS's classic load balancer documentation (see elb.ts for the citations).
"""
import http.client, json, os, signal, socket, ssl, sys, threading, time

from lcnet import splice

REGISTERING = 'Instance registration is still in progress.'
FAILED = 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.'
NOT_PASSED = 'Instance has not passed the configured HealthyThreshold number of health checks consecutively.'
EC2_STATES = {'pending': 'pending', 'stopping': 'stopped', 'stopped': 'stopped',
              'shutting-down': 'terminated', 'terminated': 'terminated'}
SERVICE_UNAVAILABLE = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n'
                       b'Connection: close\r\n\r\n')
BAD_GATEWAY = b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'


def parse_target(target):
    """'HTTP:80/health' -> ('HTTP', 80, '/health'); 'TCP:22' -> ('TCP', 22, None)."""
    proto, _, rest = target.partition(':')
    proto = proto.upper()
    port, slash, path = rest.partition('/')
    return proto, int(port), ('/' + path) if slash else ('/' if proto in ('HTTP', 'HTTPS') else None)


def probe(target, address, timeout):
    """One health check: True on success within `timeout` seconds."""
    proto, port, path = parse_target(target)
    started = time.monotonic()
    try:
        if proto in ('HTTP', 'HTTPS'):
            if proto == 'HTTPS':
                # ELB does not validate the back end's certificate.
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=ctx)
            else:
                conn = http.client.HTTPConnection(address, port, timeout=timeout)
            try:
                conn.request('GET', path, headers={'User-Agent': 'ELB-HealthChecker/1.0'})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            finally:
                conn.close()
        else:
            s = socket.create_connection((address, port), timeout=timeout)
            try:
                if proto == 'SSL':
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    ctx.wrap_socket(s).close()
            finally:
                s.close()
            ok = True
    except (OSError, http.client.HTTPException, ValueError):
        ok = False
    # Each socket operation had `timeout`; the whole check must fit in it too.
    return ok and time.monotonic() - started <= timeout


class Target:
    """One registered instance of one load balancer: its counters and verdict."""

    def __init__(self, instance):
        self.instance_id = instance['instanceId']
        self.update(instance)
        self.state, self.reason, self.description = 'OutOfService', 'ELB', REGISTERING
        self.successes = self.failures = 0
        self.next_check = time.monotonic()
        self.checking = False
        self.checks = 0
        self.changed_at = time.time()

    def update(self, instance):
        self.address = instance['address']
        self.ec2_state = instance.get('ec2State')

    def record(self, ok, hc):
        """Applies one check result; returns True when the verdict changed."""
        before = (self.state, self.reason, self.description)
        self.checks += 1
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.state != 'InService':
                if self.successes >= hc['healthyThreshold']:
                    self.state, self.reason, self.description = 'InService', 'N/A', 'N/A'
                elif self.description != REGISTERING:
                    self.reason, self.description = 'Instance', NOT_PASSED
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= hc['unhealthyThreshold']:
                self.state, self.reason, self.description = 'OutOfService', 'Instance', FAILED
        return self.note_change(before)

    def not_running(self, ec2_state):
        before = (self.state, self.reason, self.description)
        self.successes = self.failures = 0
        self.state, self.reason = 'OutOfService', 'Instance'
        self.description = 'Instance is in %s state.' % EC2_STATES.get(ec2_state, ec2_state)
        return self.note_change(before)

    def note_change(self, before):
        changed = before != (self.state, self.reason, self.description)
        if changed:
            self.changed_at = time.time()
        return changed

    def verdict(self):
        return {'instanceId': self.instance_id, 'state': self.state, 'reasonCode': self.reason,
                'description': self.description, 'checks': self.checks, 'changedAt': self.changed_at}


class Plane:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.lbs = {}          # name -> {'spec', 'targets': {id: Target}, 'next': int}
        self.servers = {}      # socket path -> (listening socket, lb name, listener)
        self.generation = -1
        self.config_mtime = None
        self.dirty = True

    # --- configuration -----------------------------------------------------------------------
    def reload(self):
        path = os.path.join(self.dir, 'config.json')
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self.config_mtime:
            return
        with open(path) as f:
            config = json.load(f)
        self.config_mtime = mtime
        with self.lock:
            wanted = {lb['name']: lb for lb in config['loadBalancers']}
            for name in list(self.lbs):
                if name not in wanted:
                    del self.lbs[name]
            for name, spec in wanted.items():
                lb = self.lbs.setdefault(name, {'targets': {}, 'next': 0})
                lb['spec'] = spec
                ids = {i['instanceId']: i for i in spec['instances']}
                # Deregistration: the instance leaves the rotation at once; registering again starts over.
                for iid in list(lb['targets']):
                    if iid not in ids:
                        del lb['targets'][iid]
                for iid, inst in ids.items():
                    if iid in lb['targets']:
                        lb['targets'][iid].update(inst)
                    else:
                        lb['targets'][iid] = Target(inst)
            sockets = {l['socket']: (name, l) for name, spec in wanted.items() for l in spec['listeners']}
        for path_ in list(self.servers):
            if path_ not in sockets:
                self.close_server(path_)
        for path_, (name, listener) in sockets.items():
            if path_ in self.servers:
                self.servers[path_] = (self.servers[path_][0], name, listener)
            else:
                self.open_server(path_, name, listener)
        self.generation = config['generation']
        self.dirty = True

    def open_server(self, path, name, listener):
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(128)
        self.servers[path] = (s, name, listener)
        threading.Thread(target=self.accept_loop, args=(path, s), daemon=True).start()

    def close_server(self, path):
        s = self.servers.pop(path)[0]
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    # --- forwarding --------------------------------------------------------------------------
    def accept_loop(self, path, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            entry = self.servers.get(path)
            if entry is None or entry[0] is not server:
                client.close()
                return
            threading.Thread(target=self.forward, args=(client, entry[1], entry[2]), daemon=True).start()

    def pick(self, name):
        """The next InService instance of the load balancer (round robin), or None."""
        with self.lock:
            lb = self.lbs.get(name)
            if lb is None:
                return None
            healthy = [t for t in lb['targets'].values() if t.state == 'InService']
            if not healthy:
                return None
            target = healthy[lb['next'] % len(healthy)]
            lb['next'] += 1
            return target.address

    def forward(self, client, name, listener):
        http_like = listener['protocol'].upper() in ('HTTP', 'HTTPS')
        address = self.pick(name)
        if address is None:
            return refuse(client, SERVICE_UNAVAILABLE if http_like else None)
        try:
            backend = socket.create_connection((address, listener['instancePort']), timeout=10)
            backend.settimeout(None)
        except OSError:
            return refuse(client, BAD_GATEWAY if http_like else None)
        splice(client, backend, 0)

    # --- health checks -----------------------------------------------------------------------
    def schedule(self):
        now = time.monotonic()
        with self.lock:
            for lb in self.lbs.values():
                hc = lb['spec']['healthCheck']
                for target in lb['targets'].values():
                    if target.checking or target.next_check > now:
                        continue
                    target.next_check = now + hc['intervalSeconds']
                    if target.ec2_state is not None and target.ec2_state != 'running':
                        self.dirty |= target.not_running(target.ec2_state)
                        continue
                    target.checking = True
                    threading.Thread(target=self.check, args=(lb, target), daemon=True).start()

    def check(self, lb, target):
        hc = lb['spec']['healthCheck']
        ok = probe(hc['target'], target.address, hc['timeoutSeconds'])
        with self.lock:
            target.checking = False
            if lb['targets'].get(target.instance_id) is target:
                self.dirty |= target.record(ok, hc)
                if self.dirty:
                    self.write_health_locked()

    def write_health_locked(self):
        health = {'generation': self.generation, 'pid': os.getpid(),
                  'loadBalancers': {name: [t.verdict() for t in lb['targets'].values()]
                                    for name, lb in self.lbs.items()}}
        path = os.path.join(self.dir, 'health.json')
        with open(path + '.tmp', 'w') as f:
            json.dump(health, f)
        os.replace(path + '.tmp', path)
        self.dirty = False

    def shutdown(self):
        for path in list(self.servers):
            self.close_server(path)


def refuse(client, answer):
    """Answers a connection the load balancer cannot serve: reads the request head, then an HTTP error or just a close."""
    try:
        if answer is not None:
            client.settimeout(2)
            head = b''
            while b'\r\n\r\n' not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    break
                head += chunk
            client.sendall(answer)
            client.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    client.close()


def alive(pid, start):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rindex(')') + 2:].split(' ')
    return fields[0] != 'Z' and fields[19] == start


def main(argv):
    if len(argv) != 3 or argv[1] != '--parent':
        sys.exit(__doc__)
    directory = argv[0]
    pid, _, start = argv[2].partition(':')
    plane = Plane(directory)
    # stopProcess sends SIGTERM: leave through `finally`, which removes the sockets.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print('elbplane: pid %d, dir %s' % (os.getpid(), directory), file=sys.stderr, flush=True)
    last_watch = 0.0
    try:
        while True:
            now = time.monotonic()
            if now - last_watch >= 0.5:
                last_watch = now
                if not alive(int(pid), start) or not os.path.isdir(directory):
                    print('elbplane: owner gone, exiting', file=sys.stderr, flush=True)
                    return
            plane.reload()
            plane.schedule()
            with plane.lock:
                if plane.dirty:
                    plane.write_health_locked()
            time.sleep(0.05)
    finally:
        plane.shutdown()


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        pass
