# Session service: the crash-safety soak (issue 5 acceptance).  A separate
# `tycho kube-sim` process with a state file plays the cluster; `tycho
# session-soak` (or `tycho api`) is killed with SIGKILL at random points,
# restarted, and finally left to reconcile; the script then compares the
# database with the cluster.
if(Python3_Interpreter_FOUND)
    ty_script_test(integration.session.crash_soak "slow;integration"
        ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/crash_soak.py)
    set_tests_properties(integration.session.crash_soak PROPERTIES TIMEOUT 600)
    # The same against the real server: `tycho api` killed while serving
    # launches and stops over HTTP.
    ty_script_test(integration.session.crash_soak_http "slow;integration"
        ${CMAKE_COMMAND} -E env TY_SOAK_MODE=http
        ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/crash_soak.py)
    set_tests_properties(integration.session.crash_soak_http PROPERTIES TIMEOUT 600)
endif()
