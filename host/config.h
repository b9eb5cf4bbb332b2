/* Pipeline configuration: YAML loaded into a tree that remembers where every
 * node came from, ${VAR} interpolation, and validation against typed option
 * tables. */
#ifndef WMH_CONFIG_H
#define WMH_CONFIG_H
#include "strbuf.h"
#include "wmhost/plugin.h"

/* Host-internal option flag: the value is a plugin instance map validated
 * against the plugin's own table once the plugin is loaded. */
#define WMH_OPT_PLUGIN_MAP 0x100u

enum wmh_node_kind { WMH_SCALAR, WMH_SEQ, WMH_MAP };

struct wm_config {
	enum wmh_node_kind kind;
	const char *file; /* owned by the document */
	int line, col;    /* 1-based */
	char *text;       /* scalars, after interpolation */
	int plain;        /* an unquoted scalar */
	int from_env;     /* the value came (partly) from the environment */
	size_t n, cap;
	struct wm_config **items; /* sequence items or map values */
	struct wm_config **keys;  /* map keys (scalars) */
	const struct wm_option *schema; /* maps: the table they were validated against */
	const struct wm_option *opt;    /* the option this node is the value of */
};

struct wmh_doc {
	char *file;
	struct wm_config *root;
};

/* Collected user-facing errors, one "file:line:col: message" per line. */
struct wmh_diag {
	struct strbuf sb;
	int count;
};
void wmh_diag_add(struct wmh_diag *d, const struct wm_config *at, const char *fmt, ...) WM_PRINTF(3, 4);
void wmh_diag_free(struct wmh_diag *d);

/* Loads and interpolates a YAML file; NULL with errors in d. Free with
 * wmh_doc_free. */
struct wmh_doc *wmh_doc_load(const char *path, struct wmh_diag *d);
/* Same, from a string (tests); name is used in messages. */
struct wmh_doc *wmh_doc_parse(const char *name, const char *yaml, size_t len, struct wmh_diag *d);
void wmh_doc_free(struct wmh_doc *doc);
/* Tree helpers shared by loading and validation. */
void wmh_node_free(struct wm_config *n);
int wmh_node_push(struct wm_config *parent, struct wm_config *key, struct wm_config *val);

/* Expands ${VAR}, ${VAR:-default}, ${VAR:?message} and $$ in s. Returns a
 * malloc'ed string, or NULL with a message in err. *used_env is set when
 * a variable was substituted. */
char *wmh_interpolate(const char *s, int *used_env, char *err, size_t errlen);

/* Validates a map against table for a role (WM_KIND_* bit, 0 = any).
 * owner names the table in messages ("kafka_io", "pipeline"); skip_key is
 * a key allowed besides the table ("plugin"). Returns the number of errors
 * added to d. */
int wmh_config_validate(struct wm_config *map, const struct wm_option *table, unsigned role, const char *owner,
                        const char *skip_key, struct wmh_diag *d);
/* Checks an option table's own sanity (names, types, parseable defaults).
 * Returns 0 or -1 with a reason. */
int wmh_option_table_check(const struct wm_option *table, char *err, size_t errlen);

/* Getters (see struct wm_host_api for semantics). */
int wmh_cfg_has(const struct wm_config *node, const char *key);
const struct wm_config *wmh_cfg_get(const struct wm_config *node, const char *key);
const char *wmh_cfg_str(const struct wm_config *node, const char *key);
int64_t wmh_cfg_int(const struct wm_config *node, const char *key);
int wmh_cfg_bool(const struct wm_config *node, const char *key);
double wmh_cfg_double(const struct wm_config *node, const char *key);
int64_t wmh_cfg_duration_ms(const struct wm_config *node, const char *key);
int64_t wmh_cfg_size(const struct wm_config *node, const char *key);
size_t wmh_cfg_len(const struct wm_config *node);
const struct wm_config *wmh_cfg_at(const struct wm_config *node, size_t i);
const char *wmh_cfg_key_at(const struct wm_config *node, size_t i);
const char *wmh_cfg_scalar(const struct wm_config *node);
int wmh_cfg_errorf(const struct wm_config *node, const char *key, char *err, size_t errlen, const char *fmt, ...)
	WM_PRINTF(5, 6);
const char *wmh_opt_type_name(enum wm_opt_type t);
#endif
