/*
 * The subset of the Suricata 7.0 plugin ABI that suriguard uses.
 *
 * Debian's suricata package ships no development headers, so this header states the
 * ABI by hand. Every layout here was checked against Suricata 7.0.10 (src/suricata-plugin.h,
 * src/conf.h, src/util-debug.h, src/queue.h) and is pinned by the layout tests in
 * src/lib.rs: SCPlugin 32 bytes, SCEveFileType 64 bytes, ConfNode 64 bytes on LP64.
 *
 * Suricata 8 changes this ABI (SCPlugin gains version fields, SCEveFileType reorders its
 * callbacks, ConfNode becomes SCConfNode): see ../suricata8/plugin-abi.h.
 *
 * Only types are declared: the plugin resolves Suricata's functions at run time with
 * dlsym, so one library serves both majors. The *Fn typedefs are their signatures.
 * What both majors share (the logger, the version string, log rotation) is in
 * ../common/host-abi.h.
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

typedef bool (*SCRegisterEveFileTypeFn)(SCEveFileType *);
/* src/conf.h. The returned node is owned by Suricata's configuration tree. */
typedef ConfNode *(*ConfNodeLookupChildFn)(const ConfNode *node, const char *key);

#endif
