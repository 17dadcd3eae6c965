/* The smallest real user of an installed libanysock: parse, format, and a
 * context on a libev loop. Exits 0 only if all of it works. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include <anysock.h>

int main(void)
{
    anysock_addr a;
    anysock_ctx *ctx;
    char text[ANYSOCK_ADDRESS_STRLEN];
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

    if (anysock_parse_address("::ffff:10.0.0.1", 15, &a) != 0 ||
        anysock_format_address(&a, text, sizeof text) < 0 ||
        strcmp(text, "10.0.0.1") != 0) {
        fprintf(stderr, "address layer failed\n");
        return 1;
    }
    if (anysock_ctx_new(loop, NULL, &ctx) != 0) {
        fprintf(stderr, "ctx_new failed\n");
        return 1;
    }
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    printf("anysock %s consumer ok: %s\n", anysock_version(), text);
    return 0;
}
