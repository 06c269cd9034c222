"""Folded stacks (perf's stackcollapse output) -> shares of cycles by kind
of work, and the tree a flame-graph viewer draws.

A folded line is `comm;outer;...;leaf COUNT`, kernel frames suffixed `_[k]`
(`perf script -s stackcollapse.py -- --kernel`).  A sample is classified by
walking from its leaf towards the root: the first frame that matches a
category decides; a sample whose frames match nothing is "application" if
its leaf is in user space, else "other kernel".  Idle samples (the idle
task) are counted apart and left out of the shares.

The patterns name functions of Linux's net/ipv4, fs/ and fs/eventpoll.c,
the kernel's and glibc's lock primitives, and refstack's own functions
(which follow Linux's net/ipv4 names), so the same table serves both.
"""
import re

KERNEL_SUFFIX = "_[k]"

# (category, pattern on the function name), tried in this order per frame
CATEGORIES = (
    ("locks", re.compile(
        r"(?<!un)lock_slowpath|_raw_spin_lock|_raw_read_lock|_raw_write_lock"
        r"|^mutex_lock|__mutex_lock|rwsem_down|osq_lock|__lll_lock"
        r"|pthread_mutex_lock|pthread_spin_lock|pthread_rwlock_[rw]*lock"
        r"|^rs_.*lock$|spin_lock$")),
    ("epoll", re.compile(r"^ep_|epoll|^ep_poll")),
    ("VFS/file", re.compile(
        r"^vfs_|__fput|^fput|filp_close|alloc_empty_file|alloc_file|d_alloc"
        r"|^dput|^iput|alloc_inode|new_inode|destroy_inode|sock_alloc_file"
        r"|sock_alloc_inode|fd_install|alloc_fd|close_fd|file_close_fd"
        r"|^__close_range|^rs_fd|fdtab|fastfd")),
    ("TCP/IP", re.compile(
        r"^tcp|^inet|^__inet|^ip_|^__ip|^ipv4|^rs_|^sk_|^__sk_|^sock_"
        r"|^__sock|^__sys_(accept|connect|sendto|recvfrom|shutdown)"
        r"|^release_sock|^lock_sock|^skb_|^__skb|^kfree_skb|^consume_skb"
        r"|^__netif|^netif_|^napi|^net_rx_action|^process_backlog"
        r"|^__dev_queue|^dev_hard_start|^veth_|^tpacket|^packet_|^afp_"
        r"|^arp_|^eth_|^wire_|^csum|^neigh")),
)
IDLE = re.compile(r"^(do_idle|cpu_idle|default_idle|cpuidle_|"
                  r"pv_native_safe_halt|intel_idle|acpi_idle|poll_idle)")
SHARE_KEYS = ("TCP/IP", "VFS/file", "epoll", "locks", "application",
              "other kernel")


def parse(text):
    """Folded text -> {stack string: count} (bad lines are skipped)."""
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out[stack] = out.get(stack, 0) + int(count)
    return out


def _frames(stack):
    return stack.split(";")


def is_kernel(frame):
    return frame.endswith(KERNEL_SUFFIX)


def _name(frame):
    return frame[:-len(KERNEL_SUFFIX)] if is_kernel(frame) else frame


def classify(stack):
    """Category of one folded stack (see the module docstring)."""
    frames = _frames(stack)[1:]          # frame 0 is the command name
    if not frames:
        return "application"
    if any(IDLE.match(_name(f)) for f in frames):
        return "idle"
    for frame in reversed(frames):
        name = _name(frame)
        for cat, rx in CATEGORIES:
            if rx.search(name):
                return cat
    return "other kernel" if is_kernel(frames[-1]) else "application"


def shares(stacks, comms=None):
    """{"samples", "idle", "busy", "shares": {category: fraction of busy},
    "comm_share": fraction of busy samples in the commands `comms`}."""
    by_cat = {k: 0 for k in SHARE_KEYS}
    idle = in_comms = 0
    for stack, n in stacks.items():
        cat = classify(stack)
        if cat == "idle":
            idle += n
            continue
        by_cat[cat] += n
        if comms and _frames(stack)[0] in comms:
            in_comms += n
    busy = sum(by_cat.values())
    return {"samples": busy + idle, "idle": idle, "busy": busy,
            "shares": {k: (v / busy if busy else None) for k, v in by_cat.items()},
            "comm_share": (in_comms / busy if busy and comms else None)}


# Commands that belong on the server's cores during a cell: the load
# generator, the servers, the profiler, and the kernel's own threads.
# Anything else is other work on a shared machine (a compiler, a test).
LAB_COMMANDS = re.compile(
    r"^(tsload|nginx|haproxy|rs-[\w-]+|perf|perf-exec|swapper|ksoftirqd/\d+"
    r"|kworker/.*|migration/\d+|rcu_\w+|cpuhp/\d+|irq/.*|kthreadd|kdamond\.\d+"
    r"|kcompactd\d*|khugepaged|watchdog/\d+|idle_inject/\d+)$")


def foreign(stacks, top=3):
    """(share of busy samples in commands that are not the lab's, [(command,
    share)] of the largest of them); (None, []) without busy samples."""
    busy, acc = 0, {}
    for stack, n in stacks.items():
        if classify(stack) == "idle":
            continue
        busy += n
        comm = _frames(stack)[0]
        if not LAB_COMMANDS.match(comm):
            acc[comm] = acc.get(comm, 0) + n
    if not busy:
        return None, []
    worst = sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return sum(acc.values()) / busy, [(c, n / busy) for c, n in worst]


def merge(many):
    out = {}
    for stacks in many:
        for k, v in stacks.items():
            out[k] = out.get(k, 0) + v
    return out


def tree(stacks, min_fraction=0.002, drop_idle=True):
    """The d3-flame-graph tree {"name", "value", "children": [...]}; frames
    below min_fraction of all samples are folded into their parent so the
    page stays small."""
    root = {"name": "all", "value": 0, "children": {}}
    for stack, n in stacks.items():
        if drop_idle and classify(stack) == "idle":
            continue
        root["value"] += n
        node = root
        for frame in _frames(stack):
            node = node["children"].setdefault(
                frame, {"name": frame, "value": 0, "children": {}})
            node["value"] += n
    limit = root["value"] * min_fraction

    def finish(node):
        kids = [finish(c) for c in sorted(node["children"].values(),
                                          key=lambda c: c["name"])
                if c["value"] >= limit]
        return {"name": node["name"], "value": node["value"],
                "children": kids}
    return finish(root)


def top_leaves(stacks, n=10, drop_idle=True):
    """[(function, samples)] of the most sampled leaf functions."""
    acc = {}
    for stack, count in stacks.items():
        if drop_idle and classify(stack) == "idle":
            continue
        leaf = _frames(stack)[-1]
        acc[leaf] = acc.get(leaf, 0) + count
    return sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
