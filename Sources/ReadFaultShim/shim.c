// A test-only fault injector, loaded into `planvault` with LD_PRELOAD by the CLI tests. Never
// linked into planvault itself.
//
// It interposes read(2): once the file named by PLANVAULT_TEST_FAIL_READ_PATH (an absolute path)
// has given PLANVAULT_TEST_FAIL_READ_AFTER bytes, every further read of it fails with EIO, as a
// failing disk sector would. Reads of other files pass through untouched.
//
// With PLANVAULT_TEST_REFUSE_DIRECT_IO set to a file path, it also interposes pread(2) and
// pwrite(2): on a descriptor opened with O_DIRECT they fail with EINVAL, as on a filesystem that
// takes the flag but not the I/O (some network shares), and each refusal appends a line to that
// file, so a test can tell the fallback was taken.
//
// With PLANVAULT_TEST_SLOW_FSYNC set to a file path, it interposes fsync(2): an fsync of a
// temporary upload file (a path containing "/.tmp-") appends "start" to that file, then waits,
// as on a slow disk, for as long as the file named by PLANVAULT_TEST_HOLD_FSYNC exists (at most
// 120 s), fsyncs, and appends "done". The test decides when the disk "finishes", so nothing
// depends on timing.
//
// PLANVAULT_TEST_SLOW_WRITE and PLANVAULT_TEST_HOLD_WRITE do the same for pwrite(2) of a
// temporary upload file: the server's own disk is slow while a request body is still arriving.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ReadFaultShim.h"

typedef ssize_t (*read_function)(int, void *, size_t);

/// The path `fd` was opened by (from /proc, canonical), in `path`; 0 when it cannot be told.
static int path_of(int fd, char path[PATH_MAX]) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, PATH_MAX - 1);
    if (n < 0) return 0;
    path[n] = '\0';
    return 1;
}

static int is_failing_file(int fd, const char *target) {
    char path[PATH_MAX];
    return path_of(fd, path) && strcmp(path, target) == 0;
}

/// Appends `line` to the file at `log`.
static void note(const char *log, const char *line) {
    FILE *out = fopen(log, "a");
    if (out) {
        fprintf(out, "%s\n", line);
        fclose(out);
    }
}

ssize_t read(int fd, void *buf, size_t count) {
    static read_function real_read;
    if (!real_read) real_read = (read_function)dlsym(RTLD_NEXT, "read");
    // The descriptor's path in /proc is canonical: so is the target's, resolved once.
    static char target[PATH_MAX];
    static int resolved;
    if (!resolved) {
        const char *given = getenv("PLANVAULT_TEST_FAIL_READ_PATH");
        if (!given || !realpath(given, target)) target[0] = '\0';
        resolved = 1;
    }
    if (target[0] && is_failing_file(fd, target)) {
        const char *after = getenv("PLANVAULT_TEST_FAIL_READ_AFTER");
        off_t limit = after ? (off_t)atoll(after) : 0;
        off_t at = lseek(fd, 0, SEEK_CUR);
        if (at < 0 || at >= limit) {
            errno = EIO;
            return -1;
        }
        if ((off_t)count > limit - at) count = (size_t)(limit - at);
    }
    return real_read(fd, buf, count);
}

/// True (and logged) when direct I/O on `fd` is to be refused.
static int refuse_direct(int fd, const char *what) {
    const char *log = getenv("PLANVAULT_TEST_REFUSE_DIRECT_IO");
    if (!log || !log[0]) return 0;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || !(flags & O_DIRECT)) return 0;
    char line[32];
    snprintf(line, sizeof line, "%s refused", what);
    note(log, line);
    errno = EINVAL;
    return 1;
}

typedef ssize_t (*pread_function)(int, void *, size_t, off_t);
typedef ssize_t (*pwrite_function)(int, const void *, size_t, off_t);

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
    static pread_function real;
    if (!real) real = (pread_function)dlsym(RTLD_NEXT, "pread");
    return refuse_direct(fd, "pread") ? -1 : real(fd, buf, count, offset);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t offset) {
    static pread_function real;
    if (!real) real = (pread_function)dlsym(RTLD_NEXT, "pread64");
    return refuse_direct(fd, "pread") ? -1 : real(fd, buf, count, offset);
}

/// Holds a write of a temporary upload file while PLANVAULT_TEST_HOLD_WRITE names a file that
/// exists (at most 120 s), noting "start" in PLANVAULT_TEST_SLOW_WRITE; returns whether it held.
static int hold_write(int fd) {
    const char *log = getenv("PLANVAULT_TEST_SLOW_WRITE");
    char path[PATH_MAX];
    if (!log || !log[0] || !path_of(fd, path) || !strstr(path, "/.tmp-")) return 0;
    const char *hold = getenv("PLANVAULT_TEST_HOLD_WRITE");
    if (!hold || !hold[0] || access(hold, F_OK) != 0) return 0;
    note(log, "start");
    for (int waited = 0; access(hold, F_OK) == 0 && waited < 12000; waited++) usleep(10000);
    return 1;
}

static ssize_t slow_pwrite(pwrite_function real, int fd, const void *buf, size_t count, off_t offset) {
    if (refuse_direct(fd, "pwrite")) return -1;
    int held = hold_write(fd);
    ssize_t result = real(fd, buf, count, offset);
    if (held) {
        int saved = errno;
        note(getenv("PLANVAULT_TEST_SLOW_WRITE"), "done");
        errno = saved;
    }
    return result;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    static pwrite_function real;
    if (!real) real = (pwrite_function)dlsym(RTLD_NEXT, "pwrite");
    return slow_pwrite(real, fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    static pwrite_function real;
    if (!real) real = (pwrite_function)dlsym(RTLD_NEXT, "pwrite64");
    return slow_pwrite(real, fd, buf, count, offset);
}

typedef int (*fsync_function)(int);

int fsync(int fd) {
    static fsync_function real;
    if (!real) real = (fsync_function)dlsym(RTLD_NEXT, "fsync");
    const char *log = getenv("PLANVAULT_TEST_SLOW_FSYNC");
    char path[PATH_MAX];
    if (!log || !log[0] || !path_of(fd, path) || !strstr(path, "/.tmp-")) return real(fd);
    const char *hold = getenv("PLANVAULT_TEST_HOLD_FSYNC");
    note(log, "start");
    for (int waited = 0; hold && hold[0] && access(hold, F_OK) == 0 && waited < 12000; waited++) usleep(10000);
    int result = real(fd);
    int saved = errno;
    note(log, "done");
    errno = saved;
    return result;
}
