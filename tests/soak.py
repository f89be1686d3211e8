#!/usr/bin/env python3
"""ferry soak test (issue 9; not part of make check): churn for a while
at a steady rate -- logins, logouts, wrong passwords, kicks through
ferryctl, reloads (SIGHUP), LDAP restarts -- while sampling ferryd's
resident memory and descriptor count every 10 s.  At the end the churn
stops, the sessions drain, and RSS and descriptors must be back near
their baseline; the log must hold no error the test did not cause.

    FERRYD=/path/to/ferryd python3 tests/soak.py [--minutes 30]
        [--rate 10] [--csv FILE]

Exit status 0 when the daemon came back to its baseline.
"""

import argparse
import imaplib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
import ferrytest  # noqa: E402
from ferrytest import Harness, imap_quote  # noqa: E402

USERS = ["u%02d" % i for i in range(1, 21)] + ["alice", "bob", "carol"]


def sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds


class Churn:
    def __init__(self, h, rate):
        self.h = h
        self.rate = rate
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"ok": 0, "authfail": 0, "unavailable": 0,
                       "error": 0, "kicks": 0, "reloads": 0,
                       "ldap_restarts": 0}
        self.held = []
        self.ops_error = None

    def count(self, k):
        with self.lock:
            self.counts[k] += 1

    def one_login(self, rnd):
        h = self.h
        uid = rnd.choice(USERS)
        bad = rnd.random() < 0.1
        pw = "wrong-password" if bad else h.password(uid)
        try:
            c = imaplib.IMAP4(h.ferry_addr, h.ferry_port, timeout=15)
        except OSError:
            self.count("error")
            return
        try:
            c.login(imap_quote(uid), pw)
        except imaplib.IMAP4.error as e:
            text = str(e)
            self.count("unavailable" if "UNAVAILABLE" in text else
                       "authfail" if "AUTHENTICATIONFAILED" in text
                       else "error")
            try:
                c.shutdown()
            except OSError:
                pass
            return
        except OSError:
            self.count("error")
            return
        self.count("ok")
        try:
            c.select("INBOX", readonly=True)
            if rnd.random() < 0.2:
                # held for a while: kicks and reloads meet live sessions
                with self.lock:
                    self.held.append((time.monotonic() +
                                      rnd.uniform(5, 60), c))
                return
            c.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def worker(self, seed, period):
        rnd = random.Random(seed)
        nxt = time.monotonic()
        while not self.stop.is_set():
            self.one_login(rnd)
            nxt += period
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.monotonic()

    def reaper(self):
        while not self.stop.wait(1):
            now = time.monotonic()
            with self.lock:
                due = [x for x in self.held if x[0] <= now]
                self.held = [x for x in self.held if x[0] > now]
            for _, c in due:
                try:
                    c.logout()
                except (imaplib.IMAP4.error, OSError, EOFError):
                    pass

    def ops(self, ctl):
        """Kicks, reloads and LDAP restarts; a failure here fails the
        soak (it used to end this thread silently)."""
        try:
            self._ops(ctl)
        except Exception as e:  # noqa: BLE001 - reported at the end
            self.ops_error = "%s: %s" % (type(e).__name__, e)

    def _ops(self, ctl):
        rnd = random.Random(7)
        t0 = time.monotonic()
        last_reload = last_ldap = t0
        while not self.stop.wait(5):
            p = subprocess.run([ctl, "-s", self.h.control_socket, "kick",
                                rnd.choice(USERS)], capture_output=True,
                               timeout=10)
            if p.returncode != 0:
                raise RuntimeError("ferryctl kick: exit %d: %s" % (
                    p.returncode, p.stderr.decode(errors="replace")))
            self.count("kicks")
            now = time.monotonic()
            if now - last_reload >= 60:
                self.h.procs["ferryd"].signal(signal.SIGHUP)
                self.count("reloads")
                last_reload = now
            if now - last_ldap >= 300:
                self.h.stop_ldap()
                self.stop.wait(10)
                self.h.start_ldap()
                self.count("ldap_restarts")
                last_ldap = time.monotonic()

    def close_held(self):
        with self.lock:
            held, self.held = self.held, []
        for _, c in held:
            try:
                c.logout()
            except (imaplib.IMAP4.error, OSError, EOFError):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=10,
                    help="login attempts per second")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    os.environ.setdefault("FERRYTEST_QUIET", "1")

    # Not /tmp/ferry-*: other runs clean those up by name.
    mkdtemp = ferrytest.tempfile.mkdtemp
    ferrytest.tempfile.mkdtemp = lambda prefix, dir: mkdtemp(
        prefix="soak-" + prefix, dir=dir)
    h = Harness(cache="ttl 5s  negative-ttl 5s  stale-if-error 1h")
    h.limits_extra = "    per-client 100000\n    client-failures 1000000"
    h.start()
    ctl = os.path.join(os.path.dirname(os.path.abspath(h.ferryd)),
                       "ferryctl")
    pid = h.procs["ferryd"].pid
    samples = []
    out = open(args.csv, "w") if args.csv else None

    def take(label=""):
        rss, fds = sample(pid)
        t = time.monotonic() - t0
        samples.append((t, rss, fds, label))
        line = "%7.0f s  rss %6d kB  fds %4d  %s" % (t, rss, fds, label)
        print(line, flush=True)
        if out:
            out.write("%.0f,%d,%d,%s\n" % (t, rss, fds, label))
            out.flush()

    t0 = time.monotonic()
    # Warm-up: one login per user, so caches and pools are at size.
    for u in USERS:
        try:
            h.login_where(u, h.password(u))
        except Exception:  # noqa: BLE001
            pass
    time.sleep(2)
    take("baseline")
    base = samples[-1]

    churn = Churn(h, args.rate)
    nworkers = 4
    threads = [threading.Thread(target=churn.worker,
                                args=(i, nworkers / args.rate), daemon=True)
               for i in range(nworkers)]
    threads += [threading.Thread(target=churn.reaper, daemon=True),
                threading.Thread(target=churn.ops, args=(ctl,),
                                 daemon=True)]
    for t in threads:
        t.start()
    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(10)
        with churn.lock:
            c = dict(churn.counts)
        take("ok=%d authfail=%d unavail=%d err=%d kicks=%d reloads=%d "
             "ldap=%d" % (c["ok"], c["authfail"], c["unavailable"],
                          c["error"], c["kicks"], c["reloads"],
                          c["ldap_restarts"]))
    churn.stop.set()
    for t in threads:
        t.join(30)
    churn.close_held()
    time.sleep(15)      # sessions drain, timers fire
    take("after drain")
    fin = samples[-1]

    log = h.ferry_log()
    warn = [ln for ln in log.splitlines() if re.search(
        r"(?i)\b(error|warn|fatal|assert|sanitizer)", ln)]
    expected = re.compile(r"ldap|LDAP|kick|reload|unavailable|"
                          r"backend closed|client connection error")
    unexpected = [ln for ln in warn if not expected.search(ln)]
    problems = h.close(check=True)
    if out:
        out.close()

    mid = samples[len(samples) // 2]
    peak_rss = max(s[1] for s in samples)
    peak_fds = max(s[2] for s in samples)
    print("--- curve: start rss %d kB fds %d; middle (%.0f s) rss %d kB "
          "fds %d; end rss %d kB fds %d; peak rss %d kB fds %d" % (
              base[1], base[2], mid[0], mid[1], mid[2], fin[1], fin[2],
              peak_rss, peak_fds))
    print("--- churn: %s" % churn.counts)
    print("--- log: %d warning/error lines, %d not caused by the test"
          % (len(warn), len(unexpected)))
    for ln in unexpected[:20]:
        print("    " + ln)
    ok = True
    if fin[2] > base[2] + 2:
        print("FAIL descriptors: %d at the end, %d at the start" % (
            fin[2], base[2]))
        ok = False
    if fin[1] > base[1] * 1.25 + 4096:
        print("FAIL memory: %d kB at the end, %d kB at the start" % (
            fin[1], base[1]))
        ok = False
    if unexpected:
        print("FAIL log: unexpected warnings or errors")
        ok = False
    if problems:
        print("FAIL harness: %s" % "; ".join(problems))
        ok = False
    if churn.ops_error:
        print("FAIL kicks and reloads stopped: %s" % churn.ops_error)
        ok = False
    print("soak: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
