/*
 * kubesim_tls.c - the self-signed certificate and the front end (HTTPS or HTTP).
 *
 * Debian's CivetWeb 1.15 loads OpenSSL with dlopen() and looks up a table of
 * OpenSSL 1.1 functions; one of them (SSL_get_peer_certificate) no longer
 * exists in OpenSSL 3, so CivetWeb's own TLS cannot start (and crashes when a
 * TLS port is used anyway).  The simulator therefore lets CivetWeb serve plain
 * HTTP on an internal loopback port and terminates TLS here with libssl: an
 * accept thread hands each connection to a thread that pumps bytes between the
 * TLS session and a plain connection to CivetWeb.  Client certificates, when
 * asked for, are checked here.  The same front end serves plain HTTP (no
 * certificate) because it owns the client sockets: fault injection needs to
 * drop a connection without answering, which CivetWeb's API cannot do; the
 * handler finds the client connection by the port of its backend socket.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int ssl_fail(struct ty_error *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return ty_error_set(err, TY_ERR, "kubesim: %s: %s", what, e ? buf : "failed");
}

int ks_tls_make_cert(char **cert_out, char **key_out, const char *dir, struct ty_error *err)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    X509_EXTENSION *ext = NULL;
    BIO *bio = NULL;
    char *pem = NULL, *cert = NULL, *key = NULL;
    int rc = TY_ERR;
    X509V3_CTX v3;
    unsigned char serial[16];

    *cert_out = *key_out = NULL;
    pkey = EVP_EC_gen("P-256");
    if (!pkey) {
        rc = ssl_fail(err, "generate key");
        goto out;
    }
    x = X509_new();
    X509_set_version(x, 2);
    ty_random_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tycho", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"kubesim", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    static const struct {
        int nid;
        const char *val;
    } exts[] = {
        {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,digitalSignature,keyCertSign"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].val);
        if (!ext || !X509_add_ext(x, ext, -1)) {
            rc = ssl_fail(err, "certificate extension");
            goto out;
        }
        X509_EXTENSION_free(ext);
        ext = NULL;
    }
    if (!X509_sign(x, pkey, EVP_sha256())) {
        rc = ssl_fail(err, "sign certificate");
        goto out;
    }
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    long n = BIO_get_mem_data(bio, &pem);
    cert = ty_path_join(dir, "kubesim-cert.pem");
    if ((rc = ty_file_write_atomic(cert, pem, (size_t)n, err)) != 0)
        goto out;
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &pem);
    key = ty_path_join(dir, "kubesim-key.pem");
    if ((rc = ty_file_write_atomic(key, pem, (size_t)n, err)) != 0)
        goto out;
    *cert_out = cert;
    *key_out = key;
    cert = key = NULL;
    rc = 0;
out:
    X509_EXTENSION_free(ext);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(pkey);
    free(cert);
    free(key);
    return rc;
}

/* ---- the front end ---- */

struct ks_tls_conn {
    struct ks_tls *t;
    int fd, back;
    int back_port; /* local port of the backend socket: CivetWeb's remote_port */
    struct ks_tls_conn *next;
};

struct ks_tls {
    SSL_CTX *ctx;
    int lfd;
    int wake[2];
    int backend_port;
    pthread_t accept_thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int nconns;
    bool stopping; /* no new backend connections */
    bool force;    /* pumps stop even with data in flight */
    struct ks_tls_conn *conns;
};

static int connect_backend(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ssl_write_all(SSL *ssl, int fd, const char *p, size_t n)
{
    if (!ssl)
        return write_all(fd, p, n);
    while (n > 0) {
        int w = SSL_write(ssl, p, (int)n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Pumps bytes both ways until either side closes or the front end stops. */
static void pump(struct ks_tls *t, SSL *ssl, int fd, int back)
{
    char buf[16384];
    for (;;) {
        if (!ssl || SSL_pending(ssl) <= 0) {
            struct pollfd p[2] = {{fd, POLLIN, 0}, {back, POLLIN, 0}};
            int r = poll(p, 2, 250);
            pthread_mutex_lock(&t->mu);
            bool stop = t->force;
            pthread_mutex_unlock(&t->mu);
            if (stop)
                return;
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return;
            if (p[1].revents) {
                ssize_t n = recv(back, buf, sizeof buf, 0);
                if (n <= 0 || ssl_write_all(ssl, fd, buf, (size_t)n) != 0)
                    return;
            }
            if (!p[0].revents)
                continue;
        }
        if (!ssl) {
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0 || write_all(back, buf, (size_t)r) != 0)
                return;
            continue;
        }
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) {
            int e = SSL_get_error(ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                continue;
            return;
        }
        if (write_all(back, buf, (size_t)n) != 0)
            return;
    }
}

static void *conn_main(void *arg)
{
    struct ks_tls_conn *c = arg;
    struct ks_tls *t = c->t;
    SSL *ssl = t->ctx ? SSL_new(t->ctx) : NULL;
    struct timeval tv = {10, 0};

    /* The handshake gets a deadline so a silent client cannot hold a thread. */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (ssl)
        SSL_set_fd(ssl, c->fd);
    if (!ssl || SSL_accept(ssl) == 1) {
        struct timeval none = {0, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        int back = connect_backend(t->backend_port);
        struct sockaddr_in a;
        socklen_t alen = sizeof a;
        pthread_mutex_lock(&t->mu);
        c->back = back;
        if (back >= 0 && getsockname(back, (struct sockaddr *)&a, &alen) == 0)
            c->back_port = ntohs(a.sin_port);
        if (t->stopping && back >= 0)
            shutdown(back, SHUT_RDWR);
        pthread_mutex_unlock(&t->mu);
        if (c->back >= 0)
            pump(t, ssl, c->fd, c->back);
        if (ssl)
            SSL_shutdown(ssl);
    }
    if (ssl) {
        ERR_clear_error();
        SSL_free(ssl);
    }

    pthread_mutex_lock(&t->mu);
    for (struct ks_tls_conn **pp = &t->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->back >= 0)
        close(c->back);
    close(c->fd);
    t->nconns--;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
    free(c);
    /* OpenSSL keeps per-thread error state; release it before the thread ends. */
    OPENSSL_thread_stop();
    return NULL;
}

static void *accept_main(void *arg)
{
    struct ks_tls *t = arg;
    for (;;) {
        struct pollfd p[2] = {{t->lfd, POLLIN, 0}, {t->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct ks_tls_conn *c = ty_xcalloc(1, sizeof *c);
        c->t = t;
        c->fd = fd;
        c->back = -1;
        pthread_mutex_lock(&t->mu);
        c->next = t->conns;
        t->conns = c;
        t->nconns++;
        pthread_mutex_unlock(&t->mu);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, conn_main, c) != 0) {
            pthread_mutex_lock(&t->mu);
            t->conns = c->next;
            t->nconns--;
            pthread_mutex_unlock(&t->mu);
            close(fd);
            free(c);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

int ks_tls_start(struct ks_tls **out,
                 const char *host,
                 int port,
                 int backend_port,
                 const char *cert,
                 const char *key,
                 const char *client_ca,
                 int *port_out,
                 struct ty_error *err)
{
    struct ks_tls *t = ty_xcalloc(1, sizeof *t);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int rc = TY_ERR;

    *out = NULL;
    t->lfd = t->wake[0] = t->wake[1] = -1;
    t->backend_port = backend_port;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cond, NULL);
    if (cert)
        t->ctx = SSL_CTX_new(TLS_server_method());
    if (!cert) {
        /* plain HTTP */
    } else if (!t->ctx) {
        rc = ssl_fail(err, "SSL_CTX_new");
        goto out;
    }
    if (cert)
        SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    if (!cert) {
        /* no certificate to load */
    } else if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1 ||
               SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
        rc = ssl_fail(err, "load certificate");
        goto out;
    }
    if (client_ca && cert) {
        if (SSL_CTX_load_verify_locations(t->ctx, client_ca, NULL) != 1) {
            rc = ssl_fail(err, client_ca);
            goto out;
        }
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        rc = ty_error_set(err, TY_EINVAL, "kubesim: listen address '%s' is not IPv4", host);
        goto out;
    }
    t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(t->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(t->lfd, 128) != 0 ||
        getsockname(t->lfd, (struct sockaddr *)&a, &alen) != 0) {
        rc = ty_error_set(err, TY_ERR, "kubesim: listen on %s:%d: %s", host, port, strerror(errno));
        goto out;
    }
    if (pipe2(t->wake, O_CLOEXEC) != 0) {
        rc = ty_error_set(err, TY_ERR, "kubesim: pipe: %s", strerror(errno));
        goto out;
    }
    if (pthread_create(&t->accept_thread, NULL, accept_main, t) != 0) {
        rc = ty_error_set(err, TY_ERR, "kubesim: cannot start the TLS thread");
        goto out;
    }
    *port_out = ntohs(a.sin_port);
    *out = t;
    return 0;
out:
    if (t->lfd >= 0)
        close(t->lfd);
    if (t->wake[0] >= 0) {
        close(t->wake[0]);
        close(t->wake[1]);
    }
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cond);
    free(t);
    return rc;
}

bool ks_tls_drop(struct ks_tls *t, int backend_client_port)
{
    bool found = false;
    if (!t)
        return false;
    pthread_mutex_lock(&t->mu);
    for (struct ks_tls_conn *c = t->conns; c; c = c->next) {
        if (c->back >= 0 && c->back_port == backend_client_port) {
            /* RST rather than FIN, so the client sees a dropped connection. */
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            shutdown(c->fd, SHUT_RDWR);
            shutdown(c->back, SHUT_RDWR);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return found;
}

void ks_tls_stop(struct ks_tls *t)
{
    if (!t)
        return;
    if (write(t->wake[1], "x", 1) < 0) {
        /* the accept thread also ends when the pipe breaks */
    }
    pthread_join(t->accept_thread, NULL);
    pthread_mutex_lock(&t->mu);
    t->stopping = true;
    /* Connections still in their handshake have nothing to flush: end them. */
    for (struct ks_tls_conn *c = t->conns; c; c = c->next)
        if (c->back < 0)
            shutdown(c->fd, SHUT_RDWR);
    /* The others drain what the (already stopped) backend wrote, e.g. the last
     * chunk of a watch, and end at its EOF; after a grace period, force them. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    while (t->nconns > 0) {
        if (pthread_cond_timedwait(&t->cond, &t->mu, &until) != 0)
            break;
    }
    t->force = true;
    for (struct ks_tls_conn *c = t->conns; c; c = c->next) {
        shutdown(c->fd, SHUT_RDWR);
        if (c->back >= 0)
            shutdown(c->back, SHUT_RDWR);
    }
    while (t->nconns > 0)
        pthread_cond_wait(&t->cond, &t->mu);
    pthread_mutex_unlock(&t->mu);
    close(t->lfd);
    close(t->wake[0]);
    close(t->wake[1]);
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cond);
    free(t);
}
