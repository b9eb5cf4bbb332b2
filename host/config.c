/* YAML loading and option-table validation. Every node keeps its file, line
 * and column so any error a user can cause points at the exact spot. */
#include "config.h"
#include "units.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ERRORS 50

void wmh_diag_add(struct wmh_diag *d, const struct wm_config *at, const char *fmt, ...)
{
	d->count++;
	if (d->count > MAX_ERRORS)
		return;
	if (at)
		strbuf_appendf(&d->sb, "%s:%d:%d: ", at->file, at->line, at->col);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	strbuf_append(&d->sb, msg);
	strbuf_appendc(&d->sb, '\n');
}

void wmh_diag_free(struct wmh_diag *d)
{
	strbuf_free(&d->sb);
	d->count = 0;
}

/* ---- interpolation ---- */

char *wmh_interpolate(const char *s, int *used_env, char *err, size_t errlen)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = s;
	while (*p) {
		if (p[0] == '$' && p[1] == '$') {
			strbuf_appendc(&sb, '$');
			p += 2;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			strbuf_appendc(&sb, *p++);
			continue;
		}
		const char *name = p + 2, *q = name;
		while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_')
			q++;
		size_t nlen = (size_t)(q - name);
		if (nlen == 0) {
			snprintf(err, errlen, "bad variable reference: '${' must be followed by a name");
			goto fail;
		}
		/* find the matching '}' (defaults may not nest braces) */
		const char *close = strchr(q, '}');
		if (!close) {
			snprintf(err, errlen, "unterminated '${%.*s'", (int)nlen, name);
			goto fail;
		}
		char var[256];
		if (nlen >= sizeof var) {
			snprintf(err, errlen, "variable name too long");
			goto fail;
		}
		memcpy(var, name, nlen);
		var[nlen] = 0;
		const char *val = getenv(var);
		*used_env = 1;
		if (*q == '}') {
			if (!val) {
				snprintf(err, errlen, "environment variable %s is not set (use ${%s:-default} for a default)",
				         var, var);
				goto fail;
			}
			strbuf_append(&sb, val);
		} else if (q[0] == ':' && q[1] == '-') {
			if (val && *val)
				strbuf_append(&sb, val);
			else
				strbuf_appendn(&sb, q + 2, (size_t)(close - q - 2));
		} else if (q[0] == ':' && q[1] == '?') {
			if (!val || !*val) {
				snprintf(err, errlen, "environment variable %s is required: %.*s", var,
				         (int)(close - q - 2), q + 2);
				goto fail;
			}
			strbuf_append(&sb, val);
		} else {
			snprintf(err, errlen, "bad variable reference '${%s%c...': expected '}', ':-' or ':?'", var, *q);
			goto fail;
		}
		p = close + 1;
	}
	return strbuf_detach(&sb, NULL);
fail:
	strbuf_free(&sb);
	return NULL;
}

/* ---- YAML to tree ---- */

static struct wm_config *node_new(enum wmh_node_kind kind, const char *file, const yaml_mark_t *mark)
{
	struct wm_config *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->kind = kind;
	n->file = file;
	n->line = (int)mark->line + 1;
	n->col = (int)mark->column + 1;
	return n;
}

static void node_free(struct wm_config *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		node_free(n->items[i]);
		if (n->keys)
			node_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->text);
	free(n);
}

static int node_push(struct wm_config *parent, struct wm_config *key, struct wm_config *val)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct wm_config **it = realloc(parent->items, cap * sizeof *it);
		if (!it)
			return -1;
		parent->items = it;
		if (parent->kind == WMH_MAP) {
			struct wm_config **k = realloc(parent->keys, cap * sizeof *k);
			if (!k)
				return -1;
			parent->keys = k;
		}
		parent->cap = cap;
	}
	if (parent->kind == WMH_MAP)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = val;
	return 0;
}

struct loader {
	yaml_parser_t parser;
	const char *file;
	struct wmh_diag *d;
	int failed;
};

static void load_error(struct loader *L, const yaml_mark_t *m, const char *fmt, ...) WM_PRINTF(3, 4);
static void load_error(struct loader *L, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	L->d->count++;
	strbuf_appendf(&L->d->sb, "%s:%zu:%zu: %s\n", L->file, m->line + 1, m->column + 1, msg);
	L->failed = 1;
}

static int next_event(struct loader *L, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&L->parser, ev)) {
		load_error(L, &L->parser.problem_mark, "YAML syntax error: %s%s%s",
		           L->parser.problem ? L->parser.problem : "unknown",
		           L->parser.context ? " " : "", L->parser.context ? L->parser.context : "");
		return -1;
	}
	return 0;
}

static struct wm_config *parse_node(struct loader *L, yaml_event_t *ev);

static struct wm_config *parse_scalar(struct loader *L, yaml_event_t *ev)
{
	struct wm_config *n = node_new(WMH_SCALAR, L->file, &ev->start_mark);
	if (!n)
		return NULL;
	const char *raw = (const char *)ev->data.scalar.value;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	char err[512];
	n->text = wmh_interpolate(raw, &n->from_env, err, sizeof err);
	if (!n->text) {
		load_error(L, &ev->start_mark, "%s", err);
		n->text = strdup("");
	}
	return n;
}

static struct wm_config *parse_collection(struct loader *L, yaml_event_t *start, enum wmh_node_kind kind)
{
	struct wm_config *n = node_new(kind, L->file, &start->start_mark);
	if (!n)
		return NULL;
	for (;;) {
		yaml_event_t ev;
		if (next_event(L, &ev))
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return n;
		}
		struct wm_config *key = NULL;
		if (kind == WMH_MAP) {
			if (ev.type != YAML_SCALAR_EVENT) {
				load_error(L, &ev.start_mark, "mapping keys must be plain strings");
				yaml_event_delete(&ev);
				goto fail;
			}
			key = parse_scalar(L, &ev);
			yaml_event_delete(&ev);
			if (!key)
				goto fail;
			for (size_t i = 0; i < n->n; i++) {
				if (strcmp(n->keys[i]->text, key->text) == 0) {
					load_error(L, &(yaml_mark_t){0, (size_t)key->line - 1, (size_t)key->col - 1},
					           "duplicate key '%s' (first defined at line %d, column %d)", key->text,
					           n->keys[i]->line, n->keys[i]->col);
				}
			}
			if (next_event(L, &ev)) {
				node_free(key);
				goto fail;
			}
		}
		struct wm_config *val = parse_node(L, &ev);
		yaml_event_delete(&ev);
		if (!val || node_push(n, key, val)) {
			node_free(key);
			node_free(val);
			goto fail;
		}
	}
fail:
	node_free(n);
	return NULL;
}

static struct wm_config *parse_node(struct loader *L, yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return parse_scalar(L, ev);
	case YAML_SEQUENCE_START_EVENT: return parse_collection(L, ev, WMH_SEQ);
	case YAML_MAPPING_START_EVENT: return parse_collection(L, ev, WMH_MAP);
	case YAML_ALIAS_EVENT: load_error(L, &ev->start_mark, "YAML aliases (*name) are not supported"); return NULL;
	default: load_error(L, &ev->start_mark, "unexpected YAML event"); return NULL;
	}
}

static struct wmh_doc *parse_common(const char *name, struct loader *L)
{
	struct wmh_doc *doc = calloc(1, sizeof *doc);
	if (!doc)
		return NULL;
	doc->file = strdup(name);
	L->file = doc->file;
	yaml_event_t ev;
	int docs = 0;
	for (;;) {
		if (next_event(L, &ev))
			break;
		yaml_event_type_t t = ev.type;
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			load_error(L, &ev.start_mark, "only one YAML document per file (use 'pipelines:' for several)");
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT ||
		    t == YAML_ALIAS_EVENT) {
			doc->root = parse_node(L, &ev);
			yaml_event_delete(&ev);
			if (!doc->root)
				break;
			continue;
		}
		yaml_event_delete(&ev);
	}
	if (!L->failed && !doc->root) {
		L->d->count++;
		strbuf_appendf(&L->d->sb, "%s: the file is empty\n", doc->file);
		L->failed = 1;
	}
	if (L->failed) {
		wmh_doc_free(doc);
		return NULL;
	}
	return doc;
}

struct wmh_doc *wmh_doc_parse(const char *name, const char *yaml, size_t len, struct wmh_diag *d)
{
	struct loader L = {.d = d};
	yaml_parser_initialize(&L.parser);
	yaml_parser_set_input_string(&L.parser, (const unsigned char *)yaml, len);
	struct wmh_doc *doc = parse_common(name, &L);
	yaml_parser_delete(&L.parser);
	return doc;
}

struct wmh_doc *wmh_doc_load(const char *path, struct wmh_diag *d)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		d->count++;
		strbuf_appendf(&d->sb, "%s: cannot open: %s\n", path, strerror(errno));
		return NULL;
	}
	struct loader L = {.d = d};
	yaml_parser_initialize(&L.parser);
	yaml_parser_set_input_file(&L.parser, f);
	struct wmh_doc *doc = parse_common(path, &L);
	yaml_parser_delete(&L.parser);
	fclose(f);
	return doc;
}

void wmh_doc_free(struct wmh_doc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->file);
	free(doc);
}

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
	case WM_OPT_DURATION: return "a duration such as 250ms, 30s, 5m, 1h or 1d";
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
	if (node_push(node, NULL, copy)) {
		node_free(copy);
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
	if (node_push(node, k, val)) {
		node_free(k);
		node_free(val);
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
