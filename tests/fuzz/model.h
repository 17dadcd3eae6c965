/* Reference models of AnyEvent::Socket 7.17's parse_ipv4 and parse_ipv6,
 * transcribed step by step from the Perl (regex, split, oct/hex, range
 * checks) rather than optimised like src/address.c, so the fuzzers can
 * compare the two on every input. Cases where 7.17 dies are "undef", as the
 * README's differences table says. */
#ifndef ANYSOCK_FUZZ_MODEL_H
#define ANYSOCK_FUZZ_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline int m_isdigit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int m_ishex(unsigned char c)
{
    return m_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static inline unsigned m_hexval(unsigned char c)
{
    return m_isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* One part of /^(?:0x[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/ (the full part,
 * as split gives it; `last_nl`: this last part carries the final "\n" that
 * `$` lets through). Value saturated to 2**32; -1 if it does not match or
 * hex() would die. */
static inline int m_v4part(const unsigned char *p, size_t n, int last_nl,
                           uint64_t *val)
{
    uint64_t v = 0;
    size_t i;

    if (last_nl)
        n--; /* the regex sees the part without the "\n" */
    if (n == 0)
        return -1;
    if (n >= 3 && p[0] == '0' && p[1] == 'x') {
        for (i = 2; i < n; i++) {
            if (!m_ishex(p[i]))
                return -1;
            v = v * 16 + m_hexval(p[i]);
            if (v > 0xffffffffu)
                v = 0x100000000u;
        }
        if (last_nl)
            return -1; /* hex("..\n"): fatal "Illegal hexadecimal digit" */
    } else if (p[0] == '0') {
        for (i = 1; i < n; i++) {
            if (p[i] < '0' || p[i] > '7')
                return -1;
            v = v * 8 + (p[i] - '0');
            if (v > 0xffffffffu)
                v = 0x100000000u;
        }
    } else {
        for (i = 0; i < n; i++) {
            if (!m_isdigit(p[i]))
                return -1;
            v = v * 10 + (p[i] - '0');
            if (v > 0xffffffffu)
                v = 0x100000000u;
        }
    }
    *val = v;
    return 0;
}

static inline int model_parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t part[4], acc;
    size_t np = 0, start = 0;
    int nl = len > 0 && p[len - 1] == '\n';

    /* split /\./: the regex allows 1 to 4 non-empty parts */
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            if (np == 4)
                return -1;
            if (m_v4part(p + start, i - start, i == len && nl, &part[np]) < 0)
                return -1;
            np++;
            start = i + 1;
        }
    }
    for (size_t k = 0; k + 1 < np; k++)
        if (part[k] >= 256)
            return -1;
    if (part[np - 1] >= (uint64_t)1 << (8 * (5 - np)))
        return -1;
    acc = part[np - 1];
    for (size_t k = 0; k + 1 < np; k++)
        acc += part[k] << (24 - 8 * k);
    for (int k = 0; k < 4; k++)
        out[k] = (uint8_t)(acc >> (24 - 8 * k));
    return 0;
}

/* split /:/, $x, -1 of s[a..b) into fields; Perl gives no fields at all for
 * an empty string. Returns the count, fields as offsets. */
static inline size_t m_split(const char *s, size_t a, size_t b, size_t *fs,
                             size_t *fe, size_t max)
{
    size_t n = 0, st = a;

    if (a == b)
        return 0;
    for (size_t i = a; i <= b; i++) {
        if (i == b || s[i] == ':') {
            if (n == max)
                return max + 1;
            fs[n] = st;
            fe[n] = i;
            n++;
            st = i + 1;
        }
    }
    return n;
}

static inline int model_parse_ipv6(const char *s, size_t len,
                                   uint8_t out[16])
{
    size_t n = 0, dc = len, hs[10], he[10], ts[10], te[10], nh = 0, nt;
    unsigned g[8], hv[10], tv[12];
    size_t ng, nhv = 0, ntv = 0;
    uint8_t v4[4];
    int tail4 = 0;

    for (size_t i = 0; i < len; i++)
        n += s[i] == ':';
    if (n < 2 || n > 8) {
        if (n == 0 && model_parse_ipv4(s, len, v4) == 0) {
            memset(out, 0, 10);
            out[10] = out[11] = 0xff;
            memcpy(out + 12, v4, 4);
            return 0;
        }
        return -1;
    }
    /* my ($h, $t) = split /::/, $_[0], 2 */
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == ':' && s[i + 1] == ':') {
            dc = i;
            break;
        }
    if (dc < len) {
        nh = m_split(s, 0, dc, hs, he, 9);
        nt = m_split(s, dc + 2, len, ts, te, 9);
    } else {
        nt = m_split(s, 0, len, ts, te, 9);
    }
    if (nh > 9 || nt > 9)
        return -1;
    /* IPv4 tail: the last tail field with a dot */
    if (nt && memchr(s + ts[nt - 1], '.', te[nt - 1] - ts[nt - 1])) {
        if (n > 6)
            return -1;
        if (model_parse_ipv4(s + ts[nt - 1], te[nt - 1] - ts[nt - 1], v4) < 0)
            return -1;
        tail4 = 1;
    }
    if (!(nh + nt + (size_t)tail4 == 8 || dc < len))
        return -1;
    /* every field /^[0-9a-fA-F]{1,4}$/ (a trailing "\n" passes the regex
     * and then kills hex(): undef either way) */
    for (size_t k = 0; k < nh + nt; k++) {
        size_t a = k < nh ? hs[k] : ts[k - nh], b = k < nh ? he[k] : te[k - nh];
        unsigned v = 0;

        if (tail4 && k == nh + nt - 1)
            break;
        if (b - a < 1 || b - a > 4)
            return -1;
        for (size_t i = a; i < b; i++) {
            if (!m_ishex((unsigned char)s[i]))
                return -1;
            v = v << 4 | m_hexval((unsigned char)s[i]);
        }
        if (k < nh)
            hv[nhv++] = v;
        else
            tv[ntv++] = v;
    }
    if (tail4) {
        tv[ntv++] = (unsigned)v4[0] << 8 | v4[1];
        tv[ntv++] = (unsigned)v4[2] << 8 | v4[3];
    }
    /* pack "n*" of more than 8 groups would not be 16 bytes */
    if (nhv + ntv > 8)
        return -1;
    /* push @h, 0 while @h + @t < 8 */
    memcpy(g, hv, nhv * sizeof *g);
    for (ng = nhv; ng + ntv < 8; ng++)
        g[ng] = 0;
    memcpy(g + ng, tv, ntv * sizeof *g);
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(g[k] >> 8);
        out[2 * k + 1] = (uint8_t)g[k];
    }
    return 0;
}

#endif
