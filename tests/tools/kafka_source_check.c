/* Checks kafka_io's source bookkeeping against librdkafka's mock cluster
 * (no broker, no host): which acknowledged offsets reach the group's commit
 * across revokes and assignments, and how a rebalance error leaves the
 * assignment. Calls the plugin's functions directly; prints one
 * "ok - ..." / "not ok - ..." line per property. */
#include "../../plugins/kafka_io/source.c"

#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>

const struct wm_host_api *API;

#define TOPIC "t"
#define WAIT_MS 10000
#define POLL_MS 100
#define ARBITRARY_ERROR RD_KAFKA_RESP_ERR__FAIL

static int failures;

static void report(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	failures += !ok;
}

static void fake_log(struct wm_instance *inst, enum wm_log_level level, const char *fmt, ...)
{
	(void)inst;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "# [%d] ", (int)level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t fake_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* source.c's only call into decode.c; never reached here. */
struct wm_record *kafka_decode(const struct kafka_io_ctx *c, const void *payload, size_t len, char *reason,
                               size_t reasonlen)
{
	(void)c, (void)payload, (void)len;
	snprintf(reason, reasonlen, "not decoded in this check");
	return NULL;
}

/* A consumer of a fresh one-broker mock cluster holding TOPIC with one
 * partition, and the plugin's source state around it (no emitter: revokes
 * do not wait for the host). */
static rd_kafka_t *consumer(struct kafka_io_ctx *c, const char *strategy)
{
	char err[512];
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->streams_lock, NULL);
	pthread_cond_init(&c->streams_acked, NULL);
	c->revoke_timeout_ms = WAIT_MS;
	c->close_timeout_ms = WAIT_MS;
	c->group_id = "g";
	c->topic = TOPIC;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, kafka_source_rebalance_cb);
	if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "group.id", "g", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "partition.assignment.strategy", strategy, err, sizeof err) ||
	    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) ||
	    !(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
		fprintf(stderr, "kafka_source_check: %s\n", err);
		exit(1);
	}
	rd_kafka_poll_set_consumer(c->rk);
	rd_kafka_mock_topic_create(rd_kafka_handle_mock_cluster(c->rk), TOPIC, 1, 1);
	return c->rk;
}

static void consumer_free(struct kafka_io_ctx *c)
{
	rd_kafka_destroy(c->rk);
	for (size_t i = 0; i < c->n_streams; i++)
		free(c->streams[i].topic);
	free(c->streams);
	pthread_mutex_destroy(&c->streams_lock);
	pthread_cond_destroy(&c->streams_acked);
}

/* What librdkafka would hand the rebalance callback for TOPIC [0]. */
static void rebalance(struct kafka_io_ctx *c, rd_kafka_resp_err_t err)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, TOPIC, 0);
	kafka_source_rebalance_cb(c->rk, err, l, c);
	rd_kafka_topic_partition_list_destroy(l);
}

/* The source emitted offsets up to `last` on the partition's stream. */
static int64_t emitted(struct kafka_io_ctx *c, int64_t last)
{
	int64_t s = active_stream(c, TOPIC, 0);
	note_emitted(c, s, last);
	return s;
}

static int64_t committed(struct kafka_io_ctx *c)
{
	commit_sync(c, "in the check", WAIT_MS);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, TOPIC, 0);
	int64_t off = rd_kafka_committed(c->rk, l, WAIT_MS) ? -2 : l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return off;
}

/* Acks that come for an assignment after it was revoked are not stored,
 * neither while the partition is away nor once it is assigned again: the
 * new assignment's own acks decide its commits. */
static void late_acks_are_not_stored(void)
{
	struct kafka_io_ctx c;
	consumer(&c, "range");
	rebalance(&c, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS);
	int64_t first = emitted(&c, 99);
	kafka_source_ack(&c, (uint32_t)first, 49);
	rebalance(&c, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS); /* stores and commits 50 */
	kafka_source_ack(&c, (uint32_t)first, 59);           /* late, while the partition is away */
	store_acked(&c);
	rebalance(&c, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS); /* the group reads again from 50 */
	int64_t second = emitted(&c, 54);
	kafka_source_ack(&c, (uint32_t)first, 79); /* late, after the partition came back */
	store_acked(&c);
	int64_t c1 = committed(&c);
	kafka_source_ack(&c, (uint32_t)second, 54);
	store_acked(&c);
	int64_t c2 = committed(&c);
	report(second != first, "an_assignment_still_in_flight_keeps_its_stream_id");
	report(c1 == 50, "late_acks_of_a_revoked_assignment_are_not_committed");
	report(c2 == 55, "acks_of_the_next_assignment_are_committed_from_where_it_starts");
	if (c1 != 50 || c2 != 55)
		fprintf(stderr, "# committed %" PRId64 " after the late acks, %" PRId64 " after the new ack\n", c1, c2);
	consumer_free(&c);
}

/* `stored` follows librdkafka's verdict: a store librdkafka refuses (the
 * partition is not assigned at that moment) is tried again with the next
 * ack instead of being taken as done. */
static void refused_store_is_not_taken_as_stored(void)
{
	struct kafka_io_ctx c;
	consumer(&c, "range");
	rebalance(&c, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS);
	int64_t s = emitted(&c, 9);
	rd_kafka_assign(c.rk, NULL); /* as a lost assignment before its revoke arrives */
	kafka_source_ack(&c, (uint32_t)s, 4);
	store_acked(&c);
	report(c.streams[s].stored == -1, "an_offset_librdkafka_refused_is_not_marked_stored");
	consumer_free(&c);
}

/* Stream ids are reused once nothing of their assignment can be acked, so
 * many rebalances do not grow the host's per-stream state. */
static void stream_ids_stay_bounded(void)
{
	struct kafka_io_ctx c;
	consumer(&c, "range");
	for (int i = 0; i < 50; i++) {
		rebalance(&c, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS);
		int64_t s = emitted(&c, i);
		kafka_source_ack(&c, (uint32_t)s, i);
		rebalance(&c, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS);
	}
	report(c.n_streams == 1, "finished_assignments_give_their_stream_id_to_the_next");
	consumer_free(&c);
}

/* rdkafka.h: for a rebalance error other than assign/revoke the
 * application must call rd_kafka_assign(rk, NULL), also with the
 * cooperative protocol. */
static void rebalance_error_clears_the_assignment(void)
{
	struct kafka_io_ctx c;
	consumer(&c, "cooperative-sticky");
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(c.rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	rd_kafka_topic_partition_list_t *a = NULL;
	for (int64_t until = fake_mono_us() + WAIT_MS * 1000; fake_mono_us() < until;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c.rk, POLL_MS);
		if (m)
			rd_kafka_message_destroy(m);
		if (a)
			rd_kafka_topic_partition_list_destroy(a);
		a = NULL;
		if (rd_kafka_assignment(c.rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a->cnt > 0)
			break;
	}
	int joined = a && a->cnt == 1 && strcmp(rd_kafka_rebalance_protocol(c.rk), "COOPERATIVE") == 0;
	report(joined, "cooperative_member_is_assigned_the_partition");
	if (a)
		rd_kafka_topic_partition_list_destroy(a);
	a = NULL;
	/* the error's partition list is the callback's to ignore */
	rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(0);
	kafka_source_rebalance_cb(c.rk, ARBITRARY_ERROR, none, &c);
	rd_kafka_topic_partition_list_destroy(none);
	int cleared = rd_kafka_assignment(c.rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a->cnt == 0;
	report(joined && cleared, "rebalance_error_unassigns_everything_with_the_cooperative_protocol");
	report(active_stream(&c, TOPIC, 0) < 0, "rebalance_error_ends_the_streams");
	if (a)
		rd_kafka_topic_partition_list_destroy(a);
	c.closing = 1;
	rd_kafka_consumer_close(c.rk);
	consumer_free(&c);
}

int main(void)
{
	static struct wm_host_api api;
	setvbuf(stdout, NULL, _IOLBF, 0);
	api.abi_version = WM_ABI_VERSION;
	api.struct_size = sizeof api;
	api.log = fake_log;
	api.mono_us = fake_mono_us;
	API = &api;
	late_acks_are_not_stored();
	refused_store_is_not_taken_as_stored();
	stream_ids_stay_bounded();
	rebalance_error_clears_the_assignment();
	return failures ? 1 : 0;
}
