#!/usr/bin/python3
"""Ansible module: tune a lab host for one cell and say what it found and set."""

DOCUMENTATION = r"""
module: tcpscale_tune
short_description: Tune a tcpscale lab host for a cell (NIC queues, IRQs, RPS/XPS, ntuple, sysctls, offloads, governor)
description:
  - Reads every knob first and writes only those that differ, so a second
    run reports no change; in check mode it writes nothing and says what it
    would set.
  - A knob the host cannot have (a veth has no IRQs and no ntuple filters,
    a VM no cpufreq, a network namespace no global sysctls) is reported as
    "not applicable" with the reason instead of failing.
  - Returns C(tuning), one entry per knob C({want, was, status}), status
    being C(set), C(would set), C(unchanged) or C(not applicable: why).
options:
  cores: {description: Cores of the cell under test (servers on cores 0..N-1)., type: int, required: true}
  ifaces: {description: Data interfaces to tune., type: list, elements: str, default: []}
  channels: {description: '"cores", a number, or "" to leave the channels.', type: str, default: cores}
  irq_affinity: {description: k-th IRQ of an interface on core k mod cores., type: bool, default: true}
  rps: {description: '"queue" (rx queue i on core i mod cores), "off", or "".', type: str, default: queue}
  xps: {description: '"queue" (core i mod cores sends on tx queue i), "off", or "".', type: str, default: queue}
  ntuple_ifaces: {description: Interfaces that get RFD's port-steering rules., type: list, elements: str, default: []}
  ntuple_ports: {description: Source ports of the servers the host connects to., type: list, elements: int, default: [8080]}
  ntuple_first_loc: {description: First rule location tcpscale uses., type: int, default: 0}
  sysctls: {description: sysctl name to value as sysctl -n prints it., type: dict, default: {}}
  offloads: {description: ethtool feature name to on/off., type: dict, default: {}}
  governor: {description: CPU frequency governor of every core, "" to leave it., type: str, default: ""}
author: tcpscale
"""

RETURN = r"""
tuning: {description: per knob want/was/status, returned: always, type: dict}
"""

import glob
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

SYS_NET = "/sys/class/net"


# -- parsers (pure, tested on fixed text) ---------------------------------------
def parse_channels(text):
    """`ethtool -l` -> ({"RX": n, ...} maxima, {...} current); n/a fields left out."""
    parts = text.split("Current hardware settings:")
    if len(parts) != 2:
        return None, None

    def fields(s):
        return {k: int(v) for k, v in re.findall(r"^(RX|TX|Other|Combined):\s+([0-9]+)", s, re.M)}
    return fields(parts[0]), fields(parts[1])


def parse_ntuple_rules(text):
    """`ethtool -n` -> {location: rule text}."""
    out = {}
    for block in text.split("Filter: ")[1:]:
        loc = block.split(None, 1)[0]
        if loc.isdigit():
            out[int(loc)] = block
    return out


def parse_mask(text):
    """rps_cpus / xps_cpus text ("00000000,00000003") -> int."""
    return int(text.strip().replace(",", "") or "0", 16)


def irqs_of(interrupts, iface):
    """IRQ numbers of iface's queues in queue order: those named IFACE-...-N
    (e.g. enp1s0f0-TxRx-3) sorted by N; the device's other IRQs (link,
    admin, named IFACE alone) only when it has no queue IRQs."""
    queues, others = [], []
    for line in interrupts.splitlines()[1:]:
        parts = line.split()
        if not parts or not parts[0].rstrip(":").isdigit() or not parts[-1].startswith(iface):
            continue
        irq, rest = int(parts[0].rstrip(":")), parts[-1][len(iface):]
        m = re.fullmatch(r"[-_@].*?([0-9]+)", rest)
        if m:
            queues.append((int(m.group(1)), irq))
        elif rest == "":
            others.append(irq)
    return [irq for _q, irq in sorted(queues)] if queues else others


def rfd_r(cores):
    """R of RFD: cores rounded up to a power of two."""
    r = 1
    while r < cores:
        r *= 2
    return r


def ntuple_wanted(ports, cores, first_loc):
    """[(loc, ethtool -N args, texts `ethtool -n` shows for it)] of RFD's rules:
    a segment from port P to port d goes to queue (d & (R - 1)) % cores, the
    core refstack's classifier gives it (refstack/src/steer.h: a reply to an
    active connection; the fold keeps every queue below `cores`)."""
    r = rfd_r(cores)
    mask = 0xFFFF & ~(r - 1)        # ethtool's m: 1-bits are ignored
    out = []
    for j, port in enumerate(ports):
        for c in range(r):
            q = c % cores
            args = ["flow-type", "tcp4", "src-port", str(port), "dst-port", str(c),
                    "m", "0x%x" % mask, "action", str(q)]
            expect = ["Src port: %d mask: 0x0" % port, "Dest port: %d mask: 0x%x" % (c, mask),
                      "Action: Direct to queue %d" % q]
            out.append((first_loc + j * r + c, args, expect))
    return out


# -- the host -------------------------------------------------------------------
class Tuner:
    def __init__(self, module):
        self.m = module
        self.p = module.params
        self.report = {}
        self.changed = False

    def run(self, argv):
        rc, out, err = self.m.run_command(argv)
        return rc, out, err

    def must(self, argv):
        rc, out, err = self.run(argv)
        if rc != 0:
            self.m.fail_json(msg="%s: exit %d: %s" % (" ".join(argv), rc, (err or out).strip()),
                             tuning=self.report)
        return out

    def record(self, key, want, was, applies, why=None, apply=None):
        """One knob: not applicable, unchanged, or (would) set through apply()."""
        if not applies:
            status = "not applicable: " + why
        elif want == was:
            status = "unchanged"
        elif self.m.check_mode:
            status = "would set"
            self.changed = True
        else:
            apply()
            status = "set"
            self.changed = True
        self.report[key] = {"want": want, "was": was, "status": status}

    def write(self, path, value):
        def apply():
            try:
                with open(path, "w") as f:
                    f.write(value)
            except OSError as e:
                self.m.fail_json(msg="%s: %s" % (path, e.strerror), tuning=self.report)
        return apply

    # -- knobs --------------------------------------------------------------------
    def sysctls(self):
        for key, want in sorted(self.p["sysctls"].items()):
            want = " ".join(str(want).split())
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path) as f:
                    was = " ".join(f.read().split())
            except OSError:
                self.record("sysctl/" + key, want, None, False,
                            "no such sysctl here (a global knob seen from a network namespace?)")
                continue
            self.record("sysctl/" + key, want, was, True, apply=self.write(path, want))

    def channels(self, dev):
        spec = self.p["channels"]
        if not spec:
            return
        n = self.p["cores"] if spec == "cores" else int(spec)
        rc, out, err = self.run(["ethtool", "-l", dev])
        mx, cur = parse_channels(out) if rc == 0 else (None, None)
        key = dev + "/channels"
        if not mx:
            self.record(key, str(n), None, False, "the driver reports no channels (%s)"
                        % (err.strip() or "ethtool -l"))
            return
        if mx.get("Combined", 0) > 0:
            names = ["combined"]
        elif mx.get("RX", 0) > 0 and mx.get("TX", 0) > 0:
            names = ["rx", "tx"]
        else:
            self.record(key, str(n), None, False, "the driver allows no change of channels")
            return
        args, was = [], []
        for name in names:
            k = name.upper() if name != "combined" else "Combined"
            args += [name, str(min(n, mx[k]))]
            was += [name, str(cur.get(k, 0))]
        self.record(key, " ".join(args), " ".join(was), True,
                    apply=lambda: self.must(["ethtool", "-L", dev] + args))

    def irq_affinity(self, dev):
        if not self.p["irq_affinity"]:
            return
        key = dev + "/irq_affinity"
        if not os.path.isdir(os.path.join(SYS_NET, dev, "device", "msi_irqs")):
            self.record(key, None, None, False, "the interface has no IRQs of its own (a virtual device)")
            return
        with open("/proc/interrupts") as f:
            irqs = irqs_of(f.read(), dev)
        if not irqs:
            self.record(key, None, None, False, "no IRQ named after the interface in /proc/interrupts")
            return
        cores = self.p["cores"]
        for k, irq in enumerate(irqs):
            path = "/proc/irq/%d/smp_affinity_list" % irq
            with open(path) as f:
                was = f.read().strip()
            self.record("%s/irq%d" % (dev, irq), str(k % cores), was, True,
                        apply=self.write(path, str(k % cores)))

    def queues(self, dev, kind, fname, mode):
        if not mode:
            return
        dirs = sorted(glob.glob(os.path.join(SYS_NET, dev, "queues", kind + "-*")),
                      key=lambda d: int(d.rsplit("-", 1)[1]))
        paths = [os.path.join(d, fname) for d in dirs if os.path.exists(os.path.join(d, fname))]
        if not paths:
            self.record("%s/%s" % (dev, fname), mode, None, False,
                        "no %s on this interface (no queues, or a kernel without RPS/XPS)" % fname)
            return
        for path in paths:
            i = int(os.path.basename(os.path.dirname(path)).rsplit("-", 1)[1])
            want = 0 if mode == "off" else 1 << (i % self.p["cores"])
            with open(path) as f:
                was = parse_mask(f.read())
            self.record("%s/%s-%d/%s" % (dev, kind, i, fname), "%x" % want, "%x" % was, True,
                        apply=self.write(path, "%x" % want))

    def features(self, dev):
        out = self.must(["ethtool", "--json", "-k", dev])
        return json.loads(out)[0]

    def ntuple(self, dev, feats):
        key = dev + "/ntuple"
        f = feats.get("ntuple-filters")
        if f is None or (f["fixed"] and not f["active"]):
            self.record(key, "on", "off", False, "ntuple-filters off [fixed]: the NIC cannot steer "
                        "by port (refstack's software steering does it)")
            return
        self.record(key, "on", "on" if f["active"] else "off", True,
                    apply=lambda: self.must(["ethtool", "-K", dev, "ntuple", "on"]))
        rc, out, err = self.run(["ethtool", "-n", dev])
        have = parse_ntuple_rules(out) if rc == 0 else {}
        for loc, args, expect in ntuple_wanted(self.p["ntuple_ports"], self.p["cores"],
                                               self.p["ntuple_first_loc"]):
            block = have.get(loc, "")
            ok = all(e in block for e in expect)

            def apply(loc=loc, args=args, block=block):
                if block:
                    self.must(["ethtool", "-N", dev, "delete", str(loc)])
                self.must(["ethtool", "-N", dev] + args + ["loc", str(loc)])
            self.record("%s/ntuple/%d" % (dev, loc), " ".join(args),
                        " ".join(args) if ok else (" ".join(block.split()[1:]) or None), True,
                        apply=apply)

    def offloads(self, dev, feats):
        for name, want in sorted(self.p["offloads"].items()):
            want = "on" if str(want).lower() in ("on", "true", "1", "yes") else "off"
            f = feats.get(name)
            key = "%s/offload/%s" % (dev, name)
            if f is None:
                self.record(key, want, None, False, "no such feature on this interface")
                continue
            was = "on" if f["active"] else "off"
            self.record(key, want, was, not (f["fixed"] and was != want), "fixed " + was,
                        apply=lambda name=name, want=want: self.must(["ethtool", "-K", dev, name, want]))

    def governor(self):
        want = self.p["governor"]
        if not want:
            return
        paths = sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))
        if not paths:
            self.record("governor", want, None, False, "no cpufreq on this host (a VM, or a fixed clock)")
            return
        for path in paths:
            with open(path) as f:
                was = f.read().strip()
            cpu = path.split("/")[5]
            self.record("governor/" + cpu, want, was, True, apply=self.write(path, want))

    def tune(self):
        self.sysctls()
        for dev in self.p["ifaces"]:
            if not os.path.isdir(os.path.join(SYS_NET, dev)):
                self.m.fail_json(msg="interface %s (tcpscale_tune_ifaces) does not exist on this host"
                                 % dev, tuning=self.report)
            self.channels(dev)
            self.irq_affinity(dev)
            self.queues(dev, "rx", "rps_cpus", self.p["rps"])
            self.queues(dev, "tx", "xps_cpus", self.p["xps"])
            feats = self.features(dev)
            if dev in self.p["ntuple_ifaces"]:
                self.ntuple(dev, feats)
            self.offloads(dev, feats)
        self.governor()


def main():
    module = AnsibleModule(
        argument_spec={
            "cores": {"type": "int", "required": True},
            "ifaces": {"type": "list", "elements": "str", "default": []},
            "channels": {"type": "str", "default": "cores"},
            "irq_affinity": {"type": "bool", "default": True},
            "rps": {"type": "str", "default": "queue", "choices": ["queue", "off", ""]},
            "xps": {"type": "str", "default": "queue", "choices": ["queue", "off", ""]},
            "ntuple_ifaces": {"type": "list", "elements": "str", "default": []},
            "ntuple_ports": {"type": "list", "elements": "int", "default": [8080]},
            "ntuple_first_loc": {"type": "int", "default": 0},
            "sysctls": {"type": "dict", "default": {}},
            "offloads": {"type": "dict", "default": {}},
            "governor": {"type": "str", "default": ""},
        },
        supports_check_mode=True)
    if module.params["cores"] < 1:
        module.fail_json(msg="cores=%d: expected at least 1" % module.params["cores"])
    spec = module.params["channels"]
    if spec not in ("", "cores") and not spec.isdigit():
        module.fail_json(msg="channels=%r: expected \"cores\", a number or \"\"" % spec)
    t = Tuner(module)
    t.tune()
    module.exit_json(changed=t.changed, tuning=t.report)


if __name__ == "__main__":
    main()
