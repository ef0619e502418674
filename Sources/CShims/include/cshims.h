#ifndef MLREPO_CSHIMS_H
#define MLREPO_CSHIMS_H
#include <stdint.h>

/// Starts write-back of a file range without waiting (sync_file_range(2) with
/// SYNC_FILE_RANGE_WRITE); a no-op returning 0 where the call does not exist.
int mlrepo_start_writeback(int fd, int64_t offset, int64_t length);



/// Installs a SIGBUS handler that explains the usual cause (a memory-mapped input file
/// was truncated while being read), prints one line to stderr and exits with status 1.
/// For command-line use only; a library host keeps its own signal handling.
void mlrepo_install_sigbus_handler(void);

/// posix_spawn of `path` with `argv`/`envp`, in folder `cwd` (posix_spawn_file_actions_addchdir_np).
/// Returns 0 and the child's pid in *pid, or an errno value.
int mlrepo_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int *pid);

/// 1 when the CPU (and the OS, for the ymm state) supports AVX2 and FMA, else 0.
int mlrepo_cpu_has_avx2_fma(void);

/// Installs SIGINT and SIGTERM handlers that write one 8-byte counter increment to `fd` (an
/// eventfd or a pipe; async-signal-safe), so a server loop can notice a stop request.
/// Also ignores SIGPIPE. Returns 0 or an errno value.
int mlrepo_install_stop_signals(int fd);

/// The last signal number the stop handler saw (0 if none).
int mlrepo_stop_signal(void);

/// epoll without the packed struct: events are these flags, each fd carries a 64-bit tag.
enum {
    MLREPO_EV_IN = 0x001,
    MLREPO_EV_OUT = 0x004,
    MLREPO_EV_ERR = 0x008,
    MLREPO_EV_HUP = 0x010,
    MLREPO_EV_RDHUP = 0x2000,
    MLREPO_EV_EXCLUSIVE = 1 << 28,
};
/// epoll_create1(EPOLL_CLOEXEC).
int mlrepo_epoll_create(void);
/// op: 1 add, 2 delete, 3 modify. Returns 0 or -1 (errno set).
int mlrepo_epoll_ctl(int ep, int op, int fd, uint32_t events, uint64_t tag);
/// Waits up to `timeout_ms`; fills tags[i], events[i] for up to `max` ready fds; returns the
/// count, 0 on time-out, -1 on error (EINTR reported as 0).
int mlrepo_epoll_wait(int ep, uint64_t *tags, uint32_t *events, int max, int timeout_ms);
/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
int mlrepo_eventfd(void);
/// accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC).
int mlrepo_accept(int fd);
#endif
