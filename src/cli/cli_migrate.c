/*
 * cli_migrate.c - `tycho migrate --db FILE`: apply pending schema migrations.
 *
 * The work is store_migrate(); this file parses the flag and prints
 * "from N to M" (N = M when the database was already current).
 */
#include "cli/cli.h"

#include "store/store.h"

#include <stdio.h>
#include <string.h>

static void migrate_usage(FILE *f)
{
    fprintf(f,
            "usage: tycho migrate --db FILE\n\n"
            "Creates FILE when missing and applies the migrations it lacks, each in its own\n"
            "transaction.  Prints \"from N to M\".  Refuses a database written by a newer\n"
            "tycho.  This tycho knows schema versions up to %d.\n",
            store_schema_version_latest());
}

int cli_cmd_migrate(int argc, char **argv)
{
    struct ty_error err = TY_ERROR_INIT;
    const char *db = NULL;
    int from = 0, to = 0;

    if (cli_wants_help(argc, argv)) {
        migrate_usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strncmp(argv[i], "--db=", 5)) {
            db = argv[i] + 5;
        } else {
            fprintf(stderr, "tycho migrate: unexpected argument '%s'\n", argv[i]);
            migrate_usage(stderr);
            return 2;
        }
    }
    if (!db || !*db) {
        fprintf(stderr, "tycho migrate: --db FILE is required\n");
        migrate_usage(stderr);
        return 2;
    }
    if (store_migrate(db, &from, &to, &err))
        return cli_fail("migrate: %s", err.msg);
    printf("from %d to %d\n", from, to);
    return 0;
}
