"""Folded stacks -> shares and flame-graph trees (harness/folded.py), and the
perf lock table parser (harness/profilers.py), on fixed text."""
import unittest

from harness import folded, profilers

FOLDED = """\
tsload;[unknown];__libc_connect;entry_SYSCALL_64_after_hwframe_[k];do_syscall_64_[k];__sys_connect_[k];tcp_v4_connect_[k] 40
tsload;[unknown];__libc_connect;entry_SYSCALL_64_after_hwframe_[k];__sys_connect_[k];inet_stream_connect_[k];_raw_spin_lock_bh_[k] 10
nginx;[unknown];epoll_wait;entry_SYSCALL_64_after_hwframe_[k];do_epoll_wait_[k];ep_poll_[k] 20
nginx;[unknown];close;__x64_sys_close_[k];__fput_[k];sock_close_[k];tcp_close_[k] 5
nginx;[unknown];accept4;__sys_accept4_[k];do_accept_[k];alloc_empty_file_[k] 10
nginx;ngx_http_process_request;ngx_http_parse 10
rs-crrd;main;rs_poll;tcp_v4_rcv 3
rs-crrd;main;rs_poll;pthread_mutex_lock 2
swapper;secondary_startup_64_[k];cpu_startup_entry_[k];do_idle_[k];default_idle_[k] 100
kworker/0:1;ret_from_fork_[k];worker_thread_[k];process_one_work_[k] 5
garbage line without count
"""


class SharesTest(unittest.TestCase):
    def test_classify_walks_from_the_leaf(self):
        c = folded.classify
        self.assertEqual(c("tsload;x;__sys_connect_[k];tcp_v4_connect_[k]"), "TCP/IP")
        # a spin lock taken under TCP is a lock
        self.assertEqual(c("tsload;x;inet_stream_connect_[k];_raw_spin_lock_bh_[k]"), "locks")
        self.assertEqual(c("a;b;_raw_spin_unlock_irqrestore_[k]"), "other kernel")
        self.assertEqual(c("nginx;x;do_epoll_wait_[k];ep_poll_[k]"), "epoll")
        self.assertEqual(c("nginx;x;__fput_[k];sock_close_[k];tcp_close_[k]"), "TCP/IP")
        self.assertEqual(c("nginx;x;do_accept_[k];alloc_empty_file_[k]"), "VFS/file")
        self.assertEqual(c("nginx;ngx_http_process_request;ngx_http_parse"), "application")
        self.assertEqual(c("rs-crrd;main;rs_poll;tcp_v4_rcv"), "TCP/IP")  # refstack's own
        self.assertEqual(c("rs-crrd;main;pthread_mutex_lock"), "locks")
        self.assertEqual(c("swapper;do_idle_[k];default_idle_[k]"), "idle")

    def test_shares_leave_idle_out(self):
        stacks = folded.parse(FOLDED)
        self.assertEqual(len(stacks), 10)            # the garbage line is skipped
        s = folded.shares(stacks, comms={"nginx"})
        self.assertEqual((s["samples"], s["idle"], s["busy"]), (205, 100, 105))
        sh = s["shares"]
        self.assertAlmostEqual(sh["TCP/IP"], (40 + 5 + 3) / 105)
        self.assertAlmostEqual(sh["locks"], 12 / 105)
        self.assertAlmostEqual(sh["epoll"], 20 / 105)
        self.assertAlmostEqual(sh["VFS/file"], 10 / 105)
        self.assertAlmostEqual(sh["application"], 10 / 105)
        self.assertAlmostEqual(sh["other kernel"], 5 / 105)
        self.assertAlmostEqual(sum(sh.values()), 1.0)
        self.assertAlmostEqual(s["comm_share"], 45 / 105)

    def test_other_programs_on_the_cores(self):
        stacks = folded.parse("tsload;main;connect 50\nswapper;x;do_idle_[k] 40\n"
                              "ksoftirqd/1;net_rx_action_[k] 10\ncc1;main 30\n"
                              "rs-crrd;rs_poll 5\nmake;main 5\n")
        share, worst = folded.foreign(stacks)
        self.assertAlmostEqual(share, 35 / 100)       # idle left out
        self.assertEqual(worst, [("cc1", 0.3), ("make", 0.05)])
        self.assertEqual(folded.foreign({}), (None, []))

    def test_tree_and_top(self):
        stacks = folded.parse(FOLDED)
        t = folded.tree(stacks, min_fraction=0.05)
        self.assertEqual((t["name"], t["value"]), ("all", 105))
        kids = {k["name"]: k for k in t["children"]}
        self.assertEqual(set(kids), {"tsload", "nginx"})  # rs-crrd, kworker < 5%
        self.assertEqual(kids["nginx"]["value"], 45)
        self.assertTrue(all(sum(c["value"] for c in n["children"]) <= n["value"]
                            for n in kids.values()))
        self.assertEqual(folded.top_leaves(stacks, 2),
                         [("tcp_v4_connect_[k]", 40), ("ep_poll_[k]", 20)])
        self.assertEqual(folded.merge([{"a": 1}, {"a": 2, "b": 1}]), {"a": 3, "b": 1})


LOCKS = """\
 contended   total wait     max wait     avg wait         type   caller

        90      1.53 ms     22.62 us     17.02 us     spinlock   swake_up_one+0x35
         3       512 ns        300 ns       170 ns     rwlock:R   kernel_wait4+0xe3
         1      2.05 s       2.05 s       2.05 s        mutex   __netlink_dump_start+0x1be

=== output for debug===
"""


class LockTableTest(unittest.TestCase):
    def test_parse_units_and_columns(self):
        rows = profilers.parse_lock_contention(LOCKS)
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0], {"contended": 90, "wait_total_us": 1530.0,
                                   "wait_max_us": 22.62, "wait_avg_us": 17.02,
                                   "type": "spinlock", "caller": "swake_up_one+0x35"})
        self.assertAlmostEqual(rows[1]["wait_total_us"], 0.512)
        self.assertEqual(rows[1]["type"], "rwlock:R")
        self.assertAlmostEqual(rows[2]["wait_max_us"], 2.05e6)
        self.assertEqual(profilers.parse_lock_contention("no table here"), [])


if __name__ == "__main__":
    unittest.main()
