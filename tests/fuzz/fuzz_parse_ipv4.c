/* anysock_parse_ipv4 on arbitrary bytes: 0 or -EINVAL only, output
 * untouched on failure, same verdict and octets as the 7.17 model, and a
 * success formats to text that parses back to the same octets. */
#include "fuzz.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_dup(data, size);
    uint8_t out[4], want[4], again[4];
    char txt[ANYSOCK_IPV4_STRLEN];
    int r, m;

    fz_fill(out, sizeof out);
    r = anysock_parse_ipv4(s, size, out);
    m = model_parse_ipv4(s, size, want);
    CHECK(r == 0 || r == -EINVAL);
    CHECK((r == 0) == (m == 0));
    if (r < 0) {
        CHECK(fz_untouched(out, sizeof out));
    } else {
        CHECK(memcmp(out, want, 4) == 0);
        /* a success is never empty and never has more than three dots */
        CHECK(size > 0);
        r = anysock_format_ipv4(out, txt, sizeof txt);
        fz_check_formatted(r, txt, sizeof txt);
        CHECK(anysock_parse_ipv4(txt, (size_t)r, again) == 0);
        CHECK(memcmp(out, again, 4) == 0);
    }
    free(s);
    return 0;
}
