"""Run Ansible from the harness: ansible-inventory and ansible-playbook with
tcpscale's ansible/ tree, results read from the json callback.

    inv = read_inventory(path)                       # groups + hostvars
    res = playbook(path, "cell.yml", {...}, log)     # PlaybookResult

A PlaybookResult says, per host, what failed or was unreachable and in
which task, so that an error can name both.  While a playbook runs, the
callback's events say which task runs on which hosts (live progress, and
where a Ctrl-C stopped it).
"""
import json
import os
import signal
import subprocess
import tempfile
import threading

from . import REPO_ROOT

ANSIBLE_DIR = os.path.join(REPO_ROOT, "ansible")
PLAYBOOKS = os.path.join(ANSIBLE_DIR, "playbooks")


class AnsibleError(Exception):
    """Ansible could not run or its output could not be read."""


def _env():
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": os.path.join(ANSIBLE_DIR, "ansible.cfg"),
                "ANSIBLE_STDOUT_CALLBACK": "tcpscale_json", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "PYTHONUNBUFFERED": "1"})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return env


def read_inventory(path):
    """{"groups": {name: [hosts]}, "hostvars": {host: {...}}} of an inventory."""
    if not os.path.exists(path):
        raise AnsibleError("inventory %s: no such file" % path)
    path = os.path.abspath(path)
    try:
        res = subprocess.run(["ansible-inventory", "-i", path, "--list"], capture_output=True,
                             text=True, timeout=120, env=_env(), cwd=ANSIBLE_DIR)
    except FileNotFoundError:
        raise AnsibleError("ansible-inventory not found: install Ansible (make deps)") from None
    if res.returncode != 0 or "Unable to parse" in res.stderr:
        raise AnsibleError("inventory %s: %s" % (path, _last_lines(res.stderr or res.stdout)))
    try:
        data = json.loads(res.stdout)
    except ValueError as e:
        raise AnsibleError("inventory %s: ansible-inventory printed no JSON (%s)" % (path, e))
    groups = {name: list(g.get("hosts", [])) for name, g in data.items()
              if name != "_meta" and isinstance(g, dict)}
    # a host in a child group belongs to the parent too
    for name, g in data.items():
        if name == "_meta" or not isinstance(g, dict):
            continue
        for child in g.get("children", []):
            groups.setdefault(name, []).extend(h for h in groups.get(child, [])
                                                if h not in groups[name])
    return {"groups": groups, "hostvars": data.get("_meta", {}).get("hostvars", {})}


def _last_lines(text, n=3):
    lines = [l.strip() for l in (text or "").strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:]) or "no output"


class PlaybookResult:
    """What one ansible-playbook run did, host by host."""

    def __init__(self, rc, data, log_path, stderr):
        self.rc = rc
        self.data = data or {}
        self.log_path = log_path
        self.stderr = stderr
        self.stats = self.data.get("stats", {})
        self.custom = self.data.get("global_custom_stats", {})
        self.problems = self._problems()

    def _problems(self):
        """[(host, task name, "failed"|"unreachable", message)] in play order."""
        out = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                name = task.get("task", {}).get("name", "?")
                for host, res in task.get("hosts", {}).items():
                    kind = "unreachable" if res.get("unreachable") else \
                        "failed" if res.get("failed") and not res.get("ignore_errors") else None
                    if kind:
                        out.append((host, name, kind, _message(res)))
        return out

    def changed(self):
        return {h: s.get("changed", 0) for h, s in self.stats.items()}

    @property
    def ok(self):
        return self.rc == 0 and not self.problems

    def error(self):
        """One line naming the host(s) and task(s) that stopped the play."""
        if self.problems:
            return "; ".join("host %s, task '%s': %s%s" % (
                h, t, "unreachable: " if k == "unreachable" else "", m)
                for h, t, k, m in self.problems)
        return "ansible-playbook exited with code %d: %s (log: %s)" % (
            self.rc, _last_lines(self.stderr), self.log_path)


def _message(res):
    """The most telling message of a failed task result (also per loop item)."""
    for item in res.get("results", []) or []:
        if isinstance(item, dict) and item.get("failed"):
            return _message(item)
    msg = res.get("msg") or ""
    stdout = (res.get("stdout") or "").strip()
    if stdout.startswith("{"):                       # the agent's own JSON line
        try:
            msg = json.loads(stdout.splitlines()[0]).get("msg") or msg
        except ValueError:
            pass
    if not msg or msg == "non-zero return code":
        msg = _last_lines(res.get("stderr") or stdout) if (res.get("stderr") or stdout) else msg
    return " ".join(str(msg).split())[:600]


class Tracker:
    """What a running playbook is doing, from the callback's events: the
    current task and the hosts still running it."""

    def __init__(self, name, on_change=None):
        self.name = name
        self.task = None
        self.running = {}            # host -> task
        self.on_change = on_change

    def event(self, ev):
        kind, task = ev.get("ev"), ev.get("task")
        if kind == "task":
            self.task = task
        elif kind == "start":
            self.task = task
            self.running[ev["host"]] = task
        elif kind == "end":
            self.running.pop(ev.get("host"), None)
        if self.on_change is not None:
            self.on_change(self)

    def where(self):
        """"task 'T' on host(s) A, B" (the hosts still in it), or what ran last."""
        if self.task is None:
            return "%s: before its first task" % self.name
        hosts = sorted(h for h, t in self.running.items() if t == self.task)
        return "%s: task '%s'%s" % (self.name, self.task,
                                    " on host(s) " + ", ".join(hosts) if hosts else "")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while a playbook ran; str() says where it was."""


def _read_events(fd, tracker):
    with os.fdopen(fd, "r") as f:
        for line in f:
            try:
                tracker.event(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue


def _stop(proc, grace_s=15.0):
    """End ansible-playbook after Ctrl-C: it may have had the SIGINT
    already (a terminal's Ctrl-C reaches the whole process group)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=grace_s)        # drains its pipes while it ends
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def playbook(inventory, name, extra_vars, log_path, check=False, limit=None, timeout=3600,
             on_change=None):
    """Run ansible/playbooks/NAME with extra_vars; the json output is kept
    in log_path.  on_change(tracker) is called as tasks start and end on
    the hosts (tracker.where(): "NAME: task 'T' on host(s) A, B").  Returns a PlaybookResult;
    raises AnsibleError only when ansible-playbook cannot run at all, and
    Interrupted (naming the task and hosts) on Ctrl-C."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                     dir=os.path.dirname(log_path)) as f:
        json.dump(extra_vars, f)
        vars_path = f.name
    argv = ["ansible-playbook", "-i", inventory, os.path.join(PLAYBOOKS, name),
            "-e", "@" + vars_path]
    if check:
        argv.append("--check")
    if limit:
        argv += ["--limit", limit]
    tracker = Tracker(name[:-len(".yml")] if name.endswith(".yml") else name, on_change)
    r, w = os.pipe()
    env = dict(_env(), TCPSCALE_ANSIBLE_EVENTS_FD=str(w))
    reader = threading.Thread(target=_read_events, args=(r, tracker), daemon=True)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ANSIBLE_DIR, pass_fds=(w,))
    except FileNotFoundError:
        os.close(r)
        os.unlink(vars_path)
        raise AnsibleError("ansible-playbook not found: install Ansible (make deps)") from None
    finally:
        os.close(w)
    reader.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except KeyboardInterrupt:
        _stop(proc)
        reader.join(timeout=5)
        raise Interrupted(tracker.where()) from None
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AnsibleError("ansible-playbook %s: no end after %ds (log: %s); it was in %s"
                           % (name, timeout, log_path, tracker.where())) from None
    finally:
        os.unlink(vars_path)
    reader.join(timeout=5)
    with open(log_path, "w") as f:
        f.write(stdout)
        if stderr:
            f.write("\n--- stderr\n" + stderr)
    start = stdout.find("{")
    try:
        data = json.loads(stdout[start:]) if start >= 0 else None
    except ValueError:
        data = None
    if data is None and proc.returncode != 0:
        return PlaybookResult(proc.returncode, None, log_path, stderr or stdout)
    if data is None:
        raise AnsibleError("ansible-playbook %s printed no JSON (log: %s)" % (name, log_path))
    return PlaybookResult(proc.returncode, data, log_path, stderr)
