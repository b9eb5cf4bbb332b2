/* kafka_io: the plugin descriptor, its options, librdkafka configuration, topic setup and teardown. */
#include "kafka_io.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct wm_host_api *API;

#define ROLE_SINK WM_KIND_SINK
#define ROLE_SOURCE WM_KIND_SOURCE

static const struct wm_option kafka_options[] = {
	{"brokers", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "bootstrap servers, host:port[,host:port...]", 0, NULL,
	 NULL},
	{"topic", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "topic to produce to (sink) or consume from (source)", 0,
	 NULL, NULL},
	{"encoding", WM_OPT_STRING, "json", 0, 0, "message encoding: json (one object per message, UTF-8)", 0, NULL,
	 NULL},
	{"properties", WM_OPT_MAP, NULL, 0, 0,
	 "librdkafka settings passed through as they are (security.protocol, ssl.ca.location, "
	 "ssl.certificate.location, ssl.key.location, sasl.mechanisms, sasl.username, sasl.password, linger.ms, "
	 "compression.type, ...); the sink applies linger.ms itself, so that librdkafka's broker thread sleeps "
	 "while it waits for the broker (docs/kafka_io.md)",
	 0, NULL, NULL},
	{"partitions", WM_OPT_INT, "3", 0, 0, "setup: partitions of the topic when it is created", 0, NULL, NULL},
	{"replication_factor", WM_OPT_INT, "1", 0, 0, "setup: replication factor of the topic when it is created", 0,
	 NULL, NULL},
	{"topic_config", WM_OPT_MAP, NULL, 0, 0,
	 "setup: topic configuration entries when it is created (retention.ms, cleanup.policy, ...)", 0, NULL, NULL},
	{"setup_timeout", WM_OPT_DURATION, "30s", 0, 0, "setup: how long topic creation may take", 0, NULL, NULL},
	{"key_field", WM_OPT_STRING, "url", 0, ROLE_SINK,
	 "record field whose value is the message key (records without it use their own key, if any)", 0, NULL,
	 NULL},
	{"schema_header", WM_OPT_STRING, "wm-schema", 0, ROLE_SINK, "header carrying the schema version (\"\" = none)",
	 0, NULL, NULL},
	{"schema_version", WM_OPT_STRING, "1", 0, ROLE_SINK, "value of the schema header", 0, NULL, NULL},
	{"delivery_timeout", WM_OPT_DURATION, "30s", 0, ROLE_SINK,
	 "how long a message may wait for its delivery report before the batch is retried (message.timeout.ms)", 0,
	 NULL, NULL},
	{"flush_timeout", WM_OPT_DURATION, "10s", 0, ROLE_SINK, "how long shutdown waits for outstanding messages", 0,
	 NULL, NULL},
	{"group_id", WM_OPT_STRING, NULL, 0, ROLE_SOURCE, "consumer group (required for a source)", 0, NULL, NULL},
	{"auto_offset_reset", WM_OPT_STRING, "earliest", 0, ROLE_SOURCE,
	 "where a group without committed offsets starts: earliest, latest or error", 0, NULL, NULL},
	{"commit_interval", WM_OPT_DURATION, "1s", 0, ROLE_SOURCE,
	 "how often acknowledged offsets are committed (also on revoke and shutdown)", 0, NULL, NULL},
	{"max_message_size", WM_OPT_SIZE, "1MiB", 0, ROLE_SOURCE, "larger messages go to the dead-letter path", 0, NULL,
	 NULL},
	{"field_types", WM_OPT_MAP, NULL, 0, ROLE_SOURCE,
	 "expected type per field (bool, int, double, string, time, bytes); time and bytes are decoded from "
	 "RFC 3339 and base64 strings; a mismatch sends the message to the dead-letter path",
	 0, NULL, NULL},
	{"revoke_timeout", WM_OPT_DURATION, "30s", 0, ROLE_SOURCE,
	 "on a rebalance, how long to wait for in-flight records of revoked partitions to be acknowledged", 0, NULL,
	 NULL},
	{"close_timeout", WM_OPT_DURATION, "10s", 0, ROLE_SOURCE,
	 "how long shutdown may take to commit and leave the group; when no broker answers within half of this (at most 5s), "
	 "both are skipped", 0, NULL, NULL},
	{"poll_interval", WM_OPT_DURATION, "500ms", 0, ROLE_SOURCE, "longest wait for messages before checking for stop",
	 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

/* Settings the plugin owns because its delivery guarantees depend on them
 * (or it has an option for them). `properties` may not set them, under
 * their names or under any other (an alias, a topic-level name): after
 * each key librdkafka's values of these are read back and compared. */
static const struct {
	const char *key;
	const char *why;
} managed_properties[] = {
	{"bootstrap.servers", "use the option 'brokers'"},
	{"metadata.broker.list", "use the option 'brokers'"},
	{"group.id", "use the option 'group_id'"},
	{"enable.auto.offset.store", "kafka_io stores offsets only after the sink acknowledged them"},
	{"enable.auto.commit", "kafka_io commits acknowledged offsets every 'commit_interval'"},
	{"auto.commit.interval.ms", "use the option 'commit_interval'"},
	{"auto.offset.reset", "use the option 'auto_offset_reset'"},
	{"enable.idempotence", "kafka_io always produces idempotently"},
	{"message.timeout.ms", "use the option 'delivery_timeout'"},
	{"delivery.report.only.error", "kafka_io needs every delivery report to know when a batch is durable"},
};
#define N_MANAGED (sizeof managed_properties / sizeof managed_properties[0])

/* The ranges (CONFIGURATION.md, rd_kafka_AdminOptions_set_*_timeout) of
 * the librdkafka settings options are passed to, checked where the option
 * is read so the error names the option and its place in the file. */
#define RDK_MESSAGE_TIMEOUT_MAX_MS INT64_C(2147483647)    /* message.timeout.ms */
#define RDK_AUTO_COMMIT_INTERVAL_MAX_MS INT64_C(86400000) /* auto.commit.interval.ms */
#define RDK_RECEIVE_MESSAGE_MAX_BYTES INT64_C(2147483647) /* receive.message.max.bytes */
#define RDK_ADMIN_TIMEOUT_MAX_MS INT64_C(3600000)         /* admin request and operation timeouts */

/* librdkafka's syslog-style levels (0 emerg .. 7 debug). */
#define RDK_LEVEL_WARNING 4
#define RDK_LEVEL_INFO 6

/* OpenSSL's words for the usual TLS setup mistakes, and what to do. */
static const struct {
	const char *symptom;
	const char *hint;
} tls_hints[] = {
	{"alert bad certificate", "the broker refused this client's certificate or wants one: set "
	                          "ssl.certificate.location and ssl.key.location (properties) to a certificate "
	                          "the broker trusts"},
	{"alert certificate required", "the broker wants a client certificate: set ssl.certificate.location and "
	                               "ssl.key.location (properties)"},
	{"certificate verify failed", "the broker's certificate is not trusted: set ssl.ca.location (properties) to "
	                              "the CA that signed it"},
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct kafka_io_ctx *c = rd_kafka_opaque(rk);
	enum wm_log_level l = level <= RDK_LEVEL_WARNING ? WM_LOG_WARN
	                      : level <= RDK_LEVEL_INFO  ? WM_LOG_INFO
	                                                 : WM_LOG_DEBUG;
	API->log(c->inst, l, "librdkafka %s: %s", fac, buf);
	for (size_t i = 0; i < sizeof tls_hints / sizeof tls_hints[0]; i++) {
		if (strstr(buf, tls_hints[i].symptom) && !atomic_exchange(&c->tls_hint_given, 1))
			API->log(c->inst, WM_LOG_ERROR, "TLS handshake with the broker failed: %s", tls_hints[i].hint);
	}
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_io_ctx *c = opaque;
	char fatal[512];
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof fatal);
		API->log(c->inst, WM_LOG_ERROR, "kafka fatal error: %s", fatal);
		return;
	}
	/* Transport failures were already logged by log_cb with their detail. */
	API->log(c->inst, err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ? WM_LOG_WARN : WM_LOG_DEBUG, "kafka: %s: %s",
	         rd_kafka_err2name(err), reason);
}

static int is_sensitive(const char *key)
{
	return strstr(key, "password") || strstr(key, "secret") || strstr(key, "sasl.oauthbearer.config") ||
	       strstr(key, ".pem");
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen)
{
	if (rd_kafka_conf_set(conf, key, value, err, errlen) == RD_KAFKA_CONF_OK)
		return 0;
	return -1;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A property's value as librdkafka reads it back: the global one (for a
 * topic-level key the default topic configuration's) and the topic-level
 * one of the same name, as "global\x1ftopic" ("" for an unset one).
 * malloc'ed; NULL when out of memory. */
static char *read_back(rd_kafka_conf_t *conf, const char *key)
{
	rd_kafka_topic_conf_t *tconf = rd_kafka_conf_get_default_topic_conf(conf);
	size_t gn = 0, tn = 0;
	if (rd_kafka_conf_get(conf, key, NULL, &gn) != RD_KAFKA_CONF_OK)
		gn = 0;
	if (!tconf || rd_kafka_topic_conf_get(tconf, key, NULL, &tn) != RD_KAFKA_CONF_OK)
		tn = 0;
	char *v = malloc(gn + tn + 2);
	if (!v)
		return NULL;
	size_t used = gn;
	if (!gn || rd_kafka_conf_get(conf, key, v, &used) != RD_KAFKA_CONF_OK)
		v[0] = '\0';
	char *t = v + strlen(v);
	*t++ = '\x1f';
	used = tn;
	if (!tn || rd_kafka_topic_conf_get(tconf, key, t, &used) != RD_KAFKA_CONF_OK)
		*t = '\0';
	return v;
}

/* The first managed setting whose value differs from before[], or -1; -2
 * when out of memory. */
static int managed_changed(rd_kafka_conf_t *conf, char *const before[N_MANAGED])
{
	for (size_t m = 0; m < N_MANAGED; m++) {
		char *now = read_back(conf, managed_properties[m].key);
		if (!now)
			return -2;
		int changed = strcmp(now, before[m]) != 0;
		free(now);
		if (changed)
			return (int)m;
	}
	return -1;
}

/* Reads `properties:` into conf; errors name the key and librdkafka's reason. */
static int apply_properties(const struct wm_config *cfg, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
	const struct wm_config *props = API->cfg_get(cfg, "properties");
	if (!props || API->cfg_len(props) == 0)
		return 0;
	char *before[N_MANAGED] = {0};
	int rc = -1;
	/* topic-level keys read back the same before and after the first one */
	if (!rd_kafka_conf_get_default_topic_conf(conf))
		rd_kafka_conf_set_default_topic_conf(conf, rd_kafka_topic_conf_new());
	for (size_t m = 0; m < N_MANAGED; m++) {
		if (!(before[m] = read_back(conf, managed_properties[m].key)))
			goto oom;
	}
	for (size_t i = 0; i < API->cfg_len(props); i++) {
		const char *key = API->cfg_key_at(props, i);
		const char *value = API->cfg_scalar(API->cfg_at(props, i));
		char why[512];
		for (size_t m = 0; m < N_MANAGED; m++) {
			if (strcmp(key, managed_properties[m].key) == 0) {
				API->cfg_errorf(props, key, err, errlen, "set by kafka_io: %s",
				                managed_properties[m].why);
				goto out;
			}
		}
		if (!value) {
			API->cfg_errorf(props, key, err, errlen, "librdkafka properties take scalar values");
			goto out;
		}
		if (conf_set(conf, key, value, why, sizeof why) != 0) {
			if (is_sensitive(key))
				API->cfg_errorf(props, key, err, errlen, "librdkafka rejected the value");
			else
				API->cfg_errorf(props, key, err, errlen, "librdkafka: %s", why);
			goto out;
		}
		int m = managed_changed(conf, before);
		if (m == -2)
			goto oom;
		if (m >= 0) {
			API->cfg_errorf(props, key, err, errlen, "sets %s, which is set by kafka_io: %s",
			                managed_properties[m].key, managed_properties[m].why);
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	for (size_t m = 0; m < N_MANAGED; m++)
		free(before[m]);
	return rc;
}

/* Reads a free-form map option into key/value pairs. */
static int read_pairs(const struct wm_config *cfg, const char *name, char ***out, size_t *n)
{
	const struct wm_config *m = API->cfg_get(cfg, name);
	*out = NULL;
	*n = 0;
	if (!m || API->cfg_len(m) == 0)
		return 0;
	size_t len = API->cfg_len(m);
	char **kv = calloc(2 * len, sizeof *kv);
	if (!kv)
		return -1;
	*out = kv;
	*n = len;
	for (size_t i = 0; i < len; i++) {
		const char *v = API->cfg_scalar(API->cfg_at(m, i));
		kv[2 * i] = xstrdup(API->cfg_key_at(m, i));
		kv[2 * i + 1] = xstrdup(v ? v : "");
		if (!kv[2 * i] || !kv[2 * i + 1])
			return -1;
	}
	return 0;
}

static void free_pairs(char **kv, size_t n)
{
	for (size_t i = 0; kv && i < 2 * n; i++)
		free(kv[i]);
	free(kv);
}

static int read_field_types(struct kafka_io_ctx *c, const struct wm_config *cfg, char *err, size_t errlen)
{
	const struct wm_config *m = API->cfg_get(cfg, "field_types");
	if (!m || API->cfg_len(m) == 0)
		return 0;
	size_t len = API->cfg_len(m);
	c->field_types = calloc(len, sizeof *c->field_types);
	if (!c->field_types) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		const char *key = API->cfg_key_at(m, i);
		const char *tname = API->cfg_scalar(API->cfg_at(m, i));
		struct kafka_field_type *ft = &c->field_types[c->n_field_types];
		if (!tname || kafka_type_from_name(tname, &ft->type) != 0)
			return API->cfg_errorf(m, key, err, errlen,
			                       "unknown type '%s'; allowed: bool, int, double, string, time, bytes",
			                       tname ? tname : "");
		ft->name = strdup(key);
		if (!ft->name) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->n_field_types++;
	}
	return 0;
}

static void ctx_free(struct kafka_io_ctx *c)
{
	if (!c)
		return;
	free(c->topic);
	free_pairs(c->topic_config, c->n_topic_config);
	kafka_sink_free_memory(c);
	free(c->key_field);
	free(c->schema_header);
	free(c->schema_version);
	free(c->group_id);
	for (size_t i = 0; i < c->n_field_types; i++)
		free(c->field_types[i].name);
	free(c->field_types);
	for (size_t i = 0; i < c->n_streams; i++)
		free(c->streams[i].topic);
	free(c->streams);
	pthread_mutex_destroy(&c->streams_lock);
	pthread_cond_destroy(&c->streams_acked);
	free(c);
}

static int conf_set_int(rd_kafka_conf_t *conf, const char *key, int64_t v, char *err, size_t errlen)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRId64, v);
	return conf_set(conf, key, buf, err, errlen);
}

/* Settings for the sink and dead-letter roles, before user properties. */
static int sink_conf(struct kafka_io_ctx *c, const struct wm_config *cfg, rd_kafka_conf_t *conf, char *err,
                     size_t errlen)
{
	const char *hdr = API->cfg_str(cfg, "schema_header");
	c->key_field = xstrdup(API->cfg_str(cfg, "key_field"));
	c->schema_header = hdr && *hdr ? strdup(hdr) : NULL;
	c->schema_version = xstrdup(API->cfg_str(cfg, "schema_version"));
	c->flush_timeout_ms = API->cfg_duration_ms(cfg, "flush_timeout");
	if (!c->schema_version || (hdr && *hdr && !c->schema_header)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int64_t delivery_ms = API->cfg_duration_ms(cfg, "delivery_timeout");
	if (delivery_ms <= 0 || delivery_ms > RDK_MESSAGE_TIMEOUT_MAX_MS)
		return API->cfg_errorf(cfg, "delivery_timeout", err, errlen,
		                       "must be between 1ms and %" PRId64
		                       "ms (about 24.8 days), the range of librdkafka's message.timeout.ms",
		                       RDK_MESSAGE_TIMEOUT_MAX_MS);
	if (conf_set(conf, "enable.idempotence", "true", err, errlen) ||
	    conf_set_int(conf, "message.timeout.ms", delivery_ms, err, errlen))
		return -1;
	rd_kafka_conf_set_dr_msg_cb(conf, kafka_sink_dr_cb);
	return 0;
}

/* Settings for the source role, before user properties. */
static int source_conf(struct kafka_io_ctx *c, const struct wm_config *cfg, rd_kafka_conf_t *conf, char *err,
                       size_t errlen)
{
	const char *group = API->cfg_str(cfg, "group_id");
	const char *reset = API->cfg_str(cfg, "auto_offset_reset");
	if (!group || !*group)
		return API->cfg_errorf(cfg, NULL, err, errlen, "a kafka_io source needs 'group_id'");
	if (strcmp(reset, "earliest") && strcmp(reset, "latest") && strcmp(reset, "error"))
		return API->cfg_errorf(cfg, "auto_offset_reset", err, errlen,
		                       "'%s' is not one of earliest, latest, error", reset);
	c->group_id = strdup(group);
	c->max_message_size = API->cfg_size(cfg, "max_message_size");
	c->poll_interval_ms = API->cfg_duration_ms(cfg, "poll_interval");
	c->revoke_timeout_ms = API->cfg_duration_ms(cfg, "revoke_timeout");
	c->close_timeout_ms = API->cfg_duration_ms(cfg, "close_timeout");
	int64_t commit_ms = API->cfg_duration_ms(cfg, "commit_interval");
	if (!c->group_id) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->poll_interval_ms <= 0)
		return API->cfg_errorf(cfg, "poll_interval", err, errlen, "must be positive");
	if (commit_ms <= 0 || commit_ms > RDK_AUTO_COMMIT_INTERVAL_MAX_MS)
		return API->cfg_errorf(cfg, "commit_interval", err, errlen,
		                       "must be between 1ms and %" PRId64 "ms (1 day), the range of librdkafka's "
		                       "auto.commit.interval.ms",
		                       RDK_AUTO_COMMIT_INTERVAL_MAX_MS);
	if (c->max_message_size < 1 || c->max_message_size > RDK_RECEIVE_MESSAGE_MAX_BYTES)
		return API->cfg_errorf(cfg, "max_message_size", err, errlen,
		                       "must be between 1 byte and %" PRId64 " bytes (librdkafka receives no larger "
		                       "message: receive.message.max.bytes)",
		                       RDK_RECEIVE_MESSAGE_MAX_BYTES);
	if (read_field_types(c, cfg, err, errlen) != 0)
		return -1;
	if (conf_set(conf, "group.id", group, err, errlen) || conf_set(conf, "auto.offset.reset", reset, err, errlen) ||
	    conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
	    conf_set(conf, "enable.auto.commit", "true", err, errlen) ||
	    conf_set_int(conf, "auto.commit.interval.ms", commit_ms, err, errlen) ||
	    conf_set(conf, "enable.partition.eof", "false", err, errlen))
		return -1;
	rd_kafka_conf_set_rebalance_cb(conf, kafka_source_rebalance_cb);
	return 0;
}

/* check_only came with a later host API; an older host never checks. */
static int check_only(const struct wm_instance *inst)
{
	size_t need = offsetof(struct wm_host_api, check_only) + sizeof API->check_only;
	return API->struct_size >= need && API->check_only && API->check_only(inst);
}

static int kafka_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **out,
                      char *err, size_t errlen)
{
	struct kafka_io_ctx *c = calloc(1, sizeof *c);
	rd_kafka_conf_t *conf = NULL;
	int is_source = role == WM_ROLE_SOURCE;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&c->streams_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->streams_acked, &ca);
	pthread_condattr_destroy(&ca);
	c->inst = inst;
	c->role = role;
	c->pipelined = role == WM_ROLE_SINK && WM_API_HAS(API, batch_finish);
	c->topic = xstrdup(API->cfg_str(cfg, "topic"));
	if (!c->topic || !*c->topic) {
		API->cfg_errorf(cfg, "topic", err, errlen, "must not be empty");
		goto fail;
	}
	const char *enc = API->cfg_str(cfg, "encoding");
	if (strcmp(enc, "json") != 0) {
		API->cfg_errorf(cfg, "encoding", err, errlen, "unknown encoding '%s'; allowed: json", enc);
		goto fail;
	}
	c->encoding = KAFKA_ENC_JSON;
	c->partitions = (int)API->cfg_int(cfg, "partitions");
	c->replication_factor = (int)API->cfg_int(cfg, "replication_factor");
	c->setup_timeout_ms = API->cfg_duration_ms(cfg, "setup_timeout");
	if (API->cfg_int(cfg, "partitions") < 1 || API->cfg_int(cfg, "partitions") > INT32_MAX) {
		API->cfg_errorf(cfg, "partitions", err, errlen, "must be at least 1");
		goto fail;
	}
	if (API->cfg_int(cfg, "replication_factor") < 1 || API->cfg_int(cfg, "replication_factor") > INT16_MAX) {
		API->cfg_errorf(cfg, "replication_factor", err, errlen, "must be at least 1");
		goto fail;
	}
	if (c->setup_timeout_ms <= 0 || c->setup_timeout_ms > RDK_ADMIN_TIMEOUT_MAX_MS) {
		API->cfg_errorf(cfg, "setup_timeout", err, errlen,
		                "must be between 1ms and %" PRId64 "ms (1 hour), as librdkafka's admin requests",
		                RDK_ADMIN_TIMEOUT_MAX_MS);
		goto fail;
	}
	if (read_pairs(cfg, "topic_config", &c->topic_config, &c->n_topic_config) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	if (conf_set(conf, "bootstrap.servers", API->cfg_str(cfg, "brokers"), err, errlen) ||
	    conf_set(conf, "client.id", "wmhost", err, errlen))
		goto fail;
	if ((is_source ? source_conf(c, cfg, conf, err, errlen) : sink_conf(c, cfg, conf, err, errlen)) != 0)
		goto fail;
	if (apply_properties(cfg, conf, err, errlen) != 0)
		goto fail;
	if (!is_source) {
		const struct wm_config *props = API->cfg_get(cfg, "properties");
		int user_sticky = props && API->cfg_get(props, "sticky.partitioning.linger.ms") != NULL;
		if (kafka_sink_take_linger(c, conf, user_sticky, err, errlen) != 0)
			goto fail;
	}

	if (check_only(inst)) {
		/* `wmhost check`: the settings are valid; open no client. */
		rd_kafka_conf_destroy(conf);
		*out = c;
		return 0;
	}
	char why[512];
	c->rk = rd_kafka_new(is_source ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!c->rk) {
		/* Mostly settings only checked as a whole (certificate files,
		 * SASL mechanisms), so this is a config error too. */
		API->cfg_errorf(cfg, "properties", err, errlen, "librdkafka: %s", why);
		goto fail;
	}
	conf = NULL; /* owned by rk now */
	/* The sink's topic handle comes with its first write: a topic handle
	 * asks for metadata, which a broker with auto-creation answers by
	 * creating the topic with its defaults before `setup` could. */
	if (is_source)
		rd_kafka_poll_set_consumer(c->rk);
	else
		kafka_sink_log_linger(c);
	*out = c;
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (c->rk)
		rd_kafka_destroy(c->rk);
	ctx_free(c);
	return -1;
}

/* Partitions of an existing topic, or -1. */
static int topic_partitions(struct kafka_io_ctx *c, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, c->topic, NULL);
	int n = -1;
	if (!rkt)
		return -1;
	/* a topic created a moment ago may still report a transient error
	 * (no leader yet) next to its partitions */
	if (rd_kafka_metadata(c->rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
	    md->topics[0].partition_cnt > 0)
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

static int kafka_setup(void *ctx, char *err, size_t errlen)
{
	struct kafka_io_ctx *c = ctx;
	char why[512];
	int rc = -1;
	rd_kafka_NewTopic_t *nt = NULL;
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	int timeout_ms = c->setup_timeout_ms > INT32_MAX ? INT32_MAX : (int)c->setup_timeout_ms;
	if (!c->rk) {
		snprintf(err, errlen, "no Kafka client (check mode)");
		return -1;
	}

	nt = rd_kafka_NewTopic_new(c->topic, c->partitions, c->replication_factor, why, sizeof why);
	if (!nt) {
		snprintf(err, errlen, "topic '%s': %s", c->topic, why);
		goto out;
	}
	for (size_t i = 0; i < c->n_topic_config; i++) {
		if (rd_kafka_NewTopic_set_config(nt, c->topic_config[2 * i], c->topic_config[2 * i + 1])) {
			snprintf(err, errlen, "topic_config %s: not accepted", c->topic_config[2 * i]);
			goto out;
		}
	}
	opts = rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof why);
	rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof why);
	q = rd_kafka_queue_new(c->rk);
	rd_kafka_CreateTopics(c->rk, &nt, 1, opts, q);
	ev = rd_kafka_queue_poll(q, timeout_ms + timeout_ms / 2);
	if (!ev) {
		snprintf(err, errlen, "topic '%s': no answer from the brokers within %dms", c->topic, timeout_ms);
		goto out;
	}
	if (rd_kafka_event_error(ev)) {
		snprintf(err, errlen, "topic '%s': %s", c->topic, rd_kafka_event_error_string(ev));
		goto out;
	}
	const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
	size_t n = 0;
	const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
	rd_kafka_resp_err_t terr = n == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__FAIL;
	if (terr == RD_KAFKA_RESP_ERR_NO_ERROR) {
		API->log(c->inst, WM_LOG_INFO, "created topic '%s' (%d partitions, replication factor %d)", c->topic,
		         c->partitions, c->replication_factor);
	} else if (terr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		/* a topic created a moment ago (by another pipeline of this
		 * setup) may take a little while to show in the metadata */
		int have = topic_partitions(c, timeout_ms);
		for (int i = 0; have <= 0 && i < 20; i++) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
			have = topic_partitions(c, timeout_ms);
		}
		if (have > 0)
			API->log(c->inst, WM_LOG_INFO, "topic '%s' exists (%d partitions); left as it is", c->topic, have);
		else
			API->log(c->inst, WM_LOG_INFO, "topic '%s' exists; left as it is", c->topic);
		if (have > 0 && have != c->partitions)
			API->log(c->inst, WM_LOG_WARN, "topic '%s' has %d partitions, the configuration says %d", c->topic,
			         have, c->partitions);
	} else {
		const char *msg = n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : NULL;
		snprintf(err, errlen, "creating topic '%s': %s", c->topic, msg && *msg ? msg : rd_kafka_err2str(terr));
		goto out;
	}
	rc = 0;
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (q)
		rd_kafka_queue_destroy(q);
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	return rc;
}

static void kafka_destroy(void *ctx)
{
	struct kafka_io_ctx *c = ctx;
	if (!c)
		return;
	if (c->rk) {
		if (c->role == WM_ROLE_SOURCE)
			kafka_source_close(c);
		else
			kafka_sink_close(c);
		if (c->rkt)
			rd_kafka_topic_destroy(c->rkt);
		if (c->role == WM_ROLE_SOURCE && !c->consumer_closed)
			rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		else
			rd_kafka_destroy(c->rk);
	}
	ctx_free(c);
}

static const struct wm_plugin kafka_plugin = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "kafka_io",
	.version = "0.1.0",
	.description = "Apache Kafka sink (idempotent producer, acks on delivery reports) and source (consumer "
	               "group, offsets stored after the sink acknowledges); also a dead-letter target",
	.kinds = WM_KIND_SOURCE | WM_KIND_SINK,
	.options = kafka_options,
	.init = kafka_init,
	.setup = kafka_setup,
	.run = kafka_source_run,
	.ack = kafka_source_ack,
	.stop = kafka_source_stop,
	.write = kafka_sink_write,
	.destroy = kafka_destroy,
	.poll = kafka_sink_poll,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION)
		return NULL;
	API = api;
	return &kafka_plugin;
}
