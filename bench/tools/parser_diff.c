/* Differential check of anysock_parse_ipv4/ipv6 against the same
 * functions from another commit (renamed old_parse_ipv4/old_parse_ipv6 by
 * parser_diff.sh): random structured texts, each in an exact-size heap
 * block so that ASan sees any over-read. Results and output bytes must be
 * identical. Used for every parser speed-up (README, Performance). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int old_parse_ipv4(const char *, size_t, uint8_t *);
int old_parse_ipv6(const char *, size_t, uint8_t *);
int anysock_parse_ipv4(const char *, size_t, uint8_t *);
int anysock_parse_ipv6(const char *, size_t, uint8_t *);

static uint64_t st = 88172645463325252u;

static uint32_t rnd(void)
{
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    return (uint32_t)st;
}

static char pick(const char *alpha)
{
    return alpha[rnd() % strlen(alpha)];
}

/* IPv4-shaped: dotted quads with out-of-range octets, cut, padded with a
 * leading zero, with a byte replaced or inserted; or random bytes. */
static size_t gen4(char *buf)
{
    static const char alpha[] = "0123456789.....xX\nabf ";
    size_t n = 0;
    uint32_t f = rnd() % 4;

    if (f == 0) {
        n = rnd() % 20;
        for (size_t j = 0; j < n; j++)
            buf[j] = pick(alpha);
        return n;
    }
    n = (size_t)snprintf(buf, 40, "%u.%u.%u.%u", rnd() % (f == 1 ? 1000 : 256),
                         rnd() % 300, rnd() % 256,
                         rnd() % (f == 3 ? 1000 : 256));
    switch (rnd() % 6) {
    case 0:
        buf[rnd() % n] = pick(alpha);
        break;
    case 1:
        n = rnd() % n;
        break;
    case 2:
        memmove(buf + 1, buf, n++);
        buf[0] = '0';
        break;
    case 3: {
        size_t k = rnd() % (n + 1);

        memmove(buf + k + 1, buf + k, n - k);
        buf[k] = pick(alpha);
        n++;
        break;
    }
    default:
        break;
    }
    return n;
}

/* IPv6-shaped: 1 to 9 groups of 0 to 4 (sometimes 5) digits, a "::"
 * anywhere, an IPv4 tail, then sometimes a byte replaced or a cut. */
static size_t gen6(char *buf)
{
    static const char alpha[] = "0123456789abcdefABCDEF:::::....xg\n ";
    static const char hex[] = "0123456789abcdefABCDEF";
    size_t n = 0;
    uint32_t f = rnd() % 3;
    int ng, dc;

    if (f == 0) {
        n = rnd() % 48;
        for (size_t j = 0; j < n; j++)
            buf[j] = pick(alpha);
        return n;
    }
    ng = 1 + (int)(rnd() % 9);
    dc = (int)(rnd() % (unsigned)(ng + 1));
    for (int g = 0; g < ng; g++) {
        int nd = (int)(rnd() % 6);

        if (g == dc) {
            buf[n++] = ':';
            if (g == 0)
                buf[n++] = ':';
        }
        if (nd == 5)
            nd = 1 + (int)(rnd() % 4);
        for (int k = 0; k < nd; k++)
            buf[n++] = pick(hex);
        if (g + 1 < ng)
            buf[n++] = ':';
    }
    if (rnd() % 4 == 0)
        n += (size_t)snprintf(buf + n, 20, ":%u.%u.%u.%u", rnd() % 300,
                              rnd() % 256, rnd() % 256, rnd() % 256);
    if (dc == ng) {
        buf[n++] = ':';
        buf[n++] = ':';
    }
    if (f == 2 && n > 0) {
        if (rnd() % 3 == 0)
            buf[rnd() % n] = pick(alpha);
        else if (rnd() % 2 == 0)
            n = rnd() % n;
    }
    return n;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000, bad = 0, ok = 0;

    if (argc > 2)
        st = strtoull(argv[2], NULL, 0) | 1;
    for (long i = 0; i < iters; i++) {
        char buf[128];
        int v6 = (int)(i & 1);
        size_t n = v6 ? gen6(buf) : gen4(buf);
        char *h = malloc(n ? n : 1);
        uint8_t a[16], b[16];
        int ra, rb;

        if (h == NULL)
            return 2;
        memcpy(h, buf, n);
        memset(a, 7, sizeof a);
        memset(b, 7, sizeof b);
        ra = v6 ? old_parse_ipv6(h, n, a) : old_parse_ipv4(h, n, a);
        rb = v6 ? anysock_parse_ipv6(h, n, b) : anysock_parse_ipv4(h, n, b);
        if (ra != rb || memcmp(a, b, sizeof a) != 0) {
            if (bad++ < 10)
                printf("MISMATCH ipv%d '%.*s': old %d new %d\n", v6 ? 6 : 4,
                       (int)n, buf, ra, rb);
        }
        ok += rb == 0;
        free(h);
    }
    printf("%ld mismatches in %ld texts (%ld parse)\n", bad, iters, ok);
    return bad != 0;
}
