#!/usr/bin/env python3
"""ferry operations tests (issue 6): ferryctl against a running ferryd
with live sessions, metrics, reload, drain, limits, privileges and the
systemd unit.  Same harness and output as test_imap.py: "PASS name" or
"FAIL name: why" per test, then "N passed, N failed".

    FERRYD=/path/to/ferryd [FERRYCTL=/path/to/ferryctl] python3 test_ops.py [name ...]

FERRYCTL defaults to the ferryctl next to FERRYD.
"""

import imaplib
import json
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Fail, Harness, LoginFailed, RawIMAP,  # noqa: E402
                       check, raw)

SRCDIR = os.environ.get("FERRY_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

TESTS = []
test = ferrytest.collector(TESTS)


def ferryctl_bin(h):
    return os.environ.get("FERRYCTL") or os.path.join(
        os.path.dirname(os.path.abspath(h.ferryd)), "ferryctl")


def ctl(h, *args, want=0, socket_path=None):
    """Runs ferryctl; returns (exit status, stdout, stderr)."""
    argv = [ferryctl_bin(h), "-s", socket_path or h.control_socket]
    argv += list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if want is not None and p.returncode != want:
        raise Fail("ferryctl %s: exit %d, want %d; stdout %r stderr %r" % (
            " ".join(args), p.returncode, want, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def ctl_json(h, *args, want=0):
    rc, out, err = ctl(h, "--json", *args, want=want)
    try:
        return json.loads(out)
    except ValueError:
        raise Fail("ferryctl --json %s: not JSON: %r" % (" ".join(args), out))


def still_works(conn):
    try:
        typ, _ = conn.noop()
        return typ == "OK"
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError, EOFError):
        return False


def close_all(conns):
    for c in conns:
        try:
            if isinstance(c, RawIMAP):
                c.close()
            else:
                c.logout()
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError, EOFError):
            pass


def wait_for(what, fn, timeout=5.0):
    timeout *= ferrytest.SLOW  # longer under valgrind (FERRYD_WRAPPER)
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r:
            return r
        if time.monotonic() > deadline:
            raise Fail("%s: not within %.0fs" % (what, timeout))
        time.sleep(0.1)


def open_sessions(h):
    return ctl_json(h, "status")["sessions"]["open"]


def wait_idle(h):
    """No session left from an earlier test."""
    wait_for("sessions from earlier tests to end",
             lambda: open_sessions(h) == 0, 10)


def rewrite_conf(h, fn):
    """Applies fn to ferry.conf's text; returns the old text."""
    with open(h.ferry_conf) as f:
        old = f.read()
    new = fn(old)
    check(new != old, "configuration rewrite changed nothing")
    with open(h.ferry_conf, "w") as f:
        f.write(new)
    return old


def set_limits(h, lines):
    """Sets limits-block settings ("    key value" lines), replacing the
    harness's own values of the same keys."""
    def change(t):
        for line in lines.splitlines():
            key = line.split()[0]
            pat = re.compile(r"(?m)^\s*%s\s.*$" % re.escape(key))
            if pat.search(t):
                t = pat.sub(line, t, count=1)
            else:
                t = t.replace("    drain-time 5s\n",
                              "    drain-time 5s\n" + line + "\n", 1)
        return t
    return rewrite_conf(h, change)


def restore_conf(h, text):
    with open(h.ferry_conf, "w") as f:
        f.write(text)
    ctl(h, "reload")


# Prometheus text format 0.0.4: comments, and samples "name{labels} value".
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*'
                       r'="(?:[^"\\\n]|\\.)*",?)*\})? '
                       r'([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)$')


def parse_prometheus(text):
    """{'name{labels}': float}; raises Fail on any malformed line."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            check(len(parts) >= 4, "bad comment line %r" % line)
            if parts[1] == "TYPE":
                check(parts[3] in ("counter", "gauge", "histogram",
                                   "summary", "untyped"),
                      "bad TYPE line %r" % line)
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE_RE.match(line)
        check(m is not None, "not a Prometheus sample: %r" % line)
        key = line.rsplit(" ", 1)[0]
        samples[key] = float(line.rsplit(" ", 1)[1])
    for key in samples:
        base = re.sub(r"(_bucket|_sum|_count)$", "", key.split("{")[0])
        check(base in types or key.split("{")[0] in types,
              "sample %r has no TYPE line" % key)
    return samples


def metrics(h):
    rc, out, err = ctl(h, "metrics")
    return parse_prometheus(out)


# ------------------------------------------------------------------ tests

@test
def ctl_status_counts(h):
    wait_idle(h)
    a = h.login("alice", h.password("alice"))
    b = h.login("bob", h.password("bob"))
    r = raw(h)
    try:
        st = ctl_json(h, "status")
        s = st["sessions"]
        check(s["open"] == 3, "open sessions %s, want 3" % s["open"])
        check(s["relay"] == 2, "relayed sessions %s, want 2" % s["relay"])
        check(s["preauth"] == 1, "pre-auth sessions %s, want 1"
              % s["preauth"])
        backends = dict((x["address"], x["sessions"]) for x in st["backends"])
        check(backends == {h.mailhost("A"): 1, h.mailhost("B"): 1},
              "backends %r" % backends)
        check(st["daemon"]["version"] and st["daemon"]["pid"] ==
              h.procs["ferryd"].pid, "daemon record %r" % st["daemon"])
        check([x["address"] for x in st["listeners"]] ==
              ["%s:%d" % (h.ferry_addr, h.ferry_port)],
              "listeners %r" % st["listeners"])
        check(st["logins"]["ok"] >= 2, "logins %r" % st["logins"])
        check(st["ldap"]["state"] == "bound", "ldap %r" % st["ldap"])
        check("cache" in st, "no cache figures in %r" % st)
        rc, out, err = ctl(h, "status")
        check("sessions" in out and "backend" in out,
              "human status output: %r" % out)
    finally:
        close_all([a, b, r])


@test
def ctl_sessions_lists_backend(h):
    wait_idle(h)
    a = h.login("alice", h.password("alice"))
    b = h.login("bob", h.password("bob"))
    try:
        h.which_server(a)       # moves some bytes
        rows = ctl_json(h, "sessions", "alice")["sessions"]
        check(len(rows) == 1, "sessions alice: %r" % rows)
        row = rows[0]
        check(row["user"] == "alice", "user %r" % row["user"])
        check(row["backend"] == h.mailhost("A"), "alice's backend %s, "
              "want %s" % (row["backend"], h.mailhost("A")))
        check(row["state"] == "relay", "state %r" % row["state"])
        check(row["proto"] == "imap" and row["tls"] is False,
              "proto/tls %r" % row)
        check(row["in"] > 0 and row["out"] > 0, "bytes %r" % row)
        check(row["client"].startswith("127."), "client %r" % row["client"])
        rows = ctl_json(h, "sessions")["sessions"]
        check(sorted(r["backend"] for r in rows) ==
              sorted([h.mailhost("A"), h.mailhost("B")]),
              "all sessions: %r" % rows)
        rc, out, err = ctl(h, "sessions", "bob")
        check(out.splitlines()[0].split()[:3] == ["id", "user", "client"],
              "human table header: %r" % out)
        check(h.mailhost("B") in out and "1 session" in out,
              "human sessions bob: %r" % out)
        check(ctl_json(h, "sessions", "nobody-here")["result"] ==
              "0 sessions", "sessions of an unknown user")
    finally:
        close_all([a, b])


@test
def ctl_kick_closes_exactly_that_user(h):
    wait_idle(h)
    a1 = h.login("alice", h.password("alice"))
    a2 = h.login("alice", h.password("alice"))
    b = h.login("bob", h.password("bob"))
    c = h.login("carol", h.password("carol"))
    try:
        before = metrics(h)
        rc, out, err = ctl(h, "kick", "alice")
        check("kicked 2 sessions of alice" in out, "kick output %r" % out)
        check(not still_works(a1) and not still_works(a2),
              "alice's sessions survived the kick")
        check(still_works(b) and still_works(c),
              "other users' sessions were closed by kick alice")
        rows = ctl_json(h, "sessions")["sessions"]
        check(sorted(r["user"] for r in rows) == ["bob", "carol"],
              "sessions after kick: %r" % rows)
        check(metrics(h)["ferry_sessions_kicked_total"] ==
              before["ferry_sessions_kicked_total"] + 2, "kick counter")
        j = ctl_json(h, "kick", "nobody-here")
        check(j["kick"]["sessions"] == 0, "kick nobody: %r" % j)
        check("Kicked" not in h.ferry_log() and "end=\"kicked\"" in
              h.ferry_log(), "summary line with end=\"kicked\"")
    finally:
        close_all([a1, a2, b, c])


@test
def workers_kick_and_list_every_worker(h):
    """Two worker threads (the harness's default): the kernel spreads
    connections over both, and a listing, the status counts and a kick
    reach the sessions on each."""
    wait_idle(h)
    check(re.search(r"ferryd: 2 workers, one thread each", h.ferry_log()),
          "ferryd did not start two worker threads")
    alice = [h.login("alice", h.password("alice")) for _ in range(16)]
    bob = [h.login("bob", h.password("bob")) for _ in range(4)]
    try:
        rows = ctl_json(h, "sessions", "alice")["sessions"]
        check(len(rows) == 16, "sessions alice: %d rows" % len(rows))
        on = {r["worker"] for r in rows}
        # 16 connections all hashed to one socket: odds of 2^-15.
        check(on == {0, 1}, "alice's sessions on workers %r" % on)
        j = ctl_json(h, "status")
        check(j["sessions"]["open"] == 20 and j["sessions"]["relay"] == 20,
              "status sessions: %r" % j["sessions"])
        rc, out, err = ctl(h, "kick", "alice")
        check("kicked 16 sessions of alice" in out, "kick output %r" % out)
        check(not any(still_works(c) for c in alice),
              "an alice session survived the kick")
        check(all(still_works(c) for c in bob),
              "bob's sessions were closed by kick alice")
        rows = ctl_json(h, "sessions")["sessions"]
        check(sorted(r["user"] for r in rows) == ["bob"] * 4,
              "sessions after kick: %r" % rows)
    finally:
        close_all(alice + bob)


@test
def ctl_lookup_cache_vs_ldap(h):
    ctl(h, "flush")
    j = ctl_json(h, "lookup", "dave")
    check(j["lookup"]["backend"] == h.mailhost(h.location["dave"]),
          "lookup dave: %r" % j)
    check(j["lookup"]["source"] == "ldap", "first lookup from %r"
          % j["lookup"]["source"])
    j = ctl_json(h, "lookup", "dave")
    check(j["lookup"]["source"] == "cache", "second lookup from %r"
          % j["lookup"]["source"])
    rc, out, err = ctl(h, "lookup", "dave")
    check(out.startswith("dave is on %s (from cache)"
                         % h.mailhost(h.location["dave"])),
          "human lookup: %r" % out)
    rc, out, err = ctl(h, "lookup", "no-such-user", want=1)
    check("no such user" in err, "unknown user: %r %r" % (out, err))
    j = ctl_json(h, "lookup", "no-such-user", want=1)
    check("no such user" in j["error"], "json error %r" % j)


@test
def ctl_flush(h):
    ctl(h, "lookup", "frank")
    check(ctl_json(h, "lookup", "frank")["lookup"]["source"] == "cache",
          "not cached")
    j = ctl_json(h, "flush", "frank")
    check(j["flush"]["entries"] >= 1, "flush frank: %r" % j)
    check(ctl_json(h, "lookup", "frank")["lookup"]["source"] == "ldap",
          "frank still cached after flush frank")
    ctl(h, "lookup", "alice")
    rc, out, err = ctl(h, "flush")
    check(out.startswith("flushed "), "human flush: %r" % out)
    check(ctl_json(h, "status")["cache"]["entries"] == 0,
          "cache not empty after flush")


@test
def ctl_usage_errors(h):
    for args, want in ((["bogus"], 2), (["status", "extra"], 2),
                       (["lookup"], 2), (["kick"], 2),
                       (["kick", "a", "b"], 2), (["reload", "now"], 2),
                       ([], 2)):
        rc, out, err = ctl(h, *args, want=None)
        check(rc == want, "ferryctl %s: exit %d, want %d" % (
            " ".join(args), rc, want))
        check(err.strip() != "", "ferryctl %s: no message" % " ".join(args))
    rc, out, err = ctl(h, "status", want=None,
                       socket_path=h.path("no-such.sock"))
    check(rc == 3 and "is ferryd running" in err,
          "missing socket: exit %d %r" % (rc, err))
    # The daemon checks too, for clients other than ferryctl.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(h.control_socket)
    s.sendall(b"bogus\nstatus now\nkick\nsessions\n")
    data = b""
    while data.count(b"\nok") + data.count(b"\nerror") < 4 and \
            not data.endswith(b"sessions\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if re.search(rb"ok \d+ sessions?\n$", data):
            break
    s.close()
    lines = data.decode().splitlines()
    check(lines[0].startswith("error unknown verb"), "bogus: %r" % lines)
    check(lines[1].startswith("error this verb takes no argument"),
          "status now: %r" % lines)
    check(lines[2].startswith("error missing user name"), "kick: %r" % lines)
    check(re.match(r"ok \d+ sessions?$", lines[-1]), "sessions: %r" % lines)


@test
def ctl_metrics_prometheus_counters_move(h):
    m0 = metrics(h)
    for key in ('ferry_sessions{state="relay"}',
                'ferry_logins_total{result="ok"}',
                'ferry_lookup_duration_seconds_count',
                'ferry_backend_connect_duration_seconds_count',
                'ferry_relayed_bytes_total{direction="in"}',
                'ferry_cache_hits_total', 'ferry_cache_misses_total',
                'ferry_lookup_duration_seconds_bucket{le="+Inf"}'):
        check(key in m0, "metrics lack %s" % key)
    a = h.login("alice", h.password("alice"))
    try:
        h.which_server(a)
        m1 = metrics(h)
        check(m1['ferry_sessions{state="relay"}'] ==
              m0['ferry_sessions{state="relay"}'] + 1, "relay gauge")
    finally:
        close_all([a])
    try:
        h.login("alice", "wrong-password").logout()
    except LoginFailed:
        pass
    m2 = metrics(h)
    for key, least in (('ferry_logins_total{result="ok"}', 1),
                       ('ferry_logins_total{result="failed"}', 1),
                       ('ferry_lookup_duration_seconds_count', 2),
                       ('ferry_backend_connect_duration_seconds_count', 1),
                       ('ferry_relayed_bytes_total{direction="in"}', 20),
                       ('ferry_relayed_bytes_total{direction="out"}', 100),
                       ('ferry_sessions_total', 2)):
        check(m2[key] >= m0[key] + least, "%s moved %s -> %s, want +%d"
              % (key, m0[key], m2[key], least))
    # Histogram buckets are cumulative and end in the count.
    buckets = [v for k, v in m2.items()
               if k.startswith("ferry_lookup_duration_seconds_bucket")]
    check(buckets == sorted(buckets), "buckets not cumulative")
    check(buckets[-1] == m2["ferry_lookup_duration_seconds_count"],
          "+Inf bucket != count")
    j = ctl_json(h, "metrics")
    check("ferry_sessions_total" in j["text"], "metrics --json: %r" % j)


@test
def metrics_http_endpoint(h):
    url = "http://%s:%d" % (h.ferry_addr, h.metrics_port)
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        check(r.status == 200, "GET /metrics: %d" % r.status)
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("text/plain"), "content type %r" % ctype)
        samples = parse_prometheus(r.read().decode())
    check("ferry_sessions_total" in samples, "no ferry_sessions_total")
    try:
        urllib.request.urlopen(url + "/other", timeout=5)
        raise Fail("GET /other answered 200")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "GET /other: %d" % e.code)


def connect_refused(addr, port):
    try:
        socket.create_connection((addr, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


@test
def reload_changes_listener_port(h):
    old_port = h.ferry_port
    new_port = ferrytest.free_port(h.ferry_addr, {old_port, h.metrics_port})
    a = h.login("alice", h.password("alice"))
    try:
        old = rewrite_conf(h, lambda t: t.replace(
            "%s:%d" % (h.ferry_addr, old_port),
            "%s:%d" % (h.ferry_addr, new_port)))
        rc, out, err = ctl(h, "reload")
        check("reloaded" in out, "reload output %r" % out)
        h.ferry_port = new_port
        check(h.login_where("bob", h.password("bob")) == "B",
              "login on the new port")
        check(connect_refused(h.ferry_addr, old_port),
              "old port still accepts after reload")
        check(still_works(a) and h.which_server(a) == "A",
              "relayed session did not survive the reload")
        st = ctl_json(h, "status")
        check(st["reloads"]["ok"] >= 1, "reload counter %r" % st["reloads"])
        check([x["address"] for x in st["listeners"]] ==
              ["%s:%d" % (h.ferry_addr, new_port)], "listeners after "
              "reload %r" % st["listeners"])
        # And back again, by SIGHUP this time.
        with open(h.ferry_conf, "w") as f:
            f.write(old)
        h.procs["ferryd"].signal(signal.SIGHUP)
        wait_for("old port after SIGHUP", lambda: not connect_refused(
            h.ferry_addr, old_port))
        h.ferry_port = old_port
        wait_for("new port closed after SIGHUP",
                 lambda: connect_refused(h.ferry_addr, new_port))
        check(still_works(a), "relayed session did not survive SIGHUP")
    finally:
        close_all([a])


@test
def reload_broken_file_keeps_old(h):
    with open(h.ferry_conf) as f:
        good = f.read()
    try:
        with open(h.ferry_conf, "w") as f:
            f.write(good.replace("limits {", "limits {\n    tiemout 5s", 1))
        rc, out, err = ctl(h, "reload", want=1)
        check("reload refused" in err and "ferry.conf:" in err and
              "tiemout" in err, "error text %r" % err)
        h.procs["ferryd"].signal(signal.SIGHUP)
        wait_for("SIGHUP reload refusal in the log", lambda: re.search(
            r"reload refused, configuration unchanged: .*tiemout",
            h.ferry_log()))
        check(h.login_where("alice", h.password("alice")) == "A",
              "login after a refused reload")
        st = ctl_json(h, "status")
        check(st["reloads"]["failed"] >= 2, "failures %r" % st["reloads"])
    finally:
        with open(h.ferry_conf, "w") as f:
            f.write(good)


@test
def reload_applies_preauth_timeout(h):
    old = rewrite_conf(h, lambda t: re.sub(r"preauth-timeout \d+s",
                                           "preauth-timeout 2s", t))
    try:
        ctl(h, "reload")
        c = raw(h, timeout=8)
        t0 = time.monotonic()
        try:
            line = c.readline()
            dt = time.monotonic() - t0
            check(line.startswith(b"* BYE"), "idle client got %r" % line)
            check(1 <= dt <= 4, "BYE after %.1fs, want ~2s" % dt)
            check(c.at_eof(3), "open after BYE")
        finally:
            c.close()
    finally:
        restore_conf(h, old)


@test
def session_limit_counts_every_worker(h):
    """limits sessions is for the daemon, not per worker thread: with two
    workers, the sixth connection is refused although each worker holds
    fewer than five."""
    wait_idle(h)
    old = set_limits(h, "    sessions 5")
    conns = []
    try:
        ctl(h, "reload")
        before = metrics(h)
        for _ in range(5):
            conns.append(raw(h))
        check(all(c.greeting.startswith(b"* OK") for c in conns),
              "first five not greeted")
        extra = raw(h)
        check(extra.greeting.startswith(b"* BYE Too many connections"),
              "sixth connection got %r" % extra.greeting)
        check(extra.at_eof(3), "sixth connection left open")
        extra.close()
        key = 'ferry_connections_refused_total{reason="sessions"}'
        check(metrics(h)[key] == before[key] + 1, "refusal counter")
    finally:
        close_all(conns)
        restore_conf(h, old)


@test
def per_client_limit(h):
    wait_idle(h)
    old = set_limits(h, "    per-client 3")
    conns = []
    try:
        ctl(h, "reload")
        before = metrics(h)
        for _ in range(3):
            conns.append(raw(h))
        check(all(c.greeting.startswith(b"* OK") for c in conns),
              "first three not greeted")
        extra = raw(h)
        check(extra.greeting.startswith(b"* BYE Too many connections from "
                                        b"your address"),
              "fourth connection got %r" % extra.greeting)
        check(extra.at_eof(3), "fourth connection left open")
        extra.close()
        m = metrics(h)
        key = 'ferry_connections_refused_total{reason="per-client"}'
        check(m[key] == before[key] + 1, "refusal counter")
        conns.pop().close()
        wait_for("a slot after one closed", lambda: open_sessions(h) == 2)
        again = raw(h)
        conns.append(again)
        check(again.greeting.startswith(b"* OK"), "no slot after a close")
    finally:
        close_all(conns)
        restore_conf(h, old)


@test
def failed_logins_back_off(h):
    wait_idle(h)
    old = set_limits(h, "    client-failures 4\n    client-backoff 3s")
    try:
        ctl(h, "reload")
        c = raw(h)
        for i in range(2):
            _, t = c.command("f%d" % i, "LOGIN alice wrong-%d" % i)
            check(t.startswith("NO"), "failed login %d: %r" % (i, t))
        c.close()
        c = raw(h)
        for i in range(2, 4):
            _, t = c.command("f%d" % i, "LOGIN bob wrong-%d" % i)
            check(t.startswith("NO"), "failed login %d: %r" % (i, t))
        c.close()
        t0 = time.monotonic()
        d = raw(h)
        check(d.greeting.startswith(b"* BYE Too many failed logins"),
              "after 4 failures got %r" % d.greeting)
        d.close()
        check(re.search(r"4 failed logins, refusing", h.ferry_log()),
              "no back-off line in the log")
        st = ctl_json(h, "status")
        check(st["clients"]["blocked"] == 1 and st["refused"]["backoff"] >= 1,
              "status %r %r" % (st["clients"], st["refused"]))
        time.sleep(max(0, 3.3 - (time.monotonic() - t0)))
        e = raw(h)
        check(e.greeting.startswith(b"* OK"), "still refused after the "
              "back-off: %r" % e.greeting)
        e.close()
    finally:
        restore_conf(h, old)


@test
def sigterm_drains_relayed_session(h):
    wait_idle(h)
    p = h.procs["ferryd"]
    a = h.login("alice", h.password("alice"))
    r = raw(h)
    try:
        p.signal(signal.SIGTERM)
        line = r.readline()
        check(line.startswith(b"* BYE"), "pre-auth client got %r" % line)
        check(r.at_eof(3), "pre-auth client left open while draining")
        wait_for("listener closed", lambda: connect_refused(
            h.ferry_addr, h.ferry_port))
        check(ctl_json(h, "status")["daemon"]["draining"] is True,
              "status does not say draining")
        time.sleep(1)
        check(still_works(a) and h.which_server(a) == "A",
              "relayed session broken while draining")
        check(p.running(), "ferryd exited with a relayed session open")
        t0 = time.monotonic()
        a.logout()
        rc = p.popen.wait(5)
        check(rc == 0, "exit status %d after draining" % rc)
        check(time.monotonic() - t0 < 3, "exit took %.1fs after the last "
              "session ended" % (time.monotonic() - t0))
        check("drained, exiting" in h.ferry_log(), "no drain line in log")
    finally:
        close_all([a, r])
        h.procs["ferryd"].stop()
        h.start_ferry()


@test
def sigterm_drain_time_closes_the_rest(h):
    p = h.procs["ferryd"]
    a = h.login("bob", h.password("bob"))
    try:
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        rc = p.popen.wait(12)
        dt = time.monotonic() - t0
        check(rc == 0, "exit status %d" % rc)
        check(4 <= dt <= 8, "exited after %.1fs, drain-time is 5s" % dt)
        check(not still_works(a), "session open after ferryd exited")
        check("drain-time over" in h.ferry_log(), "no drain-time line")
    finally:
        close_all([a])
        h.procs["ferryd"].stop()
        h.start_ferry()


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":", 1) for l in f.read().splitlines()
                    if ":" in l)


@test
def runs_as_configured_user(h):
    if os.geteuid() != 0:
        raise Fail("must run as root to test the switch of user")
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    h.procs["ferryd"].stop()
    old = rewrite_conf(h, lambda t: re.sub(
        r"(?m)^user .*$", "user nobody\ngroup %s" % group, t))
    secret = h.path("ldap.secret")
    os.chown(secret, nobody.pw_uid, nobody.pw_gid)  # read again on reload
    try:
        h.start_ferry()
        pid = h.procs["ferryd"].pid
        st = proc_status(pid)
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        check(uids == [str(nobody.pw_uid)] * 4, "Uid: %s" % st["Uid"])
        check(gids == [str(nobody.pw_gid)] * 4, "Gid: %s" % st["Gid"])
        check(st["Groups"].split() == [str(nobody.pw_gid)],
              "Groups: %s" % st["Groups"])
        # Only CAP_NET_BIND_SERVICE (bit 10) is kept, for reloads.
        check(int(st["CapEff"], 16) == 1 << 10, "CapEff %s" % st["CapEff"])
        sock = os.stat(h.control_socket)
        check(sock.st_uid == nobody.pw_uid and sock.st_mode & 0o777 == 0o660,
              "socket owner %d mode %o" % (sock.st_uid, sock.st_mode & 0o777))
        check(h.login_where("alice", h.password("alice")) == "A",
              "login as nobody")
        ctl(h, "reload")
        check(h.login_where("bob", h.password("bob")) == "B",
              "login after a reload as nobody")
    finally:
        h.procs["ferryd"].stop()
        with open(h.ferry_conf, "w") as f:
            f.write(old)
        os.chown(secret, 0, 0)
        h.start_ferry()


@test
def refuses_root_without_user(h):
    if os.geteuid() != 0:
        return
    conf = h.path("noroot.conf")
    with open(h.ferry_conf) as f:
        text = re.sub(r"(?m)^user .*\n", "", f.read())
    text = text.replace(h.control_socket, h.path("noroot.sock"))
    text = re.sub(r"listen imap \S+", "listen imap %s:%d" % (
        h.ferry_addr, ferrytest.free_port(h.ferry_addr, set())), text)
    text = re.sub(r"metrics \{[^}]*\}", "", text)
    with open(conf, "w") as f:
        f.write(text)
    p = subprocess.run([h.ferryd, "-f", "-c", conf], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 1, "exit %d, want 1" % p.returncode)
    check("refusing to run as root" in p.stderr, "stderr %r" % p.stderr)
    p = subprocess.run([h.ferryd, "-t", "-c", conf], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 0, "-t: exit %d %r" % (p.returncode, p.stderr))


class Forwarder:
    """A byte pump from a loopback port to an IPv4 address: Dovecot
    listens on its own IPv4 address only, and what is tested is ferry
    reaching a backend by other ways (IPv6, a host name)."""

    def __init__(self, target, addrs=("::1",)):
        self.target = target
        self.listeners = []
        self.port = 0
        for a in addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            ls = socket.socket(fam, socket.SOCK_STREAM)
            try:
                if fam == socket.AF_INET6:
                    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                ls.bind((a, self.port))
            except OSError:
                ls.close()
                if not self.listeners:
                    raise
                continue    # a second family that is not there
            ls.listen(16)
            ls.settimeout(0.2)
            self.port = ls.getsockname()[1]
            self.listeners.append(ls)
        self.socks = []
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, args=(ls,),
                                         daemon=True)
                        for ls in self.listeners]
        for t in self.threads:
            t.start()

    def _accept(self, ls):
        while not self._stop.is_set():
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            b = socket.create_connection(self.target, timeout=5)
            self.socks += [c, b]
            for src, dst in ((c, b), (b, c)):
                t = threading.Thread(target=self._pump, args=(src, dst),
                                     daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self):
        self._stop.set()
        for t in self.threads[:len(self.listeners)]:
            t.join(5)
        for ls in self.listeners:
            ls.close()
        for c in self.socks:
            try:
                c.close()
            except OSError:
                pass
        for t in self.threads[len(self.listeners):]:
            t.join(5)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


@test
def ipv6_client_and_backend(h):
    """A listen line on [::1] added by a reload, a client over IPv6 and a
    mailHost of [::1]:port: the login lands, and the log and the session
    listing write the addresses with brackets."""
    port = ipv6_loopback()
    if port is None:
        print("(no IPv6 loopback here: skipped)")
        return
    uid = "u19"
    fwd = Forwarder((h.addr["A"], h.port["A"]))
    line = "listen imap %s:%d starttls=off" % (h.ferry_addr, h.ferry_port)
    old = rewrite_conf(h, lambda t: t.replace(
        line, line + "\nlisten imap [::1]:%d starttls=off" % port, 1))
    try:
        ctl(h, "reload")

        def up():
            with socket.create_connection(("::1", port), timeout=1):
                return True
        ferrytest.wait_until("[::1] listener", up, 10)
        set_mailhost(h, uid, "[::1]:%d" % fwd.port)
        deadline = time.monotonic() + 10
        while True:     # the route may be cached for a moment
            c = imaplib.IMAP4("::1", port, timeout=10)
            c.login(uid, h.password(uid))
            if re.search(r"user=%s logged in on \[::1\]:%d" % (
                    uid, fwd.port), h.ferry_log()):
                break
            c.logout()
            check(time.monotonic() < deadline, "%s never routed to [::1]"
                  % uid)
            time.sleep(0.3)
        try:
            typ, data = c.select("INBOX")
            check(typ == "OK", "SELECT over IPv6: %r" % data)
            rows = ctl_json(h, "sessions", uid)["sessions"]
            check(len(rows) == 1, "sessions %s: %r" % (uid, rows))
            check(rows[0]["client"].startswith("[::1]:") and
                  rows[0]["backend"] == "[::1]:%d" % fwd.port,
                  "sessions %s: %r" % (uid, rows))
            check(re.search(r"client=\[::1\]:\d+ ", h.ferry_log()),
                  "no client=[::1]:port in the log")
        finally:
            c.logout()
    finally:
        with open(h.ferry_conf, "w") as f:
            f.write(old)
        ctl(h, "reload")
        h.move_user(uid, "A")
        fwd.stop()


def set_mailhost(h, uid, value):
    h._ldap_cmd(["ldapmodify", "-x", "-D", ferrytest.ROOT_DN, "-w",
                 ferrytest.LDAP_ROOT_PW], input=(
        "dn: uid=%s,%s\nchangetype: modify\nreplace: mailHost\n"
        "mailHost: %s\n" % (uid, ferrytest.PEOPLE, value)))


@test
def mailhost_by_name_resolved(h):
    """A mailHost naming its server (localhost, from /etc/hosts) goes
    through the resolver (evdns) instead of the IP-literal path."""
    uid = "u17"
    fwd = Forwarder((h.addr["A"], h.port["A"]), ("127.0.0.1", "::1"))
    try:
        set_mailhost(h, uid, "localhost:%d" % fwd.port)
        deadline = time.monotonic() + 10
        while not re.search(r"user=%s logged in on localhost:%d" % (
                uid, fwd.port), h.ferry_log()):
            check(time.monotonic() < deadline, "%s never routed to "
                  "localhost:%d" % (uid, fwd.port))
            c = h.login(uid, h.password(uid))
            typ, data = c.select("INBOX")
            check(typ == "OK", "SELECT: %r" % data)
            c.logout()
            time.sleep(0.2)
        check(fwd.socks, "no connection came through the forwarder")
    finally:
        h.move_user(uid, "A")
        fwd.stop()


@test
def second_ferryd_on_same_address_refused(h):
    """Workers bind with SO_REUSEPORT, which would let a second ferryd on
    the same address share the port and take half the logins: it must
    refuse to start, naming the listen line, and the first keeps
    serving."""
    conf = h.path("second.conf")
    with open(h.ferry_conf) as f:
        text = f.read()
    text = text.replace(h.control_socket, h.path("second.sock"))
    text = re.sub(r"(?m)^pid-file .*\n", "", text)
    text = re.sub(r"metrics \{[^}]*\}", "", text)
    with open(conf, "w") as f:
        f.write(text)
    line = 1 + text[:text.index("listen imap")].count("\n")
    p = subprocess.run([h.ferryd, "-f", "-c", conf], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 1, "exit %d, want 1 (stderr %r)" % (
        p.returncode, p.stderr[-300:]))
    want = "%s:%d: listen imap %s:%d: address already in use" % (
        conf, line, h.ferry_addr, h.ferry_port)
    check(want in p.stderr, "stderr %r, want %r" % (p.stderr[-300:], want))
    # The ASan build: start-up gives back what it took before refusing.
    check("Sanitizer" not in p.stderr, "stderr %r" % p.stderr[-600:])
    for _ in range(8):      # any worker: every login still lands
        check(h.login_where("alice", h.password("alice")) == "A",
              "login after the second ferryd")


@test
def systemd_unit_verifies(h):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("(systemd-analyze not installed: skipped)")
        return
    unit = os.path.join(SRCDIR, "etc", "ferry.service")
    with open(unit) as f:
        text = f.read()
    for word in ("Type=notify", "ExecReload=", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "RuntimeDirectory=ferry", "CapabilityBoundingSet=",
                 "CAP_NET_BIND_SERVICE"):
        check(word in text, "unit lacks %s" % word)
    # verify wants the binaries it names: point them at the build.
    d = tempfile.mkdtemp(prefix="ferry-unit-", dir=h.tmp)
    text = text.replace("/usr/sbin/ferryd", os.path.abspath(h.ferryd))
    text = text.replace("/usr/bin/ferryctl", ferryctl_bin(h))
    path = os.path.join(d, "ferry.service")
    with open(path, "w") as f:
        f.write(text)
    # and the man pages of Documentation=: give it the sources'.
    for sec, names in (("5", ["ferry.conf.5"]),
                       ("8", ["ferryd.8", "ferryctl.8"])):
        os.makedirs(os.path.join(d, "man", "man" + sec))
        for n in names:
            shutil.copy(os.path.join(SRCDIR, "man", n),
                        os.path.join(d, "man", "man" + sec, n))
    env = dict(os.environ, MANPATH=os.path.join(d, "man"))
    p = subprocess.run([analyze, "verify", path], capture_output=True,
                       text=True, timeout=60, env=env)
    mine = [l for l in (p.stdout + p.stderr).splitlines()
            if "ferry.service" in l]
    check(p.returncode == 0 and not mine, "systemd-analyze verify: exit %d"
          "\n%s" % (p.returncode, p.stdout + p.stderr))


# ------------------------------------------------------------------ main

class OpsHarness(Harness):
    """The common harness, plus a cache (for lookup sources) and the
    metrics HTTP endpoint."""

    def __init__(self):
        super().__init__(cache="ttl 60s  negative-ttl 10s")
        self.metrics_port = ferrytest.free_port(self.ferry_addr,
                                                {self.ferry_port})
        self.ferry_extra = "metrics { listen %s:%d }" % (
            self.ferry_addr, self.metrics_port)


def main(argv):
    if not os.access(ferryctl_bin(Harness()), os.X_OK):
        print("FAIL setup: no ferryctl at %s" % ferryctl_bin(Harness()))
        print("0 passed, 1 failed")
        return 1
    return ferrytest.run_tests(TESTS, OpsHarness, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
