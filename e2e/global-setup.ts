import { labUnavailableReason } from '../src-main/lab/lab';
import { cleanStaleCcCopies } from '../src-main/lab/cc-test-copies';

/**
 * Before the e2e run: unregister coupled CC test copies (mptcp_lia_eXXX, ...) left registered
 * host-wide by a run whose worker was killed before its teardown.
 */
export default function setup(): void {
  if (labUnavailableReason()) return;
  const removed = cleanStaleCcCopies();
  if (removed.length > 0) console.warn(`unregistered stale test congestion controls: ${removed.join(', ')}`);
}
