/*
 * fetch.h - getting registry sources and specs from elsewhere: git repositories
 * (libgit2) and http(s) URLs (libcurl).  libgit2 and libcurl types stay inside
 * this module.
 */
#ifndef TY_FETCH_FETCH_H
#define TY_FETCH_FETCH_H

/* Initialises libcurl and libgit2.  Call once from main before any thread. */
void fetch_global_init(void);
void fetch_global_cleanup(void);

#endif
