/* The bottom of a core: the transmit batch.  Protocol code takes a frame
 * buffer (rs_tx_buf), fills it and queues it; rs_tx_flush hands the batch
 * to the I/O backend once per poll step (or when the batch is full). */
#include "stack.h"

uint8_t *rs_tx_buf(struct rs_core *c)
{
	int k;

	if (RS_UNLIKELY(c->ntx == RS_TX_BATCH))
		rs_tx_flush(c);
	k = c->ntx;
	c->txf[k].data = k < c->txw_n
				 ? c->txw_base + (size_t)k * c->txw_stride
				 : c->txmem + (size_t)k * RS_FRAME_BUF;
	return c->txf[k].data;
}

/* Where the next batch is built (io.h tx_window). */
void rs_tx_window(struct rs_core *c)
{
	c->txw_n = c->io_ops->tx_window
			   ? c->io_ops->tx_window(c->io, &c->txw_base,
						  &c->txw_stride)
			   : 0;
}

void rs_tx_flush(struct rs_core *c)
{
	int n = c->ntx, sent = 0;

	if (!n)
		return;
	for (int tries = 0; tries < 2 && sent < n; tries++) {
		int r = c->io_ops->tx_burst(c->io, c->txf + sent, n - sent);
		if (r < 0)
			break;
		sent += r;
	}
	for (int i = 0; i < sent; i++)
		c->ctr.tx_bytes += c->txf[i].len;
	c->ctr.tx_frames += (uint64_t)sent;
	c->ctr.tx_ring_full += (uint64_t)(n - sent);
	c->ntx = 0;
	rs_tx_window(c);
}
