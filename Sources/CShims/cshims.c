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

#include <signal.h>
#include <string.h>
#include <unistd.h>

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
