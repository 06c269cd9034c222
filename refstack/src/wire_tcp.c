/* TCP header and options (RFC 9293 3.1, RFC 7323). */
#include "common.h"
#include "wire.h"

static int tcp_parse_opts(const uint8_t *o, uint32_t olen,
			  struct rs_tcp_seg *seg)
{
	uint32_t i = 0;

	while (i < olen) {
		uint8_t kind = o[i], l;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= olen)
			return RS_WIRE_MALFORMED;
		l = o[i + 1];
		if (l < 2 || i + l > olen)
			return RS_WIRE_MALFORMED;
		if (kind == 2 && l == 4) {
			seg->opts |= RS_TCPOPT_MSS;
			seg->mss = rs_get16(o + i + 2);
		} else if (kind == 3 && l == 3) {
			seg->opts |= RS_TCPOPT_WSCALE;
			seg->wscale = RS_MIN(o[i + 2], RS_TCP_MAX_WSCALE);
		} else if (kind == 4 && l == 2) {
			seg->opts |= RS_TCPOPT_SACKOK;
		} else if (kind == 5 && l >= 10 && (l - 2) % 8 == 0) {
			seg->opts |= RS_TCPOPT_SACK;
			seg->nsack = (uint8_t)RS_MIN((l - 2) / 8, RS_TCP_MAX_SACK);
			for (unsigned k = 0; k < seg->nsack; k++) {
				seg->sack[k].start = rs_get32(o + i + 2 + 8 * k);
				seg->sack[k].end = rs_get32(o + i + 6 + 8 * k);
			}
		} else if (kind == 8 && l == 10) {
			seg->opts |= RS_TCPOPT_TS;
			seg->tsval = rs_get32(o + i + 2);
			seg->tsecr = rs_get32(o + i + 6);
		}
		i += l;
	}
	return RS_WIRE_OK;
}

int rs_tcp_parse(const uint8_t *p, uint32_t len, uint32_t src, uint32_t dst,
		 int csum_partial, struct rs_tcp_seg *seg)
{
	uint32_t hlen;

	if (len < RS_TCP_HLEN)
		return RS_WIRE_MALFORMED;
	hlen = (uint32_t)(p[12] >> 4) * 4;
	if (hlen < RS_TCP_HLEN || hlen > len)
		return RS_WIRE_MALFORMED;
	if (!csum_partial) {
		uint64_t s = rs_csum_pseudo(src, dst, RS_IPPROTO_TCP, len);
		if (rs_csum_fold(rs_csum_add(s, p, len)) != 0)
			return RS_WIRE_CSUM;
	}
	seg->sport = rs_get16(p);
	seg->dport = rs_get16(p + 2);
	seg->seq = rs_get32(p + 4);
	seg->ack = rs_get32(p + 8);
	seg->flags = p[13] & 0x3f;
	seg->wnd = rs_get16(p + 14);
	seg->opts = 0;
	seg->mss = 0;
	seg->wscale = 0;
	seg->tsval = seg->tsecr = 0;
	seg->nsack = 0;
	seg->data = p + hlen;
	seg->len = len - hlen;
	/* what every segment after the handshake carries: NOP NOP TS
	 * (RFC 7323 appendix A's layout, Linux's fast path too) */
	if (hlen == RS_TCP_HLEN + 12 && rs_get32(p + RS_TCP_HLEN) == 0x0101080au) {
		seg->opts = RS_TCPOPT_TS;
		seg->tsval = rs_get32(p + RS_TCP_HLEN + 4);
		seg->tsecr = rs_get32(p + RS_TCP_HLEN + 8);
		return RS_WIRE_OK;
	}
	/* a SYN with every option in Linux's layout (and refstack's):
	 * MSS, SACKOK, TS, NOP, WSCALE */
	if (hlen == RS_TCP_HLEN + 20 && rs_get16(p + RS_TCP_HLEN) == 0x0204 &&
	    rs_get32(p + RS_TCP_HLEN + 4) == 0x0402080au &&
	    rs_get32(p + RS_TCP_HLEN + 16) >> 8 == 0x010303u) {
		seg->opts = RS_TCPOPT_MSS | RS_TCPOPT_SACKOK | RS_TCPOPT_TS |
			    RS_TCPOPT_WSCALE;
		seg->mss = rs_get16(p + RS_TCP_HLEN + 2);
		seg->tsval = rs_get32(p + RS_TCP_HLEN + 8);
		seg->tsecr = rs_get32(p + RS_TCP_HLEN + 12);
		seg->wscale = RS_MIN(p[RS_TCP_HLEN + 19], RS_TCP_MAX_WSCALE);
		return RS_WIRE_OK;
	}
	if (hlen > RS_TCP_HLEN)
		return tcp_parse_opts(p + RS_TCP_HLEN, hlen - RS_TCP_HLEN, seg);
	return RS_WIRE_OK;
}

static uint8_t *tcp_emit_opts(uint8_t *o, const struct rs_tcp_seg *seg)
{
	uint8_t opts = seg->opts;

	if (opts & RS_TCPOPT_MSS) {
		o[0] = 2;
		o[1] = 4;
		rs_put16(o + 2, seg->mss);
		o += 4;
	}
	if (opts & RS_TCPOPT_TS) {
		/* SACKOK takes the place of TS's two NOPs */
		int sackok = !!(opts & RS_TCPOPT_SACKOK);
		o[0] = sackok ? 4 : 1;
		o[1] = sackok ? 2 : 1;
		o[2] = 8;
		o[3] = 10;
		rs_put32(o + 4, seg->tsval);
		rs_put32(o + 8, seg->tsecr);
		o += 12;
	} else if (opts & RS_TCPOPT_SACKOK) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 4;
		o[3] = 2;
		o += 4;
	}
	if (opts & RS_TCPOPT_WSCALE) {
		o[0] = 1;
		o[1] = 3;
		o[2] = 3;
		o[3] = seg->wscale;
		o += 4;
	}
	if ((seg->opts & RS_TCPOPT_SACK) && seg->nsack) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 5;
		o[3] = (uint8_t)(2 + 8 * seg->nsack);
		for (unsigned k = 0; k < seg->nsack; k++) {
			rs_put32(o + 4 + 8 * k, seg->sack[k].start);
			rs_put32(o + 8 + 8 * k, seg->sack[k].end);
		}
		o += 4 + 8 * seg->nsack;
	}
	return o;
}

uint32_t rs_tcp_emit(uint8_t *p, const struct rs_tcp_seg *seg, uint32_t src,
		     uint32_t dst, int partial)
{
	uint32_t hlen = rs_tcp_hlen(seg);
	uint16_t sum;
	uint64_t s;

	rs_put16(p, seg->sport);
	rs_put16(p + 2, seg->dport);
	rs_put32(p + 4, seg->seq);
	rs_put32(p + 8, seg->ack);
	p[12] = (uint8_t)((hlen / 4) << 4);
	p[13] = seg->flags;
	rs_put16(p + 14, seg->wnd);
	p[16] = p[17] = 0;
	p[18] = p[19] = 0;
	tcp_emit_opts(p + RS_TCP_HLEN, seg);
	s = rs_csum_pseudo(src, dst, RS_IPPROTO_TCP, hlen + seg->len);
	if (partial) /* folded, not complemented: the link adds the rest */
		sum = (uint16_t)~rs_csum_fold(s);
	else
		sum = rs_csum_fold(rs_csum_add(s, p, hlen + seg->len));
	memcpy(p + 16, &sum, 2);
	return hlen;
}
