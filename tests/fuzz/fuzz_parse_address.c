/* anysock_parse_address / anysock_aton on arbitrary bytes: 0 or -EINVAL,
 * output untouched on failure; on success the family is AF_INET (plain or
 * ::ffff:-mapped, per parse_ipv6), AF_INET6 (never mapped) or AF_UNIX
 * (exactly "unix/"), unused bytes are zero, aton agrees, and
 * format_address writes a NUL-terminated text that fits exactly
 * (-ENOSPC and untouched one byte short) and parses back to the same. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const uint8_t zero[16];
    char *s = fz_dup(data, size);
    anysock_addr a, b, c;
    uint8_t v6[16];
    char txt[ANYSOCK_ADDRESS_STRLEN], small[ANYSOCK_ADDRESS_STRLEN];
    int r, r6, n;

    fz_fill(&a, sizeof a);
    r = anysock_parse_address(s, size, &a);
    CHECK(r == 0 || r == -EINVAL);
    fz_fill(&b, sizeof b);
    CHECK(anysock_aton(s, size, &b) == r);
    if (r < 0) {
        CHECK(fz_untouched(&a, sizeof a));
        CHECK(fz_untouched(&b, sizeof b));
        goto out;
    }
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(anysock_address_family(&a) == a.family);
    r6 = anysock_parse_ipv6(s, size, v6);
    switch (a.family) {
    case AF_INET:
        CHECK(r6 == 0);
        CHECK(memcmp(v6, mapped, 12) == 0 && memcmp(v6 + 12, a.bytes, 4) == 0);
        CHECK(memcmp(a.bytes + 4, zero, 12) == 0);
        break;
    case AF_INET6:
        CHECK(r6 == 0);
        CHECK(memcmp(v6, a.bytes, 16) == 0);
        CHECK(memcmp(a.bytes, mapped, 12) != 0);
        break;
    case AF_UNIX:
        CHECK(r6 < 0);
        CHECK(size == 5 && memcmp(s, "unix/", 5) == 0);
        CHECK(memcmp(a.bytes, zero, 16) == 0);
        break;
    default:
        CHECK(!"unexpected family");
    }
    n = anysock_format_address(&a, txt, sizeof txt);
    fz_check_formatted(n, txt, sizeof txt);
    /* the buffer contract: exactly n + 1 fits, n does not */
    CHECK(anysock_format_address(&a, small, (size_t)n + 1) == n);
    CHECK(memcmp(small, txt, (size_t)n + 1) == 0);
    fz_fill(small, sizeof small);
    CHECK(anysock_format_address(&a, small, (size_t)n) == -ENOSPC);
    CHECK(fz_untouched(small, sizeof small));
    CHECK(anysock_ntoa(&a, small, sizeof small) == n);
    CHECK(memcmp(small, txt, (size_t)n + 1) == 0);
    CHECK(anysock_parse_address(txt, (size_t)n, &c) == 0);
    CHECK(memcmp(&a, &c, sizeof a) == 0);
out:
    free(s);
    return 0;
}
