/* Loader for ssthresh_trace.bpf.c (see there). Stop with Ctrl-C: unpins and detaches. */
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
static volatile int stop;
static void onsig(int s) { stop = 1; }
int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file("ssthresh_trace.bpf.o", NULL);
	struct bpf_program *p;
	int ok = 0, bad = 0;
	if (!obj) { perror("open"); return 1; }
	if (bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
	bpf_object__for_each_program(p, obj) {
		struct bpf_link *l = bpf_program__attach(p);
		if (!l) { bad++; fprintf(stderr, "attach failed: %s\n", bpf_program__name(p)); } else ok++;
	}
	fprintf(stderr, "attached %d, failed %d\n", ok, bad);
	bpf_obj_pin(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring")), "/sys/fs/bpf/anom_ring");
	{
		struct bpf_map *m;

		bpf_object__for_each_map(m, obj) {
			const char *n = bpf_map__name(m);
			size_t len = strlen(n);

			if (len > 4 && !strcmp(n + len - 4, ".bss"))
				bpf_obj_pin(bpf_map__fd(m), "/sys/fs/bpf/anom_bss");
		}
	}
	bpf_obj_pin(bpf_map__fd(bpf_object__find_map_by_name(obj, "stacks")), "/sys/fs/bpf/anom_stacks");
	signal(SIGINT, onsig); signal(SIGTERM, onsig);
	while (!stop) sleep(1);
	unlink("/sys/fs/bpf/anom_ring"); unlink("/sys/fs/bpf/anom_bss"); unlink("/sys/fs/bpf/anom_stacks");
	return 0;
}
