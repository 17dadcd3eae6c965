/* pack/unpack_sockaddr with odd unix addresses, under ASan: exact-size
 * heap buffers so any over-read is caught. */
#include "common.h"
#include <sys/un.h>
#include <stddef.h>

static void unpack(const char *label, const void *src, size_t buflen, socklen_t len)
{
    void *b = malloc(buflen);
    memcpy(b, src, buflen);
    anysock_addr a; uint16_t port = 7; const char *path = NULL; size_t pl = 12345;
    int rc = anysock_unpack_sockaddr(b, len, &a, &port, &path, &pl);
    printf("unpack %-34s len %3u: rc %d fam %d pathlen %zu first byte %d\n", label, (unsigned)len, rc, rc == 0 ? a.family : -1,
           rc == 0 ? pl : 0, rc == 0 && path && pl ? (unsigned char)path[0] : -1);
    free(b);
}

static void pack(const char *label, const char *p, size_t pl)
{
    anysock_addr u; anysock_sockaddr sa;
    anysock_parse_unix("unix/", 5, &u);
    char *b = malloc(pl ? pl : 1); memcpy(b, p, pl);
    int rc = anysock_pack_sockaddr(&u, 0, b, pl, &sa);
    printf("pack   %-34s pathlen %3zu: rc %d (%s) salen %u\n", label, pl, rc, anysock_err_name(rc), rc == 0 ? (unsigned)sa.len : 0);
    free(b);
}

int main(void)
{
    struct sockaddr_un un; char big[300];
    size_t off = offsetof(struct sockaddr_un, sun_path);
    memset(&un, 'x', sizeof un); un.sun_family = AF_UNIX;
    unpack("108 path bytes, no NUL", &un, sizeof un, sizeof un);
    unpack("unnamed (len = offsetof)", &un, sizeof un, (socklen_t)off);
    unpack("len 1 (short)", &un, sizeof un, 1);
    un.sun_path[0] = 0;
    unpack("abstract, full 108", &un, sizeof un, sizeof un);
    unpack("abstract, just the NUL", &un, sizeof un, (socklen_t)off + 1);
    memset(big, 'y', sizeof big); memcpy(big, &un, off); big[off] = 0;
    unpack("abstract, len 200 > sizeof", big, 200, 200);
    big[off] = 'z';
    unpack("path, len 200 > sizeof, no NUL", big, 200, 200);
    pack("\"@\"", "@", 1);
    pack("\"\\0\"", "\0", 1);
    pack("\"@\" + 107", memset(big, 'a', 108), 108); big[0] = '@'; pack("\"@\" + 107 (with @)", big, 108);
    pack("\"@\" + 108", big, 109);
    pack("\"/\" + NUL inside", "/tmp/a\0b", 8);
    pack("\"@a\\0b\" (NUL in abstract)", "@a\0b", 4);
    pack("empty path", "", 0);
    pack("107 bytes file", memset(big, 'b', 107), 107);
    pack("108 bytes file", big, 108);
    return 0;
}
