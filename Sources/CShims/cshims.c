#define _GNU_SOURCE
#include <fcntl.h>
#include "cshims.h"

int mlrepo_start_writeback(int fd, int64_t offset, int64_t length) {
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

long mlrepo_copy_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t len) {
#ifdef SYS_copy_file_range
    int64_t in = off_in, out = off_out;
    return syscall(SYS_copy_file_range, fd_in, &in, fd_out, &out, len, 0u);
#else
    (void)fd_in; (void)off_in; (void)fd_out; (void)off_out; (void)len;
    errno = ENOSYS;
    return -1;
#endif
}

int mlrepo_clone_file(int fd_out, int fd_in) {
    return ioctl(fd_out, FICLONE, fd_in);
}

int mlrepo_rename_exchange(const char *a, const char *b) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2u /* RENAME_EXCHANGE */);
#else
    (void)a; (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

#include <signal.h>
#include <string.h>

static void mlrepo_on_sigbus(int sig) {
    (void)sig;
    static const char msg[] =
        "error: an input file shrank while mlrepo was reading it (SIGBUS); nothing was recorded, run the command again\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(1);
}

void mlrepo_install_sigbus_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mlrepo_on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

#include <spawn.h>

int mlrepo_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int *pid) {
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) return rc;
    rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
    if (rc == 0) {
        pid_t p = 0;
        rc = posix_spawn(&p, path, &fa, NULL, argv, envp);
        if (rc == 0) *pid = (int)p;
    }
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

int mlrepo_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#include <signal.h>
#include <unistd.h>
#include <string.h>
#include <errno.h>

static volatile sig_atomic_t stop_fd = -1;
static volatile sig_atomic_t stop_signo = 0;

static void mlrepo_stop_handler(int signo) {
    int saved = errno;
    stop_signo = signo;
    if (stop_fd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(stop_fd, &one, sizeof one);
        (void)r;
    }
    errno = saved;
}

int mlrepo_install_stop_signals(int fd) {
    stop_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mlrepo_stop_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) != 0) return errno;
    if (sigaction(SIGTERM, &sa, NULL) != 0) return errno;
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGPIPE, &ign, NULL) != 0) return errno;
    return 0;
}

int mlrepo_stop_signal(void) { return stop_signo; }

#include <sys/epoll.h>
#include <sys/eventfd.h>

int mlrepo_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int mlrepo_epoll_ctl(int ep, int op, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = tag;
    int o = op == 1 ? EPOLL_CTL_ADD : op == 2 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    return epoll_ctl(ep, o, fd, &ev);
}

int mlrepo_epoll_wait(int ep, uint64_t *tags, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(ep, evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) { tags[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}

int mlrepo_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

#include <sys/socket.h>
int mlrepo_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }
