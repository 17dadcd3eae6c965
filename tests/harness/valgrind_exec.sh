#!/bin/sh
# Stands in for a program a test script runs, running it under valgrind
# memcheck instead: ANYSOCK_VG_TARGET names the program. Scripts that take
# the CLI's path get this wrapper, so the CLI runs checked unchanged.
exec valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect "$ANYSOCK_VG_TARGET" "$@"
