/* anysock_parse_ipv6 on arbitrary bytes: 0 or -EINVAL only, output
 * untouched on failure, same verdict and octets as the 7.17 model, a
 * colon-free input agrees with parse_ipv4 (as ::ffff:a.b.c.d), and a
 * success formats to text that parses back to the same octets. */
#include "fuzz.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_dup(data, size);
    uint8_t out[16], want[16], again[16], v4[4];
    char txt[ANYSOCK_IPV6_STRLEN];
    int r, m;

    fz_fill(out, sizeof out);
    r = anysock_parse_ipv6(s, size, out);
    m = model_parse_ipv6(s, size, want);
    CHECK(r == 0 || r == -EINVAL);
    CHECK((r == 0) == (m == 0));
    if (r < 0)
        CHECK(fz_untouched(out, sizeof out));
    else
        CHECK(memcmp(out, want, 16) == 0);
    if (!memchr(s, ':', size)) {
        int r4 = anysock_parse_ipv4(s, size, v4);

        CHECK((r == 0) == (r4 == 0));
        if (r == 0) {
            static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

            CHECK(memcmp(out, mapped, 12) == 0);
            CHECK(memcmp(out + 12, v4, 4) == 0);
        }
    }
    if (r == 0) {
        r = anysock_format_ipv6(out, txt, sizeof txt);
        fz_check_formatted(r, txt, sizeof txt);
        CHECK(anysock_parse_ipv6(txt, (size_t)r, again) == 0);
        CHECK(memcmp(out, again, 16) == 0);
    }
    free(s);
    return 0;
}
