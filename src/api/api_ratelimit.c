/*
 * api_ratelimit.c - per-principal token buckets (429 + Retry-After).
 *
 * Each key (a token id, or "anon:<address>" for unauthenticated callers) owns
 * a bucket of `burst` tokens refilled at `rate` per second; a request takes
 * one.  Buckets live in a small open hash table under one mutex: the critical
 * section is a few arithmetic operations, far shorter than anything else a
 * request does.  When the table fills up, buckets that have refilled
 * completely are dropped (they carry no information), so memory stays bounded
 * whatever callers send.
 */
#include "api/api_int.h"
#include "util/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 4096

struct bucket {
    char key[48];
    double tokens;
    int64_t at_ms;
    bool used;
};

struct api_ratelimit {
    pthread_mutex_t mu;
    double rate, burst;
    size_t used;
    struct bucket slots[RL_SLOTS];
};

struct api_ratelimit *api_ratelimit_new(double rate_per_s, double burst)
{
    struct api_ratelimit *rl = ty_xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = rate_per_s;
    rl->burst = burst < 1 ? 1 : burst;
    return rl;
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void refill(struct api_ratelimit *rl, struct bucket *b, int64_t now)
{
    if (now > b->at_ms) {
        b->tokens += (double)(now - b->at_ms) / 1000.0 * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->at_ms = now;
    }
}

/* Drops every bucket that is full again; rebuilds the table (linear probing
 * cannot delete in place). */
static void sweep(struct api_ratelimit *rl, int64_t now)
{
    struct bucket *old = ty_xmalloc(sizeof(rl->slots));
    memcpy(old, rl->slots, sizeof(rl->slots));
    memset(rl->slots, 0, sizeof(rl->slots));
    rl->used = 0;
    for (size_t i = 0; i < RL_SLOTS; i++) {
        if (!old[i].used)
            continue;
        refill(rl, &old[i], now);
        if (old[i].tokens >= rl->burst)
            continue;
        uint32_t h = hash(old[i].key) % RL_SLOTS;
        while (rl->slots[h].used)
            h = (h + 1) % RL_SLOTS;
        rl->slots[h] = old[i];
        rl->used++;
    }
    free(old);
}

int api_ratelimit_take(struct api_ratelimit *rl, const char *key, int64_t now_ms)
{
    if (!rl || rl->rate <= 0)
        return 0;
    int wait = 0;
    pthread_mutex_lock(&rl->mu);
    if (rl->used > RL_SLOTS * 3 / 4)
        sweep(rl, now_ms);
    uint32_t h = hash(key) % RL_SLOTS;
    struct bucket *b = NULL;
    for (size_t n = 0; n < RL_SLOTS; n++, h = (h + 1) % RL_SLOTS) {
        if (!rl->slots[h].used) {
            if (rl->used >= RL_SLOTS * 15 / 16)
                break; /* table full of active buckets: let the request through */
            b = &rl->slots[h];
            memset(b, 0, sizeof(*b));
            strncpy(b->key, key, sizeof(b->key) - 1);
            b->used = true;
            b->tokens = rl->burst;
            b->at_ms = now_ms;
            rl->used++;
            break;
        }
        if (!strncmp(rl->slots[h].key, key, sizeof(b->key) - 1)) {
            b = &rl->slots[h];
            break;
        }
    }
    if (b) {
        refill(rl, b, now_ms);
        if (b->tokens >= 1.0) {
            b->tokens -= 1.0;
        } else {
            double secs = (1.0 - b->tokens) / rl->rate;
            wait = (int)ceil(secs);
            if (wait < 1)
                wait = 1;
        }
    }
    pthread_mutex_unlock(&rl->mu);
    return wait;
}
