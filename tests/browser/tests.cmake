# The web UI in headless Chromium, driven by playwright-core from npm.
ty_script_test(browser.ui "browser;node" sh "${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh")
set_tests_properties(browser.ui PROPERTIES TIMEOUT 600)
