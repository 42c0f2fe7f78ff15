# Compose compiler tests beyond the unit tests (tests/unit/compose/).
#  - compose.conformance: field-by-field comparison with the real Tycho's manifests in
#    $TYCHO_CONFORMANCE_CORPUS (skipped, exit 77, when unset outside CI).
#  - compose.validate: every object `tycho compile` emits for the corpus and the bundled
#    registry, checked by kubernetes-models from npm (label "node").
ty_script_test(compose.conformance "integration;compose"
    ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/conformance.py)
set_tests_properties(compose.conformance PROPERTIES SKIP_RETURN_CODE 77)

ty_script_test(compose.validate "node;compose"
    sh ${CMAKE_CURRENT_LIST_DIR}/validate.sh)

ty_script_test(compose.cli "integration;compose" sh ${CMAKE_CURRENT_LIST_DIR}/cli.sh)
