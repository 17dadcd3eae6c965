/* placeholder: being written (resolve command) */
#include "cli.h"
int cli_resolve(int argc, char **argv) { (void)argc; (void)argv; return cli_usage(); }
