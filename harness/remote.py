"""A lab of real machines described by an Ansible inventory: the second
implementation of the lab interface the local netns lab has.

    lab = AnsibleLab(inventory, cores)
    info = lab.up()                      # deploy the tree, describe the hosts
    result = run_cell(lab, cell, outdir) # same result dict as workloads.run_cell
    lab.down()                           # stop whatever the run left on the hosts

The inventory names the hosts by group: exactly one in tcpscale_servers
(the machine under test, two data NICs), one or more in tcpscale_clients
(each runs the cell's tsload job in full; their rates add up) and, for the
haproxy workload, one or more in tcpscale_backends (the origin servers).
Host variables read here (all documented in ansible/inventories/example):

    tcpscale_addr           the host's data address (server: client-facing)
    tcpscale_backend_addr   server: its backend-facing address
    tcpscale_source_addrs   client: source addresses for tsload
    tcpscale_origin_addrs   backend: addresses the origin servers listen on
    tcpscale_cores          server: its core count (a suite's "max")

Every cell is one run of ansible/playbooks/cell.yml (tuned first by
tune.yml when its core count differs from the last cell's); a failed task
or an unreachable host stops the run with the host and the task named
(RunStop), after the cell's processes are stopped on every reachable host.
"""
import os
import shutil
import signal
import subprocess
import tarfile
import time

from harness import REPO_ROOT, procs, store
from harness import ansible_run as A
from harness.lab import NOFILE, SYSCTLS
from harness.workloads import servers as S
from harness.workloads import CellError, PORTS, SERVER_PROGRAMS, WORKLOADS, _job_path
from harness.workloads.linux import (haproxy_settings, nginx_settings, server_sizes,
                                     tsload_server_settings)
from harness.workloads import mtcp
from harness.workloads.client import client_argv

GROUPS = {"server": "tcpscale_servers", "client": "tcpscale_clients",
          "backend": "tcpscale_backends"}
STACKS = ("linux", "mtcp")
TSLOAD = "@TREE@/loadgen/tsload"


class RunStop(Exception):
    """The lab failed (a task, a host): the run stops after this cell."""


# -- the inventory ------------------------------------------------------------------
def read_lab(inventory):
    """Hosts by role with their variables; raises CellError-free LabError."""
    from harness.lab import LabError
    try:
        inv = A.read_inventory(inventory)
    except A.AnsibleError as e:
        raise LabError(str(e)) from None
    hv = inv["hostvars"]
    hosts = {role: sorted(inv["groups"].get(g, [])) for role, g in GROUPS.items()}
    where = "inventory %s" % inventory
    if len(hosts["server"]) != 1:
        raise LabError("%s: group tcpscale_servers: expected exactly one host, got %d%s"
                       % (where, len(hosts["server"]),
                          " (%s)" % ", ".join(hosts["server"]) if hosts["server"] else ""))
    if not hosts["client"]:
        raise LabError("%s: group tcpscale_clients: expected at least one host" % where)
    for role, names in hosts.items():
        for h in names:
            if not hv.get(h, {}).get("tcpscale_addr"):
                raise LabError("%s: host %s (%s): tcpscale_addr is not set (its data address)"
                               % (where, h, GROUPS[role]))
    return {"inventory": os.path.abspath(inventory), "hosts": hosts, "hostvars": hv}


def server_cores(inventory):
    """The server's core count from the inventory (a suite's "max")."""
    from harness.lab import LabError
    lab = read_lab(inventory)
    server = lab["hosts"]["server"][0]
    cores = lab["hostvars"][server].get("tcpscale_cores")
    if not isinstance(cores, int) or cores < 1:
        raise LabError("inventory %s: host %s: tcpscale_cores is %r, expected the server's "
                       "core count (an integer >= 1)" % (inventory, server, cores))
    return cores


NIC_FIELDS = (("driver", str), ("speed_mbps", int), ("rx_queues", int), ("tx_queues", int),
              ("mtu", int))


def parse_probe(lines):
    """The deploy's description of a host: "key=value" lines, "addr=ADDRESS
    IFACE MAC" and "nic=IFACE DRIVER SPEED RXQ TXQ MTU" lines ->
    ({key: value}, {address: {iface, mac}}, {iface: {driver, speed_mbps, ...}})."""
    probe, addrs, nics = {}, {}, {}
    for line in lines:
        key, _, value = line.partition("=")
        parts = value.split()
        if key == "addr":
            if len(parts) == 3:
                addrs[parts[0]] = {"iface": parts[1], "mac": parts[2]}
        elif key == "nic":
            if len(parts) == 1 + len(NIC_FIELDS):
                nics[parts[0]] = {k: (int(v) if t is int and v.lstrip("-").isdigit() else
                                      None if t is int else v)
                                  for (k, t), v in zip(NIC_FIELDS, parts[1:])}
        elif key:
            probe[key] = value.strip()
    return probe, addrs, nics


def lab_config(inventory):
    """What the stacks registry needs to know of this lab (harness.registry.LAB_CONFIG)."""
    lab = read_lab(inventory)
    server = lab["hosts"]["server"][0]
    return {"where": "inventory %s" % inventory,
            "mtcp_home": lab["hostvars"][server].get("tcpscale_mtcp_home")}


def tree_archive(path):
    """The checkout's files (tracked and new, not ignored) as a .tar.gz with
    their own mtimes, so an unchanged tree unpacks as "no change" and a
    changed file rebuilds."""
    from harness.lab import LabError
    try:
        res = procs.run(["git", "-C", REPO_ROOT, "ls-files", "-z", "-c", "-o",
                         "--exclude-standard"], timeout=60)
    except procs.ProcError as e:
        raise LabError("cannot pack the tree to deploy (%s needs to be a git checkout): %s"
                       % (REPO_ROOT, e)) from None
    names = sorted(n for n in res.stdout.split("\0") if n)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for n in names:
            full = os.path.join(REPO_ROOT, n)
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            ti = tar.gettarinfo(full, arcname=n)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            with open(full, "rb") as f:
                tar.addfile(ti, f)
    return path


# -- the lab ------------------------------------------------------------------------
class AnsibleLab:
    """The lab interface of harness.lab.Lab, on the hosts of an inventory."""

    kind = "ansible"

    def __init__(self, inventory, cores):
        self.inventory = os.path.abspath(inventory)
        self.cores = cores
        self.conf = None
        self.info = None
        self.run_id = None
        self.workdir = None
        self.tuned = {}           # cores -> tuning report per host
        self.last_cores = None
        self.watch = None         # called with each playbook's Tracker as tasks go
        self.cleaned = False      # the run's processes are stopped on every host

    def playbook(self, name, extra_vars, log_path):
        return A.playbook(self.inventory, name, extra_vars, log_path, on_change=self.watch)

    # life cycle
    def up(self, run_id="run", workdir=None):
        from harness.lab import LabError
        self.conf = read_lab(self.inventory)
        self.run_id = run_id
        self.workdir = workdir or os.path.join(REPO_ROOT, "build", "ansible", run_id)
        os.makedirs(self.workdir, exist_ok=True)
        archive = tree_archive(os.path.join(self.workdir, "tree.tar.gz"))
        try:
            res = self.playbook("deploy.yml", {"tcpscale_deploy_archive": archive},
                                os.path.join(self.workdir, "deploy.json"))
        finally:
            os.unlink(archive)
        if not res.ok:
            raise LabError("deploy: " + res.error())
        self.info = self._describe(res)
        return self.info

    def down(self):
        """Stop every process this run started on every reachable host
        (already done when an interrupted cell's cleaning succeeded)."""
        if self.conf is None or self.run_id is None or self.cleaned:
            return None
        res = self.playbook("cell.yml", self._cell_vars("clean", {}, "none"),
                            os.path.join(self.workdir, "clean.json"))
        self.conf = None
        return None if res.ok else res.error()

    def _describe(self, deploy):
        hosts = {}
        facts = deploy.custom.get("hosts", {})
        for role, names in self.conf["hosts"].items():
            for h in names:
                v = self.conf["hostvars"].get(h, {})
                d = {"role": role, "ansible_host": v.get("ansible_host", h),
                     "addr": v.get("tcpscale_addr")}
                for k in ("tcpscale_backend_addr", "tcpscale_source_addrs",
                          "tcpscale_origin_addrs", "tcpscale_tune_ifaces"):
                    if k in v:
                        d[k[len("tcpscale_"):]] = v[k]
                d.update(facts.get(h, {}))
                probe, d["addrs"], d["nics"] = parse_probe(d.pop("probe", []))
                if "mtcp" in probe:
                    d["mtcp"] = probe["mtcp"]
                d["versions"] = {k: probe[k] for k in ("nginx", "haproxy", "perf")
                                 if probe.get(k)}
                d.update({k: int(probe[k]) if probe.get(k, "").isdigit() else probe.get(k)
                          for k in ("cpus", "cpu_model", "mem_kib", "arch")})
                d["loadavg"] = [float(x) for x in probe["loadavg"].split()] \
                    if probe.get("loadavg") else None
                d["nofile"] = min(NOFILE, int(probe["nofile"])) \
                    if probe.get("nofile", "").isdigit() else NOFILE
                hosts[h] = d
        return {"kind": self.kind, "inventory": self.inventory, "cores": self.cores,
                "server": self.conf["hosts"]["server"][0], "hosts": hosts,
                "deploy_changed": deploy.changed()}

    # addresses
    def host(self, role):
        return self.conf["hosts"][role][0]

    def var(self, host, key, default=None):
        return self.conf["hostvars"].get(host, {}).get(key, default)

    def _cell_vars(self, action, specs, cell_id, fetch_to=""):
        return {"tcpscale_cell_action": action, "tcpscale_cell_run_id": self.run_id,
                "tcpscale_cell_id": cell_id, "tcpscale_cell_specs": specs,
                "tcpscale_cell_fetch_to": fetch_to}

    def tune(self, cores):
        """Tune the hosts for `cores` (once per change of core count)."""
        if cores == self.last_cores:
            return self.tuned[cores], None
        res = self.playbook("tune.yml", {"tcpscale_tune_cores": cores},
                            os.path.join(self.workdir, "tune-c%d.json" % cores))
        if not res.ok:
            return None, "tuning: " + res.error()
        self.tuned[cores] = res.custom.get("tuning", {})
        self.last_cores = cores
        return self.tuned[cores], None


# -- one cell -------------------------------------------------------------------------
def check_cell(lab, cell):
    cid = cell["id"]
    if cell["stack"] not in STACKS:
        raise CellError("cell %s: stack %s not supported on an Ansible lab (supported: %s)"
                        % (cid, cell["stack"], ", ".join(STACKS)))
    if cell["workload"] not in WORKLOADS:
        raise CellError("cell %s: unknown workload %r" % (cid, cell["workload"]))
    if cell["stack"] == "mtcp":
        mtcp_conf(lab, cid)
    if not isinstance(cell["cores"], int) or not 1 <= cell["cores"] <= lab.cores:
        raise CellError("cell %s: cores=%r, expected 1..%d (the server's tcpscale_cores)"
                        % (cid, cell["cores"], lab.cores))
    if cell["workload"] == "haproxy" and not lab.conf["hosts"]["backend"]:
        raise CellError("cell %s: haproxy needs a host in group tcpscale_backends "
                        "(inventory %s)" % (cid, lab.inventory))
    if not os.path.exists(_job_path(cell["job"])):
        raise CellError("cell %s: job file %s not found" % (cid, cell["job"]))


def mtcp_conf(lab, cid):
    """The server's mTCP settings, checked: configured, installed (as the
    deploy found it), valid; CellError saying what to set otherwise."""
    server = lab.host("server")
    where = "inventory %s" % lab.inventory
    try:
        conf = mtcp.read_conf(lab.conf["hostvars"].get(server, {}), where)
    except mtcp.MtcpError as e:
        raise CellError("cell %s: %s" % (cid, e)) from None
    found = lab.info["hosts"].get(server, {}).get("mtcp", "")
    if found != "ok":
        raise CellError("cell %s: stack mtcp: %s on host %s (build mTCP's example apps there: "
                        "make -C %s/apps/example)" % (cid, found or "not checked", server,
                                                     conf["home"]))
    return conf


def mtcp_arp(lab):
    """(address, MAC) of every client address the server will answer."""
    out = []
    for c in lab.conf["hosts"]["client"]:
        addrs = lab.info["hosts"].get(c, {}).get("addrs", {})
        for a in [lab.var(c, "tcpscale_addr")] + list(lab.var(c, "tcpscale_source_addrs", [])):
            if a in addrs and a not in [x for x, _ in out]:
                out.append((a, addrs[a]["mac"]))
    return out


def mtcp_specs(lab, cell):
    """{server: spec} of epserver for an HTTP cell, and its settings."""
    cores = cell["cores"]
    server = lab.host("server")
    addr = lab.var(server, "tcpscale_addr")
    conf = mtcp_conf(lab, cell["id"])
    files = mtcp.cell_files(conf, cores, addr, mtcp_arp(lab))
    files["www/" + S.STATIC_FILE] = S.STATIC_CONTENT.decode()
    argv = mtcp.epserver_argv(conf["home"], "@CELL@/www", "@CELL@/mtcp.conf", cores)
    return {server: {"programs": [_program("epserver", argv, None, [(addr, S.HTTP_PORT)])],
                     "files": files, "measure": ["epserver"], "cpus": procs.cpu_list(cores)}}, \
        mtcp.settings(conf, cores)


def _program(name, argv, cpus, ready):
    return {"name": name, "argv": argv, "cpus": cpus, "ready": [list(r) for r in ready]}


def _nofile(lab, host):
    """The fd limit the agent can give the host's servers (read at deploy)."""
    return lab.info["hosts"].get(host, {}).get("nofile", NOFILE)


def _nginx_files(name, cores, listens, pinned, nofile):
    ndir = "@CELL@/" + name
    return {name + ".conf": S.nginx_config(ndir, "@CELL@/www", cores, listens, pinned, nofile),
            name + "/.keep": "", "www/" + S.STATIC_FILE: S.STATIC_CONTENT.decode()}, \
        S.nginx_argv(ndir, "@CELL@/%s.conf" % name)


def server_specs(lab, cell):
    """{host: spec} of the servers of a cell, and the server settings."""
    if cell["stack"] == "mtcp":
        return mtcp_specs(lab, cell)
    cores, wl = cell["cores"], cell["workload"]
    cpus = procs.cpu_list(cores)
    server = lab.host("server")
    addr, port = lab.var(server, "tcpscale_addr"), PORTS[wl]
    specs = {server: {"programs": [], "files": {}, "measure": [], "cpus": cpus}}
    if wl in ("shortconn", "keepalive"):
        engine = "crr" if wl == "shortconn" else "rr"
        sizes = server_sizes(cell, _job_path(cell["job"]))
        argv = S.tsload_server_argv(TSLOAD, addr, port, cores, engine, sizes,
                                    "@CELL@/tsload-server.json")
        specs[server]["programs"].append(_program("tsload-server", argv, cpus, [(addr, port)]))
        specs[server]["measure"] = ["tsload-server"]
        return specs, tsload_server_settings(cell, engine, sizes)
    if wl == "nginx":
        files, argv = _nginx_files("nginx", cores, [(addr, port)], True, _nofile(lab, server))
        specs[server]["files"].update(files)
        specs[server]["programs"].append(_program("nginx", argv, cpus, [(addr, port)]))
        specs[server]["measure"] = ["nginx"]
        return specs, nginx_settings(cores)
    origins = []
    for b in lab.conf["hosts"]["backend"]:
        listens = [(a, S.ORIGIN_PORT) for a in lab.var(b, "tcpscale_origin_addrs",
                                                       [lab.var(b, "tcpscale_addr")])]
        files, argv = _nginx_files("origin", cores, listens, False, _nofile(lab, b))
        specs[b] = {"programs": [_program("origin", argv, None, listens)], "files": files,
                    "measure": ["origin"]}
        origins += listens
    cfg = S.haproxy_config("@CELL@", cores, (addr, port), origins, _nofile(lab, server))
    specs[server]["files"]["haproxy.cfg"] = cfg
    specs[server]["programs"].append(_program("haproxy", ["haproxy", "-db", "-f",
                                                          "@CELL@/haproxy.cfg"], cpus,
                                              [(addr, port)]))
    specs[server]["measure"] = ["haproxy"]
    return specs, haproxy_settings(cores, origins, "nginx on %d backend host(s), %d workers "
                                   "each, not pinned" % (len(lab.conf["hosts"]["backend"]), cores))


def cell_specs(lab, cell):
    """{host: the agent's spec} for every host of the lab, and the settings."""
    specs, settings = server_specs(lab, cell)
    server = lab.host("server")
    addr, port = lab.var(server, "tcpscale_addr"), PORTS[cell["workload"]]
    with open(_job_path(cell["job"])) as f:
        job = f.read()
    for c in lab.conf["hosts"]["client"]:
        argv = client_argv(cell, "@CELL@/job.ini", addr, port, "@CELL@/tsload.json",
                           tsload=TSLOAD)
        src = lab.var(c, "tcpscale_source_addrs") or [lab.var(c, "tcpscale_addr")]
        if "source_addrs" not in cell.get("job_options", {}):
            argv.append("--source_addrs=%s" % ",".join(src))
        specs[c] = {"files": {"job.ini": job}, "programs": [], "measure": [],
                    "client": {"name": "tsload", "argv": argv}, "wait_for": [[addr, port]]}
    for role, names in lab.conf["hosts"].items():
        for h in names:
            s = specs.setdefault(h, {"programs": [], "files": {}, "measure": []})
            s.update({"host": h, "role": role, "ramp_s": cell["ramp_s"],
                      "runtime_s": cell["runtime_s"],
                      "collectors": bool(cell.get("collectors", True)),
                      "perf_mode": cell.get("perf_mode", "procs")})
            s.setdefault("cpus", None)
            s.setdefault("client", None)
    return specs, settings


def _unpack(fetch_dir, outdir, cid):
    """Every host's HOST.tar.gz -> outdir/CID.hosts/HOST/; {host: folder}."""
    out = {}
    for name in sorted(os.listdir(fetch_dir)) if os.path.isdir(fetch_dir) else []:
        if not name.endswith(".tar.gz"):
            continue
        host = name[:-len(".tar.gz")]
        dest = os.path.join(outdir, cid + ".hosts", host)
        os.makedirs(dest, exist_ok=True)
        with tarfile.open(os.path.join(fetch_dir, name)) as tar:
            members = [m for m in tar.getmembers() if (m.isfile() or m.isdir())
                       and not m.name.startswith("/") and ".." not in m.name.split("/")]
            tar.extractall(dest, members=members)
        out[host] = dest
    return out


def _merge(lab, result, folders, outdir):
    """tsload JSON of the clients, collectors of the server (TCP counters of
    every host), artefacts: from the fetched folders into result."""
    jobs, per_client = [], {}
    for c in lab.conf["hosts"]["client"]:
        path = os.path.join(folders.get(c, ""), "tsload.json")
        if os.path.exists(path):
            data = store.read_json(path)
            per_client[c] = data
            jobs += data.get("jobs", [])
    if len(per_client) == 1:
        result["tsload"] = next(iter(per_client.values()))
    elif per_client:
        result["tsload"] = {"jobs": jobs, "clients": per_client}
    server = lab.host("server")
    colls = {}
    for role, names in lab.conf["hosts"].items():
        for h in names:
            path = os.path.join(folders.get(h, ""), "collectors.json")
            if os.path.exists(path):
                colls[h] = (role, store.read_json(path).get("summary") or {})
    if server in colls and colls[server][1]:
        summary = dict(colls[server][1])
        roles = [r for r, _ in colls.values()]
        summary["snmp_hosts"] = {(r if roles.count(r) == 1 else h): s.get("snmp_hosts", {}).get(r, {})
                                 for h, (r, s) in colls.items()}
        result["collectors"] = summary
    arts = {}
    for h, d in folders.items():
        for name in sorted(os.listdir(d)):
            arts["%s/%s" % (h, name)] = os.path.relpath(os.path.join(d, name), outdir)
    client0 = lab.conf["hosts"]["client"][0]
    if client0 in folders and os.path.exists(os.path.join(folders[client0], "tsload.json")):
        arts["tsload"] = os.path.relpath(os.path.join(folders[client0], "tsload.json"), outdir)
    result["artefacts"] = arts


def _mtcp_output(lab, result, folders):
    """What epserver printed, parsed into the record (collectors.stack)."""
    path = os.path.join(folders.get(lab.host("server"), ""), "epserver.log")
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return
    parsed = mtcp.parse_output(text)
    result.setdefault("collectors", {})["stack"] = {"mtcp": parsed}
    if parsed["errors"] and result["status"] == "ok":
        result["status"], result["error"] = "error", "mTCP: " + parsed["errors"][-1]


def _check_tsload(result, cid):
    if result["status"] != "ok":
        return
    if result["tsload"] is None:
        result["status"], result["error"] = "error", "cell %s: tsload wrote no JSON" % cid
        return
    jobs = [j for j in result["tsload"].get("jobs", []) if j.get("role", "client") == "client"]
    if not jobs or not all(j.get("transactions") for j in jobs):
        result["status"] = "error"
        result["error"] = "cell %s: tsload completed no transaction (errors: %s)" % (
            cid, [j.get("errors") for j in jobs])


def run_cell(lab, cell, outdir, on_interval=None):
    """Run one cell on the lab's hosts; the result of workloads.run_cell.

    A failed task or an unreachable host returns status "error" with
    "stop_run" set: the caller stops the run after recording the cell."""
    cid = cell["id"]
    if cell["stack"] == "mtcp":
        why = mtcp.no_equivalent(cell["workload"])
        if not why:
            try:
                conf = mtcp.read_conf(lab.conf["hostvars"].get(lab.host("server"), {}),
                                      "inventory %s" % lab.inventory)
                why = mtcp.check_cores(cell["cores"], conf["max_cpus"])
            except mtcp.MtcpError:
                pass                     # check_cell says what to configure
        if why:
            return {"status": "cannot-run", "error": "cell %s: %s" % (cid, why), "tsload": None,
                    "collectors": {}, "tuning": {"stack": "mtcp"}, "servers": {},
                    "artefacts": {}}
    if cell.get("tsload"):       # a reference build lives on this machine only
        return {"status": "cannot-run", "tsload": None, "collectors": {},
                "error": "cell %s: the reference build (suite reference) is "
                         "measured on the local lab only; the gate compares "
                         "this cell with the history" % cid,
                "tuning": {"stack": cell["stack"]}, "servers": {}, "artefacts": {}}
    check_cell(lab, cell)
    os.makedirs(outdir, exist_ok=True)
    fetch_dir = os.path.join(lab.workdir, cid)
    shutil.rmtree(fetch_dir, ignore_errors=True)
    os.makedirs(fetch_dir)
    versions = lab.info["hosts"][lab.host("server")].get("versions", {})
    result = {"status": "ok", "error": None, "tsload": None, "collectors": {}, "tuning": None,
              "servers": {p: versions[p] for p in SERVER_PROGRAMS[cell["workload"]]
                          if versions.get(p)}, "artefacts": {}}
    specs, settings = cell_specs(lab, cell)
    result["tuning"] = {"stack": cell["stack"], "server_cpus": procs.cpu_list(cell["cores"]),
                        "pinning": "taskset -c %s" % procs.cpu_list(cell["cores"]),
                        "client_cpus": cell.get("job_options", {}).get("cpus_allowed",
                                                                       "unpinned"),
                        "server": settings, "hosts": {},
                        "lab": {"kind": lab.kind, "sysctls_set": dict(SYSCTLS)}}
    log = os.path.join(outdir, cid + ".ansible.json")
    res = None
    try:
        tuning, err = lab.tune(cell["cores"])
        result["tuning"]["hosts"] = tuning or {}
        if err:
            result.update(status="error", error="cell %s: %s" % (cid, err), stop_run=True)
            return result
        res = lab.playbook("cell.yml", lab._cell_vars("run", specs, cid, fetch_dir), log)
    except KeyboardInterrupt as e:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            clean = lab.playbook("cell.yml", lab._cell_vars("clean", {}, cid),
                                 os.path.join(outdir, cid + ".clean.json"))
        finally:
            signal.signal(signal.SIGINT, old)
        lab.cleaned = clean.ok
        result.update(status="interrupted", error="cell %s interrupted (Ctrl-C or SIGTERM) in %s; "
                      "%s" % (cid, e or "the harness",
                              "its processes were stopped on every host" if clean.ok else
                              "stopping its processes failed: " + clean.error()))
    if res is not None and not res.ok:
        result.update(status="error", error="cell %s: %s" % (cid, res.error()), stop_run=True)
    folders = _unpack(fetch_dir, outdir, cid)
    _merge(lab, result, folders, outdir)
    if cell["stack"] == "mtcp":
        _mtcp_output(lab, result, folders)
    result["artefacts"]["ansible"] = os.path.relpath(log, outdir)
    _check_tsload(result, cid)
    return result
