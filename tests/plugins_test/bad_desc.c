/* Test-only: a sink descriptor without write(); the host must refuse it. */
#include <wmhost/plugin.h>
#include <stddef.h>

static int nop_init(struct wm_instance *i, const struct wm_config *c, enum wm_role r, void **ctx, char *e, size_t n)
{
	return 0;
}
static void nop_destroy(void *ctx)
{
}

static const struct wm_plugin bad = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "bad_desc",
	.version = "0",
	.description = "sink without write",
	.kinds = WM_KIND_SINK,
	.init = nop_init,
	.destroy = nop_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	return host_abi == WM_ABI_VERSION ? &bad : NULL;
}
