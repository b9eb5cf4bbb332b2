/* Test-only: links a library that is not installed, to check the loader's
 * message for missing dependencies (built by tests/runtime/test_loader.sh). */
#include <wmhost/plugin.h>
extern int wmh_test_symbol_that_does_not_exist(void);
WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	return wmh_test_symbol_that_does_not_exist() ? NULL : NULL;
}
