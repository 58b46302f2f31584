# Dump of the ssthresh_trace ring around the first corrupt ssthresh (see ssthresh_trace.bpf.c).
import json, subprocess, struct, bisect
bss = json.loads(subprocess.check_output(['bpftool','-j','map','dump','pinned','/sys/fs/bpf/anom_bss']))
print(bss)
ring = json.loads(subprocess.check_output(['bpftool','-j','map','dump','pinned','/sys/fs/bpf/anom_ring']))
evs = []
for r in ring:
    v = r['formatted']['value'] if 'formatted' in r else None
    if v and v['ts']:
        evs.append(v)
evs.sort(key=lambda e: e['ts'])
syms = []
for line in open('/proc/kallsyms'):
    a, t, n = line.split()[:3]
    syms.append((int(a,16), n))
syms.sort(); addrs = [s[0] for s in syms]
def sym(a):
    i = bisect.bisect_right(addrs, a) - 1
    return f"{syms[i][1]}+0x{a-syms[i][0]:x}" if i >= 0 else hex(a)
stk = json.loads(subprocess.check_output(['bpftool','-j','map','dump','pinned','/sys/fs/bpf/anom_stacks']))
stacks = {}
for s in stk:
    f = s['formatted'] if 'formatted' in s else None
    if f: stacks[f['key']] = f['value']
K = {1:'cong_state_set',2:'cwnd_reduction',3:'tcp_probe(rcv_est)',4:'retransmit_skb',5:'sendmsg_locked',6:'inet_set_state',7:'mptcp_get_send',8:'sock_send_len',9:'destroy',10:'rcv_space_adj',11:'sock_recv_len',12:'rcvbuf_grow'}
bad = [i for i,e in enumerate(evs) if (e['ss']>5000 and e['ss']!=0x7fffffff) or e['cwnd']>5000]
print('events', len(evs), 'bad', len(bad))
if bad:
    b = bad[0]; sk = evs[b]['sk']
    t0 = evs[b]['ts']
    for e in evs[max(0,b-60):b+15]:
        mark = '*' if e['sk']==sk else ' '
        print(f"{mark} {(e['ts']-t0)/1000:10.1f}us cpu{e['cpu']} sk={e['sk']:x} {K.get(e['kind'])}({e['arg']}) ss={e['ss']:#x} cwnd={e['cwnd']} st={e['state']} prior_ss={e['prior_ss']} prior_cwnd={e['prior_cwnd']} una={e['una']}")
    for e in [evs[i] for i in bad[:3]]:
        sid = e['stackid']
        print('stack for', K.get(e['kind']), sid)
        for a in stacks.get(sid, []):
            if a: print('   ', sym(a))
