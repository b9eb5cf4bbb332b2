/* Test-only: a shared object without the wmhost entry symbol. */
#include <wmhost/plugin.h>

WM_EXPORT int not_a_plugin(void)
{
	return 42;
}
