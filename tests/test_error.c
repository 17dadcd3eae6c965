/* anysock_strerror / anysock_err_name: every code has a message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "anysock.h"

static void test_strerror_knows_errno_and_own_codes(void **state)
{
    (void)state;
    assert_string_equal(anysock_strerror(-ECONNREFUSED), "Connection refused");
    assert_string_equal(anysock_strerror(-ETIMEDOUT), "Connection timed out");
    assert_string_equal(anysock_strerror(-ENXIO), "No such device or address");
    assert_string_equal(anysock_strerror(ANYSOCK_ESERVICE), "unknown service");
    assert_string_equal(anysock_strerror(0), "Success");
    assert_string_equal(anysock_strerror(-123456), "unknown error");
    assert_string_equal(anysock_strerror(77777), "unknown error");
}

static void test_err_name(void **state)
{
    (void)state;
    assert_string_equal(anysock_err_name(-ECONNREFUSED), "ECONNREFUSED");
    assert_string_equal(anysock_err_name(ANYSOCK_EENVDNS), "ANYSOCK_EENVDNS");
    assert_string_equal(anysock_err_name(-99999), "UNKNOWN");
}

static void test_every_own_code_has_distinct_text(void **state)
{
    static const int codes[] = {
#define XX(name, code, msg) code,
        ANYSOCK_ERRNO_MAP(XX)
#undef XX
    };
    (void)state;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_string_not_equal(anysock_strerror(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(anysock_strerror(codes[i]),
                                    anysock_strerror(codes[j]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_knows_errno_and_own_codes),
        cmocka_unit_test(test_err_name),
        cmocka_unit_test(test_every_own_code_has_distinct_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
