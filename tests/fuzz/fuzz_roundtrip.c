/* Round-trip properties over one input read several ways:
 * - as text: whatever parse_ipv4/parse_ipv6/parse_address accepts is a
 *   fixed point of parse∘format (same binary address, canonical text);
 * - as raw 4/16-byte addresses: parse(format(a)) == a for every a;
 * - pack_sockaddr/unpack_sockaddr for ipv4, ipv6 and unix paths (a path
 *   that does not fit or holds a NUL is refused, never truncated);
 * - format_hostport then parse_hostport gives back host and port. */
#include "fuzz.h"

static void text_fixed_points(const char *s, size_t len)
{
    uint8_t a4[4], b4[4], a6[16], b6[16];
    anysock_addr a, b;
    char t1[ANYSOCK_ADDRESS_STRLEN], t2[ANYSOCK_ADDRESS_STRLEN];
    int n1, n2;

    if (anysock_parse_ipv4(s, len, a4) == 0) {
        n1 = anysock_format_ipv4(a4, t1, sizeof t1);
        fz_check_formatted(n1, t1, sizeof t1);
        CHECK(anysock_parse_ipv4(t1, (size_t)n1, b4) == 0);
        CHECK(memcmp(a4, b4, 4) == 0);
    }
    if (anysock_parse_ipv6(s, len, a6) == 0) {
        n1 = anysock_format_ipv6(a6, t1, sizeof t1);
        fz_check_formatted(n1, t1, sizeof t1);
        CHECK(anysock_parse_ipv6(t1, (size_t)n1, b6) == 0);
        CHECK(memcmp(a6, b6, 16) == 0);
        n2 = anysock_format_ipv6(b6, t2, sizeof t2);
        CHECK(n1 == n2 && memcmp(t1, t2, (size_t)n1) == 0);
    }
    if (anysock_parse_address(s, len, &a) == 0) {
        n1 = anysock_format_address(&a, t1, sizeof t1);
        fz_check_formatted(n1, t1, sizeof t1);
        CHECK(anysock_parse_address(t1, (size_t)n1, &b) == 0);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        n2 = anysock_format_address(&b, t2, sizeof t2);
        CHECK(n1 == n2 && memcmp(t1, t2, (size_t)n1) == 0);
    }
}

static void raw_addresses(const uint8_t *d, size_t size)
{
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    uint8_t b4[4], b6[16];
    anysock_addr a, b;
    char t[ANYSOCK_ADDRESS_STRLEN];
    int n;

    if (size >= 4) {
        n = anysock_format_ipv4(d, t, sizeof t);
        fz_check_formatted(n, t, sizeof t);
        CHECK(anysock_parse_ipv4(t, (size_t)n, b4) == 0);
        CHECK(memcmp(d, b4, 4) == 0);
    }
    if (size >= 16) {
        n = anysock_format_ipv6(d, t, sizeof t);
        fz_check_formatted(n, t, sizeof t);
        CHECK(anysock_parse_ipv6(t, (size_t)n, b6) == 0);
        CHECK(memcmp(d, b6, 16) == 0);
        /* format_address prints a mapped address as IPv4, and
         * parse_address gives it back as AF_INET */
        memset(&a, 0, sizeof a);
        a.family = AF_INET6;
        memcpy(a.bytes, d, 16);
        n = anysock_format_address(&a, t, sizeof t);
        fz_check_formatted(n, t, sizeof t);
        CHECK(anysock_parse_address(t, (size_t)n, &b) == 0);
        if (memcmp(d, mapped, 12) == 0)
            CHECK(b.family == AF_INET && memcmp(b.bytes, d + 12, 4) == 0);
        else
            CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
}

static void pack_unpack(const uint8_t *d, size_t size)
{
    anysock_addr a, h;
    anysock_sockaddr sa;
    uint16_t port, p;
    const char *path;
    size_t pathlen;
    char *pth;
    int r;

    if (size < 2)
        return;
    port = (uint16_t)(d[0] << 8 | d[1]);
    for (int fam = 0; fam < 2; fam++) {
        size_t n = fam ? 16 : 4;

        if (size < 2 + n)
            break;
        memset(&a, 0, sizeof a);
        a.family = fam ? AF_INET6 : AF_INET;
        memcpy(a.bytes, d + 2, n);
        CHECK(anysock_pack_sockaddr(&a, port, NULL, 0, &sa) == 0);
        CHECK(sa.len == (fam ? sizeof sa.u.in6 : sizeof sa.u.in));
        CHECK(sa.u.sa.sa_family == a.family);
        CHECK(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &h, &p, &path,
                                      &pathlen) == 0);
        CHECK(memcmp(&a, &h, sizeof a) == 0 && p == port);
        CHECK(path == NULL && pathlen == 0);
    }
    /* the whole input after the port as a unix path, in an exact copy */
    pathlen = size - 2;
    pth = fz_dup(d + 2, pathlen);
    memset(&a, 0, sizeof a);
    a.family = AF_UNIX;
    fz_fill(&sa, sizeof sa);
    r = anysock_pack_sockaddr(&a, port, pth, pathlen, &sa);
    if (pathlen > 0 && (pth[0] == '@' || pth[0] == '\0')) {
        /* abstract: exact length, any bytes, back with a leading NUL */
        if (pathlen == 1 || pathlen > sizeof sa.u.un.sun_path) {
            CHECK(r == -EINVAL || r == -ENAMETOOLONG);
            CHECK(fz_untouched(&sa, sizeof sa));
        } else {
            CHECK(r == 0);
            CHECK(sa.len == offsetof(struct sockaddr_un, sun_path) + pathlen);
            CHECK(sa.u.un.sun_path[0] == '\0');
            CHECK(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &h, &p, &path,
                                          &pathlen) == 0);
            CHECK(pathlen == size - 2 && path[0] == '\0' &&
                  memcmp(path + 1, pth + 1, pathlen - 1) == 0);
        }
    } else if (pathlen >= sizeof sa.u.un.sun_path) {
        CHECK(r == -ENAMETOOLONG);
        CHECK(fz_untouched(&sa, sizeof sa));
    } else if (memchr(pth, '\0', pathlen)) {
        CHECK(r == -EINVAL);
        CHECK(fz_untouched(&sa, sizeof sa));
    } else {
        CHECK(r == 0);
        CHECK(sa.len == offsetof(struct sockaddr_un, sun_path) + pathlen + 1);
        CHECK(sa.u.un.sun_path[pathlen] == '\0');
        CHECK(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &h, &p, &path,
                                      &pathlen) == 0);
        CHECK(h.family == AF_UNIX && p == 0);
        CHECK(pathlen == size - 2 && memcmp(path, pth, pathlen) == 0);
    }
    free(pth);
}

/* A host AnyEvent's grammar round-trips: a formatted address, or a name
 * of [a-z0-9.-]; a port of [a-z0-9=] (as "https=443"). */
static void hostport(const uint8_t *d, size_t size)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
    static const char port_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789=";
    char host[64], port[16], *buf, *hp;
    size_t hl, pl, need;
    anysock_hostport out;
    anysock_addr a;
    int n;

    if (size < 3)
        return;
    pl = d[1] % sizeof port; /* 0: no port in the text */
    d += 2;
    size -= 2;
    memset(&a, 0, sizeof a);
    switch (d[0] % 3) {
    case 0:
        a.family = AF_INET;
        break;
    case 1:
        a.family = AF_INET6;
        break;
    default:
        a.family = 0;
        break;
    }
    d++;
    size--;
    if (a.family) {
        size_t k = size < 16 ? size : 16;

        memcpy(a.bytes, d, k);
        n = anysock_format_address(&a, host, sizeof host);
        fz_check_formatted(n, host, sizeof host);
        hl = (size_t)n;
    } else {
        hl = size < sizeof host ? size : sizeof host;
        if (hl == 0)
            return;
        for (size_t i = 0; i < hl; i++)
            host[i] = name_chars[d[i] % (sizeof name_chars - 1)];
    }
    for (size_t i = 0; i < pl; i++)
        port[i] = port_chars[(size > i ? d[size - 1 - i] : i) %
                             (sizeof port_chars - 1)];
    need = hl + pl + 4;
    buf = malloc(need);
    CHECK(buf);
    n = anysock_format_hostport(host, hl, pl ? port : NULL, pl, buf, need);
    fz_check_formatted(n, buf, need);
    /* one byte short of its own length plus NUL: -ENOSPC */
    CHECK(anysock_format_hostport(host, hl, port, pl, buf, (size_t)n) ==
          -ENOSPC);
    n = anysock_format_hostport(host, hl, pl ? port : NULL, pl, buf, need);
    hp = fz_dup(buf, (size_t)n);
    if (pl) {
        CHECK(anysock_parse_hostport(hp, (size_t)n, NULL, 0, &out) == 0);
        CHECK(out.hostlen == hl && memcmp(out.host, host, hl) == 0);
        CHECK(out.portlen == pl && memcmp(out.port, port, pl) == 0);
    } else {
        /* no port in the text: the default service fills in, but only
         * if the host alone is taken (a bracket-less IPv6 address is) */
        CHECK(anysock_parse_hostport(hp, (size_t)n, "p", 1, &out) == 0);
        CHECK(out.hostlen == hl && memcmp(out.host, host, hl) == 0);
        CHECK(out.portlen == 1 && out.port[0] == 'p');
    }
    free(hp);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_dup(data, size);

    text_fixed_points(s, size);
    raw_addresses((const uint8_t *)s, size);
    pack_unpack((const uint8_t *)s, size);
    hostport((const uint8_t *)s, size);
    free(s);
    return 0;
}
