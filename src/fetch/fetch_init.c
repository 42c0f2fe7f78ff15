/*
 * fetch_init.c - one-time initialisation of the network libraries.
 */
#include "fetch/fetch.h"
#include "fetch/fetch_int.h"

#include <curl/curl.h>
#include <git2.h>

void fetch_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    git_libgit2_init();
    /* Connect and read deadlines for git remotes (fetch_stream.c). */
    fetch_stream_register();
}

void fetch_global_cleanup(void)
{
    git_libgit2_shutdown();
    curl_global_cleanup();
}
