/** The Path doctor's probe engine (docs/path-doctor.md): scanner, trace, subflow check. */
export { classify, type Evidence, type ProbeKind, type Reply } from './classify';
export { connectScan, type ConnectScanOptions } from './connect-scan';
export { PROBE_MAX_PPS, ProbeHelperError, probeHelperPath, RawProbeHelper, helperCommand } from './helper';
export { DEFAULT_PER_TARGET_PPS, DEFAULT_RATE_PPS, rawScan, type ScanOptions } from './scanner';
export { expandTargets, MAX_TARGETS, parsePorts, TargetError, type Target } from './targets';
export { writePcap, type PcapPacket } from './pcap';
export { runTrace, type TraceOptions } from './trace';
export { traceVerdict } from './verdict';
export { CheckHelper, type CheckConnect, type CheckSent } from './check-helper';
export { PmSwitch } from './pm-switch';
export { ProbeService, type ProbeHandlers, type ProbeMethodName, type ProbeServiceOptions } from './service';
export { defaultSources, resolveSources, SourceError, type LocalAddress, type ProbeSource } from './sources';
export { runSubflowCheck, type SubflowCheckDeps, type SubflowCheckOptions } from './subflow-check';
export { checkVerdict, classifySubflow, summarisePaths, type SubflowEvidence } from './subflow-verdict';
