"""harness.remote without hosts: reading inventories (real ansible-inventory),
the errors of a bad one, the deploy's host description, and what every host
gets for a cell (the same server configurations as the local lab)."""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from harness import remote                       # noqa: E402
from harness.lab import LabError                 # noqa: E402
from harness.workloads import CellError          # noqa: E402
from harness.workloads import servers as S       # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
LOCAL = os.path.join(ROOT, "ansible", "inventories", "local", "hosts.yml")
EXAMPLE = os.path.join(ROOT, "ansible", "inventories", "example", "hosts.yml")


def cell(workload, stack="linux", cores=1):
    return {"id": "%s.%s.c%d.r0" % (stack, workload, cores), "stack": stack,
            "workload": workload, "cores": cores, "rep": 0, "runtime_s": 2.0, "ramp_s": 0.5,
            "job": "profiles/jobs/%s.ini" % workload, "job_options": {"concurrency": 16},
            "collectors": True}


def lab_of(inventory, hosts_info=None):
    lab = remote.AnsibleLab(inventory, remote.server_cores(inventory))
    lab.conf = remote.read_lab(inventory)
    lab.info = {"hosts": hosts_info or {}}
    return lab


class TestInventory(unittest.TestCase):
    def test_the_example_lab_of_the_card(self):
        conf = remote.read_lab(EXAMPLE)
        self.assertEqual(conf["hosts"], {"server": ["server1"], "client": ["client1", "client2"],
                                         "backend": ["backend1", "backend2"]})
        self.assertEqual(remote.server_cores(EXAMPLE), 24)
        self.assertEqual(conf["hostvars"]["server1"]["tcpscale_tune_ifaces"],
                         ["enp1s0f0", "enp1s0f1"])

    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
        f.write(text)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_a_relative_path_is_read_from_where_the_user_is(self):
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            self.assertEqual(remote.server_cores("ansible/inventories/example/hosts.yml"), 24)
        finally:
            os.chdir(cwd)

    def test_bad_inventories_are_named(self):
        with self.assertRaisesRegex(LabError, "no such file"):
            remote.read_lab("/nonexistent/inventory.yml")
        with self.assertRaisesRegex(LabError, "Unable to parse .* as an inventory source"):
            remote.read_lab(self.write("all:\n  hosts: [\n"))
        inv = self.write("all:\n  children:\n    tcpscale_clients:\n      hosts:\n"
                         "        c1: {tcpscale_addr: 198.18.10.1}\n")
        with self.assertRaisesRegex(LabError, "group tcpscale_servers: expected exactly one "
                                              "host, got 0"):
            remote.read_lab(inv)
        inv = self.write("all:\n  children:\n    tcpscale_servers:\n      hosts:\n"
                         "        s1: {tcpscale_cores: 2}\n    tcpscale_clients:\n      hosts:\n"
                         "        c1: {tcpscale_addr: 198.18.10.1}\n")
        with self.assertRaisesRegex(LabError, r"host s1 \(tcpscale_servers\): tcpscale_addr is "
                                              "not set"):
            remote.read_lab(inv)
        inv = self.write("all:\n  children:\n    tcpscale_servers:\n      hosts:\n"
                         "        s1: {tcpscale_addr: 198.18.10.2}\n    tcpscale_clients:\n"
                         "      hosts:\n        c1: {tcpscale_addr: 198.18.10.1}\n")
        with self.assertRaisesRegex(LabError, "host s1: tcpscale_cores is None, expected the "
                                              "server's core count"):
            remote.server_cores(inv)

    def test_probe_lines_of_the_deploy(self):
        probe, addrs, nics = remote.parse_probe([
            "nginx=1.22.1", "haproxy=", "nofile=20000", "cpus=2",
            "addr=198.18.10.1 data0 02:00:00:00:00:01", "addr=127.0.0.1 lo 00:00:00:00:00:00",
            "nic=data0 ixgbe 10000 24 24 1500", "nic=eth1 ? -1 1 1 9000", "nic=broken"])
        self.assertEqual(probe["nginx"], "1.22.1")
        self.assertEqual(probe["haproxy"], "")
        self.assertEqual(addrs["198.18.10.1"], {"iface": "data0", "mac": "02:00:00:00:00:01"})
        self.assertEqual(nics, {
            "data0": {"driver": "ixgbe", "speed_mbps": 10000, "rx_queues": 24,
                      "tx_queues": 24, "mtu": 1500},
            "eth1": {"driver": "?", "speed_mbps": -1, "rx_queues": 1, "tx_queues": 1,
                     "mtu": 9000}})

    def test_the_environment_of_a_lab_run_is_the_hosts(self):
        from harness import env as envmod
        nic = {"driver": "ixgbe", "speed_mbps": 10000, "rx_queues": 24, "tx_queues": 24,
               "mtu": 1500}
        host = {"kernel": "6.1.0-9", "os": "Debian 12", "arch": "x86_64", "cpus": 24,
                "cpu_model": "Xeon E5-2697", "mem_kib": 64 * 1048576, "nics": {"p1p1": nic},
                "versions": {"nginx": "1.22.1", "perf": "6.1.27"}, "addrs": {},
                "loadavg": [3.5, 2.0, 1.0]}
        lab = {"server": "s1", "hosts": {"s1": dict(host, role="server"),
                                         "c1": dict(host, role="client", cpus=8)}}
        ctl = {"host": "laptop", "kernel": "6.5", "os": "Debian 13", "cores": 4, "mem_kib": 1,
               "cpu_model": "i7", "arch": "x86_64", "git": {"short": "abc"},
               "sysctls": {"net.core.somaxconn": "4096"}, "loadavg": [0.1, 0.2, 0.3],
               "tools": {"python": "3.11", "nginx": "9.9", "chromium": "120"}}
        env = envmod.lab_env(ctl, lab)
        self.assertEqual((env["host"], env["kernel"], env["cores"], env["cpu_model"]),
                         ("s1", "6.1.0-9", 24, "Xeon E5-2697"))
        self.assertEqual(env["hosts"]["c1"]["cpus"], 8)
        self.assertEqual(env["controller"]["host"], "laptop")
        # the load of the machine under test; the controller's is its own
        self.assertEqual((env["loadavg"], env["controller"]["loadavg"]),
                         ([3.5, 2.0, 1.0], [0.1, 0.2, 0.3]))
        self.assertNotIn("sysctls", env)          # the controller's, not the hosts'
        self.assertEqual(envmod.lab_env(env, lab), env)   # a resumed run: the same
        self.assertEqual(env["tools"]["nginx"], "1.22.1")
        lines = envmod.format_env(env)
        self.assertEqual(lines[0], "server s1: Debian 12, kernel 6.1.0-9 (x86_64), CPU Xeon "
                                   "E5-2697 x 24, memory 64.0 GiB; NICs: p1p1 (ixgbe, 10000 "
                                   "Mb/s, 24 rx / 24 tx queues, MTU 1500)")
        self.assertTrue(lines[1].startswith("client c1: "), lines)
        self.assertIn("controller laptop (ran Ansible, not the cells)", lines[2])


class TestCellSpecs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = lab_of(LOCAL, {"server1": {"nofile": 20000}, "backend1": {"nofile": 20000}})

    def test_nginx_cell_uses_the_local_labs_configuration(self):
        specs, settings = remote.cell_specs(self.lab, cell("nginx"))
        self.assertEqual(sorted(specs), ["backend1", "client1", "server1"])
        srv = specs["server1"]
        self.assertEqual(srv["files"]["nginx.conf"],
                         S.nginx_config("@CELL@/nginx", "@CELL@/www", 1,
                                        [("198.18.10.2", 80)], True, 20000))
        self.assertEqual(srv["programs"][0]["ready"], [["198.18.10.2", 80]])
        self.assertEqual(srv["programs"][0]["cpus"], "0")
        self.assertEqual(settings["program"], "nginx")
        cl = specs["client1"]
        self.assertIn("--source_addrs=198.18.10.11,198.18.10.12", cl["client"]["argv"])
        self.assertIn("--host=198.18.10.2", cl["client"]["argv"])
        self.assertEqual(cl["wait_for"], [["198.18.10.2", 80]])
        self.assertEqual(specs["backend1"]["programs"], [])

    def test_haproxy_cell_starts_origins_on_the_backends(self):
        specs, settings = remote.cell_specs(self.lab, cell("haproxy"))
        self.assertEqual(specs["backend1"]["programs"][0]["ready"],
                         [["198.18.11.2", 8080], ["198.18.11.3", 8080]])
        self.assertIn("server origin1 198.18.11.3:8080", specs["server1"]["files"]["haproxy.cfg"])
        self.assertEqual(settings["origins"], ["198.18.11.2:8080", "198.18.11.3:8080"])

    def test_cells_the_lab_cannot_run(self):
        with self.assertRaisesRegex(CellError, r"cores=3, expected 1..2"):
            remote.check_cell(self.lab, cell("nginx", cores=3))
        with self.assertRaisesRegex(CellError, "stack refstack:base not supported on an "
                                               "Ansible lab"):
            remote.check_cell(self.lab, cell("nginx", stack="refstack:base"))
        with self.assertRaisesRegex(CellError, "no mTCP installation is configured: set "
                                               "tcpscale_mtcp_home"):
            remote.check_cell(self.lab, cell("nginx", stack="mtcp"))

    def test_mtcp_cell_writes_mtcps_files(self):
        lab = lab_of(LOCAL, {"server1": {"mtcp": "ok"}, "client1": {"addrs": {
            "198.18.10.1": {"iface": "data0", "mac": "02:00:00:00:00:01"},
            "198.18.10.11": {"iface": "data0", "mac": "02:00:00:00:00:01"}}}})
        lab.conf["hostvars"]["server1"]["tcpscale_mtcp_home"] = "/opt/mtcp"
        specs, settings = remote.cell_specs(lab, cell("nginx", stack="mtcp", cores=2))
        srv = specs["server1"]
        self.assertEqual(srv["programs"][0]["argv"],
                         ["/opt/mtcp/apps/example/epserver", "-p", "@CELL@/www", "-f",
                          "@CELL@/mtcp.conf", "-N", "2"])
        self.assertIn("198.18.10.11/32 02:00:00:00:00:01", srv["files"]["config/arp.conf"])
        self.assertIn("ARP_ENTRY 2", srv["files"]["config/arp.conf"])
        self.assertIn("198.18.10.0/24 dpdk0", srv["files"]["config/route.conf"])
        self.assertEqual(settings["program"], "mtcp epserver")
        res = remote.run_cell(lab, cell("shortconn", stack="mtcp"), tempfile.gettempdir())
        self.assertEqual(res["status"], "cannot-run")
        self.assertIn("no mTCP equivalent", res["error"])


if __name__ == "__main__":
    unittest.main()
