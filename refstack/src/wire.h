/* Packets are bytes first: one parse per layer that validates everything
 * into a plain struct, one emit that writes it back.  Nothing past these
 * parsers re-checks lengths.  Addresses and numbers in the structs are in
 * host byte order. */
#ifndef RS_WIRE_H
#define RS_WIRE_H

#include <stdint.h>

/* Parse results: the reason names the drop counter. */
enum rs_wire_err {
	RS_WIRE_OK = 0,
	RS_WIRE_MALFORMED = -1,
	RS_WIRE_CSUM = -2,
};

#define RS_ETH_HLEN 14
#define RS_ETH_P_IP 0x0800
#define RS_ETH_P_ARP 0x0806

struct rs_eth {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type;
	const uint8_t *payload;
	uint32_t len;
};
int rs_eth_parse(const uint8_t *p, uint32_t len, struct rs_eth *eth);
/* Writes the 14-byte header; returns its length. */
uint32_t rs_eth_emit(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
		     uint16_t type);

#define RS_ARP_LEN 28
enum { RS_ARP_REQUEST = 1, RS_ARP_REPLY = 2 };
struct rs_arp {
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
};
int rs_arp_parse(const uint8_t *p, uint32_t len, struct rs_arp *arp);
uint32_t rs_arp_emit(uint8_t *p, const struct rs_arp *arp);

#define RS_IP_HLEN 20
enum { RS_IPPROTO_ICMP = 1, RS_IPPROTO_TCP = 6 };
struct rs_ipv4 {
	uint32_t src, dst;
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint8_t fragment;       /* MF set or offset != 0 */
	uint16_t id;
	const uint8_t *payload; /* after options */
	uint32_t len;           /* payload length (total length - hlen) */
};
int rs_ipv4_parse(const uint8_t *p, uint32_t len, struct rs_ipv4 *ip);
/* Writes a 20-byte header (DF set, TTL 64) with its checksum. */
uint32_t rs_ipv4_emit(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto,
		      uint32_t payload_len, uint16_t id);

enum { RS_ICMP_ECHO_REPLY = 0, RS_ICMP_ECHO = 8 };
struct rs_icmp {
	uint8_t type, code;
	uint16_t id, seq;
	const uint8_t *data;
	uint32_t len;
};
int rs_icmp_parse(const uint8_t *p, uint32_t len, struct rs_icmp *icmp);
/* Writes an echo header + data; returns the ICMP length. */
uint32_t rs_icmp_emit(uint8_t *p, const struct rs_icmp *icmp);

/* TCP */
enum {
	RS_TH_FIN = 0x01,
	RS_TH_SYN = 0x02,
	RS_TH_RST = 0x04,
	RS_TH_PSH = 0x08,
	RS_TH_ACK = 0x10,
	RS_TH_URG = 0x20,
};
enum {
	RS_TCPOPT_MSS = 1u << 0,
	RS_TCPOPT_WSCALE = 1u << 1,
	RS_TCPOPT_TS = 1u << 2,
	RS_TCPOPT_SACKOK = 1u << 3,
	RS_TCPOPT_SACK = 1u << 4,   /* nsack SACK blocks (RFC 2018) */
};
#define RS_TCP_MAX_SACK 4
#define RS_TCP_HLEN 20
#define RS_TCP_MAX_WSCALE 14

struct rs_tcp_seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t opts;        /* RS_TCPOPT_* present */
	uint16_t wnd;        /* raw, unscaled */
	uint16_t mss;
	uint8_t wscale;      /* clamped to 14 */
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct {
		uint32_t start, end;
	} sack[RS_TCP_MAX_SACK];
	const uint8_t *data;
	uint32_t len;        /* payload bytes */
};
/* Validates header, options and (unless csum_partial) the checksum over
 * the pseudo-header. */
int rs_tcp_parse(const uint8_t *p, uint32_t len, uint32_t src, uint32_t dst,
		 int csum_partial, struct rs_tcp_seg *seg);
/* Header length emit will write for seg's options, in Linux's layout
 * (tcp_options_write): MSS 4; SACKOK and TS together 12 (2 + 10, no
 * padding), else SACKOK 4 (NOP NOP + 2) and TS 12 (NOP NOP + 10); WSCALE
 * 4 (NOP + 3); SACK blocks 4 + 8n (NOP NOP 5 len).  A SYN with every
 * option is 20 bytes of them (24 with each one padded alone). */
static inline uint32_t rs_tcp_hlen(const struct rs_tcp_seg *seg)
{
	uint32_t h = RS_TCP_HLEN;

	h += (seg->opts & RS_TCPOPT_TS) ? 12 : 0;
	if (seg->opts & (RS_TCPOPT_MSS | RS_TCPOPT_WSCALE | RS_TCPOPT_SACKOK))
		h += 4u * (!!(seg->opts & RS_TCPOPT_MSS) +
			   !!(seg->opts & RS_TCPOPT_WSCALE) +
			   ((seg->opts & (RS_TCPOPT_SACKOK | RS_TCPOPT_TS)) ==
			    RS_TCPOPT_SACKOK));
	if ((seg->opts & RS_TCPOPT_SACK) && seg->nsack)
		h += 4 + 8u * seg->nsack;
	return h;
}

/* Writes the header at p; seg->len payload bytes must already be at
 * p + rs_tcp_hlen(seg).  Computes the checksum, or with partial only the
 * pseudo-header's sum, for a link that completes it (CHECKSUM_PARTIAL's
 * layout); returns header length. */
uint32_t rs_tcp_emit(uint8_t *p, const struct rs_tcp_seg *seg, uint32_t src,
		     uint32_t dst, int partial);

#endif
