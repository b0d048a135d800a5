/* A small fork-join pool for the engines' per-layer fan-out (seg_pool_* in CSegKernels.h).

   Work items are claimed dynamically: the caller and the helpers take indices from one counter, so the
   caller does all the work itself when a helper is not running (a loaded machine), as GCD's
   concurrentPerform does. Helpers spin briefly on the counter's generation before sleeping on a condition
   variable, so the back-to-back layers of a frame do not pay a thread wake-up each (on a VM, waking an
   idle vCPU costs tens of microseconds, per layer).

   The claim word packs generation << 32 | n << 16 | next index, and fn/ctx are published (release) with
   it: a claim is one CAS on a word of the helper's generation with next < n, so a helper that wakes late
   can never take an index of another run, and once it holds an index the run (and its fn/ctx) cannot end. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "CSegKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEG_PAUSE() _mm_pause()
#else
#define SEG_PAUSE() ((void)0)
#endif

#define SEG_POOL_SPIN_NS 100000 /* helpers spin this long after a run before sleeping */

struct seg_pool {
    size_t helpers;
    pthread_t *threads;
    _Atomic uint64_t word;    /* gen << 32 | n << 16 | next index */
    _Atomic size_t done;      /* items finished in the current run */
    _Atomic int sleepers;
    _Atomic int busy;
    _Atomic int stop;
    seg_pool_fn fn;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Claims and runs items of generation `gen` until none is left. */
static void work(seg_pool *p, uint32_t gen) {
    uint64_t v = atomic_load_explicit(&p->word, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(v >> 32) != gen) return;
        const size_t i = (size_t)(v & 0xffff), n = (size_t)((v >> 16) & 0xffff);
        if (i >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->word, &v, v + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        p->fn(p->ctx, i);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        v = atomic_load_explicit(&p->word, memory_order_acquire);
    }
}

static void *helper_main(void *arg) {
    seg_pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = (uint32_t)(atomic_load_explicit(&p->word, memory_order_acquire) >> 32);
        if (g == seen) {
            const uint64_t t0 = now_ns();
            for (unsigned k = 1;; k++) {
                SEG_PAUSE();
                g = (uint32_t)(atomic_load_explicit(&p->word, memory_order_acquire) >> 32);
                if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
                if ((k & 63) == 0 && now_ns() - t0 > SEG_POOL_SPIN_NS) break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = (uint32_t)(atomic_load(&p->word) >> 32)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        work(p, g);
    }
}

seg_pool *seg_pool_create(size_t helpers) {
    if (helpers == 0) return NULL;
    seg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = calloc(helpers, sizeof *p->threads);
    if (!p->threads) { free(p); return NULL; }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (size_t i = 0; i < helpers; i++) {
        if (pthread_create(&p->threads[i], NULL, helper_main, p) != 0) break;
        p->helpers = i + 1;
    }
    if (p->helpers == 0) { seg_pool_destroy(p); return NULL; }
    return p;
}

void seg_pool_destroy(seg_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->helpers; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int seg_pool_run(seg_pool *p, size_t n, seg_pool_fn fn, void *ctx) {
    if (n <= 1) {
        if (n == 1) fn(ctx, 0);
        return 1;
    }
    if (n > p->helpers + 1 || n > 0xffff || atomic_exchange(&p->busy, 1)) return 0;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    const uint32_t gen = (uint32_t)(atomic_load_explicit(&p->word, memory_order_relaxed) >> 32) + 1;
    atomic_store(&p->word, (uint64_t)gen << 32 | (uint64_t)n << 16); /* seq_cst: publishes fn/ctx; pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, gen);
    /* Everything is claimed; wait for helpers still running an item. */
    for (unsigned k = 1; atomic_load_explicit(&p->done, memory_order_acquire) != n; k++) {
        SEG_PAUSE();
        if ((k & 1023) == 0) sched_yield();
    }
    atomic_store(&p->busy, 0);
    return 1;
}
