/*
 * hal_host.c - what the host HAL's back ends share that is not crypto:
 * the error strings for hal_host_status_t.
 *
 * One table, indexed by the status, so that adding a status without a
 * message is caught by the test that walks every value.
 */
#include "hal/hal_host.h"

static const char *const messages[] = {
	[HAL_HOST_OK] = "success",
	[HAL_HOST_ERR_PARAM] = "invalid argument",
	[HAL_HOST_ERR_EXISTS] = "chip image already exists",
	[HAL_HOST_ERR_IO] = "I/O error on the chip image",
	[HAL_HOST_ERR_LOCKED] = "chip image is in use by another process",
	[HAL_HOST_ERR_SIZE] = "not a chip image (wrong size or file type)",
	[HAL_HOST_ERR_NOMEM] = "out of memory",
};

const char *hal_host_strerror(hal_host_status_t st)
{
	if ((unsigned)st < sizeof messages / sizeof messages[0] && messages[st])
		return messages[st];
	return "unknown hal_host error";
}
