// Entry point bundled by bench/cc.mjs (esbuild): the lab, the BPF CC registration helper and the
// congestion-control experiments.
export { labUnavailableReason } from './lab';
export { bpfCcUnavailableReason, registerUniqueCc, cleanStaleCcs } from './bpf-cc';
export { runCcSuite, formatCcTable } from './cc-experiments';
