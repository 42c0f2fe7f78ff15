# kube-real: the portable part of the Kubernetes client tests (tests/unit/kube/test_client.c)
# run against the real cluster that KUBECONFIG names, in its context's namespace (or
# $TY_KUBE_REAL_NAMESPACE).  It creates only ConfigMaps labelled tycho-test=<run id> and deletes
# them again.  Without KUBECONFIG the binary exits 77 and ctest reports the test as skipped.
# Run with: KUBECONFIG=~/.kube/config ctest -L kube-real --output-on-failure
if(TARGET test_kube_client)
    ty_script_test(kube.real "kube-real"
        ${CMAKE_COMMAND} -E env TY_KUBE_REAL=1 $<TARGET_FILE:test_kube_client>)
    set_tests_properties(kube.real PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
