#!/usr/bin/env python3
"""ferry integration harness: a private slapd, two Dovecot servers (A and B)
and ferryd, all on random loopback addresses and free ports inside a fresh
temporary directory.  Python 3 standard library only.

    with Harness() as h:          # starts everything (h.start())
        h.login_where("alice", h.password("alice"))   # -> "A"
        h.move_user("alice", "B")
        h.login_where("alice", h.password("alice"))   # -> "B"
    # leaving the block stops every process by its PID, requires ferryd to
    # exit 0 on SIGTERM and its log to be clean (see Harness.close()).

Environment:
    FERRYD      ferryd binary (default /work/main/build/ferryd)
    FERRYD_WRAPPER  a command ferryd runs under, e.g. "valgrind -q
                --error-exitcode=99"; FERRYTEST_SLOW (default 1, or 4
                with a wrapper) multiplies ferryd's start and stop waits
    KEEP_TMP=1  keep the temporary directory (its path is printed)
    SLAPD, DOVECOT  override /usr/sbin/slapd, /usr/sbin/dovecot

`python3 ferrytest.py --self-check` starts slapd and both Dovecot servers
without ferryd and checks them directly (LDAP search as ferry's service
account, IMAP logins on A and B).
"""

import atexit
import ctypes
import grp
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DEFAULT_FERRYD = "/work/main/build/ferryd"
# LeakSanitizer in an ASan ferryd: leaks inside system libraries ferry
# cannot free are listed, with the reason, in tests/lsan.supp.
if "suppressions=" not in os.environ.get("LSAN_OPTIONS", ""):
    os.environ["LSAN_OPTIONS"] = ":".join(filter(None, [
        os.environ.get("LSAN_OPTIONS"), "suppressions=" + os.path.normpath(
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "lsan.supp"))]))
SUFFIX = "dc=example,dc=com"
PEOPLE = "ou=people," + SUFFIX
ROOT_DN = "cn=admin," + SUFFIX
FERRY_DN = "cn=ferry,ou=services," + SUFFIX
FILTER = "(&(objectClass=inetLocalMailRecipient)(|(uid=%n)(mail=%u)))"
SUBJECT_RE = re.compile(rb"Welcome to server ([AB])")

# uid -> (password, home server).  Passwords are long and unique so that a
# leak into ferryd's log is found by a plain substring search.  None may
# contain ':' (Dovecot passwd-file field separator) or a newline.
USERS = {
    "alice": ("alice-Pw.4f9c2e", "A"),
    "bob": ("bob-Pw.81d3aa", "B"),
    "carol": ("carol-Pw.c0ffee", "A"),   # first login while LDAP is down
    "gina": ("gina-Pw.6a6a61", "B"),     # first login while LDAP hangs
    "dave": ("dave-Pw.da7e01", "A"),     # moved A -> B
    "erin": ('erin sp ace "dq" back\\slash-Pw.e219', "B"),
    "frank": ("frank-Pw.f4a2b9", "A"),   # literal logins
    "hank": ("hank-Pw.0b1ac4", "hung"),  # mailHost points at a mute server
}
for _i in range(1, 21):
    USERS["u%02d" % _i] = ("u%02d-Pw.%06x" % (_i, 0x5eed00 + _i),
                          "A" if _i % 2 else "B")

LDAP_ROOT_PW = "ldap-root-Pw.ad31"
LDAP_FERRY_PW = "ldap-ferry-Pw.fe55"

PREAUTH_TIMEOUT = 8  # seconds; ferryd's limits.preauth-timeout here

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     # valgrind memcheck (tests/valgrind.sh)
                     "Invalid read of", "Invalid write of", "Invalid free",
                     "Mismatched free", "uninitialised", "definitely lost",
                     "Syscall param")

# ferryd under a wrapper (valgrind) starts and stops slowly.
FERRYD_WRAPPER = os.environ.get("FERRYD_WRAPPER", "").split()
SLOW = float(os.environ.get("FERRYTEST_SLOW", "4" if FERRYD_WRAPPER else "1"))


def grouper(groups):
    """@group(settings) for test files whose tests come in groups: adds
    the test to the entry of groups (a list of (settings, [tests])) whose
    settings is that very object; each group shares one harness."""
    def group(settings):
        def add(fn):
            for g in groups:
                if g[0] is settings:
                    g[1].append(fn)
                    return fn
            groups.append((settings, [fn]))
            return fn
        return add
    return group


class HarnessError(Exception):
    pass


class LoginFailed(Exception):
    """A LOGIN through imaplib got NO/BAD; .text is the server's text."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


def log(msg):
    if os.environ.get("FERRYTEST_QUIET") != "1":
        sys.stderr.write("[ferrytest] %s\n" % msg)
        sys.stderr.flush()


def imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _err_text(e):
    a = e.args[0] if e.args else ""
    if isinstance(a, bytes):
        return a.decode("utf-8", "replace")
    s = str(a)
    m = re.fullmatch(r"b'(.*)'", s) or re.fullmatch(r'b"(.*)"', s)
    return m.group(1) if m else s


# ---------------------------------------------------------------- processes

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork
    _PRCTL = _LIBC.prctl
except (OSError, AttributeError):
    _PRCTL = None


def _pdeathsig():
    """preexec_fn: the child is killed if the harness dies without cleanup
    (e.g. SIGKILL); the normal path stops every child by its PID."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


class Proc:
    """One child process, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, name, argv, logpath, env=None):
        self.name, self.argv, self.logpath, self.env = name, argv, logpath, env
        self.popen = None
        self._logf = None
        self._termed = False

    def start(self):
        if self.running():
            return
        self._logf = open(self.logpath, "ab")
        self._logf.write(("--- %s start: %s\n" % (
            time.strftime("%H:%M:%S"), " ".join(self.argv))).encode())
        self._logf.flush()
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._logf,
            stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            preexec_fn=_pdeathsig)

    def tail(self, lines=15):
        try:
            with open(self.logpath, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.popen.pid, sig)

    def terminate(self):
        """Sends SIGTERM (and SIGCONT, in case it is paused); stop() waits."""
        p = self.popen
        if p is not None and p.poll() is None and not self._termed:
            self._termed = True
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout=5.0):
        """Returns (exit status, how it ended); None if never started."""
        p = self.popen
        if p is None:
            return None
        how = "exited by itself" if p.poll() is not None and \
            not self._termed else "SIGTERM"
        if p.poll() is None:
            self.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                how = "SIGKILL after %.0fs" % timeout
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    how = "would not die"
        rc = p.returncode
        self.popen = None
        self._termed = False
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc, how


class MuteServer:
    """Accepts TCP connections and never says anything (a hung backend)."""

    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.conns = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except socket.timeout:
                continue
            except OSError:
                break

    def stop(self):
        self._stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


# ----------------------------------------------------------------- harness

def random_loopback(taken):
    while True:
        a = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 254),
                              random.randint(1, 254))
        if a not in taken:
            taken.add(a)
            return a


def free_port(addr, taken):
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((addr, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in taken:
            taken.add(port)
            return port
    raise HarnessError("no free port on %s" % addr)


def wait_until(what, fn, timeout, proc=None, interval=0.1):
    """Calls fn() until it returns a true value; raises after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            r = fn()
            if r:
                return r
        except Exception as e:  # noqa: BLE001 - remembered for the message
            last = e
        if proc is not None and not proc.running():
            raise HarnessError("%s: process exited (status %s); %s:\n%s" % (
                what, proc.popen.returncode if proc.popen else "?",
                proc.logpath, proc.tail()))
        if time.monotonic() >= deadline:
            raise HarnessError("%s: not ready after %.0fs (%s)" % (
                what, timeout, last))
        time.sleep(interval)


class Harness:
    def __init__(self, ferryd=None, ferry=True, keep=None, verbose=True,
                 cache="ttl 0", ferry_extra="", ldap_extra="",
                 ldap_uri_bind=None, extra_users=0, syncprov=True):
        # cache: the cache block's settings (tests of moves need none);
        # ferry_extra, ldap_extra: more lines for ferry.conf / its ldap block
        self.cache_conf = cache
        self.ferry_extra = ferry_extra
        # Two worker threads: kicks, listings and lookups cross threads.
        self.workers = int(os.environ.get("FERRYTEST_WORKERS", "2"))
        self.ldap_extra = ldap_extra
        # the ldap block's timeout (test_ldapops.py: bind-timeout)
        self.ldap_timeout = "2s"
        # replaces the ldap block's uri and bind lines when set
        self.ldap_uri_bind = ldap_uri_bind
        # ferryd refuses to run as root without "user": run as we are
        self.ferry_user = pwd.getpwuid(os.geteuid()).pw_name
        self.limits_extra = ""      # more lines for the limits block
        self.control_socket = None  # set by _setup_ferry (temp dir)
        self.ferryd = ferryd or os.environ.get("FERRYD") or DEFAULT_FERRYD
        self.with_ferry = ferry
        self.keep = (os.environ.get("KEEP_TMP") == "1") if keep is None else keep
        self.slapd_bin = os.environ.get("SLAPD", "/usr/sbin/slapd")
        self.dovecot_bin = os.environ.get("DOVECOT", "/usr/sbin/dovecot")
        self.users = dict((u, pw) for u, (pw, _) in USERS.items())
        self.location = dict((u, s) for u, (_, s) in USERS.items())
        # extra_users: m01, m02, ... all on A (test_moves.py)
        for i in range(1, extra_users + 1):
            self.users["m%02d" % i] = "m%02d-Pw.%06x" % (i, 0x4d0000 + i)
            self.location["m%02d" % i] = "A"
        # syncprov=False: a slapd without RFC 4533 (ferry must poll)
        self.syncprov = syncprov
        self.tmp = None
        self.procs = {}
        self.mute = None
        self.closed = False
        self.problems = []
        taken_a, taken_p = set(), set()
        self.ldap_addr = random_loopback(taken_a)
        self.ferry_addr = random_loopback(taken_a)
        self.addr = {"A": random_loopback(taken_a),
                     "B": random_loopback(taken_a),
                     "hung": random_loopback(taken_a)}
        self.ldap_port = free_port(self.ldap_addr, taken_p)
        self.ferry_port = free_port(self.ferry_addr, taken_p)
        self.port = {k: free_port(a, taken_p) for k, a in self.addr.items()}
        self.pop3_port = {k: free_port(self.addr[k], taken_p) for k in "AB"}
        self.ldap_uri = "ldap://%s:%d" % (self.ldap_addr, self.ldap_port)
        self.ldapi_path = None  # set by _setup_ldap
        # ldap_tls: slapd gets a certificate (self.ldap_ca signs it) for
        # StartTLS, and listens for ldaps:// on ldaps_uri too
        self.ldap_tls = False
        self.ldap_ca = None
        # ferryd_env: more environment for ferryd (None: this process's)
        self.ferryd_env = None
        # slapd_extra: global lines for slapd.conf, before the harness's
        # authz-regexp rules (slapd uses the first that matches);
        # ldif_extra: LDIF records ldapmodify -a applies as the root DN
        # once the users are loaded (test_ldapopts.py)
        self.slapd_extra = ""
        self.ldif_extra = ""
        self.ldap_base = PEOPLE     # the ldap block's base
        self.ldaps_uri = "ldaps://%s:%d" % (
            self.ldap_addr, free_port(self.ldap_addr, taken_p))

    # --- helpers for tests
    def password(self, uid):
        return self.users[uid]

    def mailhost(self, server):
        return "%s:%d" % (self.addr[server], self.port[server])

    def all_passwords(self):
        return list(self.users.values()) + [LDAP_ROOT_PW, LDAP_FERRY_PW]

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # --- life cycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close(check=False)
            raise
        return self

    def __exit__(self, *exc):
        problems = self.close(check=exc[0] is None)
        if exc[0] is None and problems:
            raise HarnessError("; ".join(problems))
        return False

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="ferry-", dir="/tmp")
        os.chmod(self.tmp, 0o755)  # the mail uid must reach the maildirs
        atexit.register(self.close, False)
        log("temp dir %s" % self.tmp)
        t0 = time.monotonic()
        self._setup_ldap()
        self.start_ldap()
        self._load_ldap()
        for s in "AB":
            self._setup_dovecot(s)
            self.start_backend(s)
        self.mute = MuteServer(self.addr["hung"], self.port["hung"])
        if self.with_ferry:
            self._setup_ferry()
            self.start_ferry()
        log("all up in %.1fs: ldap %s, A %s, B %s%s" % (
            time.monotonic() - t0, self.ldap_uri, self.mailhost("A"),
            self.mailhost("B"),
            ", ferry %s:%d" % (self.ferry_addr, self.ferry_port)
            if self.with_ferry else ""))

    def close(self, check=True):
        """Stops everything. With check, returns the list of problems found
        (ferryd's exit status and log contents)."""
        if self.closed:
            return self.problems
        self.closed = True
        problems = []
        fp = self.procs.get("ferryd")
        if fp is not None and fp.popen is not None:
            r = fp.stop(timeout=10 * SLOW)
            rc, how = r
            if rc != 0 or how != "SIGTERM":
                problems.append("ferryd: exit status %s (%s), want 0 on SIGTERM"
                                % (rc, how))
        others = [p for n, p in self.procs.items() if n != "ferryd"]
        for p in others:
            p.terminate()
        for p in others:
            p.stop()
        if self.mute:
            self.mute.stop()
        if fp is not None and check:
            problems += self.check_ferry_log()
        if check:
            problems += self.check_other_logs()
        self.problems = problems
        if self.tmp:
            if self.keep:
                log("kept %s" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    # --- ferryd log
    def ferry_log(self):
        try:
            with open(self.path("ferryd.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def ferry_log_tail(self, lines=40):
        return "\n".join(self.ferry_log().splitlines()[-lines:])

    def check_ferry_log(self):
        text = self.ferry_log()
        problems = []
        for m in SANITIZER_MARKERS:
            if m in text:
                i = text.index(m)
                problems.append("ferryd log contains %r: %s" % (
                    m, text[max(0, i - 200):i + 600]))
        for pw in self.all_passwords():
            for form in {pw, imap_quote(pw)}:
                if form in text:
                    problems.append("ferryd log contains a password (%r)" % pw)
                    break
        return problems

    def check_other_logs(self):
        """Every other log in the temporary directory (slapd, Dovecot,
        extra ferryd instances, fakes) must hold no password or token."""
        problems = []
        secrets = [pw.encode() for pw in self.all_passwords()]
        for root, _, files in os.walk(self.tmp or "/nonexistent"):
            for name in files:
                if name == "ferryd.log" or not (
                        name.endswith(".log") or name.endswith(".stderr")):
                    continue
                try:
                    with open(os.path.join(root, name), "rb") as f:
                        text = f.read()
                except OSError:
                    continue
                for pw in secrets:
                    if pw in text:
                        problems.append("%s contains a password (%r)" % (
                            os.path.relpath(os.path.join(root, name),
                                            self.tmp), pw))
        return problems

    # ------------------------------------------------------------ slapd
    def _setup_ldap(self):
        d = self.path("ldap")
        os.makedirs(os.path.join(d, "db"))
        tls, uris = "", self.ldap_uri + "/ " + self.ldapi_uri()
        if self.ldap_tls:
            td = os.path.join(d, "tls")
            os.makedirs(td)
            self.ldap_ca = make_ca(td, "ldap-ca", "ferry test LDAP CA")
            crt, key = make_cert(td, "slapd", self.ldap_addr,
                                 ["IP:" + self.ldap_addr], self.ldap_ca)
            tls = ("TLSCACertificateFile %s\nTLSCertificateFile %s\n"
                   "TLSCertificateKeyFile %s\n" % (self.ldap_ca[0], crt,
                                                   key))
            uris += " " + self.ldaps_uri + "/"
        conf = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/misc.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
loglevel stats
{tls}{extra}# SASL EXTERNAL over ldapi://: this process's uid reads as ferry
authz-regexp "gidNumber=[0-9]+\\\\+uidNumber={euid},cn=peercred,cn=external,cn=auth"
    "{ferrydn}"
# SASL binds with a name and password (SCRAM-SHA-256): the name is an
# entry of ou=services, whose userPassword slapd checks itself
authz-regexp "^uid=([^,]*),(cn=[^,]*,)?cn=[^,]*,cn=auth$"
    "cn=$1,ou=services,{suffix}"

database mdb
maxsize 104857600
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {d}/db
index objectClass eq
index uid,mail eq
index entryCSN,entryUUID eq
# RFC 4533 content synchronisation, for a ferry that follows changes
{syncprov}overlay syncprov

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{ferrydn}" read
    by anonymous auth
    by * none
""".format(d=d, suffix=SUFFIX, rootdn=ROOT_DN, rootpw=LDAP_ROOT_PW,
           ferrydn=FERRY_DN, euid=os.geteuid(),
           syncprov="" if self.syncprov else "# ", tls=tls,
           extra=self.slapd_extra)
        with open(os.path.join(d, "slapd.conf"), "w") as f:
            os.fchmod(f.fileno(), 0o600)  # holds rootpw
            f.write(conf)
        self.procs["slapd"] = Proc(
            "slapd", [self.slapd_bin, "-d", "256", "-h", uris,
                      "-f", os.path.join(d, "slapd.conf")],
            os.path.join(d, "slapd.log"))

    def ldapi_uri(self):
        """slapd's ldapi:// URI (a socket in the temporary directory)."""
        if self.ldapi_path is None:
            self.ldapi_path = self.path("ldap", "ldapi")
        return "ldapi://" + self.ldapi_path.replace("/", "%2F")

    def start_ldap(self):
        p = self.procs["slapd"]
        p.start()
        wait_until("slapd", lambda: self._ldap_cmd(
            ["ldapsearch", "-x", "-b", "", "-s", "base", "namingContexts"],
            check=False).returncode == 0, 15, proc=p, interval=0.1)

    def stop_ldap(self):
        self.procs["slapd"].stop()

    def pause_ldap(self):
        p = self.procs["slapd"]
        p.signal(signal.SIGSTOP)

        def all_threads_stopped():
            # SIGSTOP is asynchronous: a busy thread may still answer one
            # request unless we wait for every thread to show state T.
            try:
                tids = os.listdir("/proc/%d/task" % p.pid)
                for tid in tids:
                    with open("/proc/%d/task/%s/stat" % (p.pid, tid)) as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "T":
                            return False
            except OSError:
                return False
            return True
        wait_until("slapd stopped", all_threads_stopped, 5, interval=0.01)

    def resume_ldap(self):
        self.procs["slapd"].signal(signal.SIGCONT)

    def slapd_log(self):
        with open(self.path("ldap", "slapd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _ldap_cmd(self, argv, input=None, check=True, timeout=10):
        argv = [argv[0], "-H", self.ldap_uri, "-o", "nettimeout=3",
                *argv[1:]]
        r = subprocess.run(argv, input=input, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError("%s failed (%d): %s" % (
                argv[0], r.returncode, (r.stderr or r.stdout).strip()))
        return r

    def _user_ldif(self, uid):
        host = self.mailhost(self.location[uid])
        return ("dn: uid={u},{people}\nobjectClass: inetOrgPerson\n"
                "objectClass: inetLocalMailRecipient\nuid: {u}\ncn: {U}\n"
                "sn: {U}\nmail: {u}@example.com\nmailHost: {h}\n\n").format(
                    u=uid, U=uid.capitalize(), people=PEOPLE, h=host)

    def _load_ldap(self):
        ldif = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {people}
objectClass: organizationalUnit
ou: people

dn: ou=services,{suffix}
objectClass: organizationalUnit
ou: services

dn: {ferrydn}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: ferry
userPassword: {ferrypw}

""".format(suffix=SUFFIX, people=PEOPLE, ferrydn=FERRY_DN,
           ferrypw=LDAP_FERRY_PW)
        ldif += "".join(self._user_ldif(u) for u in sorted(self.users))
        path = self.path("ldap", "data.ldif")
        with open(path, "w") as f:
            f.write(ldif)
        self._ldap_cmd(["ldapadd", "-x", "-D", ROOT_DN, "-w", LDAP_ROOT_PW,
                        "-f", path])
        if self.ldif_extra:
            self._ldap_cmd(["ldapmodify", "-a", "-x", "-D", ROOT_DN, "-w",
                            LDAP_ROOT_PW], input=self.ldif_extra)
        # ferry's service account can bind and read mailHost
        r = self._ldap_cmd(["ldapsearch", "-x", "-LLL", "-D", FERRY_DN,
                            "-w", LDAP_FERRY_PW, "-b", PEOPLE,
                            "(uid=alice)", "mailHost"])
        if "mailHost: " + self.mailhost("A") not in r.stdout:
            raise HarnessError("ldap check: mailHost of alice not readable "
                               "as %s: %r" % (FERRY_DN, r.stdout))

    def ldap_mailhost(self, uid):
        r = self._ldap_cmd(["ldapsearch", "-x", "-LLL", "-D", FERRY_DN,
                            "-w", LDAP_FERRY_PW, "-b", PEOPLE,
                            "(uid=%s)" % uid, "mailHost"])
        m = re.search(r"^mailHost: (\S+)", r.stdout, re.M)
        return m.group(1) if m else None

    def move_ldif(self, uid, server):
        return ("dn: uid=%s,%s\nchangetype: modify\nreplace: mailHost\n"
                "mailHost: %s\n" % (uid, PEOPLE, self.mailhost(server)))

    def move_user(self, uid, server):
        """Changes uid's mailHost to server ('A' or 'B') with ldapmodify;
        returns the LDIF it used."""
        ldif = self.move_ldif(uid, server)
        self._ldap_cmd(["ldapmodify", "-x", "-D", ROOT_DN, "-w",
                        LDAP_ROOT_PW], input=ldif)
        self.location[uid] = server
        return ldif

    # ---------------------------------------------------------- dovecot
    def _mail_ids(self):
        if os.geteuid() == 0:
            try:
                uid = pwd.getpwnam("nobody").pw_uid
                gid = grp.getgrnam("nogroup").gr_gid
            except KeyError:
                uid = gid = 65534
            return uid, gid
        return os.getuid(), os.getgid()

    def _setup_dovecot(self, s):
        d = self.path(s)
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(d, sub))
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "home"), 0o755)
        muid, mgid = self._mail_ids()
        lines = []
        for u, pw in sorted(self.users.items()):
            home = os.path.join(d, "home", u)
            self._make_maildir(home, u, s, muid, mgid)
            lines.append("%s:{PLAIN}%s:%d:%d::%s::\n" % (u, pw, muid, mgid,
                                                         home))
        users = os.path.join(d, "users")
        with open(users, "w") as f:
            f.writelines(lines)
        # read by Dovecot's auth process, which runs as the dovecot user
        if os.geteuid() == 0:
            try:
                os.chown(users, 0, grp.getgrnam("dovecot").gr_gid)
                os.chmod(users, 0o640)
            except KeyError:
                os.chmod(users, 0o644)
        else:
            os.chmod(users, 0o600)
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        nonroot = "" if root else """
default_login_user = {me}
default_internal_user = {me}
default_internal_group = {mygroup}
service anvil {{
  chroot =
}}
""".format(me=me, mygroup=grp.getgrgid(os.getegid()).gr_name)
        login_chroot = "" if root else "  chroot =\n"
        conf = """\
# ferry integration test: Dovecot server {s}
instance_name = ferrytest-{s}-{port}
protocols = imap pop3
listen = {addr}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
login_trusted_networks = 127.0.0.0/8
login_greeting = Dovecot server {s} ready.
first_valid_uid = 1
mail_location = maildir:~/Maildir
{nonroot}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users
}}
# no auth penalty: every login comes from ferry's one address
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 500
}}
protocol pop3 {{
  mail_max_userip_connections = 500
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = {addr}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
{login_chroot}  inet_listener pop3 {{
    address = {addr}
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
""".format(s=s, d=d, addr=self.addr[s], port=self.port[s],
           pop3=self.pop3_port[s], nonroot=nonroot, login_chroot=login_chroot)
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write(conf)
        self.procs["dovecot-" + s] = Proc(
            "dovecot-" + s, [self.dovecot_bin, "-F", "-c",
                             os.path.join(d, "dovecot.conf")],
            os.path.join(d, "dovecot.stderr"))

    @staticmethod
    def _make_maildir(home, user, s, muid, mgid):
        md = os.path.join(home, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        msg = ("From: Postmaster {s} <postmaster@example.com>\r\n"
               "To: {u}@example.com\r\n"
               "Subject: Welcome to server {s}\r\n"
               "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
               "Message-ID: <welcome-{u}-{s}@example.com>\r\n"
               "\r\n"
               "Hello {u}, your mailbox lives on server {s}.\r\n").format(
                   s=s, u=user)
        name = os.path.join(md, "cur", "1704067200.M1P1.ferrytest-%s:2," % s)
        with open(name, "w", newline="") as f:
            f.write(msg)
        for dirpath, dirnames, filenames in os.walk(home):
            os.chown(dirpath, muid, mgid)
            os.chmod(dirpath, 0o700)
            for fn in filenames:
                os.chown(os.path.join(dirpath, fn), muid, mgid)

    def _imap_greets(self, addr, port):
        with socket.create_connection((addr, port), timeout=2) as c:
            c.settimeout(2)
            return c.recv(512).startswith(b"* OK")

    def start_backend(self, s):
        p = self.procs["dovecot-" + s]
        p.start()
        wait_until("dovecot %s" % s, lambda: self._imap_greets(
            self.addr[s], self.port[s]), 15, proc=p)

    def stop_backend(self, s):
        self.procs["dovecot-" + s].stop()

    def dovecot_log(self, s):
        try:
            with open(self.path(s, "dovecot.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ ferryd
    def _setup_ferry(self):
        if not os.access(self.ferryd, os.X_OK):
            raise HarnessError("ferryd not found/executable: %s" % self.ferryd)
        secret = self.path("ldap.secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(LDAP_FERRY_PW + "\n")
        os.chmod(secret, 0o600)
        self.control_socket = self.path("ferry.sock")
        # once: a function of the harness may start things (test_faults)
        extra = self._conf_part(self.ferry_extra)
        conf = """\
# ferry integration test configuration (written by ferrytest.py)
user {user}
workers {workers}
# plaintext on purpose: the TLS tests (test_tls.py) configure their own
listen imap {addr}:{port} starttls=off
control {{ socket {csock} }}

ldap {{
{uri_bind}
    base {base}
    filter {filter}
    timeout {ldap_timeout}
    connect-timeout 2s
{ldap_extra}
}}

cache {{ {cache} }}
{extra}

backend-defaults {{ connect-timeout 2s  login-timeout 5s  down-time 1s }}

limits {{
    auth-failure-delay 100ms
    preauth-timeout {preauth}s
    auth-failures 3
    drain-time 5s
{limits_extra}
}}
""".format(user=self.ferry_user, csock=self.control_socket,
           workers=self.workers,
           limits_extra=self.limits_extra + ("" if "client-failures" in self.limits_extra else
           # many tests fail logins on purpose from one address
           "\n    client-failures 1000"), addr=self.ferry_addr, port=self.ferry_port, laddr=self.ldap_addr,
           lport=self.ldap_port, ferrydn=FERRY_DN, secret=secret,
           base=self.ldap_base, filter=FILTER, preauth=PREAUTH_TIMEOUT,
           cache=self._conf_part(self.cache_conf),
           extra=extra + (
               "" if "lookup {" in extra or "backend " in extra else
               # mailHost values are test addresses, not backend blocks
               "\nlookup { allow-any-host yes }"),
           uri_bind=self._conf_part(self.ldap_uri_bind) or (
               "    uri ldap://%s:%d\n    bind-dn %s\n"
               "    bind-password-file %s" % (self.ldap_addr, self.ldap_port,
                                             FERRY_DN, secret)),
           ldap_extra=self._conf_part(self.ldap_extra),
           ldap_timeout=self.ldap_timeout)
        self.ferry_conf = self.path("ferry.conf")
        with open(self.ferry_conf, "w") as f:
            f.write(conf)
        self.procs["ferryd"] = Proc(
            "ferryd", FERRYD_WRAPPER + [self.ferryd, "-f", "-v", "-c",
                                        self.ferry_conf],
            self.path("ferryd.log"), env=None if self.ferryd_env is None
            else dict(os.environ, **self.ferryd_env))

    def _conf_part(self, v):
        """A piece of ferry.conf, or a function of the harness giving one
        (for settings that need its addresses or paths)."""
        return v(self) if callable(v) else v

    def start_ferry(self):
        p = self.procs["ferryd"]
        started = re.compile(r"ferryd \S+ started$", re.M)
        before = len(started.findall(self.ferry_log()))
        p.start()

        def accepts():
            with socket.create_connection((self.ferry_addr, self.ferry_port),
                                          timeout=1):
                return True
        try:
            wait_until("ferryd", accepts, 20 * SLOW, proc=p)
            # The kernel accepts on a bound socket before ferryd is done
            # (control socket, privileges): slow under valgrind.
            wait_until("ferryd started", lambda: len(started.findall(
                self.ferry_log())) > before, 20 * SLOW, proc=p)
        except HarnessError as e:
            raise HarnessError("%s\n--- ferryd log:\n%s" % (
                e, self.ferry_log_tail()))

    def stop_ferry(self):
        """Stops ferryd (SIGTERM); returns (exit status, how it ended)."""
        return self.procs["ferryd"].stop(timeout=10 * SLOW)

    # ------------------------------------------------------ IMAP clients
    def imap(self, timeout=10, server=None):
        """An imaplib connection to ferry (or directly to server A/B)."""
        if server:
            return imaplib.IMAP4(self.addr[server], self.port[server],
                                 timeout=timeout)
        return imaplib.IMAP4(self.ferry_addr, self.ferry_port,
                             timeout=timeout)

    @staticmethod
    def which_server(conn):
        """After login: SELECT INBOX, fetch message 1's Subject -> 'A'/'B'."""
        typ, data = conn.select("INBOX", readonly=True)
        if typ != "OK":
            raise HarnessError("SELECT INBOX: %s %r" % (typ, data))
        typ, data = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if typ != "OK":
            raise HarnessError("FETCH: %s %r" % (typ, data))
        for part in data:
            chunk = part[1] if isinstance(part, tuple) else part
            m = SUBJECT_RE.search(chunk or b"")
            if m:
                return m.group(1).decode()
        raise HarnessError("no 'Welcome to server' subject in %r" % (data,))

    def login(self, user, password, timeout=10, server=None):
        """Logs in with imaplib (user quoted too); returns the connection.
        Raises LoginFailed(text) on NO/BAD."""
        conn = self.imap(timeout=timeout, server=server)
        try:
            conn.login(imap_quote(user), password)
        except imaplib.IMAP4.error as e:
            try:
                conn.shutdown()
            except OSError:
                pass
            raise LoginFailed(_err_text(e)) from None
        return conn

    def login_where(self, user, password, timeout=10, server=None):
        """Logs in, returns 'A' or 'B' (where the session landed), logs out."""
        conn = self.login(user, password, timeout=timeout, server=server)
        try:
            return self.which_server(conn)
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass


class LineConn:
    """A line-level client on a socket that can start TLS: the base of the
    raw IMAP, POP3 and ManageSieve clients tests use for exact answers."""

    eof = b""  # what readline() returns at EOF with nothing buffered

    def __init__(self, addr, port, timeout=10, tls_ctx=None,
                 server_hostname=None, source=None):
        self.sock = socket.create_connection(
            (addr, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        if tls_ctx is not None:
            self.starttls(tls_ctx, server_hostname or addr)
        self.buf = b""

    def starttls(self, ctx, hostname):
        self.sock = ctx.wrap_socket(self.sock, server_hostname=hostname)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        """One line without CRLF; self.eof at EOF (a reset or a TLS error
        is an EOF too)."""
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                line, self.buf = self.buf, b""
                return line or self.eof
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def line(self):
        """readline() as text; '' at EOF."""
        return (self.readline() or b"").decode("utf-8", "replace")


class RawIMAP(LineConn):
    """A line-level IMAP client on a plain socket (for exact answers)."""

    def __init__(self, addr, port, timeout=10):
        super().__init__(addr, port, timeout=timeout)
        self.greeting = self.readline()

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("EOF in literal")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def command(self, tag, text):
        """Sends 'tag text', returns (untagged lines, tagged line). Literal
        data announced by {n} at a line end is read and appended."""
        self.send("%s %s\r\n" % (tag, text))
        return self.response(tag)

    def response(self, tag):
        untagged = []
        t = tag.encode() + b" "
        while True:
            line = self.readline()
            if line == b"":
                raise EOFError("connection closed; got %r" % untagged)
            m = re.search(rb"\{(\d+)\}$", line)
            while m:
                line += b"\r\n" + self.read_exact(int(m.group(1)))
                more = self.readline()
                line += more
                m = re.search(rb"\{(\d+)\}$", more)
            if line.startswith(t):
                return untagged, line[len(t):].decode("utf-8", "replace")
            untagged.append(line)

    def at_eof(self, timeout=5):
        """True if the server closes the connection within timeout
        (discarding anything it still sends)."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
            if not chunk:
                return True
        return False


# ------------------------------------------------------------ certificates

def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        raise HarnessError("openssl %s: %s" % (args[0], r.stderr))


def make_ca(d, name, cn):
    """A self-signed CA in directory d; returns its (cert, key) paths."""
    crt, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
            "-out", crt, "-days", "2", "-subj", "/CN=" + cn)
    return crt, key


def make_cert(d, name, cn, sans, ca):
    """A certificate in directory d for cn and the subjectAltNames sans
    ("DNS:x", "IP:y"), signed by ca (a make_ca() pair); returns its
    (cert, key) paths."""
    key, csr, crt, ext = (os.path.join(d, name + x) for x in
                          (".key", ".csr", ".pem", ".ext"))
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % ",".join(sans))
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=" + cn)
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
            "-CAcreateserial", "-days", "2", "-out", crt, "-extfile", ext)
    os.chmod(key, 0o644)  # Dovecot reads keys as root; ferry too
    return crt, key


def raw(h, timeout=10):
    """A RawIMAP connection to h's ferryd."""
    return RawIMAP(h.ferry_addr, h.ferry_port, timeout=timeout)


# ------------------------------------------------------------ test runner

class Fail(Exception):
    """A test's expectation did not hold: "FAIL name: why"."""


def check(cond, why):
    if not cond:
        raise Fail(why)


def collector(tests):
    """A decorator that appends a test function to the list tests."""
    def add(fn):
        tests.append(fn)
        return fn
    return add


def _run_one(fn, h):
    """Runs one test, prints its PASS or FAIL line; True if it passed."""
    t0 = time.monotonic()
    ok = False
    try:
        fn(h)
        ok = True
        print("PASS %s" % fn.__name__, flush=True)
    except Fail as e:
        print("FAIL %s: %s" % (fn.__name__, e), flush=True)
    except Exception as e:  # noqa: BLE001 - a broken test is a FAIL
        # Where in the test it was raised: CI shows this line, not the
        # traceback in the log.
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if os.path.basename(f.filename).startswith("test_")]
        at = " (%s:%d)" % (os.path.basename(frames[-1].filename),
                           frames[-1].lineno) if frames else ""
        print("FAIL %s: %s: %s%s" % (fn.__name__, type(e).__name__, e, at),
              flush=True)
        traceback.print_exc(file=sys.stderr)
    sys.stderr.write("[time] %s %.2fs\n" % (fn.__name__,
                                             time.monotonic() - t0))
    return ok


def _run_group(make_harness, tests, label):
    """Starts one harness, runs tests on it, then checks how ferryd
    stopped and what it logged; returns (passed, failed)."""
    passed = failed = 0
    h = make_harness()
    try:
        try:
            h.start()
        except Exception as e:  # noqa: BLE001
            print("FAIL setup%s: %s" % (label, e))
            return 0, 1
        for fn in tests:
            if _run_one(fn, h):
                passed += 1
            else:
                failed += 1
        log_tail = h.ferry_log_tail(60)
        problems = h.close(check=True)
        exit_problems = [p for p in problems if p.startswith("ferryd: exit")]
        log_problems = [p for p in problems if p not in exit_problems]
        for name, probs in (("ferryd_exit_0_on_sigterm", exit_problems),
                            ("ferryd_log_clean", log_problems)):
            if probs:
                failed += 1
                print("FAIL %s%s: %s" % (name, label, "; ".join(probs)))
            else:
                passed += 1
                print("PASS %s%s" % (name, label))
        if failed:
            print("--- last lines of ferryd's log:")
            print(log_tail)
    finally:
        h.close(check=False)
    return passed, failed


def run_groups(groups, argv):
    """main() of a test file whose tests come in groups, each a pair
    (make_harness, tests) with its own servers.  Runs the tests named in
    argv[1:] (all when none), one "PASS name" or "FAIL name: why" line
    each, then the harness checks ferryd_exit_0_on_sigterm and
    ferryd_log_clean per group, then "N passed, N failed" (what run.sh
    counts).  Returns the exit status."""
    names = set(argv[1:])
    known = [t.__name__ for _, tests in groups for t in tests]
    unknown = names - set(known)
    if unknown:
        print("unknown test(s): %s" % ", ".join(sorted(unknown)))
        print("tests: %s" % " ".join(known))
        return 2

    def stop(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)
    passed = failed = 0
    t_start = time.monotonic()
    try:
        for make_harness, tests in groups:
            tests = [t for t in tests if not names or t.__name__ in names]
            if not tests:
                continue
            # Several groups: say which one a check or a setup belongs to.
            label = " (%s)" % tests[0].__name__ if len(groups) > 1 else ""
            p, f = _run_group(make_harness, tests, label)
            passed += p
            failed += f
    except KeyboardInterrupt as e:
        print("interrupted (%s)" % e)
        failed += 1
    print("time: %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run_tests(tests, make_harness, argv):
    """run_groups() for one group of tests sharing one harness."""
    return run_groups([(make_harness, tests)], argv)


def self_check():
    """Starts slapd and both Dovecots (no ferryd) and checks them directly."""
    ok = True
    t0 = time.monotonic()
    with Harness(ferry=False) as h:
        print("slapd %s: alice mailHost = %s" % (
            h.ldap_uri, h.ldap_mailhost("alice")))
        for user, server in (("alice", "A"), ("bob", "B"), ("erin", "A"),
                             ("erin", "B")):
            got = h.login_where(user, h.password(user), server=server)
            good = got == server
            ok &= good
            print("%s direct login %s on %s (%s): subject says %s" % (
                "ok" if good else "FAIL", user, server, h.mailhost(server),
                got))
        try:
            h.login("alice", "wrong", server="A").logout()
            print("FAIL wrong password accepted by dovecot A")
            ok = False
        except LoginFailed as e:
            print("ok wrong password on A: NO %s" % e.text)
        h.move_user("alice", "B")
        got = h.ldap_mailhost("alice")
        good = got == h.mailhost("B")
        ok &= good
        print("%s move_user alice -> B: mailHost = %s" % (
            "ok" if good else "FAIL", got))
        h.stop_backend("A")
        h.start_backend("A")
        h.stop_ldap()
        h.start_ldap()
        print("ok restart of A and slapd")
    print("self-check %s in %.1fs" % ("passed" if ok else "FAILED",
                                     time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        sys.exit(self_check())
    print(__doc__)
    sys.exit(2)
