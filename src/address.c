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

/* ---- character classes (byte semantics, as Perl on non-UTF-8 strings) -- */

/* Perl's \s and [[:space:]] on byte strings: \t \n \v \f \r and space. */
static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Value of a hex digit, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int is_hex(unsigned char c)
{
    return hexval(c) >= 0;
}

/* ---- parse_ipv4 --------------------------------------------------------- */

#define PART_MAX ((uint64_t)0xffffffff)

/* One part of a dotted quad at s[*i..end): 0x hex, 0 octal or decimal, as
 * 7.17's regex (lowercase x only; "08" and "0x" do not parse). Values over
 * 32 bits saturate: oct()/hex() die on them and huge decimals fail the
 * range check, so both only need to be "too big". `last_nl` says the part
 * is followed by the final "\n" that Perl's `$` lets through; hex() then
 * dies on it ("Illegal hexadecimal digit"), oct() and decimal ignore it. */
static int ipv4_part(const char *s, size_t *i, size_t end, int last_nl,
                     uint64_t *val)
{
    size_t p = *i;
    uint64_t v = 0;

    if (p >= end)
        return -1;
    if (s[p] == '0') {
        if (p + 1 < end && s[p + 1] == 'x' && p + 2 < end &&
            is_hex((unsigned char)s[p + 2])) {
            p += 2;
            while (p < end && is_hex((unsigned char)s[p])) {
                v = (v << 4) | (uint64_t)hexval((unsigned char)s[p]);
                if (v > PART_MAX)
                    v = PART_MAX + 1;
                p++;
            }
            if (last_nl && (p == end))
                return -1;
        } else {
            p++;
            while (p < end && s[p] >= '0' && s[p] <= '7') {
                v = (v << 3) | (uint64_t)(s[p] - '0');
                if (v > PART_MAX)
                    v = PART_MAX + 1;
                p++;
            }
        }
    } else if (s[p] >= '1' && s[p] <= '9') {
        while (p < end && s[p] >= '0' && s[p] <= '9') {
            v = v * 10 + (uint64_t)(s[p] - '0');
            if (v > PART_MAX)
                v = PART_MAX + 1;
            p++;
        }
    } else {
        return -1;
    }
    *i = p;
    *val = v;
    return 0;
}

int anysock_parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    uint64_t part[4];
    size_t n = 0, i = 0, end = len;
    int nl = 0;
    uint64_t v;

    /* The regex ends in `$`, which also matches before a final "\n". */
    if (end > 0 && s[end - 1] == '\n') {
        end--;
        nl = 1;
    }
    for (;;) {
        if (ipv4_part(s, &i, end, nl, &part[n]) < 0)
            return -EINVAL;
        n++;
        if (i == end)
            break;
        if (s[i] != '.' || n == 4)
            return -EINVAL;
        i++;
    }
    for (size_t k = 0; k + 1 < n; k++)
        if (part[k] >= 256)
            return -EINVAL;
    if (part[n - 1] >= ((uint64_t)1 << (8 * (5 - n))))
        return -EINVAL;
    v = part[n - 1];
    /* (pop) + ($_[0] << 24) + ($_[1] << 16) + ($_[2] << 8) */
    for (size_t k = 0; k + 1 < n; k++)
        v += part[k] << (24 - 8 * k);
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
    return 0;
}

/* ---- parse_ipv6 --------------------------------------------------------- */

typedef struct span {
    size_t off, len;
} span;

/* Perl's `split /:/, $x, -1` of s[off..off+len): an empty string gives no
 * fields at all. At most 9 fields can occur (8 colons). */
static size_t split_colon(const char *s, size_t off, size_t len, span *f)
{
    size_t n = 0, start = off, end = off + len;

    if (len == 0)
        return 0;
    for (size_t i = off; i < end; i++) {
        if (s[i] == ':') {
            f[n].off = start;
            f[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    f[n].off = start;
    f[n].len = end - start;
    return n + 1;
}

/* /^[0-9a-fA-F]{1,4}$/ admits a trailing "\n", but hex() then dies on it,
 * so in effect a group is exactly 1 to 4 hex digits. */
static int hex_group(const char *s, span f, unsigned *val)
{
    unsigned v = 0;

    if (f.len < 1 || f.len > 4)
        return -1;
    for (size_t i = 0; i < f.len; i++) {
        int d = hexval((unsigned char)s[f.off + i]);
        if (d < 0)
            return -1;
        v = (v << 4) | (unsigned)d;
    }
    *val = v;
    return 0;
}

int anysock_parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    span h[10], t[10];
    unsigned g[8];
    size_t n = 0, nh = 0, nt, dc = len, k = 0;
    int tail4 = 0;
    uint8_t v4[4];

    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            n++;
    if (n < 2 || n > 8) {
        if (n == 0 && anysock_parse_ipv4(s, len, v4) == 0) {
            memset(out, 0, 10);
            out[10] = out[11] = 0xff;
            memcpy(out + 12, v4, 4);
            return 0;
        }
        return -EINVAL;
    }
    /* split /::/, $_[0], 2: only the first "::" splits. */
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == ':' && s[i + 1] == ':') {
            dc = i;
            break;
        }
    }
    if (dc < len) {
        nh = split_colon(s, 0, dc, h);
        nt = split_colon(s, dc + 2, len - dc - 2, t);
    } else {
        nt = split_colon(s, 0, len, t);
    }
    /* An IPv4 tail only in the last field after the "::", when it has a
     * dot; it then counts as two groups. */
    if (nt > 0 && memchr(s + t[nt - 1].off, '.', t[nt - 1].len)) {
        if (n > 6)
            return -EINVAL;
        if (anysock_parse_ipv4(s + t[nt - 1].off, t[nt - 1].len, v4) < 0)
            return -EINVAL;
        tail4 = 1;
        nt--;
    }
    if (dc == len && nh + nt + 2 * (size_t)tail4 != 8)
        return -EINVAL;
    if (nh + nt + 2 * (size_t)tail4 > 8)
        return -EINVAL; /* cannot happen with <= 8 colons; keeps g safe */
    for (size_t i = 0; i < nh; i++)
        if (hex_group(s, h[i], &g[k++]) < 0)
            return -EINVAL;
    /* "::" may stand for zero groups: "1:2:3:4::5:6:7:8" parses. */
    while (k + nt + 2 * (size_t)tail4 < 8)
        g[k++] = 0;
    for (size_t i = 0; i < nt; i++)
        if (hex_group(s, t[i], &g[k++]) < 0)
            return -EINVAL;
    if (tail4) {
        g[k++] = (unsigned)v4[0] << 8 | v4[1];
        g[k++] = (unsigned)v4[2] << 8 | v4[3];
    }
    for (size_t i = 0; i < 8; i++) {
        out[2 * i] = (uint8_t)(g[i] >> 8);
        out[2 * i + 1] = (uint8_t)g[i];
    }
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
    static const uint8_t zero12[12];
    static const uint8_t xlat[4] = {0xff, 0xff, 0, 0};
    unsigned g[8];
    size_t best = 0, bestlen = 0;
    char *p = tmp;

    /* 7.17 special-cases addresses whose first 8 octets are zero. */
    if (memcmp(a, zero12, 8) == 0) {
        if (memcmp(a + 8, zero12, 4) == 0) {
            static const uint8_t one[4] = {0, 0, 0, 1};
            if (memcmp(a + 12, zero12, 4) == 0) {
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

    return put(tmp, render_ipv4(a, tmp), out, outlen);
}

int anysock_format_ipv6(const uint8_t a[16], char *out, size_t outlen)
{
    char tmp[ANYSOCK_IPV6_STRLEN];
    return put(tmp, render_ipv6(a, tmp), out, outlen);
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

static int is_hexcolon(unsigned char c)
{
    return c == ':' || is_hex(c);
}

int anysock_parse_hostport(const char *s, size_t len, const char *defport,
                           size_t defportlen, anysock_hostport *out)
{
    static const char unix_token[] = "unix/";
    size_t ws = 0, i, hs, he, pos, ps, pe;
    uint8_t b[16];

    /* return ("unix/", $_) if m%^/% */
    if (len > 0 && s[0] == '/') {
        out->host = unix_token;
        out->hostlen = 5;
        out->port = s;
        out->portlen = len;
        return 0;
    }
    while (ws < len && is_space((unsigned char)s[ws]))
        ws++;
    /* /^\s* ([0-9a-fA-F:]*:[0-9a-fA-F:]*:[0-9a-fA-F\.:]*)/xgc matches the
     * whole [0-9a-fA-F.:] run after the blanks when its leading
     * [0-9a-fA-F:] run has two colons. */
    {
        size_t colons = 0;

        i = ws;
        while (i < len && is_hexcolon((unsigned char)s[i]))
            colons += s[i++] == ':';
        if (colons >= 2) {
            while (i < len && (is_hexcolon((unsigned char)s[i]) ||
                               s[i] == '.'))
                i++;
            /* The match leaves pos() past it, so when the address does not
             * parse, the later /^.../gc alternatives cannot match at all. */
            if (anysock_parse_ipv6(s + ws, i - ws, b) < 0)
                return -EINVAL;
            hs = ws;
            he = pos = i;
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
        while (i < len && s[i] != '[' && s[i] != ']')
            i++;
        if (i == 1 || i == len || s[i] != ']')
            return -EINVAL;
        hs = 1;
        he = i;
        pos = i + 1;
    } else {
        /* /^ ([^\[\]:\ ]+) /x: tabs and other blanks belong to the host. */
        i = 0;
        while (i < len && s[i] != '[' && s[i] != ']' && s[i] != ':' &&
               s[i] != ' ')
            i++;
        if (i == 0)
            return -EINVAL;
        hs = 0;
        he = pos = i;
    }
port:
    /* /\G (?:\s+|:|\#) ([^:[:space:]]+) \s*$/x */
    i = pos;
    if (i < len && is_space((unsigned char)s[i])) {
        while (i < len && is_space((unsigned char)s[i]))
            i++;
    } else if (i < len && (s[i] == ':' || s[i] == '#')) {
        i++;
    } else {
        i = (size_t)-1;
    }
    if (i != (size_t)-1) {
        ps = i;
        while (i < len && s[i] != ':' && !is_space((unsigned char)s[i]))
            i++;
        pe = i;
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        if (pe > ps && i == len)
            goto done;
    }
    /* /\G\s*$/ && length $_[1] */
    for (i = pos; i < len; i++)
        if (!is_space((unsigned char)s[i]))
            return -EINVAL;
    if (defportlen == 0)
        return -EINVAL;
    out->host = s + hs;
    out->hostlen = he - hs;
    out->port = defport;
    out->portlen = defportlen;
    goto check;
done:
    out->host = s + hs;
    out->hostlen = he - hs;
    out->port = s + ps;
    out->portlen = pe - ps;
check:
    /* return if $host =~ /:/ && !parse_ipv6 $host */
    if (memchr(s + hs, ':', he - hs) &&
        anysock_parse_ipv6(s + hs, he - hs, b) < 0)
        return -EINVAL;
    return 0;
}

int anysock_format_hostport(const char *host, size_t hostlen,
                            const char *port, size_t portlen, char *out,
                            size_t outlen)
{
    int br = memchr(host, ':', hostlen) != NULL;
    size_t n = hostlen + 2 * (size_t)br + (portlen ? portlen + 1 : 0);
    char *p = out;

    if (n >= outlen || n > (size_t)0x7fffffff)
        return -ENOSPC;
    if (br)
        *p++ = '[';
    memcpy(p, host, hostlen);
    p += hostlen;
    if (br)
        *p++ = ']';
    if (portlen) {
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
        /* Keep room for the NUL: never truncate a path. */
        if (pathlen >= sizeof sa.u.un.sun_path)
            return -ENAMETOOLONG;
        if (pathlen && memchr(path, '\0', pathlen))
            return -EINVAL;
        sa.u.un.sun_family = AF_UNIX;
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
        pl = strnlen(pp, max);
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
