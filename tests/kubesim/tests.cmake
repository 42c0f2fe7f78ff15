# kubesim.kubectl: the machine's real kubectl (get -o wide, describe, delete) against
# `tycho kube-sim --tls --token`, with a kubeconfig the simulator wrote and a fresh
# --cache-dir.  Skipped (exit 77) when kubectl is not installed.
if(Python3_Interpreter_FOUND)
    ty_script_test(kubesim.kubectl "integration;kubesim"
        ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/kubectl_test.py)
    set_tests_properties(kubesim.kubectl PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180)
endif()

# kubesim.openapi: the OpenAPI definitions the simulator serves are generated from
# kubernetes-models 3.1.0 (npm, installed into the build tree), unchanged.
ty_script_test(kubesim.openapi "node;kubesim" sh ${CMAKE_CURRENT_LIST_DIR}/openapi_test.sh)

# kubesim.conformance.python: the official Kubernetes Python client (Debian
# python3-kubernetes, system /usr/bin/python3; .ci/install-deps --test installs it)
# against `tycho kube-sim --tls --token`.
ty_script_test(kubesim.conformance.python "integration;kubesim"
    /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/conformance_python.py)
set_tests_properties(kubesim.conformance.python PROPERTIES TIMEOUT 180)

# kubesim.conformance.js: the official JavaScript client (npm @kubernetes/client-node,
# installed into the build tree) against `tycho kube-sim --tls --token`.
ty_script_test(kubesim.conformance.js "node;kubesim" sh ${CMAKE_CURRENT_LIST_DIR}/conformance_js.sh)
set_tests_properties(kubesim.conformance.js PROPERTIES TIMEOUT 300)
