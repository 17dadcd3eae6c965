/* placeholder: being written (address commands) */
#include "cli.h"
int cli_parse(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
int cli_format(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
int cli_hostport(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
int cli_format_hostport(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
