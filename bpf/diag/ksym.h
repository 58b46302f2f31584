/* Kernel address -> "symbol+offset" from /proc/kallsyms, for the bpf/diag loaders. */
#ifndef DIAG_KSYM_H
#define DIAG_KSYM_H
#include <stdio.h>
#include <stdlib.h>

static struct sym { unsigned long long a; char n[64]; } *syms;
static size_t nsyms;
static int cmpsym(const void *x, const void *y)
{
	const struct sym *a = x, *b = y;
	return a->a < b->a ? -1 : a->a > b->a;
}
static void load_syms(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[256], t, name[200];
	unsigned long long a;
	size_t cap = 0;
	if (!f) return;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%llx %c %199s", &a, &t, name) != 3 || !a) continue;
		if (nsyms == cap) syms = realloc(syms, (cap = cap ? cap * 2 : 65536) * sizeof *syms);
		syms[nsyms].a = a;
		snprintf(syms[nsyms].n, sizeof syms[nsyms].n, "%.63s", name);
		nsyms++;
	}
	fclose(f);
	qsort(syms, nsyms, sizeof *syms, cmpsym);
}
static void sym(unsigned long long a, char *out, size_t len)
{
	size_t lo = 0, hi = nsyms;
	if (a >= 0xffffffffa0000000ULL) { snprintf(out, len, "[bpf/module] 0x%llx", a); return; }
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (syms[mid].a <= a) lo = mid; else hi = mid;
	}
	if (nsyms && syms[lo].a <= a) snprintf(out, len, "%s+0x%llx", syms[lo].n, a - syms[lo].a);
	else snprintf(out, len, "0x%llx", a);
}

#endif
