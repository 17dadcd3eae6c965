/* anysock: command-line shell over libanysock (contract: CLI.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_usage(void)
{
    fputs("usage: anysock parse ipv4|ipv6|unix|address TEXT\n"
          "       anysock format ipv4|ipv6|address HEX\n"
          "       anysock hostport STRING [DEFAULT]\n"
          "       anysock format-hostport HOST [PORT]\n"
          "       anysock resolve [-4|-6] [--proto tcp|udp] "
          "[--type stream|dgram|seqpacket] [--dns-server ADDR]\n"
          "                       [--cache] [--hosts-first] NODE SERVICE\n"
          "       anysock connect [--timeout SECONDS] [-4|-6] HOST SERVICE\n"
          "         (connect also: [--deadline SECONDS] "
          "[--resolution-delay SECONDS] [--attempt-delay SECONDS] [-v])\n"
          "         (connect also: [--keepalive IDLE,INTVL,CNT] "
          "[--user-timeout MS] [--bind ADDR[:PORT]]\n"
          "          [--interface NAME] [--mptcp] [--fastopen])\n"
          "       anysock listen [--echo] [-v] [--mptcp] [--fastopen QLEN] "
          "[--reuseport] [--v6only]\n"
          "                      HOST SERVICE\n"
          "       anysock listen [--echo] [-v] --systemd\n"
          "TEXT, HEX or STRING '-' reads one input per line from stdin.\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } cmds[] = {
        {"parse", cli_parse},
        {"format", cli_format},
        {"hostport", cli_hostport},
        {"format-hostport", cli_format_hostport},
        {"resolve", cli_resolve},
        {"connect", cli_connect},
        {"listen", cli_listen},
    };

    if (argc < 2)
        return cli_usage();
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 2, argv + 2);
    return cli_usage();
}
