"""The tuning role's module on fixed text: the parts a veth cannot exercise
(ethtool's channel and ntuple listings of a real NIC, IRQ names in
/proc/interrupts) and RFD's rules.  The role itself runs for real in
test_ansible.py."""
import importlib.util
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATH = os.path.join(ROOT, "ansible", "roles", "tcpscale_tune", "library", "tcpscale_tune.py")
spec = importlib.util.spec_from_file_location("tcpscale_tune", PATH)
T = importlib.util.module_from_spec(spec)
spec.loader.exec_module(T)

CHANNELS_NIC = """Channel parameters for enp1s0f0:
Pre-set maximums:
RX:		n/a
TX:		n/a
Other:		1
Combined:	63
Current hardware settings:
RX:		n/a
TX:		n/a
Other:		1
Combined:	24
"""
CHANNELS_VETH = """Channel parameters for data0:
Pre-set maximums:
RX:		2
TX:		2
Other:		n/a
Combined:	n/a
Current hardware settings:
RX:		1
TX:		1
Other:		n/a
Combined:	n/a
"""
NTUPLE = """24 RX rings available
Total 2 rules

Filter: 0
	Rule Type: TCP over IPv4
	Src IP addr: 0.0.0.0 mask: 255.255.255.255
	Dest IP addr: 0.0.0.0 mask: 255.255.255.255
	TOS: 0x0 mask: 0xff
	Src port: 8080 mask: 0x0
	Dest port: 0 mask: 0xfffe
	Action: Direct to queue 0

Filter: 1
	Rule Type: TCP over IPv4
	Src port: 8080 mask: 0x0
	Dest port: 1 mask: 0xfffe
	Action: Direct to queue 0
"""
INTERRUPTS = """           CPU0       CPU1
  24:          0          0  PCI-MSI 524288-edge      enp1s0f0
  25:       1234          0  PCI-MSI 524289-edge      enp1s0f0-TxRx-1
  26:          0       5678  PCI-MSI 524290-edge      enp1s0f0-TxRx-0
  27:          0          0  PCI-MSI 524291-edge      enp1s0f10-TxRx-0
"""


class TestParsers(unittest.TestCase):
    def test_channels(self):
        mx, cur = T.parse_channels(CHANNELS_NIC)
        self.assertEqual((mx, cur), ({"Other": 1, "Combined": 63}, {"Other": 1, "Combined": 24}))
        mx, cur = T.parse_channels(CHANNELS_VETH)
        self.assertEqual((mx["RX"], cur["RX"]), (2, 1))
        self.assertNotIn("Combined", mx)
        self.assertEqual(T.parse_channels("Cannot get device channel parameters"), (None, None))

    def test_irqs_of_an_interface_not_of_its_namesakes(self):
        # queue IRQs in queue order; the link IRQ (named enp1s0f0 alone) left out
        self.assertEqual(T.irqs_of(INTERRUPTS, "enp1s0f0"), [26, 25])
        self.assertEqual(T.irqs_of(INTERRUPTS, "enp1s0f10"), [27])
        self.assertEqual(T.irqs_of(INTERRUPTS, "enp1s0f1"), [])
        self.assertEqual(T.irqs_of(INTERRUPTS.splitlines()[0] + "\n" + INTERRUPTS.splitlines()[1],
                                   "enp1s0f0"), [24])

    def test_masks(self):
        self.assertEqual(T.parse_mask("00000000,00000003\n"), 3)
        self.assertEqual(T.parse_mask("0\n"), 0)

    def test_rfd_rules(self):
        self.assertEqual([T.rfd_r(c) for c in (1, 2, 3, 4, 5, 24)], [1, 2, 4, 4, 8, 32])
        rules = T.ntuple_wanted([8080], 2, 0)
        self.assertEqual(rules[1], (1, ["flow-type", "tcp4", "src-port", "8080", "dst-port",
                                        "1", "m", "0xfffe", "action", "1"],
                                    ["Src port: 8080 mask: 0x0", "Dest port: 1 mask: 0xfffe",
                                     "Action: Direct to queue 1"]))
        self.assertEqual([r[0] for r in T.ntuple_wanted([8080, 9090], 3, 100)],
                         [100, 101, 102, 103, 104, 105, 106, 107])
        # 3 cores, R = 4: dport = 3 (mod 4) folds back to queue 0, never to a 4th queue
        self.assertEqual([r[1][-1] for r in T.ntuple_wanted([8080], 3, 0)], ["0", "1", "2", "0"])
        # against a NIC's listing: rule 0 is as wanted, rule 1 sends to the wrong queue
        have = T.parse_ntuple_rules(NTUPLE)
        self.assertEqual(sorted(have), [0, 1])
        ok = [all(e in have.get(loc, "") for e in expect) for loc, _a, expect in rules]
        self.assertEqual(ok, [True, False])


STEER_H = os.path.join(ROOT, "refstack", "src", "steer.h")
CHECK_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "steer.h"
static struct rs_steer s;   /* no listener: an active connection's local port */
int main(int argc, char **argv)
{
	unsigned cores = atoi(argv[1]), sport = atoi(argv[2]), r = 1;
	while (r < cores)
		r *= 2;
	s.ncores = cores;
	s.rmask = r - 1;
	s.rfd = 1;
	for (unsigned d = 1024; d < 65536; d += 1 + d % 13)
		printf("%u %u\n", d, rs_steer_tuple(&s, 0xc6120a02, 0xc6120b02, sport, d));
	return 0;
}
"""


@unittest.skipUnless(os.path.exists(STEER_H), "refstack/src/steer.h (RFD's classifier) absent")
class RfdRulesMatchTheStackTest(unittest.TestCase):
    """Every ntuple rule the role writes sends a segment to the queue of the
    core refstack's own classifier (steer.h, compiled here) gives it."""

    def test_rules_against_rs_steer_tuple(self):
        with tempfile.TemporaryDirectory() as d:
            src, exe = os.path.join(d, "check.c"), os.path.join(d, "check")
            with open(src, "w") as f:
                f.write(CHECK_C)
            subprocess.run(["cc", "-O1", "-Wall", "-Werror", "-I", os.path.dirname(STEER_H),
                            "-o", exe, src], check=True)
            for cores in (1, 2, 3, 4, 6, 24):
                for port in (8080, 80):
                    rules = T.ntuple_wanted([port], cores, 0)
                    out = subprocess.run([exe, str(cores), str(port)], capture_output=True,
                                         text=True, check=True).stdout.split("\n")
                    for line in filter(None, out):
                        dport, core = map(int, line.split())
                        hit = [a for _l, a, _e in rules
                               if a[3] == str(port) and (dport & ~int(a[7], 16) & 0xFFFF)
                               == int(a[5])]
                        self.assertEqual(len(hit), 1, (cores, port, dport))
                        self.assertEqual(int(hit[0][-1]), core, (cores, port, dport))


if __name__ == "__main__":
    unittest.main()
