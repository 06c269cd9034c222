/* Sorted disjoint sequence ranges (see seqset.h). */
#include "common.h"
#include "seqset.h"

int rs_seqset_add(struct rs_seqrange *v, uint8_t *n, uint8_t max,
		  uint32_t start, uint32_t end)
{
	unsigned i = 0, j;

	while (i < *n && rs_seq_lt(v[i].end, start))
		i++;
	j = i;
	while (j < *n && rs_seq_le(v[j].start, end)) {
		if (rs_seq_lt(v[j].start, start))
			start = v[j].start;
		if (rs_seq_gt(v[j].end, end))
			end = v[j].end;
		j++;
	}
	if (j == i && *n == max)
		return RS_ERROR;
	memmove(&v[i + 1], &v[j], (*n - j) * sizeof(v[0]));
	v[i].start = start;
	v[i].end = end;
	*n = (uint8_t)(*n - (j - i) + 1);
	return RS_OK;
}

void rs_seqset_trim(struct rs_seqrange *v, uint8_t *n, uint32_t seq)
{
	unsigned k = 0;

	while (k < *n && rs_seq_le(v[k].end, seq))
		k++;
	if (k) {
		memmove(&v[0], &v[k], (*n - k) * sizeof(v[0]));
		*n = (uint8_t)(*n - k);
	}
	if (*n && rs_seq_lt(v[0].start, seq))
		v[0].start = seq;
}
