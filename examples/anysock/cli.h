/* The anysock command: one entry point per command group. Each gets the
 * arguments after the command word and returns the exit status
 * (0 ok, 1 no result / failure, 2 usage). */
#ifndef ANYSOCK_CLI_H
#define ANYSOCK_CLI_H

int cli_parse(int argc, char **argv);
int cli_format(int argc, char **argv);
int cli_hostport(int argc, char **argv);
int cli_format_hostport(int argc, char **argv);
int cli_resolve(int argc, char **argv);
int cli_connect(int argc, char **argv);
int cli_listen(int argc, char **argv);

/* Print usage on stderr; returns 2. */
int cli_usage(void);

#endif
