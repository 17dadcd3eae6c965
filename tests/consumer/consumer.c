/* The smallest real user of libanysock, built the ways the README shows:
 * the address layer, and a context on a libev loop that it runs itself
 * (ev_run: libev must come with the library's link interface). Exits 0
 * only if all of it works. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include <anysock.h>

static int answers;

static void on_addrs(void *data, int status, const anysock_addr *addrs,
                     size_t count)
{
    char text[ANYSOCK_ADDRESS_STRLEN];

    (void)data;
    if (status == 0 && count == 1 &&
        anysock_format_address(&addrs[0], text, sizeof text) > 0 &&
        strcmp(text, "127.0.0.1") == 0)
        answers++;
}

int main(void)
{
    anysock_addr a;
    anysock_ctx *ctx;
    anysock_guard *guard = NULL;
    anysock_ctx_stats st;
    char text[ANYSOCK_ADDRESS_STRLEN];
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

    if (anysock_parse_address("::ffff:10.0.0.1", 15, &a) != 0 ||
        anysock_format_address(&a, text, sizeof text) < 0 ||
        strcmp(text, "10.0.0.1") != 0) {
        fprintf(stderr, "address layer failed\n");
        return 1;
    }
    if (loop == NULL || anysock_ctx_new(loop, NULL, &ctx) != 0) {
        fprintf(stderr, "ctx_new failed\n");
        return 1;
    }
    if (anysock_inet_aton(ctx, "127.0.0.1", on_addrs, NULL, &guard) != 0) {
        fprintf(stderr, "inet_aton failed\n");
        return 1;
    }
    ev_run(loop, 0);   /* returns once the answer is in: nothing active */
    anysock_guard_cancel(&guard);
    st.size = sizeof st;
    if (answers != 1 || anysock_ctx_stats_get(ctx, &st) != 0 ||
        st.ops_live != 0 || st.guards_finished != 0) {
        fprintf(stderr, "inet_aton: %d answers\n", answers);
        return 1;
    }
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    printf("anysock %s consumer ok: %s\n", anysock_version(), text);
    return 0;
}
