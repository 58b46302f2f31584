import type { Limits } from '../../../shared/types';

export function LimitsSection({ limits, endpointCount }: { limits: Limits | null; endpointCount: number }) {
  return (
    <section className="card" data-testid="overview-limits" aria-labelledby="limits-heading">
      <header className="card-header">
        <h2 id="limits-heading">Path manager limits</h2>
      </header>
      {limits === null ? (
        <p className="muted">
          Not available: the in-kernel path manager could not be read (see the errors above).
        </p>
      ) : (
        <div className="stats">
          <div className="stat" data-testid="limit-subflows">
            <span className="stat-value">{limits.subflows}</span>
            <span className="stat-label">
              extra {limits.subflows === 1 ? 'subflow' : 'subflows'} per connection
            </span>
          </div>
          <div className="stat" data-testid="limit-add-addr-accepted">
            <span className="stat-value">{limits.addAddrAccepted}</span>
            <span className="stat-label">ADD_ADDR accepted per connection</span>
          </div>
          <div className="stat" data-testid="limit-endpoints">
            <span className="stat-value">{endpointCount}</span>
            <span className="stat-label">{endpointCount === 1 ? 'endpoint' : 'endpoints'} configured</span>
          </div>
        </div>
      )}
    </section>
  );
}
