/*
 * bench_culler_store.c - what the culler's memory costs the store.
 *
 * Each culling pass writes the busy CPU samples of every live session with one
 * store_session_cpu_active() call (one transaction); a warning is one
 * store_session_cull_warned() call (the time and its event row).  This prints,
 * on a real file (WAL, synchronous=NORMAL) holding N running sessions
 * (default 10,000; `bench_culler_store N [HISTORY]` adds HISTORY stopped
 * sessions, default 0):
 *   - one batched CPU write for all N sessions: min, median and max over 15
 *     rounds (each round a later sample time, so every row really changes);
 *   - the same N writes made one transaction each, once, for comparison;
 *   - warnings, one call each, per second.
 * Figures only: nothing here asserts on time.
 */
#include "store/store.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0     1700000000000LL
#define ROUNDS 15
#define WARNS  1000

static void die(const char *what, const struct ty_error *err)
{
    fprintf(stderr, "bench_culler_store: %s: %s\n", what, err->msg);
    exit(1);
}

static void make_id(char out[33], int64_t i)
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)i * 2654435761ULL,
             (unsigned long long)i);
}

static const enum store_state path_to_running[2] = {STORE_STATE_CREATING, STORE_STATE_PENDING};

/* Inserts sessions [from, to) in batches of 1000, moved to `state`. */
static void insert_range(struct store *st, int64_t from, int64_t to, enum store_state state)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33], user[16];

    for (int64_t i = from; i < to; i++) {
        if ((i - from) % 1000 == 0 && store_tx_begin(st, &err))
            die("begin", &err);
        make_id(id, i);
        snprintf(user, sizeof(user), "user%04d", (int)(i % 2000));
        memset(&s, 0, sizeof(s));
        s.id = id;
        s.username = user;
        s.app_id = "jupyter-ds";
        s.state = STORE_STATE_REQUESTED;
        s.state_deadline_at = T0 + 60000;
        s.created_at = T0 + i;
        if (store_session_insert(st, &s, NULL, "bench", &err))
            die("insert", &err);
        if (state == STORE_STATE_RUNNING)
            for (int k = 0; k < 2; k++)
                if (store_session_transition(st, id, STORE_STATES_ANY, path_to_running[k], "bench",
                                             NULL, "system", T0 + 3600000, T0 + i + 1, NULL, &err))
                    die("transition", &err);
        if (store_session_transition(st, id, STORE_STATES_ANY, state, "bench", NULL, "system",
                                     T0 + 3600000, T0 + i + 1, NULL, &err))
            die("transition", &err);
        if (((i - from + 1) % 1000 == 0 || i + 1 == to) && store_tx_commit(st, &err))
            die("commit", &err);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct ty_error err = TY_ERROR_INIT;
    char tmpl[] = "/tmp/ty-bench-culler-XXXXXX";
    struct store *st = NULL;
    struct store_cpu_active *items;
    char(*ids)[33];
    int64_t n = 10000, history = 0, t, ns[ROUNDS];
    size_t updated = 0;
    char *dir, *path;

    if (argc > 1)
        n = atoll(argv[1]);
    if (argc > 2)
        history = atoll(argv[2]);
    if (n < 1)
        n = 1;
    if (history < 0)
        history = 0;
    dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    path = ty_path_join(dir, "bench.db");
    if (store_open(&st, path, NULL, &err))
        die("open", &err);
    printf("culler store benchmark: %lld running sessions, %lld stopped, in %s\n", (long long)n,
           (long long)history, path);
    insert_range(st, 0, history, STORE_STATE_STOPPED);
    insert_range(st, history, history + n, STORE_STATE_RUNNING);
    if (store_optimize(st, &err))
        die("optimize", &err);

    ids = ty_xcalloc((size_t)n, sizeof(*ids));
    items = ty_xcalloc((size_t)n, sizeof(*items));
    for (int64_t i = 0; i < n; i++) {
        make_id(ids[i], history + i);
        items[i].id = ids[i];
    }

    for (int r = 0; r < ROUNDS; r++) {
        for (int64_t i = 0; i < n; i++)
            items[i].at = T0 + 7200000 + r * 60000LL;
        t = ty_time_mono_ns();
        if (store_session_cpu_active(st, items, (size_t)n, &updated, &err))
            die("cpu batch", &err);
        ns[r] = ty_time_mono_ns() - t;
        if ((int64_t)updated != n) {
            fprintf(stderr, "bench_culler_store: %zu rows written, expected %lld\n", updated,
                    (long long)n);
            return 1;
        }
    }
    qsort(ns, ROUNDS, sizeof(ns[0]), cmp_i64);
    printf("%-58s min %.1f ms, median %.1f ms, max %.1f ms (%.2f us/session)\n",
           "CPU activity, one batched call (one transaction)", ns[0] / 1e6, ns[ROUNDS / 2] / 1e6,
           ns[ROUNDS - 1] / 1e6, ns[ROUNDS / 2] / 1e3 / (double)n);

    t = ty_time_mono_ns();
    for (int64_t i = 0; i < n; i++) {
        items[i].at = T0 + 7200000 + ROUNDS * 60000LL;
        if (store_session_cpu_active(st, &items[i], 1, NULL, &err))
            die("cpu single", &err);
    }
    t = ty_time_mono_ns() - t;
    printf("%-58s %.1f ms (%.2f us/session)\n", "CPU activity, one transaction per session",
           t / 1e6, t / 1e3 / (double)n);

    {
        int64_t w = n < WARNS ? n : WARNS;
        t = ty_time_mono_ns();
        for (int64_t i = 0; i < w; i++)
            if (store_session_cull_warned(st, ids[i], T0 + 9000000, "bench warning", NULL, &err))
                die("warn", &err);
        t = ty_time_mono_ns() - t;
        printf("%-58s %.0f /s (%.1f us each)\n", "cull warnings, one transaction each (row+event)",
               t > 0 ? (double)w * 1e9 / (double)t : 0.0, t / 1e3 / (double)w);
    }

    free(items);
    free(ids);
    store_close(st);
    ty_rm_rf(dir, NULL);
    free(path);
    return 0;
}
