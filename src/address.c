/* Address layer: AnyEvent::Socket 7.17's parse/format/pack functions.
 *
 * Pure functions: no heap, no locale, no regex, no global state. Every text
 * input is (pointer, length) and is never read past its length; outputs are
 * written only on success. The Perl code these mirror is quoted in the
 * comments where its regexes have surprising corners. */
#include "internal.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <endian.h>

/* ---- character classes (byte semantics, as Perl on non-UTF-8 strings) -- */

/* Hex digit values plus one; 0 for every other byte. */
static const uint8_t hex1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* ---- parse_ipv4 --------------------------------------------------------- */

/* Parts saturate here: oct()/hex() die on values over 32 bits and huge
 * decimals fail the range check, so all three only need "too big". */
#define PART_MAX ((uint64_t)0xffffffff)
#define PART_BIG (PART_MAX + 1)

/* One decimal octet (no leading zero, < 256) read with bounds checks:
 * its end, or NULL. */
static inline const unsigned char *octet(const unsigned char *p,
                                         const unsigned char *e,
                                         unsigned *out)
{
    unsigned v, d;

    if (p == e || (v = (unsigned)*p++ - '0') > 9)
        return NULL;
    if (p < e && (d = (unsigned)*p - '0') < 10) {
        if (v == 0)
            return NULL;
        v = v * 10 + d;
        p++;
        if (p < e && (d = (unsigned)*p - '0') < 10) {
            v = v * 10 + d;
            p++;
        }
    }
    *out = v;
    return v > 255 ? NULL : p;
}

/* The common case, exactly four decimal octets "a.b.c.d" without leading
 * zeros: every such string parses the same way in 7.17. Anything else
 * (returns -1) goes through the general parser. While an octet and its
 * dot fit before the end (4 bytes), they are read without bounds checks:
 * most of the work saved against the general parser. */
static inline __attribute__((always_inline)) int
ipv4_quad(const unsigned char *p, const unsigned char *e, uint8_t out[4])
{
    uint32_t acc = 0;
    unsigned v;

    for (int k = 0; k < 3; k++) {
        if (e - p >= 4) {
            unsigned d0 = (unsigned)p[0] - '0', d1 = (unsigned)p[1] - '0';
            unsigned d2 = (unsigned)p[2] - '0';

            if (d0 > 9)
                return -1;
            if (d1 > 9) {
                if (p[1] != '.')
                    return -1;
                v = d0;
                p += 2;
            } else if (d0 == 0) {
                return -1;
            } else if (d2 > 9) {
                if (p[2] != '.')
                    return -1;
                v = d0 * 10 + d1;
                p += 3;
            } else {
                v = d0 * 100 + d1 * 10 + d2;
                if (p[3] != '.' || v > 255)
                    return -1;
                p += 4;
            }
        } else if ((p = octet(p, e, &v)) == NULL || p == e || *p++ != '.') {
            return -1;
        }
        acc = acc << 8 | v;
    }
    if ((p = octet(p, e, &v)) == NULL || p != e)
        return -1;
    acc = acc << 8 | v;
    out[0] = (uint8_t)(acc >> 24);
    out[1] = (uint8_t)(acc >> 16);
    out[2] = (uint8_t)(acc >> 8);
    out[3] = (uint8_t)acc;
    return 0;
}

/* Every form 7.17 accepts; out of line and tail-called, so the dotted
 * quad's path in anysock_parse_ipv4 needs no stack frame. */
static __attribute__((noinline)) int ipv4_general(const char *s, size_t len,
                                                  uint8_t out[4])
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    uint64_t v, acc = 0;
    unsigned k;
    int nl = 0;

    /* The regex ends in `$`, which also matches before a final "\n". */
    if (len > 0 && e[-1] == '\n') {
        e--;
        nl = 1;
    }
    for (k = 0;; k++) {
        const unsigned char *b = p;
        unsigned d;

        if (p == e)
            return -EINVAL;
        d = (unsigned)*p - '0';
        if (d - 1 < 9) {
            /* decimal; more than 10 digits is too big (no overflow
             * check per digit: a wrapped value is replaced) */
            v = d;
            for (p++; p < e && (d = (unsigned)*p - '0') < 10; p++)
                v = v * 10 + d;
            if (p - b > 10)
                v = PART_BIG;
        } else if (d != 0) {
            return -EINVAL;
        } else if (p + 2 < e && p[1] == 'x' && hex1[p[2]] != 0) {
            /* 0x hex (lowercase x only, as 7.17's regex); hex() dies on
             * the "\n" that Perl's `$` lets through */
            unsigned h;

            v = 0;
            for (p += 2; p < e && (h = hex1[*p]) != 0; p++) {
                v = (v << 4) | (h - 1);
                if (v > PART_MAX)
                    v = PART_BIG;
            }
            if (nl && p == e)
                return -EINVAL;
        } else {
            /* octal ("08" stops at the 8; "0x" alone is 0 then "x") */
            v = 0;
            for (p++; p < e && (d = (unsigned)*p - '0') < 8; p++) {
                v = (v << 3) | d;
                if (v > PART_MAX)
                    v = PART_BIG;
            }
        }
        if (p == e)
            break;
        /* Leading parts must be < 256; 4 parts at most. */
        if (*p != '.' || k == 3 || v >= 256)
            return -EINVAL;
        acc |= v << (24 - 8 * k);
        p++;
    }
    /* The last part < 2 ** (8 * (4 - $#_)) fills the remaining octets:
     * (pop) + ($_[0] << 24) + ($_[1] << 16) + ($_[2] << 8). */
    if (v >> (8 * (4 - k)))
        return -EINVAL;
    acc += v;
    out[0] = (uint8_t)(acc >> 24);
    out[1] = (uint8_t)(acc >> 16);
    out[2] = (uint8_t)(acc >> 8);
    out[3] = (uint8_t)acc;
    return 0;
}

int anysock_parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    const unsigned char *p = (const unsigned char *)s;

    if (ipv4_quad(p, p + len, out) == 0)
        return 0;
    return ipv4_general(s, len, out);
}

/* ---- parse_ipv6 --------------------------------------------------------- */

/* For parse_ipv6: a hex digit's value, or one of these (16 and up, so one
 * compare tells "digit" from "field ends"; unsigned, so no sign extension
 * on the way to int). */
#define H6_DIGIT(t) ((t) < 16)
#define H6_COLON 16
#define H6_OTHER 17  /* also stands for "end of text" */
static const uint8_t h6[256] = {
#define H6_ROW H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, \
    H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER,  \
    H6_OTHER, H6_OTHER, H6_OTHER
    H6_ROW, H6_ROW, H6_ROW, /* 0x00-0x2f */
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, H6_COLON, H6_OTHER, H6_OTHER, H6_OTHER,
    H6_OTHER, H6_OTHER,
    H6_OTHER, 10, 11, 12, 13, 14, 15, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER,
    H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER,
    H6_ROW,
    H6_OTHER, 10, 11, 12, 13, 14, 15, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER,
    H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER, H6_OTHER,
    H6_ROW,
    H6_ROW, H6_ROW, H6_ROW, H6_ROW, H6_ROW, H6_ROW, H6_ROW, H6_ROW, /* 0x80- */
#undef H6_ROW
};

/* Append a 16-bit group to a 128-bit accumulator (hi, lo). */
#define PUSH16(hi, lo, v)                                                   \
    do {                                                                    \
        (hi) = (hi) << 16 | (lo) >> 48;                                     \
        (lo) = (lo) << 16 | (v);                                            \
    } while (0)

/* Store (hi, lo) as 16 bytes in network order. */
static inline void put128(uint8_t out[16], uint64_t hi, uint64_t lo)
{
    hi = htobe64(hi);
    lo = htobe64(lo);
    memcpy(out, &hi, 8);
    memcpy(out + 8, &lo, 8);
}

/* An IPv4 address as the low 32 bits of a group accumulator. */
static inline uint64_t v4_bits(const uint8_t v4[4])
{
    return (uint64_t)v4[0] << 24 | (uint64_t)v4[1] << 16 |
           (uint64_t)v4[2] << 8 | v4[3];
}

/* parse_ipv6's rare paths, out of line and only ever tail-called, so the
 * main loop stays a leaf function: no registers to save, no stack frame.
 *
 * A colon-free text: an IPv4 address, returned IPv4-mapped. */
static __attribute__((noinline)) int ipv6_plain_ipv4(const char *s,
                                                     size_t len,
                                                     uint8_t out[16])
{
    uint8_t v4[4];

    if (anysock_parse_ipv4(s, len, v4) < 0)
        return -EINVAL;
    put128(out, 0, 0xffff00000000u | v4_bits(v4));
    return 0;
}

/* The last field, fs..e, stopped at byte *f, neither hex nor ':': it must
 * be an IPv4 tail, which has a dot. (hi, lo) holds every other group where
 * it belongs, with the low 32 bits free for the tail. parse_ipv4 takes no
 * ':', so it also checks that no field follows; the plain dotted quad goes
 * first, as it does there (and, failing, is not tried twice). */
static __attribute__((noinline)) int ipv6_v4_tail(const unsigned char *fs,
                                                  const unsigned char *f,
                                                  const unsigned char *e,
                                                  uint8_t out[16],
                                                  uint64_t hi, uint64_t lo)
{
    uint8_t v4[4];

    if (ipv4_quad(fs, e, v4) < 0 &&
        ((*f != '.' && !memchr(fs, '.', (size_t)(e - fs))) ||
         ipv4_general((const char *)fs, (size_t)(e - fs), v4) < 0))
        return -EINVAL;
    put128(out, hi, lo | v4_bits(v4));
    return 0;
}

/* The "::" stands for zero groups: the head's groups (hh, hl), right-
 * aligned, move to the top of the tail's (hi, lo). head == 8: no "::". */
static inline void ipv6_merge_head(uint64_t *hi, uint64_t *lo, uint64_t hh,
                                   uint64_t hl, size_t head)
{
    unsigned k;

    if (head >= 8)
        return;
    k = 16 * (8 - (unsigned)head);
    if (k >= 128) {
        hh = hl = 0;
    } else if (k >= 64) {
        hh = hl << (k - 64);
        hl = 0;
    } else {
        hh = hh << k | hl >> (64 - k);
        hl <<= k;
    }
    *hi |= hh;
    *lo |= hl;
}

/* One pass over the text, equivalent to 7.17's
 *   $n = y/://; split /::/, $_[0], 2; split /:/, $h/$t, -1; ...
 * Fields are split on ':' except at the first "::", which separates the
 * head from the tail; an empty head or tail has no fields. Every field must
 * be 1 to 4 hex digits (/^[0-9a-fA-F]{1,4}$/ admits a trailing "\n" but
 * hex() then dies on it), except that the last tail field may be an IPv4
 * address in any parse_ipv4 form if it has a dot and $n <= 6. Without
 * "::" there must be exactly 8 groups; with it, zero groups of padding is
 * fine ("1:2:3:4::5:6:7:8" parses). Fewer than 2 or more than 8 colons:
 * only a colon-free IPv4 address parses. Every failure is "undef", so the
 * checks can run in any order and stop at the first.
 *
 * Speed: while 5 bytes remain, a field's digits are read without bounds
 * checks (4 digits and the byte that ends them); only the last field or
 * two take the checked loop. The colon count is checked once, at the end:
 * it only grows, and a count over 8 fails whatever follows. The groups are
 * not counted: every colon ends one field, and only the "::" adds empty
 * ones, so the count follows from the colons. */
int anysock_parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    /* fields starting before here have 5 bytes to read */
    const unsigned char *lim = len > 4 ? e - 4 : p;
    const unsigned char *f = p, *fs;
    /* Groups accumulate right-aligned in (hi, lo); at the first "::" the
     * head moves to (hh, hl) and (hi, lo) collects the tail, which then
     * already sits where it belongs: at the end. */
    uint64_t hi = 0, lo = 0, hh = 0, hl = 0;
    unsigned v = 0;
    size_t nd = 0, head = 8, ncolon = 0;
    int t;

    if (len >= 2 && p[0] == ':' && p[1] == ':') {
        head = 0;
        ncolon = 2;
        f = p + 2;
        if (len == 2)
            goto done;
    }
    for (;;) {
        fs = f;
        if (f < lim) {
            /* 5 bytes readable: up to 4 digits and the byte after them */
            nd = 0;
            if (H6_DIGIT(t = h6[f[0]])) {
                v = (unsigned)t;
                nd = 1;
                if (H6_DIGIT(t = h6[f[1]])) {
                    v = v << 4 | (unsigned)t;
                    nd = 2;
                    if (H6_DIGIT(t = h6[f[2]])) {
                        v = v << 4 | (unsigned)t;
                        nd = 3;
                        if (H6_DIGIT(t = h6[f[3]])) {
                            v = v << 4 | (unsigned)t;
                            nd = 4;
                            if (H6_DIGIT(t = h6[f[4]]))
                                goto long_run;
                        }
                    }
                }
            }
            f += nd;
        } else {
            /* at most 4 bytes left, so at most 4 digits */
            for (v = 0; f < e && H6_DIGIT(t = h6[*f]); f++)
                v = v << 4 | (unsigned)t;
            t = f < e ? h6[*f] : H6_OTHER;
            nd = (size_t)(f - fs);
        }
        if (t != H6_COLON)
            break;
        ncolon++;
        f++;
        if (nd == 0) {
            /* An empty field is the first "::" (the head ends, with one
             * group per colon before this one), or does not parse. Leading
             * colons: "::" was taken above, one alone fails here. */
            if (head != 8 || fs == p)
                return -EINVAL;
            head = ncolon - 1;
            hh = hi;
            hl = lo;
            hi = lo = 0;
            if (f == e) {
                if (ncolon > 8)
                    return -EINVAL;
                goto done;
            }
            continue;
        }
        PUSH16(hi, lo, v);
    }
    if (0) {
    long_run:
        /* 5 or more digits: never a group; only an IPv4 tail (or, with no
         * colon at all, an IPv4 address) can start this way. */
        f = fs + 5;
        while (f < e && H6_DIGIT(h6[*f]))
            f++;
        if (f < e && *f == ':')
            return -EINVAL;
        nd = (size_t)(f - fs);
    }
    if (ncolon < 2) {
        /* no or one colon: only a colon-free IPv4 address parses */
        if (ncolon == 0)
            return ipv6_plain_ipv4(s, len, out);
        return -EINVAL;
    }
    if (f == e) {
        if (nd - 1 > 3 || ncolon > 8)
            return -EINVAL;
        PUSH16(hi, lo, v);
    } else {
        /* A byte neither hex nor ':': an IPv4 tail, or nothing. Its two
         * groups count as 7.17 counts them, as one more colon. */
        if (ncolon > 6 || (head == 8 && ncolon + 1 != 7))
            return -EINVAL;
        PUSH16(hi, lo, 0);
        PUSH16(hi, lo, 0);
        ipv6_merge_head(&hi, &lo, hh, hl, head);
        return ipv6_v4_tail(fs, f, e, out, hi, lo);
    }
    /* Without "::", 8 groups means 7 colons; with it, the colon limits
     * above already keep the groups to 8 at most. */
    if (head == 8 && ncolon != 7)
        return -EINVAL;
done:
    ipv6_merge_head(&hi, &lo, hh, hl, head);
    put128(out, hi, lo);
    return 0;
}

/* ---- parse_unix / parse_address ----------------------------------------- */

int anysock_parse_unix(const char *s, size_t len, anysock_addr *out)
{
    if (len != 5 || memcmp(s, "unix/", 5) != 0)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->family = AF_UNIX;
    return 0;
}

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0xff, 0xff};

int anysock_parse_address(const char *s, size_t len, anysock_addr *out)
{
    uint8_t b[16];

    if (anysock_parse_ipv6(s, len, b) == 0) {
        memset(out, 0, sizeof *out);
        if (memcmp(b, mapped_prefix, 12) == 0) {
            out->family = AF_INET;
            memcpy(out->bytes, b + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->bytes, b, 16);
        }
        return 0;
    }
    return anysock_parse_unix(s, len, out);
}

int anysock_aton(const char *s, size_t len, anysock_addr *out)
{
    return anysock_parse_address(s, len, out);
}

/* ---- format ------------------------------------------------------------- */

static const char hexdig[16] = "0123456789abcdef";

/* Decimal octet at p; returns the new end. */
static char *emit_octet(char *p, unsigned v)
{
    if (v >= 100) {
        *p++ = (char)('0' + v / 100);
        v %= 100;
        *p++ = (char)('0' + v / 10);
        *p++ = (char)('0' + v % 10);
    } else if (v >= 10) {
        *p++ = (char)('0' + v / 10);
        *p++ = (char)('0' + v % 10);
    } else {
        *p++ = (char)('0' + v);
    }
    return p;
}

static char *emit_dotted(char *p, const uint8_t a[4])
{
    p = emit_octet(p, a[0]);
    *p++ = '.';
    p = emit_octet(p, a[1]);
    *p++ = '.';
    p = emit_octet(p, a[2]);
    *p++ = '.';
    return emit_octet(p, a[3]);
}

/* "%x" of a 16-bit group: no leading zeros. */
static char *emit_group(char *p, unsigned v)
{
    if (v >= 0x1000)
        *p++ = hexdig[v >> 12];
    if (v >= 0x100)
        *p++ = hexdig[(v >> 8) & 15];
    if (v >= 0x10)
        *p++ = hexdig[(v >> 4) & 15];
    *p++ = hexdig[v & 15];
    return p;
}

/* Copy tmp (n bytes) plus NUL to out if it fits. */
static int put(const char *tmp, size_t n, char *out, size_t outlen)
{
    if (n >= outlen)
        return -ENOSPC;
    memcpy(out, tmp, n);
    out[n] = '\0';
    return (int)n;
}

static size_t render_ipv4(const uint8_t a[4], char *tmp)
{
    return (size_t)(emit_dotted(tmp, a) - tmp);
}

static size_t render_ipv6(const uint8_t a[16], char *tmp)
{
    static const uint8_t zero[12];
    static const uint8_t xlat[4] = {0xff, 0xff, 0, 0};
    unsigned g[8];
    size_t best = 0, bestlen = 0;
    char *p = tmp;

    /* 7.17 special-cases addresses whose first 8 octets are zero. */
    if (memcmp(a, zero, 8) == 0) {
        if (memcmp(a + 8, zero, 4) == 0) {
            static const uint8_t one[4] = {0, 0, 0, 1};
            if (memcmp(a + 12, zero, 4) == 0) {
                memcpy(tmp, "::", 2);
                return 2;
            }
            if (memcmp(a + 12, one, 4) == 0) {
                memcpy(tmp, "::1", 3);
                return 3;
            }
            memcpy(p, "::", 2);
            return (size_t)(emit_dotted(p + 2, a + 12) - tmp);
        }
        if (memcmp(a + 8, mapped_prefix + 8, 4) == 0) {
            memcpy(p, "::ffff:", 7);
            return (size_t)(emit_dotted(p + 7, a + 12) - tmp);
        }
        if (memcmp(a + 8, xlat, 4) == 0) {
            memcpy(p, "::ffff:0:", 9);
            return (size_t)(emit_dotted(p + 9, a + 12) - tmp);
        }
    }
    for (size_t i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    /* The first (leftmost) longest run of 2..7 zero groups becomes "::";
     * the Perl tries runs of 7 down to 2 with a leftmost regex each. */
    for (size_t i = 0; i < 8;) {
        size_t j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (bestlen < 2)
        bestlen = 0;
    for (size_t i = 0; i < 8; i++) {
        if (bestlen && i == best) {
            *p++ = ':';
            *p++ = ':';
            i += bestlen - 1;
            continue;
        }
        if (i > 0 && !(bestlen && i == best + bestlen))
            *p++ = ':';
        p = emit_group(p, g[i]);
    }
    return (size_t)(p - tmp);
}

int anysock_format_ipv4(const uint8_t a[4], char *out, size_t outlen)
{
    char tmp[ANYSOCK_IPV4_STRLEN];
    size_t n = render_ipv4(a, tmp);

    return put(tmp, n, out, outlen);
}

int anysock_format_ipv6(const uint8_t a[16], char *out, size_t outlen)
{
    char tmp[ANYSOCK_IPV6_STRLEN];
    size_t n = render_ipv6(a, tmp);

    return put(tmp, n, out, outlen);
}

int anysock_format_address(const anysock_addr *a, char *out, size_t outlen)
{
    char tmp[ANYSOCK_ADDRESS_STRLEN];

    switch (a->family) {
    case AF_INET:
        return put(tmp, render_ipv4(a->bytes, tmp), out, outlen);
    case AF_INET6:
        if (memcmp(a->bytes, mapped_prefix, 12) == 0)
            return put(tmp, render_ipv4(a->bytes + 12, tmp), out, outlen);
        return put(tmp, render_ipv6(a->bytes, tmp), out, outlen);
    case AF_UNIX:
        return put("unix/", 5, out, outlen);
    default:
        return -EAFNOSUPPORT;
    }
}

int anysock_ntoa(const anysock_addr *a, char *out, size_t outlen)
{
    return anysock_format_address(a, out, outlen);
}

int anysock_address_family(const anysock_addr *a)
{
    return a->family;
}

/* ---- parse_hostport / format_hostport ----------------------------------- */

/* Byte classes for parse_hostport's scans, as Perl sees bytes. */
enum {
    C_HEX = 1,      /* [0-9a-fA-F] */
    C_COLON = 2,    /* : */
    C_DOT = 4,      /* . */
    C_SPACE = 8,    /* \s and [[:space:]] on bytes: \t \n \v \f \r space */
    C_BRACKET = 16, /* [ ] */
    C_BLANK = 32,   /* the space character itself (`\ ` in the regex) */
};

static const uint8_t hpclass[256] = {
    ['0'] = C_HEX, ['1'] = C_HEX, ['2'] = C_HEX, ['3'] = C_HEX,
    ['4'] = C_HEX, ['5'] = C_HEX, ['6'] = C_HEX, ['7'] = C_HEX,
    ['8'] = C_HEX, ['9'] = C_HEX, ['a'] = C_HEX, ['b'] = C_HEX,
    ['c'] = C_HEX, ['d'] = C_HEX, ['e'] = C_HEX, ['f'] = C_HEX,
    ['A'] = C_HEX, ['B'] = C_HEX, ['C'] = C_HEX, ['D'] = C_HEX,
    ['E'] = C_HEX, ['F'] = C_HEX, [':'] = C_COLON, ['.'] = C_DOT,
    ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\v'] = C_SPACE, ['\f'] = C_SPACE,
    ['\r'] = C_SPACE, [' '] = C_SPACE | C_BLANK, ['['] = C_BRACKET,
    [']'] = C_BRACKET,
};

#define HP(c) hpclass[(unsigned char)(c)]

int anysock_parse_hostport(const char *s, size_t len, const char *defport,
                           size_t defportlen, anysock_hostport *out)
{
    static const char unix_token[] = "unix/";
    size_t ws = 0, i, hs, he, pos, ps, pe;
    const char *port;
    size_t portlen;
    int v6 = 0; /* the host came from the IPv6 branch: already parsed */
    uint8_t b[16];

    /* return ("unix/", $_) if m%^/% */
    if (len > 0 && s[0] == '/') {
        out->host = unix_token;
        out->hostlen = 5;
        out->port = s;
        out->portlen = len;
        return 0;
    }
    while (ws < len && HP(s[ws]) & C_SPACE)
        ws++;
    /* /^\s* ([0-9a-fA-F:]*:[0-9a-fA-F:]*:[0-9a-fA-F\.:]*)/xgc matches the
     * whole [0-9a-fA-F.:] run after the blanks when its leading
     * [0-9a-fA-F:] run has two colons. */
    {
        size_t colons = 0;

        i = ws;
        while (i < len && HP(s[i]) & (C_HEX | C_COLON))
            colons += s[i++] == ':';
        if (colons >= 2) {
            while (i < len && HP(s[i]) & (C_HEX | C_COLON | C_DOT))
                i++;
            /* The match leaves pos() past it, so when the address does not
             * parse, the later /^.../gc alternatives cannot match at all. */
            if (anysock_parse_ipv6(s + ws, i - ws, b) < 0)
                return -EINVAL;
            hs = ws;
            he = pos = i;
            v6 = 1;
            goto port;
        }
    }
    /* 7.17 then skips the blanks with a /gc match, which moves pos() past
     * them: `^` in the host regexes below only matches if there were none. */
    if (ws > 0 || len == 0)
        return -EINVAL;
    if (s[0] == '[') {
        /* /^ \[ ([^\[\]]+) \]/x */
        i = 1;
        while (i < len && !(HP(s[i]) & C_BRACKET))
            i++;
        if (i == 1 || i == len || s[i] != ']')
            return -EINVAL;
        hs = 1;
        he = i;
        pos = i + 1;
    } else {
        /* /^ ([^\[\]:\ ]+) /x: tabs and other blanks belong to the host. */
        i = 0;
        while (i < len && !(HP(s[i]) & (C_BRACKET | C_COLON | C_BLANK)))
            i++;
        if (i == 0)
            return -EINVAL;
        hs = 0;
        he = pos = i;
    }
port:
    /* /\G (?:\s+|:|\#) ([^:[:space:]]+) \s*$/x */
    i = pos;
    if (i < len && (HP(s[i]) & C_SPACE || s[i] == ':' || s[i] == '#')) {
        if (HP(s[i]) & C_SPACE)
            while (i < len && HP(s[i]) & C_SPACE)
                i++;
        else
            i++;
        ps = i;
        while (i < len && !(HP(s[i]) & (C_COLON | C_SPACE)))
            i++;
        pe = i;
        while (i < len && HP(s[i]) & C_SPACE)
            i++;
        if (pe > ps && i == len) {
            port = s + ps;
            portlen = pe - ps;
            goto check;
        }
    }
    /* /\G\s*$/ && length $_[1] */
    for (i = pos; i < len; i++)
        if (!(HP(s[i]) & C_SPACE))
            return -EINVAL;
    if (defportlen == 0)
        return -EINVAL;
    port = defport;
    portlen = defportlen;
check:
    /* return if $host =~ /:/ && !parse_ipv6 $host */
    if (!v6 && memchr(s + hs, ':', he - hs) &&
        anysock_parse_ipv6(s + hs, he - hs, b) < 0)
        return -EINVAL;
    out->host = s + hs;
    out->hostlen = he - hs;
    out->port = port;
    out->portlen = portlen;
    return 0;
}

int anysock_format_hostport(const char *host, size_t hostlen,
                            const char *port, size_t portlen, char *out,
                            size_t outlen)
{
    const size_t max = 0x7fffffff;   /* the length is returned as an int */
    size_t n = hostlen;
    int br;
    char *p = out;

    /* Every addition is checked before it is made: lengths near SIZE_MAX
     * must not wrap into a small n. Checked before memchr, too, so a huge
     * hostlen is never scanned. */
    if (n > max - 2 || n >= outlen)
        return -ENOSPC;
    /* (NULL, 0) is the empty string, as everywhere in this layer:
     * memchr/memcpy may not be given NULL even with a zero length. */
    br = hostlen > 0 && memchr(host, ':', hostlen) != NULL;
    n += 2 * (size_t)br;
    if (portlen > 0) {
        if (portlen > max - 1 - n)   /* n <= max - 2 here: no underflow */
            return -ENOSPC;
        n += portlen + 1;
    }
    if (n >= outlen)
        return -ENOSPC;
    if (br)
        *p++ = '[';
    if (hostlen > 0)
        memcpy(p, host, hostlen);
    p += hostlen;
    if (br)
        *p++ = ']';
    if (portlen > 0) {
        *p++ = ':';
        memcpy(p, port, portlen);
        p += portlen;
    }
    *p = '\0';
    return (int)n;
}

/* ---- sockaddr ----------------------------------------------------------- */

int anysock_pack_sockaddr(const anysock_addr *host, uint16_t port,
                          const char *path, size_t pathlen,
                          anysock_sockaddr *out)
{
    anysock_sockaddr sa;

    memset(&sa, 0, sizeof sa);
    switch (host->family) {
    case AF_INET:
        sa.u.in.sin_family = AF_INET;
        sa.u.in.sin_port = htons(port);
        memcpy(&sa.u.in.sin_addr, host->bytes, 4);
        sa.len = (socklen_t)sizeof sa.u.in;
        break;
    case AF_INET6:
        sa.u.in6.sin6_family = AF_INET6;
        sa.u.in6.sin6_port = htons(port);
        memcpy(&sa.u.in6.sin6_addr, host->bytes, 16);
        sa.len = (socklen_t)sizeof sa.u.in6;
        break;
    case AF_UNIX:
        sa.u.un.sun_family = AF_UNIX;
        if (pathlen > 0 && (path[0] == '@' || path[0] == '\0')) {
            /* Linux abstract name, written "@name" as ss and systemd do
             * (or raw, with its leading NUL, as unpack gives it back).
             * Any bytes; the length is exactly the name's, since the
             * kernel counts trailing NULs as part of it. */
            if (pathlen > sizeof sa.u.un.sun_path)
                return -ENAMETOOLONG;
            /* "@" alone would be the same bytes as the empty path */
            if (pathlen == 1)
                return -EINVAL;
            if (pathlen > 1)
                memcpy(sa.u.un.sun_path + 1, path + 1, pathlen - 1);
            sa.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                 pathlen);
            break;
        }
        /* Keep room for the NUL: never truncate a path. */
        if (pathlen >= sizeof sa.u.un.sun_path)
            return -ENAMETOOLONG;
        if (pathlen && memchr(path, '\0', pathlen))
            return -EINVAL;
        if (pathlen)
            memcpy(sa.u.un.sun_path, path, pathlen);
        sa.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                             pathlen + 1);
        break;
    default:
        return -EAFNOSUPPORT;
    }
    *out = sa;
    return 0;
}

int anysock_unpack_sockaddr(const struct sockaddr *sa, socklen_t len,
                            anysock_addr *host, uint16_t *port,
                            const char **path, size_t *pathlen)
{
    anysock_addr a;
    uint16_t pt = 0;
    const char *pp = NULL;
    size_t pl = 0;

    if (len < (socklen_t)sizeof(sa_family_t))
        return -EINVAL;
    memset(&a, 0, sizeof a);
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (len < (socklen_t)sizeof *in)
            return -EINVAL;
        a.family = AF_INET;
        memcpy(a.bytes, &in->sin_addr, 4);
        pt = ntohs(in->sin_port);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (len < (socklen_t)sizeof *in6)
            return -EINVAL;
        a.family = AF_INET6;
        memcpy(a.bytes, &in6->sin6_addr, 16);
        pt = ntohs(in6->sin6_port);
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t max = (size_t)len - offsetof(struct sockaddr_un, sun_path);
        if (len < (socklen_t)offsetof(struct sockaddr_un, sun_path))
            return -EINVAL;
        if (max > sizeof un->sun_path)
            max = sizeof un->sun_path;
        a.family = AF_UNIX;
        pp = un->sun_path;
        /* An abstract name (leading NUL) is every byte the length
         * covers; a path ends at its NUL. */
        pl = max > 1 && pp[0] == '\0' ? max : strnlen(pp, max);
        break;
    }
    default:
        return -EAFNOSUPPORT;
    }
    if (host)
        *host = a;
    if (port)
        *port = pt;
    if (path)
        *path = pp;
    if (pathlen)
        *pathlen = pl;
    return 0;
}

/* ---- getprotobyname ----------------------------------------------------- */

int anysock_getprotobyname(const char *name, size_t len)
{
    static const struct {
        const char *name;
        int proto;
    } known[] = {{"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP},
                 {"icmp", IPPROTO_ICMP}};
    char lc[64];
    char buf[4096];
    struct protoent pe, *res = NULL;

    /* AnyEvent lowercases the name before every lookup. */
    if (len == 0 || len >= sizeof lc)
        return -EPROTONOSUPPORT;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '\0')
            return -EPROTONOSUPPORT;
        lc[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    lc[len] = '\0';
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(known); i++)
        if (strcmp(lc, known[i].name) == 0)
            return known[i].proto;
    if (getprotobyname_r(lc, &pe, buf, sizeof buf, &res) != 0 || !res)
        return -EPROTONOSUPPORT;
    return res->p_proto;
}
