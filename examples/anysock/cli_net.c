/* placeholder: being written (connect and listen commands) */
#include "cli.h"
int cli_connect(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
int cli_listen(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
