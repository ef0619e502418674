#ifndef MLREPO_CSHIMS_H
#define MLREPO_CSHIMS_H
#include <stddef.h>
#include <stdint.h>

/// Starts write-back of a file range without waiting (sync_file_range(2) with
/// SYNC_FILE_RANGE_WRITE); a no-op returning 0 where the call does not exist.
int mlrepo_start_writeback(int fd, int64_t offset, int64_t length);

/// Copies up to `len` bytes from `fd_in` at `off_in` to `fd_out` at `off_out` inside the
/// kernel (copy_file_range(2); file systems that can share extents do). Returns the bytes
/// copied (0 at the input's end) or -1 with errno (ENOSYS, EXDEV, EINVAL...: copy yourself).
long mlrepo_copy_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t len);

/// Makes `fd_out` share all of `fd_in`'s data (ioctl FICLONE, a reflink on btrfs, XFS...).
/// Returns 0, or -1 with errno where the file system cannot.
int mlrepo_clone_file(int fd_out, int fd_in);

/// Swaps the files at `a` and `b` atomically (renameat2(2) with RENAME_EXCHANGE). Returns 0,
/// or -1 with errno (EINVAL, ENOSYS... where the file system or kernel cannot).
int mlrepo_rename_exchange(const char *a, const char *b);



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

// TLS client sessions (tls.c): OpenSSL's libssl is loaded at run time with dlopen
// ("libssl.so.3", else "libssl.so"), so nothing links it. Error texts are one line, without
// a host prefix, written into `err` (capacity `n`).

/// 1 when libssl could be loaded (once, thread-safe), else 0 with the reason in `err`.
int mlrepo_tls_available(char *err, size_t n);
/// Runs a TLS handshake over the connected socket `fd` for `host` (a name, sent as SNI, or an
/// IP address). `cafile`: a PEM bundle to trust instead of the system's default store (NULL:
/// the default). `verify` != 0 checks the certificate chain and that it names `host`.
/// Returns the session, or NULL with the reason in `err` and errno EPROTO when TLS refused
/// the peer (certificate, protocol), else the failed socket call's errno. The caller keeps
/// owning `fd`.
void *mlrepo_tls_connect(int fd, const char *host, const char *cafile, int verify, char *err, size_t n);
/// Reads up to `n` bytes: the count, 0 at the end of the stream, -1 on error (errno set).
long mlrepo_tls_read(void *session, void *buf, size_t n, char *err, size_t en);
/// Writes all `n` bytes (up to INT_MAX): the count, or -1 on error (errno set).
long mlrepo_tls_write(void *session, const void *buf, size_t n, char *err, size_t en);
/// Sends close_notify (without waiting for the peer's) and frees the session; not the socket.
void mlrepo_tls_close(void *session);

// TLS server sessions (tls.c), for non-blocking sockets. The caller blocks SIGPIPE in the
// threads that call these (OpenSSL writes with write(2)).

/// A server context for a PEM certificate chain file and a PEM private key file (TLS 1.2+,
/// no renegotiation), or NULL with a one-line reason in `err`.
void *mlrepo_tls_server_new(const char *cert, const char *key, char *err, size_t n);
void mlrepo_tls_server_free(void *ctx);
/// A session in accept state over the accepted socket `fd`, or NULL.
void *mlrepo_tls_server_session(void *ctx, int fd);
/// Advances the handshake: 1 done, -2 wants the socket readable, -3 writable, -1 failed.
int mlrepo_tls_server_handshake(void *session);
/// Reads up to `n` bytes: the count, 0 at the end of the stream, -1 failed, -2/-3 as above.
long mlrepo_tls_server_read(void *session, void *buf, size_t n);
/// Writes up to `n` bytes (a retry after -2/-3 must pass the same bytes and length): the
/// count, -1 failed, -2/-3 as above.
long mlrepo_tls_server_write(void *session, const void *buf, size_t n);
/// Frees a server session, first sending close_notify (one try) when `notify` != 0.
void mlrepo_tls_session_free(void *session, int notify);
#endif
