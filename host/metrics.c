/*
 * The metrics endpoint. One thread accepts connections and answers them one
 * at a time: a scrape is a few hundred bytes, and every connection gets a
 * short deadline, so a client that connects and says nothing delays the next
 * scrape by at most that long and cannot hold the host. The counters are the
 * pipelines' atomics; reading them takes no lock but the queue's (for its
 * length), which the source and sink threads hold only briefly.
 */
#include "metrics.h"

#include "clock.h"
#include "log.h"
#include "pipeline.h"
#include "queue.h"
#include "strbuf.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_DEADLINE_US 2000000 /* a whole exchange: request in, answer out */
#define REQUEST_MAX 8192

struct wmh_metrics {
	int listen_fd;
	int stop_fd;
	int serving; /* the thread runs */
	pthread_t thread;
	struct wmh_pipeline *list;
	char url[300];
};

static time_t process_start;

void wmh_metrics_mark_start(void)
{
	process_start = time(NULL);
}

int wmh_metrics_parse(const char *addr, char *host, size_t hostlen, char *port, size_t portlen, char *err,
                      size_t errlen)
{
	const char *h = addr, *colon;
	size_t hl;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			goto bad; /* no port, or an IPv6 address without brackets */
		hl = (size_t)(colon - addr);
	}
	const char *p = colon + 1;
	size_t pl = strlen(p);
	if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atoi(p) < 1 || atoi(p) > 65535)
		goto bad;
	if (hl >= hostlen || pl >= portlen)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = 0;
	memcpy(port, p, pl + 1);
	return 0;
bad:
	snprintf(err, errlen, "--metrics: '%s' is not HOST:PORT (for example 127.0.0.1:9464, [::1]:9464 or :9464)", addr);
	return -1;
}

/* A label value: backslash, double quote and newline escaped. */
static void label(struct strbuf *sb, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			strbuf_appendc(sb, '\\');
		if (*v == '\n') {
			strbuf_append(sb, "\\n");
			continue;
		}
		strbuf_appendc(sb, *v);
	}
}

enum family_kind { COUNTER, GAUGE };

static void family(struct strbuf *sb, const char *name, enum family_kind k, const char *help)
{
	strbuf_appendf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, k == COUNTER ? "counter" : "gauge");
}

static void sample(struct strbuf *sb, const char *name, const struct wmh_pipeline *pl, unsigned long long v)
{
	strbuf_appendf(sb, "%s{pipeline=\"", name);
	label(sb, pl->name);
	strbuf_appendf(sb, "\"} %llu\n", v);
}

#define LOAD(x) ((unsigned long long)atomic_load(&(x)))
static unsigned long long running(struct wmh_pipeline *pl)
{
	return pl->threads_started && !wmh_pipeline_finished(pl);
}
static unsigned long long failed(struct wmh_pipeline *pl)
{
	return (unsigned long long)atomic_load(&pl->failed);
}
static unsigned long long emitted(struct wmh_pipeline *pl)
{
	return LOAD(pl->stats.emitted);
}
static unsigned long long written(struct wmh_pipeline *pl)
{
	return LOAD(pl->stats.written);
}
static unsigned long long dead(struct wmh_pipeline *pl)
{
	return LOAD(pl->stats.dead);
}
static unsigned long long undelivered(struct wmh_pipeline *pl)
{
	return LOAD(pl->stats.undelivered);
}
static unsigned long long batches(struct wmh_pipeline *pl)
{
	return LOAD(pl->stats.batches);
}
static unsigned long long retries(struct wmh_pipeline *pl)
{
	return LOAD(pl->stats.retries);
}
static unsigned long long queued(struct wmh_pipeline *pl)
{
	return pl->q ? (unsigned long long)wmh_queue_len(pl->q) : 0;
}
static unsigned long long capacity(struct wmh_pipeline *pl)
{
	return (unsigned long long)pl->queue_cap;
}

/* The per-pipeline metrics, in the order they are written. */
static const struct {
	const char *name;
	enum family_kind kind;
	const char *help;
	unsigned long long (*get)(struct wmh_pipeline *pl);
} metrics[] = {
	{"wmhost_pipeline_running", GAUGE, "1 while the pipeline's threads run, 0 once it has ended", running},
	{"wmhost_pipeline_failed", GAUGE, "1 when the pipeline failed (its sink fatally, or its source with an error) and stopped", failed},
	{"wmhost_records_emitted_total", COUNTER, "records the source handed to the pipeline", emitted},
	{"wmhost_records_written_total", COUNTER, "records the sink made durable", written},
	{"wmhost_records_dead_lettered_total", COUNTER, "records sent to the dead-letter target", dead},
	{"wmhost_records_undelivered_total", COUNTER, "records given up (at shutdown, or after the sink failed), not acknowledged to the source",
	 undelivered},
	{"wmhost_batches_total", COUNTER, "batches the sink was given", batches},
	{"wmhost_batch_retries_total", COUNTER, "times the sink asked for a batch to be written again", retries},
	{"wmhost_queue_records", GAUGE, "records waiting in the queue between source and sink", queued},
	{"wmhost_queue_capacity", GAUGE, "the queue's capacity (queue.capacity)", capacity},
};

char *wmh_metrics_render(struct wmh_pipeline *list, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	family(&sb, "wmhost_info", GAUGE, "the wmhost version (always 1)");
	strbuf_appendf(&sb, "wmhost_info{version=\"%s\"} 1\n", WMHOST_VERSION);
	family(&sb, "wmhost_start_time_seconds", GAUGE, "when the process started, seconds since the Unix epoch");
	strbuf_appendf(&sb, "wmhost_start_time_seconds %lld\n", (long long)process_start);
	for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
		family(&sb, metrics[i].name, metrics[i].kind, metrics[i].help);
		for (struct wmh_pipeline *pl = list; pl; pl = pl->next)
			sample(&sb, metrics[i].name, pl, metrics[i].get(pl));
	}
	if (sb.oom) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, len);
}

/* Waits until fd is ready for ev, the deadline passes (-1) or a stop is
 * asked (-1). */
static int wait_fd(int fd, short ev, int stop_fd, int64_t deadline_us)
{
	for (;;) {
		int64_t left_ms = (deadline_us - wmh_mono_us()) / 1000;
		if (left_ms <= 0)
			return -1;
		struct pollfd p[2] = {{fd, ev, 0}, {stop_fd, POLLIN, 0}};
		int r = poll(p, 2, (int)left_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || p[1].revents)
			return -1;
		return 0;
	}
}

static void send_all(int fd, const char *s, size_t n, int stop_fd, int64_t deadline_us)
{
	while (n > 0 && wait_fd(fd, POLLOUT, stop_fd, deadline_us) == 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void answer(struct wmh_metrics *m, int fd, int64_t deadline_us, const char *status, const char *ctype,
                   const char *body, size_t len, int head)
{
	char hdr[256];
	int hl = snprintf(hdr, sizeof hdr,
	                  "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
	                  ctype, len);
	send_all(fd, hdr, (size_t)hl, m->stop_fd, deadline_us);
	if (!head)
		send_all(fd, body, len, m->stop_fd, deadline_us);
}

static void serve(struct wmh_metrics *m, int fd)
{
	int64_t deadline = wmh_mono_us() + CONN_DEADLINE_US;
	char req[REQUEST_MAX + 1];
	size_t n = 0;
	req[0] = 0;
	while (!strstr(req, "\r\n\r\n") && !strstr(req, "\n\n")) {
		if (n == REQUEST_MAX || wait_fd(fd, POLLIN, m->stop_fd, deadline) != 0)
			return; /* too long, too slow, or stopping: no answer */
		ssize_t r = recv(fd, req + n, REQUEST_MAX - n, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = 0;
	}
	static const char text[] = "text/plain; charset=utf-8";
	char method[8], path[256];
	if (sscanf(req, "%7s %255s HTTP/1.%*c", method, path) != 2) {
		static const char msg[] = "bad request\n";
		answer(m, fd, deadline, "400 Bad Request", text, msg, sizeof msg - 1, 0);
		return;
	}
	int head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		static const char msg[] = "only GET and HEAD\n";
		answer(m, fd, deadline, "405 Method Not Allowed", text, msg, sizeof msg - 1, 0);
		return;
	}
	path[strcspn(path, "?")] = 0;
	if (strcmp(path, "/metrics") != 0) {
		static const char msg[] = "not found: the metrics are at /metrics\n";
		answer(m, fd, deadline, "404 Not Found", text, msg, sizeof msg - 1, head);
		return;
	}
	size_t len = 0;
	char *body = wmh_metrics_render(m->list, &len);
	if (!body) {
		static const char msg[] = "out of memory\n";
		answer(m, fd, deadline, "500 Internal Server Error", text, msg, sizeof msg - 1, head);
		return;
	}
	answer(m, fd, deadline, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
	free(body);
}

static void *metrics_main(void *arg)
{
	struct wmh_metrics *m = arg;
	for (;;) {
		struct pollfd p[2] = {{m->listen_fd, POLLIN, 0}, {m->stop_fd, POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			wmh_log(WM_LOG_ERROR, NULL, NULL, "metrics: poll: %s; the endpoint stops", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		int fd = (p[0].revents & POLLIN) ? accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK) : -1;
		if (fd < 0) {
			/* the client left already; or out of descriptors (the
			 * connection stays queued) or a socket error: pause, so
			 * the loop does not spin */
			if (!(p[0].revents & POLLIN) || (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR))
				poll(&p[1], 1, 100);
			continue;
		}
		serve(m, fd);
		close(fd);
	}
	return NULL;
}

struct wmh_metrics *wmh_metrics_listen(const char *addr, char *err, size_t errlen)
{
	char host[256], port[8];
	if (wmh_metrics_parse(addr, host, sizeof host, port, sizeof port, err, errlen))
		return NULL;
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (gai) {
		snprintf(err, errlen, "--metrics %s: %s", addr, gai_strerror(gai));
		return NULL;
	}
	struct wmh_metrics *m = calloc(1, sizeof *m);
	int fd = -1, one = 1;
	if (!m) {
		snprintf(err, errlen, "--metrics: out of memory");
		goto fail;
	}
	m->stop_fd = -1;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "--metrics %s: cannot listen: %s", addr, strerror(errno));
		goto fail;
	}
	m->listen_fd = fd;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0) {
		snprintf(err, errlen, "--metrics: eventfd: %s", strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	snprintf(m->url, sizeof m->url, "http://%s%s%s:%s/metrics", strchr(host, ':') ? "[" : "",
	         host[0] ? host : "0.0.0.0", strchr(host, ':') ? "]" : "", port);
	return m;
fail:
	if (fd >= 0)
		close(fd);
	free(m);
	freeaddrinfo(ai);
	return NULL;
}

int wmh_metrics_serve(struct wmh_metrics *m, struct wmh_pipeline *list, char *err, size_t errlen)
{
	m->list = list;
	int e = pthread_create(&m->thread, NULL, metrics_main, m);
	if (e) {
		snprintf(err, errlen, "--metrics: cannot start its thread: %s", strerror(e));
		return -1;
	}
	m->serving = 1;
	wmh_log(WM_LOG_INFO, NULL, NULL, "metrics at %s", m->url);
	return 0;
}

void wmh_metrics_stop(struct wmh_metrics *m)
{
	if (!m)
		return;
	if (m->serving) {
		uint64_t one = 1;
		if (write(m->stop_fd, &one, sizeof one) != (ssize_t)sizeof one)
			wmh_log(WM_LOG_WARN, NULL, NULL, "metrics: cannot signal its thread: %s", strerror(errno));
		pthread_join(m->thread, NULL);
	}
	close(m->stop_fd);
	close(m->listen_fd);
	free(m);
}
