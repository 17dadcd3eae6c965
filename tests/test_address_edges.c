/* Address layer at the edges of its (pointer, length) contract (issue 15
 * items 2 and 3): every public function given (NULL, 0) behaves exactly
 * as with an empty string, and format_hostport's size computation never
 * wraps for lengths near SIZE_MAX. The asan preset turns any NULL passed
 * to memchr/memcpy (UBSan nonnull-attribute) or a wrapped memcpy length
 * (ASan negative-size-param) into a failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anysock.h"

static const char empty[1] = "";

static void test_parsers_take_null_zero_as_empty(void **state)
{
    uint8_t b4[4], w4[4], b16[16], w16[16];
    anysock_addr a, w;

    (void)state;
    assert_int_equal(anysock_parse_ipv4(NULL, 0, b4),
                     anysock_parse_ipv4(empty, 0, w4));
    assert_int_equal(anysock_parse_ipv4(NULL, 0, b4), -EINVAL);
    assert_int_equal(anysock_parse_ipv6(NULL, 0, b16),
                     anysock_parse_ipv6(empty, 0, w16));
    assert_int_equal(anysock_parse_ipv6(NULL, 0, b16), -EINVAL);
    assert_int_equal(anysock_parse_unix(NULL, 0, &a),
                     anysock_parse_unix(empty, 0, &w));
    assert_int_equal(anysock_parse_unix(NULL, 0, &a), -EINVAL);
    assert_int_equal(anysock_parse_address(NULL, 0, &a),
                     anysock_parse_address(empty, 0, &w));
    assert_int_equal(anysock_aton(NULL, 0, &a), -EINVAL);
    assert_int_equal(anysock_getprotobyname(NULL, 0),
                     anysock_getprotobyname(empty, 0));
    assert_int_equal(anysock_getprotobyname(NULL, 0), -EPROTONOSUPPORT);
}

static void test_parse_hostport_takes_null_zero_as_empty(void **state)
{
    anysock_hostport hp, want;
    int rc, wrc;

    (void)state;
    /* no string, no default; no string, a default; a string, no default */
    rc = anysock_parse_hostport(NULL, 0, NULL, 0, &hp);
    wrc = anysock_parse_hostport(empty, 0, empty, 0, &want);
    assert_int_equal(rc, wrc);
    rc = anysock_parse_hostport(NULL, 0, "80", 2, &hp);
    wrc = anysock_parse_hostport(empty, 0, "80", 2, &want);
    assert_int_equal(rc, wrc);
    rc = anysock_parse_hostport("a:1", 3, NULL, 0, &hp);
    assert_int_equal(rc, 0);
    assert_int_equal(hp.hostlen, 1);
    assert_memory_equal(hp.host, "a", 1);
    assert_int_equal(hp.portlen, 1);
    assert_memory_equal(hp.port, "1", 1);
}

static void test_format_hostport_takes_null_zero_as_empty(void **state)
{
    char out[16];

    (void)state;
    memset(out, 'x', sizeof out);
    assert_int_equal(anysock_format_hostport(NULL, 0, NULL, 0, out,
                                             sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(anysock_format_hostport(NULL, 0, "80", 2, out,
                                             sizeof out), 3);
    assert_string_equal(out, ":80");
    assert_int_equal(anysock_format_hostport("::1", 3, NULL, 0, out,
                                             sizeof out), 5);
    assert_string_equal(out, "[::1]");
    /* no room even for the NUL */
    assert_int_equal(anysock_format_hostport(NULL, 0, NULL, 0, NULL, 0),
                     -ENOSPC);
}

static void test_formatters_take_null_zero_output(void **state)
{
    static const uint8_t v4[4] = {127, 0, 0, 1};
    static const uint8_t v6[16] = {[15] = 1};
    anysock_addr a = {.family = AF_INET, .bytes = {127, 0, 0, 1}};

    (void)state;
    assert_int_equal(anysock_format_ipv4(v4, NULL, 0), -ENOSPC);
    assert_int_equal(anysock_format_ipv6(v6, NULL, 0), -ENOSPC);
    assert_int_equal(anysock_format_address(&a, NULL, 0), -ENOSPC);
    assert_int_equal(anysock_ntoa(&a, NULL, 0), -ENOSPC);
    assert_int_equal(anysock_format_hostport("h", 1, "1", 1, NULL, 0),
                     -ENOSPC);
}

static void test_sockaddr_functions_take_null_zero(void **state)
{
    anysock_addr unix_token, host;
    anysock_sockaddr sa, want;
    uint16_t port = 7;

    (void)state;
    assert_int_equal(anysock_parse_unix("unix/", 5, &unix_token), 0);
    /* an empty path: the same with NULL as with "" */
    assert_int_equal(anysock_pack_sockaddr(&unix_token, 0, NULL, 0, &sa),
                     anysock_pack_sockaddr(&unix_token, 0, empty, 0, &want));
    assert_int_equal(sa.len, want.len);
    assert_memory_equal(&sa.u.un, &want.u.un, sa.len);
    assert_int_equal(anysock_unpack_sockaddr(NULL, 0, &host, &port, NULL,
                                             NULL), -EINVAL);
    assert_int_equal(port, 7);   /* outputs untouched on failure */
}

/* Lengths that wrapped hostlen + 2*br + portlen + 1 before the fix: each
 * is -ENOSPC with the output untouched, and nothing past the real bytes
 * is read (the asan preset would say so). */
static void test_format_hostport_huge_lengths_are_enospc(void **state)
{
    static const struct {
        const char *host;
        size_t hostlen;
        const char *port;
        size_t portlen;
    } rows[] = {
        {"::1", SIZE_MAX, NULL, 0},
        {"::1", SIZE_MAX - 1, "80", 2},
        {"::1", SIZE_MAX - 2, "80", 2},
        {"::1", SIZE_MAX - 3, NULL, 0},
        {"a", 1, "80", SIZE_MAX},
        {"a", 1, "80", SIZE_MAX - 1},
        {"::1", 3, "80", SIZE_MAX - 5},
        {":", SIZE_MAX / 2, "1", SIZE_MAX / 2 + 1},
        {"a", (size_t)0x7fffffff, NULL, 0},
        {"a", 1, "1", (size_t)0x7fffffff},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int rc;

        memset(out, 'x', sizeof out);
        rc = anysock_format_hostport(rows[i].host, rows[i].hostlen,
                                     rows[i].port, rows[i].portlen, out,
                                     sizeof out);
        if (rc != -ENOSPC)
            fail_msg("row %zu: hostlen %zu portlen %zu gave %d", i,
                     rows[i].hostlen, rows[i].portlen, rc);
        for (size_t j = 0; j < sizeof out; j++)
            assert_int_equal(out[j], 'x');
    }
    /* an out buffer as large as it gets changes nothing */
    assert_int_equal(anysock_format_hostport("::1", SIZE_MAX - 1, "80", 2,
                                             out, SIZE_MAX), -ENOSPC);
    assert_int_equal(anysock_format_hostport("a", 1, "80", SIZE_MAX, out,
                                             SIZE_MAX), -ENOSPC);
}

/* parse_ipv6 reads a field's 4 digits and the byte after them without
 * bounds checks while 5 bytes remain, and checks the colon count only at
 * the end: fields on either side of that boundary, texts cut short by
 * their length, NUL bytes, and a trailing "::" after 8 groups. Each text
 * is a heap copy of exactly its length, so ASan sees any over-read.
 * Expected values: the parser before that change (AnyEvent 7.17). */
static void test_parse_ipv6_near_the_end(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        const char *want; /* 32 hex digits, or NULL: undef */
    } c[] = {
        {"1:2:3:4:5:6:7:8::", 17, NULL},
        {"1:2:3:4:5:6:7:8:", 16, NULL},
        {"::1:2:3:4:5:6:7", 15, "00000001000200030004000500060007"},
        {"1:2:3:4:5:6:7:8", 14, NULL},
        {"::1", 2, "00000000000000000000000000000000"},
        {"1:2:3:4:5:6:7:abcd", 18, "0001000200030004000500060007abcd"},
        {"1:2:3:4:5:6:7:abcde", 19, NULL},
        {"1:2:3:4:5:6:7:abcd", 17, "00010002000300040005000600070abc"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 39,
         "ffffffffffffffffffffffffffffffff"},
        {"1111:2222:3333:4444::5555:6666:7777:8888", 40,
         "11112222333344445555666677778888"},
        {"1::2:3:4\0", 9, NULL},
        {"1::2:3:\0" "4", 9, NULL},
        {"abcd::abcd:1", 12, "abcd00000000000000000000abcd0001"},
        {"abcd::1234", 10, "abcd0000000000000000000000001234"},
        {"abcd::12345", 11, NULL},
        {"::00001.2.3.4", 13, "00000000000000000000000001020304"},
        {"::1:2:3:4:5:6.7.8.9", 19, NULL},
        {"::1:2:3:4:5.6.7.8", 17, "00000000000100020003000405060708"},
        {"1:2:3:4:5:6:255.255.255.255", 27,
         "000100020003000400050006ffffffff"},
        {"1:2:3:4:5:6:256.1.1.1", 21, NULL},
        {"::ffff:1.2.3.4.", 15, NULL},
        {"::ffff:1.2.3.4x", 15, NULL},
        {"::0x1.2.3.4", 11, "00000000000000000000000001020304"},
    };

    (void)state;
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        char *s = malloc(c[k].len);
        uint8_t b[16];
        char hex[33];
        int rc;

        assert_non_null(s);
        memcpy(s, c[k].s, c[k].len);
        rc = anysock_parse_ipv6(s, c[k].len, b);
        free(s);
        if (!c[k].want) {
            assert_int_equal(rc, -EINVAL);
            continue;
        }
        assert_int_equal(rc, 0);
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", b[j]);
        assert_string_equal(hex, c[k].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers_take_null_zero_as_empty),
        cmocka_unit_test(test_parse_hostport_takes_null_zero_as_empty),
        cmocka_unit_test(test_format_hostport_takes_null_zero_as_empty),
        cmocka_unit_test(test_formatters_take_null_zero_output),
        cmocka_unit_test(test_sockaddr_functions_take_null_zero),
        cmocka_unit_test(test_format_hostport_huge_lengths_are_enospc),
        cmocka_unit_test(test_parse_ipv6_near_the_end),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
