/* anysock_parse_hostport on arbitrary bytes. Input layout: byte 0 low 3
 * bits = default-service length d (taken from the input's end), the rest
 * is the string. Asserts: 0 or -EINVAL, output untouched on failure; on
 * success both spans are non-empty and lie inside the string, the default
 * service (only when given) or the static "unix/" (only for "/path");
 * spans from the string do not overlap; a port from the string has no ':'
 * or blank; a host with ':' parses as IPv6 and has no brackets; the
 * default service is used only when the string alone fails. */
#include "fuzz.h"

static int blank(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static void check_ok(const char *s, size_t len, const char *dp, size_t dl,
                     const anysock_hostport *hp)
{
    int host_in = fz_inside(hp->host, hp->hostlen, s, len);
    int port_in = fz_inside(hp->port, hp->portlen, s, len);
    uint8_t b[16];

    CHECK(hp->hostlen > 0 && hp->portlen > 0);
    if (len > 0 && s[0] == '/') {
        CHECK(hp->hostlen == 5 && memcmp(hp->host, "unix/", 5) == 0);
        CHECK(!host_in);
        CHECK(hp->port == s && hp->portlen == len);
        return;
    }
    CHECK(host_in);
    CHECK(port_in || (dl > 0 && hp->port == dp && hp->portlen == dl));
    if (port_in) {
        /* host before port, with at least one separator between */
        CHECK(hp->host + hp->hostlen < hp->port);
        for (size_t i = 0; i < hp->portlen; i++)
            CHECK(hp->port[i] != ':' && !blank(hp->port[i]));
    }
    for (size_t i = 0; i < hp->hostlen; i++)
        CHECK(hp->host[i] != '[' && hp->host[i] != ']');
    if (memchr(hp->host, ':', hp->hostlen))
        CHECK(anysock_parse_ipv6(hp->host, hp->hostlen, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t dl, len;
    char *s, *dp;
    anysock_hostport a, b;
    int r, rd;

    if (size == 0)
        return 0;
    dl = data[0] & 7;
    if (dl > size - 1)
        dl = size - 1;
    len = size - 1 - dl;
    s = fz_dup(data + 1, len);
    dp = fz_dup(data + 1 + len, dl);

    fz_fill(&a, sizeof a);
    r = anysock_parse_hostport(s, len, NULL, 0, &a);
    CHECK(r == 0 || r == -EINVAL);
    if (r < 0)
        CHECK(fz_untouched(&a, sizeof a));
    else
        check_ok(s, len, NULL, 0, &a);

    fz_fill(&b, sizeof b);
    rd = anysock_parse_hostport(s, len, dp, dl, &b);
    CHECK(rd == 0 || rd == -EINVAL);
    if (rd < 0) {
        CHECK(fz_untouched(&b, sizeof b));
        /* a default service only ever helps */
        CHECK(r < 0);
    } else {
        check_ok(s, len, dp, dl, &b);
        if (r == 0)
            CHECK(memcmp(&a, &b, sizeof a) == 0);
        else
            CHECK(dl > 0 && b.port == dp && b.portlen == dl);
    }
    free(s);
    free(dp);
    return 0;
}
