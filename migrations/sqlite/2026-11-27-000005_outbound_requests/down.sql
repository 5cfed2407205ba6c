DROP TABLE outbound_requests;
