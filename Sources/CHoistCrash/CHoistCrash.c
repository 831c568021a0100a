#define _GNU_SOURCE
#include "CHoistCrash.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// Only async-signal-safe calls below the handler's entry: open, read, write, close, sigaction,
// raise, nanosleep (and __fpending, which only reads the stream's pointers).

#define RING_SIZE 8192
static char ring[RING_SIZE];
static volatile size_t ring_total;
static int capture_out = -1, capture_err = -1, log_err = -1;
static char report[1024];
// The call running when a crash comes, written beside the report as `<report>.call`.
static char call_report[1040];
static volatile unsigned long long current_call;
static const int crash_signals[] = {SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE};
static struct sigaction previous[NSIG];

static volatile sig_atomic_t capture_busy;

// Standard output's buffer (see hoist_stdout_buffer): a crash writes what is still in it.
static char *stdout_buffer;
static size_t stdout_size;

void hoist_stdout_buffer(size_t size) {
    char *buffer = malloc(size);
    if (buffer != NULL && setvbuf(stdout, buffer, _IOFBF, size) == 0) {
        stdout_buffer = buffer;
        stdout_size = size;
        return;
    }
    free(buffer);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

size_t hoist_stdout_pending(void) {
    return __fpending(stdout);
}

int hoist_stdout_try_flush(void) {
    if (ftrylockfile(stdout) != 0) return 0;
    fflush_unlocked(stdout);
    funlockfile(stdout);
    return 1;
}

void hoist_pipe_grow(int fd, int size) {
#ifdef F_SETPIPE_SZ
    fcntl(fd, F_SETPIPE_SZ, size);
#else
    (void)fd;
    (void)size;
#endif
}

static volatile sig_atomic_t term_requested;
static int term_wake_fd = -1;

static void handle_term(int signal) {
    (void)signal;
    int saved = errno;
    term_requested = 1;
    char byte = 1;
    if (term_wake_fd >= 0) (void)!write(term_wake_fd, &byte, 1);
    errno = saved;
}

void hoist_term_install(int wake_fd) {
    term_wake_fd = wake_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handle_term;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, NULL);
}

int hoist_term_requested(void) {
    return term_requested;
}

void hoist_term_reraise(void) {
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
}

void hoist_crash_capture_busy(int busy) {
    capture_busy = busy;
}

void hoist_crash_note(const void *bytes, size_t count) {
    const char *from = bytes;
    if (count > RING_SIZE) {
        from += count - RING_SIZE;
        count = RING_SIZE;
    }
    size_t total = ring_total;
    size_t start = total % RING_SIZE;
    size_t first = count < RING_SIZE - start ? count : RING_SIZE - start;
    memcpy(ring + start, from, first);
    memcpy(ring, from + first, count - first);
    ring_total = total + count;
}

static void write_all(int fd, const char *bytes, size_t count) {
    while (count > 0 && fd >= 0) {
        ssize_t written = write(fd, bytes, count);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        bytes += written;
        count -= (size_t)written;
    }
}

// Reads what is still in a (non-blocking) capture pipe and writes it to both descriptors.
static void drain(int from, int to, int also) {
    char buffer[4096];
    for (;;) {
        ssize_t count = read(from, buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return;
        write_all(to, buffer, (size_t)count);
        write_all(also, buffer, (size_t)count);
    }
}

void hoist_crash_set_call(unsigned long long call_id) {
    current_call = call_id;
}

// Writes the running call's id in decimal, so the daemon knows which call the crash was in.
static void write_call(void) {
    unsigned long long id = current_call;
    if (id == 0 || call_report[0] == 0) return;
    char digits[24];
    size_t at = sizeof digits;
    do {
        digits[--at] = (char)('0' + id % 10);
        id /= 10;
    } while (id > 0 && at > 0);
    int fd = open(call_report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    write_all(fd, digits + at, sizeof digits - at);
    if (fd >= 0) close(fd);
}

// What the worker printed to standard output that is still in the buffer, written without
// taking the stream's lock (the crashing thread may hold it).
static void write_stdout_buffer(int to) {
    if (stdout_buffer == NULL) return;
    size_t pending = __fpending(stdout);
    if (pending <= stdout_size) write_all(to, stdout_buffer, pending);
}

static void handle_crash(int signal, siginfo_t *info, void *context) {
    int saved = errno;
    // The capture thread may have read the runtime's last words and not yet noted them.
    for (int waited = 0; capture_busy && waited < 100; waited++) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    write_call();
    int fd = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t total = ring_total;
    size_t count = total < RING_SIZE ? total : RING_SIZE;
    size_t start = (total - count) % RING_SIZE;
    size_t first = count < RING_SIZE - start ? count : RING_SIZE - start;
    write_all(fd, ring + start, first);
    write_all(fd, ring, count - first);
    // What the capture thread has not read yet: standard error to the report and the log,
    // standard output to the log.
    if (capture_err >= 0) drain(capture_err, fd, log_err);
    if (capture_out >= 0) drain(capture_out, log_err, -1);
    write_stdout_buffer(log_err);
    if (fd >= 0) close(fd);

    struct sigaction *before = &previous[signal];
    errno = saved;
    if ((before->sa_flags & SA_SIGINFO) && before->sa_sigaction != NULL) {
        before->sa_sigaction(signal, info, context);
        return;
    }
    if (!(before->sa_flags & SA_SIGINFO) && before->sa_handler != SIG_DFL && before->sa_handler != SIG_IGN) {
        before->sa_handler(signal);
        return;
    }
    // No handler before ours: die of the signal. A fault re-raises it as the instruction runs
    // again; one sent with kill() or raise() is raised again here.
    sigaction(signal, before, NULL);
    if (info == NULL || info->si_code <= 0) raise(signal);
}

void hoist_crash_install(int stdout_read, int stderr_read, int log_fd, const char *report_path) {
    capture_out = stdout_read;
    capture_err = stderr_read;
    log_err = log_fd;
    strncpy(report, report_path, sizeof report - 1);
    report[sizeof report - 1] = 0;
    strncpy(call_report, report, sizeof call_report - 6);
    strcat(call_report, ".call");
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = handle_crash;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        sigaction(crash_signals[i], &action, &previous[crash_signals[i]]);
    }
}
