#!/usr/bin/env python3
"""ferry benchmark driver (`make bench`; not part of `make check`).

Starts slapd and two Dovecot servers with the integration harness
(tests/integration/ferrytest.py), then a raw read/write relay (rawrelay,
the ceiling any proxy can reach) and ferryd in front of Dovecot A, and runs
the same loadgen workloads against Dovecot directly, the relay and ferryd,
in interleaved repetitions.  For the relay and ferryd it reads the CPU time
of the process (utime+stime of /proc/PID/stat, and the nanosecond run time
of /proc/PID/task/*/schedstat, which has no 10 ms tick rounding) per login,
per command and per MB, and the RSS growth (/proc/PID/status VmRSS) per
idle logged-in session.  Prints one table of medians; rates appear only as
ratios to direct access.

    run.py [--reps N] [--quick] [--many N]

Environment: FERRYD (ferryd binary), BENCHDIR (loadgen, rawrelay, stubd).
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("FERRYTEST_QUIET", "1")
import ferrytest  # noqa: E402
from ferrytest import Harness, Proc, free_port, wait_until  # noqa: E402

BENCH_USER = "u01"              # on server A; its mailbox holds one big message
BIG = 10 * 1024 * 1024          # bytes of the bulk message
TICK = os.sysconf("SC_CLK_TCK")


def cpu_stat(pid):
    """utime+stime of the whole process, in seconds (10 ms ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_ns(pid):
    """Run time of every thread of pid, in seconds, from schedstat."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def children_cpu():
    """CPU seconds of this process's finished children: the load
    generator, which competes with ferryd on a machine of few cores."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class BenchHarness(Harness):
    """The integration harness with room for load: Dovecot may run many
    processes, ferryd caches routes and listens on imap, pop3, imaps and
    pop3s, and BENCH_USER's mailbox holds one 10 MiB message."""

    def __init__(self, ferryd):
        super().__init__(ferryd=ferryd, cache="ttl 1h",
                         ferry_extra=self._extra)
        # The per-login targets are for one worker; --scaling compares.
        self.workers = 1
        self.limits_extra = ("    sessions 20000\n    per-client 20000\n"
                             "    client-failures 1000000\n"
                             "    idle-timeout 1h")
        taken = set(self.port.values()) | {self.ferry_port, self.ldap_port}
        self.ferry_ports = {"imap": self.ferry_port}
        for p in ("pop3", "imaps", "pop3s"):
            self.ferry_ports[p] = free_port(self.ferry_addr, taken)
        self.stub_addr = self.addr["hung"]   # unused by the bench otherwise
        self.stub_port = free_port(self.stub_addr, taken)

    def _extra(self, h):
        d = self.path("tls")
        os.makedirs(d, exist_ok=True)
        key, crt = os.path.join(d, "ferry.key"), os.path.join(d, "ferry.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                        "-subj", "/CN=bench"], check=True,
                       capture_output=True)
        mapfile = self.path("stub.map")
        with open(mapfile, "w") as f:
            f.write("*@stub %s:%d\n" % (self.stub_addr, self.stub_port))
        a, p = self.ferry_addr, self.ferry_ports
        return ("listen pop3 %s:%d starttls=off\n"
                "listen imaps %s:%d\nlisten pop3s %s:%d\n"
                "tls {\n    certificate %s\n    key %s\n}\n"
                "lookup {\n    map-file %s\n}\n"
                "backend %s { imap-port %d  pop3-port %d }\n"
                "backend %s { imap-port %d }\n" % (
                    a, p["pop3"], a, p["imaps"], a, p["pop3s"], crt, key,
                    mapfile, self.addr["A"], self.port["A"],
                    self.pop3_port["A"], self.stub_addr, self.stub_port))

    def _setup_dovecot(self, s):
        super()._setup_dovecot(s)
        conf = os.path.join(self.path(s), "dovecot.conf")
        with open(conf, "a") as f:
            f.write("default_process_limit = 2000\n"
                    "default_client_limit = 20000\n"
                    "default_vsz_limit = 0\n")
        if s == "A":
            self._big_message()

    def _big_message(self):
        md = self.path("A", "home", BENCH_USER, "Maildir", "cur")
        for name in os.listdir(md):
            os.unlink(os.path.join(md, name))
        line = b"QmVuY2htYXJr" * 6 + b"QmVu\r\n"    # 78 bytes with CRLF
        head = (b"From: bench@example.com\r\nTo: %s@example.com\r\n"
                b"Subject: bulk\r\n\r\n" % BENCH_USER.encode())
        body = line * ((BIG - len(head)) // len(line))
        path = os.path.join(md, "1704067300.M1P1.bench:2,")
        with open(path, "wb") as f:
            f.write(head + body + b"x" * (BIG - len(head) - len(body)))
        st = os.stat(os.path.dirname(md))
        os.chown(path, st.st_uid, st.st_gid)


class Target:
    def __init__(self, name, ports, pid=None):
        self.name, self.ports, self.pid = name, ports, pid


def loadgen(bench, proto, addr, port, users, mode, n, conc=1, tls=False,
            msgno=1):
    argv = [os.path.join(bench, "loadgen"), "-P", proto, "-a",
            "%s:%d" % (addr, port), "-U", users, "-m", mode, "-n", str(n),
            "-c", str(conc), "-M", str(msgno)]
    if tls:
        argv.append("-T")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("loadgen %s failed: %s" % (" ".join(argv),
                                                      r.stderr[-500:]))
    res = dict(kv.split("=") for kv in r.stdout.split()[-3:])
    return int(res["done"]), int(res["bytes"])


def measure(target, fn):
    """Runs fn(); returns (its result, wall s, CPU s ns-exact, CPU s ticks)."""
    pid = target.pid
    c0, s0, t0 = (cpu_ns(pid), cpu_stat(pid), time.monotonic()) if pid \
        else (0, 0, time.monotonic())
    out = fn()
    t1 = time.monotonic()
    c1, s1 = (cpu_ns(pid), cpu_stat(pid)) if pid else (0, 0)
    return out, t1 - t0, c1 - c0, s1 - s0


def idle_sessions(bench, target, proto, port, users, n, tls=False):
    """KB of RSS per idle logged-in session: RSS with n sessions held
    minus RSS before, over n."""
    before = rss_kb(target.pid)
    argv = [os.path.join(bench, "loadgen"), "-P", proto, "-a",
            "%s:%d" % (target.addr, port), "-U", users, "-m", "idle",
            "-n", str(n), "-c", "50"]
    if tls:
        argv.append("-T")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    if not line.startswith("ready"):
        p.kill()
        raise RuntimeError("idle sessions: %r" % line)
    time.sleep(0.5)
    after, fds = rss_kb(target.pid), nfds(target.pid)
    p.stdin.close()
    p.wait(timeout=60)
    time.sleep(1.0)          # let the target close them all
    return (after - before) / n, fds


def fmt_us(s):
    return "%.1f us" % (s * 1e6) if s is not None else "-"


def fmt_ms(s):
    return "%.2f ms" % (s * 1e3) if s is not None else "-"


def restart_ferry(h, ferry, workers):
    """ferryd again, with workers worker threads."""
    with open(h.ferry_conf) as f:
        text = f.read()
    with open(h.ferry_conf, "w") as f:
        f.write(re.sub(r"(?m)^workers \d+$", "workers %d" % workers, text))
    h.stop_ferry()
    h.start_ferry()
    ferry.pid = h.procs["ferryd"].pid


def scaling(h, bench, ferry, users, n, reps):
    """IMAPS logins from 8 connections at a time with 1 and 2 workers,
    to the stub backend: the TLS handshakes are ferryd's heaviest work.
    Interleaved; the rate with 2 workers as a ratio to 1 worker, CPU per
    login, and how busy ferryd was (CPU seconds per second: 1.0 is one
    core)."""
    res = {1: [], 2: []}
    for rep in range(reps):
        for w in ((1, 2) if rep % 2 == 0 else (2, 1)):
            restart_ferry(h, ferry, w)
            loadgen(bench, "imap", ferry.addr, ferry.ports["imaps"], users,
                    "login", 20, 2, tls=True)       # routes cached
            g0 = children_cpu()
            (done, _), wall, cpu, _ = measure(ferry, lambda: loadgen(
                bench, "imap", ferry.addr, ferry.ports["imaps"], users,
                "login", n, 8, tls=True))
            res[w].append((done / wall, cpu / done, cpu / wall,
                           (children_cpu() - g0) / done))
    restart_ferry(h, ferry, 1)

    def med(w, i):
        return statistics.median(x[i] for x in res[w])
    print("%-20s rate with 2 workers / 1 worker: %.2f (%d cores; the "
          "load generator shares them and takes %s CPU per login); CPU per "
          "login %s (1) %s (2); ferryd busy %.2f (1) %.2f (2) cores" % (
              "IMAPS login scaling", med(2, 0) / med(1, 0), os.cpu_count(),
              fmt_us(statistics.median(x[3] for x in res[1] + res[2])),
              fmt_us(med(1, 1)), fmt_us(med(2, 1)), med(1, 2), med(2, 2)))


def fmt_ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="fewer operations per repetition")
    ap.add_argument("--many", type=int, default=0,
                    help="also hold this many ferry sessions (stub backend)")
    ap.add_argument("--idle", type=int, default=300)
    ap.add_argument("--scaling", action="store_true",
                    help="also IMAPS logins with workers 1 and 2")
    args = ap.parse_args()
    bench = os.environ.get("BENCHDIR", HERE)
    ferryd = os.environ.get("FERRYD", ferrytest.DEFAULT_FERRYD)
    q = 0.25 if args.quick else 1.0
    nlogin, nnoop, nfetch = int(1000 * q), int(5000 * q), max(2, int(6 * q))

    h = BenchHarness(ferryd)
    procs = []
    try:
        h.start()
        # ferryd without -v: debug lines are not part of the cost
        fp = h.procs["ferryd"]
        h.stop_ferry()
        fp.argv = [ferryd, "-f", "-c", h.ferry_conf]
        h.start_ferry()
        users = h.path("users.txt")
        with open(users, "w") as f:
            f.write("%s %s\n" % (BENCH_USER, h.password(BENCH_USER)))
        multi = h.path("users-many.txt")
        with open(multi, "w") as f:
            for u, (pw, s) in sorted(ferrytest.USERS.items()):
                if s == "A" and u.startswith("u"):
                    f.write("%s %s\n" % (u, pw))
        a = h.addr["A"]
        relay_addr = h.ferry_addr
        taken = set(h.ferry_ports.values()) | {h.ldap_port, h.stub_port}
        rport = {"imap": free_port(relay_addr, taken),
                 "pop3": free_port(relay_addr, taken)}
        relays = []
        for proto, bport in (("imap", h.port["A"]),
                             ("pop3", h.pop3_port["A"])):
            p = Proc("rawrelay-" + proto, [
                os.path.join(bench, "rawrelay"),
                "%s:%d" % (relay_addr, rport[proto]), "%s:%d" % (a, bport)],
                h.path("rawrelay-%s.log" % proto))
            p.start()
            procs.append(p)
            relays.append(p)
        time.sleep(0.3)
        direct = Target("direct", {"imap": h.port["A"],
                                   "pop3": h.pop3_port["A"]})
        direct.addr = a
        relay = {"imap": Target("relay", rport, relays[0].pid),
                 "pop3": Target("relay", rport, relays[1].pid)}
        for t in relay.values():
            t.addr = relay_addr
        ferry = Target("ferry", h.ferry_ports, fp.pid)
        ferry.addr = h.ferry_addr

        # warm up: routes cached, Dovecot's caches warm
        for t in (direct, relay["imap"], ferry):
            loadgen(bench, "imap", t.addr, t.ports["imap"], multi, "login",
                    20, 2)
        loadgen(bench, "imap", ferry.addr, ferry.ports["imaps"], multi,
                "login", 5, 1, tls=True)

        rows = {}   # (workload, target) -> list of (per-op CPU, rate)

        def add(work, tname, cpu, rate):
            rows.setdefault((work, tname), []).append((cpu, rate))

        workloads = [
            ("IMAP login", "imap", "login", nlogin, 4, False),
            ("POP3 login", "pop3", "login", nlogin, 4, False),
            ("IMAP NOOP", "imap", "noop", nnoop, 1, False),
            ("POP3 NOOP", "pop3", "noop", nnoop, 1, False),
            ("IMAP FETCH 10 MiB", "imap", "fetch", nfetch, 1, False),
            ("POP3 RETR 10 MiB", "pop3", "fetch", nfetch, 1, False),
            ("IMAPS login", "imaps", "login", nlogin // 2, 4, True),
            ("POP3S login", "pop3s", "login", nlogin // 2, 4, True),
        ]
        for rep in range(args.reps):
            for work, port, mode, n, conc, tls in workloads:
                proto = port.rstrip("s") if tls else port
                targets = [ferry] if tls else [direct, relay[proto], ferry]
                # interleave: a different target goes first each time
                k = rep % len(targets)
                for t in targets[k:] + targets[:k]:
                    u = users if mode != "login" else multi
                    (done, nbytes), wall, cpu, ticks = measure(
                        t, lambda: loadgen(bench, proto, t.addr,
                                           t.ports[port], u, mode, n, conc,
                                           tls))
                    if mode == "fetch":
                        mb = nbytes / (1024 * 1024)
                        add(work, t.name, cpu / mb if t.pid else None,
                            mb / wall)
                    else:
                        add(work, t.name, cpu / done if t.pid else None,
                            done / wall)
                    add(work + " (ticks)", t.name,
                        ticks / (nbytes / 1048576 if mode == "fetch"
                                 else done) if t.pid else None, 0)
            sys.stderr.write("repetition %d/%d done\n" % (rep + 1, args.reps))

        idle = {}
        for rep in range(max(1, args.reps // 2)):
            for t, port, tls in ((relay["imap"], "imap", False),
                                 (ferry, "imap", False),
                                 (ferry, "imaps", True)):
                name = t.name + (" TLS" if tls else "")
                kb, fds = idle_sessions(bench, t, "imap", t.ports[port],
                                        multi, args.idle, tls)
                idle.setdefault(name, []).append(kb)

        def med(work, tname, i):
            v = [x[i] for x in rows.get((work, tname), []) if x[i]
                 is not None]
            return statistics.median(v) if v else None

        print()
        print("ferry benchmark: medians of %d interleaved repetitions; CPU "
              "time of the target process (schedstat ns); rates only as "
              "ratios" % args.reps)
        print("%-20s %12s %12s %8s %9s %9s %10s" % (
            "workload", "relay CPU", "ferry CPU", "f/relay", "relay/dir",
            "ferry/dir", "ferry tick"))
        for work, port, mode, n, conc, tls in workloads:
            unit = "/MB" if mode == "fetch" else "/op"
            rc, fc = med(work, "relay", 0), med(work, "ferry", 0)
            dr, rr, fr = (med(work, x, 1) for x in ("direct", "relay",
                                                    "ferry"))
            ft = med(work + " (ticks)", "ferry", 0)
            print("%-20s %12s %12s %8s %9s %9s %10s" % (
                work, (fmt_us(rc) + unit) if rc else "-",
                fmt_us(fc) + unit, fmt_ratio(fc, rc), fmt_ratio(rr, dr),
                fmt_ratio(fr, dr), fmt_us(ft)))
        # One connection, one command at a time: a round trip is 1/rate.
        for work in ("IMAP NOOP", "POP3 NOOP"):
            dr, rr, fr = (med(work, x, 1) for x in ("direct", "relay",
                                                    "ferry"))
            if dr and rr and fr:
                print("%-20s round trip added over direct: relay %s, "
                      "ferry %s; ferry - relay %s" % (
                          work + " latency", fmt_us(1 / rr - 1 / dr),
                          fmt_us(1 / fr - 1 / dr), fmt_us(1 / fr - 1 / rr)))
        # One connection: what a TLS login adds to the wait (a
        # delayed-ACK stall behind the session tickets was 40 ms).
        lat = {}
        for port, tls in (("imap", False), ("imaps", True)):
            (done, _), wall, _, _ = measure(ferry, lambda: loadgen(
                bench, "imap", ferry.addr, ferry.ports[port], multi,
                "login", 50, 1, tls))
            lat[port] = wall / done
        print("%-20s one connection: IMAPS login takes %.1f x the plain "
              "IMAP login through ferry (%s vs %s)" % (
                  "IMAPS login latency", lat["imaps"] / lat["imap"],
                  fmt_ms(lat["imaps"]), fmt_ms(lat["imap"])))
        for name, v in idle.items():
            print("%-20s %s KB per idle logged-in session (%d sessions)" % (
                "idle " + name, "%.2f" % statistics.median(v), args.idle))

        if args.scaling or args.many:
            stub = Proc("stubd", [os.path.join(bench, "stubd"), "%s:%d" % (
                h.stub_addr, h.stub_port)], h.path("stubd.log"))
            stub.start()
            procs.append(stub)
            time.sleep(0.3)
            with open(h.path("users-stub.txt"), "w") as f:
                for i in range(100):
                    f.write("s%02d@stub pw\n" % i)

        if args.scaling:
            # Against stubd: Dovecot starts a process per login, which
            # limits this machine to about 100 logins a second with
            # ferryd 20% busy, and no worker count could show.
            scaling(h, bench, ferry, h.path("users-stub.txt"), nlogin,
                    max(1, args.reps // 2))

        for tls in ((False, True) if args.many else ()):
            before = rss_kb(fp.pid)
            kb, fds = idle_sessions(bench, ferry, "imap", ferry.ports[
                "imaps" if tls else "imap"], h.path("users-stub.txt"),
                args.many, tls=tls)
            print("%-20s %.2f KB per session, %d descriptors in ferryd "
                  "with %d sessions (RSS before %d KB)" % (
                      "many sessions" + (" TLS" if tls else ""), kb, fds,
                      args.many, before))
    finally:
        for p in procs:
            p.stop()
        problems = h.close(check=True)
        if problems:
            sys.stderr.write("harness: %s\n" % "; ".join(problems))


if __name__ == "__main__":
    main()
