"""The `mtcp` stack: drive the user's own mTCP installation.

tcpscale ships no mTCP code and no recipe that builds it.  The user builds
mTCP (with its I/O module: DPDK, netmap, psio or onvm, and its example
apps) on the server machine and names the build folder in the lab
configuration; the adapter then, per cell:

- writes mTCP's three configuration files into the cell's folder, which
  becomes the application's working directory (mTCP opens config/arp.conf
  and config/route.conf relative to it, mtcp/src/config.c):
  mtcp.conf (I/O module, port, cores, buffers, timeouts), config/arp.conf
  (static ARP entries: mTCP resolves no addresses of its own) and
  config/route.conf (the client network on the mTCP port);
- starts the server application of the workload, pinned by mTCP itself
  to cores 0..N-1 (`-N N`): epserver for HTTP;
- lets the same tsload client drive it, and parses what mTCP prints
  (the per-second "[ ALL ] PORT flows: ..., RX: ...(pps) ..., TX: ..."
  lines of its NETSTAT build, and its start-up errors) into the record.

What it expects (documented in ansible/README.md, "mTCP"): mTCP's master
at commit 0463aad5 (2019-11-17, `git describe --tags` v2.0-373-g0463aad5),
built by its own `configure && make` with NETSTAT on (the default in
mtcp/src/Makefile.in), apps/example/epserver built, and for more than 16
cores `CFLAGS=-DMAX_CPUS=32` at configure time.  The v2.1 tag (0c388210,
2018-10-05) is not on master's history: its parser takes the keys this
adapter writes, but its MAX_CPUS is 32 and its epserver differs (POSIX
socket calls); the adapter is written and checked against master only.

Workloads: `nginx` (a small static file over HTTP/1.1, keep-alive off) is
served by epserver.  The others have no mTCP equivalent and are reported
as cells that cannot run: `shortconn` and `keepalive` speak tsload's own
crr/rr protocol, for which mTCP has no server; `haproxy` needs a proxy,
and mTCP ships none (its ports are lighttpd and ab).

Configuration keys (host variables of the inventory's server, or the same
names in a TOML table for tests; every key is declared once in KEYS):
tcpscale_mtcp_home (required), tcpscale_mtcp_io, tcpscale_mtcp_port,
tcpscale_mtcp_num_mem_ch, tcpscale_mtcp_max_concurrency,
tcpscale_mtcp_max_num_buffers, tcpscale_mtcp_rcvbuf, tcpscale_mtcp_sndbuf,
tcpscale_mtcp_tcp_timeout, tcpscale_mtcp_tcp_timewait,
tcpscale_mtcp_prefix, tcpscale_mtcp_max_cpus.
"""
import ipaddress
import os
import re

MTCP_COMMIT = "0463aad5ecb6b5bca85903156ce1e314a58efc19"
MTCP_DESCRIBE = "v2.0-373-g0463aad5"
EPSERVER = os.path.join("apps", "example", "epserver")
IO_MODULES = ("dpdk", "netmap", "psio", "onvm")

SERVES = {"nginx": "epserver"}
NO_EQUIVALENT = {
    "shortconn": "no mTCP equivalent: shortconn speaks tsload's crr protocol and mTCP has "
                 "no crr server (its apps are epserver, epwget, and ports of lighttpd and ab)",
    "keepalive": "no mTCP equivalent: keepalive speaks tsload's rr protocol and mTCP has "
                 "no rr server",
    "haproxy": "no mTCP equivalent: haproxy needs a proxy and mTCP ships none "
               "(its ports are lighttpd and ab)",
}


LOCAL_LAB = ("stack mtcp runs on an Ansible lab only: mTCP drives a NIC with its own I/O "
             "module (DPDK, netmap, psio), which a veth of the local lab is not; run "
             "`tcpscale run SUITE --inventory FILE` with tcpscale_mtcp_home set on the server")


class MtcpError(Exception):
    """mTCP is not configured, not installed, or misconfigured; the
    message says what to set, and where."""


def _int_in(lo, hi):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError("an integer from %d to %d" % (lo, hi))
        return v
    return check


def _choice(options):
    def check(v):
        if v not in options:
            raise ValueError("one of %s" % ", ".join(options))
        return v
    return check


def _word(v):
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]+", v):
        raise ValueError("an interface name")
    return v


def _path(v):
    if not isinstance(v, str) or not v.startswith("/"):
        raise ValueError("an absolute path to your mTCP build folder")
    return v


# key (without the tcpscale_mtcp_ prefix): (checker, default, mtcp.conf key or None, help)
KEYS = {
    "home": (_path, None, None, "your mTCP build folder (holds apps/example/epserver)"),
    "io": (_choice(IO_MODULES), "dpdk", "io", "mTCP's I/O module"),
    "port": (_word, "dpdk0", "port", "the interface mTCP drives (client-facing)"),
    "num_mem_ch": (_int_in(1, 16), 4, "num_mem_ch", "memory channels per socket (DPDK)"),
    "max_concurrency": (_int_in(1, 1 << 24), 10000, "max_concurrency", "flows per core"),
    "max_num_buffers": (_int_in(1, 1 << 24), 10000, "max_num_buffers", "socket buffers per core"),
    "rcvbuf": (_int_in(64, 1 << 24), 8192, "rcvbuf", "receive buffer bytes"),
    "sndbuf": (_int_in(64, 1 << 24), 8192, "sndbuf", "send buffer bytes"),
    "tcp_timeout": (_int_in(-1, 3600), 30, "tcp_timeout", "seconds (-1: no timeout check)"),
    "tcp_timewait": (_int_in(0, 3600), 0, "tcp_timewait", "TIME_WAIT seconds"),
    "prefix": (_int_in(1, 32), 24, None, "prefix length of the client network"),
    "max_cpus": (_int_in(1, 4096), 16, None, "the MAX_CPUS your mTCP and epserver were built "
                 "with (configure CFLAGS=-DMAX_CPUS=N; mTCP's default is 16)"),
}
PREFIX = "tcpscale_mtcp_"


def not_configured_message(where):
    return ("mtcp: no mTCP installation is configured: set %shome to the folder of your "
            "mTCP build (with apps/example/epserver) on the server host of %s; tcpscale ships "
            "no mTCP (see ansible/README.md, \"mTCP\")" % (PREFIX, where))


def configured(lab_config):
    """None when the lab configuration names an mTCP build, else what to set
    (registry: "mtcp" is accepted in a profile only when configured)."""
    if lab_config.get("mtcp_home"):
        return None
    return not_configured_message(lab_config.get(
        "where", "an inventory (tcpscale run SUITE --inventory FILE: mTCP needs a NIC its I/O "
                 "module drives, which the local lab has not)"))


def read_conf(values, where):
    """The adapter's settings from host variables ({"tcpscale_mtcp_home": ..}).
    Raises MtcpError naming the key and the place."""
    if not values.get(PREFIX + "home"):
        raise MtcpError(not_configured_message(where))
    unknown = sorted(k for k in values if k.startswith(PREFIX) and k[len(PREFIX):] not in KEYS)
    if unknown:
        raise MtcpError("%s: %s: unknown key (mTCP keys: %s)" % (
            where, unknown[0], ", ".join(PREFIX + k for k in KEYS)))
    conf = {}
    for key, (check, default, _conf_key, help_) in KEYS.items():
        v = values.get(PREFIX + key, default)
        try:
            conf[key] = check(v)
        except ValueError as e:
            raise MtcpError("%s: %s%s = %r: expected %s (%s)" % (where, PREFIX, key, v, e, help_))
    return conf


def check_install(home):
    """The epserver of an mTCP build folder on this machine, or MtcpError
    saying what is missing."""
    if not os.path.isdir(home):
        raise MtcpError("stack mtcp: %shome = %s: no such folder (build mTCP there, or point "
                        "the key at your build)" % (PREFIX, home))
    if not os.path.isfile(os.path.join(home, "mtcp", "src", "include", "mtcp_api.h")) and \
            not os.path.isfile(os.path.join(home, "mtcp", "include", "mtcp_api.h")):
        raise MtcpError("stack mtcp: %shome = %s: not an mTCP tree (no mtcp/src/include/"
                        "mtcp_api.h)" % (PREFIX, home))
    path = os.path.join(home, EPSERVER)
    if not os.path.isfile(path):
        raise MtcpError("stack mtcp: %s not built (build mTCP's example apps: make -C %s)"
                        % (path, os.path.join(home, "apps", "example")))
    if not os.access(path, os.X_OK):
        raise MtcpError("stack mtcp: %s is not executable" % path)
    return path


def no_equivalent(workload):
    """Why a workload cannot run on mTCP, or None if an mTCP app serves it."""
    if workload in SERVES:
        return None
    return NO_EQUIVALENT.get(workload, "no mTCP equivalent for workload %r" % workload)


def check_cores(cores, max_cpus):
    """Why a cell of `cores` cannot run on an mTCP built with MAX_CPUS = max_cpus."""
    if cores > max_cpus:
        return ("mTCP and epserver handle at most %d cores (%smax_cpus, the MAX_CPUS they "
                "were built with); this cell wants %d: rebuild with configure "
                "CFLAGS=-DMAX_CPUS=%d and set %smax_cpus" % (max_cpus, PREFIX, cores, cores,
                                                            PREFIX))
    return None


# -- mTCP's files ----------------------------------------------------------------------
def mtcp_conf(conf, cores):
    """mtcp.conf in the format of mTCP's config/sample_mtcp.conf."""
    lines = ["############### mtcp configuration file (written by tcpscale) ###############",
             "# one line per option, `name = value` (mtcp/src/config.c)"]
    for key, (_check, _default, conf_key, help_) in KEYS.items():
        if conf_key:
            lines += ["# " + help_, "%s = %s" % (conf_key, conf[key])]
    lines += ["# cores of the cell (epserver is also run with -N)", "num_cores = %d" % cores,
              "# per-second statistics of the port, parsed into the record",
              "stat_print = %s" % conf["port"]]
    return "\n".join(lines) + "\n"


def arp_conf(entries):
    """config/arp.conf: `ARP_ENTRY N`, then N lines `ADDR/32 MAC`.

    entries: [(address, mac)]."""
    lines = ["# static ARP table of mTCP (written by tcpscale): (address/prefix) (MAC)",
             "ARP_ENTRY %d" % len(entries)]
    for addr, mac in entries:
        ipaddress.IPv4Address(addr)
        if not re.fullmatch(r"(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", mac or ""):
            raise MtcpError("mTCP ARP entry %s: %r is not a MAC address" % (addr, mac))
        lines.append("%s/32 %s" % (addr, mac.lower()))
    return "\n".join(lines) + "\n"


def route_conf(routes):
    """config/route.conf: `ROUTES N`, then N lines `ADDR/PREFIX PORT`, a
    default route (prefix 0) last, as mTCP requires.

    routes: [(network "a.b.c.d/p", port)]."""
    nets = [(ipaddress.IPv4Network(n, strict=False), port) for n, port in routes]
    nets.sort(key=lambda np: np[0].prefixlen == 0)
    lines = ["# static routing table of mTCP (written by tcpscale): (address/prefix) (port)",
             "ROUTES %d" % len(nets)]
    lines += ["%s/%d %s" % (n.network_address, n.prefixlen, port) for n, port in nets]
    return "\n".join(lines) + "\n"


def epserver_argv(home, www, conf_path, cores):
    """epserver serving www on port 80 of the mTCP port, `cores` threads."""
    return [os.path.join(home, EPSERVER), "-p", www, "-f", conf_path, "-N", str(cores)]


def cell_files(conf, cores, server_addr, arp):
    """{relative path: text} of a cell's mTCP files (the app runs in that folder)."""
    net = "%s/%d" % (server_addr, conf["prefix"])
    return {"mtcp.conf": mtcp_conf(conf, cores),
            "config/arp.conf": arp_conf(arp),
            "config/route.conf": route_conf([(net, conf["port"])])}


def settings(conf, cores):
    """The server settings recorded in the cell's tuning."""
    return {"program": "mtcp epserver", "expects": "mTCP %s (%s)" % (MTCP_DESCRIBE, MTCP_COMMIT[:12]),
            "threads": cores, "io": conf["io"], "port": conf["port"],
            "max_concurrency": conf["max_concurrency"], "rcvbuf": conf["rcvbuf"],
            "sndbuf": conf["sndbuf"], "tcp_timeout": conf["tcp_timeout"],
            "tcp_timewait": conf["tcp_timewait"], "keepalive": "off unless asked (Connection)"}


# -- what mTCP prints --------------------------------------------------------------------
_STAT = re.compile(
    r"^\[\s*(ALL|CPU\s*\d+)\s*\]\s+(\S+)\s+flows:\s*(\d+),\s*RX:\s*(\d+)\(pps\)\s*"
    r"\(err:\s*(\d+)\),\s*([0-9.]+)\(Gbps\),\s*TX:\s*(\d+)\(pps\),\s*([0-9.]+)\(Gbps\)")
_ERRORS = ("Failed to initialize mtcp", "[CAUTION] Run the app as root!",
           "You forgot to pass the mTCP startup config file!", "Failed to open",
           "CPU limit should be smaller than", "Failed to create listening socket",
           "Failed to load configuration file", "Unknown option type", "Interface",
           "Default gateway settings", "Wrong entry in arp.conf", "Error in arp.conf")


def parse_output(text):
    """epserver's output -> {"intervals": [{"flows", "rx_pps", "rx_err",
    "rx_gbps", "tx_pps", "tx_gbps"}] of the [ ALL ] lines (one a second),
    "per_core": {core: last interval}, "errors": [lines], "summary": medians}."""
    intervals, per_core, errors = [], {}, []
    for line in text.splitlines():
        m = _STAT.match(line.strip())
        if m:
            who, _port = m.group(1), m.group(2)
            iv = {"flows": int(m.group(3)), "rx_pps": int(m.group(4)),
                  "rx_err": int(m.group(5)), "rx_gbps": float(m.group(6)),
                  "tx_pps": int(m.group(7)), "tx_gbps": float(m.group(8))}
            if who == "ALL":
                intervals.append(iv)
            else:
                per_core[int(who.split()[-1] if " " in who else who[3:])] = iv
            continue
        if any(e in line for e in _ERRORS):
            errors.append(line.strip())
    out = {"intervals": intervals, "per_core": per_core, "errors": errors}
    if intervals:
        def med(k):
            vals = sorted(iv[k] for iv in intervals)
            return vals[len(vals) // 2]
        out["summary"] = {k: med(k) for k in ("rx_pps", "tx_pps", "flows")}
        out["summary"]["rx_err"] = sum(iv["rx_err"] for iv in intervals)
    return out


def start_error(text, rc):
    """A clear message for an epserver that did not come up."""
    errs = parse_output(text)["errors"]
    if errs:
        return "mTCP epserver exited with code %s: %s" % (rc, errs[-1])
    tail = " | ".join(l.strip() for l in text.splitlines()[-3:] if l.strip())
    return "mTCP epserver exited with code %s: %s" % (rc, tail or "no output")


# -- the adapter interface of the stacks registry (local lab) --------------------------
# On the local lab no mTCP server can start (see LOCAL_LAB); the Ansible lab
# (harness.remote) builds epserver's cell from the functions above.
SERVERS = {}


def missing_workload(workload):
    return no_equivalent(workload) or LOCAL_LAB


def cannot_run(cell):
    return LOCAL_LAB


def cell_lab(lab, cell):
    import contextlib
    return contextlib.nullcontext()


def tuning(lab, cell, settings):
    return {"stack": "mtcp", "server": settings}


def counters(servers):
    return None
