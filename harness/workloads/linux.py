"""The `linux` stack: the workloads' servers on the kernel's sockets, with
the tuning that shapes the numbers recorded per cell (see harness.registry
for the adapter contract)."""

import contextlib

from harness import procs
from harness.registry import WORKLOADS
from harness.workloads import servers as S
from harness.workloads.client import job_values


def server_sizes(cell, job_path):
    """req_size/resp_size of the crr/rr server: the job file's, then the
    profile's job options."""
    sizes = {"req_size": "64", "resp_size": "64"}
    sizes.update(job_values(job_path))
    sizes.update({k: str(v) for k, v in cell.get("job_options", {}).items()
                  if k in sizes})
    return sizes


def tsload_server_settings(cell, engine, sizes):
    settings = {"program": "tsload --server", "engine": engine, "threads": cell["cores"],
                "reuseport": True, "listen_backlog": 65535}
    settings.update(sizes)
    return settings


def nginx_settings(cores):
    return {"program": "nginx", "workers": cores, "worker_cpu_affinity": True,
            "accept_mutex": "off", "keepalive_timeout": 0, "reuseport": True,
            "access_log": "off", "file_bytes": S.STATIC_SIZE}


def haproxy_settings(cores, origins, origin_note):
    return {"program": "haproxy", "nbthread": cores, "cpu_map": True, "mode": "http",
            "keepalive": "off both sides (option httpclose)",
            "origins": ["%s:%d" % o for o in origins], "origin_server": origin_note}


def tsload_server(engine, wrap=None):
    """start() of a workload served by `tsload --server` (wrap: a launcher
    argv put in front, e.g. refstack/rs-run ... --)."""
    def start(lab, cell, rundir, job_path, servers):
        sizes = server_sizes(cell, job_path)
        srv = S.start_tsload_server(lab, cell, rundir, engine,
                                    WORKLOADS[cell["workload"]].port, sizes,
                                    wrap=wrap(lab, cell) if wrap else None)
        servers.append(srv)
        S.wait_accepting(lab, "client", [(srv["addr"], srv["port"])], [srv])
        settings = tsload_server_settings(cell, engine, sizes)
        return [srv], settings
    return start


def nginx(wrap=None):
    def start(lab, cell, rundir, job_path, servers):
        cores = cell["cores"]
        srv = S.start_nginx(lab, "server", "nginx", rundir, cores,
                            [(lab.addrs["server"], S.HTTP_PORT)],
                            cpus=procs.cpu_list(cores),
                            wrap=wrap(lab, cell) if wrap else None)
        servers.append(srv)
        S.wait_accepting(lab, "client", srv["probe"], [srv], path=S.HTTP_PROBE_PATH)
        return [srv], nginx_settings(cores)
    return start


def haproxy(wrap=None):
    def start(lab, cell, rundir, job_path, servers):
        cores = cell["cores"]
        origins = [(a, S.ORIGIN_PORT)
                   for a in [lab.addrs["backend"]] + lab.backend_extra]
        origin = S.start_nginx(lab, "backend", "origin", rundir, cores,
                               origins, cpus=None)
        servers.append(origin)
        # one-segment labs: the origins sit on the client's segment
        S.wait_accepting(lab, "client" if getattr(lab, "one_segment", False) else "server",
                         origins, [origin], path=S.HTTP_PROBE_PATH)
        hap = S.start_haproxy(lab, cell, rundir, origins,
                              wrap=wrap(lab, cell) if wrap else None)
        servers.append(hap)
        S.wait_accepting(lab, "client", [(hap["addr"], hap["port"])],
                         [origin, hap], path=S.HTTP_PROBE_PATH)
        return [hap], haproxy_settings(
            cores, origins, "nginx, %d workers, not pinned (stands for other machines)" % cores)
    return start


SERVERS = {"shortconn": tsload_server("crr"), "keepalive": tsload_server("rr"),
           "nginx": nginx(), "haproxy": haproxy()}


def missing_workload(workload):
    return "no server for it on linux"


def cannot_run(cell):
    return None


def cell_lab(lab, cell):
    return contextlib.nullcontext()


def lab_tuning(lab):
    info = lab.info or {}
    return {k: info.get(k) for k in ("kind", "queues_per_veth", "sysctls_set",
                                      "sysctls", "global_sysctls", "offloads",
                                      "rps", "nofile")}


def tuning(lab, cell, settings):
    cpus = procs.cpu_list(cell["cores"])
    return {"stack": cell["stack"], "server_cpus": cpus,
            "pinning": "taskset -c %s" % cpus,
            "client_cpus": cell.get("job_options", {}).get("cpus_allowed",
                                                           "unpinned"),
            "server": settings, "lab": lab_tuning(lab)}


def counters(servers):
    return None
