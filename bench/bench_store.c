/*
 * bench_store.c - how fast the session store is on a real file.
 *
 * Prints: session insert rate and state-update rate (transactions per second,
 * one transaction per write and batched), the latency of a user's session list
 * and of a filtered history page (median and p99 in microseconds) once the
 * database holds N sessions (default 100,000; `bench_store N`), and the
 * database size.  The data looks like a platform's history: 2,000 users, 25
 * apps, two labels per session, 90 days of launches, about 2% still live.
 * Figures only: nothing here asserts on time.
 */
#include "store/store.h"
#include "util/file.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_USERS 2000
#define N_APPS  25
#define DAY_MS  86400000LL
#define T0      1700000000000LL
#define QUERIES 2000

static int64_t n_sessions = 100000;

static void die(const char *what, const struct ty_error *err)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, err->msg);
    exit(1);
}

/* Deterministic pseudo-random numbers (xorshift), so runs compare. */
static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void make_id(char out[33], int64_t i)
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)i * 2654435761ULL,
             (unsigned long long)i);
}

static int64_t created_of(int64_t i)
{
    /* Spread over 90 days in insertion order; groups of three share a stamp. */
    return T0 + (i / 3) * 3 * (90 * DAY_MS / n_sessions);
}

static void session_at(struct store_session *s,
                       struct store_label l[2],
                       char id[33],
                       char user[16],
                       char app[16],
                       char course[16],
                       char team[16],
                       int64_t i)
{
    make_id(id, i);
    snprintf(user, 16, "user%04d", (int)(rnd() % N_USERS));
    snprintf(app, 16, "app%02d", (int)(rnd() % N_APPS));
    snprintf(course, 16, "c%02d", (int)(rnd() % 50));
    snprintf(team, 16, "t%03d", (int)(rnd() % 200));
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->username = user;
    s->app_id = app;
    s->app_name = app;
    s->context = "helx";
    s->system_name = app;
    s->namespace = "default";
    s->state = STORE_STATE_REQUESTED;
    s->state_reason = "launch";
    s->created_at = created_of(i);
    s->state_deadline_at = s->created_at + 600000;
    s->cpu_millis = 1000;
    s->memory_bytes = 4LL << 30;
    l[0].key = "course";
    l[0].value = course;
    l[1].key = "team";
    l[1].value = team;
    s->labels = l;
    s->n_labels = 2;
}

static void insert_range(struct store *st, int64_t from, int64_t to, int batch)
{
    struct ty_error err = TY_ERROR_INIT;
    char id[33], user[16], app[16], course[16], team[16];
    struct store_label l[2];
    struct store_session s;

    for (int64_t i = from; i < to; i++) {
        if (batch > 1 && (i - from) % batch == 0 && store_tx_begin(st, &err))
            die("begin", &err);
        session_at(&s, l, id, user, app, course, team, i);
        if (store_session_insert(st, &s, NULL, "bench", &err))
            die("insert", &err);
        if (batch > 1 && ((i - from + 1) % batch == 0 || i + 1 == to) && store_tx_commit(st, &err))
            die("commit", &err);
    }
}

/* Moves sessions [from, to) from requested to `to_state`. */
static void
transition_range(struct store *st, int64_t from, int64_t to, int batch, enum store_state to_state)
{
    struct ty_error err = TY_ERROR_INIT;
    char id[33];

    for (int64_t i = from; i < to; i++) {
        if (batch > 1 && (i - from) % batch == 0 && store_tx_begin(st, &err))
            die("begin", &err);
        make_id(id, i);
        if (store_session_transition(st, id, STORE_STATE_BIT(STORE_STATE_REQUESTED), to_state,
                                     "bench", NULL, "system", created_of(i) + 3600000,
                                     created_of(i) + 1000, NULL, &err))
            die("transition", &err);
        if (batch > 1 && ((i - from + 1) % batch == 0 || i + 1 == to) && store_tx_commit(st, &err))
            die("commit", &err);
    }
}

static double rate(int64_t n, int64_t ns)
{
    return ns > 0 ? (double)n * 1e9 / (double)ns : 0.0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report_latency(const char *what, int64_t *ns, int n, double avg_rows)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    printf("%-52s median %7.1f us   p99 %7.1f us   (%d queries, %.1f rows/page)\n", what,
           (double)ns[n / 2] / 1000.0, (double)ns[(n * 99) / 100] / 1000.0, n, avg_rows);
}

static void bench_lists(struct store *st)
{
    struct ty_error err = TY_ERROR_INIT;
    int64_t *ns = calloc(QUERIES, sizeof(*ns));
    char user[16], app[16], course[16];
    int64_t rows = 0;

    /* A user's sessions (the "my sessions" page): all states, newest first. */
    for (int i = 0; i < QUERIES; i++) {
        struct store_query q = {0};
        struct store_page p;
        snprintf(user, sizeof(user), "user%04d", (int)(rnd() % N_USERS));
        q.username = user;
        int64_t t = ty_time_mono_ns();
        if (store_session_list(st, &q, &p, &err))
            die("list", &err);
        ns[i] = ty_time_mono_ns() - t;
        rows += (int64_t)p.n;
        store_page_cleanup(&p);
    }
    report_latency("a user's sessions (page of 50 + total)", ns, QUERIES, (double)rows / QUERIES);

    /* A user's live sessions (what the launcher shows and limits count). */
    rows = 0;
    for (int i = 0; i < QUERIES; i++) {
        struct store_query q = {0};
        struct store_page p;
        snprintf(user, sizeof(user), "user%04d", (int)(rnd() % N_USERS));
        q.username = user;
        q.states = STORE_STATES_LIVE;
        q.with_labels = true;
        int64_t t = ty_time_mono_ns();
        if (store_session_list(st, &q, &p, &err))
            die("list", &err);
        ns[i] = ty_time_mono_ns() - t;
        rows += (int64_t)p.n;
        store_page_cleanup(&p);
    }
    report_latency("a user's live sessions (with labels)", ns, QUERIES, (double)rows / QUERIES);

    /* Admin history: app + stopped + label, 30-day window, first page. */
    rows = 0;
    for (int i = 0; i < QUERIES; i++) {
        struct store_query q = {0};
        struct store_page p;
        int64_t start = T0 + (int64_t)(rnd() % 60) * DAY_MS;
        snprintf(app, sizeof(app), "app%02d", (int)(rnd() % N_APPS));
        snprintf(course, sizeof(course), "c%02d", (int)(rnd() % 50));
        q.app_id = app;
        q.states = STORE_STATE_BIT(STORE_STATE_STOPPED);
        q.labels[0].key = "course";
        q.labels[0].value = course;
        q.n_labels = 1;
        q.created_from = start;
        q.created_to = start + 30 * DAY_MS;
        q.limit = 25;
        int64_t t = ty_time_mono_ns();
        if (store_session_list(st, &q, &p, &err))
            die("list", &err);
        ns[i] = ty_time_mono_ns() - t;
        rows += (int64_t)p.n;
        store_page_cleanup(&p);
    }
    report_latency("history: app+state+label+30 days (page of 25 + total)", ns, QUERIES,
                   (double)rows / QUERIES);

    /* Admin history, unfiltered: the newest 50 of everything, with the total. */
    rows = 0;
    for (int i = 0; i < QUERIES / 10; i++) {
        struct store_query q = {0};
        struct store_page p;
        int64_t t = ty_time_mono_ns();
        if (store_session_list(st, &q, &p, &err))
            die("list", &err);
        ns[i] = ty_time_mono_ns() - t;
        rows += (int64_t)p.n;
        store_page_cleanup(&p);
    }
    report_latency("history: everything, page of 50 + total", ns, QUERIES / 10,
                   (double)rows / (QUERIES / 10));

    /* Admin history, broad: one app over all time, paging deep by cursor. */
    rows = 0;
    for (int i = 0; i < QUERIES; i++) {
        struct store_query q = {0};
        struct store_page p;
        char *cursor = NULL;
        snprintf(app, sizeof(app), "app%02d", (int)(rnd() % N_APPS));
        q.app_id = app;
        q.limit = 50;
        q.skip_total = true;
        /* Fetch page 1 untimed, time page 2 (a cursor page). */
        if (store_session_list(st, &q, &p, &err))
            die("list", &err);
        cursor = p.next_cursor ? strdup(p.next_cursor) : NULL;
        store_page_cleanup(&p);
        q.cursor = cursor;
        int64_t t = ty_time_mono_ns();
        if (store_session_list(st, &q, &p, &err))
            die("list", &err);
        ns[i] = ty_time_mono_ns() - t;
        rows += (int64_t)p.n;
        store_page_cleanup(&p);
        free(cursor);
    }
    report_latency("history: one app, second page by cursor (no total)", ns, QUERIES,
                   (double)rows / QUERIES);

    /* The reconciler's due list and the /metrics state counts. */
    for (int i = 0; i < QUERIES / 10; i++) {
        struct store_session *v = NULL;
        size_t n = 0;
        int64_t t = ty_time_mono_ns();
        if (store_sessions_due(st, T0 + 91 * DAY_MS, 100, &v, &n, &err))
            die("due", &err);
        ns[i] = ty_time_mono_ns() - t;
        store_sessions_free(v, n);
    }
    report_latency("sessions due (100)", ns, QUERIES / 10, 100);
    for (int i = 0; i < QUERIES / 10; i++) {
        int64_t counts[STORE_STATE__COUNT];
        int64_t t = ty_time_mono_ns();
        if (store_stats_by_state(st, counts, &err))
            die("stats", &err);
        ns[i] = ty_time_mono_ns() - t;
    }
    report_latency("sessions by state (metrics)", ns, QUERIES / 10, STORE_STATE__COUNT);
    free(ns);
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

int main(int argc, char **argv)
{
    struct ty_error err = TY_ERROR_INIT;
    char tmpl[] = "/tmp/ty-bench-store-XXXXXX";
    struct store *st = NULL;
    char *dir, *path, *wal;
    int64_t t, single = 2000;

    if (argc > 1)
        n_sessions = atoll(argv[1]);
    if (n_sessions < 2 * single + 1000)
        n_sessions = 2 * single + 1000;
    dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    path = ty_path_join(dir, "bench.db");
    wal = ty_path_join(dir, "bench.db-wal");
    if (store_open(&st, path, NULL, &err))
        die("open", &err);
    printf("store benchmark: %lld sessions in %s (WAL, synchronous=NORMAL)\n",
           (long long)n_sessions, path);

    t = ty_time_mono_ns();
    insert_range(st, 0, single, 1);
    t = ty_time_mono_ns() - t;
    printf("%-52s %9.0f /s\n", "insert, one transaction each (session+2 labels+event)",
           rate(single, t));

    t = ty_time_mono_ns();
    insert_range(st, single, n_sessions, 1000);
    t = ty_time_mono_ns() - t;
    printf("%-52s %9.0f /s\n", "insert, batches of 1000", rate(n_sessions - single, t));

    t = ty_time_mono_ns();
    transition_range(st, 0, single, 1, STORE_STATE_STOPPED);
    t = ty_time_mono_ns() - t;
    printf("%-52s %9.0f /s\n", "state update, one transaction each (row+event)", rate(single, t));

    /* About 98% of the history is stopped; the rest stays live. */
    int64_t stop_to = n_sessions - n_sessions / 50;
    t = ty_time_mono_ns();
    transition_range(st, single, stop_to, 1000, STORE_STATE_STOPPED);
    t = ty_time_mono_ns() - t;
    printf("%-52s %9.0f /s\n", "state update, batches of 1000", rate(stop_to - single, t));
    transition_range(st, stop_to, n_sessions, 1000, STORE_STATE_CREATING);

    /* What the server does at start-up and periodically. */
    t = ty_time_mono_ns();
    if (store_optimize(st, &err))
        die("optimize", &err);
    t = ty_time_mono_ns() - t;
    printf("%-52s %9.1f ms\n", "store_optimize (ANALYZE)", (double)t / 1e6);
    bench_lists(st);
    store_close(st);
    /* The cost of a connection per worker thread: open + close of a current file. */
    {
        int64_t ns[200];
        for (int i = 0; i < 200; i++) {
            struct store *c = NULL;
            int64_t t1 = ty_time_mono_ns();
            if (store_open(&c, path, NULL, &err))
                die("reopen", &err);
            ns[i] = ty_time_mono_ns() - t1;
            store_close(c);
        }
        report_latency("store_open of the migrated file", ns, 200, 0);
    }
    printf("%-52s %9.1f MiB (+ %.1f MiB WAL)\n", "database size",
           (double)file_size(path) / 1048576.0, (double)file_size(wal) / 1048576.0);
    printf("%-52s %9.0f bytes/session\n", "", (double)file_size(path) / (double)n_sessions);
    if (getenv("TY_BENCH_KEEP"))
        printf("kept %s\n", path);
    else
        ty_rm_rf(dir, NULL);
    free(path);
    free(wal);
    return 0;
}
