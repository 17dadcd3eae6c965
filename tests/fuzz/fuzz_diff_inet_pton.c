/* Differential test against glibc inet_pton on the inputs where
 * AnyEvent::Socket 7.17 and inet_pton must agree. The input's first byte
 * picks the family (even: AF_INET, odd: AF_INET6); the rest is the text,
 * in an exact-size copy for us and a NUL-terminated one for inet_pton.
 *
 * IPv4, the agreement subset: exactly three dots, no 'x' or 'X', no final
 * "\n", and no part that is a '0' followed by more digits. Outside it 7.17
 * also takes octal ("010"), hex ("0x1"), one to three parts ("1.2",
 * "16909060") and a final "\n", which inet_pton refuses. Inside it both
 * accept exactly the four decimal parts 0..255.
 *
 * IPv6, the agreement subset: at least one ':' (7.17 maps a plain IPv4
 * address to ::ffff:a.b.c.d), an IPv4 tail only in the IPv4 subset above
 * and after at most six colons (7.17 refuses a tail after seven:
 * "::1:2:3:4:5:1.2.3.4", which inet_pton takes), and no "::" beside eight
 * explicit groups (7.17 lets "::" stand for zero groups:
 * "1:2:3:4::5:6:7:8"; inet_pton refuses). Inside it: same verdict, same
 * 16 octets. */
#include "fuzz.h"

#include <arpa/inet.h>

static int v4_subset(const char *s, size_t len)
{
    size_t dots = 0;

    if (len > 0 && s[len - 1] == '\n')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == 'x' || s[i] == 'X')
            return 0;
        if (s[i] == '.')
            dots++;
        /* a part starting "0<digit>" */
        if (s[i] == '0' && (i == 0 || s[i - 1] == '.') && i + 1 < len &&
            s[i + 1] >= '0' && s[i + 1] <= '9')
            return 0;
    }
    return dots == 3;
}

static int v6_subset(const char *s, size_t len)
{
    size_t colons = 0, last = 0, groups = 0;
    int dc = 0, dot;

    for (size_t i = 0; i < len; i++)
        if (s[i] == ':') {
            colons++;
            last = i + 1;
            if (i + 1 < len && s[i + 1] == ':')
                dc = 1;
        }
    if (colons == 0)
        return 0;
    dot = memchr(s + last, '.', len - last) != NULL;
    if (dot && (colons > 6 || !v4_subset(s + last, len - last)))
        return 0;
    /* count the non-empty ':'-separated fields, an IPv4 tail as two */
    for (size_t i = 0; i < len;) {
        size_t j = i;

        while (j < len && s[j] != ':')
            j++;
        if (j > i)
            groups += dot && j == len ? 2 : 1;
        i = j + 1;
    }
    return !(dc && groups >= 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t ours[16], theirs[16];
    size_t len;
    char *s, *z;
    int v6, r, p;

    if (size == 0)
        return 0;
    v6 = data[0] & 1;
    len = size - 1;
    s = fz_dup(data + 1, len);
    /* inet_pton needs a C string: an embedded NUL would cut it short */
    if (memchr(s, '\0', len) ||
        !(v6 ? v6_subset(s, len) : v4_subset(s, len))) {
        free(s);
        return 0;
    }
    z = malloc(len + 1);
    CHECK(z);
    memcpy(z, s, len);
    z[len] = '\0';
    fz_fill(ours, sizeof ours);
    fz_fill(theirs, sizeof theirs);
    if (v6) {
        r = anysock_parse_ipv6(s, len, ours);
        p = inet_pton(AF_INET6, z, theirs);
        CHECK((r == 0) == (p == 1));
        if (r == 0)
            CHECK(memcmp(ours, theirs, 16) == 0);
    } else {
        r = anysock_parse_ipv4(s, len, ours);
        p = inet_pton(AF_INET, z, theirs);
        CHECK((r == 0) == (p == 1));
        if (r == 0)
            CHECK(memcmp(ours, theirs, 4) == 0);
    }
    free(z);
    free(s);
    return 0;
}
