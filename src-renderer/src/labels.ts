/**
 * Column labels with one meaning each, on every page: a cumulative count is never called like a
 * rate, and MPTCP-level retransmissions (bytes the connection sent again, on any subflow) are
 * never called like a subflow's TCP retransmissions (packets). Each title says which kernel field
 * it shows (uapi: linux/mptcp.h struct mptcp_info; linux/tcp.h struct tcp_info).
 */
export interface ColumnLabel {
  label: string;
  title: string;
}

export const COLUMN = {
  sentTotal: {
    label: 'Sent total',
    title: 'Bytes the connection has sent since it opened, at the MPTCP level (mptcpi_bytes_sent)',
  },
  receivedTotal: {
    label: 'Received total',
    title: 'Bytes the connection has received since it opened, at the MPTCP level (mptcpi_bytes_received)',
  },
  mptcpRetrans: {
    label: 'MPTCP retrans',
    title:
      'Bytes the MPTCP level sent again since the connection opened, on this or another subflow (mptcpi_bytes_retrans)',
  },
  sendRate: {
    label: 'Send rate',
    title:
      "Bytes per second the peer acknowledged (its subflows' tcpi_bytes_acked), between the last two readings",
  },
  receiveRate: {
    label: 'Receive rate',
    title: "Bytes per second received (its subflows' tcpi_bytes_received), between the last two readings",
  },
  deliveryRate: {
    label: 'Delivery rate',
    title: "The kernel's estimate from the last ACKed data (tcpi_delivery_rate)",
  },
  tcpRetransPkts: {
    label: 'TCP retrans pkts',
    title: "Packets this subflow's TCP retransmitted since it opened (tcpi_total_retrans)",
  },
  retransPct: {
    label: 'Retrans %',
    title:
      'Share of the bytes this subflow sent that were retransmissions (tcpi_bytes_retrans / tcpi_bytes_sent)',
  },
} as const satisfies Record<string, ColumnLabel>;
