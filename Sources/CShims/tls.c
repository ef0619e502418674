// TLS client and server sessions over OpenSSL's libssl, loaded at run time with dlopen: the binary links
// only libcrypto, and runs (without https) where libssl is missing. No OpenSSL headers: the
// few types are opaque and the constants are OpenSSL's stable ABI values.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cshims.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct X509_VERIFY_PARAM_st X509_VERIFY_PARAM;

enum {
    SSL_VERIFY_NONE = 0,
    SSL_VERIFY_PEER = 1,
    SSL_ERROR_SSL = 1,
    SSL_ERROR_WANT_READ = 2,
    SSL_ERROR_WANT_WRITE = 3,
    SSL_ERROR_SYSCALL = 5,
    SSL_ERROR_ZERO_RETURN = 6,
    SSL_CTRL_SET_TLSEXT_HOSTNAME = 55,
    TLSEXT_NAMETYPE_host_name = 0,
    SSL_CTRL_SET_MIN_PROTO_VERSION = 123,
    TLS1_2_VERSION = 0x0303,
};
/// OpenSSL 3: a peer that closes without close_notify reads as a clean end of stream (HTTP's
/// own framing, Content-Length or chunked, tells a truncated body).
#define MLREPO_SSL_OP_IGNORE_UNEXPECTED_EOF ((uint64_t)1 << 7)

static struct {
    const SSL_METHOD *(*TLS_client_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
    void (*SSL_CTX_free)(SSL_CTX *);
    int (*SSL_CTX_set_default_verify_paths)(SSL_CTX *);
    int (*SSL_CTX_load_verify_locations)(SSL_CTX *, const char *, const char *);
    void (*SSL_CTX_set_verify)(SSL_CTX *, int, void *);
    long (*SSL_CTX_ctrl)(SSL_CTX *, int, long, void *);
    uint64_t (*SSL_CTX_set_options)(SSL_CTX *, uint64_t);  // optional: a function from 3.0 on
    SSL *(*SSL_new)(SSL_CTX *);
    void (*SSL_free)(SSL *);
    int (*SSL_set_fd)(SSL *, int);
    long (*SSL_ctrl)(SSL *, int, long, void *);
    int (*SSL_set1_host)(SSL *, const char *);
    X509_VERIFY_PARAM *(*SSL_get0_param)(SSL *);
    int (*X509_VERIFY_PARAM_set1_ip_asc)(X509_VERIFY_PARAM *, const char *);
    int (*SSL_connect)(SSL *);
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_shutdown)(SSL *);
    int (*SSL_get_error)(const SSL *, int);
    long (*SSL_get_verify_result)(const SSL *);
    const char *(*X509_verify_cert_error_string)(long);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_clear_error)(void);
    void (*ERR_error_string_n)(unsigned long, char *, size_t);
    // Server side (looked up too, but only mlrepo_tls_server_new requires them).
    const SSL_METHOD *(*TLS_server_method)(void);
    int (*SSL_CTX_use_certificate_chain_file)(SSL_CTX *, const char *);
    int (*SSL_CTX_use_PrivateKey_file)(SSL_CTX *, const char *, int);
    int (*SSL_CTX_check_private_key)(const SSL_CTX *);
    void (*SSL_set_accept_state)(SSL *);
    int (*SSL_do_handshake)(SSL *);
} T;

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_loaded = 0;
static char tls_load_error[256];

static void tls_load(void) {
    // MLREPO_TEST_LIBSSL names another library (tests of the "no libssl" path).
    const char *test = getenv("MLREPO_TEST_LIBSSL");
    const char *names[2] = {"libssl.so.3", "libssl.so"};
    int count = 2;
    if (test && *test) { names[0] = test; count = 1; }
    void *h = NULL;
    const char *name = NULL;
    for (int i = 0; i < count && !h; i++) { name = names[i]; h = dlopen(name, RTLD_NOW | RTLD_LOCAL); }
    if (!h) {
        snprintf(tls_load_error, sizeof tls_load_error,
                 "https needs OpenSSL's libssl.so.3, which this system lacks (install libssl3 / openssl)");
        return;
    }
#define SYM(s)                                                                                         \
    do {                                                                                               \
        *(void **)&T.s = dlsym(h, #s);                                                                 \
        if (!T.s) {                                                                                    \
            snprintf(tls_load_error, sizeof tls_load_error,                                            \
                     "https needs OpenSSL 1.1.1 or newer; %s lacks %s", name, #s);                     \
            return;                                                                                    \
        }                                                                                              \
    } while (0)
    SYM(TLS_client_method); SYM(SSL_CTX_new); SYM(SSL_CTX_free); SYM(SSL_CTX_set_default_verify_paths);
    SYM(SSL_CTX_load_verify_locations); SYM(SSL_CTX_set_verify); SYM(SSL_CTX_ctrl); SYM(SSL_new);
    SYM(SSL_free); SYM(SSL_set_fd); SYM(SSL_ctrl); SYM(SSL_set1_host); SYM(SSL_get0_param);
    SYM(X509_VERIFY_PARAM_set1_ip_asc); SYM(SSL_connect); SYM(SSL_read); SYM(SSL_write);
    SYM(SSL_shutdown); SYM(SSL_get_error); SYM(SSL_get_verify_result);
    SYM(X509_verify_cert_error_string); SYM(ERR_get_error); SYM(ERR_clear_error); SYM(ERR_error_string_n);
#undef SYM
    *(void **)&T.SSL_CTX_set_options = dlsym(h, "SSL_CTX_set_options");
    *(void **)&T.TLS_server_method = dlsym(h, "TLS_server_method");
    *(void **)&T.SSL_CTX_use_certificate_chain_file = dlsym(h, "SSL_CTX_use_certificate_chain_file");
    *(void **)&T.SSL_CTX_use_PrivateKey_file = dlsym(h, "SSL_CTX_use_PrivateKey_file");
    *(void **)&T.SSL_CTX_check_private_key = dlsym(h, "SSL_CTX_check_private_key");
    *(void **)&T.SSL_set_accept_state = dlsym(h, "SSL_set_accept_state");
    *(void **)&T.SSL_do_handshake = dlsym(h, "SSL_do_handshake");
    tls_loaded = 1;
}

int mlrepo_tls_available(char *err, size_t n) {
    pthread_once(&tls_once, tls_load);
    if (tls_loaded) return 1;
    if (err && n) snprintf(err, n, "%s", tls_load_error);
    return 0;
}

// MARK: errors

/// The reason of OpenSSL's oldest queued error ("error:0A000086:SSL routines::certificate
/// verify failed" -> "certificate verify failed"), or NULL when the queue is empty.
static const char *queued_reason(char *buf, size_t n) {
    unsigned long e = T.ERR_get_error();
    if (!e) return NULL;
    T.ERR_error_string_n(e, buf, n);
    char *last = strrchr(buf, ':');
    const char *reason = last && last[1] ? last + 1 : buf;
    T.ERR_clear_error();
    return reason;
}

/// Describes a failed SSL call; `saved_errno` is errno right after it.
static void describe(SSL *s, int ret, int saved_errno, const char *what, char *err, size_t n) {
    if (!err || !n) return;
    char buf[256];
    int e = T.SSL_get_error(s, ret);
    const char *reason = queued_reason(buf, sizeof buf);
    if (reason) snprintf(err, n, "%s (%s)", what, reason);
    else if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) snprintf(err, n, "%s (timed out)", what);
    else if (saved_errno) snprintf(err, n, "%s (%s)", what, strerror(saved_errno));
    else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) snprintf(err, n, "%s (the server closed the connection)", what);
    else snprintf(err, n, "%s (TLS error %d)", what, e);
}

// MARK: SIGPIPE

/// Writes to a closed socket raise SIGPIPE, and OpenSSL's socket writes do not pass
/// MSG_NOSIGNAL: block the signal around each call and swallow one it raised.
typedef struct { sigset_t old; int pending; } pipe_guard;

static void guard_begin(pipe_guard *g) {
    sigset_t s, p;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &g->old);
    sigemptyset(&p);
    sigpending(&p);
    g->pending = sigismember(&p, SIGPIPE) == 1;
}

static void guard_end(pipe_guard *g) {
    int saved = errno;
    if (!g->pending) {
        sigset_t s, p;
        sigemptyset(&p);
        sigpending(&p);
        if (sigismember(&p, SIGPIPE) == 1) {
            sigemptyset(&s);
            sigaddset(&s, SIGPIPE);
            struct timespec zero = {0, 0};
            while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR) {}
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

// MARK: contexts

/// One SSL_CTX per trust store (and verify mode), built once: loading the system CA bundle
/// costs milliseconds, and a context is safe to share between threads.
typedef struct { char *cafile; int verify; SSL_CTX *ctx; } ctx_entry;
static ctx_entry ctx_cache[8];
static int ctx_count = 0;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

static SSL_CTX *context_for(const char *cafile, int verify, char *err, size_t n) {
    pthread_mutex_lock(&ctx_lock);
    for (int i = 0; i < ctx_count; i++) {
        ctx_entry *c = &ctx_cache[i];
        if (c->verify == verify && ((!c->cafile && !cafile) || (c->cafile && cafile && strcmp(c->cafile, cafile) == 0))) {
            SSL_CTX *ctx = c->ctx;
            pthread_mutex_unlock(&ctx_lock);
            return ctx;
        }
    }
    char buf[256];
    T.ERR_clear_error();
    SSL_CTX *ctx = T.SSL_CTX_new(T.TLS_client_method());
    if (!ctx) {
        const char *r = queued_reason(buf, sizeof buf);
        if (err && n) snprintf(err, n, "cannot set up TLS (%s)", r ? r : "SSL_CTX_new failed");
        pthread_mutex_unlock(&ctx_lock);
        return NULL;
    }
    T.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    if (T.SSL_CTX_set_options) T.SSL_CTX_set_options(ctx, MLREPO_SSL_OP_IGNORE_UNEXPECTED_EOF);
    int ok = cafile ? T.SSL_CTX_load_verify_locations(ctx, cafile, NULL) : T.SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        const char *r = queued_reason(buf, sizeof buf);
        if (err && n) {
            if (cafile) snprintf(err, n, "cannot load the CA certificates in '%s' (%s)", cafile, r ? r : "unreadable");
            else snprintf(err, n, "cannot load the system's CA certificates (%s)", r ? r : "unknown error");
        }
        T.SSL_CTX_free(ctx);
        pthread_mutex_unlock(&ctx_lock);
        return NULL;
    }
    T.SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (ctx_count < (int)(sizeof ctx_cache / sizeof ctx_cache[0])) {
        ctx_cache[ctx_count].cafile = cafile ? strdup(cafile) : NULL;
        ctx_cache[ctx_count].verify = verify;
        ctx_cache[ctx_count].ctx = ctx;
        ctx_count++;
    }
    // A full cache keeps serving its entries; an extra context lives as long as the process.
    pthread_mutex_unlock(&ctx_lock);
    return ctx;
}

// MARK: sessions

void *mlrepo_tls_connect(int fd, const char *host, const char *cafile, int verify, char *err, size_t n) {
    errno = EPROTO;
    if (!mlrepo_tls_available(err, n)) return NULL;
    SSL_CTX *ctx = context_for(cafile, verify, err, n);
    if (!ctx) { errno = EPROTO; return NULL; }
    char buf[256];
    T.ERR_clear_error();
    SSL *s = T.SSL_new(ctx);
    if (!s) {
        const char *r = queued_reason(buf, sizeof buf);
        if (err && n) snprintf(err, n, "cannot set up TLS (%s)", r ? r : "SSL_new failed");
        errno = EPROTO;
        return NULL;
    }
    T.SSL_set_fd(s, fd);
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    // SNI carries names only (RFC 6066); an address is matched against the certificate's IP SANs.
    if (!is_ip) T.SSL_ctrl(s, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)host);
    if (verify) {
        int ok = is_ip ? T.X509_VERIFY_PARAM_set1_ip_asc(T.SSL_get0_param(s), host) : T.SSL_set1_host(s, host);
        if (ok != 1) {
            if (err && n) snprintf(err, n, "cannot verify the certificate of '%s'", host);
            T.SSL_free(s);
            errno = EPROTO;
            return NULL;
        }
    }
    for (;;) {
        pipe_guard g;
        guard_begin(&g);
        T.ERR_clear_error();
        errno = 0;
        int r = T.SSL_connect(s);
        int saved = errno;
        guard_end(&g);
        if (r == 1) return s;
        int e = T.SSL_get_error(s, r);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && saved == EINTR) continue;
        long vr = T.SSL_get_verify_result(s);
        if (verify && vr != 0) {
            if (err && n) snprintf(err, n, "certificate verify failed (%s)", T.X509_verify_cert_error_string(vr));
            T.ERR_clear_error();
            saved = 0;
        } else {
            describe(s, r, saved, "TLS handshake failed", err, n);
            if (!saved && e == SSL_ERROR_SYSCALL) saved = ECONNRESET;  // closed mid-handshake
        }
        T.SSL_free(s);
        // EPROTO: refused by TLS itself (no use retrying); else the socket's errno.
        errno = saved ? saved : EPROTO;
        return NULL;
    }
}

/// One SSL_read or SSL_write (retried on EINTR), with SIGPIPE blocked. Returns the bytes
/// moved, 0 at a clean end of stream (reads), or -1 with `err` set.
static long tls_io(SSL *s, void *buf, size_t n, int writing, char *err, size_t en) {
    int want = n > INT_MAX ? INT_MAX : (int)n;
    for (;;) {
        pipe_guard g;
        guard_begin(&g);
        T.ERR_clear_error();
        errno = 0;
        int r = writing ? T.SSL_write(s, buf, want) : T.SSL_read(s, buf, want);
        int saved = errno;
        guard_end(&g);
        if (r > 0) return r;
        int e = T.SSL_get_error(s, r);
        if (!writing && e == SSL_ERROR_ZERO_RETURN) return 0;
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && saved == EINTR) continue;
        // OpenSSL 1.1: an end of stream without close_notify.
        if (!writing && e == SSL_ERROR_SYSCALL && saved == 0 && r == 0) {
            char tmp[256];
            if (!queued_reason(tmp, sizeof tmp)) return 0;
        }
        describe(s, r, saved, writing ? "TLS write failed" : "TLS read failed", err, en);
        errno = saved ? saved : EPROTO;
        return -1;
    }
}

long mlrepo_tls_read(void *session, void *buf, size_t n, char *err, size_t en) {
    return tls_io(session, buf, n, 0, err, en);
}

long mlrepo_tls_write(void *session, const void *buf, size_t n, char *err, size_t en) {
    return tls_io(session, (void *)buf, n, 1, err, en);
}

void mlrepo_tls_close(void *session) {
    SSL *s = session;
    if (!s) return;
    pipe_guard g;
    guard_begin(&g);
    T.SSL_shutdown(s);  // sends close_notify; does not wait for the peer's
    guard_end(&g);
    T.ERR_clear_error();
    T.SSL_free(s);
}

// MARK: server side

enum {
    SSL_FILETYPE_PEM = 1,
    SSL_CTRL_OPTIONS = 32,
    SSL_CTRL_MODE = 33,
    SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1,
    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2,
    SSL_MODE_RELEASE_BUFFERS = 0x10,
};
/// No client-initiated renegotiation (a cheap way to make a server do expensive work).
#define MLREPO_SSL_OP_NO_RENEGOTIATION ((uint64_t)1 << 30)

void *mlrepo_tls_server_new(const char *cert, const char *key, char *err, size_t n) {
    if (!mlrepo_tls_available(err, n)) return NULL;
    if (!T.TLS_server_method || !T.SSL_CTX_use_certificate_chain_file || !T.SSL_CTX_use_PrivateKey_file ||
        !T.SSL_CTX_check_private_key || !T.SSL_set_accept_state || !T.SSL_do_handshake) {
        if (err && n) snprintf(err, n, "TLS serving needs OpenSSL 1.1.1 or newer; the loaded libssl lacks its server functions");
        return NULL;
    }
    char buf[256];
    T.ERR_clear_error();
    SSL_CTX *ctx = T.SSL_CTX_new(T.TLS_server_method());
    if (!ctx) {
        const char *r = queued_reason(buf, sizeof buf);
        if (err && n) snprintf(err, n, "cannot set up TLS (%s)", r ? r : "SSL_CTX_new failed");
        return NULL;
    }
    T.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    uint64_t opts = MLREPO_SSL_OP_IGNORE_UNEXPECTED_EOF | MLREPO_SSL_OP_NO_RENEGOTIATION;
    if (T.SSL_CTX_set_options) T.SSL_CTX_set_options(ctx, opts);
    else T.SSL_CTX_ctrl(ctx, SSL_CTRL_OPTIONS, (long)opts, NULL);
    // Non-blocking sockets: partial writes, a retried write may come from a moved buffer, and
    // idle connections give their record buffers back.
    T.SSL_CTX_ctrl(ctx, SSL_CTRL_MODE,
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS, NULL);
    if (T.SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        const char *r = queued_reason(buf, sizeof buf);
        if (err && n) snprintf(err, n, "cannot load the TLS certificate '%s' (%s)", cert, r ? r : "unreadable");
        T.SSL_CTX_free(ctx);
        return NULL;
    }
    if (T.SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        const char *r = queued_reason(buf, sizeof buf);
        if (err && n) snprintf(err, n, "cannot load the TLS private key '%s' (%s)", key, r ? r : "unreadable");
        T.SSL_CTX_free(ctx);
        return NULL;
    }
    if (T.SSL_CTX_check_private_key(ctx) != 1) {
        T.ERR_clear_error();
        if (err && n) snprintf(err, n, "the TLS private key '%s' does not match the certificate '%s'", key, cert);
        T.SSL_CTX_free(ctx);
        return NULL;
    }
    T.ERR_clear_error();
    return ctx;
}

void mlrepo_tls_server_free(void *ctx) {
    if (ctx) T.SSL_CTX_free(ctx);
}

void *mlrepo_tls_server_session(void *ctx, int fd) {
    if (!ctx) return NULL;
    T.ERR_clear_error();
    SSL *s = T.SSL_new(ctx);
    if (!s) { T.ERR_clear_error(); return NULL; }
    if (T.SSL_set_fd(s, fd) != 1) { T.SSL_free(s); T.ERR_clear_error(); return NULL; }
    T.SSL_set_accept_state(s);
    return s;
}

/// Maps a non-positive result: -2 wants readability, -3 writability, 0 a clean end of
/// stream (reads), -1 a failure (the error queue is cleared either way).
static long server_result(SSL *s, int r, int reading) {
    int e = T.SSL_get_error(s, r);
    T.ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ) return -2;
    if (e == SSL_ERROR_WANT_WRITE) return -3;
    if (reading && (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && r == 0 && errno == 0))) return 0;
    if (e == SSL_ERROR_SYSCALL && (errno == EINTR)) return -2;
    return -1;
}

int mlrepo_tls_server_handshake(void *session) {
    SSL *s = session;
    T.ERR_clear_error();
    errno = 0;
    int r = T.SSL_do_handshake(s);
    if (r == 1) return 1;
    long m = server_result(s, r, 0);
    return m == -2 || m == -3 ? (int)m : -1;
}

long mlrepo_tls_server_read(void *session, void *buf, size_t n) {
    SSL *s = session;
    int want = n > INT_MAX ? INT_MAX : (int)n;
    T.ERR_clear_error();
    errno = 0;
    int r = T.SSL_read(s, buf, want);
    if (r > 0) return r;
    return server_result(s, r, 1);
}

long mlrepo_tls_server_write(void *session, const void *buf, size_t n) {
    SSL *s = session;
    int want = n > INT_MAX ? INT_MAX : (int)n;
    T.ERR_clear_error();
    errno = 0;
    int r = T.SSL_write(s, buf, want);
    if (r > 0) return r;
    long m = server_result(s, r, 0);
    return m == 0 ? -1 : m;
}

void mlrepo_tls_session_free(void *session, int notify) {
    SSL *s = session;
    if (!s) return;
    if (notify) { errno = 0; T.SSL_shutdown(s); }  // one try at close_notify, never waits
    T.ERR_clear_error();
    T.SSL_free(s);
}
