/* Consumer-group helper for the kafka_io tests (the group's view, which kcat
 * does not show):
 *
 *   kafka_group committed BROKERS GROUP TOPIC PARTITION
 *       prints the group's committed offset of the partition (-1: none)
 *   kafka_group hold BROKERS GROUP TOPIC CLIENT_ID
 *       joins the group as client CLIENT_ID and holds what it is assigned
 *       without reading it or committing anything; prints "assigned N" on
 *       every assignment and leaves the group on SIGTERM or SIGINT.
 *
 * The broker gives a member the id CLIENT_ID-<uuid>, and librdkafka's range
 * assignor hands a topic's partitions out in member id order, so a holder
 * whose client.id sorts first gets a one-partition topic. */
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
#define POLL_MS 100

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

typedef void rebalance_fn(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                          void *opaque);

static rd_kafka_t *consumer(const char *brokers, const char *group, const char *client_id, rebalance_fn *cb)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (cb)
		rd_kafka_conf_set_rebalance_cb(conf, cb);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
	    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
	    rd_kafka_conf_set(conf, "client.id", client_id, err, sizeof err) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "heartbeat.interval.ms", "500", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err)) {
		fprintf(stderr, "kafka_group: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "kafka_group: %s\n", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

static int committed(const char *brokers, const char *group, const char *topic, int32_t partition)
{
	rd_kafka_t *rk = consumer(brokers, group, "kafka_group", NULL);
	if (!rk)
		return 1;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition);
	rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, TIMEOUT_MS);
	if (!err)
		err = l->elems[0].err;
	if (err)
		fprintf(stderr, "kafka_group: committed: %s\n", rd_kafka_err2str(err));
	else
		printf("%" PRId64 "\n", l->elems[0].offset < 0 ? -1 : l->elems[0].offset);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return err ? 1 : 0;
}

static void hold_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                           void *opaque)
{
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		printf("assigned %d\n", parts->cnt);
		fflush(stdout);
		rd_kafka_assign(rk, parts);
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

static int hold(const char *brokers, const char *group, const char *topic, const char *client_id)
{
	rd_kafka_t *rk = consumer(brokers, group, client_id, hold_rebalance);
	if (!rk)
		return 1;
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e)
		fprintf(stderr, "kafka_group: subscribe: %s\n", rd_kafka_err2str(e));
	while (!e && !stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, POLL_MS);
		if (m)
			rd_kafka_message_destroy(m); /* held, not processed: nothing is stored */
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return e ? 1 : 0;
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (argc == 6 && strcmp(argv[1], "committed") == 0)
		return committed(argv[2], argv[3], argv[4], (int32_t)atoi(argv[5]));
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: kafka_group committed BROKERS GROUP TOPIC PARTITION\n"
	                "       kafka_group hold BROKERS GROUP TOPIC CLIENT_ID\n");
	return 2;
}
