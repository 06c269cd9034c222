"""Ansible stdout callback: the whole run as one JSON document at its end.

    {"plays": [{"play": {"name"}, "tasks": [{"task": {"name"},
                "hosts": {HOST: result}}]}],
     "stats": {HOST: {"ok", "changed", "failures", "unreachable", ...}},
     "global_custom_stats": {...}}

The harness (harness/ansible_run.py) reads it to name the host and the task
that failed.  With TCPSCALE_ANSIBLE_EVENTS_FD set, it also writes one JSON
line per event to that file descriptor while the run goes, for the
harness's live progress and for naming where an interrupted run stopped:

    {"ev": "task", "task": NAME}                  a task starts
    {"ev": "start", "host": HOST, "task": NAME}   ... on a host
    {"ev": "end", "host": HOST, "task": NAME, "status": "ok" | "changed" |
     "failed" | "unreachable" | "skipped"}  Ansible-core has no JSON callback of its own (it lives in the
ansible.posix collection, which Debian ships only in the large `ansible`
package).
"""
import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: tcpscale_json
type: stdout
short_description: the run as one JSON document
description: Prints plays, tasks, per-host results, stats and custom stats as JSON when the run ends.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "tcpscale_json"

    def __init__(self):
        super().__init__()
        self.plays = []
        fd = os.environ.get("TCPSCALE_ANSIBLE_EVENTS_FD", "")
        self.events = os.fdopen(int(fd), "w", buffering=1) if fd.isdigit() else None

    def _event(self, **ev):
        if self.events is None:
            return
        try:
            self.events.write(json.dumps(ev) + "\n")
        except OSError:          # the harness stopped reading: keep running
            self.events = None

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task(self, task):
        tasks = self.plays[-1]["tasks"]
        if not tasks or tasks[-1]["_uuid"] != task._uuid:
            tasks.append({"task": {"name": task.get_name(), "start": time.time()}, "hosts": {},
                          "_uuid": task._uuid})
        return tasks[-1]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)
        self._event(ev="task", task=task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task)
        self._event(ev="task", task=task.get_name())

    def v2_runner_on_start(self, host, task):
        self._event(ev="start", host=host.get_name(), task=task.get_name())

    def _record(self, result, **flags):
        res = dict(self._strip(result._result))
        res.update(flags)
        res["tcpscale_end"] = time.time()
        self._task(result._task)["hosts"][result._host.get_name()] = res
        status = [k for k in ("unreachable", "skipped", "failed") if flags.get(k)]
        self._event(ev="end", host=result._host.get_name(), task=result._task.get_name(),
                    status=status[0] if status else "changed" if res.get("changed") else "ok")

    def _strip(self, res):
        return {k: v for k, v in res.items() if not k.startswith("_ansible") or k == "_ansible_no_log"}

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True, ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        for play in self.plays:
            for task in play["tasks"]:
                task.pop("_uuid", None)
        hosts = sorted(stats.processed.keys())
        out = {"plays": self.plays,
               "stats": {h: stats.summarize(h) for h in hosts},
               "global_custom_stats": stats.custom.get("_run", {}),
               "custom_stats": {h: v for h, v in stats.custom.items() if h != "_run"}}
        self._display.display(json.dumps(out, cls=_Encoder, sort_keys=True))


class _Encoder(json.JSONEncoder):
    def default(self, o):
        return str(o)
