# HTTP API tests (tests/api/): a real `tycho api` on port 0 with the simulated
# cluster in-process, driven over HTTP by Python 3 (stdlib only) scripts.
if(Python3_Interpreter_FOUND)
    foreach(_t endpoints cli authz malformed external culler streams session_config icons
            system_overlay limits abuse registry_refresh abuse_policy)
        ty_script_test(integration.api.${_t} "integration;api"
            ${Python3_EXECUTABLE} "${CMAKE_CURRENT_SOURCE_DIR}/api/test_${_t}.py")
    endforeach()
endif()
# deploy/tycho.yaml checked with kubernetes-models (npm) and loaded by the server.
ty_script_test(integration.api.deploy "node;api"
    sh "${CMAKE_CURRENT_SOURCE_DIR}/api/test_deploy.sh")
