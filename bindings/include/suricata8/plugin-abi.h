/*
 * The subset of the Suricata 8.0 plugin ABI that suriguard uses.
 *
 * Checked against OISF/suricata tag suricata-8.0.6 (src/suricata-plugin.h,
 * src/output-eve.h, src/conf.h, src/util-plugin.c; unchanged across 8.0.x) and against
 * the symbols Debian's 8.0.8 `/usr/bin/suricata` exports. Pinned by the layout tests in
 * src/lib.rs: SCPlugin 56 bytes, SCEveFileType 64 bytes, SCConfNode 64 bytes on LP64.
 *
 * Differences from 7.0: SCPlugin gains `version` (must equal SC_API_VERSION, only
 * major.minor compared), `suricata_version` and `plugin_version`; SCEveFileType's
 * callbacks are reordered and take const pointers, a uint32_t thread id, and
 * ThreadDeinit returns void; ConfNode is called SCConfNode (same layout) and its lookups
 * gained the SC prefix.
 *
 * Only types are declared: the plugin resolves Suricata's functions at run time with
 * dlsym, so one library serves both majors. The *Fn typedefs are their signatures.
 */
#ifndef SURIGUARD_SURICATA8_PLUGIN_ABI_H
#define SURIGUARD_SURICATA8_PLUGIN_ABI_H

#include <stdbool.h>
#include <stdint.h>

/* src/suricata-plugin.h: SC_API_VERSION for 8.0 (major << 8 | minor). */
#define SC_API_VERSION 0x0800

typedef struct SCPlugin_ {
    uint64_t version;
    const char *suricata_version;
    const char *name;
    const char *plugin_version;
    const char *license;
    const char *author;
    void (*Init)(void);
} SCPlugin;

/* src/conf.h */
typedef struct SCConfNode_ {
    char *name;
    char *val;
    int is_seq;
    int final;
    struct SCConfNode_ *parent;
    struct {
        struct SCConfNode_ *tqh_first;
        struct SCConfNode_ **tqh_last;
    } head;
    struct {
        struct SCConfNode_ *tqe_next;
        struct SCConfNode_ **tqe_prev;
    } next;
} SCConfNode;

/* src/output-eve.h */
typedef uint32_t ThreadId;

typedef struct SCEveFileType_ {
    const char *name;
    int (*Init)(const SCConfNode *conf, const bool threaded, void **init_data);
    int (*ThreadInit)(const void *init_data, const ThreadId thread_id, void **thread_data);
    int (*Write)(const char *buffer, const int buffer_len, const void *init_data,
            void *thread_data);
    void (*ThreadDeinit)(const void *init_data, void *thread_data);
    void (*Deinit)(void *init_data);
    struct {
        struct SCEveFileType_ *tqe_next;
        struct SCEveFileType_ **tqe_prev;
    } entries;
} SCEveFileType;

typedef bool (*SCRegisterEveFileTypeFn)(SCEveFileType *);
typedef SCConfNode *(*SCConfNodeLookupChildFn)(const SCConfNode *node, const char *key);

#endif
