"""The mTCP adapter: its generated files against mTCP's documented format,
the output parser against mTCP's own printf formats, and every error a
user can meet (not configured, not installed, bad keys, workloads with no
mTCP equivalent, the local lab).

The format checks below are written from mTCP's documentation and parser
at commit 0463aad5 (README.config, config/sample_mtcp.conf,
config/sample_arp.conf, config/sample_route.conf, mtcp/src/config.c:
LoadConfiguration/ParseConfiguration, LoadARPTable, SetRoutingTableFromFile;
mtcp/src/core.c: PrintNetworkStats).  No mTCP code is in the repository.
"""
import ipaddress
import os
import re
import stat
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from harness import registry                            # noqa: E402
from harness.workloads import CannotRun, check_cell     # noqa: E402
from harness.workloads import mtcp                      # noqa: E402

# ParseConfiguration's option names and their checks (mtcp/src/config.c)
MTCP_OPTIONS = {"num_cores": lambda v: int(v) > 0, "core_mask": lambda v: True,
                "max_concurrency": lambda v: int(v) >= 0, "max_num_buffers": lambda v: int(v) >= 0,
                "rcvbuf": lambda v: int(v) >= 64, "sndbuf": lambda v: int(v) >= 64,
                "tcp_timeout": lambda v: int(v) >= -1, "tcp_timewait": lambda v: int(v) >= 0,
                "stat_print": lambda v: True, "port": lambda v: True,
                "io": lambda v: v in ("psio", "netmap", "onvm", "dpdk"),
                "num_mem_ch": lambda v: int(v) > 0, "multiprocess": lambda v: True}
MAC = re.compile(r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$")
# core.c: fprintf(stderr, "[ ALL ] %s flows: %6u, RX: %7ld(pps) (err: %5ld), %5.2lf(Gbps),
#                 TX: %7ld(pps), %5.2lf(Gbps)\n", ...)
ALL_FMT = "[ ALL ] %s flows: %6u, RX: %7d(pps) (err: %5d), %5.2f(Gbps), TX: %7d(pps), %5.2f(Gbps)"
CPU_FMT = "[CPU%2d] %s flows: %6u, RX: %7d(pps) (err: %5d), %5.2f(Gbps), TX: %7d(pps), %5.2f(Gbps)"


def parse_mtcp_conf(text):
    """mtcp.conf as LoadConfiguration reads it: '#' starts a comment, blank
    lines skipped, else `name value` split on " \\t="; unknown names fail."""
    out = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[ \t=]+", line) if p]
        assert len(parts) >= 2, "line %d: no value: %r" % (n, raw)
        name, value = parts[0], parts[1]
        assert name in MTCP_OPTIONS, "line %d: unknown option %r" % (n, name)
        assert MTCP_OPTIONS[name](value), "line %d: bad value %r" % (n, raw)
        out[name] = " ".join(parts[1:])
    return out


def parse_arp_conf(text):
    """LoadARPTable: comments/blank skipped; `ARP_ENTRY N` first, then exactly
    N entries `IP/PREFIX MAC` (more entries than N is an error)."""
    lines = [l.split("#", 1)[0].strip() for l in text.splitlines()]
    lines = [l for l in lines if l]
    m = re.fullmatch(r"ARP_ENTRY (\d+)", lines[0])
    assert m and int(m.group(1)) > 0, lines[0]
    entries = lines[1:]
    assert len(entries) == int(m.group(1)), "ARP_ENTRY %s but %d entries" % (m.group(1), len(entries))
    out = []
    for e in entries:
        ipp, mac = e.split()
        ip, prefix = ipp.split("/")
        ipaddress.IPv4Address(ip)
        assert 0 <= int(prefix) <= 32 and MAC.match(mac), e
        out.append((ip, int(prefix), mac))
    return out


def parse_route_conf(text):
    """SetRoutingTableFromFile: `ROUTES N` then N lines `IP/PREFIX DEV`, a
    default route (prefix 0) only as the last entry."""
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
    m = re.fullmatch(r"ROUTES (\d+)", lines[0].split("#")[0].strip())
    assert m, lines[0]
    routes = lines[1:1 + int(m.group(1))]
    assert len(routes) == int(m.group(1))
    out = []
    for i, r in enumerate(routes):
        ipp, dev = r.split()
        ip, prefix = ipp.split("/")
        ipaddress.IPv4Address(ip)
        assert 0 <= int(prefix) <= 32
        assert int(prefix) != 0 or i == len(routes) - 1, "default route not last"
        out.append((ip, int(prefix), dev))
    return out


CONF_VARS = {"tcpscale_mtcp_home": "/opt/mtcp", "tcpscale_mtcp_port": "dpdk0"}


class TestConfiguration(unittest.TestCase):
    def test_mtcp_conf_is_read_by_mtcps_parser_rules(self):
        conf = mtcp.read_conf(dict(CONF_VARS, tcpscale_mtcp_rcvbuf=16384), "inventory x")
        parsed = parse_mtcp_conf(mtcp.mtcp_conf(conf, 4))
        self.assertEqual(parsed["io"], "dpdk")
        self.assertEqual(parsed["port"], "dpdk0")
        self.assertEqual(parsed["num_cores"], "4")
        self.assertEqual(parsed["rcvbuf"], "16384")
        self.assertEqual(parsed["sndbuf"], "8192")
        self.assertEqual(parsed["stat_print"], "dpdk0")
        self.assertEqual(parsed["tcp_timewait"], "0")

    def test_every_key_has_a_default_but_home(self):
        conf = mtcp.read_conf({"tcpscale_mtcp_home": "/m"}, "x")
        self.assertEqual(set(conf), set(mtcp.KEYS))
        self.assertEqual(conf["max_concurrency"], 10000)

    def test_arp_and_route_tables(self):
        arp = parse_arp_conf(mtcp.arp_conf([("198.18.10.1", "02:AA:bb:cc:dd:01"),
                                            ("198.18.10.11", "02:aa:bb:cc:dd:01")]))
        self.assertEqual(arp, [("198.18.10.1", 32, "02:aa:bb:cc:dd:01"),
                               ("198.18.10.11", 32, "02:aa:bb:cc:dd:01")])
        routes = parse_route_conf(mtcp.route_conf([("0.0.0.0/0", "dpdk0"),
                                                   ("198.18.10.2/24", "dpdk0")]))
        self.assertEqual(routes, [("198.18.10.0", 24, "dpdk0"), ("0.0.0.0", 0, "dpdk0")])

    def test_cell_files_and_command_line(self):
        conf = mtcp.read_conf(CONF_VARS, "x")
        files = mtcp.cell_files(conf, 2, "198.18.10.2", [("198.18.10.1", "02:00:00:00:00:01")])
        self.assertEqual(sorted(files), ["config/arp.conf", "config/route.conf", "mtcp.conf"])
        self.assertEqual(parse_route_conf(files["config/route.conf"]),
                         [("198.18.10.0", 24, "dpdk0")])
        self.assertEqual(mtcp.epserver_argv("/opt/mtcp", "/c/www", "/c/mtcp.conf", 2),
                         ["/opt/mtcp/apps/example/epserver", "-p", "/c/www", "-f",
                          "/c/mtcp.conf", "-N", "2"])

    def test_bad_mac_is_refused(self):
        with self.assertRaisesRegex(mtcp.MtcpError, "198.18.10.1: 'zz' is not a MAC"):
            mtcp.arp_conf([("198.18.10.1", "zz")])


class TestErrors(unittest.TestCase):
    def test_not_configured_says_what_to_set(self):
        with self.assertRaises(mtcp.MtcpError) as cm:
            mtcp.read_conf({}, "inventory lab.yml")
        msg = str(cm.exception)
        self.assertIn("no mTCP installation is configured", msg)
        self.assertIn("set tcpscale_mtcp_home", msg)
        self.assertIn("inventory lab.yml", msg)

    def test_bad_and_unknown_keys_are_named(self):
        with self.assertRaisesRegex(mtcp.MtcpError, r"tcpscale_mtcp_io = 'xdp': expected one of "
                                                    r"dpdk, netmap, psio, onvm"):
            mtcp.read_conf(dict(CONF_VARS, tcpscale_mtcp_io="xdp"), "x")
        with self.assertRaisesRegex(mtcp.MtcpError, "tcpscale_mtcp_rcvbuf = 10: expected an "
                                                    "integer from 64"):
            mtcp.read_conf(dict(CONF_VARS, tcpscale_mtcp_rcvbuf=10), "x")
        with self.assertRaisesRegex(mtcp.MtcpError, "tcpscale_mtcp_cores: unknown key"):
            mtcp.read_conf(dict(CONF_VARS, tcpscale_mtcp_cores=2), "x")
        with self.assertRaisesRegex(mtcp.MtcpError, "tcpscale_mtcp_home = 'mtcp': expected an "
                                                    "absolute path"):
            mtcp.read_conf({"tcpscale_mtcp_home": "mtcp"}, "x")

    def test_installation_checks(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(mtcp.MtcpError, "no such folder"):
                mtcp.check_install(os.path.join(d, "none"))
            with self.assertRaisesRegex(mtcp.MtcpError, "not an mTCP tree"):
                mtcp.check_install(d)
            os.makedirs(os.path.join(d, "mtcp", "src", "include"))
            open(os.path.join(d, "mtcp", "src", "include", "mtcp_api.h"), "w").close()
            with self.assertRaisesRegex(mtcp.MtcpError, r"epserver not built \(build mTCP's "
                                                        r"example apps: make -C .*apps/example\)"):
                mtcp.check_install(d)
            ep = os.path.join(d, "apps", "example", "epserver")
            os.makedirs(os.path.dirname(ep))
            open(ep, "w").close()
            with self.assertRaisesRegex(mtcp.MtcpError, "is not executable"):
                mtcp.check_install(d)
            os.chmod(ep, stat.S_IRWXU)
            self.assertEqual(mtcp.check_install(d), ep)

    def test_workloads_without_equivalent_and_core_limit(self):
        self.assertIsNone(mtcp.no_equivalent("nginx"))
        for w in ("shortconn", "keepalive", "haproxy"):
            self.assertIn("no mTCP equivalent", mtcp.no_equivalent(w))
        self.assertIsNone(mtcp.check_cores(16, 16))
        self.assertIn("rebuild with configure CFLAGS=-DMAX_CPUS=24 and set "
                      "tcpscale_mtcp_max_cpus", mtcp.check_cores(24, 16))
        self.assertIsNone(mtcp.check_cores(24, 32))     # built for the card's 24 cores
        conf = mtcp.read_conf({"tcpscale_mtcp_home": "/opt/mtcp"}, "x")
        self.assertEqual(conf["max_cpus"], 16)
        self.assertEqual(mtcp.read_conf({"tcpscale_mtcp_home": "/opt/mtcp",
                                         "tcpscale_mtcp_max_cpus": 32}, "x")["max_cpus"], 32)
        self.assertNotIn("max_cpus", mtcp.mtcp_conf(conf, 2))   # not an mtcp.conf key

    def test_the_local_lab_points_to_an_ansible_lab(self):
        class Lab:
            cores = 1
        cell = {"id": "mtcp.nginx.c1.r0", "stack": "mtcp", "workload": "nginx", "cores": 1,
                "runtime_s": 1, "ramp_s": 0, "job": "profiles/jobs/nginx.ini"}
        with self.assertRaisesRegex(CannotRun, "cannot run workload nginx \\(stack mtcp runs "
                                               "on an Ansible lab only"):
            check_cell(Lab(), cell)

    def test_profiles_accept_mtcp_only_when_configured(self):
        with self.assertRaisesRegex(registry.StackError, "no mTCP installation is configured: set "
                                                         "tcpscale_mtcp_home"):
            registry.parse_stack("mtcp")
        registry.LAB_CONFIG.update({"mtcp_home": "/opt/mtcp", "where": "inventory x"})
        try:
            self.assertEqual(registry.parse_stack("mtcp"), "mtcp")
        finally:
            registry.LAB_CONFIG.clear()


class TestOutput(unittest.TestCase):
    def test_statistics_lines_in_mtcps_own_format(self):
        text = "\n".join([
            "Application initialization finished.",
            CPU_FMT % (0, "dpdk0", 12, 1000, 0, 0.01, 900, 0.02),
            ALL_FMT % ("dpdk0", 12, 1000, 0, 0.01, 900, 0.02),
            CPU_FMT % (1, "dpdk0", 30, 5000, 1, 0.05, 4800, 0.07),
            ALL_FMT % ("dpdk0", 30, 5000, 1, 0.05, 4800, 0.07),
            ALL_FMT % ("dpdk0", 28, 4000, 2, 0.04, 3900, 0.06)])
        out = mtcp.parse_output(text)
        self.assertEqual(len(out["intervals"]), 3)
        self.assertEqual(out["intervals"][1], {"flows": 30, "rx_pps": 5000, "rx_err": 1,
                                               "rx_gbps": 0.05, "tx_pps": 4800, "tx_gbps": 0.07})
        self.assertEqual(sorted(out["per_core"]), [0, 1])
        self.assertEqual(out["summary"], {"rx_pps": 4000, "tx_pps": 3900, "flows": 28,
                                          "rx_err": 3})
        self.assertEqual(out["errors"], [])

    def test_start_up_errors_are_reported(self):
        text = "Loading mtcp configuration from : mtcp.conf\n[CAUTION] Run the app as root!\n"
        self.assertEqual(mtcp.start_error(text, 1),
                         "mTCP epserver exited with code 1: [CAUTION] Run the app as root!")
        self.assertEqual(mtcp.start_error("", 1), "mTCP epserver exited with code 1: no output")


if __name__ == "__main__":
    unittest.main()
