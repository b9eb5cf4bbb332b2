/* Loading pipeline files: YAML parsed with libyaml into a tree of nodes
 * that remember file, line and column, with ${VAR} interpolation applied to
 * every scalar. Validation lives in config.c. */
#include "config.h"

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

void wmh_node_free(struct wm_config *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		wmh_node_free(n->items[i]);
		if (n->keys)
			wmh_node_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->text);
	free(n);
}

int wmh_node_push(struct wm_config *parent, struct wm_config *key, struct wm_config *val)
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
				wmh_node_free(key);
				goto fail;
			}
		}
		struct wm_config *val = parse_node(L, &ev);
		yaml_event_delete(&ev);
		if (!val || wmh_node_push(n, key, val)) {
			wmh_node_free(key);
			wmh_node_free(val);
			goto fail;
		}
	}
fail:
	wmh_node_free(n);
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
	wmh_node_free(doc->root);
	free(doc->file);
	free(doc);
}

