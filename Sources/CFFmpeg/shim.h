#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/error.h>
#include <libavutil/dict.h>
#include <libavutil/time.h>
#include <libavutil/pixdesc.h>
#include <libavdevice/avdevice.h>
#include <stdlib.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>

// Macros Swift cannot import, re-exported as functions (prefixed, NIO style).
static inline int cffmpeg_averror(int e) { return AVERROR(e); }
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cffmpeg_averror_exit(void) { return AVERROR_EXIT; }
static inline int cffmpeg_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int cffmpeg_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int cffmpeg_averror_demuxer_not_found(void) { return AVERROR_DEMUXER_NOT_FOUND; }
static inline int cffmpeg_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }
static inline int cffmpeg_averror_protocol_not_found(void) { return AVERROR_PROTOCOL_NOT_FOUND; }
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cffmpeg_time_base_q(void) { return AV_TIME_BASE_Q; }

// Interrupt state for AVIOInterruptCB (SegMedia's `SourceInterrupter`). Fields are touched only through the
// __atomic builtins below, so `stop`/`deadline_us` can be set from any thread while FFmpeg polls the callback
// on the demuxing thread. `deadline_us` is on av_gettime_relative()'s clock; 0 means "no deadline".
typedef struct cffmpeg_interrupt {
    int stop;
    int timed_out;
    int64_t deadline_us;
    int64_t armed_us;
    /// How long the last deadline that fired had been waiting (µs); kept across re-arming, because AVIO
    /// reports the timeout later (sticky error) after handing out packets it had already buffered.
    int64_t fired_waited_us;
    /// The limit of that deadline (µs).
    int64_t fired_limit_us;
} cffmpeg_interrupt;

static inline cffmpeg_interrupt *cffmpeg_interrupt_new(void) {
    return (cffmpeg_interrupt *)calloc(1, sizeof(cffmpeg_interrupt));
}
static inline void cffmpeg_interrupt_free(cffmpeg_interrupt *s) { free(s); }
static inline void cffmpeg_interrupt_request_stop(cffmpeg_interrupt *s) { __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE); }
static inline int cffmpeg_interrupt_stop_requested(cffmpeg_interrupt *s) { return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE); }
static inline int cffmpeg_interrupt_timed_out(cffmpeg_interrupt *s) { return __atomic_load_n(&s->timed_out, __ATOMIC_ACQUIRE); }
static inline int64_t cffmpeg_interrupt_fired_waited_us(cffmpeg_interrupt *s) { return __atomic_load_n(&s->fired_waited_us, __ATOMIC_ACQUIRE); }
static inline int64_t cffmpeg_interrupt_fired_limit_us(cffmpeg_interrupt *s) { return __atomic_load_n(&s->fired_limit_us, __ATOMIC_ACQUIRE); }
/// Arms (timeout_us > 0) or disarms (timeout_us <= 0) the deadline, and clears the timed-out flag.
static inline void cffmpeg_interrupt_arm(cffmpeg_interrupt *s, int64_t timeout_us) {
    int64_t now = av_gettime_relative();
    __atomic_store_n(&s->timed_out, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&s->armed_us, now, __ATOMIC_RELEASE);
    __atomic_store_n(&s->deadline_us, timeout_us > 0 ? now + timeout_us : 0, __ATOMIC_RELEASE);
}
static inline int cffmpeg_interrupt_callback(void *opaque) {
    cffmpeg_interrupt *s = (cffmpeg_interrupt *)opaque;
    if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) return 1;
    int64_t deadline = __atomic_load_n(&s->deadline_us, __ATOMIC_ACQUIRE);
    int64_t now = av_gettime_relative();
    if (deadline > 0 && now > deadline) {
        if (!__atomic_load_n(&s->timed_out, __ATOMIC_ACQUIRE)) {
            int64_t armed = __atomic_load_n(&s->armed_us, __ATOMIC_ACQUIRE);
            __atomic_store_n(&s->fired_waited_us, now - armed, __ATOMIC_RELEASE);
            __atomic_store_n(&s->fired_limit_us, deadline - armed, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&s->timed_out, 1, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}
static inline AVIOInterruptCB cffmpeg_make_interrupt_cb(cffmpeg_interrupt *s) {
    AVIOInterruptCB cb = { cffmpeg_interrupt_callback, s };
    return cb;
}
// A pipe or socket read through a custom AVIOContext (SegMedia's pipe input). FFmpeg's own `pipe:` protocol
// blocks in read(2), where neither the interrupt callback nor a deadline can reach it: a stalled writer would
// hang the process and SIGTERM would wait for it. This reader polls in 50 ms steps, checking the interrupt
// state (stop request, deadline) between them, so it returns within ~50 ms of a stop request.
typedef struct cffmpeg_fd_reader {
    int fd;
    cffmpeg_interrupt *interrupt;
} cffmpeg_fd_reader;

static inline int cffmpeg_fd_read(void *opaque, uint8_t *buf, int size) {
    cffmpeg_fd_reader *r = (cffmpeg_fd_reader *)opaque;
    for (;;) {
        if (cffmpeg_interrupt_callback(r->interrupt)) return AVERROR_EXIT;
        struct pollfd p = { r->fd, POLLIN, 0 };
        int n = poll(&p, 1, 50);
        if (n < 0) {
            if (errno == EINTR) continue;
            return AVERROR(errno);
        }
        if (n == 0) continue;
        ssize_t k = read(r->fd, buf, (size_t)size);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return AVERROR(errno);
        }
        return k == 0 ? AVERROR_EOF : (int)k;
    }
}

static inline AVIOContext *cffmpeg_fd_reader_open(cffmpeg_fd_reader *r) {
    const int size = 32768;
    unsigned char *buffer = (unsigned char *)av_malloc(size);
    if (!buffer) return NULL;
    AVIOContext *io = avio_alloc_context(buffer, size, 0, r, cffmpeg_fd_read, NULL, NULL);
    if (!io) { av_free(buffer); return NULL; }
    io->seekable = 0;
    return io;
}

static inline void cffmpeg_fd_reader_close(AVIOContext **io) {
    if (*io) {
        av_freep(&(*io)->buffer);
        avio_context_free(io);
    }
}
#endif
