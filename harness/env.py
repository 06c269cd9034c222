"""Environment capture: what machine, kernel, code and tools made a result."""
import os
import platform
import re
import socket
import subprocess
import sys

from . import REPO_ROOT, __version__

# Host-wide sysctls that shape short-connection results (the lab's own
# per-namespace settings are recorded by lab.up() as "tuning").
HOST_SYSCTLS = (
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_syncookies",
    "kernel.perf_event_paranoid",
)

# tool name -> (argv, regex extracting the version from stdout+stderr)
TOOLS = {
    "nginx": (["nginx", "-v"], r"nginx/(\S+)"),
    "haproxy": (["haproxy", "-v"], r"version (\S+)"),
    "perf": (["perf", "--version"], r"perf version (\S+)"),
    "chromium": (["chromium", "--version"], r"Chromium (\S+)"),
}


def _run(argv, cwd=None, timeout=10):
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                           timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return p


def git_info(repo=REPO_ROOT):
    p = _run(["git", "rev-parse", "HEAD"], cwd=repo)
    sha = p.stdout.strip() if p is not None and p.returncode == 0 else ""
    dirty = None
    if sha:
        p = _run(["git", "status", "--porcelain", "--untracked-files=no"],
                 cwd=repo)
        dirty = bool(p.stdout.strip()) if p is not None \
            and p.returncode == 0 else None
    return {"sha": sha or None, "short": sha[:8] if sha else None,
            "dirty": dirty, "branch": git_branch(repo) if sha else None}


# CI systems check out a detached commit; they name the branch here.
BRANCH_VARS = ("TCPSCALE_BRANCH", "CI_COMMIT_BRANCH", "GITHUB_REF_NAME")


def git_branch(repo=REPO_ROOT):
    """The branch a run measures (the gate's history is per branch)."""
    for var in BRANCH_VARS:
        if os.environ.get(var):
            return os.environ[var]
    p = _run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=repo)
    name = p.stdout.strip() if p is not None and p.returncode == 0 else ""
    return name if name and name != "HEAD" else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_kib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def read_sysctl(name):
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        with open(path) as f:
            return " ".join(f.read().split())
    except OSError:
        return None


def tool_versions():
    out = {"python": platform.python_version(), "tcpscale": __version__}
    for name, (argv, rx) in TOOLS.items():
        p = _run(argv)
        text = (p.stdout + p.stderr) if p is not None else ""
        m = re.search(rx, text)
        out[name] = m.group(1) if m else None
    p = _run([os.path.join(REPO_ROOT, "loadgen", "tsload"), "--version"])
    m = re.search(r"tsload (\S+)", p.stdout) if p is not None else None
    out["tsload"] = m.group(1) if m else None
    try:
        import matplotlib
        out["matplotlib"] = matplotlib.__version__
    except ImportError:
        out["matplotlib"] = None
    return out


def capture():
    """One dict describing this machine, kernel, code and tools."""
    u = os.uname()
    return {
        "host": socket.gethostname(),
        "kernel": u.release,
        "kernel_version": u.version,
        "arch": u.machine,
        "os": os_release(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "mem_kib": mem_total_kib(),
        "git": git_info(),
        "tools": tool_versions(),
        "sysctls": {k: read_sysctl(k) for k in HOST_SYSCTLS},
        "python_executable": sys.executable,
        "loadavg": list(os.getloadavg()),
    }


HOST_FIELDS = ("role", "kernel", "os", "arch", "cpus", "cpu_model", "mem_kib", "nics",
               "versions", "loadavg")


def lab_env(controller, lab):
    """The environment of a run on an Ansible lab: the machine under test
    (the inventory's server) where capture() describes this machine, every
    lab host as the deploy found it under "hosts", and this machine, which
    only drove the run, under "controller"."""
    hosts = {h: {k: d.get(k) for k in HOST_FIELDS} for h, d in lab["hosts"].items()}
    server = hosts[lab["server"]]
    env = dict(controller)
    env.update(host=lab["server"], kernel=server["kernel"], os=server["os"],
               arch=server["arch"], cpu_model=server["cpu_model"], cores=server["cpus"],
               mem_kib=server["mem_kib"], loadavg=server.get("loadavg"), hosts=hosts,
               controller=controller.get("controller") or   # a resumed run's: kept
               {k: controller.get(k) for k in ("host", "kernel", "os", "arch", "cpu_model",
                                               "cores", "mem_kib", "sysctls",
                                               "loadavg")})
    env.pop("kernel_version", None)
    env.pop("sysctls", None)       # the tuning role's record says what the hosts have
    tools = dict(controller.get("tools") or {})
    tools.update({k: server["versions"].get(k) for k in ("nginx", "haproxy", "perf")})
    tools.pop("chromium", None)
    env["tools"] = tools
    return env


def _mem(kib):
    return f"{kib / 1048576:.1f} GiB" if kib else "?"


def _nic(name, n):
    speed = f"{n['speed_mbps']} Mb/s" if (n.get("speed_mbps") or 0) > 0 else "speed ?"
    return (f"{name} ({n.get('driver')}, {speed}, {n.get('rx_queues')} rx / "
            f"{n.get('tx_queues')} tx queues, MTU {n.get('mtu')})")


def format_host(name, h):
    """One line for a lab host (lab_env's "hosts")."""
    nics = ", ".join(_nic(k, v) for k, v in sorted((h.get("nics") or {}).items()))
    return (f"{h.get('role')} {name}: {h.get('os')}, kernel {h.get('kernel')} "
            f"({h.get('arch')}), CPU {h.get('cpu_model')} x {h.get('cpus')}, memory "
            f"{_mem(h.get('mem_kib'))}; NICs: {nics or 'none found'}")


def format_env(env):
    """Short human lines for a report or summary."""
    if env.get("hosts"):
        c = env.get("controller") or {}
        hosts = sorted(env["hosts"].items(), key=lambda kv: (
            ("server", "client", "backend").index(kv[1].get("role"))
            if kv[1].get("role") in ("server", "client", "backend") else 3, kv[0]))
        return [format_host(n, h) for n, h in hosts] + [
            f"controller {c.get('host')} (ran Ansible, not the cells): {c.get('os')}, "
            f"kernel {c.get('kernel')}"] + _code_tools(env)
    return [
        f"host {env.get('host')}: {env.get('os')}, kernel {env.get('kernel')} "
        f"({env.get('arch')})",
        f"CPU {env.get('cpu_model')} x {env.get('cores')} cores, "
        f"memory {_mem(env.get('mem_kib'))}"] + _code_tools(env)


def _code_tools(env):
    git = env.get("git") or {}
    sha = git.get("short") or "no git commit"
    if git.get("dirty"):
        sha += " (uncommitted changes)"
    tools = env.get("tools") or {}
    tool_s = ", ".join(f"{k} {v}" for k, v in sorted(tools.items()) if v)
    return [f"code {sha}", f"tools: {tool_s}"]
