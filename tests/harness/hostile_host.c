/*
 * hostile_host: plays a misbehaving Suricata 7.0 for libsuriguard.so.
 *
 * It provides the Suricata symbols the plugin links against (exported with -rdynamic),
 * dlopens the real plugin, registers it exactly as Suricata does, and then drives the
 * EVE callbacks with the inputs a buggy or hostile host could produce. Log lines the
 * plugin sends through SCLogMessage are printed as `LOG <level> <message>`; measurements
 * as `RESULT <key> <value>`. The Rust test (tests/tests/hostile.rs) asserts on those and
 * on the plugin's stats-file.
 *
 * usage: hostile_host PLUGIN.so SCENARIO [key=value ...]
 *   key=value pairs become children of the eve-log output's `suriguard` node.
 *   SCENARIO: hostile | budget | throughput | init-only | unsupported
 *   HOSTILE_SURICATA_VERSION (environment) is what GetProgramVersion answers
 *   (default "7.0.10 RELEASE"); `unsupported` expects the plugin to register nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../bindings/include/common/host-abi.h"
#include "../../bindings/include/suricata7/plugin-abi.h"

/* ---- the Suricata side ------------------------------------------------------------ */

static SCEveFileType *registered;

bool SCRegisterEveFileType(SCEveFileType *ft)
{
    registered = ft;
    ft->entries.tqe_next = NULL;
    ft->entries.tqe_prev = NULL;
    return true;
}

ConfNode *ConfNodeLookupChild(const ConfNode *node, const char *key)
{
    if (node == NULL || key == NULL)
        return NULL;
    for (ConfNode *c = node->head.tqh_first; c != NULL; c = c->next.tqe_next)
        if (c->name != NULL && strcmp(c->name, key) == 0)
            return c;
    return NULL;
}

const char *ConfNodeLookupChildValue(const ConfNode *node, const char *key)
{
    ConfNode *c = ConfNodeLookupChild(node, key);
    return c ? c->val : NULL;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

const char *GetProgramVersion(void)
{
    const char *v = getenv("HOSTILE_SURICATA_VERSION");
    return v ? v : "7.0.10 RELEASE";
}

void SCLogMessage(const SCLogLevel level, const char *file, const unsigned int line,
        const char *function, const char *module, const char *message)
{
    (void)file; (void)line; (void)function;
    pthread_mutex_lock(&log_lock);
    printf("LOG %d %s: %s\n", (int)level, module ? module : "?", message ? message : "(null)");
    fflush(stdout);
    pthread_mutex_unlock(&log_lock);
}

static ConfNode *node_new(const char *name, const char *val)
{
    ConfNode *n = calloc(1, sizeof(*n));
    n->name = strdup(name);
    n->val = val ? strdup(val) : NULL;
    n->head.tqh_first = NULL;
    n->head.tqh_last = &n->head.tqh_first;
    return n;
}

static void node_append(ConfNode *parent, ConfNode *child)
{
    child->parent = parent;
    child->next.tqe_next = NULL;
    child->next.tqe_prev = parent->head.tqh_last;
    *parent->head.tqh_last = child;
    parent->head.tqh_last = &child->next.tqe_next;
}

/* ---- measurements ------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _Atomic uint64_t max_write_ns;
static _Atomic uint64_t total_writes;
/* Write latencies by power of two: bucket k holds [2^k, 2^(k+1)) ns. Wall time, so a
 * thread preempted inside Write shows up here too. */
static _Atomic uint64_t latency_log2[64];

static void timed_write(const char *buf, int len, void *init_data, void *thread_data)
{
    uint64_t t0 = now_ns();
    registered->Write(buf, len, init_data, thread_data);
    uint64_t dt = now_ns() - t0;
    uint64_t cur = atomic_load(&max_write_ns);
    while (dt > cur && !atomic_compare_exchange_weak(&max_write_ns, &cur, dt)) {
    }
    atomic_fetch_add(&total_writes, 1);
    atomic_fetch_add(&latency_log2[dt ? 63 - __builtin_clzll(dt) : 0], 1);
}

/* Upper bound (ns) under which `per_mille`/1000 of the writes completed. */
static uint64_t latency_quantile_ns(unsigned per_mille)
{
    uint64_t n = atomic_load(&total_writes), seen = 0;
    for (int k = 0; k < 64; k++) {
        seen += atomic_load(&latency_log2[k]);
        if (seen * 1000 >= n * per_mille)
            return 2ull << k;
    }
    return UINT64_MAX;
}

/* ---- the flood: several threads, each with its own thread_data, like threaded eve ---- */

#define FLOOD_THREADS 4
#define FLOOD_TOTAL 1000000

static const char FLOW_RECORD[] =
    "{\"timestamp\":\"2024-01-01T00:00:00.000000+0000\",\"flow_id\":1,\"event_type\":\"flow\","
    "\"src_ip\":\"192.0.2.1\",\"src_port\":1234,\"dest_ip\":\"10.0.0.2\",\"dest_port\":80,"
    "\"proto\":\"TCP\",\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":0,\"bytes_toserver\":60,"
    "\"bytes_toclient\":0,\"start\":\"2024-01-01T00:00:00.000000+0000\",\"end\":"
    "\"2024-01-01T00:00:00.000000+0000\",\"age\":0,\"state\":\"new\",\"reason\":\"timeout\","
    "\"alerted\":false},\"tcp\":{\"tcp_flags\":\"02\",\"syn\":true,\"state\":\"syn_sent\"}}";

struct flood_arg {
    void *init_data;
    int thread_id;
    int count;
};

static void *flood(void *p)
{
    struct flood_arg *a = p;
    void *thread_data = NULL;
    if (registered->ThreadInit(a->init_data, a->thread_id, &thread_data) != 0 || thread_data == NULL) {
        printf("RESULT thread_init_failed %d\n", a->thread_id);
        return NULL;
    }
    for (int i = 0; i < a->count; i++)
        timed_write(FLOW_RECORD, (int)strlen(FLOW_RECORD), a->init_data, thread_data);
    registered->ThreadDeinit(a->init_data, thread_data);
    return NULL;
}

/* ---- scenarios ------------------------------------------------------------------------ */

static int hostile(void *init_data)
{
    static const char dns[] = "{\"event_type\":\"dns\",\"dns\":{\"type\":\"query\",\"rrname\":\"a.example\"}}";
    static const char alert[] = "{\"event_type\":\"alert\",\"alert\":{\"signature_id\":1,\"severity\":1}}";
    static const char bad_utf8[] = "{\"event_type\":\"fl\xff\xfe\"}";
    static const char truncated[] = "{\"event_type\":\"flow\",\"flow\":{\"pkts_to";
    static const char write_panic[] = "{\"suriguard-failpoint\":\"panic-in-write\"}";
    static const char worker_panic[] = "{\"suriguard-failpoint\":\"panic-in-worker\"}";

    /* Rejected before queuing. */
    timed_write(NULL, 10, init_data, NULL);          /* NULL buffer */
    timed_write(dns, -1, init_data, NULL);           /* negative length */
    timed_write(NULL, -5, init_data, NULL);          /* both */
    timed_write(dns, 0, init_data, NULL);            /* zero length */
    size_t big_len = 1 << 20;                        /* 1 MiB record */
    char *big = malloc(big_len);
    memset(big, 'a', big_len);
    static const char head[] = "{\"event_type\":\"flow\",\"pad\":\"";
    memcpy(big, head, strlen(head));
    memcpy(big + big_len - 2, "\"}", 2);
    timed_write(big, (int)big_len, init_data, NULL);
    free(big);
    timed_write(write_panic, (int)strlen(write_panic), init_data, NULL); /* panics in Write */

    /* Queued, then refused or contained by the worker. */
    timed_write(bad_utf8, (int)strlen(bad_utf8), init_data, NULL);
    timed_write(truncated, (int)strlen(truncated), init_data, NULL);
    timed_write(worker_panic, (int)strlen(worker_panic), init_data, NULL); /* panics in worker */

    /* Good records. */
    timed_write(FLOW_RECORD, (int)strlen(FLOW_RECORD), init_data, NULL);
    timed_write(dns, (int)strlen(dns), init_data, NULL);
    timed_write(alert, (int)strlen(alert), init_data, NULL);

    /* A write without init_data (a host that lost track of its output). */
    registered->Write(dns, (int)strlen(dns), NULL, NULL);

    /* Flood with the worker paused. */
    pthread_t th[FLOOD_THREADS];
    struct flood_arg args[FLOOD_THREADS];
    uint64_t t0 = now_ns();
    for (int i = 0; i < FLOOD_THREADS; i++) {
        args[i] = (struct flood_arg){ init_data, i + 1, FLOOD_TOTAL / FLOOD_THREADS };
        pthread_create(&th[i], NULL, flood, &args[i]);
    }
    for (int i = 0; i < FLOOD_THREADS; i++)
        pthread_join(th[i], NULL);
    uint64_t flood_ns = now_ns() - t0;

    printf("RESULT flood_writes %d\n", FLOOD_TOTAL);
    printf("RESULT flood_ms %.1f\n", (double)flood_ns / 1e6);
    printf("RESULT total_writes %llu\n", (unsigned long long)atomic_load(&total_writes));
    printf("RESULT max_write_us %.1f\n", (double)atomic_load(&max_write_ns) / 1e3);
    printf("RESULT p50_write_us %.3f\n", (double)latency_quantile_ns(500) / 1e3);
    printf("RESULT p999_write_us %.3f\n", (double)latency_quantile_ns(999) / 1e3);
    fflush(stdout);

    registered->Deinit(init_data);
    registered->Deinit(NULL); /* must be harmless */
    registered->ThreadDeinit(init_data, NULL);
    return 0;
}

/* Single-threaded writes of one record while the worker is held: with a byte budget
 * smaller than queue-size records, the budget decides how many get in. */
static int budget(void *init_data)
{
    int n = 1000;
    for (int i = 0; i < n; i++)
        timed_write(FLOW_RECORD, (int)strlen(FLOW_RECORD), init_data, NULL);
    printf("RESULT record_len %zu\n", strlen(FLOW_RECORD));
    printf("RESULT writes %d\n", n);
    fflush(stdout);
    registered->Deinit(init_data);
    return 0;
}

/* The normal path, for docs/PERFORMANCE.md (measured, not asserted): one thread writes
 * N flow records while the worker drains; the queue is large enough that nothing drops. */
static int throughput(void *init_data)
{
    int n = 500000;
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        timed_write(FLOW_RECORD, (int)strlen(FLOW_RECORD), init_data, NULL);
    uint64_t dt = now_ns() - t0;
    printf("RESULT writes %d\n", n);
    printf("RESULT writes_per_s %.0f\n", n / ((double)dt / 1e9));
    printf("RESULT p50_write_us %.3f\n", (double)latency_quantile_ns(500) / 1e3);
    printf("RESULT p99_write_us %.3f\n", (double)latency_quantile_ns(990) / 1e3);
    printf("RESULT p999_write_us %.3f\n", (double)latency_quantile_ns(999) / 1e3);
    fflush(stdout);
    uint64_t t1 = now_ns();
    registered->Deinit(init_data);
    printf("RESULT drain_ms %.1f\n", (double)(now_ns() - t1) / 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PLUGIN.so SCENARIO [key=value ...]\n", argv[0]);
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    SCPluginRegisterFunc reg = (SCPluginRegisterFunc)dlsym(h, "SCPluginRegister");
    if (reg == NULL) {
        fprintf(stderr, "no SCPluginRegister\n");
        return 2;
    }
    if (strcmp(argv[2], "unsupported") == 0) {
        /* A Suricata before 8.0 reads 7.0's layout; a later one checks 8.0's version
         * field (the first 8 bytes) before anything else. */
        void *p = reg();
        const char *v = GetProgramVersion();
        if (p == NULL)
            return 1;
        if (atoi(v) < 8) {
            SCPlugin *old = p;
            if (!old->name || !old->Init)
                return 1;
            old->Init();
        } else {
            printf("RESULT api-version %llx\n", (unsigned long long)*(uint64_t *)p);
        }
        printf("RESULT registered %d\n", registered != NULL);
        return registered == NULL ? 0 : 1;
    }
    SCPlugin *plugin = reg();
    if (plugin == NULL || !plugin->name || !plugin->license || !plugin->author || !plugin->Init) {
        fprintf(stderr, "SCPlugin incomplete\n");
        return 2;
    }
    if (reg() != plugin) {
        fprintf(stderr, "SCPluginRegister returned a different plugin the second time\n");
        return 2;
    }
    plugin->Init();
    plugin->Init(); /* a second Init must not register twice */
    if (registered == NULL || strcmp(registered->name, "suriguard") != 0) {
        fprintf(stderr, "no EVE file type named suriguard was registered\n");
        return 2;
    }
    printf("RESULT plugin %s\n", plugin->name);

    ConfNode *eve = node_new("eve-log", NULL);
    node_append(eve, node_new("filetype", "suriguard"));
    ConfNode *own = node_new("suriguard", NULL);
    node_append(eve, own);
    for (int i = 3; i < argc; i++) {
        char *kv = strdup(argv[i]);
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            node_append(own, node_new(kv, NULL));
        } else {
            *eq = '\0';
            node_append(own, node_new(kv, eq + 1));
        }
    }

    /* Init with nowhere to put init_data must fail cleanly. */
    if (registered->Init(eve, false, NULL) == 0) {
        fprintf(stderr, "Init accepted a NULL init_data slot\n");
        return 2;
    }

    void *init_data = NULL;
    int rc = registered->Init(eve, false, &init_data);
    printf("RESULT init %d\n", rc);
    fflush(stdout);
    if (rc != 0)
        return 1;

    if (strcmp(argv[2], "init-only") == 0) {
        registered->Deinit(init_data);
        return 0;
    }
    if (strcmp(argv[2], "hostile") == 0)
        return hostile(init_data);
    if (strcmp(argv[2], "budget") == 0)
        return budget(init_data);
    if (strcmp(argv[2], "throughput") == 0)
        return throughput(init_data);
    fprintf(stderr, "unknown scenario %s\n", argv[2]);
    return 2;
}
