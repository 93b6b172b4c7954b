/*
 * The subset of the Suricata 7.0 plugin ABI that suriguard uses.
 *
 * Debian's suricata package ships no development headers, so this header states the
 * ABI by hand. Every layout here was checked against Suricata 7.0.10 (src/suricata-plugin.h,
 * src/conf.h, src/util-debug.h, src/queue.h) and is pinned by the layout tests in
 * src/lib.rs: SCPlugin 32 bytes, SCEveFileType 64 bytes, ConfNode 64 bytes on LP64.
 *
 * Suricata 8 changes this ABI (SCPlugin gains version fields, SCEveFileType reorders its
 * callbacks, ConfNode becomes SCConfNode); it gets its own header next to this one.
 */
#ifndef SURIGUARD_SURICATA7_PLUGIN_ABI_H
#define SURIGUARD_SURICATA7_PLUGIN_ABI_H

#include <stdbool.h>
#include <stdint.h>

/* src/suricata-plugin.h */
typedef struct SCPlugin_ {
    const char *name;
    const char *license;
    const char *author;
    void (*Init)(void);
} SCPlugin;

typedef SCPlugin *(*SCPluginRegisterFunc)(void);

/* src/conf.h; the TAILQ_HEAD / TAILQ_ENTRY macros of src/queue.h spelled out. */
typedef struct ConfNode_ {
    char *name;
    char *val;
    int is_seq;
    /* Final flag: cannot be overridden by later configuration. */
    int final;
    struct ConfNode_ *parent;
    struct {
        struct ConfNode_ *tqh_first;
        struct ConfNode_ **tqh_last;
    } head;
    struct {
        struct ConfNode_ *tqe_next;
        struct ConfNode_ **tqe_prev;
    } next;
} ConfNode;

/* src/suricata-plugin.h: an EVE output file type provided by a plugin. */
typedef struct SCEveFileType_ {
    /* The name used as `filetype:` in an eve-log output. */
    const char *name;
    /* Called once per eve-log output using this file type; conf is that eve-log node. */
    int (*Init)(ConfNode *conf, bool threaded, void **init_data);
    /* One complete JSON object, no trailing newline, not NUL terminated. */
    int (*Write)(const char *buffer, int buffer_len, void *init_data, void *thread_data);
    /* After the last Write and every ThreadDeinit. */
    void (*Deinit)(void *init_data);
    /* Threaded eve only: once per thread, lazily. */
    int (*ThreadInit)(void *init_data, int thread_id, void **thread_data);
    int (*ThreadDeinit)(void *init_data, void *thread_data);
    /* TAILQ_ENTRY owned by Suricata's file type registry. */
    struct {
        struct SCEveFileType_ *tqe_next;
        struct SCEveFileType_ **tqe_prev;
    } entries;
} SCEveFileType;

bool SCRegisterEveFileType(SCEveFileType *);

/* src/conf.h lookups. Return values are owned by Suricata's configuration tree. */
ConfNode *ConfNodeLookupChild(const ConfNode *node, const char *key);
const char *ConfNodeLookupChildValue(const ConfNode *node, const char *key);
int ConfGetChildValue(const ConfNode *base, const char *name, const char **vptr);
int ConfGetChildValueInt(const ConfNode *base, const char *name, intmax_t *val);
int ConfGetChildValueBool(const ConfNode *base, const char *name, int *val);

/* src/util-debug.h */
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

/* src/util-error.h: only SC_OK is inspected. */
typedef enum {
    SC_OK = 0,
} SCError;

/* Filters by each output's level itself; `module` shows as the subsystem (%S). */
SCError SCLogMessage(const SCLogLevel level, const char *file, const unsigned int line,
        const char *function, const char *module, const char *message);

#endif
