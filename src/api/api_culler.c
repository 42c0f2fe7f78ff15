/*
 * api_culler.c - the hook for the culler's HTTP routes.
 *
 * The reaper module decides idleness (reaper.h); its routes - GET
 * /v1/sessions/:id/idle (why a session will or will not be culled) and the
 * admin dry-run - belong in this table, which the router already includes
 * after the session routes.  Handlers follow the same contract as every other
 * resource file (api_int.h): parse, check with api_may_access(), act through
 * the services on req->srv, fill resp; errors are returned, not rendered.
 */
#include "api/api_int.h"

const struct api_route api_culler_routes[] = {
    {0},
};
