#ifndef CHOIST_CRASH_H
#define CHOIST_CRASH_H

#include <stddef.h>

/// Installs a handler for the signals a crash raises (SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS,
/// SIGFPE). It writes what the worker last printed to standard error (the runtime's
/// "Fatal error: …" line among it) to `report_path`, drains the capture pipes into the app log,
/// then hands the signal on to the handler that was installed before (the Swift backtracer's).
void hoist_crash_install(int stdout_read, int stderr_read, int log_fd, const char *report_path);

/// Remembers bytes the worker wrote to standard error, the last few KiB of which the crash
/// handler writes out.
void hoist_crash_note(const void *bytes, size_t count);
/// Set (1) by the capture thread from before it reads standard error until it has noted what
/// it read, cleared (0) after: a crash meanwhile waits for the note (up to 100 ms).
void hoist_crash_capture_busy(int busy);

/// Names the call the worker is running (0: none); a crash writes it to `<report_path>.call`.
void hoist_crash_set_call(unsigned long long call_id);

/// Makes standard output fully buffered, in a buffer of `size` bytes that a crash writes out
/// (to the app log), so that printing costs no system call a line. Falls back to line buffering.
void hoist_stdout_buffer(size_t size);
/// How many bytes standard output holds that are not written yet.
size_t hoist_stdout_pending(void);
/// Flushes standard output unless another thread holds it (it may be blocked writing to the
/// pipe the caller drains); 0 when it did not.
int hoist_stdout_try_flush(void);
/// Asks for a pipe of `size` bytes (F_SETPIPE_SZ), best effort.
void hoist_pipe_grow(int fd, int size);

/// Catches SIGTERM (the daemon's "stop now"): the handler only notes it and writes a byte to
/// `wake_fd`, so that the capture thread can hand on what the worker printed before it goes.
void hoist_term_install(int wake_fd);
/// Whether SIGTERM has come.
int hoist_term_requested(void);
/// Ends the process by SIGTERM, as if it had not been caught.
void hoist_term_reraise(void);

#endif
