/* The dead-letter path: records a sink refused and raw data a source could
 * not decode are written here, durably, before their positions are acked.
 * The target is a JSON-lines file (default) or any sink plugin. */
#include "log.h"
#include "pipeline.h"
#include "plugin_loader.h"
#include "record.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static int valid_utf8(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_valid_prefix((const unsigned char *)s + i, n - i);
		if (!l)
			return 0;
		i += l;
	}
	return 1;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The flat record describing one dead letter (without the refused record's
 * own JSON, which each target embeds in its own way). */
static struct wm_record *describe(struct wmh_pipeline *pl, const struct wm_record *r, const char *reason)
{
	struct wm_record *d = wmh_record_new();
	if (!d)
		return NULL;
	int rc = wmh_record_set_time(d, "time", now_us());
	rc |= wmh_record_set_string(d, "pipeline", pl->name);
	rc |= wmh_record_set_string(d, "reason", reason);
	uint32_t stream;
	int64_t offset;
	if (wmh_record_position(r, &stream, &offset)) {
		rc |= wmh_record_set_int(d, "stream", stream);
		rc |= wmh_record_set_int(d, "offset", offset);
	}
	if (r->dead) {
		const struct wm_value *p = wmh_record_get(r, "payload");
		if (p && valid_utf8(p->u.s.ptr, p->u.s.len))
			rc |= wmh_record_set_stringn(d, "payload", p->u.s.ptr, p->u.s.len);
		else if (p)
			rc |= wmh_record_set_bytes(d, "payload_base64", p->u.s.ptr, p->u.s.len);
	} else {
		size_t kl;
		const void *k = wmh_record_key(r, &kl);
		if (k) {
			/* the message key for a dead-letter sink, and a field so
			 * that the file keeps it too (a replay restores the
			 * partitioning) */
			rc |= wmh_record_set_key(d, k, kl);
			if (valid_utf8(k, kl))
				rc |= wmh_record_set_stringn(d, "key", k, kl);
			else
				rc |= wmh_record_set_bytes(d, "key_base64", k, kl);
		}
	}
	if (rc) {
		wmh_record_free(d);
		return NULL;
	}
	return d;
}

static int send_to_plugin(struct wmh_pipeline *pl, struct wm_record *d);

/* One JSON line: the description's fields, then the refused record as an
 * object (not as an escaped string). */
static int write_file(struct wmh_pipeline *pl, const struct wm_record *r, const char *reason, const char *rec_json,
                      size_t rec_len)
{
	struct wm_record *d = describe(pl, r, reason);
	char *json = NULL;
	size_t len;
	int enc = d ? wmh_record_to_json(d, &json, &len) : -1;
	wmh_record_free(d);
	if (enc)
		return -1;
	struct strbuf sb = STRBUF_INIT;
	strbuf_appendn(&sb, json, len - 1); /* without the closing '}' */
	free(json);
	if (rec_json) {
		strbuf_append(&sb, ",\"record\":");
		strbuf_appendn(&sb, rec_json, rec_len);
	}
	strbuf_append(&sb, "}\n");
	if (sb.oom) {
		strbuf_free(&sb);
		return -1;
	}
	int rc = 0;
	pthread_mutex_lock(&pl->dlq_mu);
	/* The path must still name the open file: a directory removed or a
	 * file moved away would otherwise swallow dead letters that look
	 * durable. Reopen (or fail, and be retried) instead. */
	struct stat at_path, open_file;
	if (pl->dlq_fd >= 0 && (stat(pl->dlq_path, &at_path) != 0 || fstat(pl->dlq_fd, &open_file) != 0 ||
	                        at_path.st_dev != open_file.st_dev || at_path.st_ino != open_file.st_ino)) {
		close(pl->dlq_fd);
		pl->dlq_fd = -1;
	}
	if (pl->dlq_fd < 0) {
		pl->dlq_fd = open(pl->dlq_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (pl->dlq_fd < 0) {
			wmh_log(WM_LOG_ERROR, pl->name, NULL, "cannot open dead-letter file %s: %s", pl->dlq_path,
			        strerror(errno));
			rc = -1;
		}
	}
	if (rc == 0) {
		off_t before = fstat(pl->dlq_fd, &open_file) == 0 ? open_file.st_size : -1;
		size_t done = 0;
		while (done < sb.len) {
			ssize_t w = write(pl->dlq_fd, sb.buf + done, sb.len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			done += (size_t)w;
		}
		if (done < sb.len || fdatasync(pl->dlq_fd) != 0) {
			int e = done < sb.len && errno == 0 ? ENOSPC : errno;
			wmh_log(WM_LOG_ERROR, pl->name, NULL, "cannot write dead-letter file %s: %s", pl->dlq_path,
			        strerror(e));
			/* no half line may stay behind: the retry writes it whole */
			if (before >= 0 && ftruncate(pl->dlq_fd, before) != 0)
				wmh_log(WM_LOG_ERROR, pl->name, NULL, "cannot cut the partial line from %s: %s",
				        pl->dlq_path, strerror(errno));
			close(pl->dlq_fd);
			pl->dlq_fd = -1;
			rc = -1;
		}
	}
	pthread_mutex_unlock(&pl->dlq_mu);
	strbuf_free(&sb);
	return rc;
}

static int write_plugin(struct wmh_pipeline *pl, const struct wm_record *r, const char *reason, const char *rec_json,
                        size_t rec_len)
{
	struct wm_record *d = describe(pl, r, reason);
	if (!d || (rec_json && wmh_record_set_stringn(d, "record", rec_json, rec_len))) {
		wmh_record_free(d);
		return -1;
	}
	int rc = send_to_plugin(pl, d);
	wmh_record_free(d);
	return rc;
}

/* Writes d through the dead-letter sink, retrying with backoff. */
static int send_to_plugin(struct wmh_pipeline *pl, struct wm_record *d)
{
	unsigned char state = 0;
	char *reason = NULL;
	struct wm_record *recs[1] = {d};
	struct wm_batch b = {.recs = recs, .n = 1, .state = &state, .reason = &reason, .pl = pl};
	uint64_t rng = (uint64_t)wmh_mono_us() | 1;
	for (int attempt = 1;; attempt++) {
		state = 0;
		enum wm_result res = wmh_write_sync(pl->dlq_sink, &b);
		if (state == WMH_DONE || (res == WM_OK && state != WMH_FAILED)) {
			free(reason);
			return 0;
		}
		if (state == WMH_FAILED || res == WM_FATAL || pl->aborting) {
			wmh_log(WM_LOG_ERROR, pl->name, pl->dlq_sink->label, "dead-letter sink refused a record: %s",
			        reason ? reason : "fatal error");
			free(reason);
			return -1;
		}
		int64_t ms;
		wmh_backoff_sleep(pl, attempt, &rng, &ms);
		wmh_log(WM_LOG_WARN, pl->name, pl->dlq_sink->label, "dead-letter write asked to retry #%d after %lldms",
		        attempt, (long long)ms);
	}
}

int wmh_dlq_record(struct wmh_pipeline *pl, const struct wm_record *r, const char *reason)
{
	if (!reason)
		reason = "bad record";
	char *rec_json = NULL;
	size_t rec_len = 0;
	if (!r->dead && wmh_record_to_json(r, &rec_json, &rec_len))
		return -1;
	int rc = -1;
	if (pl->dlq_sink)
		rc = write_plugin(pl, r, reason, rec_json, rec_len);
	if (rc)
		rc = write_file(pl, r, reason, rec_json, rec_len); /* never lose it: the file is the fallback */
	free(rec_json);
	if (rc == 0)
		wmh_log(WM_LOG_WARN, pl->name, NULL, "dead-lettered a record: %s", reason);
	return rc;
}

const char *wmh_dlq_path_problem(const char *path, char *buf, size_t len)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			snprintf(buf, len, "it is a directory");
		else if (access(path, W_OK) != 0)
			snprintf(buf, len, "not writable: %s", strerror(errno));
		else
			return NULL;
		return buf;
	}
	if (errno != ENOENT) {
		snprintf(buf, len, "%s", strerror(errno));
		return buf;
	}
	char *copy = strdup(path);
	if (!copy)
		return NULL; /* cannot tell; the writes will say */
	const char *dir = dirname(copy);
	if (stat(dir, &st) != 0)
		snprintf(buf, len, "directory %s: %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(buf, len, "%s is not a directory", dir);
	else if (access(dir, W_OK | X_OK) != 0)
		snprintf(buf, len, "directory %s is not writable: %s", dir, strerror(errno));
	else
		buf = NULL;
	free(copy);
	return buf;
}
