/* Test-only: a plugin built for another ABI version; the host must refuse it. */
#include <wmhost/plugin.h>
#include <stddef.h>

static int nop_init(struct wm_instance *i, const struct wm_config *c, enum wm_role r, void **ctx, char *e, size_t n)
{
	return 0;
}
static void nop_destroy(void *ctx)
{
}
static enum wm_result nop_write(void *ctx, struct wm_batch *b)
{
	return WM_OK;
}

static const struct wm_plugin bad = {
	.abi_version = WM_ABI_VERSION + 41,
	.struct_size = sizeof(struct wm_plugin),
	.name = "bad_abi",
	.version = "0",
	.description = "wrong ABI",
	.kinds = WM_KIND_SINK,
	.init = nop_init,
	.write = nop_write,
	.destroy = nop_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	return &bad; /* ignores the host's version on purpose */
}
