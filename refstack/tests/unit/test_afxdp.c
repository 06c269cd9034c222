/* The afxdp backend without a NIC: its option string (defaults, every key,
 * each error naming the spec and the key), the lookup by name, and the
 * open errors that need no XDP-capable interface (no such interface,
 * more cores than queues on lo), each with a sentence in rs_io_why().
 * The backend on real queues is tests/interop/afxdp.sh. */
#include <errno.h>
#include <string.h>

#include "../../src/io.h"
#include "../../src/io_afxdp_if.h"
#include "lib/t.h"

static void t_defaults(void)
{
	struct xsk_opts o;

	T_CHECK(xsk_opts_parse(&o, "rs-x-s0") == 0 && strcmp(o.ifname, "rs-x-s0") == 0,
		"a bare interface name parses");
	T_CHECK(o.xdp == XDP_NATIVE && o.bind == BIND_AUTO && o.wakeup == 1 &&
			o.frames == 2048 && o.steer == STEER_NONE,
		"defaults: native XDP, bind auto, need_wakeup, 2048 frames, no steering");
	T_CHECK(xsk_opts_parse(&o, "eth1,xdp=skb,bind=copy,wakeup=0,frames=256,steer=xdp") == 0 &&
			o.xdp == XDP_SKB && o.bind == BIND_COPY && o.wakeup == 0 &&
			o.frames == 256 && o.steer == STEER_XDP,
		"every key is read");
	T_CHECK(xsk_opts_parse(&o, "eth1,bind=zc") == 0 && o.bind == BIND_ZC,
		"bind=zc");
}

/* spec is refused and rs_io_why() contains want */
static int refused(const char *spec, const char *want)
{
	struct xsk_opts o;

	rs_io_set_why(NULL);
	return xsk_opts_parse(&o, spec) == -EINVAL && strstr(rs_io_why(), want);
}

static void t_errors(void)
{
	T_CHECK(refused("eth1,bogus=1", "bad option 'bogus=1'"), "unknown key named");
	T_CHECK(refused("eth1,xdp=hw", "bad option 'xdp=hw'"), "unknown XDP mode named");
	T_CHECK(refused("eth1,frames=32", "frames=32"), "frames below 64 refused");
	T_CHECK(refused("eth1,frames=32768", "frames=32768"), "frames above 16384 refused");
	T_CHECK(refused("eth1,frames=1000", "not a power of two"), "frames not a power of two");
	T_CHECK(refused("eth1,wakeup", "bad option 'wakeup'"), "a key without a value");
	T_CHECK(refused("eth1,wakeup=2", "wakeup=2"), "wakeup is 0 or 1");
	T_CHECK(refused("an-interface-name-too-long", "bad interface name"),
		"an interface name longer than IFNAMSIZ");
	T_CHECK(refused(NULL, "missing"), "no spec at all");
	T_CHECK(strstr(rs_io_why(), "afxdp") == rs_io_why(), "the reason names the backend");
}

static void t_open(void)
{
	const struct rs_io_ops *ops = rs_io_find("afxdp");
	struct rs_io_conf conf = { .ifname = "rs-no-such0", .nqueues = 1,
				   .frame_size = 1514 }; /* lo: MTU 65536 */
	int err = 0;

	T_CHECK(ops == &rs_io_afxdp && strcmp(ops->name, "afxdp") == 0,
		"rs_io_find(\"afxdp\")");
	T_CHECK(!ops->open(&conf, &err) && err == -ENODEV &&
			strstr(rs_io_why(), "no interface rs-no-such0"),
		"no such interface: ENODEV, named (%s)", rs_io_why());
	conf.ifname = "lo";
	conf.nqueues = 2;
	T_CHECK(!ops->open(&conf, &err) && err == -ERANGE &&
			strstr(rs_io_why(), "lo has 1 RX queue for 2 cores"),
		"more cores than queues: ERANGE, counts named (%s)", rs_io_why());
	conf.nqueues = 1;
	conf.ifname = "lo,steer=sideways";
	T_CHECK(!ops->open(&conf, &err) && err == -EINVAL &&
			strstr(rs_io_why(), "steer=sideways"),
		"a bad option fails the open with EINVAL (%s)", rs_io_why());
}

int main(void)
{
	t_defaults();
	t_errors();
	t_open();
	return t_summary();
}
