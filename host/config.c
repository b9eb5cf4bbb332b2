/* Validation of loaded configuration against typed option tables, and the
 * getters plugins read options with. Every error names file:line:col. */
#include "config.h"
#include "units.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation ---- */

const char *wmh_opt_type_name(enum wm_opt_type t)
{
	switch (t) {
	case WM_OPT_STRING: return "string";
	case WM_OPT_INT: return "int";
	case WM_OPT_BOOL: return "bool";
	case WM_OPT_DOUBLE: return "double";
	case WM_OPT_DURATION: return "duration";
	case WM_OPT_SIZE: return "size";
	case WM_OPT_LIST: return "list";
	case WM_OPT_MAP: return "map";
	}
	return "?";
}

static const char *kind_name(enum wmh_node_kind k)
{
	return k == WMH_SCALAR ? "a scalar" : k == WMH_SEQ ? "a list" : "a map";
}

static const char *type_example(enum wm_opt_type t)
{
	switch (t) {
	case WM_OPT_INT: return "an integer such as 42";
	case WM_OPT_BOOL: return "true or false";
	case WM_OPT_DOUBLE: return "a number such as 0.5";
	case WM_OPT_DURATION: return "a duration such as 250ms, 30s, 5m, 1h or 1d (at most 36500d)";
	case WM_OPT_SIZE: return "a size such as 512, 64KiB or 10MB";
	default: return "a string";
	}
}

/* Parses a scalar as type t; 0 if it fits. */
static int scalar_ok(enum wm_opt_type t, const char *s)
{
	int64_t i;
	int b;
	double d;
	switch (t) {
	case WM_OPT_STRING: return 0;
	case WM_OPT_INT: return wmh_parse_int(s, &i);
	case WM_OPT_BOOL: return wmh_parse_bool(s, &b);
	case WM_OPT_DOUBLE: return wmh_parse_double(s, &d);
	case WM_OPT_DURATION: return wmh_parse_duration_ms(s, &i);
	case WM_OPT_SIZE: return wmh_parse_size(s, &i);
	default: return -1;
	}
}

static int option_allowed(const struct wm_option *o, unsigned role)
{
	return role == 0 || o->roles == 0 || (o->roles & role);
}

static void allowed_keys(struct strbuf *sb, const struct wm_option *table, unsigned role, const char *skip_key)
{
	int first = 1;
	if (skip_key) {
		strbuf_append(sb, skip_key);
		first = 0;
	}
	for (const struct wm_option *o = table; o && o->name; o++) {
		if (!option_allowed(o, role))
			continue;
		if (!first)
			strbuf_append(sb, ", ");
		strbuf_append(sb, o->name);
		first = 0;
	}
	if (first)
		strbuf_append(sb, "(none)");
}

static int validate_value(struct wm_config *val, const struct wm_option *o, const char *owner, struct wmh_diag *d);

/* Turns a node into a one-element list holding what it was. */
static int wrap_in_list(struct wm_config *node)
{
	struct wm_config *copy = malloc(sizeof *copy);
	if (!copy)
		return -1;
	*copy = *node;
	memset(node, 0, sizeof *node);
	node->kind = WMH_SEQ;
	node->file = copy->file;
	node->line = copy->line;
	node->col = copy->col;
	node->from_env = copy->from_env;
	if (wmh_node_push(node, NULL, copy)) {
		wmh_node_free(copy);
		return -1;
	}
	return 0;
}

/* Turns a scalar into a map { key: scalar }. */
static int wrap_in_map(struct wm_config *node, const char *key)
{
	struct wm_config *val = malloc(sizeof *val);
	struct wm_config *k = calloc(1, sizeof *k);
	if (!val || !k || !(k->text = strdup(key))) {
		free(val);
		free(k);
		return -1;
	}
	*val = *node;
	k->kind = WMH_SCALAR;
	k->file = node->file;
	k->line = node->line;
	k->col = node->col;
	memset(node, 0, sizeof *node);
	node->kind = WMH_MAP;
	node->file = val->file;
	node->line = val->line;
	node->col = val->col;
	if (wmh_node_push(node, k, val)) {
		wmh_node_free(k);
		wmh_node_free(val);
		return -1;
	}
	return 0;
}

static int validate_item(struct wm_config *item, const struct wm_option *o, const char *owner, struct wmh_diag *d)
{
	enum wm_opt_type it = o->item_type ? o->item_type : (o->children ? WM_OPT_MAP : WM_OPT_STRING);
	if (it == WM_OPT_MAP) {
		if (item->kind == WMH_SCALAR && o->scalar_key && wrap_in_map(item, o->scalar_key))
			return 1;
		if (item->kind != WMH_MAP) {
			wmh_diag_add(d, item, "%s: each item of '%s' must be a map, not %s", owner, o->name,
			             kind_name(item->kind));
			return 1;
		}
		if (o->children)
			return wmh_config_validate(item, o->children, 0, owner, NULL, d);
		return 0;
	}
	struct wm_option pseudo = *o;
	pseudo.type = it;
	pseudo.children = NULL;
	return validate_value(item, &pseudo, owner, d);
}

static int validate_value(struct wm_config *val, const struct wm_option *o, const char *owner, struct wmh_diag *d)
{
	val->opt = o;
	switch (o->type) {
	case WM_OPT_LIST: {
		if (val->kind != WMH_SEQ && wrap_in_list(val))
			return 1;
		int errs = 0;
		for (size_t i = 0; i < val->n; i++)
			errs += validate_item(val->items[i], o, owner, d);
		return errs;
	}
	case WM_OPT_MAP:
		if (val->kind != WMH_MAP) {
			wmh_diag_add(d, val, "%s: '%s' must be a map, not %s", owner, o->name, kind_name(val->kind));
			return 1;
		}
		if (o->flags & WMH_OPT_PLUGIN_MAP)
			return 0;
		if (o->children)
			return wmh_config_validate(val, o->children, 0, owner, NULL, d);
		for (size_t i = 0; i < val->n; i++) {
			if (val->items[i]->kind != WMH_SCALAR) {
				wmh_diag_add(d, val->items[i], "%s: '%s.%s' must be a scalar, not %s", owner, o->name,
				             val->keys[i]->text, kind_name(val->items[i]->kind));
				return 1;
			}
		}
		return 0;
	default:
		if (val->kind != WMH_SCALAR) {
			wmh_diag_add(d, val, "%s: '%s' must be %s, not %s", owner, o->name, type_example(o->type),
			             kind_name(val->kind));
			return 1;
		}
		if (scalar_ok(o->type, val->text)) {
			if ((o->flags & WM_OPT_SECRET) || val->from_env)
				wmh_diag_add(d, val, "%s: '%s' must be %s (value hidden)", owner, o->name,
				             type_example(o->type));
			else
				wmh_diag_add(d, val, "%s: '%s' must be %s, not '%s'", owner, o->name,
				             type_example(o->type), val->text);
			return 1;
		}
		return 0;
	}
}

int wmh_config_validate(struct wm_config *map, const struct wm_option *table, unsigned role, const char *owner,
                        const char *skip_key, struct wmh_diag *d)
{
	int errs = 0;
	if (map->kind != WMH_MAP) {
		wmh_diag_add(d, map, "%s: expected a map of options, not %s", owner, kind_name(map->kind));
		return 1;
	}
	map->schema = table;
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->keys[i]->text;
		if (skip_key && strcmp(k, skip_key) == 0)
			continue;
		const struct wm_option *o = NULL;
		for (const struct wm_option *t = table; t && t->name; t++) {
			if (strcmp(t->name, k) == 0) {
				o = t;
				break;
			}
		}
		if (!o || !option_allowed(o, role)) {
			struct strbuf sb = STRBUF_INIT;
			allowed_keys(&sb, table, role, skip_key);
			if (o)
				wmh_diag_add(d, map->keys[i], "key '%s' is not allowed for %s as a %s; allowed: %s", k,
				             owner, role == WM_KIND_SOURCE ? "source" : "sink", sb.buf);
			else
				wmh_diag_add(d, map->keys[i], "unknown key '%s' for %s; allowed: %s", k, owner, sb.buf);
			strbuf_free(&sb);
			errs++;
			continue;
		}
		errs += validate_value(map->items[i], o, owner, d);
	}
	for (const struct wm_option *t = table; t && t->name; t++) {
		if (!(t->flags & WM_OPT_REQUIRED) || !option_allowed(t, role))
			continue;
		if (!wmh_cfg_get(map, t->name)) {
			wmh_diag_add(d, map, "missing required key '%s' for %s (%s)", t->name, owner,
			             t->help ? t->help : wmh_opt_type_name(t->type));
			errs++;
		}
	}
	return errs;
}

int wmh_option_table_check(const struct wm_option *table, char *err, size_t errlen)
{
	for (const struct wm_option *o = table; o && o->name; o++) {
		if (!*o->name) {
			snprintf(err, errlen, "an option has an empty name");
			return -1;
		}
		if (o->type < WM_OPT_STRING || o->type > WM_OPT_MAP) {
			snprintf(err, errlen, "option '%s' has unknown type %d", o->name, (int)o->type);
			return -1;
		}
		if (o->default_value && o->type != WM_OPT_LIST && o->type != WM_OPT_MAP &&
		    scalar_ok(o->type, o->default_value)) {
			snprintf(err, errlen, "option '%s': default '%s' is not a valid %s", o->name, o->default_value,
			         wmh_opt_type_name(o->type));
			return -1;
		}
		if (o->children && wmh_option_table_check(o->children, err, errlen))
			return -1;
	}
	return 0;
}

/* ---- getters ---- */

int wmh_cfg_has(const struct wm_config *node, const char *key)
{
	return wmh_cfg_get(node, key) != NULL;
}

const struct wm_config *wmh_cfg_get(const struct wm_config *node, const char *key)
{
	if (!node || node->kind != WMH_MAP)
		return NULL;
	for (size_t i = 0; i < node->n; i++)
		if (strcmp(node->keys[i]->text, key) == 0)
			return node->items[i];
	return NULL;
}

static const char *default_of(const struct wm_config *node, const char *key)
{
	if (!node)
		return NULL;
	for (const struct wm_option *o = node->schema; o && o->name; o++)
		if (strcmp(o->name, key) == 0)
			return o->default_value;
	return NULL;
}

/* The text of key's scalar value, or the default. */
static const char *text_of(const struct wm_config *node, const char *key)
{
	const struct wm_config *v = wmh_cfg_get(node, key);
	if (v)
		return v->kind == WMH_SCALAR ? v->text : NULL;
	return default_of(node, key);
}

const char *wmh_cfg_str(const struct wm_config *node, const char *key)
{
	return text_of(node, key);
}

int64_t wmh_cfg_int(const struct wm_config *node, const char *key)
{
	const char *s = text_of(node, key);
	int64_t v = 0;
	if (s)
		wmh_parse_int(s, &v);
	return v;
}

int wmh_cfg_bool(const struct wm_config *node, const char *key)
{
	const char *s = text_of(node, key);
	int v = 0;
	if (s)
		wmh_parse_bool(s, &v);
	return v;
}

double wmh_cfg_double(const struct wm_config *node, const char *key)
{
	const char *s = text_of(node, key);
	double v = 0;
	if (s)
		wmh_parse_double(s, &v);
	return v;
}

int64_t wmh_cfg_duration_ms(const struct wm_config *node, const char *key)
{
	const char *s = text_of(node, key);
	int64_t v = 0;
	if (s)
		wmh_parse_duration_ms(s, &v);
	return v;
}

int64_t wmh_cfg_size(const struct wm_config *node, const char *key)
{
	const char *s = text_of(node, key);
	int64_t v = 0;
	if (s)
		wmh_parse_size(s, &v);
	return v;
}

size_t wmh_cfg_len(const struct wm_config *node)
{
	return node && node->kind != WMH_SCALAR ? node->n : 0;
}

const struct wm_config *wmh_cfg_at(const struct wm_config *node, size_t i)
{
	return node && node->kind != WMH_SCALAR && i < node->n ? node->items[i] : NULL;
}

const char *wmh_cfg_key_at(const struct wm_config *node, size_t i)
{
	return node && node->kind == WMH_MAP && i < node->n ? node->keys[i]->text : NULL;
}

const char *wmh_cfg_scalar(const struct wm_config *node)
{
	return node && node->kind == WMH_SCALAR ? node->text : NULL;
}

int wmh_cfg_errorf(const struct wm_config *node, const char *key, char *err, size_t errlen, const char *fmt, ...)
{
	const struct wm_config *at = key ? wmh_cfg_get(node, key) : NULL;
	if (!at)
		at = node;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (at)
		snprintf(err, errlen, "%s:%d:%d: %s%s%s", at->file, at->line, at->col, key ? key : "", key ? ": " : "",
		         msg);
	else
		snprintf(err, errlen, "%s%s%s", key ? key : "", key ? ": " : "", msg);
	return -1;
}
