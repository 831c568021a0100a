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

#endif
