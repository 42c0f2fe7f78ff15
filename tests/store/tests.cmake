# The store's command-line surface: `tycho migrate --db FILE`.
ty_script_test(store.cli_migrate "integration;store" sh "${CMAKE_CURRENT_LIST_DIR}/migrate.sh")
