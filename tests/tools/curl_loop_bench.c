/*
 * curl_loop_bench: the bare libcurl multi loop http_probe is built on, for
 * bench/probe. Fetches URL?n=0..N-1 with a fresh connection each, IN_FLIGHT
 * at a time, driven either by curl_multi_socket_action + epoll or by
 * curl_multi_poll, and prints "<mode> <checks> <seconds> <checks/s>". It
 * shows libcurl's own ceiling and which way of waiting is faster.
 *
 *   curl_loop_bench URL N IN_FLIGHT epoll|poll
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#define MAX_EVENTS 256
#define MAX_WAIT_MS 1000
#define URL_MAX 2048

struct bench {
	CURLM *multi;
	int ep;
	long long timer_due_ms; /* -1: none */
	const char *base;
	struct curl_slist *headers;
	int n, started, done, failed;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	return size * n;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct bench *b = userp;
	struct epoll_event ev = {0};
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(b->ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(b->ep, EPOLL_CTL_MOD, s, &ev) < 0)
		epoll_ctl(b->ep, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct bench *b = userp;
	b->timer_due_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	return 0;
}

/* The same per-check options http_probe sets for a plain GET. */
static void start_one(struct bench *b)
{
	char url[URL_MAX];
	snprintf(url, sizeof(url), "%s%sn=%d", b->base, strchr(b->base, '?') ? "&" : "?", b->started++);
	CURL *e = curl_easy_init();
	if (!e) {
		b->failed++;
		b->done++;
		return;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->headers);
	curl_multi_add_handle(b->multi, e);
}

static void reap(struct bench *b)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(b->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *e = msg->easy_handle;
		if (msg->data.result != CURLE_OK)
			b->failed++;
		curl_multi_remove_handle(b->multi, e);
		curl_easy_cleanup(e);
		b->done++;
		if (b->started < b->n)
			start_one(b);
	}
}

/* Callbacks must be in place before the first handle is added. */
static void setup_epoll(struct bench *b)
{
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	curl_multi_setopt(b->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(b->multi, CURLMOPT_SOCKETDATA, b);
	curl_multi_setopt(b->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(b->multi, CURLMOPT_TIMERDATA, b);
}

static void run_epoll(struct bench *b)
{
	struct epoll_event evs[MAX_EVENTS];
	int running;
	while (b->done < b->n) {
		long long wait = MAX_WAIT_MS;
		if (b->timer_due_ms >= 0) {
			wait = b->timer_due_ms - now_ms();
			if (wait < 0)
				wait = 0;
		}
		int n = epoll_wait(b->ep, evs, MAX_EVENTS, (int)wait);
		for (int i = 0; i < n; i++) {
			int flags = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
			            ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
			            ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
			curl_multi_socket_action(b->multi, evs[i].data.fd, flags, &running);
		}
		if (b->timer_due_ms >= 0 && b->timer_due_ms <= now_ms()) {
			b->timer_due_ms = -1;
			curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		reap(b);
	}
}

static void run_poll(struct bench *b)
{
	int running;
	while (b->done < b->n) {
		curl_multi_perform(b->multi, &running);
		reap(b);
		if (b->done < b->n)
			curl_multi_poll(b->multi, NULL, 0, MAX_WAIT_MS, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[4], "epoll") && strcmp(argv[4], "poll"))) {
		fprintf(stderr, "usage: %s URL N IN_FLIGHT epoll|poll\n", argv[0]);
		return 2;
	}
	struct bench b = {.timer_due_ms = -1, .base = argv[1], .n = atoi(argv[2])};
	int in_flight = atoi(argv[3]);
	if (b.n <= 0 || in_flight <= 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 2;
	b.headers = curl_slist_append(NULL, "Connection: close");
	b.multi = curl_multi_init();
	int use_epoll = strcmp(argv[4], "epoll") == 0;
	if (use_epoll)
		setup_epoll(&b);
	long long t0 = now_ms();
	for (int i = 0; i < in_flight && b.started < b.n; i++)
		start_one(&b);
	if (use_epoll)
		run_epoll(&b);
	else
		run_poll(&b);
	double secs = (double)(now_ms() - t0) / 1000.0;
	printf("%s %d %.3f %.0f\n", argv[4], b.done, secs, secs > 0 ? b.done / secs : 0.0);
	if (b.failed)
		fprintf(stderr, "curl_loop_bench: %d of %d failed\n", b.failed, b.n);
	curl_multi_cleanup(b.multi);
	curl_slist_free_all(b.headers);
	curl_global_cleanup();
	return b.failed ? 1 : 0;
}
