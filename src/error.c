/* anysock_strerror and friends: one X-macro list, static strings only. */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

const char *anysock_version(void)
{
    return STR(ANYSOCK_VERSION_MAJOR) "." STR(ANYSOCK_VERSION_MINOR) "."
        STR(ANYSOCK_VERSION_PATCH);
}

const char *anysock_strerror(int status)
{
    const char *s;

    switch (status) {
    case 0:
        return "Success";
#define XX(name, code, msg) case code: return msg;
    ANYSOCK_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (status < 0 && status > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
        /* thread-safe and static, unlike strerror() */
        s = strerrordesc_np(-status);
#else
        s = strerror(-status);
#endif
        if (s != NULL)
            return s;
    }
    return "unknown error";
}

const char *anysock_err_name(int status)
{
    const char *s;

    switch (status) {
#define XX(name, code, msg) case code: return "ANYSOCK_" #name;
    ANYSOCK_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    if (status < 0 && status > -4096 && (s = strerrorname_np(-status)))
        return s;
#else
    (void)s;
#endif
    return "UNKNOWN";
}
