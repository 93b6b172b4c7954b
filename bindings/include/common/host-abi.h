/*
 * What Suricata 7.0 and 8.0 export identically and suriguard uses: the logger, the
 * version string and the log-rotation flags. Checked against 7.0.10 and 8.0.8
 * (src/util-debug.h, src/suricata.c, src/output.c) and the symbols both Debian packages
 * export (`nm -D /usr/bin/suricata`). Resolved with dlsym at run time.
 */
#ifndef SURIGUARD_COMMON_HOST_ABI_H
#define SURIGUARD_COMMON_HOST_ABI_H

#include <stdint.h>

/* src/util-debug.h (same values in 7.0 and 8.0) */
typedef enum {
    SC_LOG_NOTSET = -1,
    SC_LOG_NONE = 0,
    SC_LOG_ERROR,
    SC_LOG_WARNING,
    SC_LOG_NOTICE,
    SC_LOG_INFO,
    SC_LOG_PERF,
    SC_LOG_CONFIG,
    SC_LOG_DEBUG,
    SC_LOG_LEVEL_MAX,
} SCLogLevel;

/* Filters by each output's level itself; `module` shows as the subsystem (%S). 7.0
 * returns an SCError, 8.0 nothing; the result is never read, so it is declared void. */
typedef void (*SCLogMessageFn)(const SCLogLevel level, const char *file,
        const unsigned int line, const char *function, const char *module, const char *message);

/* src/suricata.c: "7.0.10 RELEASE", "8.0.8 RELEASE", "8.1.0-dev (rev)". */
typedef const char *(*GetProgramVersionFn)(void);

/* src/util-conf.c: the log directory (default-log-dir, or -l). 7.0 names it
 * ConfigGetLogDirectory, 8.0 SCConfigGetLogDirectory. */
typedef const char *(*ConfigGetLogDirectoryFn)(void);

/* src/output.c: Suricata sets *flag = 1 on SIGHUP and on the unix socket's
 * `reopen-log-files`; a flag must be unregistered before its memory is freed. */
typedef void (*OutputRegisterFileRotationFlagFn)(int *flag);
typedef void (*OutputUnregisterFileRotationFlagFn)(int *flag);

#endif
