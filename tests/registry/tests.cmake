# Registry tests beyond the unit tests (tests/unit/registry):
#  - registry.cli: `tycho registry check` / `tycho apps` end to end, including an
#    http source served on 127.0.0.1;
#  - registry.conformance: `tycho apps --json` against the real Tycho's outputs in
#    $TYCHO_CONFORMANCE_CORPUS (skipped, exit 77, when absent outside CI);
#  - registry.server: the spec branch from the environment, the config file and
#    --spec-branch reaching `tycho api`'s registry (uses tests/api/tyapi.py);
#  - registry.schema (node): schema/registry.schema.json with ajv against the
#    bundled and corpus registries (skipped, exit 77, when npm is absent).
if(Python3_Interpreter_FOUND)
    ty_script_test(registry.cli "integration;registry"
        ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/cli_test.py)
    ty_script_test(registry.conformance "integration;registry"
        ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/conformance.py)
    set_tests_properties(registry.conformance PROPERTIES SKIP_RETURN_CODE 77)
    ty_script_test(registry.server "integration;registry"
        ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/server_test.py)
endif()
ty_script_test(registry.schema "node;registry" sh ${CMAKE_CURRENT_LIST_DIR}/schema_test.sh)
set_tests_properties(registry.schema PROPERTIES SKIP_RETURN_CODE 77)
