/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crc.c - CRC32C (Castagnoli, reflected polynomial 0x82f63b78), the
 * checksum of every checksummed structure of the on-device format.
 *
 * Table driven, eight bytes a step ("slicing by 8"): table[0] is the
 * classic byte table, table[k][b] the CRC of byte b followed by k zero
 * bytes, so eight table lookups fold eight input bytes at once. The tables
 * are built once, on first use (pthread_once), and only read afterwards.
 *
 * @crc is a running value: start from ~0, finish with ~ (fs_csum() does
 * both).
 */
#include <pthread.h>
#include <string.h>

#include "fs_priv.h"

#define CRC32C_POLY 0x82f63b78U

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0U - (c & 1)));
		crc_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^
					  crc_table[0][crc_table[k - 1][b] &
						       0xff];
}

/*
 * fs_crc32c() - fold @len bytes at @buf into the running CRC32C @crc.
 * Context: any.
 * Return: the new running value (not inverted).
 */
uint32_t fs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc_init);
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^
		      crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^
		      crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

/*
 * fs_csum() - the checksum of a @len-byte structure at @buf whose own
 * 4-byte checksum field, at @csum_off, counts as zero.
 * Context: any.
 * Return: the CRC32C.
 */
uint32_t fs_csum(const void *buf, size_t len, size_t csum_off)
{
	static const uint32_t zero;
	const char *p = buf;
	uint32_t crc = ~0U;

	crc = fs_crc32c(crc, p, csum_off);
	crc = fs_crc32c(crc, &zero, sizeof(zero));
	crc = fs_crc32c(crc, p + csum_off + 4, len - csum_off - 4);
	return ~crc;
}
